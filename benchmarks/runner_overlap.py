#!/usr/bin/env python3
"""Does benchmark.py overlap reading, inference and writing?

Over N generated images (default 10,000 random float32 .bin files: generated data, not
CIFAR-10) with ONNX Runtime on the CPU at batch 16, for each model:

  (1) end-to-end: wall time of a whole ``python3 benchmark.py <the guide's flags>`` process
      (interpreter start, model load and warm-up included), measured from outside;
  (2) pure inference: the same 625 batches through the same runner, inputs already in memory,
      one call at a time as benchmark.py runs them;
  (3) bare I/O: reading the N .bin files and writing the N text dumps, no model, one thread;

and prints (1) / max(2, 3), target ≤ 1.15. Models: WRN-10-2 (inference and I/O of a
similar order) and WRN-16-8 (the guide's model; inference dominates), both with random-init
weights — the weights do not change the work, only the logits.

It also compares ONNX Runtime with PyTorch eager for WRN-16-8, pure inference at batch 1
and 16, in the same run. Repeats alternate the order of the measurements; medians printed.

Then the same pipeline with a stand-in accelerator that waits per batch without using the
CPU (as a GPU or NPU leaves the CPU free), its total wait set equal to (3): benchmark.py's
in-process e2e / max(the device's measured wait, (3)) shows the overlap where the two do not
compete for cores.

Each measurement also reports the CPU seconds it used (user + system, all threads). When
the cores are saturated no overlap can bring (1) below (CPU of (1)) / (cores): on a small
machine, (3)'s CPU — mostly the kernel creating 10,000 files — sets a floor on the ratio
of about 1 + CPU(3) / CPU(2), printed as "CPU floor".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import onnxruntime  # noqa: E402
import torch  # noqa: E402
from quiet_disk import SETTLE_SECONDS, set_aside, settle  # noqa: E402

from genet.bench.config import BenchConfig  # noqa: E402
from genet.bench.engine import run_benchmark  # noqa: E402
from genet.bench.sources import BinFiles  # noqa: E402
from genet.convert.export import export_onnx  # noqa: E402
from genet.core.cpuinfo import cpu_label  # noqa: E402
from genet.formats.dumps import write_dumps  # noqa: E402
from genet.formats.info import InfoEntry, read_numbered_info, write_info  # noqa: E402
from genet.model.checkpoint import save_checkpoint  # noqa: E402
from genet.model.network import build_model  # noqa: E402
from genet.model.variant import Variant  # noqa: E402
from genet.runners import CallTimes, Runner, RunnerOptions, open_runner  # noqa: E402

TARGET = 1.15
MODELS = {"WRN-10-2": Variant(depth=10, width=2), "WRN-16-8": Variant(depth=16, width=8)}
DEFAULT_REPEATS = {"WRN-10-2": 5, "WRN-16-8": 3}     # WRN-16-8 takes ~13 min per repeat on 2 cores
IMAGE_SHAPE = (3, 32, 32)


def make_dataset(folder: Path, count: int) -> tuple[Path, np.ndarray]:
    """``count`` standard-normal float32 .bin files and their info file; returns (info, images)."""
    data = folder / "prep_dataset"
    data.mkdir()
    images = np.random.default_rng(0).standard_normal((count, *IMAGE_SHAPE), dtype=np.float32)
    entries = []
    for i, image in enumerate(images):
        path = f"{data}/{i:05d}.bin"
        image.tofile(path)
        entries.append(InfoEntry(i, path, IMAGE_SHAPE[2], IMAGE_SHAPE[1]))
    info = folder / "genet_prep_bin.info"
    write_info(info, entries)
    return info, images


def make_models(folder: Path, name: str, variant: Variant) -> tuple[Path, Path]:
    torch.manual_seed(0)
    model = build_model(variant).eval()
    onnx_path, ckpt_path = folder / f"{name}.onnx", folder / f"{name}.pth.tar"
    export_onnx(model, onnx_path)
    save_checkpoint(ckpt_path, model)
    return onnx_path, ckpt_path


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measured(step):
    """Run ``step()``; returns (its result, CPU seconds this process used meanwhile)."""
    start = cpu_seconds()
    result = step()
    return result, cpu_seconds() - start


def end_to_end(model: Path, info: Path, batch: int, out: Path) -> tuple[float, float, float, float]:
    """(whole-process wall seconds, benchmark.py's own [e2e] seconds, the process's CPU seconds, and the
    [e2e] seconds over its busiest stage's busy seconds: 1.0 = perfect overlap inside that run)."""
    command = [sys.executable, str(REPO / "benchmark.py"), "-model_type=vision", "-device_id=0",
               f"-batch_size={batch}", f"-om_path={model}", f"-input_text_path={info}", "-input_width=32",
               "-input_height=32", "-output_binary=False", "-useDvpp=False", "--quiet", "--output-dir", str(out)]
    cpu_start = cpu_seconds(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_start
    if done.returncode:
        raise SystemExit(f"benchmark.py failed ({done.returncode}): {done.stderr.strip()}")
    report = json.loads((out / f"perf_vision_batchsize_{batch}_device_0.json").read_text())
    dumps = len(os.listdir(out / "dumpOutput_device0"))
    if dumps != report["images"]:
        raise SystemExit(f"benchmark.py wrote {dumps} dumps for {report['images']} images")
    set_aside(out)
    seconds = report["seconds"]
    busiest = max(seconds["read_busy"], seconds["inference_call_busy"], seconds["postprocess_busy"])
    return wall, seconds["e2e"], cpu, seconds["e2e"] / busiest


def pure_inference(runner, images: np.ndarray, batch: int) -> float:
    """Seconds to run every batch of ``images`` (already in memory) after two warm-up calls,
    one call at a time as in benchmark.py."""
    batches = [np.ascontiguousarray(images[i:i + batch]) for i in range(0, len(images), batch)]
    for _ in range(2):
        runner.run(batches[0])
    start = time.perf_counter()
    for images in batches:
        runner.run(images)
    return time.perf_counter() - start


def bare_io(info: Path, out: Path, batch: int = 16) -> float:
    """Read every .bin of the info file, then write one text dump per image; no model.

    benchmark.py's own reader and writer, a batch at a time, on one thread.
    """
    source = BinFiles(info, read_numbered_info(info), IMAGE_SHAPE)
    logits = np.random.default_rng(1).standard_normal((source.count, 10), dtype=np.float32)
    images = np.empty((batch, *IMAGE_SHAPE), np.float32)
    out.mkdir()
    start = time.perf_counter()
    for first in range(0, source.count, batch):
        source.read_into(first, min(first + batch, source.count), images)
    for first in range(0, source.count, batch):
        write_dumps(out, source.stems[first:first + batch], logits[first:first + batch])
    seconds = time.perf_counter() - start
    set_aside(out)
    return seconds


def overlap(name: str, onnx_path: Path, info: Path, images: np.ndarray, batch: int, repeats: int,
            work: Path) -> float:
    runner = open_runner(onnx_path)
    rows = []
    for repeat in range(repeats):
        steps = ["e2e", "inference", "io"] if repeat % 2 == 0 else ["io", "inference", "e2e"]
        got = {}
        for step in steps:
            if step == "e2e":
                got["e2e"], got["e2e_inside"], got["e2e_cpu"], got["in_run"] = end_to_end(
                    onnx_path, info, batch, work / "result")
            elif step == "inference":
                got["inference"], got["inference_cpu"] = measured(lambda: pure_inference(runner, images, batch))
            else:
                got["io"], got["io_cpu"] = measured(lambda: bare_io(info, work / "io", batch))
        got["ratio"] = got["e2e"] / max(got["inference"], got["io"])
        got["ratio_inside"] = got["e2e_inside"] / max(got["inference"], got["io"])
        got["cpu_floor"] = 1 + got["io_cpu"] / got["inference_cpu"]
        rows.append(got)
        print(f"  {name} repeat {repeat + 1}: (1) e2e {got['e2e']:.2f} s (inside benchmark.py "
              f"{got['e2e_inside']:.2f} s)  (2) inference {got['inference']:.2f} s  (3) I/O {got['io']:.2f} s  "
              f"ratio {got['ratio']:.3f} | CPU s: (1) {got['e2e_cpu']:.1f} (2) {got['inference_cpu']:.1f} "
              f"(3) {got['io_cpu']:.1f}, floor {got['cpu_floor']:.3f} | e2e/busiest stage in (1) "
              f"{got['in_run']:.3f} | load {os.getloadavg()[0]:.1f}", flush=True)
    runner.close()
    median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
    verdict = "OK" if median["ratio"] <= TARGET else "ABOVE TARGET"
    print(f"{name}: median (1) {median['e2e']:.2f} s, (2) {median['inference']:.2f} s, (3) {median['io']:.2f} s; "
          f"(1)/max(2,3) = {median['ratio']:.3f} [{verdict}, target ≤ {TARGET}]; "
          f"benchmark.py's own e2e/max(2,3) = {median['ratio_inside']:.3f}; CPU floor {median['cpu_floor']:.3f}; "
          f"e2e/busiest stage inside (1) {median['in_run']:.3f}",
          flush=True)
    return median["ratio"]


class WaitingDevice(Runner):
    """A stand-in accelerator: every call waits ``seconds`` without using the CPU; zero logits."""

    name = "simulated device"
    input_shape = (None, *IMAGE_SHAPE)
    device_name = "time.sleep"

    def __init__(self, seconds: float):
        super().__init__(Path("simulated-device"), RunnerOptions())
        self._seconds = seconds

    def versions(self) -> dict[str, str]:
        return {}

    def run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        time.sleep(self._seconds)
        return np.zeros((len(batch), 10), np.float32), CallTimes(self._seconds)


def device_overlap(info: Path, count: int, batch: int, repeats: int, work: Path) -> float:
    """benchmark.py's pipeline (in process) with a waiting device whose total wait is the bare I/O's time.

    ``time.sleep`` overshoots each short wait a little, so the device's own busy time is
    measured (benchmark.py's inference-call seconds) and the ratio is e2e / max(that, (3)).
    """
    batches = -(-count // batch)
    rows = []
    for repeat in range(repeats):
        io = bare_io(info, work / "io", batch)
        device = WaitingDevice(io / batches)
        config = BenchConfig(model_path=Path("simulated-device"), batch_size=batch, info_path=info,
                             output_dir=work / "simulated", warmup=0, progress=False)
        seconds = run_benchmark(config, log=lambda message: None, runner=device).details["seconds"]
        set_aside(work / "simulated")
        waited = seconds["inference_call_busy"]
        rows.append(seconds["e2e"] / max(waited, io))
        print(f"  simulated device repeat {repeat + 1}: (3) I/O {io:.2f} s; device asked to wait {io:.2f} s, waited "
              f"{waited:.2f} s; benchmark.py e2e {seconds['e2e']:.2f} s: e2e/max(waited, I/O) = {rows[-1]:.3f} "
              f"(no overlap would give ~2)", flush=True)
    ratio = statistics.median(rows)
    print(f"simulated device: median e2e/max(waited, I/O) = {ratio:.3f}", flush=True)
    return ratio


def backend_comparison(onnx_path: Path, ckpt_path: Path, images: np.ndarray, repeats: int,
                       counts: dict[int, int]) -> None:
    """Pure-inference images/s of ONNX Runtime (as benchmark.py runs it) and PyTorch eager (CPU, fp32), in turn."""
    runners = {"onnxruntime": open_runner(onnx_path), "torch eager": open_runner(ckpt_path)}
    for batch, count in counts.items():
        rates: dict[str, list[float]] = {name: [] for name in runners}
        for repeat in range(repeats):
            order = list(runners)[repeat % len(runners):] + list(runners)[:repeat % len(runners)]
            for name in order:
                rates[name].append(count / pure_inference(runners[name], images[:count], batch))
        line = ", ".join(f"{name} {statistics.median(r):.1f} img/s (runs: {', '.join(f'{x:.1f}' for x in r)})"
                         for name, r in rates.items())
        print(f"WRN-16-8 pure inference, batch {batch}, {count} images, median of {repeats}: {line}", flush=True)
    for runner in runners.values():
        runner.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000, help="generated images (default 10000)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int,
                        help="repeats of (1)-(3) per model (default: 5 for WRN-10-2, 3 for WRN-16-8)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    parser.add_argument("--settle", type=float, default=0, metavar="S",
                        help="seconds to wait after a sync before timing, so that earlier file deletions do not "
                             f"slow the file creations (see benchmarks/quiet_disk.py; e.g. {SETTLE_SECONDS}); "
                             "default 0: the verdict compares (1) with the bare I/O loop (3) of the same run, "
                             "which meets the same disk")
    parser.add_argument("--compare-repeats", type=int, default=3,
                        help="repeats of the ONNX Runtime vs PyTorch comparison (0 skips it)")
    args = parser.parse_args()
    unknown = sorted(set(args.models.split(",")) - set(MODELS))
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"machine: {platform.node()}, {cpu_label()}, {platform.platform()}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"versions: python {platform.python_version()}, numpy {np.__version__}, onnxruntime "
          f"{onnxruntime.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"data: {args.images} generated standard-normal 3×32×32 float32 images (not CIFAR-10); "
          f"models: random-init weights (timing only)")
    with tempfile.TemporaryDirectory(prefix="runner_overlap.") as tmp:
        work = Path(tmp)
        info, images = make_dataset(work, args.images)
        settle(args.settle)
        ratios = {}
        for name in args.models.split(","):
            onnx_path, ckpt_path = make_models(work, name, MODELS[name])
            ratios[name] = overlap(name, onnx_path, info, images, args.batch_size,
                                   args.repeats or DEFAULT_REPEATS[name], work)
            if name == "WRN-10-2":
                device_overlap(info, args.images, args.batch_size, args.repeats or DEFAULT_REPEATS[name], work)
            if name == "WRN-16-8" and args.compare_repeats:
                backend_comparison(onnx_path, ckpt_path, images, args.compare_repeats, {1: 100, 16: 320})
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    summary = ", ".join(f"{name} {ratio:.3f}" for name, ratio in ratios.items())
    print(f"(1)/max(2,3), medians: {summary}; target ≤ {TARGET}: "
          f"{'met' if all(r <= TARGET for r in ratios.values()) else 'NOT met'}")
    return 0 if all(r <= TARGET for r in ratios.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
