"""The Pruning tab on a real pruned workspace: series and the dense line, clicks and the
shared selection, live catalog changes, layer bars, costs, live curves, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from tests.widgets.pruning.conftest import FINETUNED, SWEEP_METHODS, SWEEP_SPARSITIES

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.fixture
def make_view(qtbot, pruning_session, recording_runner):
    from widgets.pruning.qt_pruning_view import QtPruningView

    def make(session=pruning_session, runner=recording_runner):
        view = QtPruningView(session, runner)
        qtbot.addWidget(view)
        view.resize(1400, 900)
        view.show()
        qtbot.waitExposed(view)
        return view

    return make


def _lineage(ws, model):
    return ws.catalog.model(model).info["lineage"]


def test_one_series_per_method_and_schedule_with_the_dense_line(make_view, pruning_ws):
    view = make_view()
    assert view.controls.dense == "cnn"
    assert view.stack.currentWidget() is view.body
    series = view.accuracy_plot.series()
    assert set(series) == {f"{m} · oneshot" for m in SWEEP_METHODS} | {"magnitude · finetune"}
    for method in SWEEP_METHODS:
        x, y = series[f"{method} · oneshot"]
        assert len(x) == len(SWEEP_SPARSITIES)
        for model, xi, yi in zip((f"cnn-{method}-50", f"cnn-{method}-90"), x, y,
                                 strict=True):
            info = _lineage(pruning_ws, model)
            assert xi == pytest.approx(100 * info["sparsity"])
            assert yi == pytest.approx(100 * info["accuracy"])
    parent_accuracy = _lineage(pruning_ws, FINETUNED)["parent_accuracy"]
    assert view.accuracy_plot.dense_line.isVisible()
    assert view.accuracy_plot.dense_line.value() == pytest.approx(100 * parent_accuracy)
    assert parent_accuracy == pytest.approx(
        pruning_ws.catalog.model("cnn").info["test_accuracy"], abs=1e-6)
    assert "98" in view.title.text() or "%" in view.title.text()
    assert view.current == FINETUNED  # sparsest, best of those: a first look


def test_clicking_a_point_selects_it_for_every_view(qtbot, make_view, pruning_session):
    view = make_view()
    plot = view.accuracy_plot
    view._on_accuracy_plot_point_clicked("cnn-snip-50")  # the slot a point's click calls
    assert pruning_session.selection.models == ("cnn", "cnn-snip-50")
    assert view.current == plot.current == "cnn-snip-50"
    ring_x, ring_y = plot.ring.getData()
    assert ring_x[0] == pytest.approx(100 * view.points["cnn-snip-50"].sparsity)

    # and a real mouse click on the point of random at 90%
    p = view.points["cnn-random-90"]
    scene = plot.item.vb.mapViewToScene(QPointF(100 * p.sparsity, 100 * p.accuracy))
    pos = plot.mapFromScene(scene)
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))
    qtbot.waitUntil(lambda: view.current == "cnn-random-90", timeout=3000)
    assert pruning_session.selection.models == ("cnn", "cnn-random-90")

    # another view choosing a model moves this one
    pruning_session.selection.models = ("cnn", "cnn-magnitude-50")
    assert view.current == "cnn-magnitude-50"
    assert "magnitude" in plot._tip(0, 0, "cnn-magnitude-50")


def test_the_current_model_goes_to_the_embedded_panels(make_view):
    view = make_view()
    calls = []

    class Panel:
        def set_models(self, dense, pruned):
            calls.append((dense, pruned))

    view.cka_panel = view.forgotten_panel = Panel()
    view.select_model("cnn-snip-90")
    assert calls == [("cnn", "cnn-snip-90")] * 2


def test_a_model_pruned_after_the_view_opened_appears(make_view, pruning_ws,
                                                     pruning_session, monkeypatch):
    from visualizer.analysis.pruning import derived, results
    from visualizer.workspace.catalog import CatalogChange, RunChange

    view = make_view()
    plot = view.accuracy_plot
    others = {s: c for s, c in plot.curves.items() if s != "magnitude · oneshot"}
    reads = []
    real = results.pruned_points
    monkeypatch.setattr(results, "pruned_points", lambda *a, **k: reads.append(1) or real(*a, **k))
    # a run that changes and no model: nothing is re-read
    pruning_session.catalog_changed.emit(CatalogChange(
        runs={"x": RunChange("updated", "activations", "complete")}))
    assert reads == []

    run = pruning_ws.prune("cnn", "digits", "magnitude", 0.7)
    name = run.params["model"]
    try:
        assert name not in view.points
        pruning_session.check_catalog()
        # one catalog query per widget that lists the points: the accuracy plot and the
        # forgotten samples' counts table
        assert len(reads) == 2
        assert name in view.points
        x, _ = plot.series()["magnitude · oneshot"]
        assert len(x) == 3 and x[1] == pytest.approx(100 * view.points[name].sparsity)
        assert all(plot.curves[s] is c for s, c in others.items())  # the rest untouched
        assert "8 pruned models" in view.title.text()
    finally:
        derived.remove(pruning_ws, name)
    pruning_session.check_catalog()
    assert name not in view.points
    assert len(plot.series()["magnitude · oneshot"][0]) == 2


def test_layer_bars_match_the_lineage_and_compare_methods_at_one_sparsity(make_view,
                                                                         pruning_ws):
    view = make_view()
    view.select_model("cnn-magnitude-90")
    bars = view.layer_plot
    peers = {m for m, p in view.points.items() if p.target_sparsity == 0.9}
    assert set(bars.values) == peers == {"cnn-magnitude-90", "cnn-random-90", "cnn-snip-90",
                                         FINETUNED}
    for model in peers:
        assert bars.values[model] == pytest.approx(_lineage(pruning_ws, model)["layer_sparsity"])
    assert bars.layers == list(_lineage(pruning_ws, "cnn-magnitude-90")["layer_sparsity"])
    drawn = [item for item in bars.plot.items if type(item).__name__ == "BarGraphItem"]
    assert len(drawn) == len(peers)
    first = drawn[0].opts["width"]  # the current model's bars come first
    expected = [100 * v for v in _lineage(pruning_ws, "cnn-magnitude-90")["layer_sparsity"]
                .values()]
    np.testing.assert_allclose(first, expected)


def test_cost_table_compares_with_the_dense_model(make_view, pruning_ws):
    view = make_view()
    view.select_model(FINETUNED)
    rows = {r[0]: r[1:] for r in view.cost_table.texts()}
    cost = _lineage(pruning_ws, FINETUNED)["cost"]
    ratio = cost["nonzero_params"] / cost["parent"]["nonzero_params"]
    assert rows["Non-zero parameters"][2] == f"{ratio:.3g}×"
    assert rows["Latency (ms)"] == ["—", "—", "—"]  # unstructured: no timing
    assert rows["Test accuracy"][1].endswith("%")


def test_stored_and_live_fine_tuning_curves(qtbot, make_view, pruning_ws):
    view = make_view()
    pane = view.curves
    view.select_model(FINETUNED)
    stored = _lineage(pruning_ws, FINETUNED)["curves"]
    assert pane.stack.currentWidget() is pane.plot
    assert len(pane.plot.loss_curve.getData()[0]) == len(stored["loss"])
    view.select_model("cnn-random-90")
    assert pane.stack.currentWidget() is pane.note and "one-shot" in pane.note.text()

    def partial(steps):
        return {"kind": "finetune_curves", "point": 2, "points": 6, "method": "magnitude",
                "sparsity": 0.9, "curves": {
                    "step": list(range(steps)), "epoch": [i / 10 for i in range(steps)],
                    "loss": list(np.linspace(2, 0.1, steps)),
                    "train_accuracy": list(np.linspace(0.1, 0.9, steps)),
                    "sparsity": [0.9] * steps, "eval_epoch": [1.0], "eval_accuracy": [0.8]}}

    view.controls.partial_arrived.emit(partial(10))
    view.controls.partial_arrived.emit(partial(25))  # coalesced with the one before
    qtbot.waitUntil(lambda: pane.plot.loss_curve.getData()[0] is not None
                    and len(pane.plot.loss_curve.getData()[0]) == 25, timeout=3000)
    assert "live" in pane.title.text() and "point 3 of 6" in pane.title.text()
    view.select_model("cnn-snip-90")  # a click while training keeps the live curves
    assert pane.stack.currentWidget() is pane.plot
    view.controls.sweep_finished.emit(None)
    assert pane.live is None and pane.stack.currentWidget() is pane.note


def test_invalid_sparsity_is_refused_inline_and_nothing_is_submitted(make_view,
                                                                    recording_runner):
    view = make_view()
    controls = view.controls
    recording_runner.submitted.clear()  # the embedded panels' loads
    assert controls.methods() == ("magnitude", "random", "snip")
    for text, expected in (("0.5, 1.2", "sparsity must be in [0, 1) (got 1.2)"),
                           ("0.5, ninety", "'ninety' is not a number"), ("", "no sparsity")):
        controls.sparsities_edit.setText(text)
        controls.run_button.click()
        assert controls.error.isVisible() and expected in controls.error.text()
    assert "Fix:" in controls.error.text()
    assert recording_runner.submitted == []

    controls.structured_box.setChecked(True)  # SNIP cannot remove channels
    assert not controls.method_boxes["snip"].isEnabled()
    assert controls.methods() == ("magnitude", "random")
    controls.schedule_combo.setCurrentIndex(controls.schedule_combo.findData("gradual"))
    controls.sparsities_edit.setText("50%, 0.9")
    controls.run_button.click()
    assert "applies to unstructured pruning only" in controls.error.text()
    assert recording_runner.submitted == []

    controls.structured_box.setChecked(False)
    controls.run_button.click()
    assert not controls.error.isVisible()
    (fn, request, kw), = recording_runner.submitted
    assert fn.__name__ == "sweep_job" and kw == {"process": True}
    assert request.sparsities == (0.5, 0.9) and request.schedule == "gradual"
    assert request.methods == ("magnitude", "random", "snip") and request.model == "cnn"


def test_empty_state_says_what_to_do(qtbot, tmp_path, session, recording_runner, make_view):
    from tests.widgets.conftest import make_workspace

    ws, _ = make_workspace(tmp_path / "ws", with_run=False)
    session.open_workspace(ws.root)
    view = make_view(session, recording_runner)
    assert view.stack.currentWidget() is view.empty
    assert "No pruned models of cnn yet" in view.empty.hint.text()
    assert "Run sweep" in view.empty.hint.text()


def test_the_main_window_shows_the_pruning_view(window):
    from widgets.pruning.qt_pruning_view import QtPruningView

    assert isinstance(window.views.get("pruning"), QtPruningView)
    assert "Pruning" not in window.pending_pages


def test_export_writes_the_figure_of_the_shown_models(make_view, tmp_path):
    view = make_view()
    view.select_model("cnn-snip-90")
    text = view.export_image(tmp_path / "v.svg").read_text()
    assert "outlined: cnn-snip-90" in text and "Achieved sparsity (%)" in text


def test_sparsities_are_read_as_fractions_or_percentages():
    from widgets.pruning.data import parse_sparsities, peers_of

    assert parse_sparsities("0.5, 0.9;95%  0.98") == (0.5, 0.9, 0.95, 0.98)
    with pytest.raises(ValueError, match="'x' is not a number"):
        parse_sparsities("0.5 x")

    class P:
        def __init__(self, model, target, structured=False):
            self.model, self.target_sparsity, self.structured = model, target, structured

    points = [P("a", 0.9), P("b", 0.9), P("c", 0.9, True), P("d", 0.5)]
    assert [p.model for p in peers_of(points[0], points)] == ["a", "b"]  # same mode only


def test_open_in_layers_shows_the_pruned_models_activations(qtbot, make_view, pruning_ws,
                                                            pruning_session):
    from widgets.qt_job_runner import QtJobRunner

    runner = QtJobRunner(pruning_session.jobs, notify=pruning_session.notify)
    try:
        view = make_view(runner=runner)
        view.select_model(FINETUNED)
        asked = []
        pruning_session.show_view_requested.connect(lambda name, opts: asked.append(name))
        job = view.open_in_layers()
        qtbot.waitUntil(lambda: asked == ["layers"], timeout=60000)
        assert job.state.finished
        run = pruning_ws.run(pruning_session.selection.run_id)
        assert run.kind == "activations" and run.params["model"] == FINETUNED
        # the parent's activations of the same samples are there for the Compare tab
        dense = pruning_ws.run(job.result[0])
        assert dense.params["model"] == "cnn"
        with run.arrays() as a, dense.arrays() as b:
            assert (a["sample_index"][()] == b["sample_index"][()]).all()
    finally:
        runner.shutdown(wait=True)
