"""Fine-tuning a pruned model with its masks held fixed, and evaluating it.

The model carries ``torch.nn.utils.prune`` reparametrisations: each pruned module has a
trainable ``weight_orig`` and a ``weight_mask`` buffer, and a forward pre-hook recomputes
``weight = weight_orig * weight_mask`` before every forward pass. Training therefore
needs no masking of its own: the gradient of a pruned entry of ``weight_orig`` is zero
and the effective weight stays exactly zero whatever the optimizer does. Pruning the
model further between steps (gradual pruning, :mod:`.schedule`) only swaps the mask
buffer; ``weight_orig`` stays the same ``Parameter`` object, so the optimizer keeps it.

``evaluate`` is :func:`visualizer.models.evaluation.evaluate`, imported here under its
old name (the zoo's ``evaluate_accuracy`` is the same code).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from visualizer.errors import DeepScopeError
from visualizer.jobs.contract import JobContext
from visualizer.models.evaluation import as_tensor as _as_tensor
from visualizer.models.evaluation import evaluate, model_device, seeded
from visualizer.models.fx_guard import running_modules

OPTIMIZERS = ("sgd", "adam")
PARTIAL_EVERY = 10  # steps between streamed curves: a few updates a second on digits

BeforeStep = Callable[[int, int], None]
SparsityOf = Callable[[nn.Module], float]


@dataclass(frozen=True)
class FinetuneParams:
    """How to fine-tune: optimizer, learning rate, epochs, batch size, weight decay.

    Attributes
    ----------
    optimizer
        ``"sgd"`` (with ``momentum``) or ``"adam"``.
    lr
        Learning rate, constant over the run.
    epochs
        Passes over the training split (0 = no training).
    batch_size
        Samples per step.
    weight_decay
        L2 penalty passed to the optimizer.
    momentum
        SGD momentum (ignored by Adam).
    """

    optimizer: str = "sgd"
    lr: float = 0.01
    epochs: int = 3
    batch_size: int = 64
    # Weight decay acts on ``weight_orig``, so it also shrinks the stored values behind
    # pruned entries; the mask multiplies them by zero in every forward pass, so the
    # effective weights stay exactly zero and decay on them is harmless.
    weight_decay: float = 0.0
    momentum: float = 0.9

    def validate(self) -> FinetuneParams:
        """Check every value; return ``self`` so calls can chain.

        Raises
        ------
        DeepScopeError
            Naming the bad value and its allowed range.
        """
        if self.optimizer not in OPTIMIZERS:
            _bad("optimizer", self.optimizer, f"one of {', '.join(OPTIMIZERS)}")
        if not _finite(self.lr) or not 0 < self.lr <= 10:
            _bad("lr", self.lr, "a number in (0, 10]")
        if not isinstance(self.epochs, int) or not 0 <= self.epochs <= 10_000:
            _bad("epochs", self.epochs, "an integer in [0, 10000]")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 1 << 20:
            _bad("batch_size", self.batch_size, "an integer in [1, 1048576]")
        if not _finite(self.weight_decay) or not 0 <= self.weight_decay < 1:
            _bad("weight_decay", self.weight_decay, "a number in [0, 1)")
        if not _finite(self.momentum) or not 0 <= self.momentum < 1:
            _bad("momentum", self.momentum, "a number in [0, 1)")
        return self


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _bad(name: str, value: Any, allowed: str) -> None:
    raise DeepScopeError(f"fine-tuning {name}={value!r} is out of range.", fix=f"use {allowed}.")


@dataclass
class Curves:
    """Training curves: one entry per step, and one per epoch on the evaluation split.

    ``epoch`` is fractional (0.5 = halfway through the first epoch) and counts on across
    concatenated runs, as ``step`` does, so several rounds plot as one curve.
    """

    step: list[int] = field(default_factory=list)
    epoch: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)  # of the step's batch
    sparsity: list[float] = field(default_factory=list)
    eval_epoch: list[float] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list]:
        """Plain lists of Python numbers (JSON-able) for storage and ``ctx.partial``."""
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Curves:
        """Rebuild from :meth:`to_dict`'s output; missing keys read as empty."""
        return cls(**{k: list(data.get(k, ())) for k in cls.__dataclass_fields__})


