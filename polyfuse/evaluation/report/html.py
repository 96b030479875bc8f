"""One self-contained HTML file: inline CSS, plots as base64 PNG ``data:`` URIs, no external links.

A small inline script marks every plot once the page has loaded: ``data-loaded="yes"`` when the
browser decoded the image (``naturalWidth > 0``), ``"no"`` otherwise, and the body gets
``data-plots-loaded`` / ``data-plots-total`` counts, so a headless browser can check the report.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from polyfuse._io import atomic_write_text
from polyfuse._version import __version__


@dataclass
class Plot:
    """A rendered plot: its stable ``name`` (``data-plot`` attribute), PNG bytes and caption."""

    name: str
    png: bytes
    caption: str = ""


@dataclass
class Table:
    """A table of cells (floats shown with 4 decimals, ``None`` as a dash)."""

    header: list[str]
    rows: list[list[Any]]


@dataclass
class Card:
    """An example: images (``data:`` URIs, inline), a title and lines of text (a gallery entry)."""

    title: str
    lines: list[str]
    images: list[str] = field(default_factory=list)


@dataclass
class Section:
    """A titled part of the report: paragraphs (str), plots and tables, in order."""

    title: str
    items: Sequence[str | Plot | Table | Card] = field(default_factory=list)


def render_plot(name: str, figure: Figure, caption: str = "") -> Plot:
    """Render a matplotlib figure to PNG (Agg)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return Plot(name, buffer.getvalue(), caption)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _item(item: str | Plot | Table | Card) -> str:
    if isinstance(item, Card):
        images = "".join(
            f'<img class="example" alt="input" src="{html.escape(uri)}">'
            for uri in item.images
            if uri.startswith("data:image/")
        )
        lines = "".join(f"<div>{html.escape(line)}</div>" for line in item.lines)
        return f'<div class="card">{images}<div><b>{html.escape(item.title)}</b>{lines}</div></div>'
    if isinstance(item, Plot):
        data = base64.b64encode(item.png).decode("ascii")
        caption = f"<figcaption>{html.escape(item.caption)}</figcaption>" if item.caption else ""
        return (
            f'<figure><img class="plot" data-plot="{html.escape(item.name)}" alt="{html.escape(item.name)}"'
            f' src="data:image/png;base64,{data}">{caption}</figure>'
        )
    if isinstance(item, Table):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in item.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in item.rows
        )
        return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    return f"<p>{html.escape(item)}</p>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
figure { margin: 1em 0; } img.plot { max-width: 100%; } figcaption { color: #555; font-size: .9em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; } thead { background: #f3f3f3; }
nav a { margin-right: 1em; } div.scroll { overflow-x: auto; }
div.card { display: flex; gap: 1em; align-items: flex-start; border: 1px solid #ddd; padding: .5em; }
img.example { max-width: 160px; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var plots = document.querySelectorAll("img.plot"), loaded = 0;
  plots.forEach(function (img) {
    var ok = img.complete && img.naturalWidth > 0;
    img.setAttribute("data-loaded", ok ? "yes" : "no");
    if (ok) { loaded += 1; }
  });
  document.body.setAttribute("data-plots-loaded", String(loaded));
  document.body.setAttribute("data-plots-total", String(plots.length));
});
"""


def render_html(sections: Sequence[Section], title: str = "polyfuse report") -> str:
    """The whole page as a string."""
    nav = " ".join(f'<a href="#s{i}">{html.escape(s.title)}</a>' for i, s in enumerate(sections))
    parts = [
        f'<section id="s{i}"><h2>{html.escape(s.title)}</h2>'
        + "".join(_item(x) for x in s.items)
        + "</section>"
        for i, s in enumerate(sections)
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>"
        f"<h1>{html.escape(title)}</h1><p>polyfuse {__version__}</p><nav>{nav}</nav>\n"
        + "\n".join(parts)
        + f"\n<script>{_SCRIPT}</script></body></html>\n"
    )


def write_report(path: str | Path, sections: Sequence[Section], title: str = "polyfuse report") -> Path:
    """Write the report to ``path`` atomically (parent folders created) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render_html(sections, title))
    return out
