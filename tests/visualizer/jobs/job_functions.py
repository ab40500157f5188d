"""Module-level job functions: the process runner pickles them by name."""

import os
import signal
import time


def square(n, ctx):
    for i in range(n):
        ctx.check_cancelled()
        ctx.progress(i + 1, n)
    ctx.status("done counting")
    ctx.partial({"half": n // 2})
    return n * n


def slow_loop(seconds, ctx):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ctx.check_cancelled()
        time.sleep(0.01)
    return "finished"


def uninterruptible(seconds, ctx):
    time.sleep(seconds)  # never checks for cancel: the runner must terminate it
    return "finished"


def fail(message, ctx):
    raise ValueError(message)


def crash(_, ctx):
    os.kill(os.getpid(), signal.SIGKILL)


WARMED = {"value": False}


def warm(_, ctx):
    WARMED["value"] = True
    return "warm"


def pid_and_warmth(_, ctx):
    return os.getpid(), WARMED["value"]


def tqdm_then_sleep(seconds, ctx):
    """Make tqdm's global lock (a named semaphore in a spawned child unless replaced),
    say so, then block without checking for cancel."""
    from tqdm import tqdm

    for _ in tqdm(range(1), disable=True):
        pass
    ctx.status("holding tqdm's lock")
    time.sleep(seconds)
    return "finished"


def warn_and_log(message, ctx):
    """A library-style warning and a deepscope log record, raised in the child."""
    import logging
    import warnings

    warnings.warn(message, UserWarning, stacklevel=1)
    logging.getLogger("deepscope.test").info("logged in the child: %s", message)
    return "warned"


def in_ctypes_callbacks(seconds, ctx):
    """Spend most of the time inside ctypes callbacks (as numba does while llvmlite
    compiles): a signal handler that raises there has its exception printed and dropped."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    compare_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

    @compare_type
    def compare(a, b):
        time.sleep(0.05)
        return 0

    values = (ctypes.c_int * 2)(2, 1)
    ctx.status("in ctypes callbacks")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        libc.qsort(values, 2, ctypes.sizeof(ctypes.c_int), compare)
        spin = time.monotonic() + 0.01
        while time.monotonic() < spin:
            pass
    return "finished"
