"""Where the time of a fit and of a prediction goes, phase by phase.

Splits one ``Predictor.fit`` into import, table reading, schema, processor fitting, media decoding
(both splits, with the model build), per-epoch forward/backward, validation, calibration and saving;
then a prediction into loading, batch prediction of the test table (decoding included, rows/s) and
one-row prediction through the Python API (``Predictor.predict_one``, p50/p99 in ms).

    python benchmarks/speed.py                                  # the 2,000-row fusion table
    python benchmarks/speed.py --variant before --epochs 2      # the pre-issue-20 defaults
    python benchmarks/speed.py --table avdigits                 # AV digits clean (fused setup)

Tables: ``fusion`` (``polyfuse.bench.synthetic.make_fusion_table``: text + 32 px image + number,
three classes that need all three inputs; generated under benchmarks/output/speed/) or ``avdigits``
(built by benchmarks/avdigits.py from ../shared/data). Prints a markdown table and one JSON line.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()
from polyfuse import Predictor  # noqa: E402  (the import is the first phase measured)

IMPORTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

from polyfuse.data.schema import infer_schema  # noqa: E402
from polyfuse.data.tables import read_table  # noqa: E402
from polyfuse.model_card import render_model_card  # noqa: E402
from polyfuse.training import pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "output" / "speed"
BEFORE = {"data": {"processors": {"image": {"size": 64}}}, "model": {"encoders": {"text": {"type": "bigru"}}}}
"""The defaults before issue 20: 64 px images whatever their size, a BiGRU for any text."""


def _cpu() -> float:
    """CPU seconds of this process, all threads (robust to other jobs on the cores, unlike wall time)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(phases: dict[str, float], name: str, fn: Any, *args: Any) -> Any:
    started = time.perf_counter()
    result = fn(*args)
    phases[name] = phases.get(name, 0.0) + time.perf_counter() - started
    return result


def table_paths(name: str) -> tuple[Path, Path, dict[str, Any]]:
    """Train and test CSVs of the benchmark table and its config sections."""
    if name == "fusion":
        folder = OUT / "fusion"
        if not (folder / "test.csv").is_file():
            from polyfuse.bench.synthetic import make_fusion_table

            make_fusion_table(folder)
        return folder / "train.csv", folder / "test.csv", {"data": {"label": "label"}}
    sys.path.insert(0, str(ROOT))
    import avdigits

    folder = avdigits.build_tables("clean")
    values = avdigits.config(folder, "fused", 0, 8)
    values["training"].pop("output_dir")
    return folder / "train.csv", folder / "test.csv", values


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


CHOOSE = getattr(pipeline, "choose_defaults", lambda config, *_: (config, {}))
"""Data-sized defaults (absent before issue 20: then the config is used as it is)."""


def _one_row(predictor: Predictor) -> Any:
    """``predict_one``, or before issue 20 the Python API's way: a one-row DataFrame."""
    import pandas as pd

    if hasattr(predictor, "predict_one"):
        return predictor.predict_one
    return lambda row: predictor.predict(pd.DataFrame([row]))


def fit_phases(config: dict[str, Any]) -> tuple[Predictor, dict[str, float], dict[str, Any]]:
    """Train as ``Predictor.fit`` does, timing each phase (same calls, in the same order)."""
    phases: dict[str, float] = {}
    predictor = Predictor(config=config)
    cfg = predictor.config
    threads = getattr(cfg.training, "threads", torch.get_num_threads())
    torch.set_num_threads(threads if isinstance(threads, int) else 2)
    torch.manual_seed(cfg.training.seed)
    started, cpu = time.perf_counter(), _cpu()
    table = _timed(phases, "read table", read_table, cfg.data.train)
    schema = _timed(
        phases,
        "schema",
        infer_schema,
        table.frame,
        cfg.data.label,
        dict(cfg.data.columns),
        cfg.model.task.type,
    )
    train, valid = pipeline.stratified_split(table, schema, cfg.data.valid_fraction, cfg.training.seed)
    prepared = _timed(phases, "fit processors", pipeline.prepare, cfg, schema, train, valid)
    sized, defaults = _timed(phases, "fit processors", CHOOSE, cfg, prepared.inputs, prepared.train)
    built = _timed(phases, "decode media + build model", pipeline.build, sized, schema, prepared)
    validate = pipeline.validate
    validation = {"seconds": 0.0}

    def timed_validate(*args: Any) -> Any:
        t = time.perf_counter()
        result = validate(*args)
        validation["seconds"] += time.perf_counter() - t
        return result

    pipeline.validate = timed_validate  # type: ignore[assignment]
    try:
        trained = _timed(phases, "train loop", pipeline.train, sized, built, prepared)
    finally:
        pipeline.validate = validate  # type: ignore[assignment]
    epochs = trained.state.history
    loop = phases.pop("train loop")
    phases["forward/backward (all epochs)"] = sum(e["epoch_seconds"] for e in epochs)
    phases["validation (all epochs)"] = validation["seconds"]
    phases["checkpoints + other"] = loop - phases["forward/backward (all epochs)"] - validation["seconds"]
    calibration = _timed(phases, "calibration", pipeline.calibrate, sized, built)
    fitted = built.fitted
    fitted.inputs = prepared.inputs
    fitted.metrics = {
        "valid": pipeline.validate(fitted, built.valid_rows, sized.inference.batch_size),
        "monitor": trained.monitor,
        "calibration": calibration,
        "training": {
            "epochs_run": trained.state.epoch,
            "best_epoch": trained.state.best_epoch + 1,
            "defaults": defaults,
            "threads": torch.get_num_threads(),
        },
        "history": epochs,
    }
    phases["fit total"] = time.perf_counter() - started
    phases["fit total, CPU seconds"] = _cpu() - cpu
    predictor.fitted_ = fitted
    info = {
        "epochs": trained.state.epoch,
        "best_epoch": trained.state.best_epoch + 1,
        "defaults": defaults,
        "per_epoch_s": round(phases["forward/backward (all epochs)"] / max(1, len(epochs)), 2),
    }
    return predictor, phases, info


