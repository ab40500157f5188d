"""The pruning job end to end: derived models in the catalog, reloading, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from visualizer.analysis.pruning.derived import lineage
from visualizer.analysis.pruning.results import curves, forgotten_samples, pruned_points
from visualizer.cli import main as cli_main
from visualizer.errors import DeepScopeError


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory):
    from visualizer.workspace.workspace import Workspace

    path = tmp_path_factory.mktemp("prune") / "ws"
    ws = Workspace.create(path)
    ws.add_builtin_dataset()
    ws.add_zoo_model("cnn", epochs=4)
    return path


@pytest.fixture
def ws(ws_path):
    from visualizer.workspace.workspace import Workspace

    return Workspace.open(ws_path)


def _weights(model, names):
    modules = dict(model.named_modules())
    return {n: modules[n].weight.detach() for n in names}


def test_unstructured_prune_stores_a_derived_model_with_exact_zeros(ws):
    run = ws.prune("cnn", "digits", "magnitude", 0.8, name="cnn-m80")
    assert run.status == "complete" and run.kind == "pruning"
    rec = ws.catalog.model("cnn-m80")
    info = lineage(rec)
    assert info["parent"] == "cnn" and info["method"] == "magnitude"
    assert info["layers"] == ["conv1", "conv2", "fc1"]  # the classifier fc2 is kept
    model = ws.load_model("cnn-m80")
    weights = _weights(model, info["layers"])
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    total = sum(w.numel() for w in weights.values())
    assert abs(zeros / total - 0.8) <= len(weights) / total
    assert info["sparsity"] == pytest.approx(zeros / total)
    # the saved masks say exactly where the zeros are
    from visualizer.analysis.pruning.derived import load_masks

    masks = load_masks(ws, "cnn-m80")
    for name, w in weights.items():
        key = next(k for k in masks if k.startswith(name))
        assert torch.equal(masks[key].reshape(w.shape), w != 0)
    # accuracy in the lineage is the reloaded model's accuracy on the test split
    x, y = ws.load_dataset("digits").arrays("test")
    with torch.no_grad():
        pred = model(torch.as_tensor(x)).argmax(1).numpy()
    assert info["accuracy"] == pytest.approx(float((pred == y).mean()))
    # every view and command takes it: an activation run of the pruned model
    act = ws.extract("cnn-m80", "digits", limit=50)
    assert act.status == "complete"


def test_forgotten_samples_match_the_two_models_predictions(ws):
    if "cnn-m80" not in {m.name for m in ws.models()}:
        ws.prune("cnn", "digits", "magnitude", 0.8, name="cnn-m80")
    got = forgotten_samples(ws, "cnn-m80")
    x, y = ws.load_dataset("digits").arrays("test")
    with torch.no_grad():
        dense = ws.load_model("cnn")(torch.as_tensor(x)).argmax(1).numpy()
        pruned = ws.load_model("cnn-m80")(torch.as_tensor(x)).argmax(1).numpy()
    np.testing.assert_array_equal(got.forgotten, (dense == y) & (pruned != y))
    np.testing.assert_array_equal(got.gained, (dense != y) & (pruned == y))
    point = next(p for p in pruned_points(ws, "cnn") if p.model == "cnn-m80")
    assert point.forgotten == int(got.forgotten.sum())


def test_structured_pruning_makes_a_smaller_model_that_reloads_identically(ws):
    # layer-wise: every pruned layer keeps exactly half its channels
    run = ws.prune("cnn", "digits", "magnitude_layer", 0.5, structured=True, name="cnn-ch50")
    info = lineage(ws.catalog.model("cnn-ch50"))
    assert info["structured"] and info["structured_ops"]
    assert info["cost"]["params"] < info["cost"]["parent"]["params"]
    assert info["cost"]["latency_ms"] > 0 and info["cost"]["parent"]["latency_ms"] > 0
    model = ws.load_model("cnn-ch50")  # rebuilt from the architecture + kept channels
    assert (model.conv1.out_channels, model.conv2.out_channels, model.fc1.out_features) \
        == (8, 16, 32)
    assert info["kept_channels"] == {"conv1": 8, "conv2": 16, "fc1": 32}
    assert info["sparsity"] == pytest.approx(0.5)
    assert sum(p.numel() for p in model.parameters()) == info["cost"]["params"]
    x, y = ws.load_dataset("digits").arrays("test")
    with torch.no_grad():
        pred = model(torch.as_tensor(x)).argmax(1).numpy()
    assert run.metrics["accuracy"] == pytest.approx(float((pred == y).mean()))
    # the model file is weights only: no pickle anywhere
    assert ws.catalog.model("cnn-ch50").format == "safetensors"


def test_finetune_keeps_pruned_weights_zero_and_records_curves(ws):
    run = ws.prune("cnn", "digits", "magnitude", 0.9, schedule="finetune", epochs=1,
                   name="cnn-m90-ft")
    info = lineage(ws.catalog.model("cnn-m90-ft"))
    assert info["accuracy_before_finetune"] is not None
    assert info["curves"] is True and len(curves(ws, "cnn-m90-ft")["loss"]) > 0
    assert info["finetune"]["epochs"] == 1
    model = ws.load_model("cnn-m90-ft")
    from visualizer.analysis.pruning.derived import load_masks

    masks = load_masks(ws, "cnn-m90-ft")
    for name, w in _weights(model, info["layers"]).items():
        key = next(k for k in masks if k.startswith(name))
        assert (w[~masks[key].reshape(w.shape)] == 0).all()
    assert run.metrics["sparsity"] == pytest.approx(0.9, abs=0.001)


@pytest.mark.parametrize("argv, message", [
    (["--method", "magnitude", "--sparsity", "1.2"], "sparsity must be in [0, 1)"),
    (["--method", "nope", "--sparsity", "0.5"], "--method nope"),
    (["--method", "snip", "--sparsity", "0.5", "--structured"], "single weights only"),
    (["--method", "magnitude", "--sparsity", "0.5", "--layers", "conv9"], "conv9"),
    (["--method", "magnitude", "--sparsity", "0.5", "--layers", "relu1"],
     "'relu1' (ReLU) cannot be pruned"),
    (["--method", "magnitude", "--sparsity", "0.5", "--epochs", "0"], "--epochs"),
    (["--method", "magnitude", "--sparsity", "0.5", "--structured", "--schedule", "gradual"],
     "unstructured pruning only"),
])
def test_cli_refuses_bad_input_with_one_line_and_leaves_nothing(ws, capsys, argv, message):
    before = ({m.name for m in ws.models()}, {r.id for r in ws.runs()},
              sorted(p.name for p in (ws.root / "models").iterdir()))
    rc = cli_main(["prune", str(ws.root), "--model", "cnn", "--dataset", "digits", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") <= 2
    after = ({m.name for m in ws.models()}, {r.id for r in ws.runs()},
             sorted(p.name for p in (ws.root / "models").iterdir()))
    assert after == before


def test_cli_prune_json(ws, capsys):
    rc = cli_main(["prune", str(ws.root), "--model", "cnn", "--dataset", "digits",
                   "--method", "random", "--sparsity", "0.5", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["model"] == "cnn-random-50"
    assert out["lineage"]["method"] == "random" and out["run"]["kind"] == "pruning"


def test_api_refuses_a_dataset_without_train_split_for_finetuning(tmp_path):
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws")
    x = np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32)
    np.savez(tmp_path / "test_only.npz", x=x, y=np.arange(40) % 10)
    ws.import_dataset(tmp_path / "test_only.npz", "t")
    ws.add_builtin_dataset()
    ws.add_zoo_model("cnn", epochs=1)
    with pytest.raises(DeepScopeError, match="no train split"):
        ws.prune("cnn", "t", "magnitude", 0.5, schedule="finetune")
    assert not ws.runs(kind="pruning") and len(ws.models()) == 1
