#!/usr/bin/env python3
"""genet on the CPU against its peers, fp32 and int8, pure inference  (the project's CPU speed targets)

For WRN-16-8 and WRN-10-2 (random-init weights: the weights do not change the work), at batch
1, 16 and 64, in one process, img/s of:

  genet      benchmark.py's path: ``genet.bench.engine.run_benchmark`` in pure-inference mode on the
             runner benchmark.py opens (ONNX Runtime, its SessionOptions, one call at a time;
             results/cpu_peers.md was measured while it kept two calls in flight, as genet then did),
             the report's Interface throughputRate;
  genet OV   the same with ``--backend openvino`` (genet.runners.openvino; if installed);
  ORT        a bare ``onnxruntime.InferenceSession`` with default options, one call at a time;
  PyTorch    eager ``model(x)`` under ``torch.inference_mode()`` (fp32 only);
  OpenVINO   ``core.compile_model`` on the same .onnx files, reshaped to the batch (if installed);

OpenVINO runs with INFERENCE_PRECISION_HINT f32 (the compile settings of genet's openvino backend,
``cpu_config``; threads and streams left to OpenVINO): on a CPU with bf16 instructions its default
computes an fp32 model in bf16, which is a column of its own here (no genet peer of that
precision), not an fp32 figure. The targets are judged on genet's best backend for each precision.
fp32 runs the exported .onnx, int8 the file that
``genet.convert.quantize.quantize_model`` writes from it (QDQ, per-channel; calibrated on generated images, not
CIFAR-10: speed only, the accuracy gate is skipped for these random-init models). Each measurement runs
enough calls to last about ``--seconds``; rounds interleave every peer and configuration; medians of the
rounds printed as a Markdown table with the targets, the machine, the versions and the command.

Run: python3 benchmarks/cpu_peers.py [--rounds 5] [--seconds 1.0] [--out benchmarks/results/cpu_peers.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from genet.bench.config import BenchConfig  # noqa: E402
from genet.bench.engine import run_benchmark  # noqa: E402
from genet.convert.export import export_onnx  # noqa: E402
from genet.convert.quantize import QuantizeSettings, quantize_model  # noqa: E402
from genet.core.cpuinfo import this_cpu  # noqa: E402
from genet.data.synthetic import write_cifar10  # noqa: E402
from genet.model.network import build_model  # noqa: E402
from genet.model.variant import Variant  # noqa: E402
from genet.runners import RunnerOptions, open_runner  # noqa: E402

GENET_BACKENDS = {"genet": "onnxruntime", "genet OV": "openvino"}      # column → benchmark.py --backend
MODELS = {"WRN-16-8": Variant(depth=16, width=8), "WRN-10-2": Variant(depth=10, width=2)}
BATCHES = (1, 16, 64)
Measure = Callable[[int], float]          # calls → img/s


def openvino_module():
    try:
        import openvino
    except ImportError:
        return None
    return openvino


def prepare_models(folder: Path) -> dict[str, dict[str, Path]]:
    """fp32 .onnx (opset 11, dynamic batch) and its int8 twin for every model."""
    data = write_cifar10(folder / "datasets", train=64, test=64, seed=0).parent
    files = {}
    for name, variant in MODELS.items():
        torch.manual_seed(0)
        fp32 = folder / f"{name}.onnx"
        export_onnx(build_model(variant), fp32)
        int8 = folder / f"{name}_int8.onnx"
        quantize_model(fp32, data, int8, QuantizeSettings(calib=64, check=64, keep_below=True), log=lambda m: None,
                       quiet=True)
        files[name] = {"fp32": fp32, "int8": int8}
    return files


def genet_peer(path: Path, batch: int, out: Path, backend: str = "onnxruntime",
               options: RunnerOptions | None = None) -> tuple[Measure, Callable[[], None]]:
    runner = open_runner(path, backend, options)

    def measure(calls: int) -> float:
        config = BenchConfig(path, batch_size=batch, rounds=calls, output_dir=out, warmup=1, progress=False)
        return run_benchmark(config, log=lambda m: None, runner=runner).report.interface_throughput

    return measure, runner.close


def timed_loop(call: Callable[[], object], batch: int) -> Measure:
    def measure(calls: int) -> float:
        call()
        start = time.perf_counter()
        for _ in range(calls):
            call()
        return calls * batch / (time.perf_counter() - start)

    return measure


def ort_peer(path: Path, batch: int) -> Measure:
    ort_model = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).standard_normal((batch, 3, 32, 32), dtype=np.float32)
    return timed_loop(lambda: ort_model.run(None, {"image": images}), batch)


def torch_peer(variant: Variant, batch: int) -> Measure:
    torch.manual_seed(0)
    model = build_model(variant).eval()
    images = torch.randn(batch, 3, 32, 32)

    def call():
        with torch.inference_mode():
            return model(images)

    return timed_loop(call, batch)


def openvino_peer(ov, path: Path, batch: int, hint: str = "f32") -> Measure:
    """OpenVINO on the CPU; ``hint`` its INFERENCE_PRECISION_HINT (its default on a CPU with bf16 is bf16)."""
    from genet.runners.openvino import compile_for_cpu

    compiled = compile_for_cpu(ov.Core(), path, batch, precision_hint=hint)
    request = compiled.create_infer_request()
    images = np.random.default_rng(0).standard_normal((batch, 3, 32, 32), dtype=np.float32)
    return timed_loop(lambda: request.infer({0: images}), batch)


def build_peers(files, out: Path, ov) -> tuple[dict[tuple, Measure], list[Callable[[], None]]]:
    """(model, batch, peer, precision) → measure; plus the closers of the genet runners."""
    peers, closers = {}, []
    for name, paths in files.items():
        for batch in BATCHES:
            for precision, path in paths.items():
                for peer, backend in GENET_BACKENDS.items():
                    if backend == "openvino" and ov is None:
                        continue
                    measure, close = genet_peer(path, batch, out, backend)
                    peers[(name, batch, peer, precision)] = measure
                    closers.append(close)
                peers[(name, batch, "ORT", precision)] = ort_peer(path, batch)
                if ov is not None:
                    peers[(name, batch, "OpenVINO", precision)] = openvino_peer(ov, path, batch)
            if ov is not None:
                peers[(name, batch, "OpenVINO", "bf16")] = openvino_peer(ov, paths["fp32"], batch, "bf16")
            peers[(name, batch, "PyTorch", "fp32")] = torch_peer(MODELS[name], batch)
    return peers, closers


def calls_for(measure: Measure, batch: int, seconds: float) -> int:
    """Calls that last about ``seconds``, from one short timed measurement."""
    rate = measure(2)
    return max(2, round(seconds * rate / batch))


def run(args) -> dict[tuple, list[float]]:
    ov = openvino_module()
    with tempfile.TemporaryDirectory(prefix="cpu-peers-") as scratch:
        folder = Path(scratch)
        files = prepare_models(folder)
        peers, closers = build_peers(files, folder / "result", ov)
        try:
            return interleaved_rounds(peers, args.rounds, args.seconds)
        finally:
            for close in closers:
                close()


def interleaved_rounds(peers: dict[tuple, Measure], rounds: int, seconds: float) -> dict[tuple, list[float]]:
    """img/s of each measurement (key[1] is its batch) in every round, alternating the order of the rounds."""
    calls = {key: calls_for(measure, key[1], seconds) for key, measure in peers.items()}
    rates: dict[tuple, list[float]] = {key: [] for key in peers}
    for round_index in range(rounds):
        keys = list(peers) if round_index % 2 == 0 else list(reversed(peers))
        for key in keys:
            rates[key].append(peers[key](calls[key]))
        print(f"round {round_index + 1}/{rounds} done", file=sys.stderr, flush=True)
    return rates


COLUMNS = [("genet", "fp32"), ("genet OV", "fp32"), ("ORT", "fp32"), ("PyTorch", "fp32"), ("OpenVINO", "fp32"),
           ("genet", "int8"), ("genet OV", "int8"), ("ORT", "int8"), ("OpenVINO", "int8"), ("OpenVINO", "bf16")]


def genet_best(medians: dict[tuple, float], name: str, batch: int, precision: str) -> tuple[str, float]:
    """genet's fastest backend column for one configuration, and its img/s."""
    ours = {peer: medians[(name, batch, peer, precision)] for peer in GENET_BACKENDS
            if (name, batch, peer, precision) in medians}
    best = max(ours, key=ours.get)
    return best, ours[best]


