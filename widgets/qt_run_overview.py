"""The Overview page: a summary of the selected activation run.

Model, dataset, split, accuracy and throughput come from the catalog; the layer table
comes from the run file's per-unit statistics (``stats/<layer>``, a few KB a layer),
read in a job: five small HDF5 reads per layer took 285 ms for the demo ResNet, too
long for the GUI thread. Activation arrays are never read here.
Selecting a layer row sets ``session.selection.layer``; the chart shows that layer's
per-unit mean activation, with units that are (almost) never active marked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from visualizer.analysis.layers.units import dead_units
from widgets._gui_thread import connect_model
from widgets.qt_empty_state import QtEmptyState, activation_run_or_hint
from widgets.qt_text import plain_label

DEAD_RULE = "never active on the dataset (max ≤ 0)"
LAYER_COLUMNS = ("#", "Layer", "Shape", "Units", "Mean", "Std", "Dead")
NAME_COL = 1


@dataclass
class LayerSummary:
    name: str
    shape: tuple[int, ...]
    units: int
    mean: float
    std: float
    dead: int
    unit_means: np.ndarray
    unit_dead: np.ndarray

    @property
    def dead_fraction(self) -> float:
        return self.dead / self.units if self.units else 0.0


def summarize_layers(run) -> list[LayerSummary]:
    """Per-layer summaries of an activation run, from its stored statistics only."""
    out = []
    with run.arrays() as arrays:
        for name in arrays.layers:
            shape = tuple(int(s) for s in arrays[name].shape[1:])  # metadata, no data read
            stats = arrays.stats(name)
            means = np.asarray(stats.get("mean", np.zeros(0)), dtype=np.float64)
            stds = np.asarray(stats.get("std", np.zeros_like(means)), dtype=np.float64)
            dead = dead_units(stats) if stats else np.zeros(means.size, bool)
            out.append(LayerSummary(
                name=name, shape=shape, units=int(means.size),
                mean=float(np.nanmean(means)) if means.size else float("nan"),
                std=float(np.nanmean(stds)) if stds.size else float("nan"),
                dead=int(dead.sum()), unit_means=means, unit_dead=dead))
    return out


@dataclass(frozen=True)
class SummaryRequest:
    workspace: str
    run_id: str


def summarize_job(request: SummaryRequest, ctx) -> list[LayerSummary]:
    """Job: :func:`summarize_layers` of one run."""
    from visualizer.workspace.workspace import Workspace

    ctx.status(f"reading the layer statistics of {request.run_id}")
    return summarize_layers(Workspace(request.workspace).run(request.run_id))


def _fmt(value, spec: str = ".3g") -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) \
        else format(value, spec)


class _NumItem(QTableWidgetItem):
    """Sorts by the number behind the text."""

    def __init__(self, text: str, value: float):
        super().__init__(text)
        self.setData(Qt.ItemDataRole.UserRole, value)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other) -> bool:
        a = self.data(Qt.ItemDataRole.UserRole)
        b = other.data(Qt.ItemDataRole.UserRole)
        return (a if a == a else -np.inf) < (b if b == b else -np.inf)


class QtRunOverview(QWidget):
    """Summary of ``session.selection.run_id``; an empty state while none is selected."""

    def __init__(self, session, parent: QWidget | None = None, runner=None):
        super().__init__(parent)
        self.session = session
        self.runner = runner  # reads the statistics in a job; None reads them here (tests)
        self._showing: str | None = None  # the run whose summary is wanted now
        self.layers: list[LayerSummary] = []
        self._updating = False
        self._plot = None
        self.empty = QtEmptyState(
            "Overview",
            "A summary of one activation run: the model and dataset it was made from, "
            "accuracy, throughput, and every recorded layer with its output shape, "
            "mean activation and share of dead units.",
            "Select an activation run in the workspace browser on the left.")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self._build_content())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)
        connect_model(self, session.selection.events.run_id, self._on_selection_run_id_changed,
                      nargs=1)
        connect_model(self, session.selection.events.layer, self._on_selection_layer_changed,
                      nargs=1)
        connect_model(self, session.workspace_changed, lambda ws: self.show_run(None), nargs=1)
        self.show_run(session.selection.run_id)

    def _build_content(self) -> QWidget:
        page = QWidget()
        self.title = plain_label()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title.setFont(font)
        self.facts: dict[str, object] = {}
        forms = QHBoxLayout()
        for keys in (("Model", "Dataset", "Split", "Samples"),
                     ("Accuracy", "Throughput", "Device", "Created")):
            form = QFormLayout()
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
            form.setHorizontalSpacing(12)
            for key in keys:
                value = plain_label(selectable=True)
                self.facts[key] = value
                form.addRow(plain_label(key + ":"), value)
            forms.addLayout(form)
            forms.addSpacing(32)
        forms.addStretch(1)
        self.note = plain_label(wrap=True)
        self.note.setStyleSheet("color: #5f6b7a;")
        self.table = QTableWidget(0, len(LAYER_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(LAYER_COLUMNS))
        tips = {"Shape": "output shape of one sample", "Mean": "mean activation over units",
                "Std": "mean of the units' standard deviations",
                "Dead": f"units {DEAD_RULE}"}
        for col, name in enumerate(LAYER_COLUMNS):
            if name in tips:
                self.table.horizontalHeaderItem(col).setToolTip(tips[name])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep both ends of a.b.c
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)
        self.chart_holder = QWidget()
        self.chart_layout = QVBoxLayout(self.chart_holder)
        self.chart_layout.setContentsMargins(0, 0, 0, 0)
        self.chart_title = plain_label(wrap=True)
        self.chart_layout.addWidget(self.chart_title)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.chart_holder)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        self.table.setMinimumWidth(500)  # every column readable without scrolling
        self.chart_holder.setMinimumWidth(240)
        splitter.setSizes([620, 380])
        self.splitter = splitter
        lay = QVBoxLayout(page)
        lay.setContentsMargins(12, 10, 12, 10)
        lay.setSpacing(8)
        lay.addWidget(self.title)
        lay.addLayout(forms)
        lay.addWidget(self.note)
        lay.addWidget(splitter, 1)
        return page

    # -- model -> view -----------------------------------------------------------
    def _on_selection_run_id_changed(self, run_id: str | None) -> None:
        self.show_run(run_id)

    def show_run(self, run_id: str | None) -> None:
        ws = self.session.workspace
        self.layers = []
        run, hint = activation_run_or_hint(
            ws, run_id, "Select an activation run in the workspace browser on the left, or "
                        "make one with Analysis > Extract activations.")
        self._showing = run.id if run is not None else None
        if run is None:
            self._show_hint(hint)
        elif self.runner is None:
            try:
                self._show_summary(run, summarize_layers(run))
            except Exception as exc:  # noqa: BLE001 - a damaged run file must not break the page
                self._show_hint(f"Run {run.id} cannot be shown: {exc}")
        else:
            self._show_hint(f"Reading the layer statistics of run {run.id} …")
            self.runner.submit(
                summarize_job, SummaryRequest(str(ws.root), run.id),
                name=f"Layer statistics of {run.id}",
                on_done=lambda job: self._on_summarized(run, job.result),
                on_failed=lambda job: self._on_summarized(run, None, job.error))

    def _on_summarized(self, run, layers, error=None) -> None:
        if self._showing != run.id:  # the user has moved on to another run
            return
        if layers is None:
            self._show_hint(f"Run {run.id} cannot be shown: {error}")
        else:
            self._show_summary(run, layers)

    def _show_hint(self, hint: str) -> None:
        self.empty.set_texts(hint=hint)
        self.stack.setCurrentIndex(0)

    def _show_summary(self, run, layers: list[LayerSummary]) -> None:
        self.layers = layers
        self._fill(run)
        self.stack.setCurrentIndex(1)

    def _fill(self, run) -> None:
        p, m, r = run.params, run.metrics, run.record
        self.title.setText(f"Activation run {run.id}")
        acc = m.get("accuracy")
        values = {
            "Model": str(p.get("model", r.model)),
            "Dataset": str(p.get("dataset", r.dataset)),
            "Split": str(p.get("split", "")),
            "Samples": f"{m['n_samples']:,}" if isinstance(m.get("n_samples"), int) else "–",
            "Accuracy": f"{100 * acc:.1f}%" if isinstance(acc, (int, float)) else "–",
            "Throughput": (f"{m['samples_per_second']:,.0f} samples/s"
                           if isinstance(m.get("samples_per_second"), (int, float)) else "–"),
            "Device": str(p.get("device", "–")),
            "Created": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)),
        }
        for key, text in values.items():
            self.facts[key].setText(text)
        skipped = p.get("skipped_layers") or []
        note = f"{len(self.layers)} layers recorded. A unit is dead when it is {DEAD_RULE}."
        if skipped:
            note += f" {len(skipped)} layer(s) skipped (over the memory budget): " \
                    + ", ".join(map(str, skipped))
        self.note.setText(note)
        self._updating = True
        try:
            self.table.setSortingEnabled(False)
            self.table.setRowCount(len(self.layers))
            for row, s in enumerate(self.layers):
                name = QTableWidgetItem(s.name)
                name.setToolTip(s.name)
                name.setData(Qt.ItemDataRole.UserRole, s.name)
                shape = QTableWidgetItem("×".join(map(str, s.shape)) or "scalar")
                dead = _NumItem(f"{s.dead} ({s.dead_fraction:.0%})", s.dead_fraction)
                for col, item in enumerate((_NumItem(str(row + 1), row), name, shape,
                                            _NumItem(str(s.units), s.units),
                                            _NumItem(_fmt(s.mean), s.mean),
                                            _NumItem(_fmt(s.std), s.std), dead)):
                    self.table.setItem(row, col, item)
            self.table.setSortingEnabled(True)
            self.table.sortItems(0, Qt.SortOrder.AscendingOrder)  # forward order first
        finally:
            self._updating = False
        self._fit_table_width()
        layer = self.session.selection.layer
        names = [s.name for s in self.layers]
        self._select_layer(layer if layer in names else (names[0] if names else None))

    def _fit_table_width(self) -> None:
        """Give the table the width its columns need; the chart takes the rest."""
        header = self.table.horizontalHeader()
        self.table.resizeColumnsToContents()
        need = sum(header.sectionSize(i) for i in range(header.count())) \
            + self.table.verticalScrollBar().sizeHint().width() + 2 * self.table.frameWidth()
        total = sum(self.splitter.sizes()) or self.width()
        if total > 0:
            left = min(need, total - self.chart_holder.minimumWidth())
            self.splitter.setSizes([left, max(total - left, 1)])

    def _on_selection_layer_changed(self, layer: str | None) -> None:
        if not self._updating:
            self._select_layer(layer, write_back=False)

    def _select_layer(self, layer: str | None, write_back: bool = True) -> None:
        self._updating = True
        try:
            for row in range(self.table.rowCount()):
                if self.table.item(row, NAME_COL).data(Qt.ItemDataRole.UserRole) == layer:
                    self.table.selectRow(row)
                    break
        finally:
            self._updating = False
        self._draw_layer(layer)
        if write_back and layer is not None and self.session.selection.layer != layer:
            self.session.selection.layer = layer

    # -- view -> model -----------------------------------------------------------
    def _on_table_selection_changed(self) -> None:
        if self._updating:
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            layer = self.table.item(rows[0].row(), NAME_COL).data(Qt.ItemDataRole.UserRole)
            self._draw_layer(layer)
            self._updating = True
            try:
                self.session.selection.layer = layer
            finally:
                self._updating = False

    # -- chart -------------------------------------------------------------------
    def _draw_layer(self, layer: str | None) -> None:
        summary = next((s for s in self.layers if s.name == layer), None)
        if summary is None:
            self.chart_title.setText("")
            return
        plot = self._ensure_plot()
        plot.clear()
        means = np.nan_to_num(summary.unit_means.astype(np.float64), nan=0.0,
                              posinf=0.0, neginf=0.0)
        x = np.arange(means.size, dtype=np.float64)
        import pyqtgraph as pg

        live = ~summary.unit_dead
        if live.any():
            plot.addItem(pg.BarGraphItem(x=x[live], height=means[live], width=0.8,
                                         brush=pg.mkBrush("#4c78a8"), pen=None))
        if summary.unit_dead.any():
            plot.addItem(pg.ScatterPlotItem(x=x[~live], y=np.zeros(int((~live).sum())),
                                            symbol="x", size=8, pxMode=True,
                                            pen=pg.mkPen("#c62828", width=2), brush=None))
        plot.setXRange(-1, max(means.size, 1), padding=0.02)
        plot.enableAutoRange(axis="y")
        self.chart_title.setText(
            f"{summary.name}: mean activation of each of its {summary.units} units"
            + (f" ({summary.dead} dead, marked red on the axis)" if summary.dead else ""))

    def _ensure_plot(self):
        if self._plot is None:
            import pyqtgraph as pg  # imported on first use: keeps start-up light

            widget = pg.PlotWidget(background=self.palette().base().color())
            widget.setMinimumHeight(180)
            item = widget.getPlotItem()
            item.showGrid(y=True, alpha=0.2)
            item.setLabel("bottom", "unit")
            item.setLabel("left", "mean activation")
            item.getAxis("left").enableAutoSIPrefix(False)
            item.setMenuEnabled(False)
            widget.setMouseEnabled(x=True, y=False)
            self.chart_layout.addWidget(widget, 1)
            self._plot = item
        return self._plot
