import subprocess
import sys

import pytest

from plugins.conformance import CHECKS, ConformanceError, run_checks
from plugins.manager import get_manager

MANAGER = get_manager()
CONTRIBUTIONS = [c for kind in CHECKS for c in MANAGER.contributions(kind)]


@pytest.mark.parametrize("contribution", CONTRIBUTIONS, ids=lambda c: c.id)
def test_every_registered_contribution_conforms(contribution):
    CHECKS[contribution.kind](MANAGER, contribution)


def test_conformance_catches_a_broken_plugin(manager):
    # the chaos fixtures: an architecture whose import fails, one without input_shape
    results = {r.id: r for r in run_checks(manager)}
    assert not results["chaos_import.boom_arch"].ok
    assert "input_shape" in results["chaos_import.boom_arch"].message
    assert results["friendly.tiny"].ok


def test_checks_fail_loudly_on_contract_breaks(manager):
    from dataclasses import replace

    tiny = manager.get("architectures", "tiny")
    with pytest.raises(ConformanceError, match="output shape"):
        CHECKS["architectures"](manager, replace(tiny, meta={**tiny.meta, "num_classes": 7}))


@pytest.mark.slow
def test_cli_check_for_plugin_authors(chaos_dir):
    import os

    env = {**os.environ, "DEEPSCOPE_PLUGIN_PATH": str(chaos_dir)}
    ok = subprocess.run([sys.executable, "main.py", "plugins", "--check", "friendly"],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and "friendly.tiny" in ok.stdout, ok.stderr
    bad = subprocess.run([sys.executable, "main.py", "plugins", "--check", "chaos_import"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "FAIL chaos_import.boom_arch" in bad.stderr
