"""Every method equals captum called directly on the same model, inputs and parameters."""

import numpy as np
import pytest
import torch
from captum import attr as ca

from plugins.manager import get_manager
from visualizer.workspace import model_pool

LAYER = "conv2"


def method(method_id):
    manager = get_manager()
    return manager, manager.get("attribution_methods", method_id)


def direct(method_id, model, x, t, base):
    """captum used as a notebook user would, written without the adapter."""
    mask = (torch.arange(8)[:, None] // 2 * 4 + torch.arange(8)[None, :] // 2)[None, None]
    layer = dict(model.named_modules())[LAYER]
    table = {
        "integrated_gradients": lambda: ca.IntegratedGradients(model).attribute(
            x, base, target=t, n_steps=16, method="gausslegendre"),
        "saliency": lambda: ca.Saliency(model).attribute(x, target=t, abs=True),
        "input_x_gradient": lambda: ca.InputXGradient(model).attribute(x, target=t),
        "deeplift": lambda: ca.DeepLift(model).attribute(x, base, target=t),
        "deeplift_shap": lambda: ca.DeepLiftShap(model).attribute(
            x, torch.cat([base[:1], base[:1] + 0.1]), target=t),
        "gradient_shap": lambda: ca.GradientShap(model).attribute(
            x, torch.cat([base[:1], base[:1] + 0.1]), target=t, n_samples=5, stdevs=0.0),
        "guided_backprop": lambda: ca.GuidedBackprop(model).attribute(x, target=t),
        "deconvolution": lambda: ca.Deconvolution(model).attribute(x, target=t),
        "occlusion": lambda: ca.Occlusion(model).attribute(
            x, sliding_window_shapes=(1, 2, 2), strides=(1, 1, 1), baselines=base, target=t,
            perturbations_per_eval=100),
        "feature_ablation": lambda: ca.FeatureAblation(model).attribute(
            x, base, target=t, feature_mask=(torch.arange(64).view(1, 1, 8, 8)),
            perturbations_per_eval=100),
        "shapley_value_sampling": lambda: ca.ShapleyValueSampling(model).attribute(
            x, base, target=t, feature_mask=mask, n_samples=5, perturbations_per_eval=100),
        "lime": lambda: ca.Lime(model).attribute(x, target=t, feature_mask=mask,
                                                 n_samples=20, baselines=base),
        "kernel_shap": lambda: ca.KernelShap(model).attribute(
            x, target=t, feature_mask=mask, n_samples=20, baselines=base),
        "layer_gradcam": lambda: ca.LayerGradCam(model, layer).attribute(
            x, target=t, relu_attributions=True),
        "guided_gradcam": lambda: ca.GuidedGradCam(model, layer).attribute(x, target=t),
        "layer_conductance": lambda: ca.LayerConductance(model, layer).attribute(
            x, base, target=t, n_steps=16),
        "layer_integrated_gradients": lambda: ca.LayerIntegratedGradients(
            model, layer).attribute(x, base, target=t, n_steps=16),
    }
    return table[method_id]()


PARAMS = {
    "integrated_gradients": {"n_steps": 16},
    "layer_conductance": {"n_steps": 16},
    "layer_integrated_gradients": {"n_steps": 16},
    "shapley_value_sampling": {"n_samples": 5, "block": 2},
    "lime": {"n_samples": 20, "block": 2},
    "kernel_shap": {"n_samples": 20, "block": 2},
    "occlusion": {"window": 2, "stride": 1},
    "feature_ablation": {"block": 1},
}
STOCHASTIC = {"gradient_shap", "shapley_value_sampling", "lime", "kernel_shap"}


@pytest.mark.parametrize("method_id", sorted(set(PARAMS) | {
    "saliency", "input_x_gradient", "deeplift", "deeplift_shap", "gradient_shap",
    "guided_backprop", "deconvolution", "layer_gradcam", "guided_gradcam"}))
def test_method_equals_captum(cnn_batch, method_id):
    model, x, t = cnn_batch
    if method_id in ("lime", "kernel_shap"):  # one interpretable model per sample: slow
        x, t = x[:2], t[:2]
    manager, c = method(method_id)
    spec = manager.load(c).spec
    base = torch.full_like(x, 0.05)
    kwargs = dict(PARAMS.get(method_id, {}))
    if spec.baselines == "input":
        kwargs["baselines"] = base
    elif spec.baselines == "distribution":
        kwargs["baselines"] = torch.cat([base[:1], base[:1] + 0.1])
    if spec.layer:
        kwargs["layer"] = LAYER
    if spec.family == "perturbation":
        kwargs["internal_batch_size"] = 600  # 100 perturbations per forward for 6 inputs
    seed = 3
    ours = manager.call(c, model, x, t, seed=seed, **kwargs)
    if method_id in STOCHASTIC:
        torch.manual_seed(seed)
        np.random.seed(seed)
    ref = direct(method_id, model, x, t, base)
    np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_noise_tunnel_equals_captum(cnn_batch):
    model, x, t = cnn_batch
    manager, c = method("saliency")
    ours = manager.call(c, model, x, t, smooth="smoothgrad_sq", nt_samples=4,
                        nt_stdevs=0.2, seed=7)
    torch.manual_seed(7)
    np.random.seed(7)
    ref = ca.NoiseTunnel(ca.Saliency(model)).attribute(
        x, nt_type="smoothgrad_sq", nt_samples=4, stdevs=0.2, target=t, abs=True)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-5, atol=1e-7)


