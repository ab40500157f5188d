"""The comparisons the Pruning view runs, as Qt-free jobs: the activation runs of a dense
model and a pruned one on the same samples, linear CKA between their layers, the two
projections of one layer handed to the Embedding view, the samples the pruned model
forgot (with their inputs, for thumbnails), and one attribution method run on both
models for the same samples, side by side; and the read of a pruned model's stored
fine-tuning curves, which the view plots against its parent's accuracy.

Each job reuses what the workspace already holds. Two activation runs describe "the same
samples" when they were drawn the same way from the same split (every sample, or the
same ``limit`` and ``sample_seed``: the stratified draw is seeded); otherwise both models
are extracted with ``limit=500, seed=0``. The CKA run and the projections are reused by
their own APIs (``cka_ex``, ``project_ex``) when their inputs match.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

LIMIT, SEED = 500, 0
log = logging.getLogger("deepscope.pruning")


class _Step:
    """A ctx for step ``index`` of ``count``: cancel and status pass through, progress
    is folded into one 0..100 bar for the whole job (the jobs panel shows one job)."""

    def __init__(self, ctx, index: int, count: int, label: str):
        self._ctx, self._index, self._count, self._label = ctx, index, count, label
        ctx.status(label)
        ctx.progress(round(100 * index / count), 100)

    def progress(self, done, total=None):
        if total:
            frac = min(max(float(done) / float(total), 0.0), 1.0)
            self._ctx.progress(round(100 * (self._index + frac) / self._count), 100)

    def status(self, text):
        self._ctx.status(f"{self._label}: {text}")

    def partial(self, obj):
        pass

    @property
    def cancelled(self):
        return self._ctx.cancelled

    def check_cancelled(self):
        self._ctx.check_cancelled()


def sample_key(params: dict) -> tuple:
    """Which samples of its split an activation run holds, as a comparable key."""
    if params.get("sampling") == "all" or params.get("limit") is None:
        return ("all",)
    return ("limit", int(params["limit"]), params.get("sample_seed"))


def _default_key(ws, dataset: str, split: str) -> tuple:
    """The key an extraction with ``LIMIT``/``SEED`` gets (all samples of a small split)."""
    n = ((ws.catalog.dataset(dataset).info or {}).get("splits") or {}).get(split)
    if n is None:
        from visualizer.samples import split_samples

        n = len(split_samples(ws, dataset, split).y)
    return ("all",) if LIMIT >= n else ("limit", LIMIT, SEED)


def _complete(ws, model: str, dataset: str, split: str) -> dict[tuple, object]:
    """The newest complete activation run of ``model`` per sample key."""
    out = {}
    for run in ws.runs(kind="activations", status="complete",
                       params={"model": model, "dataset": dataset}):
        if run.params.get("split", "test") == split:
            out[sample_key(run.params)] = run  # oldest first: the newest wins
    return out


def activation_pair(ws, dense: str, pruned: str, dataset: str, split: str = "test"
                    ) -> tuple[object | None, object | None, tuple]:
    """``(run_dense, run_pruned, key)``: stored runs of the same samples when both exist
    (the default draw first, then the newest pair); else what exists at the default key
    (None where a model still needs extracting) and that key."""
    a, b = _complete(ws, dense, dataset, split), _complete(ws, pruned, dataset, split)
    default = _default_key(ws, dataset, split)
    common = [k for k in a if k in b]
    if default in common or not common:
        return a.get(default), b.get(default), default
    key = max(common, key=lambda k: max(a[k].record.created_at, b[k].record.created_at))
    return a[key], b[key], key


def _ensure_pair(ws, request, ctx, steps_after: int) -> tuple[object, object, int, int]:
    """Find or extract the two activation runs; returns them, the next step and count."""
    from visualizer.analysis.activations import ExtractRequest, extract_activations

    run_a, run_b, _ = activation_pair(ws, request.dense, request.pruned, request.dataset,
                                      request.split)
    missing = [m for m, r in ((request.dense, run_a), (request.pruned, run_b)) if r is None]
    count, step, made = len(missing) + steps_after, 0, {}
    for model in missing:
        ctx.check_cancelled()
        sub = _Step(ctx, step, count, f"activations of {model}")
        made[model] = ws.run(extract_activations(ExtractRequest(
            workspace=str(ws.root), model=model, dataset=request.dataset,
            split=request.split, limit=LIMIT, seed=SEED, device=request.device), sub))
        step += 1
    return made.get(request.dense, run_a), made.get(request.pruned, run_b), step, count


def dataset_of(ws, pruned: str) -> str | None:
    """The dataset a pruned model was pruned and evaluated on (catalog only); None
    for a model without lineage."""
    from visualizer.analysis.pruning.derived import lineage

    info = lineage(ws.catalog.model(pruned)) or {}
    if info.get("dataset"):
        return info["dataset"]
    return ws.run(info["run"]).params.get("dataset") if info.get("run") else None


@dataclass(frozen=True)
class PairRequest:
    workspace: str
    dense: str
    pruned: str
    dataset: str
    split: str = "test"
    device: str = "auto"


@dataclass
class CkaData:
    """A stored ``cka`` run as the panel shows it."""

    run_id: str
    run_a: str
    run_b: str
    model_a: str
    model_b: str
    layers_a: list[str]
    layers_b: list[str]
    matrix: np.ndarray  # (La, Lb): rows = dense layers, columns = pruned layers
    common: list[str]
    per_layer: np.ndarray  # (len(common),)
    n_samples: int
    reused: bool = False


def read_cka(ws, run_id: str, reused: bool = False) -> CkaData:
    run = ws.run(run_id)
    with run.arrays() as arrays:
        matrix = np.asarray(arrays["matrix"][()], dtype=np.float64)
        per_layer = np.asarray(arrays["per_layer"][()], dtype=np.float64)
    p = run.params
    return CkaData(run.id, p["run_a"], p["run_b"], p.get("model_a", "?"),
                   p.get("model_b", "?"), list(p["layers_a"]), list(p["layers_b"]), matrix,
                   list(p.get("common_layers", [])), per_layer, int(p.get("n_samples", 0)),
                   reused)


def stored_cka(ws, dense: str, pruned: str):
    """The newest complete ``cka`` run of dense (rows) vs pruned (columns), or None
    (one catalog query; the run file is read by :func:`load_cka`)."""
    runs = ws.runs(kind="cka", status="complete", params={"model_a": dense, "model_b": pruned})
    return runs[-1] if runs else None


@dataclass(frozen=True)
class LoadCkaRequest:
    workspace: str
    run_id: str


def load_cka(request: LoadCkaRequest, ctx) -> CkaData:
    """Job: read a stored ``cka`` run."""
    from visualizer.workspace.workspace import Workspace

    return read_cka(Workspace(request.workspace), request.run_id, reused=True)


def compare_representations(request: PairRequest, ctx) -> CkaData:
    """Job: activation runs of both models on the same samples (found or extracted), then
    linear CKA between every layer pair (a stored run of the same pair is reused)."""
    from visualizer.analysis.pruning.cka import cka_ex
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    run_a, run_b, step, count = _ensure_pair(ws, request, ctx, steps_after=1)
    ctx.check_cancelled()
    run, reused = cka_ex(ws, run_a.id, run_b.id, ctx=_Step(ctx, step, count, "CKA"))
    ctx.progress(100, 100)
    return read_cka(ws, run.id, reused=reused)


@dataclass(frozen=True)
class EmbedRequest(PairRequest):
    layer: str | None = None  # None: the penultimate layer both runs hold
    method: str = "pca"
    run_a: str | None = None  # activation runs to use (else found or extracted)
    run_b: str | None = None


def common_layers(run_a, run_b) -> list[str]:
    theirs = set(run_b.params.get("layers", []))
    return [name for name in run_a.params.get("layers", []) if name in theirs]


def penultimate(layers: list[str]) -> str | None:
    """The last layer before the logits (the Embedding view's default too)."""
    return (layers[-2] if len(layers) >= 2 else layers[-1]) if layers else None


def project_pair(request: EmbedRequest, ctx) -> dict:
    """Job: projections of one layer of both activation runs; returns ``{"run": dense
    projection, "compare": pruned projection, "layer": ...}`` for the Embedding view."""
    from visualizer.analysis.projection.api import project_ex
    from visualizer.errors import DeepScopeError
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    if request.run_a and request.run_b:
        run_a, run_b, step, count = ws.run(request.run_a), ws.run(request.run_b), 0, 2
    else:
        run_a, run_b, step, count = _ensure_pair(ws, request, ctx, steps_after=2)
    layers = common_layers(run_a, run_b)
    layer = request.layer or penultimate(layers)
    if layer not in layers:
        raise DeepScopeError(f"layer {layer!r} is not in both activation runs "
                             f"({run_a.id}, {run_b.id}).",
                             fix=f"pick one of: {', '.join(layers) or 'none in common'}.")
    out = {"layer": layer}
    for key, run in (("run", run_a), ("compare", run_b)):
        ctx.check_cancelled()
        sub = _Step(ctx, step, count, f"{request.method.upper()} of {layer} "
                                      f"({run.params.get('model')})")
        out[key] = project_ex(ws, run.id, layer, request.method, ctx=sub)[0].id
        step += 1
    ctx.progress(100, 100)
    return out


@dataclass(frozen=True)
class ForgottenRequest:
    workspace: str
    model: str  # a pruned model


@dataclass
class ForgottenData:
    samples: object  # visualizer.analysis.pruning.results.ForgottenSamples
    dataset: str
    images: np.ndarray | None  # the split's inputs, indexed by sample position
    value_range: tuple[float, float] = (0.0, 1.0)
    class_names: tuple[str, ...] = ()
    thumbnails_error: str | None = None  # why ``images`` is None (said in the panel)


def load_forgotten(request: ForgottenRequest, ctx) -> ForgottenData:
    """Job: the pruning run's per-sample columns and the split's inputs (thumbnails)."""
    from visualizer.analysis.pruning.results import forgotten_samples
    from visualizer.samples import split_samples
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    ctx.status(f"reading what {request.model} forgot")
    samples = forgotten_samples(ws, request.model)  # says so if it is not a pruned model
    dataset = dataset_of(ws, request.model)
    ctx.check_cancelled()
    try:
        split = split_samples(ws, dataset, samples.split)
    except Exception as exc:  # noqa: BLE001 - thumbnails are optional; the counts still show
        log.warning("no thumbnails for %s: cannot read the %s split of %s",
                    request.model, samples.split, dataset, exc_info=True)
        return ForgottenData(samples, dataset, None,
                             thumbnails_error=f"{type(exc).__name__}: {exc}")
    return ForgottenData(samples, dataset, split.x, split.input_range,
                         tuple(split.class_names))


@dataclass(frozen=True)
class CurvesRequest:
    workspace: str
    model: str  # a pruned model


def load_curves(request: CurvesRequest, ctx) -> dict | None:
    """Job: the stored fine-tuning curves of a pruned model (``results.curves``: read
    from its pruning run, so never on the GUI thread); None when it has none."""
    from visualizer.analysis.pruning.results import curves
    from visualizer.workspace.workspace import Workspace

    ctx.status(f"reading the fine-tuning curves of {request.model}")
    return curves(Workspace(request.workspace), request.model)


@dataclass(frozen=True)
class SideBySideRequest:
    workspace: str
    dense: str
    pruned: str
    dataset: str
    sample_ids: tuple[int, ...]
    method: str = "saliency"
    split: str = "test"
    device: str = "auto"


@dataclass
class SideBySide:
    """One method's maps of the same samples on both models, in ``sample_ids`` order."""

    method: str
    sample_ids: np.ndarray
    images: np.ndarray  # (n, *input shape)
    value_range: tuple[float, float]
    label: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)  # model -> (n, *input)
    prediction: dict[str, np.ndarray] = field(default_factory=dict)  # model -> (n,)
    runs: dict[str, str] = field(default_factory=dict)  # model -> attribution run id


