"""Point lookups for the scatter view, in numpy only: polygons, boxes, nearest point.

``PointIndex`` keeps the points sorted by x, so a query first takes the slab of points
whose x is in range (two binary searches) and tests only those.
"""

from __future__ import annotations

import numpy as np


def points_in_polygon(x: np.ndarray, y: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Boolean mask of the points inside ``polygon`` ((M, 2) vertices), even-odd rule."""
    poly = np.asarray(polygon, dtype=np.float64)
    inside = np.zeros(len(x), dtype=bool)
    if len(poly) < 3 or not len(x):
        return inside
    px, py = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xj, yj = poly[-1]
    for xi, yi in poly:
        crosses = (yi > py) != (yj > py)
        if crosses.any():
            idx = np.flatnonzero(crosses)
            x_at = (xj - xi) * (py[idx] - yi) / (yj - yi) + xi
            inside[idx[px[idx] < x_at]] ^= True
        xj, yj = xi, yi
    return inside


class PointIndex:
    """Rows of ``(x, y)`` sorted by x; queries return row numbers of the input."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.order = np.argsort(x, kind="stable")
        self.xs = np.ascontiguousarray(x[self.order])
        self.ys = np.ascontiguousarray(y[self.order])

    def _slab(self, x0: float, x1: float) -> slice:
        return slice(int(np.searchsorted(self.xs, x0, "left")),
                     int(np.searchsorted(self.xs, x1, "right")))

    def in_rect(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        s = self._slab(min(x0, x1), max(x0, x1))
        ys = self.ys[s]
        hit = (ys >= min(y0, y1)) & (ys <= max(y0, y1))
        return self.order[s][hit]

    def in_polygon(self, polygon: np.ndarray) -> np.ndarray:
        poly = np.asarray(polygon, dtype=np.float64)
        if len(poly) < 3:
            return np.zeros(0, dtype=np.int64)
        s = self._slab(poly[:, 0].min(), poly[:, 0].max())
        ys = self.ys[s]
        box = np.flatnonzero((ys >= poly[:, 1].min()) & (ys <= poly[:, 1].max()))
        inside = points_in_polygon(self.xs[s][box], ys[box], poly)
        return self.order[s][box[inside]]

    def nearest(self, x: float, y: float, rx: float, ry: float,
                allowed: np.ndarray | None = None) -> int | None:
        """The row nearest to (x, y) within the ellipse of radii (rx, ry), or None."""
        s = self._slab(x - rx, x + rx)
        rows = self.order[s]
        dx = (self.xs[s] - x) / rx
        dy = (self.ys[s] - y) / ry
        d = dx * dx + dy * dy
        ok = d <= 1.0
        if allowed is not None:
            ok &= allowed[rows]
        if not ok.any():
            return None
        cand = np.flatnonzero(ok)
        return int(rows[cand[np.argmin(d[cand])]])
