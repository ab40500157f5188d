"""Model, layer and method names are shown literally in the Pruning view: pyqtgraph
renders axis labels, titles and legend entries as HTML and Qt guesses rich text in labels
and tooltips, so a name such as ``<b>x</b>&`` must reach them escaped (or as plain text)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.usefixtures("qapp")

NAME = "cnn<b>x</b>&"
METHOD = "<i>m</i>&"


def _legend_texts(legend) -> list[str]:
    return [label.item.toPlainText() for _, label in legend.items]


@pytest.fixture
def point(pruning_ws):
    from visualizer.analysis.pruning.results import pruned_points

    real = next(p for p in pruned_points(pruning_ws, "cnn") if p.model == "cnn-snip-90")
    return dataclasses.replace(real, model=NAME, parent=f"dense{NAME}", method=METHOD)


def test_cka_axis_labels_and_titles_show_model_names_literally(qtbot, pruning_session,
                                                               recording_runner):
    from visualizer.analysis.pruning.compare import CkaData
    from widgets.pruning.qt_cka_panel import QtCkaPanel

    panel = QtCkaPanel(pruning_session, recording_runner)
    qtbot.addWidget(panel)
    layers = ["conv<1>", "fc&2"]
    panel._show(CkaData("r1", "a1", "b1", NAME, f"pruned{NAME}", layers, layers,
                        np.eye(2), layers, np.ones(2), 10))
    left = panel.heat.plot.getAxis("left")
    assert "&lt;b&gt;" in left.labelText  # escaped for pyqtgraph's HTML
    assert left.label.toPlainText().strip() == f"dense: {NAME}"  # and shown as written
    assert panel.heat.plot.getAxis("bottom").label.toPlainText().strip() == f"pruned: pruned{NAME}"
    assert panel.title.textFormat() == Qt.TextFormat.PlainText
    assert panel.title.text().startswith(f"{NAME} (rows) vs pruned{NAME} (columns)")
    assert "&lt;b&gt;" in panel.title.toolTip()  # a tooltip guesses rich text too
    assert panel.layer_combo.findData("fc&2") >= 0


def test_plots_legends_and_titles_show_names_literally(qtbot, point):
    from widgets.pruning.plots import QtAccuracyPlot, QtLayerSparsityPlot
    from widgets.pruning.qt_curves_pane import QtCurvesPlot

    accuracy = QtAccuracyPlot()
    qtbot.addWidget(accuracy)
    accuracy.set_points([point])
    accuracy.set_dense(point.parent, 0.9)
    accuracy.set_current(NAME)
    assert _legend_texts(accuracy.legend) == [f"{METHOD} · oneshot"]
    assert accuracy.ring_label.textItem.toPlainText() == NAME
    assert accuracy.dense_line.label.textItem.toPlainText() == f"dense dense{NAME} · 90.00%"
    assert "&lt;b&gt;x" in accuracy._tip(0, 0, NAME)

    bars = QtLayerSparsityPlot()
    qtbot.addWidget(bars)
    bars.set_models([point], NAME)
    assert _legend_texts(bars.legend) == [f"{METHOD} · oneshot (selected)"]

    curves = QtCurvesPlot()
    qtbot.addWidget(curves)
    curves.set_curves(None, f"Fine-tuning of {NAME}")
    assert curves.title.item.toPlainText() == f"Fine-tuning of {NAME}"


def test_the_views_labels_and_tooltips_are_plain(qtbot, point):
    from widgets.pruning.qt_cost_table import QtCostTable
    from widgets.pruning.qt_forgotten_counts import QtForgottenCounts
    from widgets.pruning.style import heading, style_plot

    title = heading(f"{NAME} against dense")
    assert title.textFormat() == Qt.TextFormat.PlainText and title.text().startswith(NAME)
    counts = QtForgottenCounts()
    qtbot.addWidget(counts)
    counts.set_points([point], NAME)
    tip = counts.item(0, 0).toolTip()
    assert "&lt;b&gt;x&lt;/b&gt;&amp;" in tip and "<b>x" not in tip
    table = QtCostTable()
    qtbot.addWidget(table)
    table.set_point(point)  # table items are plain text already

    import pyqtgraph as pg

    item = style_plot(pg.PlotItem(), f"left {NAME}", "bottom")
    assert item.getAxis("left").label.toPlainText().strip() == f"left {NAME}"