def int8_speedup(medians: dict[tuple, float], name: str, batch: int) -> float:
    return genet_best(medians, name, batch, "int8")[1] / genet_best(medians, name, batch, "fp32")[1]


def table(medians: dict[tuple, float]) -> list[str]:
    present = [c for c in COLUMNS if any(key[2:] == c for key in medians)]
    lines = ["| model | batch | " + " | ".join(f"{peer} {precision}" for peer, precision in present)
             + " | genet best int8 / best fp32 |",
             "|---|---:|" + "---:|" * (len(present) + 1)]
    for name in MODELS:
        for batch in BATCHES:
            cells = [f"{medians[(name, batch, *c)]:.1f}" for c in present]
            speedup = int8_speedup(medians, name, batch)
            lines.append(f"| {name} | {batch} | " + " | ".join(cells) + f" | {speedup:.2f}x |")
    return lines


def targets(medians: dict[tuple, float]) -> list[str]:
    """The issue's targets, judged on genet's best backend for each precision (named in each line)."""
    speedup = int8_speedup(medians, "WRN-16-8", 16)
    lines = ["Judged on genet's best backend for each precision (genet = ONNX Runtime, genet OV = "
             "`--backend openvino`).", "",
             f"- genet best int8 / genet best fp32, WRN-16-8 batch 16: {speedup:.2f}x (target ≥ 2.0x): "
             f"{'met' if speedup >= 2.0 else 'NOT met'}"]
    for name in MODELS:
        for batch in BATCHES:
            for precision in ("fp32", "int8"):
                ours, rate = genet_best(medians, name, batch, precision)
                others = {key[2]: value for key, value in medians.items()
                          if key[:2] == (name, batch) and key[3] == precision and key[2] not in GENET_BACKENDS}
                best_peer = max(others, key=others.get)
                ratio = rate / others[best_peer]
                verdict = "met" if ratio >= 0.95 else ("gap ≥ 1.2x" if ratio < 1 / 1.2 else "NOT met")
                lines.append(f"- {name} batch {batch} {precision}: {ours} / fastest peer ({best_peer}) = {ratio:.2f} "
                             f"(target ≥ 0.95): {verdict}")
    return lines


