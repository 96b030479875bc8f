"""The training loop, in one readable file.

The trainer knows how to run (devices, precision, optimiser, schedule, clipping, early stopping,
checkpoints, logging, resume); the model says what to compute through ``training_step(batch)``.
It knows nothing of modalities or tasks: validation is a callable returning named metrics.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from polyfuse._io import atomic_file
from polyfuse._progress import progress_bar
from polyfuse.config.schema import TrainingConfig
from polyfuse.metrics import higher_is_better

log = logging.getLogger("polyfuse")


class TrainableModel(Protocol):
    """What the trainer needs from a model."""

    def training_step(self, batch: Any) -> dict[str, Tensor]: ...


class EpochLoader(Protocol):
    """A DataLoader factory: a fresh, seeded loader for each epoch."""

    def __call__(self, epoch: int) -> Iterable[Any]: ...


@dataclass
class TrainState:
    """What resume restores besides weights and optimiser."""

    epoch: int = 0
    step: int = 0
    best_value: float | None = None
    best_epoch: int = -1
    stale_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype, or None for fp32. 'auto' uses bf16/fp16 on CUDA and fp32 on CPU."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier: linear warmup, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def param_groups(model: nn.Module, config: TrainingConfig) -> list[dict[str, Any]]:
    """Optimiser groups of the trainable parameters.

    Weight decay applies to matrices and kernels only (parameters of 2 or more dimensions); biases,
    norms' scales and other 1-D parameters are not decayed (nanoGPT's rule). With ``encoder_lr``
    set, parameters under ``encoders.`` (the model's encoder dict) train at that learning rate.
    """
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        encoder = config.encoder_lr is not None and name.startswith("encoders.")
        groups.setdefault((encoder, p.dim() >= 2), []).append(p)
    return [
        {
            "params": params,
            "weight_decay": config.weight_decay if decayed else 0.0,
            **({"lr": config.encoder_lr} if encoder else {}),
        }
        for (encoder, decayed), params in sorted(groups.items())
    ]


BOUNDED_SCORES = ("accuracy", "f1", "auc", "precision", "recall")
"""Parts of metric names whose values lie in [0, 1] (a best value of 1 ends training early)."""


class Trainer:
    """Runs supervised training with early stopping, checkpoints and resume.

    Args:
        config: training options.
        output_dir: where ``checkpoints/``, ``metrics.jsonl`` and ``tensorboard/`` go.
        validate: ``(model) -> {metric: value}`` on the validation data.
        monitor: the metric that picks the best epoch (``*_score`` up, ``*_loss``/``*_error`` down).
    """

    def __init__(
        self,
        config: TrainingConfig,
        output_dir: str | Path,
        validate: Callable[[nn.Module], dict[str, Any]],
        monitor: str,
    ) -> None:
        self.config = config
        self.output_dir = Path(output_dir)
        self.validate = validate
        self.monitor = monitor
        self.maximize = higher_is_better(monitor)
        self.device = resolve_device(config.device)
        self.autocast_dtype = resolve_precision(config.precision, self.device)
        self.state = TrainState()

    @property
    def checkpoint_dir(self) -> Path:
        """Folder of ``last.pt`` (resumable) and ``best.safetensors`` (weights)."""
        return self.output_dir / "checkpoints"

    def _improved(self, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        best = self.state.best_value
        return best is None or (value > best if self.maximize else value < best)

    def _converged(self) -> bool:
        """Whether the best validation value is the metric's ceiling (an accuracy, F1 or AUC of 1):
        no later epoch can beat it (selection needs a strict improvement), so training more only
        costs time."""
        best = self.state.best_value
        bounded = any(part in self.monitor for part in BOUNDED_SCORES) and self.maximize
        return bounded and best is not None and best >= 1.0

    def _save_last(self, model: nn.Module, optimizer: Any, scheduler: Any, scaler: Any) -> None:
        payload = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "state": json.dumps(asdict(self.state)),
            "rng": torch.get_rng_state(),
        }
        with atomic_file(self.checkpoint_dir / "last.pt") as temp:  # fsynced, then renamed into place
            torch.save(payload, temp)

    def _load_last(self, model: nn.Module, optimizer: Any, scheduler: Any, scaler: Any) -> None:
        path = self.checkpoint_dir / "last.pt"
        if not path.is_file():
            raise FileNotFoundError(f"nothing to resume: {path} does not exist")
        payload = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        scaler.load_state_dict(payload["scaler"])
        self.state = TrainState(**json.loads(payload["state"]))
        torch.set_rng_state(payload["rng"])

    def _log(self, record: dict[str, Any], writer: Any) -> None:
        with open(self.output_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "epoch":
                    writer.add_scalar(key, value, record["epoch"])
            writer.flush()

    def fit(
        self,
        model: nn.Module,
        train_loader: EpochLoader,
        steps_per_epoch: int,
        resume: bool = False,
        stop_after_epochs: int | None = None,
    ) -> TrainState:
        """Train ``model`` in place; at the end it holds the best epoch's weights.

        ``stop_after_epochs`` ends this call early (as an interruption would); ``resume`` continues
        from ``checkpoints/last.pt`` to the same result an uninterrupted run reaches.
        """
        cfg = self.config
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        model.to(self.device)
        optimizer = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
        total = cfg.epochs * steps_per_epoch
        schedule = warmup_cosine(total, int(cfg.warmup_fraction * total))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.autocast_dtype == torch.float16)
        if resume:
            self._load_last(model, optimizer, scheduler, scaler)
        else:
            (self.output_dir / "metrics.jsonl").unlink(missing_ok=True)
        writer = None
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.output_dir / "tensorboard"))
        start = self.state.epoch
        for epoch in range(start, cfg.epochs):
            if stop_after_epochs is not None and epoch - start >= stop_after_epochs:
                break
            if cfg.patience is not None and self.state.stale_epochs >= cfg.patience:
                break
            if cfg.patience is not None and self._converged():
                log.info("stopping: validation %s reached its best possible value", self.monitor)
                break
            record = self._train_epoch(
                model, train_loader(epoch), steps_per_epoch, epoch, optimizer, scheduler, scaler
            )
            model.eval()
            metrics = self.validate(model)
            record.update({f"valid_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
            value = metrics.get(self.monitor)
            self.state.epoch = epoch + 1
            if self._improved(value):
                self.state.best_value, self.state.best_epoch = value, epoch
                self.state.stale_epochs = 0
                with atomic_file(self.checkpoint_dir / "best.safetensors") as temp:
                    save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()}, str(temp))
            else:
                self.state.stale_epochs += 1
            self.state.history.append(record)
            self._log(record, writer)
            log.info(self._summary(record, value))  # a line per epoch, with or without a bar
            self._save_last(model, optimizer, scheduler, scaler)
        if writer is not None:
            writer.close()
        best = self.checkpoint_dir / "best.safetensors"
        if best.is_file():
            from safetensors.torch import load_file

            model.load_state_dict(load_file(str(best), device=str(self.device)))
        return self.state

    def _summary(self, record: dict[str, Any], value: float | None) -> str:
        shown = "n/a" if value is None else f"{value:.4f}"
        star = " *" if self.state.best_epoch == record["epoch"] else ""
        return (
            f"epoch {record['epoch'] + 1}/{self.config.epochs}  train_loss {record['train_loss']:.4f}"
            f"  valid {self.monitor} {shown}{star}  ({record['epoch_seconds']:.1f}s)"
        )

    def _train_epoch(
        self,
        model: nn.Module,
        loader: Iterable[Any],
        steps: int,
        epoch: int,
        optimizer: Any,
        scheduler: Any,
        scaler: Any,
    ) -> dict[str, Any]:
        cfg = self.config
        model.train()
        started, seen = time.perf_counter(), 0
        sums: dict[str, float] = {}
        bar = progress_bar(
            loader,
            enabled=cfg.progress,
            total=steps,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            unit="batch",
            leave=False,
            dynamic_ncols=True,
        )
        for batch in bar:
            batch = batch.to(self.device)
            autocast = (
                torch.autocast(self.device.type, dtype=self.autocast_dtype)
                if self.autocast_dtype is not None
                else nullcontext()
            )
            with autocast:
                terms = model.training_step(batch)  # type: ignore[operator]
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(terms["loss"]).backward()
            if cfg.grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            self.state.step += 1
            n = len(batch)
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach()) * n
            seen += n
            best = self.state.best_value
            bar.set_postfix(  # type: ignore[attr-defined]  # a tqdm (disabled off a terminal)
                loss=f"{sums['loss'] / max(seen, 1):.4f}",
                lr=f"{scheduler.get_last_lr()[0]:.2e}",
                **({f"best_{self.monitor}": f"{best:.4f}"} if best is not None else {}),
            )
        means = {f"train_{key}": total / max(seen, 1) for key, total in sums.items()}
        return {
            "epoch": epoch,
            **means,
            "lr": scheduler.get_last_lr()[0],
            "epoch_seconds": time.perf_counter() - started,
            "rows_per_second": seen / max(time.perf_counter() - started, 1e-9),
        }
