"""Start-up time: ``polyfuse --help``, ``polyfuse list``, ``import polyfuse`` and the first heavy
import against ``import torch``, each the best of N fresh processes (wall time, seconds).

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "polyfuse --help": [str(BIN / "polyfuse"), "--help"],
    "polyfuse list tasks": [str(BIN / "polyfuse"), "list", "tasks"],
    "import torch": [sys.executable, "-c", "import torch"],
    "import polyfuse": [sys.executable, "-c", "import polyfuse"],
    "from polyfuse import Predictor": [sys.executable, "-c", "from polyfuse import Predictor"],
}
HEAVY = ("torchmetrics", "transformers", "matplotlib", "scipy.signal", "tokenizers", "torch")


def best_of(command: list[str], runs: int) -> float:
    """The fastest of ``runs`` wall times of ``command``."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times)


def loaded_modules(code: str) -> list[str]:
    """Which of :data:`HEAVY` ``code`` imports."""
    probe = f"{code}; import sys; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return [m for m in out.stdout.strip().split(",") if m]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"| command | best of {args.runs} (s) |")
    print("|---|---|")
    for name, command in CASES.items():
        print(f"| `{name}` | {best_of(command, args.runs):.3f} |")
    for code in ("import polyfuse.cli.main", "from polyfuse import Predictor"):
        print(f"\n`{code}` imports: {', '.join(loaded_modules(code)) or 'none of ' + ', '.join(HEAVY)}")


if __name__ == "__main__":
    main()
