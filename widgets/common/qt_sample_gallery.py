"""A gallery of sample thumbnails: one uniform grid, thumbnails made on demand.

Shows any list of sample ids of one split (a selection, nearest neighbours, the
top-activating samples of a unit) with a caption under each; clicking sets the hovered
sample, selecting writes ``Selection.sample_ids`` when ``writes_selection`` is on.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractListModel, QSize, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from widgets.common.thumbnails import pixmap, to_rgb8


class _GalleryModel(QAbstractListModel):
    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.ids = np.zeros(0, dtype=np.int64)
        self.captions: list[str] = []
        self.images: np.ndarray | None = None  # the whole split, (N, C, H, W)
        self.value_range = (0.0, 1.0)
        self._pixmaps: dict[int, object] = {}

    def set(self, ids, images, captions, value_range) -> None:
        self.beginResetModel()
        self.ids = np.asarray(ids, dtype=np.int64)
        self.images, self.captions, self.value_range = images, captions, value_range
        self._pixmaps.clear()
        self.endResetModel()

    def rowCount(self, parent=None) -> int:  # noqa: N802 - Qt API
        return 0 if parent is not None and parent.isValid() else len(self.ids)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        row = index.row()
        if not index.isValid() or row >= len(self.ids):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.captions[row] if row < len(self.captions) else str(self.ids[row])
        if role == Qt.ItemDataRole.DecorationRole and self.images is not None:
            sid = int(self.ids[row])
            if sid not in self._pixmaps:
                rgb = to_rgb8(self.images[sid:sid + 1], self.value_range)[0]
                self._pixmaps[sid] = pixmap(rgb, self.size)
            return self._pixmaps[sid]
        if role == Qt.ItemDataRole.ToolTipRole:  # the whole caption: long ones are elided
            caption = self.captions[row] if row < len(self.captions) else ""
            return f"sample {int(self.ids[row])}" + (f"\n{caption}" if caption else "")
        if role == Qt.ItemDataRole.UserRole:
            return int(self.ids[row])
        return None


class QtSampleGallery(QListView):
    """Thumbnails of samples; ``set_samples(ids, images, captions)`` fills it."""

    sample_clicked = Signal(int)

    def __init__(self, session, parent: QWidget | None = None, *, size: int = 64,
                 writes_selection: bool = False):
        super().__init__(parent)
        self.session = session
        self.writes_selection = writes_selection
        self._model = _GalleryModel(size)
        self.setModel(self._model)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(size, size))
        self.setGridSize(QSize(size + 24, size + 30))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.clicked.connect(self._on_self_clicked)
        self.selectionModel().selectionChanged.connect(self._on_self_selection_changed)

    def set_samples(self, ids, images: np.ndarray | None, captions: list[str] | None = None,
                    value_range: tuple[float, float] = (0.0, 1.0)) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        self._model.set(ids, images, captions or [str(i) for i in ids], value_range)

    @property
    def sample_ids(self) -> np.ndarray:
        return self._model.ids

    def _on_self_clicked(self, index) -> None:
        sid = index.data(Qt.ItemDataRole.UserRole)
        if sid is not None:
            self.session.selection.hovered_sample = sid
            self.sample_clicked.emit(sid)

    def _on_self_selection_changed(self, *_):
        if not self.writes_selection:
            return
        rows = sorted(i.row() for i in self.selectionModel().selectedIndexes())
        self.session.selection.sample_ids = tuple(int(self._model.ids[r]) for r in rows)
