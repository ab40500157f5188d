"""Pruning requests: the resume key, names, and bad input refused in one line before any
write (the API and the CLI)."""

from __future__ import annotations

import json

import pytest

from visualizer.analysis.pruning.derived import auto_name, free_name, lineage, safe_name
from visualizer.analysis.pruning.job import PruneRequest
from visualizer.cli import main as cli_main
from visualizer.errors import DeepScopeError


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory):
    from visualizer.workspace.workspace import Workspace

    path = tmp_path_factory.mktemp("requests") / "ws"
    ws = Workspace.create(path)
    ws.add_builtin_dataset()
    ws.add_zoo_model("cnn", epochs=2)
    return path


@pytest.fixture
def ws(ws_path):
    from visualizer.workspace.workspace import Workspace

    return Workspace.open(ws_path)


def _state(ws):
    """What a refused request must leave as it was: models, runs, model files."""
    return ({m.name for m in ws.models()}, {r.id for r in ws.runs()},
            sorted(p.name for p in (ws.root / "models").iterdir()))


def _key(**changes) -> str:
    from visualizer.analysis.pruning.derived import request_key

    fields = dict(workspace="w", model="cnn", dataset="digits", method="magnitude",
                  sparsity=0.5) | changes
    return request_key(PruneRequest(**fields).key_fields())


@pytest.mark.parametrize("a, b", [
    ({}, {"method": "pruning.magnitude"}),  # short name and contribution id
    ({}, {"params": (("norm", 1),)}),  # the declared default spelled out
    ({}, {"batch_size": 8, "imp_rounds": 9, "lr": 0.5}),  # unused by one-shot magnitude
    ({"layers": ("conv2", "conv1")}, {"layers": ("conv1", "conv2"),
                                      "include_classifier": True}),  # order; ignored flag
    ({"schedule": "finetune"}, {"schedule": "finetune", "imp_rounds": 7}),  # imp only
    ({"method": "snip"}, {"method": "snip", "params": (("batches", 1),), "name": "x",
                          "device": "auto", "sweep": "psw-1", "workspace": "elsewhere"}),
])
def test_equivalent_requests_share_a_key(a, b):
    assert _key(**a) == _key(**b)


@pytest.mark.parametrize("a, b", [
    ({"method": "snip", "batch_size": 64}, {"method": "snip", "batch_size": 8}),
    ({"method": "taylor", "structured": True, "batch_size": 64},
     {"method": "taylor", "structured": True, "batch_size": 16}),
    ({"schedule": "imp", "imp_rounds": 2}, {"schedule": "imp", "imp_rounds": 3}),
    ({"schedule": "finetune", "batch_size": 64}, {"schedule": "finetune", "batch_size": 32}),
    ({}, {"params": (("norm", 2),)}),
    ({}, {"method": "magnitude_layer"}),
    ({}, {"sparsity": 0.6}),
    ({"method": "random"}, {"method": "random", "seed": 1}),
])
def test_requests_that_change_the_model_get_different_keys(a, b):
    assert _key(**a) != _key(**b)


def test_auto_names_are_sanitised_and_suffixed_within_64_characters(ws):
    assert auto_name("cnn", "my method/ü", 0.5, "oneshot", False) == "cnn-my_method__-50"
    assert safe_name("-x") == "m-x"
    long = auto_name("cnn", "m" * 80, 0.5, "gradual", True)
    assert len(long) == 64 and long.startswith("cnn-ch-mmm")
    free = free_name(ws, "cnn")  # "cnn" is a trained model: never reused
    assert free == "cnn-2"
    assert free_name(ws, "c" * 64) == "c" * 64


