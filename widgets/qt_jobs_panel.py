"""The jobs panel: one row per job of the session, newest on top.

Each row shows the name, status text, a progress bar (a busy indicator while the total
is unknown), the elapsed time and a Cancel button; once the job ends, its final state
(done, failed, cancelled) stays, and a failed job offers its error and traceback.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QProgressBar,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from visualizer.jobs.contract import Job, JobState
from widgets._gui_thread import connect_model
from widgets.qt_job_runner import QtJobBridge
from widgets.qt_text import show_text_dialog

COLUMNS = ("Job", "Progress", "Status", "Elapsed", "")
STATUS, PROGRESS = 2, 1
STATE_COLOURS = {JobState.DONE: "#2e7d32", JobState.FAILED: "#c62828",
                 JobState.CANCELLED: "#8d6e63"}


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class _Row:
    """The widgets of one job's row."""

    def __init__(self, panel: QtJobsPanel, job: Job):
        self.job = job
        self.item = QTreeWidgetItem([job.name, "", "queued", "", ""])
        self.item.setToolTip(0, job.name)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy until a total is known
        self.bar.setTextVisible(True)
        self.bar.setMaximumHeight(18)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Ask this job to stop at its next checkpoint")
        self.details_button = QToolButton()
        self.details_button.setText("Details…")
        self.details_button.setToolTip("Show the error and its traceback")
        self.details_button.setVisible(False)
        actions = QWidget()
        lay = QHBoxLayout(actions)
        lay.setContentsMargins(2, 0, 2, 0)
        lay.setSpacing(4)
        lay.addWidget(self.cancel_button)
        lay.addWidget(self.details_button)
        self.actions = actions
        self.bridge = QtJobBridge(job, panel)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.details_button.clicked.connect(lambda: panel._show_details(job))
        self.bridge.progressed.connect(self._on_job_progressed)
        self.bridge.status_changed.connect(self._on_job_status_changed)
        self.bridge.state_changed.connect(self._on_job_state_changed)

    def _on_cancel_clicked(self) -> None:
        self.job.cancel()
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.item.setText(STATUS, "cancelling…")

    def _on_job_progressed(self, done: float, total) -> None:
        if self.job.state.finished:
            return
        if total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(done / total, 1.0)))
            self.bar.setFormat(f"{done:g} / {total:g}")
        else:
            self.bar.setRange(0, 0)

    def _on_job_status_changed(self, text: str) -> None:
        if not self.job.state.finished and not self.job.cancel_requested:
            self.item.setText(STATUS, text)
            self.item.setToolTip(STATUS, text)

    def _on_job_state_changed(self, state: JobState) -> None:
        job = self.job
        self.update_elapsed()
        if not state.finished:
            if state is JobState.RUNNING and not job.cancel_requested:
                self.item.setText(STATUS, job.status_text or "running")
            return
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if state is JobState.DONE else 0)
        self.bar.setFormat(state.value)
        text = state.value
        if state is JobState.FAILED and job.error is not None:
            text = f"failed: {job.error}"
            self.item.setToolTip(STATUS, f"{job.error}\n\n{job.error.traceback}".strip())
            self.details_button.setVisible(True)
        else:
            self.item.setToolTip(STATUS, text)
        self.item.setText(STATUS, text)
        colour = QBrush(QColor(STATE_COLOURS.get(state, "#000000")))
        self.item.setForeground(STATUS, colour)

    def update_elapsed(self) -> None:
        if self.job.started_at is not None:
            self.item.setText(3, format_seconds(self.job.elapsed))


class QtJobsPanel(QWidget):
    """Mirror of ``session.jobs``; Cancel asks a job to stop, Details shows its error."""

    details_requested = Signal(object)  # the Job whose details were shown

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._rows: dict[int, _Row] = {}
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(PROGRESS, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(STATUS, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Fixed)
        header.setStretchLastSection(False)
        self.tree.setColumnWidth(0, 240)
        self.tree.setColumnWidth(PROGRESS, 170)
        self.tree.setColumnWidth(3, 80)
        self.tree.setColumnWidth(4, 170)  # room for Cancel and Details… side by side
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.clicked.connect(self._on_clear_clicked)
        top = QHBoxLayout()
        top.addStretch(1)
        top.addWidget(self.clear_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.tree)
        lay.addLayout(top)
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()
        for job in session.jobs.jobs:
            self._add_row(job)
        connect_model(self, session.jobs.job_added, self._on_jobs_job_added)

    def row_texts(self, job: Job) -> list[str]:
        """The texts shown for ``job`` (for tests and accessibility)."""
        item = self._rows[job.id].item
        return [item.text(i) for i in range(len(COLUMNS))]

    def status_text(self, job: Job) -> str:
        return self._rows[job.id].item.text(STATUS)

    def row(self, job: Job) -> _Row:
        return self._rows[job.id]

    def _on_jobs_job_added(self, job: Job) -> None:
        self._add_row(job)

    def _add_row(self, job: Job) -> None:
        if job.id in self._rows:
            return
        row = _Row(self, job)
        self._rows[job.id] = row
        self.tree.insertTopLevelItem(0, row.item)
        self.tree.setItemWidget(row.item, PROGRESS, row.bar)
        self.tree.setItemWidget(row.item, 4, row.actions)

    def _on_timer_timeout(self) -> None:
        for row in self._rows.values():
            if not row.job.state.finished:
                row.update_elapsed()

    def _on_clear_clicked(self) -> None:
        for job_id, row in list(self._rows.items()):
            if row.job.state.finished:
                index = self.tree.indexOfTopLevelItem(row.item)
                self.tree.takeTopLevelItem(index)
                row.bridge.disconnect_job()
                row.bridge.deleteLater()
                del self._rows[job_id]

    def _show_details(self, job: Job) -> None:
        err = job.error
        text = f"{err}\n\n{err.traceback}" if err is not None else "No error recorded."
        show_text_dialog(self, f"{job.name} failed", text)
        self.details_requested.emit(job)
