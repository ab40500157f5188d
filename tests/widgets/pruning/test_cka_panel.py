"""The CKA panel on a real pruned workspace: activations made once and reused, the heat
map equal to the stored run and to the formula, the same-layer curve, a stored run shown
at once, and the hand-off of both projections to the Embedding view in the window."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("qapp")

DENSE, PRUNED = "cnn", "cnn-magnitude-90"
JOB_TIMEOUT = 120_000  # ms: two extractions and the CKA take seconds on two cores


@pytest.fixture
def panel(qtbot, pruning_session, runner):
    from widgets.pruning.qt_cka_panel import QtCkaPanel

    panel = QtCkaPanel(pruning_session, runner)
    qtbot.addWidget(panel)
    panel.resize(1200, 600)
    panel.show()
    return panel


def _tick_names(axis) -> list[str]:
    return [name for _, name in axis._tickLevels[0]]


def _activation_runs(ws) -> list:
    return ws.runs(kind="activations", status="complete")


def _linear_cka(x, y) -> float:
    """Kornblith et al.'s formula, written out here as the reference."""
    x = x.reshape(len(x), -1).astype(np.float64)
    y = y.reshape(len(y), -1).astype(np.float64)
    x, y = x - x.mean(0), y - y.mean(0)
    return float(np.linalg.norm(y.T @ x) ** 2
                 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def test_compare_representations_then_reuse(qtbot, panel, pruning_ws):
    ws = pruning_ws
    before = {r.id for r in _activation_runs(ws)}  # none, when this test runs first
    panel.set_models(DENSE, PRUNED)
    assert panel.data is None and "Compare representations" in panel.status.text()

    with qtbot.waitSignal(panel.shown, timeout=JOB_TIMEOUT):
        panel.compare_button.click()
    data = panel.data
    acts = [ws.run(data.run_a), ws.run(data.run_b)]
    assert [r.params["model"] for r in acts] == [DENSE, PRUNED]
    assert all(r.params["limit"] == 500 and r.params["seed"] == 0 for r in acts)
    assert {r.id for r in _activation_runs(ws)} - before <= {data.run_a, data.run_b}
    pair = {"model_a": DENSE, "model_b": PRUNED}
    (stored,) = ws.runs(kind="cka", status="complete", params=pair)
    assert (stored.params["run_a"], stored.params["run_b"]) == (data.run_a, data.run_b)
    with stored.arrays() as arrays:
        matrix, per_layer = arrays["matrix"][()], arrays["per_layer"][()]
    np.testing.assert_array_equal(panel.heat.image.image, matrix)
    common = [n for n in stored.params["layers_a"] if n in stored.params["layers_b"]]
    x, y = panel.curve_plot.curve.getData()
    assert len(x) == len(y) == len(common) == len(data.common)
    np.testing.assert_allclose(y, per_layer)  # the same layer in both models
    row, col = stored.params["layers_a"].index("fc1"), stored.params["layers_b"].index("fc1")
    assert y[common.index("fc1")] == pytest.approx(matrix[row, col])
    # Layer names on both axes, each at its own row or column (thinned when narrow);
    # every name once the panel is wide enough.
    axes = {"left": (panel.heat.plot.getAxis("left"), stored.params["layers_a"], 0.5),
            "bottom": (panel.heat.plot.getAxis("bottom"), stored.params["layers_b"], 0.5),
            "curve": (panel.curve_plot.getAxis("bottom"), common, 0.0)}
    for axis, names, offset in axes.values():
        assert all(names[int(pos - offset)] == name for pos, name in axis._tickLevels[0])
    panel.resize(1900, 800)
    qtbot.waitUntil(lambda: all(_tick_names(axis) == names
                                for axis, names, _ in axes.values()), timeout=5000)
    # One cell against the formula, straight from the two activation runs.
    with ws.run(data.run_a).arrays() as a, ws.run(data.run_b).arrays() as b:
        assert np.array_equal(a["sample_index"][()], b["sample_index"][()])
        want = _linear_cka(a["fc1"][()], b["relu3"][()])
    i, j = data.layers_a.index("fc1"), data.layers_b.index("relu3")
    assert matrix[i, j] == pytest.approx(want, abs=1e-5)
    assert "fc1" in panel.heat.cell_text(i, j) and f"{want:.3f}" in panel.heat.cell_text(i, j)

    # A second press reuses both activation runs and the stored CKA run.
    with qtbot.waitSignal(panel.shown, timeout=JOB_TIMEOUT):
        panel.compare_button.click()
    assert panel.data.reused and panel.data.run_id == stored.id
    assert len(_activation_runs(ws)) == len(before | {data.run_a, data.run_b})
    assert [r.id for r in ws.runs(kind="cka", params=pair)] == [stored.id]

    # Another pair and back: the stored run shows at once (read in a job), nothing new.
    panel.set_models(DENSE, "cnn-random-50")
    assert panel.data is None
    with qtbot.waitSignal(panel.shown, timeout=JOB_TIMEOUT):
        panel.set_models(DENSE, PRUNED)
    assert panel.data.run_id == stored.id

    # A CKA made elsewhere (a script, on 100 samples drawn with seed 3) shows when the
    # catalog says so, and Compare then reuses those runs: same draw, no extraction.
    other = "cnn-random-50"
    panel.set_models(DENSE, other)
    assert panel.data is None
    a = ws.extract(DENSE, "digits", limit=100, seed=3, device="cpu")
    b = ws.extract(other, "digits", limit=100, seed=3, device="cpu")
    made = ws.cka(a.id, b.id)
    with qtbot.waitSignal(panel.shown, timeout=JOB_TIMEOUT):
        panel.session.check_catalog()
    assert panel.data.run_id == made.id and panel.data.n_samples == 100
    n_acts = len(_activation_runs(ws))
    with qtbot.waitSignal(panel.shown, timeout=JOB_TIMEOUT):
        panel.compare_button.click()
    assert panel.data.run_id == made.id and panel.data.reused
    assert len(_activation_runs(ws)) == n_acts


def test_cancel_from_the_panel_or_the_jobs_panel(qtbot, panel, pruning_ws):
    from visualizer.jobs.contract import JobState

    before = {r.id for r in pruning_ws.runs()}
    for pruned, cancel in (("cnn-snip-50", panel.cancel_button.click),
                           ("cnn-snip-90", None)):  # None: job.cancel(), as the jobs panel
        panel.set_models(DENSE, pruned)
        job = panel.compare()
        assert panel.cancel_button.isEnabled() and not panel.compare_button.isEnabled()
        (cancel or job.cancel)()
        qtbot.waitUntil(lambda j=job: j.state.finished, timeout=JOB_TIMEOUT)
        qtbot.waitUntil(lambda: panel.compare_button.isEnabled(), timeout=5000)
        assert not panel.cancel_button.isEnabled() and panel.job is None
        if job.state is JobState.CANCELLED:  # else the job won the race: nothing to check
            assert panel.status.text() == "Cancelled." and panel.data is None
            assert not [r for r in pruning_ws.runs(kind="cka") if r.id not in before]


def test_embedding_hand_off_shows_both_projections_aligned(qtbot, panel, pruning_session,
                                                           pruning_ws):
    from widgets.embedding.qt_compare import RANDOM_ARROWS
    from widgets.embedding.qt_embedding_view import QtEmbeddingView
    from widgets.qt_main_window import QtMainWindow

    QtEmbeddingView.warm_up_delay_ms = None
    panel.set_models(DENSE, PRUNED)  # after the first test, its stored CKA shows
    qtbot.waitUntil(lambda: panel.job is None, timeout=JOB_TIMEOUT)
    requests = []
    pruning_session.show_view_requested.connect(lambda *args: requests.append(args))
    n_acts = len(_activation_runs(pruning_ws))
    with qtbot.waitSignal(panel.embedding_requested, timeout=JOB_TIMEOUT):
        panel.embed_button.click()
    ((view, options),) = requests
    assert view == "embedding"
    proj_a, proj_b = pruning_ws.run(options["run"]), pruning_ws.run(options["compare"])
    assert (proj_a.kind, proj_b.kind) == ("projection", "projection")
    assert (proj_a.params["model"], proj_b.params["model"]) == (DENSE, PRUNED)
    assert proj_a.params["layer"] == proj_b.params["layer"] == "relu3"  # penultimate
    source_a, source_b = (pruning_ws.run(p.params["source_run"]) for p in (proj_a, proj_b))
    with source_a.arrays() as a, source_b.arrays() as b:  # the same samples in both
        assert np.array_equal(a["sample_index"][()], b["sample_index"][()])
    if panel.data is not None:  # the CKA's activation runs, reused
        assert (source_a.id, source_b.id) == (panel.data.run_a, panel.data.run_b)
        assert len(_activation_runs(pruning_ws)) == n_acts

    window = QtMainWindow(pruning_session)
    qtbot.addWidget(window)
    try:
        embedding = window.views["embedding"]
        pruning_session.show_view_requested.emit("embedding", options)
        assert window.tabs.tabText(window.tabs.currentIndex()) == "Embedding"
        qtbot.waitUntil(lambda: embedding.layout_a is not None
                        and embedding.layout_a.run_id == proj_a.id
                        and embedding.layout_b is not None
                        and embedding.layout_b.run_id == proj_b.id, timeout=JOB_TIMEOUT)
        qtbot.waitUntil(lambda: embedding.compare.n > 0, timeout=5000)
        assert embedding.comparison.alignment.n_common == proj_a.params["n_samples"]
        heads = embedding.compare.arrow_heads
        qtbot.waitUntil(lambda: len(heads.data) == min(RANDOM_ARROWS, embedding.compare.n))
        pruning_session.selection.sample_ids = (3, 5, 8)
        qtbot.waitUntil(lambda: len(heads.data) == 3, timeout=5000)
        embedding.comparison.arrows_check.setChecked(False)
        assert len(heads.data) == 0
    finally:
        window.runner.shutdown(wait=True)
