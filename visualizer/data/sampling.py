"""Which samples a ``--limit`` takes: a seeded sample that represents the split.

A split's samples often come in class order (an image folder is read class folder by
class folder), so "the first N" describes one class. :func:`stratified_sample` keeps the
class proportions of the split instead, draws with a seed (the same seed gives the same
samples), and returns sorted indices so that reading them stays sequential. Every
analysis that takes a ``limit`` (extract, attribute, the sanity check; CLI, Python API
and GUI alike) goes through :func:`sample_split`, and records ``limit``,
``sample_seed`` and ``sampling`` in its params next to the ``sample_index`` array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visualizer.errors import DeepScopeError

#: How :func:`stratified_sample` chose: every sample, by class, or uniformly.
ALL, STRATIFIED, UNIFORM = "all", "stratified", "uniform"


def check_limit(limit: int | None, name: str = "limit") -> int | None:
    """``limit`` as an int, or None; raise a :class:`DeepScopeError` naming ``name``
    unless it is at least 1."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer):
        raise DeepScopeError(f"{name} must be a whole number (got {limit!r}).",
                             fix=f"pass {name} as a number of samples, at least 1.")
    if limit < 1:
        raise DeepScopeError(f"{name} must be at least 1 (got {int(limit)}).",
                             fix=f"give a positive number of samples, or leave {name} out "
                                 "to use the whole split.")
    return int(limit)


def _class_labels(labels) -> np.ndarray | None:
    """Labels as an int array when they are classes; None for no labels or regression
    targets (floats that are not whole numbers)."""
    if labels is None:
        return None
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        return None
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and np.isfinite(y).all() and np.array_equal(y, np.round(y)):
        return y.astype(np.int64)
    if y.dtype.kind in "OSU":
        return np.unique(y, return_inverse=True)[1].astype(np.int64)
    return None


def stratified_sample(labels, n: int, seed: int = 0, *, size: int | None = None
                      ) -> np.ndarray:
    """Sorted indices of a seeded sample of ``n`` items that keeps the class proportions.

    Parameters
    ----------
    labels
        Class labels of the split, shape ``(N,)``; ``None`` (or regression targets:
        floats that are not whole numbers) draws uniformly instead, then ``size`` gives N.
    n
        How many samples to take, at least 1. ``n >= N`` takes every sample.
    seed
        The same seed gives the same indices.
    size
        Number of samples when ``labels`` is None.

    Returns
    -------
    numpy.ndarray
        ``min(n, N)`` distinct int64 indices into the split, sorted ascending.

    Notes
    -----
    Where scikit-learn's ``StratifiedShuffleSplit`` applies (every class has at least
    two members, and both ``n`` and ``N - n`` are at least the number of classes) its
    training part is the sample, so each class gets its proportional share rounded up
    or down (never more than one sample away from ``n * class_size / N``). Elsewhere the
    same rule is applied here: with ``n`` below the number of classes, ``n`` classes
    drawn with the seed get one sample each; otherwise every class gets the floor of its
    share and the remaining samples go to the classes with the largest remainders (ties
    broken by the seed), never more than a class has.
    """
    n = check_limit(n, "n")
    y = _class_labels(labels)
    total = len(labels) if labels is not None else int(size or 0)
    if n >= total:
        return np.arange(total, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if y is None:
        return np.sort(rng.choice(total, size=n, replace=False)).astype(np.int64)
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() >= 2 and n >= len(classes) and total - n >= len(classes):
        from sklearn.model_selection import StratifiedShuffleSplit

        split = StratifiedShuffleSplit(n_splits=1, train_size=n, test_size=total - n,
                                       random_state=seed)
        chosen, _ = next(split.split(np.zeros((total, 1)), y))
        return np.sort(chosen).astype(np.int64)
    quota = _allocate(counts, n, rng)
    parts = [rng.choice(np.flatnonzero(y == c), size=k, replace=False)
             for c, k in zip(classes, quota, strict=True) if k]
    return np.sort(np.concatenate(parts)).astype(np.int64)


def _allocate(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Samples per class: proportional shares, floors first, then largest remainders."""
    counts = np.asarray(counts, dtype=np.int64)
    if n < len(counts):  # fewer samples than classes: one each from n seeded classes
        quota = np.zeros(len(counts), dtype=np.int64)
        quota[rng.choice(len(counts), size=n, replace=False)] = 1
        return quota
    share = n * counts / counts.sum()
    quota = np.minimum(np.floor(share).astype(np.int64), counts)
    left = n - int(quota.sum())
    if left:
        # largest remainder first, ties in a seeded order; only classes with room left
        room = quota < counts
        order = np.lexsort((rng.random(len(counts)), -(share - quota)))
        order = order[room[order]]
        quota[order[:left]] += 1
    return quota


@dataclass(frozen=True)
class Sample:
    """The samples an analysis takes from a split, and how they were chosen."""

    index: np.ndarray  # sorted int64 positions in the split
    limit: int | None
    seed: int | None  # None when the whole split is taken
    method: str  # ALL, STRATIFIED or UNIFORM

    def params(self) -> dict:
        """What a run records so that the same samples can be drawn again."""
        return {"limit": self.limit, "sample_seed": self.seed, "sampling": self.method}


def sample_split(labels, limit: int | None, seed: int = 0, *, size: int | None = None
                 ) -> Sample:
    """The samples of a split that ``limit`` (None: all of them) selects with ``seed``."""
    limit = check_limit(limit)
    total = len(labels) if labels is not None else int(size or 0)
    if limit is None or limit >= total:
        return Sample(np.arange(total, dtype=np.int64), limit, None, ALL)
    index = stratified_sample(labels, limit, seed, size=size)
    method = STRATIFIED if _class_labels(labels) is not None else UNIFORM
    return Sample(index, limit, int(seed), method)
