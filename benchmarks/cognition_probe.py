"""A from-scratch PyTorch relation network (or attention hops) on a generated cognition set, outside polyfuse.

It separates the data from the framework: if this plain model, with its tensors preloaded, learns
no faster than ``polyfuse bench cognition run``, the limit is the task's learning dynamics, not
polyfuse's pipeline. ``--objects oracle`` replaces the CNN's 4 x 4 tokens by the true per-cell
attributes (colour, shape, size, presence) read from ``scenes.jsonl``, which separates perception
from reasoning (``--positions exact``: at the objects' true centres, not their cells'). ``--model
hops`` runs polyfuse's ``hops`` fusion on the same objects; ``--cnn`` picks the image CNN. Figures
and commands: docs/cognition.md ("Why the anchors are out of reach on 2
cores", "Reasoning solved by attention hops; perception is the wall").

    polyfuse bench cognition generate --n 20000 --abilities relation,shape,position --out DIR
    python benchmarks/cognition_probe.py DIR --objects oracle --abilities position --epochs 12
    python benchmarks/cognition_probe.py DIR --model hops --distance 10 --objects oracle --abilities relation

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

from polyfuse.bench.cognition.scene import BACKGROUND, COLOURS, SHAPES
from polyfuse.encoders import create_encoder, parse_encoder_config

GRID = 4
COUNT_SHARPNESS = 5.0
"""attn: the count gates' logits are scaled up by this much (sharper gates learned faster)."""
ORACLE_DIM = len(COLOURS) + len(SHAPES) + 2  # colour, shape, large, present
CENTRES = torch.linspace(-0.75, 0.75, GRID)
"""Cell centres on the -1 (left / top) to 1 (right / bottom) scale."""


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


class RGB(nn.Module):
    """Drop the coordinate channels: (B, 5, H, W) -> (B, 3, H, W)."""

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :3]


