"""Read the reports that speed and accuracy figures come in, recognised by their content.

- the benchmark tool's (or our runner's) ``perf_vision_batchsize_{bs}_device_{id}.txt``,
  whose Interface throughputRate is one NPU chip's throughput;
- the benchmark tool's pure-inference report (``ave_throughputRate: 1730.97samples/s``);
- an ``ais_bench`` log (``throughput 1000*batchsize(16)/NPU_compute_time.mean(...): N``);
- a ``trtexec`` log: throughput = 1000 × batch / mean GPU Compute Time (ms), the batch read
  from ``--shapes=image:16x3x32x32`` in the log when it is there;
- our runner's perf JSON (``genet.formats.perf_report.write_perf``; an ``ascend`` backend's figure is per chip);
- an ``ais_bench`` ``{timestamp}_summary.json`` (the tool's own: per chip; genet's: per its backend);
- an accuracy JSON (``cifar10_acc_eval.py``'s, or the seed's).

NPU figures are per chip; which reports are chip figures, and how a card's figure follows from
them (the ×4 of a 310 card): docs/metrics.md, "Chips and cards".
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from genet.core.errors import GenetError
from genet.formats.perf_report import PERF_FIELDS, parse_perf_txt

CHIPS_PER_CARD = {"310": 4, "310P": 1, "710": 1}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PURE_INFER = re.compile(rf"ave_throughputRate\s*[:=]\s*({_NUMBER})\s*samples/s\s*,\s*ave_latency\s*[:=]\s*"
                         rf"({_NUMBER})\s*ms")
_AIS_THROUGHPUT = re.compile(rf"throughput\s+1000\s*\*\s*batchsize(?:\.mean)?\(({_NUMBER})\)\s*/\s*"
                             rf"NPU_compute_time\.mean\(({_NUMBER})\)\s*:\s*({_NUMBER})", re.IGNORECASE)
_AIS_COMPUTE = re.compile(r"NPU_compute_time \(ms\):([^\n]*)")
_TRT_COMPUTE = re.compile(r"(?<!Total )GPU Compute(?: Time)?\s*:")
_STAT = re.compile(rf"(min|max|mean|median|percentile\(\d+(?:\.\d+)?%\))\s*=\s*({_NUMBER})")
_TRT_SHAPES = re.compile(r"--shapes[= ]\s*([^\s\"']+)")
_TRT_INFERENCE_SHAPE = re.compile(r"Input inference shape\s*:\s*(\S+)")
_TRT_BATCH = re.compile(r"--batch[= ](\d+)")
_BS_IN_NAME = re.compile(r"(?:^|[_\-.])bs(\d+)(?:[_\-.]|$)")


@dataclass
class Throughput:
    """A throughput figure read from a report (images/s)."""

    source: str
    kind: str                  # what the report is, in words
    batch_size: int
    fps: float                 # as the report gives it: one chip's figure when per_chip
    per_chip: bool             # an NPU figure, to multiply by the card's chip count
    device: str                # the device the report speaks of, as far as it says
    latency_ms: dict[str, float] = field(default_factory=dict)
    latency_label: str = ""    # what the latency figures measure
    model: str | None = None   # the model file, where the report says it

    def __post_init__(self):
        check_throughput(self.fps, f"{self.source}: bs{self.batch_size}")

    def card_fps(self, chips: int) -> float:
        return self.fps * chips if self.per_chip else self.fps


@dataclass
class AccuracySummary:
    source: str
    top: list[str]             # "Top1 accuracy" .. "Top5 accuracy" values, as written ("94.22%")
    errors: dict[str, str]     # "Error@1"/"Error@5", as written or worked out from the top-k
    images: str | None = None
    data: str | None = None    # "generated (NOT CIFAR-10)" when computed on generated data


def check_throughput(fps: float, where: str) -> None:
    """The one check of every throughput figure read or typed in: a positive finite number."""
    if not (math.isfinite(fps) and fps > 0):
        raise GenetError(f"{where}: throughput {fps} is not a positive number")


def format_fps(value: float) -> str:
    """A throughput as the seed's parse.py prints it (a Python float), to 3 decimals."""
    return str(round(value, 3))


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise GenetError(f"{path}: file not found") from None
    except OSError as exc:
        raise GenetError(f"{path}: cannot read: {exc.strerror}") from None
    if b"\0" in raw:
        raise GenetError(f"{path}: binary file, not a perf report, log or accuracy JSON")
    return raw.decode("utf-8", errors="replace")


