"""Resume and reproducibility: same seed, same bytes across processes; a run killed mid-epoch and
resumed ends with the weights of an uninterrupted run; resume reuses the processors fitted when the
run started and refuses a changed config; mistakes that would waste a run fail before epoch 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from polyfuse import Predictor

WORDS = ["red", "green", "blue"]


def make_table(path: Path, rows: int = 90, seed: int = 0, extra_words: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    filler = ["a", "the", "one", "zebra quokka"] if extra_words else ["a", "the", "one"]
    frame = pd.DataFrame(
        {
            "text": [f"{rng.choice(filler)} {WORDS[y]} thing" for y in labels],
            "size": rng.normal(labels, 0.3).round(3),
            "label": [WORDS[y] for y in labels],
        }
    )
    frame.to_csv(path, index=False)
    return path


def config(table: Path, out: Path, **training: Any) -> dict[str, Any]:
    return {
        "data": {"train": str(table), "label": "label"},
        "model": {"encoders": {"text": {"type": "bag", "embed_dim": 16}}, "fusion": {"type": "concat"}},
        "training": {
            "epochs": 4,
            "batch_size": 16,
            "patience": None,
            "seed": 3,
            "tensorboard": False,
            "progress": False,
            "output_dir": str(out),
            **training,
        },
    }


CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    import torch
    torch.set_num_threads(1)
    from polyfuse import Predictor
    from polyfuse.model import MultimodalModel

    cfg, bundle, kill_at, resume = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
    if kill_at:
        original, calls = MultimodalModel.training_step, [0]
        def step(self, batch):
            calls[0] += 1
            if calls[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: as a power cut would
            return original(self, batch)
        MultimodalModel.training_step = step
    Predictor(config=cfg).fit(resume=resume).save(bundle)
    """
)


def run_child(cfg: dict[str, Any], bundle: Path, kill_at: int = 0, resume: bool = False) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "random"}  # hash order must not matter
    args = [sys.executable, "-c", CHILD, json.dumps(cfg), str(bundle), str(kill_at), "1" if resume else "0"]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300).returncode


def test_same_seed_same_bytes_in_two_fresh_processes(tmp_path: Path) -> None:
    table = make_table(tmp_path / "t.csv")
    for name in ("a", "b"):
        assert run_child(config(table, tmp_path / f"run_{name}"), tmp_path / f"bundle_{name}") == 0
    for file in ("model.safetensors", "processors.json", "processors.safetensors"):
        assert (tmp_path / "bundle_a" / file).read_bytes() == (tmp_path / "bundle_b" / file).read_bytes(), (
            file
        )


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    table = make_table(tmp_path / "t.csv")
    assert run_child(config(table, tmp_path / "full"), tmp_path / "full_bundle") == 0
    cut = config(table, tmp_path / "cut")
    steps_per_epoch = 5  # 81 training rows in batches of 16 (+1 validation check is not a step)
    assert run_child(cut, tmp_path / "never", kill_at=steps_per_epoch + 3) == -9  # killed in epoch 2
    assert not (tmp_path / "never").exists()
    assert run_child(cut, tmp_path / "cut_bundle", resume=True) == 0
    full = (tmp_path / "full_bundle" / "model.safetensors").read_bytes()
    assert (tmp_path / "cut_bundle" / "model.safetensors").read_bytes() == full


def test_resume_reuses_the_processors_fitted_when_the_run_started(tmp_path: Path) -> None:
    table = make_table(tmp_path / "t.csv")
    cfg = config(table, tmp_path / "run", epochs=3)
    Predictor(config=cfg).fit(stop_after_epochs=1)
    make_table(table, seed=1, extra_words=True)  # the table changed under the interrupted run
    resumed = Predictor(config=cfg).fit(resume=True)
    fresh = Predictor(config=config(table, tmp_path / "fresh", epochs=3)).fit()
    text = {s.name: s.processor for s in resumed.fitted.inputs}["text"]
    vocabulary = text.get_state()[0]["tokenizer"]
    assert "zebra" not in vocabulary  # fitted on the table as it was when the run started
    assert "zebra" in {s.name: s.processor for s in fresh.fitted.inputs}["text"].get_state()[0]["tokenizer"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"training": {"lr": 0.01}}, "training.lr: 0.002 -> 0.01"),
        ({"training": {"batch_size": 8}}, "training.batch_size: 16 -> 8"),
        (
            {"model": {"encoders": {"text": {"type": "bag", "embed_dim": 32}}}},
            "model.encoders.text.embed_dim: 16 -> 32",
        ),
    ],
    ids=["lr", "batch-size", "width"],
)
def test_resume_after_a_config_change_is_refused_naming_the_change(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    table = make_table(tmp_path / "t.csv")
    cfg = config(table, tmp_path / "run")
    Predictor(config=cfg).fit(stop_after_epochs=1)
    changed = {**cfg, **{k: {**cfg[k], **v} for k, v in change.items()}}
    with pytest.raises(ValueError, match="cannot resume") as caught:
        Predictor(config=changed).fit(resume=True)
    assert named in str(caught.value)


def test_resume_of_a_run_that_never_started_says_so(tmp_path: Path) -> None:
    table = make_table(tmp_path / "t.csv")
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        Predictor(config=config(table, tmp_path / "none")).fit(resume=True)


def test_a_misspelt_monitor_fails_before_the_first_epoch(tmp_path: Path) -> None:
    table = make_table(tmp_path / "t.csv")
    with pytest.raises(ValueError, match=r"training.monitor 'acuracy_score' .*did you mean 'accuracy_score'"):
        Predictor(config=config(table, tmp_path / "run", monitor="acuracy_score")).fit()
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # no epoch ran


def test_a_one_class_label_fails_before_training(tmp_path: Path) -> None:
    table = make_table(tmp_path / "t.csv")
    frame = pd.read_csv(table).assign(label="red")
    frame.to_csv(table, index=False)
    with pytest.raises(
        ValueError, match=r"label column 'label' has one value \('red'\) in \d+ training rows"
    ):
        Predictor(config=config(table, tmp_path / "run")).fit()


def test_two_runs_into_one_output_folder_cannot_both_proceed(tmp_path: Path) -> None:
    from polyfuse._io import OutputError, folder_lock

    table = make_table(tmp_path / "t.csv")
    cfg = config(table, tmp_path / "run")
    script = "import fcntl, os, sys, time; from polyfuse._io import folder_lock\n"
    script += "with folder_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(30)\n"
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            OutputError, match=rf"{tmp_path / 'run'} is in use by another polyfuse run \(pid {holder.pid}\)"
        ):
            Predictor(config=cfg).fit()
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path / "run"):  # released with its holder: the folder is usable again
        pass
