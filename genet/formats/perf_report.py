"""The perf report ``result/perf_vision_batchsize_{bs}_device_{id}.txt`` and its JSON twin.

The text file has the Ascend benchmark tool's five lines::

    [e2e] throughputRate: 132.777, latency: 75314.4
    [data read] throughputRate: 134.331, moduleLatency: 7.44429
    [preprocess] throughputRate: 134.114, moduleLatency: 7.45634
    [inference] throughputRate: 134.244, Interface throughputRate: 809.813, moduleLatency: 1.35099
    [postprocess] throughputRate: 134.257, moduleLatency: 7.44838

The seed's parser joins the lines with ``,`` and takes the 8th ``: value,`` field: the
Interface throughputRate (stripping a ``samples/s`` suffix).

genet adds a sixth line the Ascend tool does not write, so that a report copied without its JSON
twin still says what measured it and whether the run failed (NaN or Inf outputs)::

    [genet] measured by onnxruntime fp32 on CPU (…); non-finite outputs 0
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from genet.core.errors import GenetError
from genet.core.fsio import atomic_files

_LINE_KEYS = (
    ("e2e", ("e2e_throughput", "e2e_latency_ms"), ("throughputRate", "latency")),
    ("data read", ("read_throughput", "read_latency_ms"), ("throughputRate", "moduleLatency")),
    ("preprocess", ("preprocess_throughput", "preprocess_latency_ms"), ("throughputRate", "moduleLatency")),
    (
        "inference",
        ("inference_throughput", "interface_throughput", "inference_latency_ms"),
        ("throughputRate", "Interface throughputRate", "moduleLatency"),
    ),
    ("postprocess", ("postprocess_throughput", "postprocess_latency_ms"), ("throughputRate", "moduleLatency")),
)
_FIELD = re.compile(r":(.*?),")
# Other spellings of a line's tag: the Ascend tool itself writes [infer] and [post].
_TAG_ALIASES = {"inference": ("inference", "infer"), "postprocess": ("postprocess", "post")}


@dataclass
class PerfReport:
    """The figures of the five-line report (throughputs in images/s, latencies in ms)."""

    e2e_throughput: float
    e2e_latency_ms: float
    read_throughput: float
    read_latency_ms: float
    preprocess_throughput: float
    preprocess_latency_ms: float
    inference_throughput: float
    interface_throughput: float
    inference_latency_ms: float
    postprocess_throughput: float
    postprocess_latency_ms: float

    def to_txt(self) -> str:
        values = asdict(self)
        lines = []
        for tag, attrs, labels in _LINE_KEYS:
            parts = ", ".join(f"{label}: {values[attr]:.6g}" for attr, label in zip(attrs, labels))
            lines.append(f"[{tag}] {parts}")
        return "\n".join(lines) + "\n"


# The one rule of which figures are one NPU chip's (docs/metrics.md, "Chips and cards"): those of genet's Ascend
# runner (its backend name, genet.runners.ascend) and of the Ascend tools' own reports (which have no backend).
NPU_BACKENDS = ("ascend",)


def is_npu_chip(backend: str) -> bool:
    """Whether a figure that ``backend`` measured (a perf JSON's, sweep file's or ais_bench summary's) is one chip's."""
    return backend in NPU_BACKENDS


def perf_stem(batch_size: int, device_id: int) -> str:
    return f"perf_vision_batchsize_{batch_size}_device_{device_id}"


def seed_interface_figure(text: str) -> float:
    """The seed's parse.py rule: the 8th ``: value,`` field, ``samples/s`` stripped."""
    values = [v.strip() for v in _FIELD.findall(text.replace("\n", ",") + ",")]
    if len(values) < 8:
        raise ValueError(f"only {len(values)} ': value,' fields, the seed's rule needs 8")
    return float(values[7].replace("samples/s", ""))


def parse_perf_txt(text: str, where: str = "perf report") -> PerfReport:
    """Parse the five-line report (ours or the Ascend tool's)."""
    values: dict[str, float] = {}
    for tag, attrs, labels in _LINE_KEYS:
        spellings = "|".join(re.escape(t) for t in _TAG_ALIASES.get(tag, (tag,)))
        match = re.search(rf"^\s*\[(?:{spellings})\](.*)$", text, re.MULTILINE)
        if not match:
            raise GenetError(f"{where}: no [{tag}] line: not a benchmark perf report")
        for attr, label in zip(attrs, labels):
            found = re.search(rf"(?:^|,)\s*{label}\s*[:=]\s*([-+0-9.eE]+|nan|inf)", match.group(1))
            if not found:
                raise GenetError(f"{where}: [{tag}] line has no {label} figure")
            values[attr] = float(found.group(1))
    return PerfReport(**values)


def read_perf_txt(path: str | os.PathLike) -> PerfReport:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise GenetError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_perf_txt(text, str(path))


def perf_paths(result_dir: str | os.PathLike, batch_size: int, device_id: int) -> tuple[Path, Path]:
    """The .txt report and its .json twin."""
    stem = Path(result_dir) / perf_stem(batch_size, device_id)
    return stem.with_suffix(".txt"), stem.with_suffix(".json")


_GENET_LINE = re.compile(r"^\[genet\] measured by (\S+) (\S+) on (.*); non-finite outputs (\d+)\s*$", re.MULTILINE)


def genet_line(details: dict[str, Any]) -> str:
    """The report's sixth line: what measured it, and how many outputs were NaN or Inf."""
    return (f"[genet] measured by {details.get('backend') or '?'} {details.get('precision') or '?'} on "
            f"{details.get('device') or '?'}; non-finite outputs {int(details.get('non_finite_outputs') or 0)}\n")


def read_genet_line(text: str) -> dict[str, Any] | None:
    """backend, precision, device and non_finite_outputs of a report's genet line; None without one."""
    found = _GENET_LINE.search(text)
    if found is None:
        return None
    backend, precision, device, bad = found.groups()
    return {"backend": backend, "precision": precision, "device": device, "non_finite_outputs": int(bad)}


def perf_texts(batch_size: int, device_id: int, report: PerfReport, details: dict[str, Any]) -> tuple[str, str]:
    """The contents of the .txt report (the tool's five lines and genet's) and of its .json twin."""
    payload = {"batch_size": batch_size, "device_id": device_id, **asdict(report), **details}
    return report.to_txt() + genet_line(details), json.dumps(payload, indent=2, sort_keys=False) + "\n"


def write_text_as(tmp: Path, target: Path, text: str) -> None:
    """Write ``text`` to the temporary file of ``target``; an error names ``target``."""
    try:
        tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GenetError(f"{target}: cannot write: {exc.strerror}") from None


def write_perf(result_dir: str | os.PathLike, batch_size: int, device_id: int, report: PerfReport,
               details: dict[str, Any]) -> tuple[Path, Path]:
    """Write the .txt and .json reports as one unit: both or neither replace the old ones."""
    txt, js = perf_paths(result_dir, batch_size, device_id)
    texts = perf_texts(batch_size, device_id, report, details)
    with atomic_files([js, txt]) as temps:
        for tmp, target, text in zip(temps, (js, txt), reversed(texts)):
            write_text_as(tmp, target, text)
    return txt, js


PERF_FIELDS = tuple(f.name for f in fields(PerfReport))
