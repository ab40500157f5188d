"""What a layer does with samples: one sample's feature maps, a unit's top samples.

Both read the run's dump lazily (one sample, or chunks of whole samples), so memory
stays bounded whatever the dataset size. A layer that was not dumped is computed with
forward hooks on the model for the one sample asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visualizer.analysis.layers.units import CHUNK_BYTES, sample_rows
from visualizer.jobs.contract import JobContext

REDUCTIONS = ("mean", "max")


@dataclass(frozen=True)
class FeatureRequest:
    """Activations of ``layer`` for ``sample`` (a position in the run's dataset split,
    like ``Selection.sample_ids``)."""

    workspace: str
    run_id: str
    layer: str
    sample: int


@dataclass
class FeatureMaps:
    """One sample's activations of one layer.

    Attributes
    ----------
    values
        ``(C, H, W)`` float32 for a convolutional layer, ``(D,)`` for a dense one.
    source
        ``"dump"`` or ``"hooks"`` (computed because the layer was not dumped).
    label, prediction
        Of the sample, when the run has them.
    """

    layer: str
    sample: int
    values: np.ndarray
    source: str
    label: int | None = None
    prediction: int | None = None


def feature_maps(request: FeatureRequest, ctx: JobContext) -> FeatureMaps:
    """Job: read one sample's activations from the dump, or compute them with hooks."""
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    run = ws.run(request.run_id)
    with run.arrays() as arrays:
        row: int | None = request.sample
        if "sample_index" in arrays:
            # a run made with a limit holds a sample of the split, not its first rows
            hits = np.flatnonzero(np.asarray(arrays["sample_index"][()]) == request.sample)
            row = int(hits[0]) if hits.size else None
        label = int(arrays["label"][row]) if "label" in arrays and row is not None else None
        pred = int(arrays["prediction"][row]) if "prediction" in arrays and row is not None \
            else None
        index = request.sample
        if request.layer in arrays.layers and row is not None:
            values = np.asarray(arrays[request.layer][row], dtype=np.float32)
            return FeatureMaps(request.layer, request.sample, values, "dump", label, pred)
    if row is None:  # not in the dump, but a sample of the split: compute it
        from visualizer.samples import samples_of_run

        samples = samples_of_run(ws, run)
        if not 0 <= index < len(samples.y):
            from visualizer.errors import NotFoundError

            raise NotFoundError(f"sample {index} is not in the {run.params.get('split')} "
                                f"split of run {run.id} (0..{len(samples.y) - 1}).",
                                fix="pick a sample of the run's split.")
        label = int(samples.y[index])
    ctx.status(f"computing {request.layer} with hooks")
    values = hooked_activation(request.workspace, run, request.layer, index)
    return FeatureMaps(request.layer, request.sample, values, "hooks", label, pred)


def hooked_activation(workspace: str, run, layer: str, index: int) -> np.ndarray:
    """Output of ``layer`` for dataset sample ``index`` of the run's split, via a hook."""
    import torch

    from visualizer.models.introspection import hooks
    from visualizer.samples import samples_of_run
    from visualizer.workspace import model_pool
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(workspace)
    x = samples_of_run(ws, run).x[index:index + 1]
    got: dict[str, np.ndarray] = {}

    def keep(name, module, inputs, output):
        if isinstance(output, torch.Tensor):
            got[name] = output.detach().float().cpu().numpy()[0]

    with model_pool.borrow(ws, run.params["model"]) as model, torch.inference_mode(), \
            hooks(model, [layer], keep):
        model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    if layer not in got:
        raise ValueError(f"layer {layer!r} does not output a single tensor")
    return np.ascontiguousarray(got[layer], dtype=np.float32)


def unit_scores(block: np.ndarray, unit: int, reduce: str = "mean") -> np.ndarray:
    """One score per sample for ``unit``: its value (dense) or its map's mean or max."""
    values = np.asarray(block[:, unit], dtype=np.float64)
    if values.ndim == 1:
        return values
    flat = values.reshape(values.shape[0], -1)
    return flat.max(axis=1) if reduce == "max" else flat.mean(axis=1)


