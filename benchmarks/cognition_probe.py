"""A from-scratch PyTorch relation network on a generated cognition set, outside polyfuse.

It separates the data from the framework: if this plain model, with its tensors preloaded, learns
no faster than ``polyfuse bench cognition run``, the limit is the task's learning dynamics, not
polyfuse's pipeline. ``--objects oracle`` replaces the CNN's 4 x 4 tokens by the true per-cell
attributes (colour, shape, size, presence) read from ``scenes.jsonl``, which separates perception
from reasoning. Figures and commands: docs/cognition.md ("Why the anchors are hard on 2 cores").

    polyfuse bench cognition generate --n 20000 --abilities relation,shape,position --out DIR
    python benchmarks/cognition_probe.py DIR --objects oracle --abilities position --epochs 12

Shapes: images (B, 3, 64, 64); objects (B, 16, D); question ids (B, L); logits (B, answers).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import Tensor, nn

from polyfuse.bench.cognition.scene import COLOURS, SHAPES

GRID = 4
ORACLE_DIM = len(COLOURS) + len(SHAPES) + 2  # colour, shape, large, present


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


class Probe(nn.Module):
    """CNN (or oracle) objects + coordinates, a question vector, and a reasoning module."""

    def __init__(self, vocab: int, answers: int, model: str, question: str, width: int) -> None:
        super().__init__()
        c = 32
        self.model, self.question_kind = model, question
        self.cnn = nn.Sequential(  # 64 px -> 4 x 4 tokens, one per scene cell (polyfuse's anchors CNN)
            nn.Conv2d(5, c, 4, 4), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.embed = nn.Embedding(vocab + 1, 64, padding_idx=0)
        self.gru = nn.GRU(64, 128, batch_first=True)
        self.bow = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
        d = c + 2
        if model == "mlp":  # the CNN + MLP baseline over all cells
            self.mlp = nn.Sequential(nn.Linear(GRID * GRID * d + 128, width), nn.ReLU())
        else:  # g's first layer split per argument: W [o_i; o_j; q] = W_l o_i + W_r o_j + W_q q
            self.left, self.right = nn.Linear(d, width), nn.Linear(d, width, bias=False)
            self.cond, self.gain = nn.Linear(128, width, bias=False), nn.Linear(128, width)
            g: list[nn.Module] = [nn.ReLU()]
            for _ in range(3):
                g += [nn.Linear(width, width), nn.ReLU()]
            self.g = nn.Sequential(*g)
        self.f = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Dropout(0.1), nn.Linear(width, answers))

    def forward(self, pixels: Tensor, oracle: Tensor | None, ids: Tensor) -> Tensor:
        b = pixels.shape[0]
        full = torch.linspace(-1, 1, pixels.shape[-1])
        ys, xs = torch.meshgrid(full, full, indexing="ij")
        features = self.cnn(torch.cat([pixels, torch.stack([xs, ys]).expand(b, -1, -1, -1)], 1))
        if oracle is not None:  # (B, 16, 13) -> (B, c, 4, 4), zero-padded
            features = nn.functional.pad(oracle.transpose(1, 2).reshape(b, ORACLE_DIM, GRID, GRID),
                                         (0, 0, 0, 0, 0, features.shape[1] - ORACLE_DIM))  # fmt: skip
        centres = torch.linspace(-0.75, 0.75, GRID)
        ys, xs = torch.meshgrid(centres, centres, indexing="ij")
        objects = (
            torch.cat([features, torch.stack([xs, ys]).expand(b, -1, -1, -1)], 1).flatten(2).transpose(1, 2)
        )
        lengths = (ids > 0).sum(1)
        if self.question_kind == "bow":
            q = self.bow(self.embed(ids).sum(1) / lengths[:, None])
        else:
            q = self.gru(self.embed(ids))[0][torch.arange(b), lengths - 1]
        if self.model == "mlp":
            return self.f(self.mlp(torch.cat([objects.flatten(1), q], 1)))  # type: ignore[no-any-return]
        pairs = self.left(objects).unsqueeze(2) + self.right(objects).unsqueeze(1)  # (B, 16, 16, W)
        if self.model == "rn-film":  # the question also scales g's first layer
            pairs = pairs * (1 + self.gain(q))[:, None, None]
        pairs = pairs + self.cond(q)[:, None, None]
        return self.f(self.g(pairs).sum((1, 2)))  # type: ignore[no-any-return]


def load(root: Path, abilities: list[str] | None) -> dict[str, object]:
    table = pd.read_csv(root / "table.csv", dtype=str, keep_default_na=False)
    if abilities:
        table = table[table["ability"].isin(abilities)]
    paths = sorted(set(table["image"]))
    index = {p: i for i, p in enumerate(paths)}
    pixels = np.stack([np.asarray(Image.open(root / p).convert("RGB")) for p in paths])
    oracle = torch.zeros(len(paths), GRID * GRID, ORACLE_DIM)
    for line in (root / "scenes.jsonl").read_text(encoding="utf-8").splitlines():
        scene = json.loads(line)
        row = index.get(f"images/{scene['scene_id']:06d}.png")
        for obj in scene["objects"] if row is not None else []:
            cell = oracle[row, int(obj["y"] * GRID) * GRID + int(obj["x"] * GRID)]
            cell[list(COLOURS).index(obj["colour"])] = cell[len(COLOURS) + SHAPES.index(obj["shape"])] = 1
            cell[-2], cell[-1] = float(obj["size"] == "large"), 1.0
    vocab = {w: i + 1 for i, w in enumerate(sorted({w for q in table["question"] for w in words(q)}))}
    length = max(len(words(q)) for q in table["question"])
    answers = {a: i for i, a in enumerate(sorted(set(table["answer"])))}
    splits = {}
    for split in ("train", "test_iid"):
        part = table[table["split"] == split]
        ids = [[vocab[w] for w in words(q)] for q in part["question"]]
        splits[split] = (
            torch.tensor([index[p] for p in part["image"]]),
            torch.tensor([row + [0] * (length - len(row)) for row in ids]),
            torch.tensor([answers[a] for a in part["answer"]]),
            np.array(part["ability"]),
        )
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255)
    return {"images": images, "oracle": oracle, "vocab": len(vocab), "answers": len(answers), **splits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a generated set (polyfuse bench cognition generate)")
    parser.add_argument("--model", choices=["rn", "rn-film", "mlp"], default="rn")
    parser.add_argument("--question", choices=["gru", "bow"], default="bow")
    parser.add_argument("--objects", choices=["cnn", "oracle"], default="cnn")
    parser.add_argument("--abilities", help="comma-separated abilities to keep (default: all)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=64, help="width of g (or of the MLP)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = load(args.data, args.abilities.split(",") if args.abilities else None)
    images, oracle = data["images"], data["oracle"]
    assert isinstance(images, Tensor) and isinstance(oracle, Tensor)
    train, test = data["train"], data["test_iid"]
    model = Probe(int(data["vocab"]), int(data["answers"]), args.model, args.question, args.width)  # type: ignore[call-overload]
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    use_oracle = args.objects == "oracle"
    rows, steps = len(train[0]), 0  # type: ignore[index]
    for epoch in range(args.epochs):
        model.train()
        started, total = time.perf_counter(), 0.0
        for batch in torch.randperm(rows).split(64):
            image = train[0][batch]  # type: ignore[index]
            logits = model(images[image], oracle[image] if use_oracle else None, train[1][batch])  # type: ignore[index]
            loss = nn.functional.cross_entropy(logits, train[2][batch])  # type: ignore[index]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total, steps = total + loss.item() * len(batch), steps + 1
        model.eval()
        with torch.no_grad():
            image, ids = test[0], test[1]  # type: ignore[index]
            pred = torch.cat([
                model(images[i], oracle[i] if use_oracle else None, q).argmax(1)
                for i, q in zip(image.split(256), ids.split(256), strict=True)
            ])  # fmt: skip
        right, ability = (pred == test[2]).numpy(), test[3]  # type: ignore[index]
        per = " ".join(f"{a} {right[ability == a].mean():.3f}" for a in sorted(set(ability)))
        print(
            f"epoch {epoch + 1} step {steps}: train loss {total / rows:.3f}, test {right.mean():.3f} ({per}),"
            f" {time.perf_counter() - started:.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
