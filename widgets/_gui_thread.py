"""Deliver model events on the GUI thread and forget them when the widget goes away.

psygnal calls a callback in the thread that emits. Session events can be emitted from
job threads (a notification from ``threading.excepthook``, a catalog change at the end
of a job), and widgets may only be touched from the GUI thread, so every view connects
its model slots through ``connect_model``: on the GUI thread the slot runs at once,
from any other thread it is posted through a queued Qt signal. The connection is
dropped when the owning widget is destroyed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot
from shiboken6 import isValid


class _Invoker(QObject):
    posted = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.posted.connect(self._on_self_posted, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _on_self_posted(self, fn: Callable[[], Any]) -> None:
        fn()


_invoker: _Invoker | None = None


def _get_invoker() -> _Invoker:
    global _invoker
    if _invoker is None or not isValid(_invoker):
        _invoker = _Invoker()
        app = QCoreApplication.instance()
        if app is not None and _invoker.thread() is not app.thread():
            _invoker.moveToThread(app.thread())
    return _invoker


def on_gui_thread() -> bool:
    app = QCoreApplication.instance()
    return app is not None and QThread.currentThread() is app.thread()


def call_on_gui(fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` now if on the GUI thread, else post it there."""
    if on_gui_thread():
        fn(*args)
    else:
        _get_invoker().posted.emit(partial(fn, *args))


def connect_model(owner: QObject, signal, slot: Callable[..., Any], nargs: int | None = None
                  ) -> Callable[..., Any]:
    """Connect a psygnal ``signal`` to ``slot`` of ``owner``, GUI-thread safe.

    ``nargs`` cuts the emitted arguments (evented dataclass fields emit
    ``(value, old_value)``). Returns the callback that psygnal holds.
    """
    _get_invoker()  # created here, on the GUI thread

    def deliver(*args: Any) -> None:
        if isValid(owner):  # the widget may have gone while the call was queued
            slot(*(args if nargs is None else args[:nargs]))

    def callback(*args: Any) -> None:
        call_on_gui(deliver, *args)

    signal.connect(callback)
    owner.destroyed.connect(lambda *_: signal.disconnect(callback, missing_ok=True))
    return callback
