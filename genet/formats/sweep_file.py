"""The sweep file ``sweep_device_{id}.json`` that ``benchmark.py -batch_size=1,4,…`` writes (docs/formats.md).

Written by genet.bench.sweep; read here, so that reading one never loads the run engine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from genet.core.errors import GenetError
from genet.formats.perf_report import is_npu_chip

SWEEP_KIND = "genet batch sweep"


def sweep_stem(device_id: int) -> str:
    return f"sweep_device_{device_id}"


@dataclass
class SweepFile:
    """What a sweep file holds, per batch size."""

    path: str
    interface: dict[int, float]                 # batch → Interface img/s
    per_chip: bool                              # one NPU chip's figures (docs/metrics.md, "Chips and cards")
    best_batch: int | None = None               # as the sweep marked it
    device_latency_ms: dict[int, dict[str, float]] = field(default_factory=dict)    # batch → device ms per batch
    backend: str = ""                           # what measured it, as the sweep says
    device: str = ""
    model: str | None = None
    spread: dict[int, dict] = field(default_factory=dict)     # batch → its repeats' spread (genet.core.stats.spread)
    tied: list[int] = field(default_factory=list)             # the sizes that tie for best (no best batch marked)
    warning: str | None = None                                # the sweep's instability warning

    def p99_ms(self, batch: int) -> float:
        try:
            return float(self.device_latency_ms[batch]["p99"])
        except (KeyError, TypeError, ValueError):
            raise GenetError(f"{self.path}: sweep file gives no device p99 for batch {batch}") from None


def is_sweep(data: object) -> bool:
    """A parsed JSON object whose ``kind`` is a genet sweep."""
    return isinstance(data, dict) and data.get("kind") == SWEEP_KIND


def parse_sweep(path: str | os.PathLike, data: dict) -> SweepFile:
    """The figures of a sweep file's parsed JSON (GenetError naming ``path`` when they are not readable)."""
    try:
        points = data["points"]
        interface = {int(p["batch_size"]): float(p["interface_throughput"]) for p in points}
        latency = {int(p["batch_size"]): dict(p.get("device_latency_ms") or {}) for p in points}
        failed = {int(p["batch_size"]): int(p.get("non_finite_outputs") or 0) for p in points}
        best = data.get("best_batch")
        best = int(best) if best is not None else None
        backend = str(data.get("backend", ""))
        device, model = str(data.get("device", "")), str(data["model"]) if data.get("model") else None
        spreads = {int(p["batch_size"]): dict(p["interface_spread"]) for p in points if p.get("interface_spread")}
        tied = [int(bs) for bs in data.get("tied_batches") or []]
        warning = (data.get("stability") or {}).get("warning")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GenetError(f"{Path(path)}: not a readable genet sweep file ({exc})") from None
    if not interface:
        raise GenetError(f"{Path(path)}: sweep file holds no batch sizes")
    bad = [(batch, count) for batch, count in failed.items() if count]
    if bad:
        raise GenetError(f"{Path(path)}: batch {bad[0][0]} gave {bad[0][1]} non-finite outputs (NaN or Inf): the "
                         f"sweep failed, its figures are not a measurement of the model")
    if best is not None and best not in interface:
        raise GenetError(f"{Path(path)}: sweep file marks batch {best} best, but holds no such batch size")
    return SweepFile(str(path), interface, is_npu_chip(backend), best, latency, backend, device, model, spreads, tied,
                     str(warning) if warning else None)
