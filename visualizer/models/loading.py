"""Safe model loading.

Weights-only formats load without asking: safetensors, and torch.save state dicts read
with ``torch.load(..., weights_only=True)`` after a static scan of their pickle (see
:mod:`visualizer.models.pickle_scan`), plus an architecture the user names. Formats
that run code when loaded (TorchScript, ``torch.export`` programs, full pickled
modules) are refused unless the caller passes ``trust=True``, which the CLI and GUI
only do after showing the file and its SHA-256.

Parsing a hostile or broken archive can in principle crash native code; callers in the
GUI run these functions in a child process (DESIGN.md section 5).
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from visualizer.errors import DeepScopeError, InvalidModelError, NotFoundError, UnsafeModelError
from visualizer.models.factory import resolve_factory
from visualizer.models.pickle_scan import (
    check_safetensors,
    detect_format,
    pickle_modules,
    scan_pickle_globals,
    unsafe_globals,
)

__all__ = [
    "CODE_FORMATS",
    "WEIGHT_FORMATS",
    "build_from_state_dict",
    "check_pickle_imports",
    "detect_format",
    "load_model_file",
    "load_state_dict_file",
    "load_trusted_module",
    "resolve_factory",
    "scan_pickle_globals",
    "sha256_file",
    "unsafe_globals",
]

Factory = Callable[[], nn.Module]

#: Formats that hold only tensors; loading them runs no code from the file.
WEIGHT_FORMATS = frozenset({"safetensors", "state_dict"})
#: Formats whose loading runs code from the file; they need ``trust=True``.
CODE_FORMATS = frozenset({"torchscript", "export", "pickled_module"})

_TITLES = {
    "torchscript": "TorchScript program",
    "export": "torch.export program",
    "pickled_module": "pickled Python object (full model)",
}
# Keys under which training scripts commonly nest the weights.
_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights",
                "params", "module", "ema")  # fmt: skip
# Wrappers that prefix every key: DataParallel/DDP and torch.compile.
_PREFIXES = ("module.", "_orig_mod.")
_RESAVE = "re-save or re-download the file."
_NEEDS_CODE_FIX = ("save a state dict (torch.save(model.state_dict(), path)) and import it "
                   "with --arch file.py:factory, or put the module on PYTHONPATH.")
#: Where a TorchScript model leaves the views blind: said once, at import.
TORCHSCRIPT_WARNING = (
    "TorchScript model: hook-based views (extract, the Layers view, the layer statistics "
    "of the Overview) cannot see inside a TorchScript module, because it does not run "
    "forward hooks; attribution on its inputs works. For every view, import its weights "
    "as a state dict with --arch file.py:factory.")


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks (models can be gigabytes).

    Parameters
    ----------
    path
        The file.
    chunk_size
        Bytes read at a time.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _unsafe_error(path: Path, fmt: str, bad: list[str] | None = None) -> UnsafeModelError:
    refs = f"; its pickle references {', '.join(bad[:8])}" if bad else ""
    return UnsafeModelError(
        f"{path} is a {_TITLES.get(fmt, fmt)} (SHA-256 {sha256_file(path)}); loading it "
        f"would run code from the file{refs}. Refused.",
        path=path,
        fix=(
            "if you trust the source of this exact file (check the SHA-256), pass --trust "
            "(or confirm in the dialog); otherwise ask for the weights as safetensors or "
            "torch.save(model.state_dict()) and name the architecture with --arch."
        ),
    )


def _torch_load_weights(path: Path) -> object:
    # Read once, then scan and load the same bytes: the file cannot be swapped between.
    data = path.read_bytes()
    bad = unsafe_globals(path, data)
    if bad:
        # Checked here, not left to torch: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD (and older
        # torch releases) can make torch.load fall back to the full unpickler.
        raise UnsafeModelError(
            f"{path} is not a plain state dict: its pickle references globals that "
            f"weights-only loading does not allow: {', '.join(bad[:8])}. Refused without "
            f"running it (SHA-256 {sha256_file(path)}).",
            path=path,
            fix=(
                "if this is a full model from a source you trust, pass --trust; otherwise "
                "re-save only the weights (safetensors or torch.save(model.state_dict()))."
            ),
        )
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            raise UnsafeModelError(
                f"weights-only loading refused the file: {str(exc).splitlines()[0]}",
                path=path,
                fix="pass --trust only if you trust the source of this file.",
            ) from exc
        raise InvalidModelError(
            f"the pickle data is corrupt ({exc})", path=path, fix=_RESAVE
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any failure to parse is a bad file, not a bug
        raise InvalidModelError(
            f"torch.load could not read the file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})",
            path=path,
            fix=_RESAVE,
        ) from exc


def _load_safetensors(path: Path) -> dict[str, Tensor]:
    check_safetensors(path)
    try:
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 - SafetensorError and friends: a bad file
        raise InvalidModelError(
            f"the safetensors file cannot be read ({exc})", path=path, fix=_RESAVE
        ) from exc


def _normalise_state(obj: object, path: Path) -> dict[str, Tensor]:
    """Find the tensor dict inside a checkpoint and strip wrapper prefixes."""
    for _ in range(4):  # {"model": {"state_dict": {...}}} and the like
        if not isinstance(obj, Mapping):
            raise InvalidModelError(
                f"the file holds a {type(obj).__name__}, not a dict of tensors",
                path=path,
                fix="save model.state_dict() instead.",
            )
        if obj and all(isinstance(v, Tensor) for v in obj.values()):
            break
        nested = next(
            (obj[k] for k in _NESTED_KEYS if k in obj and isinstance(obj[k], Mapping)), None
        )
        if nested is None:
            break
        obj = nested
    state = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    if not state:
        keys = ", ".join(map(str, list(obj)[:8]))
        raise InvalidModelError(
            f"found no tensors in the checkpoint (top-level keys: {keys or 'none'})",
            path=path,
            fix="save model.state_dict() (or nest it under 'state_dict' or 'model').",
        )
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_state_dict_file(path: str | Path) -> dict[str, Tensor]:
    """Read a weights-only file into a flat state dict on CPU.

    Parameters
    ----------
    path
        A safetensors file or a torch.save file of a (possibly nested) state dict.

    Returns
    -------
    dict[str, Tensor]
        Parameter and buffer tensors by name; a ``{"state_dict": ...}`` or
        ``{"model": ...}`` wrapper is unwrapped, ``module.`` (DataParallel) and
        ``_orig_mod.`` (torch.compile) prefixes are stripped.

    Raises
    ------
    UnsafeModelError
        If the file's pickle references anything beyond tensors and plain containers,
        or the file is a code-running format. Nothing from the file is executed.
    InvalidModelError
        If the file is empty, truncated, corrupt, or holds no tensors.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "safetensors":
        state: object = _load_safetensors(path)
    elif fmt == "state_dict":
        state = _torch_load_weights(path)
    elif fmt == "pickled_module":
        # Let the torch.save branch name the offending globals.
        state = _torch_load_weights(path)
    else:
        raise _unsafe_error(path, fmt)
    return _normalise_state(state, path)


