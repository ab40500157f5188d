"""The DeepScope plugin API: small, typed and Qt-free.

A plugin is a folder or package with a static manifest, ``deepscope.toml``::

    name = "myplugin"                 # plugin id; contribution ids are "<plugin>.<name>"
    display_name = "My plugin"

    [[architectures]]                 # a kind from CONTRIBUTION_KINDS
    name = "tiny_cnn"
    python_name = "myplugin.models:build_tiny_cnn"   # imported on first use only
    title = "A tiny CNN"
    input_shape = [1, 8, 8]           # any extra keys reach the code as ``meta``

Code is named, never imported at discovery, so a broken plugin costs nothing until it
is used, and then fails alone. What each kind's object must be:

``architectures``
    ``factory(**kwargs) -> torch.nn.Module``. Meta: ``input_shape``, ``num_classes``,
    ``trainable_on`` (a dataset the demo may train it on, e.g. ``"digits"``).
``model_loaders``
    ``load(path, *, factory, trust) -> torch.nn.Module``. Meta: ``formats`` (list),
    ``needs_trust`` (bool: the format runs code when loaded).
``dataset_sources``
    ``read(path) -> visualizer.data.DataArrays``. Meta: ``suffixes`` (list),
    ``folder`` (bool), ``builtin`` (bool: takes no path, like ``digits``).

``attribution_methods``
    An object with ``.spec`` (the method's declared parameters) called as
    ``method(model, inputs, target, **params) -> Tensor``, captum-shaped; the full
    contract is in ``visualizer/analysis/attribution/__init__.py``.

The other kinds (projection, pruning methods, corruptions, metrics, views, exporters,
report sections) are reserved here so manifests can declare them; their call
signatures arrive with the capabilities that use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from visualizer.errors import DeepScopeError

MANIFEST_NAME = "deepscope.toml"
ENTRY_POINT_GROUP = "deepscope.plugins"

CONTRIBUTION_KINDS = (
    "architectures",
    "model_loaders",
    "dataset_sources",
    "attribution_methods",
    "projection_methods",
    "pruning_methods",
    "corruptions",
    "attacks",
    "metrics",
    "views",
    "exporters",
    "report_sections",
)


@dataclass(frozen=True)
class Contribution:
    """One thing a plugin adds, as declared in its manifest."""

    kind: str
    name: str
    plugin: str
    python_name: str
    title: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.plugin}.{self.name}"


class PluginError(DeepScopeError):
    """A plugin failed; the message names the plugin and the hook."""


@dataclass
class PluginFailure:
    plugin: str
    hook: str
    message: str
    traceback: str


@dataclass
class PluginInfo:
    """A discovered plugin and how it is doing."""

    name: str
    display_name: str
    source: str  # "entry point <dist>" or "folder <path>"
    root: str | None  # folder added to sys.path for folder plugins
    contributions: list[Contribution] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)

    @property
    def state(self) -> str:
        return "errored" if self.failures else "ok"
