#!/usr/bin/env python3
"""quantize.py with and without --reduce-range: agreement with fp32 and int8 speed, on this CPU.

ONNX Runtime's u8s8 kernels on x86 CPUs without VNNI (AVX2, AVX-512 without VNNI) add pairs of
u8×s8 products in 16 bits with saturation; ``reduce_range`` quantizes the weights to 7 bits so the
sums cannot overflow, at the cost of one bit of weight precision. This script measures both sides:

  build      generated data (genet.data.synthetic: NOT CIFAR-10); the models below trained with
             genet.model.train (or left random-init); each exported to ONNX and quantized by
             ``quantize_model`` twice, 8-bit and 7-bit weights (calibration: 128 training images);
  agreement  top-1 agreement int8 vs fp32 and max |Δ| logits on ``--check`` held-out test images,
             computed on the CPU running this script (``--agreement-only`` re-checks the files of an
             earlier build, e.g. under ``qemu-x86_64 -cpu Haswell`` to see AVX2-only kernels); the int8
             logits are saved per int8 path, and those of another CPU's earlier run compared with them;
  speed      pure inference img/s of fp32, int8 and int8 7-bit at batch 16 on one ONNX Runtime session
             each (default options), medians of ``--rounds`` interleaved rounds of about ``--seconds``.

Models: WRN-10-2 trained 2 epochs on 1,500 generated images (about 6 minutes on 2 busy cores);
WRN-16-8 random-init (training it even one short epoch took too long on the 2-core machine).
Prints a Markdown report with the machine, versions, command and load.

Run: python3 benchmarks/int8_reduce_range.py --work /tmp/rr [--check 500] [--rounds 5] [--seconds 1]
     qemu-x86_64 -cpu Haswell .venv/bin/python benchmarks/int8_reduce_range.py --work /tmp/rr --agreement-only
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import onnxruntime as ort  # noqa: E402

from genet.convert.quantize import QuantizeSettings, check_images, compare_models, quantize_model  # noqa: E402
from genet.core.cpuinfo import this_cpu  # noqa: E402
from genet.runners import RunnerOptions, open_runner  # noqa: E402

MODELS = {  # name → (depth, width, epochs, training images); epochs 0: random-init
    "WRN-10-2 trained": (10, 2, 2, 1500),
    "WRN-16-8 random-init": (16, 8, 0, 0),
}
VARIANTS = {"int8": False, "int8 7-bit": True}          # column → reduce_range
BATCH = 16
silent = lambda message: None       # noqa: E731


def slug(name: str) -> str:
    return name.replace(" ", "_").replace("-", "")


def build(work: Path, check: int) -> None:
    import torch

    from genet.convert.export import export_onnx
    from genet.data.synthetic import write_cifar10
    from genet.model.checkpoint import load_model
    from genet.model.network import build_model
    from genet.model.train import TrainSettings, train_checkpoint
    from genet.model.variant import Variant

    data = work / "data"
    if not data.exists():
        write_cifar10(data, train=1500, test=check, seed=0)
    for name, (depth, width, epochs, images) in MODELS.items():
        folder = work / slug(name)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "fp32.onnx").exists():
            torch.manual_seed(0)
            if epochs:
                start = time.perf_counter()
                train_checkpoint(data, folder / "genet.pth.tar", Variant(depth=depth, width=width),
                                 TrainSettings(epochs=epochs, limit=images, device="cpu"), quiet=True, log=silent)
                print(f"trained {name} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
                model, _ = load_model(folder / "genet.pth.tar", log=None)
            else:
                model = build_model(Variant(depth=depth, width=width))
            export_onnx(model, folder / "fp32.onnx")
        for column, reduce_range in VARIANTS.items():
            target = folder / f"{slug(column)}.onnx"
            for old in (target, target.with_suffix(".json")):
                old.unlink(missing_ok=True)
            quantize_model(folder / "fp32.onnx", data, target,
                           QuantizeSettings(calib=128, check=check, keep_below=True, reduce_range=reduce_range),
                           log=silent, quiet=True)


def int8_logits(path: Path, images: np.ndarray) -> np.ndarray:
    with open_runner(path, "onnxruntime", RunnerOptions(device="cpu")) as runner:
        return np.concatenate([runner.run(images[i:i + 64]) for i in range(0, len(images), 64)])


def agreement(work: Path, check: int) -> tuple[list[list[str]], list[list[str]]]:
    """quantize.py's check of each int8 file on this CPU; and its int8 logits against another CPU's (saved)."""
    images, labels, _ = check_images(work / "data", check, silent)
    path = this_cpu().int8_path
    rows, across = [], []
    for name in MODELS:
        folder = work / slug(name)
        for column, reduce_range in VARIANTS.items():
            result = compare_models(folder / "fp32.onnx", folder / f"{slug(column)}.onnx", images, labels, None,
                                    quiet=True)
            rows.append([name, "yes" if reduce_range else "no", str(check), f"{result.top1_fp32:.2f}%",
                         f"{result.top1_int8:.2f}%", f"{result.agreement:.2f}%", f"{result.max_abs_diff:.4g}"])
            mine = int8_logits(folder / f"{slug(column)}.onnx", images)
            np.save(folder / f"{slug(column)}_logits_{check}@{path}.npy", mine)
            for other in sorted(folder.glob(f"{slug(column)}_logits_{check}@*.npy")):
                theirs_path = other.stem.split("@", 1)[1]
                if theirs_path == path:
                    continue
                theirs = np.load(other)
                across.append([name, "yes" if reduce_range else "no", f"{path} vs {theirs_path}",
                               f"{100.0 * float((mine.argmax(1) == theirs.argmax(1)).mean()):.2f}%",
                               f"{float(np.abs(mine - theirs).max()):.4g}"])
    return rows, across


def speed(work: Path, rounds: int, seconds: float) -> list[list[str]]:
    images = np.random.default_rng(0).standard_normal((BATCH, 3, 32, 32), dtype=np.float32)
    sessions = {}
    for name in MODELS:
        folder = work / slug(name)
        for column, path in [("fp32", folder / "fp32.onnx")] + [(c, folder / f"{slug(c)}.onnx") for c in VARIANTS]:
            sessions[name, column] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rates: dict[tuple[str, str], list[float]] = {key: [] for key in sessions}
    for _ in range(rounds):
        for key, session in sessions.items():
            session.run(None, {"image": images})
            calls, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                session.run(None, {"image": images})
                calls += 1
            rates[key].append(calls * BATCH / (time.perf_counter() - start))
    rows = []
    for name in MODELS:
        med = {column: statistics.median(rates[name, column]) for column in ["fp32", *VARIANTS]}
        rows.append([name, f"{med['fp32']:.1f}", f"{med['int8']:.1f}", f"{med['int8 7-bit']:.1f}",
                     f"{med['int8'] / med['fp32']:.2f}×", f"{med['int8 7-bit'] / med['int8']:.2f}"])
    return rows


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the data and models (kept)")
    parser.add_argument("--check", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--agreement-only", action="store_true", help="re-check the files of an earlier build")
    parser.add_argument("--models", default="", help="only the models whose name holds this text (e.g. WRN-10-2)")
    args = parser.parse_args()
    for name in [name for name in MODELS if args.models not in name]:
        del MODELS[name]
    load_before = os.getloadavg()
    if not args.agreement_only:
        build(args.work, args.check)
    cpu = this_cpu()
    lines = ["# quantize.py --reduce-range: agreement and speed (benchmarks/int8_reduce_range.py)", "",
             f"- command: `python3 benchmarks/int8_reduce_range.py {' '.join(sys.argv[1:])}`",
             f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
             f"- machine: {cpu.label()}; ISA flags: {cpu.isa_flags()}; ONNX Runtime int8 path {cpu.int8_path} "
             f"(u8s8 {'can' if cpu.u8s8_may_saturate else 'cannot'} saturate); {platform.platform()}",
             f"- versions: python {platform.python_version()}, numpy {np.__version__}, onnxruntime {ort.__version__}",
             "- data: GENERATED (genet.data.synthetic), NOT CIFAR-10; calibration 128 training images (minmax)", "",
             f"## Agreement on this CPU ({cpu.isa})", ""]
    rows, across = agreement(args.work, args.check)
    lines += table(["model", "7-bit weights", "images", "top-1 fp32", "top-1 int8", "agreement", "max |Δ| logits"],
                   rows)
    if across:
        lines += ["", "## The same int8 file on two CPUs (int8 logits saved by an earlier run on the other CPU)", ""]
        lines += table(["model", "7-bit weights", "int8 paths", "top-1 agreement", "max |Δ| int8 logits"], across)
    if not args.agreement_only:
        lines += ["", f"## Speed on this CPU ({cpu.isa}), batch {BATCH}, img/s (medians of {args.rounds} rounds)", ""]
        lines += table(["model", "fp32", "int8", "int8 7-bit", "int8 / fp32", "7-bit / 8-bit"],
                       speed(args.work, args.rounds, args.seconds))
    lines += ["", f"- load average before {' '.join(f'{x:.2f}' for x in load_before)}, after "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores shared with other jobs: speed is noisy)"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
