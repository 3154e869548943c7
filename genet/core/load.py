"""The machine's load before and after a measurement, read on Linux (``os.getloadavg``) against its core count.

A timing on a machine whose other processes want the cores measures the sharing, not the model: genet records
the 1-minute load average before and after a run and calls the load high when either exceeds the number of
cores (more runnable processes than cores: something waited for a core). docs/metrics.md, "Load".
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: Load average per core above which a measurement is marked as taken under high load.
HIGH_LOAD_PER_CORE = 1.0


def load_average() -> float | None:
    """The 1-minute load average, or None where the system does not give one."""
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return None


def core_count() -> int:
    return os.cpu_count() or 1


@dataclass
class LoadReading:
    """The 1-minute load average before and after a measurement, and the cores it is judged against."""

    before: float | None
    after: float | None = None
    cores: int = 1

    @classmethod
    def start(cls) -> "LoadReading":
        return cls(load_average(), None, core_count())

    def finish(self) -> "LoadReading":
        self.after = load_average()
        return self

    @property
    def high(self) -> bool:
        limit = HIGH_LOAD_PER_CORE * self.cores
        return any(value is not None and not value <= limit for value in (self.before, self.after))

    def to_json(self) -> dict:
        return {"load_before": self.before, "load_after": self.after, "cores": self.cores, "high_load": self.high}

    def text(self) -> str:
        shown = "/".join("?" if v is None else f"{v:.2f}" for v in (self.before, self.after))
        return f"load average {shown} (before/after) on {self.cores} cores"
