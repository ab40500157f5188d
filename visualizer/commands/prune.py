"""``python main.py prune WS --model M --dataset D --method ID --sparsity S ...``: a
pruned copy of a model, stored as a derived model with its lineage."""

from __future__ import annotations

from typing import Any

from visualizer.commands import checks

NAME = "prune"
HELP = "prune a model (unstructured or channels), optionally fine-tune it, store it"


def add_common(p) -> None:
    """Options shared with ``prune-sweep``."""
    from visualizer.analysis.pruning.table import SCHEDULES

    p.add_argument("workspace")
    p.add_argument("--model", required=True, help="the model to prune (it is not changed)")
    p.add_argument("--dataset", required=True,
                   help="its dataset: the train split fine-tunes and scores, the test split "
                        "evaluates")
    p.add_argument("--structured", action="store_true",
                   help="remove whole channels (Torch-Pruning): a smaller, faster model")
    p.add_argument("--schedule", default="oneshot", choices=SCHEDULES,
                   help="oneshot (default); finetune: one-shot then fine-tune; gradual: "
                        "Zhu & Gupta's cubic schedule while fine-tuning; imp: iterative "
                        "magnitude pruning with rewinding")
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (3)")
    p.add_argument("--lr", type=float, default=0.01, help="fine-tuning learning rate (0.01)")
    p.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--imp-rounds", type=int, default=3, help="rounds of --schedule imp (3)")
    p.add_argument("--layers", help="comma-separated layers to prune (default: every "
                                    "convolution and linear layer but the classifier)")
    p.add_argument("--include-classifier", action="store_true",
                   help="prune the final classifier too")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter, e.g. --param norm=2 (repeatable; a sweep gives "
                        "it to the methods that declare it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")


def add_arguments(p) -> None:
    p.add_argument("--method", default="magnitude",
                   help="magnitude (default), magnitude_layer, lamp, random, snip, taylor, "
                        "or a pruning-method plugin id")
    p.add_argument("--sparsity", type=float, required=True,
                   help="fraction of weights (with --structured: channels) to remove, "
                        "in [0, 1)")
    p.add_argument("--name", help="name of the new model (default: from the method, "
                                  "sparsity and schedule)")
    add_common(p)


def common_options(ws, args, methods: list[str]) -> dict[str, Any]:
    """The checked options shared by ``prune`` and ``prune-sweep`` (``params``: the
    ``--param`` values, checked against the methods that declare them)."""
    from visualizer.analysis.pruning.finetune import FinetuneParams
    from visualizer.errors import DeepScopeError, NotFoundError

    model = checks.check_model(ws, args.model)
    dataset = checks.check_dataset(ws, args.dataset)
    checks.check_split(dataset, "test")
    layers = None
    if args.layers:
        # names only: whether a layer is prunable (a subclass of nn.Conv2d is) is the
        # job's check, on the loaded model, before it writes anything
        layers = [n.strip() for n in args.layers.split(",") if n.strip()]
        checks.check_layers(model, layers, "--layers")
    checks.check_device(args.device)
    for dest in ("optimizer", "lr", "epochs", "batch_size"):  # the fine-tuning ranges
        try:
            FinetuneParams(**{dest: getattr(args, dest)}).validate()
        except DeepScopeError as exc:
            raise DeepScopeError(f"{checks.flag(dest)} {getattr(args, dest)}: {exc.message}",
                                 fix=exc.fix) from None
    from visualizer.analysis.pruning.job import resolve_method

    needs_train = args.schedule != "oneshot"
    specs = []
    for method in methods:
        try:
            _, obj = resolve_method(method)
        except NotFoundError as exc:
            raise NotFoundError(f"--method {method}: {exc.message}", fix=exc.fix) from None
        specs.append(obj.spec)
        needs_train = needs_train or obj.spec.needs_data
    if needs_train:
        checks.check_split(dataset, "train")
    return dict(structured=args.structured, schedule=args.schedule, layers=layers,
                include_classifier=args.include_classifier, optimizer=args.optimizer,
                lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                imp_rounds=args.imp_rounds, seed=args.seed, device=args.device,
                params=_params(args.param, specs))


def _params(items: list[str], specs) -> dict[str, Any]:
    """``--param KEY=VALUE`` values, each in its type; one that no method declares, or a
    value its method refuses, is named after the option."""
    from visualizer.errors import DeepScopeError

    params = checks.parse_key_values(items, "--param")
    for key, value in params.items():
        owners = [s for s in specs if s.param(key)]
        if not owners:
            declared = sorted({p.name for s in specs for p in s.params})
            raise DeepScopeError(
                f"--param {key}={value}: no method here ({', '.join(s.id for s in specs)}) "
                f"has a parameter {key!r}.",
                fix=f"their parameters: {', '.join(declared) or 'none'}.")
        try:
            params[key] = [s.check_params({key: value}) for s in owners][0][key]
        except DeepScopeError as exc:
            raise DeepScopeError(f"--param: {exc.message}", fix=exc.fix) from None
    return params


def run(args) -> dict[str, Any]:
    from visualizer.analysis.pruning.api import build_request
    from visualizer.analysis.pruning.job import prune_job
    from visualizer.cli import _with_bar

    ws = checks.open_workspace(args.workspace)
    options = common_options(ws, args, [args.method])
    request = build_request(ws, args.model, args.dataset, args.method, args.sparsity,
                            name=args.name, **options)
    run = ws.run(_with_bar(args, prune_job, request))
    return {"id": run.id, "model": run.params["model"], "run": run.to_json(),
            "lineage": ws.catalog.model(run.params["model"]).info["lineage"]}


def text(result: dict[str, Any]) -> str:
    m, lin = result["run"]["metrics"], result["lineage"]
    cost = lin.get("cost") or {}
    parent_cost = cost.get("parent") or {}
    lines = [result["model"],
             f"{lin['method']} {'channels' if lin['structured'] else 'weights'} "
             f"{lin['sparsity']:.1%} sparse ({lin['schedule']}) from {lin['parent']}; "
             f"run {result['id']}",
             f"  test accuracy {m['accuracy']:.4f} (parent {m['parent_accuracy']:.4f}"
             + (f", before fine-tuning {m['accuracy_before_finetune']:.4f}"
                if m.get("accuracy_before_finetune") is not None else "") + ")",
             f"  samples forgotten {m['forgotten']}, gained {m['gained']}",
             f"  parameters {cost.get('nonzero_params', 0):,} non-zero of "
             f"{cost.get('params', 0):,} (parent {parent_cost.get('params', 0):,})"]
    if cost.get("latency_ms") and parent_cost.get("latency_ms"):
        lines.append(f"  MACs {cost['macs']:,} (parent {parent_cost['macs']:,}); latency "
                     f"{cost['latency_ms']:.2f} ms vs {parent_cost['latency_ms']:.2f} ms per "
                     "batch of 64")
    return "\n".join(lines)
