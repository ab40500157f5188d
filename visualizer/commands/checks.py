"""Argument checks that every command runs before any work.

A request that cannot start must fail at once, with exit status 2, a message that
names the argument at fault (``--limit must be at least 1 (got -5)``) and, for names,
the known choices; and it must leave nothing behind: no run in the catalog, no file.
The jobs check their requests again before they create a run (the Python API and the
GUI call them directly); these checks only say it earlier, in the command's own terms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visualizer.errors import DeepScopeError, NotFoundError, WorkspaceError

#: Whole-number options and their smallest allowed value, by argparse ``dest``.
INT_MINIMUMS = {
    "limit": 1, "batch_size": 1, "n_steps": 1, "nt_samples": 1, "budget_mb": 1,
    "seed": 0, "n_neighbors": 2, "n_epochs": 0, "pca_dims": 0, "epochs": 1, "imp_rounds": 1,
}
#: Real-valued options and their lower bound; True: the bound itself is not allowed.
FLOAT_MINIMUMS = {"stdev": (0.0, False), "min_dist": (0.0, False), "perplexity": (0.0, True),
                  "lr": (0.0, True)}
LISTED = 40  # choices named in one message


def flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def check_numbers(args) -> None:
    """Every number option of ``args`` against :data:`INT_MINIMUMS` / :data:`FLOAT_MINIMUMS`."""
    for dest, minimum in INT_MINIMUMS.items():
        value = getattr(args, dest, None)
        if value is not None and value < minimum:
            raise DeepScopeError(f"{flag(dest)} must be at least {minimum} (got {value}).")
    for dest, (bound, strict) in FLOAT_MINIMUMS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if value != value or (value <= bound if strict else value < bound):
            word = "above" if strict else "at least"
            raise DeepScopeError(f"{flag(dest)} must be {word} {bound:g} (got {value}).")


def choices_text(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED]) or "none yet"
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def open_workspace(path: str | Path):
    """The workspace at ``path``; a missing folder, a file or a plain folder is said so
    (by ``Workspace.open``), with the command that makes a workspace there."""
    from visualizer.workspace.workspace import Workspace

    return Workspace.open(path)


def check_new_workspace(path: str | Path) -> None:
    """``new`` and ``demo``: the path must be a folder or not exist yet."""
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} is a file; a workspace is a folder.",
                             fix="choose a folder that does not exist yet, or an empty one.")


def check_model(ws, name: str, option: str = "--model"):
    """The catalog record of model ``name``, or an error that lists the models."""
    return _named(ws.models(), name, option, "model", "import-model")


def check_dataset(ws, name: str, option: str = "--dataset"):
    """The catalog record of dataset ``name``, or an error that lists the datasets."""
    return _named(ws.datasets(), name, option, "dataset", "import-data")


def _named(records, name: str, option: str, what: str, command: str):
    for rec in records:
        if rec.name == name:
            return rec
    raise NotFoundError(f"{option} {name!r}: no such {what} in this workspace ({what}s: "
                        f"{choices_text([r.name for r in records])}).",
                        fix=f"import one with `python main.py {command}`, or pick a "
                            "listed name.")


def check_split(dataset_rec, split: str) -> int:
    """The number of samples in ``split``; an empty split is refused, naming the others."""
    sizes = dict(dataset_rec.info.get("splits") or {})
    total = dataset_rec.info.get("n_samples")
    if split == "all" or not sizes:
        n = total if total is not None else sum(sizes.values())
    else:
        n = sizes.get(split, 0)
    if n == 0:
        have = ", ".join(f"{k} ({v})" for k, v in sizes.items() if v) or "none"
        raise DeepScopeError(f"--split {split}: dataset {dataset_rec.name!r} has no samples "
                             f"in this split (splits with samples: {have}).",
                             fix="choose a split that has samples, or all.")
    return int(n)


def model_layers(model_rec) -> list[str] | None:
    """Names of the model's layers that output one tensor, from the catalog (the model is
    not loaded); None when the catalog does not know them (imported without a shape)."""
    table = model_rec.info.get("layers")
    if not table:
        return None
    return [row[0] for row in table if row[2] is not None]


def check_layers(model_rec, layers: list[str], option: str) -> None:
    known = model_layers(model_rec)
    if known is None:
        return  # the job checks them against the loaded model before making a run
    every = {row[0] for row in model_rec.info["layers"]}
    missing = [name for name in layers if name not in every]
    if missing:
        raise NotFoundError(f"{option}: model {model_rec.name!r} has no layer "
                            f"{', '.join(map(repr, missing))} (layers: {choices_text(known)}).",
                            fix="pick listed layer names.")
    no_tensor = [name for name in layers if name not in known]
    if no_tensor:
        raise DeepScopeError(f"{option}: layer {', '.join(map(repr, no_tensor))} of model "
                             f"{model_rec.name!r} does not output a single tensor.",
                             fix="choose one of its sub-layers: " + choices_text(
                                 [k for k in known if k.startswith(no_tensor[0] + ".")]
                                 or known) + ".")


def check_device(device: str) -> str:
    from visualizer.jobs.device import resolve_device

    try:
        return resolve_device(device)
    except DeepScopeError as exc:
        raise DeepScopeError(f"--device {device}: {exc.message}", fix=exc.fix) from None


def check_target(target: str, dataset_rec) -> None:
    """``pred``, ``label`` or a class index of the dataset (the job's own check, named
    after the option)."""
    from visualizer.analysis.attribution.job import check_target as job_check
    from visualizer.analysis.attribution.targets import parse_target

    n_classes = len(dataset_rec.info.get("class_names") or [])
    try:
        if n_classes:
            job_check(target, n_classes)
        else:  # classes unknown: the form can still be wrong
            parse_target(target)
    except DeepScopeError as exc:
        raise DeepScopeError(f"--target {target}: {exc.message}", fix=exc.fix) from None


def check_sample_ids(text: str, n: int, split: str) -> list[int]:
    try:
        ids = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise DeepScopeError(f"--samples {text!r}: give comma-separated sample indices, "
                             "e.g. 0,5,9.") from None
    if not ids:
        raise DeepScopeError("--samples is empty.", fix="give sample indices, e.g. 0,5,9.")
    bad = [i for i in ids if not 0 <= i < n]
    if bad:
        raise DeepScopeError(f"--samples: {', '.join(map(str, bad[:8]))} outside the {split} "
                             f"split (0..{n - 1}).", fix="pick samples of this split.")
    return ids


def parse_key_values(items: list[str], option: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DeepScopeError(f"{option} {item!r}: use KEY=VALUE.")
        out[key.strip()] = value
    return out


def parse_shape(text: str | None, option: str = "--input-shape") -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise DeepScopeError(f"{option} {text!r}: give whole numbers separated by commas, "
                             "e.g. 3,32,32 (per sample, without the batch).") from None
    if not shape or min(shape) < 1:
        raise DeepScopeError(f"{option} {text!r}: every size must be at least 1.")
    return shape


def check_new_name(ws, name: str, kind: str) -> None:
    """``--name`` for an import: allowed characters, and not taken."""
    from visualizer.workspace.workspace import check_name

    try:
        check_name(name, kind)
    except DeepScopeError as exc:
        raise DeepScopeError(f"--name: {exc.message}", fix=exc.fix) from None
    taken = [r.name for r in (ws.models() if kind == "model" else ws.datasets())]
    if name in taken:
        raise DeepScopeError(f"--name {name!r}: a {kind} of that name is already in this "
                             "workspace.", fix="choose another --name.")


def check_input_path(path: str | Path, option: str = "PATH") -> Path:
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"{option} {p}: no such file or folder.", fix="check the path.")
    return p
