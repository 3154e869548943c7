#!/usr/bin/env python3
"""Do repeated sweeps agree? The same pure-inference sweep, fp32 and int8, run several times on the machine as it
is and several times beside a CPU-bound job, the old way and the new way.

- before: ``--repeats 1 --min-seconds 0``: each size timed once, for exactly ``-round`` calls (genet's old
  behaviour, kept as a setting);
- after: the defaults (at least ``--min-seconds`` of calls per size, the median of ``--repeats`` runs interleaved
  across the sizes, a best batch only when it beats the others beyond their spreads, else a tie).

The model is a WRN-10-1 with random-init weights (the demo's size), exported with pthtar2onnx.py, and its int8
twin from quantize.py calibrated on generated images (not CIFAR-10). The CPU-bound job is a Python busy loop in a
process of its own, started before the trial and stopped after it. For each condition and way it reports each
trial's best batch (or the tied sizes), how often the trials give the same answer, each size's int8-against-fp32
order (faster, slower, or within the noise) and how often the trials agree on it, and how many trials warned.

Run: python3 benchmarks/sweep_stability.py [--trials 5] [--sizes 1,4,16,64]  (writes results/sweep_stability.md)
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from genet.core.cpuinfo import this_cpu  # noqa: E402
from genet.core.stats import order  # noqa: E402

WAYS = {"before": ["--repeats", "1", "--min-seconds", "0"], "after": []}
BUSY_LOOP = "while True:\n    pass\n"


def run(argv: list[str], cwd: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for name in ("GENET_MIN_SECONDS", "GENET_REPEATS"):     # the defaults, as a user gets them
        env.pop(name, None)
    done = subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"failed: {shlex.join(argv)}\n{done.stderr}")


def make_models(folder: Path) -> None:
    code = ("import torch\nfrom genet.model.checkpoint import save_checkpoint\nfrom genet.model.network import "
            "build_model\nfrom genet.model.variant import Variant\ntorch.manual_seed(0)\nsave_checkpoint("
            "'genet.pth.tar', build_model(Variant(depth=10, width=1)).state_dict(), epoch=1)\n")
    run(["-c", code], folder)
    run([str(REPO / "pthtar2onnx.py"), "genet.pth.tar", "--output", "fp32.onnx"], folder)
    run(["-m", "genet.cli.synthetic", "dataset", "--train", "500", "--test", "200", "--seed", "0"], folder)
    run([str(REPO / "quantize.py"), "fp32.onnx", "dataset", "--output", "int8.onnx", "--check", "200",
         "--keep-below", "--quiet"], folder)


def sweep(folder: Path, model: str, sizes: str, rounds: int, way: list[str]) -> dict:
    out = folder / f"out_{model}"
    run([str(REPO / "benchmark.py"), f"-om_path={model}.onnx", f"-round={rounds}", f"-batch_size={sizes}",
         "--output-dir", str(out), "--quiet", *way], folder)
    return json.loads((out / "sweep_device_0.json").read_text())


def answer(data: dict) -> str:
    """The trial's best batch, or the sizes that tie."""
    if data["best_batch"] is not None:
        return str(data["best_batch"])
    return "tie " + "/".join(map(str, data["tied_batches"]))


def candidates(data: dict) -> set[int]:
    """The sizes a trial names: its best batch, or every size of its tie."""
    return {data["best_batch"]} if data["best_batch"] is not None else set(data["tied_batches"])


def common_size(trials: list[dict]) -> str:
    """The size that the most trials name (as best or among the tied), and in how many: trials that agree."""
    counts = collections.Counter(bs for t in trials for bs in candidates(t["fp32"]))
    bs, count = max(counts.items(), key=lambda item: (item[1], -item[0]))
    return f"{bs}: {count}/{len(trials)}"


def contradictions(orders: list[dict[int, str]]) -> int:
    """Sizes at which one trial says int8 is faster and another says fp32 is (a confident wrong order)."""
    return sum({"int8 faster", "fp32 faster"} <= {o[bs] for o in orders} for bs in orders[0])


def int8_order(fp32: dict, int8: dict) -> dict[int, str]:
    """Per size: int8 faster, slower, or within the noise (the tie rule on the repeats' IQRs)."""
    found = {}
    a = {p["batch_size"]: p["interface_spread"] for p in fp32["points"]}
    for point in int8["points"]:
        sign = order(point["interface_spread"], a[point["batch_size"]])
        found[point["batch_size"]] = {1: "int8 faster", -1: "fp32 faster", 0: "within noise"}[sign]
    return found


