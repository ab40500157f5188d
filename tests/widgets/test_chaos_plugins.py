"""A plugin that raises on import and in its hooks leaves the window working."""

import numpy as np
import pytest

from tests.plugins.conftest import chaos_dir  # noqa: F401 - fixture
from tests.widgets.conftest import make_workspace


@pytest.fixture
def chaos_manager(chaos_dir, monkeypatch):  # noqa: F811
    import plugins.manager

    monkeypatch.setattr(plugins.manager, "_manager", None)  # rediscover with chaos plugins
    yield plugins.manager.get_manager()


def test_window_survives_chaos_plugins(qtbot, session, chaos_manager, chaos_dir, tmp_path):  # noqa: F811
    from widgets.qt_dialogs import start_data_import
    from widgets.qt_main_window import QtMainWindow

    window = QtMainWindow(session)
    qtbot.addWidget(window)
    notes = window.notifications.notifications()
    assert any("broken_manifest" in n.title for n in notes), [n.title for n in notes]

    ws, _ = make_workspace(tmp_path / "ws", with_run=False)
    window.open_workspace(str(ws.root))
    bad = tmp_path / "data.chaos"
    bad.write_bytes(b"x")
    with qtbot.waitSignal(window.runner.job_finished, timeout=20000):
        start_data_import(session, window.runner, str(bad), "d")
    assert any("chaos_hook" in n.title or "chaos_hook" in n.text
               for n in window.notifications.notifications())

    # the window goes on: a good import still works through the same path
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((4, 3), np.float32), y=np.array([0, 1, 0, 1]))
    with qtbot.waitSignal(window.runner.job_finished, timeout=20000):
        start_data_import(session, window.runner, str(good), "good")
    assert "good" in [d.name for d in session.workspace.datasets()]
    assert chaos_manager.plugins["chaos_hook"].state == "errored"
