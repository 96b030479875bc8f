"""Small generation tasks that need no data download, every test target held out from training.

Synthetic data: no translation or summarisation corpus ships with polyfuse.

- ``words`` (text-to-text, translation-style): a number's digits ("4 0 0 7") -> its English words
  ("four thousand seven"), 0..9999; split by number, so every test number is unseen.
- ``chinese`` (a count + two categories -> a Chinese phrase, character tokenizer): count 1..99
  (its digits as text, "2 3", or with ``--chinese-count numeric`` one number), colour and thing ->
  "二十三辆红色的车" (Chinese numerals, 两 for a lone 2, the measure word the thing takes: 只 / 条 /
  匹 / 本 / 辆); split by (count, colour, thing), so every test phrase is unseen.
- ``summary`` (text-to-text, summarisation-style): a customer's message of three to six sentences
  (greeting, filler, the complaint phrased one of several ways) -> "refund: red kettle, broken";
  split by summary, so every test summary is unseen as a whole.

Prints one JSON line per task: metrics on the test split and a few (input, reference, prediction).

    python benchmarks/generation_small.py --threads 1 --rows 4000 --epochs 12
    python benchmarks/generation_small.py --threads 1 --tasks chinese --chinese-count numeric
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import torch

from polyfuse import Predictor

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"]
TEENS += ["eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ZH_DIGITS = "零一二三四五六七八九"
ZH_COLOURS = {
    "red": "红色",
    "blue": "蓝色",
    "green": "绿色",
    "black": "黑色",
    "white": "白色",
    "yellow": "黄色",
}
ZH_THINGS = {"cat": "只猫", "dog": "只狗", "bird": "只鸟", "fish": "条鱼", "horse": "匹马", "book": "本书"}
ZH_THINGS["car"] = "辆车"
COLOURS = list(ZH_COLOURS)
ITEMS = ["kettle", "lamp", "chair", "jacket", "phone", "backpack", "toaster", "clock"]
PROBLEMS = {
    "broken": ["arrived broken", "was smashed when I opened the box", "does not work at all"],
    "late": ["came two weeks late", "arrived long after the promised date", "took a month to arrive"],
    "wrong size": ["is the wrong size", "does not fit", "is much smaller than described"],
    "missing parts": ["was missing parts", "came without the screws", "is incomplete"],
}
ACTIONS = {
    "refund": ["I would like my money back.", "Please refund me.", "Can I get a refund?"],
    "replacement": ["Please send me a new one.", "I want a replacement.", "Could you swap it?"],
    "repair": ["Can someone fix it?", "Please repair it.", "I would like it repaired."],
}
NAMES = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jun"]
FILLERS = [
    "The weather has been awful.",
    "I have been a customer for years.",
    "It was a gift for my sister.",
    "The delivery driver was very kind.",
    "My neighbour ordered one too.",
    "I hope you are well.",
    "Thanks for reading this.",
]


def english(n: int) -> str:
    """0..9999 in English words ("four thousand seven", "ninety nine")."""
    words = []
    if n >= 1000:
        words += [ONES[n // 1000], "thousand"]
    if n % 1000 >= 100:
        words += [ONES[n % 1000 // 100], "hundred"]
    n %= 100
    if n >= 20:
        words += [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])
    elif n >= 10:
        words.append(TEENS[n - 10])
    elif n or not words:
        words.append(ONES[n])
    return " ".join(words)


def chinese_count(n: int) -> str:
    """1..99 in Chinese numerals before a measure word: 两 for a lone 2, 十一, 二十, 二十三."""
    if n == 2:
        return "两"
    if n < 10:
        return ZH_DIGITS[n]
    tens = "" if n < 20 else ZH_DIGITS[n // 10]
    return tens + "十" + (ZH_DIGITS[n % 10] if n % 10 else "")


def words_table(rows: int, rng: np.random.Generator) -> tuple[pd.DataFrame, str]:
    numbers = rng.permutation(10000)[:rows]
    frame = pd.DataFrame(
        {"digits": [" ".join(str(n)) for n in numbers], "words": [english(n) for n in numbers]}
    )
    return frame, "words"


def chinese_table(
    rows: int, rng: np.random.Generator, numeric_count: bool = False
) -> tuple[pd.DataFrame, str]:
    combos = [(c, k, t) for c in range(1, 100) for k in ZH_COLOURS for t in ZH_THINGS]
    picked = [combos[i] for i in rng.permutation(len(combos))[:rows]]
    frame = pd.DataFrame(picked, columns=["count", "colour", "thing"])
    frame["count"] = (
        frame["count"].astype(float) if numeric_count else [" ".join(str(c)) for c, _, _ in picked]
    )
    frame["phrase"] = [
        chinese_count(c) + ZH_THINGS[t][0] + ZH_COLOURS[k] + "的" + ZH_THINGS[t][1] for c, k, t in picked
    ]
    return frame, "phrase"


def summary_table(rows: int, rng: np.random.Generator) -> tuple[pd.DataFrame, str]:
    """Messages, ordered by summary: the first 80 % of summaries train, the rest test."""
    summaries = [(c, i, p, a) for c in COLOURS for i in ITEMS for p in PROBLEMS for a in ACTIONS]
    order = rng.permutation(len(summaries))
    records = []
    for r in range(rows):
        colour, item, problem, action = summaries[order[r * len(summaries) // rows]]
        body = [
            f"The {colour} {item} I ordered {rng.choice(PROBLEMS[problem])}.",
            rng.choice(ACTIONS[action]),
        ]
        fillers = list(rng.choice(FILLERS, size=rng.integers(0, 4), replace=False))
        for filler in fillers:
            body.insert(int(rng.integers(0, len(body) + 1)), filler)
        message = " ".join([f"Hi, this is {rng.choice(NAMES)}.", *body])
        records.append({"message": message, "summary": f"{action}: {colour} {item}, {problem}"})
    return pd.DataFrame(records), "summary"


TASKS: dict[str, tuple[Callable[[int, np.random.Generator], tuple[pd.DataFrame, str]], str]] = {
    "words": (words_table, "word"),
    "chinese": (chinese_table, "char"),
    "summary": (summary_table, "word"),
}


def run(name: str, args: argparse.Namespace) -> dict[str, object]:
    """Build, train and score one task; its test rows are the last 20 % of the table."""
    build, tokenizer = TASKS[name]
    if name == "chinese":
        build = partial(chinese_table, numeric_count=args.chinese_count == "numeric")
    frame, label = build(args.rows, np.random.default_rng(args.seed))
    columns = {str(c): "text" for c in frame if c != label}
    if name == "chinese":
        count = "numeric" if args.chinese_count == "numeric" else "text"
        columns = {"count": count, "colour": "categorical", "thing": "categorical"}
    split = int(len(frame) * 0.8)
    train, test = frame.iloc[:split], frame.iloc[split:]
    predictor = Predictor(
        label=label,
        columns=columns,
        task={
            "type": "generation",
            "tokenizer": tokenizer,
            "decoder": {"type": "transformer", "dim": 64, "num_layers": 2, "num_heads": 4, "dropout": 0.1},
            "primary_metric": "exact_match_score",
            "decoding": {"strategy": "greedy"},
        },
        encoders={"text": {"type": "transformer"}},
        epochs=args.epochs,
        batch_size=64,
        lr=2e-3,
        seed=args.seed,
        threads=args.threads,
        progress=False,
        tensorboard=False,
        num_workers=0,
        output_dir=f"{args.out}/{name}",
    )
    start = time.perf_counter()
    predictor.fit(train)
    seconds = time.perf_counter() - start
    metrics = predictor.evaluate(test)
    keep = ("exact_match_score", "bleu4_score", "chrf_score", "wer_error", "cer_error", "num_groups")
    shown = test.head(args.samples)
    predicted = predictor.predict(shown)["prediction"].tolist()
    inputs = shown.drop(columns=label).to_dict("records")
    return {
        "task": name,
        "train_rows": len(train),
        "test_rows": len(test),
        "train_seconds": round(seconds, 1),
        **{k: metrics.get(k) for k in keep},
        "samples": [
            {"input": x, "reference": r, "prediction": p}
            for x, r, p in zip(inputs, shown[label], predicted, strict=True)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", default="words,chinese,summary", help=f"comma-separated: {', '.join(TASKS)}"
    )
    parser.add_argument(
        "--rows", type=int, default=4000, help="table rows per task (train 80 %%, test 20 %%)"
    )
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=4, help="test rows printed with their generation")
    parser.add_argument("--out", default="runs/generation_small")
    parser.add_argument("--chinese-count", choices=["digits", "numeric"], default="digits")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.tasks.split(","):
        print(json.dumps(run(name, args), ensure_ascii=False, default=str), flush=True)


if __name__ == "__main__":
    main()
