#!/usr/bin/env python3
"""Does a second model call in flight, or a second dump-writing thread, pay for itself?

What a user sees: the wall-clock seconds of a whole ``python3 benchmark.py`` process (interpreter
start, model load, warm-up, the run, the dumps and the reports), timed from outside, over a
preprocessed set of generated images (``genet.cli.synthetic`` → ``preprocess.py`` → ``get_info.py``:
generated data, not CIFAR-10), one ``.txt`` dump per image as the guide's command writes them.

For WRN-16-8 and WRN-10-2 (random-init ONNX exports: the weights do not change the work, only the
logits), batch 1 and 16, each backend runs these arms:

  ONNX Runtime   1 call      ``--streams 1`` (one call at a time on all cores, library-default threads)
                 2 calls     ``--streams 2`` (two calls in flight from two threads, each on half the cores)
                 2 writers   ``--streams 1 --writer-threads 2`` (two dump-writing threads)
  OpenVINO       1 call      ``--backend openvino --streams 1`` (NUM_STREAMS 1, one InferRequest)
  (if installed) 2 calls     ``--backend openvino --streams 2`` (NUM_STREAMS 2, two in flight)

Repeats interleave every arm (the order rotates each repeat); medians printed with the gain
(1 call's seconds / the arm's seconds) and, beside it, the Interface img/s the perf report claimed.
Outputs are moved aside, not deleted, until the end (benchmarks/quiet_disk.py).

``--repo`` names the checkout whose ``benchmark.py`` is measured (default: this one). An arm whose
flag that checkout no longer has is reported as not available there; to measure one again, point
``--repo`` at a checkout from before its removal (``git worktree add /tmp/before <commit>``).

Run: python3 benchmarks/streams.py [--repeats 5] [--images16 600] [--images10 5000] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from quiet_disk import set_aside, settle  # noqa: E402

from genet.convert.export import export_onnx  # noqa: E402
from genet.model.network import build_model  # noqa: E402
from genet.model.variant import Variant  # noqa: E402

MODELS = {"WRN-16-8": Variant(depth=16, width=8), "WRN-10-2": Variant(depth=10, width=2)}
BATCHES = (1, 16)
# backend → arm → benchmark.py flags; the first arm of each backend is its baseline.
ARMS = {
    "onnxruntime": {"1 call": ["--streams", "1"], "2 calls": ["--streams", "2"],
                    "2 writers": ["--streams", "1", "--writer-threads", "2"]},
    "openvino": {"1 call": ["--streams", "1"], "2 calls": ["--streams", "2"]},
}
KEEP_AT = 1.3        # the rule: keep the machinery only where it gives >= 1.3x


def run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def prepare_data(repo: Path, work: Path, count: int) -> Path:
    """A generated test split of ``count`` images, preprocessed to .bin files, and their info file."""
    python = sys.executable
    datasets, prep, info = work / f"datasets{count}", work / f"prep{count}", work / f"prep{count}.info"
    run([python, "-m", "genet.cli.synthetic", str(datasets), "--train", "0", "--test", str(count), "--quiet"], repo)
    run([python, "preprocess.py", str(datasets), str(prep), "--quiet"], repo)
    run([python, "get_info.py", "bin", str(prep), str(info), "32", "32"], repo)
    return info


def prepare_model(work: Path, name: str) -> Path:
    import torch

    torch.manual_seed(0)
    path = work / f"{name}.onnx"
    export_onnx(build_model(MODELS[name]), path)
    return path


def available_flags(repo: Path) -> str:
    return run([sys.executable, "benchmark.py", "--help"], repo)


def arm_flags(backend: str, arm: str, help_text: str) -> list[str] | None:
    """The arm's flags in this checkout; None when it lacks one (a 1-call arm then needs none)."""
    flags = ARMS[backend][arm]
    missing = [flag for flag in flags if flag.startswith("--") and flag not in help_text]
    if not missing:
        return flags
    if arm == "1 call" and missing == ["--streams"]:
        return []              # one call in flight is all this checkout does
    return None


def one_run(repo: Path, model: Path, info: Path, batch: int, backend: str, flags: list[str],
            out: Path) -> tuple[float, float, float]:
    """(whole-process wall seconds, the report's Interface img/s, its device p99 ms per batch)."""
    command = [sys.executable, "benchmark.py", "-model_type=vision", "-device_id=0", f"-batch_size={batch}",
               f"-om_path={model}", f"-input_text_path={info}", "-input_width=32", "-input_height=32",
               "-output_binary=False", "-useDvpp=False", "--backend", backend, "--quiet", "--output-dir", str(out),
               *flags]
    start = time.perf_counter()
    run(command, repo)
    wall = time.perf_counter() - start
    report = json.loads((out / f"perf_vision_batchsize_{batch}_device_0.json").read_text(encoding="utf-8"))
    dumps = len(os.listdir(out / "dumpOutput_device0"))
    if dumps != report["images"]:
        raise SystemExit(f"benchmark.py wrote {dumps} dumps for {report['images']} images")
    set_aside(out)
    return wall, report["interface_throughput"], report["batch_latency_ms"]["device"]["p99"]


