"""The headless command line (DESIGN.md section 8); ``main.py`` dispatches here.

Every command that creates something prints the new id, or with ``--json`` one JSON
object, so scripts and tests can chain commands. Long commands show a tqdm bar and stop
cleanly on Ctrl-C (the run is marked ``cancelled``; no partial file is left).

A handler returns its result (the JSON object, one schema per command, documented in the
README); a separate formatter per command turns it into the text printed without
``--json``. Arguments are checked before any work (:mod:`visualizer.commands.checks`):
a request that cannot start exits with status 2, names the argument at fault and leaves
no run in the catalog.
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
    """A job context that shows a job's progress on stderr.

    Nothing is drawn with ``quiet``, when stderr is not a terminal, or before the job
    says something. A stage without a count shows as its text and the time since the
    command started (``t-SNE: nearest neighbours and affinities  [00:12]``), ticking
    twice a second; a count shows as a bar with the stage, the count and the time left.
    ``close()`` wipes the line, so what is printed next (the result, ``error: ...``)
    starts on a clean line; log records are written above the line (``configure_logging``).
    """

    TICK_S = 0.5  # the elapsed time of a stage without a count moves on this often
    MIN_REFRESH_S = 0.1  # a job may report every item: redraw at most this often
    STAGE_FORMAT = "{desc}  [{elapsed}]"
    STAGE_COUNT_FORMAT = "{desc}: {n_fmt}  [{elapsed}]"
    COUNT_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]"

    def __init__(self, quiet: bool = False, file=None):
        import threading
        import time

        self._file = file if file is not None else sys.stderr
        try:
            terminal = self._file.isatty()
        except (AttributeError, ValueError):
            terminal = False
        self._enabled = not quiet and terminal
        self._stage = ""
        self._bar = None
        self._started = time.time()  # tqdm's clock
        self._last_refresh = 0.0
        self._lock = threading.RLock()
        self._closed = threading.Event()

    @property
    def drawing(self) -> bool:
        """Whether a progress line is on the screen now."""
        return self._bar is not None

    def progress(self, done: float, total: float | None = None) -> None:
        if not self._enabled or self._closed.is_set():
            return
        with self._lock:
            bar = self._ensure_bar()
            if total:
                if bar.total != total:
                    bar.bar_format = self.COUNT_FORMAT
                    bar.reset(total=total)  # the time left counts from here
            elif bar.total is not None:  # back to a stage without a count
                bar.total = None
                bar.start_t = self._started
            bar.n = int(done) if float(done).is_integer() else done
            if not total:
                bar.bar_format = self.STAGE_COUNT_FORMAT if done else self.STAGE_FORMAT
            self._refresh(force=bool(total) and done >= total)

    def status(self, text: str) -> None:
        self._stage = text[:60]
        if not self._enabled or self._closed.is_set():
            return
        with self._lock:
            self._ensure_bar().set_description_str(self._stage, refresh=False)
            self._refresh(force=True)

    def partial(self, obj: Any) -> None:
        pass

    cancelled = False

    def check_cancelled(self) -> None:
        pass  # Ctrl-C arrives as KeyboardInterrupt in the main thread

    def close(self) -> None:
        """Wipe the progress line (idempotent)."""
        self._closed.set()
        with self._lock:
            bar, self._bar = self._bar, None
            if bar is not None:
                bar.close()  # leave=False: the line is cleared, the cursor at its start

    def __enter__(self) -> TqdmContext:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _ensure_bar(self):
        """The bar, made on first use (lock held); a thread keeps its elapsed time moving."""
        if self._bar is None:
            import threading

            from tqdm import tqdm

            self._bar = tqdm(total=None, file=self._file, desc=self._stage, leave=False,
                             dynamic_ncols=True, bar_format=self.STAGE_FORMAT,
                             mininterval=self.MIN_REFRESH_S)
            self._bar.start_t = self._started
            threading.Thread(target=self._tick, daemon=True, name="deepscope-cli-tick").start()
        return self._bar

    def _refresh(self, force: bool = False) -> None:
        import time

        now = time.monotonic()
        if force or now - self._last_refresh >= self.MIN_REFRESH_S:
            self._last_refresh = now
            self._bar.refresh()

    def _tick(self) -> None:
        while not self._closed.wait(self.TICK_S):
            with self._lock:
                if self._bar is not None:
                    self._refresh(force=True)


class _TqdmLogHandler(logging.Handler):
    """Log records on stderr, written above the progress line (``tqdm.write``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def configure_logging() -> None:
    """Log records go to stderr (WARNING and up; ``DEEPSCOPE_LOG_LEVEL=INFO`` shows
    more) around the progress line. Warnings from libraries (captum, umap, numba,
    scikit-learn, torch) become INFO records of ``deepscope.warnings``, so they stay off
    the terminal; DeepScope's own are WARNING records (``visualizer.library_warnings``)."""
    import os

    from visualizer.library_warnings import route_library_warnings

    root = logging.getLogger()
    if not root.handlers:  # like logging.basicConfig: an embedding program decides
        handler = _TqdmLogHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        level = os.environ.get("DEEPSCOPE_LOG_LEVEL", "WARNING").upper()
        root.setLevel(logging.getLevelName(level) if level in logging.getLevelNamesMapping()
                      else logging.WARNING)
    route_library_warnings()


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
    p.add_argument("--limit", type=int,
                   help="a sample of N of the split, drawn with --seed so that it keeps the "
                        "class proportions (default: the whole split)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit sample (0)")
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

    # Listed here for --help; main.py hands `render` to widgets.render_cli (it draws with
    # Qt, which the core never imports), so its options are in `render --help`.
    p = sub.add_parser("render", add_help=False,
                       help="draw a view (layers, embedding, attribution, overview) of a "
                            "workspace to PNG or SVG; see `render --help`")
    p.add_argument("rest", nargs=argparse.REMAINDER)
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
    configure_logging()
    if args.command is None:
        build_parser().print_help()
        return 2
    if args.command == "render":
        print("error: render draws with Qt: run it as `python main.py render ...` (or "
              "`deepscope render ...`).", file=sys.stderr)
        return 2
    module = None if args.command in _HANDLERS else _command_module(
        COMMAND_MODULES[args.command])
    handler = _HANDLERS[args.command] if module is None else module.run
    try:
        from visualizer.commands.checks import check_numbers

        check_numbers(args)  # before any work: a bad number never starts anything
        result = handler(args)
    except DeepScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    _emit(args, result, _TEXT.get(args.command) or getattr(module, "text", None))
    return 0


class RawJSON(str):
    """A value already encoded as JSON (by SQLite), put into the output as it is."""


def dumps(result: dict[str, Any]) -> str:
    """``result`` as one line of JSON; top-level ``RawJSON`` values are spliced in
    unparsed. No indent: with one, json falls back to its pure-Python encoder, ten
    times slower on a catalog of thousands of runs."""
    import uuid

    token = uuid.uuid4().hex
    raw = {k: v for k, v in result.items() if isinstance(v, RawJSON)}
    text = json.dumps({k: f"{token}:{k}" if k in raw else v for k, v in result.items()},
                      default=str)
    for key, value in raw.items():
        text = text.replace(json.dumps(f"{token}:{key}"), value, 1)
    return text


def _emit(args, result: dict[str, Any], text=None) -> None:
    """The result as JSON (``--json``), else as the command's text; warnings to stderr."""
    result = dict(result)
    legacy_text = result.pop("text", None)  # one schema per command: text is not data
    if args.json:
        print(dumps(result))
        return
    for warning in result.get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)
    if text is not None:
        print(text(result))
    elif legacy_text is not None:
        print(legacy_text)
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
    from visualizer.commands.checks import check_device, check_new_workspace
    from visualizer.demo import DemoRequest, build_demo
    from visualizer.workspace.workspace import Workspace

    check_new_workspace(args.workspace)
    check_device(args.device)
    new_runs = _with_bar(args, build_demo, DemoRequest(workspace=args.workspace,
                                                       device=args.device))
    ws = Workspace.open(args.workspace)
    return {**_info(ws), "new_runs": new_runs}


