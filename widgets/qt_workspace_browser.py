"""The workspace browser: models and datasets in a tree, runs in a sortable table.

Selecting an activation run makes it the session's current run
(``session.selection.run_id``), and a change of that selection elsewhere selects the
run here. A details pane shows the selected entry's parameters, metrics, provenance
and error as plain text. The browser follows ``session.catalog_changed``: a change
touches only the rows it names, so it stays cheap with tens of thousands of runs, and
the whole list is read off the GUI thread when a workspace opens.
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QHeaderView,
    QMenu,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from widgets._gui_thread import call_on_gui, connect_model
from widgets.qt_run_table import RUN_ID_ROLE, QtRunTable, format_time
from widgets.qt_text import plain_label, plain_text_view, show_text_dialog

COLUMNS = ("Name", "Type", "Details")
TYPE, DETAILS = 1, 2
KEY = Qt.ItemDataRole.UserRole


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
    """Models and datasets (tree), runs (table), linked to the selection."""

    run_activated = Signal(str)  # a run was chosen (double-click / "Show in Overview")

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._updating = False
        self._load_token = 0
        self._pending: dict[str, str] | None = None
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
        for col, width in enumerate((140, 95)):
            self.tree.setColumnWidth(col, width)
        self.groups: dict[str, QTreeWidgetItem] = {}
        bold = QFont()
        bold.setBold(True)
        for group in ("models", "datasets"):
            item = QTreeWidgetItem([group.capitalize()])
            item.setFont(0, bold)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
            self.groups[group] = item
        self.runs = QtRunTable()
        self.runs_label = plain_label("Runs")
        self.runs_label.setFont(bold)
        runs_page = QWidget()
        runs_lay = QVBoxLayout(runs_page)
        runs_lay.setContentsMargins(0, 4, 0, 0)
        runs_lay.setSpacing(2)
        runs_lay.addWidget(self.runs_label)
        runs_lay.addWidget(self.runs, 1)
        self.details = plain_text_view("", mono=True)
        self.details.setPlaceholderText("Select a model, dataset or run to see its details.")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.tree)
        splitter.addWidget(runs_page)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([150, 420, 160])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(splitter)

        self.tree.currentItemChanged.connect(self._on_tree_current_changed)
        self.tree.customContextMenuRequested.connect(self._on_tree_context_menu)
        self.runs.current_run_changed.connect(self._on_runs_current_changed)
        self.runs.run_activated.connect(self.run_activated)
        self.runs.view.customContextMenuRequested.connect(self._on_runs_context_menu)
        self.runs.model.modelReset.connect(self._update_runs_label)
        self.runs.model.rowsInserted.connect(self._update_runs_label)
        self.runs.model.rowsRemoved.connect(self._update_runs_label)
        connect_model(self, session.catalog_changed, self._on_session_catalog_changed, nargs=1)
        connect_model(self, session.workspace_changed, self._on_session_workspace_changed,
                      nargs=1)
        connect_model(self, session.selection.events.run_id,
                      self._on_selection_run_id_changed, nargs=1)
        self.refresh()

    @contextlib.contextmanager
    def _echo_blocked(self):
        """While the browser itself changes the tree, the table or the selection, the
        echoes of those changes are ignored (``self._updating``)."""
        self._updating = True
        try:
            yield
        finally:
            self._updating = False

    # -- model -> view -----------------------------------------------------------
    def _on_session_workspace_changed(self, ws) -> None:
        self.details.clear()
        self.refresh()

    def refresh(self, wait: bool = False) -> None:
        """Re-read the catalog: models and datasets here, the runs in a thread (or here
        with ``wait``). Keeps the current entry and the run selection."""
        ws = self.session.workspace
        self._fill_tree(ws)
        self._load_token += 1
        if ws is None:
            self.runs.set_rows([])
            self.details.setPlainText("No workspace is open.\n\nUse File > New workspace… "
                                      "or File > Open workspace…")
            return
        token, catalog = self._load_token, ws.catalog
        self._pending = {}  # run id -> op, for changes that arrive while the list loads
        if wait:
            self._on_rows_loaded(token, catalog.run_rows())
            return
        self.runs_label.setText("Runs (reading …)")

        def load() -> None:
            try:
                rows = catalog.run_rows()
            except Exception as exc:  # noqa: BLE001 - say so in the list, never raise
                call_on_gui(self._on_rows_failed, token, str(exc))
                return
            call_on_gui(self._on_rows_loaded, token, rows)

        threading.Thread(target=load, name="read run list", daemon=True).start()

    def _on_rows_loaded(self, token: int, rows) -> None:
        if token != self._load_token or not isValid(self):
            return  # another workspace or a newer read
        with self._echo_blocked():
            self.runs.set_rows(rows)
            pending, self._pending = self._pending, None
            if pending:  # changed after the thread read its snapshot: apply them again
                self._apply_run_changes(pending)
            run_id = self.session.selection.run_id
            if run_id and (self.current_key() is None or self.current_key()[0] == "run"):
                self.runs.select(run_id)
        self._update_runs_label()

    def _on_rows_failed(self, token: int, message: str) -> None:
        if token == self._load_token and isValid(self):
            self.runs_label.setText(f"Runs (cannot be read: {message})")

    def _update_runs_label(self, *_) -> None:
        model = self.runs.model
        shown, total = model.rowCount(), model.total
        self.runs_label.setText(f"Runs ({total:,})" if shown == total
                                else f"Runs ({shown:,} of {total:,} shown)")

    def _on_session_catalog_changed(self, change) -> None:
        ws = self.session.workspace
        if ws is None:
            return
        if change.reset:
            self.refresh()
            return
        if change.models or change.datasets:
            self._fill_tree(ws)
        if change.runs:
            ops = {i: c.op for i, c in change.runs.items()}
            if self._pending is not None:  # the list is loading: apply on arrival too
                self._pending.update(ops)
            with self._echo_blocked():
                self._apply_run_changes(ops)
            key = self.current_key()
            if key is not None and key[0] == "run" and key[1] in change.runs:
                self._show_details(key)  # its status, metrics or error changed

    def _apply_run_changes(self, ops: dict[str, str]) -> None:
        """Update the rows of the runs in ``ops`` (run id -> operation) from the catalog."""
        removed = [i for i, op in ops.items() if op == "removed"]
        changed = [i for i, op in ops.items() if op != "removed"]
        self.runs.apply(self.session.workspace.catalog.run_rows(changed), removed)

    def _fill_tree(self, ws) -> None:
        current = self.current_key()
        with self._echo_blocked():
            for group in self.groups.values():
                group.takeChildren()
            self._items.clear()
            if ws is not None:
                for rec in ws.models():
                    self._add("models", ("model", rec.name),
                              [rec.name, rec.format, model_summary(rec)], rec.created_at)
                for rec in ws.datasets():
                    self._add("datasets", ("dataset", rec.name),
                              [rec.name, rec.source.removeprefix("deepscope."),
                               dataset_summary(rec)], rec.created_at)
            for group in self.groups.values():
                group.setText(TYPE, f"{group.childCount()}")
            if current in self._items:
                self.tree.setCurrentItem(self._items[current])

    def _add(self, group: str, key: tuple[str, str], texts: list, created: float
             ) -> QTreeWidgetItem:
        item = QTreeWidgetItem([str(t) for t in texts])
        item.setData(0, KEY, key)
        for col, text in enumerate(texts):
            if text:
                item.setToolTip(col, str(text))
        item.setToolTip(0, f"{texts[0]} (added {format_time(created)})")
        self.groups[group].addChild(item)
        self._items[key] = item
        return item

    def _on_selection_run_id_changed(self, run_id: str | None) -> None:
        if self._updating:
            return
        with self._echo_blocked():
            if run_id and self.runs.select(run_id):
                self.tree.setCurrentItem(None)
                self._show_details(("run", run_id))
            elif self.current_key() and self.current_key()[0] == "run":
                self.runs.select(None)

    # -- view -> model -----------------------------------------------------------
    def current_key(self) -> tuple[str, str] | None:
        run_id = self.runs.current_run()
        if run_id:
            return ("run", run_id)
        item = self.tree.currentItem()
        key = item.data(0, KEY) if item is not None else None
        return tuple(key) if key else None

    def select(self, key: tuple[str, str]) -> None:
        if key[0] == "run":
            self.runs.select(key[1])
            return
        item = self._items.get(key)
        if item is not None:
            self.tree.setCurrentItem(item)

    def _on_tree_current_changed(self, current, previous) -> None:
        key = current.data(0, KEY) if current is not None else None
        if not key:
            return
        if not self._updating:
            with self._echo_blocked():
                self.runs.select(None)
        self._show_details(tuple(key))

    def _on_runs_current_changed(self, run_id: str | None) -> None:
        if run_id is None:
            return
        if not self._updating:
            with self._echo_blocked():
                self.tree.setCurrentItem(None)
        self._show_details(("run", run_id))
        if self._updating:
            return
        row = self.runs.model.run(run_id)
        if row is not None and row.kind == "activations" and row.status == "complete":
            with self._echo_blocked():
                self.session.selection.run_id = run_id

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
        if key:
            self._context_menu(tuple(key), self.tree.viewport().mapToGlobal(pos))

    def _on_runs_context_menu(self, pos: QPoint) -> None:
        index = self.runs.view.indexAt(pos)
        if index.isValid():
            self._context_menu(("run", index.data(RUN_ID_ROLE)),
                               self.runs.view.viewport().mapToGlobal(pos))

    def _context_menu(self, key: tuple[str, str], global_pos) -> None:
        menu = QMenu(self)
        if key[0] == "run":
            row = self.runs.model.run(key[1])
            show = QAction("Show in Overview", menu)
            show.setEnabled(row is not None and row.kind == "activations"
                            and row.status == "complete")
            show.triggered.connect(lambda: self._activate_run(key[1]))
            menu.addAction(show)
        details = QAction("Details…", menu)
        details.triggered.connect(lambda: self.open_details_dialog(key))
        menu.addAction(details)
        copy = QAction("Copy name" if key[0] != "run" else "Copy run id", menu)
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(key[1]))
        menu.addAction(copy)
        menu.popup(global_pos)

    def _activate_run(self, run_id: str) -> None:
        self.session.selection.run_id = run_id
        self.run_activated.emit(run_id)

    def open_details_dialog(self, key: tuple[str, str]):
        ws = self.session.workspace
        text = describe_entry(ws, key) if ws is not None else ""
        return show_text_dialog(self, f"{key[0].capitalize()} {key[1]}", text)
