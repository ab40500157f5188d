"""Evaluating a classifier, and seeding torch for one job without touching the process.

The single implementation of classification accuracy: :func:`visualizer.models.zoo.
evaluate_accuracy` and :func:`visualizer.analysis.pruning.finetune.evaluate` both call
:func:`evaluate`. Imports torch at its top: import it where it is needed.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor, nn

from visualizer.models.fx_guard import running_modules


def as_tensor(a: np.ndarray | Tensor, dtype: torch.dtype) -> Tensor:
    """``a`` as a detached CPU tensor of ``dtype`` (numpy arrays need not be contiguous)."""
    t = a if isinstance(a, Tensor) else torch.from_numpy(np.ascontiguousarray(a))
    return t.detach().to(dtype=dtype, device="cpu")


def model_device(model: nn.Module, default: torch.device | str = "cpu") -> torch.device:
    """The device of the model's first parameter (or buffer); ``default`` when it has none."""
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return torch.device(default) if first is None else first.device


def evaluate(
    model: nn.Module, x: np.ndarray | Tensor, y: np.ndarray | Tensor, batch_size: int = 512
) -> tuple[float, np.ndarray, np.ndarray]:
    """Accuracy, predicted class and its softmax probability per sample.

    Parameters
    ----------
    model
        A classifier; it runs in eval mode (its own mode is restored afterwards), under
        ``no_grad``, on its own device, with the inputs moved there batch by batch.
    x, y
        Inputs ``N x ...`` and integer labels ``N`` (numpy arrays or tensors).
    batch_size
        Samples per forward pass.

    Returns
    -------
    accuracy : float
        Fraction of correct predictions in [0, 1], counted exactly (float64: 353 of 360
        is 0.980555..., not float32's 0.98055553); 0.0 for an empty set.
    predictions : np.ndarray
        int64 ``(N,)`` arg-max classes.
    confidences : np.ndarray
        float32 ``(N,)`` softmax probability of the predicted class.

    Raises
    ------
    ValueError
        When ``x`` and ``y`` hold different numbers of samples.
    """
    xt, yt = as_tensor(x, torch.float32), as_tensor(y, torch.long)
    if len(xt) != len(yt):
        raise ValueError(f"evaluate got {len(xt)} inputs but {len(yt)} labels")
    device = model_device(model)
    preds, confs = [], []
    was_training = model.training
    model.eval()
    try:
        with running_modules(), torch.no_grad():
            for start in range(0, len(xt), batch_size):
                logits = model(xt[start : start + batch_size].to(device))
                conf, pred = torch.softmax(logits.float(), 1).max(1)
                preds.append(pred.cpu())
                confs.append(conf.cpu())
    finally:
        model.train(was_training)
    if not preds:
        return 0.0, np.zeros(0, np.int64), np.zeros(0, np.float32)
    pred = torch.cat(preds).numpy().astype(np.int64)
    accuracy = float((pred == yt.numpy()).mean())  # numpy's bool mean is float64
    return accuracy, pred, torch.cat(confs).numpy().astype(np.float32)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str | None = None) -> Iterator[None]:
    """Seed torch's CPU generator, and ``device``'s, for the block only.

    ``torch.manual_seed`` reseeds every generator of the process (CPU, each CUDA device,
    MPS), and ``torch.random.fork_rng(devices=[])`` gives back only the CPU's, so the two
    together would leave CUDA reseeded for every other thread. Here only the generators
    that are forked get seeded: the CPU's (``torch.default_generator``) and, for a model
    on CUDA or MPS, that device's; all of them are restored on leaving. The RNG state is
    process-wide: another thread drawing random numbers meanwhile moves (and is moved
    by) ours, as with any use of the global generators.

    Parameters
    ----------
    seed
        The seed.
    device
        Where the random draws happen besides the CPU (dropout of a model on CUDA);
        ``None`` or a CPU device forks the CPU generator only.
    """
    seed = int(seed)
    dev = torch.device("cpu" if device is None else device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        with torch.random.fork_rng(devices=[index], device_type="cuda"):
            torch.default_generator.manual_seed(seed)
            torch.cuda.default_generators[index].manual_seed(seed)
            yield
    elif dev.type == "mps":
        with torch.random.fork_rng(devices=[dev], device_type="mps"):
            torch.default_generator.manual_seed(seed)
            torch.mps.manual_seed(seed)
            yield
    else:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield
