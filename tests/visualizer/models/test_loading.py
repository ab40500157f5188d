"""Safe model loading: round trips, refusals, malicious pickles, broken files."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from visualizer.errors import DeepScopeError, InvalidModelError, UnsafeModelError
from visualizer.models.loading import (
    build_from_state_dict,
    detect_format,
    load_model_file,
    load_state_dict_file,
    load_trusted_module,
    scan_pickle_globals,
    sha256_file,
    unsafe_globals,
)
from visualizer.models.zoo import build_cnn, build_resnet


class MarkerPayload:
    """Unpickling this runs ``touch <marker>``: stands in for an attacker's payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def resnet() -> nn.Module:
    torch.manual_seed(0)
    model = build_resnet()
    with torch.no_grad():  # non-default batch-norm statistics, so buffers must load too
        model.train()
        model(torch.rand(16, 1, 8, 8))
    return model.eval()


def _same_outputs(a: nn.Module, b: nn.Module, x: torch.Tensor) -> bool:
    with torch.no_grad():
        return torch.allclose(a(x), b(x), atol=0, rtol=0)


def test_sha256_file(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(3_000_000))
    assert sha256_file(path, chunk_size=4096) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_safetensors_round_trip(tmp_path: Path, resnet: nn.Module, digits_batch) -> None:
    path = tmp_path / "resnet.safetensors"
    save_file(resnet.state_dict(), str(path))
    assert detect_format(path) == "safetensors"
    loaded = load_model_file(path, factory=build_resnet)
    assert not loaded.training
    assert _same_outputs(resnet, loaded, digits_batch)
    # a zoo name works as the architecture spec too
    assert _same_outputs(resnet, load_model_file(path, factory="resnet"), digits_batch)


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda sd: sd, id="plain"),
        pytest.param(lambda sd: {"state_dict": sd, "epoch": 3}, id="nested-state_dict"),
        pytest.param(lambda sd: {"model": sd, "optimizer_lr": 0.1}, id="nested-model"),
        pytest.param(lambda sd: {f"module.{k}": v for k, v in sd.items()}, id="dataparallel"),
        pytest.param(
            lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}}, id="both"
        ),
    ],
)
def test_torch_save_state_dict_round_trip(tmp_path, resnet, digits_batch, wrap) -> None:
    path = tmp_path / "resnet.pt"
    torch.save(wrap(resnet.state_dict()), path)
    assert detect_format(path) == "state_dict"
    assert unsafe_globals(path) == []
    state = load_state_dict_file(path)
    assert set(state) == set(resnet.state_dict())
    assert _same_outputs(resnet, load_model_file(path, factory=build_resnet), digits_batch)


def test_real_dataparallel_prefix(tmp_path, digits_batch) -> None:
    model = build_cnn().eval()
    path = tmp_path / "dp.pt"
    torch.save(nn.DataParallel(model).state_dict(), path)
    assert all(k.startswith("module.") for k in torch.load(path, weights_only=True))
    assert _same_outputs(model, load_model_file(path, factory=build_cnn), digits_batch)


def test_legacy_torch_save_format(tmp_path, digits_batch) -> None:
    model = build_cnn().eval()
    path = tmp_path / "legacy.pt"
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=False)
    assert detect_format(path) == "state_dict"
    assert _same_outputs(model, load_model_file(path, factory=build_cnn), digits_batch)


def test_weights_without_architecture(tmp_path, resnet) -> None:
    path = tmp_path / "w.safetensors"
    save_file(resnet.state_dict(), str(path))
    with pytest.raises(DeepScopeError, match="holds only weights.*--arch") as info:
        load_model_file(path)
    assert str(path) in str(info.value)


def test_wrong_architecture(tmp_path, resnet) -> None:
    path = tmp_path / "resnet.pt"
    torch.save(resnet.state_dict(), path)
    with pytest.raises(InvalidModelError) as info:
        load_model_file(path, factory=build_cnn)
    message = str(info.value)
    assert "missing keys" in message and "unexpected keys" in message
    assert str(path) in message and "architecture" in message
    with pytest.raises(InvalidModelError, match="shape mismatches: fc.weight"):
        build_from_state_dict(resnet.state_dict(), lambda: build_resnet(num_classes=5), path)


