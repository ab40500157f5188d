"""The CLI and the import paths, end to end, as a user would drive them."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from visualizer.errors import DeepScopeError, InvalidDatasetError, UnsafeModelError
from visualizer.workspace.workspace import Workspace


def cli(*args, env=None):
    result = subprocess.run([sys.executable, "main.py", *map(str, args)], capture_output=True,
                            text=True, timeout=300, env={**os.environ, **(env or {})})
    return result


def test_demo_and_info_json(demo_ws):
    # the demo fixture ran build_demo; `demo` again through the CLI only fills gaps
    result = cli("demo", demo_ws.root, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["new_runs"] == []
    info = json.loads(cli("info", demo_ws.root, "--json").stdout)
    assert {m["name"] for m in info["models"]} == {"mlp", "cnn", "resnet"}
    assert [d["name"] for d in info["datasets"]] == ["digits"]
    complete = {r["params"]["model"] for r in info["runs"]
                if r["kind"] == "activations" and r["status"] == "complete"}
    assert complete == {"mlp", "cnn", "resnet"}
    for run in info["runs"]:
        assert {"id", "kind", "status", "params", "metrics", "path"} <= set(run)
        assert os.path.exists(run["path"])


def test_new_makes_an_empty_workspace_once(tmp_path):
    result = cli("new", tmp_path / "ws", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["models"] == info["datasets"] == info["runs"] == []
    assert Workspace.open(tmp_path / "ws").catalog.schema_version() >= 1
    again = cli("new", tmp_path / "ws")
    assert again.returncode == 2 and "a workspace already exists here" in again.stderr


def test_zoo_accuracies_and_layers_recorded(demo_ws):
    acc = {m.name: m.info["test_accuracy"] for m in demo_ws.models()}
    assert acc["cnn"] >= 0.95 and acc["resnet"] >= 0.95 and acc["mlp"] >= 0.93, acc
    cnn = demo_ws.catalog.model("cnn")
    model = demo_ws.load_model("cnn")
    assert [row[0] for row in cnn.info["layers"]] == [n for n, _ in model.named_modules() if n]
    assert cnn.info["layers"][0] == ["conv1", "Conv2d", [16, 8, 8], 160]


def test_import_with_wrong_input_shape_is_explained(demo_ws, tmp_path):
    path = tmp_path / "w.pt"
    torch.save(demo_ws.load_model("cnn").state_dict(), path)
    with pytest.raises(DeepScopeError, match="input-shape"):
        demo_ws.import_model(path, "w", arch="cnn", input_shape=(3, 2))
    assert "w" not in [m.name for m in demo_ws.models()]
    assert not any(p.name.startswith("w") for p in (demo_ws.root / "models").iterdir())
    # and the same name works once the shape is right
    assert demo_ws.import_model(path, "w", arch="cnn", input_shape=(1, 8, 8)).info["layers"]


def test_import_state_dict_then_extract_via_cli(demo_ws, tmp_path):
    model = demo_ws.load_model("cnn")
    path = tmp_path / "my cnn.pt"
    torch.save(model.state_dict(), path)
    result = cli("import-model", demo_ws.root, path, "--name", "mine", "--arch", "cnn", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["format"] == "state_dict" and len(record["sha256"]) == 64
    result = cli("extract", demo_ws.root, "--model", "mine", "--dataset", "digits",
                 "--layers", "fc1,fc2", "--json", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["id"].startswith("act-") and run["run"]["status"] == "complete"
    assert run["run"]["params"]["layers"] == ["fc1", "fc2"]
    reloaded = Workspace.open(demo_ws.root).load_model("mine")
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x), model(x))


def test_state_dict_without_arch_says_what_is_missing(demo_ws, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(demo_ws.load_model("mlp").state_dict(), path)
    result = cli("import-model", demo_ws.root, path, "--name", "w")
    assert result.returncode == 2
    assert "weights.pt" in result.stderr and "--arch" in result.stderr
    assert "Traceback" not in result.stderr


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("force_env", [False, True])
def test_malicious_pickle_is_refused_by_the_cli(demo_ws, tmp_path, force_env):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(2), "x": Payload(marker)}, path)
    env = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"} if force_env else None
    for extra in ([], ["--arch", "mlp"]):
        result = cli("import-model", demo_ws.root, path, "--name", "evil", *extra, env=env)
        assert result.returncode == 2, result.stderr
        assert "evil.pt" in result.stderr and "system" in result.stderr
    assert not marker.exists()
    assert [m.name for m in Workspace.open(demo_ws.root).models()] == ["mlp", "cnn", "resnet"]
    assert not any("evil" in p.name for p in (demo_ws.root / "models").iterdir())


def test_trusted_torchscript_round_trip(demo_ws, tmp_path):
    model = demo_ws.load_model("cnn")
    path = tmp_path / "scripted.pt"
    torch.jit.script(model).save(str(path))
    with pytest.raises(UnsafeModelError) as err:
        demo_ws.import_model(path, "ts")
    assert "--trust" in str(err.value) and "scripted.pt" in str(err.value)
    rec = demo_ws.import_model(path, "ts", trust=True)
    assert rec.format == "torchscript" and rec.info["trusted"]
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(demo_ws.load_model("ts")(x), model(x))
    with pytest.raises(DeepScopeError, match="TorchScript.*hooks"):
        demo_ws.extract("ts", "digits", limit=8)
    # a swapped file must not run under the old trust
    (demo_ws.root / rec.path).write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DeepScopeError, match="changed since it was trusted"):
        demo_ws.load_model("ts")


def test_import_npz_and_extract(demo_ws, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((30, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, 30)
    np.savez(tmp_path / "mine.npz", x=x, y=y)
    result = cli("import-data", demo_ws.root, tmp_path / "mine.npz", "--name", "mine", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["info"]["splits"] == {"train": 0, "test": 30}
    data = Workspace.open(demo_ws.root).load_dataset("mine")
    xs, ys = data.arrays("test")
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)
    run = demo_ws.extract("cnn", "mine")
    with run.arrays() as arrays:
        assert arrays["conv1"].shape[0] == 30


def test_bad_data_gives_clear_errors_and_loses_nothing(demo_ws, tmp_path):
    x = np.zeros((10, 1, 8, 8), dtype=np.float32)
    x[3, 0, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.zeros(10, int))
    np.savez(tmp_path / "short.npz", x=np.zeros((10, 4)), y=np.zeros(9, int))
    with h5py.File(tmp_path / "ok.h5", "w") as f:
        f["x"] = np.zeros((10, 4), np.float32)
        f["y"] = np.zeros(10, int)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes((tmp_path / "ok.h5").read_bytes()[:900])
    before = sorted(p.name for p in (demo_ws.root / "datasets").iterdir())
    for bad in ("nan.npz", "short.npz", "truncated.h5"):
        result = cli("import-data", demo_ws.root, tmp_path / bad, "--name", "bad")
        assert result.returncode == 2, (bad, result.stdout)
        assert bad in result.stderr and "Fix:" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    with pytest.raises(InvalidDatasetError):
        demo_ws.import_dataset(tmp_path / "nan.npz", "bad")
    assert sorted(p.name for p in (demo_ws.root / "datasets").iterdir()) == before
    assert [d.name for d in Workspace.open(demo_ws.root).datasets()] == ["digits"]


def test_unknown_names_are_explained(demo_ws):
    result = cli("extract", demo_ws.root, "--model", "vgg", "--dataset", "digits")
    assert result.returncode == 2 and "mlp" in result.stderr
    result = cli("info", demo_ws.root / "nope")
    assert result.returncode == 2 and "not a DeepScope workspace" in result.stderr
