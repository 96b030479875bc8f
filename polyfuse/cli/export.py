"""``polyfuse export BUNDLE --format onnx -o DIR``: the model as an ONNX graph + its preprocessing."""

from __future__ import annotations

import argparse
from typing import Any

from polyfuse.cli._common import CliError, user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("export", help="export a bundle's model (ONNX) with its preprocessing description")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="export format (onnx)")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 18)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write ``model.onnx``, ``preprocessing.json`` (and ``preprocessing.safetensors``)."""
    from polyfuse.predictor import Predictor
    from polyfuse.serving.export import OPSET, ExportError, export_onnx

    with user_errors():
        predictor = Predictor.load(args.bundle)
        try:
            path = export_onnx(predictor, args.output, args.opset or OPSET)
        except ExportError as error:
            raise CliError(str(error)) from None
    print(f"wrote {path} and {path.parent / 'preprocessing.json'}")
    return 0
