import numpy as np
import pytest
import torch


def naive_deletion(model, x, attr, target, baseline):
    """One sample at a time, written plainly: remove the top pixels one by one."""
    curves = []
    for i in range(len(x)):
        order = np.argsort(-attr[i].sum(0).reshape(-1), kind="stable")
        img, probs = x[i].clone(), []
        for k in range(len(order) + 1):
            if k:
                r, c = divmod(int(order[k - 1]), x.shape[3])
                img[:, r, c] = baseline[i][:, r, c]
            with torch.no_grad():
                probs.append(torch.softmax(model(img[None]), 1)[0, target[i]].item())
        curves.append(probs)
    return np.array(curves)


def test_deletion_curve_equals_naive_loop(cnn_batch):
    from visualizer.analysis.attribution.metrics import deletion_insertion

    model, x, t = cnn_batch
    attr = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    base = torch.zeros_like(x)
    d_curve, i_curve, d_auc, i_auc = deletion_insertion(model, x, attr, t, base)
    expected = naive_deletion(model, x, attr.numpy(), t.numpy(), base)
    np.testing.assert_allclose(d_curve, expected, atol=1e-5)
    np.testing.assert_allclose(d_auc, np.trapezoid(expected, np.linspace(0, 1, 65), axis=1),
                               atol=1e-5)
    assert i_curve[:, -1] == pytest.approx(d_curve[:, 0], abs=1e-5)  # all revealed = x


def test_infidelity_equals_captum(cnn_batch):
    from captum.metrics import infidelity

    from visualizer.analysis.attribution.metrics import infidelity as ours

    model, x, t = cnn_batch
    attr = torch.rand(x.shape, generator=torch.Generator().manual_seed(1))
    value = ours(model, x, attr, t, seed=5, scale=0.1)

    def perturb(inputs):
        noise = torch.randn_like(inputs) * 0.1
        return noise, inputs - noise

    torch.manual_seed(5)
    ref = infidelity(model, perturb, x, attr, target=t, n_perturb_samples=10, normalize=True)
    np.testing.assert_allclose(value, ref.numpy(), rtol=1e-5)


def test_ig_beats_random_control_on_trained_cnn(demo_ws):
    ig = demo_ws.attribute("cnn", "digits", "integrated_gradients", limit=24, device="cpu",
                           n_steps=16, sensitivity_samples=0)
    rnd = demo_ws.attribute("cnn", "digits", "random", limit=24, device="cpu",
                            sensitivity_samples=0)
    assert ig.metrics["deletion_auc"] < rnd.metrics["deletion_auc"]
    assert ig.metrics["insertion_auc"] > rnd.metrics["insertion_auc"]
    assert ig.metrics["completeness_gap"] < 1e-2
    with ig.arrays() as a:
        assert a["deletion_curve"].shape == (24, 65)
        assert np.isfinite(a["infidelity"][()]).all()
        assert np.isnan(a["sensitivity"][()]).all()  # sensitivity_samples=0
    # the catalog holds the metrics (info --json shows them)
    rec = demo_ws.catalog.run(ig.id)
    assert rec.metrics["deletion_auc"] == ig.metrics["deletion_auc"]


def test_layer_method_stores_both_resolutions(demo_ws):
    run = demo_ws.attribute("cnn", "digits", "layer_gradcam", limit=5, device="cpu",
                            metrics=False)
    assert run.params["layer"] == "conv2"  # the default: the last convolution
    with run.arrays() as a:
        assert a["layer_attributions"].shape == (5, 1, 8, 8)
        assert a["attributions"].shape == (5, 1, 8, 8)


def test_progressive_ig_sends_a_coarse_map_first(scratch_ws_path):
    from tests.visualizer.analysis.attribution.conftest import CancelAfter
    from visualizer.analysis.attribution.api import build_request
    from visualizer.analysis.attribution.job import attribute_job
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.open(scratch_ws_path)
    ctx = CancelAfter(10**6)
    request = build_request(ws, "cnn", "digits", "integrated_gradients", limit=4,
                            device="cpu", metrics=False)
    attribute_job(request, ctx)
    stages = [p["stage"] for p in ctx.partials]
    assert stages[0] == "coarse" and stages[-1] == "batch"


def test_escalation_flags_not_converged(demo_ws, monkeypatch):
    """With an impossible tolerance every sample escalates to 1000 steps and is flagged."""
    from visualizer.analysis.attribution import job

    monkeypatch.setattr(job, "CONVERGED_REL", 0.0)
    run = demo_ws.attribute("cnn", "digits", "integrated_gradients", limit=2, n_steps=8,
                            device="cpu", metrics=False, progressive=False)
    assert run.metrics["not_converged"] == 2 and run.metrics["max_n_steps"] == 1000
    with run.arrays() as a:
        assert list(a["n_steps_used"][()]) == [1000, 1000]


def test_spearman_rows_equals_scipy():
    from scipy.stats import spearmanr

    from visualizer.analysis.attribution.sanity import spearman_rows

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 30)), rng.normal(size=(4, 30))
    b[0] = a[0] * 2 + 1
    ours = spearman_rows(a, b)
    ref = [spearmanr(a[i], b[i]).statistic for i in range(4)]
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    assert ours[0] == pytest.approx(1.0)


def test_sanity_check_run(demo_ws):
    from scipy.stats import spearmanr

    from visualizer.analysis.attribution.api import sanity_check

    run = sanity_check(demo_ws, "cnn", "digits", "saliency", limit=8, device="cpu")
    assert run.kind == "sanity" and run.status == "complete"
    assert run.params["layers"] == ["fc2", "fc1", "conv2", "conv1"]
    with run.arrays() as a:
        rho, maps = a["spearman_abs"][()], a["maps"][()]
    assert rho.shape == (4, 8) and maps.shape == (5, 8, 1, 8, 8)
    for step in range(4):  # each rho is scipy's Spearman of |original| and |randomised|
        for i in range(8):
            want = spearmanr(np.abs(maps[0, i]).ravel(), np.abs(maps[step + 1, i]).ravel())[0]
            assert rho[step, i] == pytest.approx(want, abs=1e-5)
    # the verdict reads the mean after the top half (2 of 4 layers) is random
    assert run.metrics["verdict_layers"] == 2
    assert run.metrics["verdict_spearman_abs"] == pytest.approx(rho[1].mean(), abs=1e-6)
    assert run.metrics["passed"] == 1  # saliency depends on the model (Adebayo et al.)
    # the original model is untouched by the randomisation
    model = demo_ws.load_model("cnn")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_baselines_and_targets():
    from visualizer.analysis.attribution.baselines import BaselineMaker, gaussian_blur
    from visualizer.analysis.attribution.targets import parse_target
    from visualizer.errors import DeepScopeError

    x = torch.rand(3, 1, 8, 8)
    blurred = gaussian_blur(x, 1.0)
    assert blurred.shape == x.shape
    assert float(blurred.mean()) == pytest.approx(float(x.mean()), abs=0.05)
    noise = BaselineMaker("noise", None, (0.0, 1.0), seed=1).per_input(x, 0)
    assert 0 <= float(noise.min()) and float(noise.max()) <= 1
    train = np.random.default_rng(0).random((10, 1, 8, 8), dtype=np.float32)
    mean = BaselineMaker("mean", train, (0.0, 1.0)).per_input(x, 0)
    np.testing.assert_allclose(mean[1].numpy(), train.mean(0), rtol=1e-5)
    assert parse_target("label") == "label" and parse_target("3") == 3
    with pytest.raises(DeepScopeError):
        parse_target("best")
