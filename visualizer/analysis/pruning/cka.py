"""Linear CKA between the layers of two activation runs (Kornblith et al., 2019).

Centred kernel alignment with a linear kernel compares two representations of the same
samples: ``CKA(X, Y) = ||YᵀX||²_F / (||XᵀX||_F ||YᵀY||_F)`` for column-centred ``X``
(n, p) and ``Y`` (n, q). It is invariant to orthogonal transforms and isotropic scaling,
but not to arbitrary invertible linear maps (unlike CCA), so it tells a pruned layer that
kept the geometry of its dense original from one that only kept the information.

Each layer is read once and reduced to a small normalised summary: its centred features
when it is narrow, its centred Gram matrix ``XXᵀ`` (n, n) when it is wide. A cell of the
matrix is then one inner product of two summaries, so La x Lb cells cost La + Lb reads.
The job (:func:`cka_job`) computes everything before it creates its run, so a cancelled
job leaves nothing behind.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from visualizer.errors import DeepScopeError, NotFoundError

KIND = "cka"
MIN_SAMPLES = 10
READ_BYTES = 64 << 20  # rows read from HDF5 at a time


class ConstantRepresentationWarning(RuntimeWarning):
    """A representation is constant over the samples, so CKA is undefined (NaN); like
    scipy's ``ConstantInputWarning`` for a correlation."""


def _flat64(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise DeepScopeError(f"{name} has shape {x.shape}; CKA needs (samples, features).")
    x = x.reshape(len(x), -1)
    if not np.isfinite(x).all():
        raise DeepScopeError(f"{name} has non-finite values; CKA is undefined on them.",
                             fix="drop those samples first.")
    return x


def linear_cka(x, y, *, method: str = "auto") -> float:
    """Linear CKA of two representations of the same samples.

    Parameters
    ----------
    x, y
        Arrays (n, p, ...) and (n, q, ...); row i of both is sample i. Trailing
        dimensions are flattened; the arithmetic is float64.
    method
        ``"feature"`` (``||YᵀX||²_F / (||XᵀX||_F ||YᵀY||_F)``, cost ~ n(p + q)²),
        ``"gram"`` (``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with K = XXᵀ, L = YYᵀ,
        cost ~ n²(p + q)), or ``"auto"``: the cheaper one. Both give the same value.

    Returns
    -------
    float
        In [0, 1]; NaN, with a :class:`ConstantRepresentationWarning` saying which input,
        when ``x`` or ``y`` is the same for every sample.
    """
    x, y = _flat64(x, "x"), _flat64(y, "y")
    n, p, q = len(x), x.shape[1], y.shape[1]
    if len(y) != n or n < 2:
        raise DeepScopeError(f"x and y must have the same samples, at least 2 (got {n} "
                             f"and {len(y)} rows).")
    constant = [name for name, v in (("x", x), ("y", y)) if not np.ptp(v, axis=0).any()]
    if constant:
        # an exact test on the raw values: after centring, rounding can leave 1e-17s
        warnings.warn(f"linear CKA is undefined: {' and '.join(constant)} is constant over "
                      f"the {n} samples (zero variance); returning NaN.",
                      ConstantRepresentationWarning, stacklevel=2)
        return float("nan")
    if method == "auto":  # feature form ~ n(p + q)² flops, Gram form ~ n²(p + q)
        method = "feature" if p + q <= n else "gram"
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    if method == "feature":
        cross = np.sum((y.T @ x) ** 2)
        return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))
    if method == "gram":
        # centred columns make K and L centred already: HKH = K, so HSIC(K, L) is
        # sum(K * L) / (n - 1)², and the (n - 1)² cancels in the ratio
        k, l_ = x @ x.T, y @ y.T
        return float(np.vdot(k, l_) / np.sqrt(np.vdot(k, k) * np.vdot(l_, l_)))
    raise DeepScopeError(f"method {method!r}: use auto, feature or gram.")


@dataclass(frozen=True)
class CkaResult:
    """CKA between every selected layer of run A (rows) and of run B (columns)."""

    layers_a: list[str]
    layers_b: list[str]
    matrix: np.ndarray  # (La, Lb) float64; NaN where a layer is constant or non-finite
    per_layer: dict[str, float]  # same layer name in both runs (dense vs pruned curve)
    n_samples: int
    sample_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    undefined: dict[str, str] = field(default_factory=dict)  # "run/layer" -> why NaN


