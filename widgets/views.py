"""The analysis views, by name: their tab in the main window and their headless render.

Each view lives in its own package under ``widgets/`` and is named here by import path,
so the main window and ``python main.py render --view NAME`` find it the same way, and
a view that fails to import costs only its own tab (an error notification, an empty
state), never the window.

A view class is built as ``QtXxxView(session, runner, parent=None)``; a render function
is ``render(workspace, *, run=None, out, options) -> Path`` and draws the view offscreen
into a PNG or SVG file.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class ViewSpec:
    name: str
    title: str
    widget: str  # "package.module:Class"
    render: str  # "package.module:function"


VIEWS: dict[str, ViewSpec] = {
    spec.name: spec
    for spec in (
        ViewSpec("layers", "Layers", "widgets.layers.qt_layer_view:QtLayerView",
                 "widgets.layers.render:render"),
        ViewSpec("embedding", "Embedding", "widgets.embedding.qt_embedding_view:QtEmbeddingView",
                 "widgets.embedding.render:render"),
        ViewSpec("attribution", "Attribution",
                 "widgets.attribution.qt_attribution_view:QtAttributionView",
                 "widgets.attribution.render:render"),
        ViewSpec("pruning", "Pruning", "widgets.pruning.qt_pruning_view:QtPruningView",
                 "widgets.pruning.render:render"),
        # the main window builds this first tab itself (QtRunOverview(session, runner=));
        # listed for `render --view overview`
        ViewSpec("overview", "Overview", "widgets.qt_run_overview:QtRunOverview",
                 "widgets.overview_render:render"),
    )
}


def load(path: str):
    """Import ``package.module:attr``."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def available(spec: ViewSpec) -> bool:
    """Whether the view's module is present (a view still to be built is not an error)."""
    try:
        return importlib.util.find_spec(spec.widget.partition(":")[0]) is not None
    except ModuleNotFoundError:  # its package is not there either
        return False
