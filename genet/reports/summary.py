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
from genet.core.stats import UNSTABLE_CV, is_unstable, percentile_text, ratio_text
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
    label: str = ""         # the model's row label (fp32, int8); "" for the only model


def two_decimals(percent: str) -> str:
    """``98.7%`` as ``98.70%``; anything else as it is."""
    try:
        return f"{float(percent.rstrip('%')):.2f}%"
    except ValueError:
        return percent


def repeats_of(perf: Throughput) -> dict:
    """The Interface throughputRate's repeats from the perf report's JSON twin ({} without one)."""
    return dict((perf.details or {}).get("interface_repeats") or {})


def unsteady(perf: Throughput) -> bool:
    """A run whose repeats spread widely or that ran on a busy machine (its JSON twin's ``stability``)."""
    stability = (perf.details or {}).get("stability") or {}
    return bool(stability.get("unstable") or stability.get("high_load"))


def spread_cell(figure: dict, busy: bool = False) -> str:
    """``IQR 1200–1300, CV 3%`` (``!`` after it for an unsteady figure); ``-`` without repeats."""
    if not figure or int(figure.get("repeats", 0)) < 2:
        return "-" + (" !" if busy else "")
    mark = " !" if busy or is_unstable(figure) else ""
    return f"{figure['q1']:.0f}–{figure['q3']:.0f}, CV {100 * figure['cv']:.0f}%{mark}"


def summary_row(run: RunFiles, tool: str) -> list[str]:
    accuracy = read_report(run.accuracy_json, accept=(AccuracySummary,), wanted="an accuracy result")
    perf = read_report(run.perf_txt, run.batch_size, accept=(Throughput,), wanted="a perf report")
    return [str(run.batch_size), accuracy.images or "?", two_decimals(accuracy.top[0]),
            two_decimals(accuracy.top[min(4, len(accuracy.top) - 1)]),
            f"{perf.perf.e2e_throughput:.1f}", f"{device_fps(perf):.1f}",
            spread_cell(repeats_of(perf), unsteady(perf)), run_by(perf, tool)]


def device_fps(perf: Throughput) -> float:
    """The median of the run's repeats where it has them (so that it lies inside their IQR and agrees with the
    int8/fp32 lines), else the perf report's Interface throughputRate."""
    figure = repeats_of(perf)
    return float(figure["median"]) if int(figure.get("repeats", 0)) >= 2 else perf.perf.interface_throughput


def comparison_lines(runs: Sequence[RunFiles]) -> list[str]:
    """Each batch size's int8 device fps against fp32's, saying when the difference is within the noise."""
    found: dict[tuple[int, str], dict] = {}
    labels = {(run.batch_size, run.label) for run in runs}
    for run in runs:
        if not {(run.batch_size, "fp32"), (run.batch_size, "int8")} <= labels:
            continue
        perf = read_report(run.perf_txt, run.batch_size, accept=(Throughput,), wanted="a perf report")
        found[(run.batch_size, run.label)] = repeats_of(perf)
    lines = []
    for (bs, label), figure in found.items():
        base = found.get((bs, "fp32"))
        if label == "int8" and base and figure:
            lines.append(f"bs{bs}: int8 device fps {ratio_text(figure, base)} fp32's (medians of their repeats)")
    return lines


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
    header = ["batch", "images", "top-1", "top-5", "e2e fps", "device fps", "device fps IQR", "run by"]
    lines = markdown_table(header, [summary_row(run, tool) for run in runs], lined_up=True)
    lines += ["", "e2e fps and device fps: see docs/metrics.md (device fps is one NPU chip for an Ascend tool: x4 "
                  "for a 310 card); with repeats, their median. device fps IQR: the interquartile range and CV "
                  f"of the run's repeats; ! marks a CV ≥ {100 * UNSTABLE_CV:.0f}% or a busy machine (the figure "
                  "may be unstable)."]
    compared = comparison_lines(runs)
    lines += [""] + compared if compared else []
    return Section(f"Accuracy and throughput per batch size ({source})", lines)


def int8_section(report: Path) -> Section:
    """What quantize.py found: the int8 model's agreement with fp32, and whether it passed its gate."""
    found = read_report(report, accept=(QuantizeReport,), wanted="quantize.py's report")
    verdict = "passed" if found.passed else "REFUSED (kept with --keep-below: do not trust its figures)"
    where = f" on {found.checked_on()}" if found.checked_on() else ""
    return Section(None, [f"int8: quantize.py's check on {found.check_images} test images{where}: top-1 agreement "
                          f"with fp32 {found.agreement:.2f}%, {verdict} ({report.name})."])


def _sweep_cells(sweep: SweepFile, bs: int) -> list[str]:
    if bs not in sweep.interface:
        return ["-", "-", "-"]
    mark = " *" if bs == sweep.best_batch else " ≈" if bs in sweep.tied else ""
    latency = sweep.device_latency_ms.get(bs) or {}
    p99 = percentile_text(latency, "p99", 3) if "count" in latency else f"{sweep.p99_ms(bs):.3f}"
    return [f"{sweep.interface[bs]:.1f}{mark}", spread_cell(sweep.spread.get(bs, {})), p99]


def sweep_section(sweeps: Sequence[tuple[str, Path]], rounds: int) -> Section:
    """One row per batch size, device fps with its spread and p99 latency per model, the best batch of each marked
    (or the sizes that tie), the int8/fp32 ratio with its noise, and each sweep's warning."""
    columns = {label: read_report(path, accept=(SweepFile,), wanted="a benchmark.py sweep file")
               for label, path in sweeps}
    sizes = sorted({bs for sweep in columns.values() for bs in sweep.interface})
    header = ["batch"] + [f"{label} {what}" for label in columns for what in ("device fps", "IQR", "p99 ms")]
    pair = "fp32" in columns and "int8" in columns
    header += ["int8/fp32"] if pair else []
    rows = []
    for bs in sizes:
        row = [str(bs)] + [cell for sweep in columns.values() for cell in _sweep_cells(sweep, bs)]
        if pair:
            fp32, int8 = columns["fp32"].spread.get(bs), columns["int8"].spread.get(bs)
            row.append(ratio_text(int8, fp32).replace(" (within the noise)", " ~") if fp32 and int8 else "-")
        rows.append(row)
    lines = markdown_table(header, rows, lined_up=True)
    lines += ["", "device fps: Interface throughputRate, the median of the repeats, with their interquartile range "
                  "(IQR) and CV (see docs/metrics.md); p99 ms: the 99th percentile of the device-only time of one "
                  "batch (n<100: too few calls for one); * the best batch size of that model, ≈ the sizes that tie "
                  "for best (their IQRs overlap)" + ("; int8/fp32: ~ within the noise" if pair else "") + "."]
    lines += [f"{label}: WARNING: {sweep.warning}" for label, sweep in columns.items() if sweep.warning]
    return Section(f"Pure inference by batch size (the guide's section 7; at least {rounds} batches of random "
                   "images per size, one process per model)", lines)


def generated_section() -> Section:
    return Section(None, [GENERATED_NOTE])