def build_from_state_dict(
    state: Mapping[str, Tensor], factory: Factory, path: str | Path | None = None
) -> nn.Module:
    """Instantiate an architecture and load weights into it strictly.

    Parameters
    ----------
    state
        Flat state dict, e.g. from :func:`load_state_dict_file`.
    factory
        Called with no arguments; must return an ``nn.Module``.
    path
        The weights file, named in errors.

    Returns
    -------
    nn.Module
        The model with the weights loaded, in eval mode.

    Raises
    ------
    InvalidModelError
        If keys or shapes do not match; the message lists the first few missing and
        unexpected keys and shape mismatches.
    """
    name = getattr(factory, "__qualname__", None) or repr(factory)
    try:
        model = factory()
    except Exception as exc:  # noqa: BLE001 - user code; report it, do not crash
        raise DeepScopeError(
            f"building the architecture {name} failed ({type(exc).__name__}: {exc})",
            path=path,
            fix="check the --arch factory; it must be callable with no arguments.",
        ) from exc
    if not isinstance(model, nn.Module):
        raise DeepScopeError(
            f"the architecture factory {name} returned a {type(model).__name__}, not an nn.Module",
            path=path,
            fix="point --arch at a function or class that returns an nn.Module.",
        )
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                             ("shape mismatches", shapes)):  # fmt: skip
            if items:
                more = f" and {len(items) - 5} more" if len(items) > 5 else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:5])}{more}")
        raise InvalidModelError(
            f"the weights do not fit the architecture {name}: {'; '.join(parts)}.",
            path=path,
            fix="pick the architecture the weights were saved from (--arch module:factory "
            "or a zoo name).",
        )
    try:
        model.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        raise InvalidModelError(
            f"the weights do not fit the architecture {name}: {str(exc).splitlines()[0]}",
            path=path,
            fix="pick the architecture the weights were saved from.",
        ) from exc
    return model.eval()


