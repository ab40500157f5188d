"""Run a job in a child process that Cancel can stop.

For work that holds the GIL or cannot be interrupted (UMAP, t-SNE) and for parsing files
that may crash native code. The child gets a context whose calls travel back over a
queue; a pump thread in the parent turns them into the same ``Job`` signals the thread
runner emits. Cancel first asks nicely (``check_cancelled`` raises in the child), then
terminates the process after ``grace`` seconds. A crash becomes a failed job, never a
crash of the caller.

Children leave nothing behind: warnings and log records travel to the parent's log, a
terminated child unwinds (so multiprocessing's finalizers unlink the semaphores it made),
and every runner still alive when the interpreter exits is shut down first
(``shutdown_all``, also called when the GUI quits), so no ``resource_tracker: ...
leaked semaphore`` warning is printed at exit.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing as mp
import multiprocessing.util  # noqa: F401 - its atexit hook must run after ours (LIFO)
import os
import queue
import signal
import sys
import threading
import weakref
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


class Terminated(SystemExit):
    """Raised in a worker child by SIGTERM (``Process.terminate``): the child unwinds
    and exits through multiprocessing's clean-up instead of dying where it stands."""


def background_process_setup(messages=None) -> None:
    """What every worker child does first.

    The parent owns Ctrl-C, so a terminal's SIGINT must not kill a child mid-write. And
    the child runs at a lower CPU priority: UMAP's numba threads would otherwise take
    every core and starve the GUI thread (a 2-core laptop stalled 280 ms at a time).

    Warnings and log records go to the parent over ``messages`` (see ``pump_messages``)
    instead of the terminal. SIGTERM unwinds the child, so that multiprocessing's
    finalizers unlink the named semaphores it created; tqdm gets a thread lock, because
    its default lock is such a semaphore (a spawned child's default context is "spawn").
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        try:
            os.nice(BACKGROUND_NICENESS)
        except OSError:
            pass

    def on_sigterm(signum, frame):
        if messages is not None:
            messages.cancel_join_thread()  # the parent stopped reading: do not wait on it
        raise Terminated(128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
    if hasattr(signal, "setitimer"):
        # Raised inside a ctypes callback (numba compiling through llvmlite), Terminated
        # is printed and dropped: raise it again a moment later, somewhere else. (Signal
        # handlers run in the main thread, so this hook is called there.)
        previous_hook = sys.unraisablehook

        def unraisable(info):
            if not isinstance(info.exc_value, Terminated):
                previous_hook(info)
                return
            try:
                signal.signal(signal.SIGALRM, on_sigterm)
                signal.setitimer(signal.ITIMER_REAL, 0.01)
            except ValueError:  # not the main thread after all: the parent kills it
                pass

        sys.unraisablehook = unraisable
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    if messages is not None:
        from visualizer.library_warnings import route_library_warnings

        root = logging.getLogger()
        root.addHandler(_ForwardLogHandler(messages))
        logging.getLogger("deepscope").setLevel(logging.INFO)
        route_library_warnings()


class _ForwardLogHandler(logging.Handler):
    """In a worker child: send each log record to the parent as ``("log", ...)``."""

    def __init__(self, messages):
        super().__init__()
        self._messages = messages
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._messages.put(("log", record.name, record.levelno, self.format(record)))
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _child_main(fn: JobFunction, request: Any, messages, cancel_event) -> None:
    background_process_setup(messages)
    run_in_child(fn, request, messages, _ChildContext(messages, cancel_event))


def run_in_child(fn: JobFunction, request: Any, messages, ctx) -> None:
    """Run one job in a child process and send how it ended as the last message."""
    try:
        result = fn(request, ctx)
    except JobCancelled:
        messages.put(("cancelled",))
    except Terminated:
        raise  # the parent stopped this child: exit, cleaning up on the way
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


# Runners whose children may still run, and the threads that read children's messages
# (they outlive a runner that is dropped); ``shutdown_all`` stops and waits for them.
_live_runners: weakref.WeakSet = weakref.WeakSet()
_pump_threads: weakref.WeakSet = weakref.WeakSet()
_live_lock = threading.Lock()
EXIT_GRACE = 0.5  # seconds a child has to stop cooperatively when the app exits


def register_runner(runner) -> None:
    """Have ``runner.shutdown(grace=...)`` called by ``shutdown_all`` (at the latest at
    interpreter exit, before multiprocessing's own exit hook)."""
    with _live_lock:
        _live_runners.add(runner)


def shutdown_all(grace: float = EXIT_GRACE) -> None:
    """Stop every live runner's children, close their queues and wait for the threads
    that read them (idempotent)."""
    with _live_lock:
        runners = list(_live_runners)
        _live_runners.clear()
    for runner in runners:
        try:
            runner.shutdown(grace=grace)
        except Exception:  # noqa: BLE001 - at exit, stop the others regardless
            logging.getLogger("deepscope.jobs").exception("shutting down %r failed", runner)
    with _live_lock:
        pumps = list(_pump_threads)
    for pump in pumps:  # of runners already dropped: their jobs ended, or end now
        if pump is not threading.current_thread():
            pump.join(timeout=5.0)


atexit.register(shutdown_all)


class ProcessRunner:
    """Start one child process per job (``spawn``: safe with threads and torch)."""

    def __init__(self, grace: float = 2.0, timeout: float | None = None):
        self._ctx = mp.get_context("spawn")
        self._grace = grace
        self._timeout = timeout
        self._children: dict[int, tuple] = {}  # job id -> (process, cancel_event)
        self._pumps: weakref.WeakSet = weakref.WeakSet()  # the threads still running
        self._lock = threading.Lock()
        register_runner(self)

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
        with self._lock:
            self._children[job.id] = (proc, cancel_event)
            self._pumps.add(pump)
        with _live_lock:
            _pump_threads.add(pump)
        register_runner(self)  # again, in case shutdown_all ran before
        proc.start()
        pump.start()
        return job

    def _pump(self, job: Job, proc, messages, cancel_event) -> None:
        ended: tuple = ("crashed", None)
        try:
            ended = pump_messages(job, proc, messages, cancel_event, self._grace,
                                  self._timeout)
            stop_process(proc, grace=self._grace)
        finally:
            with self._lock:
                self._children.pop(job.id, None)
            messages.close()
        finish(job, ended)

    def shutdown(self, grace: float | None = None) -> None:
        """Cancel the running jobs; stop their children after ``grace`` seconds (default:
        ``EXIT_GRACE``, or the runner's grace if shorter); wait for the threads that read
        their messages.

        The wait matters at exit: a thread that drops the last reference to a queue
        unlinks its semaphores, and one frozen half-way by the interpreter's shutdown
        leaves a name for the resource tracker to warn about.
        """
        grace = min(self._grace, EXIT_GRACE) if grace is None else grace
        with self._lock:
            children = list(self._children.values())
            pumps = list(self._pumps)
        for _, cancel_event in children:
            cancel_event.set()
        for proc, _ in children:
            stop_process(proc, grace=grace)
        for pump in pumps:
            if pump is not threading.current_thread():
                pump.join(timeout=5.0)


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
        if kind == "log":
            logging.getLogger(msg[1]).log(msg[2], "%s", msg[3])
        elif kind == "progress":
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