class Probe(nn.Module):
    """CNN (or oracle) objects + coordinates, a question vector, and a reasoning module."""

    def __init__(
        self,
        vocab: int,
        answers: int,
        model: str,
        question: str,
        width: int,
        distance: float = 0.0,
        cnn: str = "stages",
        channels: int = 32,
    ) -> None:
        super().__init__()
        c = self.width = channels
        self.colour_head: nn.Module | None = None  # --colour-aux: a per-token mean-colour regressor
        self.auxiliary = torch.zeros(())
        self.model, self.question_kind, self.distance = model, question, distance
        self.cnn = {  # 64 px -> 4 x 4 tokens, one per scene cell
            "stages": lambda: nn.Sequential(  # polyfuse's anchors CNN: 4 x 4 stem, 2 x (conv, max-pool)
                nn.Conv2d(5, c, 4, 4), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
            ),
            "rgb": lambda: nn.Sequential(  # as stages, without the coordinate channels
                RGB(), nn.Conv2d(3, c, 4, 4), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
            ),
            "pool": lambda: nn.Sequential(  # per-pixel-block features, max-pooled over each cell
                nn.Conv2d(5, c, 4, 4), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(4),
            ),
            "patch": lambda: nn.Sequential(  # ViT's patch embedding, one patch per cell, then a per-token MLP
                nn.Conv2d(5, c, 16, 16), nn.ReLU(), nn.Conv2d(c, c, 1), nn.ReLU(),
            ),
        }[cnn]()  # fmt: skip
        self.cells: nn.Module | None = None  # --objects cells: polyfuse's image/cells encoder
        self.embed = nn.Embedding(vocab + 1, 64, padding_idx=0)
        self.gru = nn.GRU(64, 128, batch_first=True)
        self.bow = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
        d = c + 2
        if model == "attn":  # question-led attention hops (see forward)
            h, self.heads = 64, 4
            self.key1, self.query1 = nn.Linear(d, h), nn.Linear(128, h)
            self.key2 = nn.Linear(d + 1, h * self.heads)
            self.query2 = nn.Linear(128 + d, h * self.heads)
            self.count_key = nn.Linear(d + 1, h * self.heads)
            self.count_query = nn.Linear(128 + d, h * self.heads)
            self.value = nn.Linear(d, h)
            self.reach = nn.Linear(128 + d, self.heads)  # per head: weight of the distance to the subject
            mixed = 128 + d + self.heads * (h + GRID * GRID + 1)  # q, s, reads, expanded counts
            self.mix = nn.Sequential(nn.Linear(mixed, width), nn.ReLU())
        elif model == "hops":  # polyfuse's hops fusion over the same objects and question
            from polyfuse.fusion import create_fusion

            self.fusion = create_fusion("hops", {"image": d, "text": 128}, regions="image", distance=distance)
            self.mix = nn.Sequential(nn.Linear(self.fusion.output_dim, width), nn.ReLU())
        elif model == "mlp":  # the CNN + MLP baseline over all cells
            self.mlp = nn.Sequential(nn.Linear(GRID * GRID * d + 128, width), nn.ReLU())
        else:  # g's first layer split per argument: W [o_i; o_j; q] = W_l o_i + W_r o_j + W_q q
            self.left, self.right = nn.Linear(d, width), nn.Linear(d, width, bias=False)
            self.cond, self.gain = nn.Linear(128, width, bias=False), nn.Linear(128, width)
            g: list[nn.Module] = [nn.ReLU()]
            for _ in range(3):
                g += [nn.Linear(width, width), nn.ReLU()]
            self.g = nn.Sequential(*g)
        self.f = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Dropout(0.1), nn.Linear(width, answers))

    def hops(self, objects: Tensor, q: Tensor) -> Tensor:
        """Question-led attention in two hops, (B, N, D), (B, Q) -> (B, mixed).

        Hop 1: the question attends to its subject s. Hop 2: [q; s] attends to every object with
        softmax heads (closest, furthest; ``distance`` > 0 adds a learned multiple of each object's
        squared distance to s to their logits) and gates every object with sigmoid heads whose sums
        count (expanded on a triangular basis at 0, 1, ..., N so the head reads counts as classes).
        """
        b, n, _ = objects.shape
        h = self.value.out_features
        first = torch.einsum("bh,bnh->bn", self.query1(q), self.key1(objects)) / h**0.5
        subject = (first.softmax(1).unsqueeze(2) * objects).sum(1)  # (B, D)
        radius = objects[..., -2:].pow(2).sum(2, keepdim=True)
        keyed = torch.cat([objects, radius], 2)
        asked = torch.cat([q, subject], 1)
        keys = self.key2(keyed).view(b, n, self.heads, h)
        second = torch.einsum("bkh,bnkh->bnk", self.query2(asked).view(b, self.heads, h), keys) / h**0.5
        if self.distance:
            gap = (objects[..., -2:] - subject[:, None, -2:]).pow(2).sum(2, keepdim=True)  # (B, N, 1)
            second = second + self.distance * self.reach(asked)[:, None] * gap
        read = torch.einsum("bnk,bnh->bkh", second.softmax(1), self.value(objects)).flatten(1)
        count_keys = self.count_key(keyed).view(b, n, self.heads, h)
        gates = torch.einsum("bkh,bnkh->bnk", self.count_query(asked).view(b, self.heads, h), count_keys)
        counts = torch.sigmoid(COUNT_SHARPNESS * gates / h**0.5).sum(1)  # (B, heads)
        levels = torch.arange(GRID * GRID + 1, dtype=counts.dtype)
        counts = (1 - (counts[..., None] - levels).abs()).clamp(min=0).flatten(1)  # (B, heads * 17)
        return torch.cat([q, subject, read, counts], 1)

    def forward(self, pixels: Tensor, oracle: Tensor | None, ids: Tensor) -> Tensor:
        """``oracle`` (B, 16, 13 + 2): per-cell attributes then (x, y) from -1 to 1, in place of the CNN."""
        b = pixels.shape[0]
        if self.cells is not None:  # its tokens end with (x, y)
            cells = self.cells({"pixels": pixels}).tokens
            tokens, where = cells[..., :-2], cells[..., -2:]
        elif oracle is None:
            full = torch.linspace(-1, 1, pixels.shape[-1])
            ys, xs = torch.meshgrid(full, full, indexing="ij")
            features = self.cnn(torch.cat([pixels, torch.stack([xs, ys]).expand(b, -1, -1, -1)], 1))
            if self.training and self.colour_head is not None:  # each token predicts its cell's mean colour
                target = (
                    nn.functional.adaptive_avg_pool2d(pixels, GRID).flatten(2).transpose(1, 2)
                )  # (B, 16, 3)
                predicted = self.colour_head(features.flatten(2).transpose(1, 2))
                self.auxiliary = nn.functional.mse_loss(predicted, target) * 100
            tokens = features.flatten(2).transpose(1, 2)  # (B, 16, c)
            ys, xs = torch.meshgrid(CENTRES, CENTRES, indexing="ij")
            where = torch.stack([xs, ys], 2).flatten(0, 1).expand(b, -1, -1)
        else:  # zero-padded to the CNN's width
            tokens = nn.functional.pad(oracle[..., :-2], (0, self.width - oracle.shape[-1] + 2))
            where = oracle[..., -2:]
        objects = torch.cat([tokens, where], 2)
        lengths = (ids > 0).sum(1)
        if self.question_kind == "bow":
            q = self.bow(self.embed(ids).sum(1) / lengths[:, None])
        else:
            q = self.gru(self.embed(ids))[0][torch.arange(b), lengths - 1]
        if self.model == "attn":
            return self.f(self.mix(self.hops(objects, q)))  # type: ignore[no-any-return]
        if self.model == "hops":
            every = torch.ones(objects.shape[:2], dtype=torch.bool)
            fused = self.fusion(
                {"image": objects, "text": q[:, None]}, {"image": every, "text": every[:, :1]}
            )
            return self.f(self.mix(fused))  # type: ignore[no-any-return]
        if self.model == "mlp":
            return self.f(self.mlp(torch.cat([objects.flatten(1), q], 1)))  # type: ignore[no-any-return]
        pairs = self.left(objects).unsqueeze(2) + self.right(objects).unsqueeze(1)  # (B, 16, 16, W)
        if self.model == "rn-film":  # the question also scales g's first layer
            pairs = pairs * (1 + self.gain(q))[:, None, None]
        pairs = pairs + self.cond(q)[:, None, None]
        return self.f(self.g(pairs).sum((1, 2)))  # type: ignore[no-any-return]


