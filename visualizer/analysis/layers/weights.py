"""Weights of one layer: histogram, per-filter norms, first-convolution filters.

Also the small model cache shared by the layer jobs: clicking through layers must not
load the model from disk each time. Call these from jobs, never the GUI thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

HIST_BINS = 60
_MODEL_CACHE: OrderedDict[tuple, object] = OrderedDict()
_MODEL_LOCK = threading.Lock()
MODEL_CACHE_SIZE = 3


def cached_model(workspace: str, name: str):
    """The model ``name`` of the workspace folder, in eval mode on CPU, cached.

    Keyed by the model file's SHA-256, so a re-imported model is loaded again.
    Callers must not modify the module (hooks are fine: they are removed after use).
    """
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(workspace)
    rec = ws.catalog.model(name)
    key = (str(ws.root), name, rec.sha256)
    with _MODEL_LOCK:
        if key in _MODEL_CACHE:
            _MODEL_CACHE.move_to_end(key)
            return _MODEL_CACHE[key]
    model = ws.load_model(name, device="cpu")
    model.eval()
    with _MODEL_LOCK:
        _MODEL_CACHE[key] = model
        while len(_MODEL_CACHE) > MODEL_CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
    return model


def clear_model_cache() -> None:
    with _MODEL_LOCK:
        _MODEL_CACHE.clear()


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
        Histogram of all weight values.
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


def module_weights(model, path: str) -> WeightInfo:
    """Weight statistics of the module at ``path`` (``""`` is the root)."""
    module = model.get_submodule(path) if path else model
    params = [p.detach().float().cpu().numpy() for p in module.parameters(recurse=False)]
    weight = getattr(module, "weight", None)
    w = weight.detach().float().cpu().numpy() if weight is not None and hasattr(
        weight, "detach") else None
    values = w.ravel() if w is not None else (np.concatenate([p.ravel() for p in params])
                                              if params else np.zeros(0, np.float32))
    finite = values[np.isfinite(values)]
    if finite.size:
        counts, edges = np.histogram(finite, bins=HIST_BINS)
    else:
        counts, edges = np.zeros(0, np.int64), np.zeros(0)
    norms = (np.sqrt((w.reshape(w.shape[0], -1).astype(np.float64) ** 2).sum(axis=1))
             if w is not None and w.ndim >= 2 else np.zeros(0))
    total = float(np.sqrt(sum(float((p.astype(np.float64) ** 2).sum()) for p in params)))
    zero = float((values == 0).mean()) if values.size else 0.0
    filters = np.ascontiguousarray(w, dtype=np.float32) if w is not None and w.ndim == 4 else None
    return WeightInfo(module=path, type_name=type(module).__name__,
                      shape=tuple(w.shape) if w is not None else None,
                      n_params=int(sum(p.size for p in params)), hist_counts=counts,
                      hist_edges=edges, filter_norms=norms, norm=total, zero_fraction=zero,
                      filters=filters)


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
