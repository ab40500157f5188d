"""The built-in digits dataset."""

from __future__ import annotations

import numpy as np

from visualizer.data import load_digits_arrays


def test_digits_shapes_range_and_split() -> None:
    data = load_digits_arrays()
    assert data.x.shape == (1797, 1, 8, 8) and data.x.dtype == np.float32
    assert data.x.flags.c_contiguous
    assert data.y.dtype == np.int64 and sorted(set(data.y.tolist())) == list(range(10))
    assert data.input_range == (0.0, 1.0)
    assert data.class_names == [str(i) for i in range(10)]
    assert data.kind == "image" and data.source == "digits"
    train, test = data.splits["train"], data.splits["test"]
    assert len(train) == 1437 and len(test) == 360
    assert np.intersect1d(train, test).size == 0
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    # Stratified: every class is in the test split in about its overall proportion.
    assert np.bincount(data.y[test]).min() >= 35


def test_digits_values_match_scikit_learn() -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    data = load_digits_arrays()
    np.testing.assert_allclose(data.x[:, 0], bunch.images / 16.0, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(data.y, bunch.target)


def test_digits_are_deterministic() -> None:
    a, b = load_digits_arrays(), load_digits_arrays()
    for name in ("train", "test"):
        np.testing.assert_array_equal(a.splits[name], b.splits[name])
    x_test, y_test = a.arrays("test")
    assert x_test.shape == (360, 1, 8, 8) and y_test.shape == (360,)
