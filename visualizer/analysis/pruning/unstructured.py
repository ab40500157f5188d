"""Unstructured pruning: single weights masked through ``torch.nn.utils.prune``.

A method scores the weights (:mod:`.builtin`); torch turns the scores into masks, so the
masks are torch's own reparametrisation (``weight_orig``, ``weight_mask`` and a forward
pre-hook) and every tool that knows it (``prune.remove``, ``prune.is_pruned``, state
dicts) works on our models. Pruning is cumulative: on a model that already carries
masks, torch's ``PruningContainer`` applies a new amount to the still-unpruned entries
only, which is how gradual and iterative schedules call it round after round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import prune

from visualizer.errors import DeepScopeError
from visualizer.models.fx_guard import running_modules


def _modules(model: nn.Module, layers: Sequence[str]) -> dict[str, nn.Module]:
    known = dict(model.named_modules())
    missing = [n for n in layers if n not in known]
    if missing:
        raise DeepScopeError(f"the model has no layer named {missing[0]!r}",
                             fix="list layers with visualizer.analysis.pruning.layers."
                                 "prunable_layers(model).")
    return {n: known[n] for n in layers}


def _current_mask(module: nn.Module) -> Tensor:
    mask = getattr(module, "weight_mask", None)
    if mask is None:
        return torch.ones_like(module.weight, dtype=torch.bool)
    return mask.detach().to(torch.bool)


def effective_weight(module: nn.Module) -> Tensor:
    """The weight as the next forward pass will use it, without grad.

    On a masked module ``module.weight`` is whatever its pre-hook computed at the last
    forward pass; after an optimiser step on ``weight_orig`` that is stale, so ask the
    hook (torch's own ``apply_mask``) for the current product instead.
    """
    with torch.no_grad():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod) and hook._tensor_name == "weight":
                return hook.apply_mask(module).detach()
        return module.weight.detach()


def check_sparsity(sparsity: Any) -> float:
    """``sparsity`` as a float in [0, 1), or a ``DeepScopeError`` naming the value.

    The one range check of a pruning sparsity: the job, the sweep, the API and both
    pruning modes call it, so every caller refuses the same values in the same words.
    """
    fix = ("give the fraction of weights (structured: channels) to remove, e.g. 0.8 for "
           "80%; a sparsity 1.0 would remove every one.")
    try:
        if isinstance(sparsity, bool):  # a flag, not a fraction
            raise TypeError
        value = float(sparsity)
    except (TypeError, ValueError):
        raise DeepScopeError(f"sparsity must be a number in [0, 1) (got {sparsity!r}).",
                             fix=fix) from None
    if not 0.0 <= value < 1.0:  # NaN fails too
        raise DeepScopeError(f"sparsity must be in [0, 1) (got {value:g}).", fix=fix)
    return value


def prune_unstructured(model: nn.Module, layers: Sequence[str], method: Any,
                       sparsity: float, *, batches: Sequence[tuple[Tensor, Tensor]] = (),
                       seed: int = 0, params: Mapping[str, Any] | None = None) -> None:
    """Mask the lowest-scoring weights of ``layers`` up to ``sparsity``, in place.

    Parameters
    ----------
    model
        The model; it may already carry masks from an earlier call (then the target is
        reached by masking more of the still-unmasked weights; masked ones stay masked).
    layers
        Prunable module names (:func:`~.layers.prunable_layers`).
    method
        A pruning method object (``.spec`` and ``.scores``, see the package docstring).
    sparsity
        Target fraction of masked weights in [0, 1): over all ``layers`` together when the
        method's scope is ``global``, in every layer when it is ``layer``. A target below
        what is already masked masks nothing more.
    batches
        ``(x, y)`` training batches for gradient criteria.
    seed
        Seeds the generator stochastic criteria draw from.
    params
        Method parameters; the row's defaults fill the missing ones.

    Raises
    ------
    DeepScopeError
        For a sparsity outside [0, 1), an unknown layer, or scores that do not match the
        weights' shapes.
    """
    target = check_sparsity(sparsity)
    spec = method.spec
    merged = {p.name: p.default for p in spec.params} | dict(params or {})
    modules = _modules(model, layers)
    if not modules:
        return
    weights = {n: effective_weight(m) for n, m in modules.items()}
    with running_modules():
        scores = method.scores(model, weights, list(batches),
                               torch.Generator().manual_seed(int(seed)), **merged)
    _check_scores(spec.id, weights, scores)
    current = {n: _current_mask(m) for n, m in modules.items()}
    with torch.no_grad():
        if spec.scope == "layer":
            for n, m in modules.items():
                count = _still_to_remove(target, current[n].numel(), current[n])
                prune.l1_unstructured(m, "weight", amount=count,
                                      importance_scores=scores[n].detach())
        else:
            total = sum(mask.numel() for mask in current.values())
            count = _still_to_remove(target, total, *current.values())
            prune.global_unstructured(
                [(m, "weight") for m in modules.values()],
                pruning_method=prune.L1Unstructured, amount=count,
                importance_scores={(m, "weight"): scores[n].detach()
                                   for n, m in modules.items()})


def _still_to_remove(target: float, total: int, *masks: Tensor) -> int:
    # torch applies an int amount to the entries still unmasked: ask for the difference
    # between the target count and what earlier rounds masked already
    masked = sum(int((~mask).sum()) for mask in masks)
    return max(0, round(target * total) - masked)


def _check_scores(method_id: str, weights: Mapping[str, Tensor],
                  scores: Mapping[str, Tensor]) -> None:
    for name, w in weights.items():
        s = scores.get(name) if isinstance(scores, Mapping) else None
        if not isinstance(s, Tensor) or tuple(s.shape) != tuple(w.shape):
            got = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
            raise DeepScopeError(
                f"pruning method {method_id!r} scored layer {name!r} with {got}, "
                f"expected a tensor of the weight's shape {tuple(w.shape)}",
                fix="fix the method's scores(): one tensor per layer, shaped like its weight.")
        if bool(torch.isnan(s).any()):  # NaN has no rank: torch's topk would be arbitrary
            raise DeepScopeError(f"pruning method {method_id!r} gave NaN scores for layer "
                                 f"{name!r}", fix="fix the method's scores().")


def masks(model: nn.Module, layers: Sequence[str]) -> dict[str, Tensor]:
    """The current masks of ``layers`` (all ones where a layer carries none).

    Parameters
    ----------
    model
        The model.
    layers
        Module names.

    Returns
    -------
    dict of str to Tensor
        Boolean tensors shaped like the weights, True = kept.
    """
    return {n: _current_mask(m).clone() for n, m in _modules(model, layers).items()}


def make_permanent(model: nn.Module, layers: Sequence[str]) -> dict[str, Tensor]:
    """Bake the masks into the weights (``prune.remove``) and drop the reparametrisation.

    Parameters
    ----------
    model
        The model, changed in place: masked weights become zeros of a plain parameter.
    layers
        Module names; layers without a mask are left as they are.

    Returns
    -------
    dict of str to Tensor
        The masks that were removed, as booleans (all ones for unmasked layers).
    """
    found = masks(model, layers)
    for m in _modules(model, layers).values():
        if hasattr(m, "weight_mask"):
            prune.remove(m, "weight")
    return found


def apply_masks(model: nn.Module, masks: Mapping[str, Tensor]) -> None:
    """Apply saved masks through ``prune.custom_from_mask`` (after rewinding weights, or
    on a freshly built model).

    Parameters
    ----------
    model
        The model, changed in place. On a layer that already carries a mask, torch
        combines the two: the result keeps only what both keep.
    masks
        Module name -> boolean (or 0/1) tensor shaped like the weight, True = kept.
    """
    modules = _modules(model, list(masks))
    for n, mask in masks.items():
        m = modules[n]
        if tuple(mask.shape) != tuple(m.weight.shape):
            raise DeepScopeError(
                f"the mask for layer {n!r} has shape {tuple(mask.shape)}, the weight "
                f"{tuple(m.weight.shape)}",
                fix="apply masks saved from the same architecture.")
        prune.custom_from_mask(m, "weight", mask.to(device=m.weight.device, dtype=torch.bool))


def sparsity(model: nn.Module, layers: Sequence[str]) -> tuple[float, dict[str, float]]:
    """Fraction of zero entries of the effective (masked) weights.

    Parameters
    ----------
    model
        The model.
    layers
        Module names.

    Returns
    -------
    tuple
        ``(overall, per_layer)``: the fraction over all listed layers' weights together
        (0.0 for none), and per layer.
    """
    zeros, total, per_layer = 0, 0, {}
    for n, m in _modules(model, layers).items():
        w = effective_weight(m)
        z = int((w == 0).sum())
        zeros, total = zeros + z, total + w.numel()
        per_layer[n] = z / w.numel() if w.numel() else 0.0
    return (zeros / total if total else 0.0), per_layer
