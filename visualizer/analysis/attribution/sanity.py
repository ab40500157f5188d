"""Model-randomisation sanity check (Adebayo et al., 2018), as a run of kind ``sanity``.

The layers that own parameters are re-initialised one by one from the output down,
cumulatively (cascading randomisation), and after each step the maps of the same
samples are recomputed and compared with the original maps by Spearman rank
correlation (of absolute values, as in the paper, and signed).

The verdict is read after the *top half* of the layers is random (``verdict_layers`` =
ceil(L/2)): a method whose maps still correlate (mean rho of |map| >= 0.5) with the
trained model's then explains the input more than what the upper model learned, and
fails. The paper's finding is exactly that invariance to the higher layers (guided
backprop); with every layer random even guided backprop's maps change (rho about 0.3 on
the demo ResNet against above 0.6 at the half), so a verdict read at the end would pass it.

Stochastic methods keep one seed through the cascade, so that only the model changes
between steps. The control (family ``control``, maps that never read the model) is
redrawn at every step instead (seed + step): its correlation then falls to chance,
the floor of the plot, and it never passes.

Why a method fails is said from what the method table declares (:mod:`.table`:
``family``, ``multiplies``, ``modified_backward``) together with what the run measured
(:func:`verdict_reason`): a method is said to carry the input in only when its
magnitudes were measured to rank like ``|input - baseline|``, and a layer method's
activations are said unchanged only when they were measured so.

Run arrays: ``layers`` (the randomised layer names, top down, as UTF-8 bytes),
``spearman_abs`` and ``spearman`` (L, N), ``sample_index``, ``maps`` (L+1, N, *input
shape: the original first). Metrics: ``verdict_spearman_abs`` and ``verdict_layers``
(the rho the verdict reads and after how many layers), ``verdict_spearman`` (signed,
same step), ``final_spearman_abs`` (every layer random), ``input_spearman_abs`` and
``verdict_input_spearman_abs`` (rank correlation of |map| with ``|input - baseline|``,
trained and at the verdict step), ``verdict_layer_change`` (layer methods: relative
change of the layer's activations at the verdict step), ``passed`` (1/0) and
``threshold``; :func:`verdict_text` words them, :func:`warning_text` shortens them for
the gallery. Params name the ``method``, ``model``, ``dataset`` and options like an
attribution run, so a view finds the check of the method it shows, and
``properties``: the method's declared properties the verdict is explained by.
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


def input_reference(xb, base, baselines: str) -> np.ndarray | None:
    """``|input - baseline|`` per element as numpy (``|input|`` for a method without
    baselines; the mean draw stands for a distribution), or None if it cannot be made."""
    import torch

    if baselines == "none" or base is None:
        ref = xb
    else:
        b = base.mean(0, keepdim=True) if baselines == "distribution" else base
        try:
            ref = xb - b.to(xb.device, xb.dtype)
        except RuntimeError:  # not broadcastable: a plugin's own baseline shape
            return None
    if ref.shape != xb.shape:
        return None
    with torch.no_grad():
        return ref.abs().detach().float().cpu().numpy()


def layer_output(model, name: str, xb):
    """The output of layer ``name`` on ``xb`` (one forward pass; the hook is removed)."""
    import torch

    got = []
    module = dict(model.named_modules())[name]
    handle = module.register_forward_hook(lambda m, i, out: got.append(out))
    try:
        with torch.no_grad():
            model(xb)
    finally:
        handle.remove()
    out = got[0] if got else None
    return out.detach().clone() if isinstance(out, torch.Tensor) else None


def relative_change(before, after) -> float | None:
    """``||after - before|| / ||before||`` (None when either is not a tensor)."""
    if before is None or after is None or before.shape != after.shape:
        return None
    norm = float(before.float().norm())
    return float((after.float() - before.float()).norm()) / max(norm, 1e-12)


def verdict_layers(n_layers: int) -> int:
    """How many layers, from the top, are random when the verdict is read."""
    return max(1, math.ceil(n_layers / 2)) if n_layers else 0


#: Relative change of a layer's activations below which they count as unchanged.
UNCHANGED = 1e-6


def is_control(method: str, properties: dict | None = None) -> bool:
    """Whether ``method`` is a control (``random``): a sanity check then has no verdict
    to pass or fail, only the chance level the real methods are read against."""
    return _properties(method, properties).get("family") == "control"


def _properties(method: str, properties: dict | None) -> dict:
    from visualizer.analysis.attribution.table import find
    from visualizer.analysis.attribution.table import properties as declared

    if properties is not None:
        return properties
    spec = find(method)
    return declared(spec) if spec is not None else {}


def verdict_reason(metrics: dict, properties: dict) -> str:
    """Why a sanity run came out as it did, from the declared properties and what was
    measured: ``control`` (maps that never read the model: never a pass), ``pass``,
    or the reason a method fails: ``multiplies_input`` (it multiplies by the input minus
    the baseline, and its magnitudes were measured to follow that), ``baseline``
    (a perturbation method, its magnitudes measured to follow where the input differs
    from the baseline: replacing what equals the baseline changes nothing),
    ``modified_backward`` (its own backward rule), ``activation`` (it multiplies a
    layer's activations in, measured unchanged by the randomisation) or
    ``unexplained``."""
    if properties.get("family") == "control":
        return "control"
    if metrics.get("passed"):
        return "pass"
    follows = (metrics.get("verdict_input_spearman_abs") or 0.0) >= PASS_THRESHOLD
    if properties.get("multiplies") == "input" and follows:
        return "multiplies_input"
    if (properties.get("family") == "perturbation" and properties.get("baselines") != "none"
            and follows):
        return "baseline"
    if properties.get("modified_backward"):
        return "modified_backward"
    change = metrics.get("verdict_layer_change")
    if properties.get("multiplies") == "activation" and change is not None \
            and change <= UNCHANGED:
        return "activation"
    return "unexplained"


def _read(metrics: dict) -> tuple[int | None, int | None, float]:
    k, n = metrics.get("verdict_layers"), metrics.get("n_layers")
    rho = metrics.get("verdict_spearman_abs")
    if k is None or rho is None:  # a run made before the verdict moved to the top half
        k, rho = n, metrics.get("final_spearman_abs", float("nan"))
    return k, n, rho


def _signs(metrics: dict, properties: dict) -> str | None:
    """``changed`` or ``kept`` for signed maps whose signed rho was measured."""
    signed = metrics.get("verdict_spearman")
    if signed is None or not properties.get("signed", True):
        return None
    return "changed" if signed < PASS_THRESHOLD else "kept"


def verdict_text(method: str, metrics: dict, properties: dict | None = None) -> str:
    """The verdict of a sanity run, for the view and the CLI.

    ``properties`` are the method's declared properties as the run recorded them
    (``run.params["properties"]``); without them the built-in table is asked. Every
    explanation follows from a declared property and a measurement of the run
    (:func:`verdict_reason`)."""
    props = _properties(method, properties)
    reason = verdict_reason(metrics, props)
    k, n, rho = _read(metrics)
    where = f"with the top {k} of {n} layers randomised"
    final = metrics.get("final_spearman_abs")
    if reason == "control":
        if rho < PASS_THRESHOLD:
            return (f"{method} is a control, not an explanation: its maps are noise drawn "
                    "without the model and redrawn at every step of the cascade, so "
                    f"{where} their rank correlation with the first draw is {rho:.2f}: "
                    "chance, as a control has no model dependence. It shows where a "
                    "method's correlation falls when its maps share nothing with the "
                    "trained model's; a control cannot pass.")
        return (f"{method} is a control, not an explanation: its maps are noise drawn "
                f"without the model. {where.capitalize()} their rank correlation with the "
                f"first draw is {rho:.2f} because the same noise was drawn at every step (a "
                "run made before the control was redrawn per step), not because it "
                "depends on the model: a control has no model dependence and cannot pass.")
    later = "" if final is None or k == n else (
        f"; {final:.2f} with all {n} random" if reason == "pass" or final >= PASS_THRESHOLD
        else f"; {final:.2f} only once all {n} are random")
    if reason == "pass":
        change = metrics.get("verdict_layer_change")
        why = {"gradient": "the gradients it reads change with the randomised weights",
               "perturbation": "the model's response to removing parts of the input "
                               "changes with the randomised weights",
               "layer": ("the gradients reaching its unchanged layer change with the "
                         "randomised weights" if change is not None and change <= UNCHANGED
                         else "its layer's attributions change with the randomised "
                              "weights")}.get(props.get("family"))
        return (f"{method} passes: {where} its maps keep a rank correlation of only "
                f"{rho:.2f} with the trained model's (below {PASS_THRESHOLD}{later}): "
                + (f"{why}, so " if why else "") + "they depend on what the model learned.")
    text = (f"{method} FAILS the sanity check: {where} the magnitudes of its maps still "
            f"correlate {rho:.2f} with the trained model's (at least {PASS_THRESHOLD}"
            f"{later}).")
    into = metrics.get("verdict_input_spearman_abs")
    ref = "|input - baseline|" if props.get("baselines", "none") != "none" else "|input|"
    follows = f"rank correlation {into:.2f} after the randomisation" if into is not None else ""
    if reason == "multiplies_input":
        by = ("the input minus the baseline" if props.get("baselines", "none") != "none"
              else "the input")
        text += (f" Their magnitudes follow {ref} ({follows}) because {method} multiplies "
                 f"by {by}")
    elif reason == "baseline":
        text += (f" Their magnitudes follow {ref} ({follows}) because {method} compares "
                 "outputs with parts of the input replaced by the baseline, and replacing "
                 "a part that already equals the baseline changes no output under any "
                 "model")
    elif reason == "modified_backward":
        text += (f" {method} passes back a rule of its own in place of the gradient of the "
                 "nonlinearities, and what it passes back does not depend on the randomised "
                 "upper layers (Adebayo et al. 2018 found this of guided backprop)")
        if into is not None and into >= PASS_THRESHOLD:
            text += f"; their magnitudes rank like {ref} ({follows})"
    elif reason == "activation":
        text += (f" Their magnitudes keep the activations of its layer, which {method} "
                 "multiplies in and which lie below the randomised layers (measured "
                 "unchanged)")
    else:
        text += " They change little when what the upper layers learned is destroyed"
        if into is not None and into >= PASS_THRESHOLD:
            text += f"; their magnitudes rank like {ref} ({follows})"
    signs = _signs(metrics, props)
    if signs == "changed":
        return (f"{text}; their signs do change with the model (signed rho "
                f"{metrics['verdict_spearman']:.2f}): read which way a feature pushes, not "
                "how much.")
    if signs == "kept":
        text += f"; their signs do not change either (signed rho {metrics['verdict_spearman']:.2f})"
    return f"{text}: do not read these maps as explanations of the model."


def warning_text(method: str, metrics: dict, properties: dict | None = None) -> str | None:
    """One short sentence for the attribution gallery, or None when the method passed."""
    props = _properties(method, properties)
    reason = verdict_reason(metrics, props)
    if reason == "pass":
        return None
    if reason == "control":
        return (f"{method} is a control with no model dependence: its maps are noise, not "
                "an explanation.")
    what = {"multiplies_input": "the magnitudes of its maps follow the input it multiplies "
                                "in, not the model",
            "baseline": "the magnitudes of its maps follow where the input differs from the "
                        "baseline, not the model",
            "modified_backward": "its maps barely change when the model's upper layers are "
                                 "random (its modified backward pass)",
            "activation": "the magnitudes of its maps come from its layer's activations, "
                          "which the random upper layers do not change",
            }.get(reason, "its maps barely change when the model's upper layers are random")
    if reason != "modified_backward" and _signs(metrics, props) == "changed":
        what += ", though their signs do"
    return f"{method} fails the model-randomisation sanity check: {what}."


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
    from visualizer.analysis.attribution.table import properties as declared
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

    props = declared(p.spec)
    # A control never reads the model, so with one seed its maps would repeat exactly and
    # "correlate" 1.0; redrawn at every step they show where the correlation of maps
    # unrelated to the trained model's falls. Other stochastic methods keep one seed, so
    # that what changes between steps is the model, not their sampling.
    redraw = props["family"] == "control"

    def maps(step: int) -> np.ndarray:
        out = call_method(p, replace(req, seed=req.seed + step) if redraw else req,
                          xb, tb, base, 0, plan)
        if p.spec.layer and p.spec.layer_output:
            out = to_input_space(out.detach(), xb)
        return out.detach().float().cpu().numpy()

    started = time.perf_counter()
    ctx.status("original maps")
    all_maps = [maps(0)]
    k_verdict = verdict_layers(len(layers))
    watch = p.layer if p.spec.layer and p.layer else None
    layer_before = layer_output(model, watch, xb) if watch else None
    layer_change = None
    rho_abs, rho = [], []
    modules = dict(model.named_modules())
    for k, name in enumerate(layers):
        ctx.check_cancelled()
        ctx.status(f"randomising {name}")
        randomize(modules[name], req.seed + k)
        current = maps(k + 1)
        all_maps.append(current)
        rho_abs.append(spearman_rows(np.abs(all_maps[0]), np.abs(current)))
        rho.append(spearman_rows(all_maps[0], current))
        if k + 1 == k_verdict and layer_before is not None:
            layer_change = relative_change(layer_before, layer_output(model, watch, xb))
        ctx.progress(k + 1, len(layers))
    rho_abs_arr = np.asarray(rho_abs, dtype=np.float32).reshape(len(layers), len(p.x))
    final = float(np.mean(rho_abs_arr[-1])) if len(layers) else float("nan")
    at_verdict = float(np.mean(rho_abs_arr[k_verdict - 1])) if len(layers) else float("nan")
    signed_at_verdict = float(np.mean(rho[k_verdict - 1])) if len(layers) else float("nan")
    # how much the magnitudes rank like the input's distance from the baseline (what a
    # method that multiplies by it, or replaces the input by it, cannot help following)
    reference = input_reference(xb, base, props["baselines"])

    def follows(m: np.ndarray) -> float | None:
        if reference is None or m.shape != reference.shape:
            return None
        return float(np.mean(spearman_rows(np.abs(m), reference)))

    input_rho = follows(all_maps[0])
    verdict_input_rho = follows(all_maps[k_verdict]) if len(layers) else None
    passed = bool(at_verdict < PASS_THRESHOLD) and not redraw  # a control cannot pass
    params = {"model": req.model, "dataset": req.dataset, "split": req.split,
              "method": p.spec.id, "layer": p.layer, "target": str(req.target),
              "baseline": req.baseline, "method_params": p.params, "seed": req.seed,
              "n_samples": len(p.x), **p.sampling, "device": p.device, "layers": layers,
              "threshold": PASS_THRESHOLD, "properties": props}
    provenance = base_provenance(device=p.device, seed=req.seed)
    with p.ws.new_run("sanity", model=req.model, dataset=req.dataset, params=params,
                      provenance=provenance) as run, \
            RunFileWriter(run.path, "sanity", {"run_id": run.id}) as w:
        w.put("layers", np.array([n.encode() for n in layers], dtype="S"))
        w.put("spearman_abs", rho_abs_arr)
        w.put("spearman", np.asarray(rho, dtype=np.float32).reshape(len(layers), len(p.x)))
        w.put("sample_index", p.index)
        w.put("maps", np.stack(all_maps).astype(np.float32))
        measured = {"input_spearman_abs": input_rho,
                    "verdict_input_spearman_abs": verdict_input_rho,
                    "verdict_layer_change": layer_change}
        run.metrics = {"verdict_spearman_abs": at_verdict, "verdict_layers": k_verdict,
                       "verdict_spearman": signed_at_verdict,
                       "final_spearman_abs": final, "passed": int(passed),
                       "threshold": PASS_THRESHOLD, "n_layers": len(layers),
                       **{k: v for k, v in measured.items() if v is not None},
                       "seconds": round(time.perf_counter() - started, 3)}
        w.publish()
    return run.id
