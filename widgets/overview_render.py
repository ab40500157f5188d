"""Headless render of the Overview: ``python main.py render WS --view overview``.

A figure, not a screenshot of the page: a title with what the run was made from (model,
dataset, split, how its samples were chosen, accuracy), then per layer its mean
activation and its share of dead units as bars, and the per-unit mean activation of one
layer with its dead units marked. Everything comes from the run's catalog entry and
stored statistics (``stats/<layer>``); activation arrays are never read.

Options (``--set key=value``): ``layer`` (the per-unit chart; default the last layer),
``width`` and ``height`` (pixels; the height grows with the number of layers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from visualizer.errors import DeepScopeError, NotFoundError

OPTIONS = ("layer", "width", "height")
BAR = "#4c78a8"
DEAD = "#c62828"


def _activation_run(workspace, run: str | None):
    runs = workspace.runs(kind="activations", status="complete", newest=10)
    if run is None:
        if not runs:
            raise NotFoundError("the workspace has no complete activation run.",
                                fix="make one with `python main.py extract`.")
        return runs[-1]
    rec = workspace.run(run)
    if rec.kind != "activations" or rec.status != "complete":
        raise DeepScopeError(f"--run {run}: the Overview shows complete activation runs; this "
                             f"is a {rec.status} {rec.kind} run.",
                             fix="pick one of the newest: " + (", ".join(r.id for r in runs) or
                                                    "none yet (run `extract`)") + ".")
    return rec


def describe(run) -> tuple[str, str]:
    """The figure's title and the line below it, from the catalog entry alone."""
    p, m = run.params, run.metrics
    n = m.get("n_samples")
    samples = f"{n:,} samples" if isinstance(n, int) else "samples"
    if p.get("sample_seed") is not None:
        samples += f" ({p.get('sampling', 'seeded')} sample, seed {p['sample_seed']})"
    acc = m.get("accuracy")
    speed = m.get("samples_per_second")
    facts = [f"{p.get('model', '?')} on {p.get('dataset', '?')} ({p.get('split', '?')} split)",
             samples]
    if isinstance(acc, int | float):
        facts.append(f"accuracy {100 * acc:.1f}%")
    if isinstance(speed, int | float):
        facts.append(f"{speed:,.0f} samples/s on {p.get('device', '?')}")
    return f"Activation run {run.id}", " · ".join(facts)


def render(workspace, *, run: str | None = None, out, options: dict[str, Any]) -> Path:
    """Draw the Overview figure of ``run`` (default: the newest activation run)."""
    from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

    from widgets.common.export import export_widget
    from widgets.qt_run_overview import DEAD_RULE, summarize_layers
    from widgets.qt_text import plain_label

    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise DeepScopeError(f"--set {unknown[0]}: the overview has no such option.",
                             fix=f"use {', '.join(f'{o}=' for o in OPTIONS)}.")
    rec = _activation_run(workspace, run)
    layers = summarize_layers(rec)
    if not layers:
        raise DeepScopeError(f"run {rec.id} recorded no layers.", fix="extract again.")
    names = [s.name for s in layers]
    layer = options.get("layer") or names[-1]
    if layer not in names:
        raise NotFoundError(f"--set layer={layer}: run {rec.id} has no such layer.",
                            fix=f"use one of: {', '.join(names)}.")
    width = int(options.get("width", 1200))
    height = int(options.get("height", max(640, 330 + 24 * len(layers) + 280)))

    title, facts = describe(rec)
    root = QWidget()
    root.setStyleSheet("background: white; color: #1f2933;")
    lay = QVBoxLayout(root)
    lay.setContentsMargins(16, 12, 16, 12)
    heading = plain_label(title)
    font = heading.font()
    font.setPointSizeF(font.pointSizeF() * 1.4)
    font.setBold(True)
    heading.setFont(font)
    lay.addWidget(heading)
    lay.addWidget(plain_label(facts, wrap=True))
    graphics = _figure(layers, layer, DEAD_RULE)
    lay.addWidget(graphics, 1)
    root.resize(width, height)
    root.show()  # offscreen platform: nothing appears, but layouts settle
    app = QApplication.instance()
    for _ in range(3):
        app.processEvents()
    try:
        return export_widget(root, Path(out), title=f"DeepScope overview of {rec.id}")
    finally:
        root.close()
        root.deleteLater()


def _figure(layers, layer: str, dead_rule: str):
    """Per-layer bars (mean activation, dead share) over the chosen layer's units."""
    import pyqtgraph as pg

    widget = pg.GraphicsLayoutWidget()
    widget.setBackground("w")
    n = len(layers)
    y = np.arange(n, dtype=np.float64)
    ticks = [[(float(i), s.name) for i, s in enumerate(layers)]]

    def bars_plot(title: str, values: np.ndarray, colour: str, label: str, row: int,
                  col: int):
        plot = widget.addPlot(row=row, col=col, title=title)
        values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        plot.addItem(pg.BarGraphItem(x0=np.minimum(values, 0), y=y, width=np.abs(values),
                                     height=0.7, brush=pg.mkBrush(colour), pen=None))
        left = plot.getAxis("left")
        left.setTicks(ticks)
        left.setStyle(tickTextWidth=160, autoExpandTextSpace=True)
        plot.invertY(True)  # forward order from the top
        plot.setLabel("bottom", label)
        plot.getAxis("bottom").enableAutoSIPrefix(False)
        plot.showGrid(x=True, alpha=0.2)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.setYRange(-0.6, n - 0.4, padding=0)
        return plot

    bars_plot("Mean activation per layer", np.array([s.mean for s in layers]), BAR,
              "mean activation", 0, 0)
    dead = bars_plot("Dead units per layer", np.array([100 * s.dead_fraction for s in layers]),
                     DEAD, "% of units", 0, 1)
    dead.setXRange(0, 100, padding=0.02)
    dead.getAxis("left").setStyle(showValues=False)

    chosen = next(s for s in layers if s.name == layer)
    plot = widget.addPlot(row=1, col=0, colspan=2,
                          title=f"{chosen.name}: mean activation of each of its "
                                f"{chosen.units} units"
                                + (f" ({chosen.dead} dead, marked red: {dead_rule})"
                                   if chosen.dead else ""))
    means = np.nan_to_num(chosen.unit_means.astype(np.float64), nan=0.0, posinf=0.0,
                          neginf=0.0)
    x = np.arange(means.size, dtype=np.float64)
    live = ~chosen.unit_dead
    if live.any():
        plot.addItem(pg.BarGraphItem(x=x[live], height=means[live], width=0.8,
                                     brush=pg.mkBrush(BAR), pen=None))
    if chosen.unit_dead.any():
        plot.addItem(pg.ScatterPlotItem(x=x[~live], y=np.zeros(int((~live).sum())),
                                        symbol="x", size=8, pxMode=True,
                                        pen=pg.mkPen(DEAD, width=2), brush=None))
    plot.setLabel("bottom", "unit")
    plot.setLabel("left", "mean activation")
    plot.getAxis("left").enableAutoSIPrefix(False)
    plot.showGrid(y=True, alpha=0.2)
    plot.setMenuEnabled(False)
    plot.setXRange(-1, max(means.size, 1), padding=0.02)
    widget.ci.layout.setRowStretchFactor(0, max(2, n // 4))
    widget.ci.layout.setRowStretchFactor(1, 2)
    return widget
