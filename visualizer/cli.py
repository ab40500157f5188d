"""The headless command line (DESIGN.md section 8); ``main.py`` dispatches here.

Every command that creates something prints the new id, or with ``--json`` one JSON
object, so scripts and tests can chain commands. Long commands show a tqdm bar and stop
cleanly on Ctrl-C (the run is marked ``cancelled``; no partial file is left).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from visualizer.commands import COMMAND_MODULES
from visualizer.errors import DeepScopeError

CORE_COMMANDS = ("new", "demo", "info", "import-model", "import-data", "extract", "plugins")
# `render` draws a view offscreen, so it lives in widgets; main.py routes it there.
COMMANDS = (*CORE_COMMANDS, *COMMAND_MODULES, "render")


class TqdmContext:
    """A job context that draws a tqdm bar on stderr (silent with ``quiet``)."""

    def __init__(self, quiet: bool = False):
        from tqdm import tqdm

        self._bar = tqdm(total=None, disable=quiet, file=sys.stderr, unit="it",
                         dynamic_ncols=True, leave=False)

    def progress(self, done: float, total: float | None = None) -> None:
        if total is not None and self._bar.total != total:
            self._bar.reset(total=total)
        self._bar.n = done
        self._bar.refresh()

    def status(self, text: str) -> None:
        self._bar.set_description_str(text[:60])

    def partial(self, obj: Any) -> None:
        pass

    cancelled = False

    def check_cancelled(self) -> None:
        pass  # Ctrl-C arrives as KeyboardInterrupt in the main thread

    def close(self) -> None:
        self._bar.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepscope",
        description="DeepScope: see inside PyTorch models. Without a command, opens the "
                    "window on WORKSPACE (default: the demo workspace).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("new", help="create an empty workspace (then import a model and data)")
    p.add_argument("workspace")
    _common(p)

    p = sub.add_parser("demo", help="build the demo workspace (digits + mlp/cnn/resnet)")
    p.add_argument("workspace")
    p.add_argument("--device", default="auto")
    _common(p)

    p = sub.add_parser("info", help="list models, datasets and runs")
    p.add_argument("workspace")
    _common(p)

    p = sub.add_parser("import-model", help="copy a model file into the workspace")
    p.add_argument("workspace")
    p.add_argument("path")
    p.add_argument("--name", required=True)
    p.add_argument("--arch", help="architecture for weights-only files: a zoo name "
                                  "(mlp, cnn, resnet) or module:factory / file.py:factory")
    p.add_argument("--trust", action="store_true",
                   help="allow formats that run code when loaded (TorchScript, torch.export, "
                        "pickled modules); only for files from a source you trust")
    p.add_argument("--input-shape", help="per-sample input shape, e.g. 3,32,32")
    _common(p)

    p = sub.add_parser("import-data", help="validate a dataset and store it in the workspace")
    p.add_argument("workspace")
    p.add_argument("path", help=".npz (x, y), .h5/.hdf5 (x, y) or an image folder")
    p.add_argument("--name", required=True)
    _common(p)

    p = sub.add_parser("extract", help="dump layer activations of a model to HDF5")
    p.add_argument("workspace")
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--layers", help="comma-separated layer names (default: all that fit "
                                    "--budget-mb)")
    p.add_argument("--split", default="test", choices=("train", "test", "all"))
    p.add_argument("--device", default="auto", help="auto (CUDA, MPS, then CPU), cpu, cuda")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--limit", type=int, help="only the first N samples of the split")
    p.add_argument("--budget-mb", type=int, default=1024,
                   help="largest dump the default layer choice may make")
    _common(p)

    p = sub.add_parser("plugins", help="list plugins, their contributions and failures")
    p.add_argument("--check", nargs="?", const="", metavar="PLUGIN",
                   help="run the conformance checks (on one plugin, or on all)")
    _common(p)

    for name, module_name in COMMAND_MODULES.items():
        module = _command_module(module_name)
        if module is None:
            continue
        p = sub.add_parser(name, help=module.HELP)
        module.add_arguments(p)
        _common(p)
    return parser


def _command_module(module_name: str):
    import importlib
    import importlib.util

    if importlib.util.find_spec(module_name) is None:
        return None  # a capability not in this version
    return importlib.import_module(module_name)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        build_parser().print_help()
        return 2
    handler = _HANDLERS.get(args.command) or _command_module(
        COMMAND_MODULES[args.command]).run
    try:
        result = handler(args)
    except DeepScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    _emit(args, result)
    return 0


def _emit(args, result: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    elif "text" in result:
        print(result["text"])
    elif "id" in result:
        print(result["id"])


def _with_bar(args, fn, request):
    from visualizer.jobs.thread_runner import run_sync

    ctx = TqdmContext(quiet=args.quiet or args.json)
    try:
        return run_sync(fn, request, ctx=ctx)
    finally:
        ctx.close()


def cmd_demo(args) -> dict[str, Any]:
    from visualizer.demo import DemoRequest, build_demo
    from visualizer.workspace.workspace import Workspace

    new_runs = _with_bar(args, build_demo, DemoRequest(workspace=args.workspace,
                                                       device=args.device))
    ws = Workspace.open(args.workspace)
    return {**_info(ws), "new_runs": new_runs,
            "text": f"demo workspace ready: {ws.root}\n" + _info_text(ws)}


def cmd_new(args) -> dict[str, Any]:
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.create(args.workspace)
    return {**_info(ws), "text": f"empty workspace ready: {ws.root}\nnext: python main.py "
                                 f"import-model {args.workspace} FILE --name NAME, and "
                                 f"python main.py import-data {args.workspace} FILE --name NAME"}


def cmd_info(args) -> dict[str, Any]:
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.open(args.workspace)
    return {**_info(ws), "text": _info_text(ws)}


def cmd_import_model(args) -> dict[str, Any]:
    from visualizer.workspace.workspace import Workspace

    shape = tuple(int(s) for s in args.input_shape.split(",")) if args.input_shape else None
    ws = Workspace.open(args.workspace)
    rec = ws.import_model(args.path, args.name, arch=args.arch, trust=args.trust,
                          input_shape=shape)
    return {"id": rec.name, "name": rec.name, "format": rec.format, "sha256": rec.sha256,
            "architecture": rec.architecture, "info": rec.info}


def cmd_import_data(args) -> dict[str, Any]:
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.open(args.workspace)
    rec = ws.import_dataset(args.path, args.name)
    return {"id": rec.name, "name": rec.name, "source": rec.source, "sha256": rec.sha256,
            "info": rec.info}


def cmd_extract(args) -> dict[str, Any]:
    from visualizer.analysis.activations import ExtractRequest, extract_activations
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.open(args.workspace)
    request = ExtractRequest(
        workspace=str(ws.root), model=args.model, dataset=args.dataset, split=args.split,
        layers=tuple(s.strip() for s in args.layers.split(",")) if args.layers else None,
        device=args.device, batch_size=args.batch_size, limit=args.limit,
        budget_bytes=args.budget_mb << 20)
    run = ws.run(_with_bar(args, extract_activations, request))
    m = run.metrics
    return {"id": run.id, "run": run.to_json(),
            "text": f"{run.id}\n{m['n_samples']} samples, {m['n_layers']} layers, "
                    f"accuracy {m['accuracy']:.3f}, {m['samples_per_second']:.0f} samples/s"}


def cmd_plugins(args) -> dict[str, Any]:
    from plugins.manager import get_manager

    manager = get_manager()
    plugins = [{
        "name": p.name, "display_name": p.display_name, "source": p.source, "state": p.state,
        "contributions": [{"kind": c.kind, "id": c.id, "title": c.title}
                          for c in p.contributions],
        "failures": [{"hook": f.hook, "message": f.message} for f in p.failures],
    } for p in manager.plugins.values()]
    if args.check is not None:
        from plugins.conformance import run_checks

        results = run_checks(manager, args.check or None)
        failed = [r for r in results if not r.ok]
        text = "\n".join(f"{'ok  ' if r.ok else 'FAIL'} {r.id}" + (f": {r.message}" if r.message
                                                                     else "") for r in results)
        if failed:
            raise DeepScopeError(f"{len(failed)} of {len(results)} conformance checks failed:\n"
                                 + text)
        return {"checks": [r.__dict__ for r in results],
                "text": text + f"\n{len(results)} checks passed"}
    lines = []
    for p in plugins:
        lines.append(f"{p['name']} [{p['state']}] from {p['source']}: "
                     f"{len(p['contributions'])} contributions")
        lines += [f"  ! {f['hook']}: {f['message']}" for f in p["failures"]]
    return {"plugins": plugins, "text": "\n".join(lines)}


def _info(ws) -> dict[str, Any]:
    return {
        "workspace": str(ws.root),
        "models": [{"name": m.name, "format": m.format, "architecture": m.architecture,
                    "sha256": m.sha256, "info": m.info} for m in ws.models()],
        "datasets": [{"name": d.name, "source": d.source, "sha256": d.sha256, "info": d.info}
                     for d in ws.datasets()],
        "runs": [r.to_json() for r in ws.runs()],
    }


def _info_text(ws) -> str:
    lines = [f"workspace {ws.root}", "models:"]
    for m in ws.models():
        acc = m.info.get("test_accuracy")
        lines.append(f"  {m.name:<16} {m.format:<12} {m.architecture or '':<20}"
                     + (f" test accuracy {acc:.3f}" if acc is not None else ""))
    lines.append("datasets:")
    for d in ws.datasets():
        lines.append(f"  {d.name:<16} {d.source:<24} {d.info.get('n_samples', '?')} samples "
                     f"of {tuple(d.info.get('sample_shape', ()))}")
    lines.append("runs:")
    for r in ws.runs():
        lines.append(f"  {r.id:<14} {r.kind:<12} {r.status:<11} "
                     f"{r.params.get('model', '')} / {r.params.get('dataset', '')}")
    return "\n".join(lines)


_HANDLERS = {
    "new": cmd_new, "demo": cmd_demo, "info": cmd_info, "import-model": cmd_import_model,
    "import-data": cmd_import_data, "extract": cmd_extract, "plugins": cmd_plugins,
}
