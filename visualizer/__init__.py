"""DeepScope core: workspace, models, data, jobs and analyses. Never imports Qt.

``from visualizer import Workspace`` is the Python API; heavy modules load on first use
so that importing the package is cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Workspace", "Run", "DeepScopeError"]


def __getattr__(name: str):
    if name in ("Workspace", "Run"):
        from visualizer.workspace import workspace

        return getattr(workspace, name)
    if name == "DeepScopeError":
        from visualizer.errors import DeepScopeError

        return DeepScopeError
    raise AttributeError(name)
