"""The Workspace: the Python API over one workspace folder (DESIGN.md section 8).

::

    ws-folder/
      deepscope.sqlite      catalog (models, datasets, runs)
      models/               model files copied in at import, zoo weights (safetensors)
      datasets/             imported datasets as HDF5 (x, y, split/train, split/test)
      runs/                 one HDF5 file per run, published atomically
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visualizer.errors import DeepScopeError, NotFoundError, WorkspaceError
from visualizer.workspace.atomic import TEMP_MARK, atomic_path, stale_temp_files
from visualizer.workspace.catalog import Catalog, DatasetRecord, ModelRecord
from visualizer.workspace.runs import NewRun, Run, pid_alive, writer_is_alive

if TYPE_CHECKING:
    import torch

    from visualizer.data.arrays import DataArrays

log = logging.getLogger("deepscope.workspace")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class Recovery:
    """What opening a workspace found and repaired after a crash."""

    interrupted: list[str] = field(default_factory=list)
    removed_temp_files: list[str] = field(default_factory=list)


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name or ""):
        raise DeepScopeError(
            f"{what} name {name!r} is not allowed.",
            fix="use letters, digits, '_', '-' or '.', starting with a letter or digit "
                "(at most 64 characters).",
        )
    return name


class Workspace:
    """A DeepScope workspace folder. Use ``Workspace.create`` or ``Workspace.open``."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.catalog = Catalog(self.root)
        self.recovery = Recovery()

    # -- creating and opening ----------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, exist_ok: bool = False) -> Workspace:
        """Make a new workspace folder (or open it if ``exist_ok`` and it is one)."""
        root = Path(path)
        if (root / Catalog.FILE).exists():
            if exist_ok:
                return cls.open(root)
            raise WorkspaceError("a workspace already exists here.", path=root,
                                 fix="open it instead, or choose another folder.")
        if root.exists() and not root.is_dir():
            raise WorkspaceError("this path is a file, not a folder.", path=root,
                                 fix="choose a folder for the workspace.")
        for sub in ("models", "datasets", "runs"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        ws = cls(root)
        ws.catalog.migrate()
        return ws

    @classmethod
    def open(cls, path: str | Path, create: bool = False) -> Workspace:
        """Open a workspace; runs left ``running`` by dead processes become ``interrupted``."""
        root = Path(path)
        if not (root / Catalog.FILE).exists():
            if create:
                return cls.create(root)
            raise WorkspaceError(_not_a_workspace(root))
        ws = cls(root)
        ws.catalog.migrate()
        ws.recovery = ws.recover()
        return ws

    def recover(self) -> Recovery:
        report = Recovery()
        for rec in self.catalog.runs(status="running"):
            if not writer_is_alive(self.root, rec):
                self.catalog.update_run(rec.id, status="interrupted", finished_at=time.time(),
                                        error="the process writing this run stopped")
                report.interrupted.append(rec.id)
                if rec.kind == "pruning":  # its model must not outlive the unfinished run
                    from visualizer.analysis.pruning.derived import discard_unfinished

                    discard_unfinished(self, rec)
        for temp in stale_temp_files(self.root):
            if not _temp_writer_alive(temp):
                temp.unlink(missing_ok=True)
                report.removed_temp_files.append(str(temp.relative_to(self.root)))
        for lock in (self.root / "runs").glob(".*.lock"):
            rec_id = lock.name[1:-5]
            if rec_id in report.interrupted:
                lock.unlink(missing_ok=True)
        if report.interrupted or report.removed_temp_files:
            log.warning("recovered workspace %s: interrupted runs %s, removed temp files %s",
                        self.root, report.interrupted, report.removed_temp_files)
        return report

    # -- listing -----------------------------------------------------------------
    def models(self) -> list[ModelRecord]:
        return self.catalog.models()

    def datasets(self) -> list[DatasetRecord]:
        return self.catalog.datasets()

    def runs(self, kind: str | None = None, status: str | None = None,
             params: dict[str, Any] | None = None, newest: int | None = None) -> list[Run]:
        """Runs, oldest first; ``params={"layer": "fc1"}`` keeps runs with those values,
        ``newest=N`` the N newest."""
        return [Run(self, r) for r in self.catalog.runs(kind=kind, status=status,
                                                        params=params, newest=newest)]

    def run(self, run_id: str) -> Run:
        return Run(self, self.catalog.run(run_id))

    def new_run(self, kind: str, *, model: str | None, dataset: str | None,
                params: dict[str, Any], provenance: dict[str, Any]) -> NewRun:
        return NewRun(self, kind, model, dataset, params, provenance)

    # -- models ------------------------------------------------------------------
    def load_model(self, name: str, device: str = "cpu") -> torch.nn.Module:
        """The model named ``name`` as an ``nn.Module`` in eval mode on ``device``."""
        from visualizer.workspace import model_store

        return model_store.load(self, self.catalog.model(name), device)

    def add_zoo_model(self, name: str, architecture: str | None = None, *,
                      dataset: str = "digits", seed: int = 0, epochs: int | None = None,
                      progress=None) -> ModelRecord:
        """Train a zoo architecture on ``dataset``'s train split and store it."""
        from visualizer.workspace import model_store

        return model_store.add_zoo_model(self, check_name(name, "model"), architecture or name,
                                         dataset=dataset, seed=seed, epochs=epochs,
                                         progress=progress)

    def import_model(self, path: str | Path, name: str, *, arch: str | None = None,
                     trust: bool = False, input_shape: tuple[int, ...] | None = None
                     ) -> ModelRecord:
        """Copy a model file into the workspace after checking it loads safely."""
        from visualizer.workspace import model_store

        return model_store.import_model(self, Path(path), check_name(name, "model"),
                                        arch=arch, trust=trust, input_shape=input_shape)

    # -- datasets ----------------------------------------------------------------
    def add_builtin_dataset(self, name: str = "digits", source: str = "digits") -> DatasetRecord:
        from visualizer.workspace import dataset_store

        return dataset_store.add_builtin(self, check_name(name, "dataset"), source)

    def import_dataset(self, path: str | Path, name: str) -> DatasetRecord:
        """Validate a dataset file or folder and store it in the workspace as HDF5."""
        from visualizer.workspace import dataset_store

        return dataset_store.import_path(self, Path(path), check_name(name, "dataset"))

    def load_dataset(self, name: str) -> DataArrays:
        """The dataset ``name``; ``.arrays(split="test")`` gives ``(x, y)``."""
        from visualizer.workspace import dataset_store

        return dataset_store.load(self, self.catalog.dataset(name))

    # -- analyses ----------------------------------------------------------------
    def extract(self, model: str, dataset: str, layers: list[str] | None = None, *,
                split: str = "test", device: str = "auto", batch_size: int = 256,
                limit: int | None = None, budget_mb: int = 1024, seed: int = 0,
                ctx=None) -> Run:
        """Dump activations of ``layers`` (default: all that fit the budget) to a new run.

        ``limit`` takes a sample of that many, drawn with ``seed`` so that it keeps the
        split's class proportions (not the first ``limit`` samples)."""
        from visualizer.analysis.activations import ExtractRequest, extract_activations
        from visualizer.jobs.thread_runner import run_sync

        request = ExtractRequest(
            workspace=str(self.root), model=model, dataset=dataset, split=split,
            layers=tuple(layers) if layers else None, device=device, batch_size=batch_size,
            limit=limit, budget_bytes=budget_mb << 20, seed=seed)
        run_id = run_sync(extract_activations, request, ctx=ctx)
        return self.run(run_id)

    def attribute(self, model: str, dataset: str, method: str = "integrated_gradients",
                  *, ctx=None, **options: Any) -> Run:
        """Attribution maps of ``method`` for samples of ``dataset``, as a new run.

        Options (``layer``, ``target``, ``baseline``, ``limit``, ``n_steps``, ``smooth``,
        ``split``, ``device`` ...) are those of ``python main.py attribute``.
        """
        from visualizer.analysis.attribution.api import attribute

        return attribute(self, model, dataset, method, ctx=ctx, **options)

    def project(self, run_id: str, layer: str, method: str = "umap", *, force: bool = False,
                ctx=None, **options: Any) -> Run:
        """A 2-D projection of ``layer`` in activation run ``run_id``, as a run.

        Returns the stored projection for identical inputs unless ``force``.
        """
        from visualizer.analysis.projection.api import project

        return project(self, run_id, layer, method, force=force, ctx=ctx, **options)

    def prune(self, model: str, dataset: str, method: str = "magnitude",
              sparsity: float = 0.9, *, ctx=None, **options: Any) -> Run:
        """Prune ``model`` to ``sparsity`` into a new derived model; returns the
        ``pruning`` run (``run.params["model"]`` is the new model's name)."""
        from visualizer.analysis.pruning.api import prune

        return prune(self, model, dataset, method, sparsity, ctx=ctx, **options)

    def prune_sweep(self, model: str, dataset: str, methods, sparsities=None, *, ctx=None,
                    **options: Any) -> Run:
        """Methods × sparsities as one resumable run; finished points are kept."""
        from visualizer.analysis.pruning.api import prune_sweep

        return prune_sweep(self, model, dataset, methods, sparsities, ctx=ctx, **options)

    def cka(self, run_a: str, run_b: str, *, ctx=None, **options: Any) -> Run:
        """Linear CKA between every layer pair of two activation runs, as a run."""
        from visualizer.analysis.pruning.cka import cka

        return cka(self, run_a, run_b, ctx=ctx, **options)

    def storage_path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def copy_in(self, src: Path, rel_dest: str) -> Path:
        """Copy a user file into the workspace atomically; the user's file is untouched."""
        dest = self.root / rel_dest
        if dest.exists():
            raise WorkspaceError("a file with this name is already in the workspace.",
                                 path=dest, fix="choose another name.")
        with atomic_path(dest) as temp:
            shutil.copyfile(src, temp)
        return dest

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"


def _not_a_workspace(root: Path) -> str:
    """Why ``root`` is not a workspace, with the command that makes one there."""
    if not root.exists():
        return (f"no workspace at {root}: the folder does not exist; create one with "
                f"`python main.py new {root}` (or File > New workspace).")
    if not root.is_dir():
        return (f"no workspace at {root}: it is a file, not a folder; give the workspace "
                "folder, or create one with `python main.py new FOLDER`.")
    return (f"no workspace at {root}: the folder has no {Catalog.FILE}, so it is not a "
            f"DeepScope workspace; create one with `python main.py new {root}` (or the "
            f"demo with `python main.py demo {root}`).")


def _temp_writer_alive(temp: Path) -> bool:
    """Temp names carry the writer's pid (``.name.<pid>-<rand>.deepscope-tmp.suffix``)."""
    match = re.search(r"\.(\d+)-[0-9a-f]{8}" + re.escape(TEMP_MARK), temp.name)
    if not match:
        return False
    pid = int(match.group(1))
    return pid == os.getpid() or pid_alive(pid)


__all__ = ["Workspace", "Run", "NotFoundError", "Recovery"]
