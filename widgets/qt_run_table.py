"""The run list: every run of a workspace in one sortable, filterable table.

Built for catalogs of tens of thousands of runs (a pruning sweep times a robustness
grid): the model keeps light ``RunRow`` tuples, sorts and filters them itself (a
``QSortFilterProxyModel`` would call back into Python for every comparison), and
applies a catalog change by touching only the rows it names.
"""

from __future__ import annotations

import time
from bisect import bisect_left

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

# what a run is first: a narrow dock still shows kind, method/layer, model and status
COLUMNS = ("Run", "Kind", "What", "Model", "Status", "Samples", "Dataset", "Created", "Took")
(RUN, KIND, WHAT, MODEL, STATUS, SAMPLES, DATASET, CREATED, TOOK) = range(len(COLUMNS))
STATUS_COLOURS = {"complete": "#2e7d32", "failed": "#c62828", "running": "#1565c0",
                  "cancelled": "#8d6e63", "interrupted": "#ef6c00"}
RUN_ID_ROLE = Qt.ItemDataRole.UserRole
ANY = "any"
_ROOT = QModelIndex()


def format_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else ""


def short_time(ts: float | None) -> str:
    """``HH:MM`` for today, the date otherwise (the full time is in the tooltip)."""
    if not ts:
        return ""
    same_day = time.localtime(ts)[:3] == time.localtime()[:3]
    return time.strftime("%H:%M" if same_day else "%Y-%m-%d", time.localtime(ts))


def took(row) -> float | None:
    return row.finished_at - row.created_at if row.finished_at else None


def _dataset_text(row) -> str:
    return f"{row.dataset or ''} ({row.split})" if row.split else (row.dataset or "")


def cell_text(row, column: int) -> str:
    if column == RUN:
        return row.id
    if column == KIND:
        return row.kind
    if column == MODEL:
        return row.model or ""
    if column == DATASET:
        return _dataset_text(row)
    if column == WHAT:
        return row.what
    if column == SAMPLES:
        return f"{row.n_samples:,}" if isinstance(row.n_samples, int) else ""
    if column == STATUS:
        return row.status
    if column == CREATED:
        return short_time(row.created_at)
    seconds = took(row)
    return "" if seconds is None else f"{seconds:.1f} s" if seconds < 600 else \
        f"{seconds / 60:.0f} min"


def sort_key(row, column: int):
    """A key of one type per column; the run id breaks ties, so order is stable."""
    if column == SAMPLES:
        value = row.n_samples if isinstance(row.n_samples, int) else -1
    elif column == CREATED:
        value = row.created_at or 0.0
    elif column == TOOK:
        value = took(row)
        value = -1.0 if value is None else value
    else:
        value = cell_text(row, column).lower()
    return (value, row.id)


