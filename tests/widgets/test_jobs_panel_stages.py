"""A job whose total is unknown still shows its stage and a ticking elapsed time in the
jobs panel (a busy bar, never a stuck "0"); once it counts, the bar shows the count."""

import threading

import pytest

from visualizer.jobs.contract import JobState
from widgets.qt_job_runner import QtJobRunner
from widgets.qt_jobs_panel import QtJobsPanel

STAGE, ELAPSED = 2, 3


def staged_job(request, ctx):
    """A stage without a count until ``request`` is set, then a counted one."""
    ctx.status("t-SNE: nearest neighbours and affinities (1,500 samples)")
    while not request["go"].wait(0.02):
        ctx.check_cancelled()
    ctx.status("t-SNE: optimising layout (1,000 iterations)")
    ctx.progress(250, 1000)
    request["counted"].wait(10)
    return "done"


@pytest.fixture
def runner(qtbot, session):
    runner = QtJobRunner(session.jobs, notify=session.notify)
    yield runner
    runner.shutdown(wait=True)


def _seconds(text: str) -> float:
    assert text.endswith(" s"), text
    return float(text[:-2])


def test_unknown_total_shows_stage_and_elapsed_time(qtbot, session, runner):
    panel = QtJobsPanel(session)
    qtbot.addWidget(panel)
    request = {"go": threading.Event(), "counted": threading.Event()}
    job = runner.submit(staged_job, request, name="t-SNE of relu3")
    row = panel.row(job)
    qtbot.waitUntil(lambda: panel.status_text(job).startswith("t-SNE: nearest"),
                    timeout=5000)
    assert row.bar.maximum() == 0  # busy: the total is unknown
    qtbot.waitUntil(lambda: row.item.text(ELAPSED) != "", timeout=2000)
    first = _seconds(row.item.text(ELAPSED))
    qtbot.waitUntil(lambda: _seconds(row.item.text(ELAPSED)) >= first + 0.5, timeout=3000)
    assert panel.status_text(job) == "t-SNE: nearest neighbours and affinities (1,500 samples)"
    assert row.bar.maximum() == 0

    request["go"].set()
    qtbot.waitUntil(lambda: row.bar.maximum() == 1000, timeout=5000)
    assert row.bar.value() == 250 and row.bar.format() == "250 / 1000"
    assert panel.status_text(job) == "t-SNE: optimising layout (1,000 iterations)"
    request["counted"].set()
    qtbot.waitUntil(lambda: job.state is JobState.DONE and panel.status_text(job) == "done",
                    timeout=5000)
