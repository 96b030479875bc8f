"""The retrieval report: recall at K curves both ways, and a gallery of queries with their top five.

:func:`retrieval_results` embeds a labelled table's two sides with a retrieval bundle (each distinct
candidate once), ranks them (:mod:`polyfuse.retrieval.ranking`) and picks a few queries to show;
:func:`retrieval_sections` turns that into report sections, photos inline as thumbnails.

Legend: Q queries, C distinct candidates, K shown results.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from polyfuse.data.precomputed import value_key
from polyfuse.data.tables import read_table
from polyfuse.evaluation.report.html import Card, Plot, Section, Table, render_plot, write_report
from polyfuse.evaluation.report.plots import new_figure
from polyfuse.retrieval.ranking import candidate_ranks, query_ranks, recall_curve, retrieval_metrics
from polyfuse.retrieval.towers import embed_side, side_columns, side_specs

if TYPE_CHECKING:
    from polyfuse.bundle import Fitted


def retrieval_results(
    fitted: Fitted, data: str | Path | Any, shown: int = 6, top: int = 5, max_k: int = 50
) -> dict[str, Any]:
    """Metrics, recall curves and ``shown`` example queries with their ``top`` candidates."""
    table = read_table(data)
    queries = embed_side(fitted, table, "query", 256)
    cands = embed_side(fitted, table, "candidate", 256)
    both = sorted(set(queries.rows.tolist()) & set(cands.rows.tolist()))
    frame = table.frame.loc[both]
    cand_cols, query_cols = side_columns(fitted, "candidate"), side_columns(fitted, "query")
    keys = [tuple(value_key(v) for v in row) for row in frame[cand_cols].itertuples(index=False)]
    distinct = list(dict.fromkeys(keys))
    position = {k: i for i, k in enumerate(distinct)}
    first_row = {k: r for r, k in reversed(list(zip(both, keys, strict=True)))}
    q_index = {r: i for i, r in enumerate(queries.rows.tolist())}
    c_index = {r: i for i, r in enumerate(cands.rows.tolist())}
    q = torch.from_numpy(queries.vectors[[q_index[r] for r in both]])
    c = torch.from_numpy(cands.vectors[[c_index[first_row[k]] for k in distinct]])
    positive = torch.tensor([position[k] for k in keys])
    q2c, c2q = query_ranks(q, c, positive), candidate_ranks(q, c, positive)
    examples = []
    for i in range(min(shown, len(both))):
        scores, ids = (q[i : i + 1] @ c.T).topk(min(top, len(distinct)))
        examples.append(
            {
                "query": {col: frame.iloc[i][col] for col in query_cols},
                "results": [
                    {
                        "score": float(s),
                        "correct": int(j) == int(positive[i]),
                        **{col: table.frame.loc[first_row[distinct[int(j)]], col] for col in cand_cols},
                    }
                    for s, j in zip(scores[0], ids[0], strict=True)
                ],
            }
        )
    return {
        "metrics": retrieval_metrics(q, c, positive),
        "curves": {
            "query_to_candidate": recall_curve(q2c, max_k),
            "candidate_to_query": recall_curve(c2q, max_k),
        },
        "examples": examples,
        "candidate_modalities": {s.columns[0]: s.modality for s in side_specs(fitted, "candidate")},
        "base_dir": str(table.base_dir),
    }


def recall_curves(curves: dict[str, list[float]]) -> Any:
    """Recall at K for K = 1..max_k, one line per direction."""
    fig = new_figure(6.0, 3.6)
    ax = fig.subplots()
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, label=name.replace("_", " "))
    ax.set_xscale("log")
    ax.set_xlabel("K")
    ax.set_ylabel("recall at K")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _thumbnails(results: list[dict[str, Any]], column: str, base_dir: Path) -> bytes:
    """The results' photos side by side, titled with rank, score and a check for the right one."""
    fig = new_figure(2.0 * len(results), 2.3)
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    for rank, (ax, item) in enumerate(zip(axes, results, strict=True), 1):
        path = Path(str(item[column]))
        try:
            with Image.open(path if path.is_absolute() else base_dir / path) as image:
                ax.imshow(image.convert("RGB").resize((128, 128)))
        except (OSError, ValueError):
            ax.text(0.5, 0.5, "unreadable", ha="center")
        mark = " ✓" if item["correct"] else ""
        ax.set_title(f"{rank}. {item['score']:.3f}{mark}", fontsize=8, color="green" if mark else "black")
        ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def retrieval_sections(results: dict[str, Any]) -> list[Section]:
    """Metrics, the recall curves, the gallery."""
    metrics = results["metrics"]
    table = Table(["metric", "value"], [[k, v] for k, v in metrics.items()])
    curves = render_plot("recall_curves", recall_curves(results["curves"]), "recall at K, both directions")
    items: list[str | Plot | Table | Card] = []
    images = [c for c, m in results["candidate_modalities"].items() if m == "image"]
    for i, example in enumerate(results["examples"]):
        query = " | ".join(str(v) for v in example["query"].values())
        if images:
            png = _thumbnails(example["results"], images[0], Path(results["base_dir"]))
            items.append(Plot(f"gallery_{i}", png, f"query: {query}"))
        else:
            rows = [
                [
                    r + 1,
                    *(str(v) for k, v in x.items() if k not in ("score", "correct")),
                    x["score"],
                    x["correct"],
                ]
                for r, x in enumerate(example["results"])
            ]
            header = [
                "rank",
                *[k for k in example["results"][0] if k not in ("score", "correct")],
                "score",
                "correct",
            ]
            items += [f"query: {query}", Table(header, rows)]
    gallery = Section("Gallery: queries and their top results", items)
    return [Section("Retrieval metrics", [table, curves]), gallery]


def write_retrieval_report(path: str | Path, fitted: Fitted, data: str | Path | Any) -> Path:
    """Embed, rank and write the retrieval report of ``data`` to ``path``."""
    return write_report(
        path, retrieval_sections(retrieval_results(fitted, data)), "polyfuse retrieval report"
    )