def _stats(text: str) -> dict[str, float]:
    """``min = 0.5 ms, mean = 0.6 ms, percentile(99%) = 0.7`` -> {"min": 0.5, ..., "p99": 0.7}."""
    stats = {}
    for name, value in _STAT.findall(text):
        key = name if not name.startswith("percentile") else "p" + name[len("percentile("):-2]
        stats[key] = float(value)
    return stats


def _batch_from_name(path: Path) -> int | None:
    """The seed's rule (field 3 of the name split on ``_``), then a ``bs16`` part of the name."""
    fields = path.name.split("_")
    if len(fields) > 3 and fields[3].isdigit():
        return int(fields[3])
    match = _BS_IN_NAME.search(path.stem)
    return int(match.group(1)) if match else None


def _resolve_batch(path: Path, found: int | None, given: int | None, where: str) -> int:
    if found is not None and given is not None and found != given:
        raise GenetError(f"{path}: {where} says batch size {found}, but --batch-size {given} was given")
    batch = found if found is not None else given
    if batch is None:
        raise GenetError(f"{path}: cannot tell the batch size ({where} does not say it); pass --batch-size")
    if batch < 1:
        raise GenetError(f"{path}: batch size {batch} is not positive")
    return batch


def _runner_twin(path: Path) -> dict | None:
    """The perf JSON our runner writes beside its ``.txt`` (None for the Ascend tool's own reports)."""
    try:
        data = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not set(PERF_FIELDS) <= data.keys() or not data.get("backend"):
        return None
    return data


def _ascend_perf(path: Path, text: str, batch_size: int | None) -> Throughput:
    report = parse_perf_txt(text, str(path))
    batch = _resolve_batch(path, _batch_from_name(path), batch_size, "the file name")
    latency = {"e2e_total": report.e2e_latency_ms, "inference": report.inference_latency_ms}
    twin = _runner_twin(path)
    device = _device_label(twin) if twin else "310"
    return Throughput(str(path), "benchmark perf report", batch, report.interface_throughput, device == "310",
                      device, latency, "e2e_total is the whole run; inference is per item",
                      str(twin["model"]) if twin and twin.get("model") else None)


def _pure_infer(path: Path, text: str, batch_size: int | None) -> Throughput:
    matches = _PURE_INFER.findall(text)
    if len(matches) > 1:
        raise GenetError(f"{path}: holds {len(matches)} pure-inference summaries; give one run's report")
    fps, latency = (float(v) for v in matches[0])
    batch = _resolve_batch(path, _batch_from_name(path), batch_size, "the file name")
    return Throughput(str(path), "benchmark pure-inference report", batch, fps, True, "310",
                      {"mean": latency}, "ave_latency per item")


def _ais_bench(path: Path, text: str, batch_size: int | None) -> Throughput:
    matches = _AIS_THROUGHPUT.findall(text)
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
    batch = _resolve_batch(path, logged_batch, batch_size, "the throughput line")
    return Throughput(str(path), "ais_bench log", batch, fps, True, "310", latency, "NPU_compute_time per batch")


def _trtexec_batch(text: str) -> int | None:
    specs = _TRT_SHAPES.findall(text) or _TRT_INFERENCE_SHAPE.findall(text)
    for spec in specs:
        # image:16x3x32x32 (or image=16x3x32x32), several inputs separated by commas: use the first.
        dims = re.split(r"[:=]", spec.split(",")[0])[-1].split("x")
        if dims[0].isdigit():
            return int(dims[0])
    batch = _TRT_BATCH.search(text)
    return int(batch.group(1)) if batch else None


def _trtexec(path: Path, text: str, batch_size: int | None) -> Throughput:
    starts = list(_TRT_COMPUTE.finditer(text))
    if len(starts) > 1:
        raise GenetError(f"{path}: holds {len(starts)} trtexec GPU Compute summaries; give one run's log")
    # The figures follow on one line, or (as the seed quotes them) one per line, until the next [tag].
    tail = text[starts[0].end():]
    stats = _stats(tail[:tail.find("[")] if "[" in tail else tail)
    if "mean" not in stats:
        raise GenetError(f"{path}: trtexec GPU Compute Time has no mean figure")
    if not stats["mean"] > 0:
        raise GenetError(f"{path}: trtexec GPU Compute Time mean is {stats['mean']} ms")
    batch = _resolve_batch(path, _trtexec_batch(text), batch_size, "the log's --shapes")
    return Throughput(str(path), "trtexec log", batch, 1000.0 * batch / stats["mean"], False, "gpu", stats,
                      "GPU Compute Time per batch")


