"""Sample images as 8-bit RGB arrays and QImages, for galleries and tooltips."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def to_rgb8(images: np.ndarray, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """``(N, C, H, W)`` floats (C = 1 or 3) to ``(N, H, W, 3)`` uint8, clipped to the range.

    Non-finite values become 0 (black) rather than breaking the conversion.
    """
    lo, hi = value_range
    scale = 255.0 / (hi - lo) if hi > lo else 255.0
    arr = np.nan_to_num(np.asarray(images, dtype=np.float32), nan=lo, posinf=hi, neginf=lo)
    arr = np.clip((arr - lo) * scale, 0, 255).astype(np.uint8)
    if arr.shape[1] == 1:
        arr = np.repeat(arr, 3, axis=1)
    elif arr.shape[1] != 3:
        arr = np.repeat(arr[:, :1], 3, axis=1)  # show the first channel of odd inputs
    return np.ascontiguousarray(arr.transpose(0, 2, 3, 1))


def qimage(rgb8: np.ndarray) -> QImage:
    """A deep copy of one ``(H, W, 3)`` uint8 image as a QImage."""
    rgb8 = np.ascontiguousarray(rgb8)
    h, w, _ = rgb8.shape
    return QImage(rgb8.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def pixmap(rgb8: np.ndarray, size: int) -> QPixmap:
    """A ``size``-pixel square pixmap; tiny images are scaled up without smoothing."""
    image = qimage(rgb8)
    mode = (Qt.TransformationMode.FastTransformation if image.width() < size
            else Qt.TransformationMode.SmoothTransformation)
    return QPixmap.fromImage(image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, mode))