def relation_kind(question: str) -> str:
    """closest / furthest / count, for the per-kind breakdown of relational questions."""
    text = question.lower()
    if "how many" in text:
        return "count"
    return ("closest" if re.search("closest|nearest", text) else "furthest") + (
        "-shape" if "shape" in text else "-colour"
    )


def pixel_tokens(images: Tensor, units: int = 24) -> Tensor:
    """Per-cell tokens computed from the pixels, no labels and nothing learnt: (N, 16, units + 1).

    The mean colour of the cell's foreground pixels (those away from the background colour),
    expanded by fixed random ReLU features (so that one colour can be singled out by a linear
    key), zero for an empty cell, then a presence flag.
    """
    background = torch.tensor(BACKGROUND).float().div(255)[:, None, None]
    foreground = ((images - background).abs().sum(1, keepdim=True) > 0.1).float()  # (N, 1, H, W)
    side = images.shape[-1] // GRID
    share = nn.functional.avg_pool2d(foreground, side).flatten(2).transpose(1, 2)  # (N, 16, 1)
    colour = nn.functional.avg_pool2d(images * foreground, side).flatten(2).transpose(1, 2)
    colour = colour / share.clamp(min=1e-3)  # (N, 16, 3)
    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(3, units, generator=generator) * 6
    bias = torch.rand(units, generator=generator) * 6 - 3
    present = (share > 0).float()
    return torch.cat([torch.relu(colour @ weight + bias) * present, present], 2)


