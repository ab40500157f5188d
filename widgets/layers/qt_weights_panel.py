"""Weights of the selected layer (histogram, per-filter norms) and first-conv filters."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGridLayout, QVBoxLayout, QWidget

from visualizer.analysis.layers.weights import WeightInfo, filter_images
from widgets.layers import plots
from widgets.qt_text import plain_label


class QtWeightsPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.info = plain_label(wrap=True)
        self.hist = plots.make_plot("count", "weight value")
        self.norms = plots.make_plot("L2 norm", "output filter / neuron")
        self.filters_title = plain_label(wrap=True)
        self.filters_canvas, self.filters_vb, self.filters_img = plots.image_box()
        grid = QGridLayout()
        grid.addWidget(self.hist, 0, 0)
        grid.addWidget(self.norms, 0, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.info)
        lay.addLayout(grid, 2)
        lay.addWidget(self.filters_title)
        lay.addWidget(self.filters_canvas, 2)
        self.weights: WeightInfo | None = None
        self.first_conv: WeightInfo | None = None
        self.parent: str | None = None
        self.parent_weights: WeightInfo | None = None

    def set_weights(self, weights: WeightInfo | None, first_conv: WeightInfo | None,
                    layer: str = "", *, parent: str | None = None,
                    parent_weights: WeightInfo | None = None) -> None:
        """Show ``weights``; for a pruned model, ``parent_weights`` are the same layer's
        in ``parent`` (None when the parent is gone or lacks the layer)."""
        self.weights, self.first_conv = weights, first_conv
        self.parent, self.parent_weights = parent, parent_weights
        if weights is None:
            self.info.setText(f"{layer} has no weights of its own." if layer else "")
            self.hist.hide()
            self.norms.hide()
        else:
            self.hist.show()
            self.norms.show()
            self.info.setText(weights_text(weights, parent, parent_weights))
            plots.histogram(self.hist, counts=weights.hist_counts, edges=weights.hist_edges)
            self.hist.getPlotItem().setLabel(
                "bottom", f"non-zero weights ({weights.zero_fraction:.1%} zeros not shown)"
                if weights.hist_nonzero else "weight value")
            if weights.filter_norms.size:
                plots.bars(self.norms, weights.filter_norms)
            else:
                self.norms.getPlotItem().clear()
        if first_conv is None or first_conv.filters is None:
            self.filters_title.setText("The model has no convolution, so no filters to draw.")
            self.filters_img.clear()
            return
        f = first_conv.filters
        img, rows, cols, cell = plots.mosaic_rgb(filter_images(f), None, pad=1)
        self.filters_img.setImage(img, levels=(0, 255), autoLevels=False)
        self.filters_img.setRect(QRectF(0, 0, img.shape[1], img.shape[0]))
        self.filters_vb.autoRange(padding=0.02)
        colour = "RGB" if f.shape[1] == 3 else "blue negative, white zero, red positive" \
            + (" (mean over input channels)" if f.shape[1] > 1 else "")
        self.filters_title.setText(
            f"Filters of the first convolution, {first_conv.module}: {f.shape[0]} of "
            f"{f.shape[2]}×{f.shape[3]}, {colour}; one scale (±{np.abs(f).max():.3g}).")


def weights_text(weights: WeightInfo, parent: str | None = None,
                 parent_weights: WeightInfo | None = None) -> str:
    """The panel's summary of a layer's weights; a pruned model's layer is set beside
    the same layer of its parent (zero share, norm, and shape when it changed)."""
    shape = "×".join(map(str, weights.shape)) if weights.shape else "–"
    text = (f"{weights.module} ({weights.type_name}): weight {shape}, "
            f"{weights.n_params:,} parameters, L2 norm {weights.norm:.4g}, "
            f"{weights.zero_fraction:.1%} exactly zero.")
    if parent is None:
        return text
    if parent_weights is None:
        return text + f"\nParent {parent}: not available (removed, or no such layer)."
    p_shape = "×".join(map(str, parent_weights.shape)) if parent_weights.shape else "–"
    text += (f"\nParent {parent}: {parent_weights.zero_fraction:.1%} exactly zero, "
             f"L2 norm {parent_weights.norm:.4g}")
    if p_shape != shape:
        text += f", weight {p_shape}"
    here, there = _nonzero(weights), _nonzero(parent_weights)
    if here is not None and there:
        text += f"; non-zero weights: {here:,} here, {there:,} there ({here / there:.1%})"
    return text + "."


def _nonzero(w: WeightInfo) -> int | None:
    if not w.shape:
        return None
    return int(round(float(np.prod(w.shape)) * (1.0 - w.zero_fraction)))
