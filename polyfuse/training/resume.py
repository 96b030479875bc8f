"""What ``--resume`` needs besides the weights: the processors fitted when the run started, and the
config the run was started with.

A fresh run writes ``checkpoints/fitted.json`` (its config, every input processor's and the target
processor's fitted state) and ``checkpoints/fitted.safetensors`` (their tensors) before its first
epoch. A resumed run reads them back instead of fitting the processors again (a tokenizer refitted
in another process, or on a changed table, would give other ids, so the resumed model would read its
inputs differently), and refuses to resume when the config changed in anything but how the run is
shown (progress bars, TensorBoard, workers, output folder): a changed learning rate, batch size or
width would silently give a model no single config describes.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from polyfuse._io import atomic_file, atomic_write_text
from polyfuse.config.schema import Config
from polyfuse.data.dataset import InputSpec
from polyfuse.data.targets import TargetProcessor

STATE_JSON = "fitted.json"
STATE_TENSORS = "fitted.safetensors"
CHECKPOINT_FILES = ("last.pt", "best.safetensors", STATE_JSON, STATE_TENSORS)
"""What a run writes under ``OUTPUT_DIR/checkpoints`` (the trainer's weights and the fitted state)."""

RUN_ONLY = ("output_dir", "progress", "tensorboard", "num_workers", "threads", "keep_checkpoints")
"""Training options that change how a run is shown or where it writes, not what it learns."""


def _comparable(config: Config) -> dict[str, Any]:
    values = config.model_dump(mode="json")
    values["training"] = {k: v for k, v in values["training"].items() if k not in RUN_ONLY}
    return values


def remove_checkpoints(folder: Path) -> None:
    """Delete a run's checkpoint files (and ``folder`` when nothing else is left in it): after its
    bundle is saved, or when it stopped before its first epoch (nothing to resume)."""
    for name in CHECKPOINT_FILES:
        (folder / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # holds other files, or is already gone
        folder.rmdir()


def config_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """``path: old -> new`` for every value that differs between two nested dicts."""
    changes = []
    for key in sorted(set(old) | set(new)):
        where = f"{path}.{key}" if path else str(key)
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_changes(a, b, where)
        elif a != b:
            changes.append(f"{where}: {a!r} -> {b!r}")
    return changes


def save_fitted(
    folder: Path, config: Config, inputs: list[InputSpec], target: TargetProcessor | None
) -> None:
    """Write the run's config and fitted processor states (atomically) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    states: dict[str, Any] = {}
    tensors = {}
    for spec in inputs:
        state, arrays = spec.processor.get_state()
        states[spec.name] = state
        tensors.update({f"{spec.name}/{k}": v.contiguous() for k, v in arrays.items()})
    record = {
        "config": _comparable(config),
        "inputs": states,
        "target": None if target is None else target.get_state(),
    }
    with atomic_file(folder / STATE_TENSORS) as temp:
        save_file(tensors, str(temp))
    atomic_write_text(folder / STATE_JSON, json.dumps(record, ensure_ascii=False))


def restore_fitted(
    folder: Path, config: Config, inputs: list[InputSpec], target: TargetProcessor | None
) -> None:
    """Set the saved fitted states on ``inputs`` and ``target``; refuse a changed config.

    Raises:
        FileNotFoundError: the checkpoint has no fitted state (not a resumable run).
        ValueError: the config differs from the checkpoint's; the message lists each change.
    """
    path = folder / STATE_JSON
    if not path.is_file():
        raise FileNotFoundError(f"nothing to resume: {path} does not exist (the run never started training)")
    record = json.loads(path.read_text(encoding="utf-8"))
    changes = config_changes(record["config"], _comparable(config))
    if changes:
        shown = "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
        raise ValueError(
            f"cannot resume {folder.parent}: the config changed since the run started ({shown});"
            " resume with the same config, or train again without --resume"
        )
    arrays = load_file(str(folder / STATE_TENSORS))
    for spec in inputs:
        prefix = spec.name + "/"
        spec.processor.set_state(
            record["inputs"][spec.name],
            {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)},
        )
    if target is not None:
        target.set_state(record["target"])
