"""The demo's pruning lab: what the Pruning view shows at first launch."""

import pytest

from visualizer.analysis.pruning.results import pruned_points
from visualizer.demo import PRUNING_METHODS, PRUNING_SPARSITIES, build_pruning_demo
from visualizer.jobs import NullContext


@pytest.mark.slow
def test_demo_pruning_lab_is_complete_and_built_once(demo_ws):
    new = build_pruning_demo(demo_ws, NullContext())
    points = pruned_points(demo_ws, "cnn")
    sweep = [p for p in points if p.schedule == "oneshot"]
    assert {(p.method, p.target_sparsity) for p in sweep} == {
        (m, s) for m in PRUNING_METHODS for s in PRUNING_SPARSITIES}
    gradual = next(p for p in points if p.schedule == "gradual")
    assert gradual.sparsity == pytest.approx(0.9, abs=1e-3)
    assert gradual.accuracy >= gradual.parent_accuracy - 0.02  # Zhu & Gupta: little loss
    channels = next(p for p in points if p.structured)
    assert channels.cost["params"] < channels.cost["parent"]["params"]
    kinds = sorted(demo_ws.run(r).kind for r in new)
    assert kinds == ["activations", "cka", "prune_sweep", "pruning", "pruning"]
    cka = demo_ws.runs(kind="cka")[-1]
    assert cka.params["model_a"] == "cnn" and cka.params["model_b"] == gradual.model
    assert build_pruning_demo(demo_ws, NullContext()) == []  # nothing is made twice