def test_factory_must_return_a_module(resnet) -> None:
    with pytest.raises(DeepScopeError, match="not an nn.Module"):
        build_from_state_dict(resnet.state_dict(), lambda: 42)


# --- the malicious pickle ---------------------------------------------------------------


def _evil_files(tmp_path: Path, marker: Path) -> dict[str, Path]:
    payload = {"fc.weight": torch.zeros(2, 2), "extra": MarkerPayload(marker)}
    files = {
        "zip": tmp_path / "evil.pt",
        "zip-protocol4": tmp_path / "evil4.pt",
        "legacy": tmp_path / "evil_legacy.pt",
        "raw-pickle": tmp_path / "evil.pkl",
    }
    torch.save(payload, files["zip"])
    torch.save(payload, files["zip-protocol4"], pickle_protocol=4)  # STACK_GLOBAL
    torch.save(payload, files["legacy"], _use_new_zipfile_serialization=False)
    files["raw-pickle"].write_bytes(pickle.dumps(MarkerPayload(marker), protocol=4))
    return files


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for kind, path in _evil_files(tmp_path, marker).items():
        assert "posix.system" in scan_pickle_globals(path) or "os.system" in scan_pickle_globals(
            path
        ), kind
        assert detect_format(path) == "pickled_module", kind
        for load in (
            lambda p: load_model_file(p, factory=build_cnn),
            load_model_file,
            load_state_dict_file,
        ):
            with pytest.raises(UnsafeModelError) as info:
                load(path)
            message = str(info.value)
            assert str(path) in message and "system" in message, (kind, message)
            assert "--trust" in message
        assert not marker.exists(), kind


def test_malicious_pickle_is_refused_before_torch_load(tmp_path: Path, monkeypatch) -> None:
    # The static scan is the barrier, not torch's unpickler: torch.load is never reached.
    def _no_torch_load(*args, **kwargs):
        raise AssertionError("torch.load was called on a malicious file")

    monkeypatch.setattr(torch, "load", _no_torch_load)
    marker = tmp_path / "pwned"
    for path in _evil_files(tmp_path, marker).values():
        with pytest.raises(UnsafeModelError):
            load_state_dict_file(path)
        with pytest.raises(UnsafeModelError):
            load_model_file(path, factory=build_cnn)
    assert not marker.exists()


def test_malicious_pickle_refused_with_torch_force_no_weights_only_load(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    files = _evil_files(tmp_path, marker)
    script = textwrap.dedent(
        """
        import sys
        from visualizer.errors import UnsafeModelError
        from visualizer.models.loading import load_model_file, load_state_dict_file
        from visualizer.models.zoo import build_cnn
        for path in sys.argv[1:]:
            for load in (load_state_dict_file, lambda p: load_model_file(p, factory=build_cnn)):
                try:
                    load(path)
                except UnsafeModelError as exc:
                    assert path in str(exc) and "system" in str(exc), str(exc)
                else:
                    sys.exit(f"loaded {path}")
        print("all refused")
        """
    )
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, files.values())],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all refused" in result.stdout
    assert not marker.exists()


# --- code-running formats need trust ----------------------------------------------------


@pytest.fixture
def cnn() -> nn.Module:
    torch.manual_seed(1)
    return build_cnn().eval()


def _check_trust_gate(path: Path, fmt: str, model: nn.Module, x: torch.Tensor) -> None:
    assert detect_format(path) == fmt
    digest = sha256_file(path)
    with pytest.raises(UnsafeModelError) as info:
        load_model_file(path)
    message = str(info.value)
    assert digest in message and str(path) in message and "--trust" in message
    with pytest.raises(UnsafeModelError):
        load_model_file(path, factory=build_cnn)  # an architecture does not bypass it
    with pytest.raises(UnsafeModelError):
        load_trusted_module(path, fmt, trust=False)
    loaded = load_model_file(path, trust=True)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_needs_trust(tmp_path, cnn, digits_batch) -> None:
    path = tmp_path / "cnn.torchscript.pt"
    torch.jit.save(torch.jit.trace(cnn, digits_batch), str(path))
    _check_trust_gate(path, "torchscript", cnn, digits_batch)


