"""What a projection method contributes (``[[projection_methods]]`` in a manifest).

The manifest's ``python_name`` names a ``ProjectionMethod``::

    [[projection_methods]]
    name = "umap"
    python_name = "visualizer.analysis.projection.methods:UMAP"

``fit(x, params, ctx=ctx, report=report)`` gets ``x`` as a C-contiguous ``(N, D)``
float32 array (already PCA-reduced to ``params.pca_dims`` when ``pre_reduce`` is set
and ``D`` is larger), returns ``(N, 2)`` coordinates, calls ``ctx.check_cancelled()``
now and then, and may call ``report(coords, done, total)`` with intermediate layouts.
``params`` is an instance of the method's frozen ``params`` dataclass: the GUI builds
its form from the fields (int, float, str; ``metadata`` may carry ``min``, ``max``,
``choices`` and ``help``), and the stored run records them, so identical parameters
reuse the stored projection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Report = Callable[[np.ndarray, int, int], None]


@dataclass(frozen=True)
class ProjectionMethod:
    name: str
    title: str
    params: type  # a frozen dataclass
    fit: Callable[..., np.ndarray]
    pre_reduce: bool = True  # reduce inputs above params.pca_dims by PCA first
    in_process: bool = True  # holds the GIL or cannot be interrupted: run in a worker
    progressive: bool = False  # reports intermediate layouts

    def __call__(self, x: np.ndarray, params, **kwargs: Any) -> np.ndarray:
        # The plugin manager calls contributions; calling the method fits it.
        return self.fit(x, params, **kwargs)

    def make_params(self, **options: Any):
        """The params dataclass from user options; unknown names are an error."""
        from visualizer.errors import DeepScopeError

        fields = {f.name: f for f in dataclasses.fields(self.params)}
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise DeepScopeError(
                f"{self.name} has no parameter {', '.join(map(repr, unknown))}.",
                fix=f"use: {', '.join(fields)}.")
        values = {}
        for name, value in options.items():
            if value is None:
                continue
            values[name] = _coerce(fields[name], value, self.name)
        return self.params(**values)


def _coerce(f: dataclasses.Field, value: Any, method: str) -> Any:
    from visualizer.errors import DeepScopeError

    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind.startswith("int"):
            value = int(value)
        elif kind.startswith("float"):
            value = float(value)
        elif kind.startswith("str"):
            value = str(value)
    except (TypeError, ValueError) as exc:
        raise DeepScopeError(f"{method} parameter {f.name}={value!r} is not a {kind}.",
                             fix=f"give a {kind}.") from exc
    meta = f.metadata
    if "choices" in meta and value not in meta["choices"]:
        raise DeepScopeError(f"{method} parameter {f.name}={value!r} is not allowed.",
                             fix=f"choose one of {', '.join(map(str, meta['choices']))}.")
    if "min" in meta and value < meta["min"] or "max" in meta and value > meta["max"]:
        raise DeepScopeError(
            f"{method} parameter {f.name}={value!r} is out of range.",
            fix=f"use a value between {meta.get('min', '-inf')} and {meta.get('max', 'inf')}.")
    return value


def params_dict(params) -> dict[str, Any]:
    return dataclasses.asdict(params)
