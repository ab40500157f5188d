import threading
import time

import pytest

from tests.visualizer.jobs import job_functions as jf
from visualizer.errors import DeepScopeError
from visualizer.jobs import JobCancelled, JobState, NullContext, ProcessRunner, ThreadRunner
from visualizer.jobs.thread_runner import run_sync


@pytest.fixture
def runner():
    r = ThreadRunner(max_workers=2)
    yield r
    r.shutdown()


def test_thread_job_reports_progress_status_partial_and_result(runner):
    seen = {"progress": [], "status": [], "partial": [], "states": []}
    job = runner.submit(jf.square, 50, name="square")
    job.progressed.connect(lambda d, t: seen["progress"].append((d, t)))
    job.status_changed.connect(seen["status"].append)
    job.partial_arrived.connect(seen["partial"].append)
    assert job.outcome(timeout=10) == 2500
    assert job.state is JobState.DONE
    assert job.done == 50 and job.total == 50


def test_thread_job_runs_off_the_calling_thread(runner):
    where = []
    job = runner.submit(lambda req, ctx: where.append(threading.current_thread()), None)
    job.wait(10)
    assert where and where[0] is not threading.current_thread()


def test_thread_cancel_is_cooperative_and_quick(runner):
    job = runner.submit(jf.slow_loop, 30.0)
    time.sleep(0.1)
    t0 = time.monotonic()
    job.cancel()
    assert job.wait(5)
    assert job.state is JobState.CANCELLED
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(JobCancelled):
        job.outcome()


def test_thread_failure_keeps_cause(runner):
    job = runner.submit(jf.fail, "boom")
    job.wait(10)
    assert job.state is JobState.FAILED
    assert job.error.type_name == "ValueError" and "boom" in job.error.message
    assert "Traceback" in job.error.traceback and not job.error.user_facing
    with pytest.raises(ValueError, match="boom"):
        job.outcome()


def test_user_facing_errors_are_marked(runner):
    def bad(req, ctx):
        raise DeepScopeError("no such model", fix="import it")

    job = runner.submit(bad, None)
    job.wait(10)
    assert job.error.user_facing and "import it" in str(job.error)


def test_run_sync_and_null_context():
    assert run_sync(jf.square, 4) == 16
    assert jf.square(3, NullContext()) == 9


@pytest.mark.slow
def test_process_job_round_trip_with_progress():
    progress = []
    job = ProcessRunner().submit(jf.square, 20)
    job.progressed.connect(lambda d, t: progress.append(d))
    assert job.outcome(timeout=60) == 400
    assert job.state is JobState.DONE


@pytest.mark.slow
def test_process_cancel_stops_even_uninterruptible_work():
    job = ProcessRunner(grace=0.5).submit(jf.uninterruptible, 60.0)
    time.sleep(1.0)
    t0 = time.monotonic()
    job.cancel()
    assert job.wait(10)
    assert job.state is JobState.CANCELLED
    assert time.monotonic() - t0 < 5.0


@pytest.mark.slow
def test_process_crash_becomes_failed_job():
    job = ProcessRunner().submit(jf.crash, None)
    assert job.wait(60)
    assert job.state is JobState.FAILED
    assert "crashed" in job.error.message and "signal 9" in job.error.message


@pytest.mark.slow
def test_process_error_keeps_exception_type():
    job = ProcessRunner().submit(jf.fail, "in child")
    job.wait(60)
    assert job.state is JobState.FAILED
    with pytest.raises(ValueError, match="in child"):
        job.outcome()