def predict_phases(bundle: Path, test: Path, repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Load, batch-predict the test table (best of ``repeats``), and one row at a time."""
    import pandas as pd

    phases: dict[str, float] = {}
    predictor = _timed(phases, "load bundle", Predictor.load, bundle)
    predictor.predict(test)  # warm-up (first-call allocations)
    best = min(_once(predictor.predict, test) for _ in range(repeats))
    cpu = _cpu()
    for _ in range(repeats):
        predictor.predict(test)
    batch_cpu = (_cpu() - cpu) / repeats
    frame = pd.read_csv(test, keep_default_na=False)
    phases["batch predict (best)"] = best
    from polyfuse.data.dataset import encode_rows, make_collate, transform_row
    from polyfuse.inference import run_steps

    table = read_table(test)
    fitted = predictor.fitted
    phases["  of which: decode rows"] = min(_once(encode_rows, table, fitted.inputs) for _ in range(repeats))
    encoded = encode_rows(table, fitted.inputs)
    size = predictor.config.inference.batch_size
    phases["  of which: model"] = min(_once(run_steps, fitted, encoded, size) for _ in range(repeats))
    rows = []
    for record in frame.to_dict("records"):
        record = {
            k: (str(test.parent / v) if k in ("photo", "sound") and v else v) for k, v in record.items()
        }
        rows.append(record)
    one_row = _one_row(predictor)
    one_row(rows[0])
    times = []
    cpu = _cpu()
    for _ in range(max(1, repeats // 2)):
        for row in rows:
            t = time.perf_counter()
            one_row(row)
            times.append((time.perf_counter() - t) * 1000)
    one_cpu = (_cpu() - cpu) * 1000 / len(times)
    times.sort()
    features, _ = transform_row(rows[0], fitted.inputs, Path.cwd(), False)
    batch = make_collate(fitted.inputs)([(0, features, None)])
    bare = []
    with torch.inference_mode():
        for _ in range(len(times)):
            t = time.perf_counter()
            fitted.model.predict_step(batch)  # type: ignore[operator]
            bare.append((time.perf_counter() - t) * 1000)
    info = {
        "rows": len(frame),
        "batch_rows_per_s": round(len(frame) / best),
        "batch_rows_per_cpu_s": round(len(frame) / batch_cpu),
        "one_row_p50_ms": round(statistics.median(times), 2),
        "one_row_p99_ms": round(times[int(0.99 * (len(times) - 1))], 2),
        "one_row_cpu_ms_mean": round(one_cpu, 2),
        "bare_model_one_row_p50_ms": round(statistics.median(bare), 2),
        "accuracy": float((predictor.predict(test)["prediction"] == frame["label"].astype(str)).mean()),
    }
    return phases, info


def _once(fn: Any, *args: Any) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=["fusion", "avdigits"], default="fusion")
    parser.add_argument("--variant", choices=["after", "before"], default="after", help="defaults used")
    parser.add_argument("--epochs", type=int, help="override training.epochs")
    parser.add_argument("--threads", default="auto", help="training.threads")
    parser.add_argument("--label", default="new", help="names the run folder (e.g. the code measured)")
    parser.add_argument("--repeats", type=int, default=5, help="batch predictions timed (best kept)")
    args = parser.parse_args()
    train, test, values = table_paths(args.table)
    run = OUT / "runs" / f"{args.table}-{args.variant}-{args.label}"
    training = {
        "output_dir": str(run),
        "progress": False,
        "tensorboard": False,
        "threads": int(args.threads) if args.threads.isdigit() else "auto",
    }
    if args.epochs:
        training["epochs"] = args.epochs
    from polyfuse.config.schema import TrainingConfig

    if "threads" not in TrainingConfig.model_fields:  # before issue 20: torch.set_num_threads only
        torch.set_num_threads(training.pop("threads") if args.threads.isdigit() else 2)  # type: ignore[arg-type]
    config = _merge(values, {"data": {"train": str(train), "test": None}, "training": training})
    if args.variant == "before" and args.table == "fusion":
        config = _merge(config, BEFORE)
    phases = {"import polyfuse": IMPORTED - STARTED}
    predictor, fit, info = fit_phases(config)
    phases.update(fit)
    phases["save bundle"] = _once(predictor.save, run / "model")
    render_model_card(predictor.fitted)
    predict, pinfo = predict_phases(run / "model", test, args.repeats)
    phases.update(predict)
    info.update(pinfo)
    info.update(table=args.table, variant=args.variant, code=args.label, threads=torch.get_num_threads())
    print(f"\n| phase ({args.table}, {args.variant}) | seconds |\n|---|---|")
    for name, seconds in phases.items():
        print(f"| {name} | {seconds:.2f} |")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
