"""Model-randomisation sanity check (Adebayo et al., 2018), as a run of kind ``sanity``.

The layers that own parameters are re-initialised one by one from the output down,
cumulatively (cascading randomisation), and after each step the maps of the same
samples are recomputed and compared with the original maps by Spearman rank
correlation (of absolute values, as in the paper, and signed).

The verdict is read after the *top half* of the layers is random (``verdict_layers`` =
ceil(L/2)): a method whose maps still correlate (mean rho of |map| >= 0.5) with the
trained model's then explains the input more than what the upper model learned, and
fails. The paper's finding is exactly that invariance to the higher layers (guided
backprop); with every layer random even guided backprop's maps change (rho 0.28 on the
demo ResNet against 0.71 at the half), so a verdict read at the end would pass it.

Run arrays: ``layers`` (the randomised layer names, top down, as UTF-8 bytes),
``spearman_abs`` and ``spearman`` (L, N), ``sample_index``, ``maps`` (L+1, N, *input
shape: the original first). Metrics: ``verdict_spearman_abs`` and ``verdict_layers``
(the rho the verdict reads and after how many layers), ``verdict_spearman`` (signed,
same step), ``final_spearman_abs`` (every
layer random), ``passed`` (1/0) and ``threshold``; :func:`verdict_text` words them.
Params name the ``method``, ``model``, ``dataset`` and options like an
attribution run, so a view finds the check of the method it shows.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, fields, replace

import numpy as np

from visualizer.analysis.attribution.job import AttributeRequest
from visualizer.jobs.contract import JobContext

PASS_THRESHOLD = 0.5


@dataclass(frozen=True)
class SanityRequest(AttributeRequest):
    n_samples: int = 8

    @classmethod
    def from_attribute(cls, request: AttributeRequest, n_samples: int = 8) -> SanityRequest:
        values = {f.name: getattr(request, f.name) for f in fields(AttributeRequest)}
        return cls(**values, n_samples=n_samples)


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each row of ``a`` with the same row of ``b``."""
    from scipy.stats import rankdata

    a = np.nan_to_num(a.reshape(len(a), -1).astype(np.float64))
    b = np.nan_to_num(b.reshape(len(b), -1).astype(np.float64))
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(axis=1) / den, 0.0)


def cascade_layers(model, example) -> list[str]:
    """Modules that own parameters, from the output down (forward order reversed)."""
    from visualizer.models.introspection import describe_layers

    order = [i.name for i in describe_layers(model, example)]
    modules = dict(model.named_modules())
    own = [n for n in order if n and any(True for _ in modules[n].parameters(recurse=False))]
    return own[::-1]


def randomize(module, seed: int) -> None:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:
            for p in module.parameters(recurse=False):
                torch.nn.init.normal_(p, std=0.1)
        if hasattr(module, "reset_running_stats"):
            module.reset_running_stats()


def verdict_layers(n_layers: int) -> int:
    """How many layers, from the top, are random when the verdict is read."""
    return max(1, math.ceil(n_layers / 2)) if n_layers else 0


def verdict_text(method: str, metrics: dict) -> str:
    """The verdict of a sanity run in one sentence, for the view and the CLI."""
    k, n = metrics.get("verdict_layers"), metrics.get("n_layers")
    rho = metrics.get("verdict_spearman_abs")
    if k is None or rho is None:  # a run made before the verdict moved to the top half
        k, rho = n, metrics.get("final_spearman_abs", float("nan"))
    where = f"with the top {k} of {n} layers randomised"
    if metrics.get("passed"):
        return (f"{method} passes: {where} its maps keep a rank correlation of {rho:.2f} "
                f"with the trained model's (below {PASS_THRESHOLD}): they depend on what "
                "the model learned.")
    failed = (f"{method} FAILS the sanity check: {where} the magnitudes of its maps still "
              f"correlate {rho:.2f} with the trained model's.")
    signed = metrics.get("verdict_spearman")
    if signed is not None and signed < PASS_THRESHOLD:
        # input-times-gradient methods: |map| follows |input|, the signs follow the model
        return (f"{failed} The magnitudes come from the input multiplied in, but the signs "
                f"change with the model (signed rho {signed:.2f}): read which way an input "
                "pushes, not how much.")
    return (f"{failed} They reflect the input (edges) more than what the model learned; "
            "do not read them as explanations of the model.")


