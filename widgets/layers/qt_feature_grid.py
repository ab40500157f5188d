"""One sample's activations: a grid of channel images (conv) or a bar chart (dense).

The whole grid is one RGB mosaic in one ``ImageItem``: 256 channels cost one image
upload, and tiny maps (8x8, 4x4) are magnified without smoothing, pixel by pixel.
Hovering reads out the channel and value; clicking a channel picks that unit.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from visualizer.analysis.layers.samples import FeatureMaps
from widgets.layers import colors, plots
from widgets.qt_text import plain_label


def feature_mosaic(values: np.ndarray, shared: bool = True):
    """``(C, H, W)`` maps to (rgb mosaic, rows, cols, cell, lo, hi, lut name)."""
    v = np.asarray(values, dtype=np.float32)
    finite = v[np.isfinite(v)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    if lo < 0 < hi:  # signed maps (before the activation): symmetric diverging scale
        m = max(-lo, hi)
        lo, hi, lut, name = -m, m, colors.DIVERGING, "blue − / red +"
    else:
        lut, name = colors.VIRIDIS, "viridis"
    img, rows, cols, cell = plots.mosaic_rgb(v, lut, lo=lo, hi=hi, per_tile=not shared,
                                             pad=1 if v.shape[1] >= 3 else 0)
    return img, rows, cols, cell, lo, hi, name


class QtFeatureGrid(QWidget):
    """Shows a :class:`FeatureMaps`; ``unit_clicked(channel)`` on click."""

    unit_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.maps: FeatureMaps | None = None
        self.grid = (0, 0, 1)
        self.title = plain_label(wrap=True)
        self.readout = plain_label()
        self.readout.setStyleSheet("color: #444;")
        self.shared = QCheckBox("One colour scale for all channels")
        self.shared.setChecked(True)
        self.shared.toggled.connect(lambda *_: self.redraw())
        self.canvas, self.vb, self.image = plots.image_box()
        self.marker = QGraphicsRectItem()
        pen = QPen(QColor(colors.SELECTED))
        pen.setCosmetic(True)
        pen.setWidthF(2.5)
        self.marker.setPen(pen)
        self.marker.setVisible(False)
        self.vb.addItem(self.marker)
        self.dense = plots.make_plot("activation", "neuron")
        self.dense.scene().sigMouseClicked.connect(self._on_dense_clicked)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.dense)
        self.canvas.scene().sigMouseMoved.connect(self._on_canvas_moved)
        self.canvas.scene().sigMouseClicked.connect(self._on_canvas_clicked)
        top = QHBoxLayout()
        top.addWidget(self.shared)
        top.addStretch(1)
        top.addWidget(self.readout)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addLayout(top)
        lay.addWidget(self.stack, 1)
        self.unit = 0

    def set_maps(self, maps: FeatureMaps | None, text: str = "") -> None:
        self.maps = maps
        if maps is None:
            self.title.setText(text or "Pick a sample (click one in a gallery or another view).")
            self.image.clear()
            self.dense.getPlotItem().clear()
            self.marker.setVisible(False)
            return
        self.redraw(text)

    def redraw(self, text: str = "") -> None:
        m = self.maps
        if m is None:
            return
        v = m.values
        truth = f"label {m.label}" if m.label is not None else ""
        pred = f", predicted {m.prediction}" if m.prediction is not None else ""
        src = " (computed with hooks: not in the dump)" if m.source == "hooks" else ""
        if v.ndim == 3:
            img, rows, cols, cell, lo, hi, lut = feature_mosaic(v, self.shared.isChecked())
            self.grid = (rows, cols, cell)
            self.image.setImage(img, levels=(0, 255), autoLevels=False)
            self.image.setRect(QRectF(0, 0, img.shape[1], img.shape[0]))
            self.vb.autoRange(padding=0.01)
            scale = f"scale {lo:.3g} … {hi:.3g} ({lut})" if self.shared.isChecked() \
                else f"each channel on its own scale ({lut})"
            self.title.setText(f"{m.layer} on sample {m.sample} ({truth}{pred}){src}: "
                               f"{v.shape[0]} channels of {v.shape[1]}×{v.shape[2]}, {scale}. "
                               f"{text}".strip())
            self.stack.setCurrentWidget(self.canvas)
            self.shared.setEnabled(True)
        else:
            flat = v.reshape(-1)
            plots.bars(self.dense, flat, [colors.LIVE if x > 0 else "#9aa5b1" for x in flat])
            self.title.setText(f"{m.layer} on sample {m.sample} ({truth}{pred}){src}: "
                               f"{flat.size} activations. {text}".strip())
            self.stack.setCurrentWidget(self.dense)
            self.shared.setEnabled(False)
        self.set_unit(self.unit)

    def set_unit(self, unit: int) -> None:
        self.unit = unit
        m = self.maps
        if m is None or m.values.ndim != 3 or not 0 <= unit < m.values.shape[0]:
            self.marker.setVisible(False)
            return
        rows, cols, cell = self.grid
        r, c = divmod(unit, max(cols, 1))
        h, w = m.values.shape[1:]
        self.marker.setRect(QRectF(c * cell - 0.5, r * cell - 0.5, w + 1, h + 1))
        self.marker.setVisible(True)

    def _cell_at(self, scene_pos):
        m = self.maps
        if m is None or m.values.ndim != 3:
            return None
        p = self.vb.mapSceneToView(scene_pos)
        rows, cols, cell = self.grid
        c, r = int(p.x() // cell), int(p.y() // cell)
        x, y = int(p.x() - c * cell), int(p.y() - r * cell)
        ch = r * cols + c
        h, w = m.values.shape[1:]
        if 0 <= c < cols and 0 <= r < rows and 0 <= ch < m.values.shape[0] \
                and 0 <= x < w and 0 <= y < h:
            return ch, y, x
        return None

    def _on_canvas_moved(self, pos) -> None:
        hit = self._cell_at(pos)
        if hit is None:
            self.readout.setText("")
            return
        ch, y, x = hit
        self.readout.setText(f"channel {ch}, row {y}, col {x}: {self.maps.values[ch, y, x]:.4g}")

    def _on_canvas_clicked(self, ev) -> None:
        hit = self._cell_at(ev.scenePos())
        if hit is not None:
            self.unit_clicked.emit(hit[0])

    def _on_dense_clicked(self, ev) -> None:
        if self.maps is None:
            return
        p = self.dense.getPlotItem().vb.mapSceneToView(ev.scenePos())
        k = int(round(p.x()))
        if 0 <= k < self.maps.values.size:
            self.unit_clicked.emit(k)
