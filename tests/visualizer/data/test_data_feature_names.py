"""Feature names of tabular data: read from .npz and HDF5, refused when they do not fit,
kept through the workspace's dataset file and catalog into the samples views use."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.visualizer.data.helpers import error_text
from visualizer.data import read_hdf5, read_npz
from visualizer.data.arrays import check_feature_names, make_data_arrays
from visualizer.errors import DeepScopeError

NAMES = ["alcohol", "malic_acid", "ash", "od280/od315_of_diluted_wines"]


def _vectors(n: int = 6, d: int = len(NAMES), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)




def test_npz_feature_names_are_read_not_ignored(tmp_path: Path) -> None:
    path = tmp_path / "wine.npz"
    np.savez(path, x=_vectors(), y=[0, 1, 2, 0, 1, 2], class_names=["a", "b", "c"],
             feature_names=np.array(NAMES))
    data = read_npz(path)
    assert data.feature_names == NAMES
    assert data.warnings == []  # "Ignored arrays in wine.npz: feature_names." no more


def test_npz_split_layout_keeps_feature_names(tmp_path: Path) -> None:
    path = tmp_path / "split.npz"
    np.savez(path, x_train=_vectors(3), y_train=[0, 1, 0], x_test=_vectors(2, seed=1),
             y_test=[1, 1], feature_names=np.array(NAMES))
    assert read_npz(path).feature_names == NAMES


def test_without_feature_names_they_are_none(tmp_path: Path) -> None:
    path = tmp_path / "plain.npz"
    np.savez(path, x=_vectors(), y=np.zeros(6, int))
    assert read_npz(path).feature_names is None


@pytest.mark.parametrize("as_attribute", [False, True])
def test_hdf5_feature_names_as_dataset_or_root_attribute(tmp_path: Path,
                                                         as_attribute: bool) -> None:
    path = tmp_path / "wine.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=_vectors())
        f.create_dataset("y", data=np.zeros(6, int))
        if as_attribute:
            f.attrs["feature_names"] = NAMES  # h5py stores variable-length strings
        else:
            f.create_dataset("feature_names", data=[n.encode() for n in NAMES])  # bytes
    data = read_hdf5(path)
    assert data.feature_names == NAMES and data.warnings == []


def test_wrong_number_of_names(tmp_path: Path) -> None:
    path = tmp_path / "short.npz"
    np.savez(path, x=_vectors(), y=np.zeros(6, int), feature_names=np.array(NAMES[:3]))
    text = error_text(path)
    assert "3 names" in text and "4 features" in text and "one name per column" in text


def test_names_that_are_not_strings(tmp_path: Path) -> None:
    numbers = tmp_path / "numbers.npz"
    np.savez(numbers, x=_vectors(), y=np.zeros(6, int), feature_names=np.arange(4))
    text = error_text(numbers)
    assert "feature_names" in text and "1-D array of strings" in text and "int" in text
    table = tmp_path / "table.h5"
    with h5py.File(table, "w") as f:
        f.create_dataset("x", data=_vectors())
        f.create_dataset("y", data=np.zeros(6, int))
        f.create_dataset("feature_names", data=np.array([NAMES, NAMES]).astype("S"))
    assert "shape (2, 4)" in error_text(table)


def test_names_on_images_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "images.npz"
    np.savez(path, x=np.zeros((2, 1, 2, 2), np.float32), y=[0, 1],
             feature_names=np.array(["a", "b", "c", "d"]))
    text = error_text(path)
    assert "images" in text and "(1, 2, 2)" in text and "Remove feature_names" in text


def test_duplicate_and_empty_names(tmp_path: Path) -> None:
    dupes = tmp_path / "dupes.npz"
    np.savez(dupes, x=_vectors(), y=np.zeros(6, int),
             feature_names=np.array(["a", "b", "a", "c"]))
    assert "duplicates: 'a'" in error_text(dupes)
    empty = tmp_path / "empty.npz"
    np.savez(empty, x=_vectors(), y=np.zeros(6, int), feature_names=np.array(["a", "", "b", "c"]))
    assert "entry 1" in error_text(empty)


def test_object_names_are_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, x=_vectors(), y=np.zeros(6, int),
             feature_names=np.array(NAMES, dtype=object))
    text = error_text(path)
    assert "'feature_names'" in text and "pickled" in text and "feature_names must be str" in text


def test_make_data_arrays_checks_names_of_hand_made_data() -> None:
    x = _vectors()
    data = make_data_arrays(x, np.zeros(6, np.int64), ["a"], source="plugin",
                            feature_names=tuple(NAMES))
    assert data.feature_names == NAMES
    with pytest.raises(DeepScopeError, match="2 names"):
        make_data_arrays(x, np.zeros(6, np.int64), ["a"], source="plugin",
                         feature_names=["a", "b"])
    assert check_feature_names([b"caf\xc3\xa9"], (1,), None) == ["café"]


# -- through the workspace ------------------------------------------------------------------

@pytest.fixture
def tabular_ws(tmp_path: Path):
    from visualizer.samples import clear_cache
    from visualizer.workspace.workspace import Workspace

    x = _vectors(8)
    np.savez(tmp_path / "wine.npz", x_train=x[:5], y_train=[0, 1, 0, 1, 0], x_test=x[5:],
             y_test=[1, 0, 1], feature_names=np.array(NAMES))
    ws = Workspace.create(tmp_path / "ws")
    ws.import_dataset(tmp_path / "wine.npz", "wine")
    clear_cache()
    yield ws, x
    clear_cache()


def test_workspace_keeps_feature_names_in_file_catalog_and_samples(tabular_ws) -> None:
    from visualizer.samples import split_samples
    from visualizer.workspace.workspace import Workspace

    ws, x = tabular_ws
    reopened = Workspace.open(ws.root)  # from disk, not from the importing process
    assert reopened.catalog.dataset("wine").info["feature_names"] == NAMES
    data = reopened.load_dataset("wine")
    assert data.feature_names == NAMES
    np.testing.assert_array_equal(data.x, x)
    samples = split_samples(reopened, "wine", "test")
    assert samples.feature_names == tuple(NAMES)
    np.testing.assert_array_equal(samples.x, x[5:])


def test_datasets_stored_before_feature_names_still_open(tabular_ws) -> None:
    from visualizer.samples import split_samples

    ws, x = tabular_ws
    # what an older DeepScope wrote: no feature_names attribute, no catalog key
    rec = ws.catalog.dataset("wine")
    with h5py.File(ws.root / rec.path, "a") as f:
        del f.attrs["feature_names"]
    info = {k: v for k, v in rec.info.items() if k != "feature_names"}
    ws.catalog.put_dataset(dataclasses.replace(rec, info=info))
    data = ws.load_dataset("wine")
    assert data.feature_names is None and data.class_names == ["0", "1"]
    np.testing.assert_array_equal(data.x, x)
    assert split_samples(ws, "wine", "train").feature_names is None


def test_builtin_images_have_no_feature_names(tmp_path: Path) -> None:
    from visualizer.samples import SplitSamples, clear_cache, split_samples
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws")
    rec = ws.add_builtin_dataset("digits")
    assert rec.info["feature_names"] is None
    clear_cache()
    assert split_samples(ws, "digits", "test").feature_names is None
    clear_cache()
    # SplitSamples made by older callers, without the new field
    old = SplitSamples("d", "test", np.zeros((1, 2)), np.zeros(1), ("a",), "vector", (0.0, 1.0))
    assert old.feature_names is None
