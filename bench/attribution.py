"""Attribution benchmark: the DeepScope job against captum called directly.

Same model, same samples, same batches (the batch size the job chose), same
parameters; the two are interleaved and repeated, and the median ratio
(job time / captum time) is printed for Integrated Gradients, Saliency and Grad-CAM.
The job runs as a user gets it (loading the model and data from the workspace, writing
the HDF5 run, the progressive coarse preview for IG) with the metrics off, since captum
computes none. Goal: <= 1.1x.

    python bench/attribution.py [--quick] [--workspace WS] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def captum_direct(model, x, method, batch_size, device, n_steps, layer):
    """What a notebook does: predicted classes, then captum batch by batch."""
    import torch
    from captum import attr as ca

    with torch.no_grad():
        targets = model(torch.from_numpy(x).to(device)).argmax(1).cpu().numpy()
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(x[start:start + batch_size]).to(device)
        tb = torch.from_numpy(targets[start:start + batch_size]).to(device)
        with torch.enable_grad():
            if method == "integrated_gradients":
                a = ca.IntegratedGradients(model).attribute(
                    xb, torch.zeros_like(xb), target=tb, n_steps=n_steps,
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
    args = p.parse_args(argv)
    import numpy as np
    import torch

    from visualizer.analysis.attribution.api import build_request
    from visualizer.analysis.attribution.job import attribute_job, plan_batches, prepare
    from visualizer.jobs import NullContext, run_sync
    from visualizer.workspace.workspace import Workspace

    if args.workspace:
        ws_path = Path(args.workspace)
    else:
        from visualizer.demo import DemoRequest, build_demo

        ws_path = Path(tempfile.mkdtemp()) / "ws"
        print("building a demo workspace ...", file=sys.stderr)
        run_sync(build_demo, DemoRequest(workspace=str(ws_path), models=("cnn",),
                                         device="cpu"))
    ws = Workspace.open(ws_path)
    limit = 128 if args.quick else 360
    repeats = 3 if args.quick else 7
    n_steps = 50
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device "
          f"{args.device}, {limit} samples, {repeats} repeats (median)")
    rows = []
    for method in ("integrated_gradients", "saliency", "layer_gradcam"):
        request = build_request(ws, "cnn", "digits", method, limit=limit, device=args.device,
                                metrics=False, **({"n_steps": n_steps}
                                                  if method == "integrated_gradients" else {}))
        prepared = prepare(request, NullContext())
        plan = plan_batches(prepared, request)
        model = ws.load_model("cnn", device=prepared.device)
        x = prepared.x
        layer = prepared.layer
        job_times, ref_times = [], []
        captum_direct(model, x[:8], method, 8, prepared.device, n_steps, layer)
        for _ in range(repeats):
            t0 = time.perf_counter()
            run_id = attribute_job(request, NullContext())
            job_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = captum_direct(model, x, method, plan["batch_size"],
                                prepared.device, n_steps, layer)
            ref_times.append(time.perf_counter() - t0)
            ws.catalog.delete_run(run_id)
            (ws_path / "runs" / f"{run_id}.h5").unlink(missing_ok=True)
        ref_all = np.concatenate(ref)
        del ref_all
        job_med, ref_med = statistics.median(job_times), statistics.median(ref_times)
        rows.append((method, plan["batch_size"], job_med, ref_med, job_med / ref_med))
    print(f"{'method':<22}{'batch':>6}{'job s':>9}{'captum s':>10}{'ratio':>8}")
    for method, bs, j, r, ratio in rows:
        flag = "" if ratio <= 1.1 else "  (above the 1.1x goal)"
        print(f"{method:<22}{bs:>6}{j:>9.3f}{r:>10.3f}{ratio:>7.2f}x{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
