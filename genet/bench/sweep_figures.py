"""A sweep's figures per batch size, its best batch (or the sizes that tie), and how they are written and shown.

Each batch size's Interface and e2e img/s is the median of its repeats (one run each, interleaved across the
batch sizes: genet.bench.sweep), with their spread (``genet.core.stats.spread``); its device-time percentiles are
taken over every timed call of every repeat. The best batch is the highest median, marked best only when it beats
every other size by the tie rule (``genet.core.stats.clearly_above``: its interquartile range wholly above the
other's); otherwise the sizes that tie with it are named. docs/metrics.md, "Repeats and spread" and "Best batch".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genet.bench.config import BenchConfig
from genet.bench.engine import BenchResult
from genet.core.load import LoadReading
from genet.core.render import Panel, Series, csv_text, plot_by_batch
from genet.core.stats import (
    UNSTABLE_CV,
    clearly_above,
    is_unstable,
    percentile_min_samples,
    percentile_text,
    spread,
    summarize,
)
from genet.formats.sweep_file import SWEEP_KIND


@dataclass
class SweepPoint:
    """One batch size: its repeats' results, and the figures taken over them."""

    batch_size: int
    results: list[BenchResult] = field(default_factory=list, repr=False)

    def add(self, result: BenchResult) -> None:
        self.results.append(result)

    @property
    def interface(self) -> dict:
        return spread(r.report.interface_throughput for r in self.results)

    @property
    def e2e(self) -> dict:
        return spread(r.report.e2e_throughput for r in self.results)

    @property
    def interface_throughput(self) -> float:
        return float(self.interface["median"])

    @property
    def e2e_throughput(self) -> float:
        return float(self.e2e["median"])

    @property
    def calls(self) -> list[dict]:
        return [call for r in self.results for call in r.calls]

    @property
    def call_count(self) -> int:
        return sum(r.details["timing"]["calls"] for r in self.results)

    @property
    def device_latency_ms(self) -> dict:
        return summarize((c["compute"] for c in self.calls), 1000.0)

    @property
    def result(self) -> BenchResult | None:
        """The last repeat's run: the one whose perf files stand in the output folder."""
        return self.results[-1] if self.results else None

    @property
    def perf_json(self) -> str:
        return str(self.result.perf_json) if self.result else ""

    @property
    def non_finite(self) -> int:
        return max((r.details["non_finite_outputs"] for r in self.results), default=0)


@dataclass
class Sweep:
    config: BenchConfig
    points: list[SweepPoint]
    details: dict                  # the first run's details (backend, device, versions, …)
    load_seconds: float
    search: object | None = None   # genet.bench.sweep.Search, for --best
    load: LoadReading | None = None
    repeats: int = 1

    @property
    def best(self) -> SweepPoint:
        """The highest median Interface img/s (the smaller batch on equal figures)."""
        return max(self.points, key=lambda p: (p.interface_throughput, -p.batch_size))

    @property
    def ties(self) -> list[SweepPoint]:
        """The other sizes the best does not clearly beat (the tie rule); empty when the best is best."""
        best = self.best
        return [p for p in self.points if p is not best and not clearly_above(best.interface, p.interface)]

    @property
    def clear_best(self) -> SweepPoint | None:
        return None if self.ties else self.best

    @property
    def tied_sizes(self) -> list[int]:
        """The best and the sizes tied with it, by batch size; empty when the best is clear."""
        ties = self.ties
        return sorted([self.best.batch_size] + [p.batch_size for p in ties]) if ties else []

    @property
    def unstable_sizes(self) -> list[int]:
        return [p.batch_size for p in self.points if is_unstable(p.interface)]

    def warning(self) -> str | None:
        """One line when a batch size's repeats spread widely or the machine's load was high."""
        reasons = []
        if self.unstable_sizes:
            reasons.append(f"the repeats of batch {', '.join(map(str, self.unstable_sizes))} have a CV ≥ "
                           f"{100 * UNSTABLE_CV:.0f}%")
        if self.load is not None and self.load.high:
            reasons.append(f"the machine was busy: {self.load.text()}")
        return ("the figures may be unstable: " + "; ".join(reasons)) if reasons else None

    def to_json(self) -> dict:
        data = "random images (pure inference)" if self.config.pure_inference else self.details["input"]["source"]
        clear = self.clear_best
        return {
            "kind": SWEEP_KIND, "device_id": self.config.device_id, "model": str(self.config.model_path),
            "backend": self.details["backend"], "device": self.details["device"],
            "precision": self.details["precision"], "mode": self.details["mode"], "data": data,
            "rounds": self.config.rounds, "min_seconds": self.config.min_seconds, "repeats": self.repeats,
            "model_load_seconds": self.load_seconds,
            "best_batch": clear.batch_size if clear else None, "tied_batches": self.tied_sizes,
            "highest_median_batch": self.best.batch_size,
            "stability": {**(self.load.to_json() if self.load else {}), "unstable_batches": self.unstable_sizes,
                          "warning": self.warning()},
            "search": None if self.search is None else {
                "stop_reason": self.search.reason, "tried": {str(k): v for k, v in self.search.tried.items()}},
            "points": [{"batch_size": p.batch_size, "interface_throughput": p.interface_throughput,
                        "interface_spread": p.interface, "e2e_throughput": p.e2e_throughput, "e2e_spread": p.e2e,
                        "calls": p.call_count, "device_latency_ms": p.device_latency_ms,
                        "non_finite_outputs": p.non_finite, "perf_json": p.perf_json} for p in self.points],
            "versions": self.details["versions"], "command_line": list(self.config.command_line),
        }


