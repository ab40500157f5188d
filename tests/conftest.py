"""Shared fixtures: one trained demo workspace per test session (about 20 s on 2 cores)."""

import os
import shutil

import pytest

# Hermetic plugins: never pick up plugins from the developer's ~/.deepscope/plugins.
os.environ["DEEPSCOPE_PLUGIN_PATH"] = os.path.join(os.path.dirname(__file__), "no-user-plugins")


@pytest.fixture(autouse=True)
def _forget_plugin_failures():
    """Tests that make plugins fail on purpose must not leave failures for later tests."""
    yield
    import plugins.manager

    if plugins.manager._manager is not None:
        for info in plugins.manager._manager.plugins.values():
            info.failures.clear()


@pytest.fixture(scope="session")
def demo_ws_path(tmp_path_factory):
    from visualizer.demo import DemoRequest, build_demo
    from visualizer.jobs import run_sync

    path = tmp_path_factory.mktemp("demo") / "ws"
    # The pruning lab's part of the demo has its own test (tests/visualizer/analysis/
    # pruning/test_demo_pruning.py); here it would only slow every session down.
    run_sync(build_demo, DemoRequest(workspace=str(path), device="cpu", pruning=False))
    return path


@pytest.fixture
def demo_ws(demo_ws_path, tmp_path):
    """A private copy of the demo workspace that a test may change."""
    from visualizer.workspace.workspace import Workspace

    dest = tmp_path / "ws"
    shutil.copytree(demo_ws_path, dest)
    return Workspace.open(dest)
