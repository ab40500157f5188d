"""The conformance checker: it passes the built-ins, and it fails what breaks the rules.

The ``broken`` test plugin (conftest.py) registers attribution and projection methods
that each break one rule, next to two that keep them all: the checker must fail exactly
the broken check of each, through ``run_checks`` and through the real CLI.
"""

import json
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace

import pytest

import plugins.manager
from plugins.api import CONTRIBUTION_KINDS
from plugins.conformance import CHECKS, ConformanceError, NothingToCheck, run_checks, summary
from plugins.manager import PluginManager, get_manager
from tests.plugins.conftest import BROKEN_EXPECTED
from visualizer.cli import main as cli_main
from visualizer.errors import NotFoundError

MANAGER = get_manager()
MODEL_KINDS = ("architectures", "model_loaders", "dataset_sources")


@pytest.fixture
def cli(monkeypatch, capsys, tmp_path):
    """``visualizer.cli.main`` on a freshly discovered manager; ``(rc, stdout, stderr)``."""
    if not os.environ.get(plugins.manager.PLUGIN_PATH_ENV):  # no user plugins in the way
        monkeypatch.setenv(plugins.manager.PLUGIN_PATH_ENV, str(tmp_path / "no-plugins"))

    def run(*args):
        manager = PluginManager()
        manager.discover()
        monkeypatch.setattr(plugins.manager, "_manager", manager)
        rc = cli_main(["plugins", *args])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return run


def by_id(results):
    grouped = defaultdict(dict)
    for r in results:
        grouped[r.id][r.check] = r
    return grouped


def test_every_contribution_kind_has_checks():
    assert set(CHECKS) == set(CONTRIBUTION_KINDS)


@pytest.mark.parametrize("contribution", [c for k in MODEL_KINDS for c in
                                          MANAGER.contributions(k)], ids=lambda c: c.id)
def test_builtin_models_and_data_conform(contribution):
    CHECKS[contribution.kind](MANAGER, contribution)  # strict: raises at the first failure


def test_strict_check_raises_naming_the_check(manager):
    tiny = manager.get("architectures", "tiny")
    with pytest.raises(ConformanceError, match="friendly.tiny classes: output shape"):
        CHECKS["architectures"](manager, replace(tiny, meta={**tiny.meta, "num_classes": 7}))


def test_chaos_plugins_fail_and_good_ones_pass(manager):
    results = by_id(run_checks(manager, "chaos_import"))
    assert not results["chaos_import.boom_arch"]["builds"].ok
    assert "input_shape" in results["chaos_import.boom_arch"]["builds"].message
    assert all(r.ok for r in by_id(run_checks(manager, "friendly"))["friendly.tiny"].values())
    manifest = run_checks(manager, "broken_manifest")
    assert [(r.check, r.ok) for r in manifest] == [("manifest", False)]


def test_broken_methods_fail_exactly_their_broken_check(broken_dir):
    manager = PluginManager()
    manager.discover()
    results = by_id(run_checks(manager, "broken"))
    assert set(results) == set(BROKEN_EXPECTED)
    for cid, expected in BROKEN_EXPECTED.items():
        failed = {name for name, r in results[cid].items() if not r.ok}
        assert failed == expected, (cid, {n: r.message for n, r in results[cid].items()})
    # the good ones went through every check, closed forms included
    assert {"declares", "call", "shape", "finite", "seeded", "clean after success",
            "clean after error", "delta", "completeness"} == set(results["broken.good"])
    assert {"declares", "fit", "finite", "seeded", "quality", "cancel"} == \
        set(results["broken.p_good"])
    reasons = {cid: next(r.message for r in checks.values() if not r.ok)
               for cid, checks in results.items() if BROKEN_EXPECTED[cid]}
    assert "(3, 1, 8, 4)" in reasons["broken.wrong_shape"]
    assert "hooks left" in reasons["broken.leaves_hook"]
    assert "misses f(x) - f(baseline)" in reasons["broken.ignores_baseline"]
    assert "swallowed" in reasons["broken.swallows_error"]
    assert "changed nothing" in reasons["broken.ignores_smooth"]
    assert "below minimum" in reasons["broken.bad_default"]
    assert "trustworthiness" in reasons["broken.p_scrambled"]
    assert "never calls ctx.check_cancelled" in reasons["broken.p_deaf"]
    assert "swallowed" in reasons["broken.p_swallow"]


