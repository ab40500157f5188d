"""The projection job: read one layer, reduce, fit, store; partial layouts on the way.

``project_job(request, ctx)`` follows the job contract. UMAP and t-SNE hold the GIL for
long stretches, so the GUI runs this in a worker process (``ProcessRunner``) where
Cancel can stop it; the CLI and ``Workspace.project`` call it in-process. Partial
results are ``Partial`` objects: a PCA preview first (when asked), then intermediate
layouts as the method reports them, at most one per ``partial_interval`` seconds.
Nothing is written until the layout is final, so a cancelled or killed job leaves no
run behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from visualizer.errors import DeepScopeError

TRUST_SAMPLE = 1000  # trustworthiness on a sample: the metric is quadratic in N


@dataclass(frozen=True)
class ProjectRequest:
    workspace: str
    source_run: str
    layer: str
    method: str  # contribution id ("projection.umap") or its short name ("umap")
    options: tuple[tuple[str, Any], ...] = ()
    preview: bool = False  # send a PCA layout first
    partial_interval: float = 0.5


@dataclass(frozen=True)
class Partial:
    """A layout before the final one; ``stage`` is "preview" (PCA) or "layout"."""

    stage: str
    coords: np.ndarray  # (N, 2) float32
    sample_index: np.ndarray  # (N,) int64
    done: int = 0
    total: int = 0
    method: str = ""


def resolve_method(name: str):
    """``(contribution, ProjectionMethod)`` for a method id or short name."""
    from plugins.manager import get_manager

    manager = get_manager()
    contribution = manager.get("projection_methods", name)
    return contribution, manager.load(contribution)


def read_layer(ws, run, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, sample_index)``: the layer's activations flattened to (N, D) float32."""
    with run.arrays() as arrays:
        ds = arrays[layer]
        x = np.empty((ds.shape[0], int(np.prod(ds.shape[1:], dtype=np.int64))), np.float32)
        step = max(1, (64 << 20) // max(1, x.shape[1] * ds.dtype.itemsize))
        for start in range(0, len(x), step):
            x[start:start + step] = ds[start:start + step].reshape(
                min(step, len(x) - start), -1)
        ids = np.asarray(arrays["sample_index"][()], dtype=np.int64)
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).any(axis=1).sum())
        raise DeepScopeError(f"layer {layer!r} of run {run.id} has non-finite activations "
                             f"in {bad} samples.",
                             fix="check the model on those inputs, or project another layer.")
    return x, ids


def preview_layout(request: ProjectRequest, ctx) -> Partial:
    """Job: a quick PCA layout (fitted on at most 5,000 rows) to show while the real one
    computes. Cheap enough for a worker thread of the GUI process."""
    from visualizer.analysis.projection.methods import pca_2d
    from visualizer.analysis.projection.storage import check_source
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    source = check_source(ws, request.source_run, request.layer)
    x, ids = read_layer(ws, source, request.layer)
    ctx.check_cancelled()
    return Partial("preview", pca_2d(x, fit_rows=5000), ids, method="pca")


def project_job(request: ProjectRequest, ctx) -> str:
    """Job: compute and store a projection; returns the new run id."""
    from plugins.manager import get_manager
    from visualizer.analysis.projection.contract import params_dict
    from visualizer.analysis.projection.methods import pca_2d, pca_reduce
    from visualizer.analysis.projection.storage import check_source, store_projection
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    source = check_source(ws, request.source_run, request.layer)
    contribution, method = resolve_method(request.method)
    params = method.make_params(**dict(request.options))
    ctx.status(f"reading {request.layer}")
    x, ids = read_layer(ws, source, request.layer)
    ctx.check_cancelled()
    started = time.perf_counter()
    if request.preview:
        ctx.partial(Partial("preview", pca_2d(x, fit_rows=5000), ids, method="pca"))
    fit_input = x
    pca_dims = getattr(params, "pca_dims", 0)
    if method.pre_reduce and pca_dims and x.shape[1] > pca_dims:
        ctx.status(f"PCA {x.shape[1]} -> {pca_dims} dimensions")
        fit_input = pca_reduce(x, pca_dims, seed=getattr(params, "seed", 0))
        ctx.check_cancelled()

    last = [0.0]

    def report(coords: np.ndarray, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < request.partial_interval:
            return
        last[0] = now
        ctx.partial(Partial("layout", np.array(coords, dtype=np.float32), ids, done, total,
                            contribution.name))

    ctx.status(f"{method.title}: fitting {len(x):,} samples")
    coords = get_manager().call(contribution, fit_input, params, ctx=ctx, report=report,
                                hook=f"{contribution.id} fit")
    coords = np.asarray(coords, dtype=np.float32)
    if coords.shape != (len(x), 2):
        raise DeepScopeError(f"projection method {contribution.id} returned shape "
                             f"{coords.shape}, expected {(len(x), 2)}.",
                             fix="report this to the plugin's author.")
    seconds = time.perf_counter() - started
    ctx.check_cancelled()
    ctx.status("scoring and storing")
    metrics = {"seconds": round(seconds, 3), "n_samples": int(len(x)),
               "input_dims": int(x.shape[1]), "fit_dims": int(fit_input.shape[1]),
               "non_finite": int((~np.isfinite(coords)).any(axis=1).sum())}
    metrics.update(trust_metrics(x, coords, seed=getattr(params, "seed", 0)))
    return store_projection(ws, source, request.layer, contribution.name, contribution.id,
                            params_dict(params), coords, ids, metrics,
                            {"fit_dims": int(fit_input.shape[1])})


def trust_metrics(x: np.ndarray, coords: np.ndarray, k: int = 10, seed: int = 0
                  ) -> dict[str, Any]:
    """scikit-learn trustworthiness (k neighbours) on at most ``TRUST_SAMPLE`` samples."""
    from sklearn.manifold import trustworthiness

    ok = np.flatnonzero(np.isfinite(coords).all(axis=1))
    if len(ok) <= 2 * k + 1:
        return {}
    if len(ok) > TRUST_SAMPLE:
        ok = np.sort(np.random.default_rng(seed).choice(ok, TRUST_SAMPLE, replace=False))
    value = trustworthiness(x[ok], coords[ok], n_neighbors=k)
    return {f"trustworthiness_k{k}": round(float(value), 4),
            "trustworthiness_samples": int(len(ok))}
