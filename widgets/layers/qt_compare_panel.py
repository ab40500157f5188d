"""Two models side by side, layer by layer (dense vs pruned, before vs after)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from visualizer.analysis.layers.compare import Comparison
from widgets.layers import plots
from widgets.qt_text import plain_label

COLUMNS = ("Layer", "Type", "Params A", "Params B", "‖W‖ A", "‖W‖ B", "Zero B",
           "Δ‖W‖/‖W‖", "Mean A", "Mean B", "Dead A", "Dead B")


def _fmt(v, spec=".3g") -> str:
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


class QtComparePanel(QWidget):
    """Pick model B; shows a table of shared layers and the selected layer's unit means."""

    model_b_changed = Signal(str)
    layer_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_a = plain_label()
        self.model_b = QComboBox()
        self.model_b.currentIndexChanged.connect(
            lambda *_: self.model_b_changed.emit(self.model_b.currentData() or ""))
        bar = QHBoxLayout()
        bar.addWidget(plain_label("Model A:"))
        bar.addWidget(self.model_a)
        bar.addSpacing(16)
        bar.addWidget(plain_label("Model B:"))
        bar.addWidget(self.model_b)
        bar.addStretch(1)
        self.note = plain_label(wrap=True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellClicked.connect(
            lambda r, _c: self.layer_clicked.emit(self.table.item(r, 0).text()))
        self.chart_title = plain_label(wrap=True)
        self.chart = plots.make_plot("mean activation", "unit")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.note)
        lay.addWidget(self.table, 3)
        lay.addWidget(self.chart_title)
        lay.addWidget(self.chart, 2)
        self.result: Comparison | None = None

    def set_models(self, model_a: str, others: list[str], current: str | None) -> None:
        self.model_a.setText(model_a)
        self.model_b.blockSignals(True)
        self.model_b.clear()
        for name in others:
            self.model_b.addItem(name, name)
        if current in others:
            self.model_b.setCurrentIndex(others.index(current))
        self.model_b.blockSignals(False)

    def set_result(self, cmp: Comparison | None, text: str = "") -> None:
        self.result = cmp
        self.table.setRowCount(0)
        self.chart.getPlotItem().clear()
        if cmp is None:
            self.note.setText(text or "Add a second model to the workspace to compare.")
            self.chart_title.setText("")
            return
        only = ""
        if cmp.only_a or cmp.only_b:
            only = f" Only in A: {len(cmp.only_a)} layers; only in B: {len(cmp.only_b)}."
        self.note.setText(
            f"{len(cmp.pairs)} layers named alike in {cmp.model_a} (A) and {cmp.model_b} (B)."
            f"{only} Δ‖W‖/‖W‖ is the relative weight change where shapes match; mean and "
            "dead come from each model's newest activation run.")
        self.table.setRowCount(len(cmp.pairs))
        for r, p in enumerate(cmp.pairs):
            cells = (p.name, p.type_a if p.type_a == p.type_b else f"{p.type_a} / {p.type_b}",
                     f"{p.params_a:,}", f"{p.params_b:,}", _fmt(p.norm_a), _fmt(p.norm_b),
                     _fmt(p.zero_b, ".1%"), _fmt(p.relative_change), _fmt(p.mean_a),
                     _fmt(p.mean_b), _fmt(p.dead_a, ".0%"), _fmt(p.dead_b, ".0%"))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        a, b = cmp.unit_means.get("a"), cmp.unit_means.get("b")
        if cmp.layer and a is not None and b is not None:
            n = max(a.size, b.size)
            item = self.chart.getPlotItem()
            item.clear()
            import pyqtgraph as pg

            item.addItem(pg.BarGraphItem(x=np.arange(a.size) - 0.2, height=np.nan_to_num(a),
                                         width=0.4, brush=plots.brush("#4c78a8"), pen=None))
            item.addItem(pg.BarGraphItem(x=np.arange(b.size) + 0.2, height=np.nan_to_num(b),
                                         width=0.4, brush=plots.brush("#f58518"), pen=None))
            item.setXRange(-1, n, padding=0.01)
            self.chart_title.setText(f"{cmp.layer}: mean activation per unit, A (blue) "
                                     "and B (orange).")
        else:
            self.chart_title.setText(
                "Select a layer both models record to compare its units."
                if cmp.layer is None else
                f"{cmp.layer} is not recorded in both models' runs.")
