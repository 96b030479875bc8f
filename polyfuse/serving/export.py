"""ONNX export: encoders, fusion and head as one graph with a dynamic batch axis, plus a JSON
description of the preprocessing each input needs.

Writes ``model.onnx``, ``preprocessing.json`` (per input: columns, processor, parameters, fitted
state, and the graph's input names with their dtypes and shapes; the task's outputs and labels)
and ``preprocessing.safetensors`` (processors' tensor state, if any). The graph's inputs are each
input's collated features, named ``{input}.{key}`` (e.g. ``description.ids``, ``photo.pixels``)
plus ``{input}.present`` (B,) bool; its outputs are the task's tensors (``logits``) and what they
become (``probabilities`` for classification, ``value`` for regression).

Where the model changes shape (a new task contract), :func:`exportable_module` is the one place
to adapt. Legend: B batch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from polyfuse import Predictor, __version__
from polyfuse.data.batch import PRECOMPUTED, Batch
from polyfuse.data.dataset import InputSpec
from polyfuse.model import MultimodalModel

EXPORTED_TASKS = ("binary", "multiclass", "multilabel", "regression")
"""Tasks whose outputs export (the ones that predict K numbers through a head)."""

OPSET = 18
EXPORTERS = ("torchscript", "dynamo")
"""Tried in this order; the first whose graph passes :func:`verify_graph` is kept. The TorchScript
exporter (deprecated since torch 2.9, present in 2.13) keeps the CNN encoders' text and audio lengths
free, where torch.export fixes the audio frames to the traced length; torch.export keeps the token
count free in transformer fusions and encoders, where the TorchScript tracer fixes it."""

VERIFY_TOLERANCE = 1e-4
"""Largest difference allowed between onnxruntime and torch on the verification batches."""


class ExportError(ValueError):
    """A model that cannot be exported (yet); the message says what and why."""


class ExportableModel(nn.Module):
    """The model as a function of flat tensors: ``(features..., present...) -> outputs...``.

    Args:
        model: a :class:`~polyfuse.model.MultimodalModel` in eval mode.
        layout: ``[(input, feature key)]`` in the order the graph's first inputs take.
        names: the inputs, sorted, in the order the graph's present masks take.
        task: the task's name (it decides the outputs after ``logits``).
    """

    def __init__(
        self, model: MultimodalModel, layout: list[tuple[str, str]], names: list[str], task: str
    ) -> None:
        super().__init__()
        self.model = model
        self.layout = layout
        self.names = names
        self.task = task

    def forward(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        features: dict[str, dict[str, Tensor]] = {name: {} for name in self.names}
        for (name, key), tensor in zip(self.layout, tensors[: len(self.layout)], strict=True):
            features[name][key] = tensor
        present = dict(zip(self.names, tensors[len(self.layout) :], strict=True))
        batch = Batch(features, present)
        logits = self.model.predict_step(batch)["logits"].float()  # (B, K)
        task: Any = self.model.task
        if self.task in ("binary", "multiclass"):
            return logits, task.probabilities(logits)  # softmax(logits / temperature)
        if self.task == "multilabel":
            return logits, torch.sigmoid(logits)
        return logits, task.target.decode(logits)  # regression: (B,) in the label's units


def output_names(task: str) -> list[str]:
    """The graph's outputs for a task."""
    return ["logits", "value" if task == "regression" else "probabilities"]


def exportable_module(predictor: Predictor) -> tuple[ExportableModel, list[tuple[str, str]]]:
    """The one function mapping a predictor's model onto an exportable module (and its input layout).

    The module is in eval mode (exporters restore the mode they found, recursively: a wrapper left
    in training mode would switch dropout back on in the predictor's model).

    Raises:
        ExportError: The task or an input cannot be exported yet.
    """
    fitted = predictor.fitted
    task = fitted.schema.task
    if task not in EXPORTED_TASKS:
        raise ExportError(
            f"task {task!r} does not export to ONNX yet (exported: {', '.join(EXPORTED_TASKS)})"
        )
    example = example_batch(predictor)
    layout = layout_of(example)
    if any(key == PRECOMPUTED for _, key in layout):
        raise ExportError("inputs read from the embedding cache cannot be exported")
    model = fitted.model.eval()
    return ExportableModel(model, layout, sorted(example.inputs), task).eval(), layout


def example_batch(predictor: Predictor, rows: int = 3, length: int = 2) -> Batch:
    """A collated batch of ``rows`` copies of a synthetic row with every column filled; ``length``
    scales its text and audio (two lengths show which axes are free)."""
    from polyfuse.serving.inputs import describe_columns
    from polyfuse.serving.service import warmup_row

    row = warmup_row(describe_columns(predictor), length)
    features, present = {}, {}
    for spec in predictor.fitted.inputs:
        value = {c: row[c] for c in spec.columns} if spec.modality == "tabular" else row[spec.columns[0]]
        item = spec.processor.transform(value)
        features[spec.name] = spec.processor.collate([item] * rows)
        present[spec.name] = torch.full((rows,), item is not None, dtype=torch.bool)
    return Batch(features, present)