def test_pickled_module_needs_trust(tmp_path, cnn, digits_batch) -> None:
    path = tmp_path / "cnn_full.pt"
    torch.save(cnn, path)
    _check_trust_gate(path, "pickled_module", cnn, digits_batch)
    assert not load_model_file(path, trust=True).training


def test_trusted_checkpoint_dict_with_python_objects(tmp_path, cnn, digits_batch) -> None:
    import numpy as np

    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": cnn.state_dict(), "best_acc": np.float64(0.97)}, path)
    assert detect_format(path) == "pickled_module"  # numpy scalars are not weights-only
    with pytest.raises(UnsafeModelError, match="numpy"):
        load_model_file(path, factory=build_cnn)
    with pytest.raises(DeepScopeError, match="checkpoint dict.*--arch"):
        load_model_file(path, trust=True)
    loaded = load_model_file(path, factory=build_cnn, trust=True)
    assert _same_outputs(cnn, loaded, digits_batch)


@pytest.mark.slow
def test_torch_export_needs_trust(tmp_path, cnn, digits_batch) -> None:
    path = tmp_path / "cnn.pt2"
    torch.export.save(torch.export.export(cnn, (digits_batch,)), str(path))
    _check_trust_gate(path, "export", cnn, digits_batch)


# --- broken files -----------------------------------------------------------------------


