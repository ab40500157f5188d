"""The CKA panel's two plots: the layer × layer heat map (dense rows, pruned columns,
a 0..1 colour bar, the value of the cell under the mouse) and the same-layer curve."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from widgets.pruning.style import (
    AXIS,
    TEXT,
    ElidedLabel,
    axis_label,
    plain_tip,
    style_plot,
    white_plot,
)

MAX_TICKS = 16  # more layer names than this overlap; the hover names every cell
MAX_LABELLED_CELLS = 144  # up to 12 x 12 layers the values are written in the cells
HOVER_HINT = "Hover a cell for its layers and value."


def layer_ticks(names: list[str], offset: float = 0.0, room: float | None = None,
                widths: list[float] | None = None) -> list[list[tuple[float, str]]]:
    """Tick labels for layer positions: every k-th name, the smallest k at which no two
    neighbouring labels overlap in ``room`` pixels (``widths``: each label's pixels)."""
    n = len(names)
    step = max(1, int(np.ceil(n / MAX_TICKS)))
    if room and widths:
        spacing = room / max(n, 1)
        while step < n and any((widths[i] + widths[i + step]) / 2 + 6 > step * spacing
                               for i in range(0, n - step, step)):
            step += 1
    return [[(i + offset, name) for i, name in enumerate(names) if i % step == 0]]


def fit_ticks(plot: pg.PlotWidget, side: str, names: list[str], offset: float = 0.0) -> None:
    """Set ``side``'s layer ticks for the plot's current size (names never overlap)."""
    vb = plot.getPlotItem().vb
    fm = plot.fontMetrics()
    if side == "bottom":
        room, widths = vb.width(), [fm.horizontalAdvance(n) for n in names]
    else:
        room, widths = vb.height(), [fm.height()] * len(names)
    plot.getAxis(side).setTicks(layer_ticks(names, offset, room, widths) if names else None)


class QtCkaHeatmap(QWidget):
    """``set(matrix, rows, columns, row_title, column_title)``; ``matrix`` is (La, Lb)."""

    hovered = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrix: np.ndarray | None = None
        self.rows: list[str] = []
        self.columns: list[str] = []
        self.plot = white_plot("dense layer", "pruned layer")
        self.plot.getPlotItem().invertY(True)  # first layer at the top, as in a matrix
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"),
                                        interactive=False, width=14)
        self.colorbar.setImageItem(self.image, insert_in=self.plot.getPlotItem())
        self.colorbar.axis.setTextPen(pg.mkPen(TEXT))  # the default is for black plots
        self.colorbar.axis.setPen(pg.mkPen(AXIS))
        self.colorbar.axis.setLabel("linear CKA", color=TEXT)
        self.cell_labels: list[pg.TextItem] = []
        self.hover = ElidedLabel(HOVER_HINT)
        self.plot.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.plot.getPlotItem().vb.sigResized.connect(self._on_view_resized)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.hover)

    def set(self, matrix: np.ndarray | None, rows=(), columns=(), row_title: str = "",
            column_title: str = "") -> None:
        self.matrix, self.rows, self.columns = matrix, list(rows), list(columns)
        self.hover.setText(HOVER_HINT)
        self._label_cells(None)
        if matrix is None:
            self.image.clear()
            self._on_view_resized()
            return
        m = np.ascontiguousarray(matrix, dtype=np.float32)
        self.image.setImage(m, levels=(0.0, 1.0), autoLevels=False)
        self.image.setRect(0, 0, m.shape[1], m.shape[0])
        self._label_cells(m)
        self._on_view_resized()
        axis_label(self.plot.getPlotItem(), "left", row_title)  # model names: escaped
        axis_label(self.plot.getPlotItem(), "bottom", column_title)
        self.plot.setRange(xRange=(0, m.shape[1]), yRange=(0, m.shape[0]), padding=0)

    def _label_cells(self, m: np.ndarray | None) -> None:
        """The value in each cell of a small matrix (dark text on light cells)."""
        for item in self.cell_labels:
            self.plot.removeItem(item)
        self.cell_labels = []
        if m is None or m.size > MAX_LABELLED_CELLS:
            return
        for (i, j), v in np.ndenumerate(m):
            colour = "#111" if not np.isfinite(v) or v > 0.55 else "#f4f4f4"
            item = pg.TextItem("–" if not np.isfinite(v) else f"{v:.2f}".lstrip("0"),
                               color=colour, anchor=(0.5, 0.5))
            item.setPos(j + 0.5, i + 0.5)
            self.plot.addItem(item)
            self.cell_labels.append(item)
        self._show_cell_labels()

    def _on_view_resized(self, *_) -> None:
        fit_ticks(self.plot, "left", self.rows, 0.5)
        fit_ticks(self.plot, "bottom", self.columns, 0.5)
        self._show_cell_labels()

    def _show_cell_labels(self) -> None:
        """Values only where a cell has room for them (the view may be small)."""
        if not self.cell_labels or self.matrix is None:
            return
        vb = self.plot.getPlotItem().vb
        rows, cols = self.matrix.shape
        room = vb.width() / cols >= 34 and vb.height() / rows >= 16
        for item in self.cell_labels:
            item.setVisible(room)

    def cell_text(self, row: int, col: int) -> str:
        value = self.matrix[row, col]
        shown = f"{value:.3f}" if np.isfinite(value) else "undefined (a constant layer)"
        return f"dense {self.rows[row]} × pruned {self.columns[col]}: CKA {shown}"

    def _on_scene_mouse_moved(self, pos) -> None:
        m = self.matrix
        if m is None:
            return
        p = self.plot.getPlotItem().vb.mapSceneToView(pos)
        row, col = int(np.floor(p.y())), int(np.floor(p.x()))
        if 0 <= row < m.shape[0] and 0 <= col < m.shape[1]:
            text = self.cell_text(row, col)
            self.hover.setText(text)
            self.plot.setToolTip(plain_tip(text))  # layer names: shown literally
            self.hovered.emit(text)


class QtSameLayerCurve(pg.PlotWidget):
    """CKA of each layer with the same layer of the other model, in layer order."""

    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        item = style_plot(self.getPlotItem(), "CKA (same layer in both)", "layer", grid=False)
        item.showGrid(y=True, alpha=0.25)
        self.setMouseEnabled(x=False, y=False)
        self.curve = pg.PlotDataItem(pen=pg.mkPen("#1f77b4", width=2), symbol="o",
                                     symbolSize=7, symbolBrush="#1f77b4", symbolPen=None)
        self.addItem(self.curve)
        self.layers: list[str] = []
        item.vb.sigResized.connect(lambda *_: fit_ticks(self, "bottom", self.layers))

    def set(self, layers: list[str], values: np.ndarray | None) -> None:
        self.layers = list(layers) if values is not None else []
        fit_ticks(self, "bottom", self.layers)
        if not self.layers:
            self.curve.setData([], [])
            return
        x = np.arange(len(layers), dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        self.curve.setData(x, values, connect="finite")  # a NaN (constant layer) is a gap
        self.setXRange(-0.5, max(len(x) - 0.5, 0.5), padding=0)
        finite = values[np.isfinite(values)]
        # from 0.8 (or lower) to 1: small drops show, and most pairs share one scale
        low = min(0.8, np.floor((finite.min() - 0.02) * 10) / 10) if len(finite) else 0.0
        self.setYRange(max(0.0, low), 1.02, padding=0)