def cmd_new(args) -> dict[str, Any]:
    from visualizer.commands.checks import check_new_workspace
    from visualizer.workspace.workspace import Workspace

    check_new_workspace(args.workspace)
    return _info(Workspace.create(args.workspace))


def cmd_info(args) -> dict[str, Any]:
    from visualizer.commands.checks import open_workspace

    return _info(open_workspace(args.workspace), raw_runs=args.json)


def cmd_import_model(args) -> dict[str, Any]:
    from visualizer.commands import checks

    shape = checks.parse_shape(args.input_shape)
    ws = checks.open_workspace(args.workspace)
    path = checks.check_input_path(args.path)
    checks.check_new_name(ws, args.name, "model")
    rec = ws.import_model(path, args.name, arch=args.arch, trust=args.trust,
                          input_shape=shape)
    return {"id": rec.name, "name": rec.name, "format": rec.format, "sha256": rec.sha256,
            "architecture": rec.architecture, "info": rec.info,
            "warnings": list(rec.info.get("warnings", []))}


def cmd_import_data(args) -> dict[str, Any]:
    from visualizer.commands import checks

    ws = checks.open_workspace(args.workspace)
    path = checks.check_input_path(args.path)
    checks.check_new_name(ws, args.name, "dataset")
    rec = ws.import_dataset(path, args.name)
    return {"id": rec.name, "name": rec.name, "source": rec.source, "sha256": rec.sha256,
            "info": rec.info, "warnings": list(rec.info.get("warnings", []))}


def cmd_extract(args) -> dict[str, Any]:
    from visualizer.analysis.activations import ExtractRequest, extract_activations
    from visualizer.commands import checks

    ws = checks.open_workspace(args.workspace)
    model = checks.check_model(ws, args.model)
    dataset = checks.check_dataset(ws, args.dataset)
    checks.check_split(dataset, args.split)
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else None
    if args.layers is not None and not layers:
        raise DeepScopeError("--layers is empty.", fix="give comma-separated layer names.")
    if layers:
        checks.check_layers(model, layers, "--layers")
    checks.check_device(args.device)
    request = ExtractRequest(
        workspace=str(ws.root), model=args.model, dataset=args.dataset, split=args.split,
        layers=tuple(layers) if layers else None, device=args.device,
        batch_size=args.batch_size, limit=args.limit, budget_bytes=args.budget_mb << 20,
        seed=args.seed)
    run = ws.run(_with_bar(args, extract_activations, request))
    return {"id": run.id, "run": run.to_json()}


