"""Benchmark: activation extraction into HDF5 against a bare forward loop.

Both run in this process on the same model and the same batches, interleaved (the order
alternates each repeat), several repeats; the figure is the median throughput ratio
DeepScope / bare (goal >= 0.85). Memory: the peak RSS growth during one extraction of
N/4 samples and of N samples (the job loads the same dataset both times), which must not
grow with N, since activations stream through a bounded queue to disk.

    python bench/extraction.py [--n 20000] [--repeats 5] [--layers layer2,avgpool,fc]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build_resnet3():
    """The zoo's small ResNet on 3-channel 32x32 inputs (the benchmark architecture)."""
    from visualizer.models.zoo import build_resnet

    return build_resnet(in_channels=3, num_classes=10)


class PeakRSS:
    """Sample this process's resident set size every 5 ms in a background thread."""

    def __init__(self):
        self._page = os.sysconf("SC_PAGE_SIZE")
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def _loop(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--layers", default="layer2,avgpool,fc")
    parser.add_argument("--dir", help="where to put the scratch workspace (default: tmp)")
    args = parser.parse_args()

    import torch
    from safetensors.torch import save_file

    from visualizer.analysis.activations import ExtractRequest, extract_activations
    from visualizer.jobs import NullContext
    from visualizer.workspace.workspace import Workspace

    torch.manual_seed(0)
    layers = tuple(args.layers.split(","))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        ws = Workspace.create(tmp / "ws")
        rng = np.random.default_rng(0)
        x = rng.random((args.n, 3, 32, 32), dtype=np.float32)
        y = rng.integers(0, 10, args.n)
        np.savez(tmp / "synthetic.npz", x=x, y=y)
        del x, y
        ws.import_dataset(tmp / "synthetic.npz", "synthetic")
        model = build_resnet3().eval()
        save_file(model.state_dict(), str(tmp / "resnet3.safetensors"))
        ws.import_model(tmp / "resnet3.safetensors", "resnet3",
                        arch=f"{Path(__file__).resolve()}:build_resnet3")

        model = ws.load_model("resnet3")
        x, _ = ws.load_dataset("synthetic").arrays("test")

        def bare() -> float:
            started = time.perf_counter()
            with torch.inference_mode():
                for s in range(0, len(x), args.batch_size):
                    model(torch.from_numpy(x[s:s + args.batch_size]))
            return time.perf_counter() - started

        def deepscope(limit=None) -> tuple[float, PeakRSS]:
            request = ExtractRequest(workspace=str(ws.root), model="resnet3",
                                     dataset="synthetic", layers=layers, device="cpu",
                                     batch_size=args.batch_size, limit=limit)
            with PeakRSS() as rss:
                started = time.perf_counter()
                run_id = extract_activations(request, NullContext())
                seconds = time.perf_counter() - started
            # keep the disk from filling up: the file was complete; drop it
            ws.run(run_id).path.unlink()
            return seconds, rss

        bare()  # warm-up: first-call allocations and thread pools
        bare_times, ds_times = [], []
        for r in range(args.repeats):
            if r % 2 == 0:
                bare_times.append(bare())
                ds_times.append(deepscope()[0])
            else:
                ds_times.append(deepscope()[0])
                bare_times.append(bare())
            print(f"repeat {r + 1}: bare {args.n / bare_times[-1]:8.0f} samples/s   "
                  f"deepscope {args.n / ds_times[-1]:8.0f} samples/s", flush=True)

        _, rss_quarter = deepscope(limit=args.n // 4)
        _, rss_full = deepscope()
        shapes = ws.runs(kind="activations")[-1].params["layer_shapes"].values()
        per_sample_mb = sum(int(np.prod(s)) for s in shapes) * 4 / 2**20
        ratio = statistics.median(bare_times) / statistics.median(ds_times)
        print()
        print(f"workload: {args.n} x 3x32x32 through resnet (in_channels=3), batch "
              f"{args.batch_size}, layers {','.join(layers)} "
              f"({per_sample_mb * args.n:.0f} MiB written per extraction), "
              f"torch threads {torch.get_num_threads()}")
        print(f"bare forward      median {args.n / statistics.median(bare_times):8.0f} samples/s")
        print(f"deepscope extract median {args.n / statistics.median(ds_times):8.0f} samples/s")
        print(f"throughput ratio deepscope/bare = {ratio:.3f}  (goal >= 0.85)")
        print(f"peak RSS growth during extraction: {rss_quarter.growth_mb:7.1f} MiB for "
              f"{args.n // 4} samples, {rss_full.growth_mb:7.1f} MiB for {args.n} samples "
              f"(both include loading the {args.n * 3 * 32 * 32 * 4 / 2**20:.0f} MiB dataset)")
        print(f"peak RSS of the process: {rss_full.peak / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
