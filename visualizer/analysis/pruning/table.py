"""The declarative table of built-in pruning methods.

One row per method id. A row says which criterion scores the weights, whether scores
are compared across layers (``global``) or each layer is pruned to the same fraction
(``layer``), whether the method can prune whole channels (structured, through
Torch-Pruning) and whether it needs training data (gradient criteria). The builtin
objects (:mod:`.builtin`), the CLI's checks and the GUI's method list read only this
table; adding a method is adding a row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from visualizer.errors import DeepScopeError


@dataclass(frozen=True)
class Param:
    """One method parameter as the GUI and the CLI see it (``int``, ``float``, ``choice``).

    ``minimum``: the smallest allowed value of an ``int`` or ``float``; an ``int`` without
    one must be at least 1 (the int parameters count things: batches, rounds).
    """

    name: str
    default: Any
    kind: str = "choice"
    help: str = ""
    choices: tuple[Any, ...] = ()
    minimum: float | None = None

    def convert(self, value: Any, method: str) -> Any:
        """``value`` as this parameter's type (text from the CLI included), or a
        ``DeepScopeError`` naming the method, the parameter and what it takes."""
        where = f"{method} parameter {self.name}={value!r}"
        if self.kind == "choice":
            # the same type and value, or the same text ("2" from --param norm=2)
            for choice in self.choices:
                if (type(value) is type(choice) and value == choice) or str(value) == str(choice):
                    return choice
            raise DeepScopeError(f"{where}: must be one of "
                                 f"{', '.join(map(str, self.choices))}.",
                                 fix=f"give one of them, e.g. {self.name}={self.choices[0]}.")
        number = _number(value, whole=self.kind == "int")
        low = self.minimum if self.minimum is not None else (1 if self.kind == "int" else None)
        if number is None:
            kind = "a whole number" if self.kind == "int" else "a finite number"
            raise DeepScopeError(f"{where}: must be {kind}.",
                                 fix=f"e.g. {self.name}={self.default}.")
        if low is not None and number < low:
            raise DeepScopeError(f"{where}: must be at least {low:g}.",
                                 fix=f"e.g. {self.name}={self.default}.")
        return number


def _number(value: Any, whole: bool) -> int | float | None:
    """An int (``whole``) or a finite float from a number or its text; None if it is not one."""
    if isinstance(value, bool):  # True is an int to Python, not a count to a user
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    if whole:
        return int(number) if number.is_integer() else None
    return number


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

    def check_params(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """``options`` checked against this row and converted to each parameter's type
        (the defaults are not filled in); a ``DeepScopeError`` names what is wrong."""
        if options is not None and not isinstance(options, Mapping):
            raise DeepScopeError(f"the parameters of {self.id} must be a mapping of name to "
                                 f"value (got {type(options).__name__}).",
                                 fix="e.g. params={\"norm\": 2}.")
        out = {}
        for name, value in (options or {}).items():
            param = self.param(name)
            if param is None:
                known = ", ".join(p.name for p in self.params) or "none"
                raise DeepScopeError(f"{self.id} has no parameter {name!r}.",
                                     fix=f"its parameters: {known}.")
            out[name] = param.convert(value, self.id)
        return out

    def with_defaults(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """Every parameter of this row: ``options`` (checked) over the declared defaults,
        so that ``{}`` and the defaults spelled out are the same parameters."""
        return {p.name: p.default for p in self.params} | self.check_params(options)

    @property
    def modes(self) -> str:
        return "/".join(m for m, ok in (("unstructured", self.unstructured),
                                         ("structured", self.structured)) if ok)


_NORM = Param("norm", 1, "choice", "filter norm for structured pruning (L1 or L2)", (1, 2))
_SCOPE = Param("scope", "global", "choice",
               "structured pruning: rank channels across layers (global) or within each",
               ("global", "layer"))
_BATCHES = Param("batches", 8, "int", "training batches the gradient scores are averaged over",
                 minimum=1)

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
                                                        "training batches for the saliency",
                                                        minimum=1),)),
    PruningMethodSpec(
        "taylor", "First-order Taylor ((w·∂L/∂w)²)", "taylor", "global", structured=True,
        needs_data=True, citation="Molchanov et al., CVPR 2019", params=(_BATCHES, _SCOPE)),
)

BY_ID: dict[str, PruningMethodSpec] = {m.id: m for m in METHODS}

SCHEDULES = ("oneshot", "finetune", "gradual", "imp")
DEFAULT_SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
