"""Which layers of a model are prunable.

A prunable layer is a ``Conv1d``/``Conv2d``/``Conv3d`` or ``Linear`` module with a weight,
named as ``model.named_modules()`` names it. The final classifier (the last such module,
the one producing the logits) is left out by default: pruning it removes or weakens
whole classes, which no method intends.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from visualizer.errors import DeepScopeError, NotFoundError

#: The module types whose weights the pruning methods score.
PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def _all_prunable(model: nn.Module) -> list[str]:
    # ``getattr``, not ``m.weight``: a module pruned by torch.nn.utils.prune keeps its
    # weight as a plain attribute recomputed by a forward pre-hook, which still counts.
    return [name for name, m in model.named_modules()
            if isinstance(m, PRUNABLE_TYPES) and getattr(m, "weight", None) is not None]


def classifier_name(model: nn.Module) -> str:
    """The name of the final classifier: the last prunable module in module order.

    Parameters
    ----------
    model
        Any ``torch.nn.Module``.

    Returns
    -------
    str
        Its name in ``model.named_modules()``.

    Raises
    ------
    DeepScopeError
        When the model has no convolution or linear layer at all.
    """
    names = _all_prunable(model)
    if not names:
        raise DeepScopeError(
            "the model has no convolution or linear layer to prune",
            fix="pruning works on models built from Conv1d/2d/3d and Linear layers.")
    return names[-1]


def prunable_layers(model: nn.Module, include: Iterable[str] | None = None, *,
                    include_classifier: bool = False) -> list[str]:
    """Names of the layers pruning may touch, in module order.

    Parameters
    ----------
    model
        Any ``torch.nn.Module``.
    include
        Restrict to these layer names. A name given here is pruned even when it is the
        classifier.
    include_classifier
        Also prune the final classifier (:func:`classifier_name`) when ``include`` is
        not given.

    Returns
    -------
    list of str
        Module names of prunable Conv/Linear layers.

    Raises
    ------
    DeepScopeError
        When a name in ``include`` is not a module of the model, or not a prunable one;
        the message lists the prunable layers.
    """
    every = _all_prunable(model)
    if include is None:
        if include_classifier or not every:
            return every
        return every[:-1]
    wanted = list(include)
    known = dict(model.named_modules())
    listing = ", ".join(every) or "none"
    for name in wanted:
        if name not in known:
            raise NotFoundError(
                f"the model has no layer named {name!r} (prunable layers: {listing})",
                fix="use one of the prunable layer names listed (as model.named_modules() "
                    "names them).")
        if name not in every:
            raise DeepScopeError(
                f"layer {name!r} ({type(known[name]).__name__}) cannot be pruned: only "
                f"Conv1d/2d/3d and Linear layers can (prunable layers: {listing})",
                fix="pick prunable layers, or leave the layer list out to prune them all.")
    chosen = set(wanted)
    return [name for name in every if name in chosen]
