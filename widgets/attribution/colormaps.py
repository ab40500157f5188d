"""Colour maps and image compositing for attribution maps (numpy only, no Qt).

Signed maps use a diverging map (blue - white - red, symmetric around zero), absolute
maps a sequential one (black - purple - orange - yellow, like inferno). NaN and inf get
their own colour (bright green) whatever the opacity, and are counted by the caller.
Tiny inputs are upscaled by whole pixels (nearest neighbour), never smoothed.
"""

from __future__ import annotations

import numpy as np

NONFINITE_RGB = np.array([0, 230, 64], dtype=np.uint8)
INPUT_BAR_RGB = np.array([120, 120, 120], dtype=np.uint8)  # inputs are not attributions

_DIVERGING = [(0.0, (5, 48, 97)), (0.2, (33, 102, 172)), (0.4, (146, 197, 222)),
              (0.5, (247, 247, 247)), (0.6, (244, 165, 130)), (0.8, (214, 96, 77)),
              (1.0, (103, 0, 31))]
_SEQUENTIAL = [(0.0, (0, 0, 4)), (0.25, (87, 16, 110)), (0.5, (188, 55, 84)),
               (0.75, (249, 142, 9)), (1.0, (252, 255, 164))]


def _lut(anchors) -> np.ndarray:
    pos = np.array([a[0] for a in anchors])
    cols = np.array([a[1] for a in anchors], dtype=np.float64)
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, pos, cols[:, k]) for k in range(3)], 1).round().astype(np.uint8)


DIVERGING = _lut(_DIVERGING)
SEQUENTIAL = _lut(_SEQUENTIAL)


def reduce_channels(attr: np.ndarray, signed: bool) -> np.ndarray:
    """``(C, H, W)`` -> ``(H, W)``: channel sum (signed) or sum of absolute values."""
    a = np.asarray(attr, dtype=np.float32)
    if a.ndim == 3:
        return a.sum(0) if signed else np.abs(a).sum(0)
    return a if signed else np.abs(a)


def robust_max(values: np.ndarray, signed: bool, q: float = 99.5) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return 1.0
    m = float(np.percentile(np.abs(v), q))
    return m if m > 0 else float(np.abs(v).max() or 1.0)


def colorize(map2d: np.ndarray, signed: bool, vmax: float) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W)`` -> ``(H, W, 3)`` uint8 and a boolean mask of non-finite pixels."""
    m = np.asarray(map2d, dtype=np.float64)
    bad = ~np.isfinite(m)
    m = np.where(bad, 0.0, m)
    vmax = vmax if vmax > 0 else 1.0
    if signed:
        t = np.clip(0.5 + 0.5 * m / vmax, 0, 1)
        lut = DIVERGING
    else:
        t = np.clip(np.abs(m) / vmax, 0, 1)
        lut = SEQUENTIAL
    rgb = lut[(t * 255).round().astype(np.int64)]
    rgb[bad] = NONFINITE_RGB
    return rgb, bad


def gray_rgb(image: np.ndarray, value_range=(0.0, 1.0)) -> np.ndarray:
    """``(C, H, W)`` input -> ``(H, W, 3)`` float in [0, 1] (first channel if not 1 or 3)."""
    lo, hi = value_range
    x = np.nan_to_num(np.asarray(image, dtype=np.float64))
    x = np.clip((x - lo) / ((hi - lo) or 1.0), 0, 1)
    if x.ndim == 2:
        x = x[None]
    x = x if x.shape[0] == 3 else np.repeat(x[:1], 3, axis=0)
    return x.transpose(1, 2, 0)


def overlay(image: np.ndarray, attr: np.ndarray, *, signed: bool, vmax: float,
            opacity: float, value_range=(0.0, 1.0), scale: int = 1) -> np.ndarray:
    """The input in grey with the heat map on top, ``(H*s, W*s, 3)`` uint8.

    Each pixel's heat colour is blended with ``opacity`` times its strength (|value| /
    vmax), so weak attributions let the input show through and strong ones dominate.
    """
    m = reduce_channels(attr, signed)
    heat, bad = colorize(m, signed, vmax)
    base = gray_rgb(image, value_range) * 255.0
    strength = np.clip(np.abs(np.nan_to_num(m)) / (vmax if vmax > 0 else 1.0), 0, 1)
    alpha = (opacity * np.minimum(1.0, 0.25 + strength))[..., None]
    out = (1 - alpha) * base + alpha * heat
    out[bad] = NONFINITE_RGB
    return upscale(out.round().astype(np.uint8), scale)


def upscale(rgb: np.ndarray, scale: int) -> np.ndarray:
    """Whole-pixel (nearest neighbour) enlargement: an 8x8 digit stays crisp."""
    if scale <= 1:
        return np.ascontiguousarray(rgb)
    return np.ascontiguousarray(np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1))


def bars(values: np.ndarray, *, signed: bool, vmax: float, size: int = 96,
         rgb: tuple[int, int, int] | np.ndarray | None = None) -> np.ndarray:
    """A bar chart of a feature vector as an ``(size, size, 3)`` image (tabular inputs).

    One bar per feature in column order, coloured like the maps (or all in ``rgb``, for
    inputs rather than attributions). With more features than pixel columns, each column
    shows its group's feature of largest magnitude, so a single strong feature is never
    dropped. Non-finite values fill their whole column in ``NONFINITE_RGB``.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size > size:
        v = _strongest_per_group(v, size)
    n = max(1, len(v))
    img = np.full((size, size, 3), 250, dtype=np.uint8)
    bad = ~np.isfinite(v)
    v = np.where(bad, 0, v)
    vmax = vmax if vmax > 0 else 1.0
    colours, _ = colorize(v[None, :], signed, vmax)
    if rgb is not None:
        colours[:] = np.asarray(rgb, dtype=np.uint8)
    zero = size // 2 if signed else size - 1
    img[zero, :] = 160
    for i in range(len(v)):
        x0, x1 = i * size // n, (i + 1) * size // n
        if x1 - x0 >= 3:  # a one-pixel gap tells neighbouring bars apart
            x1 -= 1
        h = int(round(abs(v[i]) / vmax * (size // 2 if signed else size - 1)))
        h = min(h, zero if (not signed or v[i] >= 0) else size - zero - 1)
        if bad[i]:
            img[:, x0:x1] = NONFINITE_RGB
            continue
        y0, y1 = (zero - h, zero + 1) if v[i] >= 0 or not signed else (zero, zero + h + 1)
        img[y0:y1, x0:x1] = colours[0, i]
        if x1 - x0 >= 4 and h >= 2:
            # a darker rim: the palest colours (white, light yellow) vanish on the background
            rim = (colours[0, i] * 0.65).astype(np.uint8)
            img[y0:y1, x0] = img[y0:y1, x1 - 1] = rim
            img[y0 if y0 < zero else y1 - 1, x0:x1] = rim
    return img


def _strongest_per_group(v: np.ndarray, groups: int) -> np.ndarray:
    """Split ``v`` into ``groups`` contiguous runs; keep each run's value of largest
    magnitude (non-finite first: a NaN must stay visible)."""
    out = np.empty(groups, dtype=np.float64)
    for g, part in enumerate(np.array_split(v, groups)):
        bad = ~np.isfinite(part)
        out[g] = part[bad][0] if bad.any() else part[np.argmax(np.abs(part))]
    return out
