"""The per-layer profile's files: ``profile_batchsize_{bs}_device_{id}.md``, ``.csv`` and ``.json``.

The JSON (``"kind": "genet-layer-profile"``) holds everything the table shows and is read back by
``test/parse.py profile`` to join several devices' profiles (``genet.layers.profile_join``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from genet.core.errors import GenetError
from genet.layers.profile import Ceiling, LayerProfile, Row, module_summary, unmapped_note
from genet.runners.profiling import Kernel

PROFILE_KIND = "genet-layer-profile"
PROFILE_VERSION = 1
CSV_FIELDS = ("layers", "ms_per_batch", "share", "ops", "kernels", "kernel_ops", "flops_per_batch", "gflops_per_s",
              "ceiling_fraction", "mapped")


def profile_paths(folder: Path, batch_size: int, device_id: int) -> tuple[Path, Path, Path]:
    stem = folder / f"profile_batchsize_{batch_size}_device_{device_id}"
    return stem.with_suffix(".md"), stem.with_suffix(".csv"), stem.with_suffix(".json")


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{100.0 * value:.1f}%"


def _kernels_text(kernels: list[Kernel]) -> str:
    return "; ".join(f"{k.name} [{k.op}{', ' + k.impl if k.impl else ''}]" for k in kernels)


def header_lines(profile: LayerProfile) -> list[str]:
    about = profile.about
    lines = [f"# Per-layer profile: {about.get('backend', '?')} {profile.precision} on {about.get('device', '?')}, "
             f"batch {profile.batch_size}", ""]
    for key, label in (("command", "command"), ("date", "date"), ("cpu", "CPU"), ("load", "machine load"),
                       ("source", "read from")):
        if about.get(key):
            lines.append(f"- {label}: {about[key]}")
    lines.append(f"- {profile.calls} batches profiled; calls in flight at once (overlap): {profile.overlap:.2f}")
    lines.append(ceiling_line(profile.ceiling))
    if profile.check:
        check = profile.check
        verdict = "within" if check["within"] else "NOT within"
        lines.append(f"- check: the layer times sum to {check['layers_ms']:.3f} ms per batch; the unprofiled run's "
                     f"device time (Interface throughputRate) is {check['interface_ms']:.3f} ms per batch: "
                     f"{_signed(check['difference'])}, {verdict} {100 * check['tolerance']:.0f}%")
    else:
        lines.append(f"- the layer times sum to {profile.total_ms:.3f} ms per batch (no unprofiled run to check "
                     f"them against)")
    if profile.overhead:
        over = profile.overhead
        lines.append(f"- profiler overhead: the profiled run took {over['profiled_ms']:.3f} ms per batch against "
                     f"{over['unprofiled_ms']:.3f} ms unprofiled ({_signed(over['overhead'])}); the layers hold "
                     f"{100 * over.get('coverage', math.nan):.1f}% of the profiled run's own device time (the rest "
                     f"is the backend's work between kernels)")
    return lines


def _signed(fraction: float) -> str:
    return "NaN" if math.isnan(fraction) else f"{100 * fraction:+.1f}%"


def ceiling_line(ceiling: Ceiling | None) -> str:
    if ceiling is None:
        return "- ceiling: not measured (a file read, not a run here)"
    rates = ", ".join(f"{precision} {rate:.1f} GFLOP/s" for precision, rate in ceiling.gflops.items())
    return (f"- ceiling: dense {ceiling.size}×{ceiling.size}×{ceiling.size} matrix product, {rates} "
            f"({ceiling.streams} thread(s) at once × {ceiling.threads}, the best window of {ceiling.seconds:.1f} s "
            f"before and after the profiled pass; memory-bound layers cannot reach it: docs/profile.md)")


def to_markdown(profile: LayerProfile) -> str:
    lines = header_lines(profile) + [
        "", "| layer | ms/batch | share | ops | kernels | MFLOP/batch | GFLOP/s | of ceiling |",
        "|---|---:|---:|---|---|---:|---:|---:|"]
    for row in profile.rows:
        label = row.label if row.mapped else f"{row.label} (unmapped)"
        mflop = None if row.flops is None else row.flops / 1e6
        lines.append(f"| {label} | {row.ms:.3f} | {_pct(row.share)} | {'+'.join(row.ops)} | "
                     f"{_kernels_text(row.kernels)} | {_num(mflop, 1)} | {_num(row.gflops_per_s(), 1)} | "
                     f"{_pct(profile.ceiling_fraction(row))} |")
    lines += ["", "By top-level module:", "", "| module | ms/batch | share | of it in Conv layers |",
              "|---|---:|---:|---:|"]
    for top, ms, share, conv in module_summary(profile):
        lines.append(f"| {top} | {ms:.3f} | {_pct(share)} | {_pct(conv)} |")
    notes = list(profile.notes)
    missing = unmapped_note(profile)
    if missing:
        notes.append(missing)
    if profile.unseen:
        notes.append(f"{len(profile.unseen)} layers of the model have no kernel of their own (fused or folded away, "
                     f"or under an unmapped name): {', '.join(profile.unseen)}")
    uncounted = sorted({op for row in profile.rows for op in row.uncounted})
    if uncounted:
        notes.append(f"FLOPs not counted for: {', '.join(uncounted)}")
    if notes:
        lines += ["", *[f"Note: {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def to_csv(profile: LayerProfile) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in profile.rows:
        writer.writerow([row.label, f"{row.ms:.6f}", _num(row.share, 6), "+".join(row.ops),
                         "; ".join(k.name for k in row.kernels), "; ".join(k.op for k in row.kernels),
                         "" if row.flops is None else f"{row.flops:.0f}", _num(row.gflops_per_s(), 3),
                         _num(profile.ceiling_fraction(row), 4), int(row.mapped)])
    return out.getvalue()


def to_json(profile: LayerProfile) -> str:
    rows = [{"layers": list(row.layers), "label": row.label, "mapped": row.mapped, "ms": row.ms, "share": row.share,
             "ops": list(row.ops), "flops": row.flops, "gflops_per_s": row.gflops_per_s(),
             "ceiling_fraction": profile.ceiling_fraction(row), "uncounted_ops": list(row.uncounted),
             "kernels": [{"name": k.name, "op": k.op, "impl": k.impl, "members": list(k.members),
                          "ms": k.seconds * 1000.0 / profile.calls / max(profile.overlap, 1.0)}
                         for k in row.kernels]}
            for row in profile.rows]
    ceiling = None if profile.ceiling is None else {
        "gflops": profile.ceiling.gflops, "size": profile.ceiling.size, "streams": profile.ceiling.streams,
        "threads": profile.ceiling.threads, "seconds": profile.ceiling.seconds}
    body = {"kind": PROFILE_KIND, "version": PROFILE_VERSION, "about": profile.about, "precision": profile.precision,
            "batch_size": profile.batch_size, "calls": profile.calls, "overlap": profile.overlap,
            "names": profile.names, "ms_per_batch": profile.total_ms, "ceiling": ceiling, "check": profile.check,
            "overhead": profile.overhead, "notes": profile.notes, "layers_without_kernel": profile.unseen,
            "rows": rows}
    return json.dumps(_finite(body), indent=1, allow_nan=False) + "\n"


def _finite(value):
    """``value`` with every NaN or infinite float as None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def is_profile_json(data) -> bool:
    return isinstance(data, dict) and data.get("kind") == PROFILE_KIND