@pytest.mark.parametrize("kwargs, message", [
    ({"sparsity": "abc"}, "sparsity must be a number in [0, 1) (got 'abc')"),
    ({"sparsity": 1.0}, "sparsity must be in [0, 1) (got 1)"),
    ({"epoch": 3}, "prune has no option 'epoch' (did you mean 'epochs'?)"),
    ({"params": {"norm": "x"}}, "magnitude parameter norm='x': must be one of 1, 2"),
    ({"params": {"bogus": 1}}, "magnitude has no parameter 'bogus'"),
    ({"method": "snip", "params": {"batches": -3}}, "batches=-3: must be at least 1"),
    ({"method": "snip", "params": {"batches": 1.5}}, "must be a whole number"),
    ({"seed": -1}, "seed must be at least 0 (got -1)"),
    ({"epochs": "3"}, "epochs must be a whole number (got '3')"),
    ({"lr": "fast"}, "lr must be a number (got 'fast')"),
    ({"schedule": "finetune", "lr": 50.0}, "fine-tuning lr=50.0 is out of range"),
    ({"optimizer": "rmsprop"}, "fine-tuning optimizer='rmsprop'"),
    ({"structured": "yes"}, "structured must be True or False"),
    ({"layers": 3}, "layers must be a list of layer names"),
    ({"layers": "conv9"}, "no layer named 'conv9'"),
    ({"layers": "relu1"}, "'relu1' (ReLU) cannot be pruned"),
    ({"name": "bad name"}, "model name 'bad name' is not allowed"),
    ({"name": "cnn"}, "a model named 'cnn' is already in this workspace"),
    ({"structured": True, "include_classifier": True},
     "channel pruning cannot remove the classifier's outputs (its classes)"),
    ({"structured": True, "layers": ["conv1", "fc2"]},
     "channel pruning cannot remove the classifier's outputs (its classes)"),
])
def test_api_refuses_bad_input_in_one_line_and_writes_nothing(ws, kwargs, message):
    before = _state(ws)
    kwargs = {"method": "magnitude", "sparsity": 0.5} | kwargs
    with pytest.raises(DeepScopeError) as err:
        ws.prune("cnn", "digits", **kwargs)
    text = str(err.value)
    assert message in text and "\n" not in text and "Fix:" in text
    assert _state(ws) == before


def test_classifier_refusal_says_how_to_prune_it(ws):
    with pytest.raises(DeepScopeError) as err:
        ws.prune("cnn", "digits", "magnitude", 0.5, structured=True, layers=["fc2"])
    assert "'fc2' is the classifier" in err.value.message
    assert "unstructured" in err.value.fix and "leave" in err.value.fix
    # unstructured, the classifier may be pruned
    run = ws.prune("cnn", "digits", "magnitude", 0.5, layers="fc2", name="cnn-fc2-50")
    assert lineage(ws.catalog.model("cnn-fc2-50"))["layers"] == ["fc2"]
    assert run.status == "complete"


def test_a_single_layer_name_is_one_layer(ws):
    run = ws.prune("cnn", "digits", "magnitude", 0.3, layers="conv1", name="cnn-conv1-30")
    assert run.params["layers"] == ["conv1"]


@pytest.mark.parametrize("argv, message", [
    (["prune", "--method", "magnitude", "--sparsity", "0.5", "--param", "norm=x"],
     "--param: magnitude parameter norm='x': must be one of 1, 2"),
    (["prune", "--method", "snip", "--sparsity", "0.5", "--param", "batches=-3"],
     "--param: snip parameter batches='-3': must be at least 1"),
    (["prune", "--method", "magnitude", "--sparsity", "0.5", "--lr", "50"], "--lr 50.0"),
    (["prune", "--method", "magnitude", "--sparsity", "0.5", "--epochs", "20000"],
     "--epochs 20000"),
    (["prune", "--method", "magnitude", "--sparsity", "0.5", "--seed", "-1"], "--seed"),
    (["prune", "--method", "magnitude", "--sparsity", "0.5", "--structured",
      "--include-classifier"], "cannot remove the classifier's outputs"),
    (["prune", "--method", "magnitude", "--sparsity", "0.5", "--structured",
      "--layers", "conv1,fc2"], "cannot remove the classifier's outputs"),
    (["prune-sweep", "--methods", "magnitude", "--sparsities", "0.5", "--schedule",
      "finetune", "--lr", "50"], "--lr 50.0: fine-tuning lr=50.0 is out of range"),
    (["prune-sweep", "--methods", "magnitude,random", "--sparsities", "0.5",
      "--param", "bogus=1"], "has a parameter 'bogus'"),
    (["prune-sweep", "--methods", "magnitude", "--sparsities", "0.5,abc"], "--sparsities"),
    (["prune-sweep", "--methods", "magnitude", "--sparsities", "0.5,1.5"],
     "sparsity must be in [0, 1) (got 1.5)"),
])
def test_cli_refuses_bad_input_with_one_line_and_leaves_nothing(ws, capsys, argv, message):
    before = _state(ws)
    rc = cli_main([argv[0], str(ws.root), "--model", "cnn", "--dataset", "digits", *argv[1:]])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") <= 2, err
    assert "Traceback" not in err
    assert _state(ws) == before