def lscpu_line() -> str:
    fields = {}
    for line in run(["lscpu"], REPO).splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    flags = fields.get("Flags", "").split()
    isa = [name for name in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if name in flags]
    return f"{fields.get('Model name', '?')}, {fields.get('CPU(s)', '?')} CPUs, ISA: {' '.join(isa)}"


def versions(backends: list[str]) -> str:
    import numpy
    import onnxruntime

    found = [f"python {platform.python_version()}", f"numpy {numpy.__version__}",
             f"onnxruntime {onnxruntime.__version__}"]
    if "openvino" in backends:
        import openvino

        found.append(f"openvino {openvino.__version__}")
    return ", ".join(found)


def has_openvino() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images16", type=int, default=600, help="images run through WRN-16-8 (default 600)")
    parser.add_argument("--images10", type=int, default=5000, help="images run through WRN-10-2 (default 5000)")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose benchmark.py is measured")
    parser.add_argument("--backends", default="onnxruntime,openvino")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)), help="comma-separated batch sizes")
    parser.add_argument("--settle", type=float, default=0, help="seconds to let earlier deletions age out first")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args()
    repo = args.repo.resolve()
    backends = [b for b in args.backends.split(",") if b != "openvino" or has_openvino()]
    help_text = available_flags(repo)
    commit = run(["git", "rev-parse", "--short", "HEAD"], repo).strip()
    lines = [f"command: python3 benchmarks/streams.py {' '.join(sys.argv[1:])}".rstrip(),
             f"measured checkout: {repo} at {commit}",
             f"date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
             f"CPU: {lscpu_line()}; {platform.platform()}",
             f"versions: {versions(backends)}",
             f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    print("\n".join(lines), flush=True)
    models_run = args.models.split(",")
    unknown = sorted(set(models_run) - set(MODELS))
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)}")
    batches = [int(batch) for batch in args.batches.split(",")]
    counts = {name: count for name, count in (("WRN-16-8", args.images16), ("WRN-10-2", args.images10))
              if name in models_run}
    work = Path(tempfile.mkdtemp(prefix="streams."))
    try:
        rows = measure(repo, work, counts, batches, backends, help_text, args)
        lines += [f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", "",
                  f"Medians of {args.repeats} interleaved repeats. Whole-process seconds of benchmark.py over "
                  f"{', '.join(f'{count} ({name})' for name, count in counts.items())} generated images (not "
                  f"CIFAR-10), random-init weights; gain = the backend's 1-call seconds / the arm's; Interface img/s "
                  f"as the perf report gives it.", "", *table(rows, counts, help_text)]
        finish(lines, backends, help_text, args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)       # after the report: deleting the dumps takes a while
    return 0


def measure(repo: Path, work: Path, counts: dict[str, int], batches: list[int], backends: list[str], help_text: str,
            args) -> dict[tuple, list[tuple[float, float, float]]]:
    """Every arm's runs, repeats interleaved (the order rotates each repeat)."""
    rows: dict[tuple, list[tuple[float, float, float]]] = {}
    infos = {name: prepare_data(repo, work, count) for name, count in counts.items()}
    models = {name: prepare_model(work, name) for name in counts}
    settle(args.settle)
    plan = [(name, batch, backend, arm, flags) for name in counts for batch in batches for backend in backends
            for arm in ARMS[backend] if (flags := arm_flags(backend, arm, help_text)) is not None]
    for repeat in range(args.repeats):
        shift = repeat % len(plan)
        for name, batch, backend, arm, flags in plan[shift:] + plan[:shift]:
            got = one_run(repo, models[name], infos[name], batch, backend, flags, work / "result")
            rows.setdefault((name, batch, backend, arm), []).append(got)
            print(f"  repeat {repeat + 1}: {name} batch {batch} {backend} {arm}: {got[0]:.2f} s "
                  f"(Interface {got[1]:.1f} img/s) load {os.getloadavg()[0]:.1f}", flush=True)
    return rows


def table(rows: dict[tuple, list[tuple[float, float, float]]], counts: dict[str, int], help_text: str) -> list[str]:
    lines = ["| model | images | batch | backend | arm | flags | seconds (runs) | gain | Interface img/s |",
             "|---|---:|---:|---|---|---|---|---:|---:|"]
    for (name, batch, backend, arm), got in rows.items():
        seconds = statistics.median(g[0] for g in got)
        base = statistics.median(g[0] for g in rows[(name, batch, backend, next(iter(ARMS[backend])))])
        flags = " ".join(arm_flags(backend, arm, help_text)) or "(none)"
        runs = ", ".join(f"{g[0]:.2f}" for g in got)
        lines.append(f"| {name} | {counts[name]} | {batch} | {backend} | {arm} | `{flags}` | {seconds:.2f} ({runs}) | "
                     f"{base / seconds:.2f} | {statistics.median(g[1] for g in got):.1f} |")
    return lines


def finish(lines: list[str], backends: list[str], help_text: str, out: Path | None) -> None:
    missing = [f"{backend} {arm}" for backend in backends for arm in ARMS[backend]
               if arm_flags(backend, arm, help_text) is None]
    if missing:
        lines.append(f"\nnot available in the measured checkout: {', '.join(missing)}")
    lines.append(f"\nrule: keep an arm's machinery only where its gain is >= {KEEP_AT}")
    text = "\n".join(lines) + "\n"
    print(text[text.index("load average after"):], end="", flush=True)
    if out:
        out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
