#!/usr/bin/env python3
"""One inference mode of the GPU check (benchmarks/gpu_check.sh): a batch-size sweep and its agreement.

    python3 benchmarks/gpu_sweep.py reference MODEL --images prep/images.npy --out ref.npy
    python3 benchmarks/gpu_sweep.py mode MODE MODEL --batches 1,256,2048 --images prep/images.npy \\
        --reference ref.npy --out sweep/MODE.json [--budget-s 120] [--device cuda]
    python3 benchmarks/gpu_sweep.py best sweep/            # fastest torch mode/batch, fastest at batch 1
    python3 benchmarks/gpu_sweep.py table sweep/ e2e/      # the table gpu_check.sh prints last

MODE is one of MODES below. For each batch size, in the order given, until the time budget
is spent (the first always runs): one first call (compile, autotune, CUDA graph capture; its
seconds reported as ``first_use_s``), then timed calls of random images through
``Runner.run_timed`` (genet's runner, the object benchmark.py drives). Figures per batch:
device-only img/s from the median call and from the mean (the perf report's Interface
definition), H2D / compute / D2H percentiles (CUDA events), and the host wall-clock img/s of
the calls. At the agreement batch (256 when swept, else the first) it runs all the packed
images (the last batch padded) and compares the logits with the reference: top-1 agreement
and max |Δ|. One process per mode, so that a compile that crashes or hangs costs only its mode.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from genet.core.stats import summarize
from genet.runners import RunnerOptions, open_runner
from genet.runners.base import option_flag

# name → (backend, RunnerOptions fields, fold BN); the model file's suffix must suit the backend
MODES = {
    "eager-fp32": ("torch", dict(precision="fp32"), True),
    "eager-fp16-cl": ("torch", dict(precision="fp16", channels_last=True), True),
    "eager-bf16-cl": ("torch", dict(precision="bf16", channels_last=True), True),
    "graphs-fp16-cl": ("torch", dict(precision="fp16", channels_last=True, cuda_graphs=True), True),
    "graphs-fp16-cl-nofold": ("torch", dict(precision="fp16", channels_last=True, cuda_graphs=True), False),
    "graphs-bf16-cl": ("torch", dict(precision="bf16", channels_last=True, cuda_graphs=True), True),
    "compile-fp16-cl": ("torch", dict(precision="fp16", channels_last=True, compile=True), True),
    "compile-graphs-fp16-cl": ("torch", dict(precision="fp16", channels_last=True, compile=True,
                                             cuda_graphs=True), True),
    "compile-bf16-cl": ("torch", dict(precision="bf16", channels_last=True, compile=True), True),
    "compile-fp32": ("torch", dict(precision="fp32", compile=True), True),           # the CPU smoke test's
    "ort-cuda-fp32": ("onnxruntime", dict(providers=("cuda",)), True),
    "ort-cpu-fp32": ("onnxruntime", dict(providers=("cpu",)), True),
}
TIMED_IMAGES = 20_000     # images timed per batch size: enough calls at batch 1, at least MIN_CALLS above
MIN_CALLS, MAX_CALLS = 10, 400
AGREEMENT_BATCH = 256
REFERENCE_BATCH = 500


def percentiles(seconds: list[float]) -> dict[str, float] | None:
    """min, mean, p50, p99 and max in ms (genet.core.stats.summarize); None when the backend timed none."""
    stats = summarize(seconds, scale=1000.0)
    return {key: stats[key] for key in ("min", "mean", "p50", "p99", "max")} if stats else None


def open_mode(mode: str, model: Path, device: str):
    backend, fields, fold = MODES[mode]
    if backend == "onnxruntime":
        return open_runner(model, backend, RunnerOptions(**fields))
    from genet.runners.torch_runner import TorchRunner

    return TorchRunner(model, RunnerOptions(device=device, **fields), fold_bn=fold)


def measure(runner, batch: int, rng: np.random.Generator, timed_images: int) -> dict:
    images = rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)
    start = time.perf_counter()
    runner.run_timed(images)
    first_use = time.perf_counter() - start
    calls = min(MAX_CALLS, max(MIN_CALLS, -(-timed_images // batch)))
    compute, h2d, d2h = [], [], []
    wall_start = time.perf_counter()
    for _ in range(calls):
        _, times = runner.run_timed(images)
        compute.append(times.compute)
        if times.h2d is not None:
            h2d.append(times.h2d)
            d2h.append(times.d2h)
    wall = time.perf_counter() - wall_start
    return {"batch": batch, "calls": calls, "first_use_s": first_use,
            "device_img_s_median": batch / statistics.median(compute),
            "interface_img_s": batch * calls / sum(compute),
            "wall_img_s": batch * calls / wall,
            "compute_ms": percentiles(compute), "h2d_ms": percentiles(h2d), "d2h_ms": percentiles(d2h)}


def logits_of(runner, images: np.ndarray, batch: int) -> np.ndarray:
    out = []
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        padded = np.concatenate([chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), np.float32)])
        out.append(runner.run(padded)[:len(chunk)])
    return np.concatenate(out)


def agreement(logits: np.ndarray, reference: np.ndarray, labels: np.ndarray | None) -> dict:
    found = {"images": len(logits),
             "top1_agreement": float((logits.argmax(1) == reference.argmax(1)).mean()),
             "max_abs_diff": float(np.abs(logits - reference).max()),
             "finite": bool(np.isfinite(logits).all())}
    if labels is not None:
        found["top1_generated_data"] = float((logits.argmax(1) == labels).mean())
    return found


def write_reference(model: Path, images: np.ndarray, out: Path, device: str) -> None:
    """fp32 logits with the unfolded model, TF32 off: the yardstick of every mode's agreement."""
    import torch

    from genet.model.checkpoint import load_model

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    net, _ = load_model(model, log=None)
    target = torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")
    net = net.to(target)
    with torch.no_grad():
        logits = [net(torch.from_numpy(images[i:i + REFERENCE_BATCH]).to(target)).float().cpu().numpy()
                  for i in range(0, len(images), REFERENCE_BATCH)]
    np.save(out, np.concatenate(logits))


