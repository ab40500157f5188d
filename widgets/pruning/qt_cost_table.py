"""What a pruned model costs against its dense parent: accuracy, parameters (all and
non-zero), MACs and, for channel pruning, measured latency, with ratios.

Latency is shown for channel pruning only: zeros in a mask do not make dense kernels
faster, so timing an unstructured model would only measure noise.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from widgets.pruning.style import count, ratio

ROWS = ("Test accuracy", "Parameters", "Non-zero parameters", "MACs", "Latency (ms)")


def cost_rows(point) -> list[tuple[str, str, str, str]]:
    """``(what, dense, pruned, pruned ÷ dense)`` rows for a ``PrunedPoint``."""
    cost = dict(point.cost or {})
    dense = dict(cost.pop("parent", None) or {})
    drop = 100 * (point.accuracy - point.parent_accuracy)
    rows = [("Test accuracy", f"{100 * point.parent_accuracy:.2f}%",
             f"{100 * point.accuracy:.2f}%", f"{drop:+.2f} pts")]
    for label, key in (("Parameters", "params"), ("Non-zero parameters", "nonzero_params"),
                       ("MACs", "macs")):
        rows.append((label, count(dense.get(key)), count(cost.get(key)),
                     ratio(cost.get(key), dense.get(key))))
    if point.structured and cost.get("latency_ms") is not None:
        rows.append(("Latency (ms)", f"{float(dense.get('latency_ms', 'nan')):.2f}",
                     f"{float(cost['latency_ms']):.2f}",
                     ratio(cost.get("latency_ms"), dense.get("latency_ms"))))
    else:
        rows.append(("Latency (ms)", "—", "—", "—"))  # why: in the row's tooltip
    return rows


class QtCostTable(QTableWidget):
    """A read-only table of :func:`cost_rows`; empty until ``set_point`` is called."""

    def __init__(self, parent=None):
        super().__init__(len(ROWS), 4, parent)
        self.setHorizontalHeaderLabels(["", "Dense", "Pruned", "Ratio"])
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setMinimumHeight(self._height())
        self.setMaximumHeight(self._height())
        self.set_point(None)

    def _height(self) -> int:
        return self.horizontalHeader().sizeHint().height() + 22 * len(ROWS) + 4

    def set_point(self, point) -> None:
        rows = cost_rows(point) if point is not None else [(r, "—", "—", "") for r in ROWS]
        latency_tip = ("Measured for channel pruning only: masked zeros do not make dense "
                       "kernels faster. Compare latencies measured on the same machine.")
        for r, values in enumerate(rows):
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)  # plain text: no rich-text guessing here
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if values[0].startswith("Latency"):
                    item.setToolTip(latency_tip)
                self.setItem(r, c, item)

    def texts(self) -> list[list[str]]:
        return [[self.item(r, c).text() for c in range(4)] for r in range(self.rowCount())]
