"""The sanity check's verdict says only what the method table declares and the run
measured: one test per method family on the demo cnn, plus the wording logic alone."""

import warnings

import numpy as np
import pytest
import torch

from visualizer.analysis.attribution.table import BY_ID, METHODS

MULTIPLIES_INPUT = {"integrated_gradients", "input_x_gradient", "deeplift", "deeplift_shap",
                    "gradient_shap"}
#: per method: options that keep the check fast on two cores
FAST = {"integrated_gradients": {"n_steps": 16}, "layer_conductance": {"n_steps": 16}}


@pytest.fixture(scope="module")
def sanity(scratch_ws_path):
    """``sanity(method)``: the method's sanity run on 8 digits of the demo cnn (made once
    per module), with scipy's own measurements of its stored maps."""
    from visualizer.analysis.attribution.api import sanity_check
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.open(scratch_ws_path)
    x_all, _ = ws.load_dataset("digits").arrays("test")
    done = {}

    def get(method):
        if method not in done:
            run = sanity_check(ws, "cnn", "digits", method, limit=8, device="cpu",
                               **FAST.get(method, {}))
            with run.arrays() as a:
                maps, index = a["maps"][()], a["sample_index"][()]
            done[method] = run, measure(run, maps, x_all[index])
        return done[method]

    return get


