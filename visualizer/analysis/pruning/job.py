"""The pruning job: prune a copy of a model, run its schedule, and store the result as a
derived model plus a ``pruning`` run.

``prune_job(request, ctx) -> run_id``. The parent is loaded fresh (never borrowed from
the model pool: pruning changes the module). The run file holds the test split's
per-sample columns (``correct``, ``confidence``, ``forgotten``, ``gained``: every view
can colour or filter by them), the predictions of both models, the masks and the
fine-tuning curves; the catalog's model row holds the lineage (:mod:`.derived`).

Order of writes: weights, run file, model row, then the run is marked complete. A job
that fails on the way removes what it wrote (:func:`.derived.discard`); one killed
between the model row and completion leaves a ``running`` run whose writer is dead,
and the next ``Workspace.open`` marks it interrupted and removes its model
(:func:`.derived.discard_unfinished`), so a derived model always has a complete run
behind it. A complete model is never overwritten: a rerun picks a free name
(:func:`.derived.free_name`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from visualizer.analysis.pruning.table import BY_ID, SCHEDULES
from visualizer.errors import DeepScopeError
from visualizer.models.fx_guard import running_modules

KIND = "pruning"
STRUCTURED_SCHEDULES = ("oneshot", "finetune")  # channels are removed once, physically
#: Whole-number options of a request and their smallest allowed value.
WHOLE_OPTIONS = {"epochs": 1, "batch_size": 1, "imp_rounds": 1, "seed": 0}
CLASSIFIER_REFUSAL = "channel pruning cannot remove the classifier's outputs (its classes)"


@dataclass(frozen=True)
class PruneRequest:
    workspace: str
    model: str  # the parent
    dataset: str
    method: str  # a pruning_methods id ("pruning.magnitude") or short name
    sparsity: float
    structured: bool = False
    schedule: str = "oneshot"
    layers: tuple[str, ...] | None = None  # default: every conv/linear but the classifier
    include_classifier: bool = False
    params: tuple[tuple[str, Any], ...] = ()  # the method's parameters
    optimizer: str = "sgd"
    lr: float = 0.01
    epochs: int = 3
    batch_size: int = 64
    imp_rounds: int = 3
    seed: int = 0
    name: str | None = None
    device: str = "cpu"
    sweep: str | None = None  # the prune_sweep run this point belongs to

    def key_fields(self) -> dict[str, Any]:
        """What the pruned model is made from (not where it is stored or who asked), in
        one spelling: two requests that make the same model give the same fields, and
        every field that changes the model is kept."""
        contribution, method = resolve_method(self.method)
        spec = method.spec
        fields = asdict(self)
        for k in ("workspace", "name", "device", "sweep"):
            fields.pop(k)
        fields["method"] = contribution.id  # "magnitude" and "pruning.magnitude" are one
        fields["params"] = sorted(spec.with_defaults(dict(self.params)).items())
        if self.layers is not None:  # named layers: their order and include_classifier
            fields["layers"] = sorted(set(self.layers))  # change nothing
            fields["include_classifier"] = False
        trains = self.schedule != "oneshot"
        if not trains:
            for k in ("optimizer", "lr", "epochs"):
                fields.pop(k)
        if not (trains or spec.needs_data):  # the scoring batches are batch_size long
            fields.pop("batch_size")
        if self.schedule != "imp":
            fields.pop("imp_rounds")
        return fields


def resolve_method(name: str):
    """``(contribution, method object)`` for a pruning method id or short name."""
    from plugins.manager import get_manager

    manager = get_manager()
    contribution = manager.get("pruning_methods", name)
    return contribution, manager.load(contribution)


def whole(name: str, value: Any, low: int) -> int:
    """``value`` as an int of at least ``low``, or a ``DeepScopeError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise DeepScopeError(f"{name} must be a whole number (got {value!r}).",
                             fix=f"give an integer of at least {low}.")
    if value < low:
        raise DeepScopeError(f"{name} must be at least {low} (got {value}).",
                             fix=f"give an integer of at least {low}.")
    return int(value)


