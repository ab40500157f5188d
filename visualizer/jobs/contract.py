"""The job contract shared by every runner.

A job is a plain function ``run(request, ctx) -> result``. ``request`` is an immutable
snapshot made by the caller; ``ctx`` is the only channel back: progress, status text,
partial results and cooperative cancellation. Runners (thread, process, Qt) differ only
in where the function runs and how these calls reach the caller.
"""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from psygnal import Signal


class JobCancelled(Exception):
    """Raised by ``ctx.check_cancelled()`` once a cancel was requested."""


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class JobContext(Protocol):
    """What a job function may call. Every method is cheap and thread-safe."""

    def progress(self, done: float, total: float | None = None) -> None: ...
    def status(self, text: str) -> None: ...
    def partial(self, obj: Any) -> None: ...
    def check_cancelled(self) -> None: ...

    @property
    def cancelled(self) -> bool: ...


JobFunction = Callable[[Any, JobContext], Any]
_ids = itertools.count(1)


@dataclass
class JobError:
    """Why a job failed: the exception type, its message and the formatted traceback."""

    type_name: str
    message: str
    traceback: str
    user_facing: bool  # a DeepScopeError: show the message, hide the traceback

    def __str__(self) -> str:
        return self.message if self.user_facing else f"{self.type_name}: {self.message}"


@dataclass(eq=False)
class Job:
    """A handle on submitted work, observable from any thread.

    Signals are emitted from the thread that does the work; the Qt runner re-emits them
    on the GUI thread. ``wait()`` blocks until the job has finished.
    """

    name: str
    id: int = field(default_factory=lambda: next(_ids))
    state: JobState = JobState.QUEUED
    done: float = 0.0
    total: float | None = None
    status_text: str = ""
    result: Any = None
    error: JobError | None = None
    started_at: float | None = None
    finished_at: float | None = None

    progressed = Signal(float, object)  # done, total
    status_changed = Signal(str)
    partial_arrived = Signal(object)
    state_changed = Signal(object)  # JobState
    finished = Signal(object)  # the Job itself

    def __post_init__(self) -> None:
        self._cancel_event = threading.Event()
        self._finished_event = threading.Event()
        self._canceller: Callable[[], None] | None = None

    # -- caller side -------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the job to stop; it stops at its next ``check_cancelled``."""
        self._cancel_event.set()
        if self._canceller is not None:
            self._canceller()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until finished; return False on timeout."""
        return self._finished_event.wait(timeout)

    def outcome(self, timeout: float | None = None) -> Any:
        """Wait and return the result, or raise what the job raised."""
        if not self.wait(timeout):
            raise TimeoutError(f"job {self.name!r} still running after {timeout} s")
        if self.state is JobState.CANCELLED:
            raise JobCancelled(self.name)
        if self.state is JobState.FAILED:
            exc = getattr(self, "_exception", None)
            if exc is not None:
                raise exc
            raise RuntimeError(str(self.error))
        return self.result

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at

    # -- runner side -------------------------------------------------------------
    def _set_state(self, state: JobState) -> None:
        self.state = state
        if state is JobState.RUNNING:
            self.started_at = time.monotonic()
        self.state_changed.emit(state)
        if state.finished:
            self.finished_at = time.monotonic()
            self._finished_event.set()
            self.finished.emit(self)


class JobRunContext:
    """The ``ctx`` handed to a job function running in this process."""

    def __init__(self, job: Job, min_interval: float = 0.05):
        self._job = job
        self._min_interval = min_interval
        self._last_progress = 0.0

    def progress(self, done: float, total: float | None = None) -> None:
        self._job.done, self._job.total = float(done), total
        now = time.monotonic()
        # Throttle: a job may call this per sample; views need a few updates a second.
        if now - self._last_progress >= self._min_interval or (total and done >= total):
            self._last_progress = now
            self._job.progressed.emit(float(done), total)

    def status(self, text: str) -> None:
        self._job.status_text = text
        self._job.status_changed.emit(text)

    def partial(self, obj: Any) -> None:
        self._job.partial_arrived.emit(obj)

    @property
    def cancelled(self) -> bool:
        return self._job.cancel_requested

    def check_cancelled(self) -> None:
        if self._job.cancel_requested:
            raise JobCancelled(self._job.name)


class NullContext:
    """A ctx for calling a job function directly (scripts, tests): never cancelled."""

    def progress(self, done: float, total: float | None = None) -> None:
        pass

    def status(self, text: str) -> None:
        pass

    def partial(self, obj: Any) -> None:
        pass

    @property
    def cancelled(self) -> bool:
        return False

    def check_cancelled(self) -> None:
        pass


def describe_exception(exc: BaseException) -> JobError:
    import traceback

    from visualizer.errors import DeepScopeError

    return JobError(
        type_name=type(exc).__name__,
        message=str(exc),
        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        user_facing=isinstance(exc, DeepScopeError),
    )


def execute(job: Job, fn: JobFunction, request: Any, ctx: JobContext) -> None:
    """Run ``fn`` for ``job`` in the current thread and record how it ended."""
    if job.cancel_requested:
        job._set_state(JobState.CANCELLED)
        return
    job._set_state(JobState.RUNNING)
    try:
        job.result = fn(request, ctx)
    except JobCancelled:
        job._set_state(JobState.CANCELLED)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes job state
        job._exception = exc
        job.error = describe_exception(exc)
        job._set_state(JobState.FAILED)
    else:
        job._set_state(JobState.DONE)