def mask_sparsity(model: nn.Module) -> float:
    """Fraction of zeros over every ``torch.nn.utils.prune`` mask in ``model``.

    The default for :func:`finetune`'s sparsity column: it counts only the pruned
    parameters (0.0 while nothing is pruned), not every layer a method could prune.
    """
    zeros = total = 0
    for name, buf in model.named_buffers():
        if name.endswith("_mask"):
            zeros += int((buf == 0).sum())
            total += buf.numel()
    return zeros / total if total else 0.0


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Training steps in one epoch over ``n`` samples (0 for no samples)."""
    steps = -(-n // batch_size)
    # A trailing batch of one is skipped: batch norm cannot train on a single sample.
    return steps - 1 if n > 1 and n % batch_size == 1 else steps


def _optimizer(model: nn.Module, params: FinetuneParams) -> torch.optim.Optimizer:
    trainable = [p for p in model.parameters() if p.requires_grad]
    if params.optimizer == "adam":
        return torch.optim.Adam(trainable, lr=params.lr, weight_decay=params.weight_decay)
    return torch.optim.SGD(
        trainable, lr=params.lr, momentum=params.momentum, weight_decay=params.weight_decay
    )


def _step(
    model: nn.Module, opt: torch.optim.Optimizer, xb: Tensor, yb: Tensor
) -> tuple[float, float]:
    opt.zero_grad(set_to_none=True)
    logits = model(xb)
    loss = nn.functional.cross_entropy(logits, yb)
    loss.backward()
    opt.step()
    return float(loss.detach()), float((logits.detach().argmax(1) == yb).float().mean())


def finetune(
    model: nn.Module,
    x_train: np.ndarray | Tensor,
    y_train: np.ndarray | Tensor,
    params: FinetuneParams,
    *,
    seed: int,
    ctx: JobContext | None = None,
    x_eval: np.ndarray | Tensor | None = None,
    y_eval: np.ndarray | Tensor | None = None,
    before_step: BeforeStep | None = None,
    curves: Curves | None = None,
    sparsity_of: SparsityOf | None = None,
    max_steps: int | None = None,
    threads: int | None = None,
) -> Curves:
    """Train ``model`` in place on the training split, masks held fixed.

    Parameters
    ----------
    model
        The (pruned) model; pruned weights stay exactly zero because the masks are
        ``torch.nn.utils.prune`` reparametrisations applied in every forward pass.
    x_train, y_train
        Inputs ``N x ...`` and integer labels ``N`` (numpy arrays or tensors).
    params
        Optimizer settings; validated here.
    seed
        Seeds the shuffling (a private ``torch.Generator``) and, inside a forked RNG
        state, anything random in the forward pass (dropout): the CPU generator and the
        model's CUDA or MPS device's, nothing else (:func:`~visualizer.models.evaluation.
        seeded`). The same seed gives bit-identical weights on the CPU for the same
        intra-op thread count (any count: a fixed one is deterministic; only changing it
        between runs can change the float sums, e.g. ``threads=1`` vs the default).
    ctx
        Job context: ``progress(done, total)`` per step, ``check_cancelled()`` between
        steps (raises ``JobCancelled``), ``partial({"kind": "finetune_curves", "curves":
        ...})`` every :data:`PARTIAL_EVERY` steps and at each epoch's end.
    x_eval, y_eval
        Evaluation split; its accuracy is recorded after each epoch when given.
    before_step
        ``before_step(step_index, total_steps)`` is called at the start of every step,
        before its forward pass, so the step trains with what it changed (gradual
        pruning raises the sparsity here). ``step_index`` counts from 0 in this call.
    curves
        Curves to append to (steps and epochs continue from its last entry); a new
        :class:`Curves` when ``None``.
    sparsity_of
        ``sparsity_of(model) -> float`` for the sparsity column; defaults to
        :func:`mask_sparsity`.
    max_steps
        Train exactly this many steps instead of ``params.epochs`` epochs, running into
        further epochs as needed (the rewind point of iterative pruning).
    threads
        Intra-op threads while training (restored afterwards); ``None`` (the default)
        leaves the process's setting alone. The count is process-wide: set it only where
        this job has the process to itself (a worker process); in the GUI's process or
        in a thread beside other jobs it would change their speed too. One thread is
        the fastest for the tiny demo models on a busy machine (see
        :func:`visualizer.models.zoo.train_zoo_model`) and gives the same weights on
        machines with different core counts.

    Returns
    -------
    Curves
        ``curves`` (or a new one) with this run appended; the model is left in eval mode.
    """
    params.validate()
    x = _as_tensor(x_train, torch.float32)
    y = _as_tensor(y_train, torch.long)
    if len(y) == 0:
        raise DeepScopeError(
            "fine-tuning needs at least one training sample.",
            fix="choose a dataset with a non-empty train split.",
        )
    curves = Curves() if curves is None else curves
    sparsity_of = sparsity_of or mask_sparsity
    per_epoch = steps_per_epoch(len(y), params.batch_size)
    total = params.epochs * per_epoch if max_steps is None else max(0, int(max_steps))
    epochs = -(-total // per_epoch)
    step0 = curves.step[-1] + 1 if curves.step else 0
    epoch0 = max(curves.epoch[-1:] + curves.eval_epoch[-1:], default=0.0)
    device = model_device(model)
    gen = torch.Generator().manual_seed(seed)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)

    def send() -> None:
        if ctx is not None:
            ctx.partial({"kind": "finetune_curves", "curves": curves.to_dict()})

    # Grad mode is thread-local and a job may run with it off; the forked RNG keeps our
    # seed for dropout from leaking into the caller's global RNG (CPU and our device).
    try:
        with (
            running_modules(),
            torch.enable_grad(),
            torch.inference_mode(False),
            seeded(seed, device),
        ):
            opt = _optimizer(model, params)
            done = 0
            for epoch in range(epochs):
                model.train()
                order = torch.randperm(len(y), generator=gen)
                for b in range(per_epoch):
                    if done >= total:
                        break
                    if ctx is not None:
                        ctx.check_cancelled()
                    if before_step is not None:
                        before_step(done, total)
                    idx = order[b * params.batch_size : (b + 1) * params.batch_size]
                    loss, accuracy = _step(model, opt, x[idx].to(device), y[idx].to(device))
                    done += 1
                    curves.step.append(step0 + done - 1)
                    curves.epoch.append(epoch0 + epoch + (b + 1) / per_epoch)
                    curves.loss.append(loss)
                    curves.train_accuracy.append(accuracy)
                    curves.sparsity.append(float(sparsity_of(model)))
                    if ctx is not None:
                        ctx.progress(done, total)
                        if done % PARTIAL_EVERY == 0:
                            send()
                if x_eval is not None and y_eval is not None:
                    curves.eval_epoch.append(curves.epoch[-1] if curves.epoch else epoch0)
                    curves.eval_accuracy.append(evaluate(model, x_eval, y_eval)[0])
                if ctx is not None:
                    ctx.status(f"fine-tuning: epoch {epoch + 1}/{epochs}")
                send()
    finally:
        if threads is not None:
            torch.set_num_threads(previous_threads)
        model.eval()  # also after a cancel: the caller gets a model in a known mode
    return curves