def test_one_contribution_by_id_and_strict_mode(broken_dir):
    manager = PluginManager()
    manager.discover()
    results = run_checks(manager, "broken.wrong_shape")
    assert {r.id for r in results} == {"broken.wrong_shape"}
    c = manager.get("attribution_methods", "broken.wrong_shape")
    with pytest.raises(ConformanceError, match="broken.wrong_shape shape: attributions"):
        CHECKS[c.kind](manager, c)


def test_unknown_names_and_empty_selections_are_errors(broken_dir):
    manager = PluginManager()
    manager.discover()
    with pytest.raises(NotFoundError, match="nosuch.*known plugins: .*broken.*deepscope"):
        run_checks(manager, "nosuch")
    with pytest.raises(NothingToCheck, match="nothing to check"):
        run_checks(manager, "empty")


def test_cli_fails_on_broken_methods(broken_dir, cli):
    rc, out, err = cli("--check", "broken")
    lines = out.strip().splitlines()
    n_failed = sum(len(v) for v in BROKEN_EXPECTED.values())
    assert rc == 2
    assert "FAIL broken.wrong_shape shape: attributions (3, 1, 8, 4)" in out
    assert "FAIL broken.p_scrambled quality: trustworthiness" in out
    assert "ok   broken.good completeness: linear net" in out
    checks = [ln for ln in lines[:-1] if ln.startswith(("ok   ", "FAIL "))]
    assert len(checks) == len(lines) - 1  # one line per check, then the summary
    assert lines[-1] == f"{len(checks) - n_failed} passed, {n_failed} failed"
    assert err.startswith(f"error: {len(checks) - n_failed} passed, {n_failed} failed:")
    assert "FAIL broken.wrong_shape shape" in err  # the first ten failures, then a count
    assert f"... and {n_failed - 10} more" in err

    rc, out, err = cli("--check", "broken", "--json")
    doc = json.loads(out)
    assert rc == 2 and set(doc) == {"checks", "passed", "failed"}
    assert doc["failed"] == n_failed and doc["passed"] == len(doc["checks"]) - n_failed
    assert {(c["id"], c["check"]) for c in doc["checks"] if not c["ok"]} == {
        (cid, name) for cid, names in BROKEN_EXPECTED.items() for name in names}


def test_cli_unknown_and_empty_exit_2(broken_dir, cli):
    rc, out, err = cli("--check", "nosuch")
    assert rc == 2 and out == ""
    assert "nosuch" in err and "broken" in err and "deepscope" in err
    rc, out, err = cli("--check", "empty")
    assert rc == 2 and "nothing to check" in err and "passed" not in out


@pytest.mark.parametrize("plugin, kind, at_least", [
    ("attribution", "attribution_methods", 18 * 8), ("projection", "projection_methods", 3 * 6)])
def test_cli_checks_builtin_methods(cli, plugin, kind, at_least):
    rc, out, err = cli("--check", plugin)
    lines = out.strip().splitlines()
    assert rc == 0, err
    assert lines[-1] == f"{len(lines) - 1} passed, 0 failed" and len(lines) - 1 >= at_least
    assert all(ln.startswith("ok   ") for ln in lines[:-1])
    ids = {c.id for c in MANAGER.contributions(kind)}
    assert ids == {ln.split()[1] for ln in lines[:-1]}
    if plugin == "attribution":  # the closed form ran where it applies
        for method in ("integrated_gradients", "deeplift", "layer_integrated_gradients"):
            assert f"ok   attribution.{method} completeness: linear net" in out
    else:
        for method in ("pca", "umap", "tsne"):
            assert f"ok   projection.{method} quality: trustworthiness" in out


def test_summary_line():
    from plugins.conformance import CheckResult

    results = [CheckResult("a.b", "k", "x", True), CheckResult("a.b", "k", "y", False, "no")]
    assert summary(results) == "1 passed, 1 failed"
    assert results[1].line() == "FAIL a.b y: no"


@pytest.mark.slow
def test_cli_check_for_plugin_authors(chaos_dir):
    env = {**os.environ, "DEEPSCOPE_PLUGIN_PATH": str(chaos_dir)}
    ok = subprocess.run([sys.executable, "main.py", "plugins", "--check", "friendly"],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and "ok   friendly.tiny builds" in ok.stdout, ok.stderr
    assert ok.stdout.strip().splitlines()[-1] == "4 passed, 0 failed"
    bad = subprocess.run([sys.executable, "main.py", "plugins", "--check", "chaos_import"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "FAIL chaos_import.boom_arch" in bad.stderr
    nosuch = subprocess.run([sys.executable, "main.py", "plugins", "--check", "nosuch"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert nosuch.returncode == 2 and "nosuch" in nosuch.stderr and nosuch.stdout == ""
