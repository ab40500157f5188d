"""Conformance checks for plugin contributions, runnable by plugin authors.

``python main.py plugins --check [PLUGIN]`` runs them over every registered
contribution (or one plugin's, or one contribution's); the test suite runs them over
all built-ins. Each check calls the contribution through the plugin manager, exactly
as the app does. Every contribution kind has checks (``CHECKS``), each made of named
steps that pass or fail with a one-line reason:

- architectures, model loaders, dataset sources: :mod:`.models`;
- attribution methods (a tiny seeded conv net; shapes, seeds, hooks, completeness):
  :mod:`.attribution`;
- projection methods (seeded Gaussian blobs; shapes, seeds, quality floor,
  cancellation): :mod:`.projection`;
- pruning methods (a seeded conv net with batch norm; score shapes, finiteness, seeds,
  nothing changed by scoring, exact sparsity through ``torch.nn.utils.prune``, channel
  pruning through Torch-Pruning): :mod:`.pruning`;
- the kinds whose call contract is not defined yet (corruptions, attacks, metrics,
  views, exporters, report sections): the named object imports.

A plugin whose manifest failed to read is a failed check. A name that is neither a
plugin nor a contribution is an error, and so is a selection with nothing to check:
zero checks is never a success.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from threadpoolctl import threadpool_limits

from plugins.api import CONTRIBUTION_KINDS, Contribution
from plugins.conformance.attribution import check_attribution_method
from plugins.conformance.core import CheckResult, ConformanceError, Steps, Stop, one_line
from plugins.conformance.models import (
    KNOWN_MODEL_FORMATS,
    check_architecture,
    check_dataset_source,
    check_model_loader,
)
from plugins.conformance.projection import check_projection_method
from plugins.conformance.pruning import check_pruning_method
from plugins.manager import PluginManager
from visualizer.errors import DeepScopeError, NotFoundError

__all__ = ["CHECKS", "CheckResult", "ConformanceError", "KNOWN_MODEL_FORMATS",
           "NothingToCheck", "Steps", "run_checks", "select", "summary"]


class NothingToCheck(DeepScopeError):
    """The selection holds no contribution, so no check would run."""


def check_imports(manager: PluginManager, c: Contribution, steps: Steps | None = None) -> None:
    """Kinds without a call contract yet: the named object imports."""
    steps = steps or Steps(c, strict=True)
    with steps.step("imports") as note:
        manager.load(c)
        note.text = (f"{c.python_name} imports; the {c.kind.replace('_', ' ')} call "
                     "contract is not defined yet, so nothing more is checked")


Check = Callable[..., None]
CHECKS: dict[str, Check] = {
    "architectures": check_architecture,
    "dataset_sources": check_dataset_source,
    "model_loaders": check_model_loader,
    "attribution_methods": check_attribution_method,
    "projection_methods": check_projection_method,
    "pruning_methods": check_pruning_method,
}
CHECKS.update({kind: check_imports for kind in CONTRIBUTION_KINDS if kind not in CHECKS})


def select(manager: PluginManager, name: str | None = None
           ) -> tuple[list[str], list[Contribution]]:
    """``(plugin names, contributions)`` that ``name`` (a plugin, a contribution id, or
    None for everything) selects; an unknown name raises ``NotFoundError``."""
    if not manager.plugins:
        manager.discover()
    if not name:
        return (list(manager.plugins),
                [c for p in manager.plugins.values() for c in p.contributions])
    if name in manager.plugins:
        return [name], list(manager.plugins[name].contributions)
    found = [c for p in manager.plugins.values() for c in p.contributions if c.id == name]
    if found:
        return [], found
    known = ", ".join(sorted(manager.plugins)) or "none"
    raise NotFoundError(f"no plugin or contribution named {name!r} (known plugins: {known}).",
                        fix="pass a plugin name, a contribution id <plugin>.<name>, or "
                            "nothing to check all plugins.")


def run_checks(manager: PluginManager, plugin: str | None = None,
               on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Check every contribution of the selection (see :func:`select`).

    Failures are results, not exceptions; ``on_result`` sees each result as it comes.
    Raises ``NotFoundError`` for an unknown name and ``NothingToCheck`` when the
    selection holds nothing to check.
    """
    plugins, contributions = select(manager, plugin)
    results: list[CheckResult] = []

    def add(result: CheckResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    for name in plugins:  # a manifest that failed to read is a failed check
        for failure in manager.plugins[name].failures:
            if failure.hook == "manifest":
                add(CheckResult(name, "manifest", "manifest", False, failure.message))
    for c in contributions:
        steps = Steps(c, on_result=add)
        try:
            # a library's advice is not a conformance issue; one native thread, as the
            # inputs are tiny and OpenMP pools spinning side by side cost 10x on 2 cores
            with warnings.catch_warnings(), threadpool_limits(1):
                warnings.simplefilter("ignore")
                CHECKS[c.kind](manager, c, steps)
        except Stop:
            pass  # recorded; the steps after a failed fatal one cannot run
        except Exception as exc:  # noqa: BLE001 - a check that breaks is a failure too
            add(CheckResult(c.id, c.kind, "checker", False, one_line(exc)))
    if not results:
        where = f"plugin {plugin!r}" if plugin else "the installed plugins"
        raise NothingToCheck(f"{where} declare no contributions: nothing to check.",
                             fix="add contributions to the manifest (deepscope.toml).")
    return results


def summary(results: list[CheckResult]) -> str:
    failed = sum(not r.ok for r in results)
    return f"{len(results) - failed} passed, {failed} failed"
