"""Pruning schedules (visualizer.analysis.pruning.schedule) on the digits cnn."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.nn.utils import prune

from visualizer.analysis.pruning.finetune import (
    FinetuneParams,
    evaluate,
    finetune,
    steps_per_epoch,
)
from visualizer.analysis.pruning.schedule import (
    cubic_sparsity,
    gradual_plan,
    rewind,
    run_schedule,
)
from visualizer.analysis.pruning.table import SCHEDULES
from visualizer.data import load_digits_arrays
from visualizer.errors import DeepScopeError
from visualizer.models.zoo import train_zoo_model

LAYERS = ("conv1", "conv2", "fc1")  # the prunable layers; the classifier fc2 stays dense

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _one_thread():
    # The test process's own choice (finetune leaves the count alone by default): tiny
    # tensors, and OpenMP threads spinning on a busy 2-core machine cost 10-20x.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    data = load_digits_arrays()
    return (*data.arrays("train"), *data.arrays("test"))


@pytest.fixture(scope="module")
def dense(digits):
    x_train, y_train, _, _ = digits
    return train_zoo_model("cnn", x_train, y_train, seed=0)


def pruner(method="magnitude", seed=0):
    """``prune_to(model, s)``: global pruning of LAYERS to ``s``, by the reference."""

    def prune_to(model, sparsity):
        params = [(getattr(model, name), "weight") for name in LAYERS]
        total = sum(m.weight.numel() for m, _ in params)
        already = sum(
            int((m.weight_mask == 0).sum()) for m, _ in params if hasattr(m, "weight_mask")
        )
        amount = round(sparsity * total) - already
        if amount <= 0:
            return
        if method == "random":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                prune.global_unstructured(
                    params, pruning_method=prune.RandomUnstructured, amount=amount
                )
        else:
            prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)

    return prune_to


def layer_sparsity(model):
    zeros = sum(int((getattr(model, n).weight == 0).sum()) for n in LAYERS)
    return zeros / sum(getattr(model, n).weight.numel() for n in LAYERS)


def test_cubic_sparsity_hand_computed():
    kw = {"initial": 0.0, "final": 0.9, "start": 10, "n_steps": 4, "every": 5}
    assert cubic_sparsity(0, **kw) == 0.0
    assert cubic_sparsity(10, **kw) == 0.0  # t0: s_i
    assert cubic_sparsity(14, **kw) == 0.0  # held until the next pruning step
    assert cubic_sparsity(15, **kw) == pytest.approx(0.9 * (1 - 0.75**3))  # 0.5203125
    assert cubic_sparsity(15, **kw) == pytest.approx(0.5203125)
    assert cubic_sparsity(20, **kw) == pytest.approx(0.7875)
    assert cubic_sparsity(25, **kw) == pytest.approx(0.8859375)
    assert cubic_sparsity(30, **kw) == 0.9 and cubic_sparsity(1000, **kw) == 0.9
    values = [cubic_sparsity(t, **kw) for t in range(40)]
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    # A non-zero start: s_f + (s_i - s_f)(1 - 2/4)^3 = 0.9 - 0.4 / 8.
    assert cubic_sparsity(20, **{**kw, "initial": 0.5}) == pytest.approx(0.85)
    assert cubic_sparsity(5, **{**kw, "initial": 0.5}) == 0.5


def test_gradual_plan_ends_within_three_quarters():
    for total in (1, 2, 7, 40, 230, 10_000):
        n, every = gradual_plan(total)
        assert 1 <= n <= 10 and every >= 1
        assert n * every <= max(1, 0.75 * total)


def test_gradual_reaches_90_percent_with_little_accuracy_loss(dense, digits):
    x_train, y_train, x_test, y_test = digits
    model = copy.deepcopy(dense)
    base = evaluate(dense, x_test, y_test)[0]
    params = FinetuneParams(optimizer="sgd", lr=0.05, epochs=10, batch_size=64)
    result = run_schedule(
        model,
        "gradual",
        pruner(),
        0.9,
        x_train,
        y_train,
        params,
        seed=0,
        x_eval=x_test,
        y_eval=y_test,
    )
    accuracy = evaluate(model, x_test, y_test)[0]
    # Measured (torch 2.13, CPU): dense 98.06%, gradual 90% 98.61%; seeds 0-5 gave
    # 97.78-98.61%, so the 2-point bound has room. lr 0.05 matters: at 0.01 the model
    # ends 1-2 points down.
    assert layer_sparsity(model) >= 0.9 - 1e-9
    assert accuracy >= base - 0.02, (base, accuracy)
    assert result.accuracy_before_finetune is None and result.rounds == []
    curves = result.curves
    total = 10 * steps_per_epoch(len(y_train), 64)
    assert len(curves.step) == total and len(curves.eval_accuracy) == 10
    assert np.all(np.diff(curves.sparsity) >= 0) and curves.sparsity[0] == 0.0
    reached = curves.sparsity.index(max(curves.sparsity))
    assert curves.sparsity[-1] == pytest.approx(0.9) and reached <= 0.75 * total
    assert torch.all(model.fc2.weight != 0)


def test_gradual_with_one_step_still_reaches_final(dense, digits):
    x_train, y_train, _, _ = digits
    model = copy.deepcopy(dense)
    run_schedule(
        model,
        "gradual",
        pruner(),
        0.7,
        x_train[:64],
        y_train[:64],
        FinetuneParams(epochs=1),
        seed=0,
    )
    assert layer_sparsity(model) == pytest.approx(0.7, abs=1e-4)


def test_oneshot_random_loses_more_than_magnitude(dense, digits):
    x_train, y_train, x_test, y_test = digits
    accuracy = {}
    for method in ("magnitude", "random"):
        model = copy.deepcopy(dense)
        result = run_schedule(
            model, "oneshot", pruner(method), 0.9, x_train, y_train, FinetuneParams(), seed=0
        )
        assert result.curves is None and layer_sparsity(model) == pytest.approx(0.9)
        accuracy[method] = evaluate(model, x_test, y_test)[0]
    # Measured: magnitude 85.8%, random 9.7% (chance).
    assert accuracy["random"] < accuracy["magnitude"] - 0.2, accuracy


def test_finetune_schedule_recovers(dense, digits):
    x_train, y_train, x_test, y_test = digits
    model = copy.deepcopy(dense)
    result = run_schedule(
        model,
        "finetune",
        pruner(),
        0.9,
        x_train,
        y_train,
        FinetuneParams(epochs=2),
        seed=0,
        x_eval=x_test,
        y_eval=y_test,
    )
    oneshot = copy.deepcopy(dense)
    pruner()(oneshot, 0.9)
    assert result.accuracy_before_finetune == pytest.approx(evaluate(oneshot, x_test, y_test)[0])
    assert evaluate(model, x_test, y_test)[0] > result.accuracy_before_finetune
    assert layer_sparsity(model) == pytest.approx(0.9)


@pytest.mark.parametrize("threads", [None, 2])
def test_threads_reach_training_and_the_process_count_is_kept(dense, digits, threads):
    x_train, y_train, _, _ = digits
    seen = set()

    def prune_to(model, sparsity):
        pruner()(model, sparsity)
        seen.add(torch.get_num_threads())

    run_schedule(copy.deepcopy(dense), "gradual", prune_to, 0.5, x_train[:300], y_train[:300],
                 FinetuneParams(epochs=1), seed=0, threads=threads)
    assert seen == {threads or 1}  # 1: the process's count (the fixture's), left alone
    assert torch.get_num_threads() == 1


def test_rewind_restores_survivors_and_keeps_masks(dense, digits):
    x_train, y_train, _, _ = digits
    model = copy.deepcopy(dense)
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    pruner()(model, 0.6)
    finetune(model, x_train, y_train, FinetuneParams(epochs=1), seed=0)
    masks = {n: getattr(model, n).weight_mask.clone() for n in LAYERS}
    assert not torch.equal(model.fc2.bias, saved["fc2.bias"])
    rewind(model, saved)
    for name in LAYERS:
        module, mask = getattr(model, name), masks[name]
        assert torch.equal(module.weight_mask, mask)
        assert torch.equal(module.weight_orig, saved[f"{name}.weight"])
        assert torch.equal(module.bias, saved[f"{name}.bias"])
        module(torch.zeros(1, *module.weight.shape[1:]))  # the pre-hook recomputes weight
        assert torch.equal(module.weight, saved[f"{name}.weight"] * mask)
    assert torch.equal(model.fc2.weight, saved["fc2.weight"])


def test_imp_rounds_reach_target_and_rewind(dense, digits):
    x_train, y_train, x_test, y_test = digits
    model = copy.deepcopy(dense)
    base_prune = pruner()
    rewind_point, armed, checked = {}, [False], []

    def prune_to(m, s):
        if not rewind_point:  # round 1 prunes right at the rewind point
            rewind_point.update({k: v.detach().clone() for k, v in m.state_dict().items()})
        base_prune(m, s)
        armed[0] = True

    def first_forward_after_prune(module, args):
        # Rewinding happens between pruning and the first training step of the round.
        if armed[0]:
            armed[0] = False
            for name in LAYERS:
                layer = getattr(module, name)
                mask = layer.weight_mask
                checked.append(
                    torch.equal(layer.weight_orig * mask, rewind_point[f"{name}.weight"] * mask)
                )
                checked.append(torch.equal(layer.bias, rewind_point[f"{name}.bias"]))

    handle = model.register_forward_pre_hook(first_forward_after_prune)
    ctx_progress = []

    class Ctx:
        def progress(self, done, total=None):
            ctx_progress.append((done, total))

        def status(self, text):
            pass

        def partial(self, obj):
            pass

        def check_cancelled(self):
            pass

    result = run_schedule(
        model,
        "imp",
        prune_to,
        0.9,
        x_train,
        y_train,
        FinetuneParams(epochs=1),
        seed=0,
        ctx=Ctx(),
        x_eval=x_test,
        y_eval=y_test,
        imp_rounds=3,
        rewind_batches=5,
    )
    handle.remove()
    assert checked == [True] * 18
    # The rewind point is 5 dense steps past the parent's weights.
    assert not torch.equal(rewind_point["fc1.weight"], dense.fc1.weight)
    per_epoch = steps_per_epoch(len(y_train), 64)
    total = 5 + 3 * per_epoch
    assert result.curves.step == list(range(total))
    assert result.curves.sparsity[:5] == [0.0] * 5
    assert [d for d, _ in ctx_progress] == list(range(1, total + 1))
    assert {t for _, t in ctx_progress} == {total}
    targets = [r["target"] for r in result.rounds]
    assert targets == pytest.approx([1 - 0.1 ** (r / 3) for r in (1, 2, 3)])
    assert targets[-1] == 0.9
    total_weights = sum(getattr(model, n).weight.numel() for n in LAYERS)
    zeros = sum(int((getattr(model, n).weight == 0).sum()) for n in LAYERS)
    assert abs(zeros - 0.9 * total_weights) <= len(LAYERS)
    for r in result.rounds:
        assert r["sparsity"] == pytest.approx(r["target"], abs=len(LAYERS) / total_weights)
        assert 0.9 < r["eval_accuracy"] <= 1.0  # measured: 97.5%, 97.8%, 95.6%


def test_unknown_schedule_lists_the_known_ones(dense, digits):
    x_train, y_train, _, _ = digits
    with pytest.raises(DeepScopeError) as info:
        run_schedule(
            copy.deepcopy(dense),
            "cyclic",
            pruner(),
            0.5,
            x_train,
            y_train,
            FinetuneParams(),
            seed=0,
        )
    assert all(name in str(info.value) for name in SCHEDULES)
