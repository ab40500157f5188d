"""One generic adapter over ``captum.attr``, driven by :mod:`.table`.

``CaptumMethod(spec)`` is the callable the plugin contract asks for: it maps the
declared parameters onto the captum class named in the table (constructor keywords,
``attribute`` keywords, feature masks and sliding windows from a block size), wraps
gradient methods in ``NoiseTunnel`` on request, seeds stochastic methods without
touching the global random state, and resolves layer names. Captum registers its own
hooks and removes them in ``finally`` blocks; the conformance tests check that.
"""

from __future__ import annotations

import contextlib
from typing import Any

from visualizer.analysis.attribution.table import BY_ID, SMOOTH_TYPES, MethodSpec
from visualizer.errors import DeepScopeError, NotFoundError

#: Keywords every method accepts besides its declared parameters.
COMMON = ("baselines", "layer", "return_convergence_delta", "smooth", "nt_samples",
          "nt_stdevs", "seed", "internal_batch_size")


class CaptumMethod:
    """``method(model, inputs, target, **params)``: see the package docstring."""

    def __init__(self, spec: MethodSpec):
        self.spec = spec

    def __repr__(self) -> str:
        return f"CaptumMethod({self.spec.id!r})"

    def __call__(self, model, inputs, target, **params: Any):
        return self.attribute(model, inputs, target, **params)

    def attribute(self, model, inputs, target, *, baselines=None, layer: str | None = None,
                  return_convergence_delta: bool = False, smooth: str | None = None,
                  nt_samples: int = 10, nt_stdevs: float = 0.1, seed: int | None = None,
                  internal_batch_size: int | None = None, **params: Any):
        spec = self.spec
        values = spec.with_defaults(params)
        if return_convergence_delta and not spec.has_delta:
            raise DeepScopeError(f"{spec.id} has no convergence delta.")
        if smooth and (not spec.gradient or smooth not in SMOOTH_TYPES):
            raise DeepScopeError(
                f"smoothing {smooth!r} does not apply to {spec.id}.",
                fix=f"use one of {', '.join(SMOOTH_TYPES)} on a gradient method.")
        with _seeded(seed if spec.stochastic or smooth else None):
            if spec.captum is None:
                return _random_maps(inputs)
            algo = self._build(model, layer, values)
            kwargs = self._kwargs(inputs, target, baselines, values, internal_batch_size)
            if return_convergence_delta:
                kwargs["return_convergence_delta"] = True
            if smooth:
                from captum.attr import NoiseTunnel

                kwargs.pop("return_convergence_delta", None)
                return NoiseTunnel(algo).attribute(
                    inputs, nt_type=smooth, nt_samples=int(nt_samples),
                    stdevs=float(nt_stdevs), **kwargs)
            return algo.attribute(inputs, **kwargs)

    # -- mapping the table onto captum -------------------------------------------------
    def _build(self, model, layer: str | None, values: dict[str, Any]):
        import captum.attr

        cls = getattr(captum.attr, self.spec.captum)
        if self.spec.layer:
            return cls(model, resolve_layer(model, layer))
        return cls(model)

    def _kwargs(self, inputs, target, baselines, values, internal_batch_size):
        spec = self.spec
        kwargs: dict[str, Any] = {"target": target}
        for p in spec.params:
            if p.target == "attribute":
                kwargs[p.name] = values[p.name]
        if spec.baselines != "none" and baselines is not None:
            kwargs["baselines"] = baselines
        if spec.id == "gradient_shap" or spec.id == "deeplift_shap":
            kwargs.pop("n_baselines", None)
            if baselines is None:
                import torch

                kwargs["baselines"] = torch.zeros_like(inputs[:1])
        if spec.id in ("integrated_gradients", "layer_conductance",
                       "layer_integrated_gradients") and internal_batch_size:
            kwargs["internal_batch_size"] = int(internal_batch_size)
        if spec.family == "perturbation":
            per_eval = max(1, int(internal_batch_size or 1) // max(1, len(inputs)))
            if spec.id == "occlusion":
                window, stride = int(values["window"]), int(values["stride"])
                kwargs["sliding_window_shapes"] = _window(inputs, window)
                kwargs["strides"] = _window(inputs, stride, channel=1)
            else:
                kwargs["feature_mask"] = block_mask(inputs, int(values["block"]))
            if spec.id in ("lime", "kernel_shap") and len(inputs) > 1:
                per_eval = 1  # captum evaluates batched inputs one example at a time
            kwargs["perturbations_per_eval"] = per_eval
        if spec.id == "layer_gradcam":
            kwargs["relu_attributions"] = bool(values["relu_attributions"])
        return kwargs


def block_mask(inputs, block: int):
    """A feature mask grouping ``block``×``block`` pixels (all channels together).

    Images ``(B, C, H, W)`` get a ``(1, 1, H, W)`` mask; vectors ``(B, D)`` a
    ``(1, D)`` mask of ``block`` consecutive features; other shapes one feature per
    element.
    """
    import torch

    shape = tuple(inputs.shape[1:])
    block = max(1, int(block))
    device = inputs.device
    if len(shape) == 3:
        h, w = shape[1:]
        rows = torch.arange(h, device=device) // block
        cols = torch.arange(w, device=device) // block
        per_row = (w + block - 1) // block
        return (rows[:, None] * per_row + cols[None, :])[None, None]
    if len(shape) == 1:
        return (torch.arange(shape[0], device=device) // block)[None]
    n = 1
    for s in shape:
        n *= s
    return torch.arange(n, device=device).reshape(1, *shape)


def _window(inputs, side: int, channel: int | None = None) -> tuple[int, ...]:
    shape = tuple(inputs.shape[1:])
    if len(shape) == 3:
        return (channel or shape[0], min(side, shape[1]), min(side, shape[2]))
    return tuple(min(side, s) for s in shape)


def _random_maps(inputs):
    import torch

    return torch.rand(inputs.shape, dtype=inputs.dtype, device="cpu").to(inputs.device)


@contextlib.contextmanager
def _seeded(seed: int | None):
    """Seed torch and numpy for one call, restoring the global random state after."""
    if seed is None:
        yield
        return
    import numpy as np
    import torch

    state = np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        np.random.seed(int(seed) % (2**32))
        try:
            yield
        finally:
            np.random.set_state(state)


def resolve_layer(model, layer: str | None):
    if not layer:
        raise DeepScopeError("this is a layer method: choose a layer.",
                             fix="pass --layer NAME (see the layer list of the model).")
    modules = dict(model.named_modules())
    if layer not in modules:
        names = [n for n in modules if n]
        raise NotFoundError(f"the model has no layer {layer!r}.",
                            fix=f"choose from: {', '.join(names[:40])}.")
    return modules[layer]


def default_layer(infos) -> str | None:
    """The last convolution of the model (pytorch-grad-cam's usual advice), else the
    last leaf layer with a spatial output; ``infos`` from ``describe_layers``."""
    spatial = [i for i in infos if i.is_leaf and i.output_shape and len(i.output_shape) >= 2]
    convs = [i for i in spatial if "Conv" in i.type_name]
    pick = (convs or spatial or [None])[-1]
    return pick.name if pick else None


def make_method(method_id: str) -> CaptumMethod:
    if method_id not in BY_ID:
        raise NotFoundError(f"no built-in attribution method {method_id!r}.",
                            fix=f"choose from: {', '.join(BY_ID)}.")
    return CaptumMethod(BY_ID[method_id])
