"""Per-unit statistics of a layer: a sortable bar chart and a histogram.

Dead units (never active on the dataset) are red, saturated units orange; clicking a
bar picks that unit (its top-activating samples are shown in the next tab).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QVBoxLayout, QWidget

from visualizer.analysis.layers.units import SATURATED_ACTIVE, UnitTable
from visualizer.analysis.layers.view_state import UNIT_STATS
from widgets.layers import colors, plots
from widgets.qt_text import plain_label

STAT_TITLES = {"mean": "mean activation", "std": "standard deviation",
               "frac_zero": "fraction of zeros", "max": "maximum", "min": "minimum"}


class QtUnitPanel(QWidget):
    unit_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.table: UnitTable | None = None
        self.order = np.zeros(0, dtype=np.int64)
        self.summary = plain_label(wrap=True)
        self.stat_box = QComboBox()
        for key in UNIT_STATS:
            self.stat_box.addItem(STAT_TITLES[key], key)
        self.sort_box = QCheckBox("Sort descending")
        self.stat_box.currentIndexChanged.connect(lambda *_: self.redraw())
        self.sort_box.toggled.connect(lambda *_: self.redraw())
        bar = QHBoxLayout()
        bar.addWidget(plain_label("Statistic:"))
        bar.addWidget(self.stat_box)
        bar.addWidget(self.sort_box)
        bar.addStretch(1)
        self.legend = plain_label("■ live   ■ dead (never active)   ■ saturated")
        self.legend.setStyleSheet("color: #444;")
        self.bar_plot = plots.make_plot("", "unit")
        self.hist_plot = plots.make_plot("units", "")
        self.bar_plot.scene().sigMouseClicked.connect(self._on_bar_plot_clicked)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.summary)
        lay.addLayout(bar)
        lay.addWidget(self.bar_plot, 3)
        lay.addWidget(self.legend)
        lay.addWidget(self.hist_plot, 2)
        self._set_legend()

    def _set_legend(self) -> None:
        self.legend.setText("")
        self.legend.setTextFormat(self.legend.textFormat())
        # Coloured squares without rich text: three labels would do, one line is enough.
        self.legend.setText("blue: live   red: dead (never active)   orange: saturated "
                            f"(active on ≥{SATURATED_ACTIVE:.0%} of values)")

    @property
    def stat(self) -> str:
        return self.stat_box.currentData()

    def set_state(self, stat: str, sort: bool) -> None:
        i = self.stat_box.findData(stat)
        if i >= 0:
            self.stat_box.setCurrentIndex(i)
        self.sort_box.setChecked(sort)

    def set_table(self, table: UnitTable | None, note: str = "") -> None:
        self.table = table
        if table is None:
            self.summary.setText(note or "No unit statistics for this layer.")
            self.bar_plot.getPlotItem().clear()
            self.hist_plot.getPlotItem().clear()
            return
        shape = "×".join(map(str, table.shape))
        kind = "channels" if len(table.shape) > 1 else "neurons"
        src = "stored with the run" if table.source == "run" else "computed from the dump"
        self.summary.setText(
            f"{table.layer}: {table.units} {kind} (output {shape}) over {table.n_samples:,} "
            f"samples; {int(table.dead.sum())} dead ({table.dead_fraction:.1%}), "
            f"{int(table.saturated.sum())} saturated. Statistics {src}. {note}".strip())
        self.redraw()

    def values(self, stat: str | None = None) -> np.ndarray:
        """The values shown for ``stat``, in unit order."""
        return self.table.stats[stat or self.stat] if self.table is not None else np.zeros(0)

    def redraw(self) -> None:
        t = self.table
        if t is None:
            return
        v = self.values()
        self.order = np.argsort(-np.nan_to_num(v, nan=-np.inf), kind="stable") \
            if self.sort_box.isChecked() else np.arange(v.size)
        cols = np.where(t.dead, colors.DEAD, np.where(t.saturated, colors.SATURATED,
                                                      colors.LIVE))[self.order]
        plots.bars(self.bar_plot, v[self.order], list(cols))
        item = self.bar_plot.getPlotItem()
        item.setLabel("left", STAT_TITLES[self.stat])
        item.setLabel("bottom", "unit (sorted by value)" if self.sort_box.isChecked()
                      else "unit")
        ax = item.getAxis("bottom")
        if self.sort_box.isChecked() and v.size <= 64:
            ax.setTicks([[(k, str(int(u))) for k, u in enumerate(self.order)]])
        else:
            ax.setTicks(None)
        plots.histogram(self.hist_plot, v, bins=min(40, max(5, v.size // 2)))
        self.hist_plot.getPlotItem().setLabel("bottom", STAT_TITLES[self.stat])

    def _on_bar_plot_clicked(self, ev) -> None:
        if self.table is None or not self.order.size:
            return
        pos = self.bar_plot.getPlotItem().vb.mapSceneToView(ev.scenePos())
        k = int(round(pos.x()))
        if 0 <= k < self.order.size:
            self.unit_clicked.emit(int(self.order[k]))


__all__ = ["QtUnitPanel", "pg"]
