"""The machine's load during a measurement, read on Linux: the load average and the other processes' CPU time.

A timing on a machine whose other processes want the cores measures the sharing, not the model: genet records
the 1-minute load average before and after a run and calls the load high when either exceeds the number of
cores (more runnable processes than cores: something waited for a core), or when the other processes kept
``HIGH_OTHERS_CORES`` or more cores busy on average while it ran (the machine's busy time from /proc/stat less
this process's own CPU time: the 1-minute average lags, and one busy process beside genet on a 2-core machine
never lifts it above 2). docs/metrics.md, "Load".
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

#: Load average per core above which a measurement is marked as taken under high load.
HIGH_LOAD_PER_CORE = 1.0
#: Cores the other processes kept busy, on average over the measurement, from which its load is high.
HIGH_OTHERS_CORES = 0.5
#: Shorter measurements get no reading of the other processes (the kernel counts CPU time in 10 ms ticks).
OTHERS_MIN_SECONDS = 0.2
PROC_STAT = "/proc/stat"


def load_average() -> float | None:
    """The 1-minute load average, or None where the system does not give one."""
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return None


def core_count() -> int:
    return os.cpu_count() or 1


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat's cpu line: all but idle and iowait;
    steal counts as busy), or None where there is no /proc/stat."""
    try:
        with open(PROC_STAT, encoding="ascii") as fh:
            fields = fh.readline().split()
        ticks = [int(value) for value in fields[1:9]]   # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    if fields[:1] != ["cpu"] or len(ticks) < 5:
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """This process's CPU seconds, all its threads."""
    times = os.times()
    return times.user + times.system


def busy_text(stability: dict) -> str:
    """``load average 2.10/2.35 (before/after) on 2 cores, other processes 0.98 cores`` from a ``stability``
    record (LoadReading.to_json)."""
    shown = "/".join("?" if v is None else f"{v:.2f}" for v in (stability.get("load_before"),
                                                                stability.get("load_after")))
    text = f"load average {shown} (before/after) on {stability.get('cores')} cores"
    others = stability.get("others_cpu_cores")
    return text + (f", other processes {others:.2f} cores" if others is not None else "")


@dataclass
class LoadReading:
    """The 1-minute load average before and after a measurement, and the cores it is judged against."""

    before: float | None
    after: float | None = None
    cores: int = 1
    others_cores: float | None = None       # the other processes' average busy cores while it ran
    _marks: tuple[float | None, float, float] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def start(cls) -> "LoadReading":
        reading = cls(load_average(), None, core_count())
        reading._marks = (machine_busy_seconds(), own_cpu_seconds(), time.monotonic())
        return reading

    def finish(self) -> "LoadReading":
        self.after = load_average()
        if self._marks is not None and self._marks[0] is not None:
            busy, own, wall = machine_busy_seconds(), own_cpu_seconds(), time.monotonic()
            elapsed = wall - self._marks[2]
            if busy is not None and elapsed >= OTHERS_MIN_SECONDS:
                self.others_cores = max(0.0, (busy - self._marks[0] - (own - self._marks[1])) / elapsed)
        return self

    @property
    def high(self) -> bool:
        limit = HIGH_LOAD_PER_CORE * self.cores
        loaded = any(value is not None and not value <= limit for value in (self.before, self.after))
        return loaded or (self.others_cores is not None and not self.others_cores < HIGH_OTHERS_CORES)

    def to_json(self) -> dict:
        return {"load_before": self.before, "load_after": self.after, "cores": self.cores,
                "others_cpu_cores": self.others_cores, "high_load": self.high}

    def text(self) -> str:
        return busy_text(self.to_json())
