import time

import pytest

from tests.visualizer.jobs import job_functions as jf
from visualizer.jobs import JobState
from visualizer.jobs.warm_worker import WarmWorkerRunner

pytestmark = pytest.mark.slow  # spawns worker processes


@pytest.fixture
def runner():
    warm_jobs = []
    r = WarmWorkerRunner([(jf.warm, None, "warm up")], grace=0.5, on_warm_up=warm_jobs.append)
    r.warm_jobs = warm_jobs
    yield r
    r.shutdown()


def test_jobs_share_one_warmed_process(runner):
    first = runner.submit(jf.pid_and_warmth, None).outcome(timeout=60)
    second = runner.submit(jf.pid_and_warmth, None).outcome(timeout=60)
    assert first == second and first[1] is True  # same pid, warm-up ran there first
    assert [j.state for j in runner.warm_jobs] == [JobState.DONE]
    assert runner.submit(jf.square, 12).outcome(timeout=60) == 144


def test_cancel_kills_a_stuck_job_and_a_fresh_worker_is_warmed(runner):
    pid, _ = runner.submit(jf.pid_and_warmth, None).outcome(timeout=60)
    stuck = runner.submit(jf.uninterruptible, 60.0)
    queued = runner.submit(jf.pid_and_warmth, None)
    time.sleep(0.5)
    t0 = time.monotonic()
    stuck.cancel()
    assert stuck.wait(10) and stuck.state is JobState.CANCELLED
    assert time.monotonic() - t0 < 5
    new_pid, warmed = queued.outcome(timeout=60)
    assert new_pid != pid and warmed  # replaced, and warmed again before the next job
    assert len(runner.warm_jobs) == 2


def test_cancelling_a_queued_job_never_runs_it(runner):
    blocker = runner.submit(jf.slow_loop, 1.0)
    queued = runner.submit(jf.square, 3)
    queued.cancel()
    assert queued.state is JobState.CANCELLED
    assert blocker.outcome(timeout=60) == "finished"


def test_a_crash_fails_one_job_only(runner):
    crashed = runner.submit(jf.crash, None)
    assert crashed.wait(60) and crashed.state is JobState.FAILED
    assert "crashed" in crashed.error.message
    assert runner.submit(jf.square, 5).outcome(timeout=60) == 25
