"""Procrustes alignment of one 2-D layout onto another (rotation, optional reflection,
uniform scale, translation), fitted on the samples the two layouts share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Alignment:
    rotation: np.ndarray  # (2, 2), orthogonal
    scale: float
    translation: np.ndarray  # (2,)
    disparity: float  # residual sum of squares / spread of the reference, 0 = exact
    n_common: int

    @property
    def reflected(self) -> bool:
        return bool(np.linalg.det(self.rotation) < 0)

    def apply(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64)
        return (self.scale * pts @ self.rotation + self.translation).astype(np.float32)


def procrustes(reference: np.ndarray, moving: np.ndarray, *, allow_reflection: bool = True
               ) -> Alignment:
    """The similarity transform that maps ``moving`` onto ``reference`` (least squares).

    Rows are paired; rows with a non-finite coordinate in either array are ignored.
    UMAP and t-SNE layouts have no preferred handedness, so reflection is allowed by
    default.
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(moving, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired (N, d) arrays expected, got {a.shape} and {b.shape}")
    ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    a, b = a[ok], b[ok]
    d = a.shape[1]
    if len(a) < 2:
        return Alignment(np.eye(d), 1.0, np.zeros(d), float("nan"), int(len(a)))
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - mu_a, b - mu_b
    u, s, vt = np.linalg.svd(b0.T @ a0)
    if not allow_reflection and np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
        s[-1] *= -1
    rotation = u @ vt
    spread_b = float((b0**2).sum())
    scale = float(s.sum() / spread_b) if spread_b > 0 else 1.0
    translation = mu_a - scale * mu_b @ rotation
    residual = a - (scale * b @ rotation + translation)
    spread_a = float((a0**2).sum())
    disparity = float((residual**2).sum() / spread_a) if spread_a > 0 else 0.0
    return Alignment(rotation, scale, translation, disparity, int(len(a)))


def align_by_ids(ids_ref: np.ndarray, coords_ref: np.ndarray, ids_mov: np.ndarray,
                 coords_mov: np.ndarray, *, allow_reflection: bool = True) -> Alignment:
    """Fit on the sample ids both layouts contain; apply the result to all of ``coords_mov``."""
    common, i_ref, i_mov = np.intersect1d(ids_ref, ids_mov, assume_unique=True,
                                          return_indices=True)
    return procrustes(coords_ref[i_ref], coords_mov[i_mov], allow_reflection=allow_reflection)
