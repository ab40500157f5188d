"""Forgotten samples and pruning-identified exemplars on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from visualizer.analysis.pruning.forgotten import compare_predictions, modal_prediction, pie_sets
from visualizer.errors import DeepScopeError

LABELS = np.array([0, 0, 1, 1, 2, 2, 2, 3])
DENSE = np.array([0, 0, 1, 2, 2, 0, 2, 3])  # wrong on samples 3 and 5
PRUNED = np.array([0, 1, 1, 1, 2, 1, 0, 3])  # wrong on 1, 5, 6; right on 3


def test_compare_predictions_known_answers():
    f = compare_predictions(LABELS, DENSE, PRUNED)
    assert np.flatnonzero(f.forgotten).tolist() == [1, 6]
    assert np.flatnonzero(f.gained).tolist() == [3]
    # sample 5: both wrong but with different answers -> changed, neither forgotten nor
    # gained
    assert np.flatnonzero(f.changed).tolist() == [1, 3, 5, 6]
    assert (f.n_forgotten, f.n_gained, f.n_changed, f.n_samples) == (2, 1, 4, 8)
    assert f.dense_accuracy == pytest.approx(6 / 8) and f.pruned_accuracy == pytest.approx(5 / 8)
    assert f.by_class == {0: 1, 1: 0, 2: 1, 3: 0}
    assert f.forgotten.dtype == bool
    same = compare_predictions(LABELS, DENSE, DENSE)
    assert (same.n_forgotten, same.n_gained, same.n_changed) == (0, 0, 0)


def test_compare_predictions_refuses_mismatched_or_bad_input():
    with pytest.raises(DeepScopeError, match="same samples"):
        compare_predictions(LABELS, DENSE, PRUNED[:-1])
    with pytest.raises(DeepScopeError, match="one class index per sample"):
        compare_predictions(LABELS, DENSE[None], PRUNED)
    with pytest.raises(DeepScopeError, match="non-negative whole"):
        compare_predictions(LABELS, DENSE - 1, PRUNED)
    with pytest.raises(DeepScopeError, match="non-negative whole"):
        compare_predictions(LABELS, DENSE + 0.5, PRUNED)


def test_modal_prediction_breaks_ties_to_the_smallest_class():
    preds = np.array([[2, 1, 0, 5],
                      [2, 3, 1, 4],
                      [1, 3, 2, 4]])
    assert modal_prediction(preds).tolist() == [2, 3, 0, 4]  # sample 2: 0/1/2 tie -> 0
    assert modal_prediction(np.array([4, 0, 2])).tolist() == [4, 0, 2]


def test_pie_sets_with_populations_uses_hookers_modal_definition():
    labels = np.array([0, 1, 2, 0, 1])
    dense = np.array([[0, 1, 2, 1, 1],
                      [0, 1, 2, 0, 2],
                      [0, 1, 1, 0, 2]])  # modes: 0 1 2 0 2 (sample 4 wrong when dense)
    pruned = {"seed0": np.array([0, 2, 2, 1, 1]),
              "seed1": np.array([0, 2, 1, 1, 2]),
              "seed2": np.array([0, 1, 1, 0, 0])}  # modes: 0 2 1 1 0
    out = pie_sets(labels, dense, pruned)
    assert out["dense_mode"].tolist() == [0, 1, 2, 0, 2]
    assert out["pruned_mode"].tolist() == [0, 2, 1, 1, 0]
    # sample 4: dense population wrong (2), pruned population wrong differently (0):
    # a PIE by Hooker's definition, though no model "forgot" it
    assert np.flatnonzero(out["pie"]).tolist() == [1, 2, 3, 4]
    assert out["n_pie"] == 4 and out["pie_fraction"] == pytest.approx(0.8)
    assert out["pie_by_class"] == {0: 1, 1: 2, 2: 1}
    assert out["n_models"] == (3, 3)
    # one-pair forgetting of each pruned model against the dense modal prediction
    assert np.flatnonzero(out["by_model"]["seed0"].forgotten).tolist() == [1, 3]
    assert np.flatnonzero(out["by_model"]["seed2"].forgotten).tolist() == [2]
    assert np.flatnonzero(out["by_model"]["seed0"].gained).tolist() == [4]
    assert out["forgotten_count"].tolist() == [0, 2, 2, 2, 0]


def test_pie_sets_with_one_model_each_is_a_changed_prediction():
    out = pie_sets(LABELS, DENSE, {"pruned": PRUNED})
    single = compare_predictions(LABELS, DENSE, PRUNED)
    assert np.array_equal(out["pie"], single.changed)
    assert np.array_equal(out["by_model"]["pruned"].forgotten, single.forgotten)
    # the two definitions differ: a PIE need not be forgotten (sample 3 was gained,
    # sample 5 was wrong both times)
    assert np.flatnonzero(out["pie"] & ~single.forgotten).tolist() == [3, 5]


def test_pie_sets_refuses_bad_shapes():
    with pytest.raises(DeepScopeError, match="at least one pruned"):
        pie_sets(LABELS, DENSE, {})
    with pytest.raises(DeepScopeError, match="dense_preds"):
        pie_sets(LABELS, DENSE[:-1], {"p": PRUNED})
    with pytest.raises(DeepScopeError, match="'p'"):
        pie_sets(LABELS, DENSE, {"p": PRUNED[:-1]})
