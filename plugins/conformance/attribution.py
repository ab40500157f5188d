"""Checks for attribution methods: the captum-shaped contract on a tiny seeded model.

Each method is called through the plugin manager as the attribution job calls it (its
declared defaults, baselines where it takes them, the model's last convolution for
layer methods, a seed) on a two-convolution net built here, and checked for: valid
parameter declarations, output shape, finite values, sign (methods declared unsigned),
the same map under the same seed, no hooks and no changed parameters or inputs left
after success and after the model raises, seeded SmoothGrad for methods declared
``gradient``, and, for methods with a convergence delta,
completeness against the closed form on a linear model: the attributions sum to
``f(x) - f(baseline)`` exactly when ``f`` is linear.
"""

from __future__ import annotations

from typing import Any

from plugins.api import Contribution
from plugins.conformance.core import (
    ConformanceError,
    Steps,
    leftover_hooks,
    require,
    seeded_torch,
)
from plugins.manager import PluginManager

BATCH = 3
INPUT_SHAPE = (1, 8, 8)
SEED = 7
INTERNAL_BATCH = 1024
PARAM_KINDS = {"int": int, "float": (int, float), "bool": bool, "choice": str}
SPEC_FIELDS = ("id", "family", "layer", "layer_output", "has_delta", "baselines",
               "stochastic", "signed", "params", "param", "with_defaults")
BASELINE_KINDS = ("none", "input", "distribution")


def tiny_net(linear: bool = False):
    """conv(1→3) → ReLU → conv(3→4) → ReLU → linear(256→3), seeded; ``linear`` swaps
    the ReLUs for identities, which makes the whole net one linear map."""
    import torch
    from torch import nn

    act = nn.Identity if linear else nn.ReLU
    with seeded_torch(SEED):
        model = nn.Sequential()
        model.add_module("conv1", nn.Conv2d(1, 3, 3, padding=1))
        model.add_module("relu1", act())
        model.add_module("conv2", nn.Conv2d(3, 4, 3, padding=1))
        model.add_module("relu2", act())
        model.add_module("flatten", nn.Flatten())
        model.add_module("fc", nn.Linear(4 * 8 * 8, 3))
        x = torch.randn(BATCH, *INPUT_SHAPE)
        baseline = 0.3 * torch.randn(1, *INPUT_SHAPE)
    return model.eval(), x, baseline


