"""The declarative table of built-in pruning methods.

One row per method id. A row says which criterion scores the weights, whether scores
are compared across layers (``global``) or each layer is pruned to the same fraction
(``layer``), whether the method can prune whole channels (structured, through
Torch-Pruning) and whether it needs training data (gradient criteria). The builtin
objects (:mod:`.builtin`), the CLI's checks and the GUI's method list read only this
table; adding a method is adding a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Param:
    """One method parameter as the GUI and the CLI see it (``int``, ``float``, ``choice``)."""

    name: str
    default: Any
    kind: str = "choice"
    help: str = ""
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class PruningMethodSpec:
    id: str
    title: str
    criterion: str  # magnitude | lamp | random | snip | taylor
    scope: str  # global | layer: how the sparsity is shared among layers
    unstructured: bool = True  # prunes single weights (torch.nn.utils.prune)
    structured: bool = False  # prunes whole channels (Torch-Pruning)
    needs_data: bool = False  # scores read gradients on training batches
    stochastic: bool = False  # the seed changes the result
    citation: str = ""
    params: tuple[Param, ...] = field(default_factory=tuple)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def modes(self) -> str:
        return "/".join(m for m, ok in (("unstructured", self.unstructured),
                                         ("structured", self.structured)) if ok)


_NORM = Param("norm", 1, "choice", "filter norm for structured pruning (L1 or L2)", (1, 2))
_SCOPE = Param("scope", "global", "choice",
               "structured pruning: rank channels across layers (global) or within each",
               ("global", "layer"))
_BATCHES = Param("batches", 8, "int", "training batches the gradient scores are averaged over")

METHODS: tuple[PruningMethodSpec, ...] = (
    PruningMethodSpec(
        "magnitude", "Global magnitude (L1)", "magnitude", "global", structured=True,
        citation="Han et al., 2015; structured: Li et al., 2017 (filter norm)",
        params=(_NORM,)),
    PruningMethodSpec(
        "magnitude_layer", "Layer-wise magnitude", "magnitude", "layer", structured=True,
        citation="Han et al., 2015 (each layer to the same sparsity)", params=(_NORM,)),
    PruningMethodSpec(
        "lamp", "LAMP (layer-adaptive magnitude)", "lamp", "global",
        citation="Lee et al., ICLR 2021"),
    PruningMethodSpec(
        "random", "Random", "random", "global", structured=True, stochastic=True,
        citation="the baseline every method must beat", params=(_SCOPE,)),
    PruningMethodSpec(
        "snip", "SNIP (gradient saliency |w·∂L/∂w|)", "snip", "global", needs_data=True,
        citation="Lee et al., ICLR 2019", params=(Param("batches", 1, "int",
                                                        "training batches for the saliency"),)),
    PruningMethodSpec(
        "taylor", "First-order Taylor ((w·∂L/∂w)²)", "taylor", "global", structured=True,
        needs_data=True, citation="Molchanov et al., CVPR 2019", params=(_BATCHES, _SCOPE)),
)

BY_ID: dict[str, PruningMethodSpec] = {m.id: m for m in METHODS}

SCHEDULES = ("oneshot", "finetune", "gradual", "imp")
DEFAULT_SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
