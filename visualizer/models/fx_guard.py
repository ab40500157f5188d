"""Keep ``torch.fx`` tracing apart from every other use of a module in this process.

``torch.fx.symbolic_trace`` swaps ``torch.nn.Module.__call__`` for the whole process
while it traces: a forward pass in another thread during that time goes through the
tracer and fails ("module is not installed as a submodule"). The Layers view traces a
model in a job while other jobs train or run models (the demo build trains the next
model while the views show the first run), so the two must not overlap.

A readers-writer lock: code that runs modules (``model_pool.borrow``, training, layer
description) holds it shared, any number at once; tracing holds it alone, once no
module runs. Readers go first: a tracer waits for a moment when no job runs a model,
and never holds up a job that wants to start (a trace takes milliseconds, the graph
can wait; a stalled extraction or attribution could not).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_cond = threading.Condition()
_running = 0  # threads running modules now
_tracing = False
_local = threading.local()  # how many shared holds this thread has (re-entrant)


@contextlib.contextmanager
def running_modules() -> Iterator[None]:
    """Held while this thread runs modules; shared with every other such thread."""
    global _running
    depth = getattr(_local, "depth", 0)
    if depth == 0:
        with _cond:
            _cond.wait_for(lambda: not _tracing)  # a trace lasts milliseconds
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
    its share up while it waits and traces, so two such jobs cannot deadlock.
    """
    global _running, _tracing
    own = getattr(_local, "depth", 0) > 0
    with _cond:
        if own:
            _running -= 1
            _cond.notify_all()
        try:
            _cond.wait_for(lambda: not _tracing and _running == 0)
        except BaseException:
            if own:
                _running += 1
            raise
        _tracing = True
    try:
        yield
    finally:
        with _cond:
            _tracing = False
            if own:  # this thread runs its modules again; no other trace can start now
                _running += 1
            _cond.notify_all()
