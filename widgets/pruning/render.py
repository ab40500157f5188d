"""Headless render of the Pruning view: ``python main.py render WS --view pruning
--out x.png|svg [--set dense=cnn] [--set model=NAME]``.

A figure, not the view's controls: accuracy against sparsity for every pruned model of
one dense model (with its reference line and a legend), the per-layer sparsity of one
pruned model beside the other methods at its sparsity, and its fine-tuning curves when
it has any. ``--run`` may name a ``prune_sweep`` run (its dense model) or a ``pruning``
run (its model). Options: ``dense`` (default: the model with most pruned descendants),
``model`` (default: the sparsest), ``width``, ``height``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visualizer.errors import DeepScopeError, NotFoundError


def _choose(workspace, run: str | None, options: dict[str, Any]):
    """``(dense, model, points of dense)`` from ``--run`` and the options."""
    from visualizer.analysis.pruning.results import pruned_points
    from widgets.pruning.data import default_model

    dense, model = options.get("dense") or None, options.get("model") or None
    if run is not None:
        rec = workspace.run(run)
        if rec.kind == "prune_sweep":
            dense = dense or rec.params.get("model")
        elif rec.kind == "pruning":
            model = model or rec.params.get("model")
        else:
            raise DeepScopeError(f"run {run} is a {rec.kind} run.",
                                 fix="give a prune_sweep or pruning run, or no --run.")
    every = pruned_points(workspace)
    if not every:
        raise NotFoundError("this workspace has no pruned model yet.",
                            fix="make some: python main.py prune-sweep WS --model M "
                                "--dataset D")
    by_name = {p.model: p for p in every}
    if model is not None:
        if model not in by_name:
            raise NotFoundError(f"model {model!r} is not a pruned model of this workspace.",
                                fix="--set model= one of: " + ", ".join(sorted(by_name)))
        if dense is not None and by_name[model].parent != dense:
            raise DeepScopeError(f"{model} was pruned from {by_name[model].parent}, not "
                                 f"{dense}.", fix=f"--set dense={by_name[model].parent}.")
        dense = by_name[model].parent
    if dense is None:
        counts: dict[str, int] = {}
        for p in every:
            counts[p.parent] = counts.get(p.parent, 0) + 1
        dense = max(counts, key=counts.get)
    points = [p for p in every if p.parent == dense]
    if not points:
        parents = sorted({p.parent for p in every})
        raise NotFoundError(f"model {dense!r} has no pruned descendants.",
                            fix="--set dense= one of: " + ", ".join(parents))
    return dense, model or default_model(points), points


def render(workspace, *, run: str | None = None, out, options: dict[str, Any]) -> Path:
    """Draw the pruning figure into ``out`` (.png or .svg); returns the path."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication, QGridLayout, QWidget

    from visualizer.analysis.pruning.results import curves
    from widgets.common.export import export_widget
    from widgets.pruning.data import dense_accuracy, peers_of
    from widgets.pruning.plots import QtAccuracyPlot, QtLayerSparsityPlot
    from widgets.pruning.qt_curves_pane import QtCurvesPlot
    from widgets.pruning.style import count
    from widgets.qt_text import plain_label

    options = dict(options or {})
    dense, model, points = _choose(workspace, run, options)
    point = next(p for p in points if p.model == model)
    data = curves(workspace, model) if point.schedule != "oneshot" else None
    width = int(options.get("width", 1400))
    height = int(options.get("height", 900 if data else 560))
    acc = dense_accuracy(workspace, dense, points)

    root = QWidget()
    palette = root.palette()
    palette.setColor(QPalette.ColorRole.Window, QColor("white"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#222222"))
    root.setPalette(palette)
    root.setAutoFillBackground(True)
    grid = QGridLayout(root)
    grid.setContentsMargins(12, 10, 12, 10)
    grid.setVerticalSpacing(4)

    def heading(text: str, size: float = 1.0):
        label = plain_label(text)
        font = label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * size)
        label.setFont(font)
        return label

    dense_text = f" · dense accuracy {100 * acc:.2f}%" if acc is not None else ""
    grid.addWidget(heading(f"Pruning {dense}{dense_text} · {len(points)} pruned models",
                           1.25), 0, 0, 1, 2)
    accuracy = QtAccuracyPlot()
    accuracy.set_points(points)
    accuracy.set_dense(dense, acc)
    accuracy.set_current(model)
    bars = QtLayerSparsityPlot()
    bars.set_models(peers_of(point, points), model)
    grid.addWidget(heading("Test accuracy against achieved sparsity"), 1, 0)
    grid.addWidget(heading(f"Per-layer sparsity at {100 * point.target_sparsity:.3g}% "
                           f"target · outlined: {model}"), 1, 1)
    grid.addWidget(accuracy, 2, 0)
    grid.addWidget(bars, 2, 1)
    cost = point.cost or {}
    parent_cost = cost.get("parent") or {}
    if cost.get("nonzero_params") and parent_cost.get("nonzero_params"):
        note = (f"{model}: {count(cost['nonzero_params'])} non-zero parameters of "
                f"{count(parent_cost['nonzero_params'])} in {dense}; accuracy "
                f"{100 * point.accuracy:.2f}% ({-100 * point.accuracy_drop:+.2f} pts)")
        caption = plain_label(note)
        caption.setStyleSheet("color: #5f6b7a;")
        grid.addWidget(caption, 3, 1)
    grid.setColumnStretch(0, 3)
    grid.setColumnStretch(1, 2)
    grid.setRowStretch(2, 3)
    if data:
        plot = QtCurvesPlot()
        plot.set_curves(data, "", dense_accuracy=point.parent_accuracy,
                        before_finetune=point.accuracy_before_finetune)
        grid.addWidget(heading(f"Fine-tuning of {model} ({point.series})"), 4, 0, 1, 2)
        grid.addWidget(plot, 5, 0, 1, 2)
        grid.setRowStretch(5, 2)
    root.resize(width, height)
    # shown so that layouts settle, never on a screen (Export in a running app uses this)
    root.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    root.show()
    app = QApplication.instance()
    for _ in range(3):
        app.processEvents()
    path = export_widget(root, Path(out), title="DeepScope pruning")
    root.close()
    root.deleteLater()
    return path
