"""A scatter plot that stays fluid with a million points.

Points are kept sorted by colour category, so each category is one contiguous slice and
one ``ScatterPlotItem`` with one shared brush (``pxMode``, no pen, whole-array
``setData``): a handful of items, never one object per point. When more than
``density_threshold`` points are in view, a density image (``density.density_rgba``:
one ``bincount``) replaces them; zooming in brings the exact points back. Range changes
are coalesced by a short timer, and the image covers a margin around the view, so a pan
only moves pixels already drawn until the next refresh.

Lasso and box gestures, hover and clicks are answered from a sorted-by-x index
(``geometry.PointIndex``), so none of them scans all points.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from widgets.embedding.colors import Colouring, single
from widgets.embedding.density import density_rgba
from widgets.embedding.geometry import PointIndex

DENSITY_THRESHOLD = 100_000
PREVIEW_POINTS = 20_000  # intermediate layouts above this are drawn as density
MARGIN = 0.25  # the density image covers the view plus this fraction on each side
MAX_OVERLAY = 5000  # selected points drawn as rings (the rest are counted)
MODES = ("pan", "lasso", "box")


class _GestureViewBox(pg.ViewBox):
    """A ViewBox whose left drag draws a lasso or box when the owner is in that mode."""

    def __init__(self, owner: QtScatterPlot):
        super().__init__()
        self._owner = owner
        self._path: list[QPointF] = []

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - Qt/pyqtgraph override
        owner = self._owner
        if owner.mode == "pan" or ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        if ev.isStart():
            self._path = [self.mapSceneToView(ev.buttonDownScenePos())]
        self._path.append(self.mapSceneToView(ev.scenePos()))
        owner._draw_gesture(self._path)
        if ev.isFinish():
            path, self._path = self._path, []
            owner._finish_gesture(path, ev.modifiers())

    def mouseClickEvent(self, ev):  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._owner._click(self.mapSceneToView(ev.scenePos()), ev.modifiers())
            return
        super().mouseClickEvent(ev)


class QtScatterPlot(pg.PlotWidget):
    """Points coloured by category; emits what the user selects, hovers and clicks.

    Signals
    -------
    selection_made(ids, op)
        Sample ids inside a lasso or box; ``op`` is "replace", "add" (Shift) or
        "remove" (Ctrl/Alt).
    hovered(id_or_None), clicked(id)
        The sample under the mouse (within a few pixels) and a clicked sample.
    hidden_changed(set)
        Categories hidden from the legend.
    """

    selection_made = Signal(object, str)
    hovered = Signal(object)
    clicked = Signal(int)
    hidden_changed = Signal(object)
    refreshed = Signal(str)  # "points" | "density" | "empty"

    def __init__(self, parent=None, *, density_threshold: int = DENSITY_THRESHOLD,
                 legend: bool = True, background: str = "w"):
        self._vb = None
        vb = _GestureViewBox(self)
        super().__init__(parent, viewBox=vb, background=background)
        self._vb = vb
        self.density_threshold = density_threshold
        self.preview = False
        self.mode = "pan"
        self.shown = "empty"
        self.plotItem.setMenuEnabled(False)
        self.plotItem.hideButtons()
        vb.disableAutoRange()
        vb.setAspectLocked(False)
        for axis in ("left", "bottom"):
            self.plotItem.getAxis(axis).setPen(pg.mkPen("#888"))
            self.plotItem.getAxis(axis).setTextPen(pg.mkPen("#555"))
        self.n = 0
        self._xs = self._ys = np.zeros(0, np.float32)
        self._ids = np.zeros(0, np.int64)
        self._cat = np.zeros(0, np.int16)
        self._bounds: list[tuple[int, int]] = []
        self._index: PointIndex | None = None
        self._row_of_id: dict | None = None
        self._density_key = None
        self._points_key = None
        self._data_version = 0
        self.colouring: Colouring | None = None
        self.hidden: set[int] = set()
        self._items: list[pg.ScatterPlotItem] = []
        self._brushes: list = []
        self._size = 5

        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-10)
        vb.addItem(self.image)
        self.selection_item = pg.ScatterPlotItem(pxMode=True, brush=None, size=10,
                                                 pen=pg.mkPen("#111111", width=1.6))
        self.selection_item.setZValue(20)
        vb.addItem(self.selection_item)
        self.highlight_item = pg.ScatterPlotItem(pxMode=True, brush=None, size=12,
                                                 pen=pg.mkPen("#e4572e", width=2))
        self.highlight_item.setZValue(21)
        vb.addItem(self.highlight_item)
        self.hover_item = pg.ScatterPlotItem(pxMode=True, brush=None, size=14,
                                             pen=pg.mkPen("#000000", width=2.2))
        self.hover_item.setZValue(22)
        vb.addItem(self.hover_item)
        self.arrows = pg.PlotDataItem(connect="pairs", pen=pg.mkPen((40, 40, 40, 170),
                                                                    width=1.2))
        self.arrows.setZValue(19)
        vb.addItem(self.arrows)
        self.arrow_heads = pg.ScatterPlotItem(pxMode=True, size=5, pen=None,
                                              brush=pg.mkBrush(40, 40, 40, 200))
        self.arrow_heads.setZValue(19)
        vb.addItem(self.arrow_heads)
        self._gesture = QGraphicsPathItem()
        pen = QPen(QColor("#e4572e"))
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        pen.setStyle(Qt.PenStyle.DashLine)
        self._gesture.setPen(pen)
        self._gesture.setZValue(30)
        vb.addItem(self._gesture, ignoreBounds=True)

        self.legend = None
        if legend:
            self.legend = pg.LegendItem(offset=(-8, 8), labelTextColor="#222",
                                        brush=pg.mkBrush(255, 255, 255, 215),
                                        pen=pg.mkPen("#ccc"), labelTextSize="8pt")
            self.legend.setParentItem(vb)
            self.legend.sigSampleClicked.connect(self._on_legend_sample_clicked)
        self._legend_proxies: list[pg.ScatterPlotItem] = []

        self._selected_rows = np.zeros(0, np.int64)
        self._highlight_rows = np.zeros(0, np.int64)
        self._refresh_timer = QTimer(self, singleShot=True, interval=30)
        self._refresh_timer.timeout.connect(self.refresh)
        vb.sigRangeChanged.connect(lambda *_: self._refresh_timer.start())
        vb.sigResized.connect(lambda *_: self._refresh_timer.start())
        self._hover_pos: QPointF | None = None
        self._hover_timer = QTimer(self, singleShot=True, interval=25)
        self._hover_timer.timeout.connect(self._update_hover)
        self.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.hovered_id: int | None = None
        self.user_moved = False
        vb.sigRangeChangedManually.connect(lambda *_: setattr(self, "user_moved", True))

    # -- data -------------------------------------------------------------------------
    def set_points(self, coords: np.ndarray, ids: np.ndarray,
                   colouring: Colouring | None = None, *, fit: bool = True,
                   preview: bool = False) -> None:
        """Show ``coords`` ((N, 2)) for sample ``ids``; ``fit`` frames them.

        ``preview`` marks an intermediate layout (UMAP epochs streaming in): above
        ``PREVIEW_POINTS`` it is drawn as a density image, because handing pyqtgraph new
        exact points costs about 3 ms per 1,000 on the GUI thread, several times a second.
        """
        self.preview = preview
        coords = np.asarray(coords, dtype=np.float32)
        ok = np.isfinite(coords).all(axis=1)
        self._raw_ok = ok
        self._raw_coords = coords
        self._raw_ids = np.asarray(ids, dtype=np.int64)
        self.n = int(ok.sum())
        self.set_colouring(colouring or single("all", len(coords), "samples"), _fit=fit)

    def set_colouring(self, colouring: Colouring, *, _fit: bool = False) -> None:
        """Recolour (and re-sort by category) without moving the view."""
        if len(colouring.cat) != len(self._raw_coords):
            raise ValueError("colouring and points differ in length")
        if self.colouring is None or colouring.names != self.colouring.names:
            self.hidden = set()
        self.colouring = colouring
        ok = self._raw_ok
        cat = colouring.cat[ok]
        order = np.argsort(cat, kind="stable")
        coords = self._raw_coords[ok][order]
        self._xs = np.ascontiguousarray(coords[:, 0])
        self._ys = np.ascontiguousarray(coords[:, 1])
        self._ids = self._raw_ids[ok][order]
        self._cat = cat[order]
        k = len(colouring.names)
        edges = np.searchsorted(self._cat, np.arange(k + 1))
        self._bounds = [(int(edges[i]), int(edges[i + 1])) for i in range(k)]
        self._index = None
        self._row_of_id = None
        self._data_version += 1
        self._build_items(colouring)
        self._build_legend(colouring)
        self._restore_marks()
        if _fit:
            self.fit_view()
        self.refresh()

    def _build_items(self, colouring: Colouring) -> None:
        for item in self._items:
            self._vb.removeItem(item)
        self._brushes = [pg.mkBrush(*map(int, c)) for c in colouring.colors]
        self._items = []
        for k, brush in enumerate(self._brushes):
            # Antialiasing smooths a few big dots; for many 3-px dots it only costs time.
            item = pg.ScatterPlotItem(pxMode=True, pen=None, brush=brush, size=self._size,
                                      antialias=self.n <= PREVIEW_POINTS)
            item.setZValue(k)
            self._vb.addItem(item)
            self._items.append(item)

    def _build_legend(self, colouring: Colouring) -> None:
        if self.legend is None:
            return
        self.legend.clear()
        self._legend_proxies = []
        counts = [b - a for a, b in self._bounds]
        for k, name in enumerate(colouring.names):
            if counts[k] == 0 and not colouring.continuous:
                continue  # classes absent from this split stay out of the legend
            proxy = pg.ScatterPlotItem(pen=None, brush=self._brushes[k], size=9)
            proxy.category = k
            proxy.setVisible(k not in self.hidden)
            self._legend_proxies.append(proxy)
            self.legend.addItem(proxy, name)

    def fit_view(self) -> None:
        if not self.n:
            return
        x0, x1 = np.percentile(self._xs, [0.1, 99.9]) if self.n > 1000 else (
            self._xs.min(), self._xs.max())
        y0, y1 = np.percentile(self._ys, [0.1, 99.9]) if self.n > 1000 else (
            self._ys.min(), self._ys.max())
        if self.legend is not None:  # room on the right so the legend hides no points
            x1 = x1 + (x1 - x0) * 0.18
        self._vb.setRange(xRange=(float(x0), float(x1)), yRange=(float(y0), float(y1)),
                          padding=0.06)
        self.user_moved = False

    # -- drawing ----------------------------------------------------------------------
    def visible_categories(self) -> np.ndarray:
        vis = np.ones(len(self._bounds), bool)
        for k in self.hidden:
            if k < len(vis):
                vis[k] = False
        return vis

    def refresh(self) -> None:
        """Points or density for the current view (called after range changes)."""
        self._refresh_timer.stop()
        if not self.n:
            for item in self._items:
                item.setData([], [])
            self.image.clear()
            self.shown = "empty"
            self.refreshed.emit(self.shown)
            return
        (x0, x1), (y0, y1) = self._vb.viewRange()
        vis = self.visible_categories()
        xs, ys = self._xs, self._ys
        in_view = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
        cum = np.concatenate([[0], np.cumsum(in_view, dtype=np.int64)])
        counts = [int(cum[b] - cum[a]) for a, b in self._bounds]
        total = sum(c for c, v in zip(counts, vis, strict=True) if v)
        if total > self.density_threshold or (self.preview and self.n > PREVIEW_POINTS):
            if not self._density_covers(x0, x1, y0, y1, vis):
                self._show_density(x0, x1, y0, y1, vis)
        else:
            self._show_points(in_view, vis, total)
        self._draw_overlay(x0, x1, y0, y1)
        self.refreshed.emit(self.shown)

    def _density_covers(self, x0, x1, y0, y1, vis: np.ndarray) -> bool:
        """Whether the density image drawn last still serves this view: same zoom (within
        10 %), same colours, and the view inside the drawn margin (a pan)."""
        key = self._density_key
        if key is None or self.shown != "density" or key[1] != tuple(vis) \
                or key[2] != self._data_version:
            return False
        rx0, ry0, rw, rh = key[0]
        view_w, view_h = x1 - x0, y1 - y0
        same_zoom = (abs(view_w * (1 + 2 * MARGIN) / rw - 1) < 0.1
                     and abs(view_h * (1 + 2 * MARGIN) / rh - 1) < 0.1)
        inside = x0 >= rx0 and x1 <= rx0 + rw and y0 >= ry0 and y1 <= ry0 + rh
        return same_zoom and inside

    def _show_points(self, in_view: np.ndarray, vis: np.ndarray, total: int) -> None:
        """Exact points. All of them when they are few (pans then cost only painting);
        else those in the view plus a margin, kept while a pan stays inside it."""
        self._density_key = None
        size = 7 if total < 2000 else 5 if total < 20000 else 3
        self.image.setVisible(False)
        (x0, x1), (y0, y1) = self._vb.viewRange()
        n_shown = sum(b - a for k, (a, b) in enumerate(self._bounds) if vis[k])
        if n_shown <= self.density_threshold:
            key = ("all", self._data_version, tuple(vis), size)
            if key != self._points_key:
                for k, item in enumerate(self._items):
                    a, b = self._bounds[k]
                    if not vis[k] or a == b:
                        item.setData([], [])
                    else:
                        item.setData(x=self._xs[a:b], y=self._ys[a:b], size=size)
        else:
            rect = self._points_key[4] if self._points_key and self._points_key[0] == "part" \
                else None
            key0 = ("part", self._data_version, tuple(vis), size)
            if (rect is not None and self._points_key[:4] == key0 and x0 >= rect[0]
                    and x1 <= rect[1] and y0 >= rect[2] and y1 <= rect[3]
                    and abs((x1 - x0) * (1 + 2 * MARGIN) / (rect[1] - rect[0]) - 1) < 0.1):
                self.shown = "points"
                return
            mx, my = (x1 - x0) * MARGIN, (y1 - y0) * MARGIN
            rect = (x0 - mx, x1 + mx, y0 - my, y1 + my)
            xs, ys = self._xs, self._ys
            near = (xs >= rect[0]) & (xs <= rect[1]) & (ys >= rect[2]) & (ys <= rect[3])
            for k, item in enumerate(self._items):
                a, b = self._bounds[k]
                if not vis[k] or a == b:
                    item.setData([], [])
                    continue
                m = near[a:b]
                item.setData(x=xs[a:b][m], y=ys[a:b][m], size=size)
            key = (*key0, rect)
        self._points_key = key
        self._size = size
        self.shown = "points"

    def _show_density(self, x0, x1, y0, y1, vis: np.ndarray) -> None:
        self._points_key = None
        for item in self._items:
            item.setData([], [])
        w_px = max(1, int(self._vb.width()))
        h_px = max(1, int(self._vb.height()))
        mx, my = (x1 - x0) * MARGIN, (y1 - y0) * MARGIN
        rect = (x0 - mx, y0 - my, (x1 - x0) + 2 * mx, (y1 - y0) + 2 * my)
        scale = (1 + 2 * MARGIN) / 2.0  # one bin per 2x2 screen pixels
        shape = (min(1600, max(8, int(h_px * scale))), min(1600, max(8, int(w_px * scale))))
        img = density_rgba(self._xs, self._ys, self._bounds, self.colouring.colors, rect,
                           shape, vis)
        self.image.setImage(img, levels=(0, 255), autoLevels=False)
        self.image.setRect(QRectF(*rect))
        self.image.setVisible(True)
        self._density_key = (rect, tuple(vis), self._data_version)
        self.shown = "density"

    # -- selection, highlight, arrows --------------------------------------------------
    def rows_of(self, ids) -> np.ndarray:
        if self._row_of_id is None:
            order = np.argsort(self._ids, kind="stable")
            self._row_of_id = (self._ids[order], order)
        sorted_ids, order = self._row_of_id
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.clip(np.searchsorted(sorted_ids, ids), 0, max(len(sorted_ids) - 1, 0))
        if not len(sorted_ids):
            return np.zeros(0, np.int64)
        hit = sorted_ids[pos] == ids
        return order[pos[hit]]

    def coords_of(self, ids) -> np.ndarray:
        rows = self.rows_of(ids)
        return np.column_stack([self._xs[rows], self._ys[rows]])

    def set_selected(self, ids) -> None:
        self._selected_ids = np.asarray(ids, dtype=np.int64)
        self._selected_rows = self.rows_of(ids)
        self._draw_overlay(*self._view())

    def set_highlight(self, ids) -> None:
        self._highlight_ids = np.asarray(ids, dtype=np.int64)
        self._highlight_rows = self.rows_of(ids)
        self._draw_overlay(*self._view())

    def _restore_marks(self) -> None:
        if getattr(self, "_selected_ids", None) is not None:
            self._selected_rows = self.rows_of(self._selected_ids)
        if getattr(self, "_highlight_ids", None) is not None:
            self._highlight_rows = self.rows_of(self._highlight_ids)
        self.hover_item.setData([], [])

    def set_arrows(self, start: np.ndarray, end: np.ndarray) -> None:
        """Line segments from ``start`` to ``end`` ((M, 2) each) with a dot at the end."""
        if not len(start):
            self.arrows.setData([], [])
            self.arrow_heads.setData([], [])
            return
        pts = np.empty((2 * len(start), 2), np.float32)
        pts[0::2], pts[1::2] = start, end
        self.arrows.setData(pts[:, 0], pts[:, 1])
        self.arrow_heads.setData(end[:, 0], end[:, 1])

    def _view(self):
        (x0, x1), (y0, y1) = self._vb.viewRange()
        return x0, x1, y0, y1

    def _draw_overlay(self, x0, x1, y0, y1) -> None:
        for rows, item in ((self._selected_rows, self.selection_item),
                           (self._highlight_rows, self.highlight_item)):
            if not len(rows):
                item.setData([], [])
                continue
            xs, ys = self._xs[rows], self._ys[rows]
            m = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
            m &= self.visible_categories()[self._cat[rows]]
            xs, ys = xs[m], ys[m]
            if len(xs) > MAX_OVERLAY:  # rings on a fixed sample: the count is in the panel
                keep = np.random.default_rng(0).choice(len(xs), MAX_OVERLAY, replace=False)
                xs, ys = xs[keep], ys[keep]
            item.setData(xs, ys)

    # -- gestures -----------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        self._vb.setMouseEnabled(True, True)

    def index(self) -> PointIndex:
        if self._index is None:
            self._index = PointIndex(self._xs, self._ys)
        return self._index

    def _allowed_rows(self) -> np.ndarray | None:
        if not self.hidden:
            return None
        return self.visible_categories()[self._cat]

    def ids_in_polygon(self, polygon: np.ndarray) -> np.ndarray:
        """Sample ids of shown points inside ``polygon`` ((M, 2) data coordinates)."""
        rows = self.index().in_polygon(np.asarray(polygon, dtype=np.float64))
        allowed = self._allowed_rows()
        if allowed is not None:
            rows = rows[allowed[rows]]
        return np.sort(self._ids[rows])

    def ids_in_rect(self, x0, y0, x1, y1) -> np.ndarray:
        rows = self.index().in_rect(x0, y0, x1, y1)
        allowed = self._allowed_rows()
        if allowed is not None:
            rows = rows[allowed[rows]]
        return np.sort(self._ids[rows])

    def _draw_gesture(self, points: list[QPointF]) -> None:
        path = QPainterPath()
        if self.mode == "box" and len(points) >= 2:
            path.addRect(QRectF(points[0], points[-1]).normalized())
        elif points:
            path.moveTo(points[0])
            for p in points[1:]:
                path.lineTo(p)
            path.closeSubpath()
        self._gesture.setPath(path)

    def _finish_gesture(self, points: list[QPointF], modifiers) -> None:
        self._gesture.setPath(QPainterPath())
        if len(points) < 2:
            return
        if self.mode == "box":
            a, b = points[0], points[-1]
            ids = self.ids_in_rect(a.x(), a.y(), b.x(), b.y())
        else:
            ids = self.ids_in_polygon(np.array([(p.x(), p.y()) for p in points]))
        self.selection_made.emit(ids, _op(modifiers))

    def pick(self, pos: QPointF, radius_px: float = 7.0) -> int | None:
        """The sample id of the shown point nearest ``pos`` within ``radius_px``."""
        if not self.n:
            return None
        px = self._vb.viewPixelSize()
        row = self.index().nearest(pos.x(), pos.y(), px[0] * radius_px, px[1] * radius_px,
                                   self._allowed_rows())
        return None if row is None else int(self._ids[row])

    def _click(self, pos: QPointF, modifiers) -> None:
        sid = self.pick(pos)
        if sid is not None:
            self.clicked.emit(sid)

    def _on_scene_mouse_moved(self, scene_pos) -> None:
        if self._vb is None or not self._vb.sceneBoundingRect().contains(scene_pos):
            self._hover_pos = None
        else:
            self._hover_pos = self._vb.mapSceneToView(scene_pos)
        if not self._hover_timer.isActive():
            self._hover_timer.start()

    def _update_hover(self) -> None:
        sid = None if self._hover_pos is None else self.pick(self._hover_pos)
        if sid == self.hovered_id:
            return
        self.hovered_id = sid
        if sid is None:
            self.hover_item.setData([], [])
        else:
            self.hover_item.setData(*self.coords_of([sid]).T)
        self.hovered.emit(sid)

    def _on_legend_sample_clicked(self, proxy) -> None:
        k = getattr(proxy, "category", None)
        if k is None:
            return
        if proxy.isVisible():
            self.hidden.discard(k)
        else:
            self.hidden.add(k)
        self.refresh()
        self.hidden_changed.emit(set(self.hidden))

    def set_hidden(self, hidden) -> None:
        self.hidden = set(hidden)
        for proxy in self._legend_proxies:
            proxy.setVisible(proxy.category not in self.hidden)
        if self.legend is not None:
            self.legend.update()
        self.refresh()


def _op(modifiers) -> str:
    mods = Qt.KeyboardModifier
    if modifiers & mods.ShiftModifier:
        return "add"
    if modifiers & (mods.ControlModifier | mods.AltModifier):
        return "remove"
    return "replace"
