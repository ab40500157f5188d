"""Widget tests: offscreen Qt, temporary QSettings, and small hand-made workspaces.

The workspaces here are written through the core API (catalog records and a real HDF5
run file with statistics) without torch, so the suite stays fast.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Views must not start background worker processes in every test; the warm worker has
# its own tests (tests/visualizer/jobs/test_warm_worker.py).
os.environ["DEEPSCOPE_NO_WARMUP"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def temp_settings(tmp_path_factory, qapp):
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture(scope="session", autouse=True)
def _garbage_on_the_gui_thread(qapp):
    """Python's cyclic collector runs in whichever thread allocates: in a job's worker
    thread it could destroy a QObject left over by an earlier test (a parentless job
    runner, a closed view) while the GUI thread delivers its deferred deletes, and Qt
    crashes. As in the app (widgets/app.py), collect only on the GUI thread."""
    import gc

    from pyqtgraph.util.garbage_collector import GarbageCollector

    collector = GarbageCollector(interval=0.5)
    yield collector
    collector.timer.stop()
    gc.enable()


@pytest.fixture(autouse=True)
def _collect_after_each_test(qapp):
    import gc

    yield
    gc.collect()
    qapp.processEvents()  # the deferred deletes of what was collected


@pytest.fixture
def session():
    from visualizer.session import Session

    return Session()


LAYERS = {"conv1": (4, 6, 6), "fc1": (16,)}


def make_workspace(root, model_name: str = "cnn", with_run: bool = True):
    """A workspace with one model, one dataset and (optionally) one activation run."""
    from visualizer.workspace.catalog import DatasetRecord, ModelRecord
    from visualizer.workspace.runfile import RunFileWriter
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.create(root)
    ws.catalog.put_model(ModelRecord(
        name=model_name, format="safetensors", path="models/m.safetensors", sha256="0" * 64,
        architecture="deepscope.cnn", info={"test_accuracy": 0.975, "n_params": 12345}))
    ws.catalog.put_dataset(DatasetRecord(
        name="digits", source="deepscope.digits", path=None, sha256="1" * 64,
        info={"n_samples": 1797, "sample_shape": [1, 8, 8],
              "class_names": [str(i) for i in range(10)],
              "splits": {"train": 1437, "test": 360}}))
    if not with_run:
        return ws, None
    n = 12
    rng = np.random.default_rng(0)
    params = {"model": model_name, "dataset": "digits", "split": "test",
              "layers": list(LAYERS), "skipped_layers": [], "device": "cpu"}
    with ws.new_run("activations", model=model_name, dataset="digits", params=params,
                    provenance={}) as new_run, \
            RunFileWriter(new_run.path, "activations", {"run_id": new_run.id}) as writer:
        for name, shape in LAYERS.items():
            values = np.maximum(rng.normal(size=(n, *shape)), 0).astype(np.float32)
            values[:, 0] = 0  # unit 0 is dead
            writer.put(f"activations/{name}", values)
            units = shape[0]
            frac_zero = np.full(units, 0.5, dtype=np.float32)
            frac_zero[0] = 1.0
            writer.put(f"stats/{name}/mean", rng.random(units).astype(np.float32))
            writer.put(f"stats/{name}/std", rng.random(units).astype(np.float32))
            writer.put(f"stats/{name}/frac_zero", frac_zero)
        writer.file["activations"].attrs["order"] = list(LAYERS)
        writer.put("sample_index", np.arange(n))
        writer.put("label", rng.integers(0, 10, n))
        writer.put("prediction", rng.integers(0, 10, n))
        new_run.metrics = {"accuracy": 0.9, "n_samples": n, "n_layers": 2,
                           "samples_per_second": 1234.5}
        writer.publish()
    return ws, new_run.id


@pytest.fixture
def workspace(tmp_path):
    return make_workspace(tmp_path / "ws")


@pytest.fixture
def window(qtbot, session):
    """The main window on ``session``; its job runner is shut down after the test."""
    from widgets.qt_main_window import QtMainWindow

    win = QtMainWindow(session)
    qtbot.addWidget(win)
    yield win
    win.runner.shutdown(wait=True)
