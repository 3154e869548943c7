"""Read every report genet or the vendor tools write, recognised by its content: the one registry (``KINDS``).

- the benchmark tool's (or our runner's) ``perf_vision_batchsize_{bs}_device_{id}.txt``,
  whose Interface throughputRate is one NPU chip's throughput;
- the benchmark tool's pure-inference report (``ave_throughputRate: 1730.97samples/s``);
- an ``ais_bench`` log (``throughput 1000*batchsize(16)/NPU_compute_time.mean(...): N``);
- a ``trtexec`` log: throughput = 1000 × batch / mean GPU Compute Time (ms), the batch read
  from ``--shapes=image:16x3x32x32`` in the log when it is there;
- our runner's perf JSON (``genet.formats.perf_report.write_perf``; an ``ascend`` backend's figure is per chip);
- an ``ais_bench`` ``{timestamp}_summary.json`` (the tool's own: per chip; genet's: per its backend);
- an accuracy JSON (``cifar10_acc_eval.py``'s, or the seed's);
- genet's sweep file, several-device report and quantize.py report (their formats in genet.formats).

Each reader gives the figures as one object (``Throughput``, ``AccuracySummary``, ``SweepFile``, ``DevicesReport``,
``QuantizeReport``); a caller says which it takes (``read_report(path, accept=...)``). Which figures are one NPU
chip's: ``genet.formats.perf_report.is_npu_chip``; how a card's figure follows from them (the ×4 of a 310 card):
docs/metrics.md, "Chips and cards".
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from genet.core.errors import GenetError
from genet.formats.ais_bench_files import batch_from_args
from genet.formats.devices_report import DevicesReport, is_devices_report, parse_devices_report
from genet.formats.perf_report import PERF_FIELDS, is_npu_chip, parse_perf_txt, read_genet_line
from genet.formats.quantize_report import QuantizeReport, is_quantize_report, parse_quantize_report
from genet.formats.sweep_file import SweepFile, is_sweep, parse_sweep
from genet.reports.figures import (
    AccuracySummary,
    Throughput,
    batch_from_name,
    device_label,
    format_fps,
    non_finite_of,
    resolve_batch,
)
from genet.reports.vendor_logs import (
    AIS_THROUGHPUT,
    PURE_INFER,
    TRT_COMPUTE,
    read_ais_bench_log,
    read_pure_infer,
    read_trtexec_log,
)


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
    batch = resolve_batch(path, batch_from_name(path), batch_size, "the file name")
    latency = {"e2e_total": report.e2e_latency_ms, "inference": report.inference_latency_ms}
    # genet's reports say what measured them: the JSON twin, else the report's own genet line.
    twin = _runner_twin(path) or read_genet_line(text)
    device = device_label(twin) if twin else "310"
    return Throughput(str(path), "benchmark perf report", batch, report.interface_throughput, device == "310",
                      device, latency, "e2e_total is the whole run; inference is per item",
                      str(twin["model"]) if twin and twin.get("model") else None, report, twin,
                      non_finite=non_finite_of(twin) if twin else 0)


def _numbers(stats: object) -> dict[str, float]:
    return {k: float(v) for k, v in stats.items() if isinstance(v, (int, float))} if isinstance(stats, dict) else {}


def _genet_perf_json(path: Path, data: dict, batch_size: int | None) -> Throughput:
    try:
        fps = float(data["interface_throughput"])
        batch = int(data["batch_size"])
    except (TypeError, ValueError) as exc:
        raise GenetError(f"{path}: perf JSON has a malformed figure: {exc}") from None
    batch = resolve_batch(path, batch, batch_size, "the JSON")
    # The runner's device time per batch; a flat "latency_ms" where an older writer left one.
    batch_latency = data.get("batch_latency_ms")
    latency = _numbers(batch_latency.get("device")) if isinstance(batch_latency, dict) else {}
    label = "device time per batch"
    if not latency:
        latency, label = _numbers(data.get("latency_ms")), "latency_ms"
    device = device_label(data)
    return Throughput(str(path), "genet perf JSON", batch, fps, device == "310", device, latency, label,
                      str(data["model"]) if data.get("model") else None, non_finite=non_finite_of(data))


def _ais_summary_json(path: Path, data: dict, batch_size: int | None) -> Throughput:
    """ais_bench's ``{timestamp}_summary.json`` (the real tool's, or genet's in its layout, see genet.bench.aisbench).

    ``throughput`` is 1000 × batch / mean NPU_compute_time ms; the batch is read from ``args`` (the tool's
    argv list: ``--batchsize``, ``--dymBatch``, genet.formats.ais_bench_files) where the command line gave
    it, else from that definition (throughput × mean / 1000, when it is a whole number: a model's own
    batch size). genet's summaries carry a ``genet`` section naming the backend that measured them: a CPU
    or GPU figure is not one NPU chip's.
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
    ours = data.get("genet") if isinstance(data.get("genet"), dict) else {}
    try:
        logged = int(ours["batch_size"]) if ours.get("batch_size") else batch_from_args(data.get("args"))
    except (TypeError, ValueError) as exc:
        raise GenetError(f"{path}: ais_bench summary gives batch size {ours.get('batch_size')!r}: {exc}") from None
    except GenetError as exc:
        raise GenetError(f"{path}: {exc}") from None
    where = "the summary's args"
    if logged is None:
        logged, where = _batch_of_throughput(fps, mean_ms), "neither the summary's args nor its throughput"
    batch = resolve_batch(path, logged, batch_size, where)
    # Some releases' NPU_compute_time key holds the blanks of a continued source line: "percentile(99%   )".
    latency = {("p99" if "".join(key.split()) in ("percentile(99%)", "P99") else key): value
               for key, value in _numbers(compute).items() if key != "count"}
    backend = str(ours.get("backend") or "ascend")
    device = device_label(ours) if ours and not is_npu_chip(backend) else "310"     # one label style: cpu, gpu
    return Throughput(str(path), "ais_bench summary JSON", batch, fps, is_npu_chip(backend), device, latency,
                      "NPU_compute_time per batch",
                      non_finite=non_finite_of(ours))