def test_api_sweep_refuses_bad_fine_tuning_before_any_run(ws):
    before = _state(ws)
    with pytest.raises(DeepScopeError, match="fine-tuning lr=50.0 is out of range"):
        ws.prune_sweep("cnn", "digits", ["magnitude"], [0.5], schedule="finetune", lr=50)
    with pytest.raises(DeepScopeError, match="prune_sweep has no option 'epoch'"):
        ws.prune_sweep("cnn", "digits", ["magnitude"], [0.5], epoch=2)
    with pytest.raises(DeepScopeError, match="'conv9'"):  # named layers: before the run
        ws.prune_sweep("cnn", "digits", ["magnitude"], [0.5], layers=["conv9"])
    assert _state(ws) == before


def test_cli_sweep_gives_each_method_the_params_it_declares(ws, capsys):
    rc = cli_main(["prune-sweep", str(ws.root), "--model", "cnn", "--dataset", "digits",
                   "--methods", "magnitude,random", "--sparsities", "0.4", "--param",
                   "norm=2", "--param", "scope=layer", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0, out
    sweep = ws.run(out["id"])
    assert sweep.params["params"] == {"norm": 2, "scope": "layer"}
    options = {p["method"]: ws.run(p["run"]).params["options"] for p in out["points"]}
    assert options == {"magnitude": {"norm": 2}, "random": {"scope": "layer"}}
    # the same sweep with the defaults spelled differently is the same points
    rc = cli_main(["prune-sweep", str(ws.root), "--model", "cnn", "--dataset", "digits",
                   "--methods", "pruning.magnitude", "--sparsities", "0.4", "--param",
                   "norm=2", "--json"])
    again = json.loads(capsys.readouterr().out)
    assert rc == 0 and again["points"][0]["reused"]


def test_cli_prunes_a_subclass_of_a_prunable_layer(tmp_path, capsys):
    """The CLI checks names against the catalog; the type check is the core's, which
    takes ``class MyConv(nn.Conv2d)``."""
    from safetensors.torch import save_file

    from visualizer.workspace.workspace import Workspace

    source = tmp_path / "mine.py"
    source.write_text(
        "from torch import nn\n\n\n"
        "class MyConv(nn.Conv2d):\n    pass\n\n\n"
        "def build():\n"
        "    return nn.Sequential(MyConv(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),\n"
        "                         nn.Linear(8 * 8 * 8, 10))\n")
    import importlib.util

    spec = importlib.util.spec_from_file_location("mine", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    save_file(module.build().state_dict(), str(tmp_path / "mine.safetensors"))
    ws = Workspace.create(tmp_path / "ws")
    ws.add_builtin_dataset()
    ws.import_model(tmp_path / "mine.safetensors", "mine", arch=f"{source}:build",
                    input_shape=(1, 8, 8))
    assert dict((r[0], r[1]) for r in ws.catalog.model("mine").info["layers"])["0"] == "MyConv"
    rc = cli_main(["prune", str(ws.root), "--model", "mine", "--dataset", "digits",
                   "--sparsity", "0.5", "--layers", "0", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["lineage"]["layers"] == ["0"]
