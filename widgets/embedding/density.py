"""Density image of many coloured points: per-pixel counts of each colour, blended.

The points come sorted by colour category (``bounds[k]`` = the slice of category
``k``), so each category is one ``bincount`` into a pixel-sized array that stays in
cache; a small matrix product blends the colours by count, and opacity grows with the
log of the count. The cost is linear in points plus pixels x colours, whatever the zoom.
"""

from __future__ import annotations

import numpy as np


def density_rgba(x: np.ndarray, y: np.ndarray, bounds: list[tuple[int, int]],
                 colors: np.ndarray, rect: tuple[float, float, float, float],
                 shape: tuple[int, int], visible_cats: np.ndarray | None = None
                 ) -> np.ndarray:
    """An ``(H, W, 4)`` uint8 image (row 0 at ``y0``) of the points in ``rect``.

    ``x``/``y`` are float32, sorted so that ``x[a:b]`` for ``(a, b) = bounds[k]`` are the
    points of category ``k``; ``rect`` is ``(x0, y0, width, height)``; ``colors`` is
    ``(K, 4)`` uint8 RGBA; categories with ``visible_cats[k] == False`` are left out.
    """
    h, w = shape
    x0, y0, rw, rh = rect
    n_pix = h * w
    out = np.zeros((n_pix, 4), np.uint8)
    if rw <= 0 or rh <= 0 or not len(x):
        return out.reshape(h, w, 4)
    sx, sy = np.float32(w / rw), np.float32(h / rh)
    fx0, fy0 = np.float32(x0), np.float32(y0)
    cats = [k for k, (a, b) in enumerate(bounds)
            if b > a and (visible_cats is None or visible_cats[k])]
    counts = np.zeros((len(cats), n_pix), np.float32)
    for row, k in enumerate(cats):
        a, b = bounds[k]
        fx = (x[a:b] - fx0) * sx
        fy = (y[a:b] - fy0) * sy
        keep = (fx >= 0) & (fx < w) & (fy >= 0) & (fy < h)
        pix = fy[keep].astype(np.int32) * w + fx[keep].astype(np.int32)
        counts[row] = np.bincount(pix, minlength=n_pix)
    if not cats:
        return out.reshape(h, w, 4)
    total = counts.sum(axis=0)
    hit = np.flatnonzero(total)
    if len(hit):
        mix = counts[:, hit].T @ colors[cats, :3].astype(np.float32)
        mix /= total[hit, None]
        out[hit, :3] = np.clip(mix, 0, 255).astype(np.uint8)
        level = np.log1p(total[hit]) / np.log1p(max(float(total.max()), 2.0))
        out[hit, 3] = (90 + 165 * level).astype(np.uint8)
    return np.ascontiguousarray(out.reshape(h, w, 4))