def check_request(request: PruneRequest, spec=None) -> None:
    """Refuse what cannot start, before any work: one line naming the value and the fix."""
    from visualizer.analysis.pruning.finetune import FinetuneParams
    from visualizer.analysis.pruning.unstructured import check_sparsity

    check_sparsity(request.sparsity)
    if request.schedule not in SCHEDULES:
        raise DeepScopeError(f"unknown schedule {request.schedule!r}.",
                             fix=f"use one of: {', '.join(SCHEDULES)}.")
    if spec is not None and request.structured and not spec.structured:
        structured = ", ".join(m.id for m in BY_ID.values() if m.structured)
        raise DeepScopeError(f"{spec.id} prunes single weights only, not channels.",
                             fix=f"leave out --structured, or use one of: {structured}.")
    if spec is not None and not request.structured and not spec.unstructured:
        raise DeepScopeError(f"{spec.id} prunes channels only.", fix="add --structured.")
    if request.structured and request.schedule not in STRUCTURED_SCHEDULES:
        raise DeepScopeError(f"schedule {request.schedule!r} applies to unstructured "
                             "pruning only (channels are removed once).",
                             fix=f"use {' or '.join(STRUCTURED_SCHEDULES)} with --structured.")
    if request.structured and request.include_classifier and request.layers is None:
        raise DeepScopeError(f"{CLASSIFIER_REFUSAL}.", fix=_CLASSIFIER_FIX)
    if request.layers is not None and (
            not isinstance(request.layers, tuple)
            or not all(isinstance(n, str) and n for n in request.layers)):
        raise DeepScopeError(f"layers must be layer names (got {request.layers!r}).",
                             fix="give a list of names such as [\"conv1\", \"fc1\"], or "
                                 "leave it out to prune every layer but the classifier.")
    for name, low in WHOLE_OPTIONS.items():
        whole(name, getattr(request, name), low)
    # the fine-tuning module's own ranges (lr in (0, 10] ...), before any run exists
    FinetuneParams(optimizer=request.optimizer, lr=request.lr, epochs=request.epochs,
                   batch_size=request.batch_size).validate()
    if spec is not None:
        spec.check_params(dict(request.params))


_CLASSIFIER_FIX = ("leave the classifier out of the layers (and --include-classifier off), "
                   "or prune it unstructured (without --structured).")


def pruned_layers(model, request: PruneRequest) -> list[str]:
    """The layers ``request`` prunes in ``model``; channel pruning of the classifier (its
    outputs are the classes) is refused."""
    from visualizer.analysis.pruning.layers import classifier_name, prunable_layers

    layers = prunable_layers(model, request.layers,
                             include_classifier=request.include_classifier)
    if request.structured and classifier_name(model) in layers:
        raise DeepScopeError(f"{CLASSIFIER_REFUSAL}: {classifier_name(model)!r} is the "
                             "classifier.", fix=_CLASSIFIER_FIX)
    return layers


@dataclass
class Parent:
    """What every point of a sweep shares, read and measured once: the workspace, the
    parent model (pristine: each point prunes a copy), the data and the parent's
    predictions and cost on the test split."""

    ws: Any
    record: Any
    model: Any
    device: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    accuracy: float = 0.0
    prediction: np.ndarray | None = None
    _cost: dict[str, Any] | None = None

    def cost(self) -> dict[str, Any]:
        """The parent's parameters and MACs (latency is timed beside each pruned model)."""
        if self._cost is None:
            import torch

            example = torch.zeros(1, *self.x_test.shape[1:], device=self.device)
            self._cost = _cost(self.model, example, False)
        return self._cost


def prepare_parent(ws, model: str, dataset: str, device: str) -> Parent:
    """Load the parent and the data, and evaluate the parent on the test split."""
    from visualizer.analysis.pruning.finetune import evaluate
    from visualizer.jobs.device import resolve_device

    device = resolve_device(device)
    data = ws.load_dataset(dataset)
    (x_train, y_train), (x_test, y_test) = data.arrays("train"), data.arrays("test")
    if len(x_test) == 0:
        raise DeepScopeError(f"dataset {dataset!r} has no test split to evaluate on.",
                             fix="import a dataset with a test split.")
    parent = Parent(ws, ws.catalog.model(model), ws.load_model(model, device=device), device,
                    x_train, y_train, x_test, y_test)
    with running_modules():
        parent.accuracy, parent.prediction, _ = evaluate(parent.model, x_test, y_test)
    return parent


