"""The workspace browser: models, datasets and runs of the open workspace in one tree.

Selecting an activation run makes it the session's current run
(``session.selection.run_id``), and a change of that selection elsewhere selects the
run here. A details pane shows the selected entry's parameters, metrics, provenance
and error as plain text. Run states update live while jobs run.
"""

from __future__ import annotations

import json
import time
from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QHeaderView,
    QMenu,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from widgets._gui_thread import connect_model
from widgets.qt_text import plain_text_view, show_text_dialog

COLUMNS = ("Name", "Type", "Status", "Created", "Details")
TYPE, STATUS, CREATED, DETAILS = 1, 2, 3, 4
KEY = Qt.ItemDataRole.UserRole
STATUS_COLOURS = {"complete": "#2e7d32", "failed": "#c62828", "running": "#1565c0",
                  "cancelled": "#8d6e63", "interrupted": "#ef6c00"}


def format_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else ""


def short_time(ts: float | None) -> str:
    """``HH:MM`` for today, the date otherwise (the full time is in the tooltip)."""
    if not ts:
        return ""
    same_day = time.localtime(ts)[:3] == time.localtime()[:3]
    return time.strftime("%H:%M" if same_day else "%Y-%m-%d", time.localtime(ts))


def _shape(shape: Any) -> str:
    return "×".join(str(s) for s in shape) if shape else "?"


def model_summary(rec) -> str:
    parts = [(rec.architecture or "architecture not recorded").removeprefix("deepscope.")]
    acc = rec.info.get("test_accuracy")
    if isinstance(acc, (int, float)):
        parts.append(f"test acc {100 * acc:.1f}%")
    n = rec.info.get("n_params")
    if isinstance(n, int):
        parts.append(f"{n:,} params")
    return " · ".join(parts)


def dataset_summary(rec) -> str:
    info = rec.info
    parts = []
    if "n_samples" in info:
        parts.append(f"{info['n_samples']:,} samples")
    if "sample_shape" in info:
        parts.append(_shape(info["sample_shape"]))
    if info.get("class_names"):
        parts.append(f"{len(info['class_names'])} classes")
    return " · ".join(parts)


def run_summary(run) -> str:
    p = run.params
    text = f"{p.get('model', run.record.model or '?')} on {p.get('dataset', run.record.dataset or '?')}"
    if p.get("split"):
        text += f" ({p['split']})"
    if p.get("layer"):
        text += f" · {p['layer']}"
    return text


def describe_entry(ws, key: tuple[str, str]) -> str:
    """Plain-text details of a model, dataset or run of ``ws``."""
    kind, name = key
    dump = lambda obj: json.dumps(obj, indent=2, sort_keys=True, default=str)  # noqa: E731
    if kind == "model":
        rec = ws.catalog.model(name)
        return (f"Model {rec.name}\nformat: {rec.format}\narchitecture: {rec.architecture}\n"
                f"file: {rec.path}\nSHA-256: {rec.sha256}\nadded: {format_time(rec.created_at)}"
                f"\n\nInfo:\n{dump(rec.info)}")
    if kind == "dataset":
        rec = ws.catalog.dataset(name)
        return (f"Dataset {rec.name}\nsource: {rec.source}\nfile: {rec.path or '(built in)'}\n"
                f"SHA-256: {rec.sha256}\nadded: {format_time(rec.created_at)}"
                f"\n\nInfo:\n{dump(rec.info)}")
    run = ws.run(name)
    r = run.record
    took = f" ({r.finished_at - r.created_at:.1f} s)" if r.finished_at else ""
    lines = [f"Run {r.id}", f"kind: {r.kind}    status: {r.status}",
             f"model: {r.model}    dataset: {r.dataset}    split: {r.params.get('split', '')}",
             f"created: {format_time(r.created_at)}    finished: {format_time(r.finished_at)}{took}"]
    if r.error:
        lines += ["", f"Error: {r.error}"]
    lines += ["", "Metrics:", dump(r.metrics), "", "Parameters:", dump(r.params),
              "", "Provenance:", dump(r.provenance)]
    return "\n".join(lines)


