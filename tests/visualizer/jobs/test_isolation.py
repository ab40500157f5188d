"""Running work in a child process: results, errors, crashes and timeouts.

The crashing functions are stdlib ones (``os._exit``, ``ctypes.string_at(0)``), so the
spawned child can import them without this test module.
"""

from __future__ import annotations

import ctypes
import operator
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from visualizer.data import read_dataset_isolated
from visualizer.data import readers as readers_module
from visualizer.errors import InvalidDatasetError
from visualizer.jobs.isolation import (
    IsolatedCrashError,
    IsolatedTimeoutError,
    RemoteTraceback,
    describe_exitcode,
    run_isolated,
)

pytestmark = pytest.mark.slow  # spawns processes (each start takes a fraction of a second)


def test_result_comes_back() -> None:
    assert run_isolated(operator.add, 2, 3, timeout=60) == 5


def test_exception_is_reraised_with_remote_traceback() -> None:
    with pytest.raises(ValueError, match="invalid literal") as info:
        run_isolated(int, "not a number", timeout=60)
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "Traceback" in str(info.value.__cause__)


def test_exit_code_is_a_crash() -> None:
    with pytest.raises(IsolatedCrashError) as info:
        run_isolated(os._exit, 3, timeout=60)
    assert info.value.exitcode == 3 and "exit code 3" in str(info.value)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_segfault_is_a_crash() -> None:
    with pytest.raises(IsolatedCrashError) as info:
        run_isolated(ctypes.string_at, 0, timeout=60)
    assert info.value.exitcode == -signal.SIGSEGV
    assert "SIGSEGV" in info.value.description


def test_timeout_kills_the_child() -> None:
    start = time.monotonic()
    with pytest.raises(IsolatedTimeoutError):
        run_isolated(time.sleep, 30, timeout=2)
    assert time.monotonic() - start < 15


def test_describe_exitcode() -> None:
    assert describe_exitcode(0) == "exit code 0"
    assert describe_exitcode(-9) == "signal 9 (SIGKILL)"
    assert describe_exitcode(None) == "no exit code"


def test_read_dataset_isolated_reads_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    x = np.random.default_rng(0).random((20, 3), dtype=np.float32)
    np.savez(path, x_train=x[:15], y_train=np.arange(15) % 2, x_test=x[15:], y_test=[0] * 5)
    data = read_dataset_isolated(path, timeout=60)
    np.testing.assert_array_equal(data.x, x)
    assert data.splits["test"].tolist() == [15, 16, 17, 18, 19]


def test_read_dataset_isolated_keeps_the_readers_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.h5"
    path.write_text("not hdf5" * 10)
    with pytest.raises(InvalidDatasetError) as info:
        read_dataset_isolated(path, timeout=60)
    # The error crossed the process boundary with its path and fix intact.
    assert info.value.path == path and info.value.fix
    assert str(path) in str(info.value) and "HDF5" in str(info.value)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_read_dataset_isolated_turns_a_crash_into_an_error(tmp_path, monkeypatch) -> None:
    # A real segfault in a real child stands in for the reader crashing on this file.
    real = readers_module.run_isolated
    monkeypatch.setattr(
        readers_module,
        "run_isolated",
        lambda fn, path, timeout: real(ctypes.string_at, 0, timeout=timeout),
    )
    path = tmp_path / "evil.h5"
    with pytest.raises(InvalidDatasetError) as info:
        read_dataset_isolated(path, timeout=60)
    text = str(info.value)
    assert "crashed while reading" in text and str(path) in text and "SIGSEGV" in text
    assert "Fix:" in text


def test_read_dataset_isolated_timeout(tmp_path, monkeypatch) -> None:
    real = readers_module.run_isolated
    monkeypatch.setattr(
        readers_module,
        "run_isolated",
        lambda fn, path, timeout: real(time.sleep, 30, timeout=timeout),
    )
    with pytest.raises(InvalidDatasetError, match="did not finish within 1 s"):
        read_dataset_isolated(tmp_path / "slow.h5", timeout=1)
