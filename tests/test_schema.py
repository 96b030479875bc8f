"""Schema inference: which column is which modality (and why), which task the label asks for,
warnings about suspicious columns, and explicit choices that always win."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from polyfuse.data.schema import TABULAR, MissingColumnError, Schema, infer_column, infer_schema, infer_task

N = 40
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "in", "tall", "green", "trees"]


def _sentences(n: int = N, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(5, 12)))) for _ in range(n)]


# ---------------------------------------------------------------------------- modalities
@pytest.mark.parametrize(
    ("values", "modality", "reason"),
    [
        ([f"img/{i}.png" for i in range(N)], "image", "100% of values end in image extensions"),
        ([f"/abs/p{i}.JPG" for i in range(N - 2)] + ["x.jpeg", "y.webp"], "image", "image extensions"),
        ([f"clips/{i}.wav" for i in range(N // 2)] + [f"c{i}.flac" for i in range(N // 2)], "audio", "audio"),
        ([b"\x89PNG..." + bytes([i]) for i in range(N)], "image", "raw bytes"),
        (list(np.linspace(0.5, 9.5, N)), "numeric", "numeric values, 40 distinct"),
        ([i % 4 for i in range(N)], "categorical", "integers with only 4 distinct values"),
        ([i // 2 * 3 for i in range(N)], "numeric", "numeric values, 20 distinct"),
        ([True, False] * (N // 2), "categorical", "boolean dtype"),
        (_sentences(), "text", "free text"),
        (
            [["red", "green", "blue"][i % 3] for i in range(N)],
            "categorical",
            "strings with 3 distinct values",
        ),
    ],
    ids=[
        "png",
        "mixed-image-ext",
        "wav-flac",
        "bytes",
        "float",
        "int-low-card",
        "int-many",
        "bool",
        "text",
        "category",
    ],
)
def test_infer_column_modality(values: list[object], modality: str, reason: str) -> None:
    info = infer_column("col", pd.Series(values))
    assert info.modality == modality
    assert reason in info.reason
    assert info.warnings == []


def test_few_integer_rows_stay_numeric() -> None:
    """Low cardinality only means categorical once there are enough rows (20) to tell."""
    assert infer_column("n", pd.Series([1, 2, 1, 2, 3] * 3)).modality == "numeric"
    assert infer_column("n", pd.Series([1, 2, 1, 2, 3] * 4)).modality == "categorical"


def test_media_needs_most_values_to_have_the_extension() -> None:
    values = [f"{i}.png" for i in range(N // 2)] + [f"note {i}" for i in range(N // 2)]
    assert infer_column("mixed", pd.Series(values)).modality != "image"


def test_chinese_free_text_is_text_not_an_id() -> None:
    """Chinese is written without spaces: a unique sentence per row is text, not an identifier."""
    rng = np.random.default_rng(0)
    chars = list("这个产品非常好用我很喜欢质量不错价格便宜服务态度快递")
    values = ["".join(rng.choice(chars, size=int(rng.integers(6, 14)))) for _ in range(N)]
    info = infer_column("评论", pd.Series(values))
    assert info.modality == "text", info
    assert not any("identifier" in w for w in info.warnings)


def test_id_like_column_is_ignored_with_a_warning() -> None:
    info = infer_column("order_id", pd.Series([f"ord-{i:05d}" for i in range(N)]))
    assert info.modality == "ignore"
    assert info.reason == "unique single-token strings (an id)"
    assert any("looks like an identifier" in w for w in info.warnings)


def test_constant_column_warns() -> None:
    info = infer_column("country", pd.Series(["fr"] * N))
    assert info.modality == "categorical"
    assert info.warnings == ["constant column: it carries no information"]


def test_numbers_stored_as_text_warn() -> None:
    info = infer_column("price", pd.Series([f"{x:.2f}" for x in np.linspace(1, 30, N)]))
    assert info.modality == "numeric"
    assert "numbers stored as text" in info.warnings


def test_mostly_empty_and_empty_columns() -> None:
    sparse = infer_column("notes", pd.Series(_sentences(10) + [None] * 20 + [""] * 10))
    assert sparse.modality == "text"
    assert "30 of 40 cells are empty" in sparse.warnings
    empty = infer_column("nothing", pd.Series([None, np.nan, "", "  "] * 10))
    assert (empty.modality, empty.reason) == ("ignore", "every cell is empty")


def test_empty_cells_do_not_change_the_modality() -> None:
    values: list[object] = [f"img/{i}.png" for i in range(N)]
    values[3] = values[9] = ""
    values[5] = None
    assert infer_column("photo", pd.Series(values)).modality == "image"
    numbers = pd.Series([*np.linspace(0, 1, N - 3), np.nan, np.nan, np.nan])
    assert infer_column("x", numbers).modality == "numeric"


# ---------------------------------------------------------------------------- tasks
@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["yes", "no"] * (N // 2), "binary"),
        ([0, 1] * (N // 2), "binary"),
        ([["cat", "dog", "bird"][i % 3] for i in range(N)], "multiclass"),
        ([i % 5 for i in range(N)], "multiclass"),
        (list(np.linspace(-2.0, 3.5, N)), "regression"),
        (list(range(100)), "regression"),
        ([["a", "b"], ["b"], [], ["c", "a"]] * 10, "multilabel"),
        (["a|b", "b", "", "c|a"] * 10, "multilabel"),
    ],
    ids=[
        "binary-str",
        "binary-int",
        "multiclass-str",
        "multiclass-int",
        "regression-float",
        "regression-many-ints",
        "multilabel-lists",
        "multilabel-delimited",
    ],
)
def test_infer_task(values: list[object], task: str) -> None:
    inferred, reason = infer_task(pd.Series(values))
    assert inferred == task, reason
    assert reason


def test_multilabel_delimiter_is_configurable() -> None:
    values = pd.Series(["a;b", "b", "c;a", "c"] * 10)
    assert infer_task(values, delimiter=";")[0] == "multilabel"
    assert infer_task(values, delimiter="|")[0] == "multiclass"


# ---------------------------------------------------------------------------- whole schema
def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "review": _sentences(),
            "photo": [f"images/{i}.png" for i in range(N)],
            "voice": [f"audio/{i}.wav" for i in range(N)],
            "price": rng.normal(10, 2, N).round(2),
            "stars": [i % 3 + 1 for i in range(N)],
            "sku": [f"sku{i}" for i in range(N)],
            "label": [["good", "bad"][i % 2] for i in range(N)],
        }
    )


def test_infer_schema_columns_task_and_inputs() -> None:
    schema = infer_schema(_frame(), "label")
    modalities = {c.name: c.modality for c in schema.columns}
    assert modalities == {
        "review": "text",
        "photo": "image",
        "voice": "audio",
        "price": "numeric",
        "stars": "categorical",
        "sku": "ignore",
    }
    assert (schema.label, schema.task) == ("label", "binary")
    assert schema.inputs() == {
        "review": ["review"],
        "photo": ["photo"],
        "voice": ["voice"],
        TABULAR: ["price", "stars"],
    }
    assert Schema.from_dict(schema.to_dict()) == schema


def test_explicit_choices_win() -> None:
    schema = infer_schema(
        _frame(),
        "label",
        columns={"stars": "numeric", "sku": "categorical", "photo": "ignore"},
        task="multiclass",
    )
    by_name = {c.name: c for c in schema.columns}
    assert by_name["stars"].modality == "numeric"
    assert by_name["sku"].modality == "categorical"
    assert by_name["photo"].modality == "ignore"
    assert by_name["sku"].reason == "set in the config" and by_name["sku"].warnings == []
    assert (schema.task, schema.task_reason) == ("multiclass", "set in the config")
    assert "photo" not in schema.inputs()


def test_column_equal_to_the_label_is_flagged_as_a_leak() -> None:
    frame = _frame()
    frame["outcome"] = frame["label"]
    info = next(c for c in infer_schema(frame, "label").columns if c.name == "outcome")
    assert "identical to the label: a leak" in info.warnings


@pytest.mark.parametrize(("label", "columns"), [("target", {}), ("label", {"colour": "categorical"})])
def test_missing_label_or_configured_column_is_an_error(label: str, columns: dict[str, str]) -> None:
    missing = label if label != "label" else "colour"
    with pytest.raises(MissingColumnError) as caught:
        infer_schema(_frame(), label, columns=columns, source="shop.csv")
    message = str(caught.value)
    assert f"column(s) {missing!r} named in the config are not in shop.csv" in message
    assert "review, photo, voice, price, stars, sku, label" in message
    assert isinstance(caught.value, KeyError)


def test_tabular_is_a_reserved_name_for_media_columns() -> None:
    frame = _frame().rename(columns={"review": TABULAR})
    with pytest.raises(ValueError, match="reserved"):
        infer_schema(frame, "label")


def test_integer_id_column_is_ignored_loudly() -> None:
    ids = pd.Series([1000 + 7 * i for i in range(N)])
    info = infer_column("customer_id", ids)
    assert info.modality == "ignore" and "named like an id" in info.reason
    assert any("identifier" in w and "data.columns.customer_id: numeric" in w for w in info.warnings)
    counted = infer_column("n", pd.Series(range(5, 5 + N)))
    assert counted.modality == "ignore" and "consecutive" in counted.reason
    quantity = infer_column("price_cents", pd.Series([i * i + 3 for i in range(N)]))
    assert quantity.modality == "numeric" and any("if this is an id" in w for w in quantity.warnings)
