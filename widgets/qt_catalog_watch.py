"""Turn writes to the open workspace's catalog into ``session.catalog_changed`` events.

Two wake-ups, no polling: a write in this process (a job thread, a dialog) reaches the
session through the catalog's write listeners; a write by another process (a worker
process, the CLI in a terminal) changes the SQLite WAL file, which the kernel reports
through ``QFileSystemWatcher`` (inotify on Linux). Either starts a short single-shot
timer, so a burst of writes becomes one ``session.check_catalog()`` on the GUI thread:
one indexed query of the change log, then each view updates what the change names.
"""

from __future__ import annotations

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer

from widgets._gui_thread import connect_model

COALESCE_MS = 40  # a job's burst of writes becomes one event


class QtCatalogWatch(QObject):
    def __init__(self, session, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(COALESCE_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._files = QFileSystemWatcher(self)
        self._files.fileChanged.connect(self._on_files_changed)
        self._files.directoryChanged.connect(self._on_files_changed)
        connect_model(self, session.catalog_touched, self.schedule)
        connect_model(self, session.workspace_changed, self._on_session_workspace_changed,
                      nargs=1)
        self._on_session_workspace_changed(session.workspace)

    def schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _on_session_workspace_changed(self, ws) -> None:
        for paths in (self._files.files(), self._files.directories()):
            if paths:
                self._files.removePaths(paths)
        if ws is not None:
            self._files.addPath(str(ws.root))  # the WAL file may come and go
            self._watch_wal()

    def _watch_wal(self) -> None:
        ws = self.session.workspace
        if ws is None:
            return
        wal = f"{ws.catalog.path}-wal"
        if wal not in self._files.files():
            import os

            if os.path.exists(wal):
                self._files.addPath(wal)

    def _on_files_changed(self, path: str) -> None:
        self._watch_wal()
        self.schedule()

    def _on_timer_timeout(self) -> None:
        self.session.check_catalog()
