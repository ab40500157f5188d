"""The attribution job: maps of one method for samples of a dataset split, as a run.

Arrays of an ``attribution`` run (all per sample, in the order of ``sample_index``):
``attributions`` (N, *input shape), ``sample_index``, ``target``, ``label``,
``prediction``, ``confidence``, ``top_classes``/``top_probs`` (N, k), ``n_nonfinite``;
``delta``, ``relative_delta``, ``n_steps_used`` and ``converged`` for methods with a
convergence delta; ``layer_attributions`` (N, *layer output shape) for layer methods
whose result lives in the layer (``attributions`` then holds the map upsampled to the
input); and with metrics on: ``deletion_auc``, ``insertion_auc``, ``deletion_curve``,
``insertion_curve`` (N, S+1), ``infidelity``, ``sensitivity`` (NaN where not computed).
"""

from __future__ import annotations

import contextlib
import math
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from visualizer.errors import DeepScopeError, NotFoundError
from visualizer.jobs.contract import JobContext
from visualizer.workspace.model_pool import HOOK_KINDS

_LAYER_INFOS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
ESCALATION = (200, 1000)
CONVERGED_REL = 1e-2
COARSE_STEPS = 8
COARSE_SAMPLES = 16


@dataclass(frozen=True)
class AttributeRequest:
    workspace: str
    model: str
    dataset: str
    method: str = "integrated_gradients"
    split: str = "test"
    limit: int | None = None
    sample_ids: tuple[int, ...] | None = None
    target: str | int = "pred"
    baseline: str = "zeros"
    layer: str | None = None
    params: tuple[tuple[str, Any], ...] = ()
    smooth: str | None = None
    nt_samples: int = 10
    nt_stdevs: float = 0.1
    device: str = "auto"
    batch_size: int | None = None
    seed: int = 0
    metrics: bool = True
    sensitivity_samples: int = 16
    escalate: bool = True
    progressive: bool = True


@dataclass
class Prepared:
    """Everything the loop needs, loaded once."""

    ws: Any
    manager: Any
    contribution: Any
    spec: Any
    model: Any
    device: str
    x: np.ndarray
    y: np.ndarray
    index: np.ndarray
    params: dict[str, Any]
    layer: str | None
    maker: Any
    input_range: tuple[float, float]
    n_classes: int
    layer_infos: list[Any]
    sampling: dict[str, Any]  # limit, sample_seed, sampling: how ``index`` was chosen


@contextlib.contextmanager
def prepared(request: AttributeRequest, ctx: JobContext) -> Iterator[Prepared]:
    """Everything a job needs; the model is borrowed from the pool for the block."""
    from plugins.manager import get_manager
    from visualizer.jobs.device import resolve_device
    from visualizer.workspace import model_pool
    from visualizer.workspace.workspace import Workspace

    check_request(request)
    ctx.status("loading model and data")
    manager = get_manager()
    contribution = manager.get("attribution_methods", request.method)
    spec = manager.load(contribution).spec
    ws = Workspace(request.workspace)
    device = resolve_device(request.device)
    with model_pool.borrow(ws, request.model, device) as model:
        yield _prepare(request, ws, manager, contribution, spec, model, device)