def attribute_pair(request: SideBySideRequest, ctx) -> SideBySide:
    """Job: ``request.method`` on the dense and on the pruned model for the same samples
    (two ``attribution`` runs, kept: the Attribution view lists them too)."""
    from visualizer.analysis.attribution.api import build_request
    from visualizer.analysis.attribution.job import attribute_job
    from visualizer.samples import split_samples
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    ids = np.asarray(request.sample_ids, dtype=np.int64)
    split = split_samples(ws, request.dataset, request.split)
    out = SideBySide(request.method, ids, np.asarray(split.x[ids]), split.input_range,
                     np.asarray(split.y[ids], dtype=np.int64))
    for k, model in enumerate((request.dense, request.pruned)):
        ctx.check_cancelled()
        # metrics off: the grid shows maps only, and faithfulness curves cost most
        attr = build_request(ws, model, request.dataset, request.method,
                             sample_ids=tuple(int(i) for i in ids), split=request.split,
                             metrics=False, progressive=False, device=request.device)
        run_id = attribute_job(attr, _Step(ctx, k, 2, f"{request.method} on {model}"))
        with ws.run(run_id).arrays() as arrays:
            rows = _rows_of(np.asarray(arrays["sample_index"][()], dtype=np.int64), ids)
            out.maps[model] = np.asarray(arrays["attributions"][()])[rows]
            out.prediction[model] = np.asarray(arrays["prediction"][()], np.int64)[rows]
        out.runs[model] = run_id
    ctx.progress(100, 100)
    return out


def _rows_of(index: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rows of ``index`` holding ``ids``, in the order of ``ids``."""
    where = {int(s): r for r, s in enumerate(index)}
    return np.array([where[int(s)] for s in ids], dtype=np.int64)


def activations_pair(request: PairRequest, ctx) -> tuple[str, str]:
    """Job: the activation runs of both models on the same samples (found, or extracted
    with the default draw), for the Layers view (the pruned model, and its parent in
    the Compare tab); returns ``(dense run id, pruned run id)``."""
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    run_a, run_b, _, _ = _ensure_pair(ws, request, ctx, steps_after=0)
    return run_a.id, run_b.id
