"""Every view follows the workspace live: what jobs add shows up without a restart.

The jobs here are submitted without ``on_done`` callbacks, so nothing but the catalog's
change events can tell the views: a write in a job thread reaches the window through the
catalog's write listeners, a write in a child process through the SQLite WAL file.
"""

import numpy as np

from visualizer.workspace.workspace import Workspace


def _combo_texts(combo):
    return [combo.itemText(i) for i in range(combo.count())]


def _model_file(tmp_path):
    import torch

    from visualizer.models.zoo import build_cnn

    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    torch.save(build_cnn().state_dict(), path)
    return path


def _data_file(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    path = tmp_path / "small.npz"
    x = (digits.images[:120] / 16.0).astype(np.float32)[:, None]
    np.savez(path, x=x, y=digits.target[:120])
    return path


def test_views_follow_imports_and_runs_from_jobs(qtbot, window, session, tmp_path):
    from visualizer.analysis.activations import ExtractRequest, extract_activations
    from widgets import workspace_jobs as wj

    ws = Workspace.create(tmp_path / "empty")
    assert window.open_workspace(str(ws.root))
    attribution = window.views["attribution"]
    embedding = window.views["embedding"]
    layers = window.views["layers"]
    overview = window.overview
    assert _combo_texts(attribution.controls.model_combo) == []
    assert _combo_texts(attribution.controls.dataset_combo) == []
    assert embedding.run_combo.count() == 0
    assert "no activation run yet" in overview.empty.hint.text()
    assert "no activation run yet" in layers.empty.hint.text()

    # a dataset imported in a job thread
    window.runner.submit(wj.import_dataset, wj.ImportDataRequest(
        str(ws.root), str(_data_file(tmp_path)), "small"), name="import data")
    qtbot.waitUntil(lambda: _combo_texts(attribution.controls.dataset_combo) == ["small"],
                    timeout=20000)
    assert [window.browser.groups["datasets"].child(0).text(0)] == ["small"]

    # a model imported in a child process: seen through the WAL file
    window.runner.submit(wj.import_model, wj.ImportModelRequest(
        str(ws.root), str(_model_file(tmp_path)), "net", "cnn", False),
        name="import model", process=True)
    qtbot.waitUntil(lambda: _combo_texts(attribution.controls.model_combo) == ["net"],
                    timeout=60000)
    assert window.browser.groups["models"].child(0).text(0) == "net"

    # a run finished by a job: the browser lists it, the embedding offers it, and the
    # overview and layer views show it
    window.runner.submit(extract_activations, ExtractRequest(
        workspace=str(ws.root), model="net", dataset="small", split="test"),
        name="extract")
    qtbot.waitUntil(lambda: embedding.run_combo.count() == 1, timeout=60000)
    run_id = embedding.run_combo.itemData(0)
    assert window.browser.runs.model.row_of(run_id) >= 0
    assert window.browser.runs.model.run(run_id).status == "complete"
    assert session.selection.run_id == run_id
    qtbot.waitUntil(lambda: overview.stack.currentIndex() == 1, timeout=30000)
    assert layers.run_id == run_id


def test_catalog_change_names_what_changed_across_processes(tmp_path):
    """The change log is filled by the database itself, so a write by any process (or an
    older code path) is seen, and a watcher that fell behind is told to re-read."""
    import subprocess
    import sys

    from visualizer.session import Session
    from visualizer.workspace import catalog as catalog_module

    session = Session()
    ws = session.open_workspace(tmp_path / "ws", create=True)
    assert not session.check_catalog()
    code = ("from visualizer.workspace.workspace import Workspace\n"
            f"ws = Workspace.open({str(ws.root)!r})\n"
            "ws.add_builtin_dataset()\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    seen = []
    session.catalog_changed.connect(seen.append)
    change = session.check_catalog()
    assert change.datasets == {"digits"} and not change.models and not change.runs
    assert seen == [change]
    assert not session.check_catalog()  # nothing new: nothing emitted
    assert len(seen) == 1

    # fell behind the kept log: one reset instead of thousands of rows
    old_kept = catalog_module.CHANGES_KEPT
    try:
        with ws.catalog.transaction() as con:
            con.executemany("INSERT INTO changes (entity, key, op) VALUES ('run', ?, 'added')",
                            [(f"r{i}",) for i in range(6000)])
        change = session.check_catalog()
        assert change.reset and not change.runs
        catalog_module.CHANGES_KEPT = 10
        Workspace.open(ws.root)  # trims the log
        with ws.catalog.connect() as con:
            assert con.execute("SELECT COUNT(*) FROM changes").fetchone()[0] == 10
    finally:
        catalog_module.CHANGES_KEPT = old_kept
