"""Small pyqtgraph building blocks shared by the layer detail panels."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from widgets.layers import colors


def make_plot(left: str = "", bottom: str = "", *, mouse_x: bool = True) -> pg.PlotWidget:
    """A white plot with labelled axes, no context menu, y fixed to what it shows."""
    widget = pg.PlotWidget(background="w")
    item = widget.getPlotItem()
    item.showGrid(y=True, alpha=0.25)
    item.setMenuEnabled(False)
    item.hideButtons()
    for side, text in (("left", left), ("bottom", bottom)):
        axis = item.getAxis(side)
        axis.enableAutoSIPrefix(False)
        axis.setPen(pg.mkPen("#444"))
        axis.setTextPen(pg.mkPen("#222"))
        if text:
            item.setLabel(side, text)
    widget.setMouseEnabled(x=mouse_x, y=False)
    widget.setMinimumHeight(150)
    return widget


_BRUSHES: dict[str, object] = {}


def brush(colour: str):
    """Pre-built brushes: one per colour, shared by every bar chart."""
    if colour not in _BRUSHES:
        _BRUSHES[colour] = pg.mkBrush(colour)
    return _BRUSHES[colour]


def bars(plot: pg.PlotWidget, heights: np.ndarray, colours: list[str] | None = None,
         x: np.ndarray | None = None, width: float = 0.8) -> pg.BarGraphItem:
    """Replace the plot's content with a bar chart (non-finite heights drawn as 0)."""
    item = plot.getPlotItem()
    item.clear()
    h = np.nan_to_num(np.asarray(heights, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    xs = np.arange(h.size, dtype=np.float64) if x is None else np.asarray(x, dtype=np.float64)
    brushes = [brush(c) for c in colours] if colours is not None else brush(colors.LIVE)
    kw = {"brushes": brushes} if colours is not None else {"brush": brushes}
    bar = pg.BarGraphItem(x=xs, height=h, width=width, pen=None, **kw)
    item.addItem(bar)
    if h.size:
        item.setXRange(float(xs.min()) - 1, float(xs.max()) + 1, padding=0.01)
        lo, hi = float(min(h.min(), 0)), float(max(h.max(), 0))
        item.setYRange(lo, hi if hi > lo else lo + 1, padding=0.05)
    return bar


def histogram(plot: pg.PlotWidget, values: np.ndarray | None = None, *, bins: int = 40,
              counts: np.ndarray | None = None, edges: np.ndarray | None = None,
              colour: str = colors.LIVE) -> tuple[np.ndarray, np.ndarray]:
    """Draw a histogram of ``values`` (or given counts/edges); returns (counts, edges)."""
    if counts is None:
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        counts, edges = np.histogram(v, bins=bins) if v.size else (np.zeros(0), np.zeros(1))
    item = plot.getPlotItem()
    item.clear()
    if len(counts):
        centres = (edges[:-1] + edges[1:]) / 2
        width = float(np.min(np.diff(edges))) if len(edges) > 1 else 1.0
        item.addItem(pg.BarGraphItem(x=centres, height=counts, width=width * 0.95,
                                     brush=brush(colour), pen=None))
        item.setXRange(float(edges[0]), float(edges[-1]), padding=0.02)
        item.setYRange(0, float(max(counts.max(), 1)), padding=0.05)
    return counts, edges


def image_box() -> tuple[pg.GraphicsLayoutWidget, pg.ViewBox, pg.ImageItem]:
    """A white canvas for a mosaic image: y down, square pixels, nearest-neighbour."""
    widget = pg.GraphicsLayoutWidget()
    widget.setBackground("w")
    vb = widget.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
    img = pg.ImageItem(axisOrder="row-major")
    vb.addItem(img)
    widget.ci.setContentsMargins(2, 2, 2, 2)
    widget.setMinimumHeight(160)
    widget.setCursor(Qt.CursorShape.CrossCursor)
    return widget, vb, img


def grid_shape(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """Rows and columns of a near-square grid for ``n`` tiles (width/height ``aspect``)."""
    if n <= 0:
        return 0, 0
    cols = max(1, int(np.ceil(np.sqrt(n * aspect))))
    return int(np.ceil(n / cols)), cols


def mosaic_rgb(tiles: np.ndarray, lut: np.ndarray | None, *, lo=None, hi=None,
               pad: int = 1, per_tile: bool = False, cols: int | None = None,
               gap=(255, 255, 255)) -> tuple[np.ndarray, int, int, int]:
    """``(N, H, W)`` values (or ``(N, H, W, 3)`` RGB in [0, 1]) as one RGB uint8 mosaic.

    Returns ``(image, rows, cols, cell)`` where ``cell = H + pad`` (tiles are square
    cells of ``H x W`` plus ``pad`` white pixels). Non-finite values are drawn as the
    gap colour. ``per_tile`` scales each tile to its own range.
    """
    tiles = np.asarray(tiles)
    n, h, w = tiles.shape[:3]
    rows, cols_ = grid_shape(n) if cols is None else (int(np.ceil(n / cols)), cols)
    out = np.empty((max(rows * (h + pad) - pad, 1), max(cols_ * (w + pad) - pad, 1), 3),
                   dtype=np.uint8)
    out[...] = gap
    if n == 0:
        return out, 0, 0, h + pad
    if tiles.ndim == 4:
        rgb = (np.clip(np.nan_to_num(tiles), 0, 1) * 255).astype(np.uint8)
    else:
        v = tiles.astype(np.float32, copy=False)
        finite = np.isfinite(v)
        if per_tile:
            vv = np.where(finite, v, np.nan)
            tlo = np.nanmin(vv.reshape(n, -1), axis=1, initial=np.inf)
            thi = np.nanmax(vv.reshape(n, -1), axis=1, initial=-np.inf)
            tlo = np.where(np.isfinite(tlo), tlo, 0)[:, None, None]
            thi = np.where(np.isfinite(thi), thi, 1)[:, None, None]
        else:
            tlo = np.float32(np.min(v[finite]) if lo is None and finite.any() else (lo or 0))
            thi = np.float32(np.max(v[finite]) if hi is None and finite.any() else (hi or 1))
        span = np.where(thi > tlo, thi - tlo, 1)
        idx = np.clip((np.nan_to_num(v) - tlo) / span * 255, 0, 255).astype(np.uint8)
        rgb = lut[idx]
        rgb[~finite] = gap
    full = np.empty((rows * cols_, h, w, 3), dtype=np.uint8)
    full[...] = gap
    full[:n] = rgb
    grid = full.reshape(rows, cols_, h, w, 3)
    if pad:
        canvas = np.empty((rows, cols_, h + pad, w + pad, 3), dtype=np.uint8)
        canvas[...] = gap
        canvas[:, :, :h, :w] = grid
        out = canvas.transpose(0, 2, 1, 3, 4).reshape(rows * (h + pad), cols_ * (w + pad), 3)
        out = out[: rows * (h + pad) - pad, : cols_ * (w + pad) - pad]
    else:
        out = grid.transpose(0, 2, 1, 3, 4).reshape(rows * h, cols_ * w, 3)
    return np.ascontiguousarray(out), rows, cols_, h + pad
