"""The Attribution tab's jobs: one attribution or sanity-check job at a time on the
runner, its progress and status shown on the run controls, Cancel, and what comes back
(coarse previews, the cancel, the finished run) relayed as signals for the view to show.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class QtAttributionJobs(QObject):
    previewed = Signal(object)  # a coarse partial: {"sample_index", "attributions", ...}
    cancelled = Signal()
    done = Signal(object)  # the finished Job; its result is the id of the run it wrote

    def __init__(self, session, runner, controls, parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.runner, self.controls = session, runner, controls
        self.job = None

    def submit(self, fn, request, name):
        if self.job is not None and not self.job.state.finished:
            self.job.cancel()  # a new request for this view replaces the old one
        job = self.runner.submit(fn, request, name=name, on_done=self._on_job_done,
                                 on_failed=self._on_job_failed)
        self.job = job
        bridge = self.runner.bridge(job)
        if bridge is not None:
            # A replaced job keeps signalling until it stops: only the current one speaks.
            def current(slot):
                return lambda *args: slot(*args) if job is self.job else None

            bridge.progressed.connect(current(self.controls.show_progress))
            bridge.status_changed.connect(current(self.controls.status.setText))
            bridge.partial_arrived.connect(current(self._on_job_partial))
            bridge.state_changed.connect(current(self._on_job_state_changed))
        self.controls.show_running()
        return job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_job_partial(self, obj) -> None:
        if isinstance(obj, dict) and obj.get("stage") == "coarse":
            self.previewed.emit(obj)

    def _on_job_state_changed(self, state) -> None:
        if state.finished:
            self.controls.show_finished(state)
            if state.value == "cancelled":
                self.cancelled.emit()

    def _on_job_done(self, job) -> None:
        if job is self.job:  # a replaced job that finished anyway is not shown
            self.done.emit(job)

    def _on_job_failed(self, job) -> None:
        self.controls.status.setText(f"failed: {job.error}")
        self.session.notify("error", f"{job.name} failed", str(job.error),
                            details=job.error.traceback if job.error else "")
