import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def cnn_batch(demo_ws_path):
    """The trained cnn and 6 test digits with their predicted classes."""
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.open(demo_ws_path)
    model = ws.load_model("cnn")
    x, _ = ws.load_dataset("digits").arrays("test")
    x = torch.from_numpy(np.ascontiguousarray(x[:6]))
    with torch.no_grad():
        target = model(x).argmax(1)
    return model, x, target


def leftover_hooks(model) -> list[str]:
    found = []
    for name, m in model.named_modules():
        for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks"):
            if getattr(m, kind, None):
                found.append(f"{name or '<model>'}.{kind}")
    from torch.nn.modules import module as M

    for kind in ("_global_forward_hooks", "_global_forward_pre_hooks",
                 "_global_backward_hooks", "_global_backward_pre_hooks"):
        if getattr(M, kind, None):
            found.append(kind)
    return found


class CancelAfter:
    """A job context that cancels at the n-th ``check_cancelled``."""

    def __init__(self, n: int):
        self.n, self.calls, self.partials = n, 0, []

    def progress(self, done, total=None):
        pass

    def status(self, text):
        pass

    def partial(self, obj):
        self.partials.append(obj)

    @property
    def cancelled(self):
        return self.calls >= self.n

    def check_cancelled(self):
        from visualizer.jobs import JobCancelled

        self.calls += 1
        if self.calls >= self.n:
            raise JobCancelled("test")


@pytest.fixture(scope="module")
def scratch_ws_path(demo_ws_path, tmp_path_factory):
    """A module's own copy of the demo workspace: tests here may add runs to it."""
    import shutil

    dest = tmp_path_factory.mktemp("attr-scratch") / "ws"
    shutil.copytree(demo_ws_path, dest)
    return dest
