"""Colour modes: each turns per-sample values into a category per point plus a small
palette (at most ~24 colours), so the scatter uses a few shared brushes, never one
per point. Continuous values are binned."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
         "#7f7f7f", "#bcbd22", "#17becf"]
TAB20_EXTRA = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
               "#c7c7c7", "#dbdb8d", "#9edae5"]
MISSING = "#b0b0b0"
# viridis at 8 stops: continuous values in 8 bins
VIRIDIS8 = ["#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39",
            "#fde725"]
CORRECT = ["#9aa7b8", "#e4572e"]  # correct: quiet grey-blue; incorrect: stands out
MAX_CATEGORIES = 24


def hex_rgba(code: str, alpha: int = 255) -> tuple[int, int, int, int]:
    code = code.lstrip("#")
    return (int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16), alpha)


def categorical_palette(n: int) -> list[str]:
    base = TAB10 + TAB20_EXTRA
    if n <= len(base):
        return base[:n]
    out = list(base)
    for i in range(n - len(base)):  # golden-angle hues beyond tab20
        r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.65, 0.85)
        out.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return out


@dataclass
class Colouring:
    """``cat[i]`` indexes ``names`` and ``colors`` ((K, 4) uint8 RGBA)."""

    title: str
    cat: np.ndarray  # (N,) int16
    names: list[str]
    colors: np.ndarray
    continuous: bool = False


def categorical(title: str, values: np.ndarray, names: list[str] | None = None) -> Colouring:
    """Integer classes; more than ``MAX_CATEGORIES`` distinct ones fold into "other"."""
    values = np.asarray(values, dtype=np.int64)
    present = np.unique(values)
    n_names = len(names) if names else int(present.max(initial=-1)) + 1
    n_names = max(n_names, int(present.max(initial=-1)) + 1)
    labels = [(names[i] if names and i < len(names) else str(i)) for i in range(n_names)]
    if n_names <= MAX_CATEGORIES:
        cat = np.clip(values, 0, n_names - 1).astype(np.int16)
        cat[values < 0] = 0
        colors = [hex_rgba(c) for c in categorical_palette(n_names)]
        return Colouring(title, cat, labels, np.array(colors, np.uint8))
    # Keep the most frequent classes, the rest share one grey.
    counts = np.bincount(np.clip(values, 0, None), minlength=n_names)
    top = np.argsort(-counts, kind="stable")[:MAX_CATEGORIES - 1]
    remap = np.full(n_names, MAX_CATEGORIES - 1, np.int16)
    remap[top] = np.arange(len(top))
    cat = remap[np.clip(values, 0, n_names - 1)]
    colors = [hex_rgba(c) for c in categorical_palette(len(top))] + [hex_rgba(MISSING)]
    return Colouring(title, cat, [labels[i] for i in top] + ["other classes"],
                     np.array(colors, np.uint8))


def continuous(title: str, values: np.ndarray, bins: int = 8) -> Colouring:
    """Floats in ``bins`` equal-width bins between the 1st and 99th percentiles; NaN is
    its own "missing" category."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if finite.any():
        lo, hi = np.percentile(values[finite], [1, 99])
        if hi <= lo:
            lo, hi = float(values[finite].min()), float(values[finite].max())
    else:
        lo, hi = 0.0, 1.0
    span = hi - lo if hi > lo else 1.0
    cat = np.full(len(values), bins, np.int16)
    cat[finite] = np.clip(((values[finite] - lo) / span * bins).astype(np.int64), 0, bins - 1)
    edges = lo + span * np.arange(bins + 1) / bins
    fmt = _fmt(span)
    names = [f"{fmt(edges[i])} – {fmt(edges[i + 1])}" for i in range(bins)]
    names[0], names[-1] = f"≤ {fmt(edges[1])}", f"≥ {fmt(edges[-2])}"
    palette = VIRIDIS8 if bins == 8 else [VIRIDIS8[int(i * 7 / max(bins - 1, 1))]
                                          for i in range(bins)]
    colors = [hex_rgba(c) for c in palette] + [hex_rgba(MISSING)]
    names.append(f"missing ({int((~finite).sum())})")
    return Colouring(title, cat, names, np.array(colors, np.uint8), continuous=True)


def _fmt(span: float):
    digits = max(0, min(6, int(np.ceil(-np.log10(span))) + 2)) if span > 0 else 2
    return lambda v: f"{v:.{digits}f}"


def correctness(labels: np.ndarray, predictions: np.ndarray) -> Colouring:
    wrong = (np.asarray(labels) != np.asarray(predictions)).astype(np.int16)
    n_wrong = int(wrong.sum())
    return Colouring("correct / incorrect", wrong,
                     [f"correct ({len(wrong) - n_wrong})", f"incorrect ({n_wrong})"],
                     np.array([hex_rgba(c) for c in CORRECT], np.uint8))


def single(title: str, n: int, name: str, index: int = 0) -> Colouring:
    return Colouring(title, np.zeros(n, np.int16), [name],
                     np.array([hex_rgba(TAB10[index % 10])], np.uint8))
