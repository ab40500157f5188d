"""Projection jobs against references: trustworthiness, Procrustes, reuse, CLI, cancel."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[4]


def _penultimate(run) -> str:
    layers = run.params["layers"]
    assert "relu3" in layers  # digits cnn: ... fc1 -> relu3 -> fc2 (logits)
    return "relu3"


def _activations(run, layer):
    with run.arrays() as a:
        return a[layer][()].reshape(len(a["sample_index"]), -1), a["sample_index"][()]


def _coords(run):
    with run.arrays() as a:
        return a["coords"][()], a["sample_index"][()]


def test_pca_trustworthiness_reuse_and_force(demo_ws, cnn_run):
    from sklearn.manifold import trustworthiness

    layer = _penultimate(cnn_run)
    run = demo_ws.project(cnn_run.id, layer, "pca")
    assert run.kind == "projection" and run.status == "complete"
    coords, ids = _coords(run)
    x, src_ids = _activations(cnn_run, layer)
    assert coords.shape == (len(x), 2) and np.array_equal(ids, src_ids)
    assert trustworthiness(x, coords, n_neighbors=10) >= 0.80
    # The first two principal components, up to sign: compare with scikit-learn.
    from sklearn.decomposition import PCA

    ref = PCA(2).fit_transform(x)
    for k in range(2):
        assert abs(np.corrcoef(ref[:, k], coords[:, k])[0, 1]) > 0.999
    p = run.params
    assert (p["method"], p["layer"], p["source_run"], p["dataset"], p["split"]) == (
        "pca", layer, cnn_run.id, "digits", "test")
    assert demo_ws.project(cnn_run.id, layer, "pca").id == run.id  # reused
    assert demo_ws.project(cnn_run.id, layer, "pca", seed=0).id == run.id  # same inputs
    assert demo_ws.project(cnn_run.id, layer, "pca", force=True).id != run.id
    assert demo_ws.project(cnn_run.id, "fc1", "pca").id != run.id  # other layer


def test_umap_trustworthiness_and_progressive_partials(demo_ws, cnn_run):
    """The one UMAP fit of the suite (numba code comes from the disk cache once warm)."""
    from sklearn.manifold import trustworthiness

    from visualizer.analysis.projection.job import Partial, ProjectRequest, project_job
    from visualizer.jobs.contract import Job, JobRunContext

    layer = _penultimate(cnn_run)
    partials: list[Partial] = []
    job = Job(name="umap")
    job.partial_arrived.connect(partials.append)
    request = ProjectRequest(str(demo_ws.root), cnn_run.id, layer, "umap",
                             options=(("n_epochs", 200),), preview=True,
                             partial_interval=0.0)
    run_id = project_job(request, JobRunContext(job))
    run = demo_ws.run(run_id)
    coords, _ = _coords(run)
    x, _ = _activations(cnn_run, layer)
    assert trustworthiness(x, coords, n_neighbors=10) >= 0.90
    assert run.metrics["trustworthiness_k10"] >= 0.90
    stages = [p.stage for p in partials]
    assert stages[0] == "preview" and "layout" in stages  # PCA at once, then UMAP epochs
    epochs = [p.done for p in partials if p.stage == "layout"]
    assert epochs == sorted(epochs) and epochs[-1] == 200
    assert all(p.coords.shape == (len(x), 2) for p in partials)
    # Reuse through the API with the same options returns the same run.
    assert demo_ws.project(cnn_run.id, layer, "umap", n_epochs=200).id == run_id


def test_cancel_stops_umap_worker_within_5s(demo_ws):
    from tests.visualizer.analysis.projection.conftest import add_synthetic_run
    from visualizer.analysis.projection.job import ProjectRequest, project_job
    from visualizer.jobs import JobState, ProcessRunner

    run_id = add_synthetic_run(demo_ws, n=2000)
    request = ProjectRequest(str(demo_ws.root), run_id, "feat", "umap",
                             options=(("n_epochs", 5000),), partial_interval=0.0)
    statuses = []
    job = ProcessRunner(grace=2.0).submit(project_job, request, name="umap")
    job.status_changed.connect(statuses.append)
    deadline = time.monotonic() + 60
    # Cancel once UMAP runs: in its graph phase (numba code that cannot be interrupted:
    # the worker is terminated after the grace period) or in its epochs (cooperative).
    while (not any(s.startswith("UMAP") for s in statuses) and not job.state.finished
           and time.monotonic() < deadline):
        time.sleep(0.02)
    assert any(s.startswith("UMAP") for s in statuses), (job.state, job.error)
    started = time.monotonic()
    job.cancel()
    assert job.wait(5.0), "the UMAP worker did not stop within 5 s"
    assert time.monotonic() - started < 5.0
    assert job.state is JobState.CANCELLED
    assert demo_ws.runs(kind="projection") == []  # nothing stored, nothing complete


def test_procrustes_recovers_rotated_scaled_copy():
    from visualizer.analysis.projection.align import align_by_ids, procrustes

    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 2))
    theta = 0.7
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    b = 3.5 * a @ rot + np.array([10.0, -4.0])
    fit = procrustes(a, b)
    np.testing.assert_allclose(fit.apply(b), a, atol=1e-5)
    assert fit.disparity < 1e-12 and abs(fit.scale - 1 / 3.5) < 1e-12
    mirrored = b * np.array([-1.0, 1.0])
    fit = procrustes(a, mirrored)
    assert fit.reflected
    np.testing.assert_allclose(fit.apply(mirrored), a, atol=1e-5)
    assert not procrustes(a, mirrored, allow_reflection=False).reflected
    # Pairing by sample id: b lists the samples in another order, with extras.
    ids_a = np.arange(500)
    perm = rng.permutation(500)
    ids_b = np.concatenate([ids_a[perm], [900, 901]])
    coords_b = np.vstack([b[perm], [[0, 0], [1, 1]]])
    fit = align_by_ids(ids_a, a, ids_b, coords_b)
    assert fit.n_common == 500
    np.testing.assert_allclose(fit.apply(coords_b[:500]), a[perm], atol=1e-5)


def test_nearest_neighbours_match_brute_force(demo_ws, cnn_run):
    from visualizer.analysis.projection.neighbors import NeighborsRequest, nearest_neighbors
    from visualizer.jobs import NullContext

    x, ids = _activations(cnn_run, "fc1")
    result = nearest_neighbors(NeighborsRequest(str(demo_ws.root), cnn_run.id, "fc1", 17,
                                                k=8), NullContext())
    d = np.linalg.norm(x - x[17], axis=1)
    d[17] = np.inf
    expected = np.argsort(d, kind="stable")[:8]
    assert np.array_equal(result.ids, ids[expected])
    np.testing.assert_allclose(result.distances, d[expected], rtol=1e-4)


def test_colour_sources_find_per_sample_metrics(demo_ws, cnn_run):
    from visualizer.analysis.projection.colour_sources import load_source, per_sample_sources
    from visualizer.workspace.runfile import RunFileWriter

    # An attribution-like run that scores every other sample.
    ids = np.arange(0, 360, 2)
    with demo_ws.new_run("attribution", model="cnn", dataset="digits",
                         params={"model": "cnn", "dataset": "digits", "split": "test"},
                         provenance={}) as new_run, \
            RunFileWriter(new_run.path, "attribution") as w:
        w.put("sample_index", ids)
        w.put("metrics/deletion_auc", (ids / 1000).astype(np.float32))
        w.put("target", ids % 10)
        w.publish()
    sources = per_sample_sources(demo_ws, "digits", "test", exclude=(cnn_run.id,))
    source = next(s for s in sources if s.name == "metrics/deletion_auc")
    assert source.run_id == new_run.id
    values = load_source(demo_ws, source, np.array([0, 1, 2, 358]))
    np.testing.assert_allclose(values[[0, 2, 3]], [0.0, 0.002, 0.358], rtol=1e-6)
    assert np.isnan(values[1])


def test_bad_inputs_are_clear_errors(demo_ws, cnn_run):
    from visualizer.errors import DeepScopeError

    with pytest.raises(DeepScopeError, match="no layer"):
        demo_ws.project(cnn_run.id, "nope", "pca")
    with pytest.raises(DeepScopeError, match="no parameter"):
        demo_ws.project(cnn_run.id, "fc1", "pca", perplexity=5)
    with pytest.raises(DeepScopeError, match="out of range"):
        demo_ws.project(cnn_run.id, "fc1", "umap", min_dist=5.0)
    with pytest.raises(DeepScopeError):
        demo_ws.project(cnn_run.id, "fc1", "no_such_method")


def test_cli_round_trip(demo_ws, cnn_run):
    def cli(*args):
        out = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    args = ("project", str(demo_ws.root), "--run", cnn_run.id, "--layer", "fc1",
            "--method", "pca", "--json")
    first = json.loads(cli(*args))
    assert first["id"].startswith("proj-") and first["reused"] is False
    assert first["run"]["params"]["layer"] == "fc1"
    second = json.loads(cli(*args))
    assert second["id"] == first["id"] and second["reused"] is True
    plain = cli("project", str(demo_ws.root), "--run", cnn_run.id, "--layer", "fc1",
                "--method", "pca")
    assert plain.splitlines()[0] == first["id"]
    bad = subprocess.run([sys.executable, str(ROOT / "main.py"), "project",
                          str(demo_ws.root), "--run", cnn_run.id, "--layer", "fc1",
                          "--method", "pca", "--perplexity", "5"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "does not apply" in bad.stderr


def test_tsne_streams_layouts_with_iteration_progress_and_matches_sklearn(demo_ws, cnn_run):
    """openTSNE: intermediate layouts and iteration counts while it runs, and a layout as
    trustworthy as scikit-learn's t-SNE on the same input (within 0.02)."""
    from sklearn.manifold import TSNE, trustworthiness

    from visualizer.analysis.projection.job import Partial, ProjectRequest, project_job
    from visualizer.analysis.projection.methods import pca_reduce
    from visualizer.jobs.contract import Job, JobRunContext

    layer = _penultimate(cnn_run)
    partials: list[Partial] = []
    statuses: list[str] = []
    totals: set = set()
    job = Job(name="tsne")
    job.partial_arrived.connect(partials.append)
    job.status_changed.connect(statuses.append)
    job.progressed.connect(lambda done, total: totals.add(total))
    request = ProjectRequest(str(demo_ws.root), cnn_run.id, layer, "tsne",
                             options=(("max_iter", 500),), partial_interval=0.0)
    run = demo_ws.run(project_job(request, JobRunContext(job, min_interval=0.0)))
    coords, _ = _coords(run)
    x, _ = _activations(cnn_run, layer)

    done = [p.done for p in partials if p.stage == "layout"]
    # every 10 iterations (the layout after 9, 19, ... of them), then the final one
    assert done == [*range(9, 500, 10), 500]
    assert {p.total for p in partials} == {500} and totals == {500}
    assert all(p.coords.shape == (len(x), 2) for p in partials)
    np.testing.assert_array_equal(partials[-1].coords, coords)  # the last is the result
    assert any(s.startswith("t-SNE: nearest neighbours and affinities") for s in statuses)
    assert any(s.startswith("t-SNE: early exaggeration (500 iterations)") for s in statuses)
    assert any(s.startswith("t-SNE: optimising layout (500 iterations)") for s in statuses)

    ours = trustworthiness(x, coords, n_neighbors=10)
    fit_input = pca_reduce(x, 50) if x.shape[1] > 50 else x
    reference = TSNE(n_components=2, perplexity=30.0, max_iter=500, init="pca",
                     learning_rate="auto", random_state=0).fit_transform(fit_input)
    theirs = trustworthiness(x, reference, n_neighbors=10)
    assert ours >= theirs - 0.02, (ours, theirs)
    assert run.metrics["trustworthiness_k10"] == pytest.approx(ours, abs=1e-3)
    assert run.params["method"] == "tsne" and run.params["options"]["max_iter"] == 500


