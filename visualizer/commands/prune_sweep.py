"""``python main.py prune-sweep WS --model M --dataset D --methods a,b --sparsities ...``:
methods × sparsities as one resumable run (run it again after a cancel or a crash: the
finished points are kept)."""

from __future__ import annotations

from typing import Any

from visualizer.commands import checks
from visualizer.commands.prune import add_common, common_options

NAME = "prune-sweep"
HELP = "prune with several methods at several sparsities (resumable), one model per point"


def add_arguments(p) -> None:
    p.add_argument("--methods", default="magnitude,random,snip",
                   help="comma-separated method ids (default: magnitude,random,snip)")
    p.add_argument("--sparsities", help="comma-separated fractions in [0, 1) "
                                        "(default: 0.5,0.7,0.8,0.9,0.95,0.98)")
    add_common(p)


def _floats(text: str, option: str) -> list[float]:
    from visualizer.errors import DeepScopeError

    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise DeepScopeError(f"{option} must be comma-separated numbers (got {text!r}).",
                             fix=f"e.g. {option} 0.5,0.9.") from None


def run(args) -> dict[str, Any]:
    from visualizer.analysis.pruning.api import build_sweep
    from visualizer.analysis.pruning.sweep import sweep_job
    from visualizer.cli import _with_bar

    ws = checks.open_workspace(args.workspace)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    options = common_options(ws, args, methods)
    sparsities = _floats(args.sparsities, "--sparsities") if args.sparsities else None
    request = build_sweep(ws, args.model, args.dataset, methods, sparsities, **options)
    run = ws.run(_with_bar(args, sweep_job, request))
    return {"id": run.id, "run": run.to_json(), "points": run.params["points"]}


def text(result: dict[str, Any]) -> str:
    m = result["run"]["metrics"]
    lines = [result["id"], f"{m['n_points']} points: {m['computed']} computed, "
                           f"{m['reused']} kept from before; parent accuracy "
                           f"{m.get('parent_accuracy') or 0:.4f}"]
    for p in result["points"]:
        lines.append(f"  {p['method']:<16} {p['sparsity']:>5.0%}  accuracy "
                     f"{p['accuracy']:.4f}  {p['model']}{'  (kept)' if p['reused'] else ''}")
    return "\n".join(lines)
