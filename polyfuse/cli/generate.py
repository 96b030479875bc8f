"""``polyfuse generate BUNDLE --text "seven" -n 16 -o grid.png``: draw images with a bundle.

Image-generation bundles draw from conditions: ``--text`` (every text input), ``--input COL=VALUE``
(repeatable; media paths too), or ``--table conditions.csv`` (one image per row, ``-n`` per row);
inputs left out are absent (no input at all: unconditional samples). Autoencoder bundles decode
``--latents FILE`` (a Parquet file of ``polyfuse embed``, or a CSV of numbers) into each rebuilt
image input. ``-o`` ending in ``.png`` writes one grid (up to 1024 images); otherwise a folder of
PNG files and ``index.csv``, written chunk by chunk with a progress bar.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from polyfuse.cli._common import CliError, user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("generate", help="generate images from conditions (or decode autoencoder latents)")
    p.add_argument("bundle", help="bundle directory (image_generation or autoencoder)")
    p.add_argument("-o", "--output", required=True, help="grid PNG (*.png) or output folder")
    p.add_argument("--text", help="prompt put in every text input")
    p.add_argument("--input", action="append", default=[], metavar="COL=VALUE", help="an input's value")
    p.add_argument("--table", help="CSV/Parquet/JSONL of conditions, one image per row (times -n)")
    p.add_argument("--latents", help="autoencoder: Parquet (polyfuse embed) or CSV of latents to decode")
    p.add_argument("-n", "--num", type=int, default=1, help="images per condition (default 1)")
    p.add_argument("--steps", type=int, help="DDIM sampling steps (default: the bundle's)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the bundle's)")
    p.add_argument("--seed", type=int, help="sampling seed (default: the bundle's)")
    p.add_argument("--chunk-rows", type=int, default=256, help="images generated per chunk")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Generate and write the grid or the folder."""
    import pandas as pd
    import torch

    from polyfuse.data.tables import read_table
    from polyfuse.generate import MAX_GRID, condition_frame, iter_generate, set_sampling
    from polyfuse.predictor import Predictor

    grid = args.output.lower().endswith(".png")
    with user_errors():
        predictor = Predictor.load(args.bundle)
        if args.latents:
            return _decode(predictor, args, grid)
        set_sampling(predictor, steps=args.steps, guidance_scale=args.guidance, seed=args.seed)
        base_dir = None
        if args.table:
            table = read_table(args.table)
            if args.num < 1:
                raise CliError(f"asked for {args.num} images per row: ask for at least 1")
            conditions = table.frame.loc[table.frame.index.repeat(args.num)].reset_index(drop=True)
            base_dir = table.base_dir
        else:
            values = dict(_pair(item) for item in args.input)
            conditions = condition_frame(predictor, args.num, args.text, values)
        if grid and len(conditions) > MAX_GRID:
            raise CliError(
                f"{len(conditions)} images do not fit one grid (at most {MAX_GRID});"
                " give a folder as -o to write them one by one"
            )
        out = Path(args.output)
        images, index = [], []
        for rows, chunk in iter_generate(predictor, conditions, args.chunk_rows, base_dir, progress=True):
            if grid:
                images.append(chunk)
                continue
            index += _write_folder(out, rows, chunk)
        if grid:
            from polyfuse.tasks._images import save_grid

            save_grid(torch.cat(images), out)
            print(f"wrote {out}: {len(conditions)} images")
        else:
            frame = pd.DataFrame(index, columns=["row", "file"])
            frame = frame.join(conditions.reset_index(drop=True), on="row")
            frame.to_csv(out / "index.csv", index=False)
            print(f"wrote {len(frame)} images to {out}/ (index.csv lists them with their conditions)")
    return 0


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise CliError(f"--input {item!r}: expected COLUMN=VALUE")
    return key, value


def _write_folder(out: Path, rows: Any, images: Any) -> list[tuple[int, str]]:
    from polyfuse.tasks._images import to_pil

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for row, image in zip(rows.tolist(), images, strict=True):
        name = f"{row:06d}.png"
        to_pil(image).save(out / name)
        written.append((row, name))
    return written


def _decode(predictor: Any, args: argparse.Namespace, grid: bool) -> int:
    """Decode latents with an autoencoder bundle: each image input as a grid or a folder."""
    import numpy as np
    import pandas as pd

    from polyfuse.generate import decode_latents
    from polyfuse.tasks._images import save_grid

    path = Path(args.latents)
    if path.suffix == ".parquet":
        latents = np.stack(pd.read_parquet(path)["embedding"].map(np.asarray).to_list())
    else:
        latents = pd.read_csv(path, header=None).to_numpy(dtype=np.float32)
    outputs = decode_latents(predictor, latents)
    images = {n: t for n, t in outputs.items() if t.dim() == 4}
    if not images:
        raise CliError("this autoencoder rebuilds no image input")
    out = Path(args.output)
    for name, batch in images.items():
        if grid:
            target = out if len(images) == 1 else out.with_name(f"{out.stem}_{name}.png")
            save_grid(batch, target)
        else:
            _write_folder(out / name, np.arange(len(batch)), batch)
    print(f"decoded {len(latents)} latents into {args.output}")
    return 0
