"""CLI commands contributed by capabilities, one module each.

A command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> dict`` (the JSON result; a ``"text"`` key is printed without --json, else
``"id"``). Heavy imports go inside ``run`` so that ``--help`` stays instant.
"""

COMMAND_MODULES = {
    "attribute": "visualizer.commands.attribute",
    "project": "visualizer.commands.project",
}
