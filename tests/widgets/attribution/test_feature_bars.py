"""Tabular attributions in the Attribution view: which features the sample detail charts,
with which labels and colours, NaN/inf that must not break it, and the bar thumbnails.

The references are numpy (argsort of |attribution|) and the arrays stored in the
workspace; nothing here needs torch, so the tests stay fast.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from widgets.attribution import colormaps as cm
from widgets.attribution.feature_bars import feature_bars

NAMES = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
         "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
         "od280/od315_of_diluted_wines", "proline"]


def _ranked(a: np.ndarray, top: int) -> np.ndarray:
    """Reference ranking: finite features by descending |a|, ties in column order."""
    finite = np.flatnonzero(np.isfinite(a))
    return finite[np.argsort(-np.abs(a[finite]), kind="stable")][:top]


def test_features_are_ranked_by_magnitude_and_labelled_with_input_values():
    rng = np.random.default_rng(0)
    a, x = rng.normal(size=13), rng.normal(size=13)
    bars = feature_bars(a, x, NAMES, signed=True, vmax=1.0)
    order = _ranked(a, 20)
    assert bars.index.tolist() == order.tolist() and len(order) == 13
    np.testing.assert_array_equal(bars.values, a[order])
    assert bars.labels[0] == f"{NAMES[order[0]]} = {x[order[0]]:.3g}"
    assert all(label.startswith(NAMES[i][:20]) for label, i in zip(bars.labels, order,
                                                                   strict=True))
    assert bars.n_hidden == 0 and bars.nonfinite == []
    absolute = feature_bars(a, x, NAMES, signed=False, vmax=1.0)
    np.testing.assert_array_equal(absolute.values, np.abs(a[order]))


def test_many_features_show_the_top_ones_and_count_the_rest():
    rng = np.random.default_rng(1)
    a = rng.normal(size=300)
    a[[7, 250]] = np.nan, -np.inf
    bars = feature_bars(a, rng.normal(size=300), None, signed=True, vmax=2.0)
    assert bars.index.tolist() == _ranked(a, 20).tolist()
    assert bars.labels[0].startswith(f"f{_ranked(a, 1)[0]} = ")  # default names f0, f1, ...
    assert bars.nonfinite == ["f7", "f250"] and bars.n_hidden == 300 - 20 - 2
    assert np.isfinite(bars.values).all()


def test_labels_without_matching_inputs_or_names():
    a = np.array([0.5, -2.0, 1.0])
    bars = feature_bars(a, np.zeros(5), ["only", "two"], signed=True, vmax=1.0)
    assert bars.labels == ["f1", "f2", "f0"]  # no values: the input does not fit
    long = feature_bars(np.ones(1), np.ones(1), ["x" * 80], signed=True, vmax=1.0)
    assert long.labels[0].endswith("… = 1") and len(long.labels[0]) < 40


def test_signed_colours_tell_positive_from_negative():
    bars = feature_bars(np.array([3.0, -3.0, 0.0]), None, None, signed=True, vmax=3.0)
    red, blue, zero = (bars.colours[bars.index.tolist().index(i)].astype(int) for i in (0, 1, 2))
    assert red[0] > red[2] + 50 and blue[2] > blue[0] + 50  # dark red vs dark blue
    assert abs(int(zero[0]) - int(zero[2])) < 5  # zero is neutral (white-grey)


def test_bar_thumbnails_keep_strong_features_and_nonfinite_visible():
    v = np.zeros(1000)
    v[500], v[999] = 5.0, np.nan
    img = cm.bars(v, signed=True, vmax=5.0, size=50)
    column = 500 * 50 // 1000
    assert (img[0:25, column] != 250).all(axis=-1).all()  # the spike fills its half
    assert (img[:, 49] == cm.NONFINITE_RGB).all()
    few = cm.bars(np.array([1.0, 1.0]), signed=False, vmax=1.0, size=40, rgb=(9, 9, 9))
    assert (few[30, 0:19] <= 9).all() and (few[30, 19] == 250).all()  # a gap between bars


# -- the sample detail --------------------------------------------------------------------

def _run_data(attributions: np.ndarray):
    from widgets.attribution.data import AttributionData

    n = len(attributions)
    arrays = {"sample_index": np.arange(n), "label": np.zeros(n, int),
              "prediction": np.zeros(n, int), "confidence": np.ones(n),
              "target": np.zeros(n, int)}
    return AttributionData("attr-1", "integrated_gradients", "mlp", "wine", "test", True,
                           {}, {}, attributions.astype(np.float32), arrays)


def _bar_items(detail) -> list:
    return [i for i in detail.feature_bars.plot.getPlotItem().items
            if isinstance(i, pg.BarGraphItem)]


def _tick_labels(detail) -> list[str]:
    return [t for _, t in detail.feature_bars.plot.getAxis("left")._tickLevels[0]]


@pytest.fixture
def detail(qtbot):
    from widgets.attribution.qt_panels import QtSampleDetail

    w = QtSampleDetail()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    return w


def test_detail_charts_vector_samples_with_names_and_nonfinite(detail):
    from widgets.attribution.qt_panels import DisplayOptions

    rng = np.random.default_rng(2)
    attr = rng.normal(size=(2, 13))
    attr[1, [3, 5]] = np.nan, np.inf
    x = rng.normal(size=(2, 13)).astype(np.float32)
    data = _run_data(attr)
    detail.show_sample(data, 1, x[1], DisplayOptions(), (-3.0, 3.0), ["a"], NAMES)
    assert detail.feature_bars.isVisibleTo(detail) and not detail.image_panes.isVisibleTo(detail)
    order = _ranked(attr[1].astype(np.float32), 20)
    assert _tick_labels(detail) == [f"{NAMES[i]} = {x[1, i]:.3g}" for i in order]
    (bars,) = _bar_items(detail)
    np.testing.assert_allclose(bars.opts["width"], attr[1, order], rtol=1e-6)
    note = detail.feature_bars.note.text()
    assert "2 features" in note and "ash" in note and "total_phenols" in note
    # every attribution non-finite: nothing to draw, and no crash
    detail.show_sample(_run_data(np.full((1, 13), np.nan)), 0, x[0], DisplayOptions(),
                       (-3.0, 3.0), ["a"], None)
    assert _bar_items(detail) == [] and "13 features" in detail.feature_bars.note.text()


def test_detail_switches_between_vector_and_image_layouts(qtbot, detail):
    from widgets.attribution.qt_panels import DisplayOptions

    detail.show()
    vector = _run_data(np.arange(1.0, 14.0)[None])
    detail.show_sample(vector, 0, np.ones(13, np.float32), DisplayOptions(), (0.0, 1.0),
                       ["zero"], NAMES)
    # vectors: the curves sit beside the feature chart, not under it
    qtbot.waitUntil(lambda: detail.curves.width() < detail.width() / 2)
    attr = np.random.default_rng(3).normal(size=(1, 1, 8, 8))
    detail.show_sample(_run_data(attr), 0, np.zeros((1, 8, 8), np.float32), DisplayOptions(),
                       (0.0, 1.0), ["zero"], None)
    assert detail.image_panes.isVisibleTo(detail)
    assert not detail.feature_bars.isVisibleTo(detail)
    assert detail.input_label.pixmap().width() == 224  # 8 px upscaled by whole pixels
    assert detail.overlay_label.pixmap().width() == 224
    qtbot.waitUntil(lambda: detail.curves.width() > detail.width() * 0.9)  # full width again


# -- the whole view on a tabular workspace --------------------------------------------------

@pytest.fixture
def tabular_ws(tmp_path):
    from visualizer.samples import clear_cache
    from visualizer.workspace.runfile import RunFileWriter
    from visualizer.workspace.workspace import Workspace

    rng = np.random.default_rng(4)
    x = rng.normal(size=(10, 13)).astype(np.float32)
    y = np.arange(10) % 3
    np.savez(tmp_path / "wine.npz", x=x, y=y, class_names=["a", "b", "c"],
             feature_names=np.array(NAMES))
    ws = Workspace.create(tmp_path / "ws")
    ws.import_dataset(tmp_path / "wine.npz", "wine")
    ids = np.array([2, 5, 7])
    weights = rng.normal(size=13).astype(np.float32)
    attributions = x[ids] * weights  # a linear model's IG with a zero baseline
    params = {"model": "mlp", "dataset": "wine", "split": "test", "method": "saliency",
              "signed": True}
    with ws.new_run("attribution", model="mlp", dataset="wine", params=params,
                    provenance={}) as new_run, \
            RunFileWriter(new_run.path, "attribution") as writer:
        writer.put("attributions", attributions)
        writer.put("sample_index", ids)
        for key in ("label", "prediction", "target"):
            writer.put(key, y[ids])
        writer.put("confidence", np.full(3, 0.9, np.float32))
        new_run.metrics = {"n_samples": 3}
        writer.publish()
    clear_cache()
    yield ws, x, new_run.id
    clear_cache()


def test_view_labels_the_detail_with_the_datasets_feature_names(qtbot, tabular_ws, tmp_path):
    from visualizer.session import Session
    from widgets.attribution.qt_attribution_view import QtAttributionView
    from widgets.attribution.render import render
    from widgets.qt_job_runner import QtJobRunner

    ws, x, run_id = tabular_ws
    session = Session()
    session.open_workspace(ws.root)
    runner = QtJobRunner(session.jobs)
    view = QtAttributionView(session, runner)
    qtbot.addWidget(view)
    try:
        view.show_run(run_id)  # the dataset is not in memory yet: read in a job
        qtbot.waitUntil(lambda: view.data is not None and view.data.run_id == run_id,
                        timeout=30000)
        view.show_detail(5)
        with ws.run(run_id).arrays() as a:
            stored = a["attributions"][1]  # row of sample 5
        order = _ranked(stored, 20)
        assert _tick_labels(view.detail) == [f"{NAMES[i]} = {x[5, i]:.3g}" for i in order]
        assert view.gallery.model().rowCount() == 3
    finally:
        runner.shutdown(wait=True)
    png = render(ws, out=tmp_path / "detail.png", options={"tab": "detail", "sample": "7"})
    assert png.stat().st_size > 5000