def check_pair(ws, run_a: str, run_b: str):
    """The two runs by id, checked by :func:`check_runs`."""
    a, b = ws.run(run_a), ws.run(run_b)  # NotFoundError names the id
    check_runs(a, b)
    return a, b


def check_runs(a, b) -> None:
    """Both complete activation runs, of the same dataset and split."""
    for run in (a, b):
        if run.kind != "activations" or run.status != "complete":
            raise DeepScopeError(f"run {run.id} is a {run.status} {run.kind} run; CKA "
                                 "compares complete activation runs.",
                                 fix="pick complete activation runs (see `info`), or make "
                                     "one with `python main.py extract`.")
    for key, default in (("dataset", None), ("split", "test")):
        va, vb = a.params.get(key, default), b.params.get(key, default)
        if va != vb:
            raise DeepScopeError(f"runs {a.id} and {b.id} are of different {key}s ({va!r} "
                                 f"and {vb!r}); CKA compares the same samples.",
                                 fix="extract both models on the same dataset and split.")


def resolve_layers(run, layers, option: str = "layers") -> list[str]:
    """``layers`` (default: all of the run's, in its order), checked against the run."""
    known = list(run.params.get("layers", []))
    if layers is None:
        return known
    layers = [layers] if isinstance(layers, str) else list(layers)
    missing = [name for name in layers if name not in known]
    if missing or not layers:
        what = f"no layer {', '.join(map(repr, missing))}" if missing else "no layers given"
        raise NotFoundError(f"{option}: run {run.id} has {what} (layers: {', '.join(known)}).",
                            fix="pick listed layer names.")
    return list(dict.fromkeys(layers))


def match_samples(run_a, run_b, max_samples: int | None = 2000, seed: int = 0):
    """``(sample_index, rows_a, rows_b)``: samples in both runs (at most ``max_samples``,
    drawn with ``seed``), and where each run stores them."""
    with run_a.arrays() as arrays:
        ids_a = np.asarray(arrays["sample_index"][()], dtype=np.int64)
    with run_b.arrays() as arrays:
        ids_b = np.asarray(arrays["sample_index"][()], dtype=np.int64)
    ids, rows_a, rows_b = np.intersect1d(ids_a, ids_b, return_indices=True)
    if len(ids) < MIN_SAMPLES:
        raise DeepScopeError(f"runs {run_a.id} and {run_b.id} share {len(ids)} samples; CKA "
                             f"needs at least {MIN_SAMPLES} samples in both.",
                             fix="extract both with the same --limit and --seed, or without "
                                 "--limit.")
    if max_samples is not None and len(ids) > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(len(ids), max_samples,
                                                          replace=False))
        ids, rows_a, rows_b = ids[keep], rows_a[keep], rows_b[keep]
    return ids, rows_a, rows_b


