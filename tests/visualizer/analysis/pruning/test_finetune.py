"""Fine-tuning with masks held fixed (visualizer.analysis.pruning.finetune) on digits."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch.nn.utils import prune

from visualizer.analysis.pruning.finetune import (
    Curves,
    FinetuneParams,
    evaluate,
    finetune,
    mask_sparsity,
    steps_per_epoch,
)
from visualizer.data import load_digits_arrays
from visualizer.errors import DeepScopeError
from visualizer.jobs.contract import JobCancelled
from visualizer.models import evaluation
from visualizer.models.zoo import evaluate_accuracy, train_zoo_model

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


def prune_l1(model, sparsity):
    """Global magnitude pruning of LAYERS to ``sparsity``, cumulative, by the reference."""
    params = [(getattr(model, name), "weight") for name in LAYERS]
    total = sum(m.weight.numel() for m, _ in params)
    already = sum(int((m.weight_mask == 0).sum()) for m, _ in params if hasattr(m, "weight_mask"))
    amount = round(sparsity * total) - already
    if amount > 0:
        prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)


def pruned_copy(dense, sparsity=0.8):
    model = copy.deepcopy(dense)
    prune_l1(model, sparsity)
    return model


class RecordingCtx:
    """A fake job ctx that records every call and cancels after ``cancel_after`` checks."""

    def __init__(self, cancel_after=None):
        self.progress_calls, self.partials, self.statuses = [], [], []
        self.checks, self.cancel_after = 0, cancel_after

    def progress(self, done, total=None):
        self.progress_calls.append((done, total))

    def status(self, text):
        self.statuses.append(text)

    def partial(self, obj):
        self.partials.append(obj)

    @property
    def cancelled(self):
        return self.cancel_after is not None and self.checks >= self.cancel_after

    def check_cancelled(self):
        if self.cancelled:
            raise JobCancelled("test")
        self.checks += 1


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_pruned_weights_stay_zero_and_masks_fixed(dense, digits, optimizer):
    x_train, y_train, _, _ = digits
    model = pruned_copy(dense)
    masks = {n: getattr(model, n).weight_mask.clone() for n in LAYERS}
    before = {n: getattr(model, n).weight.detach().clone() for n in LAYERS}
    # Weight decay moves weight_orig behind the pruned entries too; the mask must win.
    params = FinetuneParams(
        optimizer=optimizer, lr=0.01 if optimizer == "sgd" else 1e-3, epochs=1, weight_decay=1e-3
    )
    finetune(model, x_train, y_train, params, seed=0)
    assert not model.training
    for name in LAYERS:
        module = getattr(model, name)
        assert torch.equal(module.weight_mask, masks[name])
        assert torch.all(module.weight[masks[name] == 0] == 0)
        # The survivors trained.
        assert not torch.equal(module.weight[masks[name] == 1], before[name][masks[name] == 1])
    for name in LAYERS:
        prune.remove(getattr(model, name), "weight")
        weight = getattr(model, name).weight
        assert torch.all(weight[masks[name] == 0] == 0)
    assert sum(int((getattr(model, n).weight == 0).sum()) for n in LAYERS) >= round(
        0.8 * sum(m.numel() for m in masks.values())
    )


@pytest.mark.parametrize("threads", [None, 1])
def test_same_seed_gives_identical_weights(dense, digits, threads):
    # With threads=None the process's count (two here) is used and left alone; with
    # threads=1 training runs on one thread and the count is given back. Either way a
    # fixed count gives bit-identical weights: no thread count of 1 is needed for that.
    x_train, y_train, _, _ = digits
    torch.set_num_threads(2)
    seen = set()

    def run(model, seed):
        return finetune(model, x_train[:400], y_train[:400], FinetuneParams(epochs=1),
                        seed=seed, threads=threads,
                        before_step=lambda *_: seen.add(torch.get_num_threads()))

    a, b, c = pruned_copy(dense), pruned_copy(dense), pruned_copy(dense)
    curves_a, curves_b = run(a, 7), run(b, 7)
    run(c, 8)
    assert seen == {threads or 2} and torch.get_num_threads() == 2
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert curves_a.loss == curves_b.loss
    assert not torch.equal(a.fc1.weight_orig, c.fc1.weight_orig)


def test_seeding_leaves_the_global_generators_alone(dense, digits, monkeypatch):
    x_train, y_train, _, _ = digits

    def reseeds_every_device(seed):
        raise AssertionError("torch.manual_seed reseeds CUDA too, which fork_rng keeps")

    monkeypatch.setattr(torch, "manual_seed", reseeds_every_device)
    model = pruned_copy(dense)
    model.fc1 = torch.nn.Sequential(model.fc1, torch.nn.Dropout(0.5))  # draws in forward
    state = torch.get_rng_state()
    finetune(model, x_train[:200], y_train[:200], FinetuneParams(epochs=1), seed=0)
    assert torch.equal(torch.get_rng_state(), state)


def test_progress_per_batch_partials_and_eval_curve(dense, digits):
    x_train, y_train, x_test, y_test = digits
    model = pruned_copy(dense)
    ctx = RecordingCtx()
    steps = []
    params = FinetuneParams(epochs=2, batch_size=64)
    curves = finetune(
        model,
        x_train,
        y_train,
        params,
        seed=0,
        ctx=ctx,
        x_eval=x_test,
        y_eval=y_test,
        before_step=lambda i, n: steps.append((i, n)),
    )
    total = 2 * steps_per_epoch(len(y_train), 64)
    assert total == 2 * 23
    assert ctx.progress_calls == [(i, total) for i in range(1, total + 1)]
    assert steps == [(i, total) for i in range(total)]
    assert ctx.checks == total  # one cancel check per batch
    assert curves.step == list(range(total))
    assert curves.epoch[22] == pytest.approx(1.0) and curves.epoch[-1] == pytest.approx(2.0)
    assert curves.eval_epoch == pytest.approx([1.0, 2.0])
    assert all(s == pytest.approx(0.8) for s in curves.sparsity)
    assert len(curves.loss) == len(curves.train_accuracy) == total
    # Every 10 steps and at each epoch's end, JSON-able and growing.
    kinds = {p["kind"] for p in ctx.partials}
    assert kinds == {"finetune_curves"}
    lengths = [len(p["curves"]["step"]) for p in ctx.partials]
    assert lengths == [10, 20, 23, 30, 40, 46]
    last = Curves.from_dict(json.loads(json.dumps(ctx.partials[-1]["curves"])))
    assert last == curves
    assert curves.eval_accuracy[-1] == pytest.approx(evaluate(model, x_test, y_test)[0])


def test_cancel_between_batches(dense, digits):
    x_train, y_train, _, _ = digits
    model = pruned_copy(dense)
    ctx = RecordingCtx(cancel_after=25)
    with pytest.raises(JobCancelled):
        finetune(model, x_train, y_train, FinetuneParams(epochs=3), seed=0, ctx=ctx)
    assert [done for done, _ in ctx.progress_calls] == list(range(1, 26))
    assert [len(p["curves"]["step"]) for p in ctx.partials] == [10, 20, 23]


def test_curves_append_and_max_steps(dense, digits):
    x_train, y_train, _, _ = digits
    model = pruned_copy(dense)
    curves = finetune(model, x_train, y_train, FinetuneParams(epochs=1), seed=0, max_steps=30)
    assert curves.step == list(range(30))  # runs into a second epoch
    assert curves.epoch[-1] == pytest.approx(1 + 7 / 23)
    finetune(model, x_train, y_train, FinetuneParams(epochs=1), seed=1, curves=curves)
    assert curves.step == list(range(53))
    assert np.all(np.diff(curves.epoch) > 0)


def test_trains_even_when_called_with_grad_disabled(dense, digits):
    x_train, y_train, _, _ = digits
    model = pruned_copy(dense)
    with torch.no_grad():
        curves = finetune(
            model,
            x_train[:200],
            y_train[:200],
            FinetuneParams(epochs=1),
            seed=0,
            sparsity_of=lambda m: 0.5,
        )
    assert len(curves.loss) == 4 and curves.sparsity == [0.5] * 4


def test_evaluate_matches_zoo_accuracy(dense, digits):
    _, _, x_test, y_test = digits
    assert evaluate is evaluation.evaluate  # one implementation, under its old name
    accuracy, predictions, confidences = evaluate(dense, x_test, y_test, batch_size=100)
    # Exact and in float64: correct / N, not a float32 mean (0.98055553 for 353/360).
    assert accuracy == int((predictions == y_test).sum()) / len(y_test)
    assert accuracy == evaluate_accuracy(dense, x_test, y_test)
    assert predictions.dtype == np.int64 and predictions.shape == (360,)
    with torch.no_grad():
        probs = torch.softmax(dense(torch.from_numpy(x_test)), 1)
    np.testing.assert_array_equal(predictions, probs.argmax(1).numpy())
    np.testing.assert_allclose(confidences, probs.max(1).values.numpy(), rtol=1e-5)
    assert evaluate(dense, x_test[:0], y_test[:0])[0] == 0.0


def test_mask_sparsity(dense):
    assert mask_sparsity(dense) == 0.0
    assert mask_sparsity(pruned_copy(dense, 0.5)) == pytest.approx(0.5, abs=1e-4)


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("optimizer", "rmsprop", "sgd, adam"),
        ("lr", 0.0, "(0, 10]"),
        ("lr", float("nan"), "(0, 10]"),
        ("epochs", -1, "[0, 10000]"),
        ("batch_size", 0, "[1, 1048576]"),
        ("weight_decay", -0.1, "[0, 1)"),
        ("momentum", 1.0, "[0, 1)"),
    ],
)
def test_params_validate_names_value_and_range(field, value, words):
    with pytest.raises(DeepScopeError) as info:
        FinetuneParams(**{field: value}).validate()
    assert field in str(info.value) and words in str(info.value)
    assert FinetuneParams().validate() == FinetuneParams()
