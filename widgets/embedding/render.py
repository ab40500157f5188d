"""Headless render of the Embedding view: ``python main.py render WS --view embedding``.

``--run`` is a projection run, or an activation run (then ``--set layer=L`` and
``--set method=M`` pick or make its projection, default the penultimate layer and
PCA); with no run, the newest projection. Options: ``colour`` (label, prediction,
correct, confidence, model, or ``RUN:array``), ``compare`` (a second projection run,
aligned by Procrustes), ``width``, ``height``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visualizer.errors import DeepScopeError, NotFoundError


def _projection_run(workspace, run: str | None, options: dict[str, Any]):
    from visualizer.analysis.projection.storage import projections_of

    if run is None:
        runs = projections_of(workspace)
        if not runs:
            raise NotFoundError("this workspace has no projection yet.",
                                fix="make one: python main.py project WS --run RUN "
                                    "--layer L --method pca")
        return runs[-1]
    rec = workspace.run(run)
    if rec.kind == "projection":
        return rec
    if rec.kind == "activations":
        from widgets.embedding.qt_source_picker import default_layer

        layer = options.get("layer") or default_layer(list(rec.params.get("layers", [])))
        return workspace.project(rec.id, layer, options.get("method", "pca"))
    raise DeepScopeError(f"run {run} is a {rec.kind} run.",
                         fix="give a projection or activation run.")


def render(workspace, *, run: str | None = None, out, options: dict[str, Any]) -> Path:
    """Draw the embedding of ``run`` into ``out`` (.png or .svg); returns the path."""
    from PySide6.QtWidgets import QApplication, QSplitter, QVBoxLayout, QWidget

    from visualizer.jobs.contract import NullContext
    from widgets.common.export import export_widget
    from widgets.embedding.colouring import colouring_for
    from widgets.embedding.data import LayoutRequest, load_layout
    from widgets.embedding.qt_scatter import QtScatterPlot
    from widgets.qt_text import plain_label

    proj = _projection_run(workspace, run, options)
    layout = load_layout(LayoutRequest(str(workspace.root), proj.id), NullContext())
    colour = options.get("colour", options.get("color", "label"))
    width, height = int(options.get("width", 1100)), int(options.get("height", 820))

    def panel(lay, model_index=0, coords=None):
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(2, 2, 2, 2)
        trust = lay.metrics.get("trustworthiness_k10")
        v.addWidget(plain_label(f"{lay.title} · {len(lay.ids):,} samples"
                                + (f" · trustworthiness {trust:.3f}" if trust else "")))
        plot = QtScatterPlot()
        plot.set_points(lay.coords if coords is None else coords, lay.ids,
                        colouring_for(lay, colour, workspace, model_index))
        v.addWidget(plot, 1)
        return box, plot

    compare = options.get("compare")
    if compare:
        from visualizer.analysis.projection.align import align_by_ids

        other = load_layout(LayoutRequest(str(workspace.root), compare), NullContext())
        alignment = align_by_ids(layout.ids, layout.coords, other.ids, other.coords)
        root = QSplitter()
        a, plot_a = panel(layout)
        b, plot_b = panel(other, 1, alignment.apply(other.coords))
        root.addWidget(a)
        root.addWidget(b)
        plot_b.setXLink(plot_a)
        plot_b.setYLink(plot_a)
        width = int(options.get("width", 1600))
    else:
        root, _ = panel(layout)
    root.resize(width, height)
    root.show()  # offscreen platform: nothing appears, but layouts settle
    app = QApplication.instance()
    for _ in range(3):
        app.processEvents()
    path = export_widget(root, Path(out))
    root.close()
    root.deleteLater()
    return path
