"""``python main.py render WS --view VIEW [--run RUN] --out FILE.png|svg [--set k=v ...]``.

Draws one analysis view offscreen (no display needed) and writes it to a file; the
path, or with ``--json`` a JSON object (``view``, ``out``), is printed. The
arguments are checked before anything is drawn; a bad one exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from widgets.views import VIEWS

    p = argparse.ArgumentParser(prog="deepscope render",
                                description="Render a view of a workspace to PNG or SVG.")
    p.add_argument("workspace")
    p.add_argument("--view", required=True, choices=sorted(VIEWS),
                   help="overview (an activation run's layers), layers, embedding or "
                        "attribution")
    p.add_argument("--run", help="the run to show (default: the view's choice)")
    p.add_argument("--out", required=True, help="output file, .png or .svg")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a view option, e.g. --set layer=fc1 (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".svg"):
        print(f"error: --out {out}: the output must end in .png or .svg.", file=sys.stderr)
        return 2
    from visualizer.commands import checks
    from visualizer.errors import DeepScopeError, NotFoundError

    try:  # every argument before Qt starts or anything is drawn
        options = checks.parse_key_values(args.set, "--set")
        if not out.parent.is_dir():
            raise NotFoundError(f"--out {out}: the folder {out.parent} does not exist.",
                                fix="create it first, or write elsewhere.")
        ws = checks.open_workspace(args.workspace)
        if args.run is not None:
            try:
                ws.catalog.run(args.run)  # one row, whatever the number of runs
            except NotFoundError:
                raise NotFoundError(f"--run {args.run}: no such run in this workspace.",
                                    fix="list the runs with `python main.py info WS`.") \
                    from None
    except DeepScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from widgets import views

    app = QApplication.instance() or QApplication(["deepscope-render"])  # noqa: F841
    spec = views.VIEWS[args.view]
    if not views.available(spec):
        print(f"error: the {spec.title} view is not in this version.", file=sys.stderr)
        return 2
    from visualizer.workspace.atomic import atomic_path

    try:
        render = views.load(spec.render)
        with atomic_path(out) as temp:  # a failed render never leaves half a file
            render(ws, run=args.run, out=temp, options=options)
        path = out
    except DeepScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"view": args.view, "out": str(path)}))
    else:
        print(path)
    return 0
