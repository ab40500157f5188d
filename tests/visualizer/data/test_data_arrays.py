"""Validation rules shared by every reader, the split helper and DataArrays."""

from __future__ import annotations

import numpy as np
import pytest

from visualizer.data import DataArrays, default_split, validate_arrays
from visualizer.data.arrays import make_data_arrays
from visualizer.errors import DeepScopeError, InvalidDatasetError, NotFoundError

PATH = "/data/set.npz"


def _error(x, y, **kwargs) -> str:
    with pytest.raises(InvalidDatasetError) as info:
        validate_arrays(x, y, PATH, what="x/y", **kwargs)
    text = str(info.value)
    assert PATH in text and "Fix:" in text, text
    return text


def test_vectors_pass_through_as_float32_contiguous() -> None:
    x = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(4, 3))
    x_out, y_out, names = validate_arrays(x, [0, 1, 1, 2], PATH)
    assert x_out.dtype == np.float32 and x_out.flags.c_contiguous
    np.testing.assert_array_equal(x_out, x)
    assert y_out.dtype == np.int64
    assert names == ["0", "1", "2"]


def test_grayscale_images_get_a_channel_axis() -> None:
    x_out, _, _ = validate_arrays(np.zeros((5, 6, 7), np.uint8), np.zeros(5, int), PATH)
    assert x_out.shape == (5, 1, 6, 7)


def test_string_labels_become_sorted_class_names() -> None:
    _, y, names = validate_arrays(np.zeros((3, 2)), np.array(["dog", "cat", "dog"]), PATH)
    assert names == ["cat", "dog"]
    np.testing.assert_array_equal(y, [1, 0, 1])


def test_string_labels_follow_given_class_names() -> None:
    _, y, names = validate_arrays(
        np.zeros((2, 2)), np.array([b"cat", b"dog"]), PATH, class_names=["dog", "cat"]
    )
    assert names == ["dog", "cat"]
    np.testing.assert_array_equal(y, [1, 0])


def test_integer_valued_float_labels_are_accepted() -> None:
    _, y, _ = validate_arrays(np.zeros((2, 2)), np.array([1.0, 0.0]), PATH)
    assert y.dtype == np.int64 and y.tolist() == [1, 0]


def test_length_mismatch_names_both_lengths() -> None:
    text = _error(np.zeros((10, 2)), np.zeros(9, int))
    assert "10 samples" in text and "9 labels" in text


def test_nan_reports_count_and_first_sample() -> None:
    x = np.zeros((6, 2, 2))
    x[3, 0, 1] = np.nan
    x[5] = np.inf
    text = _error(x, np.zeros(6, int))
    assert "5 non-finite values" in text and "sample 3" in text


def test_float64_overflow_to_float32_is_caught() -> None:
    text = _error(np.array([[1e300, 0.0]]), [0])
    assert "non-finite" in text


@pytest.mark.parametrize(
    ("x", "needle"),
    [
        (np.zeros(5), "1 dims"),
        (np.zeros((2, 1, 2, 2, 2)), "5 dims"),
        (np.zeros((0, 3)), "no samples"),
        (np.zeros((2, 0)), "no values"),
        (np.array([["a", "b"], ["c", "d"]]), "expected numbers"),
        (np.zeros((2, 32, 32, 3)), "channels-last"),
    ],
)
def test_bad_inputs(x, needle) -> None:
    assert needle in _error(x, np.zeros(len(x), int))


@pytest.mark.parametrize(
    ("y", "needle"),
    [
        (np.zeros((3, 2), int), "one label per sample"),
        (np.array([0, -1, 2]), "must be >= 0"),
        (np.array([0.0, 0.5, 1.0]), "not whole numbers"),
        (np.array([0.0, np.nan, 1.0]), "not whole numbers"),
    ],
)
def test_bad_labels(y, needle) -> None:
    assert needle in _error(np.zeros((3, 2)), y)


def test_labels_beyond_class_names() -> None:
    text = _error(np.zeros((2, 2)), [0, 2], class_names=["a", "b"])
    assert "label 1 is 2" in text


def test_unknown_string_label_and_duplicate_class_names() -> None:
    assert "'bird'" in _error(np.zeros((1, 2)), ["bird"], class_names=["cat"])
    assert "duplicates" in _error(np.zeros((1, 2)), [0], class_names=["a", "a"])


def test_default_split_is_a_seeded_stratified_partition() -> None:
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    split = default_split(len(y), seed=1, test_fraction=0.25, y=y)
    assert np.array_equal(np.sort(np.concatenate(list(split.values()))), np.arange(len(y)))
    assert np.bincount(y[split["test"]]).tolist() == [2, 5, 8, 10]  # round(0.25 * count)
    assert all(np.all(np.diff(idx) > 0) for idx in split.values())
    again = default_split(len(y), seed=1, test_fraction=0.25, y=y)
    assert all(np.array_equal(split[k], again[k]) for k in split)
    other = default_split(len(y), seed=2, test_fraction=0.25, y=y)
    assert not np.array_equal(split["test"], other["test"])


def test_default_split_without_labels() -> None:
    split = default_split(50, test_fraction=0.2)
    assert len(split["test"]) == 10 and len(split["train"]) == 40
    assert split["test"].dtype == np.int64


def test_data_arrays_splits_and_unknown_split() -> None:
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    y = np.array([0, 1, 0, 1, 0])
    data = make_data_arrays(x, y, ["a", "b"], source="npz", splits={"train": [3, 0], "test": [4]})
    assert isinstance(data, DataArrays)
    assert data.kind == "vector" and data.input_range == (0.0, 9.0)
    x_train, y_train = data.arrays("train")
    np.testing.assert_array_equal(x_train, x[[0, 3]])
    np.testing.assert_array_equal(y_train, [0, 1])
    assert data.arrays("all")[0] is x
    with pytest.raises(NotFoundError) as info:
        data.arrays("validation")
    assert isinstance(info.value, DeepScopeError)
    assert "'validation'" in str(info.value) and "train, test, all" in str(info.value)


def test_without_splits_everything_is_test() -> None:
    data = make_data_arrays(
        np.zeros((3, 1, 2, 2), np.float32), np.zeros(3, np.int64), ["a"], source="npz"
    )
    assert data.kind == "image"
    assert data.splits["train"].size == 0 and data.splits["test"].tolist() == [0, 1, 2]


def test_missing_split_key_reads_as_empty() -> None:
    data = DataArrays(
        x=np.zeros((2, 3), np.float32),
        y=np.zeros(2, np.int64),
        splits={},
        class_names=["a"],
        kind="vector",
        input_range=(0.0, 0.0),
        source="npz",
    )
    x, y = data.arrays("train")
    assert x.shape == (0, 3) and y.shape == (0,)
