"""The training loop: resume reaches the same result, early stopping, best checkpoint, logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from polyfuse.config.schema import TrainingConfig
from polyfuse.training.trainer import Trainer, warmup_cosine


class ToyBatch:
    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def to(self, device: Any) -> ToyBatch:
        return ToyBatch(self.x.to(device), self.y.to(device))

    def __len__(self) -> int:
        return len(self.y)


class ToyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))

    def training_step(self, batch: ToyBatch) -> dict[str, Tensor]:
        return {"loss": nn.functional.cross_entropy(self.net(batch.x), batch.y)}


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=g)
    return TensorDataset(x, (x[:, 0] + x[:, 1] > 0).long())


def _loader(epoch: int) -> DataLoader[Any]:
    return DataLoader(
        _data(),
        batch_size=16,
        shuffle=True,
        generator=torch.Generator().manual_seed(epoch),
        collate_fn=lambda items: ToyBatch(
            torch.stack([i[0] for i in items]), torch.stack([i[1] for i in items])
        ),
    )


def _config(tmp: Path, **kw: Any) -> TrainingConfig:
    values = {
        "epochs": 5,
        "lr": 0.01,
        "progress": False,
        "tensorboard": False,
        "patience": None,
        "output_dir": str(tmp),
        **kw,
    }
    return TrainingConfig(**values)


def _accuracy(model: nn.Module) -> dict[str, float]:
    x, y = _data().tensors
    with torch.no_grad():
        return {"accuracy_score": float((model.net(x).argmax(1) == y).float().mean())}


def _train(tmp: Path, resume: bool = False, stop: int | None = None, **kw: Any) -> tuple[ToyModel, Trainer]:
    torch.manual_seed(0)
    model = ToyModel()
    trainer = Trainer(_config(tmp, **kw), tmp, _accuracy, "accuracy_score")
    trainer.fit(model, _loader, steps_per_epoch=6, resume=resume, stop_after_epochs=stop)
    return model, trainer


def test_resume_continues_to_the_same_final_weights(tmp_path: Path) -> None:
    full, _ = _train(tmp_path / "full")
    _train(tmp_path / "cut", stop=2)
    assert len((tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()) == 2
    resumed, trainer = _train(tmp_path / "cut", resume=True)
    assert trainer.state.epoch == 5
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    history = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [0, 1, 2, 3, 4]


def test_resume_without_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        _train(tmp_path, resume=True)


def test_training_is_deterministic_under_a_seed(tmp_path: Path) -> None:
    a, _ = _train(tmp_path / "a")
    b, _ = _train(tmp_path / "b")
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_learns_and_restores_the_best_epoch(tmp_path: Path) -> None:
    model, trainer = _train(tmp_path, epochs=8)
    best = load_file(str(tmp_path / "checkpoints" / "best.safetensors"))
    assert all(torch.equal(best[k], v) for k, v in model.state_dict().items())
    scores = [h["valid_accuracy_score"] for h in trainer.state.history]
    assert trainer.state.best_value == max(scores)
    assert trainer.state.best_epoch == scores.index(max(scores))
    assert max(scores) > 0.85


def test_early_stopping_after_patience(tmp_path: Path) -> None:
    calls = []

    def worsening(model: nn.Module) -> dict[str, float]:
        calls.append(1)
        return {"valid_error": float(len(calls))}  # lower is better, only gets worse

    torch.manual_seed(0)
    trainer = Trainer(_config(tmp_path, epochs=10, patience=2), tmp_path, worsening, "valid_error")
    state = trainer.fit(ToyModel(), _loader, steps_per_epoch=6)
    assert state.epoch == 3 and state.best_epoch == 0


def test_logs_jsonl_and_tensorboard(tmp_path: Path) -> None:
    _train(tmp_path, epochs=2, tensorboard=True)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 2
    assert {"train_loss", "valid_accuracy_score", "lr", "rows_per_second"} <= set(records[0])
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_monitor_must_say_its_direction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="_score, _loss or _error"):
        Trainer(_config(tmp_path), tmp_path, _accuracy, "accuracy")


def test_warmup_then_cosine() -> None:
    f = warmup_cosine(total_steps=100, warmup_steps=10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5, abs=0.02) and f(100) == pytest.approx(0.0, abs=1e-6)
    assert all(f(i) >= f(i + 1) for i in range(10, 99))