def _prepare(request, ws, manager, contribution, spec, model, device) -> Prepared:
    import torch

    from visualizer.analysis.attribution.adapter import default_layer
    from visualizer.analysis.attribution.baselines import BaselineMaker
    from visualizer.models.introspection import describe_layers
    from visualizer.samples import split_samples

    # the per-process cache shared with the views: a second run does not re-read the data
    samples = split_samples(ws, request.dataset, request.split)
    x_all, y_all = samples.x, samples.y
    if request.sample_ids is not None:
        index = np.asarray(request.sample_ids, dtype=np.int64)
        if len(index) and (index.min() < 0 or index.max() >= len(x_all)):
            raise NotFoundError(f"sample ids outside the {request.split} split "
                                f"(0..{len(x_all) - 1}).", fix="pick samples of this split.")
        sample = None
    else:
        from visualizer.data.sampling import sample_split

        # a seeded sample that keeps the split's class proportions, never the first N
        sample = sample_split(y_all, request.limit, request.seed)
        index = sample.index
    if len(index) == 0:
        raise NotFoundError(f"no samples to explain in split {request.split!r}.",
                            fix="choose another split, or a larger --limit.")
    x, y = np.ascontiguousarray(x_all[index]), y_all[index]
    params = spec.with_defaults(dict(request.params))
    # one forward pass with hooks tells layer shapes to the batch plan and the default
    # layer; pooled modules come back unchanged, so the answer is kept per module
    key = (tuple(x.shape[1:]), str(x.dtype), str(device))
    known = _LAYER_INFOS.setdefault(model, {})
    if key not in known:
        known[key] = describe_layers(model, torch.from_numpy(x[:1]).to(device))
    layer_infos = known[key]
    layer = request.layer
    if spec.layer:
        layer = layer or default_layer(layer_infos)
        check_layer(spec, layer, layer_infos, x, request.model)
    if request.target is not None:
        check_target(request.target, len(samples.class_names))
    train_x = None
    if request.baseline in ("mean", "blur"):
        try:
            train_x = split_samples(ws, request.dataset, "train").x
        except Exception:  # noqa: BLE001 - a dataset without a train split
            train_x = x_all
    input_range = samples.input_range
    maker = BaselineMaker(request.baseline, train_x, input_range, seed=request.seed)
    sampling = sample.params() if sample is not None else {
        "limit": request.limit, "sample_seed": None, "sampling": "given"}
    return Prepared(ws, manager, contribution, spec, model, device, x, y, index, params,
                    layer, maker, input_range, len(samples.class_names), layer_infos,
                    sampling)


FEATURE_METHODS_HINT = ("on a model of feature vectors use a feature method such as "
                        "integrated_gradients, deeplift, feature_ablation or kernel_shap")


def check_layer(spec, layer: str | None, layer_infos, x: np.ndarray, model: str) -> None:
    """Layer methods show their maps upsampled onto the input: that needs image inputs
    and a layer with a spatial output. Say so before any work, not as a shape error."""
    if not layer:
        raise DeepScopeError(
            f"{spec.title} needs a layer, and model {model!r} has no layer with a spatial "
            "output to choose by default.",
            fix=f"pass --layer NAME (a convolutional layer); {FEATURE_METHODS_HINT}.")
    info = next((i for i in layer_infos if i.name == layer), None)
    if info is None:  # before any run exists, so a typo leaves no failed run behind
        names = [i.name for i in layer_infos if i.output_shape is not None]
        raise NotFoundError(
            f"layer {layer!r} is not a layer of model {model!r}.",
            fix=f"choose from: {', '.join(names[:40])}" + (" ..." if len(names) > 40 else "."))
    if not (spec.layer_output or spec.captum == "GuidedGradCam"):
        return
    shape = info.output_shape
    if x.ndim != 4 or shape is None or len(shape) != 3:
        got = "×".join(map(str, shape)) if shape else "not a single tensor"
        raise DeepScopeError(
            f"{spec.title} maps layer {layer!r} of model {model!r} (output {got}) onto the "
            "input by upsampling, which needs image inputs and a layer with a channels × "
            "height × width output.",
            fix=f"choose a convolutional layer; {FEATURE_METHODS_HINT}.")


def check_target(target, n_classes: int) -> None:
    """``pred``, ``label`` or a class index below ``n_classes``, said before any work."""
    from visualizer.analysis.attribution.targets import parse_target

    parsed = parse_target(target)
    if isinstance(parsed, int) and not 0 <= parsed < n_classes:
        raise DeepScopeError(f"target class {parsed} is out of range: the dataset has "
                             f"{n_classes} classes.",
                             fix=f"use pred, label or a class index in 0..{n_classes - 1}.")


def check_request(request: AttributeRequest) -> None:
    """Numbers that must be positive, checked before the model is loaded."""
    from visualizer.analysis.activations import check_request_numbers

    check_request_numbers(limit=request.limit, batch_size=request.batch_size,
                          nt_samples=request.nt_samples if request.smooth else None,
                          n_steps=dict(request.params).get("n_steps"))


def attribute_job(request: AttributeRequest, ctx: JobContext) -> str:
    """Job: a new ``attribution`` run; returns its id."""
    with prepared(request, ctx) as p:
        return _attribute(p, request, ctx)


