"""Unit statistics, top-k samples, feature maps, weights and comparison against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from visualizer.analysis.layers.compare import CompareRequest, compare_models, newest_run
from visualizer.analysis.layers.detail import DetailRequest, layer_detail
from visualizer.analysis.layers.samples import (
    FeatureRequest,
    TopKRequest,
    feature_maps,
    top_activating,
    top_k_rows,
)
from visualizer.analysis.layers.units import (
    dead_units,
    dump_unit_stats,
    saturated_units,
    unit_table,
)
from visualizer.analysis.layers.weights import module_weights
from visualizer.jobs import NullContext


def _run(ws, model):
    return ws.run(newest_run(ws, model))


def _numpy_stats(dump: np.ndarray) -> dict[str, np.ndarray]:
    a = dump.astype(np.float64)
    axes = (0, *range(2, a.ndim))
    return {"mean": a.mean(axis=axes), "std": a.std(axis=axes),
            "frac_zero": (a == 0).mean(axis=axes), "max": a.max(axis=axes),
            "min": a.min(axis=axes)}


@pytest.mark.parametrize("model,layer", [("cnn", "relu2"), ("mlp", "fc1"), ("resnet", "conv1")])
def test_unit_statistics_equal_numpy_on_the_dump(demo_ws, model, layer):
    run = _run(demo_ws, model)
    with run.arrays() as arrays:
        dump = arrays[layer][()]
        table = unit_table(arrays, layer)
        from_dump = dump_unit_stats(arrays[layer])
    ref = _numpy_stats(dump)
    for key in ref:
        np.testing.assert_allclose(table.stats[key], ref[key], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(from_dump[key], ref[key], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(table.dead, ref["max"] <= 0)
    assert table.units == dump.shape[1]


def test_dead_and_saturated_definitions():
    stats = {"max": np.array([0.0, -1.0, 2.0, 3.0]), "min": np.array([0.0, -2, 0, 0]),
             "frac_zero": np.array([1.0, 0.0, 0.5, 0.0])}
    np.testing.assert_array_equal(dead_units(stats), [True, True, False, False])
    # A layer with negative outputs has no "saturated" units; a ReLU layer does.
    assert not saturated_units(stats).any()
    relu = {**stats, "min": np.zeros(4)}
    np.testing.assert_array_equal(saturated_units(relu), [False, True, False, True])
    np.testing.assert_array_equal(dead_units({"frac_zero": np.array([1.0, 0.9])}),
                                  [True, False])


@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_top_k_equals_numpy_argsort_of_the_dump(demo_ws, reduce):
    run = _run(demo_ws, "cnn")
    with run.arrays() as arrays:
        dump = arrays["relu2"][()]
        for unit in (0, 5, 31):
            flat = dump[:, unit].reshape(len(dump), -1).astype(np.float64)
            scores = flat.mean(axis=1) if reduce == "mean" else flat.max(axis=1)
            want = np.argsort(-scores, kind="stable")[:12]
            # A tiny chunk forces many reads: the merge across chunks must not matter.
            rows, got = top_k_rows(arrays["relu2"], unit, 12, reduce=reduce, chunk_bytes=40_000)
            np.testing.assert_array_equal(rows, want)
            np.testing.assert_allclose(got, scores[want])
    top = top_activating(TopKRequest(str(demo_ws.root), run.id, "relu2", 5, k=7,
                                     reduce=reduce), NullContext())
    flat = dump[:, 5].reshape(len(dump), -1).astype(np.float64)
    scores = flat.mean(axis=1) if reduce == "mean" else flat.max(axis=1)
    np.testing.assert_array_equal(top.rows, np.argsort(-scores, kind="stable")[:7])
    with run.arrays() as arrays:
        np.testing.assert_array_equal(top.labels, arrays["label"][()][top.rows])


def test_top_k_of_a_dense_unit_and_ties_keep_row_order(demo_ws):
    run = _run(demo_ws, "mlp")
    with run.arrays() as arrays:
        dump = arrays["relu1"][()]
        dead = np.flatnonzero(dump.max(axis=0) <= 0)
        for unit in [3, *dead[:1]]:
            rows, _ = top_k_rows(arrays["relu1"], int(unit), 20, chunk_bytes=4096)
            np.testing.assert_array_equal(rows, np.argsort(-dump[:, unit], kind="stable")[:20])
            rows, _ = top_k_rows(arrays["relu1"], int(unit), 5, largest=False)
            np.testing.assert_array_equal(rows, np.argsort(dump[:, unit], kind="stable")[:5])


def test_feature_maps_from_the_dump_and_with_hooks(demo_ws):
    run = _run(demo_ws, "resnet")
    ws = str(demo_ws.root)
    maps = feature_maps(FeatureRequest(ws, run.id, "layer1.0.relu2", 7), NullContext())
    with run.arrays() as arrays:
        want = arrays["layer1.0.relu2"][7]
        assert "layer1" not in arrays.layers  # a container aliasing its last ReLU
        assert maps.label == int(arrays["label"][7])
    assert maps.source == "dump"
    np.testing.assert_array_equal(maps.values, want)
    hooked = feature_maps(FeatureRequest(ws, run.id, "layer1", 7), NullContext())
    assert hooked.source == "hooks"
    np.testing.assert_allclose(hooked.values, want, rtol=1e-5, atol=1e-5)


def test_weights_and_detail_match_numpy(demo_ws):
    run = _run(demo_ws, "cnn")
    model = demo_ws.load_model("cnn")
    w = model.conv2.weight.detach().numpy().astype(np.float64)
    info = module_weights(model, "conv2")
    counts, edges = np.histogram(w.ravel().astype(np.float32), bins=len(info.hist_counts))
    np.testing.assert_array_equal(info.hist_counts, counts)
    np.testing.assert_allclose(info.filter_norms, np.linalg.norm(w.reshape(32, -1), axis=1),
                               rtol=1e-6)
    b = model.conv2.bias.detach().numpy().astype(np.float64)
    assert info.norm == pytest.approx(np.sqrt((w**2).sum() + (b**2).sum()), rel=1e-6)
    detail = layer_detail(DetailRequest(str(demo_ws.root), run.id, "conv2"), NullContext())
    assert detail.first_conv.module == "conv1" and detail.first_conv.filters.shape == (16, 1, 3, 3)
    assert detail.units.layer == "conv2" and detail.weights.module == "conv2"


def test_comparing_a_model_with_itself_shows_no_change(demo_ws):
    run = _run(demo_ws, "cnn")
    cmp = compare_models(CompareRequest(str(demo_ws.root), "cnn", "cnn", run.id, run.id,
                                        layer="relu2"), NullContext())
    assert {p.name for p in cmp.pairs} >= {"conv1", "conv2", "fc1", "fc2", "relu2"}
    for p in cmp.pairs:
        assert p.relative_change == 0 or np.isnan(p.relative_change)
        assert p.mean_a == p.mean_b or np.isnan(p.mean_a)
    np.testing.assert_array_equal(cmp.unit_means["a"], cmp.unit_means["b"])
    other = compare_models(CompareRequest(str(demo_ws.root), "cnn", "resnet"), NullContext())
    assert "conv1" in {p.name for p in other.pairs} and "fc1" in other.only_a
