"""The Attribution view with pytest-qt: jobs from the GUI, linked selection, export."""

import numpy as np
import pytest


@pytest.fixture
def view(qtbot, demo_ws):
    from visualizer.session import Session
    from widgets.attribution.qt_attribution_view import QtAttributionView
    from widgets.qt_job_runner import QtJobRunner

    session = Session()
    session.open_workspace(demo_ws.root)
    runner = QtJobRunner(session.jobs)
    v = QtAttributionView(session, runner)
    qtbot.addWidget(v)
    v.resize(1300, 850)
    yield v
    runner.shutdown(wait=True)


def pick(view, method_id, limit):
    view.method_combo.setCurrentIndex(view.method_combo.findData(f"attribution.{method_id}"))
    view.limit_spin.setValue(limit)


def test_run_from_the_gui_shows_maps_detail_and_grid(qtbot, view):
    pick(view, "saliency", 8)
    assert "abs" in view._param_widgets  # the form is built from the declared parameters
    with qtbot.waitSignal(view.runner.job_finished, timeout=60000) as blocker:
        job = view.start()
    assert blocker.args[0] is job and job.state.value == "done"
    assert view.data is not None and view.data.run_id == job.result
    assert view.gallery.model().rowCount() == 8
    # the Samples box takes a seeded stratified sample, so ids are not 0..7
    ids = [int(i) for i in view.data.sample_index]
    # selection -> view: the detail follows the hovered sample
    view.session.selection.hovered_sample = ids[5]
    assert view.detail.title.text().startswith(f"Sample {ids[5]}")
    # view -> selection: clicking a thumbnail sets the hovered sample
    index = view.gallery.model().index(2, 0)
    view.gallery.clicked.emit(index)
    assert view.session.selection.hovered_sample == int(view.data.sample_index[2])
    # brushing elsewhere filters the gallery
    view.session.selection.sample_ids = (ids[1], ids[3])
    view.only_selected.setChecked(True)
    assert list(view.gallery.sample_ids) == [ids[1], ids[3]]
    view.only_selected.setChecked(False)
    assert view.checked_runs()[0] == job.result
    assert view.grid.columns and view.grid.sample_ids


def test_cancel_from_the_gui(qtbot, view):
    pick(view, "integrated_gradients", 360)
    view._param_widgets["n_steps"].setValue(400)
    with qtbot.waitSignal(view.runner.job_finished, timeout=60000):
        job = view.start()
        view.cancel()
    assert job.state.value == "cancelled"
    runs = view.session.workspace.runs(kind="attribution")
    assert not [r for r in runs if r.params.get("n_steps") == 400 and r.status == "complete"]


def test_sanity_check_from_the_gui(qtbot, view):
    pick(view, "saliency", 4)
    with qtbot.waitSignal(view.runner.job_finished, timeout=60000):
        view.start()
    with qtbot.waitSignal(view.runner.job_finished, timeout=60000) as blocker:
        view.start_sanity()
    assert blocker.args[0].state.value == "done"
    assert view.tabs.currentWidget() is view.sanity_plot
    assert "sanity check" in view.sanity_plot.verdict.text() or "passes" in \
        view.sanity_plot.verdict.text()


def test_render_png_and_svg(demo_ws, tmp_path):
    from widgets.attribution.render import render

    demo_ws.attribute("cnn", "digits", "layer_gradcam", limit=6, device="cpu")
    png = render(demo_ws, out=tmp_path / "g.png", options={})
    svg = render(demo_ws, out=tmp_path / "d.svg", options={"tab": "detail", "sample": "2"})
    grid = render(demo_ws, out=tmp_path / "c.png", options={"tab": "compare"})
    assert png.stat().st_size > 5000 and grid.stat().st_size > 5000
    assert "<svg" in svg.read_text()[:2000]


def test_nonfinite_maps_render_in_their_own_colour():
    from widgets.attribution import colormaps as cm

    attr = np.zeros((1, 8, 8), dtype=np.float32)
    attr[0, 0, 0], attr[0, 1, 1] = np.nan, np.inf
    attr[0, 2, 2] = 1.0
    out = cm.overlay(np.zeros((1, 8, 8)), attr, signed=True, vmax=1.0, opacity=0.5, scale=4)
    assert out.shape == (32, 32, 3)
    assert (out[0, 0] == cm.NONFINITE_RGB).all() and (out[5, 5] == cm.NONFINITE_RGB).all()
    assert (out[0:4, 0:4] == out[0, 0]).all()  # whole-pixel upscaling, no smoothing
    bars = cm.bars(np.array([1.0, -0.5, np.nan]), signed=True, vmax=1.0, size=30)
    assert bars.shape == (30, 30, 3)


def test_large_runs_load_in_a_job_not_on_the_gui_thread(qtbot, view, monkeypatch):
    import widgets.attribution.data as data

    pick(view, "saliency", 6)
    with qtbot.waitSignal(view.runner.job_finished, timeout=60000):
        job = view.start()
    monkeypatch.setattr(data, "SYNC_LOAD_BYTES", 0)  # every run counts as large now
    view.data = None
    with qtbot.waitSignal(view.runner.job_finished, timeout=60000) as blocker:
        view.show_run(job.result)
    assert view.data is None or blocker.args[0].name.startswith("Read attribution run")
    qtbot.waitUntil(lambda: view.data is not None and view.data.run_id == job.result)
    assert view.gallery.model().rowCount() == 6


def test_a_replaced_job_does_not_touch_the_controls(qtbot, view):
    told = []
    original = view.controls.show_finished
    view.controls.show_finished = lambda state: (told.append(state.value), original(state))
    pick(view, "integrated_gradients", 360)
    view._param_widgets["n_steps"].setValue(400)
    first = view.start()
    pick(view, "saliency", 4)
    with qtbot.waitSignal(view.runner.job_finished, timeout=60000,
                          check_params_cb=lambda j: j is not first):
        second = view.start()
    assert first.wait(30) and first.state.value == "cancelled"
    qtbot.wait(200)  # let the first job's late signals arrive
    assert second.state.value == "done"
    assert view.data.run_id == second.result
    assert told == ["done"]  # the replaced job's "cancelled" never reached the controls
