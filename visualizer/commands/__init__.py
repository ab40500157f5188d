"""CLI commands contributed by capabilities, one module each.

A command module defines ``NAME``, ``HELP``, ``add_arguments(parser)``,
``run(args) -> dict`` (the result, printed as JSON with ``--json``; its keys are listed
in the README) and ``text(result) -> str`` (what is printed without ``--json``). ``run``
checks its arguments first (:mod:`visualizer.commands.checks`), so that a request that
cannot start makes no run. Heavy imports go inside ``run`` so that ``--help`` stays
instant.
"""

COMMAND_MODULES = {
    "attribute": "visualizer.commands.attribute",
    "cka": "visualizer.commands.cka",
    "project": "visualizer.commands.project",
    "prune": "visualizer.commands.prune",
    "prune-sweep": "visualizer.commands.prune_sweep",
}
