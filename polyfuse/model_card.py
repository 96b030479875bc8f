"""The bundle's README.md: what the model reads, how it was trained and how well it scores."""

from __future__ import annotations

from typing import Any

from polyfuse._version import __version__
from polyfuse.bundle import Fitted


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _scores(title: str, metrics: dict[str, Any]) -> list[str]:
    rows = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not rows:
        return []
    return [
        f"### {title}",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {_fmt(v)} |" for k, v in rows],
        "",
    ]


def render_model_card(fitted: Fitted) -> str:
    """Markdown model card for a fitted predictor."""
    schema, cfg, metrics = fitted.schema, fitted.config, fitted.metrics
    training = metrics.get("training", {})
    n_params = sum(p.numel() for p in fitted.model.parameters())
    lines = [
        f"# polyfuse model: {schema.task} on `{schema.label}`",
        "",
        f"Trained with polyfuse {__version__}. Load it with `polyfuse.Predictor.load(path)`; "
        "loading needs no training data, no network and no pickle.",
        "",
        "## Inputs",
        "",
        "| column | modality | why |",
        "|---|---|---|",
        *[f"| `{c.name}` | {c.modality} | {c.reason} |" for c in schema.columns],
        "",
        f"Label: `{schema.label}` ({schema.task}: {schema.task_reason}).",
    ]
    classes = getattr(fitted.target, "classes_", None)
    if classes is not None:
        lines.append(f"Classes: {', '.join(map(str, classes[:50]))}" + (" ..." if len(classes) > 50 else ""))
    lines += ["", "## Model", "", "| input | encoder | width |", "|---|---|---|"]
    for spec in fitted.inputs:
        enc = fitted.model.encoders[spec.name]
        lines.append(f"| `{spec.name}` | {fitted.encoder_configs[spec.name].type} | {enc.output_dim} |")
    lines += [
        "",
        _fusion_line(fitted) + f"; parameters: {n_params:,}.",
        "",
        f"Task: `{fitted.task_config.model_dump_json()}`.",
        "",
        "## Training",
        "",
        f"- epochs run: {training.get('epochs_run')} (best: {training.get('best_epoch')}), "
        f"selected on validation `{metrics.get('monitor')}`",
        f"- rows: {training.get('train_rows')} train, {training.get('valid_rows')} validation",
        f"- bad rows skipped: {training.get('skipped_rows') or 'none'}",
        f"- time: {training.get('seconds')} s on {training.get('device')}",
        f"- seed {cfg.training.seed}, batch size {cfg.training.batch_size}, lr {cfg.training.lr}",
        *_calibration_line(metrics.get("calibration")),
        *[f"- chosen from the data: {k} = {v}" for k, v in (training.get("defaults") or {}).items()],
        "",
        "## Scores",
        "",
        *_scores("Validation", metrics.get("valid", {})),
        *_scores("Test", metrics.get("test", {})),
    ]
    return "\n".join(lines) + "\n"


def _fusion_line(fitted: Fitted) -> str:
    """``Fusion: `concat` -> 96`` (``none`` when the task reads the encoders directly)."""
    fusion = fitted.model.fusion
    if fusion is None:
        return "Fusion: none (the task reads each input's encoder output)"
    return f"Fusion: `{fusion.config.type}` -> {fusion.output_dim}"


def _calibration_line(record: dict[str, Any] | None) -> list[str]:
    """What temperature scaling did (classification only)."""
    if not record:
        return []
    if record.get("kept"):
        return [
            f"- temperature scaling: T = {record['temperature']:.3f}, fitted on {record['rows']} validation"
            f" rows (two-fold cross-fitted held-out NLL {record['cross_fitted_nll_before']:.4f} ->"
            f" {record['cross_fitted_nll_after']:.4f})"
        ]
    return [f"- temperature scaling: not applied ({record.get('skipped', 'no reason recorded')})"]
