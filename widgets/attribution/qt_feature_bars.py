"""A horizontal bar chart of one vector (tabular) sample's attribution per feature.

The strongest features are at the top, each labelled ``name = input value`` on the left
axis and with its attribution at the end of its bar; colours are the image maps' own
(diverging for signed, sequential for absolute). Feature names come from data files, so
they are drawn only as plain text: axis ticks, text items and a plain-text label, never
the plot title (pyqtgraph renders titles as HTML).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import QVBoxLayout, QWidget

from widgets.attribution.feature_bars import FeatureBars
from widgets.qt_text import plain_label

ROW_PX = 19  # vertical pixels per bar: enough for one line of tick text
_BAR_HEIGHT = 0.72  # in rows; the rest is the gap between bars


class QtFeatureBars(QWidget):
    """``show_bars(bars, signed)`` draws one sample; the chart grows with the bar count."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=False, alpha=0.25)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen("#333")
            self.plot.getAxis(axis).setPen("#777")
        self.heading = plain_label("", wrap=True)
        self.note = plain_label("", wrap=True)
        self.note.setStyleSheet("color: #b03a2e;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.heading)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.note)
        self.bars: FeatureBars | None = None

    def show_bars(self, bars: FeatureBars, signed: bool) -> None:
        self.bars = bars
        self.plot.clear()
        k = len(bars.index)
        if k < bars.n_features - len(bars.nonfinite):
            heading = f"Top {k} of {bars.n_features} features by |attribution|"
        else:
            heading = f"All {k} features, sorted by |attribution|"
        if signed:
            heading += "; red supports the target class, blue speaks against it"
        self.heading.setText(heading + ".")
        self.note.setText(_note(bars))
        self.note.setVisible(bool(self.note.text()))
        self.plot.setLabel("bottom", "attribution" if signed else "|attribution|")
        self.plot.setMinimumHeight(70 + ROW_PX * max(k, 1))
        if not k:
            self.plot.getAxis("left").setTicks([[]])
            return
        y = np.arange(k)[::-1].astype(np.float64)  # the strongest at the top
        brushes = [QColor(*map(int, c)) for c in bars.colours]
        self.plot.addItem(pg.BarGraphItem(x0=np.zeros(k), width=bars.values, y=y,
                                          height=_BAR_HEIGHT, brushes=brushes,
                                          pen=pg.mkPen(120, 120, 120, 160)))
        self.plot.addItem(pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#555")))
        left = self.plot.getAxis("left")
        left.setTicks([list(zip(y.tolist(), bars.labels, strict=True))])
        # pyqtgraph widens an axis for its labels only after a first paint; an export
        # grabbed right away would cut them, so the width is set from the font here
        metrics = QFontMetrics(left.style.get("tickFont") or left.font())
        left.setWidth(max(metrics.horizontalAdvance(t) for t in bars.labels) + 16)
        span = float(np.max(np.abs(bars.values))) or 1.0
        for pos, value in zip(y, bars.values, strict=True):
            text = pg.TextItem(f"{value:+.3g}" if signed else f"{value:.3g}", color="#333",
                               anchor=(0, 0.5) if value >= 0 else (1, 0.5))
            text.setPos(float(value) + (0.01 if value >= 0 else -0.01) * span, float(pos))
            self.plot.addItem(text)
        # room for the value texts beyond the longest bars
        lo = min(0.0, float(bars.values.min())) - (0.18 * span if bars.values.min() < 0 else 0)
        hi = max(0.0, float(bars.values.max())) + (0.18 * span if bars.values.max() > 0 else 0)
        self.plot.setXRange(lo, hi, padding=0.02)
        self.plot.setYRange(-0.6, k - 0.4, padding=0)

    def clear_bars(self) -> None:
        self.bars = None
        self.plot.clear()
        self.heading.setText("")
        self.note.setText("")


def _note(bars: FeatureBars) -> str:
    parts = []
    if bars.n_hidden:
        parts.append(f"{bars.n_hidden} weaker feature{'s' * (bars.n_hidden != 1)} not shown.")
    if bars.nonfinite:
        n = len(bars.nonfinite)
        names = ", ".join(bars.nonfinite[:5]) + (" …" if n > 5 else "")
        parts.append(f"⚠ {n} feature{'s have' if n != 1 else ' has'} a NaN/inf attribution, "
                     f"not drawn: {names}.")
    return " ".join(parts)


__all__ = ["QtFeatureBars"]
