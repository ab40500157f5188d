"""DeepScope launcher: ``python main.py [WORKSPACE]`` opens the window; the headless
commands (demo, info, import-model, import-data, extract, attribute, project, plugins)
go to the core CLI, and ``render`` (a view drawn offscreen to PNG/SVG) to widgets.

Kept tiny and free of heavy imports so that ``--help`` and the window appear fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEMO_WORKSPACE = "demo-workspace"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from visualizer.cli import COMMANDS

    if argv and argv[0] == "render":
        from widgets.render_cli import main as render_main

        return render_main(argv[1:])
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help")):
        from visualizer.cli import main as cli_main

        return cli_main(argv)
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(f"usage: deepscope [WORKSPACE] | deepscope {{{','.join(COMMANDS)}}} ...\n"
              f"unknown arguments: {' '.join(argv)}; see `deepscope --help`.", file=sys.stderr)
        return 2
    from widgets.app import run_gui

    workspace = argv[0] if argv else None
    return run_gui(workspace, str(Path(DEMO_WORKSPACE).resolve()))


if __name__ == "__main__":
    raise SystemExit(main())