def _attribute(p: Prepared, request: AttributeRequest, ctx: JobContext) -> str:
    import torch

    from visualizer.analysis.attribution.outputs import Outputs
    from visualizer.analysis.attribution.predictions import (
        can_read_from_method_pass,
        class_columns,
        predict,
        record_logits,
    )
    from visualizer.analysis.attribution.targets import parse_target, resolve_targets
    from visualizer.workspace.provenance import base_provenance
    from visualizer.workspace.runfile import RunFileWriter

    spec, x, n = p.spec, p.x, len(p.x)
    ctx.check_cancelled()
    plan = plan_batches(p, request)
    from_method_pass = can_read_from_method_pass(spec, request, p.model)
    logits = targets = None
    if not from_method_pass:
        # The attribution batch size also suits the forward pass: on a CPU a few large
        # batches were twice as slow as many small ones (cache-bound convolutions).
        logits = predict(p.model, x, p.device, batch=plan["batch_size"])
        targets = resolve_targets(parse_target(request.target), logits.argmax(axis=1), p.y,
                                  logits.shape[1])

    params = {"model": request.model, "dataset": request.dataset, "split": request.split,
              "method": spec.id, "plugin": p.contribution.id, "layer": p.layer,
              "target": str(request.target), "baseline": request.baseline,
              "method_params": p.params, "smooth": request.smooth,
              "nt_samples": request.nt_samples if request.smooth else None,
              "nt_stdevs": request.nt_stdevs if request.smooth else None,
              "n_steps": p.params.get("n_steps"), **p.sampling,
              "seed": request.seed, "device": p.device, "signed": bool(spec.signed),
              "batch_size": plan["batch_size"],
              "internal_batch_size": plan["internal_batch_size"],
              "metrics": request.metrics}
    provenance = base_provenance(
        model_sha256=p.ws.catalog.model(request.model).sha256,
        data_sha256=p.ws.catalog.dataset(request.dataset).sha256,
        device=p.device, seed=request.seed, torch_threads=torch.get_num_threads())
    has_delta = bool(spec.has_delta) and not request.smooth
    started = time.perf_counter()

    with p.ws.new_run("attribution", model=request.model, dataset=request.dataset,
                      params=params, provenance=provenance) as run, \
            RunFileWriter(run.path, "attribution", {"run_id": run.id,
                                                    "method": spec.id}) as w:
        w.put("sample_index", p.index)
        w.put("label", p.y.astype(np.int64))
        out = Outputs(w, n)
        if request.progressive and "n_steps" in p.params and not request.smooth:
            coarse(p, request, targets, plan, ctx)
        bs = plan["batch_size"]
        seen_logits, seen_targets = [], []  # the class columns are computed once, at the end
        for start in range(0, n, bs):
            ctx.check_cancelled()
            stop = min(n, start + bs)
            xb = torch.from_numpy(x[start:stop]).to(p.device)
            base = baselines_for(p, xb, start)
            if from_method_pass:
                with record_logits(p.model) as seen:
                    result = run_batch(p, request, xb, None, base, start, plan, has_delta)
                batch_logits = seen.logits
                batch_targets = batch_logits.argmax(axis=1)
            else:
                batch_logits, batch_targets = logits[start:stop], targets[start:stop]
                result = run_batch(p, request, xb, torch.from_numpy(batch_targets).to(p.device),
                                   base, start, plan, has_delta)
            tb = torch.from_numpy(batch_targets).to(p.device)
            seen_logits.append(batch_logits)
            seen_targets.append(batch_targets)
            out.write(start, result)
            ctx.partial({"stage": "batch", "run_id": run.id, "start": start,
                         "sample_index": p.index[start:stop],
                         "attributions": result["attributions"]})
            if request.metrics:
                ctx.status(f"metrics {start}-{stop} of {n}")
                out.write(start, batch_metrics(p, request, xb, tb, base, result, start))
            ctx.progress(stop, n)
        out.write(0, class_columns(np.concatenate(seen_logits), np.concatenate(seen_targets)))
        out.flush()
        seconds = time.perf_counter() - started
        run.metrics = out.summary(spec, seconds,
                                  float(np.mean(out.column("prediction") == p.y)))
        ctx.status("publishing")
        w.publish()
    return run.id