def _text_created(result: dict[str, Any], what: str) -> str:
    ws = result["workspace"]
    return (f"{what} ready: {ws}\nnext: python main.py import-model {ws} FILE --name NAME, "
            f"and python main.py import-data {ws} FILE --name NAME")


def _text_import(result: dict[str, Any]) -> str:
    kind = result.get("format") or result.get("source")
    return f"{result['id']}\n{kind}, SHA-256 {result['sha256']}"


def _text_extract(result: dict[str, Any]) -> str:
    run = result["run"]
    m, p = run["metrics"], run["params"]
    sample = (f" (a {p.get('sampling')} sample of the {p.get('split')} split, seed "
              f"{p.get('sample_seed')})" if p.get("sample_seed") is not None else "")
    return (f"{run['id']}\n{m['n_samples']} samples{sample}, {m['n_layers']} layers, "
            f"accuracy {m['accuracy']:.3f}, {m['samples_per_second']:.0f} samples/s")


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
        from plugins.conformance import run_checks, summary

        # Text: one line per check as it finishes (a full check takes tens of seconds),
        # then "N passed, M failed". Failures, an unknown name and a selection with
        # nothing to check exit non-zero; zero checks is never a success.
        def show(r):
            print(r.line(), flush=True)

        results = run_checks(manager, args.check or None, on_result=None if args.json else show)
        failed = [r for r in results if not r.ok]
        result = {"checks": [r.to_json() for r in results],
                  "passed": len(results) - len(failed), "failed": len(failed)}
        if failed:
            if args.json:
                print(json.dumps(result, indent=2, default=str))
            else:
                print(summary(results), flush=True)
            more = f"\n... and {len(failed) - 10} more" if len(failed) > 10 else ""
            raise DeepScopeError(f"{summary(results)}:\n"
                                 + "\n".join(r.line() for r in failed[:10]) + more)
        return result if args.json else {**result, "text": summary(results)}
    lines = []
    for p in plugins:
        lines.append(f"{p['name']} [{p['state']}] from {p['source']}: "
                     f"{len(p['contributions'])} contributions")
        lines += [f"  ! {f['hook']}: {f['message']}" for f in p["failures"]]
    return {"plugins": plugins, "text": "\n".join(lines)}


def _info(ws, raw_runs: bool = False) -> dict[str, Any]:
    """Models, datasets and runs; with ``raw_runs`` the runs stay the JSON text SQLite
    made (``info --json`` on 50,000 runs: parsing and re-encoding them cost seconds)."""
    return {
        "workspace": str(ws.root),
        "models": [{"name": m.name, "format": m.format, "architecture": m.architecture,
                    "sha256": m.sha256, "info": m.info} for m in ws.models()],
        "datasets": [{"name": d.name, "source": d.source, "sha256": d.sha256, "info": d.info}
                     for d in ws.datasets()],
        "runs": RawJSON(ws.catalog.runs_json(ws.root)) if raw_runs
        else ws.catalog.run_dicts(ws.root),
    }


def _info_text(result: dict[str, Any]) -> str:
    lines = [f"workspace {result['workspace']}", "models:"]
    for m in result["models"]:
        acc = m["info"].get("test_accuracy")
        lines.append(f"  {m['name']:<16} {m['format']:<12} {m['architecture'] or '':<20}"
                     + (f" test accuracy {acc:.3f}" if acc is not None else ""))
    lines.append("datasets:")
    for d in result["datasets"]:
        lines.append(f"  {d['name']:<16} {d['source']:<24} "
                     f"{d['info'].get('n_samples', '?')} samples "
                     f"of {tuple(d['info'].get('sample_shape', ()))}")
    lines.append("runs:")
    for r in result["runs"]:
        lines.append(f"  {r['id']:<14} {r['kind']:<12} {r['status']:<11} "
                     f"{r['params'].get('model', '')} / {r['params'].get('dataset', '')}")
    return "\n".join(lines)


_HANDLERS = {
    "new": cmd_new, "demo": cmd_demo, "info": cmd_info, "import-model": cmd_import_model,
    "import-data": cmd_import_data, "extract": cmd_extract, "plugins": cmd_plugins,
}
# the text printed without --json, made from the result (the JSON object) alone
_TEXT = {
    "new": lambda r: _text_created(r, "empty workspace"),
    "demo": lambda r: f"demo workspace ready: {r['workspace']}\n" + _info_text(r),
    "info": _info_text, "import-model": _text_import, "import-data": _text_import,
    "extract": _text_extract,
    # plugins: cmd_plugins still makes its own text; _emit prints it and keeps it out of
    # the JSON
}
