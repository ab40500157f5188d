"""Plugin discovery, lazy loading, and the one wrapper every host-to-plugin call uses.

Discovery reads manifests only (entry-point group ``deepscope.plugins`` and the user
plugin folders) and never raises: a broken manifest becomes an errored plugin with its
reason. Code is imported on first use through ``load``; any failure there or inside a
hook called through ``call`` is recorded against the plugin, announced on
``failure_reported``, and raised to the caller as a ``PluginError`` naming plugin and
hook, so the app and the CLI go on.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import tomllib
import traceback
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from psygnal import Signal

from plugins.api import (
    CONTRIBUTION_KINDS,
    ENTRY_POINT_GROUP,
    MANIFEST_NAME,
    Contribution,
    PluginError,
    PluginFailure,
    PluginInfo,
)

log = logging.getLogger("deepscope.plugins")
PLUGIN_PATH_ENV = "DEEPSCOPE_PLUGIN_PATH"


def user_plugin_dirs() -> list[Path]:
    """Folders searched for folder plugins: ``$DEEPSCOPE_PLUGIN_PATH`` or ~/.deepscope/plugins."""
    env = os.environ.get(PLUGIN_PATH_ENV)
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".deepscope" / "plugins"]


class PluginManager:
    failure_reported = Signal(object)  # PluginFailure

    def __init__(self) -> None:
        self.plugins: dict[str, PluginInfo] = {}
        self._loaded: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._discovered = False

    # -- discovery ---------------------------------------------------------------
    def discover(self, extra_dirs: list[Path] | None = None) -> None:
        with self._lock:
            self.plugins.clear()
            self._loaded.clear()
            for ep in _entry_points():
                self._guarded_discover(ep.name, lambda ep=ep: self._from_entry_point(ep))
            for folder in [*user_plugin_dirs(), *(extra_dirs or [])]:
                if not folder.is_dir():
                    continue
                for manifest in sorted(folder.glob(f"*/{MANIFEST_NAME}")):
                    self._guarded_discover(
                        manifest.parent.name,
                        lambda m=manifest: self._read_manifest(
                            m, source=f"folder {m.parent}", root=str(m.parent)),
                    )
            self._discovered = True

    def _guarded_discover(self, label: str, read) -> None:
        try:
            info = read()
        except Exception as exc:  # noqa: BLE001 - discovery never raises
            info = PluginInfo(name=label, display_name=label, source="?", root=None)
            self._record(info, "manifest", exc)
        if info.name in self.plugins and self.plugins[info.name].source != info.source:
            self._record(info, "manifest", RuntimeError(
                f"plugin name {info.name!r} is already used by {self.plugins[info.name].source}"))
            return
        self.plugins[info.name] = info

    def _from_entry_point(self, ep) -> PluginInfo:
        spec = find_spec(ep.value)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"entry point {ep.value!r} is not a package")
        folder = Path(next(iter(spec.submodule_search_locations)))
        dist = getattr(ep, "dist", None)
        source = f"entry point {dist.name if dist else ep.value}"
        return self._read_manifest(folder / MANIFEST_NAME, source=source, root=None)

    def _read_manifest(self, path: Path, source: str, root: str | None) -> PluginInfo:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        name = data.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{path}: 'name' must be an identifier, got {name!r}")
        info = PluginInfo(name=name, display_name=str(data.get("display_name", name)),
                          source=source, root=root)
        for kind in CONTRIBUTION_KINDS:
            for entry in data.get(kind, []):
                meta = {k: v for k, v in entry.items()
                        if k not in ("name", "python_name", "title")}
                if "name" not in entry or "python_name" not in entry:
                    raise ValueError(f"{path}: every [[{kind}]] needs name and python_name")
                info.contributions.append(Contribution(
                    kind=kind, name=str(entry["name"]), plugin=name,
                    python_name=str(entry["python_name"]), title=str(entry.get("title", "")),
                    meta=meta))
        unknown = set(data) - {"name", "display_name", "version", "description",
                               *CONTRIBUTION_KINDS}
        if unknown:
            log.warning("%s: unknown manifest keys ignored: %s", path, sorted(unknown))
        return info

    # -- lookup ------------------------------------------------------------------
    def _ensure(self) -> None:
        if not self._discovered:
            self.discover()

    def contributions(self, kind: str) -> list[Contribution]:
        self._ensure()
        return [c for p in self.plugins.values() for c in p.contributions if c.kind == kind]

    def get(self, kind: str, name: str) -> Contribution:
        """A contribution by id (``plugin.name``) or by its short name when unambiguous."""
        found = [c for c in self.contributions(kind) if name in (c.id, c.name)]
        if len(found) == 1:
            return found[0]
        from visualizer.errors import NotFoundError

        known = ", ".join(sorted(c.id for c in self.contributions(kind))) or "none"
        if not found:
            raise NotFoundError(f"no {kind[:-1].replace('_', ' ')} named {name!r} "
                                f"(known: {known}).", fix="pick one of the known ids.")
        raise NotFoundError(f"{name!r} is ambiguous among {[c.id for c in found]}.",
                            fix="use the full id <plugin>.<name>.")

    # -- loading and calling -------------------------------------------------------
    def load(self, contribution: Contribution) -> Any:
        """Import the object behind a contribution (once); failures name the plugin."""
        with self._lock:
            if contribution.id in self._loaded:
                return self._loaded[contribution.id]
            info = self.plugins[contribution.plugin]
            try:
                if info.root and info.root not in sys.path:
                    sys.path.insert(0, info.root)
                module_name, _, attr = contribution.python_name.partition(":")
                obj = importlib.import_module(module_name)
                for part in attr.split(".") if attr else []:
                    obj = getattr(obj, part)
            except Exception as exc:  # noqa: BLE001 - contained and reported
                raise self._fail(info, f"import of {contribution.python_name}", exc) from exc
            self._loaded[contribution.id] = obj
            return obj

    def call(self, contribution: Contribution, *args: Any, hook: str | None = None,
             **kwargs: Any) -> Any:
        """Load and call a contribution; the single wrapper for host-to-plugin calls."""
        fn = self.load(contribution)
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            from visualizer.errors import DeepScopeError
            from visualizer.jobs.contract import JobCancelled

            if isinstance(exc, (DeepScopeError, JobCancelled)):
                raise  # a user-facing error or a cancel is not the plugin's fault
            info = self.plugins[contribution.plugin]
            raise self._fail(info, hook or contribution.id, exc) from exc

    def _fail(self, info: PluginInfo, hook: str, exc: BaseException) -> PluginError:
        failure = self._record(info, hook, exc)
        return PluginError(f"plugin {info.name!r} failed in {hook}: {failure.message}",
                           fix="see the plugin manager for the traceback; "
                               "disable or update the plugin.")

    def _record(self, info: PluginInfo, hook: str, exc: BaseException) -> PluginFailure:
        failure = PluginFailure(
            plugin=info.name, hook=hook, message=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        info.failures.append(failure)
        log.error("plugin %s failed in %s: %s", info.name, hook, failure.message)
        self.failure_reported.emit(failure)
        return failure


def _entry_points():
    try:
        return list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception:  # noqa: BLE001 - a broken distribution must not stop discovery
        log.exception("reading entry points failed")
        return []


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> PluginManager:
    """The process-wide plugin manager, discovered on first use."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = PluginManager()
            _manager.discover()
        return _manager
