"""The figures of a run: its stage timers, and the perf report and JSON details computed from them.

The figures (e2e, each stage's throughputRate and moduleLatency, the Interface throughputRate, the
per-call statistics) are defined in one place, docs/metrics.md; ``build_report`` and ``run_details``
compute them as written there. Per-call statistics come from genet's one percentile routine,
``genet.core.stats.summarize``.
"""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass, field
from typing import Sequence

from genet.bench.batches import BatchSpan
from genet.bench.config import BenchConfig
from genet.bench.sources import ImageShape, ImageSource
from genet.core.load import LoadReading, busy_text
from genet.core.stats import UNSTABLE_CV, is_unstable, spread, summarize
from genet.formats.perf_report import PerfReport
from genet.runners import CallTimes, Runner


class StageTimer:
    """Busy seconds of a stage (summed over threads) and the span from its first start to last end."""

    def __init__(self) -> None:
        self.busy = 0.0
        self.first = float("inf")
        self.last = float("-inf")
        self._lock = threading.Lock()

    def add(self, start: float, end: float) -> None:
        with self._lock:
            self.busy += end - start
            self.first = min(self.first, start)
            self.last = max(self.last, end)

    @property
    def span(self) -> float:
        return max(self.last - self.first, 1e-9)


@dataclass
class Timings:
    read: StageTimer = field(default_factory=StageTimer)
    preprocess: StageTimer = field(default_factory=StageTimer)
    inference: StageTimer = field(default_factory=StageTimer)
    postprocess: StageTimer = field(default_factory=StageTimer)
    device_seconds: list[float] = field(default_factory=list)
    h2d_seconds: list[float] = field(default_factory=list)      # only where the backend times the copies
    d2h_seconds: list[float] = field(default_factory=list)
    call_spans: list[tuple[float, float]] = field(default_factory=list)
    non_finite: int = 0          # images whose logits hold a NaN or an infinity
    e2e_seconds: float = 0.0

    def add_call(self, times: CallTimes) -> None:
        self.device_seconds.append(times.compute)
        if times.h2d is not None:
            self.h2d_seconds.append(times.h2d)
        if times.d2h is not None:
            self.d2h_seconds.append(times.d2h)

    @property
    def call_seconds(self) -> list[float]:
        return [end - start for start, end in self.call_spans]

    @property
    def device_busy_seconds(self) -> float:
        """Device-only seconds of the run: the sum over its calls (which run one at a time)."""
        return sum(self.device_seconds)

    @property
    def window(self) -> tuple[float, float]:
        """The first timed call's start and the last one's end (perf_counter)."""
        return min(start for start, _ in self.call_spans), max(end for _, end in self.call_spans)


def build_report(timings: Timings, images: int, computed: int) -> PerfReport:
    def per_image_ms(timer: StageTimer) -> float:
        return timer.busy * 1000.0 / images

    def rate(timer: StageTimer) -> float:
        return images / timer.span

    return PerfReport(
        e2e_throughput=images / timings.e2e_seconds, e2e_latency_ms=timings.e2e_seconds * 1000.0,
        read_throughput=rate(timings.read), read_latency_ms=per_image_ms(timings.read),
        preprocess_throughput=rate(timings.preprocess), preprocess_latency_ms=per_image_ms(timings.preprocess),
        inference_throughput=rate(timings.inference),
        interface_throughput=computed / max(timings.device_busy_seconds, 1e-12),
        inference_latency_ms=per_image_ms(timings.inference),
        postprocess_throughput=rate(timings.postprocess), postprocess_latency_ms=per_image_ms(timings.postprocess),
    )


def batch_latencies(timings: Timings) -> dict[str, dict[str, float]]:
    """Per-batch latency statistics in ms: device-only, whole runner call, and the copies where timed."""
    found = {"device": summarize(timings.device_seconds, 1000.0), "call": summarize(timings.call_seconds, 1000.0)}
    for name, seconds in (("h2d", timings.h2d_seconds), ("d2h", timings.d2h_seconds)):
        if seconds:
            found[name] = summarize(seconds, 1000.0)
    return found


def call_records(timings: Timings) -> list[dict[str, float | None]]:
    """One record per timed call (seconds; start/end from the run's start), for ``--export-times``."""
    if not timings.call_spans:
        return []
    origin = min(start for start, _ in timings.call_spans)
    h2d = timings.h2d_seconds if len(timings.h2d_seconds) == len(timings.call_spans) else None
    d2h = timings.d2h_seconds if len(timings.d2h_seconds) == len(timings.call_spans) else None
    return [{"start": start - origin, "end": end - origin, "compute": compute,
             "h2d": h2d[i] if h2d else None, "d2h": d2h[i] if d2h else None}
            for i, ((start, end), compute) in enumerate(zip(timings.call_spans, timings.device_seconds))]