def sweep(args: argparse.Namespace, result: dict) -> None:
    started = time.perf_counter()
    images = np.load(args.images, mmap_mode="r")
    labels_path = args.images.with_name("labels.npy")
    labels = np.load(labels_path) if labels_path.exists() else None
    rng = np.random.default_rng(0)
    with open_mode(args.mode, args.model, args.device) as runner:
        result.update(load_s=time.perf_counter() - started, device_name=runner.device_name,
                      versions=runner.versions())
        agree_at = AGREEMENT_BATCH if AGREEMENT_BATCH in args.batches else args.batches[0]
        for batch in args.batches:
            if result["rows"] and time.perf_counter() - started > args.budget_s:   # the first batch always runs
                result["skipped"].append(batch)
                continue
            row = measure(runner, batch, rng, args.timed_images)
            result["rows"].append(row)
            print(f"{args.mode} bs{batch}: {row['device_img_s_median']:,.0f} img/s device-only (median call), "
                  f"first use {row['first_use_s']:.1f} s", file=sys.stderr, flush=True)
            if batch == agree_at:
                logits = logits_of(runner, np.asarray(images), batch)
                result["agreement"] = {"batch": batch, **agreement(logits, np.load(args.reference), labels)}
        result["settings"] = runner.settings()
    result["seconds"] = time.perf_counter() - started


def benchmark_flags(mode: str) -> str:
    """benchmark.py's flags for a torch mode (benchmark.py always folds the BNs)."""
    _, fields, _ = MODES[mode]
    flags = [f"--precision {fields['precision']}"]
    flags += [option_flag(name) for name in ("channels_last", "cuda_graphs", "compile") if fields.get(name)]
    return " ".join(flags)


