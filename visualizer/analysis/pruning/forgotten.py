"""The samples pruning changed: forgotten, gained, and pruning-identified exemplars.

Hooker et al. (2019), "What do compressed deep neural networks forget?", find that a
pruned network keeps its top-line accuracy while it loses a small, specific set of
samples, the pruning-identified exemplars (PIEs). Two definitions are used here:

*One dense and one pruned model* (:func:`compare_predictions`)
    A sample is **forgotten** when the dense model is right and the pruned one wrong,
    **gained** when the reverse, **changed** when the two predictions differ (right or
    wrong). With one pair of models, seed noise and real forgetting cannot be told apart.
*Populations* (:func:`pie_sets`, Hooker's definition)
    With several dense and several pruned models (independently trained or pruned, the
    same sparsity), a sample is a **PIE** when the modal (most frequent) prediction of
    the pruned population differs from the modal prediction of the dense population,
    whatever the true label. Modes are taken per sample; a tie goes to the smallest
    class index (as ``scipy.stats.mode``). With one model on each side a PIE is simply a
    changed prediction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from visualizer.errors import DeepScopeError


@dataclass(frozen=True)
class Forgetting:
    """What changed between a dense and a pruned model's predictions on the same samples."""

    forgotten: np.ndarray  # (N,) bool: dense right, pruned wrong
    gained: np.ndarray  # (N,) bool: dense wrong, pruned right
    changed: np.ndarray  # (N,) bool: the predictions differ
    n_forgotten: int
    n_gained: int
    n_changed: int
    n_samples: int
    dense_accuracy: float
    pruned_accuracy: float
    by_class: dict[int, int]  # forgotten samples per true class (every class in labels)


def _labels(values, name: str, n: int | None = None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise DeepScopeError(f"{name} must be one class index per sample (got shape "
                             f"{array.shape}).")
    if n is not None and len(array) != n:
        raise DeepScopeError(f"{name} has {len(array)} samples, the labels {n}; compare "
                             "predictions of the same samples.",
                             fix="match the runs by sample_index first.")
    if array.size and (array.dtype.kind not in "iub" or array.min() < 0):
        raise DeepScopeError(f"{name} must hold non-negative whole class indices.")
    return array.astype(np.int64)


def compare_predictions(labels, dense_pred, pruned_pred) -> Forgetting:
    """Forgotten, gained and changed samples between a dense and a pruned model.

    Parameters
    ----------
    labels
        (N,) true class per sample.
    dense_pred, pruned_pred
        (N,) predicted class per sample, of the dense and of the pruned model.

    Returns
    -------
    Forgetting
        Boolean masks, their counts, both accuracies and forgotten samples per class.
    """
    labels = _labels(labels, "labels")
    n = len(labels)
    dense = _labels(dense_pred, "dense_pred", n)
    pruned = _labels(pruned_pred, "pruned_pred", n)
    dense_right, pruned_right = dense == labels, pruned == labels
    forgotten = dense_right & ~pruned_right
    gained = ~dense_right & pruned_right
    changed = dense != pruned
    classes = np.unique(labels)
    per_class = np.bincount(labels[forgotten], minlength=int(classes.max()) + 1 if n else 0)
    return Forgetting(
        forgotten=forgotten, gained=gained, changed=changed,
        n_forgotten=int(forgotten.sum()), n_gained=int(gained.sum()),
        n_changed=int(changed.sum()), n_samples=n,
        dense_accuracy=float(dense_right.mean()) if n else float("nan"),
        pruned_accuracy=float(pruned_right.mean()) if n else float("nan"),
        by_class={int(c): int(per_class[c]) for c in classes},
    )


def modal_prediction(predictions) -> np.ndarray:
    """(N,) most frequent class per sample over a (k, N) stack of predictions (a (N,)
    array is one model); ties go to the smallest class index."""
    preds = np.asarray(predictions)
    preds = preds[None] if preds.ndim == 1 else preds
    if preds.ndim != 2 or not preds.shape[0]:
        raise DeepScopeError(f"predictions must be (models, samples) (got shape "
                             f"{np.asarray(predictions).shape}).")
    preds = np.stack([_labels(row, "predictions") for row in preds])
    k, n = preds.shape
    counts = np.zeros((n, int(preds.max(initial=0)) + 1), np.int64)
    for row in preds:  # k is small (tens of models); N may be large
        counts[np.arange(n), row] += 1
    return counts.argmax(axis=1)  # argmax takes the first maximum: the smallest class


def pie_sets(labels, dense_preds, pruned_preds_by_model: Mapping[str, np.ndarray]) -> dict:
    """Pruning-identified exemplars (Hooker et al., 2019) and per-model forgetting.

    Parameters
    ----------
    labels
        (N,) true class per sample.
    dense_preds
        (N,) predictions of one dense model, or (k, N) of a dense population.
    pruned_preds_by_model
        Pruned model name -> (N,) predictions; a population of the same sparsity.

    Returns
    -------
    dict
        ``pie`` (N,) bool, Hooker's definition: the pruned population's modal prediction
        differs from the dense population's; ``n_pie``, ``pie_fraction``; ``pie_by_class``
        (PIEs per true class); ``dense_mode`` and ``pruned_mode`` (N,); ``by_model``:
        name -> :class:`Forgetting` of that model against the dense modal prediction
        (the one-pair definition); ``forgotten_count`` (N,): how many pruned models
        forgot each sample; ``n_models`` (dense, pruned).
    """
    labels = _labels(labels, "labels")
    n = len(labels)
    if not pruned_preds_by_model:
        raise DeepScopeError("pie_sets needs at least one pruned model's predictions.")
    dense = np.asarray(dense_preds)
    dense = dense[None] if dense.ndim == 1 else dense
    if dense.ndim != 2 or dense.shape[1] != n:
        raise DeepScopeError(f"dense_preds must be (N,) or (models, N) with N = {n} "
                             f"(got shape {np.asarray(dense_preds).shape}).")
    pruned = np.stack([_labels(p, f"predictions of {name!r}", n)
                       for name, p in pruned_preds_by_model.items()])
    dense_mode, pruned_mode = modal_prediction(dense), modal_prediction(pruned)
    pie = dense_mode != pruned_mode
    by_model = {name: compare_predictions(labels, dense_mode, pred)
                for name, pred in zip(pruned_preds_by_model, pruned, strict=True)}
    forgotten_count = np.sum([f.forgotten for f in by_model.values()], axis=0)
    classes = np.unique(labels)
    per_class = np.bincount(labels[pie], minlength=int(classes.max()) + 1 if n else 0)
    return {
        "pie": pie, "n_pie": int(pie.sum()),
        "pie_fraction": float(pie.mean()) if n else float("nan"),
        "pie_by_class": {int(c): int(per_class[c]) for c in classes},
        "dense_mode": dense_mode, "pruned_mode": pruned_mode,
        "by_model": by_model, "forgotten_count": forgotten_count.astype(np.int64),
        "n_models": (int(dense.shape[0]), int(pruned.shape[0])),
    }
