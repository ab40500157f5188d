"""Reading HDF5 files: layouts, class names, validation failures, damaged files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from tests.visualizer.data.helpers import error_text
from visualizer.data import detect_source, read_dataset, read_hdf5


def _write(path: Path, **arrays) -> Path:
    with h5py.File(path, "w") as f:
        for name, value in arrays.items():
            f.create_dataset(name, data=value)
    return path




def test_round_trip(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((6, 1, 5, 5))
    path = _write(tmp_path / "data.h5", x=x, y=np.array([0, 1, 2, 3, 0, 1], np.uint8))
    data = read_dataset(path)
    assert data.source == "hdf5" and data.kind == "image"
    np.testing.assert_allclose(data.x, x.astype(np.float32))
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64
    assert data.y.tolist() == [0, 1, 2, 3, 0, 1]
    assert data.class_names == ["0", "1", "2", "3"]
    assert data.splits["train"].size == 0 and data.splits["test"].size == 6


def test_split_with_string_labels_and_class_names_attribute(tmp_path: Path) -> None:
    path = tmp_path / "split.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x_train", data=np.ones((3, 4)))
        f.create_dataset("y_train", data=["cat", "dog", "cat"], dtype=h5py.string_dtype())
        f.create_dataset("x_test", data=np.zeros((2, 4)))
        f.create_dataset("y_test", data=np.array([b"dog", b"dog"]))
        f.attrs["class_names"] = ["dog", "cat"]
    data = read_hdf5(path)
    assert data.kind == "vector" and data.class_names == ["dog", "cat"]
    assert data.y.tolist() == [1, 0, 1, 0, 0]
    assert data.splits["train"].tolist() == [0, 1, 2] and data.splits["test"].tolist() == [3, 4]


def test_class_names_dataset(tmp_path: Path) -> None:
    path = tmp_path / "names.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.zeros((2, 3)))
        f.create_dataset("y", data=[1, 0])
        f.create_dataset("class_names", data=["zero", "one"], dtype=h5py.string_dtype())
    assert read_hdf5(path).class_names == ["zero", "one"]


def test_misnamed_file_is_detected_by_content(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.bin", x=np.zeros((2, 3)), y=[0, 1])
    assert detect_source(path) == "hdf5"
    assert read_dataset(path).source == "hdf5"


def test_mismatched_lengths(tmp_path: Path) -> None:
    path = _write(tmp_path / "len.h5", x=np.zeros((5, 2)), y=np.zeros(4, int))
    text = error_text(path)
    assert "5 samples" in text and "4 labels" in text


def test_nan_inputs(tmp_path: Path) -> None:
    x = np.zeros((3, 2))
    x[1] = np.inf
    path = _write(tmp_path / "inf.h5", x=x, y=[0, 1, 0])
    text = error_text(path)
    assert "2 non-finite" in text and "sample 1" in text


def test_wrong_dims_and_bad_labels(tmp_path: Path) -> None:
    assert "5 dims" in error_text(
        _write(tmp_path / "dims.h5", x=np.zeros((2, 1, 1, 2, 2)), y=[0, 1])
    )
    assert "must be >= 0" in error_text(_write(tmp_path / "neg.h5", x=np.zeros((2, 2)), y=[0, -3]))


def test_group_instead_of_dataset(tmp_path: Path) -> None:
    path = tmp_path / "group.h5"
    with h5py.File(path, "w") as f:
        f.create_group("x")
        f.create_dataset("y", data=[0])
    assert "group" in error_text(path)


def test_missing_arrays_lists_what_is_there(tmp_path: Path) -> None:
    text = error_text(_write(tmp_path / "other.h5", images=np.zeros((2, 2))))
    assert "found: images" in text and "create_dataset" in text


def test_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "text.h5"
    path.write_text("this is not HDF5\n" * 20)
    text = error_text(path)
    assert "not a readable HDF5 file" in text


def test_truncated_hdf5(tmp_path: Path) -> None:
    good = _write(
        tmp_path / "good.h5", x=np.random.default_rng(0).random((200, 50)), y=np.zeros(200, int)
    )
    path = tmp_path / "truncated.h5"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = error_text(path)
    assert "truncated" in text
