"""Notifications and the log.

``QtLogHandler`` is a ``logging.Handler`` that may be called from any thread; it hands
each formatted record to the GUI thread through a queued Qt signal. ``QtLogView`` shows
them. ``QtNotificationList`` shows ``session.notified`` (level icon and colour, time,
title, text; details on demand). ``report_plugin_failures`` turns plugin failures into
error notifications that name the plugin and the hook.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from widgets._gui_thread import connect_model
from widgets.qt_text import mono_font, show_text_dialog

LEVEL_ICONS = {"info": QStyle.StandardPixmap.SP_MessageBoxInformation,
               "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
               "error": QStyle.StandardPixmap.SP_MessageBoxCritical}
LEVEL_COLOURS = {"info": "#1565c0", "warning": "#ef6c00", "error": "#c62828"}
NOTE = Qt.ItemDataRole.UserRole


class _LogEmitter(QObject):
    record_emitted = Signal(int, str)  # levelno, formatted text


class QtLogHandler(logging.Handler):
    """Forward log records from any thread to the GUI thread as ``record_emitted``."""

    def __init__(self, level: int = logging.INFO):
        super().__init__(level)
        self.emitter = _LogEmitter()
        self.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            self.emitter.record_emitted.emit(record.levelno, text)
        except RuntimeError:  # the emitter is gone (shutting down)
            pass
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


class QtLogView(QWidget):
    """The log: records of the ``deepscope`` loggers (and warnings from anything else)."""

    MAX_LINES = 5000

    def __init__(self, parent: QWidget | None = None, *, attach_to: str | None = ""):
        super().__init__(parent)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(mono_font())
        self.text.setMaximumBlockCount(self.MAX_LINES)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setPlaceholderText("Log messages appear here.")
        clear = QPushButton("Clear")
        clear.clicked.connect(self.text.clear)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(clear)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.text)
        lay.addLayout(bottom)
        self.handler = QtLogHandler()
        self.handler.emitter.setParent(self)
        self.handler.emitter.record_emitted.connect(self._on_handler_record_emitted)
        self._logger = None
        if attach_to is not None:
            self._logger = logging.getLogger(attach_to or None)
            self._logger.addHandler(self.handler)
            logger, handler = self._logger, self.handler
            self.destroyed.connect(lambda *_: logger.removeHandler(handler))

    def _on_handler_record_emitted(self, levelno: int, text: str) -> None:
        self.text.appendPlainText(text)

    def detach(self) -> None:
        if self._logger is not None:
            self._logger.removeHandler(self.handler)
            self._logger = None


class QtNotificationList(QWidget):
    """Notifications of the session, newest on top; double-click shows the details."""

    notification_added = Signal(object)  # the Notification, on the GUI thread

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Time", "Title", "Message"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.tree.setColumnWidth(1, 240)
        self.tree.itemDoubleClicked.connect(self._on_tree_item_double_clicked)
        self.details_button = QPushButton("Details…")
        self.details_button.setEnabled(False)
        self.details_button.clicked.connect(self._on_details_clicked)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.tree.clear)
        self.tree.currentItemChanged.connect(
            lambda cur, prev: self.details_button.setEnabled(cur is not None))
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.details_button)
        bottom.addWidget(clear)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.tree)
        lay.addLayout(bottom)
        connect_model(self, session.notified, self._on_session_notified)

    def _on_session_notified(self, note) -> None:
        item = QTreeWidgetItem([time.strftime("%H:%M:%S"), note.title, note.text])
        item.setData(0, NOTE, note)
        icon = LEVEL_ICONS.get(note.level, LEVEL_ICONS["info"])
        item.setIcon(0, self.style().standardIcon(icon))
        item.setForeground(1, QBrush(QColor(LEVEL_COLOURS.get(note.level, "#000000"))))
        tip = note.text + (f"\n\n{note.details}" if note.details else "")
        item.setToolTip(2, tip[:4000])
        item.setToolTip(1, note.title)
        self.tree.insertTopLevelItem(0, item)
        self.notification_added.emit(note)

    def notifications(self) -> list:
        return [self.tree.topLevelItem(i).data(0, NOTE)
                for i in range(self.tree.topLevelItemCount())]

    def _on_tree_item_double_clicked(self, item, column) -> None:
        self.show_details(item.data(0, NOTE))

    def _on_details_clicked(self) -> None:
        item = self.tree.currentItem()
        if item is not None:
            self.show_details(item.data(0, NOTE))

    def show_details(self, note):
        text = f"{note.title}\n\n{note.text}"
        if note.details:
            text += f"\n\n{note.details}"
        return show_text_dialog(self, note.title, text)


def report_plugin_failures(owner: QObject, session) -> None:
    """Plugin failures become error notifications naming the plugin and the hook."""
    from plugins.manager import get_manager

    def on_failure(failure) -> None:
        session.notify("error", f"Plugin {failure.plugin!r} failed",
                       f"in {failure.hook}: {failure.message}", details=failure.traceback)

    manager = get_manager()
    # Failures found at discovery (a broken manifest) happened before we subscribed.
    for info in manager.plugins.values():
        for failure in info.failures:
            on_failure(failure)
    signal = manager.failure_reported
    signal.connect(on_failure)
    owner.destroyed.connect(lambda *_: signal.disconnect(on_failure, missing_ok=True))