@dataclass(frozen=True)
class TopKRequest:
    """The ``k`` samples on which ``unit`` of ``layer`` is most active."""

    workspace: str
    run_id: str
    layer: str
    unit: int
    k: int = 16
    reduce: str = "mean"  # over the positions of a convolutional channel
    largest: bool = True
    chunk_bytes: int = CHUNK_BYTES


@dataclass
class TopK:
    """Result of :func:`top_activating`.

    Attributes
    ----------
    rows
        Positions in the run (rows of the dump), best first; ties keep the lower row.
    sample_index
        The same samples as positions in the dataset split (for thumbnails).
    scores
        The unit's score on each.
    labels, predictions
        Per returned sample, or None when the run lacks them.
    """

    layer: str
    unit: int
    reduce: str
    rows: np.ndarray
    sample_index: np.ndarray
    scores: np.ndarray
    labels: np.ndarray | None = None
    predictions: np.ndarray | None = None


def top_k_rows(ds, unit: int, k: int, *, reduce: str = "mean", largest: bool = True,
               chunk_bytes: int = CHUNK_BYTES, check_cancelled=None) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """Top-``k`` rows of a dump for one unit, reading whole-sample chunks.

    Keeps at most ``k`` candidates between chunks, so memory is one chunk plus ``k``.
    The order equals ``np.argsort(-scores, kind="stable")[:k]`` over the whole dump
    (``largest=False``: ``np.argsort(scores, kind="stable")``).
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}")
    n = int(ds.shape[0])
    units = int(ds.shape[1]) if ds.ndim > 1 else 1
    if not 0 <= unit < units:
        raise IndexError(f"unit {unit} is out of range (the layer has {units} units)")
    k = max(0, min(int(k), n))
    best_rows = np.zeros(0, dtype=np.int64)
    best_scores = np.zeros(0, dtype=np.float64)
    sign = -1.0 if largest else 1.0
    step = sample_rows(ds, chunk_bytes)
    for start in range(0, n, step):
        if check_cancelled is not None:
            check_cancelled()
        block = ds[start:start + step] if ds.ndim > 1 else np.asarray(ds[start:start + step])[:, None]
        scores = unit_scores(block, unit, reduce)
        scores = np.where(np.isnan(scores), sign * np.inf, scores)  # NaN never ranks first
        rows = np.arange(start, start + len(scores), dtype=np.int64)
        all_rows = np.concatenate([best_rows, rows])
        all_scores = np.concatenate([best_scores, scores])
        order = np.lexsort((all_rows, sign * all_scores))[:k]  # score, then row
        best_rows, best_scores = all_rows[order], all_scores[order]
    return best_rows, best_scores


def top_activating(request: TopKRequest, ctx: JobContext) -> TopK:
    """Job: the top-k activating samples of a unit, from the run's dump."""
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    run = ws.run(request.run_id)
    with run.arrays() as arrays:
        if request.layer not in arrays.layers:
            from visualizer.errors import NotFoundError

            raise NotFoundError(f"layer {request.layer!r} is not in run {run.id}.",
                                fix="extract activations of this layer first.")
        ds = arrays[request.layer]
        ctx.status(f"ranking {ds.shape[0]} samples for unit {request.unit}")
        rows, scores = top_k_rows(ds, request.unit, request.k, reduce=request.reduce,
                                  largest=request.largest, chunk_bytes=request.chunk_bytes,
                                  check_cancelled=ctx.check_cancelled)
        sample_index = (np.asarray(arrays["sample_index"][()])[rows]
                        if "sample_index" in arrays else rows)
        labels = np.asarray(arrays["label"][()])[rows] if "label" in arrays else None
        preds = np.asarray(arrays["prediction"][()])[rows] if "prediction" in arrays else None
    return TopK(request.layer, request.unit, request.reduce, rows, sample_index, scores,
                labels, preds)
