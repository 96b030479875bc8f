"""Bad input, each kind one test: training stops before the first epoch with one message naming
the column, the rows, their count and the file (or skips them with ``on_bad_rows: skip``); at
predict time a bad row gets an error entry and every other row is predicted.

Empty cells are *missing*, not bad, by default (``data.missing: mask``); with
``data.missing: error`` they are bad rows too.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from polyfuse import ConfigError, DataError, Predictor
from polyfuse.bench.synthetic import CLASSES
from polyfuse.cli.main import main

ConfigFactory = Callable[..., dict[str, Any]]
Trained = Any  # conftest.Trained: predictor, bundle, data_dir, train_table
N_ROWS = 60  # rows of the demo table built by conftest
N_TRAIN = 48  # train.csv holds demo rows 0..47, valid.csv rows 48..59 (renumbered 0..11)
Mutation = Callable[[Path, pd.DataFrame, int], None]


# ---------------------------------------------------------------------------- helpers
def split_tables(data_dir: Path, frame: pd.DataFrame) -> tuple[Path, Path]:
    """Write ``train.csv`` and ``valid.csv`` next to the media, so relative paths resolve."""
    train, valid = data_dir / "train.csv", data_dir / "valid.csv"
    frame.iloc[:N_TRAIN].to_csv(train, index=False)
    frame.iloc[N_TRAIN:].reset_index(drop=True).to_csv(valid, index=False)
    return train, valid


def media_file(data_dir: Path, frame: pd.DataFrame, column: str, row: int) -> Path:
    return data_dir / frame.loc[row, column]


def _delete(path: Path) -> None:
    path.unlink()


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a media file at all" * 4)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _no_frames(path: Path) -> None:
    sf.write(path, np.zeros(0, dtype=np.float32), 8000)


MEDIA_CASES = {
    "missing image file": ("photo", _delete, "file not found"),
    "corrupt image": ("photo", _garbage, "cannot read image"),
    "truncated image": ("photo", _truncate, "cannot read image"),
    "missing audio file": ("sound", _delete, "file not found"),
    "unreadable audio": ("sound", _garbage, "cannot read audio"),
    "zero-length audio file": ("sound", _zero_bytes, "cannot read audio"),
    "audio with no frames": ("sound", _no_frames, "cannot read audio"),
}


def assert_stopped_before_training(
    error: DataError, output_dir: Path, column: str, rows: list[int], source: Path, total: int
) -> str:
    """The one message names the column, the rows, their count and the table; nothing was trained."""
    message = str(error)
    assert f"{len(rows)} of {total} rows in {source} are bad" in message
    shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    assert f"column {column!r}: {len(rows)} rows (rows {shown})" in message
    assert sorted({e.row for e in error.errors}) == rows
    assert {e.column for e in error.errors} == {column}
    assert not (output_dir / "metrics.jsonl").exists()
    assert not (output_dir / "checkpoints").exists()
    return message


# ---------------------------------------------------------------------------- training: media
@pytest.mark.parametrize("case", list(MEDIA_CASES))
def test_bad_media_stops_training_with_named_message(
    case: str, demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    column, corrupt, reason = MEDIA_CASES[case]
    bad_rows = [5, 30]
    for row in bad_rows:
        corrupt(media_file(demo_dir, demo_frame, column, row))
    train, valid = split_tables(demo_dir, demo_frame)
    config = fast_config()
    with pytest.raises(DataError) as caught:
        Predictor(config=config).fit(train, valid)
    message = assert_stopped_before_training(
        caught.value, Path(config["training"]["output_dir"]), column, bad_rows, train, N_TRAIN
    )
    assert reason in message
    assert demo_frame.loc[bad_rows[0], column] in message  # the media file is named


def test_message_lists_first_rows_and_total_count(
    demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    bad_rows = [1, 4, 9, 16, 25, 36, 47]
    for row in bad_rows:
        _garbage(media_file(demo_dir, demo_frame, "photo", row))
    train, valid = split_tables(demo_dir, demo_frame)
    config = fast_config()
    with pytest.raises(DataError) as caught:
        Predictor(config=config).fit(train, valid)
    message = assert_stopped_before_training(
        caught.value, Path(config["training"]["output_dir"]), "photo", bad_rows, train, N_TRAIN
    )
    assert "7 rows (rows 1, 4, 9, 16, 25, ...)" in message
    assert "--on-bad-rows skip" in message


def test_bad_rows_in_several_columns_are_one_message(
    demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    _garbage(media_file(demo_dir, demo_frame, "photo", 3))
    _zero_bytes(media_file(demo_dir, demo_frame, "sound", 8))
    _zero_bytes(media_file(demo_dir, demo_frame, "sound", 3))
    train, valid = split_tables(demo_dir, demo_frame)
    with pytest.raises(DataError) as caught:
        Predictor(config=fast_config()).fit(train, valid)
    message = str(caught.value)
    assert message.startswith(f"2 of {N_TRAIN} rows in {train} are bad")
    assert "column 'photo': 1 rows (rows 3)" in message
    assert "column 'sound': 2 rows (rows 3, 8)" in message


def test_row_numbers_refer_to_the_file_when_validation_is_split_off(
    demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    """Without a validation table one is carved out; rows are still numbered as in the file."""
    bad_rows = [40, 50, 55]
    for row in bad_rows:
        _garbage(media_file(demo_dir, demo_frame, "photo", row))
    table = demo_dir / "table.csv"
    with pytest.raises(DataError) as caught:
        Predictor(config=fast_config()).fit(table)
    reported = sorted({e.row for e in caught.value.errors})
    assert reported and set(reported) <= set(bad_rows)
    message = str(caught.value)
    assert f"column 'photo': {len(reported)} rows (rows {', '.join(map(str, reported))})" in message
    assert f"rows in {table} are bad" in message
    assert demo_frame.loc[reported[0], "photo"] in message  # the first error names its file


# ---------------------------------------------------------------------------- training: cells
def _nan_number(frame: pd.DataFrame, rows: list[int]) -> str:
    frame.loc[rows, "weight"] = np.nan
    return "weight"


def _empty_text(frame: pd.DataFrame, rows: list[int]) -> str:
    frame.loc[rows, "description"] = ""
    return "description"


CELL_CASES: dict[str, Callable[[pd.DataFrame, list[int]], str]] = {
    "NaN number": _nan_number,
    "empty text": _empty_text,
}


@pytest.mark.parametrize("case", list(CELL_CASES))
def test_empty_cells_are_bad_rows_with_missing_error(
    case: str, demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    bad_rows = [2, 17, 33]
    column = CELL_CASES[case](demo_frame, bad_rows)
    train, valid = split_tables(demo_dir, demo_frame)
    config = fast_config(missing="error")
    with pytest.raises(DataError) as caught:
        Predictor(config=config).fit(train, valid)
    message = assert_stopped_before_training(
        caught.value, Path(config["training"]["output_dir"]), column, bad_rows, train, N_TRAIN
    )
    assert "the cell is empty" in message


@pytest.mark.parametrize("case", list(CELL_CASES))
def test_empty_cells_are_missing_by_default(
    case: str, demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    CELL_CASES[case](demo_frame, [2, 17, 33])
    train, valid = split_tables(demo_dir, demo_frame)
    predictor = Predictor(config=fast_config()).fit(train, valid)
    training = predictor.fitted.metrics["training"]
    assert training["train_rows"] == N_TRAIN
    assert training["skipped_rows"] == {}


def test_empty_media_cells_train_by_default_and_fail_with_missing_error(
    demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    demo_frame.loc[[4, 6], "photo"] = ""
    demo_frame.loc[[6, 9], "sound"] = ""
    train, valid = split_tables(demo_dir, demo_frame)
    predictor = Predictor(config=fast_config()).fit(train, valid)
    assert predictor.fitted.metrics["training"]["train_rows"] == N_TRAIN
    with pytest.raises(DataError) as caught:
        Predictor(config=fast_config(missing="error")).fit(train, valid)
    assert "column 'photo': 2 rows (rows 4, 6)" in str(caught.value)
    assert "column 'sound': 2 rows (rows 6, 9)" in str(caught.value)


def test_unseen_category_in_validation_is_bad_with_missing_error(
    demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    train, valid = split_tables(demo_dir, demo_frame)
    valid_frame = pd.read_csv(valid)
    valid_frame.loc[[1, 7], "region"] = "atlantis"
    valid_frame.to_csv(valid, index=False)
    config = fast_config(missing="error")
    with pytest.raises(DataError) as caught:
        Predictor(config=config).fit(train, valid)
    message = assert_stopped_before_training(
        caught.value, Path(config["training"]["output_dir"]), "region", [1, 7], valid, N_ROWS - N_TRAIN
    )
    assert "'atlantis' was not seen in training" in message


def test_unseen_category_goes_to_unknown_bucket_by_default(
    demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    train, valid = split_tables(demo_dir, demo_frame)
    valid_frame = pd.read_csv(valid)
    valid_frame.loc[[1, 7], "region"] = "atlantis"
    valid_frame.to_csv(valid, index=False)
    predictor = Predictor(config=fast_config()).fit(train, valid)
    assert predictor.fitted.metrics["training"]["valid_rows"] == N_ROWS - N_TRAIN
    out = predictor.predict(valid)
    assert out["error"].isna().all()
    assert set(out["prediction"]) <= set(CLASSES)


@pytest.mark.parametrize("missing", ["mask", "error"])
def test_label_outside_training_labels_stops_training(
    missing: str, demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    train, valid = split_tables(demo_dir, demo_frame)
    valid_frame = pd.read_csv(valid)
    valid_frame.loc[[0, 10], "label"] = "delta"
    valid_frame.to_csv(valid, index=False)
    config = fast_config(missing=missing)
    with pytest.raises(DataError) as caught:
        Predictor(config=config).fit(train, valid)
    message = assert_stopped_before_training(
        caught.value, Path(config["training"]["output_dir"]), "label", [0, 10], valid, N_ROWS - N_TRAIN
    )
    assert "'delta' is not one of the training labels" in message


def test_empty_label_in_training_table_is_a_bad_row(
    demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    demo_frame.loc[[11], "label"] = ""
    train, valid = split_tables(demo_dir, demo_frame)
    config = fast_config()
    with pytest.raises(DataError) as caught:
        Predictor(config=config).fit(train, valid)
    assert_stopped_before_training(
        caught.value, Path(config["training"]["output_dir"]), "label", [11], train, N_TRAIN
    )


def test_text_in_a_numeric_column_is_a_bad_row(
    demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    demo_frame["weight"] = demo_frame["weight"].astype(object)
    demo_frame.loc[[21], "weight"] = "heavy"
    train, valid = split_tables(demo_dir, demo_frame)
    config = fast_config(columns={"weight": "numeric"})
    with pytest.raises(DataError) as caught:
        Predictor(config=config).fit(train, valid)
    message = assert_stopped_before_training(
        caught.value, Path(config["training"]["output_dir"]), "weight", [21], train, N_TRAIN
    )
    assert "'heavy' is not a number" in message


# ---------------------------------------------------------------------------- training: schema, config
def _name_absent_column(config: dict[str, Any], where: str) -> None:
    if where == "label":
        config["data"]["label"] = "colour"
    elif where == "columns":
        config["data"]["columns"] = {"colour": "categorical"}
    elif where == "processors":
        config["data"]["processors"]["colour"] = {"size": 8}
    else:
        config["model"]["encoders"]["colour"] = {"modality": "image", "type": "cnn", "widths": [4]}


@pytest.mark.parametrize("where", ["label", "columns", "processors", "encoders"])
def test_column_named_in_config_but_absent_from_table(
    where: str, demo_dir: Path, fast_config: ConfigFactory
) -> None:
    config = fast_config()
    _name_absent_column(config, where)
    table = demo_dir / "table.csv"
    with pytest.raises(KeyError) as caught:
        Predictor(config=config).fit(table)
    message = str(caught.value)
    assert message.startswith(f"column(s) 'colour' named in the config are not in {table};")
    assert message.endswith("it has: description, photo, sound, weight, region, label")
    assert not Path(config["training"]["output_dir"]).exists()


@pytest.mark.parametrize(
    ("section", "values", "path", "reason"),
    [
        ("training", {"epochs": "many"}, "training.epochs", "valid integer"),
        ("training", {"epoch": 2}, "training.epoch", "Extra inputs are not permitted"),
        ("data", {"on_bad_rows": "ignore"}, "data.on_bad_rows", "'error' or 'skip'"),
        ("data", {"columns": {"photo": "video"}}, "data.columns.photo", "'image'"),
        ("data", {"missing": "drop"}, "data.missing", "'mask' or 'error'"),
        (
            "model",
            {"encoders": {"image": {"type": "cnn", "widths": "wide"}}},
            "model.encoders.image.widths",
            "valid list",
        ),
        (
            "model",
            {"encoders": {"text": {"type": "bag", "dim": 8}}},
            "model.encoders.text.dim",
            "Extra inputs",
        ),
        ("model", {"encoders": {"image": {"type": "vit"}}}, "model.encoders.image.type", "image/cnn"),
        ("model", {"fusion": {"type": "concat", "width": 4}}, "model.fusion.width", "Extra inputs"),
        ("model", {"fusion": {"type": "magic"}}, "model.fusion.type", "concat"),
        ("model", {"head": {"hidden_dim": -1}}, "model.head.hidden_dim", "greater than or equal to 0"),
    ],
)
def test_bad_config_is_refused_naming_the_path(
    section: str, values: dict[str, Any], path: str, reason: str, fast_config: ConfigFactory
) -> None:
    config = fast_config()
    config[section] = {**config[section], **values}
    with pytest.raises(ConfigError) as caught:
        Predictor(config=config)
    message = str(caught.value)
    assert re.search(rf"^\s+{re.escape(path)}: .*{re.escape(reason)}", message, re.MULTILINE), message


def test_unknown_training_option_in_python_is_refused() -> None:
    with pytest.raises(TypeError, match="epoch"):
        Predictor(label="label", epoch=3)


# ---------------------------------------------------------------------------- training: skip
def test_skip_mode_skips_bad_rows_and_reports_them(
    demo_dir: Path,
    demo_frame: pd.DataFrame,
    fast_config: ConfigFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for row in (5, 30):
        _garbage(media_file(demo_dir, demo_frame, "photo", row))
    _zero_bytes(media_file(demo_dir, demo_frame, "sound", 12))
    train, valid = split_tables(demo_dir, demo_frame)
    valid_frame = pd.read_csv(valid)
    valid_frame.loc[[4], "label"] = "delta"
    valid_frame.to_csv(valid, index=False)

    with caplog.at_level(logging.WARNING, logger="polyfuse"):
        predictor = Predictor(config=fast_config(), on_bad_rows="skip").fit(train, valid)

    training = predictor.fitted.metrics["training"]
    assert training["skipped_rows"] == {str(train): 3, str(valid): 1}
    assert training["train_rows"] == N_TRAIN - 3
    assert training["valid_rows"] == N_ROWS - N_TRAIN - 1
    assert training["epochs_run"] == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"skipping 3 bad rows of {train}" in w and "'photo'" in w for w in warnings), warnings
    assert any(f"skipping 1 bad rows of {valid}" in w and "'label'" in w for w in warnings), warnings
    card = (predictor.save(tmp_path / "bundle") / "README.md").read_text()
    skipped_line = next(line for line in card.splitlines() if "bad rows skipped" in line)
    assert f"{train}': 3" in skipped_line
    assert f"{valid}': 1" in skipped_line


def test_skip_mode_with_lazy_decoding_and_split_validation(
    demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    """Tables decoded on access (no memory cache) skip the same rows; row numbers stay the file's."""
    bad_rows = [40, 50, 55]
    for row in bad_rows:
        _garbage(media_file(demo_dir, demo_frame, "photo", row))
    config = fast_config(on_bad_rows="skip")
    config["training"]["cache_memory_mb"] = 0
    predictor = Predictor(config=config).fit(demo_dir / "table.csv")
    training = predictor.fitted.metrics["training"]
    assert training["in_memory_cache"] is False
    assert sum(training["skipped_rows"].values()) == len(bad_rows)
    assert training["train_rows"] + training["valid_rows"] == N_ROWS - len(bad_rows)
    assert predictor.fitted.metrics["history"][-1]["train_loss"] > 0


