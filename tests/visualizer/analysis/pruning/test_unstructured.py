"""Unstructured pruning against references: torch.nn.utils.prune itself, the LAMP
formula in numpy, and SNIP/Taylor scores computed with autograd here."""

import copy

import numpy as np
import pytest
import torch
from torch.nn.utils import prune

from visualizer.analysis.pruning import builtin
from visualizer.analysis.pruning.builtin import lamp_scores
from visualizer.analysis.pruning.layers import classifier_name, prunable_layers
from visualizer.analysis.pruning.table import METHODS
from visualizer.analysis.pruning.unstructured import (
    apply_masks,
    make_permanent,
    masks,
    prune_unstructured,
    sparsity,
)
from visualizer.errors import DeepScopeError
from visualizer.models.zoo import build_cnn, build_mlp


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: OpenMP threads spinning side by side cost more than they give
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def cnn(seed=0):
    torch.manual_seed(seed)
    return build_cnn().eval()


def data(seed=0, n=16, batches=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))
            for _ in range(batches)]


def modules_of(model, names):
    named = dict(model.named_modules())
    return [named[n] for n in names]


def mask_zeros(model, layers):
    return sum(int((~m).sum()) for m in masks(model, layers).values())


@pytest.mark.parametrize("build", [cnn, lambda: build_mlp().eval()], ids=["cnn", "mlp"])
@pytest.mark.parametrize("target", [0.3, 0.75])
def test_global_magnitude_is_torch_global_unstructured(build, target):
    model = build()
    reference = copy.deepcopy(model)
    layers = prunable_layers(model)
    prune_unstructured(model, layers, builtin.magnitude, target)

    params = [(m, "weight") for m in modules_of(reference, layers)]
    total = sum(m.weight.numel() for m, _ in params)
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured,
                              amount=round(target * total))
    ours = masks(model, layers)
    for name, m in zip(layers, modules_of(reference, layers), strict=True):
        assert torch.equal(ours[name], m.weight_mask.bool()), name


def test_layer_magnitude_is_l1_unstructured_per_layer():
    model = cnn()
    reference = copy.deepcopy(model)
    layers = prunable_layers(model)
    prune_unstructured(model, layers, builtin.magnitude_layer, 0.6)
    ours = masks(model, layers)
    for name, m in zip(layers, modules_of(reference, layers), strict=True):
        prune.l1_unstructured(m, "weight", amount=round(0.6 * m.weight.numel()))
        assert torch.equal(ours[name], m.weight_mask.bool()), name


@pytest.mark.parametrize("method_id", [m.id for m in METHODS])
def test_achieved_sparsity_is_the_target_within_one_weight_per_layer(method_id):
    method = getattr(builtin, method_id)
    model = cnn()
    layers = prunable_layers(model)
    prune_unstructured(model, layers, method, 0.7, batches=data(batches=2), seed=3)
    overall, per_layer = sparsity(model, layers)
    sizes = {n: m.weight.numel() for n, m in zip(layers, modules_of(model, layers),
                                                  strict=True)}
    total = sum(sizes.values())
    assert abs(overall * total - round(0.7 * total)) <= len(layers)
    if method.spec.scope == "layer":
        for n, k in sizes.items():
            assert abs(per_layer[n] * k - round(0.7 * k)) <= 1, n


@pytest.mark.parametrize("method_id", ["magnitude", "magnitude_layer", "lamp"])
def test_pruning_is_cumulative(method_id):
    method = getattr(builtin, method_id)
    model = cnn()
    layers = prunable_layers(model)
    total = sum(m.weight.numel() for m in modules_of(model, layers))
    prune_unstructured(model, layers, method, 0.5)
    first = masks(model, layers)
    # fine-tuning between rounds moves the weights: the masked ones must stay masked
    with torch.no_grad():
        for m in modules_of(model, layers):
            m.weight_orig.add_(0.05 * torch.randn_like(m.weight_orig))
    prune_unstructured(model, layers, method, 0.8)
    second = masks(model, layers)
    assert abs(mask_zeros(model, layers) - round(0.8 * total)) <= len(layers)
    assert abs(sparsity(model, layers)[0] - 0.8) * total <= len(layers)
    for n in layers:
        assert not (second[n] & ~first[n]).any(), f"{n}: a pruned weight came back"
    # a lower target later masks nothing more and unmasks nothing
    prune_unstructured(model, layers, method, 0.6)
    assert all(torch.equal(masks(model, layers)[n], second[n]) for n in layers)


def test_lamp_matches_the_formula():
    w = torch.tensor([[0.3, -1.2, 0.05], [2.0, -0.7, 0.0]])
    w2 = w.numpy().astype(np.float64).ravel() ** 2
    expected = np.zeros_like(w2)
    for u in range(w2.size):
        # Σ over v with w_v² ≥ w_u² in ascending order (here all values are distinct)
        expected[u] = w2[u] / w2[w2 >= w2[u]].sum() if w2[u] > 0 else 0.0
    got = lamp_scores(w).numpy().ravel()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got.max() == pytest.approx(1.0)  # the largest weight of a layer scores 1


def test_random_is_seeded():
    layers = prunable_layers(cnn())

    def run(seed):
        model = cnn()
        prune_unstructured(model, layers, builtin.random, 0.5, seed=seed)
        return masks(model, layers)

    a, b, c = run(1), run(1), run(2)
    assert all(torch.equal(a[n], b[n]) for n in layers)
    assert not all(torch.equal(a[n], c[n]) for n in layers)


