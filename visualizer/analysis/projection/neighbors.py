"""Nearest neighbours of a sample in a layer's activation space (not in the 2-D layout).

Brute force over the flattened activations, read once and kept for the next query (one
layer at a time, within a memory budget): exact, and a query over 50,000 x 512 values
takes milliseconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from visualizer.errors import NotFoundError

CACHE_BUDGET_BYTES = 1 << 30
_cache: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class NeighborsRequest:
    workspace: str
    run_id: str  # the activation run
    layer: str
    sample_id: int  # position in the run's split
    k: int = 12
    metric: str = "euclidean"  # or "cosine"


@dataclass(frozen=True)
class Neighbors:
    sample_id: int
    ids: np.ndarray  # (k,) sample ids, nearest first, the query excluded
    distances: np.ndarray  # (k,)
    metric: str


def _matrix(ws, run_id: str, layer: str):
    key = (str(ws.root), run_id, layer)
    with _lock:
        if key in _cache:
            return _cache[key]
    from visualizer.analysis.projection.job import read_layer
    from visualizer.analysis.projection.storage import check_source

    run = check_source(ws, run_id, layer)
    x, ids = read_layer(ws, run, layer)
    norms = np.einsum("ij,ij->i", x, x)
    entry = (x, ids, norms)
    with _lock:
        _cache.clear()  # one layer at a time keeps memory flat
        if x.nbytes <= CACHE_BUDGET_BYTES:
            _cache[key] = entry
    return entry


def nearest_neighbors(request: NeighborsRequest, ctx) -> Neighbors:
    """Job: the ``k`` nearest samples to ``sample_id`` in ``layer``'s activation space."""
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    x, ids, norms = _matrix(ws, request.run_id, request.layer)
    rows = np.flatnonzero(ids == request.sample_id)
    if not len(rows):
        raise NotFoundError(f"sample {request.sample_id} is not in run {request.run_id}.",
                            fix="pick a sample shown in this projection.")
    row = int(rows[0])
    ctx.check_cancelled()
    q = x[row]
    dots = x @ q
    if request.metric == "cosine":
        denom = np.sqrt(np.maximum(norms * norms[row], 1e-30))
        dist = 1.0 - dots / denom
    else:
        dist = np.sqrt(np.maximum(norms - 2 * dots + norms[row], 0.0))
    dist[row] = np.inf
    k = min(request.k, len(ids) - 1)
    nearest = np.argpartition(dist, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
    nearest = nearest[np.argsort(dist[nearest], kind="stable")]
    return Neighbors(request.sample_id, ids[nearest], dist[nearest].astype(np.float32),
                     request.metric)


def clear_cache() -> None:
    with _lock:
        _cache.clear()