def load(root: Path, abilities: list[str] | None) -> dict[str, object]:
    table = pd.read_csv(root / "table.csv", dtype=str, keep_default_na=False)
    if abilities:
        table = table[table["ability"].isin(abilities)]
    paths = sorted(set(table["image"]))
    index = {p: i for i, p in enumerate(paths)}
    pixels = np.stack([np.asarray(Image.open(root / p).convert("RGB")) for p in paths])
    ys, xs = torch.meshgrid(CENTRES, CENTRES, indexing="ij")
    centres = torch.stack([xs, ys], 2).flatten(0, 1).repeat(len(paths), 1, 1)  # (images, 16, 2)
    oracle = torch.cat([torch.zeros(len(paths), GRID * GRID, ORACLE_DIM), centres], 2)
    exact = oracle.clone()  # the same, with each object's exact centre in place of its cell's
    for line in (root / "scenes.jsonl").read_text(encoding="utf-8").splitlines():
        scene = json.loads(line)
        row = index.get(f"images/{scene['scene_id']:06d}.png")
        for obj in scene["objects"] if row is not None else []:
            cell = int(obj["y"] * GRID) * GRID + int(obj["x"] * GRID)
            attributes = oracle[row, cell]
            attributes[list(COLOURS).index(obj["colour"])] = 1
            attributes[len(COLOURS) + SHAPES.index(obj["shape"])] = 1
            attributes[ORACLE_DIM - 2], attributes[ORACLE_DIM - 1] = float(obj["size"] == "large"), 1.0
            exact[row, cell, :ORACLE_DIM] = attributes[:ORACLE_DIM]
            exact[row, cell, ORACLE_DIM:] = torch.tensor([2 * obj["x"] - 1, 2 * obj["y"] - 1])
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
            np.array(
                [
                    relation_kind(q) if a == "relation" else ""
                    for q, a in zip(part["question"], part["ability"], strict=True)
                ]
            ),
        )
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255)
    return {
        "images": images,
        "oracle": oracle,
        "exact": exact,
        "vocab": len(vocab),
        "answers": len(answers),
        **splits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a generated set (polyfuse bench cognition generate)")
    parser.add_argument("--model", choices=["rn", "rn-film", "mlp", "attn", "hops"], default="rn")
    parser.add_argument("--question", choices=["gru", "bow"], default="bow")
    parser.add_argument(
        "--objects",
        choices=["cnn", "oracle", "pixels", "cells"],
        default="cnn",
        help="pixels: each cell's foreground mean colour, randomly expanded, and presence (no CNN);"
        " cells: polyfuse's image/cells encoder (learnt foreground colour and mask features)",
    )
    parser.add_argument(
        "--cnn", choices=["stages", "rgb", "pool", "patch"], default="stages", help="image CNN"
    )
    parser.add_argument(
        "--positions", choices=["cell", "exact"], default="cell",
        help="oracle: token coordinates at the cell centre, or at the object's exact centre",
    )  # fmt: skip
    parser.add_argument("--abilities", help="comma-separated abilities to keep (default: all)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=64, help="width of g (or of the MLP)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--channels", type=int, default=32, help="channels of every CNN layer")
    parser.add_argument(
        "--colour-aux", action="store_true", help="auxiliary loss: tokens predict their cell's mean colour"
    )
    parser.add_argument("--freeze-cnn", action="store_true", help="keep the CNN at its random initialisation")
    parser.add_argument("--distance", type=float, default=0.0, help="attn: distance bias scale (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = load(args.data, args.abilities.split(",") if args.abilities else None)
    images, oracle = data["images"], data["exact" if args.positions == "exact" else "oracle"]
    assert isinstance(images, Tensor) and isinstance(oracle, Tensor)
    if args.objects == "pixels":  # pixel tokens at the cell centres
        oracle = torch.cat([pixel_tokens(images), oracle[..., -2:]], 2)
    train, test = data["train"], data["test_iid"]
    vocab, answers = int(data["vocab"]), int(data["answers"])  # type: ignore[call-overload]
    model = Probe(
        vocab, answers, args.model, args.question, args.width, args.distance, args.cnn, args.channels
    )
    if args.objects == "cells":  # pixels on a 0-1 scale here, hence the threshold
        config = parse_encoder_config(
            "image", {"type": "cells", "width": args.channels + 2, "threshold": 0.1}
        )
        model.cells = create_encoder("image", config, {"channels": 3, "height": 64, "width": 64})
    if args.colour_aux:
        model.colour_head = nn.Linear(model.width, 3)
    if args.freeze_cnn:  # random features, never trained
        model.cnn.requires_grad_(False)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    use_oracle = args.objects in ("oracle", "pixels")
    rows, steps = len(train[0]), 0  # type: ignore[index]

    def scenes(index: Tensor) -> tuple[Tensor, Tensor | None]:
        """Images ``index``'s pixels and (``--objects oracle``) oracle tokens."""
        return images[index], oracle[index] if use_oracle else None

    for epoch in range(args.epochs):
        model.train()
        started, total = time.perf_counter(), 0.0
        for batch in torch.randperm(rows).split(64):
            image = train[0][batch]  # type: ignore[index]
            logits = model(*scenes(image), train[1][batch])  # type: ignore[index]
            loss = nn.functional.cross_entropy(logits, train[2][batch])  # type: ignore[index]
            loss = loss + model.auxiliary
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total, steps = total + loss.item() * len(batch), steps + 1
        model.eval()
        with torch.no_grad():
            image, ids = test[0], test[1]  # type: ignore[index]
            pred = torch.cat([
                model(*scenes(i), q).argmax(1)
                for i, q in zip(image.split(256), ids.split(256), strict=True)
            ])  # fmt: skip
        right, ability = (pred == test[2]).numpy(), test[3]  # type: ignore[index]
        per = " ".join(f"{a} {right[ability == a].mean():.3f}" for a in sorted(set(ability)))
        kinds = test[4]  # type: ignore[index]
        per += "; " + " ".join(f"{k} {right[kinds == k].mean():.2f}" for k in sorted(set(kinds) - {""}))
        print(
            f"epoch {epoch + 1} step {steps}: train loss {total / rows:.3f}, test {right.mean():.3f} ({per}),"
            f" {time.perf_counter() - started:.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
