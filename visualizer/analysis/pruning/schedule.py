"""Pruning schedules: one-shot, prune then fine-tune, gradual (cubic), and iterative.

Every schedule takes the pruning step as a callable ``prune_to(model, sparsity)`` that
raises the model's sparsity to ``sparsity`` (cumulative: masks only ever grow), so the
schedules work with any method of the table and stay independent of how masks are made.

References
----------
Zhu & Gupta, "To prune, or not to prune", 2017 (the cubic gradual schedule).
Frankle & Carbin, "The Lottery Ticket Hypothesis", ICLR 2019, and Frankle et al.,
"Stabilizing the Lottery Ticket Hypothesis" / "Linear Mode Connectivity and the Lottery
Ticket Hypothesis", 2019 (iterative magnitude pruning with rewinding).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from visualizer.analysis.pruning.finetune import (
    Curves,
    FinetuneParams,
    SparsityOf,
    evaluate,
    finetune,
    mask_sparsity,
    steps_per_epoch,
)
from visualizer.analysis.pruning.table import SCHEDULES
from visualizer.errors import DeepScopeError
from visualizer.jobs.contract import JobContext

PruneTo = Callable[[nn.Module, float], None]
GRADUAL_SPAN = 0.75  # the share of the steps over which gradual pruning ramps up
GRADUAL_EVENTS = 10  # pruning steps along the ramp


@dataclass
class ScheduleResult:
    """What a schedule did.

    Attributes
    ----------
    curves
        Training curves (``None`` for ``oneshot``, which does not train).
    accuracy_before_finetune
        Evaluation accuracy right after pruning, before any training (``finetune``
        only, and only with an evaluation split).
    rounds
        ``imp`` only: per round ``{"round", "target", "sparsity", "eval_accuracy"}``.
    """

    curves: Curves | None
    accuracy_before_finetune: float | None
    rounds: list[dict[str, Any]] = field(default_factory=list)


def cubic_sparsity(
    step: int, *, initial: float, final: float, start: int, n_steps: int, every: int
) -> float:
    """Sparsity at ``step`` under Zhu & Gupta's (2017) cubic schedule (their eq. 1).

    ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))**3`` for the pruning steps
    ``t in {t0, t0 + dt, ..., t0 + n * dt}``; between two pruning steps the sparsity of
    the earlier one holds, ``s_i`` holds before ``t0`` and ``s_f`` from ``t0 + n * dt`` on.

    Parameters
    ----------
    step
        The training step ``t``.
    initial, final
        ``s_i`` and ``s_f``.
    start
        ``t0``, the first pruning step.
    n_steps
        ``n``, the number of pruning intervals.
    every
        ``dt``, training steps between two pruning steps.

    Returns
    -------
    float
        The target sparsity; exactly ``final`` once the ramp is over.
    """
    if step < start:
        return float(initial)
    k = (step - start) // max(1, every)  # the last pruning step reached
    if n_steps <= 0 or k >= n_steps:
        return float(final)
    return float(final + (initial - final) * (1.0 - k / n_steps) ** 3)


def gradual_plan(total_steps: int) -> tuple[int, int]:
    """``(n_steps, every)`` for a ramp over the first ~75% of ``total_steps``.

    About :data:`GRADUAL_EVENTS` pruning steps, so the last one lands at or before
    ``0.75 * total_steps`` and the remaining quarter lets the model recover.
    """
    span = max(1, int(GRADUAL_SPAN * total_steps))
    n = min(GRADUAL_EVENTS, span)
    return n, span // n


class _Offset:
    """A ctx that maps one training run's progress onto the whole schedule's."""

    def __init__(self, ctx: JobContext, offset: int, total: int) -> None:
        self._ctx, self._offset, self._total = ctx, offset, total

    def progress(self, done: float, total: float | None = None) -> None:
        self._ctx.progress(self._offset + done, self._total)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def rewind(model: nn.Module, saved: dict[str, Tensor]) -> None:
    """Load ``saved`` (a ``state_dict`` of the dense model) into ``model``, keeping masks.

    A saved ``<module>.weight`` goes into ``<module>.weight_orig`` where the module is
    pruned, and into ``weight`` where it is not; biases, other parameters and buffers
    (batch-norm statistics) are loaded as they are; ``*_mask`` buffers are never touched.
    The effective weights are then the saved weights where the mask is one, zero elsewhere.
    """
    current = model.state_dict(keep_vars=True)
    with torch.no_grad():
        for key, value in saved.items():
            if key.endswith("_mask"):
                continue
            target = current.get(key + "_orig", current.get(key))
            if target is None:
                raise DeepScopeError(
                    f"cannot rewind {key!r}: the model has no such tensor.",
                    fix="rewind only a model pruned from the saved one.",
                )
            target.copy_(value)


def run_schedule(
    model: nn.Module,
    schedule: str,
    prune_to: PruneTo,
    sparsity: float,
    x_train: np.ndarray | Tensor,
    y_train: np.ndarray | Tensor,
    params: FinetuneParams,
    *,
    seed: int,
    ctx: JobContext | None = None,
    x_eval: np.ndarray | Tensor | None = None,
    y_eval: np.ndarray | Tensor | None = None,
    imp_rounds: int = 3,
    rewind_batches: int = 0,
    sparsity_of: SparsityOf | None = None,
    threads: int | None = None,
) -> ScheduleResult:
    """Prune ``model`` in place to ``sparsity`` along ``schedule``.

    Parameters
    ----------
    model
        The trained dense model; it ends pruned (masks still as reparametrisations).
    schedule
        One of :data:`~.table.SCHEDULES`:

        ``oneshot``
            ``prune_to(model, sparsity)``, no training.
        ``finetune``
            Prune once, evaluate, then fine-tune ``params.epochs`` epochs.
        ``gradual``
            Fine-tune ``params.epochs`` epochs while raising the sparsity from 0 along
            :func:`cubic_sparsity` over the first ~75% of the steps (about ten pruning
            steps, :func:`gradual_plan`); ``sparsity`` is reached exactly.
        ``imp``
            Iterative magnitude pruning with rewinding. The rewind point is the model's
            ``state_dict`` after ``rewind_batches`` training steps of the dense model
            (0: the weights as passed in). Then ``imp_rounds`` rounds ``r = 1..R``, each
            pruning to cumulative sparsity ``1 - (1 - sparsity)**(r / R)``, rewinding
            (:func:`rewind`: every surviving weight, every bias, other parameter and
            buffer back to the rewind point; masks kept; a fresh optimizer) and
            fine-tuning ``params.epochs`` epochs. Pruning in round ``r > 1`` reads the
            weights round ``r - 1`` fine-tuned.
    prune_to
        ``prune_to(model, s)`` raises the sparsity to ``s`` (cumulative).
    sparsity
        The final sparsity in [0, 1).
    x_train, y_train, params, seed, ctx, x_eval, y_eval, sparsity_of, threads
        As in :func:`~.finetune.finetune`. Progress covers the whole schedule; ``threads``
        (process-wide, ``None`` leaves it alone) is for a job that owns its process.
    imp_rounds
        ``R`` for ``imp``.
    rewind_batches
        Training steps of the dense model before the rewind point is taken (``imp``).

    Returns
    -------
    ScheduleResult
        Curves (concatenated over rounds for ``imp``), accuracy before fine-tuning, rounds.
    """
    if schedule not in SCHEDULES:
        raise DeepScopeError(
            f"unknown pruning schedule {schedule!r}.", fix=f"use one of: {', '.join(SCHEDULES)}."
        )
    if not 0 <= sparsity < 1:
        raise DeepScopeError(
            f"sparsity={sparsity!r} is out of range.", fix="use a number in [0, 1)."
        )
    params.validate()
    if schedule == "oneshot":
        if ctx is not None:
            ctx.status(f"pruning to {sparsity:.1%}")
        prune_to(model, sparsity)
        return ScheduleResult(None, None)

    common = dict(
        seed=seed, x_eval=x_eval, y_eval=y_eval, sparsity_of=sparsity_of, threads=threads
    )
    train = functools.partial(finetune, model, x_train, y_train, params, **common)

    def accuracy() -> float | None:
        return evaluate(model, x_eval, y_eval)[0] if x_eval is not None else None

    if schedule == "finetune":
        prune_to(model, sparsity)
        before = accuracy()
        return ScheduleResult(train(ctx=ctx), before)
    if schedule == "gradual":
        return ScheduleResult(_gradual(model, prune_to, sparsity, train, ctx), None)
    rounds, rewind_batches = max(1, int(imp_rounds)), max(0, int(rewind_batches))
    # The last round's target is ``sparsity`` exactly, not up to the power's rounding.
    targets = [1.0 - (1.0 - sparsity) ** (r / rounds) for r in range(1, rounds)] + [sparsity]
    total = rewind_batches + rounds * params.epochs * steps_per_epoch(
        len(y_train), params.batch_size
    )
    return _imp(
        model,
        prune_to,
        targets,
        train,
        accuracy,
        ctx,
        rewind_batches,
        total,
        sparsity_of or mask_sparsity,
    )


def _gradual(model, prune_to, sparsity, train, ctx) -> Curves:
    reached = [0.0]

    def before_step(step: int, total: int) -> None:
        n, every = gradual_plan(total)
        s = cubic_sparsity(step, initial=0.0, final=sparsity, start=0, n_steps=n, every=every)
        if s > reached[0]:
            if ctx is not None:
                ctx.status(f"gradual pruning: {s:.1%} at step {step}")
            prune_to(model, s)
            reached[0] = s

    curves = train(ctx=ctx, before_step=before_step)
    if reached[0] < sparsity:
        # Too few steps for the ramp to end inside training (a run of one step): the
        # schedule still promises the final sparsity.
        prune_to(model, sparsity)
    return curves


def _imp(model, prune_to, targets, train, accuracy, ctx, rewind_batches, total, sparsity_of):
    result = ScheduleResult(Curves(), None)
    curves = result.curves
    if rewind_batches:
        if ctx is not None:
            ctx.status(f"training the dense model {rewind_batches} steps (rewind point)")
        train(ctx=_wrap(ctx, 0, total), curves=curves, max_steps=rewind_batches)
    # Clones: the state_dict's tensors are the live parameters, which training changes.
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for r, target in enumerate(targets, 1):
        if ctx is not None:
            ctx.status(f"round {r}/{len(targets)}: pruning to {target:.1%}")
        prune_to(model, target)
        rewind(model, saved)
        train(ctx=_wrap(ctx, len(curves.step), total), curves=curves)
        result.rounds.append(
            {
                "round": r,
                "target": target,
                "sparsity": float(sparsity_of(model)),
                "eval_accuracy": accuracy(),
            }
        )
    return result


def _wrap(ctx: JobContext | None, offset: int, total: int) -> JobContext | None:
    return None if ctx is None else _Offset(ctx, offset, total)
