"""The demo's ``summary.md``: sections of Markdown, each read back from the reports the demo's steps wrote.

A section is a heading (or none) and its lines; ``render`` joins them with a blank line between. The demo
(genet.cli.demo) says which sections to write and in which order; a section made by another stage (for example
a per-layer comparison from genet.layers) is built there and handed to the demo as one more ``Section``. The
columns are defined in docs/metrics.md ("The demo's summary table").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from genet.core.render import markdown_table
from genet.data.provenance import GENERATED_NOTE
from genet.formats.quantize_report import QuantizeReport
from genet.formats.sweep_file import SweepFile
from genet.reports.figures import AccuracySummary, Throughput
from genet.reports.read import read_report

ASCEND_TOOL = "benchmark"       # the Ascend benchmark tool: its perf reports have no JSON twin


@dataclass
class Section:
    heading: str | None
    lines: list[str]


def render(sections: Sequence[Section]) -> str:
    blocks = [([f"## {s.heading}", ""] if s.heading else []) + s.lines for s in sections]
    return "\n".join(line for i, block in enumerate(blocks) for line in ([""] if i else []) + block) + "\n"


@dataclass
class RunFiles:
    """What one inference run at one batch size left: its accuracy JSON and its perf report."""

    batch_size: int
    accuracy_json: Path
    perf_txt: Path


def two_decimals(percent: str) -> str:
    """``98.7%`` as ``98.70%``; anything else as it is."""
    try:
        return f"{float(percent.rstrip('%')):.2f}%"
    except ValueError:
        return percent


def summary_row(run: RunFiles, tool: str) -> list[str]:
    accuracy = read_report(run.accuracy_json, accept=(AccuracySummary,), wanted="an accuracy result")
    perf = read_report(run.perf_txt, run.batch_size, accept=(Throughput,), wanted="a perf report")
    return [str(run.batch_size), accuracy.images or "?", two_decimals(accuracy.top[0]),
            two_decimals(accuracy.top[min(4, len(accuracy.top) - 1)]),
            f"{perf.perf.e2e_throughput:.1f}", f"{perf.perf.interface_throughput:.1f}", run_by(perf, tool)]


def run_by(perf: Throughput, tool: str) -> str:
    """The tool and device behind a perf report, from benchmark.py's JSON twin when there is one."""
    if tool == ASCEND_TOOL:
        return "Ascend benchmark tool"
    try:
        return f"{perf.details['backend']} {perf.details['precision']} on {perf.details['device']}"
    except (KeyError, TypeError):
        return tool


def accuracy_section(runs: Sequence[RunFiles], tool: str, source: str) -> Section:
    """Accuracy and throughput per batch size, one row per run."""
    header = ["batch", "images", "top-1", "top-5", "e2e fps", "device fps", "run by"]
    lines = markdown_table(header, [summary_row(run, tool) for run in runs], lined_up=True)
    lines += ["", "e2e fps and device fps: see docs/metrics.md (device fps is one NPU chip for an Ascend tool: x4 "
                  "for a 310 card)."]
    return Section(f"Accuracy and throughput per batch size ({source})", lines)


def int8_section(report: Path) -> Section:
    """What quantize.py found: the int8 model's agreement with fp32, and whether it passed its gate."""
    found = read_report(report, accept=(QuantizeReport,), wanted="quantize.py's report")
    verdict = "passed" if found.passed else "REFUSED (kept with --keep-below: do not trust its figures)"
    where = f" on {found.checked_on()}" if found.checked_on() else ""
    return Section(None, [f"int8: quantize.py's check on {found.check_images} test images{where}: top-1 agreement "
                          f"with fp32 {found.agreement:.2f}%, {verdict} ({report.name})."])


def sweep_section(sweeps: Sequence[tuple[str, Path]], rounds: int) -> Section:
    """One row per batch size, device fps and p99 latency per model, the best batch of each marked."""
    columns = {label: read_report(path, accept=(SweepFile,), wanted="a benchmark.py sweep file")
               for label, path in sweeps}
    sizes = sorted({bs for sweep in columns.values() for bs in sweep.interface})
    header = ["batch"] + [f"{label} {what}" for label in columns for what in ("device fps", "p99 ms")]
    rows = []
    for bs in sizes:
        row = [str(bs)]
        for sweep in columns.values():
            row += ([f"{sweep.interface[bs]:.1f}{' *' if bs == sweep.best_batch else ''}",
                     f"{sweep.p99_ms(bs):.3f}"] if bs in sweep.interface else ["-", "-"])
        rows.append(row)
    lines = markdown_table(header, rows, lined_up=True)
    lines += ["", "device fps: Interface throughputRate (see docs/metrics.md); p99 ms: the 99th percentile of the "
                  "device-only time of one batch; * the best batch size of that model."]
    return Section(f"Pure inference by batch size (the guide's section 7; {rounds} batches of random images per "
                   "size, one process per model)", lines)


def generated_section() -> Section:
    return Section(None, [GENERATED_NOTE])
