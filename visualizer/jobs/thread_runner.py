"""Run jobs on worker threads of this process.

Used by the CLI, the tests and the GUI (through the Qt runner, which wraps this one).
Torch releases the GIL inside its kernels, so threads are the right place for model
work; code that holds the GIL for long (UMAP, t-SNE) goes to the process runner.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from visualizer.jobs.contract import Job, JobFunction, JobRunContext, execute


class ThreadRunner:
    """A small pool of worker threads; ``submit`` returns a ``Job`` at once."""

    def __init__(self, max_workers: int = 2, name: str = "deepscope-job"):
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)

    def submit(self, fn: JobFunction, request: Any, name: str | None = None) -> Job:
        job = Job(name=name or getattr(fn, "__name__", "job"))
        self._pool.submit(execute, job, fn, request, JobRunContext(job))
        return job

    def shutdown(self, cancel: bool = True, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel)


def run_sync(fn: JobFunction, request: Any, name: str | None = None, ctx=None) -> Any:
    """Run a job function in the calling thread with a real context; return its result."""
    job = Job(name=name or getattr(fn, "__name__", "job"))
    execute(job, fn, request, ctx or JobRunContext(job))
    return job.outcome()
