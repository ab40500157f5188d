"""Start the GUI: display check, Qt's system libraries, QApplication, exception hooks,
main window, workspace.

Nothing heavy is imported at module level (no Qt either, so the display check can
answer without loading it); torch, h5py and friends load inside jobs and on first use.
Warnings raised by libraries go to the log panel (``visualizer.library_warnings``); the
worker processes are stopped and their queues closed when the app quits.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from pathlib import Path

NO_DISPLAY = ("DeepScope needs a display to open its window; on a headless machine build "
              "the demo with `make demo` (or `python main.py demo WS`) and use the CLI, or "
              "run under Xvfb.")
log = logging.getLogger("deepscope.gui")


# Distinct exit statuses, so `make run` can tell "no display" and "Qt's system libraries
# are missing" (each already explained in one line) from a failure.
EXIT_NO_DISPLAY = 3
EXIT_MISSING_LIBRARIES = 4


def has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return any(os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def missing_qt_libraries() -> str | None:
    """One line naming the Debian packages to install when Qt's xcb platform plugin
    would fail to load (Qt itself would abort the process); None when all is there."""
    from widgets.platform_libs import (
        missing_libraries_message,
        missing_xcb_packages,
        platform_is_xcb,
    )

    if not platform_is_xcb():
        return None
    packages = missing_xcb_packages()
    return missing_libraries_message(packages) if packages else None


def install_exception_hooks(session):
    """Route uncaught exceptions (GUI thread and workers) to notifications and the log.

    The previous hooks stay chained, so tracebacks still reach stderr. Returns a
    function that puts the previous hooks back.
    """
    previous_sys, previous_thread = sys.excepthook, threading.excepthook

    def report(exc_type, exc, tb, where: str) -> None:
        try:
            details = "".join(traceback.format_exception(exc_type, exc, tb))
            session.notify("error", f"Unexpected error{where}",
                           f"{exc_type.__name__}: {exc}", details=details)
        except Exception:  # noqa: BLE001 - a hook must never raise
            pass

    def sys_hook(exc_type, exc, tb) -> None:
        previous_sys(exc_type, exc, tb)
        if not issubclass(exc_type, KeyboardInterrupt):
            report(exc_type, exc, tb, "")

    def thread_hook(args) -> None:
        previous_thread(args)
        if args.exc_type is not SystemExit:
            name = args.thread.name if args.thread is not None else "?"
            report(args.exc_type, args.exc_value, args.exc_traceback, f" in thread {name}")

    sys.excepthook, threading.excepthook = sys_hook, thread_hook

    def restore() -> None:
        sys.excepthook, threading.excepthook = previous_sys, previous_thread

    return restore


def _process_age() -> float | None:
    """Seconds since this process started (Linux), for the time-to-window measurement."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except Exception:  # noqa: BLE001 - best effort only
        return None


def open_initial_workspace(window, workspace: str | None, demo_default: str):
    """Open ``workspace`` (default: the demo); a missing one is created and the demo built
    in a job, so the window is usable at once and the browser fills as it goes."""
    path = Path(workspace or demo_default)
    if (path / "deepscope.sqlite").exists():
        window.open_workspace(str(path))
        return None
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        window.session.notify(
            "error", "Not a workspace",
            f"{path} is not a DeepScope workspace and is not empty, so DeepScope did not "
            "create one there. Use File > Open workspace… or File > New workspace….")
        return None
    if not window.open_workspace(str(path), create=True):
        return None
    return start_demo_build(window, str(path))


def start_demo_build(window, path: str):
    from visualizer.demo import DemoRequest, build_demo

    session = window.session

    def on_done(job) -> None:
        # the views have followed every step already: the first run was selected as
        # soon as it was written (Session._follow_activation_runs)
        session.check_catalog()
        session.notify("info", "Demo workspace ready",
                       "Digits with three small models (MLP, CNN, ResNet) and their "
                       "activation runs.")

    session.notify("info", "Building the demo workspace",
                   "Training three small models on the digits data and extracting their "
                   "activations; this takes under a minute. You can use the window meanwhile.")
    job = window.runner.submit(build_demo, DemoRequest(path), name="Build demo workspace",
                               on_done=on_done)
    return job


def run_gui(workspace: str | None, demo_default: str) -> int:
    """Open the main window on ``workspace`` (or the demo); return the exit code."""
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return EXIT_NO_DISPLAY
    started = time.perf_counter()
    missing = missing_qt_libraries()
    if missing is not None:
        print(missing, file=sys.stderr)
        return EXIT_MISSING_LIBRARIES
    try:
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:  # a library Qt itself needs (libEGL, libfontconfig, ...)
        from widgets.platform_libs import (
            debian_package,
            missing_libraries_message,
            missing_library_in,
        )

        soname = missing_library_in(exc)
        if soname is None:
            raise
        print(missing_libraries_message([debian_package(soname)], what="Qt's libraries"),
              file=sys.stderr)
        return EXIT_MISSING_LIBRARIES

    from visualizer.library_warnings import route_library_warnings

    restore_warnings = route_library_warnings()  # to the log panel, once it is there
    from visualizer.jobs.process_runner import shutdown_all
    from visualizer.session import Session
    from widgets.qt_main_window import QtMainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("DeepScope")
    app.setApplicationName("DeepScope")
    # Collect garbage only on the GUI thread: a collection triggered in a job's thread
    # may destroy QObjects there, which crashes Qt (pyqtgraph's recipe).
    from pyqtgraph.util.garbage_collector import GarbageCollector

    app._deepscope_gc = GarbageCollector(interval=1.0)
    logging.getLogger("deepscope").setLevel(logging.INFO)
    session = Session()
    restore_hooks = install_exception_hooks(session)
    window = QtMainWindow(session)
    window.show()

    def shown() -> None:
        age = _process_age()
        since = f"{age:.2f} s after process start" if age is not None else ""
        log.info("window shown %.2f s after run_gui started %s",
                 time.perf_counter() - started, since)
        if os.environ.get("DEEPSCOPE_STARTUP_TIMING"):
            print(f"time-to-window: {time.perf_counter() - started:.3f} s in run_gui, "
                  f"{since}", file=sys.stderr)
            if os.environ["DEEPSCOPE_STARTUP_TIMING"] == "exit":
                window.close()
                return
        open_initial_workspace(window, workspace, demo_default)

    QTimer.singleShot(0, shown)
    try:
        return app.exec()
    finally:
        shutdown_all()  # worker processes and their queues: nothing leaks at exit
        restore_warnings()
        restore_hooks()
