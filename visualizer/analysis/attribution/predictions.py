"""What the model predicts for the explained samples, and the class each map explains.

A run stores, per sample, the prediction, its confidence, the target class and the top
classes. They come from a separate inference pass, except for methods that evaluate the
model exactly once, at the inputs themselves (``MethodSpec.at_input``: Saliency,
Input × Gradient, Guided Backprop, Deconvolution, Grad-CAM, Guided Grad-CAM) asked to
explain the predicted class. Those see the very logits the inference pass would compute,
so the job reads them from the method's own forward pass (:func:`record_logits`) and
skips a pass that costs about a third of a Saliency job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

TOP_K = 5


def predict(model, x: np.ndarray, device: str, batch: int = 512) -> np.ndarray:
    """Logits of ``x`` in batches, under ``inference_mode``."""
    import torch

    outs = []
    with torch.inference_mode():
        for start in range(0, len(x), batch):
            outs.append(model(torch.from_numpy(x[start:start + batch]).to(device))
                        .float().cpu().numpy())
    return np.concatenate(outs)


def can_read_from_method_pass(spec, request, model) -> bool:
    """Whether the method's forward pass can stand in for the inference pass."""
    import torch

    from visualizer.analysis.attribution.targets import parse_target

    return (bool(getattr(spec, "at_input", False)) and not request.smooth
            and parse_target(request.target) == "pred"
            and not isinstance(model, torch.jit.ScriptModule))  # no hooks on TorchScript


class SeenLogits:
    logits: np.ndarray | None = None


@contextlib.contextmanager
def record_logits(model) -> Iterator[SeenLogits]:
    """During the block, the model answers with the logit of its own predicted class (so
    a method needs no ``target``: the gradient is that of the predicted class, exactly as
    with ``target=argmax``), and the logits of its forward pass are kept."""
    seen = SeenLogits()

    def answer_predicted(module: Any, inputs: Any, output: Any):
        seen.logits = output.detach().float().cpu().numpy()
        return output.gather(1, output.argmax(dim=1, keepdim=True))

    handle = model.register_forward_hook(answer_predicted)
    try:
        yield seen
    finally:
        handle.remove()


def class_columns(logits: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
    """The per-sample class arrays of a run, for one batch of logits."""
    import torch

    probs = torch.softmax(torch.from_numpy(np.asarray(logits, dtype=np.float32)), dim=1)
    probs = probs.numpy()
    k = min(TOP_K, probs.shape[1])
    top = np.argsort(-probs, axis=1)[:, :k]
    return {"prediction": probs.argmax(axis=1).astype(np.int64),
            "confidence": probs.max(axis=1).astype(np.float32),
            "target": np.asarray(targets, dtype=np.int64),
            "top_classes": top.astype(np.int64),
            "top_probs": np.take_along_axis(probs, top, axis=1).astype(np.float32)}
