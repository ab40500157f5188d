"""The built-in projection methods: PCA (numpy / scikit-learn), UMAP (umap-learn),
t-SNE (openTSNE). Registered by the ``projection`` built-in plugin's manifest.

Heavy libraries are imported inside ``fit``. UMAP reports intermediate layouts through
a hook on its epoch loop (``umap_progress``), t-SNE through openTSNE's callbacks, so a
view can show the layout forming, with iteration progress, and a cancel takes effect
between two reports.
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
    max_iter: int = _f(1000, "optimisation iterations, the first 250 with early "
                             "exaggeration (as scikit-learn counts them)", min=250,
                       max=10000)
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
    ctx.check_cancelled()  # runs in the caller's thread (in_process=False): honour a cancel
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


TSNE_EARLY_ITER = 250  # early-exaggeration iterations, counted in max_iter
TSNE_REPORT_EVERY = 10  # iterations between progress, layout and cancel checks
ANNOY_METRICS = ("euclidean", "cosine", "manhattan")  # openTSNE's approximate neighbours
TSNE_EXACT_UP_TO = 20_000  # other metrics: exact neighbours up to here (pynndescent's
# numba code for them compiles for a minute in a fresh process), pynndescent above


class _TSNEProgress:
    """openTSNE callback: every ``TSNE_REPORT_EVERY`` iterations of both optimisation
    phases (early exaggeration, then the rest) check for cancel, report the iteration
    out of the total and hand the layout to ``report``."""

    def __init__(self, ctx, report: Report | None, phases: tuple[int, int]):
        self.ctx, self.report, self.phases = ctx, report, phases
        self.total = sum(phases)
        self.phase = -1
        self.offset = 0
        self.done = 0

    def optimization_about_to_start(self) -> None:  # openTSNE calls it for each phase
        self.phase += 1
        self.offset = sum(self.phases[:self.phase])
        self.ctx.check_cancelled()
        stage = "early exaggeration" if self.phase == 0 else "optimising layout"
        self.ctx.status(f"t-SNE: {stage} ({self.total:,} iterations)")
        self.ctx.progress(self.offset, self.total)

    def __call__(self, iteration: int, error: float, embedding) -> bool:
        self.ctx.check_cancelled()
        # openTSNE calls back at its iteration-th gradient, before applying it
        self.done = self.offset + iteration - 1
        self.ctx.progress(self.done, self.total)
        if self.report is not None:
            self.report(np.asarray(embedding), self.done, self.total)
        return False  # go on


def fit_tsne(x: np.ndarray, params: TSNEParams, *, ctx, report: Report | None = None
             ) -> np.ndarray:
    """t-SNE by openTSNE: exact neighbours below 1,000 points, Annoy above (other
    metrics: exact up to ``TSNE_EXACT_UP_TO``, then pynndescent); Barnes-Hut gradients
    below 10,000 points, FFT above. One thread, so that a seed gives the same layout on
    every machine."""
    ctx.status("loading openTSNE")
    from openTSNE import TSNE as OpenTSNE

    ctx.check_cancelled()
    metric = params.metric
    if metric == "correlation":  # = cosine distance of the mean-centred rows, which
        x = x - x.mean(axis=1, keepdims=True)  # every neighbour search of openTSNE has
        metric = "cosine"
    perplexity = min(params.perplexity, max(1.0, (len(x) - 1) / 3))
    early = min(TSNE_EARLY_ITER, params.max_iter)
    progress = _TSNEProgress(ctx, report, (early, params.max_iter - early))
    model = OpenTSNE(n_components=2, perplexity=perplexity, metric=metric,
                     early_exaggeration_iter=early, n_iter=params.max_iter - early,
                     neighbors="auto" if metric in ANNOY_METRICS
                     or len(x) > TSNE_EXACT_UP_TO else "exact",
                     initialization="pca", random_state=params.seed, n_jobs=1,
                     callbacks=progress, callbacks_every_iters=TSNE_REPORT_EVERY)
    ctx.status(f"t-SNE: nearest neighbours and affinities ({len(x):,} samples)")
    coords = np.ascontiguousarray(model.fit(x), dtype=np.float32)
    ctx.progress(progress.total, progress.total)  # the last callback came one step early
    if report is not None:
        report(coords, progress.total, progress.total)
    return coords


PCA = ProjectionMethod("pca", "PCA (first two principal components)", PCAParams, fit_pca,
                       pre_reduce=False, in_process=False)
UMAP = ProjectionMethod("umap", "UMAP", UMAPParams, fit_umap, progressive=True)
TSNE = ProjectionMethod("tsne", "t-SNE (openTSNE)", TSNEParams, fit_tsne, progressive=True)
