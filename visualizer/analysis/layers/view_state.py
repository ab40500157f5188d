"""The Layer view's Qt-free state: what it shows, so it can be saved and rendered."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

DETAIL_TABS = ("units", "weights", "sample", "top", "compare")
UNIT_STATS = ("mean", "std", "frac_zero", "max", "min")

#: ``color_by`` until the user picks a colouring: weight sparsity for a pruned model,
#: mean activation for any other.
AUTO = "auto"
DEFAULT_COLOUR = "mean_activation"
PRUNED_COLOUR = "zero_weights"

#: Short names accepted by ``--set colour=...`` besides the keys themselves.
COLOUR_ALIASES = {
    "sparsity": "zero_weights", "weight_sparsity": "zero_weights", "zeros": "zero_weights",
    "activation": "mean_activation", "dead": "dead_fraction", "norm": "weight_norm",
    "params": "n_params", "layer_type": "type",
}


def colour_keys() -> tuple[str, ...]:
    """Every valid ``color_by``: ``auto``, ``type`` and the graph's statistics."""
    from visualizer.analysis.layers.graph import COLOR_STATS

    return (AUTO, "type", *COLOR_STATS)


def colour_key(text: str) -> str:
    """The ``color_by`` key named by ``text`` (a key or an alias such as ``sparsity``).

    Raises ``ValueError`` naming the choices for anything else.
    """
    key = COLOUR_ALIASES.get(text.strip().lower().replace("-", "_"), text.strip())
    if key not in colour_keys():
        choices = ", ".join(sorted({*colour_keys(), *COLOUR_ALIASES} - {AUTO}))
        raise ValueError(f"colour={text}: not a colouring; choose one of {choices}")
    return key


def resolve_colour(color_by: str, pruned: bool) -> str:
    """The colouring to draw: ``color_by`` itself unless it is :data:`AUTO`."""
    if color_by != AUTO:
        return color_by
    return PRUNED_COLOUR if pruned else DEFAULT_COLOUR


@dataclass
class LayerViewState:
    """Options of the Layer view (everything but the shared selection).

    Attributes
    ----------
    color_by
        A key of ``graph.COLOR_STATS``, ``"type"``, or ``"auto"`` (the default until the
        user picks one: weight sparsity for a pruned model, else mean activation).
    collapse_depth
        Fold every module at this depth (0: show every layer).
    collapsed
        Module paths folded by hand (double-click).
    search
        Text of the search box.
    tab
        Detail tab shown: one of :data:`DETAIL_TABS`.
    unit_stat, unit_sort
        Statistic of the per-unit bar chart and whether it is sorted descending.
    unit
        The unit whose top-activating samples are shown.
    top_k, reduce
        How many samples, and how a channel's map becomes one score (mean or max).
    shared_scale
        Feature maps on one colour scale for the layer (else one per channel).
    compare_model
        The second model of the side-by-side comparison.
    """

    color_by: str = AUTO
    collapse_depth: int = 0
    collapsed: tuple[str, ...] = ()
    search: str = ""
    tab: str = "units"
    unit_stat: str = "mean"
    unit_sort: bool = False
    unit: int = 0
    top_k: int = 16
    reduce: str = "mean"
    shared_scale: bool = True
    compare_model: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_options(cls, options: dict[str, str]) -> LayerViewState:
        """Build from ``--set key=value`` strings; unknown keys raise ``KeyError``.

        ``colour`` (or ``color``) is ``color_by`` under its short names
        (``colour=sparsity``); a colouring that does not exist raises ``ValueError``.
        """
        state = cls()
        types = {f.name: f.type for f in fields(cls)}
        for key, text in options.items():
            if key in ("colour", "color", "color_by"):
                state.color_by = colour_key(text)
                continue
            if key not in types:
                raise KeyError(key)
            kind = str(types[key])
            if "bool" in kind:
                value = text.lower() in ("1", "true", "yes", "on")
            elif "int" in kind:
                value = int(text)
            elif "tuple" in kind:
                value = tuple(t for t in text.split(",") if t)
            else:
                value = text
            setattr(state, key, value)
        return state
