"""The Qt runner: jobs run on worker threads (or child processes), their signals arrive
on the GUI thread.

A ``Job`` emits its psygnal signals from the thread that does the work. A
``QtJobBridge`` (a QObject living on the GUI thread) relays each of them through one
queued Qt signal and re-emits it, on the GUI thread, as a Qt signal of the same name.
Widgets connect to the bridge, never to the Job directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from visualizer.jobs.contract import Job, JobFunction, JobState

log = logging.getLogger("deepscope.widgets.jobs")


class QtJobBridge(QObject):
    """GUI-thread mirror of one Job's signals.

    Events that happened before the bridge was connected are caught up by one ``sync``
    pass, and ``finished`` is delivered exactly once, so a job that ended in a few
    milliseconds still reports its end.
    """

    progressed = Signal(float, object)  # done, total (None: unknown)
    status_changed = Signal(str)
    partial_arrived = Signal(object)
    state_changed = Signal(object)  # JobState
    finished = Signal(object)  # the Job

    _relayed = Signal(str, object)  # emitted from any thread, delivered queued

    def __init__(self, job: Job, parent: QObject | None = None):
        super().__init__(parent)
        self.job = job
        self._finished_delivered = False
        self._relayed.connect(self._on_self_relayed, Qt.ConnectionType.QueuedConnection)
        self._callbacks = [
            (job.progressed, lambda done, total: self._relayed.emit("progress", (done, total))),
            (job.status_changed, lambda text: self._relayed.emit("status", text)),
            (job.partial_arrived, lambda obj: self._relayed.emit("partial", obj)),
            (job.state_changed, lambda state: self._relayed.emit("state", state)),
        ]
        for signal, callback in self._callbacks:
            signal.connect(callback)
        self._relayed.emit("sync", None)  # queued behind anything already relayed

    @Slot(str, object)
    def _on_self_relayed(self, kind: str, payload: Any) -> None:
        job = self.job
        if kind == "progress":
            self.progressed.emit(*payload)
        elif kind == "status":
            self.status_changed.emit(payload)
        elif kind == "partial":
            self.partial_arrived.emit(payload)
        elif kind == "state":
            self.state_changed.emit(payload)
            if payload.finished:
                self._deliver_finished()
        elif kind == "sync":
            if job.status_text:
                self.status_changed.emit(job.status_text)
            if job.done or job.total:
                self.progressed.emit(job.done, job.total)
            self.state_changed.emit(job.state)
            if job.state.finished:
                self._deliver_finished()

    def _deliver_finished(self) -> None:
        if self._finished_delivered:
            return
        self._finished_delivered = True
        self.disconnect_job()
        self.finished.emit(self.job)

    def disconnect_job(self) -> None:
        for signal, callback in self._callbacks:
            signal.disconnect(callback, missing_ok=True)
        self._callbacks = []


class QtJobRunner(QObject):
    """Submit job functions; jobs land in ``jobs`` and report on the GUI thread.

    Parameters
    ----------
    jobs
        The session's ``JobList``; every submitted job is added to it.
    notify
        ``session.notify``-like callable. A failed job without an ``on_failed``
        callback becomes an error notification, so nothing fails silently.
    """

    job_submitted = Signal(object)
    job_finished = Signal(object)

    def __init__(self, jobs, parent: QObject | None = None, *,
                 notify: Callable[..., Any] | None = None, max_workers: int = 2):
        super().__init__(parent)
        from visualizer.jobs.thread_runner import ThreadRunner

        self._jobs = jobs
        self._notify = notify
        self._threads = ThreadRunner(max_workers=max_workers, name="deepscope-gui-job")
        self._processes = None
        self._warm = None  # WarmWorkerRunner, made on first use
        self._bridges: dict[int, QtJobBridge] = {}

    def submit(self, fn: JobFunction, request: Any, name: str | None = None,
               on_done: Callable[[Job], Any] | None = None,
               on_failed: Callable[[Job], Any] | None = None, *,
               process: bool | str = False) -> Job:
        """Start ``fn(request, ctx)`` and return its Job at once.

        ``on_done(job)`` / ``on_failed(job)`` run on the GUI thread; ``job.result`` and
        ``job.error`` hold the outcome. Keep the Job (or its ``id``) to drop results
        that arrive after a newer request for the same view. ``process=True`` runs it in
        a new child process, ``process="warm"`` in the long-lived warmed worker (see
        ``add_warm_up``), both stoppable by Cancel.
        """
        if process == "warm":
            runner = self._warm_runner()
        else:
            runner = self._process_runner() if process else self._threads
        job = runner.submit(fn, request, name=name or getattr(fn, "__name__", "job"))
        self._track(job, on_done, on_failed)
        return job

    def add_warm_up(self, fn: JobFunction, request: Any, name: str) -> None:
        """Run ``fn(request, ctx)`` first in every warm worker process, starting one now.

        For start-up costs that live in a process (imports, numba compilation): after
        this, ``submit(..., process="warm")`` runs in a process that has paid them.
        """
        runner = self._warm_runner()
        runner.add_warm_up(fn, request, name)
        runner.start()

    def _warm_runner(self):
        if self._warm is None:
            from visualizer.jobs.warm_worker import WarmWorkerRunner
            from widgets._gui_thread import call_on_gui

            self._warm = WarmWorkerRunner(
                on_warm_up=lambda job: call_on_gui(self._track, job, None, lambda j: None))
        return self._warm

    def _track(self, job: Job, on_done, on_failed) -> None:
        """Mirror ``job`` on the GUI thread and list it in the session's jobs."""
        bridge = QtJobBridge(job, self)
        self._bridges[job.id] = bridge
        bridge.finished.connect(lambda j: self._on_bridge_finished(j, on_done, on_failed))
        self._jobs.add(job)
        self.job_submitted.emit(job)

    def bridge(self, job: Job) -> QtJobBridge | None:
        """The GUI-thread signals of a running job submitted here (None once finished)."""
        return self._bridges.get(job.id)

    def _process_runner(self):
        if self._processes is None:
            from visualizer.jobs.process_runner import ProcessRunner

            self._processes = ProcessRunner()
        return self._processes

    def _on_bridge_finished(self, job: Job, on_done, on_failed) -> None:
        # The finished bridge stays a child of the runner (a few hundred bytes a job) and
        # goes with it. ``deleteLater`` here crashed Qt now and then under load (in
        # ~QObject, on a later event loop pass): the Python wrapper of the bridge is
        # still referenced by the closures connected to it, and could be collected in a
        # job's thread after Qt had deleted the object (tests/widgets: 2 crashes in 8
        # runs of three widget test files on a loaded 2-core machine, none in 10 after).
        self._bridges.pop(job.id, None)
        try:
            if job.state is JobState.DONE and on_done is not None:
                on_done(job)
            elif job.state is JobState.FAILED:
                if on_failed is not None:
                    on_failed(job)
                elif self._notify is not None:
                    notify_failure(self._notify, job)
        finally:
            self.job_finished.emit(job)

    def cancel_all(self) -> None:
        for job in self._jobs.running():
            job.cancel()

    def shutdown(self, wait: bool = False) -> None:
        """Cancel what runs and stop the pool (called when the window closes)."""
        self.cancel_all()
        self._threads.shutdown(cancel=True, wait=wait)
        if self._warm is not None:
            self._warm.shutdown()


def notify_failure(notify: Callable[..., Any], job: Job) -> None:
    """Turn a failed job into an error notification: message shown, traceback on demand."""
    err = job.error
    if err is None:
        notify("error", f"{job.name} failed", "no error was recorded")
        return
    notify("error", f"{job.name} failed", str(err), details=err.traceback)
