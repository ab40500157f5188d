"""Headless rendering of the Attribution view (``python main.py render --view
attribution``) and the PNG/SVG export used by its Export button.

Options (``--set key=value``): ``tab`` (gallery, compare, detail, sanity; default
gallery), ``sample`` (a sample index for the detail), ``opacity`` (0-1), ``mode``
(auto, signed, absolute), ``width``, ``height``.
"""

from __future__ import annotations

import time
from pathlib import Path

from visualizer.errors import DeepScopeError
from widgets.common.export import export_widget


def render(workspace, *, run=None, out, options) -> Path:
    from PySide6.QtWidgets import QApplication

    from visualizer.session import Session
    from widgets.attribution.qt_attribution_view import TABS, QtAttributionView
    from widgets.qt_job_runner import QtJobRunner

    runs = workspace.runs(kind="attribution", status="complete")
    if not runs:
        raise DeepScopeError("this workspace has no attribution run to render.",
                             fix="make one: python main.py attribute WS --model M "
                                 "--dataset D --method integrated_gradients")
    run_id = run or runs[-1].id
    session = Session()
    session.workspace = workspace
    runner = QtJobRunner(session.jobs)
    view = QtAttributionView(session, runner)
    tab = options.get("tab", "gallery")
    if tab not in TABS:
        raise DeepScopeError(f"unknown tab {tab!r}.", fix=f"use one of {', '.join(TABS)}.")
    if "opacity" in options:
        view.opacity.setValue(int(float(options["opacity"]) * 100))
    if "mode" in options:
        view.mode_combo.setCurrentText(options["mode"])
    view.refresh_runs(select=run_id)
    view.show_run(run_id)
    deadline = time.monotonic() + 300  # the run and its dataset may be read in a job
    while (view.loading() or view.data is None or view.data.run_id != run_id) \
            and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)
    if "sample" in options:
        view.show_detail(int(options["sample"]))
    view.resize(int(options.get("width", 1400)), int(options.get("height", 900)))
    view.set_tab(tab)
    view.show()
    for _ in range(3):
        QApplication.processEvents()
    try:
        return export_widget(view.current_panel(), Path(out), scale=1.0,
                             title="DeepScope attribution view")
    finally:
        view.close()
        runner.shutdown()
        view.deleteLater()
