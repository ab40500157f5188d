"""Per-unit statistics of one layer of an activation run.

A *unit* is a channel of a convolutional map or a neuron of a dense layer. The
statistics come from the run file (``stats/<layer>``, computed during extraction over
every value of the unit: all samples and all positions); when some are missing, they
are computed from the dump in chunks of whole samples.

Definitions (the one place they are made, so every view agrees):

- **dead**: never active on the dataset, i.e. ``max <= 0`` over all samples and
  positions. A ReLU after it would output zero for every input.
- **saturated**: in a layer whose outputs are never negative (after a ReLU), a unit
  that is non-zero on at least :data:`SATURATED_ACTIVE` of its values: it never uses
  its non-linearity and behaves like a linear unit. In a layer with negative outputs
  (a convolution before its activation) no unit is called saturated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SATURATED_ACTIVE = 0.99
STAT_NAMES = ("mean", "std", "frac_zero", "max", "min")
CHUNK_BYTES = 32 << 20


def dead_units(stats: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean mask of dead units: never active on the dataset (``max <= 0``).

    Parameters
    ----------
    stats
        Per-unit arrays as in ``RunArrays.stats(layer)``; ``max`` is used, and when an
        older run has no ``max``, ``frac_zero >= 1`` (zero everywhere) instead.
    """
    if "max" in stats:
        mx = np.asarray(stats["max"], dtype=np.float64)
        return ~(mx > 0)  # NaN counts as dead: it was never seen active
    return np.asarray(stats["frac_zero"], dtype=np.float64) >= 1.0


def saturated_units(stats: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean mask of saturated units (see the module docstring)."""
    frac_zero = np.asarray(stats["frac_zero"], dtype=np.float64)
    if "min" in stats and np.nanmin(np.asarray(stats["min"], dtype=np.float64),
                                    initial=0.0) < 0:
        return np.zeros(frac_zero.shape, dtype=bool)
    return (1.0 - frac_zero) >= SATURATED_ACTIVE


@dataclass
class UnitTable:
    """Per-unit statistics of one layer.

    Attributes
    ----------
    layer
        Layer name.
    shape
        Per-sample output shape.
    n_samples
        Samples in the run.
    stats
        ``mean``, ``std``, ``frac_zero``, ``max``, ``min`` (float64 arrays of length
        ``units``).
    dead, saturated
        Boolean masks.
    source
        ``"run"`` when read from the stored statistics, ``"dump"`` when computed here.
    """

    layer: str
    shape: tuple[int, ...]
    n_samples: int
    stats: dict[str, np.ndarray]
    dead: np.ndarray
    saturated: np.ndarray
    source: str

    @property
    def units(self) -> int:
        return int(self.dead.size)

    @property
    def dead_fraction(self) -> float:
        return float(self.dead.mean()) if self.dead.size else 0.0


def unit_table(arrays, layer: str, check_cancelled=None) -> UnitTable:
    """Per-unit statistics of ``layer`` in an open ``RunArrays``.

    Reads the stored statistics (a few KB); only when some are missing are they
    computed from the dump, chunk by chunk (memory bounded by :data:`CHUNK_BYTES`).
    """
    ds = arrays[layer]
    shape = tuple(int(s) for s in ds.shape[1:])
    try:
        stats = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.stats(layer).items()}
    except KeyError:
        stats = {}
    source = "run"
    if any(k not in stats for k in STAT_NAMES):
        stats = {**dump_unit_stats(ds, check_cancelled), **stats}
        source = "dump"
    stats = {k: stats[k] for k in STAT_NAMES}
    return UnitTable(layer=layer, shape=shape, n_samples=int(ds.shape[0]), stats=stats,
                     dead=dead_units(stats), saturated=saturated_units(stats), source=source)


def sample_rows(ds, budget: int = CHUNK_BYTES) -> int:
    """How many whole samples of ``ds`` fit ``budget`` bytes (at least one)."""
    per = max(1, int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize)
    return max(1, budget // per)


def dump_unit_stats(ds, check_cancelled=None) -> dict[str, np.ndarray]:
    """Per-unit mean, std, frac_zero, max, min of a ``(N, C, ...)`` or ``(N, D)`` dump.

    Computed in float64 over whole-sample chunks, so a dump larger than memory works.
    """
    n = int(ds.shape[0])
    units = int(ds.shape[1]) if ds.ndim > 1 else 1
    s = np.zeros(units)
    sq = np.zeros(units)
    zeros = np.zeros(units)
    mx = np.full(units, -np.inf)
    mn = np.full(units, np.inf)
    count = 0
    step = sample_rows(ds)
    for start in range(0, n, step):
        if check_cancelled is not None:
            check_cancelled()
        block = np.asarray(ds[start:start + step], dtype=np.float64)
        block = block.reshape(block.shape[0], units, -1).transpose(1, 0, 2).reshape(units, -1)
        count += block.shape[1]
        s += block.sum(axis=1)
        sq += (block * block).sum(axis=1)
        zeros += (block == 0).sum(axis=1)
        if block.shape[1]:
            mx = np.maximum(mx, block.max(axis=1))
            mn = np.minimum(mn, block.min(axis=1))
    c = max(count, 1)
    mean = s / c
    return {"mean": mean, "std": np.sqrt(np.maximum(sq / c - mean**2, 0.0)),
            "frac_zero": zeros / c, "max": mx, "min": mn}


def layer_summary(table: UnitTable) -> dict[str, float]:
    """Scalars for a graph node: mean activation, dead fraction, counts."""
    mean = table.stats["mean"]
    return {"mean_activation": float(np.nanmean(mean)) if mean.size else float("nan"),
            "dead_fraction": table.dead_fraction, "dead": int(table.dead.sum()),
            "saturated": int(table.saturated.sum()), "units": table.units}
