"""How the Pruning view draws: one colour per method (the same in every plot, the view
and its render), one marker per schedule, a dashed line for channel pruning, the number
formats of its tables, and the pieces every pane of the view shares: the white plot
style, axis labels, one-line elided labels, titles and empty states. Shared by ``plots``,
the panels and ``render``.

Model, layer and method names come from users and plugins. pyqtgraph renders axis
labels, titles and legend entries as HTML and Qt guesses rich text in tooltips, so those
names go through :func:`axis_label` (or ``html.escape``) and :func:`plain_tip`; labels
here are pinned to ``Qt.PlainText``.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

TEXT = "#222222"
AXIS = "#555555"
DENSE = "#3d4451"  # the dense reference: dark, neutral, dashed
ACCENT = "#d1495b"  # the current model's ring and the live curves

# Colour-blind-safe hues (Okabe–Ito), by the method table's order; the random baseline is
# grey so that every real method reads against it at a glance.
_METHOD_COLOURS = {
    "magnitude": "#0072b2", "magnitude_layer": "#56b4e9", "lamp": "#cc79a7",
    "random": "#8c8c8c", "snip": "#e69f00", "taylor": "#009e73",
}
_SPARE = ("#d55e00", "#6a3d9a", "#b15928", "#1b9e77", "#e7298a", "#666600")
_SCHEDULES = ("oneshot", "finetune", "gradual", "imp")
_SYMBOLS = {"oneshot": "o", "finetune": "s", "gradual": "t", "imp": "d"}


def method_colour(method: str) -> str:
    """A stable colour for ``method`` (a plugin's method gets a spare one by its name,
    so it keeps that colour across sessions)."""
    if method in _METHOD_COLOURS:
        return _METHOD_COLOURS[method]
    return _SPARE[sum(method.encode()) % len(_SPARE)]


def symbol_for(schedule: str) -> str:
    return _SYMBOLS.get(schedule, "h")


def series_pen(colour: str, structured: bool):
    style = Qt.PenStyle.DashLine if structured else Qt.PenStyle.SolidLine
    return pg.mkPen(colour, width=2, style=style)


def series_key(point) -> tuple:
    """Sort key of a point's series: method table order, then mode, then schedule."""
    order = list(_METHOD_COLOURS)
    method = order.index(point.method) if point.method in order else len(order)
    schedule = _SCHEDULES.index(point.schedule) if point.schedule in _SCHEDULES else 9
    return method, point.method, point.structured, schedule, point.series


def style_plot(item: pg.PlotItem, left: str, bottom: str, *, grid: bool = True
               ) -> pg.PlotItem:
    """White plot, dark axes with labels (plain text), a light grid unless ``grid`` is
    False, no context menu or auto button."""
    if grid:
        item.showGrid(x=True, y=True, alpha=0.18)
    item.setMenuEnabled(False)
    item.hideButtons()
    for side, text in (("left", left), ("bottom", bottom)):
        axis = item.getAxis(side)
        axis.enableAutoSIPrefix(False)
        axis.setPen(pg.mkPen(AXIS))
        axis.setTextPen(pg.mkPen(TEXT))
        if text:
            axis_label(item, side, text)
    return item


def white_plot(left: str, bottom: str, *, grid: bool = False) -> pg.PlotWidget:
    """A ``PlotWidget`` styled by :func:`style_plot` that the mouse does not pan or zoom
    (the CKA plots: a matrix and a short curve, both shown whole)."""
    widget = pg.PlotWidget(background="w")
    style_plot(widget.getPlotItem(), left, bottom, grid=grid)
    widget.setMouseEnabled(x=False, y=False)
    return widget


def axis_label(item: pg.PlotItem, side: str, text: str) -> None:
    """Set an axis label to ``text`` shown literally (pyqtgraph renders it as HTML)."""
    item.setLabel(side, html.escape(text), color=TEXT, size="10pt")


def plain_tip(text: str) -> str:
    """``text`` as a tooltip shown literally: Qt guesses rich text in tooltips, so it is
    escaped and marked as rich text (line breaks kept)."""
    if not text:
        return ""
    return "<qt>" + html.escape(text).replace("\n", "<br>") + "</qt>"


class ElidedLabel(QLabel):
    """A one-line plain-text label that gives up its width: elided with "…" when narrow,
    the whole text in its tooltip (a plain QLabel is as wide as its text at least)."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._full = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        self._full = text
        self.setToolTip(plain_tip(text))
        self._elide()

    def text(self) -> str:
        return self._full

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(16, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 16)
        super().setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight,
                                                      width))


def legend_item(columns: int = 1) -> pg.LegendItem:
    return pg.LegendItem(pen=pg.mkPen("#c8ccd2"), brush=pg.mkBrush(255, 255, 255, 225),
                         labelTextColor=TEXT, labelTextSize="9pt", colCount=columns,
                         verSpacing=-4, horSpacing=12)


def fit_legend(legend: pg.LegendItem, width: float, per_item: float = 240) -> None:
    """As many legend columns as the width holds (one row of five names does not fit
    a narrow pane, and a legend wider than its plot is cut off, not wrapped)."""
    n = max(1, len(legend.items))
    legend.setColumnCount(int(max(1, min(n, width // per_item))))


def smooth(values: np.ndarray) -> np.ndarray:
    """A centred moving average over about 1/25 of the steps (batch losses are noisy);
    short curves are returned as they are."""
    v = np.asarray(values, dtype=np.float64)
    window = max(1, len(v) // 25)
    if window < 3:
        return v
    kernel = np.ones(window) / window
    padded = np.pad(v, (window // 2, window - 1 - window // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def count(value) -> str:
    """``1.23 M``, ``45.6 k``, ``512``; a dash for a missing value."""
    if value is None or not np.isfinite(float(value)):
        return "—"
    value = float(value)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f}"


def ratio(part, whole) -> str:
    """``part`` as a fraction of ``whole`` (``0.10×``), or a dash."""
    try:
        part, whole = float(part), float(whole)
    except (TypeError, ValueError):
        return "—"
    if not (np.isfinite(part) and np.isfinite(whole)) or whole == 0:
        return "—"
    return f"{part / whole:.3g}×"


def heading(text: str = "") -> ElidedLabel:
    """A pane's bold title: one line, elided when its pane is narrow (a title naming a
    long model must not make its pane, and the view, wider); plain text."""
    label = ElidedLabel(text)
    label.setStyleSheet("font-weight: 600; padding: 2px 2px 0 2px;")
    return label


def note(text: str = ""):
    """A pane's empty state: grey, wrapped, saying what to do."""
    from widgets.qt_text import plain_label

    label = plain_label(text, wrap=True)
    label.setStyleSheet("color: #5f6b7a; padding: 16px;")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setMinimumWidth(220)
    return label


def scrolled(panel):
    """A panel that scrolls sideways when it needs more width than its tab has, instead
    of taking that width from the curves beside it."""
    from PySide6.QtWidgets import QFrame, QScrollArea

    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(panel)
    return area


def pane(title, *widgets):
    """A titled column: plots take the height, labels and tables what they need."""
    from PySide6.QtWidgets import QAbstractItemView, QVBoxLayout, QWidget

    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(2, 2, 2, 2)
    lay.setSpacing(2)
    lay.addWidget(title)
    for w in widgets:
        lay.addWidget(w, 0 if isinstance(w, (QAbstractItemView, QLabel)) else 1)
    return box
