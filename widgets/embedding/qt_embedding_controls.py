"""The Embedding view's widgets: the three control rows (source and method, parameters,
what is shown and how), the main and comparison scatter plots and the side panel; and
the fillers of its projection and colour combos."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from widgets.embedding.data import projection_label
from widgets.embedding.qt_params_form import QtParamsForm
from widgets.embedding.qt_scatter import QtScatterPlot
from widgets.embedding.qt_side_panel import QtSidePanel
from widgets.embedding.state import COLOUR_MODES, COLOUR_TITLES
from widgets.qt_text import compact_combo, plain_label

HINT = "Pick an activation run and a layer, then press Project (PCA shows at once; " \
       "UMAP layouts stream in)."


def build_controls(view) -> None:
    """Make the view's widgets as attributes of ``view`` and lay them out in it.

    Only the shortcuts and the mode and export buttons are connected here; the view
    and its helpers connect the rest.
    """
    view.run_combo = QComboBox()
    compact_combo(view.run_combo, 14)
    view.run_combo.setToolTip("Activation run to project")
    view.layer_combo = QComboBox()
    view.layer_combo.setMinimumContentsLength(10)
    view.method_combo = QComboBox()
    for name, title in (("umap", "UMAP"), ("pca", "PCA"), ("tsne", "t-SNE")):
        view.method_combo.addItem(title, name)
    add_plugin_methods(view.method_combo)
    view.project_button = QPushButton("Project")
    view.project_button.setDefault(True)
    view.cancel_button = QPushButton("Cancel")
    view.cancel_button.setEnabled(False)
    view.progress = QProgressBar()
    view.progress.setMaximumWidth(160)
    view.progress.setTextVisible(False)
    view.progress.hide()
    view.status = plain_label("")
    view.params = QtParamsForm()

    view.shown_combo = QComboBox()
    compact_combo(view.shown_combo, 14)
    view.shown_combo.setToolTip("Stored projections of this dataset")
    view.colour_combo = QComboBox()
    compact_combo(view.colour_combo, 10)
    view.compare_combo = QComboBox()
    compact_combo(view.compare_combo, 14)
    view.compare_combo.setToolTip("A second projection of the same samples (another "
                                  "layer or model), aligned to the first by Procrustes")
    view.mode_group = QButtonGroup(view)
    mode_row = QHBoxLayout()
    for mode, text, key in (("pan", "Pan", "P"), ("lasso", "Lasso", "L"),
                            ("box", "Box", "B")):
        button = QToolButton()
        button.setText(text)
        button.setCheckable(True)
        button.setToolTip(f"{text} ({key}); Shift adds to the selection, Ctrl removes")
        button.setChecked(mode == "pan")
        view.mode_group.addButton(button)
        button.mode = mode
        mode_row.addWidget(button)
        QShortcut(QKeySequence(key), view, activated=lambda m=mode: view.set_mode(m))
    QShortcut(QKeySequence(Qt.Key.Key_Escape), view, activated=view._clear_selection)
    view.mode_group.buttonClicked.connect(lambda b: view.set_mode(b.mode))
    view.fit_button = QToolButton()
    view.fit_button.setText("Fit")
    view.fit_button.setToolTip("Show all points")
    view.export_button = QToolButton()
    view.export_button.setText("Export")
    view.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    menu = QMenu(view.export_button)
    menu.addAction("PNG…", lambda: view._export("png"))
    menu.addAction("SVG…", lambda: view._export("svg"))
    view.export_button.setMenu(menu)

    row1 = QHBoxLayout()
    for label, w in (("Run", view.run_combo), ("Layer", view.layer_combo),
                     ("Method", view.method_combo)):
        row1.addWidget(plain_label(label))
        row1.addWidget(w)
    row1.addWidget(view.project_button)
    row1.addWidget(view.cancel_button)
    row1.addWidget(view.progress)
    row1.addWidget(view.status, 1)
    row2 = QHBoxLayout()
    row2.addWidget(plain_label("Parameters"))
    row2.addWidget(view.params, 1)
    row3 = QHBoxLayout()
    row3.addWidget(plain_label("Show"))
    row3.addWidget(view.shown_combo, 2)
    row3.addWidget(plain_label("Colour by"))
    row3.addWidget(view.colour_combo, 1)
    row3.addWidget(plain_label("Compare with"))
    row3.addWidget(view.compare_combo, 2)
    row3.addLayout(mode_row)
    row3.addWidget(view.fit_button)
    row3.addWidget(view.export_button)

    view.title = plain_label(HINT)
    view.title.setStyleSheet("font-weight: 600; padding: 2px;")
    view.scatter = QtScatterPlot()
    view.compare = QtScatterPlot(legend=False)
    view.compare_title = plain_label("")
    view.compare_title.setStyleSheet("font-weight: 600; padding: 2px;")
    a = QWidget()
    la = QVBoxLayout(a)
    la.setContentsMargins(0, 0, 0, 0)
    la.addWidget(view.title)
    la.addWidget(view.scatter, 1)
    view.compare_pane = QWidget()
    lb = QVBoxLayout(view.compare_pane)
    lb.setContentsMargins(0, 0, 0, 0)
    lb.addWidget(view.compare_title)
    lb.addWidget(view.compare, 1)
    view.compare_pane.hide()
    view.plots = QSplitter(Qt.Orientation.Horizontal)
    view.plots.addWidget(a)
    view.plots.addWidget(view.compare_pane)
    view.side = QtSidePanel(view.session)
    view.splitter = QSplitter(Qt.Orientation.Horizontal)
    view.splitter.addWidget(view.plots)
    view.splitter.addWidget(view.side)
    view.splitter.setStretchFactor(0, 4)
    view.splitter.setStretchFactor(1, 1)
    view.splitter.setSizes([900, 320])

    lay = QVBoxLayout(view)
    lay.setContentsMargins(4, 4, 4, 4)
    lay.addLayout(row1)
    lay.addLayout(row2)
    lay.addLayout(row3)
    lay.addWidget(view.splitter, 1)


def add_plugin_methods(combo: QComboBox) -> None:
    """Add the projection methods that plugins contribute to ``combo``."""
    try:
        from plugins.manager import get_manager

        for c in get_manager().contributions("projection_methods"):
            if c.name not in ("umap", "pca", "tsne"):
                combo.addItem(c.title or c.id, c.id)
    except Exception:  # noqa: BLE001 - the built-ins still work
        pass


def fill_projection_combos(shown: QComboBox, compare: QComboBox, runs: list) -> None:
    """List the projection ``runs`` (newest first) in both combos, keeping each choice."""
    for combo, none_text in ((shown, None), (compare, "— no comparison —")):
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        if none_text:
            combo.addItem(none_text, None)
        for run in reversed(runs):
            combo.addItem(projection_label(run), run.id)
        select_combo(combo, current)
        combo.blockSignals(False)


def select_combo(combo: QComboBox, data) -> None:
    """Select the item holding ``data`` without emitting (else the "none" item)."""
    index = combo.findData(data) if data is not None else -1
    combo.blockSignals(True)
    combo.setCurrentIndex(index if index >= 0 else (0 if combo.count() and
                                                      combo.itemData(0) is None else -1))
    combo.blockSignals(False)


def fill_colour_combo(combo: QComboBox, state, context) -> None:
    """The colour modes plus ``context``'s per-sample sources; falls back to label."""
    combo.blockSignals(True)
    combo.clear()
    for mode in COLOUR_MODES:
        combo.addItem(COLOUR_TITLES[mode], mode)
    for source in (context.sources if context is not None else []):
        combo.addItem(source.title, source.key)
    index = combo.findData(state.colour)
    if index < 0:
        state.colour = "label"
        index = 0
    combo.setCurrentIndex(index)
    combo.blockSignals(False)
