"""The built-in projection methods: PCA (scikit-learn), UMAP (umap-learn), t-SNE
(scikit-learn). Registered by the ``projection`` built-in plugin's manifest.

Heavy libraries are imported inside ``fit``. UMAP reports intermediate layouts through
a hook on its epoch loop (``umap_progress``), so a view can show the layout forming.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from visualizer.analysis.projection.contract import ProjectionMethod, Report

METRICS = ("euclidean", "cosine", "manhattan", "correlation", "chebyshev")


def _f(default: Any, help: str, **meta: Any):
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class PCAParams:
    seed: int = _f(0, "random seed (randomized solver on large inputs)", min=0)


@dataclass(frozen=True)
class UMAPParams:
    n_neighbors: int = _f(15, "neighbourhood size: small = local detail, large = global shape",
                          min=2, max=500)
    min_dist: float = _f(0.1, "how tightly points may pack in 2-D", min=0.0, max=1.0)
    metric: str = _f("euclidean", "distance in activation space", choices=METRICS)
    n_epochs: int = _f(0, "optimisation epochs (0: umap's default, 200 above 10,000 "
                          "points, else 500)", min=0, max=5000)
    seed: int = _f(0, "random seed (fixed seed: reproducible, single-threaded layout)",
                   min=0)
    pca_dims: int = _f(50, "reduce inputs above this many dimensions by PCA first "
                           "(0: never)", min=0, max=4096)


@dataclass(frozen=True)
class TSNEParams:
    perplexity: float = _f(30.0, "effective number of neighbours", min=2.0, max=500.0)
    metric: str = _f("euclidean", "distance in activation space", choices=METRICS)
    max_iter: int = _f(1000, "optimisation iterations", min=250, max=10000)
    seed: int = _f(0, "random seed", min=0)
    pca_dims: int = _f(50, "reduce inputs above this many dimensions by PCA first "
                           "(0: never)", min=0, max=4096)


def pca_2d(x: np.ndarray, seed: int = 0, fit_rows: int | None = None) -> np.ndarray:
    """First two principal components; ``fit_rows`` fits on a random subset (previews)."""
    return pca_reduce(x, 2, seed=seed, fit_rows=fit_rows)


def pca_reduce(x: np.ndarray, dims: int, seed: int = 0, fit_rows: int | None = None
               ) -> np.ndarray:
    """``x`` projected on its first ``dims`` principal components, as float32."""
    n, d = x.shape
    dims = min(dims, d, n)
    if fit_rows is not None and n > fit_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, fit_rows, replace=False))
        fit = x[rows]
    else:
        fit = x
    mean = fit.mean(axis=0, dtype=np.float64).astype(np.float32)
    centred = fit - mean
    if d <= 2048:
        # Covariance + eigh: one pass of BLAS over the data, exact, fast for tall inputs.
        cov = (centred.T.astype(np.float64) @ centred.astype(np.float64)) / max(len(fit) - 1, 1)
        values, vectors = np.linalg.eigh(cov)
        components = vectors[:, ::-1][:, :dims].astype(np.float32)
    else:
        from sklearn.utils.extmath import randomized_svd

        _, _, vt = randomized_svd(centred, dims, random_state=seed)
        components = vt.T.astype(np.float32)
    # Deterministic signs: the largest loading of each component is positive.
    signs = np.sign(components[np.abs(components).argmax(axis=0), range(dims)])
    components *= np.where(signs == 0, 1, signs)
    return np.ascontiguousarray((x - mean) @ components, dtype=np.float32)


def fit_pca(x: np.ndarray, params: PCAParams, *, ctx, report: Report | None = None
            ) -> np.ndarray:
    return pca_2d(x, seed=params.seed)


def fit_umap(x: np.ndarray, params: UMAPParams, *, ctx, report: Report | None = None
             ) -> np.ndarray:
    from visualizer.analysis.projection import umap_progress
    from visualizer.analysis.projection.numba_cache import import_umap

    ctx.status("loading UMAP")
    umap = import_umap()
    ctx.check_cancelled()
    model = umap.UMAP(
        n_neighbors=min(params.n_neighbors, max(2, len(x) - 1)), min_dist=params.min_dist,
        metric=params.metric, n_epochs=params.n_epochs or None, random_state=params.seed,
        n_components=2)
    ctx.status("UMAP: nearest neighbours and graph")

    def on_epoch(head: np.ndarray, done: int, total: int) -> None:
        ctx.check_cancelled()
        if done == 0:
            ctx.status(f"UMAP: optimising layout ({total} epochs)")
        ctx.progress(done, total)
        if report is not None:
            report(head, done, total)

    import warnings

    with umap_progress.epoch_callback(on_epoch), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*", category=UserWarning)
        coords = model.fit_transform(x)
    return np.ascontiguousarray(coords, dtype=np.float32)


def fit_tsne(x: np.ndarray, params: TSNEParams, *, ctx, report: Report | None = None
             ) -> np.ndarray:
    from sklearn.manifold import TSNE

    ctx.status("t-SNE: optimising (no intermediate layouts)")
    perplexity = min(params.perplexity, max(1.0, (len(x) - 1) / 3))
    model = TSNE(n_components=2, perplexity=perplexity, metric=params.metric,
                 max_iter=params.max_iter, random_state=params.seed, init="pca",
                 learning_rate="auto")
    return np.ascontiguousarray(model.fit_transform(x), dtype=np.float32)


PCA = ProjectionMethod("pca", "PCA (first two principal components)", PCAParams, fit_pca,
                       pre_reduce=False, in_process=False)
UMAP = ProjectionMethod("umap", "UMAP", UMAPParams, fit_umap, progressive=True)
TSNE = ProjectionMethod("tsne", "t-SNE (scikit-learn)", TSNEParams, fit_tsne)
