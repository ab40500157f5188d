"""Attribution benchmark: the DeepScope job against captum called directly.

Same model, same samples, same batches (the batch size the job chose), same
parameters; the two are interleaved and repeated, and the median ratio
(job time / captum time) is printed for Integrated Gradients, Saliency and Grad-CAM.
The job runs as a user gets it (loading the model and data from the workspace, writing
the HDF5 run, the progressive coarse preview and n_steps escalation for IG) with the
metrics off, since captum computes none. The reference predicts the classes in a
separate pass, as a notebook does; the job does too for IG, but Saliency and Grad-CAM
read them from their own forward pass (see visualizer/analysis/attribution/predictions.py).
Goal: <= 1.1x.

Two workloads: ``digits`` (the demo: the cnn on 360 8x8 digits, where a whole Saliency
pass takes about 30 ms, so the job's fixed cost of opening the workspace, reading the
data and publishing an HDF5 file shows as a large ratio) and ``synthetic32`` (the
zoo ResNet on 2,000 random 3x32x32 images, 200 for Integrated Gradients, a per-sample
cost closer to real use).

    python bench/attribution.py [--quick] [--workload digits|synthetic32|both] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def captum_direct(model, x, method, batch_size, device, n_steps, layer,
                  internal_batch_size=None):
    """What a notebook does: predicted classes, then captum batch by batch (with the same
    ``internal_batch_size`` the job chose, so both do the same computation)."""
    import numpy as np
    import torch
    from captum import attr as ca

    with torch.no_grad():  # predicted classes, batch by batch like the job
        targets = np.concatenate([
            model(torch.from_numpy(x[s:s + batch_size]).to(device)).argmax(1).cpu().numpy()
            for s in range(0, len(x), batch_size)])
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(x[start:start + batch_size]).to(device)
        tb = torch.from_numpy(targets[start:start + batch_size]).to(device)
        with torch.enable_grad():
            if method == "integrated_gradients":
                a = ca.IntegratedGradients(model).attribute(
                    xb, torch.zeros_like(xb), target=tb, n_steps=n_steps,
                    internal_batch_size=internal_batch_size,
                    return_convergence_delta=True)[0]
            elif method == "saliency":
                a = ca.Saliency(model).attribute(xb, target=tb, abs=True)
            else:
                a = ca.LayerGradCam(model, dict(model.named_modules())[layer]).attribute(
                    xb, target=tb, relu_attributions=True)
        out.append(a.detach().cpu().numpy())
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer samples and repeats")
    p.add_argument("--workspace", help="a demo workspace (default: built in a temp folder)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--workload", choices=("digits", "synthetic32", "both"), default="both")
    args = p.parse_args(argv)
    import torch

    from visualizer.analysis.attribution.api import build_request
    from visualizer.analysis.attribution.job import attribute_job, plan_batches, prepared
    from visualizer.jobs import NullContext

    workloads = ("digits", "synthetic32") if args.workload == "both" else (args.workload,)
    repeats = 3 if args.quick else 5
    rows = []
    for workload in workloads:
        if workload == "digits":
            ws = _digits_workspace(args.workspace)
            model_name, dataset, limit, split = "cnn", "digits", (128 if args.quick else 360), "test"
        else:
            ws = _synthetic_workspace(500 if args.quick else 2000)
            model_name, dataset, limit, split = "resnet3", "synthetic", None, "test"
        n_steps = 50
        print(f"[{workload}] torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"device {args.device}, model {model_name}, {repeats} repeats (median)")
        for method in ("integrated_gradients", "saliency", "layer_gradcam"):
            # IG does n_steps forward/backward passes per sample: fewer samples suffice
            n = limit if method != "integrated_gradients" or workload == "digits" \
                else (100 if args.quick else 200)
            request = build_request(ws, model_name, dataset, method, limit=n, split=split,
                                    device=args.device, metrics=False,
                                    **({"n_steps": n_steps}
                                       if method == "integrated_gradients" else {}))
            with prepared(request, NullContext()) as prep:
                plan = plan_batches(prep, request)
                x, layer, device = prep.x, prep.layer, prep.device
            model = ws.load_model(model_name, device=device)
            job_times, ref_times = [], []
            captum_direct(model, x[:8], method, 8, device, n_steps, layer)
            # at least `repeats` rounds, more for short jobs (about 4 s a side): the
            # median of 5 runs of 30 ms varied by +-20 % from one run to the next
            r = 0
            while r < repeats or (sum(ref_times) < 4.0 and r < 100):
                r += 1
                for side in (("job", "ref") if r % 2 == 0 else ("ref", "job")):  # interleaved
                    t0 = time.perf_counter()
                    if side == "job":
                        run_id = attribute_job(request, NullContext())
                        job_times.append(time.perf_counter() - t0)
                        ws.catalog.delete_run(run_id)
                        (ws.root / "runs" / f"{run_id}.h5").unlink(missing_ok=True)
                    else:
                        captum_direct(model, x, method, plan["batch_size"], device,
                                      n_steps, layer, plan.get("internal_batch_size"))
                        ref_times.append(time.perf_counter() - t0)
            job_med, ref_med = statistics.median(job_times), statistics.median(ref_times)
            rows.append((f"{workload}/{method}", plan["batch_size"], job_med, ref_med,
                         job_med / ref_med, len(job_times)))
    print(f"{'workload/method':<34}{'batch':>6}{'runs':>5}{'job s':>9}{'captum s':>10}"
          f"{'job-captum ms':>15}{'ratio':>8}")
    for method, bs, j, r, ratio, runs in rows:
        flag = "" if ratio <= 1.1 else "  (above the 1.1x goal)"
        print(f"{method:<34}{bs:>6}{runs:>5}{j:>9.3f}{r:>10.3f}{(j - r) * 1000:>15.1f}"
              f"{ratio:>7.2f}x{flag}")
    return 0


def _digits_workspace(path):
    from visualizer.demo import DemoRequest, build_demo
    from visualizer.jobs import run_sync
    from visualizer.workspace.workspace import Workspace

    if path:
        return Workspace.open(path)
    ws_path = Path(tempfile.mkdtemp()) / "ws"
    print("building a demo workspace ...", file=sys.stderr)
    run_sync(build_demo, DemoRequest(workspace=str(ws_path), models=("cnn",), device="cpu"))
    return Workspace.open(ws_path)


def build_resnet3():
    """The zoo ResNet on 3-channel 32x32 inputs."""
    from visualizer.models.zoo import build_resnet

    return build_resnet(in_channels=3, num_classes=10)


def _synthetic_workspace(n: int):
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from visualizer.workspace.workspace import Workspace

    tmp = Path(tempfile.mkdtemp())
    ws = Workspace.create(tmp / "ws")
    rng = np.random.default_rng(0)
    np.savez(tmp / "synthetic.npz", x=rng.random((n, 3, 32, 32), dtype=np.float32),
             y=rng.integers(0, 10, n))
    ws.import_dataset(tmp / "synthetic.npz", "synthetic")
    torch.manual_seed(0)
    save_file(build_resnet3().state_dict(), str(tmp / "resnet3.safetensors"))
    ws.import_model(tmp / "resnet3.safetensors", "resnet3",
                    arch=f"{Path(__file__).resolve()}:build_resnet3")
    return ws


if __name__ == "__main__":
    raise SystemExit(main())
