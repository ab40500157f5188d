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
