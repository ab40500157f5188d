"""The Pruning view's plots (pyqtgraph): accuracy against sparsity and per-layer
sparsity bars (the fine-tuning curves are in ``qt_curves_pane``). They show what they
are given and know no session, so the view and the headless render (``render.py``)
draw the same figure.

Accuracy and sparsity are shown in percent; a method keeps its colour in every plot
(the random baseline is grey), a schedule its marker, channel pruning a dashed line
and hollow markers.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

from widgets.pruning.style import (
    ACCENT,
    DENSE,
    TEXT,
    fit_legend,
    legend_item,
    method_colour,
    series_key,
    series_pen,
    style_plot,
    symbol_for,
)


class QtAccuracyPlot(pg.GraphicsLayoutWidget):
    """Test accuracy against achieved sparsity, one line per series; a click on a point
    emits ``point_clicked(model)``; hovering names the model in a tooltip."""

    point_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        # the legend sits above the plot: inside, some corner always hides a point
        self.legend = legend_item(columns=3)
        self.addItem(self.legend, row=0, col=0)
        self.item = self.addPlot(row=1, col=0)
        self.ci.layout.setRowStretchFactor(1, 1)
        style_plot(self.item, "Test accuracy (%)", "Achieved sparsity (%)")
        self.points: dict[str, object] = {}  # model -> PrunedPoint
        self.curves: dict[str, pg.PlotDataItem] = {}  # series -> line with markers
        self.current: str | None = None
        self.dense_accuracy: float | None = None  # fraction
        self.dense_line = pg.InfiniteLine(
            angle=0, movable=False, pen=pg.mkPen(DENSE, width=1.5, style=Qt.PenStyle.DashLine),
            label="", labelOpts={"position": 0.02, "color": DENSE, "anchors": [(0, 1), (0, 1)],
                                 "fill": pg.mkBrush(255, 255, 255, 200)})
        self.dense_line.setZValue(-5)
        self.dense_line.hide()
        self.item.addItem(self.dense_line, ignoreBounds=True)
        self.ring = pg.ScatterPlotItem(size=19, pen=pg.mkPen(ACCENT, width=2.5),
                                       brush=None, pxMode=True)
        self.ring.setZValue(20)
        self.item.addItem(self.ring)
        self.ring_label = pg.TextItem("", color=ACCENT, anchor=(0, 1.3))
        self.ring_label.setZValue(21)
        self.item.addItem(self.ring_label, ignoreBounds=True)

    # -- data ------------------------------------------------------------------------
    def set_dense(self, name: str | None, accuracy: float | None) -> None:
        self.dense_accuracy = accuracy
        if accuracy is None or not np.isfinite(accuracy):
            self.dense_line.hide()
        else:
            self.dense_line.show()  # first: a hidden line's label ignores new text
            self.dense_line.setValue(100 * accuracy)
            text = f"dense {name or ''} · {100 * accuracy:.2f}%"
            self.dense_line.label.setFormat(text.replace("{", "{{").replace("}", "}}"))
        self._fit()

    def set_points(self, points) -> None:
        """Show exactly ``points`` (PrunedPoint), replacing what was shown."""
        for curve in self.curves.values():
            self.item.removeItem(curve)
        self.legend.clear()
        self.curves.clear()
        self.points = {}
        self.add_points(points)

    def add_points(self, points) -> None:
        """Add (or update) points; only their series are redrawn."""
        touched = set()
        for p in points:
            self.points[p.model] = p
            touched.add(p.series)
        for series in sorted(touched, key=lambda s: series_key(self._first(s))):
            self._draw_series(series)
        self._fit()
        self.set_current(self.current)

    def remove_points(self, models) -> None:
        touched = {self.points.pop(m).series for m in models if m in self.points}
        for series in touched:
            self._draw_series(series)
        self._fit()
        self.set_current(self.current if self.current in self.points else None)

    def _first(self, series: str):
        return next(p for p in self.points.values() if p.series == series)

    def _draw_series(self, series: str) -> None:
        members = sorted((p for p in self.points.values() if p.series == series),
                         key=lambda p: p.sparsity)
        curve = self.curves.get(series)
        if not members:
            if curve is not None:
                self.item.removeItem(curve)
                self.legend.removeItem(curve)
                del self.curves[series]
                fit_legend(self.legend, self.width())
            return
        x = np.array([100 * p.sparsity for p in members], dtype=np.float64)
        y = np.array([100 * p.accuracy for p in members], dtype=np.float64)
        names = np.array([p.model for p in members], dtype=object)
        if curve is None:
            first = members[0]
            colour = method_colour(first.method)
            curve = pg.PlotDataItem(
                # channel pruning: hollow markers (a lone point shows no dashed line)
                pen=series_pen(colour, first.structured), symbol=symbol_for(first.schedule),
                symbolSize=9, symbolBrush=pg.mkBrush("w" if first.structured else colour),
                symbolPen=pg.mkPen(colour if first.structured else "w",
                                   width=2 if first.structured else 1),
                name=series, antialias=True)
            curve.scatter.opts.update(hoverable=True, tip=self._tip)
            curve.sigPointsClicked.connect(self._on_curve_points_clicked)
            self.curves[series] = curve
            self.item.addItem(curve)
            self._sort_legend()
        curve.setData(x, y, data=names)

    def _sort_legend(self) -> None:
        """Legend rows in the series order (method table order), not arrival order."""
        self.legend.clear()
        for series in sorted(self.curves, key=lambda s: series_key(self._first(s))):
            self.legend.addItem(self.curves[series], html.escape(series))  # HTML label
        fit_legend(self.legend, self.width())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)  # pyqtgraph calls it with None while building
        if getattr(self, "legend", None) is not None:
            fit_legend(self.legend, self.width())

    def series(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{series: (x %, y %)}`` as drawn."""
        return {s: tuple(np.asarray(v) for v in c.getData()) for s, c in self.curves.items()}

    # -- current point ---------------------------------------------------------------
    def set_current(self, model: str | None) -> None:
        self.current = model
        p = self.points.get(model) if model else None
        if p is None:
            self.ring.setData([], [])
            self.ring_label.setText("")
            return
        x, y = 100 * p.sparsity, 100 * p.accuracy
        self.ring.setData([x], [y])
        self.ring_label.setText(p.model)
        (x0, x1), _ = self.item.vb.viewRange()
        right = x > x0 + 0.6 * (x1 - x0)  # name on the side with room, never clipped
        self.ring_label.setAnchor((1.05, 1.25) if right else (-0.05, 1.25))
        self.ring_label.setPos(x, y)

    def _on_curve_points_clicked(self, _curve, points, _ev=None) -> None:
        if len(points):
            self.point_clicked.emit(str(points[0].data()))

    def _tip(self, x, y, data) -> str:
        # Model names come from users: escaped, and the tooltip is rich text on purpose.
        p = self.points.get(str(data))
        if p is None:
            return ""
        rows = [f"<b>{html.escape(p.model)}</b>", html.escape(p.series),
                f"accuracy {100 * p.accuracy:.2f}%  ({-100 * p.accuracy_drop:+.2f} pts vs dense)",
                f"sparsity {100 * p.sparsity:.1f}% of {'channels' if p.structured else 'weights'}"
                f" (target {100 * p.target_sparsity:.3g}%)"]
        if p.accuracy_before_finetune is not None:
            rows.append(f"before fine-tuning {100 * p.accuracy_before_finetune:.2f}%")
        if p.forgotten is not None:
            rows.append(f"forgotten samples {p.forgotten}, gained {p.gained or 0}")
        return "<qt>" + "<br>".join(rows) + "</qt>"

    def _fit(self) -> None:
        # Explicit ranges: the dense line and the ring must not drive auto-range, and a
        # live plot must not jump as points arrive (architecture: auto-range off).
        xs = [100 * p.sparsity for p in self.points.values()]
        ys = [100 * p.accuracy for p in self.points.values() if np.isfinite(p.accuracy)]
        if self.dense_accuracy is not None and np.isfinite(self.dense_accuracy):
            ys.append(100 * self.dense_accuracy)
        x_lo = max(0.0, min(xs) - 5) if xs else 0.0
        y_lo = max(0.0, min(ys) - 5) if ys else 0.0
        y_hi = max(ys) if ys else 100.0
        y_hi += 0.1 * max(y_hi - y_lo, 5)  # room above the dense line for its label
        self.item.setXRange(x_lo, 100, padding=0.02)
        self.item.setYRange(y_lo, y_hi, padding=0.0)


