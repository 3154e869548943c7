"""The vendor tools' text output: the Ascend benchmark tool's pure-inference report, an ``ais_bench`` log and a
``trtexec`` log (docs/metrics.md says what each figure is). Recognised and read through genet.reports.read.
"""

from __future__ import annotations

import re
from pathlib import Path

from genet.core.errors import GenetError
from genet.reports.figures import Throughput, batch_from_name, device_label, resolve_batch

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
PURE_INFER = re.compile(rf"ave_throughputRate\s*[:=]\s*({_NUMBER})\s*samples/s\s*,\s*ave_latency\s*[:=]\s*"
                         rf"({_NUMBER})\s*ms")
AIS_THROUGHPUT = re.compile(rf"throughput\s+1000\s*\*\s*batchsize(?:\.mean)?\(({_NUMBER})\)\s*/\s*"
                             rf"NPU_compute_time\.mean\(({_NUMBER})\)\s*:\s*({_NUMBER})", re.IGNORECASE)
_AIS_GENET = re.compile(r"measured by genet: (\S+) \S+ on (.*)$", re.MULTILINE)
_AIS_NON_FINITE = re.compile(r"genet: (\d+) non-finite outputs")
_AIS_COMPUTE = re.compile(r"NPU_compute_time \(ms\):([^\n]*)")
TRT_COMPUTE = re.compile(r"(?<!Total )GPU Compute(?: Time)?\s*:")
_STAT = re.compile(rf"(min|max|mean|median|percentile\(\d+(?:\.\d+)?%\))\s*=\s*({_NUMBER})")
_TRT_SHAPES = re.compile(r"--shapes[= ]\s*([^\s\"']+)")
_TRT_INFERENCE_SHAPE = re.compile(r"Input inference shape\s*:\s*(\S+)")
_TRT_BATCH = re.compile(r"--batch[= ](\d+)")


def _stats(text: str) -> dict[str, float]:
    """``min = 0.5 ms, mean = 0.6 ms, percentile(99%) = 0.7`` -> {"min": 0.5, ..., "p99": 0.7}."""
    stats = {}
    for name, value in _STAT.findall(text):
        key = name if not name.startswith("percentile") else "p" + name[len("percentile("):-2]
        stats[key] = float(value)
    return stats


def read_pure_infer(path: Path, text: str, batch_size: int | None) -> Throughput:
    matches = PURE_INFER.findall(text)
    if len(matches) > 1:
        raise GenetError(f"{path}: holds {len(matches)} pure-inference summaries; give one run's report")
    fps, latency = (float(v) for v in matches[0])
    batch = resolve_batch(path, batch_from_name(path), batch_size, "the file name")
    return Throughput(str(path), "benchmark pure-inference report", batch, fps, True, "310",
                      {"mean": latency}, "ave_latency per item")


def read_ais_bench_log(path: Path, text: str, batch_size: int | None) -> Throughput:
    matches = AIS_THROUGHPUT.findall(text)
    if len(matches) > 1:
        raise GenetError(f"{path}: holds {len(matches)} ais_bench summaries (one per device?); "
                         "give one device's log")
    batch_text, mean_ms, fps = (float(v) for v in matches[0])
    compute = _AIS_COMPUTE.search(text)
    latency = _stats(compute.group(1)) if compute else {}
    logged_batch = round(batch_text)
    if logged_batch == 1 and batch_size not in (None, 1) and mean_ms > 0:
        # ais_bench logs batchsize 1 when run without --batchsize, whatever the model's batch;
        # its documentation then has the throughput worked out from the NPU_compute_time mean.
        logged_batch, fps = batch_size, 1000.0 * batch_size / mean_ms
    batch = resolve_batch(path, logged_batch, batch_size, "the throughput line")
    genet = _AIS_GENET.search(text)          # benchmark.py's log says what measured it
    device = device_label({"backend": genet.group(1), "device": genet.group(2)}) if genet else "310"
    bad = _AIS_NON_FINITE.search(text)
    return Throughput(str(path), "ais_bench log", batch, fps, device == "310", device, latency,
                      "NPU_compute_time per batch", non_finite=int(bad.group(1)) if bad else 0)


def _trtexec_batch(text: str) -> int | None:
    specs = _TRT_SHAPES.findall(text) or _TRT_INFERENCE_SHAPE.findall(text)
    for spec in specs:
        # image:16x3x32x32 (or image=16x3x32x32), several inputs separated by commas: use the first.
        dims = re.split(r"[:=]", spec.split(",")[0])[-1].split("x")
        if dims[0].isdigit():
            return int(dims[0])
    batch = _TRT_BATCH.search(text)
    return int(batch.group(1)) if batch else None


def read_trtexec_log(path: Path, text: str, batch_size: int | None) -> Throughput:
    starts = list(TRT_COMPUTE.finditer(text))
    if len(starts) > 1:
        raise GenetError(f"{path}: holds {len(starts)} trtexec GPU Compute summaries; give one run's log")
    # The figures follow on one line, or (as the seed quotes them) one per line, until the next [tag].
    tail = text[starts[0].end():]
    stats = _stats(tail[:tail.find("[")] if "[" in tail else tail)
    if "mean" not in stats:
        raise GenetError(f"{path}: trtexec GPU Compute Time has no mean figure")
    if not stats["mean"] > 0:
        raise GenetError(f"{path}: trtexec GPU Compute Time mean is {stats['mean']} ms")
    batch = resolve_batch(path, _trtexec_batch(text), batch_size, "the log's --shapes")
    return Throughput(str(path), "trtexec log", batch, 1000.0 * batch / stats["mean"], False, "gpu", stats,
                      "GPU Compute Time per batch")
