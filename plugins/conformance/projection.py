"""Checks for projection methods on three well-separated Gaussian blobs.

Each method is fitted through the plugin manager as the projection job fits it (its
declared defaults, a recording job context, a report callback) on 150 seeded points
in 10-D (``sklearn.datasets.make_blobs``), and checked for: valid parameter
declarations, ``(N, 2)`` finite output, the same layout under the same seed, a quality
floor against scikit-learn's PCA as the reference (trustworthiness, and the three
blobs kept apart), intermediate layouts when declared progressive, and cancellation:
a cancel raised by ``ctx.check_cancelled()`` in the middle of a fit stops it.

Checks run with one native thread (``run_checks``): the data are tiny. UMAP-like methods
compile numba code on their first fit in a process with a cold cache (10-30 s); a check
shows its time when it takes over a second and says it is slow over five.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from plugins.api import Contribution
from plugins.conformance.core import SLOW_SECONDS, ConformanceError, Steps, require
from plugins.manager import PluginManager

N_POINTS, DIMS, CENTERS, SEED = 150, 10, 3, 0
TRUST_FLOOR = 0.80  # trustworthiness never below this on the blobs
TRUST_SLACK = 0.05  # ... nor more than this below the PCA reference
KNN_FLOOR = 0.95  # 5-NN leave-one-out accuracy of the blob labels in 2-D
FIELD_TYPES = ("int", "float", "str")
METHOD_FIELDS = ("params", "make_params", "pre_reduce", "in_process", "title")


def blobs():
    """``(x, y)``: three well-separated Gaussian blobs, seeded, C-contiguous float32."""
    import numpy as np
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=N_POINTS, n_features=DIMS, centers=CENTERS,
                      cluster_std=1.0, random_state=SEED)
    return np.ascontiguousarray(x, dtype=np.float32), y


class RecordingContext:
    """A job context that records what a fit does, and cancels at the n-th check."""

    def __init__(self, cancel_at: int | None = None):
        self.cancel_at = cancel_at
        self.checks = 0
        self.events: list[str] = []  # progress/report calls, in order, with "cancel"
        self.reports: list[tuple[Any, int, int]] = []

    @property
    def cancelled(self) -> bool:
        return self.cancel_at is not None and self.checks >= self.cancel_at

    def progress(self, done: float, total: float | None = None) -> None:
        self.events.append("progress")

    def status(self, text: str) -> None:
        pass

    def partial(self, obj: Any) -> None:
        self.events.append("partial")

    def check_cancelled(self) -> None:
        from visualizer.jobs.contract import JobCancelled

        self.checks += 1
        if self.cancel_at is not None and self.checks >= self.cancel_at:
            self.events.append("cancel")
            raise JobCancelled("conformance: cancelled on purpose")

    def report(self, coords, done: int, total: int) -> None:
        self.events.append("report")
        self.reports.append((coords, done, total))


def _fit(manager, c, x, params, ctx: RecordingContext):
    import numpy as np

    coords = manager.call(c, x, params, ctx=ctx, report=ctx.report, hook=f"{c.id} fit")
    return np.asarray(coords)


def check_projection_method(manager: PluginManager, c: Contribution,
                            steps: Steps | None = None) -> None:
    """Run every projection check on one contribution (see the module docstring)."""
    steps = steps or Steps(c, strict=True)
    with steps.step("declares") as note:
        method = manager.load(c)
        require(callable(method), "python_name must name a callable (a ProjectionMethod)")
        missing = [f for f in METHOD_FIELDS if not hasattr(method, f)]
        require(not missing, f"the method lacks {', '.join(missing)}")
        params_type = method.params
        require(dataclasses.is_dataclass(params_type) and isinstance(params_type, type),
                "method.params must be a dataclass")
        require(params_type.__dataclass_params__.frozen, "method.params must be frozen")
        fields = dataclasses.fields(params_type)
        for f in fields:
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            require(kind in FIELD_TYPES, f"parameter {f.name}: type {kind!r} is not one of "
                                         f"{FIELD_TYPES} (the GUI builds its form from them)")
            require(f.default is not dataclasses.MISSING, f"parameter {f.name} needs a default")
        # the defaults must pass the method's own validation (ranges, choices)
        params = method.make_params(**{f.name: f.default for f in fields})
        require(params == params_type(), "make_params(defaults) differs from params()")
        note.text = f"{len(fields)} parameters, defaults valid" + (
            f" ({', '.join(f'{f.name}={f.default}' for f in fields)})" if fields else "")

    import numpy as np

    x, y = blobs()
    ctx = RecordingContext()
    with steps.step("fit") as note:
        coords = _fit(manager, c, x.copy(), params, ctx)
        require(coords.shape == (N_POINTS, 2),
                f"returned shape {coords.shape}, expected ({N_POINTS}, 2)")
        note.text = f"({N_POINTS}, 2) from {N_POINTS} blob points in {DIMS}-D"
    with steps.step("finite") as note:
        bad = int((~np.isfinite(coords)).any(axis=1).sum())
        require(bad == 0, f"{bad} of {N_POINTS} points have NaN or inf coordinates")
        note.text = "no NaN or inf"
    first_seconds = steps.results[-2].seconds  # the "fit" step
    with steps.step("seeded", fatal=False) as note:
        started = time.perf_counter()
        again = _fit(manager, c, x.copy(), params, RecordingContext())
        again_seconds = time.perf_counter() - started
        require(again.shape == coords.shape and np.array_equal(again, coords),
                "two fits with the same parameters (seed) give different layouts")
        note.text = "two fits with the same seed give the same layout"
        if first_seconds >= SLOW_SECONDS and again_seconds < first_seconds / 2:
            note.text += (f"; this fit took {again_seconds:.1f} s, so the first fit's "
                          f"{first_seconds:.0f} s was one-time warm-up (imports, compilation)")
    with steps.step("quality", fatal=False) as note:
        note.text = check_quality(x, y, coords)
    if getattr(method, "progressive", False):
        with steps.step("progress reports", fatal=False) as note:
            require(ctx.reports, "declared progressive but never called report(coords, ...)")
            bad = [(np.shape(r), d, t) for r, d, t in ctx.reports
                   if np.shape(r) != (N_POINTS, 2) or not 0 <= d <= t]
            require(not bad, f"bad report(coords, done, total) calls, e.g. {bad[:1]}")
            note.text = f"{len(ctx.reports)} intermediate (N, 2) layouts"
    with steps.step("cancel", fatal=False) as note:
        note.text = check_cancel(manager, c, method, x, params, ctx.checks)


def check_quality(x, y, coords) -> str:
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    reference = trustworthiness(x, PCA(2).fit_transform(x), n_neighbors=10)
    floor = max(TRUST_FLOOR, reference - TRUST_SLACK)
    trust = trustworthiness(x, coords, n_neighbors=10)
    require(trust >= floor, f"trustworthiness(k=10) {trust:.3f} < floor {floor:.3f} "
                            f"(scikit-learn PCA reaches {reference:.3f})")
    knn = cross_val_score(KNeighborsClassifier(5), coords, y, cv=5).mean()
    require(knn >= KNN_FLOOR, f"the three blobs overlap in 2-D: 5-NN accuracy {knn:.3f} "
                              f"< {KNN_FLOOR}")
    return (f"trustworthiness {trust:.3f} >= {floor:.3f} (PCA reference {reference:.3f}); "
            f"blobs apart (5-NN accuracy {knn:.2f})")


def check_cancel(manager, c, method, x, params, n_checks: int) -> str:
    """A cancel in the middle of the fit (at the middle ``check_cancelled`` call of an
    uncancelled fit) must come out as ``JobCancelled`` and stop the fit."""
    from visualizer.jobs.contract import JobCancelled

    if n_checks == 0:
        require(bool(method.in_process),
                "runs in the host's thread (in_process = false) but never calls "
                "ctx.check_cancelled(), so a cancel cannot stop it")
        return ("never calls ctx.check_cancelled(); runs in a worker process "
                "(in_process = true), which Cancel terminates")
    at = n_checks // 2 + 1
    ctx = RecordingContext(cancel_at=at)
    try:
        _fit(manager, c, x.copy(), params, ctx)
    except JobCancelled:
        pass
    else:
        raise ConformanceError(f"ctx.check_cancelled() raised JobCancelled (call {at} of "
                             f"{n_checks}) but the fit returned a layout: the cancel was "
                             "swallowed")
    after = ctx.events[ctx.events.index("cancel") + 1:]
    require(not after, f"the fit went on after the cancel: {len(after)} more "
                       f"progress/report calls")
    return f"a cancel at check {at} of {n_checks} raised JobCancelled and stopped the fit"
