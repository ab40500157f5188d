"""Run a job in a child process that Cancel can stop.

For work that holds the GIL or cannot be interrupted (UMAP, t-SNE) and for parsing files
that may crash native code. The child gets a context whose calls travel back over a
queue; a pump thread in the parent turns them into the same ``Job`` signals the thread
runner emits. Cancel first asks nicely (``check_cancelled`` raises in the child), then
terminates the process after ``grace`` seconds. A crash becomes a failed job, never a
crash of the caller.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
from typing import Any

from visualizer.jobs.contract import (
    Job,
    JobCancelled,
    JobError,
    JobFunction,
    JobState,
    describe_exception,
)
from visualizer.jobs.isolation import describe_exitcode, stop_process

BACKGROUND_NICENESS = 10


class _ChildContext:
    def __init__(self, messages, cancel_event):
        self._messages = messages
        self._cancel = cancel_event

    def progress(self, done: float, total: float | None = None) -> None:
        self._messages.put(("progress", float(done), total))

    def status(self, text: str) -> None:
        self._messages.put(("status", text))

    def partial(self, obj: Any) -> None:
        self._messages.put(("partial", obj))

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled()


def background_process_setup() -> None:
    """What every worker child does first.

    The parent owns Ctrl-C, so a terminal's SIGINT must not kill a child mid-write. And
    the child runs at a lower CPU priority: UMAP's numba threads would otherwise take
    every core and starve the GUI thread (a 2-core laptop stalled 280 ms at a time).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        try:
            os.nice(BACKGROUND_NICENESS)
        except OSError:
            pass


def _child_main(fn: JobFunction, request: Any, messages, cancel_event) -> None:
    background_process_setup()
    run_in_child(fn, request, messages, _ChildContext(messages, cancel_event))


def run_in_child(fn: JobFunction, request: Any, messages, ctx) -> None:
    """Run one job in a child process and send how it ended as the last message."""
    try:
        result = fn(request, ctx)
    except JobCancelled:
        messages.put(("cancelled",))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as job state
        messages.put(("error", describe_exception(exc), _picklable(exc)))
    else:
        messages.put(("result", result))


def _picklable(exc: BaseException) -> BaseException | None:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - some exceptions cannot cross processes
        return None
    return exc


class ProcessRunner:
    """Start one child process per job (``spawn``: safe with threads and torch)."""

    def __init__(self, grace: float = 2.0, timeout: float | None = None):
        self._ctx = mp.get_context("spawn")
        self._grace = grace
        self._timeout = timeout

    def submit(self, fn: JobFunction, request: Any, name: str | None = None) -> Job:
        job = Job(name=name or getattr(fn, "__name__", "job"))
        messages = self._ctx.Queue()
        cancel_event = self._ctx.Event()
        proc = self._ctx.Process(
            target=_child_main, args=(fn, request, messages, cancel_event), daemon=True
        )

        def canceller() -> None:
            cancel_event.set()

        job._canceller = canceller
        pump = threading.Thread(
            target=self._pump, args=(job, proc, messages, cancel_event), daemon=True,
            name=f"deepscope-pump-{job.id}",
        )
        job._set_state(JobState.RUNNING)
        proc.start()
        pump.start()
        return job

    def _pump(self, job: Job, proc, messages, cancel_event) -> None:
        ended = pump_messages(job, proc, messages, cancel_event, self._grace, self._timeout)
        stop_process(proc, grace=self._grace)
        finish(job, ended)


def pump_messages(job: Job, proc, messages, cancel_event, grace: float,
                  timeout: float | None = None) -> tuple:
    """Turn a child's messages into ``job`` signals until it ends; return how it ended.

    A cancel that the child does not honour within ``grace`` seconds, a timeout, or a
    dead child stop the pumping with ``("cancelled",)``, ``("timeout",)`` or
    ``("crashed", exitcode)``; the process is terminated in the first two cases.
    """
    waited_since_cancel = 0.0
    elapsed = 0.0
    tick = 0.1
    while True:
        try:
            msg = messages.get(timeout=tick)
        except queue.Empty:
            elapsed += tick
            if cancel_event.is_set():
                waited_since_cancel += tick
                if waited_since_cancel >= grace:
                    stop_process(proc, grace=0.0)
                    return ("cancelled",)
            if timeout is not None and elapsed >= timeout:
                stop_process(proc, grace=0.0)
                return ("timeout",)
            if not proc.is_alive():
                # Drain anything sent just before exit, then judge the exit code.
                try:
                    msg = messages.get(timeout=0.5)
                except queue.Empty:
                    return ("crashed", proc.exitcode)
            else:
                continue
        kind = msg[0]
        if kind == "progress":
            job.done, job.total = msg[1], msg[2]
            job.progressed.emit(msg[1], msg[2])
        elif kind == "status":
            job.status_text = msg[1]
            job.status_changed.emit(msg[1])
        elif kind == "partial":
            job.partial_arrived.emit(msg[1])
        else:
            return msg


def finish(job: Job, ended: tuple) -> None:
    """Record how a child's job ended (see ``pump_messages``) as the job's final state."""
    kind = ended[0]
    if kind == "result":
        job.result = ended[1]
        job._set_state(JobState.DONE)
    elif kind == "cancelled":
        job._set_state(JobState.CANCELLED)
    elif kind == "error":
        job.error = ended[1]
        if ended[2] is not None:
            job._exception = ended[2]
        job._set_state(JobState.FAILED)
    else:
        if kind == "timeout":
            message = "the worker process ran past its time limit and was stopped"
        else:
            message = f"the worker process crashed ({describe_exitcode(ended[1])})"
        job.error = JobError("WorkerCrashed", message, "", user_facing=True)
        job._set_state(JobState.FAILED)
