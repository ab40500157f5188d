"""Jobs: the contract (``run(request, ctx) -> result``) and the Qt-free runners."""

from visualizer.jobs.contract import (
    Job,
    JobCancelled,
    JobContext,
    JobError,
    JobState,
    NullContext,
)
from visualizer.jobs.process_runner import ProcessRunner
from visualizer.jobs.thread_runner import ThreadRunner, run_sync

__all__ = [
    "Job",
    "JobCancelled",
    "JobContext",
    "JobError",
    "JobState",
    "NullContext",
    "ProcessRunner",
    "ThreadRunner",
    "run_sync",
]