def _batch_of_throughput(fps: float, mean_ms: float) -> int | None:
    """ais_bench's throughput is 1000 × batch / mean compute ms: the batch, when that gives a whole number."""
    batch = fps * mean_ms / 1000.0
    whole = round(batch)
    return whole if whole >= 1 and abs(batch - whole) <= 1e-6 * batch else None


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


@dataclass(frozen=True)
class Kind:
    """One kind of report: how it is recognised (on the parsed JSON object, or on the text) and read."""

    name: str                                       # in words, with its article
    gives: type
    recognise: Callable[[Any], object]
    read: Callable[[Path, Any, int | None], object]


JSON_KINDS = (
    Kind("an accuracy result", AccuracySummary, lambda data: isinstance(data.get("value"), list),
         lambda path, data, batch: _accuracy_json(path, data)),
    Kind("a genet sweep file", SweepFile, is_sweep, lambda path, data, batch: parse_sweep(path, data)),
    Kind("a several-device report", DevicesReport, is_devices_report,
         lambda path, data, batch: parse_devices_report(path, data)),
    Kind("a quantize.py report", QuantizeReport, is_quantize_report,
         lambda path, data, batch: parse_quantize_report(path, data)),
    Kind("a genet perf JSON", Throughput, lambda data: {"interface_throughput", "batch_size"} <= data.keys(),
         _genet_perf_json),
    Kind("an ais_bench summary JSON", Throughput, lambda data: {"NPU_compute_time", "throughput"} <= data.keys(),
         _ais_summary_json),
)
_PERF_LINE = re.compile(r"^\s*\[(?:e2e|data read|preprocess|inference|postprocess)\] throughputRate", re.MULTILINE)
TEXT_KINDS = (
    Kind("a benchmark perf report", Throughput, _PERF_LINE.search, _ascend_perf),
    Kind("a pure-inference report", Throughput, PURE_INFER.search, read_pure_infer),
    Kind("an ais_bench log", Throughput, AIS_THROUGHPUT.search, read_ais_bench_log),
    Kind("a trtexec log", Throughput, TRT_COMPUTE.search, read_trtexec_log),
)
KINDS = JSON_KINDS + TEXT_KINDS


