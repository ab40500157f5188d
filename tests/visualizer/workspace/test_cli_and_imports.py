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
    # the demo fixture ran build_demo without the pruning lab; `demo` again through the
    # CLI only fills that gap, and a third time makes nothing
    result = cli("demo", demo_ws.root, "--json")
    assert result.returncode == 0, result.stderr
    new = json.loads(result.stdout)["new_runs"]
    assert sorted(r.split("-")[0] for r in new) == ["act", "cka", "prun", "prun", "psw"]
    again = cli("demo", demo_ws.root, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["new_runs"] == []
    info = json.loads(cli("info", demo_ws.root, "--json").stdout)
    names = {m["name"] for m in info["models"]}
    assert {"mlp", "cnn", "resnet", "cnn-magnitude-90-gradual"} <= names
    assert all(m["info"]["lineage"]["parent"] == "cnn" for m in info["models"]
               if m["name"] not in ("mlp", "cnn", "resnet"))
    assert [d["name"] for d in info["datasets"]] == ["digits"]
    complete = {r["params"]["model"] for r in info["runs"]
                if r["kind"] == "activations" and r["status"] == "complete"}
    assert complete == {"mlp", "cnn", "resnet", "cnn-magnitude-90-gradual"}
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
    assert result.returncode == 2
    assert (f"no workspace at {demo_ws.root / 'nope'}: the folder does not exist; create "
            f"one with `python main.py new {demo_ws.root / 'nope'}`") in result.stderr


def run_main(capsys, *args) -> tuple[int, str, str]:
    """``main.py ARGS`` in this process (the checks need no subprocess): rc, out, err."""
    import main

    capsys.readouterr()
    rc = main.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def catalog_state(ws) -> tuple[list, list, list]:
    ws = Workspace.open(ws.root)
    return ([(r.id, r.status) for r in ws.runs()], [m.name for m in ws.models()],
            sorted(p.name for p in (ws.root / "runs").iterdir()))


def bad_argument_cases(ws, tmp_path):
    """``(argv, texts the error must contain)``: each cannot start."""
    root = ws.root
    act = ws.runs(kind="activations")[0].id
    em = ("--model", "cnn", "--dataset", "digits")
    return [
        (("extract", root, *em, "--limit", "-5"), ["--limit must be at least 1 (got -5)"]),
        (("extract", root, *em, "--limit", "0"), ["--limit must be at least 1 (got 0)"]),
        (("extract", root, *em, "--batch-size", "0"), ["--batch-size must be at least 1"]),
        (("extract", root, *em, "--budget-mb", "0"), ["--budget-mb must be at least 1"]),
        (("extract", root, *em, "--seed", "-1"), ["--seed must be at least 0"]),
        (("extract", root, "--model", "vgg", "--dataset", "digits"),
         ["--model 'vgg'", "mlp, cnn, resnet"]),
        (("extract", root, "--model", "cnn", "--dataset", "mnist"), ["--dataset 'mnist'",
                                                                     "digits"]),
        (("extract", root, *em, "--layers", "fc1,fc9"), ["--layers", "'fc9'", "conv1"]),
        (("extract", root, *em, "--device", "tpu"), ["--device tpu", "auto, cpu"]),
        (("extract", root, "--model", "cnn", "--dataset", "tiny", "--split", "train"),
         ["--split train", "test (12)"]),
        (("attribute", root, *em, "--limit", "-5"), ["--limit must be at least 1 (got -5)"]),
        (("attribute", root, *em, "--batch-size", "0"), ["--batch-size must be at least 1"]),
        (("attribute", root, *em, "--n-steps", "0"), ["--n-steps must be at least 1 (got 0)"]),
        (("attribute", root, *em, "--n-steps", "1"), ["--n-steps", "at least 2 (got 1)"]),
        (("attribute", root, *em, "--param", "n_steps=0"), ["--param n_steps", "at least 2"]),
        (("attribute", root, *em, "--param", "window=3"), ["--param window",
                                                           "n_steps, method"]),
        (("attribute", root, *em, "--param", "n_steps=many"), ["--param n_steps",
                                                               "'many'"]),
        (("attribute", root, *em, "--smooth", "smoothgrad", "--nt-samples", "0"),
         ["--nt-samples must be at least 1"]),
        (("attribute", root, *em, "--method", "gradcam"), ["--method gradcam",
                                                           "attribution.layer_gradcam"]),
        (("attribute", root, *em, "--method", "layer_gradcam", "--layer", "conv9"),
         ["--layer", "'conv9'", "conv2"]),
        (("attribute", root, *em, "--method", "saliency", "--layer", "conv1"),
         ["--layer applies to layer methods"]),
        (("attribute", root, *em, "--target", "12"), ["--target 12", "0..9"]),
        (("attribute", root, *em, "--target", "best"), ["--target best", "pred, label"]),
        (("attribute", root, *em, "--samples", "3,4000"), ["--samples", "4000", "0..359"]),
        (("attribute", root, *em, "--samples", "3,4", "--limit", "2"),
         ["--limit and --samples"]),
        (("attribute", root, "--model", "resnet50", "--dataset", "digits"),
         ["--model 'resnet50'"]),
        (("project", root, "--run", "act-nope", "--layer", "fc1", "--method", "pca"),
         ["--run act-nope", act]),
        (("project", root, "--run", act, "--layer", "fc9", "--method", "pca"),
         ["--layer 'fc9'"]),
        (("project", root, "--run", act, "--layer", "fc1", "--method", "isomap"),
         ["--method isomap", "projection.umap"]),
        (("project", root, "--run", act, "--layer", "fc1", "--n-neighbors", "1"),
         ["--n-neighbors must be at least 2 (got 1)"]),
        (("project", root, "--run", act, "--layer", "fc1", "--method", "tsne",
          "--perplexity", "0"), ["--perplexity must be above 0"]),
        (("info", tmp_path / "missing"), [f"no workspace at {tmp_path / 'missing'}: the "
                                          "folder does not exist", "main.py new"]),
        (("info", tmp_path / "a-file.txt"), ["it is a file, not a folder", "main.py new"]),
        (("info", tmp_path), ["no workspace at", "main.py new"]),
        (("extract", tmp_path / "missing", *em), ["folder does not exist"]),
        (("new", tmp_path / "a-file.txt"), ["is a file"]),
        (("demo", tmp_path / "a-file.txt"), ["is a file"]),
        (("demo", tmp_path / "new-demo", "--device", "tpu"), ["--device tpu"]),
        (("import-model", root, tmp_path / "missing.pt", "--name", "x"),
         ["missing.pt: no such file"]),
        (("import-model", root, tmp_path / "w.pt", "--name", "cnn"),
         ["--name 'cnn'", "already"]),
        (("import-model", root, tmp_path / "w.pt", "--name", "my model"), ["--name"]),
        (("import-model", root, tmp_path / "w.pt", "--name", "x", "--arch", "cnn",
          "--input-shape", "1,eight,8"), ["--input-shape '1,eight,8'"]),
        (("import-data", root, tmp_path / "tiny.npz", "--name", "digits"),
         ["--name 'digits'", "already"]),
        (("render", root, "--view", "overview", "--run", "act-nope", "--out",
          tmp_path / "o.png"), ["--run act-nope"]),
        (("render", root, "--view", "overview", "--out", tmp_path / "o.gif"), ["--out"]),
        (("render", tmp_path / "missing", "--view", "overview", "--out", tmp_path / "o.png"),
         ["folder does not exist"]),
        (("plugins", "--check", "no-such-plugin"), ["no-such-plugin"]),
    ]


def test_bad_arguments_exit_2_name_the_argument_and_make_no_run(demo_ws, tmp_path, capsys):
    (tmp_path / "a-file.txt").write_text("not a workspace")
    torch.save(demo_ws.load_model("cnn").state_dict(), tmp_path / "w.pt")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tiny.npz", x=rng.random((12, 1, 8, 8), dtype=np.float32),
             y=np.arange(12) % 10)
    demo_ws.import_dataset(tmp_path / "tiny.npz", "tiny")  # a test split only
    before = catalog_state(demo_ws)
    for argv, texts in bad_argument_cases(demo_ws, tmp_path):
        rc, out, err = run_main(capsys, *argv)
        assert rc == 2, (argv, out, err)
        assert out == "" and "Traceback" not in err, (argv, err)
        for text in texts:
            assert text in err, (argv, text, err)
        assert catalog_state(demo_ws) == before, argv
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "new-demo").exists()