def test_cli_train_on_bad_rows_error_then_skip(
    demo_dir: Path,
    demo_frame: pd.DataFrame,
    fast_config: ConfigFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _garbage(media_file(demo_dir, demo_frame, "photo", 9))
    split_tables(demo_dir, demo_frame)
    config = fast_config(train="train.csv", valid="valid.csv")
    (demo_dir / "config.yaml").write_text(yaml.safe_dump(config))

    assert main(["train", str(demo_dir / "config.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"1 of {N_TRAIN} rows in {demo_dir / 'train.csv'} are bad" in err
    assert "column 'photo': 1 rows (rows 9)" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()

    assert main(["train", str(demo_dir / "config.yaml"), "--on-bad-rows", "skip"]) == 0
    assert "bad rows skipped: {" in (tmp_path / "run" / "model" / "README.md").read_text()
    assert (tmp_path / "run" / "metrics.jsonl").exists()


# ---------------------------------------------------------------------------- predict time
@pytest.mark.parametrize("case", list(MEDIA_CASES))
def test_predict_bad_row_gets_an_error_and_the_rest_are_predicted(
    case: str, trained: Trained, demo_dir: Path, demo_frame: pd.DataFrame
) -> None:
    column, corrupt, reason = MEDIA_CASES[case]
    bad = 7
    corrupt(media_file(demo_dir, demo_frame, column, bad))
    out = trained.predictor.predict(demo_dir / "table.csv", proba=True)
    assert len(out) == N_ROWS
    assert out["row"].dtype.kind == "i"
    assert out["row"].tolist() == list(range(N_ROWS))
    error = out.loc[bad, "error"]
    assert isinstance(error, str)
    assert column in error and reason in error and demo_frame.loc[bad, column] in error
    assert pd.isna(out.loc[bad, "prediction"])
    good = out.drop(index=bad)
    assert good["error"].isna().all()
    assert set(good["prediction"]) <= set(CLASSES)
    probabilities = good[[f"proba_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_predict_non_number_in_numeric_column_is_a_row_error(trained: Trained, demo_dir: Path) -> None:
    frame = pd.read_csv(demo_dir / "table.csv")
    frame["weight"] = frame["weight"].astype(object)
    frame.loc[3, "weight"] = "heavy"
    frame.to_csv(demo_dir / "odd.csv", index=False)
    out = trained.predictor.predict(demo_dir / "odd.csv")
    assert out.loc[3, "error"] == "column 'weight': 'heavy' is not a number"
    assert out.drop(index=3)["error"].isna().all()
    assert out.drop(index=3)["prediction"].notna().all()


def test_predict_empty_cells_are_masked_not_errors(trained: Trained, demo_dir: Path) -> None:
    original = pd.read_csv(demo_dir / "table.csv")
    frame = original.drop(columns=["label"]).copy()
    frame.loc[3, "photo"] = ""
    frame.loc[4, "sound"] = None
    frame.loc[5, "description"] = ""
    frame.loc[6, "weight"] = np.nan
    frame.loc[7, "region"] = "atlantis"  # unseen category -> unknown bucket
    frame.loc[8, ["photo", "sound", "description"]] = ""
    frame.to_csv(demo_dir / "gaps.csv", index=False)

    out = trained.predictor.predict(demo_dir / "gaps.csv", proba=True)
    reference = trained.predictor.predict(demo_dir / "table.csv", proba=True)
    assert out["row"].tolist() == list(range(N_ROWS))
    assert out["row"].dtype.kind == "i"
    assert out["error"].isna().all(), out["error"].dropna().tolist()
    assert set(out["prediction"]) <= set(CLASSES)
    columns = [f"proba_{c}" for c in CLASSES]
    changed = ~np.isclose(out[columns].to_numpy(), reference[columns].to_numpy(), atol=1e-7).all(axis=1)
    assert changed[3:9].all()  # each gap changed what the model saw...
    assert not changed[:3].any() and not changed[9:].any()  # ...and nothing else did


def test_predict_masks_empty_media_even_when_training_refused_them(
    demo_dir: Path, demo_frame: pd.DataFrame, fast_config: ConfigFactory
) -> None:
    """``missing: error`` guards the training data; at predict time an empty media cell is masked."""
    train, valid = split_tables(demo_dir, demo_frame)
    predictor = Predictor(config=fast_config(missing="error")).fit(train, valid)
    frame = pd.read_csv(valid)
    frame.loc[2, "photo"] = ""
    frame.loc[5, "sound"] = ""
    frame.to_csv(demo_dir / "gaps.csv", index=False)
    out = predictor.predict(demo_dir / "gaps.csv")
    assert out["error"].isna().all()
    assert out["prediction"].isin(CLASSES).all()


def test_cli_predict_writes_error_rows(
    trained: Trained,
    demo_dir: Path,
    demo_frame: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _garbage(media_file(demo_dir, demo_frame, "photo", 13))
    out_csv = tmp_path / "out.csv"
    code = main(
        [
            "predict",
            str(trained.bundle),
            str(demo_dir / "table.csv"),
            "-o",
            str(out_csv),
            "--chunk-rows",
            "25",
        ]
    )
    assert code == 0
    assert f"{N_ROWS} rows predicted" in capsys.readouterr().out
    out = pd.read_csv(out_csv)
    assert out["row"].dtype.kind == "i"
    assert out["row"].tolist() == list(range(N_ROWS))
    assert out["error"].notna().tolist() == [row == 13 for row in range(N_ROWS)]
    assert demo_frame.loc[13, "photo"] in out.loc[13, "error"]
    assert out.drop(index=13)["prediction"].isin(CLASSES).all()


def test_evaluate_counts_bad_rows_and_scores_the_rest(
    trained: Trained, demo_dir: Path, demo_frame: pd.DataFrame
) -> None:
    _zero_bytes(media_file(demo_dir, demo_frame, "sound", 0))
    _garbage(media_file(demo_dir, demo_frame, "photo", 59))
    metrics = trained.predictor.evaluate(demo_dir / "table.csv")
    assert metrics["rows"] == N_ROWS
    assert metrics["bad_rows"] == 2
    assert sum(sum(row) for row in metrics["confusion_matrix"]) == N_ROWS - 2
    assert math.isfinite(metrics["accuracy_score"])
