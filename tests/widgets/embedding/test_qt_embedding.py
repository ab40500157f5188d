"""Embedding view: lasso against QPolygonF, density switching, linked selection, render."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QPolygonF
from PySide6.QtWidgets import QApplication


def _send(widget, kind, pos: QPoint, buttons):
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else \
        Qt.MouseButton.NoButton
    event = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button,
                        buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def drag(widget, points: list[QPoint], qtbot) -> None:
    """Press at the first point, move through the others with the button held, release.

    pyqtgraph drops mouse moves that come faster than its rate limit (as a hand never
    does), so the moves are paced.
    """
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _send(widget, QEvent.Type.MouseButtonPress, points[0], left)
    for p in points[1:]:
        qtbot.wait(25)
        _send(widget, QEvent.Type.MouseMove, p, left)
    _send(widget, QEvent.Type.MouseButtonRelease, points[-1], none)


@pytest.fixture
def scatter(qtbot):
    from widgets.embedding.colors import categorical
    from widgets.embedding.qt_scatter import QtScatterPlot

    rng = np.random.default_rng(3)
    n = 4000
    labels = rng.integers(0, 5, n)
    coords = rng.uniform(-10, 10, size=(n, 2)).astype(np.float32)
    plot = QtScatterPlot()
    qtbot.addWidget(plot)
    plot.resize(700, 600)
    plot.show()
    qtbot.waitExposed(plot)
    ids = np.arange(n) * 7 + 3  # ids are not row numbers
    plot.set_points(coords, ids, categorical("label", labels))
    return plot, coords, ids, labels


def test_lasso_selects_exactly_the_ids_inside(qtbot, scatter):
    plot, coords, ids, _ = scatter
    plot.set_mode("lasso")
    viewport = plot.viewport()
    pixels = [QPoint(150, 120), QPoint(400, 90), QPoint(560, 260), QPoint(430, 480),
              QPoint(330, 300), QPoint(180, 430), QPoint(120, 250)]
    with qtbot.waitSignal(plot.selection_made, timeout=2000) as blocker:
        drag(viewport, pixels, qtbot)
    selected, op = blocker.args
    assert op == "replace"
    # Reference: the same pixels mapped to data coordinates, tested by Qt's own polygon.
    vb = plot.getViewBox()
    poly = QPolygonF([vb.mapSceneToView(plot.mapToScene(p)) for p in pixels])
    inside = np.array([poly.containsPoint(QPointF(float(x), float(y)),
                                          Qt.FillRule.OddEvenFill) for x, y in coords])
    assert inside.sum() > 50, inside.sum()
    assert np.array_equal(np.sort(selected), np.sort(ids[inside]))


def test_box_and_hidden_classes(qtbot, scatter):
    plot, coords, ids, labels = scatter
    plot.set_hidden({0})
    got = plot.ids_in_rect(-5, -5, 5, 5)
    inside = (np.abs(coords) <= 5).all(axis=1) & (labels != 0)
    assert np.array_equal(got, np.sort(ids[inside]))
    plot.set_hidden(set())


def test_density_when_many_points_and_exact_points_zoomed_in(qtbot):
    from widgets.embedding.colors import categorical
    from widgets.embedding.qt_scatter import QtScatterPlot

    rng = np.random.default_rng(0)
    n = 30_000
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    plot = QtScatterPlot(density_threshold=10_000)
    qtbot.addWidget(plot)
    plot.resize(600, 500)
    plot.show()
    plot.set_points(coords, np.arange(n), categorical("label", rng.integers(0, 3, n)))
    assert plot.shown == "density"
    img = plot.image.image
    assert img.dtype == np.uint8 and img.flags.c_contiguous and img[..., 3].max() > 0
    plot.getViewBox().setRange(xRange=(0, 0.3), yRange=(0, 0.3), padding=0)
    plot.refresh()
    assert plot.shown == "points"
    shown = sum(len(item.data) for item in plot._items)
    expected = ((coords >= 0) & (coords <= 0.3)).all(axis=1).sum()
    assert expected <= shown < n // 10  # the view plus a margin, not all 30,000
    # A hidden class is gone from the points too.
    plot.set_hidden({0, 1, 2})
    assert sum(len(item.data) for item in plot._items) == 0


@pytest.fixture
def view(qtbot, demo_ws, session):
    from visualizer.analysis.projection.storage import projections_of
    from widgets.embedding.qt_embedding_view import QtEmbeddingView
    from widgets.qt_job_runner import QtJobRunner

    QtEmbeddingView.warm_up_delay_ms = None
    cnn = next(r for r in demo_ws.runs(kind="activations") if r.params["model"] == "cnn")
    pca = demo_ws.project(cnn.id, "relu3", "pca")
    other = demo_ws.project(cnn.id, "fc1", "pca")
    assert len(projections_of(demo_ws)) == 2
    session.workspace = demo_ws
    runner = QtJobRunner(session.jobs)
    widget = QtEmbeddingView(session, runner)
    qtbot.addWidget(widget)
    widget.resize(1300, 800)
    widget.show()
    session.workspace_changed.emit(demo_ws)
    session.selection.run_id = cnn.id
    qtbot.waitUntil(lambda: widget.layout_a is not None and widget.layout_a.run_id == pca.id,
                    timeout=10000)
    yield widget, cnn, pca, other
    runner.shutdown(wait=True)


def test_view_links_selection_gallery_colours_and_compare(qtbot, view, session, tmp_path):
    widget, cnn, pca, other = view
    assert widget.layer_combo.currentText() == "relu3"  # penultimate by default
    assert widget.scatter.n == 360
    # A brushed cluster becomes the shared selection and fills the gallery.
    chosen = np.array([5, 9, 40, 41])
    widget.scatter.selection_made.emit(chosen, "replace")
    assert session.selection.sample_ids == (5, 9, 40, 41)
    qtbot.waitUntil(lambda: widget.side.gallery.sample_ids.tolist() == [5, 9, 40, 41])
    widget.scatter.selection_made.emit(np.array([9, 100]), "add")
    assert session.selection.sample_ids == (5, 9, 40, 41, 100)
    widget.scatter.selection_made.emit(np.array([5]), "remove")
    assert session.selection.sample_ids == (9, 40, 41, 100)
    # Another view's selection shows here.
    session.selection.sample_ids = (1, 2)
    qtbot.waitUntil(lambda: widget.side.gallery.sample_ids.tolist() == [1, 2])
    assert len(widget.scatter.selection_item.data) == 2
    # Colour modes, including a per-sample metric of another run.
    for mode in ("prediction", "correct", "confidence", "model", "label"):
        widget.set_colour(mode)
        assert widget.scatter.colouring is not None
    widget.set_colour("correct")
    assert widget.scatter.colouring.names[0].startswith("correct")
    # Nearest neighbours in activation space.
    widget._request_neighbours(7)
    qtbot.waitUntil(lambda: len(widget.side.neighbours.sample_ids) == 12, timeout=5000)
    # Comparison: the fc1 projection beside relu3, aligned, with arrows for the selection.
    widget.set_compare(other.id)
    qtbot.waitUntil(lambda: widget.compare_pane.isVisible() and widget.compare.n == 360,
                    timeout=5000)
    assert widget._alignment.n_common == 360
    assert len(widget.compare.arrow_heads.data) == 2
    out = widget.export_image(tmp_path / "compare.png")
    assert out.exists() and out.stat().st_size > 1000
    svg = widget.export_image(tmp_path / "compare.svg")
    assert svg.read_text().lstrip().startswith("<?xml")


def test_project_button_reuses_stored_projection(qtbot, view):
    widget, cnn, pca, _ = view
    widget.method_combo.setCurrentIndex(widget.method_combo.findData("pca"))
    widget.project()
    assert "reused" in widget.status.text()


def test_render_png_and_svg(demo_ws, tmp_path):
    from widgets.embedding.render import render

    cnn = next(r for r in demo_ws.runs(kind="activations") if r.params["model"] == "cnn")
    png = render(demo_ws, run=cnn.id, out=tmp_path / "e.png",
                 options={"layer": "fc1", "colour": "correct"})
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = render(demo_ws, run=None, out=tmp_path / "e.svg", options={})
    text = svg.read_text()
    assert "<svg" in text and "</svg>" in text