def plan_batches(p: Prepared, request: AttributeRequest) -> dict[str, int | None]:
    """Batch size and captum's ``internal_batch_size`` from a memory budget.

    The cost of one row (one input through the model with gradients) is estimated from
    the layer output sizes; the budget is 512 MiB on the CPU and a quarter of the free
    memory on a GPU.
    """
    import torch

    act = sum(math.prod(i.output_shape) for i in p.layer_infos
              if i.is_leaf and i.output_shape)
    row_bytes = 4 * 3 * max(act, math.prod(p.x.shape[1:]))
    budget = 512 << 20
    if p.device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(p.device))
        budget = max(budget, free // 4)
    rows = max(1, budget // row_bytes)
    spec = p.spec
    expansion = 1
    if request.smooth:
        expansion *= int(request.nt_samples)
    if spec.id == "gradient_shap":
        expansion *= int(p.params.get("n_samples", 5))
    if spec.id == "deeplift_shap":
        expansion *= int(p.params.get("n_baselines", 8))
    batch = request.batch_size or int(min(64, max(1, rows // expansion)))
    steps = int(p.params.get("n_steps", 1))
    internal = None
    if "n_steps" in p.params and batch * steps > rows:
        internal = int(rows)
    if spec.family == "perturbation":
        internal = int(min(rows, 4096))
    return {"batch_size": batch, "internal_batch_size": internal, "row_bytes": row_bytes}


def baselines_for(p: Prepared, xb, start: int):
    if p.spec.baselines == "distribution":
        return p.maker.distribution(xb, int(p.params.get("n_baselines", 8)))
    return p.maker.per_input(xb, start)


def call_method(p: Prepared, request, xb, tb, base, start, plan, *, delta=False, **overrides):
    import torch

    kwargs = dict(p.params, **overrides)
    kwargs.pop("n_baselines", None)
    if p.spec.baselines != "none":
        kwargs["baselines"] = base
    if p.spec.layer:
        kwargs["layer"] = p.layer
    if request.smooth:
        kwargs.update(smooth=request.smooth, nt_samples=request.nt_samples,
                      nt_stdevs=request.nt_stdevs)
    if delta:
        kwargs["return_convergence_delta"] = True
    if plan.get("internal_batch_size"):
        kwargs["internal_batch_size"] = plan["internal_batch_size"]
    kwargs["seed"] = request.seed + start
    with torch.enable_grad(), hook_guard(p.model):
        return p.manager.call(p.contribution, p.model, xb, tb, **kwargs)


def run_batch(p: Prepared, request, xb, tb, base, start, plan, has_delta) -> dict[str, Any]:
    """One batch: attributions (with escalation of n_steps until converged)."""
    from visualizer.analysis.attribution.metrics import relative_delta

    out = call_method(p, request, xb, tb, base, start, plan, delta=has_delta)
    result: dict[str, Any] = {}
    if has_delta:
        attr, delta = out
        delta = per_sample_delta(delta, len(xb))
        rel = relative_delta(attr, delta)
        steps = np.full(len(xb), int(p.params.get("n_steps", 0)), dtype=np.int32)
        if request.escalate and "n_steps" in p.params:
            for more in ESCALATION:
                bad = np.flatnonzero(~(rel <= CONVERGED_REL))
                if not len(bad) or more <= steps.max():
                    continue
                sub = _take(base, bad, len(xb))
                a2, d2 = call_method(p, request, xb[bad], tb[bad], sub, start, plan,
                                     delta=True, n_steps=more)
                attr, delta = attr.clone(), delta.clone()
                d2 = per_sample_delta(d2, len(bad))
                attr[bad], delta[bad] = a2.to(attr.dtype), d2.to(delta.dtype)
                rel[bad] = relative_delta(a2, d2)
                steps[bad] = more
        result.update(delta=delta.detach().float().cpu().numpy(), relative_delta=rel)
        if "n_steps" in p.params:  # a path integral: the delta says whether it converged
            result.update(n_steps_used=steps, converged=rel <= CONVERGED_REL)
    else:
        attr = out
    result["raw"] = attr.detach()
    if p.spec.layer and p.spec.layer_output:
        result["layer_attributions"] = attr.detach().float().cpu().numpy()
        attr = to_input_space(attr.detach(), xb)
    a = attr.detach().float().cpu().numpy()
    result["attributions"] = a
    result["input_attr"] = attr.detach()
    result["n_nonfinite"] = (~np.isfinite(a.reshape(len(a), -1))).sum(axis=1).astype(np.int64)
    return result


def per_sample_delta(delta, n: int):
    """Distribution methods return one delta per (sample, draw): average per sample."""
    delta = delta.detach().reshape(-1)
    return delta if len(delta) == n else delta.view(n, -1).mean(dim=1)


def _take(base, idx, n):
    if base is not None and len(base) == n:
        return base[idx]
    return base


def to_input_space(layer_attr, xb):
    """A layer map summed over channels and upsampled (bilinear) to the input's size."""
    import torch.nn.functional as F


    if layer_attr.dim() != 4 or xb.dim() != 4:  # check_layer says this before any work
        raise DeepScopeError(
            "this layer's output has no spatial dimensions to map back onto the input.",
            fix=f"choose a convolutional layer; {FEATURE_METHODS_HINT}.")
    summed = layer_attr.float().sum(dim=1, keepdim=True)
    up = F.interpolate(summed, size=tuple(xb.shape[2:]), mode="bilinear", align_corners=False)
    return up.expand(-1, xb.shape[1], -1, -1).contiguous()


def coarse(p: Prepared, request, targets, plan, ctx) -> None:
    """Progressive Integrated Gradients: a few samples with few steps, shown at once."""
    import torch

    k = min(COARSE_SAMPLES, len(p.x))
    xb = torch.from_numpy(p.x[:k]).to(p.device)
    tb = torch.from_numpy(targets[:k]).to(p.device)
    ctx.status(f"coarse preview ({COARSE_STEPS} steps)")
    attr = call_method(p, request, xb, tb, baselines_for(p, xb, 0), 0, plan,
                       n_steps=COARSE_STEPS)
    if p.spec.layer and p.spec.layer_output:
        attr = to_input_space(attr.detach(), xb)
    ctx.partial({"stage": "coarse", "start": 0, "sample_index": p.index[:k],
                 "attributions": attr.detach().float().cpu().numpy()})


def batch_metrics(p: Prepared, request, xb, tb, base, result, start) -> dict[str, Any]:
    import torch

    from visualizer.analysis.attribution import metrics as M

    attr = result["input_attr"]
    per_input = base if base is not None and base.shape == xb.shape else \
        p.maker.per_input(xb, start)
    with torch.no_grad():
        d_curve, i_curve, d_auc, i_auc = M.deletion_insertion(p.model, xb, attr, tb, per_input)
    lo, hi = p.input_range
    scale = 0.1 * (hi - lo if hi > lo else 1.0)
    infid = M.infidelity(p.model, xb, attr, tb, seed=request.seed + start, scale=scale)
    sens = np.full(len(xb), np.nan, dtype=np.float32)
    n_sens = max(0, min(len(xb), request.sensitivity_samples - start))
    if n_sens:
        plan = {"internal_batch_size": None}

        def explain(inputs, target, baselines=None):
            if isinstance(inputs, tuple):  # captum's metrics pass formatted tuples
                inputs = inputs[0]
            if isinstance(baselines, tuple):
                baselines = baselines[0]
            return (call_method(p, request, inputs, target, baselines, start, plan),)

        sub_base = per_input[:n_sens] if p.spec.baselines == "input" else None
        if p.spec.baselines == "distribution":
            sub_base = base
        sens[:n_sens] = M.sensitivity(explain, xb[:n_sens], tb[:n_sens], sub_base,
                                      seed=request.seed + start, radius=0.02 * (hi - lo))
    return {"deletion_curve": d_curve, "insertion_curve": i_curve, "deletion_auc": d_auc,
            "insertion_auc": i_auc, "infidelity": infid, "sensitivity": sens}


class hook_guard:
    """Remove any module hook that appeared during the block (a plugin that forgot one)."""

    KINDS = HOOK_KINDS

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        # only the non-empty registries: most modules have no hooks, and this runs per batch
        self.before = {(id(m), k): set(hooks) for m in self.model.modules()
                       for k in self.KINDS if (hooks := getattr(m, k, None))}
        return self

    def __exit__(self, *exc):
        for m in self.model.modules():
            for k in self.KINDS:
                hooks = getattr(m, k, None)
                if not hooks:
                    continue
                for key in set(hooks) - self.before.get((id(m), k), set()):
                    hooks.pop(key, None)
        return False
