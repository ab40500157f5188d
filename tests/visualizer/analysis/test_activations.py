import numpy as np
import pytest
import torch

from visualizer.analysis.activations import ExtractRequest, extract_activations
from visualizer.errors import NotFoundError
from visualizer.jobs import JobCancelled, JobState, ThreadRunner


def reference_activations(model, x, names):
    """A plain forward pass with hooks, written independently of DeepScope."""
    out, handles = {}, []
    modules = dict(model.named_modules())
    for name in names:
        handles.append(modules[name].register_forward_hook(
            lambda m, i, o, name=name: out.__setitem__(name, o.detach().clone())))
    try:
        with torch.no_grad():
            logits = model(torch.from_numpy(x))
    finally:
        for h in handles:
            h.remove()
    return {k: v.numpy() for k, v in out.items()}, logits.numpy()


@pytest.mark.parametrize("model_name", ["mlp", "cnn", "resnet"])
def test_extraction_equals_plain_forward(demo_ws, model_name):
    run = demo_ws.extract(model_name, "digits", device="cpu", batch_size=50)
    model = demo_ws.load_model(model_name)
    x, y = demo_ws.load_dataset("digits").arrays("test")
    with run.arrays() as arrays:
        layers = arrays.layers
        assert layers, "the default picks every tensor layer of a small model"
        ref, logits = reference_activations(model, x, layers)
        for name in layers:
            np.testing.assert_allclose(arrays[name][()], ref[name], rtol=1e-5, atol=1e-5)
            stats = arrays.stats(name)
            units = np.moveaxis(ref[name], 1, 0).reshape(ref[name].shape[1], -1)
            np.testing.assert_allclose(stats["mean"], units.mean(axis=1), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(stats["std"], units.std(axis=1), rtol=1e-3, atol=1e-4)
            np.testing.assert_allclose(stats["frac_zero"], (units == 0).mean(axis=1), atol=1e-6)
        np.testing.assert_array_equal(arrays["prediction"][()], logits.argmax(1))
        np.testing.assert_array_equal(arrays["label"][()], y)
        np.testing.assert_array_equal(arrays["sample_index"][()], np.arange(len(y)))
    assert run.status == "complete"
    assert run.params["split"] == "test" and run.params["model"] == model_name
    assert run.metrics["accuracy"] == pytest.approx(float((logits.argmax(1) == y).mean()))
    assert run.provenance["model_sha256"] == demo_ws.catalog.model(model_name).sha256
    # hooks never outlive the job
    assert all(not m._forward_hooks for m in model.modules())


def test_named_layers_and_limit(demo_ws):
    run = demo_ws.extract("cnn", "digits", layers=["fc2", "conv1"], limit=10, split="train")
    with run.arrays() as arrays:
        assert arrays.layers == ["conv1", "fc2"]  # forward order
        assert arrays["conv1"].shape[0] == 10
    assert run.params["split"] == "train"


def test_unknown_layer_lists_the_real_ones(demo_ws):
    with pytest.raises(NotFoundError, match="conv1"):
        demo_ws.extract("cnn", "digits", layers=["conv9"])
    assert demo_ws.runs(status="running") == []


def test_budget_drops_largest_layers_first(demo_ws):
    run = demo_ws.extract("cnn", "digits", budget_mb=1)
    assert run.params["skipped_layers"]
    with run.arrays() as arrays:
        kept = sum(arrays[n].size * 4 for n in arrays.layers)
    assert kept <= 1 << 20


def test_cancel_marks_run_cancelled_and_leaves_no_file(demo_ws):
    runner = ThreadRunner()
    request = ExtractRequest(workspace=str(demo_ws.root), model="resnet", dataset="digits",
                             split="all", batch_size=1, device="cpu")
    job = runner.submit(extract_activations, request)
    job.progressed.connect(lambda done, total: job.cancel() if done >= 20 else None)
    assert job.wait(60)
    runner.shutdown()
    assert job.state is JobState.CANCELLED
    with pytest.raises(JobCancelled):
        job.outcome()
    cancelled = demo_ws.runs(status="cancelled")
    assert len(cancelled) == 1 and not cancelled[0].path.exists()
    leftovers = [p for p in (demo_ws.root / "runs").iterdir()
                 if p.name.startswith(".") and "act-" in p.name]
    assert leftovers == []
