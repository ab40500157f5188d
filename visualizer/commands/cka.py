"""``python main.py cka WS --runs A,B [--layers-a ...] [--layers-b ...] [--force]``.

Linear CKA between the layers of two activation runs (a dense model and its pruned copy,
or any two models on the same samples). Prints the run id and the CKA of each layer the
two runs share; returns the stored run for identical inputs unless ``--force``.
"""

from __future__ import annotations

import math
from typing import Any

NAME = "cka"
HELP = "linear CKA between the layers of two activation runs (e.g. dense vs pruned)"


def add_arguments(parser) -> None:
    parser.add_argument("workspace")
    parser.add_argument("--runs", required=True, metavar="A,B",
                        help="two activation run ids of the same dataset and split")
    parser.add_argument("--layers-a", help="comma-separated layers of run A (default: all)")
    parser.add_argument("--layers-b", help="comma-separated layers of run B (default: all)")
    parser.add_argument("--max-samples", type=int, default=2000,
                        help="compare at most this many shared samples, a seeded draw "
                             "(2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of that draw (0)")
    parser.add_argument("--force", action="store_true",
                        help="compute again even if this comparison is stored")


def _names(text: str | None, option: str) -> list[str] | None:
    from visualizer.errors import DeepScopeError

    if text is None:
        return None
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise DeepScopeError(f"{option} is empty.", fix="give comma-separated layer names.")
    return names


def check(ws, args) -> dict[str, Any]:
    """The options for :func:`cka_ex`, every argument checked before any work."""
    from visualizer.analysis.pruning.cka import (
        MIN_SAMPLES,
        check_pair,
        match_samples,
        resolve_layers,
    )
    from visualizer.commands.checks import choices_text
    from visualizer.errors import DeepScopeError

    ids = [s.strip() for s in args.runs.split(",")]
    complete = [r.id for r in ws.runs(kind="activations", status="complete")]
    if len(ids) != 2 or not all(ids):
        raise DeepScopeError(f"--runs {args.runs!r}: give two activation run ids, A,B "
                             f"({choices_text(complete)}).",
                             fix="e.g. --runs act-1234abcd,act-5678ef90.")
    if args.max_samples < MIN_SAMPLES:
        raise DeepScopeError(f"--max-samples must be at least {MIN_SAMPLES} "
                             f"(got {args.max_samples}).")
    known = {r.id for r in ws.runs()}
    for run_id in ids:
        if run_id not in known:
            raise DeepScopeError(f"--runs: no run {run_id!r} in this workspace (complete "
                                 f"activation runs: {choices_text(complete)}).",
                                 fix="pick listed runs, or make one with `python main.py "
                                     "extract`.")
    try:
        a, b = check_pair(ws, *ids)
        match_samples(a, b)  # fewer than MIN_SAMPLES shared samples: said now
    except DeepScopeError as exc:
        raise DeepScopeError(f"--runs {args.runs}: {exc.message}", fix=exc.fix) from None
    options: dict[str, Any] = {"max_samples": args.max_samples, "seed": args.seed}
    for option, run, key in (("--layers-a", a, "layers_a"), ("--layers-b", b, "layers_b")):
        names = _names(getattr(args, key), option)
        if names is not None:
            options[key] = resolve_layers(run, names, option)
    return options


def run(args) -> dict[str, Any]:
    from visualizer.analysis.pruning.cka import cka_ex
    from visualizer.cli import TqdmContext
    from visualizer.commands import checks

    ws = checks.open_workspace(args.workspace)
    options = check(ws, args)
    a, b = (s.strip() for s in args.runs.split(","))
    ctx = TqdmContext(quiet=args.quiet or args.json)
    try:
        run, reused = cka_ex(ws, a, b, ctx=ctx, force=args.force, **options)
    finally:
        ctx.close()
    with run.arrays() as arrays:
        shape = list(arrays["matrix"].shape)
        values = arrays["per_layer"][()]
    per_layer = {name: (None if math.isnan(v) else round(float(v), 6))  # JSON has no NaN
                 for name, v in zip(run.params["common_layers"], values, strict=True)}
    return {"id": run.id, "run": run.to_json(), "reused": reused, "matrix_shape": shape,
            "per_layer": per_layer}


def text(result: dict[str, Any]) -> str:
    p = result["run"]["params"]
    rows, cols = result["matrix_shape"]
    lines = [result["id"],
             f"{'reused stored' if result['reused'] else 'new'} linear CKA of {p['run_a']} "
             f"({p['model_a']}) vs {p['run_b']} ({p['model_b']}): {rows} x {cols} layers, "
             f"{p['n_samples']} samples"]
    if not result["per_layer"]:
        lines.append("no layer names in common; the full matrix is in the run's arrays")
    width = max((len(name) for name in result["per_layer"]), default=0)
    for name, value in result["per_layer"].items():
        shown = "undefined (constant or non-finite)" if value is None else f"{value:.4f}"
        lines.append(f"  {name:<{width}}  {shown}")
    return "\n".join(lines)
