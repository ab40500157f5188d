"""``python main.py attribute WS --model M --dataset D --method ID ...``: a new run.

Prints the run id, or with ``--json`` the run (params, metrics) as JSON; ``--sanity``
also runs the model-randomisation check and reports it.
"""

from __future__ import annotations

from typing import Any

from visualizer.commands import checks

NAME = "attribute"
HELP = "attribution maps of a Captum method, with faithfulness metrics"


def add_arguments(p) -> None:
    from visualizer.analysis.attribution.baselines import KINDS
    from visualizer.analysis.attribution.table import SMOOTH_TYPES

    p.add_argument("workspace")
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--method", default="integrated_gradients",
                   help="a method id (see `plugins`): integrated_gradients, saliency, "
                        "deeplift, occlusion, layer_gradcam, random, ...")
    p.add_argument("--layer", help="layer for layer methods (default: the last convolution)")
    p.add_argument("--target", default="pred", help="pred (default), label or a class index")
    p.add_argument("--baseline", default="zeros", choices=KINDS)
    p.add_argument("--split", default="test", choices=("train", "test", "all"))
    p.add_argument("--limit", type=int,
                   help="a sample of N of the split, drawn with --seed so that it keeps the "
                        "class proportions (default: the whole split)")
    p.add_argument("--samples", help="comma-separated sample indices of the split")
    p.add_argument("--n-steps", type=int, help="path steps (Integrated Gradients, ...)")
    p.add_argument("--smooth", choices=SMOOTH_TYPES, help="NoiseTunnel on a gradient method")
    p.add_argument("--nt-samples", type=int, default=10)
    p.add_argument("--stdev", type=float, default=0.1, help="NoiseTunnel noise std")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter, e.g. --param window=3 (repeatable)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, help="default: chosen from memory")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the --limit sample, random baselines and noise (0)")
    p.add_argument("--no-metrics", action="store_true", help="skip faithfulness metrics")
    p.add_argument("--sanity", action="store_true",
                   help="also run the model-randomisation sanity check")


def run(args) -> dict[str, Any]:
    from visualizer.analysis.attribution.job import attribute_job
    from visualizer.cli import _with_bar

    ws = checks.open_workspace(args.workspace)
    request = _checked_request(ws, args)
    attr_run = ws.run(_with_bar(args, attribute_job, request))
    result: dict[str, Any] = {"id": attr_run.id, "run": attr_run.to_json()}
    if args.sanity:
        from visualizer.analysis.attribution.sanity import (
            SanityRequest,
            sanity_job,
            verdict_text,
        )

        sanity_run = ws.run(_with_bar(args, sanity_job, SanityRequest.from_attribute(
            request, n_samples=min(8, args.limit or 8))))
        result["sanity"] = {**sanity_run.to_json(),
                            "verdict": verdict_text(request.method, sanity_run.metrics,
                                                    sanity_run.params.get("properties"))}
    return result


def _checked_request(ws, args):
    """The request, after every argument was checked against the workspace (the model is
    not loaded: layers come from the catalog)."""
    from plugins.manager import get_manager
    from visualizer.analysis.attribution.api import build_request
    from visualizer.errors import DeepScopeError, NotFoundError

    model = checks.check_model(ws, args.model)
    dataset = checks.check_dataset(ws, args.dataset)
    n = checks.check_split(dataset, args.split)
    manager = get_manager()
    try:
        spec = manager.load(manager.get("attribution_methods", args.method)).spec
    except NotFoundError as exc:
        raise NotFoundError(f"--method {args.method}: {exc.message}", fix=exc.fix) from None
    if args.layer is not None:
        if not spec.layer:
            raise DeepScopeError(f"--layer applies to layer methods; {spec.id} explains the "
                                 "input.", fix="leave --layer out, or choose a layer method "
                                               "such as layer_gradcam.")
        checks.check_layers(model, [args.layer], "--layer")
    checks.check_target(args.target, dataset)
    checks.check_device(args.device)
    params = checks.parse_key_values(args.param, "--param")
    if args.n_steps is not None:
        params["n_steps"] = args.n_steps
    options = dict(split=args.split, limit=args.limit, target=args.target,
                   baseline=args.baseline, layer=args.layer, smooth=args.smooth,
                   nt_samples=args.nt_samples, nt_stdevs=args.stdev, device=args.device,
                   batch_size=args.batch_size, seed=args.seed, metrics=not args.no_metrics)
    if args.samples is not None:
        if args.limit is not None:
            raise DeepScopeError("--limit and --samples both choose the samples.",
                                 fix="give one of them.")
        options["sample_ids"] = checks.check_sample_ids(args.samples, n, args.split)
    from visualizer.analysis.attribution.api import ParamError

    try:
        return build_request(ws, args.model, args.dataset, args.method, params=params,
                             **options)
    except ParamError as exc:  # name the option it came from
        option = "--n-steps" if exc.param == "n_steps" and args.n_steps is not None \
            else f"--param {exc.param}"
        raise DeepScopeError(f"{option}: {exc.message}", fix=exc.fix) from None


def text(result: dict[str, Any]) -> str:
    run = result["run"]
    m, p = run["metrics"], run["params"]
    lines = [run["id"], f"{m['n_samples']} samples with {p.get('method')}"
             + (f" on layer {p['layer']}" if p.get("layer") else "")
             + (f" (a {p['sampling']} sample of the {p.get('split')} split, seed "
                f"{p['sample_seed']})" if p.get("sample_seed") is not None else "")]
    for key in ("deletion_auc", "insertion_auc", "infidelity", "sensitivity", "mean_delta"):
        if m.get(key) is not None:
            lines.append(f"  {key:<14} {m[key]:.4f}")
    if m.get("not_converged"):
        lines.append(f"  not converged: {m['not_converged']} samples after "
                     f"{m.get('max_n_steps')} steps")
    if m.get("n_nonfinite"):
        lines.append(f"  non-finite values: {m['n_nonfinite']}")
    if "sanity" in result:
        lines.append(f"sanity check {result['sanity']['id']}: {result['sanity']['verdict']}")
    return "\n".join(lines)
