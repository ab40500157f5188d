"""Conformance over every registered attribution method (plugin authors can run it too).

Shapes, determinism under a seed, no hooks left after success or after an error, and
cancellation honoured by the job between batches.
"""

import numpy as np
import pytest
import torch

from plugins.manager import get_manager
from tests.visualizer.analysis.attribution.conftest import CancelAfter, leftover_hooks

FAST = {"n_steps": 4, "n_samples": 4}


def contributions():
    return get_manager().contributions("attribution_methods")


def fast_params(spec):
    return {k: v for k, v in FAST.items() if spec.param(k) is not None}


def call(c, model, x, t, **extra):
    manager = get_manager()
    spec = manager.load(c).spec
    kwargs = fast_params(spec)
    kwargs["internal_batch_size"] = 1024
    if spec.baselines == "input":
        kwargs["baselines"] = torch.zeros_like(x)
    elif spec.baselines == "distribution":
        kwargs["baselines"] = torch.zeros((2, *x.shape[1:]))
    if spec.layer:
        kwargs["layer"] = "conv2"
    kwargs.update(extra)
    return manager.call(c, model, x, t, **kwargs)


def test_every_table_method_is_registered():
    from visualizer.analysis.attribution.table import METHODS

    names = {c.name for c in contributions()}
    assert {m.id for m in METHODS} <= names
    assert len(names) >= 18


@pytest.mark.parametrize("c", contributions(), ids=lambda c: c.id)
def test_conformance(cnn_batch, c):
    model, x, t = cnn_batch
    x, t = x[:3], t[:3]
    spec = get_manager().load(c).spec
    first = call(c, model, x, t, seed=11)
    assert leftover_hooks(model) == []
    second = call(c, model, x, t, seed=11)
    if spec.layer and spec.layer_output:
        assert first.shape[0] == 3 and first.dim() == 4  # (B, C|1, h, w) of conv2
    else:
        assert tuple(first.shape) == tuple(x.shape)
    np.testing.assert_array_equal(first.detach().numpy(), second.detach().numpy())
    assert torch.isfinite(first).all()
    if spec.has_delta:
        attr, delta = call(c, model, x, t, return_convergence_delta=True, seed=11)
        assert attr.shape == first.shape and delta.shape[0] % 3 == 0

    # an error inside the call (the model raises after its forward) leaves no hooks
    if spec.family != "control":  # the random control never runs the model
        broken = Explode(model)
        with pytest.raises(Exception, match="boom"):
            call(c, broken, x, t, seed=11, **({"layer": "inner.conv2"} if spec.layer else {}))
        assert leftover_hooks(broken) == []


class Explode(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        self.inner(x)
        raise RuntimeError("boom")


@pytest.mark.parametrize("c", contributions(), ids=lambda c: c.id)
def test_job_cancellation_is_honoured(scratch_ws_path, c):
    """Cancelled between batches: the run is ``cancelled`` and no run file is left."""
    from visualizer.analysis.attribution.api import build_request
    from visualizer.analysis.attribution.job import attribute_job
    from visualizer.jobs import JobCancelled
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.open(scratch_ws_path)
    spec = get_manager().load(c).spec
    request = build_request(ws, "cnn", "digits", c.id, limit=6, batch_size=2, device="cpu",
                            metrics=False, progressive=False, params=fast_params(spec))
    ctx = CancelAfter(3)  # prepare + first batch run, the second batch is cancelled
    with pytest.raises(JobCancelled):
        attribute_job(request, ctx)
    assert len(ctx.partials) == 1
    runs = [r for r in ws.runs(kind="attribution") if r.params.get("plugin") == c.id]
    assert runs and runs[-1].status == "cancelled"
    assert not runs[-1].path.exists()
    assert not list(runs[-1].path.parent.glob(f".{runs[-1].id}*"))
