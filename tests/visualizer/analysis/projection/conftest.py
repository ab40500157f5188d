"""A synthetic activation run large enough that a UMAP job is still running when cancelled."""

import numpy as np
import pytest


def add_synthetic_run(ws, n: int = 6000, d: int = 16, seed: int = 0) -> str:
    from visualizer.workspace.runfile import RunFileWriter

    rng = np.random.default_rng(seed)
    params = {"model": "cnn", "dataset": "digits", "split": "test", "layers": ["feat"],
              "skipped_layers": [], "device": "cpu", "layer_shapes": {"feat": [d]}}
    with ws.new_run("activations", model="cnn", dataset="digits", params=params,
                    provenance={}) as new_run, \
            RunFileWriter(new_run.path, "activations", {"run_id": new_run.id}) as w:
        centres = rng.normal(size=(10, d)) * 4
        labels = rng.integers(0, 10, n)
        feats = centres[labels] + rng.normal(size=(n, d))
        w.put("activations/feat", feats.astype(np.float32))
        w.file["activations"].attrs["order"] = ["feat"]
        w.put("sample_index", np.arange(n))
        w.put("label", labels)
        w.put("prediction", rng.integers(0, 10, n))
        writer_done = w.publish()
    assert writer_done.exists()
    return new_run.id


@pytest.fixture
def cnn_run(demo_ws):
    return next(r for r in demo_ws.runs(kind="activations") if r.params["model"] == "cnn")
