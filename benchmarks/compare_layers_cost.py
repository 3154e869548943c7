#!/usr/bin/env python3
"""What compare_layers.py costs: time and peak memory of four runs over 200 images of WRN-16-8, against the
same four runs' plain inference.

WRN-16-8 with random-init weights (random seed 0), exported to ONNX and quantized to QDQ int8 (64 standard-normal
calibration images); 200 standard-normal images (not CIFAR-10: only the cost is measured here). The four
runs of the issue's first example: the checkpoint in PyTorch (the reference), the fp32 and the int8 ONNX
models on ONNX Runtime, and the fp16 emulation (``--fp16``). Each measurement is a fresh process running
this script with ``--measure``; its time runs from after the imports to the end (models loaded and every
image done), its peak memory is the kernel's high-water mark of the process's resident memory (VmHWM):

- plain: the four runs' inference of the images in batches of 8 with genet's runners (PyTorch with its
  BatchNorms folded, ONNX Runtime for fp32, int8 and the fp16 emulation's model), all four loaded at once;
- accumulated: ``compare_layers.py ... --no-isolated``;
- accumulated + isolated: ``compare_layers.py ...`` (the default).

Run: python3 benchmarks/compare_layers_cost.py [--count 200] [--output benchmarks/results/compare_layers_cost.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BATCH = 8
MEASUREMENTS = ("plain", "accumulated", "accumulated + isolated")


def prepare(work: Path, count: int) -> None:
    """The checkpoint, its fp32 and int8 exports, the fp16 emulation's model and the images, in ``work``."""
    import numpy as np
    import onnx
    import torch

    from genet.convert.export import export_onnx
    from genet.convert.quantize import load_fp32_model, quantize_static_int8
    from genet.core.constants import PACKED_IMAGES
    from genet.layers.graph_copies import fp16_copy, graph_layers
    from genet.model.checkpoint import save_checkpoint
    from genet.model.network import build_model
    from genet.model.variant import Variant

    torch.manual_seed(0)
    model = build_model(Variant(depth=16, width=8)).eval()
    save_checkpoint(work / "genet.pth.tar", model)
    export_onnx(model, work / "genet_gpu.onnx")
    calibration = np.random.default_rng(1).standard_normal((64, 3, 32, 32), dtype=np.float32)
    fp32, static = load_fp32_model(work / "genet_gpu.onnx")
    quantize_static_int8(fp32, work / "genet_int8.onnx", calibration, "minmax", static)
    exported = onnx.load(str(work / "genet_gpu.onnx"))
    onnx.save(fp16_copy(exported, graph_layers(exported)[0])[0], str(work / "genet_fp16_emulated.onnx"))
    (work / "prep").mkdir()
    np.save(work / "prep" / PACKED_IMAGES, np.random.default_rng(0).standard_normal((count, 3, 32, 32),
                                                                                     dtype=np.float32))


def measure_plain(work: Path, count: int) -> None:
    import numpy as np

    from genet.runners import RunnerOptions, open_runner

    images = np.load(work / "prep" / "images.npy")
    runners = [open_runner(work / "genet.pth.tar", "torch", RunnerOptions(device="cpu")),
               *(open_runner(work / name, "onnxruntime", RunnerOptions(device="cpu"))
                 for name in ("genet_gpu.onnx", "genet_int8.onnx", "genet_fp16_emulated.onnx"))]
    for start in range(0, count, BATCH):
        for runner in runners:
            runner.run(images[start:start + BATCH])


def measure_compare(work: Path, count: int, isolated: bool) -> None:
    from genet.cli.compare_layers import main

    argv = [str(work / "genet.pth.tar"), str(work / "genet_gpu.onnx"), str(work / "genet_int8.onnx"), "--fp16",
            "--images", str(work / "prep"), "--count", str(count), "--batch-size", str(BATCH),
            "-o", str(work / f"layers_{'isolated' if isolated else 'accumulated'}"), "--report-only", "--quiet"]
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            main(argv + ([] if isolated else ["--no-isolated"]))
        finally:
            sys.stdout = stdout


def measure(which: str, work: Path, count: int) -> None:
    """One measurement in this process: prints its seconds and peak RSS as JSON."""
    started = time.perf_counter()
    if which == "plain":
        measure_plain(work, count)
    else:
        measure_compare(work, count, isolated=which != "accumulated")
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak resident memory: VmHWM of /proc/self/status (ru_maxrss would also count the RSS
    the process had before its exec, i.e. the parent's at the fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def versions() -> str:
    import numpy
    import onnxruntime
    import torch

    return f"python {platform.python_version()}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, " \
           f"numpy {numpy.__version__}"


def load_words(before: str) -> str:
    """Whether other jobs shared the machine: the 1-minute load average before the runs against half the cores
    (the runs themselves add up to one core after)."""
    busy = float(before.split()[0]) > 0.5 * (os.cpu_count() or 1)
    return "measured while other jobs ran" if busy else "the machine idle but for this benchmark"


def report(results: dict[str, dict], count: int, command: str, loads: tuple, started: str) -> str:
    from genet.core.cpuinfo import this_cpu

    plain = results["plain"]
    lines = ["# compare_layers.py: cost of four runs against their plain inference", "",
             f"- command: `{command}`",
             f"- date: {started} UTC",
             f"- machine: {this_cpu().label()}; ISA flags: {this_cpu().isa_flags()}",
             f"- load average before {loads[0]}, after {loads[1]}: {load_words(loads[0])}",
             f"- versions: {versions()}",
             f"- WRN-16-8, random-init weights (seed 0); {count} standard-normal images (not CIFAR-10), batches of "
             f"{BATCH}; runs: genet.pth.tar (PyTorch, reference), genet_gpu.onnx and genet_int8.onnx (ONNX Runtime), "
             f"--fp16 (emulation on ONNX Runtime)",
             "- each row one fresh process: seconds from after the imports to the end (loading included), peak RSS "
             "the process's high-water mark (VmHWM)", "",
             "| what | seconds | ms per image | peak RSS MiB | time × plain | memory × plain |",
             "|---|--:|--:|--:|--:|--:|"]
    for name in MEASUREMENTS:
        r = results[name]
        lines.append(f"| {name} | {r['seconds']:.1f} | {1000 * r['seconds'] / count:.1f} | {r['peak_rss_mib']:.0f} | "
                     f"{r['seconds'] / plain['seconds']:.1f} | {r['peak_rss_mib'] / plain['peak_rss_mib']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "compare_layers_cost.md")
    parser.add_argument("--measure", choices=MEASUREMENTS, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.work, args.count)
        return 0
    command = "python3 benchmarks/compare_layers_cost.py" + (f" --count {args.count}" if args.count != 200 else "")
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results = {}
    with tempfile.TemporaryDirectory(prefix="compare-layers-cost-") as scratch:
        work = Path(scratch)
        prepare(work, args.count)
        for name in MEASUREMENTS:
            done = subprocess.run([sys.executable, __file__, "--measure", name, "--work", str(work), "--count",
                                   str(args.count)], capture_output=True, text=True, check=False)
            if done.returncode:
                print(done.stderr, file=sys.stderr)
                return done.returncode
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{name}: {results[name]}", file=sys.stderr)
    loads = (load_before, " ".join(f"{x:.2f}" for x in os.getloadavg()))
    text = report(results, args.count, command, loads, started)
    print(text)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