def check_pickle_imports(path: str | Path, data: bytes | None = None) -> dict[str, str]:
    """Check that every module and class a pickled model names can be imported.

    Only for files the user trusts: it imports the modules the pickle names (as loading
    it would). Called before ``torch.load``, so that a missing module is reported by
    name at import time rather than as a corrupt file at first use.

    Returns
    -------
    dict[str, str]
        The modules the pickle needs that come from outside the Python installation
        (not the standard library, not an installed package), by name, with the file
        each was found in: they import now, but only from their folder on the path.

    Raises
    ------
    InvalidModelError
        Naming the first module or class that cannot be imported, and how to provide it.
    """
    import _compat_pickle
    import importlib

    path = Path(path)
    local: dict[str, str] = {}
    needed: dict[str, list[str]] = {}
    for module, names in pickle_modules(path, data).items():
        for name in names:  # Python 2 names, as pickle protocol 2 (torch.save's) writes
            if (module, name) in _compat_pickle.NAME_MAPPING:
                mod3, name3 = _compat_pickle.NAME_MAPPING[(module, name)]
            else:
                mod3, name3 = _compat_pickle.IMPORT_MAPPING.get(module, module), name
            needed.setdefault(mod3, []).append(name3)
    for module, names in needed.items():
        if module == "__main__":
            raise InvalidModelError(
                f"the pickle needs class {', '.join(f'`{n}`' for n in names)} from "
                "`__main__`: it was defined in the script that saved the file, so no other "
                "program can rebuild it.", path=path,
                fix="move the class into a module and save again, or save a state dict "
                    "(torch.save(model.state_dict(), path)) and import it with --arch "
                    "file.py:factory (a file that defines the class).")
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            raise InvalidModelError(
                f"the pickle needs module `{module}` which is not importable "
                f"({type(exc).__name__}: {exc}).", path=path, fix=_NEEDS_CODE_FIX) from exc
        except Exception as exc:  # noqa: BLE001 - the user's module failed while importing
            raise InvalidModelError(
                f"the pickle needs module `{module}`, and importing it failed "
                f"({type(exc).__name__}: {exc}).", path=path,
                fix="fix the module, or " + _NEEDS_CODE_FIX) from exc
        for name in names:
            obj = mod
            for part in name.split("."):
                obj = getattr(obj, part, _MISSING)
                if obj is _MISSING:
                    raise InvalidModelError(
                        f"the pickle needs `{name}` from module `{module}` "
                        f"({getattr(mod, '__file__', None) or 'built in'}), which has no "
                        f"`{name}` (renamed or moved since the file was saved?).",
                        path=path, fix="restore it in that module, or " + _NEEDS_CODE_FIX)
        origin = _outside_installation(mod)
        if origin:
            local[module.partition(".")[0]] = origin
    return local


_MISSING = object()


def _outside_installation(module) -> str | None:
    """The file of ``module`` if it is neither standard library nor installed, else None."""
    import sys
    import sysconfig

    file = getattr(module, "__file__", None)
    if not file:
        return None  # built in, or a namespace package
    resolved = Path(file).resolve()
    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots |= {p for p in sys.path if "site-packages" in p or "dist-packages" in p}
    # DeepScope's own packages (the zoo's classes) import wherever DeepScope runs
    here = Path(__file__).resolve().parents[1]  # the visualizer package
    roots |= {str(here), str(here.parent / "plugins")}
    for root in roots:
        try:
            resolved.relative_to(Path(root).resolve())
            return None
        except ValueError:
            continue
    return str(resolved)


def local_module_warning(local: dict[str, str]) -> str | None:
    """The import-time warning for a pickled model that needs modules of the user's."""
    if not local:
        return None
    listed = ", ".join(f"`{m}` ({origin})" for m, origin in sorted(local.items()))
    return (f"the pickled model needs module(s) {listed}, importable now only because "
            "their folder is on the Python path: loading the model later (another folder, "
            "another machine) fails unless they stay importable (PYTHONPATH). More "
            "robust: save a state dict (torch.save(model.state_dict(), path)) and import it "
            "with --arch file.py:factory; the workspace then keeps a copy of the file.")