def from_json(data: dict, where: str) -> LayerProfile:
    """A profile written by ``to_json``, read back (for joins)."""
    try:
        calls, overlap = int(data["calls"]), float(data["overlap"])
        per_run = calls * max(overlap, 1.0) / 1000.0          # a kernel's ms per batch → its summed seconds
        rows = [Row(tuple(r["layers"]),
                    [Kernel(k["name"], k["op"], float(k["ms"]) * per_run, tuple(k.get("members", ())),
                            k.get("impl", "")) for k in r["kernels"]],
                    tuple(r["ops"]), r["flops"], i, float(r["ms"]), float(r["share"]),
                    tuple(r.get("uncounted_ops", ())))
                for i, r in enumerate(data["rows"])]
        profile = LayerProfile(rows, int(data["batch_size"]), calls, overlap, data.get("names", "onnx"),
                               data.get("precision", "fp32"), list(data.get("notes", [])),
                               list(data.get("layers_without_kernel", [])), dict(data.get("about", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise GenetError(f"{where}: not a complete genet layer profile ({type(exc).__name__}: {exc})") from None
    ceiling = data.get("ceiling")
    if ceiling:
        profile.ceiling = Ceiling(dict(ceiling["gflops"]), ceiling["size"], ceiling["streams"], ceiling["threads"],
                                  ceiling["seconds"])
    profile.check, profile.overhead = data.get("check"), data.get("overhead")
    return profile
