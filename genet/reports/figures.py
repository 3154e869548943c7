"""The figures read from reports: a throughput with what it measures (``Throughput``), an accuracy
(``AccuracySummary``), the one check of a throughput, and the batch size a report's name or text gives.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from genet.core.errors import GenetError
from genet.formats.perf_report import PerfReport, is_npu_chip

CHIPS_PER_CARD = {"310": 4, "310P": 1, "710": 1}
BS_IN_NAME = re.compile(r"(?:^|[_\-.])bs(\d+)(?:[_\-.]|$)")


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
    perf: PerfReport | None = field(default=None, repr=False)    # a perf report's five lines
    details: dict | None = field(default=None, repr=False)       # and what its JSON twin says of the run
    non_finite: int = 0        # outputs the run gave as NaN or Inf, where the report says it

    def __post_init__(self):
        if self.non_finite:
            raise GenetError(f"{self.source}: the run gave {self.non_finite} non-finite outputs (NaN or Inf): it "
                             f"failed, and its figures are not a measurement of the model")
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


def device_label(data: dict) -> str:
    """``310`` (an NPU chip figure), ``cpu`` or ``gpu``, from a runner perf JSON's backend and device."""
    backend = str(data.get("backend") or "")
    device = str(data.get("device") or data.get("device_name") or "")
    if is_npu_chip(backend):
        return "310"
    if device:
        return "cpu" if device.lower().startswith("cpu") else "gpu"
    return backend or "genet"


def non_finite_of(data: dict) -> int:
    """The non-finite outputs a genet report records (0 where it does not say)."""
    try:
        return int(data.get("non_finite_outputs") or 0)
    except (TypeError, ValueError, AttributeError):
        return 0


def check_throughput(fps: float, where: str) -> None:
    """The one check of every throughput figure read or typed in: a positive finite number."""
    if not (math.isfinite(fps) and fps > 0):
        raise GenetError(f"{where}: throughput {fps} is not a positive number")


def format_fps(value: float) -> str:
    """A throughput as the seed's parse.py prints it (a Python float), to 3 decimals."""
    return str(round(value, 3))


def batch_from_name(path: Path) -> int | None:
    """The seed's rule (field 3 of the name split on ``_``), then a ``bs16`` part of the name."""
    fields = path.name.split("_")
    if len(fields) > 3 and fields[3].isdigit():
        return int(fields[3])
    match = BS_IN_NAME.search(path.stem)
    return int(match.group(1)) if match else None


class BatchSizeUnknown(GenetError):
    """A report that does not say its batch size, none being given (each tool names its own way to give it)."""


def resolve_batch(path: Path, found: int | None, given: int | None, where: str) -> int:
    if found is not None and given is not None and found != given:
        raise GenetError(f"{path}: {where} says batch size {found}, but --batch-size {given} was given")
    batch = found if found is not None else given
    if batch is None:
        raise BatchSizeUnknown(f"{path}: cannot tell the batch size ({where} does not say it); pass --batch-size")
    if batch < 1:
        raise GenetError(f"{path}: batch size {batch} is not positive")
    return batch
