"""In the GUI, library warnings reach the log panel, from the GUI process and from worker
processes alike, and not the terminal."""

import logging
import warnings

import pytest

from tests.visualizer.jobs import job_functions as jf


@pytest.fixture
def log_view(qtbot):
    from visualizer.library_warnings import route_library_warnings
    from widgets.qt_log_panel import QtLogView

    view = QtLogView()
    qtbot.addWidget(view)
    deepscope = logging.getLogger("deepscope")
    previous = deepscope.level
    deepscope.setLevel(logging.INFO)  # as run_gui sets it
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        restore = route_library_warnings()
        yield view
        restore()
    deepscope.setLevel(previous)
    view.detach()


def test_library_warnings_reach_the_log_panel(qtbot, log_view, capfd):
    namespace = {"__name__": "umap.umap_", "warnings": warnings}
    exec("def fit():\n    warnings.warn('n_jobs value 1 overridden to 1', UserWarning)\n",
         namespace)
    namespace["fit"]()
    qtbot.waitUntil(lambda: "UserWarning from umap.umap_: n_jobs value 1 overridden"
                    in log_view.text.toPlainText(), timeout=3000)
    assert "INFO" in log_view.text.toPlainText()
    assert "UserWarning" not in capfd.readouterr().err


@pytest.mark.slow
def test_worker_process_warnings_reach_the_log_panel(qtbot, log_view, capfd):
    from visualizer.jobs import ProcessRunner

    assert ProcessRunner().submit(jf.warn_and_log, "from the worker").outcome(60) == "warned"
    qtbot.waitUntil(lambda: "UserWarning from tests.visualizer.jobs.job_functions: from "
                    "the worker" in log_view.text.toPlainText(), timeout=3000)
    assert "logged in the child: from the worker" in log_view.text.toPlainText()
    assert "UserWarning" not in capfd.readouterr().err
