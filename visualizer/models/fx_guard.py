"""Keep ``torch.fx`` tracing apart from every other use of a module in this process.

``torch.fx.symbolic_trace`` swaps ``torch.nn.Module.__call__`` for the whole process
while it traces: a forward pass in another thread during that time goes through the
tracer and fails ("module is not installed as a submodule"). The Layers view traces a
model in a job while other jobs train or run models (the demo build trains the next
model while the views show the first run), so the two must not overlap.

A readers-writer lock: code that runs modules (``model_pool.borrow``, training, layer
description) holds it shared, any number at once; tracing holds it alone. A waiting
tracer goes first, so a stream of short jobs cannot starve it; it still waits for the
jobs already running.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_cond = threading.Condition()
_running = 0  # modules in use
_tracing = False
_tracers_waiting = 0
_local = threading.local()  # how many shared holds this thread has (re-entrant)


@contextlib.contextmanager
def running_modules() -> Iterator[None]:
    """Held while this thread runs modules; shared with every other such thread."""
    global _running
    depth = getattr(_local, "depth", 0)
    if depth == 0:  # a thread already inside does not wait behind a tracer (deadlock)
        with _cond:
            _cond.wait_for(lambda: not _tracing and not _tracers_waiting)
            _running += 1
    _local.depth = depth + 1
    try:
        yield
    finally:
        _local.depth = depth
        if depth == 0:
            with _cond:
                _running -= 1
                _cond.notify_all()


@contextlib.contextmanager
def tracing() -> Iterator[None]:
    """Held while ``torch.fx`` traces: no module runs anywhere in the process meanwhile.

    A thread that holds ``running_modules`` (a job tracing the model it borrowed) gives
    its share up while it traces, and takes it back after, so two such jobs never wait
    for each other.
    """
    global _running, _tracing, _tracers_waiting
    own = getattr(_local, "depth", 0) > 0
    with _cond:
        if own:
            _running -= 1
            _cond.notify_all()
        _tracers_waiting += 1
        try:
            _cond.wait_for(lambda: not _tracing and _running == 0)
        finally:
            _tracers_waiting -= 1
        _tracing = True
    try:
        yield
    finally:
        with _cond:
            _tracing = False
            _cond.notify_all()
            if own:  # back to running this thread's modules, after any other tracer
                _cond.wait_for(lambda: not _tracing)
                _running += 1