def measure(run, maps, x):
    """The run's correlations recomputed with scipy from the maps it stored: |map| and
    signed map against the trained model's at the verdict step and with every layer
    random, and |map| at the verdict step against |input - baseline| (zero baseline)."""
    from scipy.stats import spearmanr

    k = run.metrics["verdict_layers"]

    def rho(a, b):
        out = []
        for i in range(a.shape[0]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a constant map: undefined, counted as 0
                r = spearmanr(a[i].ravel(), b[i].ravel()).statistic
            out.append(0.0 if np.isnan(r) else r)
        return float(np.mean(out))

    return {"abs": rho(np.abs(maps[0]), np.abs(maps[k])),
            "signed": rho(maps[0], maps[k]),
            "final": rho(np.abs(maps[0]), np.abs(maps[-1])),
            "input": rho(np.abs(maps[k]), np.abs(x))}


def check_measurements(run, ours):
    """The metrics the verdict reads are scipy's Spearman correlations."""
    m = run.metrics
    assert run.params["baseline"] == "zeros"
    assert m["verdict_spearman_abs"] == pytest.approx(ours["abs"], abs=1e-4)
    assert m["verdict_spearman"] == pytest.approx(ours["signed"], abs=1e-4)
    assert m["final_spearman_abs"] == pytest.approx(ours["final"], abs=1e-4)
    assert m["verdict_input_spearman_abs"] == pytest.approx(ours["input"], abs=1e-4)
    assert m["passed"] == int(ours["abs"] < 0.5 and run.params["method"] != "random")


# -- the declared properties ---------------------------------------------------------------

def test_every_method_declares_its_properties():
    from visualizer.analysis.attribution.table import PROPERTIES, find, properties

    assert {m.id for m in METHODS if m.multiplies == "input"} == MULTIPLIES_INPUT
    for spec in METHODS:
        props = properties(spec)
        assert set(props) == set(PROPERTIES)
        assert props["family"] in ("gradient", "perturbation", "layer", "control"), spec.id
        assert props["multiplies"] in ("", "input", "activation"), spec.id
        assert (props["family"] == "layer") == spec.layer, spec.id
        assert (props["family"] == "control") == (spec.captum is None), spec.id
        if props["multiplies"] == "activation":
            assert spec.layer, spec.id
        if props["family"] in ("perturbation", "control"):  # no backward pass at all
            assert props["multiplies"] == "" and not props["modified_backward"], spec.id
        assert find(spec.id) is spec and find(f"attribution.{spec.id}") is spec
    # a plugin's spec that declares none of them claims nothing
    assert properties(object()) == PROPERTIES


@pytest.mark.parametrize("method", ["integrated_gradients", "input_x_gradient", "deeplift",
                                    "gradient_shap", "saliency", "guided_backprop",
                                    "deconvolution"])
def test_multiplies_input_is_true_of_the_method(cnn_batch, method):
    """A method declared to multiply by the input minus the baseline gives exactly zero
    wherever the input equals the (zero) baseline; the others do not."""
    from visualizer.analysis.attribution.adapter import make_method

    model, x, t = cnn_batch
    spec = BY_ID[method]
    kwargs = {"baselines": torch.zeros_like(x[:1] if spec.baselines == "distribution"
                                            else x)} if spec.baselines != "none" else {}
    attr = make_method(method)(model, x, t, seed=0, **kwargs).detach()
    at_baseline = (x == 0).expand_as(attr)
    assert at_baseline.any()
    zero_there = bool((attr[at_baseline] == 0).all())
    assert zero_there == (spec.multiplies == "input"), method


# -- each family's sentence on the demo cnn ---------------------------------------------------

def test_random_control_is_redrawn_and_named_a_control(sanity):
    from visualizer.analysis.attribution.sanity import verdict_text, warning_text

    run, ours = sanity("random")
    check_measurements(run, ours)
    m = run.metrics
    assert abs(m["verdict_spearman_abs"]) < 0.2 and abs(m["final_spearman_abs"]) < 0.2
    with run.arrays() as a:
        rho_abs, maps = a["spearman_abs"][()], a["maps"][()]
    assert np.abs(rho_abs.mean(axis=1)).max() < 0.2  # at every step of the cascade
    assert not np.array_equal(maps[0], maps[1])  # a new draw per step
    assert m["passed"] == 0
    text = verdict_text("random", m, run.params["properties"])
    assert "is a control" in text and "no model dependence" in text
    assert "passes" not in text and "FAILS" not in text and "input" not in text
    assert f"{m['verdict_spearman_abs']:.2f}" in text
    short = warning_text("random", m, run.params["properties"])
    assert "control" in short and "fails" not in short


@pytest.mark.parametrize("method", ["occlusion", "feature_ablation"])
def test_perturbation_verdict_never_says_multiplied(sanity, method):
    from visualizer.analysis.attribution.sanity import verdict_text, warning_text

    run, ours = sanity(method)
    check_measurements(run, ours)
    m, props = run.metrics, run.params["properties"]
    text = verdict_text(method, m, props)
    short = warning_text(method, m, props) or ""
    assert "multipl" not in text and "multipl" not in short
    assert not m["passed"] and "FAILS" in text
    follows = ours["input"] >= 0.5
    assert follows  # on the digits' blank background occlusion changes nothing
    assert ("replaced by the baseline" in text) == follows
    assert ("follow |input - baseline|" in text) == follows
    assert ("their signs do change with the model" in text) == (ours["signed"] < 0.5)


@pytest.mark.parametrize("method", ["integrated_gradients", "input_x_gradient"])
def test_input_times_gradient_verdict_says_multiplied_when_measured(sanity, method):
    from visualizer.analysis.attribution.sanity import verdict_reason, verdict_text

    run, ours = sanity(method)
    check_measurements(run, ours)
    m, props = run.metrics, run.params["properties"]
    text = verdict_text(method, m, props)
    measured = ours["input"] >= 0.5 and not m["passed"]
    assert measured  # zero baseline: |map| = |x| * |gradient| ranks like |x|
    by = "the input minus the baseline" if method == "integrated_gradients" else "the input"
    assert (f"because {method} multiplies by {by}" in text) == measured
    assert ("their signs do change with the model" in text) == (ours["signed"] < 0.5)
    # the same run, had the input not been measured to carry the magnitudes
    unmeasured = {**m, "verdict_input_spearman_abs": 0.3}
    assert verdict_reason(unmeasured, props) == "unexplained"
    assert "multipl" not in verdict_text(method, unmeasured, props)


def test_guided_backprop_verdict_says_upper_layers_do_not_matter(sanity):
    from visualizer.analysis.attribution.sanity import verdict_text, warning_text

    run, ours = sanity("guided_backprop")
    check_measurements(run, ours)
    m = run.metrics
    text = verdict_text("guided_backprop", m, run.params["properties"])
    assert not m["passed"] and "FAILS" in text and "with the top 2 of 4 layers randomised" in text
    assert "does not depend on the randomised upper layers" in text and "Adebayo" in text
    assert "multipl" not in text
    # the cascade goes on: only randomising the lower layers too changes its maps
    assert ours["final"] < 0.5
    assert f"{ours['final']:.2f} only once all 4 are random" in text
    assert ("their signs do not change either" in text) == (ours["signed"] >= 0.5)
    assert "modified backward" in warning_text("guided_backprop", m, run.params["properties"])


def test_passing_gradient_method_says_so(sanity):
    from visualizer.analysis.attribution.sanity import verdict_text, warning_text

    run, ours = sanity("saliency")
    check_measurements(run, ours)
    m = run.metrics
    text = verdict_text("saliency", m, run.params["properties"])
    assert m["passed"] == 1 and text.startswith("saliency passes:")
    assert "the gradients it reads change with the randomised weights" in text
    assert "FAILS" not in text and "multipl" not in text and "control" not in text
    assert warning_text("saliency", m, run.params["properties"]) is None


@pytest.mark.parametrize("method", ["layer_gradcam", "layer_conductance"])
def test_layer_method_verdict_reads_the_layer_activations(sanity, method):
    """conv2 lies below fc1 and fc2, the top half: its activations do not change."""
    from visualizer.analysis.attribution.sanity import verdict_text

    run, _ = sanity(method)
    m = run.metrics
    assert run.params["layer"] == "conv2" and run.params["layers"][:2] == ["fc2", "fc1"]
    assert m["verdict_layer_change"] == 0.0
    text = verdict_text(method, m, run.params["properties"])
    if m["passed"]:
        assert "the gradients reaching its unchanged layer change" in text
    else:
        assert "keep the activations of its layer" in text and "measured unchanged" in text
    assert "input" not in text


# -- the wording alone --------------------------------------------------------------------

FAILED = {"verdict_layers": 2, "n_layers": 4, "verdict_spearman_abs": 0.8,
          "verdict_spearman": 0.2, "final_spearman_abs": 0.7, "passed": 0, "threshold": 0.5}


@pytest.mark.parametrize("spec", [s for s in METHODS if s.family == "perturbation"],
                         ids=lambda s: s.id)
@pytest.mark.parametrize("signed", [0.1, 0.9])
@pytest.mark.parametrize("into", [None, 0.1, 0.9])
@pytest.mark.parametrize("passed", [0, 1])
def test_perturbation_wording_never_multiplies(spec, signed, into, passed):
    from visualizer.analysis.attribution.sanity import verdict_text, warning_text
    from visualizer.analysis.attribution.table import properties

    m = {**FAILED, "verdict_spearman": signed, "passed": passed}
    if into is not None:
        m["verdict_input_spearman_abs"] = into
    text = verdict_text(spec.id, m, properties(spec))
    assert "multipl" not in text and "multipl" not in (warning_text(spec.id, m) or "")
    assert ("replaced by the baseline" in text) == (not passed and (into or 0) >= 0.5)


def test_wording_follows_declarations_not_the_signed_rho():
    from visualizer.analysis.attribution.sanity import verdict_reason, verdict_text
    from visualizer.analysis.attribution.table import properties

    # an old control run (one seed for every step) is not said to follow the input
    old = {**FAILED, "verdict_spearman_abs": 1.0, "verdict_spearman": 1.0}
    text = verdict_text("random", old)
    assert "same noise was drawn at every step" in text and "input" not in text
    # a method the table does not know gets no mechanism: neither input nor backward rule
    text = verdict_text("someplugin.mystery", {**FAILED, "verdict_input_spearman_abs": 0.9})
    assert verdict_reason(FAILED, {}) == "unexplained"
    assert "multipl" not in text and "backward" not in text and "baseline" not in text
    assert "rank like |input|" in text  # the measurement is still reported
    # the same numbers, declared differently, are explained differently
    ig = verdict_text("integrated_gradients", {**FAILED, "verdict_input_spearman_abs": 0.9})
    gb = verdict_text("guided_backprop", {**FAILED, "verdict_input_spearman_abs": 0.9})
    assert "multiplies by the input minus the baseline" in ig and "Adebayo" not in ig
    assert "Adebayo" in gb and "multipl" not in gb
    # a layer method's activations are said unchanged only when measured so
    lc = {**FAILED, "verdict_layer_change": 0.3}
    assert verdict_reason(lc, properties(BY_ID["layer_conductance"])) == "unexplained"
    assert "activations" not in verdict_text("layer_conductance", lc)
    assert "activations of its layer" in verdict_text(
        "layer_conductance", {**lc, "verdict_layer_change": 0.0})