def _kind_of(path: Path, text: str) -> tuple[Kind, Any]:
    """The kind of report ``text`` is, and what its reader takes (the parsed JSON object, or the text)."""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GenetError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from None
        kind = next((k for k in JSON_KINDS if isinstance(data, dict) and k.recognise(data)), None)
        if kind is None:
            raise GenetError(f"{path}: JSON that is neither an accuracy result nor a genet perf report")
        return kind, data
    kind = next((k for k in TEXT_KINDS if k.recognise(text)), None)
    if kind is None:
        if not text.strip():
            raise GenetError(f"{path}: empty file")
        raise GenetError(f"{path}: not a perf report, pure-inference report, ais_bench log, trtexec log, "
                         "genet perf JSON or accuracy JSON")
    return kind, text


def read_report(path: str | os.PathLike, batch_size: int | None = None,
                accept: tuple[type, ...] = (Throughput, AccuracySummary),
                wanted: str = "a perf report, log or accuracy JSON") -> Any:
    """Recognise ``path`` by its content and read its figures, when it is a kind that gives one of ``accept``.

    ``batch_size`` is used where the report does not say it, and checked where it does; ``wanted`` names what
    the caller takes, for the error when the file is another kind of report.
    """
    path = Path(path)
    kind, content = _kind_of(path, _read_text(path))
    if kind.gives not in accept:
        raise GenetError(f"{path}: {kind.name}, not {wanted}")
    return kind.read(path, content, batch_size)


def read_throughput(path: str | os.PathLike, batch_size: int | None = None) -> Throughput:
    return read_report(path, batch_size, accept=(Throughput,), wanted="a throughput report")


def accuracy_lines(summary: AccuracySummary) -> list[str]:
    """One line: ``bs1 top1:94.22% top5:99.85% Error@1 5.78 Error@5 0.15``, with a note on generated data.

    The guide's parse.py starts the line with ``om``; an accuracy JSON does not say which model or device
    produced the dumps, so the line names only the batch size its file name gives.
    """
    name = Path(summary.source).name
    tag = name.split("_")[1].split(".")[0] if "_" in name else Path(name).stem
    top5 = summary.top[min(4, len(summary.top) - 1)]
    line = (f"{tag} top1:{summary.top[0]} top5:{top5} "
            f"Error@1 {summary.errors['Error@1']} Error@5 {summary.errors['Error@5']}")
    if summary.data:
        line += f" (data: {summary.data}: not CIFAR-10 accuracies)"
    return [line]


def throughput_lines(report: Throughput, label: str, chips: int, latency: bool = False) -> list[str]:
    """One line: ``310 bs1 fps:3239.252`` (the guide's), and with ``latency`` the report's latency figures.

    ``label`` names NPU chip figures (multiplied by ``chips``); other figures carry their device.
    """
    name = label if report.per_chip else report.device
    line = f"{name} bs{report.batch_size} fps:{format_fps(report.card_fps(chips))}"
    if latency and report.kind != "benchmark perf report" and report.latency_ms:
        figures = " ".join(f"{k} {v:.6g}" for k, v in report.latency_ms.items())
        line += f"  latency ms ({report.latency_label}): {figures}"
    return [line]


def sweep_lines(sweep: SweepFile, label: str, chips: int) -> list[str]:
    """One line for a sweep file: ``cpu sweep bs1 fps:… bs4 fps:… best bs4`` (NPU chips × ``chips``)."""
    name = label if sweep.per_chip else (device_label({"backend": sweep.backend, "device": sweep.device})
                                         if sweep.device or sweep.backend else "genet")
    factor = chips if sweep.per_chip else 1
    figures = " ".join(f"bs{batch} fps:{format_fps(fps * factor)}" for batch, fps in sorted(sweep.interface.items()))
    best = f" best bs{sweep.best_batch}" if sweep.best_batch is not None else ""
    return [f"{name} sweep {figures}{best}"]