def prune_job(request: PruneRequest, ctx, parent: Parent | None = None) -> str:
    """Job: prune, run the schedule, store the derived model; returns the run id.

    ``parent`` (from :func:`prepare_parent`) lets a sweep share one load of the parent
    and the data among its points."""
    import copy

    import torch

    from visualizer.analysis.pruning import derived
    from visualizer.analysis.pruning.finetune import FinetuneParams, evaluate
    from visualizer.analysis.pruning.forgotten import compare_predictions
    from visualizer.analysis.pruning.schedule import run_schedule
    from visualizer.analysis.pruning.unstructured import make_permanent, sparsity
    from visualizer.workspace.provenance import base_provenance
    from visualizer.workspace.workspace import Workspace

    contribution, method = resolve_method(request.method)
    check_request(request, method.spec)
    if parent is None:
        ctx.status(f"loading {request.model} and {request.dataset}")
        parent = prepare_parent(Workspace(request.workspace), request.model, request.dataset,
                                request.device)
    ws, device = parent.ws, parent.device
    x_train, y_train, x_test, y_test = parent.x_train, parent.y_train, parent.x_test, parent.y_test
    if len(x_train) == 0 and (request.schedule != "oneshot" or method.spec.needs_data):
        raise DeepScopeError(f"dataset {request.dataset!r} has no train split, which "
                             f"{'fine-tuning' if request.schedule != 'oneshot' else method.spec.id} "
                             "needs.", fix="import a dataset with a train split, or prune "
                                           "one-shot with a method that needs no data.")
    model = copy.deepcopy(parent.model)
    layers = pruned_layers(model, request)  # refusals come before any write
    key = derived.request_key(request.key_fields())
    if request.name is not None:
        derived.claim_name(ws, request.name)  # refused before any work if a model has it
    name = request.name or derived.free_name(ws, derived.auto_name(
        parent.record.name, contribution.name, request.sparsity, request.schedule,
        request.structured))
    parent_lineage = derived.lineage(parent.record) or {}
    params = method.spec.with_defaults(dict(request.params))
    example = torch.zeros(1, *x_test.shape[1:], device=device)
    generator = torch.Generator().manual_seed(request.seed)
    batches = _score_batches(method.spec, params, x_train, y_train, request.batch_size,
                             generator, device)
    parent_acc, parent_pred = parent.accuracy, parent.prediction
    parent_cost = parent.cost()

    with running_modules():
        channels_before = _kept(model, layers)
        ops: list = []

        def prune_to(m, target: float) -> None:
            ctx.check_cancelled()
            if request.structured:
                from visualizer.analysis.pruning.structured import prune_structured

                ops.extend(prune_structured(m, example, layers, method, target,
                                            batches=batches, seed=request.seed, params=params))
            else:
                from visualizer.analysis.pruning.unstructured import prune_unstructured

                prune_unstructured(m, layers, method, target, batches=batches,
                                   seed=request.seed, params=params)

        ft = FinetuneParams(optimizer=request.optimizer, lr=request.lr, epochs=request.epochs,
                            batch_size=request.batch_size)
        ctx.status(f"{method.spec.title} to {request.sparsity:.0%} ({request.schedule})")
        outcome = run_schedule(
            model, request.schedule, prune_to, request.sparsity, x_train, y_train, ft,
            seed=request.seed, ctx=ctx, x_eval=x_test, y_eval=y_test,
            imp_rounds=request.imp_rounds,
            sparsity_of=None if request.structured else (lambda m: sparsity(m, layers)[0]))
        ctx.check_cancelled()
        masks = None if request.structured else make_permanent(model, layers)
        accuracy, pred, conf = evaluate(model, x_test, y_test)
        if request.structured:  # timed beside the parent, under the same load
            from visualizer.analysis.pruning.structured import compare_latency

            cost = _cost(model, example, False)
            parent_cost = dict(parent_cost)
            parent_cost["latency_ms"], cost["latency_ms"] = compare_latency(
                parent.model, model, example)
        else:  # zeros in dense kernels: the parent's MACs and time, fewer non-zeros
            cost = {**parent_cost, "nonzero_params": _nonzero(model)}
    achieved, per_layer = _achieved(model, layers, request.structured, channels_before)
    change = compare_predictions(y_test, parent_pred, pred)
    all_ops = list(parent_lineage.get("structured_ops") or []) + [[n, list(i)] for n, i in ops]
    training = None if request.schedule == "oneshot" else {
        "optimizer": request.optimizer, "lr": request.lr, "epochs": request.epochs,
        "batch_size": request.batch_size}
    run_params = {
        "model": name, "parent": parent.record.name, "dataset": request.dataset, "split": "test",
        "method": contribution.name, "method_id": contribution.id, "key": key,
        "sparsity": request.sparsity, "structured": request.structured,
        "schedule": request.schedule, "layers": layers, "seed": request.seed,
        "sweep": request.sweep, "options": params,
        **({"batch_size": request.batch_size} if method.spec.needs_data else {}),
        **(training or {}),
        **({"imp_rounds": request.imp_rounds} if request.schedule == "imp" else {}),
    }
    metrics = {
        "accuracy": float(accuracy), "parent_accuracy": float(parent_acc),
        "accuracy_before_finetune": outcome.accuracy_before_finetune,
        "sparsity": achieved, "forgotten": change.n_forgotten, "gained": change.n_gained,
        **{f"cost_{k}": v for k, v in cost.items()},
        **{f"parent_cost_{k}": v for k, v in parent_cost.items()},
    }
    info = {
        "parent": parent.record.name, "method": contribution.name, "method_id": contribution.id,
        "structured": request.structured, "target_sparsity": request.sparsity,
        "sparsity": achieved, "layer_sparsity": per_layer, "layers": layers,
        "schedule": request.schedule, "options": params,
        "finetune": training and {**training, "split": "train"},
        "seed": request.seed, "parent_accuracy": float(parent_acc),
        "accuracy_before_finetune": outcome.accuracy_before_finetune,
        "accuracy": float(accuracy), "curves": outcome.curves is not None,
        "rounds": outcome.rounds, "cost": {**cost, "parent": parent_cost},
        "sweep": request.sweep, "key": key, "dataset": request.dataset,
        "forgotten": change.n_forgotten, "gained": change.n_gained,
        "structured_ops": all_ops or None,
        "kept_channels": _kept(model, layers) if request.structured else None,
        "created": time.time(),
    }
    columns = {"label": np.asarray(y_test, dtype=np.int64), "prediction": pred.astype(np.int64),
               "parent_prediction": parent_pred.astype(np.int64),
               **{c: np.asarray(v, dtype=np.float32) for c, v in (
                   ("correct", pred == y_test), ("parent_correct", parent_pred == y_test),
                   ("forgotten", change.forgotten), ("gained", change.gained),
                   ("confidence", conf))},
               **{f"masks/{layer}": m.cpu().numpy().astype(np.uint8)
                  for layer, m in (masks or {}).items()},
               # float64 under curves/: runfile.per_sample_columns skips the group
               **{f"curves/{k}": np.asarray(v, dtype=np.float64)
                  for k, v in (outcome.curves.to_dict() if outcome.curves else {}).items()}}
    ctx.status(f"storing {name}")
    return derived.store(
        ws, ws.new_run(KIND, model=name, dataset=request.dataset, params=run_params,
                       provenance=base_provenance(seed=request.seed, device=device)),
        name, parent.record, model, metrics=metrics, info=info, columns=columns,
        input_shape=x_test.shape[1:],
        layer_table=None if request.structured else (parent.record.info or {}).get("layers"))