def test_integrated_gradients_closed_form_on_linear_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)).double().eval()
    x = torch.randn(5, 1, 3, 4, dtype=torch.float64)
    base = torch.randn(5, 1, 3, 4, dtype=torch.float64)
    t = torch.tensor([0, 1, 2, 1, 0])
    manager, c = method("integrated_gradients")
    attr, delta = manager.call(c, model, x, t, baselines=base, n_steps=50,
                               return_convergence_delta=True)
    w = model[1].weight.detach()[t].view(5, 1, 3, 4)
    expected = (x - base) * w
    assert attr.dtype == torch.float64
    np.testing.assert_allclose(attr.numpy(), expected.numpy(), atol=1e-5, rtol=0)
    assert float(delta.abs().max()) <= 1e-5


def test_job_arrays_equal_captum_and_are_complete(demo_ws):
    """The stored IG maps equal captum's on the same batch; completeness holds."""
    run = demo_ws.attribute("cnn", "digits", "integrated_gradients", limit=12, n_steps=32,
                            device="cpu", metrics=False, batch_size=5)
    from visualizer.data.sampling import stratified_sample

    model = demo_ws.load_model("cnn")
    x, y = demo_ws.load_dataset("digits").arrays("test")
    index = stratified_sample(y, 12, seed=0)  # a limit is a seeded stratified sample
    x = torch.from_numpy(x[index])
    with run.arrays() as a:
        attributions, target, delta = a["attributions"][()], a["target"][()], a["delta"][()]
        np.testing.assert_array_equal(a["sample_index"][()], index)
        assert a["converged"][()].all()
    with torch.no_grad():
        logits = model(x)
    np.testing.assert_array_equal(target, logits.argmax(1).numpy())
    ref = ca.IntegratedGradients(model).attribute(
        x, torch.zeros_like(x), target=torch.from_numpy(target), n_steps=32)
    np.testing.assert_allclose(attributions, ref.numpy(), rtol=1e-4, atol=1e-6)
    # completeness: the maps sum to f(x) - f(0) for the target class
    with torch.no_grad():
        gap = (logits - model(torch.zeros_like(x)))[torch.arange(12), torch.from_numpy(target)]
    sums = attributions.reshape(12, -1).sum(1)
    np.testing.assert_allclose(sums, gap.numpy(), rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(sums - gap.numpy(), delta, atol=1e-4)
    assert run.metrics["not_converged"] == 0
    assert run.params["method"] == "integrated_gradients" and run.params["n_steps"] == 32


@pytest.mark.parametrize("method_id", ["saliency", "layer_gradcam", "guided_gradcam",
                                       "guided_backprop"])
def test_methods_at_the_input_read_predictions_from_their_own_pass(demo_ws, method_id):
    """These jobs skip the separate inference pass: their maps, predictions, confidences
    and top classes still equal a separate pass followed by captum with the argmax."""
    run = demo_ws.attribute("cnn", "digits", method_id, limit=40, device="cpu",
                            metrics=False, batch_size=16)
    model = demo_ws.load_model("cnn")
    with run.arrays() as a:
        index = a["sample_index"][()]
    x = torch.from_numpy(demo_ws.load_dataset("digits").arrays("test")[0][index])
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1)
    target = probs.argmax(1)
    with run.arrays() as a:
        np.testing.assert_array_equal(a["prediction"][()], target.numpy())
        np.testing.assert_array_equal(a["target"][()], target.numpy())
        np.testing.assert_allclose(a["confidence"][()], probs.max(1).values.numpy(), rtol=1e-5)
        np.testing.assert_array_equal(a["top_classes"][()][:, 0], target.numpy())
        np.testing.assert_allclose(a["top_probs"][()], probs.sort(1, descending=True)
                                   .values[:, :5].numpy(), rtol=1e-5, atol=1e-7)
        stored = a["layer_attributions" if method_id == "layer_gradcam" else "attributions"][()]
    if method_id == "layer_gradcam":
        want = ca.LayerGradCam(model, model.conv2).attribute(x, target=target,
                                                             relu_attributions=True)
    elif method_id == "guided_gradcam":
        want = ca.GuidedGradCam(model, model.conv2).attribute(x, target=target)
    elif method_id == "guided_backprop":
        want = ca.GuidedBackprop(model).attribute(x, target=target)
    else:
        want = ca.Saliency(model).attribute(x, target=target, abs=True)
    np.testing.assert_allclose(stored, want.detach().numpy(), rtol=1e-4, atol=1e-6)
    # the job's module went back to the pool, which takes none with a hook left behind
    assert any(key[1] == "cnn" and key[0] == str(demo_ws.root.resolve())
               for key in model_pool._idle)
