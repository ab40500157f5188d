"""``python main.py render WS --view VIEW [--run RUN] --out FILE.png|svg [--set k=v ...]``.

Draws one analysis view offscreen (no display needed) and writes it to a file; the
path, or with ``--json`` a JSON object, is printed.
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
    p.add_argument("--view", required=True, choices=sorted(VIEWS))
    p.add_argument("--run", help="the run to show (default: the view's choice)")
    p.add_argument("--out", required=True, help="output file, .png or .svg")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a view option, e.g. --set layer=fc1 (repeatable)")
    p.add_argument("--json", action="store_true")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".svg"):
        print(f"error: {out}: the output must end in .png or .svg.", file=sys.stderr)
        return 2
    options = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"error: --set {item!r}: use KEY=VALUE.", file=sys.stderr)
            return 2
        options[key] = value
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from visualizer.errors import DeepScopeError
    from visualizer.workspace.workspace import Workspace
    from widgets import views

    app = QApplication.instance() or QApplication(["deepscope-render"])  # noqa: F841
    spec = views.VIEWS[args.view]
    if not views.available(spec):
        print(f"error: the {spec.title} view is not in this version.", file=sys.stderr)
        return 2
    from visualizer.workspace.atomic import atomic_path

    try:
        ws = Workspace.open(args.workspace)
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