class RunTableModel(QAbstractTableModel):
    """Rows of ``RunRow``; ``set_rows`` for a whole catalog, ``apply`` for a change."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: dict[str, object] = {}
        self._haystack: dict[str, str] = {}
        self._order: list[str] = []  # shown ids, ascending by the sort key
        self._keys: list[tuple] = []
        self._column, self._descending = CREATED, True
        self._text, self._kind, self._status = "", ANY, ANY

    # -- Qt's model interface -------------------------------------------------------
    def rowCount(self, parent=_ROOT) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent=_ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[self.run_id_at(index.row())]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return cell_text(row, column)
        if role == RUN_ID_ROLE:
            return row.id
        if role == Qt.ItemDataRole.ForegroundRole and column == STATUS:
            return QBrush(QColor(STATUS_COLOURS.get(row.status, "#000000")))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (SAMPLES, TOOK):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == STATUS and row.error:
                return f"{row.status}: {row.error}"
            if column == CREATED:
                return format_time(row.created_at)
            return cell_text(row, column) or None
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self._column = column
        self._descending = order == Qt.SortOrder.DescendingOrder
        self._rebuild()
        self.layoutChanged.emit()

    # -- what is shown -----------------------------------------------------------------
    def run_id_at(self, view_row: int) -> str:
        return self._order[-1 - view_row if self._descending else view_row]

    def row_of(self, run_id: str) -> int:
        """The view row of ``run_id``, -1 when it is filtered out or unknown."""
        if run_id not in self._rows:
            return -1
        key = sort_key(self._rows[run_id], self._column)
        pos = bisect_left(self._keys, key)
        if pos >= len(self._order) or self._order[pos] != run_id:
            return -1
        return len(self._order) - 1 - pos if self._descending else pos

    def run(self, run_id: str):
        return self._rows.get(run_id)

    @property
    def total(self) -> int:
        return len(self._rows)

    def set_filter(self, text: str = "", kind: str = ANY, status: str = ANY) -> None:
        self.beginResetModel()
        self._text, self._kind, self._status = text.strip().lower(), kind, status
        self._rebuild()
        self.endResetModel()

    def kinds(self) -> list[str]:
        return sorted({r.kind for r in self._rows.values()})

    def set_rows(self, rows) -> None:
        self.beginResetModel()
        self._rows = {r.id: r for r in rows}
        self._haystack = {}  # filled as a text filter needs it
        self._rebuild()
        self.endResetModel()

    def apply(self, rows, removed=()) -> None:
        """Add or update ``rows`` and drop the runs in ``removed``, row by row."""
        for run_id in removed:
            self._hide(run_id)
            self._rows.pop(run_id, None)
            self._haystack.pop(run_id, None)
        for row in rows:
            old = self._rows.get(row.id)
            shown = old is not None and self.row_of(row.id) >= 0
            self._haystack.pop(row.id, None)  # the filter reads the new row's text
            if shown and self._accepts(row) and \
                    sort_key(old, self._column) == sort_key(row, self._column):
                self._rows[row.id] = row
                view_row = self.row_of(row.id)
                self.dataChanged.emit(self.index(view_row, 0),
                                      self.index(view_row, len(COLUMNS) - 1))
                continue
            if shown:
                self._hide(row.id)
            self._rows[row.id] = row
            if self._accepts(row):
                self._show(row)

    # -- internals -------------------------------------------------------------------
    def _accepts(self, row) -> bool:
        return ((self._kind == ANY or row.kind == self._kind)
                and (self._status == ANY or row.status == self._status)
                and (not self._text or self._text in self._haystack_of(row)))

    def _haystack_of(self, row) -> str:
        text = self._haystack.get(row.id)
        if text is None:
            text = self._haystack[row.id] = _haystack(row)
        return text

    def _rebuild(self) -> None:
        shown = [r for r in self._rows.values() if self._accepts(r)]
        pairs = sorted((sort_key(r, self._column), r.id) for r in shown)
        self._keys = [k for k, _ in pairs]
        self._order = [i for _, i in pairs]

    def _show(self, row) -> None:
        key = sort_key(row, self._column)
        pos = bisect_left(self._keys, key)
        view_row = len(self._order) - pos if self._descending else pos
        self.beginInsertRows(QModelIndex(), view_row, view_row)
        self._keys.insert(pos, key)
        self._order.insert(pos, row.id)
        self.endInsertRows()

    def _hide(self, run_id: str) -> None:
        view_row = self.row_of(run_id)
        if view_row < 0:
            return
        pos = len(self._order) - 1 - view_row if self._descending else view_row
        self.beginRemoveRows(QModelIndex(), view_row, view_row)
        del self._keys[pos], self._order[pos]
        self.endRemoveRows()


def _haystack(row) -> str:
    return " ".join(cell_text(row, c) for c in (RUN, KIND, MODEL, DATASET, WHAT, STATUS)
                    ).lower()


class QtRunTable(QWidget):
    """The run table with a text filter and kind/status filters."""

    current_run_changed = Signal(object)  # a run id, or None
    run_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = RunTableModel(self)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter runs: id, kind, model, dataset, method, layer")
        self.filter_edit.setClearButtonEnabled(True)
        self.kind_combo = QComboBox()
        self.kind_combo.setToolTip("Show runs of one kind")
        self.status_combo = QComboBox()
        self.status_combo.setToolTip("Show runs in one status")
        self.status_combo.addItem("all statuses", ANY)
        for status in STATUS_COLOURS:
            self.status_combo.addItem(status, status)
        self._fill_kinds()
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(CREATED, Qt.SortOrder.DescendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        vheader = self.view.verticalHeader()
        vheader.setVisible(False)
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vheader.setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in ((RUN, 100), (KIND, 78), (WHAT, 125), (MODEL, 60), (STATUS, 72),
                              (SAMPLES, 58), (DATASET, 90), (CREATED, 62)):
            self.view.setColumnWidth(column, width)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.kind_combo)
        bar.addWidget(self.status_combo)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.kind_combo.currentIndexChanged.connect(self._on_filter_changed)
        self.status_combo.currentIndexChanged.connect(self._on_filter_changed)
        self.view.selectionModel().currentRowChanged.connect(self._on_view_current_changed)
        self.view.doubleClicked.connect(
            lambda index: self.run_activated.emit(index.data(RUN_ID_ROLE)))

    def set_rows(self, rows) -> None:
        current = self.current_run()
        self.model.set_rows(rows)
        self._fill_kinds()
        if current:
            self.select(current)

    def apply(self, rows, removed=()) -> None:
        current = self.current_run()
        self.model.apply(rows, removed)
        if any(r.kind not in self._kinds for r in rows):
            self._fill_kinds()
        if current and self.model.row_of(current) >= 0 and self.current_run() != current:
            self.select(current)

    def current_run(self) -> str | None:
        index = self.view.currentIndex()
        return index.data(RUN_ID_ROLE) if index.isValid() else None

    def select(self, run_id: str | None) -> bool:
        row = self.model.row_of(run_id) if run_id else -1
        if row < 0:
            self.view.clearSelection()
            self.view.setCurrentIndex(QModelIndex())
            return False
        index = self.model.index(row, 0)
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)
        return True

    def _fill_kinds(self) -> None:
        self._kinds = set(self.model.kinds())
        current = self.kind_combo.currentData() or ANY
        self.kind_combo.blockSignals(True)
        self.kind_combo.clear()
        self.kind_combo.addItem("all kinds", ANY)
        for kind in sorted(self._kinds):
            self.kind_combo.addItem(kind, kind)
        self.kind_combo.setCurrentIndex(max(0, self.kind_combo.findData(current)))
        self.kind_combo.blockSignals(False)

    def _on_filter_changed(self, *_):
        current = self.current_run()
        self.model.set_filter(self.filter_edit.text(), self.kind_combo.currentData() or ANY,
                              self.status_combo.currentData() or ANY)
        if current:
            self.select(current)

    def _on_view_current_changed(self, current, previous) -> None:
        self.current_run_changed.emit(current.data(RUN_ID_ROLE) if current.isValid() else None)
