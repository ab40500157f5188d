"""Two models side by side, layer by layer, for the layer names they share.

This is where a dense model and its pruned version are compared: for each common layer
the weights (norm, sparsity, relative change when the shapes match) and, from one
activation run of each model on the same dataset, the unit statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from visualizer.jobs.contract import JobContext


@dataclass(frozen=True)
class CompareRequest:
    """Compare ``model_a`` and ``model_b``; runs give activation statistics (optional)."""

    workspace: str
    model_a: str
    model_b: str
    run_a: str | None = None
    run_b: str | None = None
    layer: str | None = None  # per-unit detail for this layer


@dataclass
class LayerPair:
    """One shared layer name: ``a``/``b`` values per statistic (NaN when missing)."""

    name: str
    type_a: str
    type_b: str
    params_a: int
    params_b: int
    norm_a: float
    norm_b: float
    zero_a: float
    zero_b: float
    relative_change: float  # ||Wb - Wa|| / ||Wa|| when the shapes match, else NaN
    mean_a: float = float("nan")
    mean_b: float = float("nan")
    dead_a: float = float("nan")
    dead_b: float = float("nan")


@dataclass
class Comparison:
    model_a: str
    model_b: str
    pairs: list[LayerPair]
    only_a: list[str]
    only_b: list[str]
    run_a: str | None
    run_b: str | None
    layer: str | None = None
    unit_means: dict[str, np.ndarray] = field(default_factory=dict)  # "a"/"b" for layer


def newest_run(ws, model: str, dataset: str | None = None) -> str | None:
    """The newest complete activation run of ``model`` (on ``dataset`` if given)."""
    runs = [r for r in ws.runs(kind="activations", status="complete")
            if r.params.get("model") == model
            and (dataset is None or r.params.get("dataset") == dataset)]
    return runs[-1].id if runs else None


def compare_models(request: CompareRequest, ctx: JobContext) -> Comparison:
    """Job: weights and activation statistics of two models' same-named layers."""
    from visualizer.workspace import model_pool
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    ctx.status(f"loading {request.model_a} and {request.model_b}")
    with model_pool.borrow(ws, request.model_a) as ma, \
            model_pool.borrow(ws, request.model_b) as mb:
        return _compare(request, ctx, ws, ma, mb)


def _compare(request: CompareRequest, ctx: JobContext, ws, ma, mb) -> Comparison:
    from visualizer.analysis.layers.units import layer_summary, unit_table
    from visualizer.analysis.layers.weights import module_weights

    mods_a = {n: m for n, m in ma.named_modules() if n}
    mods_b = {n: m for n, m in mb.named_modules() if n}
    common = [n for n in mods_a if n in mods_b]
    stats: dict[str, dict[str, dict[str, float]]] = {"a": {}, "b": {}}
    unit_means: dict[str, np.ndarray] = {}
    for side, run_id in (("a", request.run_a), ("b", request.run_b)):
        if not run_id:
            continue
        with ws.run(run_id).arrays() as arrays:
            for layer in arrays.layers:
                if layer in mods_a and layer in mods_b:
                    ctx.check_cancelled()
                    table = unit_table(arrays, layer)
                    stats[side][layer] = layer_summary(table)
                    if layer == request.layer:
                        unit_means[side] = table.stats["mean"]
    pairs = []
    for name in common:
        ctx.check_cancelled()
        wa, wb = module_weights(ma, name), module_weights(mb, name)
        if not (wa.n_params or wb.n_params or name in stats["a"] or name in stats["b"]):
            continue  # a parameter-free layer with no statistics says nothing here
        change = float("nan")
        pa = getattr(mods_a[name], "weight", None)
        pb = getattr(mods_b[name], "weight", None)
        if pa is not None and pb is not None and tuple(pa.shape) == tuple(pb.shape):
            a = pa.detach().double().cpu().numpy()
            b = pb.detach().double().cpu().numpy()
            denom = float(np.linalg.norm(a)) or 1.0
            change = float(np.linalg.norm(b - a)) / denom
        sa, sb = stats["a"].get(name, {}), stats["b"].get(name, {})
        pairs.append(LayerPair(
            name=name, type_a=type(mods_a[name]).__name__, type_b=type(mods_b[name]).__name__,
            params_a=wa.n_params, params_b=wb.n_params, norm_a=wa.norm, norm_b=wb.norm,
            zero_a=wa.zero_fraction, zero_b=wb.zero_fraction, relative_change=change,
            mean_a=sa.get("mean_activation", float("nan")),
            mean_b=sb.get("mean_activation", float("nan")),
            dead_a=sa.get("dead_fraction", float("nan")),
            dead_b=sb.get("dead_fraction", float("nan"))))
    return Comparison(request.model_a, request.model_b, pairs,
                      only_a=[n for n in mods_a if n not in mods_b],
                      only_b=[n for n in mods_b if n not in mods_a],
                      run_a=request.run_a, run_b=request.run_b, layer=request.layer,
                      unit_means=unit_means)
