"""``python main.py render WS --view layers --out x.png|svg [--set key=value]``.

Builds the Layer view offscreen on a private session, runs its jobs synchronously, and
writes the view to a file. Options are :class:`LayerViewState` fields plus ``layer``
(default: the last layer with feature maps), ``sample`` (default 0), ``width`` and
``height``; ``colour`` is ``color_by`` by a short name (``colour=sparsity``: the share of
exactly-zero weights per layer, with its colour bar; the default for a pruned model).
"""

from __future__ import annotations

from pathlib import Path

from visualizer.errors import DeepScopeError, NotFoundError
from visualizer.jobs.contract import Job, JobRunContext, execute


class SyncRunner:
    """The ``QtJobRunner.submit`` interface, running each job at once on this thread."""

    def __init__(self):
        self.jobs: list[Job] = []

    def submit(self, fn, request, name=None, on_done=None, on_failed=None, **_):
        job = Job(name=name or getattr(fn, "__name__", "job"))
        execute(job, fn, request, JobRunContext(job))
        self.jobs.append(job)
        if job.state.value == "done" and on_done is not None:
            on_done(job)
        elif job.state.value == "failed" and on_failed is not None:
            on_failed(job)
        return job


def render(workspace, *, run: str | None = None, out, options: dict | None = None) -> Path:
    """Draw the Layer view of ``run`` (default: the newest activation run) to ``out``."""
    from PySide6.QtWidgets import QApplication

    from visualizer.analysis.layers.view_state import LayerViewState
    from visualizer.session import Session
    from widgets.common.export import export_widget
    from widgets.layers.qt_layer_view import QtLayerView

    options = dict(options or {})
    layer = options.pop("layer", None)
    sample = options.pop("sample", None)
    width = int(options.pop("width", 1600))
    height = int(options.pop("height", 1000))
    fix = ("use layer=, sample=, width=, height=, colour= (sparsity, type, "
           "mean_activation, dead, norm, params), tab=, unit=, collapse_depth=, search= ...")
    try:
        state = LayerViewState.from_options(options)
    except KeyError as exc:
        raise DeepScopeError(f"--set {exc.args[0]}: not an option of the layers view",
                             fix=fix) from exc
    except ValueError as exc:
        raise DeepScopeError(f"--set {exc}", fix=fix) from exc
    runs = workspace.runs(kind="activations", status="complete")
    if run is None:
        if not runs:
            raise NotFoundError("the workspace has no complete activation run.",
                                fix="make one with `python main.py extract`.")
        run = runs[-1].id
    session = Session()
    session.workspace = workspace
    session.selection.run_id = run
    if layer:
        session.selection.layer = layer
    if sample is not None:
        session.selection.hovered_sample = int(sample)
    view = QtLayerView(session, SyncRunner(), state=state)
    view.resize(width, height)
    view.show()
    app = QApplication.instance()
    for _ in range(3):
        app.processEvents()
    view.canvas.fit_initial()
    if session.selection.layer:
        view.canvas.set_selected(view.canvas.node_for_layer(session.selection.layer))
    app.processEvents()
    path = export_widget(view, out, scale=1.0, title="DeepScope layer view")
    view.close()
    view.deleteLater()
    app.processEvents()
    return path