_CSV_HEADER = ("batch_size", "interface_img_per_s", "interface_q1", "interface_q3", "interface_cv", "repeats",
               "calls", "e2e_img_per_s", "device_ms_median", "device_ms_p90", "device_ms_p95", "device_ms_p99",
               "best")


def _mark(sweep: Sweep, point: SweepPoint) -> str:
    if point is sweep.clear_best:
        return "best"
    return "tie" if point.batch_size in sweep.tied_sizes else ""


def sweep_csv(sweep: Sweep) -> str:
    rows = [[p.batch_size, f"{p.interface_throughput:.3f}", f"{p.interface['q1']:.3f}", f"{p.interface['q3']:.3f}",
             f"{p.interface['cv']:.4f}", p.interface["repeats"], p.call_count, f"{p.e2e_throughput:.3f}",
             *(f"{p.device_latency_ms[k]:.4f}" for k in ("median", "p90", "p95", "p99")), _mark(sweep, p)]
            for p in sweep.points]
    return csv_text(_CSV_HEADER, rows)


def plot_sweep(sweep: Sweep, path: Path) -> None:
    """img/s with its interquartile range (left) and device ms per batch (right) against batch size; the best
    batch ringed, or the tied sizes named in the title."""
    best = sweep.clear_best
    ring = {"ring": best.batch_size, "ring_label": f"best: bs{best.batch_size}", "ring_color": "red",
            "ring_size": 14} if best else {}
    errors = {p.batch_size: (p.interface["q1"], p.interface["q3"]) for p in sweep.points}
    throughput = Panel("batch size", "images/s (median, IQR bars)", "Throughput", [
        Series("Interface (device-only)", {p.batch_size: p.interface_throughput for p in sweep.points},
               errors=errors, **ring),
        Series("e2e", {p.batch_size: p.e2e_throughput for p in sweep.points}, marker="s",
               errors={p.batch_size: (p.e2e["q1"], p.e2e["q3"]) for p in sweep.points})])
    latency = Panel("batch size", "device ms per batch", "Latency per batch (a percentile from enough calls)",
                    [Series(key, {p.batch_size: p.device_latency_ms[key] for p in sweep.points
                                  if p.device_latency_ms["count"] >= percentile_min_samples(float(key.lstrip("p")))},
                            marker=".") for key in ("p50", "p90", "p95", "p99")])
    title = (f"{sweep.details['backend']} {sweep.details['precision']} on {sweep.details['device']}"
             + (" (random images)" if sweep.config.pure_inference else "")
             + f"; {sweep.repeats} repeats" + ("" if best else f"; no best batch: {tie_text(sweep)}"))
    plot_by_batch(path, [throughput, latency], size=(11, 4.2), dpi=110, title=title)


def tie_text(sweep: Sweep) -> str:
    return f"batch {', '.join(map(str, sweep.tied_sizes))} tie (their IQRs overlap)"


def sweep_lines(sweep: Sweep) -> list[str]:
    """The table printed on stdout."""
    lines = [f"{'batch':>6} {'Interface img/s':>16} {'IQR':>19} {'CV':>6} {'calls':>7} {'e2e img/s':>11} "
             f"{'device ms p50':>14} {'p99':>9}"]
    for p in sweep.points:
        mark = "  <- best" if p is sweep.clear_best else ("  <- tie" if p.batch_size in sweep.tied_sizes else "")
        iqr = f"{p.interface['q1']:.1f}–{p.interface['q3']:.1f}"
        p50, p99 = (percentile_text(p.device_latency_ms, key) for key in ("median", "p99"))
        lines.append(f"{p.batch_size:>6} {p.interface_throughput:>16.2f} {iqr:>19} {100 * p.interface['cv']:>5.1f}% "
                     f"{p.call_count:>7} {p.e2e_throughput:>11.2f} {p50:>14} {p99:>9}{mark}")
    lines.append(f"median of {sweep.repeats} repeat{'s' if sweep.repeats > 1 else ''} per size"
                 + ("" if sweep.clear_best else f"; no best batch: {tie_text(sweep)}"))
    if sweep.search is not None:
        lines.append(f"--best stopped on {sweep.search.reason}")
    warning = sweep.warning()
    if warning:
        lines.append(f"WARNING: {warning}")
    return lines
