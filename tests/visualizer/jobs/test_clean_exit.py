"""Worker processes leave nothing behind: no resource_tracker warning at exit, however the
program ends, and their warnings and log records reach the parent's log."""

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.visualizer.jobs import job_functions as jf
from visualizer.jobs import JobState, ProcessRunner
from visualizer.jobs.warm_worker import WarmWorkerRunner

pytestmark = pytest.mark.slow  # spawns worker processes

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})

    def main(runner_kind, scenario):
        from tests.visualizer.jobs import job_functions as jf
        from visualizer.jobs import ProcessRunner
        from visualizer.jobs.warm_worker import WarmWorkerRunner

        runner = WarmWorkerRunner() if runner_kind == "warm" else ProcessRunner()
        if scenario == "done":
            print(runner.submit(jf.tqdm_then_sleep, 0.1).outcome(timeout=120))
        else:  # exit while the job runs, holding tqdm's lock, deaf to cancel
            job = runner.submit(jf.tqdm_then_sleep, 60)
            deadline = time.monotonic() + 120
            while job.status_text != "holding tqdm's lock" and time.monotonic() < deadline:
                time.sleep(0.05)
            print(job.status_text)
        # no shutdown: the interpreter exits with the worker alive

    if __name__ == "__main__":
        main(sys.argv[1], sys.argv[2])
""")


@pytest.mark.parametrize("runner_kind", ["warm", "process"])
@pytest.mark.parametrize("scenario", ["done", "running"])
def test_exit_leaves_no_leaked_semaphore(tmp_path, runner_kind, scenario):
    script = tmp_path / "exit_with_worker.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    result = subprocess.run([sys.executable, str(script), runner_kind, scenario],
                            capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    expected = "finished" if scenario == "done" else "holding tqdm's lock"
    assert result.stdout.strip() == expected, result.stderr
    assert "resource_tracker" not in result.stderr, result.stderr
    assert "leaked semaphore" not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_shutdown_stops_a_busy_warm_worker_and_cancels_its_job():
    runner = WarmWorkerRunner(grace=0.2)
    job = runner.submit(jf.tqdm_then_sleep, 60)
    assert job.wait(0.1) is False
    deadline_status = 120
    for _ in range(deadline_status * 20):
        if job.status_text:
            break
        job.wait(0.05)
    pid = runner.worker_pid
    runner.shutdown()
    assert job.wait(10), "the job did not end after shutdown"
    assert job.state is JobState.CANCELLED  # stopped by shutdown: not a crash
    assert pid is not None and runner.worker_pid is None
    runner.shutdown()  # idempotent


def test_child_warnings_and_logs_reach_the_parent_log(capfd):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep(logging.DEBUG)
    logger = logging.getLogger("deepscope")
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        runner = ProcessRunner()
        assert runner.submit(jf.warn_and_log, "a library grumbles").outcome(60) == "warned"
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
    warned = [r for r in records if r.name == "deepscope.warnings"]
    assert len(warned) == 1 and warned[0].levelno == logging.INFO
    assert warned[0].getMessage().startswith(
        "UserWarning from tests.visualizer.jobs.job_functions: a library grumbles")
    logged = [r.getMessage() for r in records if r.name == "deepscope.test"]
    assert logged == ["logged in the child: a library grumbles"]
    assert "UserWarning" not in capfd.readouterr().err  # nothing on the terminal


CALLBACK_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})

    if __name__ == "__main__":
        from tests.visualizer.jobs import job_functions as jf
        from visualizer.jobs import ProcessRunner

        runner = ProcessRunner()
        job = runner.submit(jf.in_ctypes_callbacks, 60)
        deadline = time.monotonic() + 120
        while job.status_text != "in ctypes callbacks" and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        [(proc, _)] = runner._children.values()
        started = time.monotonic()
        runner.shutdown(grace=0.1)
        print(f"{{proc.exitcode}} {{time.monotonic() - started:.2f}}")
""")


def test_a_child_terminated_inside_a_ctypes_callback_exits_cleanly(tmp_path):
    """SIGTERM that lands in a ctypes callback (numba compiling when the app quits) is
    raised again outside it: the child unwinds (exit code 143, not a SIGKILL after 5 s)
    and prints nothing."""
    script = tmp_path / "terminate_in_callback.py"
    script.write_text(CALLBACK_SCRIPT.format(root=str(ROOT)))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=180, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    exitcode, seconds = result.stdout.split()
    assert exitcode == "143", (result.stdout, result.stderr)  # SIGTERM honoured, not -9
    assert result.stderr == ""
