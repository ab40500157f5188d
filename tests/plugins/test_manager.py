import json
import subprocess
import sys

import numpy as np
import pytest

from plugins.api import PluginError
from plugins.manager import PluginManager
from visualizer.errors import NotFoundError
from visualizer.workspace.workspace import Workspace


def test_builtins_register_through_the_entry_point():
    m = PluginManager()
    m.discover()
    builtin = m.plugins["deepscope"]
    assert builtin.source.startswith("entry point")
    ids = {c.id for c in builtin.contributions}
    assert {"deepscope.mlp", "deepscope.cnn", "deepscope.resnet", "deepscope.digits",
            "deepscope.npz", "deepscope.hdf5", "deepscope.image_folder",
            "deepscope.weights", "deepscope.module"} <= ids
    assert m.get("architectures", "cnn").id == "deepscope.cnn"
    assert m.get("architectures", "deepscope.cnn").id == "deepscope.cnn"


def test_discovery_reads_manifests_without_importing_code(manager):
    assert "chaos_import_mod" not in sys.modules
    assert manager.plugins["chaos_import"].state == "ok"  # nothing ran yet
    assert manager.plugins["broken_manifest"].state == "errored"
    assert "manifest" in manager.plugins["broken_manifest"].failures[0].hook


def test_import_failure_is_contained_and_named(manager):
    reported = []
    manager.failure_reported.connect(reported.append)
    contribution = manager.get("architectures", "boom_arch")
    with pytest.raises(PluginError) as err:
        manager.load(contribution)
    assert "chaos_import" in str(err.value) and "chaos on import" in str(err.value)
    assert manager.plugins["chaos_import"].state == "errored"
    assert reported and reported[0].plugin == "chaos_import"
    assert "Traceback" in reported[0].traceback
    # other plugins still work
    model = manager.call(manager.get("architectures", "tiny"))
    assert model(__import__("torch").zeros(2, 4)).shape == (2, 3)


def test_hook_failure_is_contained_and_named(manager):
    contribution = manager.get("dataset_sources", "boom_source")
    with pytest.raises(PluginError, match="chaos_hook.*ZeroDivisionError"):
        manager.call(contribution, "x.chaos", hook="read x.chaos")
    failure = manager.plugins["chaos_hook"].failures[-1]
    assert failure.hook == "read x.chaos"


def test_unknown_contribution_lists_known_ids(manager):
    with pytest.raises(NotFoundError, match="deepscope.cnn"):
        manager.get("architectures", "vgg")


def _cli(*args, env_root=None):
    import os

    env = dict(os.environ)
    if env_root is not None:
        env["DEEPSCOPE_PLUGIN_PATH"] = str(env_root)
    return subprocess.run([sys.executable, "main.py", *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.slow
def test_cli_keeps_working_with_chaos_plugins(chaos_dir, tmp_path):
    result = _cli("plugins", "--json", env_root=chaos_dir)
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert plugins["broken_manifest"]["state"] == "errored"
    assert plugins["deepscope"]["state"] == "ok"

    ws = Workspace.create(tmp_path / "ws")
    bad = tmp_path / "data.chaos"
    np.save(tmp_path / "unused.npy", np.zeros(3))
    bad.write_bytes(b"whatever")
    result = _cli("import-data", str(ws.root), str(bad), "--name", "d", env_root=chaos_dir)
    assert result.returncode == 2
    assert "chaos_hook" in result.stderr and "Traceback" not in result.stderr
    result = _cli("info", str(ws.root), "--json", env_root=chaos_dir)
    assert result.returncode == 0 and json.loads(result.stdout)["datasets"] == []