def sanity_job(request: SanityRequest, ctx: JobContext) -> str:
    """Job: a new ``sanity`` run for ``request.method``; returns its id."""
    from visualizer.analysis.attribution.job import prepared

    req = replace(request, limit=request.n_samples if request.sample_ids is None
                  else request.limit)
    with prepared(req, ctx) as p:
        return _sanity(p, req, request.n_samples, ctx)


def _sanity(p, req: SanityRequest, n_samples: int, ctx: JobContext) -> str:
    import torch

    from visualizer.analysis.attribution.job import (
        baselines_for,
        call_method,
        plan_batches,
        to_input_space,
    )
    from visualizer.analysis.attribution.predictions import predict
    from visualizer.analysis.attribution.targets import parse_target, resolve_targets
    from visualizer.workspace.provenance import base_provenance
    from visualizer.workspace.runfile import RunFileWriter

    p.x, p.y, p.index = p.x[:n_samples], p.y[:n_samples], p.index[:n_samples]
    logits = predict(p.model, p.x, p.device)
    targets = resolve_targets(parse_target(req.target), logits.argmax(1), p.y, logits.shape[1])
    xb = torch.from_numpy(p.x).to(p.device)
    tb = torch.from_numpy(targets).to(p.device)
    base = baselines_for(p, xb, 0)
    plan = plan_batches(p, req)
    plan["batch_size"] = len(p.x)
    original_model = p.model
    layers = cascade_layers(p.model, xb[:1])
    model = copy.deepcopy(original_model)
    p.model = model

    def maps() -> np.ndarray:
        out = call_method(p, req, xb, tb, base, 0, plan)
        if p.spec.layer and p.spec.layer_output:
            out = to_input_space(out.detach(), xb)
        return out.detach().float().cpu().numpy()

    started = time.perf_counter()
    ctx.status("original maps")
    all_maps = [maps()]
    rho_abs, rho = [], []
    modules = dict(model.named_modules())
    for k, name in enumerate(layers):
        ctx.check_cancelled()
        ctx.status(f"randomising {name}")
        randomize(modules[name], req.seed + k)
        current = maps()
        all_maps.append(current)
        rho_abs.append(spearman_rows(np.abs(all_maps[0]), np.abs(current)))
        rho.append(spearman_rows(all_maps[0], current))
        ctx.progress(k + 1, len(layers))
    rho_abs_arr = np.asarray(rho_abs, dtype=np.float32).reshape(len(layers), len(p.x))
    final = float(np.mean(rho_abs_arr[-1])) if len(layers) else float("nan")
    k_verdict = verdict_layers(len(layers))
    at_verdict = float(np.mean(rho_abs_arr[k_verdict - 1])) if len(layers) else float("nan")
    signed_at_verdict = float(np.mean(rho[k_verdict - 1])) if len(layers) else float("nan")
    passed = bool(at_verdict < PASS_THRESHOLD)
    params = {"model": req.model, "dataset": req.dataset, "split": req.split,
              "method": p.spec.id, "layer": p.layer, "target": str(req.target),
              "baseline": req.baseline, "method_params": p.params, "seed": req.seed,
              "n_samples": len(p.x), "device": p.device, "layers": layers,
              "threshold": PASS_THRESHOLD}
    provenance = base_provenance(device=p.device, seed=req.seed)
    with p.ws.new_run("sanity", model=req.model, dataset=req.dataset, params=params,
                      provenance=provenance) as run, \
            RunFileWriter(run.path, "sanity", {"run_id": run.id}) as w:
        w.put("layers", np.array([n.encode() for n in layers], dtype="S"))
        w.put("spearman_abs", rho_abs_arr)
        w.put("spearman", np.asarray(rho, dtype=np.float32).reshape(len(layers), len(p.x)))
        w.put("sample_index", p.index)
        w.put("maps", np.stack(all_maps).astype(np.float32))
        run.metrics = {"verdict_spearman_abs": at_verdict, "verdict_layers": k_verdict,
                       "verdict_spearman": signed_at_verdict,
                       "final_spearman_abs": final, "passed": int(passed),
                       "threshold": PASS_THRESHOLD, "n_layers": len(layers),
                       "seconds": round(time.perf_counter() - started, 3)}
        w.publish()
    return run.id
