import threading
import time

import pytest
from PySide6.QtCore import QThread

from visualizer.errors import DeepScopeError
from visualizer.jobs.contract import JobState
from widgets.qt_job_runner import QtJobRunner
from widgets.qt_jobs_panel import QtJobsPanel


def counting_job(request, ctx):
    for i in range(request):
        ctx.check_cancelled()
        time.sleep(0.06)  # over the context's 50 ms progress throttle
        ctx.progress(i + 1, request)
    return "result"


def looping_job(request, ctx):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ctx.check_cancelled()
        time.sleep(0.02)
    return "not cancelled"


def failing_job(request, ctx):
    raise DeepScopeError("the file is truncated.", path="/tmp/x.pt", fix="re-save it.")


@pytest.fixture
def runner(qtbot, session):
    runner = QtJobRunner(session.jobs, notify=session.notify)
    yield runner
    runner.shutdown(wait=True)


def test_runner_delivers_progress_and_finished_on_gui_thread(qtbot, qapp, runner):
    seen, done = [], []

    def on_progress(d, total):
        seen.append((QThread.currentThread() is qapp.thread(), d, total))

    def on_done(job):
        done.append((QThread.currentThread() is qapp.thread(), job.result))

    with qtbot.waitSignal(runner.job_finished, timeout=10000) as blocker:
        job = runner.submit(counting_job, 4, name="count", on_done=on_done)
        runner.bridge(job).progressed.connect(on_progress)
        assert threading.current_thread() is threading.main_thread()
    assert blocker.args[0] is job
    assert job.state is JobState.DONE
    assert seen and all(on_gui for on_gui, _, _ in seen)
    assert seen[-1][1:] == (4.0, 4)
    assert done == [(True, "result")]


def test_cancel_from_jobs_panel_stops_job(qtbot, session, runner):
    panel = QtJobsPanel(session)
    qtbot.addWidget(panel)
    job = runner.submit(looping_job, None, name="loop")
    qtbot.waitUntil(lambda: job.state is JobState.RUNNING, timeout=5000)
    row = panel.row(job)
    assert row.cancel_button.isEnabled()
    row.cancel_button.click()
    qtbot.waitUntil(lambda: panel.status_text(job) == "cancelled", timeout=5000)
    assert job.state is JobState.CANCELLED
    assert not row.cancel_button.isEnabled()
    assert row.bar.format() == "cancelled"


def test_failed_job_shows_error_in_panel_and_notification(qtbot, session, runner):
    from widgets.qt_log_panel import QtNotificationList

    panel = QtJobsPanel(session)
    notes = QtNotificationList(session)
    qtbot.addWidget(panel)
    qtbot.addWidget(notes)
    with qtbot.waitSignal(runner.job_finished, timeout=5000):
        job = runner.submit(failing_job, None, name="import")
    qtbot.waitUntil(lambda: panel.status_text(job).startswith("failed"), timeout=5000)
    text = panel.status_text(job)
    assert "the file is truncated." in text and "re-save it" in text
    assert not panel.row(job).details_button.isHidden()
    assert "Traceback" in panel.row(job).item.toolTip(2)
    dialog = panel.row(job).details_button.click() or None  # opens a non-modal dialog
    assert dialog is None
    [note] = notes.notifications()
    assert note.level == "error" and "truncated" in note.text


def test_short_job_still_listed(qtbot, session, runner):
    panel = QtJobsPanel(session)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(runner.job_finished, timeout=5000):
        job = runner.submit(lambda req, ctx: 42, None, name="instant")
    qtbot.waitUntil(lambda: panel.status_text(job) == "done", timeout=5000)
    assert panel.row_texts(job)[0] == "instant"
    assert panel.row(job).bar.format() == "done"


def test_job_added_to_list_from_worker_thread_is_shown(qtbot, session):
    """Jobs added by other code, from another thread, still get a row."""
    from visualizer.jobs.thread_runner import ThreadRunner

    panel = QtJobsPanel(session)
    qtbot.addWidget(panel)
    plain = ThreadRunner(1)
    job = plain.submit(counting_job, 2, name="plain")
    threading.Thread(target=session.jobs.add, args=(job,)).start()
    qtbot.waitUntil(lambda: job.id in panel._rows and panel.status_text(job) == "done",
                    timeout=5000)
    plain.shutdown()
