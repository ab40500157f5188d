"""Qt-free application state: one ``Session`` holds the workspace, jobs and selection.

Views subscribe to these evented models and write back with plain setattr; models
never know views (napari's ``ViewerModel`` is the example). Everything here can be
driven from a script or a test without Qt.
"""

from __future__ import annotations

import logging
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
    catalog_changed = Signal()  # models, datasets or runs were added or changed state
    notified = Signal(object)  # Notification

    def open_workspace(self, path: str | Path, create: bool = False):
        from visualizer.workspace.workspace import Workspace

        ws = Workspace.open(path, create=create)
        self.workspace = ws
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