def onnx_feeds(
    predictor: Predictor,
    rows: list[dict[str, Any]],
    base_dir: str | Path = ".",
    graph_inputs: Collection[str] | None = None,
) -> dict[str, Any]:
    """The graph's inputs for table rows, prepared by the bundle's own processors (the Python
    reference of what ``preprocessing.json`` describes). Media paths resolve against ``base_dir``.
    ``graph_inputs``: keep only these names (the exporter drops inputs the model never reads,
    such as the numeric part of a tabular input with no numeric column).

    Raises:
        BadValueError: A cell cannot be read (as :meth:`Predictor.predict` would report it).
    """
    from polyfuse.data.tables import resolve_media

    features, present = {}, {}
    for spec in predictor.fitted.inputs:
        items = []
        for row in rows:
            if spec.modality == "tabular":
                value: Any = {c: row.get(c) for c in spec.columns}
            else:
                value = row.get(spec.columns[0])
                if spec.modality in ("image", "audio"):
                    value = resolve_media(value, Path(base_dir))
            items.append(spec.processor.transform(value))
        features[spec.name] = spec.processor.collate(items)
        present[spec.name] = torch.tensor([item is not None for item in items], dtype=torch.bool)
    batch = Batch(features, present)
    named = flat_inputs(batch, layout_of(batch))
    return {n: t.numpy() for n, t in named.items() if graph_inputs is None or n in graph_inputs}


def layout_of(batch: Batch) -> list[tuple[str, str]]:
    """``[(input, feature key)]``, sorted: the order of the graph's feature inputs."""
    return [(name, key) for name in sorted(batch.inputs) for key in sorted(batch.inputs[name])]


def flat_inputs(batch: Batch, layout: list[tuple[str, str]]) -> dict[str, Tensor]:
    """A collated batch as the graph's named inputs."""
    named = {f"{name}.{key}": batch.inputs[name][key] for name, key in layout}
    for name in sorted(batch.present):
        named[f"{name}.present"] = batch.present[name]
    return named


def _describe(spec: InputSpec) -> tuple[dict[str, Any], dict[str, Tensor]]:
    state, tensors = spec.processor.get_state()
    description = {
        "name": spec.name,
        "modality": spec.modality,
        "columns": list(spec.columns),
        "processor": type(spec.processor).__name__,
        "params": spec.processor.get_params(),
        "state": state,
        "state_tensors": sorted(f"{spec.name}/{k}" for k in tensors),
    }
    return description, {f"{spec.name}/{k}": v.contiguous() for k, v in tensors.items()}


def export_onnx(predictor: Predictor, out_dir: str | Path, opset: int = OPSET) -> Path:
    """Write ``model.onnx`` and the preprocessing description to ``out_dir``; returns the model path.

    The graph is checked before it is kept: onnxruntime must match torch (within
    :data:`VERIFY_TOLERANCE`) at batch sizes 1 and 5 and at other text and audio lengths.

    Raises:
        ExportError: The model cannot be exported (the message says what each exporter did).
    """
    import onnx

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    module, layout = exportable_module(predictor)
    example, short = example_batch(predictor, length=4), example_batch(predictor, length=1)
    dynamic = _dynamic_axes(module, example, short, layout)
    longer = example_batch(predictor, length=8)
    path = out / "model.onnx"
    failures = []
    for exporter in EXPORTERS:
        try:
            _export(module, example, layout, dynamic, path, opset, exporter)
            worst = verify_graph(path, module, (example, short, longer), layout)
        except Exception as error:  # exporters and onnxruntime raise many kinds
            failures.append(f"{exporter}: {_reason(error)}")
            continue
        if worst <= VERIFY_TOLERANCE:
            break
        failures.append(f"{exporter}: onnxruntime differs from torch by {worst:.2g} at other sizes")
    else:
        path.unlink(missing_ok=True)
        parts = ", ".join(f"{n}: {type(e).__name__}" for n, e in predictor.fitted.model.encoders.items())
        raise ExportError(f"ONNX export failed ({'; '.join(failures)}); encoders: {parts}")
    kept = {i.name for i in onnx.load(str(path), load_external_data=False).graph.input}
    _write_description(predictor, out, example, layout, dynamic, kept, exporter, opset)
    return path