def header(args, load_before: tuple[float, ...], ov) -> list[str]:
    versions = {"python": platform.python_version(), "numpy": np.__version__, "onnxruntime": ort.__version__,
                "torch": torch.__version__, "openvino": ov.__version__ if ov else "not installed"}
    return [
        "# CPU peers: pure-inference img/s, fp32 and int8 (benchmarks/cpu_peers.py)",
        "",
        f"- command: `python3 benchmarks/cpu_peers.py {' '.join(sys.argv[1:])}`".rstrip() + "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- machine: {this_cpu().label()} (ISA flags: {this_cpu().isa_flags()}; ONNX Runtime int8 path "
        f"{this_cpu().int8_path}); load average before the run "
        f"{' '.join(f'{x:.2f}' for x in load_before)}, after {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"({'quiet before the run' if load_before[0] < 1.5 else 'busy: figures can be low and noisy'})",
        f"- versions: {', '.join(f'{k} {v}' for k, v in versions.items())}",
        f"- method: random-init weights; medians of {args.rounds} interleaved rounds, each measurement about "
        f"{args.seconds:g} s of calls on one batch of random inputs; int8 = the model quantize.py writes "
        "(QDQ, per-channel int8 weights in 7 bits, its default, uint8 activations), calibrated on generated "
        "images (not CIFAR-10)",
        "",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one measurement")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    rates = run(args)
    medians = {key: statistics.median(values) for key, values in rates.items()}
    report = "\n".join(header(args, load_before, openvino_module()) + table(medians) + ["", "Targets:", ""]
                       + targets(medians)) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
