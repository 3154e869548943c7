"""The layer-by-layer comparison written out: a table on stdout, layers.md, .csv, .json and .png together.

The CSV has one row per run, mode and layer; its columns take msaccucmp's names where they mean the
same (``Index``, ``OpType``, ``NPUDump`` the run's own name of the tensor, ``GroundTruth`` the
reference's, ``MaxAbsoluteError``, ``MeanRelativeError``, ``RelativeEuclideanDistance``), computed
over every image; the cosine, which msaccucmp gives for one dump, is given as its minimum and
median over the images (``CosineSimilarityMin``, ``CosineSimilarityMedian``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

from genet.core.errors import GenetError
from genet.core.fsio import atomic_dir
from genet.core.render import csv_text, markdown_table, png_figure
from genet.layers.compare import Comparison, Row, RunResult, failure
from genet.layers.metrics import LayerStats

OUTPUTS = ("layers.md", "layers.csv", "layers.json", "layers.png")
CSV_COLUMNS = ("Index", "Run", "Mode", "Layer", "OpType", "NPUDump", "GroundTruth", "Status",
               "CosineSimilarityMin", "CosineSimilarityMedian", "MaxAbsoluteError", "MeanRelativeError",
               "RelativeEuclideanDistance", "SQNR_dB", "NaN", "Inf", "ReferenceNaN", "ReferenceInf", "Images")
WORST_SHOWN = 5


def _cosine_cell(run: RunResult, row: Row, mode: str, comparison: Comparison) -> str:
    stats = run.stats[mode].get(row.name)
    if stats is None:
        status = run.status(row.name)
        return "fused" if status.startswith("fused") else "-"
    mark = " !" if failure(stats, comparison.thresholds[run.info.precision]) else ""
    return f"{stats.cosine_median:.6f}{mark}"


def summary_table(comparison: Comparison) -> list[str]:
    """Median cosine per layer: one column per run and mode (! past the threshold, fused, - not exposed)."""
    header = ["#", "layer", "op"]
    for run in comparison.runs:
        header += [f"{run.info.label}" + (" acc" if run.isolates else "")] + ([f"{run.info.label} iso"]
                                                                                if run.isolates else [])
    rows = []
    for index, row in enumerate(comparison.rows, 1):
        cells = [str(index), row.name, row.op_type]
        for run in comparison.runs:
            cells += [_cosine_cell(run, row, mode, comparison) for mode in run.modes]
        rows.append(cells)
    return markdown_table(header, rows, lined_up=True)


def verdict_lines(comparison: Comparison) -> list[str]:
    lines = []
    for run in comparison.runs:
        threshold = comparison.thresholds[run.info.precision]
        rule = f"cosine ≥ {threshold.cosine:g}, relative Euclidean distance ≤ {threshold.distance:.3g}"
        failed = [(mode, v) for mode, v in run.verdicts.items() if v]
        if not failed:
            lines.append(f"{run.info.label}: pass ({' and '.join(run.modes)}; every layer {rule})")
        for mode, v in failed:
            lines.append(f"{run.info.label}: first below threshold: {v.layer}, {v.reason} ({mode}; {rule})")
        if not run.isolates:
            lines.append(f"{run.info.label}: no isolated mode (a run that cannot take the reference's inputs)")
    return lines


def header_lines(comparison: Comparison) -> list[str]:
    ref = comparison.reference
    lines = [f"reference: {ref.label} ({ref.source}): {ref.how}",
             f"images: {comparison.images} from {comparison.source}, batches of {comparison.batch_size}; "
             f"{len(comparison.rows)} layers; {comparison.seconds:.1f} s"]
    for run in comparison.runs:
        lines.append(f"{run.info.label}: {run.info.source} ({run.info.precision}): {run.info.how}")
        lines += [f"  note: {note}" for note in run.info.notes]
    return lines


def _number(value: float | int) -> float | int | str:
    return value if isinstance(value, int) or math.isfinite(value) else str(value)


def _metrics(stats: LayerStats) -> dict:
    return {key: _number(value) for key, value in stats.summary().items()}


def payload(comparison: Comparison) -> dict:
    runs = []
    for run in comparison.runs:
        layers = []
        for row in comparison.rows:
            entry = {"layer": row.name, "status": run.status(row.name), "tensor": run.tensors.get(row.name)}
            for mode in run.modes:
                if row.name in run.stats[mode]:
                    entry[mode] = _metrics(run.stats[mode][row.name])
            layers.append(entry)
        runs.append({"label": run.info.label, "source": run.info.source, "backend": run.info.backend,
                     "precision": run.info.precision, "how": run.info.how, "notes": run.info.notes,
                     "isolated": run.isolates, "passed": run.passed,
                     "verdict": {mode: (vars(v) if v else None) for mode, v in run.verdicts.items()},
                     "layers": layers})
    ref = comparison.reference
    return {"reference": {"label": ref.label, "source": ref.source, "how": ref.how},
            "images": comparison.images, "image_source": comparison.source, "batch_size": comparison.batch_size,
            "seconds": round(comparison.seconds, 2),
            "thresholds": {p: {"cosine_median_min": t.cosine, "relative_euclidean_distance_max": t.distance}
                           for p, t in comparison.thresholds.items()},
            "rows": [{"index": i, "layer": r.name, "op_type": r.op_type, "tensor": r.tensor}
                     for i, r in enumerate(comparison.rows, 1)],
            "runs": runs, "passed": comparison.passed}


def csv_rows(comparison: Comparison) -> list[list[object]]:
    rows = []
    for run in comparison.runs:
        for mode in run.modes:
            for index, row in enumerate(comparison.rows, 1):
                stats = run.stats[mode].get(row.name)
                cells = [index, run.info.label, mode, row.name, row.op_type, run.tensors.get(row.name, ""),
                         row.tensor or "", run.status(row.name)]
                if stats:
                    s = stats.summary()
                    cells += [s["cosine_min"], s["cosine_median"], s["max_abs_error"], s["mean_relative_error"],
                              s["relative_euclidean_distance"], s["sqnr_db"], s["nan"], s["inf"],
                              s["reference_nan"], s["reference_inf"], s["images"]]
                rows.append(cells)
    return rows


def _run_table(comparison: Comparison, run: RunResult) -> list[str]:
    header = ["#", "layer", "status", "cos min", "cos median", "max abs", "mean rel", "RED", "SQNR dB", "NaN/Inf"]
    if run.isolates:
        header += ["iso cos median", "iso RED", "iso SQNR dB"]
    rows = []
    for index, row in enumerate(comparison.rows, 1):
        stats = run.stats["accumulated"].get(row.name)
        cells = [str(index), row.name, run.status(row.name)]
        if stats is None:
            rows.append(cells + [""] * (len(header) - 3))
            continue
        bad = failure(stats, comparison.thresholds[run.info.precision])
        cells[2] = "FAIL" if bad else "ok"
        cells += [f"{stats.cosine_min:.6f}", f"{stats.cosine_median:.6f}", f"{stats.max_abs:.4g}",
                  f"{stats.mean_relative:.4g}", f"{stats.relative_euclidean:.4g}", f"{stats.sqnr_db:.2f}",
                  f"{stats.run_nan + stats.run_inf}/{stats.ref_nan + stats.ref_inf}"]
        iso = run.stats["isolated"].get(row.name)
        if run.isolates:
            cells += ([f"{iso.cosine_median:.6f}", f"{iso.relative_euclidean:.4g}", f"{iso.sqnr_db:.2f}"]
                      if iso else ["", "", ""])
        rows.append(cells)
    return markdown_table(header, rows, lined_up=True)


def markdown(comparison: Comparison) -> str:
    lines = [f"# Layer by layer against {comparison.reference.label}", ""]
    lines += [f"- {line}" for line in header_lines(comparison)]
    lines += ["", "## Verdict", ""] + [f"- {line}" for line in verdict_lines(comparison)]
    lines += ["", "## Median cosine over the images (! past the threshold)", ""] + summary_table(comparison)
    for run in comparison.runs:
        lines += ["", f"## {run.info.label} ({run.info.source})", ""] + _run_table(comparison, run)
    lines += ["", "RED: relative Euclidean distance; NaN/Inf: non-finite values in the run's / the reference's "
                  "output; iso: the layer fed the reference's inputs (its own error). Metrics: docs/layers.md."]
    return "\n".join(lines) + "\n"


def plot(comparison: Comparison, path: Path) -> None:
    """Median cosine (as 1 − cosine, log scale) and SQNR by layer: one line per run, isolated dashed."""
    positions = range(1, len(comparison.rows) + 1)
    size = (max(8.0, 0.22 * len(comparison.rows) + 3), 8)
    with png_figure(path, 110, nrows=2, figsize=size, sharex=True) as (_, (top, bottom)):
        _draw(comparison, positions, top, bottom)


def _draw(comparison: Comparison, positions: range, top, bottom) -> None:
    for run in comparison.runs:
        for mode in run.modes:
            stats = [run.stats[mode].get(row.name) for row in comparison.rows]
            style = "-" if mode == "accumulated" else "--"
            label = f"{run.info.label} {mode}"
            distance = [max(1.0 - s.cosine_median, 1e-12) if s and math.isfinite(s.cosine_median) else math.nan
                        for s in stats]
            sqnr = [min(s.sqnr_db, 200.0) if s and not math.isnan(s.sqnr_db) else math.nan for s in stats]
            top.plot(positions, distance, style, marker=".", label=label)
            bottom.plot(positions, sqnr, style, marker=".", label=label)
    top.set_yscale("log")
    top.set(ylabel="1 − median cosine (log)", title=f"Layer by layer against {comparison.reference.label}")
    bottom.set(ylabel="SQNR (dB, ≤ 200 shown)", xlabel="layer")
    bottom.set_xticks(list(positions), [row.name for row in comparison.rows], rotation=90, fontsize=6)
    for axis in (top, bottom):
        axis.grid(True, alpha=0.3)
    top.legend(fontsize=7)


def write_reports(comparison: Comparison, folder: Path, inputs: Sequence[Path]) -> None:
    """layers.md, .csv, .json and .png, written into ``folder`` together (or not at all)."""
    with atomic_dir(folder, inputs, ours=lambda name: name in OUTPUTS) as tmp:
        (tmp / "layers.md").write_text(markdown(comparison), encoding="utf-8")
        (tmp / "layers.csv").write_text(csv_text(CSV_COLUMNS, csv_rows(comparison)), encoding="utf-8")
        (tmp / "layers.json").write_text(json.dumps(payload(comparison), indent=1) + "\n", encoding="utf-8")
        plot(comparison, tmp / "layers.png")


def _shown(value, decimals: int) -> str:
    """A number of a layers.json (a float, or "inf"/"nan" as a string) with ``decimals`` decimals; - if absent."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else f"{value:.{decimals}f}"


