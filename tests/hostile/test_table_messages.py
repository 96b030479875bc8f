"""Tables that cannot be used as they are: each is refused with one plain message naming the file
(and the line, column or cell), instead of a traceback, a vague message or a silent rename."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hostile_helpers import Trained

from polyfuse.cli.main import main
from polyfuse.data.checks import check_prediction_columns, check_split_sizes
from polyfuse.data.schema import ColumnInfo, MissingColumnError, Schema
from polyfuse.data.tables import TableError, iter_table, read_columns, read_table


# ---------------------------------------------------------------------------- encoding
def test_one_non_utf8_byte_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"text,label\nfine,a\n" + "caf\u00e9 noir,b\n".encode("latin-1") + b"more,a\n")
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert str(caught.value) == (
        f"cannot read {path}: line 3, column 4 (byte 0xe9) is not valid UTF-8; save the table as"
        " UTF-8 (from a spreadsheet: CSV UTF-8)"
    )


def test_non_utf8_byte_deep_in_a_streamed_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    rows = b"".join(b"row %d,a\n" % i for i in range(5000))
    path.write_bytes(b"text,label\n" + rows + b"bad \xff here,b\n")
    with pytest.raises(TableError, match=r"line 5002, column 5 \(byte 0xff\) is not valid UTF-8"):
        list(iter_table(path, chunk_rows=1000))


def test_cli_inspect_names_the_bad_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,\x92quoted\x92\n")
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: cannot read {path}: line 2, column 3 (byte 0x92) is not valid UTF-8; save the table"
        " as UTF-8 (from a spreadsheet: CSV UTF-8)\n"
    )


def test_utf8_byte_order_mark_does_not_rename_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufefflabel,x\na,1\nb,2\n".encode())
    assert list(read_table(path).frame.columns) == ["label", "x"]  # was: '\ufefflabel'
    assert read_columns(path) == ["label", "x"]


# ---------------------------------------------------------------------------- empty and duplicate
def test_header_only_table_says_so(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("text,photo,label\n")
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert str(caught.value) == f"{path} has a header but no data rows"
    with pytest.raises(TableError, match="has a header but no data rows"):
        list(iter_table(path))


def test_empty_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert str(caught.value) == f"{path} is empty: no header and no rows"


def test_empty_dataframe_for_training_says_so() -> None:
    with pytest.raises(TableError, match=r"^the DataFrame has a header but no data rows$"):
        read_table(pd.DataFrame({"a": [], "label": []}))


def test_duplicate_column_names_are_an_error_not_a_rename(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("text,label,text,x,x\nhi,a,there,1,2\n")
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert str(caught.value) == (
        f"{path} names a column more than once: 'text' (2 times: columns 1, 3); 'x' (2 times:"
        " columns 4, 5); rename them so each is unique"
    )
    with pytest.raises(TableError, match="names a column more than once"):
        list(iter_table(path))


def test_duplicate_columns_in_a_dataframe() -> None:
    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(TableError, match=r"^the DataFrame names a column more than once: 'a'"):
        read_table(frame)


# ---------------------------------------------------------------------------- too small to split
def test_two_row_table_says_plainly_what_is_wrong() -> None:
    with pytest.raises(ValueError) as caught:
        check_split_sizes(2, 0, "two.csv", carved=True, smallest_label=("alpha", 1))
    assert str(caught.value) == (
        "two.csv has only 2 rows: too few to train and validate (a validation share of 0.1 leaves 2"
        " to train and 0 to validate); give a validation table (data.valid) or more rows; label"
        " 'alpha' has 1 row, and a label needs at least 2 to be split"
    )


def test_empty_validation_table_is_named() -> None:
    with pytest.raises(ValueError, match=r"^the validation table has no data rows; train.csv has 40$"):
        check_split_sizes(40, 0, "train.csv", carved=False)


def test_enough_rows_pass_the_split_check() -> None:
    check_split_sizes(54, 6, "t.csv", carved=True)


# ---------------------------------------------------------------------------- columns at predict time
SCHEMA = Schema(
    "label",
    "multiclass",
    [
        ColumnInfo("description", "text", ""),
        ColumnInfo("photo", "image", ""),
        ColumnInfo("weight", "numeric", ""),
        ColumnInfo("row_id", "ignore", ""),
    ],
)


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["description", "photos", "weight"], "'photo' (did you mean 'photos'?)"),
        (["description", "Photo", "weight"], "'photo' (did you mean 'Photo'?)"),
        (["description", "weight", "zzz"], "'photo'; it has: description, weight, zzz"),
        (
            ["descripton", "photo", "wieght"],
            "'description' (did you mean 'descripton'?), 'weight' (did you mean 'wieght'?)",
        ),
    ],
    ids=["plural", "case", "no-near-name", "two-typos"],
)
def test_missing_input_column_is_named_with_the_closest(columns: list[str], expected: str) -> None:
    with pytest.raises(MissingColumnError) as caught:
        check_prediction_columns(columns, SCHEMA, "new.csv")
    message = str(caught.value)
    assert message.startswith("new.csv lacks the input column(s) the model reads: ")
    assert expected in message


def test_label_and_ignored_columns_are_not_needed() -> None:
    check_prediction_columns(["weight", "photo", "description", "extra"], SCHEMA, "new.csv")


def test_cli_predict_refuses_a_misspelt_column(
    trained: Trained, data_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(data_copy / "table.csv").rename(columns={"sound": "sounds"})
    frame.to_csv(data_copy / "renamed.csv", index=False)
    out = tmp_path / "out.csv"
    assert main(["predict", str(trained.bundle), str(data_copy / "renamed.csv"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "lacks the input column(s) the model reads: 'sound' (did you mean 'sounds'?)" in err
    assert not out.exists()  # was: every row predicted with the sound silently absent


def test_a_non_utf8_cell_fails_its_row_at_prediction_not_the_table(trained: Trained, tmp_path: Path) -> None:
    """Training refuses the file (above); prediction and evaluation fail the one row, naming its
    column and byte, and predict the others, as for an unreadable image."""
    source = trained.data_dir / "table.csv"
    lines = source.read_bytes().split(b"\n")
    header = lines[0].decode().split(",")
    column = "description"
    assert column in header
    cells = lines[2].decode().split(",")
    cells[header.index(column)] = "caf\u00e9 noir"
    lines[2] = ",".join(cells).encode("latin-1")
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(TableError, match=r"line 3, column \d+ \(byte 0xe9\)"):
        read_table(path)
    frame = trained.predictor.predict(path, base_dir=trained.data_dir)
    assert frame.loc[1, "error"] == (
        f"column '{column}': not valid UTF-8 (byte 0xe9 at character 4); save the table as UTF-8"
    )
    assert frame["prediction"].isna().tolist() == [i == 1 for i in range(len(frame))]
    scores = trained.predictor.evaluate(path, base_dir=trained.data_dir)
    assert scores["bad_rows"] == 1 and scores["rows"] == len(frame)