def exploding(inner):
    """A module that runs ``inner`` and then raises (for the clean-after-error check)."""
    from torch import nn

    class Explode(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            self.inner(x)
            raise RuntimeError("conformance: the model raised on purpose")

    return Explode()


def validate_params(spec) -> list[str]:
    """Problems with the declared parameters (empty when they are valid)."""
    from visualizer.analysis.attribution.adapter import COMMON

    problems, seen = [], set()
    for p in spec.params:
        where = f"parameter {getattr(p, 'name', p)!r}"
        name = getattr(p, "name", None)
        if not isinstance(name, str) or not name.isidentifier():
            problems.append(f"{where}: name must be an identifier")
            continue
        if name in seen or name in COMMON:
            problems.append(f"{where}: declared twice or shadows a common keyword")
        seen.add(name)
        kind, default = getattr(p, "kind", None), getattr(p, "default", None)
        if kind not in PARAM_KINDS:
            problems.append(f"{where}: kind {kind!r} not one of {sorted(PARAM_KINDS)}")
            continue
        if not isinstance(default, PARAM_KINDS[kind]) or (
                kind != "bool" and isinstance(default, bool)):
            problems.append(f"{where}: default {default!r} is not a {kind}")
            continue
        if kind == "choice" and default not in p.choices:
            problems.append(f"{where}: default {default!r} not among {list(p.choices)}")
        if kind in ("int", "float"):
            if p.minimum is not None and default < p.minimum:
                problems.append(f"{where}: default {default} below minimum {p.minimum}")
            if p.maximum is not None and default > p.maximum:
                problems.append(f"{where}: default {default} above maximum {p.maximum}")
    return problems


def call_kwargs(spec, layer: str | None, baseline, x) -> dict[str, Any]:
    """What the attribution job passes: declared defaults (less those the job itself
    consumes), baselines where declared, the layer, a seed, an internal batch size."""
    import torch

    kwargs = {k: v for k, v in spec.with_defaults({}).items()
              if getattr(spec.param(k), "target", "attribute") != "samples"}
    if spec.baselines == "input":
        kwargs["baselines"] = baseline.expand_as(x).clone()
    elif spec.baselines == "distribution":
        kwargs["baselines"] = torch.cat([baseline, -baseline])
    if spec.layer:
        kwargs["layer"] = layer
    kwargs["seed"] = SEED
    kwargs["internal_batch_size"] = INTERNAL_BATCH  # as the job does: fewer, larger passes
    return kwargs


def _call(manager, c, model, x, target, **kwargs):
    import torch

    with torch.enable_grad():
        return manager.call(c, model, x, target, hook=f"{c.id} attribute", **kwargs)


def _tensor(out, what: str):
    import torch

    require(isinstance(out, torch.Tensor),
            f"{what} must return a torch.Tensor, got {type(out).__name__}")
    return out


def _state(model) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def check_attribution_method(manager: PluginManager, c: Contribution,
                             steps: Steps | None = None) -> None:
    """Run every attribution check on one contribution (see the module docstring)."""
    steps = steps or Steps(c, strict=True)
    with steps.step("declares") as note:
        method = manager.load(c)
        require(callable(method), "python_name must name a callable")
        spec = getattr(method, "spec", None)
        missing = [f for f in SPEC_FIELDS if not hasattr(spec, f)]
        require(not missing, f"method.spec lacks {', '.join(missing)}")
        require(spec.baselines in BASELINE_KINDS,
                f"spec.baselines {spec.baselines!r} not one of {BASELINE_KINDS}")
        problems = validate_params(spec)
        require(not problems, "; ".join(problems))
        defaults = spec.with_defaults({})
        require(set(defaults) == {p.name for p in spec.params},
                "spec.with_defaults({}) must give every declared parameter")
        note.text = (f"{len(spec.params)} parameters, defaults valid"
                     + (f" ({', '.join(f'{k}={v}' for k, v in defaults.items())})"
                        if defaults else ""))

    import torch

    from visualizer.analysis.attribution.adapter import default_layer
    from visualizer.models.introspection import describe_layers

    model, x, baseline = tiny_net()
    target = torch.arange(BATCH) % 3
    infos = describe_layers(model, x[:1])
    layer = default_layer(infos) if spec.layer else None
    kwargs = call_kwargs(spec, layer, baseline, x)
    before, x_before = _state(model), x.clone()

    with steps.step("call") as note:
        first = _tensor(_call(manager, c, model, x, target, **kwargs), "the method")
        note.text = f"returns {tuple(first.shape)} {str(first.dtype).replace('torch.', '')}" \
                    + (f" for layer {layer}" if layer else "")
    with steps.step("shape", fatal=False) as note:
        if spec.layer and spec.layer_output:
            out_shape = next(i.output_shape for i in infos if i.name == layer)
            allowed = [(BATCH, *out_shape), (BATCH, 1, *out_shape[1:])]
            require(tuple(first.shape) in allowed,
                    f"layer attributions {tuple(first.shape)}, expected one of {allowed}")
            note.text = f"layer-shaped: {tuple(first.shape)} for {layer} {tuple(out_shape)}"
        else:
            require(first.shape == x.shape,
                    f"attributions {tuple(first.shape)} != inputs {tuple(x.shape)}")
            note.text = f"input-shaped {tuple(x.shape)}"
    with steps.step("finite", fatal=False) as note:
        bad = int((~torch.isfinite(first)).sum())
        require(bad == 0, f"{bad} of {first.numel()} values are NaN or inf")
        note.text = "no NaN or inf"
    if not spec.signed:
        with steps.step("sign", fatal=False) as note:
            low = float(first.min())
            require(low >= 0, f"declared unsigned (signed=false) but min is {low:.3g}")
            note.text = "declared unsigned: all values >= 0"
    with steps.step("seeded", fatal=False) as note:
        second = _tensor(_call(manager, c, model, x, target, **kwargs), "the method")
        require(second.shape == first.shape, f"two calls with seed={SEED} give shapes "
                                             f"{tuple(first.shape)} and {tuple(second.shape)}")
        first_, second_ = first.nan_to_num(), second.nan_to_num()  # NaN: "finite" fails
        diff = float((first_ - second_).abs().max())
        require(torch.equal(first_, second_),
                f"two calls with seed={SEED} differ (max |diff| {diff:.3g})")
        note.text = f"two calls with seed={SEED} give the same map"
    with steps.step("clean after success", fatal=False) as note:
        left = leftover_hooks(model)
        require(not left, f"hooks left: {', '.join(left[:5])}")
        changed = [k for k, v in _state(model).items() if not torch.equal(v, before[k])]
        require(not changed, f"model tensors changed: {', '.join(changed[:5])}")
        require(not model.training, "the model was left in training mode")
        require(torch.equal(x, x_before), "the inputs were changed in place")
        note.text = "no hooks; model, its mode and the inputs unchanged"
    with steps.step("clean after error", fatal=False) as note:
        broken = exploding(model)
        error = None
        try:  # called directly: an error we provoke is not recorded against the plugin
            with torch.enable_grad():
                manager.load(c)(broken, x, target,
                                **{**kwargs, **({"layer": f"inner.{layer}"} if layer else {})})
        except Exception as exc:  # noqa: BLE001 - the error is expected
            error = exc
        left = leftover_hooks(broken)
        require(not left, f"hooks left after the model raised: {', '.join(left[:5])}")
        if error is None:
            require(broken.calls == 0, "the model raised, but the method returned a result "
                                       "(the error was swallowed)")
            note.text = "never ran the model; no hooks left"
        else:
            note.text = "the model's error came through; no hooks left"
    if getattr(spec, "gradient", False):
        check_smoothing(manager, c, steps, model, x, target, kwargs, first)
    if spec.has_delta:
        check_delta(manager, c, spec, steps, model, x, target, kwargs, first)
        check_completeness(manager, c, spec, steps, target)


def check_smoothing(manager, c, steps: Steps, model, x, target, kwargs, first) -> None:
    """Declared ``gradient``: SmoothGrad applies; its noise follows the seed."""
    import torch

    with steps.step("smoothing", fatal=False) as note:
        smooth = {**kwargs, "smooth": "smoothgrad", "nt_samples": 3, "nt_stdevs": 0.1}
        a = _tensor(_call(manager, c, model, x, target, **smooth), "smooth='smoothgrad'")
        b = _tensor(_call(manager, c, model, x, target, **smooth), "smooth='smoothgrad'")
        require(a.shape == first.shape,
                f"smoothed shape {tuple(a.shape)} != plain shape {tuple(first.shape)}")
        require(bool(torch.isfinite(a).all()), "smoothed map has NaN or inf")
        require(torch.equal(a, b), f"two smoothed calls with seed={SEED} differ")
        require(not torch.equal(a, first), "smooth='smoothgrad' changed nothing")
        note.text = "smoothgrad (3 samples): same shape, same map under one seed"


def check_delta(manager, c, spec, steps: Steps, model, x, target, kwargs, first) -> None:
    import torch

    with steps.step("delta", fatal=False) as note:
        out = _call(manager, c, model, x, target, return_convergence_delta=True, **kwargs)
        require(isinstance(out, tuple) and len(out) == 2,
                "return_convergence_delta=True must return (attributions, delta)")
        attr, delta = (_tensor(o, "the method") for o in out)
        require(torch.allclose(attr, first, rtol=1e-5, atol=1e-6),
                "attributions with the delta differ from those without")
        require(delta.dim() == 1 and len(delta) % BATCH == 0,
                f"delta shape {tuple(delta.shape)}, expected ({BATCH}*k,)")
        require(bool(torch.isfinite(delta).all()), "delta has NaN or inf")
        note.text = f"(attributions, delta {tuple(delta.shape)}), same attributions"


def check_completeness(manager, c, spec, steps: Steps, target) -> None:
    """On a linear net, sum of attributions == f(x) - f(baseline), and the reported
    delta is that gap. (With a distribution of baselines, all baselines are the same.)"""
    import torch

    with steps.step("completeness", fatal=False) as note:
        if spec.baselines not in ("input", "distribution"):
            raise ConformanceError("has_delta is declared but the method takes no baselines")
        model, x, baseline = tiny_net(linear=True)
        from visualizer.analysis.attribution.adapter import default_layer
        from visualizer.models.introspection import describe_layers

        layer = default_layer(describe_layers(model, x[:1])) if spec.layer else None
        kwargs = call_kwargs(spec, layer, baseline, x)
        if spec.baselines == "distribution":  # captum asks for two or more examples
            kwargs["baselines"] = torch.cat([baseline, baseline])
        attr, delta = _call(manager, c, model, x, target, return_convergence_delta=True,
                            **kwargs)
        with torch.no_grad():
            rows = torch.arange(BATCH)
            gap = (model(x)[rows, target] - model(baseline)[0, target]).double()
        total = attr.detach().double().flatten(1).sum(1)
        tol = 1e-4 + 1e-3 * gap.abs().max().item()
        err = (total - gap).abs().max().item()
        require(err <= tol, f"sum of attributions misses f(x) - f(baseline) by {err:.3g} "
                            f"(tolerance {tol:.2g}) on a linear net")
        worst = delta.detach().double().abs().max().item()
        require(worst <= tol, f"reported |delta| {worst:.3g} on a linear net, where the "
                              f"exact answer is 0 (tolerance {tol:.2g})")
        note.text = (f"linear net: sum of attributions = f(x) - f(baseline) within "
                     f"{err:.1e}, |delta| <= {worst:.1e}")