def read_rows(ds, rows: np.ndarray, ctx=None) -> np.ndarray:
    """Rows ``rows`` of an h5py dataset as (len(rows), features) float32, read in
    contiguous blocks (h5py fancy indexing is slow and needs increasing indices)."""
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    width = int(np.prod(ds.shape[1:], dtype=np.int64))
    out = np.empty((len(rows), width), np.float32)
    step = max(1, READ_BYTES // max(1, width * ds.dtype.itemsize))
    i = 0
    while i < len(ordered):
        start = int(ordered[i])
        j = int(np.searchsorted(ordered, start + step))
        block = ds[start:int(ordered[j - 1]) + 1]
        out[order[i:j]] = block[ordered[i:j] - start].reshape(j - i, width)
        i = j
        if ctx is not None:
            ctx.check_cancelled()
    return out


def summarise(x: np.ndarray) -> tuple[str, np.ndarray | str]:
    """``("feature", X)`` or ``("gram", K)`` scaled so that its CKA with itself is 1, or
    ``("undefined", reason)``. Narrow layers keep their centred features (n x p is
    smaller than n x n and a cell costs n·p·q); wide ones their centred Gram matrix."""
    n, width = x.shape
    bad = int((~np.isfinite(x)).any(axis=1).sum())
    if bad:
        return "undefined", f"non-finite activations in {bad} of {n} samples"
    if not np.ptp(x, axis=0).any():
        return "undefined", f"constant over the {n} samples"
    if width <= n // 4:
        xc = x.astype(np.float64)
        xc -= xc.mean(axis=0)
        return "feature", (xc / np.sqrt(np.linalg.norm(xc.T @ xc))).astype(np.float32)
    gram = np.zeros((n, n))
    step = max(1, READ_BYTES // (8 * n))  # float64 column blocks keep the copy small
    for start in range(0, width, step):
        block = x[:, start:start + step].astype(np.float64)
        block -= block.mean(axis=0)
        gram += block @ block.T
    # stored as float32 (half the memory); each cell is still summed in float64
    return "gram", (gram / np.linalg.norm(gram)).astype(np.float32)


def cross(a: tuple, b: tuple) -> float:
    """CKA of two summaries (their self-terms are 1 by construction)."""
    (kind_a, u), (kind_b, v) = a, b
    if "undefined" in (kind_a, kind_b):
        return float("nan")
    u, v = u.astype(np.float64), v.astype(np.float64)
    if kind_a == kind_b == "feature":
        return float(np.sum((v.T @ u) ** 2))
    if kind_a == kind_b == "gram":
        return float(np.vdot(u, v))
    gram, feats = (u, v) if kind_a == "gram" else (v, u)
    return float(np.sum((gram @ feats) * feats))  # tr(XᵀLX) = tr(L XXᵀ)


def cka_matrix(run_a, run_b, layers_a=None, layers_b=None, *, ctx=None,
               max_samples: int | None = 2000, seed: int = 0) -> CkaResult:
    """Linear CKA between layers of two activation runs, on the samples they share.

    Parameters
    ----------
    run_a, run_b
        Complete activation runs (:class:`~visualizer.workspace.runs.Run`) of the same
        dataset and split; samples are matched by ``sample_index``.
    layers_a, layers_b
        Layer names of each run (default: all of them).
    ctx
        A job context: status, progress per layer read, cancellation between reads.
    max_samples, seed
        At most this many shared samples (a seeded draw); None: all.

    Returns
    -------
    CkaResult
        ``matrix`` (La, Lb) and ``per_layer`` for names in both lists.
    """
    from visualizer.jobs.contract import NullContext

    ctx = ctx or NullContext()
    check_runs(run_a, run_b)
    if max_samples is not None and max_samples < MIN_SAMPLES:
        raise DeepScopeError(f"max_samples must be at least {MIN_SAMPLES} (got {max_samples}).")
    names_a = resolve_layers(run_a, layers_a, "layers_a")
    names_b = resolve_layers(run_b, layers_b, "layers_b")
    ids, rows_a, rows_b = match_samples(run_a, run_b, max_samples, seed)
    total, done = len(names_a) + len(names_b), 0
    summaries_b: dict[str, tuple] = {}
    undefined: dict[str, str] = {}

    def load(arrays, run, name, rows):
        nonlocal done
        ctx.check_cancelled()
        ctx.status(f"CKA: reading {run.id} {name}")
        summary = summarise(read_rows(arrays[name], rows, ctx))
        if summary[0] == "undefined":
            undefined[f"{run.id}/{name}"] = summary[1]
        done += 1
        ctx.progress(done, total)
        return summary

    with run_b.arrays() as arrays:
        for name in names_b:
            summaries_b[name] = load(arrays, run_b, name, rows_b)
    same_rows = run_a.id == run_b.id and np.array_equal(rows_a, rows_b)
    matrix = np.full((len(names_a), len(names_b)), np.nan)
    with run_a.arrays() as arrays:
        for i, name in enumerate(names_a):
            if same_rows and name in summaries_b:  # comparing a run with itself: no reread
                summary, done = summaries_b[name], done + 1
                ctx.progress(done, total)
            else:
                summary = load(arrays, run_a, name, rows_a)
            matrix[i] = [cross(summary, summaries_b[other]) for other in names_b]
    col = {name: j for j, name in enumerate(names_b)}
    per_layer = {name: float(matrix[i, col[name]]) for i, name in enumerate(names_a)
                 if name in col}
    return CkaResult(names_a, names_b, matrix, per_layer, int(len(ids)), ids, undefined)


@dataclass(frozen=True)
class CkaRequest:
    workspace: str
    run_a: str
    run_b: str
    layers_a: tuple[str, ...] | None = None
    layers_b: tuple[str, ...] | None = None
    max_samples: int | None = 2000
    seed: int = 0


def cka_job(request: CkaRequest, ctx) -> str:
    """Job: CKA between two activation runs, stored as a ``cka`` run; returns its id."""
    from visualizer.workspace.provenance import base_provenance
    from visualizer.workspace.runfile import RunFileWriter
    from visualizer.workspace.workspace import Workspace

    if request.seed < 0:
        raise DeepScopeError(f"seed must be at least 0 (got {request.seed}).")
    ws = Workspace(request.workspace)
    a, b = check_pair(ws, request.run_a, request.run_b)
    started = time.perf_counter()
    result = cka_matrix(a, b, request.layers_a, request.layers_b, ctx=ctx,
                        max_samples=request.max_samples, seed=request.seed)
    ctx.check_cancelled()
    common = list(result.per_layer)
    values = np.array([result.per_layer[k] for k in common], dtype=np.float64)
    params = {
        "model": a.params.get("model"), "dataset": a.params.get("dataset"),
        "split": a.params.get("split", "test"), "run_a": a.id, "run_b": b.id,
        "model_a": a.params.get("model"), "model_b": b.params.get("model"),
        "layers_a": result.layers_a, "layers_b": result.layers_b, "common_layers": common,
        "n_samples": result.n_samples, "max_samples": request.max_samples,
        "seed": request.seed, "undefined": result.undefined,
    }
    finite = values[np.isfinite(values)]
    metrics = {"n_samples": result.n_samples, "seconds": round(time.perf_counter() - started, 3),
               "mean_diagonal_cka": round(float(finite.mean()), 6) if len(finite) else None}
    ctx.status("storing")
    with ws.new_run(KIND, model=a.record.model, dataset=a.record.dataset, params=params,
                    provenance=base_provenance(seed=request.seed)) as new_run, \
            RunFileWriter(new_run.path, KIND, {"run_id": new_run.id}) as writer:
        writer.put("matrix", result.matrix.astype(np.float32))
        writer.put("per_layer", values.astype(np.float32))
        # not "sample_index": these are not per-sample columns of the cka run
        writer.put("matched_index", result.sample_index.astype(np.int64))
        new_run.metrics = metrics
        writer.publish()
    return new_run.id


OPTIONS = ("layers_a", "layers_b", "max_samples", "seed")


def cka_ex(ws, run_a: str, run_b: str, *, ctx=None, force: bool = False, **options):
    """``(run, reused)``; see :func:`cka`."""
    from visualizer.jobs.thread_runner import run_sync

    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise DeepScopeError(f"cka has no option {', '.join(map(repr, unknown))}.",
                             fix=f"options: {', '.join(OPTIONS)}, force.")
    a, b = check_pair(ws, run_a, run_b)
    layers_a = resolve_layers(a, options.get("layers_a"), "layers_a")
    layers_b = resolve_layers(b, options.get("layers_b"), "layers_b")
    request = CkaRequest(str(ws.root), a.id, b.id, tuple(layers_a), tuple(layers_b),
                         options.get("max_samples", 2000), int(options.get("seed", 0)))
    if not force:
        for run in reversed(ws.runs(kind=KIND, status="complete",
                                    params={"run_a": a.id, "run_b": b.id})):
            p = run.params
            if (p.get("layers_a"), p.get("layers_b"), p.get("max_samples"), p.get("seed")) \
                    == (layers_a, layers_b, request.max_samples, request.seed):
                return run, True
    return ws.run(run_sync(cka_job, request, name="cka", ctx=ctx)), False


def cka(ws, run_a: str, run_b: str, *, ctx=None, **options):
    """Linear CKA between the layers of two activation runs, as a ``cka`` run.

    Parameters
    ----------
    ws
        The workspace.
    run_a, run_b
        Complete activation runs of the same dataset and split (e.g. a dense model and
        its pruned copy); compared on the samples both hold.
    ctx
        A job context for progress and cancellation (default: none).
    **options
        ``layers_a``, ``layers_b`` (default: all layers), ``max_samples`` (2000),
        ``seed`` (0), ``force`` (compute again even if identical inputs are stored).

    Returns
    -------
    Run
        ``arrays()["matrix"]`` (La, Lb) and ``["per_layer"]`` (one per
        ``params["common_layers"]``); ``metrics["mean_diagonal_cka"]``.
    """
    return cka_ex(ws, run_a, run_b, ctx=ctx, **options)[0]
