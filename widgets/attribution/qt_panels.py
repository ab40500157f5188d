"""The panels of the Attribution view: overlay gallery, colour bar, comparison grid,
sample detail and sanity plot. Every text drawn here is plain text.

Vector (tabular) samples have no picture: their thumbnails are bar charts, and the
sample detail charts the strongest features by name (:mod:`qt_feature_bars`).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from widgets.attribution import colormaps as cm
from widgets.attribution.feature_bars import feature_bars
from widgets.attribution.qt_feature_bars import QtFeatureBars
from widgets.common.qt_sample_gallery import QtSampleGallery, _GalleryModel
from widgets.common.thumbnails import qimage
from widgets.qt_text import mono_font, plain_label


class DisplayOptions:
    """How maps are drawn: colour mode, opacity, scaling (shared by every panel)."""

    def __init__(self):
        self.mode = "auto"  # auto | signed | absolute
        self.opacity = 0.6
        self.scale = "sample"  # sample | run

    def signed(self, data) -> bool:
        return data.signed if self.mode == "auto" else self.mode == "signed"


def is_vector(image: np.ndarray, attr: np.ndarray | None = None) -> bool:
    """Tabular samples (and their attributions) are 1-D; images are ``(C, H, W)``."""
    return image.ndim == 1 or (attr is not None and attr.ndim == 1)


def map_vmax(data, row: int, options: DisplayOptions) -> float:
    """The value that gets the strongest colour: per sample, or one for the whole run."""
    signed = options.signed(data)
    if options.scale == "run":
        return run_vmax(data, signed)
    return cm.robust_max(cm.reduce_channels(data.attributions[row], signed), signed)


def input_image(image: np.ndarray, value_range, size: int) -> QImage:
    """The input alone: the image in grey, or a grey bar chart of a feature vector."""
    if is_vector(image):
        return qimage(cm.bars(image, signed=True, vmax=cm.robust_max(image, True, q=100),
                              size=size, rgb=cm.INPUT_BAR_RGB))
    scale = max(1, size // max(image.shape[-1], 1))
    return qimage(cm.upscale((cm.gray_rgb(image, value_range) * 255).astype(np.uint8), scale))


def map_image(data, row: int, image: np.ndarray, options: DisplayOptions, value_range,
              size: int) -> QImage:
    """One overlay (or a bar chart for vectors) as a QImage of about ``size`` pixels."""
    signed = options.signed(data)
    attr = data.attributions[row]
    vmax = map_vmax(data, row, options)
    if is_vector(image, attr):
        return qimage(cm.bars(attr, signed=signed, vmax=vmax, size=size))
    h = image.shape[-2]
    scale = max(1, size // max(h, 1))
    return qimage(cm.overlay(image, attr, signed=signed, vmax=vmax, opacity=options.opacity,
                             value_range=value_range, scale=scale))


def run_vmax(data, signed: bool) -> float:
    key = ("_vmax", signed)
    cache = data.arrays.setdefault("_cache", {})
    if key not in cache:
        maps = [cm.reduce_channels(a, signed) for a in data.attributions[:256]]
        cache[key] = cm.robust_max(np.stack(maps), signed)
    return cache[key]


class _OverlayModel(_GalleryModel):
    def __init__(self, size: int):
        super().__init__(size)
        self.data_ = None
        self.options = DisplayOptions()
        self.preview: dict[int, np.ndarray] = {}
        self.preview_signed = True

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DecorationRole or self.images is None:
            return super().data(index, role)
        row = index.row()
        if not index.isValid() or row >= len(self.ids):
            return None
        sid = int(self.ids[row])
        if sid in self._pixmaps:
            return self._pixmaps[sid]
        image = self.images[sid]
        d = self.data_
        r = d.row_of(sid) if d is not None else None
        if r is not None:
            img = map_image(d, r, image, self.options, self.value_range, self.size)
        elif sid in self.preview:
            class _P:  # a preview map shown like a run with one row
                signed = self.preview_signed
                attributions = self.preview[sid][None]
                arrays: dict = {}
            img = map_image(_P, 0, image, self.options, self.value_range, self.size)
        else:
            img = input_image(image, self.value_range, self.size)
        pix = QPixmap.fromImage(img.scaled(self.size, self.size,
                                           Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.FastTransformation))
        self._pixmaps[sid] = pix
        return pix

    def redraw(self) -> None:
        self._pixmaps.clear()
        if len(self.ids):
            self.dataChanged.emit(self.index(0), self.index(len(self.ids) - 1))


class QtAttributionGallery(QtSampleGallery):
    """Samples with their heat map overlaid; the shared gallery with another model."""

    def __init__(self, session, parent=None, size: int = 96):
        super().__init__(session, parent, size=size, writes_selection=False)
        self._model = _OverlayModel(size)
        self.setModel(self._model)
        self.selectionModel().selectionChanged.connect(self._on_self_selection_changed)
        self.setGridSize(QSize(size + 16, size + 34))
        self.setSpacing(4)

    @property
    def overlay_model(self) -> _OverlayModel:
        return self._model


class QtColorBar(QWidget):
    """A horizontal colour bar with its range, for the current colour mode."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.signed = True
        self.label = "attribution (per-sample scale)"
        self.setMinimumHeight(38)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set(self, signed: bool, label: str) -> None:
        self.signed, self.label = signed, label
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(360, 38)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        lut = cm.DIVERGING if self.signed else cm.SEQUENTIAL
        w = min(self.width() - 180, 320)
        bar = np.ascontiguousarray(np.repeat(lut[None], 12, axis=0))
        p.drawImage(QRectF(8, 4, w, 12), qimage(bar))
        p.setPen(QPen(QColor(90, 90, 90)))
        p.drawRect(QRectF(8, 4, w, 12))
        p.setPen(self.palette().windowText().color())
        f = p.font()
        f.setPointSizeF(max(7.0, f.pointSizeF() - 1))
        p.setFont(f)
        lo, mid, hi = ("−max", "0", "+max") if self.signed else ("0", "", "max")
        p.drawText(QRectF(4, 18, 60, 16), Qt.AlignmentFlag.AlignLeft, lo)
        if mid:
            p.drawText(QRectF(8 + w / 2 - 30, 18, 60, 16), Qt.AlignmentFlag.AlignHCenter, mid)
        p.drawText(QRectF(8 + w - 60, 18, 64, 16), Qt.AlignmentFlag.AlignRight, hi)
        sw = QRectF(w + 20, 4, 12, 12)
        p.fillRect(sw, QColor(*cm.NONFINITE_RGB))
        p.drawText(QRectF(w + 36, 2, 140, 16), Qt.AlignmentFlag.AlignLeft, "NaN / inf")
        # the rest of the width: "absolute attribution, per-run scale" needs over 200 px
        p.drawText(QRectF(w + 20, 18, max(200, self.width() - w - 24), 16),
                   Qt.AlignmentFlag.AlignLeft, self.label)
        p.end()


