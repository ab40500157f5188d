"""Warnings raised by libraries go to the log; DeepScope's own stay in sight.

captum, umap, numba, scikit-learn and torch warn about things a DeepScope user cannot
act on (captum announcing the hooks it sets and removes, umap saying a seed makes it
single-threaded). ``route_library_warnings()`` replaces ``warnings.showwarning`` so that
such a warning becomes one INFO record of the ``deepscope.warnings`` logger naming its
category and the module that raised it: the GUI shows it in its log panel, the CLI
keeps it off the terminal (``DEEPSCOPE_LOG_LEVEL=INFO`` prints it). A warning raised by
DeepScope's own code (``visualizer``, ``widgets``, ``plugins``, ``main``; also a warning
that a library raises from a call made directly there) is logged at WARNING, so the CLI
prints it and the GUI's log shows it. The ``warnings`` filters still decide what is
shown at all (by default each warning once per place).

Worker processes route their warnings the same way and forward the records to the
parent (``visualizer.jobs.process_runner``).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable

LOGGER = "deepscope.warnings"
OWN_PACKAGES = frozenset({"visualizer", "widgets", "plugins", "main"})
_SKIPPED_MODULES = frozenset({"warnings", __name__})

log = logging.getLogger(LOGGER)


def route_library_warnings() -> Callable[[], None]:
    """Send warnings to the ``deepscope.warnings`` log from now on (idempotent).

    Returns a function that puts the previous ``warnings.showwarning`` back.
    """
    previous = warnings.showwarning
    if getattr(previous, "_deepscope_routed", False):
        return lambda: None

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if file is not None:  # someone asked for a stream: honour it
            previous(message, category, filename, lineno, file, line)
            return
        try:
            log_warning(message, category, warning_origin(filename), filename, lineno)
        except Exception:  # noqa: BLE001 - a warning must never raise
            previous(message, category, filename, lineno, file, line)

    showwarning._deepscope_routed = True
    warnings.showwarning = showwarning

    def restore() -> None:
        if warnings.showwarning is showwarning:
            warnings.showwarning = previous

    return restore


def is_own_module(module: str) -> bool:
    return module.split(".", 1)[0] in OWN_PACKAGES


def log_warning(message, category: type[Warning], module: str, filename: str,
                lineno: int) -> None:
    """One log record for a warning: WARNING when DeepScope raised it, else INFO."""
    level = logging.WARNING if is_own_module(module) else logging.INFO
    log.log(level, "%s from %s: %s (%s:%d)", category.__name__, module, message,
            os.path.basename(filename), lineno)


def warning_origin(filename: str) -> str:
    """The module that called ``warnings.warn`` (or the C function that warned).

    Found on the stack, so a ``stacklevel`` that points into the caller's code does not
    make a library's warning look like DeepScope's; ``filename`` (where the warning is
    attributed) is the fallback.
    """
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name not in _SKIPPED_MODULES:
            if name in ("__main__", "__mp_main__"):
                return module_for_path(frame.f_code.co_filename)
            return name or module_for_path(frame.f_code.co_filename)
        frame = frame.f_back
    return module_for_path(filename)


def module_for_path(filename: str) -> str:
    """A dotted module name for a source file: ``captum.attr._core.lime`` for
    ``.../site-packages/captum/attr/_core/lime.py``, ``main`` for DeepScope's main.py."""
    path = os.path.abspath(filename)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for base in [root, *sorted(sys.path, key=len, reverse=True)]:
        base = os.path.abspath(base or ".")
        if path.startswith(base + os.sep) and "site-packages" not in path[len(base):]:
            relative = os.path.splitext(path[len(base) + 1:])[0]
            return relative.replace(os.sep, ".").removesuffix(".__init__")
    return os.path.splitext(os.path.basename(path))[0]