def interface_repeats(timings: Timings, spans: Sequence[BatchSpan], repeats: int) -> dict:
    """The Interface throughputRate of each repeat: the run's timed calls cut into ``repeats`` consecutive blocks
    (as many as there are calls, at most), each block's computed images over its device seconds; ``spread``."""
    count = min(repeats, len(timings.device_seconds))
    if count < 1:
        return {}
    edges = [round(i * len(timings.device_seconds) / count) for i in range(count + 1)]
    values = [sum(span.rows for span in spans[a:b]) / max(sum(timings.device_seconds[a:b]), 1e-12)
              for a, b in zip(edges, edges[1:])]
    return spread(values)


def stability_warning(details: dict) -> str | None:
    """One line when a run's repeats spread widely (CV ≥ ``UNSTABLE_CV``) or the machine's load was high."""
    stability = details.get("stability") or {}
    reasons = []
    if stability.get("unstable"):
        reasons.append(f"the repeats' CV is {100 * details['interface_repeats']['cv']:.0f}% "
                       f"(≥ {100 * UNSTABLE_CV:.0f}%)")
    if stability.get("high_load"):
        reasons.append(f"the machine was busy: {busy_text(stability)}")
    return ("the figures may be unstable: " + "; ".join(reasons)) if reasons else None


def stage_seconds(timings: Timings) -> dict[str, float]:
    stages = {"read": timings.read, "preprocess": timings.preprocess, "inference_call": timings.inference,
              "postprocess": timings.postprocess}
    found = {f"{name}_busy": timer.busy for name, timer in stages.items()}
    found["device"] = timings.device_busy_seconds
    found["e2e"] = timings.e2e_seconds
    return found


@dataclass
class RunFacts:
    """What one run used and measured, for the report's details."""

    runner: Runner
    source: ImageSource
    spans: Sequence[BatchSpan]
    shape: ImageShape
    timings: Timings
    load_seconds: float
    warmup_seconds: float
    warmup_calls: Sequence[float] = ()
    load: LoadReading | None = None
    rounds_asked: int | None = None

    @property
    def computed(self) -> int:
        """Images the model computed, a static batch's padding included."""
        return sum(span.rows for span in self.spans)

    @property
    def first_call_seconds(self) -> float | None:
        """The model's first call after loading (cold: compiles, graph captures, lazy allocations)."""
        if self.warmup_calls:
            return self.warmup_calls[0]
        return self.timings.call_seconds[0] if self.timings.call_spans else None


def run_details(config: BenchConfig, run: RunFacts, dumps: dict | None) -> dict:
    """The perf JSON's details (docs/metrics.md); ``dumps``: what the dump folder holds, None without one."""
    runner, source = run.runner, run.source
    repeats = interface_repeats(run.timings, run.spans, config.repeats)
    return {
        "mode": "pure inference" if config.pure_inference else "dataset",
        "images": source.count,
        "computed_images": run.computed,
        "padding_images": run.computed - source.count,
        "batches": len(run.spans),
        "non_finite_outputs": run.timings.non_finite,
        "static_batch": runner.static_batch,
        "input": {"kind": source.kind, "source": source.description, "image_shape": list(run.shape)},
        "backend": runner.name,
        "model": str(config.model_path),
        "precision": runner.precision,
        "device": runner.device_name,
        "settings": runner.settings(),
        "versions": runner.versions(),
        "seconds": {**stage_seconds(run.timings), "model_load": run.load_seconds, "warmup": run.warmup_seconds,
                    "first_call": run.first_call_seconds},
        "warmup_calls": config.warmup,
        "batch_latency_ms": batch_latencies(run.timings),
        "timing": {"calls": len(run.timings.call_spans), "rounds_asked": run.rounds_asked,
                   "min_seconds": config.min_seconds if config.pure_inference else None,
                   "timed_seconds": sum(run.timings.call_seconds)},
        "interface_repeats": repeats,
        "stability": {**(run.load.to_json() if run.load else {}), "unstable": bool(repeats) and is_unstable(repeats)},
        "dumps": dumps,
        "command_line": list(config.command_line),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }

