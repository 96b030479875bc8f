"""The WordPiece tokenizer learns the same vocabulary in every process: the ``tokenizers`` trainer
numbers its ``##`` pieces in a randomly seeded hash order and breaks ties between equally frequent
merges by those numbers, so before the fix two processes fitting the same texts disagreed (six
runs, six different vocabularies, on this corpus)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polyfuse
from polyfuse.data.processors.text import TextProcessor

FIT = """
import random, sys, types
for name in ("polyfuse", "polyfuse.data", "polyfuse.data.processors"):
    package = types.ModuleType(name)  # the real folders, without running polyfuse/__init__ (seconds)
    package.__path__ = [sys.argv[1] + name[len("polyfuse"):].replace(".", "/")]
    sys.modules[name] = package
from polyfuse.data.processors.text import TextProcessor
rng = random.Random(0)
stems = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa", "lam", "mu",
         "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "ups", "phi", "chi", "psi", "omega"]
ends = ["", "s", "ed", "ing"]
texts = [" ".join(rng.choice(stems) + rng.choice(ends) for _ in range(8)) for _ in range(300)]
state, _ = TextProcessor(vocab_size=120).fit(texts).get_state()
sys.stdout.buffer.write(state["tokenizer"].encode("utf-8"))
"""


def _fit_in_fresh_process(seed: str) -> bytes:
    package = str(Path(polyfuse.__file__).parent)
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run(
        [sys.executable, "-c", FIT, package], env=env, capture_output=True, check=True
    ).stdout


def test_two_fresh_processes_learn_byte_identical_tokenizers() -> None:
    first, second = _fit_in_fresh_process("1"), _fit_in_fresh_process("2")
    assert len(first) > 1000
    assert first == second


def test_continuation_pieces_are_vocabulary_not_special_tokens(tmp_path: Path) -> None:
    processor = TextProcessor(vocab_size=60).fit(["walking talking", "walked talked"])
    state = json.loads(processor.get_state()[0]["tokenizer"])
    assert [t["content"] for t in state["added_tokens"]] == ["[PAD]", "[UNK]"]
    assert "##k" in state["model"]["vocab"]
    assert processor.tokenize("##k walking") == ["[UNK]", "[UNK]", "k", "walking"]  # '#' is unseen