class QtLayerSparsityPlot(pg.GraphicsLayoutWidget):
    """Per-layer sparsity of one pruned model and of its peers (other methods at the
    same target sparsity), as grouped horizontal bars; layers top to bottom."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self.legend = legend_item(columns=2)
        self.addItem(self.legend, row=0, col=0)
        self.plot = self.addPlot(row=1, col=0)
        self.ci.layout.setRowStretchFactor(0, 0)  # the legend takes what it needs
        self.ci.layout.setRowStretchFactor(1, 1)
        style_plot(self.plot, "", "Sparsity (%)")
        self.plot.showGrid(x=True, y=False, alpha=0.25)
        self.plot.vb.invertY(True)
        self.plot.setMouseEnabled(x=False, y=False)
        self.values: dict[str, dict[str, float]] = {}  # model -> layer -> fraction
        self.layers: list[str] = []

    def set_models(self, points, current: str | None) -> None:
        """Bars for ``points`` (the current one first and outlined)."""
        self.plot.clear()
        self.legend.clear()
        points = sorted(points, key=lambda p: (p.model != current, series_key(p)))
        self.values = {p.model: dict(p.layer_sparsity) for p in points}
        layers: list[str] = []
        for p in points:
            layers += [name for name in p.layer_sparsity if name not in layers]
        self.layers = layers
        if not points or not layers:
            return
        k = len(points)
        band = 0.8 / k
        for j, p in enumerate(points):
            colour = method_colour(p.method)
            ys = np.arange(len(layers)) - 0.4 + band * (j + 0.5)
            widths = np.array([100 * p.layer_sparsity.get(n, np.nan) for n in layers])
            brush = pg.mkBrush(colour) if p.model == current else pg.mkBrush(
                pg.mkColor(colour).lighter(135))
            pen = pg.mkPen(TEXT, width=1.2) if p.model == current else None
            bars = pg.BarGraphItem(x0=0, y=ys, height=band * 0.92,
                                   width=np.nan_to_num(widths), brush=brush, pen=pen)
            self.plot.addItem(bars)
            label = p.series + (" (selected)" if p.model == current else "")
            self.legend.addItem(bars, html.escape(label))
        self.plot.getAxis("left").setTicks([[(i, n) for i, n in enumerate(layers)]])
        self.plot.setLabel("bottom", "Channels removed (%)" if points[0].structured
                           else "Weights removed (%)", color=TEXT, size="10pt")
        line = pg.InfiniteLine(100 * points[0].sparsity, angle=90, pen=pg.mkPen(
            DENSE, style=Qt.PenStyle.DashLine))  # the current model's overall sparsity
        self.plot.addItem(line, ignoreBounds=True)
        fit_legend(self.legend, self.width())
        self.plot.setXRange(0, 100, padding=0.02)
        self.plot.setYRange(-0.5, len(layers) - 0.5, padding=0.02)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)  # pyqtgraph calls it with None while building
        if getattr(self, "legend", None) is not None:
            fit_legend(self.legend, self.width())
