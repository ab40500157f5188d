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


def image_folder_of_digits(demo_ws, root):
    """The digits test split written as an image folder: samples come class by class."""
    from PIL import Image

    x, y = demo_ws.load_dataset("digits").arrays("test")
    for k, (img, label) in enumerate(zip(x, y, strict=True)):
        folder = root / f"digit-{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(img[0] * 255).astype(np.uint8), "L").save(folder / f"{k}.png")
    demo_ws.import_dataset(root, "folder")
    return demo_ws.load_dataset("folder").arrays("test")[1]


def test_a_limit_takes_a_stratified_seeded_sample_everywhere(demo_ws, tmp_path):
    from visualizer.data.sampling import stratified_sample

    labels = image_folder_of_digits(demo_ws, tmp_path / "digits")
    assert set(labels[:16]) == {0}, "class-folder order: the first 16 are all one class"
    run = demo_ws.extract("cnn", "folder", limit=16, device="cpu")
    with run.arrays() as a:
        index, stored = a["sample_index"][()], a["label"][()]
        assert a["conv1"].shape[0] == 16
    assert set(stored) == set(range(10))
    np.testing.assert_array_equal(stored, labels[index])
    shares = np.bincount(stored, minlength=10) - 16 * np.bincount(labels) / len(labels)
    assert np.all(np.abs(shares) < 1), shares
    np.testing.assert_array_equal(index, stratified_sample(labels, 16, 0))
    assert {k: run.params[k] for k in ("limit", "sample_seed", "sampling", "seed")} == {
        "limit": 16, "sample_seed": 0, "sampling": "stratified", "seed": 0}
    assert run.metrics["n_samples"] == 16
    # reproducible from the params; another seed, other samples
    again = demo_ws.extract("cnn", "folder", limit=16, device="cpu", seed=0)
    other = demo_ws.extract("cnn", "folder", limit=16, device="cpu", seed=1)
    with again.arrays() as a, other.arrays() as b:
        np.testing.assert_array_equal(a["sample_index"][()], index)
        assert not np.array_equal(b["sample_index"][()], index)
    # attribution (and its sanity check) draw the same sample for the same seed
    attr = demo_ws.attribute("cnn", "folder", method="saliency", limit=16, metrics=False,
                             device="cpu")
    with attr.arrays() as a:
        np.testing.assert_array_equal(a["sample_index"][()], index)
    assert attr.params["sample_seed"] == 0 and attr.params["sampling"] == "stratified"
    from visualizer.analysis.attribution.api import sanity_check

    sanity = sanity_check(demo_ws, "cnn", "folder", method="saliency", limit=8, device="cpu")
    with sanity.arrays() as a:
        assert len(set(labels[a["sample_index"][()]])) == 8  # 8 classes, one each
    # the whole split when the limit covers it
    whole = demo_ws.extract("mlp", "folder", limit=10_000, device="cpu")
    with whole.arrays() as a:
        np.testing.assert_array_equal(a["sample_index"][()], np.arange(len(labels)))
    assert whole.params["sampling"] == "all" and whole.params["sample_seed"] is None


def test_views_read_a_sampled_run_by_sample_id(demo_ws):
    """A run made with a limit holds split positions that are not 0..N-1: readers must
    go through sample_index, never assume it equals the row."""
    from visualizer.analysis.layers.samples import (
        FeatureRequest,
        TopKRequest,
        feature_maps,
        top_activating,
    )
    from visualizer.jobs.contract import NullContext

    run = demo_ws.extract("cnn", "digits", limit=30, seed=4, device="cpu")
    x, y = demo_ws.load_dataset("digits").arrays("test")
    with run.arrays() as a:
        index = a["sample_index"][()]
        dump = a["conv1"][()]
    assert not np.array_equal(index, np.arange(30))
    # the feature maps of a sample in the run come from its row of the dump
    sid = int(index[7])
    maps = feature_maps(FeatureRequest(str(demo_ws.root), run.id, "conv1", sid),
                        NullContext())
    assert maps.source == "dump" and maps.label == y[sid]
    np.testing.assert_array_equal(maps.values, dump[7])
    # a sample of the split that the run left out (the view's default, 0) is computed
    missing = int(np.setdiff1d(np.arange(len(y)), index)[0])
    maps = feature_maps(FeatureRequest(str(demo_ws.root), run.id, "conv1", missing),
                        NullContext())
    model = demo_ws.load_model("cnn")
    ref, _ = reference_activations(model, x[missing:missing + 1], ["conv1"])
    assert maps.source == "hooks" and maps.label == y[missing]
    np.testing.assert_allclose(maps.values, ref["conv1"][0], rtol=1e-5, atol=1e-5)
    with pytest.raises(NotFoundError, match="not in the test split"):
        feature_maps(FeatureRequest(str(demo_ws.root), run.id, "conv1", 5000), NullContext())
    # top samples name split positions (thumbnails), in the run
    top = top_activating(TopKRequest(str(demo_ws.root), run.id, "fc2", unit=3, k=5),
                         NullContext())
    np.testing.assert_array_equal(top.sample_index, index[top.rows])
    np.testing.assert_array_equal(top.labels, y[top.sample_index])
    # a projection keeps the ids of its source run
    proj = demo_ws.project(run.id, "fc1", "pca")
    with proj.arrays() as a:
        np.testing.assert_array_equal(a["sample_index"][()], index)
