"""Weights of one layer: histogram, per-filter norms, first-convolution filters.

The layer jobs borrow their models from :mod:`visualizer.workspace.model_pool`, so
clicking through layers does not load the model from disk each time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HIST_BINS = 60
#: From this share of exact zeros on (a pruned layer), the histogram leaves the zeros out:
#: a spike of 90% at zero would flatten every other bar.
HIST_DROP_ZEROS = 0.05


@dataclass
class WeightInfo:
    """Weights of one module (its own parameters, not its children's).

    Attributes
    ----------
    module
        Module path.
    type_name
        Class name.
    shape
        Shape of ``weight`` (None when the module has none).
    n_params
        Own parameter count (weight + bias ...).
    hist_counts, hist_edges
        Histogram of the weight values (of the non-zero ones when ``hist_nonzero``).
    filter_norms
        L2 norm of each output filter / neuron (``weight[i]``), or empty.
    norm
        L2 norm of all own parameters.
    zero_fraction
        Share of exactly-zero weights (sparsity after pruning).
    filters
        ``(out, in, kh, kw)`` float32 weights of a convolution, for drawing as images;
        ``None`` for other layers.
    """

    module: str
    type_name: str
    shape: tuple[int, ...] | None
    n_params: int
    hist_counts: np.ndarray
    hist_edges: np.ndarray
    filter_norms: np.ndarray
    norm: float
    zero_fraction: float
    filters: np.ndarray | None = None
    hist_nonzero: bool = False  # exact zeros left out of the histogram (a pruned layer)


def module_weights(model, path: str) -> WeightInfo:
    """Weight statistics of the module at ``path`` (``""`` is the root)."""
    module = model.get_submodule(path) if path else model
    params = [p.detach().float().cpu().numpy() for p in module.parameters(recurse=False)]
    weight = getattr(module, "weight", None)
    w = weight.detach().float().cpu().numpy() if weight is not None and hasattr(
        weight, "detach") else None
    values = w.ravel() if w is not None else (np.concatenate([p.ravel() for p in params])
                                              if params else np.zeros(0, np.float32))
    zero = float((values == 0).mean()) if values.size else 0.0
    finite = values[np.isfinite(values)]
    nonzero_only = HIST_DROP_ZEROS <= zero < 1.0
    if nonzero_only:
        finite = finite[finite != 0]
    if finite.size:
        counts, edges = np.histogram(finite, bins=HIST_BINS)
    else:
        counts, edges = np.zeros(0, np.int64), np.zeros(0)
    norms = (np.sqrt((w.reshape(w.shape[0], -1).astype(np.float64) ** 2).sum(axis=1))
             if w is not None and w.ndim >= 2 else np.zeros(0))
    total = float(np.sqrt(sum(float((p.astype(np.float64) ** 2).sum()) for p in params)))
    filters = np.ascontiguousarray(w, dtype=np.float32) if w is not None and w.ndim == 4 else None
    return WeightInfo(module=path, type_name=type(module).__name__,
                      shape=tuple(w.shape) if w is not None else None,
                      n_params=int(sum(p.size for p in params)), hist_counts=counts,
                      hist_edges=edges, filter_norms=norms, norm=total, zero_fraction=zero,
                      filters=filters, hist_nonzero=nonzero_only)


def first_conv(model) -> str | None:
    """Path of the first convolution in definition order (its filters see the input)."""
    from torch import nn

    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd) and module.weight.ndim == 4:
            return name
    return None


def filter_images(filters: np.ndarray) -> np.ndarray:
    """``(out, in, kh, kw)`` filters to ``(out, kh, kw, 3)`` float32 in [0, 1] for display.

    One input channel: a diverging map (blue negative, white zero, red positive), with
    one symmetric scale for all filters so they are comparable. Three input channels:
    RGB, shifted and scaled symmetrically around 0.5.
    """
    f = np.nan_to_num(np.asarray(filters, dtype=np.float32))
    scale = float(np.max(np.abs(f))) or 1.0
    if f.shape[1] == 3:
        return np.ascontiguousarray((f / scale * 0.5 + 0.5).transpose(0, 2, 3, 1))
    v = f.mean(axis=1) / scale  # (out, kh, kw) in [-1, 1]
    pos, neg = np.clip(v, 0, 1), np.clip(-v, 0, 1)
    rgb = np.stack([1 - neg, 1 - pos - neg, 1 - pos], axis=-1)  # white -> red / blue
    return np.ascontiguousarray(np.clip(rgb, 0, 1), dtype=np.float32)
