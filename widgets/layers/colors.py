"""Colour maps of the Layer view: 256-entry LUTs and value -> colour helpers."""

from __future__ import annotations

import numpy as np

NO_VALUE = (222, 226, 231)  # a node without the statistic (not dumped, no weights)
DEAD = "#c62828"
SATURATED = "#ef8f00"
LIVE = "#4c78a8"
SELECTED = "#ff6d00"
MATCH = "#fdd835"


def _lut(stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    xs = np.array([s for s, _ in stops])
    cols = np.array([c for _, c in stops], dtype=np.float64)
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, xs, cols[:, k]) for k in range(3)], axis=1).astype(np.uint8)


VIRIDIS = _lut([(0.0, (68, 1, 84)), (0.25, (59, 82, 139)), (0.5, (33, 145, 140)),
                (0.75, (94, 201, 98)), (1.0, (253, 231, 37))])
REDS = _lut([(0.0, (250, 245, 240)), (0.3, (252, 187, 161)), (0.7, (239, 59, 44)),
             (1.0, (103, 0, 13))])
INFERNO = _lut([(0.0, (0, 0, 4)), (0.25, (87, 16, 110)), (0.5, (188, 55, 84)),
                (0.75, (249, 142, 9)), (1.0, (252, 255, 164))])
# ColorBrewer RdPu: near-white (nothing pruned) to deep purple (all weights zero); not the
# red of dead units, so the two colourings are not mistaken for each other.
SPARSITY = _lut([(0.0, (255, 247, 243)), (0.25, (252, 197, 192)), (0.5, (247, 104, 161)),
                 (0.75, (174, 1, 126)), (1.0, (73, 0, 106))])
DIVERGING = _lut([(0.0, (33, 102, 172)), (0.5, (247, 247, 247)), (1.0, (178, 24, 43))])

STAT_LUT = {"dead_fraction": REDS, "zero_weights": SPARSITY}


def normalise(values: np.ndarray, log: bool = False,
              fixed: tuple[float, float] | None = None) -> tuple[np.ndarray, float, float]:
    """Values to [0, 1] over their finite range (or the ``fixed`` one); returns
    (t, lo, hi). NaN stays NaN."""
    v = np.asarray(values, dtype=np.float64)
    if fixed is not None:
        lo, hi = fixed
        return np.clip((v - lo) / (hi - lo), 0.0, 1.0), float(lo), float(hi)
    if log:
        v = np.log10(np.where(v > 0, v, np.nan))
    finite = v[np.isfinite(v)]
    if not finite.size:
        return np.full(v.shape, np.nan), float("nan"), float("nan")
    lo, hi = float(finite.min()), float(finite.max())
    t = (v - lo) / (hi - lo) if hi > lo else np.where(np.isfinite(v), 0.5, np.nan)
    if log:
        lo, hi = 10**lo, 10**hi
    return t, lo, hi


def colours(t: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``(N, 3)`` uint8 colours; NaN gets :data:`NO_VALUE`."""
    t = np.asarray(t, dtype=np.float64)
    idx = np.clip(np.nan_to_num(t, nan=0) * 255, 0, 255).astype(np.int64)
    out = lut[idx].copy()
    out[~np.isfinite(t)] = NO_VALUE
    return out


def text_colour(rgb) -> str:
    r, g, b = (float(c) for c in rgb[:3])
    return "#111111" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"
