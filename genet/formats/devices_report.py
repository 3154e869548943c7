"""The several-device report ``devices_batchsize_{bs}.json`` (``benchmark.py -device_id=0,1``; docs/formats.md).

Written by genet.bench.devices; read here. Its ``total`` is defined in docs/metrics.md ("Several devices").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from genet.core.errors import GenetError

DEVICES_KIND = "genet several devices"


def devices_report_name(batch_size: int) -> str:
    return f"devices_batchsize_{batch_size}.json"


@dataclass
class DevicesReport:
    path: str
    batch_size: int
    throughput: float               # the measured total (docs/metrics.md)
    sum_of_device_rates: float      # ais_bench's total, for comparison
    device_ids: list[int]


def is_devices_report(data: object) -> bool:
    return isinstance(data, dict) and data.get("kind") == DEVICES_KIND


def parse_devices_report(path: str | os.PathLike, data: dict) -> DevicesReport:
    try:
        total = data["total"]
        return DevicesReport(str(path), int(data["batch_size"]), float(total["throughput"]),
                             float(total["sum_of_device_rates"]), [int(d["device_id"]) for d in data["devices"]])
    except (ValueError, KeyError, TypeError) as exc:
        raise GenetError(f"{Path(path)}: not a readable several-device report ({exc})") from None
