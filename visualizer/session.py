"""Qt-free application state: one ``Session`` holds the workspace, jobs and selection.

Views subscribe to these evented models and write back with plain setattr; models
never know views (napari's ``ViewerModel`` is the example). Everything here can be
driven from a script or a test without Qt.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from psygnal import Signal, evented

from visualizer.jobs.contract import Job

log = logging.getLogger("deepscope.session")


@evented
@dataclass
class Selection:
    """What the user is looking at, shared by every linked view."""

    sample_ids: tuple[int, ...] = ()  # positions in the split of ``run_id``'s dataset
    hovered_sample: int | None = None
    run_id: str | None = None  # the activation run the views read from
    layer: str | None = None
    class_id: int | None = None
    models: tuple[str, ...] = ()  # models under comparison


@dataclass
class Notification:
    level: str  # "info" | "warning" | "error"
    title: str
    text: str
    details: str = ""  # traceback or long explanation, shown on demand


class JobList:
    """The jobs of this session, newest last; the jobs panel mirrors it."""

    job_added = Signal(object)

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def add(self, job: Job) -> Job:
        self.jobs.append(job)
        self.job_added.emit(job)
        return job

    def running(self) -> list[Job]:
        return [j for j in self.jobs if not j.state.finished]


@dataclass
class Session:
    """Everything the GUI shows, in one place."""

    selection: Selection = field(default_factory=Selection)
    jobs: JobList = field(default_factory=JobList)
    workspace: object | None = None  # visualizer.workspace.Workspace, imported lazily

    workspace_changed = Signal(object)
    # CatalogChange: which models, datasets and runs were added, updated or removed.
    # Views subscribe to it instead of re-reading the catalog or polling it.
    catalog_changed = Signal(object)
    # A write to the open workspace's catalog happened in this process (emitted from the
    # writing thread, possibly many times a second): call ``check_catalog`` soon.
    catalog_touched = Signal()
    notified = Signal(object)  # Notification
    # A view asks for another one: (view name as in widgets.views.VIEWS, options). The
    # window switches to that tab and passes the options to the view's show_request.
    show_view_requested = Signal(str, dict)

    def __post_init__(self) -> None:
        from visualizer.workspace.catalog import add_write_listener

        self._seen_change = 0
        self._check_lock = threading.Lock()
        add_write_listener(self._on_catalog_written)

    def _on_catalog_written(self, path: Path) -> None:
        ws = self.workspace
        if ws is not None and path == ws.catalog.path:
            self.catalog_touched.emit()

    def check_catalog(self):
        """Read what changed in the catalog since the last look (by any process) and
        emit ``catalog_changed`` with it; returns the change (falsy when none)."""
        from visualizer.workspace.catalog import CatalogChange

        ws = self.workspace
        if ws is None:
            return CatalogChange()
        with self._check_lock:
            try:
                self._seen_change, change = ws.catalog.changes_since(self._seen_change)
            except Exception as exc:  # noqa: BLE001 - a locked or moved file: say so, go on
                log.warning("cannot read the catalog's changes: %s", exc)
                return CatalogChange()
        if change:
            self.catalog_changed.emit(change)
            if change.touches_runs("activations"):
                self._follow_activation_runs(change)
        return change

    def _follow_activation_runs(self, change) -> None:
        """Keep ``selection.run_id`` on a complete activation run: drop one that was
        removed, and pick the newest when none is selected (a first run just finished)."""
        sel = self.selection
        gone = change.runs.get(sel.run_id) if sel.run_id else None
        if gone is not None and (gone.op == "removed" or gone.status != "complete"):
            sel.run_id = None
        if sel.run_id is None:
            runs = self.workspace.catalog.run_rows(kind="activations", status="complete",
                                                   newest=1)
            if runs:
                sel.run_id = runs[-1].id

    def open_workspace(self, path: str | Path, create: bool = False):
        from visualizer.workspace.workspace import Workspace

        ws = Workspace.open(path, create=create)
        self.workspace = ws
        self._seen_change = ws.catalog.last_change()
        self.selection.sample_ids = ()
        self.selection.run_id = None
        self.selection.layer = None
        self.workspace_changed.emit(ws)
        rec = ws.recovery
        if rec.interrupted or rec.removed_temp_files:
            self.notify("warning", "Recovered after a crash",
                        f"{len(rec.interrupted)} run(s) marked interrupted, "
                        f"{len(rec.removed_temp_files)} unfinished file(s) removed.",
                        details="\n".join(rec.interrupted + rec.removed_temp_files))
        return ws

    def notify(self, level: str, title: str, text: str, details: str = "") -> Notification:
        note = Notification(level, title, text, details)
        getattr(log, "error" if level == "error" else level if level == "warning" else "info")(
            "%s: %s", title, text)
        self.notified.emit(note)
        return note
