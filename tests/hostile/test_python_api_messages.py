"""The Python API says what is wrong: a misspelt input column at predict time, unknown labels at
evaluate time (rows and values named), a table whose every row is bad, relative media paths of a
DataFrame given with ``base_dir``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from hostile_helpers import Trained

from polyfuse import DataError, Predictor
from polyfuse.data.schema import MissingColumnError


@pytest.fixture(scope="module")
def predictor(trained: Trained) -> Predictor:
    return Predictor.load(trained.bundle)


@pytest.fixture(scope="module")
def table(trained: Trained) -> pd.DataFrame:
    return pd.read_csv(trained.data_dir / "table.csv")


def test_predict_with_a_misspelt_input_column_is_refused(predictor: Predictor, trained: Trained) -> None:
    frame = pd.read_csv(trained.data_dir / "table.csv")
    column = next(c.name for c in predictor.fitted.schema.columns if c.modality == "text")
    renamed = frame.rename(columns={column: column.upper()})
    with pytest.raises(MissingColumnError, match=rf"lacks the input column\(s\).*'{column}' \(did you mean"):
        predictor.predict(renamed, base_dir=trained.data_dir)


def test_evaluate_names_the_rows_and_values_of_unknown_labels(predictor: Predictor, trained: Trained) -> None:
    frame = pd.read_csv(trained.data_dir / "table.csv").head(12)
    label = predictor.fitted.schema.label
    assert label is not None
    frame.loc[[3, 7], label] = "martian"
    metrics = predictor.evaluate(frame, base_dir=trained.data_dir)
    assert metrics["rows"] == 12 and metrics["bad_rows"] == 2
    examples = metrics["bad_row_examples"]
    assert [e["row"] for e in examples] == [3, 7] and {e["column"] for e in examples} == {label}
    assert all("'martian' is not one of the training labels" in e["error"] for e in examples)


def test_evaluate_on_a_table_with_no_usable_row_says_so(predictor: Predictor, trained: Trained) -> None:
    frame = pd.read_csv(trained.data_dir / "table.csv").head(5)
    label = predictor.fitted.schema.label
    frame[label] = "martian"
    with pytest.raises(DataError) as caught:
        predictor.evaluate(frame, base_dir=trained.data_dir)
    message = str(caught.value)
    assert message.startswith("5 of 5 rows in (DataFrame) are bad") or "5 of 5 rows" in message
    assert "no row could be scored" in message and "--on-bad-rows" not in message


def test_fit_reads_a_dataframe_s_media_relative_to_base_dir(trained: Trained, tmp_path: Path) -> None:
    data = Path(shutil.copytree(trained.data_dir, tmp_path / "data"))
    frame = pd.read_csv(data / "table.csv").head(60)
    config = trained.predictor.config.model_dump()
    config["data"].update({"train": None, "test": None})
    config["training"].update({"epochs": 1, "output_dir": str(tmp_path / "run"), "progress": False})
    fitted = Predictor(config=config).fit(frame, base_dir=data).fitted
    assert fitted.metrics["training"]["train_rows"] + fitted.metrics["training"]["valid_rows"] == 60
