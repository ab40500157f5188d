"""Reading .npz archives: layouts, validation failures, damaged and pickled files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.visualizer.data.helpers import error_text
from visualizer.data import DataArrays, read_dataset, read_npz
from visualizer.errors import InvalidDatasetError


def _rng_images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, 4, 5), dtype=np.float32)




def test_round_trip_without_split_puts_everything_in_test(tmp_path: Path) -> None:
    x = _rng_images(7)
    y = np.array([0, 1, 2, 0, 1, 2, 2])
    path = tmp_path / "data.npz"
    np.savez(path, x=x, y=y)
    data = read_dataset(path)
    assert isinstance(data, DataArrays)
    np.testing.assert_array_equal(data.x, x)
    np.testing.assert_array_equal(data.y, y)
    assert data.y.dtype == np.int64
    assert data.class_names == ["0", "1", "2"] and data.kind == "image"
    assert data.source == "npz" and data.path == str(path)
    assert data.splits["train"].size == 0 and data.splits["test"].tolist() == list(range(7))
    assert data.input_range == (float(x.min()), float(x.max()))
    assert data.warnings == []


def test_vectors_class_names_and_extra_arrays(tmp_path: Path) -> None:
    path = tmp_path / "vec.npz"
    np.savez_compressed(
        path, x=np.eye(3), y=np.array(["b", "a", "b"]), class_names=np.array(["b", "a"]), z=[1]
    )
    data = read_npz(path)
    assert data.kind == "vector" and data.x.dtype == np.float32
    assert data.class_names == ["b", "a"] and data.y.tolist() == [0, 1, 0]
    assert any("z" in w for w in data.warnings)


def test_explicit_train_test_split_is_kept(tmp_path: Path) -> None:
    x_train, x_test = _rng_images(5, 1), _rng_images(3, 2)
    path = tmp_path / "split.npz"
    np.savez(path, x_train=x_train, y_train=[0, 1, 0, 1, 0], x_test=x_test, y_test=[1, 1, 0])
    data = read_npz(path)
    assert data.splits["train"].tolist() == [0, 1, 2, 3, 4]
    assert data.splits["test"].tolist() == [5, 6, 7]
    x, y = data.arrays("test")
    np.testing.assert_array_equal(x, x_test)
    assert y.tolist() == [1, 1, 0]


def test_test_only_split_file(tmp_path: Path) -> None:
    path = tmp_path / "test_only.npz"
    np.savez(path, x_test=np.ones((2, 4)), y_test=[0, 1])
    data = read_npz(path)
    assert data.splits["train"].size == 0 and data.splits["test"].tolist() == [0, 1]


def test_mismatched_lengths(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((10, 3)), y=np.zeros(8, int))
    text = error_text(path, read_npz)
    assert "10 samples" in text and "8 labels" in text and "one label per sample" in text


def test_nan_inputs(tmp_path: Path) -> None:
    x = np.zeros((4, 3), np.float32)
    x[2, 1] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, x=x, y=[0, 0, 1, 1])
    text = error_text(path, read_npz)
    assert "1 non-finite" in text and "sample 2" in text and "np.isfinite" in text


def test_wrong_dims(tmp_path: Path) -> None:
    path = tmp_path / "dims.npz"
    np.savez(path, x=np.zeros(4), y=[0, 0, 1, 1])
    text = error_text(path, read_npz)
    assert "1 dims" in text and "N×C×H×W" in text


def test_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.zeros((2, 2)), y=np.array([0, "cat"], dtype=object))
    text = error_text(path, read_npz)
    assert "'y'" in text and "pickled" in text and "np.savez" in text


def test_plain_pickle_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sneaky.npz"
    path.write_bytes(pickle.dumps({"x": [1, 2]}))
    assert "pickle" in error_text(path, read_npz)


def test_truncated_archive(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((50, 8)), y=np.zeros(50, int))
    path = tmp_path / "truncated.npz"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert "truncated" in error_text(path, read_npz)


def test_corrupted_member(tmp_path: Path) -> None:
    # Damage the compressed data but keep the zip directory intact: the error comes
    # when the array is read, not when the archive is opened.
    path = tmp_path / "damaged.npz"
    np.savez_compressed(path, x=np.arange(4000.0).reshape(400, 10), y=np.zeros(400, int))
    raw = bytearray(path.read_bytes())
    for i in range(200, 600):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    text = error_text(path, read_npz)
    assert "damaged" in text or "truncated" in text


def test_missing_and_ambiguous_layouts(tmp_path: Path) -> None:
    only_x = tmp_path / "only_x.npz"
    np.savez(only_x, x=np.zeros((2, 2)))
    assert "no y" in error_text(only_x, read_npz)
    nothing = tmp_path / "nothing.npz"
    np.savez(nothing, inputs=np.zeros((2, 2)))
    assert "found: inputs" in error_text(nothing, read_npz)
    both = tmp_path / "both.npz"
    np.savez(both, x=np.zeros((2, 2)), y=[0, 1], x_train=np.zeros((2, 2)), y_train=[0, 1])
    assert "unclear" in error_text(both, read_npz)


def test_split_parts_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "shapes.npz"
    np.savez(path, x_train=np.zeros((2, 3)), y_train=[0, 1], x_test=np.zeros((2, 4)), y_test=[0, 1])
    assert "differ in shape" in error_text(path, read_npz)


def test_npy_file_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(InvalidDatasetError, match="np.savez"):
        read_dataset(path)
    with pytest.raises(InvalidDatasetError, match="single .npy array"):
        read_npz(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidDatasetError, match="does not exist"):
        read_dataset(tmp_path / "nope.npz")
