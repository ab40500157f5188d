"""Structured pruning: whole output channels removed through Torch-Pruning.

Torch-Pruning traces the model into a dependency graph, so removing a convolution's
output channels also removes the matching batch-norm entries, the next layer's input
channels and, across a residual addition, the same channels of every branch that is
added. We drive its pruner one group at a time (``step(interactive=True)``) and record,
for every group, the root module and the channel indices it removed. Those ops, in
order, are the pruned model: :func:`replay_structured` rebuilds the exact shape on a
freshly built parent, so a pruned model is stored as parent + ops, never as a pickle.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from visualizer.analysis.pruning.unstructured import check_sparsity
from visualizer.errors import DeepScopeError
from visualizer.models.evaluation import model_device, seeded
from visualizer.models.fx_guard import running_modules

#: Module types Torch-Pruning can take as the root of a group (and that we ignore unless
#: listed): every convolution and linear layer.
_LAYER_TYPES = (nn.modules.conv._ConvNd, nn.Linear)
_FIX = "prune it unstructured (leave out --structured)."
LATENCY_BATCH, LATENCY_RUNS, LATENCY_WARMUP = 64, 7, 2

Op = tuple[str, list[int]]


class StructuredPruningError(DeepScopeError):
    """Torch-Pruning cannot trace or prune the channels of this model."""


def _cannot(exc: BaseException) -> StructuredPruningError:
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    return StructuredPruningError(
        f"Torch-Pruning cannot prune channels of this model ({reason})", fix=_FIX)


def _check_unmasked(model: nn.Module) -> None:
    masked = [n for n, m in model.named_modules() if hasattr(m, "weight_orig")]
    if masked:
        raise DeepScopeError(
            f"layer {masked[0]!r} carries an unstructured pruning mask; channels can only "
            "be removed from plain weights",
            fix="make the masks permanent first (unstructured.make_permanent).")


def prune_structured(model: nn.Module, example_input: Tensor, layers: Sequence[str],
                     method: Any, sparsity: float, *,
                     batches: Sequence[tuple[Tensor, Tensor]] = (), seed: int = 0,
                     params: Mapping[str, Any] | None = None) -> list[Op]:
    """Remove the lowest-ranked output channels of ``layers``, in place.

    Parameters
    ----------
    model
        The model; it shrinks in place. If this raises after pruning began the model is
        left part-pruned: prune a copy.
    example_input
        A batch the model takes, for tracing.
    layers
        Module names whose output channels may go; every other convolution and linear
        layer (the classifier too) keeps its outputs (Torch-Pruning's
        ``ignored_layers``), though its inputs follow the channels removed upstream.
    method
        A structured-capable pruning method (``.spec``, ``.importance(**params)``).
    sparsity
        Fraction of channels to remove, in [0, 1), counted from the model as given
        (Torch-Pruning's ``pruning_ratio``). To reach a cumulative target ``s`` on a model
        an earlier round pruned to ``s0``, pass ``1 - (1 - s) / (1 - s0)``.
    batches
        ``(x, y)`` training batches: gradient importances (Taylor) read
        ``weight.grad`` after a backward pass over them.
    seed
        Seeds the CPU's global generator (random importance draws from it) and the
        model's CUDA/MPS device's (dropout in Taylor's backward passes), inside a forked
        RNG state that gives them back afterwards; other devices are left alone.
    params
        Method parameters; the row's defaults fill the missing ones. ``scope``
        (``global``/``layer``) chooses whether channels are ranked across layers.

    Returns
    -------
    list of (str, list of int)
        One op per pruned group, in the order applied: the root layer's name and the
        output-channel indices removed (in that layer's numbering at that moment).

    Raises
    ------
    StructuredPruningError
        When Torch-Pruning cannot trace or prune the model, or the pruned model no
        longer runs.
    DeepScopeError
        For a bad sparsity, an unknown layer, a method without structured mode, or a
        model that carries unstructured masks.
    """
    import torch.nn.functional as F  # noqa: N812 - the usual name
    import torch_pruning as tp

    target = check_sparsity(sparsity)
    spec = method.spec
    if not spec.structured:
        raise DeepScopeError(f"pruning method {spec.id!r} cannot prune whole channels",
                             fix="prune it unstructured, or pick a structured method.")
    merged = {p.name: p.default for p in spec.params} | dict(params or {})
    _check_unmasked(model)
    named = dict(model.named_modules())
    unknown = [n for n in layers if n not in named]
    if unknown:
        raise DeepScopeError(f"the model has no layer named {unknown[0]!r}",
                             fix="list layers with prunable_layers(model).")
    listed = set(layers)
    ignored = [m for n, m in named.items() if isinstance(m, _LAYER_TYPES) and n not in listed]
    names = {m: n for n, m in named.items()}
    importance = method.importance(**merged)
    needs_grad = isinstance(importance, tp.importance.GroupTaylorImportance)
    if needs_grad and not batches:
        raise DeepScopeError(f"pruning method {spec.id!r} ranks channels by gradients and "
                             "needs training batches, but none were given",
                             fix="prune with a training split (the model's dataset).")
    was_training = model.training
    ops: list[Op] = []
    # Torch-Pruning traces through autograd: grad on, even in a no-grad worker thread
    # seeded() seeds only what it forks and gives back (not torch.manual_seed, which
    # reseeds every CUDA device while fork_rng restores only the listed ones)
    with running_modules(), torch.inference_mode(False), torch.enable_grad(), \
            seeded(int(seed), model_device(model, example_input.device)):
        try:
            pruner = tp.pruner.BasePruner(
                model, (example_input,), importance=importance, pruning_ratio=target,
                global_pruning=merged.get("scope", spec.scope) == "global",
                ignored_layers=ignored)
            model.train(was_training)  # tracing switched it to eval
            if needs_grad:
                model.zero_grad(set_to_none=True)
                for x, y in list(batches)[:max(1, int(merged.get("batches", 1)))]:
                    F.cross_entropy(model(x), y).backward()
            for group in pruner.step(interactive=True):
                root, idxs = group[0].dep.target.module, [int(i) for i in group[0].idxs]
                if idxs:  # a global threshold can leave a group with nothing to remove
                    ops.append((names[root], idxs))
                    group.prune()
            model.eval()  # batch norm in train mode refuses a batch of one
            with torch.no_grad():
                model(example_input)  # a model that traced but does not run after pruning
        except DeepScopeError:
            raise
        except Exception as exc:  # noqa: BLE001 - any tracing/pruning failure is the same
            raise _cannot(exc) from exc
        finally:
            if needs_grad:
                model.zero_grad(set_to_none=True)
            model.train(was_training)
    return ops


def replay_structured(model: nn.Module, example_input: Tensor, ops: Sequence[Op]) -> nn.Module:
    """Rebuild a structurally pruned model from its freshly built parent.

    Parameters
    ----------
    model
        The parent architecture, unpruned (its weights do not matter: load the pruned
        model's state dict afterwards).
    example_input
        A batch the model takes, for tracing.
    ops
        What :func:`prune_structured` returned, in order.

    Returns
    -------
    nn.Module
        ``model`` itself, shrunk to the pruned shape.

    Raises
    ------
    StructuredPruningError
        When the ops name a layer the model lacks or a channel it does not have, or
        Torch-Pruning cannot trace the model.
    """
    import torch_pruning as tp

    named = dict(model.named_modules())
    was_training = model.training
    with running_modules(), torch.inference_mode(False), torch.enable_grad():
        try:
            dg = tp.DependencyGraph().build_dependency(model, example_inputs=(example_input,))
            for name, idxs in ops:
                module = named.get(name)
                if module is None or not isinstance(module, _LAYER_TYPES):
                    raise ValueError(f"no convolution or linear layer named {name!r}")
                out = dg.get_out_channels(module)
                if any(not 0 <= int(i) < out for i in idxs) or len(set(idxs)) >= out:
                    raise ValueError(f"channels {list(idxs)} do not fit layer {name!r} "
                                     f"with {out} output channels")
                fn = (tp.prune_linear_out_channels if isinstance(module, nn.Linear)
                      else tp.prune_conv_out_channels)
                dg.get_pruning_group(module, fn, [int(i) for i in idxs]).prune()
        except Exception as exc:  # noqa: BLE001 - tracing or op failures read the same
            raise _cannot(exc) from exc
        finally:
            model.train(was_training)
    return model


def kept_channels(ops: Sequence[Op], original_channels: Mapping[str, int]
                  ) -> dict[str, list[int]]:
    """The original output channels that survived, per layer.

    Parameters
    ----------
    ops
        Ops from :func:`prune_structured`, in order (each op's indices number the
        channels as they were when it ran).
    original_channels
        Layer name -> its output channels before pruning.

    Returns
    -------
    dict of str to list of int
        For every layer of ``original_channels``, the surviving original indices in
        ascending order (all of them for layers no op names). Layers that lost
        channels as members of another root's group (a residual branch, say) are
        not named by the ops and show all their channels.
    """
    kept = {name: list(range(n)) for name, n in original_channels.items()}
    for name, idxs in ops:
        if name in kept:
            gone = set(idxs)
            kept[name] = [c for i, c in enumerate(kept[name]) if i not in gone]
    return kept


def _sync(device: torch.device) -> None:
    """Wait for the work queued on ``device``: CUDA and MPS run kernels asynchronously,
    so a forward pass returns once its kernels are launched, not when they finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _timed(model: nn.Module, batch: Tensor, device: torch.device) -> float:
    """Seconds of one forward pass, from an idle device to the last kernel's end."""
    _sync(device)  # nothing queued before (warm-up, the other model) counts
    started = time.perf_counter()
    model(batch)
    _sync(device)
    return time.perf_counter() - started


def cost(model: nn.Module, example_input: Tensor, *, latency: bool = True
         ) -> dict[str, Any]:
    """What running the model costs: parameters, multiply-accumulates, latency.

    Parameters
    ----------
    model
        The model, on the device it will be timed on.
    example_input
        One or more samples; the MAC count is per sample of it, the latency is that of
        a batch of 64 (repeated from its first sample).
    latency
        Time the forward passes; ``False`` skips the timing (``latency_ms`` is None),
        e.g. for unstructured pruning, where zeros in dense kernels save no time.

    Returns
    -------
    dict
        ``params`` (int), ``macs`` (int, Torch-Pruning's op counter, for a batch of one)
        and ``latency_ms``: the median of several timed forward passes under
        ``no_grad`` after a warm-up, each waited for to its end on CUDA and MPS
        (``synchronize``), where kernels run asynchronously. Latency depends on the
        machine and its load; compare it only between models timed on the same machine.
    """
    import torch_pruning as tp

    one = example_input[:1]
    batch = one.expand(LATENCY_BATCH, *one.shape[1:]).contiguous()
    device = model_device(model, example_input.device)
    was_training = model.training
    model.eval()
    try:
        with running_modules(), torch.no_grad():
            macs, params = tp.utils.count_ops_and_params(model, one)
            if not latency:
                return {"params": int(params), "macs": int(macs), "latency_ms": None}
            for _ in range(LATENCY_WARMUP):  # first passes allocate and pick kernels
                model(batch)
            times = [_timed(model, batch, device) for _ in range(LATENCY_RUNS)]
    finally:
        model.train(was_training)
    return {"params": int(params), "macs": int(macs),
            "latency_ms": 1000.0 * sorted(times)[len(times) // 2]}


def compare_latency(dense: nn.Module, pruned: nn.Module, example_input: Tensor,
                    runs: int = 15) -> tuple[float, float]:
    """Median milliseconds per batch of 64 of two models, timed interleaved (dense,
    pruned, pruned, dense, ...) so that both see the same machine load: timings taken
    minutes apart on a busy machine can differ by more than pruning changes them. On
    CUDA and MPS every pass is waited for to its end (``synchronize``)."""
    one = example_input[:1]
    batch = one.expand(LATENCY_BATCH, *one.shape[1:]).contiguous()
    devices = [model_device(m, example_input.device) for m in (dense, pruned)]
    modes = dense.training, pruned.training
    dense.eval(), pruned.eval()
    times: dict[int, list[float]] = {0: [], 1: []}
    try:
        with running_modules(), torch.no_grad():
            for model in (dense, pruned):
                for _ in range(LATENCY_WARMUP):
                    model(batch)
            for r in range(runs):
                for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                    times[i].append(_timed((dense, pruned)[i], batch, devices[i]))
    finally:
        dense.train(modes[0]), pruned.train(modes[1])
    return tuple(1000.0 * sorted(t)[len(t) // 2] for t in (times[0], times[1]))