def test_cancel_stops_tsne_between_callbacks(demo_ws):
    """Cancel takes effect at the next callback (every 10 iterations), cooperatively: the
    grace period before the worker would be terminated is far longer than the wait."""
    from tests.visualizer.analysis.projection.conftest import add_synthetic_run
    from visualizer.analysis.projection.job import ProjectRequest, project_job
    from visualizer.jobs import JobState, ProcessRunner

    run_id = add_synthetic_run(demo_ws, n=1500)
    request = ProjectRequest(str(demo_ws.root), run_id, "feat", "tsne",
                             options=(("max_iter", 10000),), partial_interval=0.0)
    progress: list[float] = []
    job = ProcessRunner(grace=60.0).submit(project_job, request, name="tsne")
    job.progressed.connect(lambda done, total: progress.append(done))
    deadline = time.monotonic() + 120
    while not progress and not job.state.finished and time.monotonic() < deadline:
        time.sleep(0.02)
    assert progress, (job.state, job.error)
    started = time.monotonic()
    job.cancel()
    assert job.wait(10.0), "t-SNE did not stop at its next callback"
    assert time.monotonic() - started < 10.0
    assert job.state is JobState.CANCELLED
    assert max(progress) < 10000
    assert demo_ws.runs(kind="projection") == []


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan", "correlation",
                                    "chebyshev"])
def test_tsne_takes_every_offered_metric(metric):
    """Every metric of the form works above openTSNE's exact-neighbour size (1,000),
    without a minute of pynndescent compilation, and keeps the neighbourhoods."""
    from sklearn.datasets import make_blobs
    from sklearn.manifold import trustworthiness

    from visualizer.analysis.projection.methods import METRICS, TSNEParams, fit_tsne
    from visualizer.jobs import NullContext

    assert metric in METRICS
    x, _ = make_blobs(n_samples=1100, n_features=10, centers=4, random_state=0)
    x = x.astype(np.float32)
    started = time.monotonic()
    coords = fit_tsne(x, TSNEParams(metric=metric, max_iter=250), ctx=NullContext())
    assert time.monotonic() - started < 30
    assert coords.shape == (1100, 2) and np.isfinite(coords).all()
    assert trustworthiness(x, coords, n_neighbors=10, metric=metric) > 0.85
