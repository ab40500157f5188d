"""A horizontal colour bar with its title and range, under the graph."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from widgets.layers import colors

TIPS = {
    "zero_weights": "Share of each layer's weights that are exactly zero (what pruning "
                    "removed), on a fixed scale from 0% to 100%; grey: a layer without "
                    "weights.",
    "dead_fraction": "Share of a layer's units that are never active on the run's samples.",
}


class QtColorBar(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = "Layer type"
        self.key = "type"
        self.lo = self.hi = float("nan")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(34)

    def set_scale(self, key: str, title: str, lo: float, hi: float) -> None:
        self.key, self.title, self.lo, self.hi = key, title, lo, hi
        self.setToolTip(TIPS.get(key, ""))
        self.update()

    def _fmt(self, v: float) -> str:
        if not math.isfinite(v):
            return "–"
        if self.key in ("dead_fraction", "zero_weights"):
            return f"{v:.0%}"  # the sparsity scale is fixed: 0% to 100%
        return f"{v:,.0f}" if self.key == "n_params" else f"{v:.3g}"

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setPen(QColor("#222"))
        fm = p.fontMetrics()
        if self.key == "type" or not math.isfinite(self.lo):
            text = ("Colour: layer type (conv blue, linear green, norm orange, activation "
                    "pink, pooling purple, add yellow)." if self.key == "type"
                    else f"{self.title}: no values for this model or run.")
            p.drawText(QRectF(6, 0, self.width() - 12, self.height()),
                       int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), text)
            return
        lut = colors.STAT_LUT.get(self.key, colors.VIRIDIS)
        left_text = f"{self.title}:  {self._fmt(self.lo)}"
        right_text = self._fmt(self.hi) + ("  (log scale)" if self.key == "n_params" else "")
        legend = "no weights" if self.key in ("zero_weights", "weight_norm") else "no value"
        legend_w = 14 + 4 + fm.horizontalAdvance(legend) + 12
        x0 = 8 + fm.horizontalAdvance(left_text) + 8
        right_w = fm.horizontalAdvance(right_text) + 16
        if self.width() - x0 - right_w - legend_w < 60:  # narrow: the scale comes first
            legend_w = 0
        x1 = max(self.width() - right_w - legend_w, x0 + 24)
        grad = QLinearGradient(x0, 0, x1, 0)
        for k in range(0, 256, 32):
            grad.setColorAt(k / 255, QColor(*map(int, lut[k])))
        grad.setColorAt(1.0, QColor(*map(int, lut[255])))
        left = int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
        p.drawText(QRectF(8, 0, x0 - 8, self.height()), left, left_text)
        p.fillRect(QRectF(x0, 9, x1 - x0, self.height() - 18), grad)
        p.drawText(QRectF(x1 + 8, 0, right_w, self.height()), left, right_text)
        if legend_w:
            lx = self.width() - legend_w + 8
            p.fillRect(QRectF(lx, 9, 14, self.height() - 18), QColor(*colors.NO_VALUE))
            p.drawText(QRectF(lx + 18, 0, legend_w, self.height()), left, legend)