def _is_npu_backend(backend: str) -> bool:
    return re.search(r"ascend|acl|npu", backend, re.IGNORECASE) is not None


def _device_label(data: dict) -> str:
    """``310`` (an NPU chip figure), ``cpu`` or ``gpu``, from a runner perf JSON's backend and device."""
    backend = str(data.get("backend") or "")
    device = str(data.get("device") or data.get("device_name") or "")
    if _is_npu_backend(backend) or _is_npu_backend(device):
        return "310"
    if device:
        return "cpu" if device.lower().startswith("cpu") else "gpu"
    return backend or "genet"


def _numbers(stats: object) -> dict[str, float]:
    return {k: float(v) for k, v in stats.items() if isinstance(v, (int, float))} if isinstance(stats, dict) else {}


def _genet_perf_json(path: Path, data: dict, batch_size: int | None) -> Throughput:
    try:
        fps = float(data["interface_throughput"])
        batch = int(data["batch_size"])
    except (TypeError, ValueError) as exc:
        raise GenetError(f"{path}: perf JSON has a malformed figure: {exc}") from None
    batch = _resolve_batch(path, batch, batch_size, "the JSON")
    # The runner's device time per batch; a flat "latency_ms" where an older writer left one.
    batch_latency = data.get("batch_latency_ms")
    latency = _numbers(batch_latency.get("device")) if isinstance(batch_latency, dict) else {}
    label = "device time per batch"
    if not latency:
        latency, label = _numbers(data.get("latency_ms")), "latency_ms"
    device = _device_label(data)
    return Throughput(str(path), "genet perf JSON", batch, fps, device == "310", device, latency, label,
                      str(data["model"]) if data.get("model") else None)


def _ais_summary_json(path: Path, data: dict, batch_size: int | None) -> Throughput:
    """ais_bench's ``{timestamp}_summary.json`` (the real tool's, or genet's in its layout, see genet.bench.aisbench).

    ``throughput`` is 1000 × batch / mean NPU_compute_time ms; the batch is read from ``args``
    (``batchsize``, ``dymBatch``) where the tool recorded it. genet's summaries carry a ``genet``
    section naming the backend that measured them: a CPU or GPU figure is not one NPU chip's.
    """
    compute = data.get("NPU_compute_time")
    try:
        fps = float(data["throughput"])
        mean_ms = float(compute["mean"])
    except (TypeError, ValueError, KeyError) as exc:
        raise GenetError(f"{path}: ais_bench summary has a malformed figure: {exc}") from None
    if not math.isfinite(fps) or fps <= 0 or not math.isfinite(mean_ms) or mean_ms <= 0:
        raise GenetError(f"{path}: ais_bench summary throughput {fps} (NPU_compute_time mean {mean_ms} ms) is "
                         f"not a positive number")
    args = data.get("args") if isinstance(data.get("args"), dict) else {}
    ours = data.get("genet") if isinstance(data.get("genet"), dict) else {}
    logged = ours.get("batch_size") or next((args[k] for k in ("batchsize", "batch_size", "dymBatch", "dym_batch")
                                             if args.get(k) not in (None, "")), None)
    try:
        logged = int(logged) if logged is not None else None
    except (TypeError, ValueError):
        raise GenetError(f"{path}: ais_bench summary args give batch size {logged!r}") from None
    batch = _resolve_batch(path, logged, batch_size, "the summary's args")
    latency = {("p99" if key in ("percentile(99%)", "P99") else key): value
               for key, value in _numbers(compute).items() if key != "count"}
    backend = str(ours.get("backend") or "ascend")
    device = str(ours.get("device") or "310")
    return Throughput(str(path), "ais_bench summary JSON", batch, fps, _is_npu_backend(backend),
                      device if not _is_npu_backend(backend) else "310", latency, "NPU_compute_time per batch")