class QtWorkspaceBrowser(QWidget):
    """Tree of the workspace's models, datasets and runs, linked to the selection."""

    run_activated = Signal(str)  # a run was chosen (double-click / "Show in Overview")

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._updating = False
        self._items: dict[tuple[str, str], QTreeWidgetItem] = {}
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in enumerate((140, 95, 70, 80)):
            self.tree.setColumnWidth(col, width)
        self.groups: dict[str, QTreeWidgetItem] = {}
        bold = QFont()
        bold.setBold(True)
        for group in ("models", "datasets", "runs"):
            item = QTreeWidgetItem([group.capitalize()])
            item.setFont(0, bold)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
            item.setFirstColumnSpanned(False)
            self.groups[group] = item
        self.details = plain_text_view("", mono=True)
        self.details.setPlaceholderText("Select a model, dataset or run to see its details.")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.tree)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(splitter)

        self.tree.currentItemChanged.connect(self._on_tree_current_changed)
        self.tree.itemDoubleClicked.connect(self._on_tree_double_clicked)
        self.tree.customContextMenuRequested.connect(self._on_tree_context_menu)
        self._poll = QTimer(self)
        self._poll.setInterval(1000)
        self._poll.timeout.connect(self._on_poll_timeout)
        self._poll.start()
        connect_model(self, session.catalog_changed, self.refresh)
        connect_model(self, session.workspace_changed, self._on_session_workspace_changed,
                      nargs=1)
        connect_model(self, session.selection.events.run_id,
                      self._on_selection_run_id_changed, nargs=1)
        self.refresh()

    # -- model -> view -----------------------------------------------------------
    def _on_session_workspace_changed(self, ws) -> None:
        self.details.clear()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the catalog; keeps the current item and the run selection."""
        ws = self.session.workspace
        current = self.current_key()
        self._updating = True
        try:
            for group in self.groups.values():
                group.takeChildren()
            self._items.clear()
            if ws is not None:
                self._fill(ws)
            for group in self.groups.values():
                group.setText(TYPE, f"{group.childCount()}")
            target = current if current in self._items else None
            run_id = self.session.selection.run_id
            if target is None and run_id and ("run", run_id) in self._items:
                target = ("run", run_id)
            if target is not None:
                self.tree.setCurrentItem(self._items[target])
        finally:
            self._updating = False
        if ws is None:
            self.details.setPlainText("No workspace is open.\n\nUse File > New workspace… "
                                      "or File > Open workspace…")

    def _fill(self, ws) -> None:
        for rec in ws.models():
            self._add("models", ("model", rec.name),
                      [rec.name, rec.format, "", rec.created_at, model_summary(rec)])
        for rec in ws.datasets():
            self._add("datasets", ("dataset", rec.name),
                      [rec.name, rec.source.removeprefix("deepscope."), "", rec.created_at,
                       dataset_summary(rec)])
        for run in reversed(ws.runs()):  # newest first
            item = self._add("runs", ("run", run.id),
                             [run.id, run.kind, run.status, run.record.created_at,
                              run_summary(run)])
            item.setForeground(STATUS, QBrush(QColor(STATUS_COLOURS.get(run.status, "#000000"))))
            if run.error:
                item.setToolTip(STATUS, f"{run.status}: {run.error}")

    def _add(self, group: str, key: tuple[str, str], texts: list) -> QTreeWidgetItem:
        created = texts[CREATED]
        texts = [str(t) for t in texts]
        texts[CREATED] = short_time(created)
        item = QTreeWidgetItem(texts)
        item.setData(0, KEY, key)
        for col, text in enumerate(texts):
            if text:
                item.setToolTip(col, text)
        item.setToolTip(CREATED, format_time(created))
        self.groups[group].addChild(item)
        self._items[key] = item
        return item

    def _on_selection_run_id_changed(self, run_id: str | None) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            item = self._items.get(("run", run_id)) if run_id else None
            if item is not None:
                self.tree.setCurrentItem(item)
                self.tree.scrollToItem(item)
                self._show_details(("run", run_id))
            elif self.current_key() and self.current_key()[0] == "run":
                self.tree.setCurrentItem(None)
        finally:
            self._updating = False

    def _on_poll_timeout(self) -> None:
        """Follow runs that are being written (status changes without a catalog event)."""
        ws = self.session.workspace
        if ws is None or not self.isVisible():
            return
        showing_running = any(it.text(STATUS) == "running" for k, it in self._items.items()
                              if k[0] == "run")
        if not showing_running and not self.session.jobs.running():
            return
        try:
            records = ws.catalog.runs()
        except Exception:  # noqa: BLE001 - the workspace may be moving under us
            return
        states = {("run", r.id): r.status for r in records}
        shown = {k: it.text(STATUS) for k, it in self._items.items() if k[0] == "run"}
        if states != shown:
            self.refresh()

    # -- view -> model -----------------------------------------------------------
    def current_key(self) -> tuple[str, str] | None:
        item = self.tree.currentItem()
        key = item.data(0, KEY) if item is not None else None
        return tuple(key) if key else None

    def select(self, key: tuple[str, str]) -> None:
        item = self._items.get(key)
        if item is not None:
            self.tree.setCurrentItem(item)

    def _on_tree_current_changed(self, current, previous) -> None:
        key = self.current_key()
        if key is None:
            return
        self._show_details(key)
        if self._updating or key[0] != "run":
            return
        item = self._items[key]
        if item.text(TYPE) == "activations" and item.text(STATUS) == "complete":
            self._updating = True
            try:
                self.session.selection.run_id = key[1]
            finally:
                self._updating = False

    def _on_tree_double_clicked(self, item, column) -> None:
        key = item.data(0, KEY)
        if key and key[0] == "run":
            self.run_activated.emit(key[1])

    def _show_details(self, key: tuple[str, str]) -> None:
        ws = self.session.workspace
        if ws is None:
            return
        try:
            self.details.setPlainText(describe_entry(ws, key))
        except Exception as exc:  # noqa: BLE001 - a deleted run must not break the view
            self.details.setPlainText(f"Cannot read {key[0]} {key[1]}: {exc}")

    def _on_tree_context_menu(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        key = item.data(0, KEY) if item is not None else None
        if not key:
            return
        key = tuple(key)
        menu = QMenu(self)
        if key[0] == "run":
            show = QAction("Show in Overview", menu)
            show.setEnabled(item.text(TYPE) == "activations" and item.text(STATUS) == "complete")
            show.triggered.connect(lambda: self._activate_run(key[1]))
            menu.addAction(show)
        details = QAction("Details…", menu)
        details.triggered.connect(lambda: self.open_details_dialog(key))
        menu.addAction(details)
        copy = QAction("Copy name" if key[0] != "run" else "Copy run id", menu)
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(key[1]))
        menu.addAction(copy)
        menu.popup(self.tree.viewport().mapToGlobal(pos))

    def _activate_run(self, run_id: str) -> None:
        self.session.selection.run_id = run_id
        self.run_activated.emit(run_id)

    def open_details_dialog(self, key: tuple[str, str]):
        ws = self.session.workspace
        text = describe_entry(ws, key) if ws is not None else ""
        return show_text_dialog(self, f"{key[0].capitalize()} {key[1]}", text)
