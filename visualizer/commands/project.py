"""``python main.py project WS --run RUN --layer L --method umap|pca|tsne [--json]``."""

from __future__ import annotations

from typing import Any

NAME = "project"
HELP = "2-D projection (UMAP, PCA, t-SNE) of one layer of an activation run"


def add_arguments(parser) -> None:
    parser.add_argument("workspace")
    parser.add_argument("--run", required=True, help="an activation run id (see `info`)")
    parser.add_argument("--layer", required=True, help="a layer of that run")
    parser.add_argument("--method", default="umap",
                        help="pca, umap, tsne, or a projection-method plugin id "
                             "(default: umap)")
    parser.add_argument("--n-neighbors", type=int, help="UMAP neighbourhood size (15)")
    parser.add_argument("--min-dist", type=float, help="UMAP minimum distance (0.1)")
    parser.add_argument("--metric", help="UMAP/t-SNE distance (euclidean, cosine, ...)")
    parser.add_argument("--perplexity", type=float, help="t-SNE perplexity (30)")
    parser.add_argument("--n-epochs", type=int, help="UMAP epochs (0: umap's default)")
    parser.add_argument("--seed", type=int, help="random seed (0)")
    parser.add_argument("--pca-dims", type=int,
                        help="reduce inputs above this many dimensions by PCA first "
                             "(50; 0: never)")
    parser.add_argument("--force", action="store_true",
                        help="compute again even if this projection is stored")


OPTION_NAMES = ("n_neighbors", "min_dist", "metric", "perplexity", "n_epochs", "seed",
                "pca_dims")


def run(args) -> dict[str, Any]:
    from visualizer.analysis.projection.api import project_ex
    from visualizer.cli import TqdmContext
    from visualizer.commands import checks

    ws = checks.open_workspace(args.workspace)
    options = _checked_options(ws, args)
    ctx = TqdmContext(quiet=args.quiet or args.json)
    try:
        run, reused = project_ex(ws, args.run, args.layer, args.method, force=args.force,
                                 ctx=ctx, **options)
    finally:
        ctx.close()
    return {"id": run.id, "run": run.to_json(), "reused": reused}


def _checked_options(ws, args) -> dict[str, Any]:
    """The method's options, after --run, --layer and --method were checked."""
    from visualizer.analysis.projection.job import resolve_method
    from visualizer.commands.checks import choices_text
    from visualizer.errors import DeepScopeError, NotFoundError

    runs = ws.runs(kind="activations", status="complete")
    source = next((r for r in ws.runs() if r.id == args.run), None)
    if source is None or source.kind != "activations" or source.status != "complete":
        what = ("no such run in this workspace" if source is None
                else f"it is a {source.status} {source.kind} run")
        raise NotFoundError(f"--run {args.run}: {what}; projections are made of complete "
                            f"activation runs ({choices_text([r.id for r in runs])}).",
                            fix="pick a listed run, or make one with `python main.py "
                                "extract`.")
    layers = list(source.params.get("layers", []))
    if args.layer not in layers:
        raise NotFoundError(f"--layer {args.layer!r}: run {args.run} has no such layer "
                            f"(layers: {choices_text(layers)}).", fix="pick a listed layer.")
    try:
        _, method = resolve_method(args.method)
    except NotFoundError as exc:
        raise NotFoundError(f"--method {args.method}: {exc.message}", fix=exc.fix) from None
    accepted = {f for f in method.params.__dataclass_fields__}
    options = {}
    for name in OPTION_NAMES:
        value = getattr(args, name)
        if value is None:
            continue
        if name not in accepted:
            raise DeepScopeError(f"--{name.replace('_', '-')} does not apply to "
                                 f"{args.method}.",
                                 fix=f"{args.method} takes: "
                                     f"{', '.join(sorted(accepted))}.")
        options[name] = value
    try:
        method.make_params(**options)
    except DeepScopeError as exc:  # a value of the wrong kind, said in the method's terms
        raise DeepScopeError(f"{args.method} options: {exc.message}", fix=exc.fix) from None
    return options


def text(result: dict[str, Any]) -> str:
    run = result["run"]
    m, p = run["metrics"], run["params"]
    trust = m.get("trustworthiness_k10")
    return (f"{run['id']}\n{'reused stored' if result['reused'] else 'new'} {p['method']} "
            f"projection of {p['layer']} ({m.get('n_samples')} samples"
            + (f", trustworthiness {trust:.3f}" if trust is not None else "") + ")")
