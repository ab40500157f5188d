import subprocess
import sys
import threading

import pytest

from tests.widgets.conftest import make_workspace
from widgets.qt_main_window import QtMainWindow, recent_workspaces


def test_window_opens_workspace_and_shows_overview(qtbot, window, session, tmp_path):
    ws, run_id = make_workspace(tmp_path / "my-ws")
    assert window.windowTitle() == "DeepScope"
    assert window.open_workspace(str(ws.root))
    assert window.windowTitle() == "my-ws — DeepScope"
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Overview", "Layers", "Embedding", "Attribution", "Pruning", "Robustness"]
    window.show()
    qtbot.waitUntil(lambda: window.browser.runs.model.rowCount() == 1, timeout=5000)
    window.browser.runs.select(run_id)
    assert session.selection.run_id == run_id
    # the layer statistics are read in a job, then shown
    qtbot.waitUntil(lambda: window.overview.stack.currentIndex() == 1, timeout=30000)
    assert window.overview.table.rowCount() == 2
    # views not built yet show an honest empty state
    assert "select an activation run" in window.pending_pages["Robustness"].hint.text()


def test_bad_workspace_becomes_notification(qtbot, window, session, tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file.txt").write_text("x")
    assert not window.open_workspace(str(tmp_path / "junk"))
    [note] = window.notifications.notifications()
    assert note.level == "error" and "not a DeepScope workspace" in note.text


def test_recent_workspaces_remembered_across_windows(qtbot, session, tmp_path):
    from visualizer.session import Session

    ws, _ = make_workspace(tmp_path / "remembered", with_run=False)
    first = QtMainWindow(session)
    qtbot.addWidget(first)
    first.open_workspace(str(ws.root))
    first.close()
    second = QtMainWindow(Session())
    qtbot.addWidget(second)
    assert recent_workspaces()[0] == str(ws.root)
    second._fill_recent_menu()
    assert str(ws.root) in [a.text() for a in second.recent_menu.actions()]
    second.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_thread_exception_becomes_notification(qtbot, window, session):
    from widgets.app import install_exception_hooks

    restore = install_exception_hooks(session)
    try:
        def boom():
            raise ValueError("worker exploded")

        t = threading.Thread(target=boom, name="worker-7")
        t.start()
        t.join()
        qtbot.waitUntil(lambda: bool(window.notifications.notifications()), timeout=3000)
    finally:
        restore()
    [note] = window.notifications.notifications()
    assert note.level == "error" and "worker-7" in note.title
    assert "ValueError: worker exploded" in note.text and "Traceback" in note.details


def test_plugin_failure_becomes_notification(qtbot, window):
    from plugins.api import PluginFailure
    from plugins.manager import get_manager

    get_manager().failure_reported.emit(PluginFailure(
        plugin="shinyplug", hook="architectures.load", message="RuntimeError: boom",
        traceback="Traceback ...\nRuntimeError: boom"))
    [note] = window.notifications.notifications()
    assert note.level == "error" and "shinyplug" in note.title
    assert "architectures.load" in note.text and "boom" in note.details
    assert "shinyplug" in window.statusBar().currentMessage()


def test_plugins_dialog_lists_builtin_plugin(qtbot, window):
    dialog = window._on_plugins_triggered()
    names = [dialog.tree.topLevelItem(i).text(0) for i in range(dialog.tree.topLevelItemCount())]
    assert "deepscope" in names
    dialog.close()


def test_data_import_error_is_notified_not_raised(qtbot, window, session, tmp_path):
    from widgets.qt_dialogs import start_data_import

    ws, _ = make_workspace(tmp_path / "ws", with_run=False)
    window.open_workspace(str(ws.root))
    with qtbot.waitSignal(window.runner.job_finished, timeout=10000):
        start_data_import(session, window.runner, str(tmp_path / "missing.npz"), "d")
    [note] = window.notifications.notifications()
    assert note.level == "error" and "not found" in note.text


def test_trust_dialog_defaults_to_cancel(qtbot):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from widgets import workspace_jobs as wj
    from widgets.qt_dialogs import confirm_trust

    seen = {}

    def answer():
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen["default"] = box.defaultButton().text()
        seen["text"] = box.text() + box.informativeText()
        box.defaultButton().click()

    QTimer.singleShot(50, answer)
    info = wj.ModelFileInfo("/tmp/<i>m</i>.pt", "torchscript", "ab" * 32)
    assert confirm_trust(None, info) is False
    assert seen["default"] == "Cancel"
    assert "ab" * 32 in seen["text"] and "<i>m</i>.pt" in seen["text"]


def test_no_display_prints_one_line_without_qt():
    code = ("import sys; from widgets.app import run_gui; rc = run_gui(None, 'x'); "
            "assert 'PySide6' not in sys.modules; raise SystemExit(rc)")
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("DeepScope needs a display")
