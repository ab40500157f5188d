"""Linear CKA against the HSIC formula, its invariances, and the job/CLI on real runs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from visualizer.analysis.pruning.cka import (
    CkaRequest,
    ConstantRepresentationWarning,
    cka,
    cka_ex,
    cka_job,
    cka_matrix,
    linear_cka,
)
from visualizer.errors import DeepScopeError


def hsic_cka(x, y):
    """Reference: HSIC = tr(KHLH)/(n-1)² with K = xxᵀ, L = yyᵀ on the raw (uncentred)
    inputs; H does the centring."""
    x, y = x.reshape(len(x), -1).astype(np.float64), y.reshape(len(y), -1).astype(np.float64)
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n

    def hsic(k, l_):
        return np.trace(k @ h @ l_ @ h) / (n - 1) ** 2

    k, l_ = x @ x.T, y @ y.T
    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def random_orthogonal(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("p,q", [(5, 7), (40, 90), (3, 1)])
@pytest.mark.parametrize("method", ["auto", "feature", "gram"])
def test_equals_hsic_formula(p, q, method):
    rng = np.random.default_rng(p * 100 + q)
    x = rng.normal(size=(60, p)) + 3.0  # an offset: the centring must remove it
    y = x[:, :1] @ rng.normal(size=(1, q)) + 0.5 * rng.normal(size=(60, q))
    assert linear_cka(x, y, method=method) == pytest.approx(hsic_cka(x, y), rel=1e-10)


def test_feature_and_gram_forms_agree_on_wide_and_multi_dim_inputs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4, 5, 5))  # 100 features > 30 samples
    y = np.tanh(x.reshape(30, -1)[:, :20] @ rng.normal(size=(20, 200)))
    feature, gram = linear_cka(x, y, method="feature"), linear_cka(x, y, method="gram")
    assert 0.0 < feature < 1.0
    assert feature == pytest.approx(gram, rel=1e-10)
    assert linear_cka(x, y) == pytest.approx(gram, rel=1e-10)


def test_invariances_and_what_sets_it_apart_from_cca():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 12)) @ rng.normal(size=(12, 12))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    q = random_orthogonal(12, rng)
    assert linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(x, 7.5 * x + 2.0) == pytest.approx(1.0, abs=1e-10)
    y = rng.normal(size=(200, 9))
    assert linear_cka(x @ q * 0.01, y) == pytest.approx(linear_cka(x, y), rel=1e-10)
    # An invertible but badly conditioned map keeps all the information (CCA would say
    # 1) but not the geometry: CKA drops well below 1.
    bad = random_orthogonal(12, rng) @ np.diag(np.logspace(0, -4, 12)) \
        @ random_orthogonal(12, rng)
    assert np.linalg.matrix_rank(bad) == 12
    assert linear_cka(x, x @ bad) < 0.9


def test_constant_representation_is_nan_with_a_reason_and_no_divide_warning():
    x = np.random.default_rng(3).normal(size=(20, 4))
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="raise"):
        warnings.simplefilter("always")
        for method in ("auto", "feature", "gram"):
            assert np.isnan(linear_cka(x, np.zeros((20, 3)), method=method))
        assert np.isnan(linear_cka(np.full((20, 2), 0.1), x))
    assert {w.category for w in caught} == {ConstantRepresentationWarning}
    assert "y is constant over the 20 samples" in str(caught[0].message)
    with pytest.raises(DeepScopeError, match="same samples"):
        linear_cka(x, x[:10])
    with pytest.raises(DeepScopeError, match="non-finite"):
        linear_cka(x, np.where(x > 1, np.nan, x))


# -- activation runs made with the real pipeline ------------------------------------------

@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.create(tmp_path_factory.mktemp("cka") / "ws")
    ws.add_builtin_dataset()
    ws.add_zoo_model("cnn", epochs=1)
    ws.add_zoo_model("mlp", epochs=1)
    runs = {
        "cnn": ws.extract("cnn", "digits", limit=200, device="cpu"),
        "mlp": ws.extract("mlp", "digits", limit=200, device="cpu"),
        # another sample of the split: overlaps the first one only in part
        "cnn_other": ws.extract("cnn", "digits", limit=300, seed=1, device="cpu"),
        "train": ws.extract("cnn", "digits", split="train", limit=50, device="cpu"),
        "tiny": ws.extract("cnn", "digits", limit=10, seed=7, device="cpu",
                           layers=["fc2"]),
    }
    return ws, {k: v.id for k, v in runs.items()}


def _matched(run_a, run_b, layer_a, layer_b):
    with run_a.arrays() as a, run_b.arrays() as b:
        ia, ib = a["sample_index"][()], b["sample_index"][()]
        where_b = {int(s): k for k, s in enumerate(ib)}
        rows = [(k, where_b[int(s)]) for k, s in enumerate(ia) if int(s) in where_b]
        xa = a[layer_a][()][[r for r, _ in rows]]
        xb = b[layer_b][()][[r for _, r in rows]]
    return xa, xb


def test_self_comparison_has_a_diagonal_of_ones(pipeline):
    ws, ids = pipeline
    run = ws.run(ids["cnn"])
    result = cka_matrix(run, run)
    layers = run.params["layers"]
    assert result.layers_a == result.layers_b == layers
    assert result.matrix.shape == (len(layers), len(layers))
    np.testing.assert_allclose(np.diag(result.matrix), 1.0, atol=1e-5)
    np.testing.assert_allclose(result.matrix, result.matrix.T, atol=1e-5)
    assert list(result.per_layer) == layers and result.n_samples == 200
    assert np.all(result.matrix <= 1 + 1e-5) and np.all(result.matrix >= -1e-6)


def test_matrix_matches_linear_cka_on_samples_matched_by_index(pipeline):
    ws, ids = pipeline
    dense, other, mlp = (ws.run(ids[k]) for k in ("cnn", "cnn_other", "mlp"))
    # conv1 (1024 features) and relu3 (64) are kept as Gram matrices, fc2 (10) as
    # features: every kind of cell is compared with the direct computation
    result = cka_matrix(dense, mlp, ["conv1", "relu3", "fc2"], ["flatten", "relu1", "fc3"])
    assert result.matrix.shape == (3, 3) and result.per_layer == {}
    for i, la in enumerate(result.layers_a):
        for j, lb in enumerate(result.layers_b):
            xa, xb = _matched(dense, mlp, la, lb)
            assert result.matrix[i, j] == pytest.approx(hsic_cka(xa, xb), abs=1e-5)
    # the same model on another, partly overlapping sample: only the shared samples
    # count, so every layer matches itself exactly
    both = cka_matrix(dense, other, ["conv2", "fc1"], ["conv2", "fc1"])
    xa, _ = _matched(dense, other, "fc1", "fc1")
    assert 10 <= both.n_samples == len(xa) < 200
    assert both.per_layer == pytest.approx({"conv2": 1.0, "fc1": 1.0}, abs=1e-5)
    full = cka_matrix(dense, mlp)
    assert full.matrix.shape == (10, 7)
    mlp_layers = set(mlp.params["layers"])
    assert list(full.per_layer) == [n for n in dense.params["layers"] if n in mlp_layers]
    assert list(full.per_layer) == ["relu1", "relu2", "pool", "flatten", "fc1", "fc2"]
    small = cka_matrix(dense, dense, ["fc1"], max_samples=50, seed=3)
    assert small.n_samples == 50 and small.per_layer["fc1"] == pytest.approx(1.0, abs=1e-5)


def test_pairs_that_cannot_be_compared_are_refused_naming_both_runs(pipeline):
    ws, ids = pipeline
    dense = ws.run(ids["cnn"])
    for other, words in (("train", "different splits"), ("tiny", "share")):
        with pytest.raises(DeepScopeError, match=words) as err:
            cka_matrix(dense, ws.run(ids[other]))
        assert ids["cnn"] in str(err.value) and ids[other] in str(err.value)
    with pytest.raises(DeepScopeError, match="no layer 'nope'"):
        cka_matrix(dense, dense, ["nope"])
    with pytest.raises(DeepScopeError, match="max_samples"):
        cka_matrix(dense, dense, max_samples=3)


def test_constant_layer_gives_nan_with_a_reason(pipeline, tmp_path):
    from visualizer.workspace.runfile import RunFileWriter

    ws, _ = pipeline
    rng = np.random.default_rng(0)
    params = {"model": "cnn", "dataset": "digits", "split": "test",
              "layers": ["feat", "dead"]}
    with ws.new_run("activations", model="cnn", dataset="digits", params=params,
                    provenance={}) as new_run, \
            RunFileWriter(new_run.path, "activations", {"run_id": new_run.id}) as w:
        w.put("activations/feat", rng.normal(size=(40, 8)).astype(np.float32))
        w.put("activations/dead", np.zeros((40, 3, 2, 2), np.float32))
        w.put("sample_index", np.arange(40))
        w.put("label", np.zeros(40, np.int64))
        w.put("prediction", np.zeros(40, np.int64))
        w.publish()
    run = ws.run(new_run.id)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        result = cka_matrix(run, run)
    assert result.per_layer["feat"] == pytest.approx(1.0, abs=1e-6)
    assert np.isnan(result.per_layer["dead"]) and np.isnan(result.matrix[0, 1])
    assert "constant" in result.undefined[f"{run.id}/dead"]


def test_job_stores_a_run_reuses_it_and_cancel_leaves_nothing(pipeline):
    from visualizer.jobs.contract import JobCancelled, NullContext

    ws, ids = pipeline
    run = cka(ws, ids["cnn"], ids["mlp"], layers_b=["fc1", "fc2", "fc3"])
    assert run.kind == "cka" and run.status == "complete" and run.id.startswith("cka-")
    p = run.params
    assert (p["run_a"], p["run_b"], p["model_a"], p["model_b"], p["split"], p["dataset"]) \
        == (ids["cnn"], ids["mlp"], "cnn", "mlp", "test", "digits")
    assert p["layers_b"] == ["fc1", "fc2", "fc3"] and p["common_layers"] == ["fc1", "fc2"]
    with run.arrays() as arrays:
        matrix, per_layer = arrays["matrix"][()], arrays["per_layer"][()]
    assert matrix.shape == (10, 3) and matrix.dtype == np.float32
    direct = cka_matrix(ws.run(ids["cnn"]), ws.run(ids["mlp"]), layers_b=["fc1", "fc2", "fc3"])
    np.testing.assert_allclose(matrix, direct.matrix, atol=1e-6)
    np.testing.assert_allclose(per_layer, [direct.per_layer["fc1"], direct.per_layer["fc2"]],
                               atol=1e-6)
    assert run.metrics["mean_diagonal_cka"] == pytest.approx(float(per_layer.mean()), abs=1e-5)
    again, reused = cka_ex(ws, ids["cnn"], ids["mlp"], layers_b=("fc1", "fc2", "fc3"))
    assert reused and again.id == run.id
    assert cka(ws, ids["cnn"], ids["mlp"], layers_b=["fc1", "fc2", "fc3"], force=True).id \
        != run.id
    assert cka(ws, ids["cnn"], ids["mlp"], layers_b=["fc1"]).id != run.id
    with pytest.raises(DeepScopeError, match="no option 'layer'"):
        cka(ws, ids["cnn"], ids["mlp"], layer="fc1")

    class CancelAfterFirstLayer(NullContext):
        def progress(self, done, total=None):
            self.cancel = True

        def check_cancelled(self):
            if getattr(self, "cancel", False):
                raise JobCancelled("cka")

    before = ({r.id for r in ws.runs()}, set((ws.root / "runs").iterdir()))
    with pytest.raises(JobCancelled):
        cka_job(CkaRequest(str(ws.root), ids["cnn"], ids["mlp"]), CancelAfterFirstLayer())
    assert ({r.id for r in ws.runs()}, set((ws.root / "runs").iterdir())) == before


def test_cli_round_trip_and_bad_arguments_exit_2_without_a_run(pipeline, capsys):
    from visualizer.cli import main

    ws, ids = pipeline
    args = ["cka", str(ws.root), "--runs", f"{ids['cnn']},{ids['mlp']}",
            "--layers-a", "fc1,fc2", "--json", "--quiet"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert set(first) == {"id", "run", "reused", "matrix_shape", "per_layer"}
    assert first["matrix_shape"] == [2, 7] and first["reused"] is False
    assert set(first["per_layer"]) == {"fc1", "fc2"}
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["id"] == first["id"]
    assert main(args[:-2]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == first["id"] and out[-1].split()[0] == "fc2"

    root, pair = str(ws.root), f"{ids['cnn']},{ids['mlp']}"
    bad = {
        "--runs": ["--runs", ids["cnn"]],
        "no run": ["--runs", f"{ids['cnn']},act-00000000"],
        "different splits": ["--runs", f"{ids['cnn']},{ids['train']}"],
        "share": ["--runs", f"{ids['cnn']},{ids['tiny']}"],
        "is a complete cka run": ["--runs", f"{ids['cnn']},{first['id']}"],
        "--layers-b": ["--runs", pair, "--layers-b", "conv1"],
        "--max-samples": ["--runs", pair, "--max-samples", "5"],
        "--seed": ["--runs", pair, "--seed", "-1"],
    }
    before = {r.id for r in ws.runs()}
    for words, extra in bad.items():
        assert main(["cka", root, *extra]) == 2, words
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and words in err and "\n" not in err, err
    assert {r.id for r in ws.runs()} == before