class QtComparisonGrid(QWidget):
    """Samples (rows) × runs (columns: methods, or one method on several models)."""

    CELL = 112
    HEAD = 62
    LEFT = 74

    def __init__(self, parent=None):
        super().__init__(parent)
        self.columns: list = []  # AttributionData
        self.sample_ids: list[int] = []
        self.images = None
        self.value_range = (0.0, 1.0)
        self.options = DisplayOptions()
        self.captions: dict[int, str] = {}

    def set(self, columns, sample_ids, images, value_range, captions=None) -> None:
        self.columns, self.sample_ids = list(columns), [int(s) for s in sample_ids]
        self.images, self.value_range = images, value_range
        self.captions = captions or {}
        self.setMinimumSize(self.sizeHint())
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(self.LEFT + (len(self.columns) + 1) * (self.CELL + 6) + 10,
                     self.HEAD + len(self.sample_ids) * (self.CELL + 6) + 10)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().base())
        if not self.columns or self.images is None:
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                       "Tick runs in the list to compare them here.")
            p.end()
            return
        pen = self.palette().text().color()
        bold = QFont(p.font())
        bold.setBold(True)
        heads = ["input"] + [f"{c.method.replace('_', ' ')}\n{c.model}"
                             + (f" · {c.params['layer']}" if c.params.get("layer") else "")
                             for c in self.columns]
        for j, text in enumerate(heads):
            x = self.LEFT + j * (self.CELL + 6)
            p.setPen(pen)
            p.setFont(bold)
            p.drawText(QRectF(x - 3, 0, self.CELL + 6, self.HEAD - 2),
                       Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom
                       | Qt.TextFlag.TextWordWrap, text)
        p.setFont(QFont(self.font()))
        for i, sid in enumerate(self.sample_ids):
            y = self.HEAD + i * (self.CELL + 6)
            p.setPen(pen)
            p.drawText(QRectF(2, y, self.LEFT - 6, self.CELL),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
                       | Qt.TextFlag.TextWordWrap, self.captions.get(sid, f"#{sid}"))
            image = self.images[sid]
            cells = [input_image(image, self.value_range, self.CELL)]
            for col in self.columns:
                r = col.row_of(sid)
                cells.append(None if r is None else
                             map_image(col, r, image, self.options, self.value_range,
                                       self.CELL))
            for j, img in enumerate(cells):
                rect = QRectF(self.LEFT + j * (self.CELL + 6), y, self.CELL, self.CELL)
                if img is None:
                    p.fillRect(rect, QColor(235, 235, 235))
                    p.setPen(QColor(120, 120, 120))
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "not in run")
                else:
                    p.drawImage(rect, img)
        p.end()


