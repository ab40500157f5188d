"""``--limit`` samples: seeded, stratified by class, the same everywhere."""

import numpy as np
import pytest
from sklearn.model_selection import StratifiedShuffleSplit

from visualizer.data.sampling import check_limit, sample_split, stratified_sample
from visualizer.errors import DeepScopeError


def class_ordered(counts) -> np.ndarray:
    """Labels as an image folder yields them: class folder after class folder."""
    return np.concatenate([np.full(c, k) for k, c in enumerate(counts)]).astype(np.int64)


def assert_proportional(labels, index, n):
    """Each class gets its share of ``n`` rounded up or down, as StratifiedShuffleSplit."""
    classes, counts = np.unique(labels, return_counts=True)
    got = np.bincount(labels[index], minlength=classes.max() + 1)[classes]
    share = n * counts / counts.sum()
    assert np.all(np.abs(got - share) < 1), (got, share)
    assert got.sum() == n


def test_limit_16_of_a_class_ordered_split_covers_every_class():
    labels = class_ordered([18] * 10)  # 180 samples, digit 0 first
    assert set(labels[:16]) == {0}  # what "the first 16" gave
    index = stratified_sample(labels, 16, seed=0)
    assert len(index) == 16 and len(np.unique(index)) == 16
    assert np.all(np.diff(index) > 0), "sorted"
    assert set(labels[index]) == set(range(10))
    assert_proportional(labels, index, 16)
    np.testing.assert_array_equal(index, stratified_sample(labels, 16, seed=0))
    assert not np.array_equal(index, stratified_sample(labels, 16, seed=1))


def test_same_samples_as_stratified_shuffle_split():
    labels = class_ordered([40, 25, 60, 5, 30])
    for seed in range(5):
        split = StratifiedShuffleSplit(n_splits=1, train_size=32,
                                       test_size=len(labels) - 32, random_state=seed)
        train, _ = next(split.split(np.zeros((len(labels), 1)), labels))
        np.testing.assert_array_equal(stratified_sample(labels, 32, seed), np.sort(train))


@pytest.mark.parametrize("seed", range(20))
def test_unbalanced_classes_keep_their_proportions(seed):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(class_ordered(rng.integers(1, 60, size=7)))
    n = int(rng.integers(7, len(labels)))
    index = stratified_sample(labels, n, seed)
    assert len(np.unique(index)) == n
    assert_proportional(labels, index, n)


def test_single_member_classes_and_a_nearly_full_sample():
    labels = class_ordered([50, 30, 1])  # StratifiedShuffleSplit refuses this split
    for n in (10, 60, 80):
        index = stratified_sample(labels, n, seed=3)
        assert len(np.unique(index)) == n
        assert_proportional(labels, index, n)
        np.testing.assert_array_equal(index, stratified_sample(labels, n, seed=3))


def test_fewer_samples_than_classes_spread_one_per_class():
    labels = class_ordered([20] * 10)
    index = stratified_sample(labels, 4, seed=0)
    assert len(set(labels[index])) == 4  # four different classes, one sample each
    picks = {tuple(labels[stratified_sample(labels, 4, seed=s)]) for s in range(10)}
    assert len(picks) > 1, "the seed chooses the classes"
    np.testing.assert_array_equal(index, stratified_sample(labels, 4, seed=0))


def test_a_limit_at_or_above_the_split_takes_all():
    labels = class_ordered([3, 4])
    np.testing.assert_array_equal(stratified_sample(labels, 7, 0), np.arange(7))
    np.testing.assert_array_equal(stratified_sample(labels, 100, 0), np.arange(7))
    sample = sample_split(labels, 100, seed=5)
    assert sample.params() == {"limit": 100, "sample_seed": None, "sampling": "all"}
    assert sample_split(labels, None).params()["sampling"] == "all"


def test_without_labels_or_with_regression_targets_draws_uniformly():
    index = stratified_sample(None, 10, seed=2, size=50)
    assert len(np.unique(index)) == 10 and index.max() < 50
    np.testing.assert_array_equal(index, stratified_sample(None, 10, seed=2, size=50))
    assert not np.array_equal(index, stratified_sample(None, 10, seed=3, size=50))
    targets = np.linspace(0.0, 1.0, 40) + 0.013  # not class labels
    sample = sample_split(targets, 8, seed=1)
    assert sample.method == "uniform" and len(np.unique(sample.index)) == 8
    assert sample_split(class_ordered([20, 20]), 8, seed=1).params() == {
        "limit": 8, "sample_seed": 1, "sampling": "stratified"}


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "8"])
def test_a_bad_limit_is_named(bad):
    with pytest.raises(DeepScopeError, match="limit must be"):
        check_limit(bad)
    with pytest.raises(DeepScopeError, match="limit must be"):
        sample_split(class_ordered([5, 5]), bad)
