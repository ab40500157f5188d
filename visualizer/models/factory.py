"""Resolve an architecture spec (``--arch``) to a callable that builds the model."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from visualizer.errors import DeepScopeError

_FORMS = "module:factory, path/to/file.py:factory, or a zoo name"


def _zoo_names() -> list[str]:
    from visualizer.models.zoo import ZOO

    return sorted(ZOO)


def _import_file(file: Path, spec: str) -> ModuleType:
    if not file.is_file():
        raise DeepScopeError(
            f"architecture file not found in --arch {spec!r}",
            path=file,
            fix="check the path before the ':'.",
        )
    # A unique module name per file, so two user files called model.py do not collide.
    digest = hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:10]
    mod_name = f"deepscope_user_arch_{file.stem}_{digest}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    import_spec = importlib.util.spec_from_file_location(mod_name, file)
    if import_spec is None or import_spec.loader is None:
        raise DeepScopeError("cannot import this file as Python", path=file,
                             fix="name a .py file.")  # fmt: skip
    module = importlib.util.module_from_spec(import_spec)
    # Registered before running it: dataclasses and pickling look the module up by name.
    sys.modules[mod_name] = module
    try:
        import_spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - user code; report it, do not crash
        sys.modules.pop(mod_name, None)
        raise DeepScopeError(
            f"importing the architecture file failed ({type(exc).__name__}: {exc})",
            path=file,
            fix="fix the error in that file.",
        ) from exc
    return module


def _import_module(name: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise DeepScopeError(
                f"no module named {name!r} (from --arch {spec!r})",
                fix="check the spelling, and that the module is installed or on PYTHONPATH; "
                f"the forms are {_FORMS}.",
            ) from exc
        raise DeepScopeError(
            f"module {name!r} was found but it imports {exc.name!r}, which is not installed",
            fix=f"install {exc.name!r} in DeepScope's environment.",
        ) from exc
    except Exception as exc:  # noqa: BLE001 - user code; report it, do not crash
        raise DeepScopeError(
            f"importing module {name!r} failed ({type(exc).__name__}: {exc})",
            fix="fix the error in that module.",
        ) from exc


def resolve_factory(spec: str) -> Callable[..., Any]:
    """Turn an architecture spec into the callable that builds the model.

    Parameters
    ----------
    spec
        ``"package.module:attr"`` (``attr`` may be dotted, e.g. ``Models.build``),
        ``"path/to/file.py:attr"`` (imported from that file), or the name of a zoo
        model (``"cnn"``).

    Returns
    -------
    Callable
        The factory; call it with no arguments to get an ``nn.Module``.

    Raises
    ------
    DeepScopeError
        If the spec is malformed, the module or file is missing or fails to import, the
        attribute is missing, or it is not callable. Importing runs the module's code:
        only name modules you trust.
    """
    spec = spec.strip()
    if ":" not in spec or spec.endswith(":"):
        from visualizer.models.zoo import ZOO

        if spec in ZOO:
            return ZOO[spec].factory
        raise DeepScopeError(
            f"cannot read the architecture {spec!r}",
            fix=f"use {_FORMS} (zoo: {', '.join(_zoo_names())}).",
        )
    # rpartition: a Windows path ("C:\\models\\net.py:build") has a ':' of its own.
    where, _, attr_path = spec.rpartition(":")
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _import_file(Path(where).expanduser(), spec)
    else:
        module = _import_module(where, spec)
    obj: Any = module
    walked: list[str] = []
    for part in attr_path.split("."):
        walked.append(part)
        if not part.isidentifier() or not hasattr(obj, part):
            public = sorted(
                n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))
            )
            hint = f" Callables there: {', '.join(public[:12])}." if public else ""
            raise DeepScopeError(
                f"{where!r} has no attribute {'.'.join(walked)!r} (from --arch {spec!r}).{hint}",
                fix="name a function or class that returns an nn.Module.",
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise DeepScopeError(
            f"{attr_path!r} in {where!r} is a {type(obj).__name__}, not callable "
            f"(from --arch {spec!r})",
            fix="name a function or class that returns an nn.Module.",
        )
    return obj
