"""Pruning benchmark: a DeepScope sweep against the same pruning written directly with
``torch.nn.utils.prune``, and the measured speed-up of channel pruning.

1. Sweep: 3 methods (global magnitude, random, SNIP) × 4 sparsities, one-shot, each point
   evaluated on the test split, on the digits ``cnn``. DeepScope runs ``sweep_job`` as a
   user gets it (the parent read from the workspace, a copy pruned per point, the model
   and a run file with per-sample columns written, the catalog updated). The baseline is
   what a notebook does for the same points: load the weights, ``prune.global_unstructured``
   (L1, random, or L1 on |w·∂L/∂w| importance scores from one training batch), evaluate,
   ``prune.remove``, save the pruned weights with safetensors. Interleaved, repeated; the
   median ratio of wall time and of CPU time (``time.process_time``: every thread of this
   process) is printed with the min–max over repeats. Goal: ≤ 1.1×.
2. Channel pruning: the zoo ResNet on 3×32×32 inputs, 50% of the channels of every
   prunable layer removed by Torch-Pruning (layer-wise L1 filter norm); parameters, MACs
   and the measured inference time of a batch of 64 (median over interleaved repeats),
   dense ÷ pruned.

    python bench/pruning.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ("magnitude", "random", "snip")
SPARSITIES = (0.5, 0.7, 0.9, 0.95)


def baseline_sweep(weights_path: Path, out_dir: Path, x_train, y_train, x_test, y_test,
                   layers, seed: int = 0, batch_size: int = 64) -> list[float]:
    """The same points written directly with torch.nn.utils.prune; returns accuracies."""
    import torch
    from safetensors.torch import load_file, save_file
    from torch.nn.utils import prune

    from visualizer.models.zoo import build_cnn

    accuracies = []
    for method in METHODS:
        for sparsity in SPARSITIES:
            model = build_cnn()
            model.load_state_dict(load_file(str(weights_path)))
            model.eval()
            modules = dict(model.named_modules())
            params = [(modules[n], "weight") for n in layers]
            total = sum(m.weight.numel() for m, _ in params)
            amount = round(sparsity * total)
            if method == "magnitude":
                prune.global_unstructured(params, pruning_method=prune.L1Unstructured,
                                          amount=amount)
            elif method == "random":
                torch.manual_seed(seed)
                prune.global_unstructured(params, pruning_method=prune.RandomUnstructured,
                                          amount=amount)
            else:  # SNIP: |w * dL/dw| on one seeded training batch
                order = torch.randperm(len(x_train),
                                       generator=torch.Generator().manual_seed(seed))
                idx = order[:batch_size].numpy()
                loss = torch.nn.functional.cross_entropy(
                    model(torch.as_tensor(x_train[idx])),
                    torch.as_tensor(y_train[idx], dtype=torch.long))
                grads = torch.autograd.grad(loss, [m.weight for m, _ in params])
                scores = {(m, "weight"): (m.weight * g).abs().detach()
                          for (m, _), g in zip(params, grads, strict=True)}
                prune.global_unstructured(params, pruning_method=prune.L1Unstructured,
                                          amount=amount, importance_scores=scores)
            with torch.no_grad():
                pred = model(torch.as_tensor(x_test)).argmax(1).numpy()
            accuracies.append(float((pred == y_test).mean()))
            for m, name in params:
                prune.remove(m, name)
            save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                      str(out_dir / f"{method}-{sparsity}.safetensors"))
    return accuracies


def _forget_sweep(ws, sweep_id: str) -> None:
    """Remove what a sweep made, so that the next repeat computes every point again."""
    from visualizer.analysis.pruning import derived

    for point in ws.run(sweep_id).params["points"]:
        derived.remove(ws, point["model"])
        ws.catalog.delete_run(point["run"])
        (ws.root / "runs" / f"{point['run']}.h5").unlink(missing_ok=True)
    ws.catalog.delete_run(sweep_id)
    (ws.root / "runs" / f"{sweep_id}.h5").unlink(missing_ok=True)


def _measure(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.3f} [{min(values):.3f}–{max(values):.3f}]"


def bench_sweep(repeats: int) -> None:
    import torch

    from visualizer.analysis.pruning.api import build_sweep
    from visualizer.analysis.pruning.layers import prunable_layers
    from visualizer.analysis.pruning.sweep import sweep_job
    from visualizer.jobs import NullContext
    from visualizer.workspace.workspace import Workspace

    tmp = Path(tempfile.mkdtemp())
    ws = Workspace.create(tmp / "ws")
    ws.add_builtin_dataset()
    ws.add_zoo_model("cnn", seed=0)
    data = ws.load_dataset("digits")
    (x_train, y_train), (x_test, y_test) = data.arrays("train"), data.arrays("test")
    layers = prunable_layers(ws.load_model("cnn"))
    request = build_sweep(ws, "cnn", "digits", METHODS, SPARSITIES, device="cpu")
    out_dir = tmp / "baseline"
    out_dir.mkdir()
    weights = ws.root / ws.catalog.model("cnn").path
    print(f"[sweep] torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{len(METHODS)} methods × {len(SPARSITIES)} sparsities, one-shot + evaluation on "
          f"{len(x_test)} test digits; {repeats} interleaved repeats")
    times = {"deepscope": ([], []), "baseline": ([], [])}
    accuracies = {}

    def deepscope():
        sweep_id = sweep_job(request, NullContext())
        accuracies["deepscope"] = [p["accuracy"] for p in ws.run(sweep_id).params["points"]]
        _forget_sweep(ws, sweep_id)

    def baseline():
        accuracies["baseline"] = baseline_sweep(weights, out_dir, x_train, y_train, x_test,
                                                y_test, layers)

    baseline(), deepscope()  # warm-up: imports, first autograd call, page cache
    for r in range(repeats):
        for side in (("deepscope", "baseline") if r % 2 else ("baseline", "deepscope")):
            wall, cpu = _measure(deepscope if side == "deepscope" else baseline)
            times[side][0].append(wall)
            times[side][1].append(cpu)
    same = [abs(a - b) < 1e-6 for a, b in zip(accuracies["deepscope"], accuracies["baseline"],
                                              strict=True)]
    print(f"  accuracies equal to the baseline's at {sum(same)} of {len(same)} points "
          "(random pruning draws differently: torch's RandomUnstructured vs seeded scores)")
    print(f"  {'':<12}{'wall s (median [min–max])':>30}{'CPU s (median [min–max])':>30}")
    for side in ("baseline", "deepscope"):
        print(f"  {side:<12}{_summary(times[side][0]):>30}{_summary(times[side][1]):>30}")
    ratios_wall = [d / b for d, b in zip(times["deepscope"][0], times["baseline"][0], strict=True)]
    ratios_cpu = [d / b for d, b in zip(times["deepscope"][1], times["baseline"][1], strict=True)]
    for what, ratios in (("wall", ratios_wall), ("CPU", ratios_cpu)):
        med = statistics.median(ratios)
        print(f"  ratio DeepScope ÷ baseline ({what}): {med:.3f}x "
              f"[{min(ratios):.3f}–{max(ratios):.3f}]"
              f"{'' if med <= 1.1 else '  (above the 1.1x goal)'}")


def bench_channels(repeats: int) -> None:
    import torch

    from visualizer.analysis.pruning.builtin import magnitude_layer
    from visualizer.analysis.pruning.layers import prunable_layers
    from visualizer.analysis.pruning.structured import cost, prune_structured
    from visualizer.models.zoo import build_resnet

    torch.manual_seed(0)
    dense = build_resnet(in_channels=3, num_classes=10).eval()
    pruned = build_resnet(in_channels=3, num_classes=10).eval()
    pruned.load_state_dict(dense.state_dict())
    example = torch.zeros(1, 3, 32, 32)
    prune_structured(pruned, example, prunable_layers(pruned), magnitude_layer, 0.5)
    pruned.eval()
    batch = torch.randn(64, 3, 32, 32)
    times = {"dense": [], "pruned": []}
    with torch.no_grad():
        for m in (dense, pruned):
            for _ in range(3):
                m(batch)
        for r in range(repeats * 10):
            for name in (("dense", "pruned") if r % 2 else ("pruned", "dense")):
                model = dense if name == "dense" else pruned
                t0 = time.perf_counter()
                model(batch)
                times[name].append(time.perf_counter() - t0)
    cd, cp = cost(dense, example, latency=False), cost(pruned, example, latency=False)
    td, tp = statistics.median(times["dense"]), statistics.median(times["pruned"])
    print(f"[channels] zoo ResNet on 3x32x32, 50% of the channels of every prunable layer "
          f"(Torch-Pruning, L1 filter norm), batch 64, {len(times['dense'])} interleaved "
          "forward passes each")
    print(f"  parameters {cd['params']:,} -> {cp['params']:,} ({cd['params'] / cp['params']:.2f}x "
          f"fewer); MACs {cd['macs']:,} -> {cp['macs']:,} ({cd['macs'] / cp['macs']:.2f}x fewer)")
    print(f"  inference {td * 1000:.2f} ms -> {tp * 1000:.2f} ms per batch: "
          f"speed-up {td / tp:.2f}x (measured)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    args = p.parse_args(argv)
    from visualizer.library_warnings import route_library_warnings

    route_library_warnings()
    repeats = 3 if args.quick else 7
    bench_sweep(repeats)
    bench_channels(repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
