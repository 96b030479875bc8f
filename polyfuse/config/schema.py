"""Typed configuration: data, model, training. Validated per field, then across fields.

Component sections (``model.encoders.*``, ``model.fusion``, ``model.alignment``) are validated
against the config class of the component their ``type:`` names, found in the component's registry,
so an unknown key or a wrong type is reported with its full path before anything is built.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from polyfuse._registry import ComponentConfig
from polyfuse.config._sections import (
    SHAPE_FUSIONS,
    HeadConfig,
    _auto_task,
    _component,
    _legacy_shapes,
    _processor_options,
    _Strict,
    _typed,
    fusion_choices,
)

__all__ = ["SHAPE_FUSIONS", "HeadConfig", "fusion_choices"]

Modality = Literal["text", "image", "audio", "numeric", "categorical", "ignore"]
TaskType = str
"""A registered task name (``polyfuse list tasks``), or ``auto`` (inferred from the label column)."""


class DataConfig(_Strict):
    """Where the table is and how to read its columns."""

    train: str | None = Field(None, description="training table: CSV, Parquet or JSONL path")
    valid: str | None = Field(None, description="validation table; carved from train when absent")
    test: str | None = Field(None, description="test table, evaluated after training")
    label: str | None = Field(
        None,
        description="the target column (a label, a number, a text to generate, an image to draw);"
        " tasks without one (retrieval, autoencoder) leave it out",
    )
    task: TaskType = Field(
        "auto", description="shorthand for model.task.type; inferred from the label when 'auto'"
    )
    label_delimiter: str = Field("|", description="separator of multi-label strings")
    columns: dict[str, Modality] = Field(
        default_factory=dict, description="explicit modality per column (overrides inference)"
    )
    processors: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="processor options keyed by modality (image, audio, text, tabular) or column",
    )
    valid_fraction: float = Field(0.1, gt=0.0, lt=0.9, description="share of train held out")

    @field_validator("processors")
    @classmethod
    def _check_processors(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for key, options in value.items():
            if key in ("text", "image", "audio", "tabular"):
                _typed((key,), _processor_options, key, options)
        return value

    on_bad_rows: Literal["error", "skip"] = Field(
        "error", description="stop before training on bad rows, or skip them and report the count"
    )
    missing: Literal["mask", "error"] = Field(
        "mask",
        description="empty cells: 'mask' the modality (numbers imputed, unknown category bucket)"
        " or treat them as bad rows",
    )


class ModelConfig(_Strict):
    """Encoders, fusion and head."""

    encoders: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="encoder config keyed by modality (text, image, audio, tabular) or column;"
        " 'type' picks the encoder",
    )
    fusion: dict[str, Any] = Field(
        default_factory=lambda: {"type": "concat"}, description="fusion config; 'type' picks it"
    )
    alignment: list[dict[str, Any]] = Field(
        default_factory=list,
        description="auxiliary alignment losses, each {type: contrastive|adversarial, weight: ..., ...}",
    )
    task: SerializeAsAny[ComponentConfig] = Field(
        default_factory=lambda: _auto_task({}),
        description="what the model solves: {type: auto|binary|multiclass|regression|multilabel|...,"
        " ...options} (polyfuse list tasks); 'auto' infers it from the label column",
    )
    modality_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="probability of dropping a whole input per row in training"
    )

    @model_validator(mode="before")
    @classmethod
    def _rewrite_legacy(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        try:
            return _legacy_shapes(values)
        except ValidationError as error:
            details = [
                InitErrorDetails(
                    type=e["type"], loc=("head", *e["loc"]), input=e["input"], ctx=e.get("ctx", {})
                )
                for e in error.errors()
            ]
            raise ValidationError.from_exception_data(error.title, details) from None

    @field_validator("task", mode="before")
    @classmethod
    def _check_task(cls, value: Any) -> ComponentConfig:
        if isinstance(value, ComponentConfig):
            return value
        if not isinstance(value, dict):
            raise ValueError("model.task must be a mapping with a 'type'")
        if value.get("type", "auto") == "auto":
            return _typed((), _auto_task, value)  # type: ignore[no-any-return]
        from polyfuse.tasks import parse_task_config

        return _typed((), parse_task_config, value)  # type: ignore[no-any-return]

    @field_validator("fusion")
    @classmethod
    def _check_fusion(cls, value: dict[str, Any]) -> dict[str, Any]:
        from polyfuse.fusion import parse_fusion_config

        return _component((), parse_fusion_config, value)

    @field_validator("alignment")
    @classmethod
    def _check_alignment(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from polyfuse.fusion.alignment import parse_alignment_config

        return [_component((str(i),), partial(parse_alignment_config, item)) for i, item in enumerate(value)]

    @field_validator("encoders")
    @classmethod
    def _check_encoders(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from polyfuse.encoders import parse_encoder_config

        checked = {}
        for key, section in value.items():
            modality = key if key in ("text", "image", "audio", "tabular") else section.get("modality")
            if modality is None:
                # keyed by column: the modality is only known once the schema is inferred
                checked[key] = section
                continue
            options = {k: v for k, v in section.items() if k != "modality"}
            checked[key] = _component((key,), parse_encoder_config, modality, options)
        return checked


class TrainingConfig(_Strict):
    """How to train."""

    epochs: int = Field(20, ge=1, description="maximum number of epochs")
    batch_size: int = Field(64, ge=1, description="rows per batch")
    lr: float = Field(2e-3, gt=0, description="peak learning rate (AdamW)")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    encoder_lr: float | None = Field(
        None, gt=0, description="peak learning rate of encoder parameters (fine-tuning); none = lr"
    )
    warmup_fraction: float = Field(0.05, ge=0, lt=1, description="share of steps with linear warmup")
    grad_clip: float | None = Field(1.0, gt=0, description="max gradient norm; none disables")
    patience: int | None = Field(5, ge=1, description="epochs without improvement before stopping")
    monitor: str = Field("auto", description="validation metric for early stopping and best model")
    seed: int = Field(0, description="random seed (CPU runs are deterministic under it)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="'auto' = bf16/fp16 autocast on CUDA, fp32 on CPU"
    )
    device: str = Field("auto", description="'auto', 'cpu', 'cuda', 'cuda:1', 'mps'")
    threads: int | Literal["auto"] = Field(
        "auto",
        description="torch CPU threads for training and prediction; 'auto' = torch's current count (cores or"
        " $OMP_NUM_THREADS), at most the cores divided among compare --jobs workers",
    )
    num_workers: int | Literal["auto"] = Field(
        "auto", description="data-loading processes when media do not fit the in-memory cache"
    )
    cache_memory_mb: int = Field(
        4096, ge=0, description="budget for caching decoded media in memory between epochs"
    )
    embedding_cache: Literal["auto", "off"] = Field(
        "auto",
        description="reuse cached outputs of frozen pretrained encoders when the fusion reads pooled"
        " vectors ('auto'), or run every encoder on every batch ('off')",
    )
    cache_dir: str | None = Field(
        None,
        description="embedding cache directory; none = $POLYFUSE_CACHE_DIR or ~/.cache/polyfuse/embeddings",
    )
    cache_max_mb: int | None = Field(
        None, ge=1, description="size budget of the embedding cache (oldest shards evicted); none = unbounded"
    )
    output_dir: str = Field(
        "runs/polyfuse",
        description="checkpoints, logs and the bundle go here (in a YAML config: relative to its folder)",
    )
    keep_checkpoints: bool = Field(
        False,
        description="keep OUTPUT_DIR/checkpoints after the bundle is saved (an interrupted run always"
        " keeps them, for --resume)",
    )
    tensorboard: bool = Field(True, description="write TensorBoard event files")
    progress: bool = Field(True, description="show a progress bar")

    @field_validator("threads")
    @classmethod
    def _check_threads(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("threads must be at least 1 (or 'auto')")
        return value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        return check_device(value)


DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device(value: str) -> str:
    """``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N``; anything else is refused at config load
    (whether the device exists is checked where training starts, on the machine that runs it)."""
    name = value.strip().lower()
    kind, _, index = name.partition(":")
    valid_index = not index or (index.isdigit() and kind == "cuda")
    if name != "auto" and (kind not in DEVICE_TYPES or not valid_index):
        raise ValueError(f"{value!r} is not a device polyfuse trains on; use auto, cpu, cuda, cuda:N or mps")
    return name


class InferenceConfig(_Strict):
    """How a trained model predicts (prediction, evaluation, embedding, serving)."""

    batch_size: int = Field(256, ge=1, description="rows per batch at prediction and evaluation time")


class Config(_Strict):
    """The whole run: data, model, training, inference."""

    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        label = self.data.label
        if label is not None and label in self.data.columns and self.data.columns[label] != "ignore":
            raise ValueError(f"data.columns: the label column {label!r} cannot also be an input")
        task = self.model.task
        if self.data.task != "auto":
            if task.type not in ("auto", self.data.task):
                raise ValueError(f"data.task {self.data.task!r} contradicts model.task.type {task.type!r}")
            if task.type == "auto":
                from polyfuse.tasks import parse_task_config

                options = task.model_dump(exclude={"type"})
                self.model.task = _typed(
                    ("model", "task"), parse_task_config, {**options, "type": self.data.task}
                )
        return self


class ConfigError(ValueError):
    """A config that does not validate; the message lists every problem with its path."""


def _format_error(error: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"  {path}: {item['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def parse_config(values: dict[str, Any], source: str = "(dict)") -> Config:
    """Validate a plain dict into a :class:`Config`, raising :class:`ConfigError` on problems."""
    try:
        return Config.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_format_error(error, source)) from None


def _read_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error or a non-UTF-8 byte names the file, line and column."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        start = raw.rfind(b"\n", 0, error.start) + 1
        column = len(raw[start : error.start].decode("utf-8", errors="replace")) + 1
        raise ConfigError(
            f"invalid config {path}: line {line}, column {column} (byte 0x{raw[error.start]:02x})"
            " is not valid UTF-8; save the file as UTF-8"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        context = getattr(error, "context", None)
        detail = f"{problem} ({context})" if context else problem
        raise ConfigError(f"invalid YAML in {path}: {where}{detail}") from None


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config; relative data paths and ``training.output_dir`` resolve
    against the YAML's folder (as the data paths always did), not the working directory."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    values = _read_yaml(path) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"invalid config {path}: the top level must be a mapping")
    data = values.get("data")
    if isinstance(data, dict):
        for key in ("train", "valid", "test"):
            if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
                data[key] = str((path.parent / data[key]).resolve())
    training = values.get("training")
    output_dir = training.get("output_dir") if isinstance(training, dict) else None
    if isinstance(output_dir, str) and not Path(output_dir).expanduser().is_absolute():
        training["output_dir"] = str((path.parent / output_dir).resolve())  # type: ignore[index]
    return parse_config(values, str(path))


def dump_config(config: Config) -> str:
    """The config as YAML."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
