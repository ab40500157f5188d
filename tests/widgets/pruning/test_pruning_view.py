"""The Pruning tab on a real pruned workspace: series and the dense line, clicks and the
shared selection, live catalog changes, layer bars, costs, live curves, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from tests.widgets.pruning.conftest import FINETUNED, SWEEP_METHODS, SWEEP_SPARSITIES

pytestmark = pytest.mark.usefixtures("qapp")

JOB_TIMEOUT = 60_000  # ms


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
    n = len(view.points)
    assert view.title.text() == (f"cnn on digits · dense accuracy {100 * parent_accuracy:.2f}% "
                                 f"· {n} pruned models")
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


def test_stored_and_live_fine_tuning_curves(qtbot, make_view, pruning_ws, runner,
                                             monkeypatch):
    import threading

    from visualizer.analysis.pruning import results

    threads = []
    real = results.curves
    monkeypatch.setattr(results, "curves", lambda *a: threads.append(
        threading.current_thread()) or real(*a))
    view = make_view(runner=runner)
    pane = view.curves
    view.select_model(FINETUNED)
    assert pane.stack.currentWidget() is pane.note and pane.note.text() == "reading…"
    stored = real(pruning_ws, FINETUNED)  # from the run file (older catalogs: the lineage)
    qtbot.waitUntil(lambda: pane.stack.currentWidget() is pane.plot, timeout=JOB_TIMEOUT)
    assert len(pane.plot.loss_curve.getData()[0]) == len(stored["loss"])
    assert threads and threading.main_thread() not in threads  # read in a job, only
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


def test_a_stale_curves_read_is_dropped(qtbot, make_view, runner):
    view = make_view(runner=runner)
    pane = view.curves
    view.select_model(FINETUNED)
    job = pane.job
    assert job is not None and pane.note.text() == "reading…"
    view.select_model("cnn-snip-50")  # before the read has reported
    qtbot.waitUntil(lambda: job.state.finished, timeout=JOB_TIMEOUT)
    qtbot.wait(50)  # the bridge's report, had it not been dropped
    assert pane.stack.currentWidget() is pane.note and "one-shot" in pane.note.text()
    assert pane.title.text() == "Fine-tuning · cnn-snip-50"

    # the same while a sweep goes live: its curves stay, the stored ones are dropped
    view.select_model(FINETUNED)
    job = pane.job
    pane.add_live({"kind": "finetune_curves", "curves": {"epoch": [0.0, 1.0],
                                                         "loss": [1.0, 0.5]}})
    qtbot.waitUntil(lambda: job.state.finished, timeout=JOB_TIMEOUT)
    qtbot.waitUntil(lambda: "live" in pane.title.text(), timeout=3000)
    assert len(pane.plot.loss_curve.getData()[0]) == 2


def test_curves_are_read_in_a_job_not_on_the_gui_thread(make_view, recording_runner):
    from visualizer.analysis.pruning.compare import load_curves

    def reads():
        return [r.model for fn, r, _ in recording_runner.submitted if fn is load_curves]

    view = make_view()
    assert view.current == FINETUNED  # the first look: its curves are being read
    assert reads() == [FINETUNED] and view.curves.note.text() == "reading…"
    view.select_model(FINETUNED)  # being read already: not read again
    view._show_details()  # what a catalog change does
    assert reads() == [FINETUNED]
    view.select_model("cnn-snip-90")  # one-shot: nothing to read
    view.select_model(FINETUNED)
    assert reads() == [FINETUNED, FINETUNED]


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
                                                            pruning_session, runner):
    view = make_view(runner=runner)
    view.select_model(FINETUNED)
    asked = []
    pruning_session.show_view_requested.connect(lambda name, opts: asked.append(name))
    job = view.open_in_layers()
    qtbot.waitUntil(lambda: asked == ["layers"], timeout=JOB_TIMEOUT)
    assert job.state.finished
    run = pruning_ws.run(pruning_session.selection.run_id)
    assert run.kind == "activations" and run.params["model"] == FINETUNED
    # the parent's activations of the same samples are there for the Compare tab
    dense = pruning_ws.run(job.result[0])
    assert dense.params["model"] == "cnn"
    with run.arrays() as a, dense.arrays() as b:
        assert (a["sample_index"][()] == b["sample_index"][()]).all()


class EndingRunner:
    """Records submissions like ``recording_runner`` and reports a job's end only when
    the test says so (``end``), as ``QtJobRunner.job_finished`` does."""

    def __init__(self):
        from PySide6.QtCore import QObject, Signal

        class Signals(QObject):
            job_finished = Signal(object)

        self._signals = Signals()
        self.job_finished = self._signals.job_finished
        self.submitted = []

    def submit(self, fn, request, name=None, on_done=None, on_failed=None, **kw):
        from visualizer.jobs.contract import Job, JobState

        job = Job(name=name or "job")
        job._set_state(JobState.RUNNING)
        self.submitted.append((fn, job, on_done))
        return job

    def bridge(self, job):
        return None

    def end(self, job, state) -> None:
        job._set_state(state)
        self.job_finished.emit(job)


def test_cancel_keeps_run_disabled_until_the_sweep_has_ended(qtbot, pruning_session):
    from visualizer.jobs.contract import JobState
    from widgets.pruning.qt_sweep_controls import QtSweepControls

    runner = EndingRunner()
    controls = QtSweepControls(pruning_session, runner)
    qtbot.addWidget(controls)
    controls.fill(pruning_session.workspace)
    ended = []
    controls.sweep_finished.connect(ended.append)
    job = controls.run_sweep()
    assert job is not None and not controls.run_button.isEnabled()

    controls.cancel_button.click()
    assert job.cancel_requested and job.state is JobState.RUNNING  # the child still runs
    assert controls.status.text() == "cancelling…"
    assert not controls.run_button.isEnabled() and not controls.cancel_button.isEnabled()
    assert controls.job is job and ended == []
    controls.run_button.click()  # disabled: nothing new starts beside the old child
    assert len(runner.submitted) == 1

    runner.end(job, JobState.CANCELLED)
    assert controls.run_button.isEnabled() and controls.job is None
    assert controls.status.text() == "Cancelled: points already made are kept."
    assert ended == [job]

    # a sweep cancelled in the jobs panel ends the controls' job too
    job = controls.run_sweep()
    job.cancel()
    runner.end(job, JobState.CANCELLED)
    assert controls.run_button.isEnabled() and controls.job is None and ended[-1] is job

    # Cancel on a job that has ended but not reported yet: its end is reported at once
    job = controls.run_sweep()
    job._set_state(JobState.DONE)
    controls.cancel_button.click()
    assert controls.run_button.isEnabled() and controls.status.text() == "Sweep finished."
    runner.end(job, JobState.DONE)  # the late report changes nothing
    assert ended.count(job) == 1


def test_a_failing_plugin_manager_is_logged_and_said(qtbot, monkeypatch, caplog):
    import plugins.manager
    from widgets.pruning.qt_method_picker import QtMethodPicker

    def broken():
        raise RuntimeError("manifest <b>unreadable</b>")

    monkeypatch.setattr(plugins.manager, "get_manager", broken)
    with caplog.at_level("WARNING", logger="deepscope.pruning"):
        picker = QtMethodPicker()
    qtbot.addWidget(picker)
    assert {"magnitude", "random", "snip"} <= set(picker.boxes)  # built-ins still offered
    assert picker.problem == "RuntimeError: manifest <b>unreadable</b>"
    notes = [a.text() for a in picker.menu_.actions() if not a.isEnabled()]
    assert notes == ["Plugin methods not listed: RuntimeError: manifest <b>unreadable</b> "
                     "(see the log)"]
    assert "&lt;b&gt;unreadable" in picker.toolTip()
    (record,) = [r for r in caplog.records if r.name == "deepscope.pruning"]
    assert record.exc_info is not None and "plugin manager failed" in record.getMessage()