def test_the_api_checks_a_limit_before_any_run(demo_ws):
    before = catalog_state(demo_ws)
    for limit in (0, -5):
        with pytest.raises(DeepScopeError, match=f"limit must be at least 1 \\(got {limit}\\)"):
            demo_ws.extract("cnn", "digits", limit=limit)
        with pytest.raises(DeepScopeError, match="limit must be at least 1"):
            demo_ws.attribute("cnn", "digits", method="saliency", limit=limit)
    with pytest.raises(DeepScopeError, match="layer 'conv9' is not a layer of model 'cnn'"):
        demo_ws.attribute("cnn", "digits", method="layer_gradcam", layer="conv9", limit=4)
    with pytest.raises(DeepScopeError, match="n_steps of integrated_gradients must be at "
                                             "least 2"):
        demo_ws.attribute("cnn", "digits", n_steps=1, limit=4)
    assert catalog_state(demo_ws) == before


# the keys README.md documents for each command's --json object
DOCUMENTED_KEYS = {
    "new": {"workspace", "models", "datasets", "runs"},
    "info": {"workspace", "models", "datasets", "runs"},
    "demo": {"workspace", "models", "datasets", "runs", "new_runs"},
    "import-model": {"id", "name", "format", "sha256", "architecture", "info", "warnings"},
    "import-data": {"id", "name", "source", "sha256", "info", "warnings"},
    "extract": {"id", "run"},
    "attribute": {"id", "run", "sanity"},
    "project": {"id", "run", "reused"},
    "render": {"view", "out"},
    "plugins": {"plugins"},
}
RUN_KEYS = {"id", "kind", "status", "model", "dataset", "params", "metrics", "path", "error",
            "created_at", "finished_at"}