def _score_batches(spec, params, x, y, batch_size, generator, device) -> list:
    """Seeded training batches for gradient criteria (none for the others)."""
    import torch

    if not spec.needs_data or len(x) == 0:
        return []
    n = int(params.get("batches", 1))  # params come with their defaults filled in
    order = torch.randperm(len(x), generator=generator).numpy()
    out = []
    for i in range(max(1, n)):
        idx = order[i * batch_size:(i + 1) * batch_size]
        if len(idx) == 0:
            break
        out.append((torch.as_tensor(x[idx], device=device),
                    torch.as_tensor(y[idx], dtype=torch.long, device=device)))
    return out


def _cost(model, example, measure_latency: bool) -> dict[str, Any]:
    """Parameters (all and non-zero), MACs, and if asked the measured latency."""
    from visualizer.analysis.pruning.structured import cost

    out = dict(cost(model, example, latency=measure_latency))
    out["nonzero_params"] = _nonzero(model)
    return out


def _nonzero(model) -> int:
    return int(sum(int((p != 0).sum()) for p in model.parameters()))


def _achieved(model, layers, structured, before: dict[str, int]
              ) -> tuple[float, dict[str, float]]:
    """Achieved sparsity: of weights (unstructured) or of output channels (structured)."""
    from visualizer.analysis.pruning.unstructured import sparsity

    if not structured:
        overall, per_layer = sparsity(model, layers)
        return float(overall), {k: float(v) for k, v in per_layer.items()}
    after = _kept(model, layers)
    per_layer = {n: 1.0 - after[n] / before[n] for n in layers if before.get(n)}
    total = sum(before.get(n, 0) for n in layers)
    overall = 1.0 - sum(after[n] for n in layers) / total if total else 0.0
    return float(overall), per_layer


def _kept(model, layers) -> dict[str, int]:
    modules = dict(model.named_modules())
    return {n: int(modules[n].weight.shape[0]) for n in layers}