def load_trusted_module(
    path: str | Path, fmt: str, *, trust: bool, factory: Factory | str | None = None
) -> nn.Module:
    """Load a format that runs code from the file. Only for files the user trusts.

    Parameters
    ----------
    path
        The file.
    fmt
        ``"torchscript"``, ``"export"`` or ``"pickled_module"`` (see :func:`detect_format`).
    trust
        Must be ``True``: the user passed ``--trust`` or confirmed the dialog that
        showed the file and its SHA-256. Anything else raises, so a call that forgot
        the check cannot load code by accident.
    factory
        Architecture for a trusted pickle that turns out to be a checkpoint dict
        (weights plus, say, numpy scalars) rather than a whole module.

    Returns
    -------
    nn.Module
        The model on CPU, in eval mode where the format supports it.

    Raises
    ------
    UnsafeModelError
        If ``trust`` is not ``True``.
    InvalidModelError
        If the file cannot be loaded or does not hold a model.
    """
    path = Path(path)
    if trust is not True:
        raise _unsafe_error(path, fmt)
    try:
        if fmt == "torchscript":
            model = torch.jit.load(str(path), map_location="cpu")
        elif fmt == "export":
            model = torch.export.load(str(path)).module()
        elif fmt == "pickled_module":
            # trusted path: the user passed --trust after seeing the SHA-256. The same
            # bytes are checked and loaded; a missing module is named, not "corrupt".
            data = path.read_bytes()
            check_pickle_imports(path, data)
            try:
                buffer = io.BytesIO(data)
                model = torch.load(buffer, map_location="cpu", weights_only=False)  # audited: trusted path
            except (ImportError, AttributeError) as exc:  # a global the scan cannot name
                raise InvalidModelError(
                    f"loading the pickled model needs code that is not importable "
                    f"({type(exc).__name__}: {exc})", path=path, fix=_NEEDS_CODE_FIX) from exc
        else:
            raise InvalidModelError(f"{fmt!r} is not a code-running model format", path=path)
    except DeepScopeError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to parse is a bad file
        raise InvalidModelError(
            f"loading the {_TITLES.get(fmt, fmt)} failed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})",
            path=path,
            fix=_RESAVE,
        ) from exc
    if isinstance(model, Mapping) and fmt == "pickled_module":
        if factory is None:
            raise DeepScopeError(
                "this file holds a checkpoint dict (weights plus other Python objects), "
                "not a whole model; name an architecture with --arch module:factory or a "
                "zoo name",
                path=path,
            )
        build = resolve_factory(factory) if isinstance(factory, str) else factory
        return build_from_state_dict(_normalise_state(model, path), build, path)
    if not isinstance(model, nn.Module):
        raise InvalidModelError(
            f"the file holds a {type(model).__name__}, not a model",
            path=path,
            fix="save the whole model, or save model.state_dict() and pass --arch.",
        )
    try:
        model.eval()
    except (RuntimeError, NotImplementedError):
        pass  # exported programs refuse eval(); they were exported in the mode they run in
    return model


def load_model_file(
    path: str | Path, *, factory: Factory | str | None = None, trust: bool = False
) -> nn.Module:
    """Load any supported model file, safely by default.

    Parameters
    ----------
    path
        The model file.
    factory
        Architecture for weights-only files: a callable returning an ``nn.Module``, or
        a spec for :func:`resolve_factory` (``module:attr``, ``file.py:attr``, zoo name).
    trust
        Allow formats that run code when loaded (TorchScript, torch.export, pickled
        modules). Set only after the user saw the file name and SHA-256.

    Returns
    -------
    nn.Module
        The model on CPU in eval mode.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    DeepScopeError
        If a weights-only file is given without an architecture.
    UnsafeModelError
        If the file would run code and ``trust`` is false; the message names the file,
        its format and SHA-256.
    InvalidModelError
        If the file is malformed or does not fit the architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError("no such model file", path=path, fix="check the path.")
    fmt = detect_format(path)
    if fmt in WEIGHT_FORMATS:
        if factory is None:
            raise DeepScopeError(
                "this file holds only weights; name an architecture with --arch "
                "module:factory or a zoo name",
                path=path,
                fix="for example --arch cnn or --arch mypkg.models:build_net.",
            )
        build = resolve_factory(factory) if isinstance(factory, str) else factory
        return build_from_state_dict(load_state_dict_file(path), build, path)
    if not trust:
        bad = unsafe_globals(path) if fmt == "pickled_module" else None
        raise _unsafe_error(path, fmt, bad)
    return load_trusted_module(path, fmt, trust=True, factory=factory)
