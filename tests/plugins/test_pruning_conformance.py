"""The pruning conformance checks: every built-in method passes them, and methods that
each break one rule fail exactly the check for that rule."""

from collections import defaultdict

import pytest

from plugins.conformance import CHECKS, ConformanceError, run_checks
from plugins.conformance.pruning import check_pruning_method
from plugins.manager import PLUGIN_PATH_ENV, PluginManager, get_manager
from tests.plugins.conftest import write_plugin
from visualizer.analysis.pruning.table import METHODS

MANAGER = get_manager()

BROKEN_PRUNING = '''
"""Pruning methods that each break one rule, and one that keeps them all."""
import dataclasses

import torch

from visualizer.analysis.pruning import builtin
from visualizer.analysis.pruning.table import PruningMethodSpec


class Method(builtin.PruningMethod):
    def __init__(self, name, **changes):
        spec = dataclasses.replace(builtin.magnitude.spec, id=name, structured=False,
                                   params=())
        super().__init__(dataclasses.replace(spec, **changes))

    def scores(self, model, weights, batches, generator, /, **params):
        return {n: w.detach().abs() for n, w in weights.items()}


class WrongShape(Method):
    def scores(self, model, weights, batches, generator, /, **params):
        return {n: w.flatten()[:-1] for n, w in weights.items()}


class ChangesWeights(Method):
    def scores(self, model, weights, batches, generator, /, **params):
        out = super().scores(model, weights, batches, generator)
        with torch.no_grad():  # the scored weights stay, but the classifier's bias moves
            list(model.modules())[-1].bias.add_(0.01)
        return out


class Unseeded(Method):
    def scores(self, model, weights, batches, generator, /, **params):
        return {n: torch.rand(w.shape) for n, w in weights.items()}  # ignores generator


class Infinite(Method):
    def scores(self, model, weights, batches, generator, /, **params):
        return {n: w.detach().abs() / 0.0 for n, w in weights.items()}


class PrunesNothing(Method):  # claims channel pruning but ranks nothing
    def importance(self, **params):
        return lambda group: None


GOOD = Method("good")
WRONG_SHAPE = WrongShape("wrong_shape")
CHANGES_WEIGHTS = ChangesWeights("changes_weights")
UNSEEDED = Unseeded("unseeded")
INFINITE = Infinite("infinite")
BAD_SCOPE = Method("bad_scope", scope="everywhere")
NOT_A_SPEC = Method("not_a_spec")
NOT_A_SPEC.spec = {"id": "not_a_spec"}
PRUNES_NOTHING = PrunesNothing("prunes_nothing", structured=True)
'''

#: method name -> the checks that must fail for it (all its other checks pass)
EXPECTED = {
    "good": set(),
    "wrong_shape": {"scores"},
    "changes_weights": {"clean", "masked model"},
    "unseeded": {"seeded"},
    "infinite": {"finite", "masked model"},
    "bad_scope": {"declares"},
    "not_a_spec": {"declares"},
    "prunes_nothing": {"structured 0.25"},
}


def by_id(results):
    grouped = defaultdict(dict)
    for r in results:
        grouped[r.id][r.check] = r
    return grouped


def test_pruning_methods_have_real_checks():
    assert CHECKS["pruning_methods"] is check_pruning_method


def test_every_table_row_is_registered():
    ids = {c.name for c in MANAGER.contributions("pruning_methods") if c.plugin == "pruning"}
    assert ids == {m.id for m in METHODS}


@pytest.mark.parametrize("contribution", MANAGER.contributions("pruning_methods"),
                         ids=lambda c: c.id)
def test_builtin_pruning_methods_conform(contribution):
    check_pruning_method(MANAGER, contribution)  # strict: raises at the first failure


def test_broken_pruning_methods_fail_exactly_their_broken_check(tmp_path, monkeypatch):
    root = tmp_path / "broken-pruning"
    manifest = ['name = "brokenprune"']
    for name in EXPECTED:
        manifest += ["[[pruning_methods]]", f'name = "{name}"',
                     f'python_name = "broken_pruning_mod:{name.upper()}"']
    write_plugin(root, "brokenprune", "\n".join(manifest) + "\n",
                 {"broken_pruning_mod": BROKEN_PRUNING})
    monkeypatch.setenv(PLUGIN_PATH_ENV, str(root))
    manager = PluginManager()
    manager.discover()
    results = by_id(run_checks(manager, "brokenprune"))
    for name, expected in EXPECTED.items():
        checks = results[f"brokenprune.{name}"]
        failed = {check for check, r in checks.items() if not r.ok}
        assert failed == expected, (name, {c: r.message for c, r in checks.items()})
    wrong = results["brokenprune.wrong_shape"]["scores"].message
    assert "shape" in wrong and "its weight" in wrong
    assert "tensor fc2.bias changed" in results["brokenprune.changes_weights"]["clean"].message
    # a failed fatal step stops the rest: nothing after "scores" ran for wrong_shape
    assert set(results["brokenprune.wrong_shape"]) == {"declares", "scores"}


def test_strict_check_names_the_failing_step(tmp_path, monkeypatch):
    root = tmp_path / "one-broken"
    write_plugin(root, "onebroken", """
        name = "onebroken"
        [[pruning_methods]]
        name = "unseeded"
        python_name = "one_broken_mod:UNSEEDED"
    """, {"one_broken_mod": BROKEN_PRUNING})
    monkeypatch.setenv(PLUGIN_PATH_ENV, str(root))
    manager = PluginManager()
    manager.discover()
    with pytest.raises(ConformanceError, match="onebroken.unseeded seeded"):
        check_pruning_method(manager, manager.get("pruning_methods", "unseeded"))