def worst_layers(path: Path, precision: str = "int8", count: int = WORST_SHOWN) -> list[str]:
    """A table of the ``count`` layers of lowest median cosine of the first run of ``precision`` in a layers.json."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        run = next(r for r in found["runs"] if r["precision"] == precision)
        compared = [layer for layer in run["layers"] if "accumulated" in layer]
    except (OSError, ValueError, KeyError, TypeError, StopIteration) as exc:
        raise GenetError(f"{path}: not a compare_layers.py report with an {precision} run ({exc})") from None

    def cosine(layer: dict) -> float:
        value = layer["accumulated"]["cosine_median"]
        return -1.0 if isinstance(value, str) else value      # "nan" first

    rows = []
    for layer in sorted(compared, key=cosine)[:count]:
        acc, iso = layer["accumulated"], layer.get("isolated", {})
        rows.append([layer["layer"], _shown(acc["cosine_median"], 6), _shown(acc["cosine_min"], 6),
                     _shown(acc["sqnr_db"], 2), _shown(iso.get("cosine_median"), 6), _shown(iso.get("sqnr_db"), 2)])
    header = ["layer", "cos median", "cos min", "SQNR dB", "isolated cos median", "isolated SQNR dB"]
    return markdown_table(header, rows, lined_up=True)
