"""The forgotten panel's counts: one row per pruned model of a parent, grouped by method
(and schedule) and sorted by sparsity, with how many test samples it forgot and gained.
Read from the catalog (each pruned model's lineage), never from a run file."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from widgets.pruning.style import plain_tip

COLUMNS = ("method", "sparsity", "forgotten", "gained", "accuracy")
HEADERS = ("method", "sparsity", "forgot", "gained", "acc.")


def series(point) -> str:
    """A row's method: the method, channels, and a schedule other than one-shot."""
    extra = [p for p in ("channels" if point.structured else "",
                         "" if point.schedule == "oneshot" else point.schedule) if p]
    return " · ".join([point.method, *extra])


class QtForgottenCounts(QTableWidget):
    model_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.points: list = []  # PrunedPoint, in row order
        self.setHorizontalHeaderLabels(list(HEADERS))
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(22)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)  # see resizeEvent
        self.cellClicked.connect(lambda row, _col: self.model_clicked.emit(
            self.points[row].model))
        self.setToolTip("Test samples each pruned model of the parent forgot (dense right, "
                        "pruned wrong) and gained; click a row to show its samples")

    def set_points(self, points: list, current: str | None) -> None:
        """Show ``points`` (``results.PrunedPoint``); ``current`` in bold, selected."""
        self.points = sorted(points, key=lambda q: (series(q), q.target_sparsity, q.model))
        self.setRowCount(len(self.points))
        bold = QFont(self.font())
        bold.setBold(True)
        for r, q in enumerate(self.points):
            cells = (series(q), f"{q.sparsity:.0%}",
                     "" if q.forgotten is None else str(q.forgotten),
                     "" if q.gained is None else str(q.gained), f"{q.accuracy:.1%}")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(plain_tip(f"{q.model}: accuracy {q.accuracy:.2%} (dense "
                                          f"{q.parent_accuracy:.2%})"))
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if q.model == current:
                    item.setFont(bold)
                self.setItem(r, c, item)
            if q.model == current:
                self.selectRow(r)
        self.resizeColumnsToContents()
        self._fit_method_column()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        """The method column takes the width the numbers leave, down to a readable 90
        px (then the table scrolls sideways rather than hide every method name)."""
        super().resizeEvent(event)
        self._fit_method_column()

    def _fit_method_column(self) -> None:
        header = self.horizontalHeader()
        others = sum(header.sectionSize(c) for c in range(1, len(COLUMNS)))
        natural = max(self.sizeHintForColumn(0), header.sectionSizeHint(0))
        self.setColumnWidth(0, max(min(natural, 90), self.viewport().width() - others))

    def counts(self) -> dict[str, tuple[int | None, int | None]]:
        """What the table shows: model -> (forgotten, gained)."""
        return {q.model: (q.forgotten, q.gained) for q in self.points}

    def natural_width(self) -> int:
        """Pixels for every column without scrolling (frame, margins, a bold row)."""
        header = self.horizontalHeader()
        return sum(max(self.sizeHintForColumn(c), header.sectionSizeHint(c))
                   for c in range(len(COLUMNS))) + 44