def test_readme_documents_the_json_keys():
    from pathlib import Path

    readme = (Path(__file__).parents[3] / "README.md").read_text()
    rows = {line.split("|")[1]: line.split("|")[2] for line in readme.splitlines()
            if line.startswith("| `")}
    for command, keys in DOCUMENTED_KEYS.items():
        row = next(v for k, v in rows.items() if f"`{command}`" in k)
        assert all(f"`{key}`" in row or (command in ("info", "demo") and key in (
            "workspace", "models", "datasets", "runs")) for key in keys), (command, row)
    assert all(f"`{key}`" in readme for key in RUN_KEYS)


def test_json_has_one_schema_per_command_and_no_text(demo_ws, tmp_path, capsys):
    root = demo_ws.root
    torch.save(demo_ws.load_model("cnn").state_dict(), tmp_path / "w.pt")
    np.savez(tmp_path / "d.npz", x=np.zeros((6, 1, 8, 8), np.float32), y=np.arange(6))
    act = demo_ws.runs(kind="activations")[0].id
    calls = {
        "new": ("new", tmp_path / "fresh"),
        "info": ("info", root),
        "demo": ("demo", root, "--device", "cpu"),
        "import-model": ("import-model", root, tmp_path / "w.pt", "--name", "w", "--arch",
                         "cnn"),
        "import-data": ("import-data", root, tmp_path / "d.npz", "--name", "d"),
        "extract": ("extract", root, "--model", "mlp", "--dataset", "digits", "--limit", "20",
                    "--device", "cpu"),
        "attribute": ("attribute", root, "--model", "cnn", "--dataset", "digits", "--method",
                      "saliency", "--limit", "4", "--no-metrics", "--sanity", "--device",
                      "cpu"),
        "project": ("project", root, "--run", act, "--layer", "fc1", "--method", "pca"),
        "plugins": ("plugins",),
    }
    for command, argv in calls.items():
        rc, out, err = run_main(capsys, *argv, "--json")
        assert rc == 0, (command, err)
        result = json.loads(out)
        assert "text" not in result, command
        assert DOCUMENTED_KEYS[command] <= set(result), (command, sorted(result))
        for run in [result.get("run"), result.get("sanity"), *result.get("runs", [])]:
            if run is not None:
                assert RUN_KEYS <= set(run), (command, sorted(run))
                assert "text" not in run
        # the text output is made from the same object, and is not JSON
        if command not in ("new", "demo", "import-model", "import-data"):
            rc, text, _ = run_main(capsys, *argv)
            assert rc == 0 and text.strip() and not text.lstrip().startswith("{"), command
    assert json.loads(run_main(capsys, "project", root, "--run", act, "--layer", "fc1",
                               "--method", "pca", "--json")[1])["reused"] is True


def test_cli_shows_import_warnings(demo_ws, tmp_path, capsys):
    path = tmp_path / "scripted.pt"
    torch.jit.script(demo_ws.load_model("cnn")).save(str(path))
    rc, out, err = run_main(capsys, "import-model", demo_ws.root, path, "--name", "ts",
                            "--trust", "--json")
    assert rc == 0, err
    [warning] = json.loads(out)["warnings"]
    assert "hook-based views (extract" in warning
    rc, out, err = run_main(capsys, "import-model", demo_ws.root, path, "--name", "ts2",
                            "--trust")
    assert rc == 0 and out.startswith("ts2\n")
    assert "warning: TorchScript model: hook-based views" in err
