"""One long-lived child process that runs jobs one after another.

Some work pays a large start-up cost in every new process: UMAP's numba code compiles
on first use (10–40 s, and pynndescent's part cannot be cached on disk). A
``WarmWorkerRunner`` keeps one ``spawn`` child alive, runs ``warm_up`` jobs in it as soon
as it starts (the app does this after the window shows), and then serves jobs in
submission order, so a projection starts in a warm process. It keeps the process
runner's guarantees: progress and partial results stream back, Cancel asks the job
to stop and terminates the worker if it does not within ``grace`` seconds, and a crash
fails only the job that caused it. A killed worker is replaced at once and warmed
again in the background. ``shutdown`` (called at the latest at interpreter exit, see
``process_runner.shutdown_all``) lets an idle worker exit on its own and closes the
queues, so nothing is left for multiprocessing's resource tracker to warn about.
"""

from __future__ import annotations

import collections
import multiprocessing as mp
import threading
from typing import Any

from visualizer.jobs.contract import Job, JobFunction, JobState
from visualizer.jobs.isolation import stop_process
from visualizer.jobs.process_runner import (
    EXIT_GRACE,
    _ChildContext,
    background_process_setup,
    finish,
    pump_messages,
    register_runner,
    run_in_child,
)


def _worker_main(tasks, messages, cancel_event) -> None:
    background_process_setup(messages)
    ctx = _ChildContext(messages, cancel_event)
    while True:
        task = tasks.get()
        if task is None:
            return
        fn, request = task
        run_in_child(fn, request, messages, ctx)


class WarmWorkerRunner:
    """Run jobs in one reused child process, warmed by ``warm_ups`` when it starts.

    Parameters
    ----------
    warm_ups
        ``(fn, request, name)`` jobs run first in every new worker process; their Jobs
        are reported through ``on_warm_up`` (for a jobs panel) when given.
    grace
        Seconds a cancelled job has to stop before its worker is terminated.
    """

    def __init__(self, warm_ups: list[tuple[JobFunction, Any, str]] | None = None, *,
                 grace: float = 2.0, on_warm_up=None):
        self._ctx = mp.get_context("spawn")
        self._warm_ups = list(warm_ups or [])
        self._on_warm_up = on_warm_up
        self._grace = grace
        self._pending: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._current: Job | None = None
        self._warm_up_jobs: set[int] = set()
        self._worker = None  # (process, tasks, messages, cancel_event)
        self._closed = False
        self._thread = threading.Thread(target=self._dispatch, daemon=True,
                                        name="deepscope-warm-worker")
        self._thread.start()
        register_runner(self)

    # -- public ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker (and its warm-up jobs) now instead of at the first job."""
        with self._cond:
            if self._worker is None and not self._closed:
                self._start_worker()

    def add_warm_up(self, fn: JobFunction, request: Any, name: str) -> None:
        """Run ``fn`` in this worker now (or when it starts) and in every later one."""
        with self._cond:
            self._warm_ups.append((fn, request, name))
            if self._worker is not None:
                self._queue_warm_ups([(fn, request, name)])

    def submit(self, fn: JobFunction, request: Any, name: str | None = None) -> Job:
        job = Job(name=name or getattr(fn, "__name__", "job"))
        job._canceller = lambda: self._cancel(job)
        with self._cond:
            if self._worker is None:
                self._start_worker()
            self._pending.append((job, fn, request))
            self._cond.notify()
        return job

    def shutdown(self, grace: float | None = None) -> None:
        """Cancel waiting jobs and stop the worker (idempotent).

        An idle worker exits on its own; a running job is asked to stop and its worker
        is terminated after ``grace`` seconds (default: ``EXIT_GRACE`` or the runner's
        grace if shorter: a job that stops cooperatively does so at once, and a
        terminated worker still cleans up). Then the queues are closed.
        """
        with self._cond:
            self._closed = True
            pending = [job for job, _, _ in self._pending]
            self._pending.clear()
            self._cond.notify()
            worker = self._worker
            self._worker = None
        for job in pending:
            job._set_state(JobState.CANCELLED)
        if worker is not None:
            proc, tasks, messages, cancel_event = worker
            cancel_event.set()  # a running job stops at its next check
            tasks.put(None)  # ... and then the worker loop ends
            stop_process(proc, grace=min(self._grace, EXIT_GRACE) if grace is None
                         else grace)
            # Wait for the threads that hold these queues: one that drops the last
            # reference while the interpreter exits can leave a semaphore behind.
            tasks.close()
            tasks.join_thread()  # its feeder: at most a task and the None are in flight
            if threading.current_thread() is not self._thread:
                self._thread.join(timeout=5.0)  # its pump reads `messages` until then
            if not self._thread.is_alive():
                messages.close()

    @property
    def worker_pid(self) -> int | None:
        return self._worker[0].pid if self._worker is not None else None

    # -- internals ---------------------------------------------------------------------
    def _start_worker(self) -> None:
        """Spawn a fresh worker; queue its warm-ups ahead of waiting jobs (lock held)."""
        tasks, messages, cancel_event = self._ctx.Queue(), self._ctx.Queue(), self._ctx.Event()
        proc = self._ctx.Process(target=_worker_main, args=(tasks, messages, cancel_event),
                                 daemon=True, name="deepscope-warm-worker")
        proc.start()
        self._worker = (proc, tasks, messages, cancel_event)
        self._queue_warm_ups(self._warm_ups)

    def _queue_warm_ups(self, warm_ups) -> None:
        """Put warm-up jobs ahead of the waiting ones (lock held)."""
        for fn, request, name in reversed(warm_ups):
            job = Job(name=name)
            job._canceller = lambda job=job: self._cancel(job)
            self._warm_up_jobs.add(job.id)
            self._pending.appendleft((job, fn, request))
            if self._on_warm_up is not None:
                self._on_warm_up(job)
        self._cond.notify()

    def _cancel(self, job: Job) -> None:
        with self._cond:
            for item in list(self._pending):
                if item[0] is job:  # not started: drop it
                    self._pending.remove(item)
                    job._set_state(JobState.CANCELLED)
                    return
            if job is self._current and self._worker is not None:
                self._worker[3].set()  # the pump terminates the worker after the grace

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job, fn, request = self._pending.popleft()
                if self._worker is None:
                    self._start_worker()
                proc, tasks, messages, cancel_event = self._worker
                cancel_event.clear()
                self._current = job
            job._set_state(JobState.RUNNING)
            tasks.put((fn, request))
            ended = pump_messages(job, proc, messages, cancel_event, self._grace)
            with self._cond:
                self._current = None
                if self._closed and ended[0] == "crashed":
                    ended = ("cancelled",)  # stopped by shutdown, not by a fault
                if ended[0] == "crashed" and job.id in self._warm_up_jobs:
                    self._warm_ups = []  # a warm-up that kills its worker would loop forever
                if not proc.is_alive() and self._worker is not None \
                        and self._worker[0] is proc:
                    self._worker = None
                    if not self._closed:
                        self._start_worker()  # a fresh, warming worker for what comes next
            finish(job, ended)
