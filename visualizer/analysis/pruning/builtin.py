"""The objects ``plugins/pruning/deepscope.toml`` names, one per table row.

``python_name = "visualizer.analysis.pruning.builtin:<id>"``; each is a
:class:`PruningMethod` that scores weights by its row's criterion (the contract is in
:mod:`visualizer.analysis.pruning`). Importing this module does not import torch: the
plugin manager imports it on first use, and listing the methods must stay cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from visualizer.analysis.pruning.table import METHODS, PruningMethodSpec
from visualizer.errors import DeepScopeError

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn


class PruningMethod:
    """Scores weights for one row of :data:`~.table.METHODS`.

    Parameters
    ----------
    spec
        The row: its ``criterion`` picks the score, ``structured`` whether
        :meth:`importance` is available.
    """

    def __init__(self, spec: PruningMethodSpec) -> None:
        self.spec = spec

    def __repr__(self) -> str:
        return f"PruningMethod({self.spec.id!r})"

    def scores(self, model: nn.Module, weights: dict[str, Tensor],
               batches: list[tuple[Tensor, Tensor]], generator: torch.Generator, /,
               **params: Any) -> dict[str, Tensor]:
        """Importance of every weight, higher = keep.

        Parameters
        ----------
        model
            The model the weights belong to (gradient criteria run it).
        weights
            Module name -> its effective weight (masked where the model carries a
            ``torch.nn.utils.prune`` mask).
        batches
            ``(x, y)`` training batches; read only by the gradient criteria.
        generator
            Seeded generator; read only by ``random``.
        **params
            The row's parameters (``batches``: how many batches the gradient criteria
            read); others are ignored. The four arguments above are positional-only, so
            a parameter may share a name with one of them (``batches`` does).

        Returns
        -------
        dict of str to Tensor
            One score tensor per name, shaped like its weight.
        """
        import torch

        criterion = self.spec.criterion
        if criterion == "magnitude":
            return {name: w.detach().abs() for name, w in weights.items()}
        if criterion == "lamp":
            return {name: lamp_scores(w) for name, w in weights.items()}
        if criterion == "random":
            # drawn on the generator's (CPU) device, then moved next to the weight
            return {name: torch.rand(w.shape, generator=generator, dtype=w.dtype).to(w.device)
                    for name, w in weights.items()}
        if criterion in ("snip", "taylor"):
            n = int(params.get("batches", self._default("batches", 1)))
            used = list(batches)[:max(1, n)]
            if not used:
                raise DeepScopeError(
                    f"pruning method {self.spec.id!r} scores weights by their gradients "
                    "and needs training batches, but none were given",
                    fix="prune with a training split (the model's dataset).")
            # running sums, not a list of per-batch gradients: one weight-sized tensor
            # per layer however many batches are read
            total = {name: torch.zeros_like(w) for name, w in weights.items()}
            for x, y in used:
                grads = _effective_weight_grads(model, list(weights), x, y)
                for name, w in weights.items():
                    if criterion == "snip":  # saliency of the mean loss over the batches
                        total[name] += grads[name]
                    else:  # Taylor: the squared first-order change, averaged per batch
                        total[name] += (w.detach() * grads[name]) ** 2
            if criterion == "snip":
                return {name: (w.detach() * total[name] / len(used)).abs()
                        for name, w in weights.items()}
            return {name: t / len(used) for name, t in total.items()}
        raise DeepScopeError(f"unknown pruning criterion {criterion!r} in method "
                             f"{self.spec.id!r}",
                             fix="use magnitude, lamp, random, snip or taylor.")

    def importance(self, **params: Any) -> Any:
        """The Torch-Pruning importance that ranks whole channels.

        Parameters
        ----------
        **params
            ``norm`` (1 or 2) for magnitude; others are ignored.

        Returns
        -------
        torch_pruning.importance.Importance
            ``MagnitudeImportance(p=norm)``, ``RandomImportance()`` or
            ``TaylorImportance()`` (which reads ``.grad``: backpropagate first).
        """
        import torch_pruning as tp

        if not self.spec.structured:
            raise DeepScopeError(f"pruning method {self.spec.id!r} prunes single weights "
                                 "only, not whole channels",
                                 fix="prune it unstructured, or pick a method whose modes "
                                     "include structured.")
        criterion = self.spec.criterion
        if criterion == "magnitude":
            return tp.importance.MagnitudeImportance(p=int(params.get("norm",
                                                                      self._default("norm", 1))))
        if criterion == "random":
            return tp.importance.RandomImportance()
        if criterion == "taylor":
            return tp.importance.TaylorImportance()
        raise DeepScopeError(f"no structured importance for criterion {criterion!r}",
                             fix="prune it unstructured.")

    def _default(self, name: str, fallback: Any) -> Any:
        p = self.spec.param(name)
        return fallback if p is None else p.default


def lamp_scores(weight: Tensor) -> Tensor:
    """LAMP scores of one layer (Lee et al., ICLR 2021).

    With the squared weights sorted ascending, ``score(u) = w_u² / Σ_{v ≥ u} w_v²``:
    each weight's share of what is left in its layer once every smaller one is gone.
    The largest weight of every layer scores 1, so a global threshold never empties a
    layer, and zeros (already pruned weights) score 0.

    Parameters
    ----------
    weight
        A layer's weight, any shape.

    Returns
    -------
    Tensor
        Scores shaped like ``weight``, in its dtype.
    """
    import torch

    # float64: the tail sums add many small squares, and float32 ties would reorder them
    # (MPS has no float64; there float32 it is)
    wide = torch.float32 if weight.device.type == "mps" else torch.float64
    w2 = weight.detach().flatten().to(wide) ** 2
    ordered, order = torch.sort(w2, stable=True)
    tail = ordered.flip(0).cumsum(0).flip(0)
    shares = torch.where(tail > 0, ordered / tail.clamp_min(torch.finfo(wide).tiny),
                         torch.zeros_like(ordered))
    out = torch.empty_like(shares)
    out[order] = shares
    return out.view(weight.shape).to(weight.dtype)


def _effective_weight_grads(model: nn.Module, names: list[str], x: Tensor,
                            y: Tensor) -> dict[str, Tensor]:
    """``∂L/∂w`` of the cross-entropy on one batch, w.r.t. each named module's weight as
    the forward pass used it: for a module carrying a torch.nn.utils.prune mask that is
    the masked weight its pre-hook computes, not ``weight_orig``.

    ``torch.autograd.grad`` returns the gradients without touching any ``.grad``, and the
    attributes the pre-hooks reset are put back, so nothing of this pass stays behind.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual name

    modules = dict(model.named_modules())
    targets = [modules[n] for n in names]
    # a frozen weight has no gradient to read: let it have one for this pass only
    leaves = [m.weight_orig if hasattr(m, "weight_orig") else m.weight for m in targets]
    frozen = [p for p in leaves if not p.requires_grad]
    saved = {n: m.__dict__["weight"] for n, m in zip(names, targets, strict=True) if "weight" in m.__dict__}
    try:
        for p in frozen:
            p.requires_grad_(True)
        with torch.inference_mode(False), torch.enable_grad():
            loss = F.cross_entropy(model(x), y)
            used = [m.weight for m in targets]  # set by the pre-hooks during this forward
            grads = torch.autograd.grad(loss, used, allow_unused=True)
    finally:
        for p in frozen:
            p.requires_grad_(False)
        for n, w in saved.items():
            modules[n].weight = w
    return {n: (torch.zeros_like(w) if g is None else g.detach())
            for n, w, g in zip(names, used, grads, strict=True)}


_OBJECTS = {spec.id: PruningMethod(spec) for spec in METHODS}
globals().update(_OBJECTS)
__all__ = ["PruningMethod", "lamp_scores", *_OBJECTS]