def _plot(title: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#222", size="10pt")
    w.showGrid(x=True, y=True, alpha=0.25)
    for axis in ("left", "bottom"):
        w.getAxis(axis).setTextPen("#333")
        w.getAxis(axis).setPen("#777")
    w.setMinimumHeight(220)
    return w


class QtSampleDetail(QWidget):
    """One sample: input and overlay (for vectors: a bar chart of the strongest features),
    deletion and insertion curves, metrics, top classes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.input_label = QLabel()
        self.overlay_label = QLabel()
        for lab in (self.input_label, self.overlay_label):
            lab.setFixedSize(224, 224)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lab.setStyleSheet("background: #f4f4f4; border: 1px solid #ccc;")
        self.title = plain_label("Click a sample in the gallery.", wrap=True)
        f = self.title.font()
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() + 1)
        self.title.setFont(f)
        self.text = plain_label("", wrap=False, selectable=True)
        self.text.setFont(mono_font())
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.curves = _plot("Deletion and insertion (target-class probability)")
        self.curves.setLabel("bottom", "fraction of features removed / revealed")
        self.curves.setLabel("left", "probability")
        self.curves.addLegend(offset=(-10, 10))
        self.curves.setYRange(0, 1.02)
        self.curves.setXRange(0, 1)
        self.curves.disableAutoRange()
        # images: input and overlay side by side; vectors: the feature chart instead
        self.image_panes = QWidget()
        panes = QHBoxLayout(self.image_panes)
        panes.setContentsMargins(0, 0, 0, 0)
        for caption, lab in (("input", self.input_label), ("attribution", self.overlay_label)):
            box = QVBoxLayout()
            box.addWidget(plain_label(caption))
            box.addWidget(lab)
            panes.addLayout(box)
        self.feature_bars = QtFeatureBars()
        self.feature_bars.hide()
        self._side = QVBoxLayout()  # the metrics; for vectors the curves go under them
        self._side.addWidget(self.text, 1)
        top = QHBoxLayout()
        top.addWidget(self.image_panes)
        top.addWidget(self.feature_bars, 3)
        top.addLayout(self._side, 2)  # images: the only part that stretches
        self._lay = QVBoxLayout(self)
        self._lay.addWidget(self.title)
        self._lay.addLayout(top)
        self._lay.addWidget(self.curves, 1)
        self._vector_layout = False

    def _use_vector_layout(self, vector: bool) -> None:
        """Vectors: the feature chart fills the left, the curves sit beside it under the
        metrics, so twenty labelled bars fit without making the page taller."""
        self.image_panes.setVisible(not vector)
        self.feature_bars.setVisible(vector)
        if vector == self._vector_layout:
            return
        self._vector_layout = vector
        if vector:
            self._side.addWidget(self.curves, 2)  # moves it out of the page's column
            self._lay.setStretch(1, 1)
        else:
            self._lay.addWidget(self.curves, 1)
            self._lay.setStretch(1, 0)

    def show_sample(self, data, sid: int, image: np.ndarray, options: DisplayOptions,
                    value_range, class_names, feature_names=None) -> None:
        """Show sample ``sid`` of run ``data``; ``image`` is its input, ``feature_names``
        the dataset's (vectors only; ``None`` labels features ``f0, f1, ...``)."""
        row = data.row_of(sid) if data is not None else None
        self.curves.clear()
        if row is None:
            self.title.setText(f"Sample {sid} is not in this run.")
            self.input_label.clear()
            self.overlay_label.clear()
            self.feature_bars.clear_bars()
            self.text.setText("")
            return
        a = data.arrays

        def name(k):
            k = int(k)
            return class_names[k] if 0 <= k < len(class_names) else str(k)

        self.title.setText(f"Sample {sid} — {data.title} — target class {name(a['target'][row])}")
        vector = is_vector(image, data.attributions[row])
        self._use_vector_layout(vector)
        if vector:
            signed = options.signed(data)
            self.feature_bars.show_bars(feature_bars(
                data.attributions[row], image, feature_names, signed=signed,
                vmax=map_vmax(data, row, options)), signed)
        else:
            self.input_label.setPixmap(QPixmap.fromImage(input_image(image, value_range, 224)))
            self.overlay_label.setPixmap(QPixmap.fromImage(
                map_image(data, row, image, options, value_range, 224)))
        lines = [f"label       {name(a['label'][row])}",
                 f"prediction  {name(a['prediction'][row])}  "
                 f"({float(a['confidence'][row]):.3f})"]
        for key, label in (("deletion_auc", "deletion AUC"), ("insertion_auc", "insertion AUC"),
                           ("infidelity", "infidelity"), ("sensitivity", "sensitivity"),
                           ("delta", "delta"), ("relative_delta", "rel. delta")):
            if key in a:
                v = float(a[key][row])
                # sensitivity re-explains perturbed inputs, so runs measure it on the
                # first samples only (sensitivity_samples): say so instead of a bare dash
                missing = " — (not measured for this sample)" if key == "sensitivity" else " —"
                lines.append(f"{label:<12}{v: .4g}" if np.isfinite(v) else f"{label:<12}{missing}")
        if "converged" in a:
            ok = bool(a["converged"][row])
            lines.append(f"converged   {'yes' if ok else 'NO'} after "
                         f"{int(a['n_steps_used'][row])} steps")
        if int(a.get("n_nonfinite", np.zeros(row + 1))[row]):
            lines.append(f"non-finite  {int(a['n_nonfinite'][row])} values")
        if "top_classes" in a:
            lines.append("")
            lines.append("top classes")
            for k, prob in zip(a["top_classes"][row], a["top_probs"][row], strict=False):
                bar = "█" * int(round(float(prob) * 20))
                lines.append(f"  {name(k):>6} {float(prob):.3f} {bar}")
        self.text.setText("\n".join(lines))
        if "deletion_curve" in a:
            d, i = a["deletion_curve"][row], a["insertion_curve"][row]
            x = np.linspace(0, 1, len(d))
            self.curves.plot(x, d, pen=pg.mkPen("#c0392b", width=2),
                             name=f"deletion (AUC {float(a['deletion_auc'][row]):.3f})")
            self.curves.plot(x, i, pen=pg.mkPen("#2471a3", width=2),
                             name=f"insertion (AUC {float(a['insertion_auc'][row]):.3f})")


MAX_NAMED_TICKS = 9  # layer names that fit under the sanity plot side by side


class QtSanityPlot(QWidget):
    """Rank correlation with the original maps as layers are randomised top down."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.verdict = plain_label("No sanity check for this method and model yet: press "
                                   "“Sanity check”.", wrap=True)
        self.plot = _plot("Model randomisation (Adebayo et al. 2018): Spearman ρ of |map|")
        self.plot.setLabel("left", "rank correlation with the original maps")
        self.plot.setLabel("bottom", "randomised down to layer (cascading, top → bottom)")
        self.plot.setYRange(-0.2, 1.02)
        self.plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(255, 255, 255, 220))
        lay = QVBoxLayout(self)
        lay.addWidget(self.verdict)
        lay.addWidget(self.plot, 1)

    def set_sanity(self, sanity) -> None:
        self.plot.clear()
        if sanity is None:
            self.verdict.setText("No sanity check for this method and model yet: press "
                                 "“Sanity check”.")
            self.verdict.setStyleSheet("")
            return
        layers = ["original", *sanity.layers]
        x = np.arange(len(layers))
        rho_abs = np.vstack([np.ones((1, sanity.spearman_abs.shape[1])), sanity.spearman_abs])
        rho = np.vstack([np.ones((1, sanity.spearman.shape[1])), sanity.spearman])
        for k in range(rho_abs.shape[1]):
            self.plot.plot(x, rho_abs[:, k], pen=pg.mkPen(150, 150, 200, 90))
        self.plot.plot(x, rho_abs.mean(1), pen=pg.mkPen("#1f4e99", width=3),
                       symbol="o", symbolBrush="#1f4e99", name="mean ρ of |map|")
        self.plot.plot(x, rho.mean(1), pen=pg.mkPen("#888", width=2, style=Qt.PenStyle.DashLine),
                       name="mean ρ, signed")
        line = pg.InfiniteLine(pos=0.5, angle=0, pen=pg.mkPen("#c0392b", style=Qt.PenStyle.DotLine))
        self.plot.addItem(line)
        # every layer gets a tick; names only on as many as fit (a ResNet has 17 or more)
        step = max(1, math.ceil(len(layers) / MAX_NAMED_TICKS))
        named = [(i, layers[i]) for i in range(0, len(layers), step)]
        self.plot.getAxis("bottom").setTicks([named, [(i, "") for i in range(len(layers))]])
        self.plot.setXRange(-0.2, len(layers) - 0.8)
        # where the verdict is read: after the top half of the layers is random
        self.plot.addItem(pg.InfiniteLine(
            pos=sanity.verdict_layers, angle=90, label="verdict read here",
            labelOpts={"position": 0.95, "color": "#333"},
            pen=pg.mkPen("#555", style=Qt.PenStyle.DotLine)))
        if sanity.control:  # a control shows the baseline the real methods are read against
            self.verdict.setText("ⓘ " + sanity.verdict)
            self.verdict.setStyleSheet("color: #44505c;")
            return
        self.verdict.setText(("✓ " if sanity.passed else "⚠ ") + sanity.verdict)
        self.verdict.setStyleSheet("color: #1e7b34;" if sanity.passed
                                   else "color: #b03a2e; font-weight: bold;")


__all__ = ["QtAttributionGallery", "QtColorBar", "QtComparisonGrid", "QtSampleDetail",
           "QtSanityPlot", "DisplayOptions"]
