"""Silent wrong results, made loud: numbers past float32, far-out values, decimal commas, columns
that are entirely empty. Each ends as a row error naming the row and column, or a warning naming
the column and cells, never as NaN probabilities or a column quietly turned into text."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hostile_helpers import N_ROWS, Trained

from polyfuse import DataError, Predictor
from polyfuse.cli.main import main
from polyfuse.data.processors.tabular import TabularProcessor
from polyfuse.data.schema import infer_column, infer_schema

ConfigFactory = Callable[..., dict[str, Any]]


def _with_weight(data: Path, row: int, value: Any, name: str = "odd.csv") -> Path:
    frame = pd.read_csv(data / "table.csv")
    frame["weight"] = frame["weight"].astype(object)
    frame.loc[row, "weight"] = value
    frame.to_csv(data / name, index=False)
    return data / name


# ---------------------------------------------------------------------------- overflow at predict time
@pytest.mark.parametrize("value", ["1e39", "-1e39", "3.5e38"])
def test_number_past_float32_is_a_row_error_not_nan(trained: Trained, data_copy: Path, value: str) -> None:
    out = trained.predictor.predict(_with_weight(data_copy, 5, value), proba=True)
    assert (
        out.loc[5, "error"]
        == f"column 'weight': {float(value)!r} is beyond the float32 range (about ±3.4e38)"
    )
    good = out.drop(index=5)
    assert good["error"].isna().all() and len(out) == N_ROWS
    assert np.isfinite(good.filter(like="proba_").to_numpy()).all()  # was: NaN probabilities, no error


def test_far_out_value_within_float32_is_a_row_error(trained: Trained, data_copy: Path) -> None:
    out = trained.predictor.predict(_with_weight(data_copy, 2, 1e30))
    error = out.loc[2, "error"]
    assert error.startswith("column 'weight': 1e+30 is ")
    assert "standard deviations from the training mean" in error and "a typo or a unit error?" in error
    assert out.drop(index=2)["error"].isna().all()


def test_large_but_plausible_values_are_predicted(trained: Trained, data_copy: Path) -> None:
    out = trained.predictor.predict(_with_weight(data_copy, 2, 250.0))
    assert out["error"].isna().all()


# ---------------------------------------------------------------------------- fit: one extreme value
def test_fit_leaves_an_extreme_value_out_of_the_scaling(caplog: pytest.LogCaptureFixture) -> None:
    values = list(np.linspace(0.0, 10.0, 40))
    rows = [{"x": v} for v in [*values, 1e30]]
    with caplog.at_level(logging.WARNING, logger="polyfuse"):
        processor = TabularProcessor(numeric=["x"]).fit(rows)
    as_missing = [*values, float(np.median(values))]  # left out = imputed like an empty cell
    assert processor.mean_[0] == pytest.approx(float(np.mean(as_missing)))
    assert processor.std_[0] == pytest.approx(float(np.std(as_missing)))  # was: ~1.6e29, rows alike
    assert any(
        "column 'x': 1 value(s) far from all the others (1e+30; the median is 5.12821) are left out"
        in r.getMessage()
        for r in caplog.records
    )


def test_fit_detects_an_extreme_value_in_a_mostly_constant_column() -> None:
    rows = [{"x": v} for v in [0.0] * 30 + [1.0, 2.0, 1.0] + [5e20]]
    processor = TabularProcessor(numeric=["x"]).fit(rows)
    assert processor.std_[0] < 1.0


def test_fit_keeps_a_heavy_tailed_column_whole() -> None:
    values = np.random.default_rng(0).lognormal(0.0, 2.5, size=500)
    processor = TabularProcessor(numeric=["x"]).fit([{"x": v} for v in values])
    assert processor.mean_[0] == pytest.approx(float(values.mean()))


def test_training_with_an_extreme_value_stops_naming_row_and_column(
    demo_dir: Path, fast_config: ConfigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    table = _with_weight(demo_dir, 17, 1e30, "train.csv")
    with caplog.at_level(logging.WARNING, logger="polyfuse"), pytest.raises(DataError) as caught:
        Predictor(config=fast_config()).fit(table, _with_weight(demo_dir, 0, 1.0, "valid.csv"))
    message = str(caught.value)
    assert f"1 of {N_ROWS} rows in {table} are bad" in message
    assert "column 'weight': 1 rows (rows 17); first: 1e+30 is " in message
    assert any(
        "column 'weight': 1 value(s) far from all the others" in r.getMessage() for r in caplog.records
    )


# ---------------------------------------------------------------------------- decimal commas
def _decimal_comma_column() -> pd.Series:
    values: list[object] = [f"{x:.2f}" for x in np.linspace(0.5, 90.0, 180)]
    values[17], values[93] = "1,5", "2,25"
    return pd.Series(values)


def test_two_decimal_commas_in_180_cells_keep_the_column_numeric_and_named() -> None:
    info = infer_column("price", _decimal_comma_column())
    assert info.modality == "numeric"  # was: silently "text"
    assert info.warnings[-1] == (
        "2 of 180 cells are not numbers: row 17 '1,5', row 93 '2,25' (decimal commas? polyfuse reads"
        " 1.5, not 1,5); the column is read as numeric and these rows are bad (fix them, or set"
        " data.columns.price)"
    )


def test_a_column_with_many_words_stays_text() -> None:
    values: list[object] = [f"{x:.2f}" for x in range(100)]
    values[:20] = [f"about {i} units" for i in range(20)]
    assert infer_column("note", pd.Series(values)).modality != "numeric"


def test_decimal_comma_cells_are_bad_rows_with_a_hint(demo_dir: Path, fast_config: ConfigFactory) -> None:
    frame = pd.read_csv(demo_dir / "table.csv")
    frame["weight"] = [f"{w:.3f}" for w in frame["weight"]]
    frame.loc[[3, 40], "weight"] = ["1,5", "0,25"]
    frame.to_csv(demo_dir / "commas.csv", index=False)
    with pytest.raises(DataError) as caught:
        Predictor(config=fast_config()).fit(demo_dir / "commas.csv")
    message = str(caught.value)
    assert "column 'weight'" in message
    assert "is not a number (a decimal comma? polyfuse reads 1.5, not 1,5)" in message


def test_inspect_names_the_decimal_comma_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pd.DataFrame({"price": _decimal_comma_column(), "y": ["a", "b"] * 90}).to_csv(
        tmp_path / "t.csv", index=False
    )
    assert main(["inspect", str(tmp_path / "t.csv"), "--label", "y"]) == 0
    out = capsys.readouterr().out
    assert "price: 2 of 180 cells are not numbers: row 17 '1,5', row 93 '2,25' (decimal commas?" in out


# ---------------------------------------------------------------------------- empty columns
def test_all_empty_column_is_a_loud_warning_in_training(caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"photo": [""] * 30, "x": np.arange(30.0), "y": ["a", "b"] * 15})
    with caplog.at_level(logging.WARNING, logger="polyfuse"):
        schema = infer_schema(frame, "y", source="t.csv")
    assert schema.columns[0].modality == "ignore"
    expected = (
        "t.csv, column 'photo': every one of its 30 cells is empty: the column is left out of the model"
        " (a media column whose paths were lost? set data.columns.photo to keep it as an input)"
    )
    assert expected in [r.getMessage() for r in caplog.records]


def test_all_empty_column_set_in_the_config_warns(caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"photo": [None] * 30, "x": np.arange(30.0), "y": ["a", "b"] * 15})
    with caplog.at_level(logging.WARNING, logger="polyfuse"):
        infer_schema(frame, "y", columns={"photo": "image"}, source="t.csv")
    messages = [r.getMessage() for r in caplog.records]
    assert (
        "t.csv, column 'photo': set to image but every cell is empty: the input is always absent" in messages
    )


def test_inspect_prints_the_empty_column_warning_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.DataFrame({"photo": [""] * 30, "x": np.arange(30.0), "y": ["a", "b"] * 15})
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert main(["inspect", str(tmp_path / "t.csv"), "--label", "y"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("every one of its 30 cells is empty") == 1
    assert "every one of its 30 cells is empty" not in captured.err
