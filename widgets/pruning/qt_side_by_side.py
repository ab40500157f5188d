"""Attribution maps of the same samples on two models, side by side: a row per sample
with its input, the dense model's map and the pruned model's map. Both maps of a row
share one diverging colour scale, so the two models are compared with each other rather
than each with itself."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFont, QPainter
from PySide6.QtWidgets import QWidget

from visualizer.analysis.pruning import compare as cj
from widgets.attribution import colormaps as cm
from widgets.common.thumbnails import qimage


def verdict(name: str, predicted: int, label: int) -> str:
    """``dense: 3 ✓``: a model's prediction and whether it is right."""
    return f"{name}: {predicted} {'✓' if predicted == label else '✗'}"


class QtSideBySide(QWidget):
    """Rows of samples: input | dense map | pruned map, one diverging colour scale per
    row shared by both maps (so the two models are compared, not each to itself)."""

    CELL, MIN_CELL, LEFT, HEAD = 96, 40, 128, 36  # cells shrink to fit a narrow panel

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: cj.SideBySide | None = None
        self.models: tuple[str, str] = ("", "")
        self.setMinimumWidth(self.LEFT + 3 * (self.MIN_CELL + 6) + 4)
        self.setToolTip("Both maps of a row share one diverging colour scale. |pruned| ×k: "
                        "the pruned map's strength (99.5th percentile of |value|) over the "
                        "dense map's.")

    def set(self, data: cj.SideBySide | None, dense: str = "", pruned: str = "") -> None:
        self.data, self.models = data, (dense, pruned)
        self._fit_height()
        self.update()

    @property
    def cell(self) -> int:
        return int(np.clip((self.width() - self.LEFT - 4) // 3 - 6, self.MIN_CELL, self.CELL))

    @property
    def row_height(self) -> int:
        """A cell, or the four caption lines when cells are smaller than those."""
        return max(self.cell, 4 * self.fontMetrics().lineSpacing() + 2) + 6

    def _fit_height(self) -> None:
        n = len(self.data.sample_ids) if self.data is not None else 0
        self.setMinimumHeight(self.HEAD + n * self.row_height + 4)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_height()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        n = len(self.data.sample_ids) if self.data is not None else 0
        return QSize(self.LEFT + 3 * (self.CELL + 6) + 4, self.HEAD + n * (self.CELL + 6) + 4)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().base())
        d, cell = self.data, self.cell
        p.setPen(self.palette().text().color())
        if d is None:
            p.drawText(self.rect().adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter
                       | Qt.TextFlag.TextWordWrap, "Press “Run on both”: the selected samples "
                       "(or the first ones) on the dense and the pruned model.")
            p.end()
            return
        bold = QFont(p.font())
        bold.setBold(True)
        p.setFont(bold)
        fm = p.fontMetrics()
        for j, (head, model) in enumerate((("input", ""), ("dense", self.models[0]),
                                           ("pruned", self.models[1]))):
            text = f"{head}\n{fm.elidedText(model, Qt.TextElideMode.ElideMiddle, cell + 4)}"
            p.drawText(QRectF(self.LEFT + j * (cell + 6) - 3, 0, cell + 6, self.HEAD - 2),
                       Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
                       text.rstrip())
        p.setFont(QFont(self.font()))
        dense, pruned = self.models
        for i, sid in enumerate(d.sample_ids):
            y = self.HEAD + i * self.row_height
            label = int(d.label[i])
            caption = (f"#{int(sid)} · label {label}\n"
                       f"{verdict('dense', int(d.prediction[dense][i]), label)}\n"
                       f"{verdict('pruned', int(d.prediction[pruned][i]), label)}\n"
                       f"|pruned| ×{self.strength(i):.2g}")
            p.drawText(QRectF(2, y, self.LEFT - 8, self.row_height - 6),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, caption)
            for j, img in enumerate(self.row_images(i)):  # scaled without smoothing
                p.drawImage(QRectF(self.LEFT + j * (cell + 6), y, cell, cell), img)
        p.end()

    def strength(self, i: int) -> float:
        """How strong the pruned map is against the dense one (robust maxima): a pale
        pruned map on the shared scale is a weak one, not a missing one."""
        d = self.data
        dense, pruned = (cm.robust_max(cm.reduce_channels(d.maps[m][i], True), True)
                         for m in self.models)
        return pruned / dense if dense > 0 else float("nan")

    def row_images(self, i: int) -> list:
        d = self.data
        image = d.images[i]
        maps = [cm.reduce_channels(d.maps[m][i], True) for m in self.models]
        vmax = cm.robust_max(np.stack(maps), True)
        scale = max(1, self.CELL // max(image.shape[-1], 1))
        out = [qimage(cm.upscale((cm.gray_rgb(image, d.value_range) * 255).astype(np.uint8),
                                 scale))]
        for m in maps:
            out.append(qimage(cm.upscale(cm.colorize(m, True, vmax)[0], scale)))
        return out
