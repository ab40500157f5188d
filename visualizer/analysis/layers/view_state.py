"""The Layer view's Qt-free state: what it shows, so it can be saved and rendered."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

DETAIL_TABS = ("units", "weights", "sample", "top", "compare")
UNIT_STATS = ("mean", "std", "frac_zero", "max", "min")


@dataclass
class LayerViewState:
    """Options of the Layer view (everything but the shared selection).

    Attributes
    ----------
    color_by
        A key of ``graph.COLOR_STATS`` or ``"type"``.
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

    color_by: str = "mean_activation"
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
        """Build from ``--set key=value`` strings; unknown keys raise ``KeyError``."""
        state = cls()
        types = {f.name: f.type for f in fields(cls)}
        for key, text in options.items():
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