def agreement(answers: list[str]) -> tuple[str, int]:
    """The most common answer and how many trials gave it."""
    (common, count), = collections.Counter(answers).most_common(1)
    return common, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--sizes", default="1,4,16,64")
    parser.add_argument("--rounds", type=int, default=30, help="-round of each sweep (the guide's 30)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sweep_stability.md")
    parser.add_argument("--from-json", type=Path, metavar="JSON",
                        help="write the report again from the trials an earlier run kept (OUT with .json)")
    args = parser.parse_args()
    if args.from_json:
        kept = json.loads(args.from_json.read_text())
        results = {tuple(key.split(" ")): trials for key, trials in kept["results"].items()}
        lines = report(argparse.Namespace(**kept["args"]), results, kept["started"], kept["load_start"],
                       kept["command"])
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print("\n".join(lines))
        return
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_start = os.getloadavg()
    results: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        make_models(folder)
        for condition in ("quiet", "busy"):
            for name, way in WAYS.items():
                trials = []
                for _ in range(args.trials):
                    busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if condition == "busy" else None
                    try:
                        if busy:
                            time.sleep(1.0)
                        before = os.getloadavg()[0]
                        t0 = time.perf_counter()
                        fp32 = sweep(folder, "fp32", args.sizes, args.rounds, way)
                        int8 = sweep(folder, "int8", args.sizes, args.rounds, way)
                        trials.append({"fp32": fp32, "int8": int8, "seconds": time.perf_counter() - t0,
                                       "load": (before, os.getloadavg()[0])})
                    finally:
                        if busy:
                            busy.terminate()
                            busy.wait()
                results[(condition, name)] = trials
                print(f"{condition} {name}: {[answer(t['fp32']) for t in trials]}", file=sys.stderr)
    command = "python3 benchmarks/sweep_stability.py " + shlex.join(sys.argv[1:])
    lines = report(args, results, started, load_start, command)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    keep = {key: [{"fp32": slim(t["fp32"]), "int8": slim(t["int8"]), "seconds": t["seconds"], "load": t["load"]}
                  for t in trials] for key, trials in results.items()}
    args.out.with_suffix(".json").write_text(json.dumps({
        "args": {"sizes": args.sizes, "rounds": args.rounds}, "started": started, "load_start": list(load_start),
        "command": command, "results": {" ".join(key): trials for key, trials in keep.items()}}, indent=1) + "\n")
    print("\n".join(lines))


def versions() -> str:
    import numpy
    import onnxruntime

    return f"python {sys.version.split()[0]}, numpy {numpy.__version__}, onnxruntime {onnxruntime.__version__}"


def slim(data: dict) -> dict:
    """What the report reads of a sweep file (and the figures behind it)."""
    return {"best_batch": data["best_batch"], "tied_batches": data["tied_batches"],
            "stability": data["stability"], "points": [
                {"batch_size": p["batch_size"], "interface_throughput": p["interface_throughput"],
                 "interface_spread": p["interface_spread"], "calls": p["calls"]} for p in data["points"]]}


def report(args, results, started: str, load_start, command: str) -> list[str]:
    lines = ["# Repeated sweeps: do they agree? (benchmarks/sweep_stability.py)", "",
             f"- command: `{command.strip()}`", f"- date: {started}",
             f"- machine: {this_cpu().label()}; ISA flags: {this_cpu().isa_flags()}; load average at the start "
             f"{' '.join(f'{x:.2f}' for x in load_start)} (the machine is shared: 'quiet' means no job of ours "
             f"beside the sweeps, not an idle machine)",
             f"- model: WRN-10-1, random-init weights, fp32 ONNX and quantize.py's int8 (calibrated on generated "
             f"images, not CIFAR-10); onnxruntime on the CPU; pure inference, -batch_size={args.sizes} "
             f"-round={args.rounds}",
             "- before: `--repeats 1 --min-seconds 0` (each size timed once for exactly -round calls); after: the "
             "defaults (at least 1 s of calls per size, the median of 5 runs interleaved across the sizes, the tie "
             "rule)",
             "- busy: a Python busy-loop process beside each trial (one of the 2 cores)",
             f"- versions: {versions()}",
             "", "Columns: the fp32 sweep's answer in each trial (a best batch, or the sizes that tie); the size "
             "named by the most trials (as best or among the tied) and in how many; per size, the int8 against "
             "fp32 order most trials gave and how many gave it; the sizes at which one trial said int8 is faster "
             "and another said fp32 is (confident contradictions); the trials whose fp32 or int8 sweep warned "
             "(in 'before', the warning of today's code, which the old one never printed); the median seconds of "
             "a trial's two sweeps.", "",
             "| condition | way | fp32 answer per trial | size named most | int8 vs fp32 per size (modal, trials) "
             "| int8/fp32 contradictions | warned | s per trial |", "|---|---|---|---|---|---:|---|---:|"]
    for (condition, name), trials in results.items():
        answers = [answer(t["fp32"]) for t in trials]
        orders = [int8_order(t["fp32"], t["int8"]) for t in trials]
        per_size = []
        for bs in sorted(orders[0]):
            modal, agree = agreement([o[bs] for o in orders])
            per_size.append(f"bs{bs}: {modal} {agree}/{len(trials)}")
        warned = sum(bool(t["fp32"]["stability"].get("warning") or t["int8"]["stability"].get("warning"))
                     for t in trials)
        seconds = sorted(t["seconds"] for t in trials)[len(trials) // 2]
        lines.append(f"| {condition} | {name} | {', '.join(answers)} | {common_size(trials)} | "
                     f"{'; '.join(per_size)} | {contradictions(orders)} of {len(orders[0])} | "
                     f"{warned}/{len(trials)} | {seconds:.1f} |")
    lines += ["", "Load average (1 min) before/after each trial's two sweeps:", ""]
    for (condition, name), trials in results.items():
        loads = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in (t["load"] for t in trials))
        lines.append(f"- {condition} {name}: {loads}")
    return lines


if __name__ == "__main__":
    main()
