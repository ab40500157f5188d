"""The forgotten-samples panel on a real pruned workspace: counts equal to the stored
metrics, the gallery equal to the pruning run's forgotten and gained samples, the shared
selection both ways, and Saliency on both models side by side against captum."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

from tests.widgets.pruning.conftest import FINETUNED, SWEEP_METHODS, SWEEP_SPARSITIES

pytestmark = pytest.mark.usefixtures("qapp")

DENSE, PRUNED = "cnn", "cnn-random-90"  # random pruning to 90% forgets many samples
JOB_TIMEOUT = 120_000


@pytest.fixture
def panel(qtbot, pruning_session, runner):
    from widgets.pruning.qt_forgotten_panel import QtForgottenPanel

    panel = QtForgottenPanel(pruning_session, runner)
    qtbot.addWidget(panel)
    panel.resize(1200, 600)
    panel.show()
    with qtbot.waitSignal(panel.loaded, timeout=JOB_TIMEOUT):
        panel.set_models(DENSE, PRUNED)
    return panel


def test_counts_equal_the_stored_metrics(panel, pruning_ws):
    from visualizer.analysis.pruning.derived import lineage

    counts = panel.counts()
    expected = {f"{DENSE}-{m}-{round(s * 100)}" for m in SWEEP_METHODS
                for s in SWEEP_SPARSITIES} | {FINETUNED}
    assert set(counts) == expected
    for model, (forgotten, gained) in counts.items():
        metrics = pruning_ws.run(lineage(pruning_ws.catalog.model(model))["run"]).metrics
        assert (forgotten, gained) == (metrics["forgotten"], metrics["gained"]), model
    rows = {panel.table.points[r].model: r for r in range(panel.table.rowCount())}
    assert panel.table.item(rows[PRUNED], 2).text() == str(counts[PRUNED][0])
    assert panel.table.item(rows[PRUNED], 3).text() == str(counts[PRUNED][1])
    # grouped: rows of one method are together, by sparsity
    methods = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    assert methods == sorted(methods)
    assert panel.table.selectedItems()[0].row() == rows[PRUNED]


def test_gallery_shows_exactly_the_forgotten_then_the_gained(panel, pruning_ws):
    from visualizer.analysis.pruning.results import forgotten_samples

    fs = forgotten_samples(pruning_ws, PRUNED)
    assert fs.forgotten.sum() > 10
    np.testing.assert_array_equal(panel.gallery.sample_ids, fs.sample_index[fs.forgotten])
    first = int(np.flatnonzero(fs.forgotten)[0])
    caption = panel.gallery.model().index(0).data(Qt.ItemDataRole.DisplayRole)
    assert caption == (f"dense: {fs.parent_prediction[first]} ✓\n"
                       f"pruned: {fs.prediction[first]} ✗")
    assert fs.parent_prediction[first] == fs.label[first] != fs.prediction[first]
    panel.gained_radio.setChecked(True)
    np.testing.assert_array_equal(panel.gallery.sample_ids, fs.sample_index[fs.gained])
    panel.forgotten_radio.setChecked(True)
    np.testing.assert_array_equal(panel.gallery.sample_ids, fs.sample_index[fs.forgotten])


def test_select_these_and_selection_from_elsewhere(panel, pruning_session):
    selection = pruning_session.selection
    shown = panel.gallery.sample_ids
    panel.select_button.click()
    assert selection.sample_ids == tuple(int(i) for i in np.sort(shown))
    # Another view selects two of them and one that was not forgotten: both highlight
    # here, and the shared selection keeps all three (no echo from the gallery).
    other = int(np.setdiff1d(np.arange(360), shown)[0])
    selection.sample_ids = (int(shown[1]), int(shown[4]), other)
    rows = sorted(i.row() for i in panel.gallery.selectionModel().selectedIndexes())
    assert rows == [1, 4]
    assert selection.sample_ids == (int(shown[1]), int(shown[4]), other)
    assert "2 in the selection" in panel.gallery_note.text()
    # Selecting thumbnails here is brushing: it becomes the shared selection.
    sel = panel.gallery.selectionModel()
    sel.clearSelection()
    sel.select(panel.gallery.model().index(2), QItemSelectionModel.SelectionFlag.Select)
    assert selection.sample_ids == (int(shown[2]),)


def test_attributions_side_by_side_equal_captum(qtbot, panel, pruning_session, pruning_ws):
    import torch
    from captum.attr import Saliency

    shown = panel.gallery.sample_ids
    pruning_session.selection.sample_ids = tuple(int(i) for i in shown[[0, 2, 5]])
    assert panel.method_combo.currentData() == "saliency"
    assert panel.method_combo.findData("integrated_gradients") >= 0
    with qtbot.waitSignal(panel.attributed, timeout=JOB_TIMEOUT):
        panel.attr_button.click()
    result = panel.side_by_side
    np.testing.assert_array_equal(result.sample_ids, shown[[0, 2, 5]])
    assert result.images.shape == (3, 1, 8, 8)
    for model in (DENSE, PRUNED):
        maps = result.maps[model]
        assert maps.shape == result.images.shape
        net = pruning_ws.load_model(model)
        x = torch.as_tensor(result.images, dtype=torch.float32)
        target = net(x).argmax(1)
        np.testing.assert_array_equal(result.prediction[model], target.numpy())
        want = Saliency(net).attribute(x.requires_grad_(), target=target).detach().numpy()
        np.testing.assert_allclose(maps, want, rtol=1e-4, atol=1e-6)
    # the dense model is right on each forgotten sample, the pruned one wrong
    assert (result.prediction[DENSE] == result.label).all()
    assert (result.prediction[PRUNED] != result.label).all()
    assert panel.grid.minimumHeight() >= 3 * panel.grid.cell
    assert len(panel.grid.row_images(0)) == 3


def test_unreadable_thumbnails_are_logged_and_said(qtbot, panel, monkeypatch, caplog):
    import visualizer.samples

    def broken(*args, **kwargs):
        raise OSError("the split's file is gone")

    monkeypatch.setattr(visualizer.samples, "split_samples", broken)
    with caplog.at_level("WARNING", logger="deepscope.pruning"), \
            qtbot.waitSignal(panel.loaded, timeout=JOB_TIMEOUT):
        panel.set_models(DENSE, "cnn-snip-90")
    assert panel.data.images is None
    assert panel.data.thumbnails_error == "OSError: the split's file is gone"
    assert "no thumbnails: OSError: the split's file is gone" in panel.gallery_note.text()
    assert len(panel.gallery.sample_ids) == int(panel.data.samples.forgotten.sum())
    (record,) = [r for r in caplog.records if r.name == "deepscope.pruning"]
    assert record.exc_info is not None and "cnn-snip-90" in record.getMessage()
