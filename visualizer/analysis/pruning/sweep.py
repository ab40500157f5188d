"""Sweeps: methods × sparsities under one schedule, as one resumable parent run.

A ``prune_sweep`` run is the parent; each point is an ordinary ``pruning`` run that makes
one derived model, keyed by a hash of what it is made from (:func:`.derived.request_key`).
Running the same sweep again (after a cancel, a crash or ``kill -9``) keeps every point
whose run is complete and whose model is still there, and computes only the rest; a
point that died after its model row was written but before its run completed is removed
and made again, so the catalog never keeps a model without a complete run behind it. A
point that another live process is still making is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from visualizer.analysis.pruning.job import KIND as POINT_KIND
from visualizer.analysis.pruning.job import PruneRequest, check_request, resolve_method
from visualizer.analysis.pruning.table import DEFAULT_SPARSITIES
from visualizer.errors import DeepScopeError

KIND = "prune_sweep"
_SHARED = tuple(f.name for f in fields(PruneRequest)
                if f.name not in ("method", "sparsity", "name", "sweep", "params"))


@dataclass(frozen=True)
class SweepRequest:
    workspace: str
    model: str
    dataset: str
    methods: tuple[str, ...]
    sparsities: tuple[float, ...] = DEFAULT_SPARSITIES
    structured: bool = False
    schedule: str = "oneshot"
    layers: tuple[str, ...] | None = None
    include_classifier: bool = False
    optimizer: str = "sgd"
    lr: float = 0.01
    epochs: int = 3
    batch_size: int = 64
    imp_rounds: int = 3
    seed: int = 0
    device: str = "cpu"
    # method parameters, (name, value) pairs: each point takes those its method declares
    params: tuple[tuple[str, Any], ...] = ()

    def points(self) -> list[PruneRequest]:
        """One pruning request per (method, sparsity), methods outermost."""
        shared = {k: getattr(self, k) for k in _SHARED}
        out = []
        for m in self.methods:
            spec = resolve_method(m)[1].spec
            own = spec.check_params({k: v for k, v in self.params if spec.param(k)})
            out += [PruneRequest(method=m, sparsity=float(s), params=tuple(sorted(own.items())),
                                 **shared) for s in self.sparsities]
        return out


def check_sweep(request: SweepRequest) -> None:
    """Every point can start: known methods that fit the mode, sparsities in [0, 1),
    parameters that some method of the sweep declares."""
    from visualizer.analysis.pruning.unstructured import check_sparsity

    if not request.methods:
        raise DeepScopeError("a sweep needs at least one method.", fix="name them with --methods.")
    if not request.sparsities:
        raise DeepScopeError("a sweep needs at least one sparsity.",
                             fix="name them with --sparsities, e.g. 0.5,0.9.")
    for s in request.sparsities:
        check_sparsity(s)
    specs = {m: resolve_method(m)[1].spec for m in dict.fromkeys(request.methods)}
    declared = sorted({p.name for spec in specs.values() for p in spec.params})
    for name, _ in request.params:
        if name not in declared:
            raise DeepScopeError(
                f"no method of this sweep ({', '.join(specs)}) has a parameter {name!r}.",
                fix=f"their parameters: {', '.join(declared) or 'none'}.")
    points = request.points()
    for method, spec in specs.items():
        check_request(next(p for p in points if p.method == method), spec)


def finished_point(ws, point: PruneRequest):
    """The complete pruning run of this point whose model is still in the catalog, or
    None; a model left by a point that did not complete is removed here, unless a live
    process is still making it (:func:`.derived.half_made`)."""
    from visualizer.analysis.pruning import derived

    key = derived.request_key(point.key_fields())
    models = {m.name: m for m in ws.models()}
    for run in reversed(ws.runs(kind=POINT_KIND, status="complete", params={"key": key})):
        rec = models.get(run.params.get("model"))
        if rec is not None and (derived.lineage(rec) or {}).get("run") == run.id:
            return run
    for rec in models.values():  # a half-made point: its run never completed
        info = derived.lineage(rec) or {}
        if info.get("key") == key and derived.half_made(ws, rec):
            derived.remove(ws, rec.name)
    return None


class _PointContext:
    """A point's job context: its progress is a share of the sweep's, its partial
    results say which point they belong to."""

    def __init__(self, ctx, index: int, total: int, point: PruneRequest):
        self._ctx, self._index, self._total, self._point = ctx, index, total, point

    def progress(self, done: float, total: float | None = None) -> None:
        frac = (done / total) if total else 0.0
        self._ctx.progress(self._index + min(1.0, frac), self._total)

    def status(self, text: str) -> None:
        self._ctx.status(f"point {self._index + 1}/{self._total}: {text}")

    def partial(self, obj: Any) -> None:
        if isinstance(obj, dict):
            obj = {**obj, "point": self._index, "points": self._total,
                   "method": self._point.method, "sparsity": self._point.sparsity}
        self._ctx.partial(obj)

    def check_cancelled(self) -> None:
        self._ctx.check_cancelled()

    @property
    def cancelled(self) -> bool:
        return self._ctx.cancelled


def sweep_job(request: SweepRequest, ctx) -> str:
    """Job: every point of the sweep, skipping finished ones; returns the sweep run id."""
    from visualizer.analysis.pruning.job import prepare_parent, prune_job, pruned_layers
    from visualizer.jobs.device import resolve_device
    from visualizer.workspace.provenance import base_provenance
    from visualizer.workspace.runfile import RunFileWriter
    from visualizer.workspace.workspace import Workspace

    check_sweep(request)
    ws = Workspace(request.workspace)
    ws.catalog.model(request.model)
    points = request.points()
    if request.layers is not None:  # named layers: refused now, not at the first point
        pruned_layers(ws.load_model(request.model), points[0])
    device = resolve_device(request.device)
    params = {"model": request.model, "dataset": request.dataset, "split": "test",
              "methods": list(request.methods), "sparsities": list(request.sparsities),
              "structured": request.structured, "schedule": request.schedule,
              "layers": None if request.layers is None else list(request.layers),
              "include_classifier": request.include_classifier,
              "params": dict(request.params), "seed": request.seed, "n_points": len(points),
              "batch_size": request.batch_size,  # scoring batches of gradient methods too
              **({} if request.schedule == "oneshot" else
                 {"optimizer": request.optimizer, "lr": request.lr, "epochs": request.epochs}),
              **({"imp_rounds": request.imp_rounds} if request.schedule == "imp" else {})}
    done: list[dict[str, Any]] = []
    parent = None  # loaded at the first point that is not finished yet
    with ws.new_run(KIND, model=request.model, dataset=request.dataset, params=params,
                    provenance=base_provenance(seed=request.seed, device=device)) as sweep:
        for i, point in enumerate(points):
            ctx.check_cancelled()
            point = replace(point, sweep=sweep.id)
            run = finished_point(ws, point)
            reused = run is not None
            if run is None:
                if parent is None:
                    ctx.status(f"loading {request.model} and {request.dataset}")
                    parent = prepare_parent(ws, request.model, request.dataset, device)
                run = ws.run(prune_job(point, _PointContext(ctx, i, len(points), point),
                                       parent=parent))
            ctx.progress(i + 1, len(points))
            entry = {"method": run.params["method"], "sparsity": point.sparsity,
                     "model": run.params["model"], "run": run.id, "reused": reused,
                     "accuracy": run.metrics.get("accuracy"),
                     "achieved_sparsity": run.metrics.get("sparsity")}
            done.append(entry)
            ctx.partial({"kind": "sweep_point_done", **entry, "point": i,
                         "points": len(points)})
        with RunFileWriter(sweep.path, KIND, {"run_id": sweep.id}) as writer:
            writer.put("accuracy", np.array([d["accuracy"] for d in done], np.float32))
            writer.put("sparsity", np.array([d["achieved_sparsity"] for d in done], np.float32))
            writer.put("target_sparsity", np.array([d["sparsity"] for d in done], np.float32))
            writer.publish()
        ws.catalog.update_run(sweep.id, params={**params, "points": done})
        sweep.metrics = {"n_points": len(done), "reused": sum(d["reused"] for d in done),
                         "computed": sum(not d["reused"] for d in done),
                         "parent_accuracy": run.metrics.get("parent_accuracy")}
    return sweep.id
