"""Which features of a vector (tabular) sample to chart, in what order, with what
labels and colours (numpy only, no Qt; drawn by :mod:`qt_feature_bars`).

A researcher reads a tabular attribution as "which features pushed this prediction, and
what were their values": features are ranked by |attribution|, the strongest first, at
most ``TOP_FEATURES`` of them, each labelled ``name = input value``. Features whose
attribution is NaN or inf are never ranked or drawn; they are listed by name so the
chart cannot hide them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from widgets.attribution import colormaps as cm

TOP_FEATURES = 20
MAX_LABEL_CHARS = 32  # longer names are cut so that the bars keep most of the width


@dataclass(frozen=True)
class FeatureBars:
    """The bars to draw for one sample, strongest first.

    Attributes
    ----------
    index
        Feature indices (columns of the input) of the drawn bars, by descending
        |attribution|.
    values
        Their attributions: signed, or absolute when the view shows absolute maps.
    labels
        One per bar: ``"name = input value"``, or the name alone when the inputs are
        unknown or do not match the attributions in length.
    colours
        ``(len(index), 3)`` uint8, from the same colour maps as the image overlays.
    vmax
        The value that gets the strongest colour.
    n_features
        How many features the sample has.
    nonfinite
        Names of the features whose attribution is NaN or inf (not drawn).
    """

    index: np.ndarray
    values: np.ndarray
    labels: list[str]
    colours: np.ndarray
    vmax: float
    n_features: int
    nonfinite: list[str]

    @property
    def n_hidden(self) -> int:
        """Finite features left out because only the top ones are drawn."""
        return self.n_features - len(self.index) - len(self.nonfinite)


def feature_label(name: str, value: float | None) -> str:
    """``"alcohol = 1.23"``; long names are cut with an ellipsis."""
    if len(name) > MAX_LABEL_CHARS:
        name = name[: MAX_LABEL_CHARS - 1] + "…"
    return name if value is None else f"{name} = {value:.3g}"


def feature_names_or_default(names: Sequence[str] | None, n: int) -> list[str]:
    """The dataset's names when there is one per feature, else ``f0, f1, ...``."""
    if names is not None and len(names) == n:
        return [str(s) for s in names]
    return [f"f{i}" for i in range(n)]


def feature_bars(attr: np.ndarray, inputs: np.ndarray | None,
                 feature_names: Sequence[str] | None, *, signed: bool, vmax: float,
                 top: int = TOP_FEATURES) -> FeatureBars:
    """Rank the features of one sample's attribution and label the ``top`` strongest.

    Parameters
    ----------
    attr
        The sample's attribution, one value per feature (flattened if not 1-D).
    inputs
        The sample's input values, for the labels; ignored unless one per feature.
    feature_names
        The dataset's feature names, or ``None`` for ``f0, f1, ...``.
    signed
        Chart signed attributions (diverging colours) or their absolute values
        (sequential colours), like the image maps.
    vmax
        The value that gets the strongest colour (the view's per-sample or per-run
        scale); bars longer than it keep that colour.
    top
        At most this many bars.
    """
    a = np.asarray(attr, dtype=np.float64).reshape(-1)
    n = a.size
    names = feature_names_or_default(feature_names, n)
    x = None if inputs is None else np.asarray(inputs, dtype=np.float64).reshape(-1)
    if x is not None and x.size != n:
        x = None
    finite = np.isfinite(a)
    shown = a if signed else np.abs(a)
    candidates = np.flatnonzero(finite)
    # stable sort: equal magnitudes keep column order, so the chart is reproducible
    order = candidates[np.argsort(-np.abs(a[candidates]), kind="stable")][:max(0, top)]
    values = shown[order]
    colours, _ = cm.colorize(values[None, :], signed, vmax)
    labels = [feature_label(names[i], None if x is None else float(x[i])) for i in order]
    return FeatureBars(index=order, values=values, labels=labels,
                       colours=colours.reshape(-1, 3), vmax=float(vmax), n_features=n,
                       nonfinite=[names[i] for i in np.flatnonzero(~finite)])
