"""The objects ``plugins/attribution/deepscope.toml`` names, one per table row.

``python_name = "visualizer.analysis.attribution.builtin:<id>"``; each is a
:class:`~visualizer.analysis.attribution.adapter.CaptumMethod`. Importing this module
imports neither torch nor captum.
"""

from visualizer.analysis.attribution.adapter import CaptumMethod
from visualizer.analysis.attribution.table import METHODS

globals().update({spec.id: CaptumMethod(spec) for spec in METHODS})
__all__ = [spec.id for spec in METHODS]