def _broken_files(tmp_path: Path, model: nn.Module) -> dict[str, Path]:
    st, pt = tmp_path / "ok.safetensors", tmp_path / "ok.pt"
    save_file(model.state_dict(), str(st))
    torch.save(model.state_dict(), pt)
    legacy = tmp_path / "ok_legacy.pt"
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    files = {
        "truncated-safetensors": st.read_bytes()[: st.stat().st_size // 2],
        "safetensors-header-only": st.read_bytes()[:12],
        "truncated-zip": pt.read_bytes()[: pt.stat().st_size // 2],
        "zip-missing-tail": pt.read_bytes()[:-30],
        "truncated-legacy": legacy.read_bytes()[:200],
        "random-bytes": os.urandom(4096),
        "empty": b"",
        "text": b"hello, not a model\n",
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp_path / f"{name}.bin"
        out[name].write_bytes(data)
    return out


def test_broken_files_are_invalid_model_errors(tmp_path, cnn) -> None:
    for kind, path in _broken_files(tmp_path, cnn).items():
        with pytest.raises(InvalidModelError) as info:
            load_model_file(path, factory=build_cnn)
        assert str(path) in str(info.value), kind
        with pytest.raises(InvalidModelError):
            load_state_dict_file(path)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(DeepScopeError, match="no such model file"):
        load_model_file(tmp_path / "nope.pt", factory=build_cnn)


def test_checkpoint_without_tensors(tmp_path) -> None:
    path = tmp_path / "meta.pt"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(InvalidModelError, match="no tensors.*epoch"):
        load_state_dict_file(path)


MODULE_SOURCE = textwrap.dedent("""
    import torch.nn as nn

    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))
""")


@pytest.fixture
def pickled_from_temp_module(tmp_path, monkeypatch):
    """A full model pickled from a class in a temporary module that is then gone: removed
    from sys.path and sys.modules, as in a later session or another folder."""
    folder = tmp_path / "code"
    folder.mkdir()
    name = f"tinynet_{os.getpid()}"
    (folder / f"{name}.py").write_text(MODULE_SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    module = __import__(name)
    torch.manual_seed(0)
    model = module.TinyNet().eval()
    path = tmp_path / "tiny_full.pt"
    torch.save(model, path)
    sys.path.remove(str(folder))
    del sys.modules[name]
    return path, name, folder, model


def test_a_pickle_whose_module_is_gone_names_it(pickled_from_temp_module) -> None:
    from visualizer.models.loading import check_pickle_imports
    from visualizer.models.pickle_scan import pickle_modules

    path, name, folder, model = pickled_from_temp_module
    assert pickle_modules(path)[name] == ["TinyNet"]
    with pytest.raises(InvalidModelError) as err:
        load_model_file(path, trust=True)
    text = str(err.value)
    assert f"the pickle needs module `{name}` which is not importable" in text
    assert "--arch file.py:factory" in text and "PYTHONPATH" in text
    assert "re-save or re-download" not in text
    with pytest.raises(InvalidModelError, match=name):
        check_pickle_imports(path)
    # with the module back on the path it loads, and it is named as the user's own code
    sys.path.insert(0, str(folder))
    try:
        loaded = load_model_file(path, trust=True)
        x = torch.rand(3, 1, 8, 8)
        assert _same_outputs(model, loaded, x)
        local = check_pickle_imports(path)
        assert list(local) == [name] and local[name].endswith(f"{name}.py")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)


def test_a_pickle_of_a_missing_class_names_it(pickled_from_temp_module) -> None:
    path, name, folder, _ = pickled_from_temp_module
    (folder / f"{name}.py").write_text("x = 1\n")  # the class was renamed away
    sys.path.insert(0, str(folder))
    try:
        with pytest.raises(InvalidModelError, match=f"needs `TinyNet` from module `{name}`"):
            load_model_file(path, trust=True)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)


def test_a_class_from_a_script_main_is_named(tmp_path) -> None:
    main = sys.modules["__main__"]

    class ScriptNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

    ScriptNet.__module__, ScriptNet.__qualname__ = "__main__", "ScriptNet"
    main.ScriptNet = ScriptNet  # as a script that defines the class and saves the model
    try:
        torch.save(ScriptNet(), tmp_path / "script.pt")
    finally:
        del main.ScriptNet
    with pytest.raises(InvalidModelError, match="needs class `ScriptNet` from `__main__`"):
        load_model_file(tmp_path / "script.pt", trust=True)


def test_pickled_import_checks_modules_and_warns(tmp_path, pickled_from_temp_module) -> None:
    from visualizer.workspace.workspace import Workspace

    path, name, folder, _ = pickled_from_temp_module
    ws = Workspace.create(tmp_path / "ws")
    with pytest.raises(InvalidModelError, match=f"module `{name}`"):
        ws.import_model(path, "tiny", trust=True)
    assert ws.models() == [] and list((ws.root / "models").iterdir()) == []
    sys.path.insert(0, str(folder))
    try:
        rec = ws.import_model(path, "tiny", trust=True, input_shape=(1, 8, 8))
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)
    [warning] = rec.info["warnings"]
    assert f"`{name}`" in warning and "--arch file.py:factory" in warning
    # later, without the module: the error names it at first use too
    with pytest.raises(InvalidModelError, match=f"module `{name}` which is not importable"):
        ws.load_model("tiny")


def test_a_zoo_model_pickle_needs_no_warning(tmp_path, cnn) -> None:
    from visualizer.models.loading import check_pickle_imports

    torch.save(cnn, tmp_path / "cnn_full.pt")
    assert check_pickle_imports(tmp_path / "cnn_full.pt") == {}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_import_warns_that_hooks_do_not_run(tmp_path, cnn, digits_batch) -> None:
    from visualizer.workspace.workspace import Workspace

    path = tmp_path / "cnn.ts.pt"
    torch.jit.save(torch.jit.script(cnn), str(path))
    ws = Workspace.create(tmp_path / "ws")
    rec = ws.import_model(path, "ts", trust=True)
    [warning] = rec.info["warnings"]
    assert "TorchScript" in warning and "extract" in warning and "hook" in warning
    torch.save(cnn.state_dict(), tmp_path / "w.pt")
    assert "warnings" not in ws.import_model(tmp_path / "w.pt", "w", arch="cnn").info
