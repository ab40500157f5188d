"""File > Import model: what will not work with a model is said when it is imported."""

from __future__ import annotations

import pytest

from tests.widgets.conftest import make_workspace


@pytest.mark.slow  # the import runs in a child process, as in the app
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_trusted_torchscript_import_notifies_that_hooks_do_not_run(qtbot, session, tmp_path,
                                                                   monkeypatch):
    import torch

    from widgets import qt_dialogs
    from widgets.qt_job_runner import QtJobRunner

    ws, _ = make_workspace(tmp_path / "ws", with_run=False)
    session.workspace = ws
    path = tmp_path / "net.ts.pt"
    torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))).save(
        str(path))
    notes = []
    session.notified.connect(notes.append)
    monkeypatch.setattr(qt_dialogs, "ask_trust", lambda parent, info: True)
    runner = QtJobRunner(session.jobs)
    try:
        qt_dialogs.start_model_import(None, session, runner, str(path), "scripted", None)
        qtbot.waitUntil(lambda: any(n.title == "Model imported" for n in notes),
                        timeout=120000)
    finally:
        runner.shutdown(wait=True)
    [warning] = [n for n in notes if n.level == "warning"]
    assert "scripted" in warning.title
    assert "TorchScript" in warning.text and "extract" in warning.text
    assert ws.catalog.model("scripted").info["warnings"] == [warning.text]
