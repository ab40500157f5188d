"""The model pool lends a module to one job at a time and never lends an edited one."""

import torch
import torch.nn.utils.prune

from visualizer.workspace import model_pool


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_returned_model_is_lent_again_and_never_to_two_jobs(demo_ws):
    model_pool.clear()
    with model_pool.borrow(demo_ws, "cnn") as first:
        with model_pool.borrow(demo_ws, "cnn") as second:  # a concurrent job
            assert second is not first
            assert _same_weights(first, second)
    with model_pool.borrow(demo_ws, "cnn") as again:
        assert again is first or again is second
        assert not again.training


def test_an_edited_model_is_dropped_and_the_next_borrower_gets_the_stored_one(demo_ws):
    model_pool.clear()
    stored = demo_ws.load_model("cnn")
    with model_pool.borrow(demo_ws, "cnn") as model:
        first = model
        with torch.no_grad():
            next(model.parameters()).mul_(0)  # e.g. a pruning experiment
    with model_pool.borrow(demo_ws, "cnn") as model:
        assert model is not first
        assert _same_weights(model, stored)

    with model_pool.borrow(demo_ws, "cnn") as model:
        first = model
        conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        torch.nn.utils.prune.l1_unstructured(conv, "weight", amount=0.5)
    with model_pool.borrow(demo_ws, "cnn") as model:
        assert model is not first
        assert _same_weights(model, stored)


def test_a_model_with_a_hook_left_behind_is_not_lent_again(demo_ws):
    model_pool.clear()
    with model_pool.borrow(demo_ws, "cnn") as model:
        first = model
        model.register_forward_hook(lambda *a: None)
    with model_pool.borrow(demo_ws, "cnn") as model:
        assert model is not first
        assert not model._forward_hooks


def test_the_pool_keeps_at_most_max_idle_models(demo_ws):
    model_pool.clear()
    for name in ("mlp", "cnn", "resnet"):
        with model_pool.borrow(demo_ws, name):
            pass
    assert len(model_pool._idle) == model_pool.MAX_IDLE
    assert {key[1] for key in model_pool._idle} == {"mlp", "cnn", "resnet"}
    with model_pool.borrow(demo_ws, "cnn", device="meta"):
        pass
    assert {key[1:4:2] for key in model_pool._idle} == {("cnn", "cpu"), ("resnet", "cpu"), ("cnn", "meta")}