def _accuracy_json(path: Path, data: dict) -> AccuracySummary:
    entries = {str(e.get("key")): str(e.get("value")) for e in data["value"] if isinstance(e, dict)}
    top = [v for k, v in entries.items() if "Top" in k]
    if not top:
        raise GenetError(f"{path}: accuracy JSON has no Top1..Top5 accuracy entries")
    for value in top:
        try:
            share = float(value.rstrip("%"))
        except ValueError:
            share = math.nan
        if not 0 <= share <= 100:
            raise GenetError(f"{path}: accuracy {value!r} is not a percentage between 0 and 100")
    errors = {}
    for k, index in (("Error@1", 0), ("Error@5", min(4, len(top) - 1))):
        if k in entries:
            errors[k] = entries[k]
        else:
            errors[k] = str(round(100.0 - float(top[index].rstrip("%")), 2))
    data_kind = data.get("data")
    return AccuracySummary(str(path), top, errors, entries.get("Number of images"),
                           str(data_kind) if data_kind else None)


def _json_report(path: Path, text: str, batch_size: int | None) -> Throughput | AccuracySummary:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenetError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("value"), list):
        return _accuracy_json(path, data)
    if isinstance(data, dict) and {"interface_throughput", "batch_size"} <= data.keys():
        return _genet_perf_json(path, data, batch_size)
    if isinstance(data, dict) and {"NPU_compute_time", "throughput"} <= data.keys():
        return _ais_summary_json(path, data, batch_size)
    raise GenetError(f"{path}: JSON that is neither an accuracy result nor a genet perf report")


def read_report(path: str | os.PathLike, batch_size: int | None = None) -> Throughput | AccuracySummary:
    """Recognise ``path`` by its content and read its figures.

    ``batch_size`` is used where the report does not say it, and checked where it does.
    """
    path = Path(path)
    text = _read_text(path)
    if text.lstrip().startswith("{"):
        return _json_report(path, text, batch_size)
    if re.search(r"^\s*\[(?:e2e|data read|preprocess|inference|postprocess)\] throughputRate", text, re.MULTILINE):
        return _ascend_perf(path, text, batch_size)
    if _PURE_INFER.search(text):
        return _pure_infer(path, text, batch_size)
    if _AIS_THROUGHPUT.search(text):
        return _ais_bench(path, text, batch_size)
    if _TRT_COMPUTE.search(text):
        return _trtexec(path, text, batch_size)
    if not text.strip():
        raise GenetError(f"{path}: empty file")
    raise GenetError(f"{path}: not a perf report, pure-inference report, ais_bench log, trtexec log, "
                     "genet perf JSON or accuracy JSON")


def read_throughput(path: str | os.PathLike, batch_size: int | None = None) -> Throughput:
    report = read_report(path, batch_size)
    if isinstance(report, AccuracySummary):
        raise GenetError(f"{path}: an accuracy result, not a throughput report")
    return report


def accuracy_lines(summary: AccuracySummary) -> list[str]:
    """The seed's ``om bs1 top1:94.22% top5:99.85%`` line, then the errors as the seed's table quotes them."""
    name = Path(summary.source).name
    tag = name.split("_")[1].split(".")[0] if "_" in name else Path(name).stem
    top5 = summary.top[min(4, len(summary.top) - 1)]
    lines = [f"om {tag} top1:{summary.top[0]} top5:{top5}",
             f"Error@1 {summary.errors['Error@1']} Error@5 {summary.errors['Error@5']}"]
    if summary.data:
        lines.append(f"data: {summary.data}: these figures are not CIFAR-10 accuracies")
    return lines


def throughput_lines(report: Throughput, label: str, chips: int) -> list[str]:
    """``310 bs1 fps:3239.252`` (the seed's line), then the latency figures when the report has them.

    ``label`` names NPU chip figures (multiplied by ``chips``); other figures carry their device.
    """
    name = label if report.per_chip else report.device
    lines = [f"{name} bs{report.batch_size} fps:{format_fps(report.card_fps(chips))}"]
    if report.kind != "benchmark perf report" and report.latency_ms:
        figures = " ".join(f"{k} {v:.6g}" for k, v in report.latency_ms.items())
        lines.append(f"latency ms ({report.latency_label}): {figures}")
    return lines
