"""Activation extraction: dump chosen layers of a model over a dataset split to HDF5.

The forward pass runs batch by batch under ``inference_mode`` while one writer thread
stores the previous batches and folds them into per-unit statistics; a bounded queue
between them keeps memory flat however large the dataset is (h5py serialises every
call behind one lock, so more writer threads would buy nothing).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from visualizer.errors import DeepScopeError, NotFoundError
from visualizer.jobs.contract import JobContext
from visualizer.workspace.runfile import ACTIVATIONS, STATS, RunFileWriter

QUEUE_DEPTH = 4


@dataclass(frozen=True)
class ExtractRequest:
    workspace: str
    model: str
    dataset: str
    split: str = "test"
    layers: tuple[str, ...] | None = None
    device: str = "auto"
    batch_size: int = 256
    limit: int | None = None
    budget_bytes: int = 1 << 30
    dtype: str = "float32"
    seed: int = 0  # draws the --limit sample (stratified by class; see data.sampling)

    def check(self) -> None:
        """Raise a DeepScopeError naming the field unless the request can start."""
        check_request_numbers(limit=self.limit, batch_size=self.batch_size)
        if self.budget_bytes < 1:
            raise DeepScopeError(f"budget_mb must be at least 1 (got {self.budget_bytes >> 20}).",
                                 fix="give the memory budget in MiB.")


def check_request_numbers(**values: int | None) -> None:
    """``name`` must be None or at least 1 for each ``name=value``."""
    from visualizer.data.sampling import check_limit

    for name, value in values.items():
        check_limit(value, name)


class UnitStats:
    """Streaming per-unit statistics (unit = channel of a conv map, or a neuron).

    Updated inside the forward hook with torch reductions on the model's device (cheap
    there, and vectorised on the CPU); only per-unit vectors are accumulated, in float64.
    """

    def __init__(self, n_units: int):
        self.count = 0
        self.sum = np.zeros(n_units)
        self.sumsq = np.zeros(n_units)
        self.zeros = np.zeros(n_units)
        self.max = np.full(n_units, -np.inf)
        self.min = np.full(n_units, np.inf)

    def update(self, batch) -> None:
        """Fold in a ``(B, C, *spatial)`` or ``(B, D)`` torch tensor."""
        t = batch.detach().float()
        if t.ndim == 1:
            t = t[:, None]
        dims = (0, *range(2, t.ndim))
        self.count += t.numel() // t.shape[1]
        lo, hi = torch_aminmax(t, dims)
        reduced = (t.sum(dim=dims), (t * t).sum(dim=dims), (t == 0).sum(dim=dims), lo, hi)
        s, sq, z, lo, hi = (r.double().cpu().numpy() for r in reduced)
        self.sum += s
        self.sumsq += sq
        self.zeros += z
        self.min = np.minimum(self.min, lo)
        self.max = np.maximum(self.max, hi)

    def result(self) -> dict[str, np.ndarray]:
        n = max(self.count, 1)
        mean = self.sum / n
        var = np.maximum(self.sumsq / n - mean**2, 0.0)
        return {"mean": mean, "std": np.sqrt(var), "frac_zero": self.zeros / n,
                "max": self.max, "min": self.min}


def torch_aminmax(t, dims):
    # aminmax takes one dim: fold the reduced dims into one trailing axis first.
    flat = t.movedim(1, 0).reshape(t.shape[1], -1)
    return flat.amin(dim=1), flat.amax(dim=1)


def extract_activations(request: ExtractRequest, ctx: JobContext) -> str:
    """Job: dump activations to a new ``activations`` run; returns the run id."""
    from visualizer.jobs.device import resolve_device
    from visualizer.workspace import model_pool
    from visualizer.workspace.workspace import Workspace

    request.check()
    ctx.status("loading model and data")
    ws = Workspace(request.workspace)
    device = resolve_device(request.device)
    with model_pool.borrow(ws, request.model, device) as model:
        return _extract(request, ctx, ws, model, device)


def _extract(request: ExtractRequest, ctx: JobContext, ws, model, device: str) -> str:
    import torch

    from visualizer.models.introspection import describe_layers
    from visualizer.workspace.provenance import base_provenance

    model_rec = ws.catalog.model(request.model)
    data_rec = ws.catalog.dataset(request.dataset)
    from visualizer.data.sampling import sample_split

    x, y = ws.load_dataset(request.dataset).arrays(request.split)
    if len(x) == 0:
        raise NotFoundError(f"split {request.split!r} of {request.dataset!r} is empty.",
                            fix="choose another split (train, test or all).")
    # a limit takes a seeded sample that keeps the class proportions, never the first N
    # (a split in class-folder order would give one class)
    sample = sample_split(y, request.limit, request.seed)
    if len(sample.index) < len(x):
        x, y = x[sample.index], y[sample.index]
    n = len(x)
    ctx.check_cancelled()

    if isinstance(model, torch.jit.ScriptModule):
        raise DeepScopeError(
            f"model {request.model!r} is TorchScript, which does not support forward hooks, "
            "so its inner layers cannot be recorded.",
            fix="import its weights as a state dict or safetensors with --arch module:factory.")
    infos = describe_layers(model, torch.from_numpy(x[:1]).to(device))
    layers, skipped = select_layers(infos, request.layers, n, request.budget_bytes)
    shapes = {i.name: i.output_shape for i in infos if i.name in layers}
    params = {
        "model": request.model, "dataset": request.dataset, "split": request.split,
        "layers": layers, "skipped_layers": skipped, "device": device,
        "layer_shapes": {name: list(shapes[name]) for name in layers},
        "batch_size": request.batch_size, "dtype": request.dtype, "seed": request.seed,
        **sample.params(),
    }
    provenance = base_provenance(model_sha256=model_rec.sha256, data_sha256=data_rec.sha256,
                                 device=device, torch_threads=torch.get_num_threads())
    dtype = np.dtype(request.dtype)

    with ws.new_run("activations", model=request.model, dataset=request.dataset,
                    params=params, provenance=provenance) as new_run, \
            RunFileWriter(new_run.path, "activations", {"run_id": new_run.id}) as writer:
        out = {name: writer.create(f"{ACTIVATIONS}/{name}", n, shapes[name], dtype)
               for name in layers}
        writer.file[ACTIVATIONS].attrs["order"] = layers
        writer.put("sample_index", sample.index)
        writer.put("label", y.astype(np.int64))
        pred_ds = writer.create("prediction", n, (), np.int64)
        conf_ds = writer.create("confidence", n, (), np.float32)
        stats = {name: UnitStats(shapes[name][0] if shapes[name] else 1) for name in layers}

        started = time.perf_counter()
        with _StreamWriter(out, pred_ds, conf_ds) as stream:
            _forward_batches(model, x, stats, device, request.batch_size, stream, ctx)
        seconds = time.perf_counter() - started

        for name, acc in stats.items():
            for stat, values in acc.result().items():
                writer.put(f"{STATS}/{name}/{stat}", values.astype(np.float32))
        predictions = pred_ds[()]
        new_run.metrics = {
            "accuracy": float(np.mean(predictions == y)), "n_samples": n,
            "n_layers": len(layers), "seconds": round(seconds, 3),
            "samples_per_second": round(n / max(seconds, 1e-9), 1),
        }
        ctx.status("publishing")
        writer.publish()
    return new_run.id


def _forward_batches(model, x: np.ndarray, stats: dict[str, UnitStats], device: str,
                     batch_size: int, stream: _StreamWriter, ctx: JobContext) -> None:
    import torch

    from visualizer.models.introspection import hooks

    captured: dict[str, Any] = {}

    def keep(name: str, module: Any, inputs: Any, output: Any) -> None:
        # Use the tensor now: a later in-place op in the model could still change it.
        stats[name].update(output)
        captured[name] = output.detach().to("cpu", copy=True)

    n = len(x)
    ctx.status(f"extracting {len(stats)} layers on {device}")
    with torch.inference_mode(), hooks(model, list(stats), keep):
        for start in range(0, n, batch_size):
            ctx.check_cancelled()
            batch = torch.from_numpy(x[start:start + batch_size]).to(device)
            logits = model(batch)
            probs = torch.softmax(logits.float(), dim=1)
            conf, pred = probs.max(dim=1)
            stream.put(start, {k: v.numpy() for k, v in captured.items()},
                       pred.cpu().numpy(), conf.cpu().numpy())
            captured = {}
            ctx.progress(min(start + batch_size, n), n)


def select_layers(infos, requested, n_samples: int, budget_bytes: int
                  ) -> tuple[list[str], list[str]]:
    """The layers to dump (forward order) and those the budget left out.

    Requested names must exist and produce one tensor; without a request every such
    layer is taken, largest dropped first until the dump fits ``budget_bytes``.
    """
    from visualizer.models.introspection import default_layers

    if not requested:
        chosen = default_layers(infos, n_samples, budget_bytes)
        return chosen.kept, chosen.dropped
    by_name = {i.name: i for i in infos}
    tensor_layers = [i.name for i in infos if i.output_shape is not None]
    missing = [name for name in requested if name not in by_name]
    if missing:
        raise NotFoundError(
            f"the model has no layer {', '.join(map(repr, missing))}.",
            fix=f"choose from: {', '.join(tensor_layers[:40])}"
                + (" ..." if len(tensor_layers) > 40 else "."))
    no_tensor = [name for name in requested if by_name[name].output_shape is None]
    if no_tensor:
        raise NotFoundError(
            f"layer(s) {', '.join(map(repr, no_tensor))} do not output a single tensor.",
            fix="choose one of their sub-layers.")
    order = {i.name: k for k, i in enumerate(infos)}
    return sorted(dict.fromkeys(requested), key=order.__getitem__), []


class _StreamWriter:
    """One writer thread fed through a bounded queue; errors surface in the producer."""

    def __init__(self, out, pred_ds, conf_ds):
        self._out, self._pred, self._conf = out, pred_ds, conf_ds
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="deepscope-h5-writer",
                                        daemon=True)

    def __enter__(self) -> _StreamWriter:
        self._thread.start()
        return self

    def put(self, start: int, arrays: dict[str, np.ndarray], pred, conf) -> None:
        item = (start, arrays, pred, conf)
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # drain so the producer never blocks
            try:
                start, arrays, pred, conf = item
                stop = start + len(pred)
                for name, values in arrays.items():
                    self._out[name][start:stop] = values
                self._pred[start:stop] = pred
                self._conf[start:stop] = conf
            except BaseException as exc:  # noqa: BLE001 - re-raised in the producer
                self._error = exc

    def __exit__(self, exc_type, exc, tb) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error
