"""Help > Plugins…: every discovered plugin, its source and state, failures with tracebacks."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from widgets.qt_text import plain_text_view

TEXT = Qt.ItemDataRole.UserRole


def plugin_report(info) -> str:
    lines = [f"{info.display_name} ({info.name})", f"source: {info.source}",
             f"state: {info.state}", "", "Contributions:"]
    lines += [f"  {c.kind}: {c.id}" + (f" — {c.title}" if c.title else "")
              for c in info.contributions] or ["  none"]
    for f in info.failures:
        lines += ["", f"Failure in {f.hook}: {f.message}", f.traceback]
    return "\n".join(lines)


class QtPluginsDialog(QDialog):
    def __init__(self, manager=None, parent: QWidget | None = None):
        super().__init__(parent)
        if manager is None:
            from plugins.manager import get_manager

            manager = get_manager()
        self.setWindowTitle("Plugins")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Plugin", "Source", "State", "Contributions"])
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.details = plain_text_view("")
        self.details.setPlaceholderText("Select a plugin or a failure to see its details.")
        for info in manager.plugins.values():
            item = QTreeWidgetItem([info.name, info.source, info.state,
                                    str(len(info.contributions))])
            item.setToolTip(0, info.display_name)
            item.setData(0, TEXT, plugin_report(info))
            if info.failures:
                item.setForeground(2, QBrush(QColor("#c62828")))
            for f in info.failures:
                child = QTreeWidgetItem([f.hook, "", "failed", ""])
                child.setToolTip(0, f.message)
                child.setData(0, TEXT, f"{f.plugin} failed in {f.hook}\n\n{f.message}\n\n"
                                       f"{f.traceback}")
                item.addChild(child)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
        self.tree.currentItemChanged.connect(
            lambda cur, prev: cur is not None and self.details.setPlainText(cur.data(0, TEXT)))
        if self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.tree)
        splitter.addWidget(self.details)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(splitter)
        lay.addWidget(buttons)
        self.resize(820, 520)
