"""The main window: views in tabs, the workspace browser on the left, jobs,
notifications and the log at the bottom, and the menus.

Window geometry and dock layout, recent workspaces and the last directory are kept in
``app_settings()``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QTabWidget,
    QWidget,
)

from widgets._gui_thread import connect_model
from widgets.qt_catalog_watch import QtCatalogWatch
from widgets.qt_dialogs import last_dir, remember_dir
from widgets.qt_empty_state import QtEmptyState
from widgets.qt_job_runner import QtJobRunner
from widgets.qt_jobs_panel import QtJobsPanel
from widgets.qt_log_panel import QtLogView, QtNotificationList, report_plugin_failures
from widgets.qt_run_overview import QtRunOverview
from widgets.qt_text import plain_label
from widgets.qt_workspace_browser import QtWorkspaceBrowser
from widgets.settings import app_settings

RECENT = "workspaces/recent"
MAX_RECENT = 8
NOW = "Not in this version yet. For now, select an activation run in the workspace " \
      "browser: the Overview tab summarises each of its layers."
PENDING_VIEWS = {
    "Layers": ("Layers",
               "Layer by layer: activation maps of single samples, per-unit statistics and "
               "the model's layer graph, linked to the samples you select elsewhere.", NOW),
    "Embedding": ("Embedding",
                  "UMAP, PCA and t-SNE projections of one layer's activations, coloured by "
                  "class or prediction; brushing points selects samples in every view.", NOW),
    "Attribution": ("Attribution",
                    "Per-sample attribution maps (Integrated Gradients, Saliency and other "
                    "Captum methods) with their convergence delta and faithfulness scores.",
                    NOW),
    "Pruning": ("Pruning",
                "Pruned variants of a model side by side: accuracy and feature geometry "
                "(angle, feature norm, margin) against sparsity.", NOW),
    "Robustness": ("Robustness",
                   "Accuracy and feature geometry under corruptions and attacks, and "
                   "out-of-distribution scores.", NOW),
}


def _spec_for(title: str):
    from widgets.views import VIEWS

    return next((s for s in VIEWS.values() if s.title == title), None)


class _WideViewArea(QScrollArea):
    """A view that scrolls sideways when its controls need more width than the window
    has, instead of squeezing the workspace browser to a sliver (a tab widget is as
    wide as its widest page). Heights are left to the layout, as without the area."""

    def __init__(self, view: QWidget):
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(view)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(200, self.widget().minimumSizeHint().height())


def recent_workspaces() -> list[str]:
    value = app_settings().value(RECENT, [])
    if isinstance(value, str):  # QSettings returns a lone string for a one-item list
        value = [value]
    return [str(v) for v in (value or [])]


def add_recent_workspace(path: str) -> list[str]:
    path = str(Path(path).resolve())
    items = [path] + [p for p in recent_workspaces() if p != path]
    items = items[:MAX_RECENT]
    app_settings().setValue(RECENT, items)
    return items


class QtMainWindow(QMainWindow):
    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.setObjectName("deepscope-main-window")
        self.runner = QtJobRunner(session.jobs, self, notify=session.notify)
        self.catalog_watch = QtCatalogWatch(session, self)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.overview = QtRunOverview(session, runner=self.runner)
        self.tabs.addTab(self.overview, "Overview")
        self.pending_pages: dict[str, QtEmptyState] = {}
        self.views: dict[str, QWidget] = {}
        for title, texts in PENDING_VIEWS.items():
            view = self._build_view(title)
            if view is None:
                view = QtEmptyState(*texts)
                self.pending_pages[title] = view
            self.tabs.addTab(_WideViewArea(view), title)
        self.setCentralWidget(self.tabs)

        self.browser = QtWorkspaceBrowser(session)
        self.browser.run_activated.connect(lambda _: self.tabs.setCurrentWidget(self.overview))
        self.jobs_panel = QtJobsPanel(session)
        self.notifications = QtNotificationList(session)
        self.log_view = QtLogView(attach_to="")
        self.browser_dock = self._dock("Workspace", self.browser,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self.jobs_dock = self._dock("Jobs", self.jobs_panel,
                                    Qt.DockWidgetArea.BottomDockWidgetArea)
        self.notifications_dock = self._dock("Notifications", self.notifications,
                                             Qt.DockWidgetArea.BottomDockWidgetArea)
        self.log_dock = self._dock("Log", self.log_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.jobs_dock, self.notifications_dock)
        self.tabifyDockWidget(self.notifications_dock, self.log_dock)
        self.jobs_dock.raise_()
        self.resizeDocks([self.browser_dock], [520], Qt.Orientation.Horizontal)
        self.resizeDocks([self.jobs_dock], [230], Qt.Orientation.Vertical)

        self.workspace_label = plain_label("")
        self.statusBar().addPermanentWidget(self.workspace_label)
        self.notifications.notification_added.connect(self._on_notifications_added)
        self._build_menus()
        connect_model(self, session.workspace_changed, self._on_session_workspace_changed,
                      nargs=1)
        connect_model(self, session.show_view_requested, self._on_session_show_view_requested)
        report_plugin_failures(self, session)
        self._on_session_workspace_changed(session.workspace)
        self._restore_settings()

    def _build_view(self, title: str) -> QWidget | None:
        """The real view for a tab, or None (not built yet, or failed: then notified)."""
        from widgets import views

        spec = _spec_for(title)
        if spec is None or not views.available(spec):
            return None
        try:
            view = views.load(spec.widget)(self.session, self.runner)
        except Exception as exc:  # noqa: BLE001 - one broken view must not stop the window
            import traceback

            self.session.notify("error", f"The {title} view failed to start",
                                f"{type(exc).__name__}: {exc}",
                                details=traceback.format_exc())
            return None
        self.views[spec.name] = view
        return view

    def _on_session_show_view_requested(self, name: str, options: dict) -> None:
        """Another view hands over (the Pruning view's dense vs pruned embedding): show
        that view's tab and pass the options to its ``show_request``, if it has one."""
        view = self.views.get(name)
        if view is None:
            self.session.notify("warning", "View not available",
                                f"the {name} view is not available in this window.")
            return
        for i in range(self.tabs.count()):
            page = self.tabs.widget(i)
            if page is view or (isinstance(page, _WideViewArea) and page.widget() is view):
                self.tabs.setCurrentIndex(i)
                break
        show_request = getattr(view, "show_request", None)
        if callable(show_request):
            show_request(dict(options))

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # -- menus -------------------------------------------------------------------
    def _action(self, menu: QMenu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "New workspace…", self._on_new_workspace_triggered,
                     QKeySequence.StandardKey.New)
        self._action(file_menu, "Open workspace…", self._on_open_workspace_triggered,
                     QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self.import_model_action = self._action(file_menu, "Import model…",
                                                self._on_import_model_triggered)
        self.import_data_action = self._action(file_menu, "Import data…",
                                               self._on_import_data_triggered)
        file_menu.addSeparator()
        self._action(file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit)
        analysis = bar.addMenu("&Analysis")
        self.extract_action = self._action(analysis, "Extract activations…",
                                           self._on_extract_triggered)
        view = bar.addMenu("&View")
        for dock in (self.browser_dock, self.jobs_dock, self.notifications_dock,
                     self.log_dock):
            view.addAction(dock.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "About DeepScope", self._on_about_triggered)
        self._action(help_menu, "Plugins…", self._on_plugins_triggered)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = recent_workspaces()
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_workspace(p))
        if not recent:
            self.recent_menu.addAction("No recent workspaces").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(
                lambda: app_settings().setValue(RECENT, []))

    # -- workspace -------------------------------------------------------------------
    def open_workspace(self, path: str, create: bool = False) -> bool:
        from visualizer.errors import DeepScopeError

        try:
            self.session.open_workspace(path, create=create)
        except DeepScopeError as exc:
            self.session.notify("error", "Cannot open workspace", str(exc))
            return False
        add_recent_workspace(path)
        remember_dir(str(Path(path).parent))
        self._select_newest_run()
        return True

    def _select_newest_run(self) -> None:
        """Show something at once: the newest complete activation run, if there is one."""
        ws = self.session.workspace
        runs = ws.catalog.run_rows(kind="activations", status="complete", newest=1) \
            if ws is not None else []
        if runs and self.session.selection.run_id is None:
            self.session.selection.run_id = runs[-1].id

    def _on_session_workspace_changed(self, ws) -> None:
        name = ws.root.name if ws is not None else None
        self.setWindowTitle(f"{name} — DeepScope" if name else "DeepScope")
        self.workspace_label.setText(str(ws.root) if ws is not None else "no workspace open")
        for action in (self.import_model_action, self.import_data_action,
                       self.extract_action):
            action.setEnabled(ws is not None)

    def _on_new_workspace_triggered(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New workspace: choose a new folder name",
                                              last_dir())
        if path:
            self.open_workspace(path, create=True)

    def _on_open_workspace_triggered(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open workspace", last_dir())
        if path:
            self.open_workspace(path)

    def _on_import_model_triggered(self) -> None:
        from widgets.qt_dialogs import QtImportModelDialog, start_model_import

        dialog = QtImportModelDialog(self.runner, self)
        if dialog.exec():
            start_model_import(self, self.session, self.runner, *dialog.values())

    def _on_import_data_triggered(self) -> None:
        from widgets.qt_dialogs import QtImportDataDialog, start_data_import

        dialog = QtImportDataDialog(self)
        if dialog.exec():
            start_data_import(self.session, self.runner, *dialog.values())

    def _on_extract_triggered(self) -> None:
        from widgets.qt_extract_dialog import QtExtractDialog, start_extraction

        dialog = QtExtractDialog(self.session, self.runner, self)
        if dialog.exec():
            start_extraction(self.session, self.runner, dialog.request())
            self.jobs_dock.raise_()

    def _on_about_triggered(self) -> None:
        import visualizer

        box = QMessageBox(self)
        box.setWindowTitle("About DeepScope")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(f"DeepScope {visualizer.__version__}\n\nVisual analytics for PyTorch "
                    "models: activations, attributions, embeddings and layers, kept in a "
                    "workspace on disk.")
        box.exec()

    def _on_plugins_triggered(self):
        from widgets.qt_plugins_dialog import QtPluginsDialog

        dialog = QtPluginsDialog(parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _on_notifications_added(self, note) -> None:
        self.statusBar().showMessage(f"{note.title}: {note.text}"[:300], 8000)
        if note.level == "error" and not self.notifications_dock.isVisible():
            self.notifications_dock.show()

    # -- settings ---------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = app_settings()
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1480, 900)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        else:  # first start: give the browser room for its columns
            QTimer.singleShot(0, lambda: self.resizeDocks([self.browser_dock], [520],
                                                          Qt.Orientation.Horizontal))

    def save_settings(self) -> None:
        s = app_settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_settings()
        self.runner.shutdown(wait=False)
        self.log_view.detach()
        super().closeEvent(event)
