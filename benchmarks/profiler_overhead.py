#!/usr/bin/env python3
"""What does the backend's profiler cost? The model with and without it, called alternately.

``benchmark.py --profile`` compares the profiled run with the unprofiled one taken a minute before; on a
busy machine the two differ by the load's drift as much as by the profiler. Here the two instances of the
model (ONNX Runtime: an InferenceSession with and one without ``enable_profiling``; OpenVINO: compiled with and
without ``PERF_COUNT``, ``get_profiling_info()`` read after each call as genet does) take turns, one call
each, one stream on one thread, so that both see the same load: the medians' ratio is the profiler's cost.

Run: python3 benchmarks/profiler_overhead.py genet_gpu.onnx [--batch 16] [--calls 8]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from genet.core.cpuinfo import this_cpu


def ort_pair(model: Path, folder: Path):
    import onnxruntime as ort

    def ort_model(profiled: bool):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        if profiled:
            options.enable_profiling = True
            options.profile_file_prefix = str(folder / "ort")
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    plain, profiled = ort_model(False), ort_model(True)
    return (lambda x: plain.run(None, {"image": x}), lambda x: profiled.run(None, {"image": x}), ort.__version__)


def ov_pair(model: Path, folder: Path):
    import openvino as ov

    core = ov.Core()
    settings = {"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": 1}
    plain = core.compile_model(core.read_model(str(model)), "CPU", settings).create_infer_request()
    counted = core.compile_model(core.read_model(str(model)), "CPU",
                                 {**settings, "PERF_COUNT": True}).create_infer_request()

    def profiled(x):
        counted.infer({0: x})
        counted.get_profiling_info()

    return (lambda x: plain.infer({0: x}), profiled, ov.__version__)


def alternate(plain, profiled, images: np.ndarray, calls: int) -> tuple[float, float]:
    plain(images), profiled(images)                    # warm-up
    times: dict[str, list[float]] = {"plain": [], "profiled": []}
    for _ in range(calls):
        for name, call in (("plain", plain), ("profiled", profiled)):
            start = time.perf_counter()
            call(images)
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["plain"]) * 1000, statistics.median(times["profiled"]) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--calls", type=int, default=8)
    args = parser.parse_args()
    images = np.random.default_rng(0).standard_normal((args.batch, 3, 32, 32), dtype=np.float32)
    print(f"{this_cpu().label()}; ISA flags: {this_cpu().isa_flags()}; load average before {os.getloadavg()[0]:.2f}; "
          f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='minutes')}")
    print(f"{args.model}, batch {args.batch}, {args.calls} calls each, alternating, one stream on one thread")
    with tempfile.TemporaryDirectory(prefix="profiler-overhead-") as folder:
        for name, pair in (("onnxruntime", ort_pair), ("openvino", ov_pair)):
            try:
                plain, profiled, version = pair(args.model, Path(folder))
            except ImportError:
                print(f"{name}: not installed")
                continue
            plain_ms, profiled_ms = alternate(plain, profiled, images, args.calls)
            print(f"{name} {version}: median {plain_ms:.1f} ms unprofiled, {profiled_ms:.1f} ms profiled "
                  f"({100 * (profiled_ms / plain_ms - 1):+.1f}%)")
    print(f"load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