def _direct_grads(model, layers, x, y):
    """∂L/∂w by autograd, on a plain model (no reparametrisation)."""
    weights = [m.weight for m in modules_of(model, layers)]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    return dict(zip(layers, torch.autograd.grad(loss, weights), strict=True))


@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
def test_snip_and_taylor_scores_match_autograd(masked):
    model = cnn()
    layers = prunable_layers(model)
    batches = data(batches=2)
    reference = copy.deepcopy(model)
    if masked:  # a second round: gradients w.r.t. the masked (effective) weight
        prune_unstructured(model, layers, builtin.magnitude, 0.5)
        with torch.no_grad():
            for r, m in zip(modules_of(reference, layers), modules_of(model, layers),
                            strict=True):
                r.weight.mul_(m.weight_mask)
    weights = {n: m.weight.detach() for n, m in zip(layers, modules_of(reference, layers),
                                                     strict=True)}
    grads = [_direct_grads(reference, layers, x, y) for x, y in batches]
    gen = torch.Generator().manual_seed(0)

    snip = builtin.snip.scores(model, weights, batches[:1], gen, batches=1)
    taylor = builtin.taylor.scores(model, weights, batches, gen, batches=2)
    for n in layers:
        torch.testing.assert_close(snip[n], (weights[n] * grads[0][n]).abs())
        expected = ((weights[n] * grads[0][n]) ** 2 + (weights[n] * grads[1][n]) ** 2) / 2
        torch.testing.assert_close(taylor[n], expected)


@pytest.mark.parametrize("method_id", ["snip", "taylor"])
def test_gradient_scores_leave_nothing_behind(method_id):
    model = cnn()
    layers = prunable_layers(model)
    prune_unstructured(model, layers, builtin.magnitude, 0.3)  # with pre-hooks in place
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hooks = [len(m._forward_pre_hooks) for m in model.modules()]
    prune_unstructured(model, layers, getattr(builtin, method_id), 0.6, batches=data())
    assert all(p.grad is None for p in model.parameters())
    assert [len(m._forward_pre_hooks) for m in model.modules()] == hooks
    for k, v in model.state_dict().items():
        if not k.endswith("_mask"):
            assert torch.equal(v, state[k]), k


def test_gradient_methods_need_batches():
    model = cnn()
    with pytest.raises(DeepScopeError, match="needs training batches"):
        prune_unstructured(model, prunable_layers(model), builtin.snip, 0.5)


@pytest.mark.parametrize("bad, shown", [(1.0, "in [0, 1) (got 1)"), (-0.1, "(got -0.1)"),
                                         (1.5, "(got 1.5)"), (float("nan"), "(got nan)"),
                                         ("abc", "a number in [0, 1) (got 'abc')"),
                                         (True, "a number in [0, 1) (got True)")])
def test_sparsity_out_of_range_is_refused(bad, shown):
    model = cnn()
    with pytest.raises(DeepScopeError, match="sparsity must be") as err:
        prune_unstructured(model, prunable_layers(model), builtin.magnitude, bad)
    assert shown in str(err.value) and "\n" not in str(err.value)


def test_scores_of_the_wrong_shape_are_refused():
    class Flat(builtin.PruningMethod):
        def scores(self, model, weights, batches, generator, /, **params):
            return {n: w.flatten() for n, w in weights.items()}

    model = cnn()
    with pytest.raises(DeepScopeError, match="expected a tensor of the weight's shape"):
        prune_unstructured(model, ["conv1"], Flat(builtin.magnitude.spec), 0.5)


def test_classifier_is_left_out_unless_asked():
    model = cnn()
    assert classifier_name(model) == "fc2"
    assert prunable_layers(model) == ["conv1", "conv2", "fc1"]
    assert prunable_layers(model, include_classifier=True) == ["conv1", "conv2", "fc1", "fc2"]
    assert prunable_layers(model, ["fc2", "conv1"]) == ["conv1", "fc2"]  # module order


def test_unknown_or_unprunable_layers_are_named():
    model = cnn()
    with pytest.raises(DeepScopeError, match="'conv9'.*conv1, conv2, fc1, fc2") as err:
        prunable_layers(model, ["conv9"])
    assert err.value.fix
    with pytest.raises(DeepScopeError, match="'relu1' \\(ReLU\\) cannot be pruned"):
        prunable_layers(model, ["relu1"])


def test_make_permanent_and_reapply_masks():
    model = cnn()
    layers = prunable_layers(model)
    prune_unstructured(model, layers, builtin.magnitude, 0.6)
    before = masks(model, layers)
    out = model(data()[0][0])
    removed = make_permanent(model, layers)
    assert all(torch.equal(removed[n], before[n]) for n in layers)
    assert not any(hasattr(m, "weight_orig") for m in model.modules())
    torch.testing.assert_close(model(data()[0][0]), out)
    assert sparsity(model, layers)[0] == pytest.approx(0.6, abs=1e-3)

    fresh = cnn(seed=5)  # "rewound" weights, the saved masks on top
    apply_masks(fresh, removed)
    assert all(torch.equal(masks(fresh, layers)[n], removed[n]) for n in layers)
    for n, m in zip(layers, modules_of(fresh, layers), strict=True):
        assert torch.equal(m.weight == 0, ~removed[n])
