"""Attribution on a model of flat feature vectors (scikit-learn's wine data), end to end:
imported as a researcher would (an .npz and a safetensors file with its factory file),
explained by the job and the CLI, checked against captum called directly."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from captum import attr as ca

ROOT = Path(__file__).resolve().parents[4]
FACTORY = textwrap.dedent("""
    import torch.nn as nn

    def build():
        return nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 3))
""")


@pytest.fixture(scope="module")
def wine_ws(tmp_path_factory):
    from safetensors.torch import save_file
    from sklearn.datasets import load_wine

    from visualizer.workspace.workspace import Workspace

    tmp = tmp_path_factory.mktemp("wine")
    data = load_wine()
    x = ((data.data - data.data.mean(0)) / data.data.std(0)).astype(np.float32)
    y = data.target
    perm = np.random.default_rng(0).permutation(len(x))
    np.savez(tmp / "wine.npz", x_train=x[perm[:120]], y_train=y[perm[:120]],
             x_test=x[perm[120:]], y_test=y[perm[120:]], class_names=data.target_names)
    (tmp / "wine_mlp.py").write_text(FACTORY)
    torch.manual_seed(0)
    namespace: dict = {}
    exec(FACTORY, namespace)  # noqa: S102 - our own source, the same the workspace imports
    model = namespace["build"]()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x[perm[:120]]), torch.from_numpy(y[perm[:120]])
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    save_file(model.state_dict(), str(tmp / "wine_mlp.safetensors"))

    ws = Workspace.create(tmp / "ws")
    ws.import_dataset(tmp / "wine.npz", "wine")
    ws.import_model(tmp / "wine_mlp.safetensors", "wine_mlp",
                    arch=f"{tmp / 'wine_mlp.py'}:build", input_shape=(13,))
    return ws


def test_feature_maps_equal_captum_and_beat_the_random_control(wine_ws):
    model = wine_ws.load_model("wine_mlp")
    x = torch.from_numpy(wine_ws.load_dataset("wine").arrays("test")[0])
    base = torch.zeros_like(x)
    with torch.no_grad():
        target = model(x).argmax(1)
    assert float((target.numpy() == wine_ws.load_dataset("wine").arrays("test")[1]).mean()) \
        > 0.9
    reference = {
        "integrated_gradients": ca.IntegratedGradients(model).attribute(
            x, base, target=target, n_steps=50),
        "deeplift": ca.DeepLift(model).attribute(x, base, target=target),
        "feature_ablation": ca.FeatureAblation(model).attribute(
            x, base, target=target, feature_mask=torch.arange(13)[None]),
        "occlusion": ca.Occlusion(model).attribute(
            x, sliding_window_shapes=(1,), strides=(1,), baselines=base, target=target),
    }
    aucs = {}
    for method, want in reference.items():
        # escalate=False: the job would redo non-converged samples with more steps
        run = wine_ws.attribute("wine_mlp", "wine", method, device="cpu", escalate=False,
                                **({"block": 1} if method == "feature_ablation" else {}),
                                **({"window": 1, "stride": 1} if method == "occlusion" else {}))
        with run.arrays() as a:
            assert a["attributions"].shape == (len(x), 13)
            np.testing.assert_array_equal(a["target"][()], target.numpy())
            np.testing.assert_allclose(a["attributions"][()], want.detach().numpy(),
                                       rtol=1e-4, atol=1e-5)
            assert a["deletion_curve"].shape[0] == len(x)
        aucs[method] = run.metrics["deletion_auc"]
    random = wine_ws.attribute("wine_mlp", "wine", "random", device="cpu")
    for method, auc in aucs.items():
        assert auc < random.metrics["deletion_auc"], (method, auc, random.metrics)


def test_layer_methods_say_what_they_need_on_a_vector_model(wine_ws):
    from visualizer.errors import DeepScopeError

    before = sorted(p.name for p in (wine_ws.root / "runs").iterdir())
    with pytest.raises(DeepScopeError, match="no layer with a spatial output") as info:
        wine_ws.attribute("wine_mlp", "wine", "layer_gradcam", device="cpu")
    assert "integrated_gradients" in info.value.fix
    with pytest.raises(DeepScopeError, match=r"layer '0' of model 'wine_mlp' \(output 32\)"):
        wine_ws.attribute("wine_mlp", "wine", "layer_conductance", layer="0", device="cpu")
    # refused before any work: no run, no file, not even a failed record
    assert sorted(p.name for p in (wine_ws.root / "runs").iterdir()) == before
    assert not wine_ws.runs(status="failed")


def test_cli_and_sanity_check_on_a_vector_model(wine_ws):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "attribute", str(wine_ws.root), "--model",
         "wine_mlp", "--dataset", "wine", "--method", "integrated_gradients", "--limit", "20",
         "--device", "cpu", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["run"]["status"] == "complete"
    assert out["run"]["metrics"]["completeness_gap"] < 1e-2

    from visualizer.analysis.attribution.api import build_request
    from visualizer.analysis.attribution.sanity import SanityRequest, sanity_job
    from visualizer.jobs import NullContext

    request = SanityRequest.from_attribute(
        build_request(wine_ws, "wine_mlp", "wine", "saliency", device="cpu"), n_samples=8)
    run = wine_ws.run(sanity_job(request, NullContext()))
    assert run.params["layers"] == ["2", "0"]  # the two Linear layers, top down
    with run.arrays() as a:
        assert a["maps"].shape == (3, 8, 13)
        rho = a["spearman_abs"][()]
    assert np.isfinite(rho).all() and rho.shape == (2, 8)