def load_results(folder: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def best(folder: Path) -> str:
    """'MODE BATCH FLAGS' of the fastest torch mode and batch, then the fastest at batch 1 ('-' if none)."""
    picks = []
    for wanted in (None, 1):
        found = [(row["device_img_s_median"], mode, row["batch"])
                 for mode, result in load_results(folder).items()
                 if MODES.get(mode, ("",))[0] == "torch" and MODES[mode][2]
                 for row in result.get("rows", []) if wanted in (None, row["batch"])]
        if found:
            _, mode, batch = max(found)
            picks.append(f"{mode} {batch} {benchmark_flags(mode)}")
        else:
            picks.append("-")
    return "\n".join(picks)


TARGET_BEST, TARGET_BATCH1, TARGET_AGREEMENT = 160_000, 8_000, 0.999


def headline(results: dict[str, dict]) -> list[str]:
    """The project's GPU targets (docs/gpu.md) against the fastest torch mode at any batch and at batch 1."""
    lines = []
    for label, wanted, target in (("best batch", None, TARGET_BEST), ("batch 1", 1, TARGET_BATCH1)):
        found = [(row["device_img_s_median"], mode, row["batch"]) for mode, result in results.items()
                 if MODES.get(mode, ("",))[0] == "torch" for row in result.get("rows", [])
                 if wanted in (None, row["batch"])]
        if not found:
            lines.append(f"{label}: no torch figure")
            continue
        rate, mode, batch = max(found)
        agree = results[mode].get("agreement") or {}
        agreed = agree.get("top1_agreement", float("nan"))
        lines.append(f"{label}: {rate:,.0f} img/s, {mode} bs{batch} (target >= {target:,}: "
                     f"{'met' if rate >= target else 'NOT met'}); top-1 agreement with fp32 {agreed:.3%} over "
                     f"{agree.get('images', 0)} images (target >= {TARGET_AGREEMENT:.1%}: "
                     f"{'met' if agreed >= TARGET_AGREEMENT else 'NOT met'})")
    return lines


def table(folder: Path, e2e_folder: Path) -> str:
    results = load_results(folder)
    batches = sorted({row["batch"] for result in results.values() for row in result.get("rows", [])}
                     | {b for result in results.values() for b in result.get("skipped", [])})
    lines = ["device-only img/s (thousands) of the median call, per batch size; "
             "agreement: top-1 with the fp32 reference (unfolded model, TF32 off)",
             f"{'mode':24}" + "".join(f"{b:>7}" for b in batches) + "  agreement"]
    for mode, result in results.items():
        if "error" in result:
            lines.append(f"{mode:24} error: {result['error'][:100]}")
            continue
        rows = {row["batch"]: row for row in result["rows"]}
        cells = "".join(f"{rows[b]['device_img_s_median'] / 1000:>7.1f}" if b in rows else f"{'-':>7}"
                        for b in batches)
        agree = result.get("agreement")
        note = f"{agree['top1_agreement']:.2%} (bs{agree['batch']})" if agree else "-"
        lines.append(f"{mode:24}{cells}  {note}")
    lines += headline(results)
    for path in sorted(e2e_folder.glob("*.perf.json")):
        perf = json.loads(path.read_text())
        e2e, interface = perf.get("e2e_throughput"), perf.get("interface_throughput")
        ratio = f"{e2e / interface:.2f}" if e2e and interface else "?"
        lines.append(f"benchmark.py {path.name.removesuffix('.perf.json')}: e2e {e2e:,.0f} img/s, "
                     f"Interface {interface:,.0f} img/s, e2e/Interface {ratio}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    reference = commands.add_parser("reference", help="write the fp32 reference logits")
    reference.add_argument("model", type=Path)
    reference.add_argument("--images", type=Path, required=True, help="preprocess.py's images.npy")
    reference.add_argument("--out", type=Path, required=True)
    reference.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    one = commands.add_parser("mode", help="sweep one mode")
    one.add_argument("mode", choices=MODES)
    one.add_argument("model", type=Path)
    one.add_argument("--batches", default="1,256", type=lambda text: [int(b) for b in text.split(",")])
    one.add_argument("--images", type=Path, required=True, help="preprocess.py's images.npy")
    one.add_argument("--reference", type=Path, required=True, help="the reference logits (.npy)")
    one.add_argument("--out", type=Path, required=True, help="JSON to write")
    one.add_argument("--budget-s", type=float, default=120.0, help="start no new batch size after this")
    one.add_argument("--timed-images", type=int, default=TIMED_IMAGES, help="images timed per batch size")
    one.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    pick = commands.add_parser("best", help="the fastest torch mode and batch, and the fastest at batch 1")
    pick.add_argument("folder", type=Path)
    summary = commands.add_parser("table", help="the sweep table and the benchmark.py runs")
    summary.add_argument("folder", type=Path)
    summary.add_argument("e2e_folder", type=Path)
    args = parser.parse_args(argv)
    if args.command == "reference":
        write_reference(args.model, np.load(args.images), args.out, args.device)
    elif args.command == "best":
        print(best(args.folder))
    elif args.command == "table":
        print(table(args.folder, args.e2e_folder))
    else:
        result: dict = {"mode": args.mode, "rows": [], "skipped": []}
        try:
            sweep(args, result)
        except Exception as error:          # recorded for the table; the shell goes on with the next mode
            result["error"] = f"{type(error).__name__}: {error}"[:300]
            print(f"{args.mode}: {result['error']}", file=sys.stderr)
        args.out.write_text(json.dumps(result, indent=1))
        return 1 if "error" in result else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
