"""Run a function in a child process, so a crash in native code cannot take us down.

Parsing untrusted files (HDF5, model archives) goes through C libraries that can
segfault or hang on a corrupt file. :func:`run_isolated` runs such work in a fresh
``spawn`` child with a timeout and turns a crash or a hang into an exception the caller
can turn into a user-facing error. ``ProcessRunner`` is the asynchronous sibling for
long jobs with progress and cancel; both describe and stop children the same way.
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# How long to wait for a child to exit after it sent its result or was terminated.
_JOIN_GRACE_S = 5.0


class IsolatedCrashError(RuntimeError):
    """The child process died without returning a result.

    Attributes
    ----------
    exitcode
        The child's exit code; negative for a signal (``-11`` is SIGSEGV).
    description
        ``"exit code N"`` or ``"signal N (SIGNAME)"``, for messages.
    """

    def __init__(self, exitcode: int | None):
        self.exitcode = exitcode
        self.description = describe_exitcode(exitcode)
        super().__init__(f"child process crashed ({self.description})")


class IsolatedTimeoutError(TimeoutError):
    """The child process ran past its timeout and was killed."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        super().__init__(f"child process did not finish within {timeout:g} s and was killed")


class RemoteTraceback(Exception):
    """Carries the child's formatted traceback as the ``__cause__`` of a re-raised error."""

    def __init__(self, text: str):
        self.text = text
        super().__init__(text)

    def __str__(self) -> str:
        return self.text


def describe_exitcode(exitcode: int | None) -> str:
    """Say how a process ended: ``"exit code 3"`` or ``"signal 11 (SIGSEGV)"``."""
    if exitcode is None:
        return "no exit code"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
        return f"signal {-exitcode} ({name})"
    return f"exit code {exitcode}"


def _child_main(conn: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    """Run ``fn`` in the child and send ``("ok", result)`` or ``("error", ...)`` back."""
    try:
        result = fn(*args, **kwargs)
        # Connection.send pickles fully before writing, so a result that cannot be
        # pickled fails here, with nothing half-sent, and is reported as an error.
        conn.send(("ok", result))
    except BaseException as exc:  # noqa: BLE001 - everything must reach the parent
        tb = traceback.format_exc()
        try:
            payload = pickle.dumps(exc)
            # Some exceptions pickle but cannot be rebuilt (required keyword arguments):
            # check here, where the traceback is still at hand.
            pickle.loads(payload)
        except Exception:  # noqa: BLE001
            payload = None
        conn.send(("error", payload, f"{type(exc).__name__}: {exc}", tb))
    finally:
        conn.close()


def run_isolated(
    fn: Callable[..., T], *args: Any, timeout: float | None = 120.0, **kwargs: Any
) -> T:
    """Call ``fn(*args, **kwargs)`` in a fresh child process and return its result.

    Parameters
    ----------
    fn
        A module-level function (it is pickled by reference into a ``spawn`` child,
        which starts a fresh interpreter: no forked locks, threads or Qt state).
    *args, **kwargs
        Its arguments; they and the result must be picklable.
    timeout
        Seconds to wait for the result, including the child's start-up; ``None`` waits
        forever.

    Returns
    -------
    The value ``fn`` returned.

    Raises
    ------
    IsolatedCrashError
        If the child died without a result (a segfault, ``os._exit``, the OOM killer).
    IsolatedTimeoutError
        If no result came within ``timeout``; the child is killed.
    Exception
        Whatever ``fn`` raised is re-raised here, with the child's traceback as its
        ``__cause__``. An exception that cannot be pickled arrives as a
        ``RuntimeError`` with its type, message and traceback.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_child_main, args=(sender, fn, args, kwargs), name="deepscope-isolated", daemon=True
    )
    process.start()
    # Drop our copy of the sending end: then a dead child reads as EOF instead of
    # leaving us waiting for the full timeout.
    sender.close()
    message = None
    try:
        # Receive before joining: a large result fills the pipe and the child can only
        # exit once we have read it.
        if not receiver.poll(timeout):
            raise IsolatedTimeoutError(timeout if timeout is not None else float("inf"))
        try:
            message = receiver.recv()
        except EOFError:
            process.join(_JOIN_GRACE_S)
            raise IsolatedCrashError(process.exitcode) from None
    finally:
        receiver.close()
        # After a result the child is exiting on its own; otherwise do not wait.
        stop_process(process, grace=_JOIN_GRACE_S if message is not None else 0.0)
    if message[0] == "ok":
        return message[1]
    _, payload, summary, tb = message
    remote = RemoteTraceback(tb)
    if payload is not None:
        try:
            exc = pickle.loads(payload)
        except Exception:  # noqa: BLE001 - e.g. a class the parent cannot import
            exc = None
        if isinstance(exc, BaseException):
            raise exc from remote
    raise RuntimeError(f"{summary} (in an isolated child process)") from remote


def stop_process(process: multiprocessing.process.BaseProcess, grace: float) -> None:
    """Make sure the child is gone: wait up to ``grace`` s, then terminate, then kill."""
    process.join(grace)
    if process.is_alive():
        process.terminate()
        process.join(_JOIN_GRACE_S)
    if process.is_alive():
        process.kill()
        process.join()