def _export(
    module: ExportableModel,
    example: Batch,
    layout: list[tuple[str, str]],
    dynamic: dict[str, dict[int, str]],
    path: Path,
    opset: int,
    exporter: str,
) -> None:
    named = flat_inputs(example, layout)
    names = list(named)
    if exporter == "torchscript":
        options: dict[str, Any] = {"dynamic_axes": dynamic, "dynamo": False}
    else:  # AUTO: torch.export keeps an axis free where the model allows it
        auto = torch.export.Dim.AUTO
        options = {"dynamic_shapes": {"tensors": tuple({d: auto for d in dynamic[n]} for n in names)}}
        options["dynamo"] = True
        options["verbose"] = False
    quiet = logging.getLogger("onnxscript")  # its optimizer logs a warning per unfolded Split
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    with torch.no_grad(), warnings.catch_warnings(), contextlib.ExitStack() as stack:
        stack.callback(quiet.setLevel, level)
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation, torch.export's notes
        torch.onnx.export(
            module,
            tuple(named.values()),
            str(path),
            input_names=names,
            output_names=output_names(module.task),
            opset_version=opset,
            **options,
        )


def verify_graph(
    path: Path, module: ExportableModel, batches: tuple[Batch, ...], layout: list[tuple[str, str]]
) -> float:
    """Largest difference between onnxruntime and torch over ``batches`` (of other lengths than the
    traced one), each cut to 1 and to 5 rows."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    worst = 0.0
    for batch in batches:
        for size in (1, 5):
            named = flat_inputs(_resized(batch, size), layout)
            got = session.run(None, {n: t.numpy() for n, t in named.items() if n in wanted})
            with torch.no_grad():
                expected = module(*named.values())
            worst = max(worst, *(float(abs(g - e.numpy()).max()) for g, e in zip(got, expected, strict=True)))
    return worst


def _reason(error: Exception) -> str:
    """One line on why an exporter failed (torch.export's summary line when it gives one)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    summary = [line for line in lines if line.startswith("<class '")]
    line = summary[0].split(">: ", 1)[-1] if summary else (lines[0] if lines else "")
    return f"{type(error).__name__}: {line[:300]}"


def _resized(batch: Batch, size: int) -> Batch:
    """``batch`` as ``size`` copies of its first row."""

    def first(t: Tensor) -> Tensor:
        return t[:1].repeat(size, *([1] * (t.dim() - 1)))

    inputs = {n: {k: first(t) for k, t in f.items()} for n, f in batch.inputs.items()}
    return Batch(inputs, {n: first(t) for n, t in batch.present.items()})


def _write_description(
    predictor: Predictor,
    out: Path,
    example: Batch,
    layout: list[tuple[str, str]],
    dynamic: dict[str, dict[int, str]],
    kept: set[str],
    exporter: str,
    opset: int,
) -> None:
    """``preprocessing.json`` (+ ``preprocessing.safetensors`` when a processor has tensor state)."""
    from safetensors.torch import save_file

    fitted = predictor.fitted
    described = [_describe(spec) for spec in fitted.inputs]
    named = flat_inputs(example, layout)
    description = {
        "polyfuse_version": __version__,
        "exporter": exporter,
        "opset": opset,
        "task": fitted.schema.task,
        "label": fitted.schema.label,
        "labels": getattr(fitted.target, "classes_", None),
        "inputs": [d for d, _ in described],
        "graph_inputs": [
            {"name": n, "dtype": str(t.dtype).removeprefix("torch."), "shape": _shape(t, dynamic.get(n, {}))}
            for n, t in named.items()
            if n in kept
        ],
        "graph_outputs": output_names(fitted.schema.task),
        "notes": "Each input's processor turns cells into tensors and collate() stacks rows (padding "
        "text and audio to the longest row); an absent cell is a zero row with present = false. "
        "Inputs the model never reads are not in the graph.",
    }
    (out / "preprocessing.json").write_text(json.dumps(description, indent=2, ensure_ascii=False))
    tensors = {k: v for _, part in described for k, v in part.items()}
    if tensors:
        save_file(tensors, str(out / "preprocessing.safetensors"))


def _shape(tensor: Tensor, dynamic: dict[int, str]) -> list[int | str]:
    return [dynamic.get(i, size) for i, size in enumerate(tensor.shape)]


def _dynamic_axes(
    module: ExportableModel, example: Batch, short: Batch, layout: list[tuple[str, str]]
) -> dict[str, dict[int, str]]:
    """Axis 0 (batch) of every input and output, and every axis whose size differs between two
    batches of other text and audio lengths (the axes collate pads)."""
    long_inputs, short_inputs = flat_inputs(example, layout), flat_inputs(short, layout)
    axes: dict[str, dict[int, str]] = {}
    for name, tensor in long_inputs.items():
        axes[name] = {0: "batch"}
        for dim in range(1, tensor.dim()):
            if tensor.shape[dim] != short_inputs[name].shape[dim]:
                axes[name][dim] = f"{name.replace('.', '_')}_{dim}"
    for output in output_names(module.task):
        axes[output] = {0: "batch"}
    return axes
