"""The device comparison of the seed's section 7.4: throughput per batch size per device.

Each input is ``LABEL:PATH`` (a perf report, pure-inference report, ais_bench log or summary JSON,
trtexec log, genet perf JSON, or a benchmark.py sweep file ``sweep_device_{id}.json``, which gives
the whole column; shell patterns are expanded) or ``LABEL:BS=FPS[,BS=FPS...]``
(card figures typed in). NPU reports give one chip's figure: under a label ``310`` it is
multiplied by 4 (the 310 card's chips), under ``710``/``310P`` taken as it is; ``--chips``
overrides that for any label. CPU and GPU figures (a report our runner measured there) are
never multiplied, whatever the label, and a note says so; a column whose figures come from
different devices or model files gets a warning.

The seed's acceptance rule, applied when a 710 (or 310P) column and a 310 or T4 column are
present: the 710's best-batch figure >= 1.2 x the 310's best and >= 1.6 x the T4's best.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Sequence

from genet.core import render
from genet.core.console import Log
from genet.core.errors import GenetError
from genet.core.render import Panel, Series, markdown_table, plot_by_batch
from genet.core.stats import clearly_above
from genet.formats.sweep_file import SweepFile
from genet.reports.figures import (
    CHIPS_PER_CARD,
    BatchSizeUnknown,
    Throughput,
    check_throughput,
    device_label,
    format_fps,
)
from genet.reports.read import read_report

RULE_VS_310 = 1.2
RULE_VS_T4 = 1.6
_FIGURES = re.compile(r"^\s*\d+\s*=\s*[^,=]+(?:,\s*\d+\s*=\s*[^,=]+)*\s*$")
_GLOB_CHARS = re.compile(r"[*?\[]")


def is_710(label: str) -> bool:
    return re.fullmatch(r"(?:ascend)?(?:710|310p\d*)", label.strip(), re.IGNORECASE) is not None


def is_310(label: str) -> bool:
    return re.fullmatch(r"(?:ascend)?310", label.strip(), re.IGNORECASE) is not None


def is_t4(label: str) -> bool:
    return re.search(r"(?<![a-z0-9])t4(?![0-9])", label, re.IGNORECASE) is not None


def label_chips(label: str) -> int | None:
    """Chips per card that a label implies, None when it implies nothing."""
    if is_310(label):
        return CHIPS_PER_CARD["310"]
    if is_710(label):
        return CHIPS_PER_CARD["710"]
    return None


@dataclass
class Device:
    label: str
    fps: dict[int, float] = field(default_factory=dict)       # batch size -> card throughput
    sources: dict[int, str] = field(default_factory=dict)     # batch size -> where it came from
    measured_on: set[str] = field(default_factory=set)        # devices the reports name
    models: set[str] = field(default_factory=set)             # model files the reports name
    spreads: dict[int, dict] = field(default_factory=dict)    # batch size -> the figure's repeats (card figures)

    def add(self, batch: int, fps: float, source: str, spread: dict | None = None, scale: float = 1.0) -> None:
        """``spread``: the figure's repeats where the source records them (genet.core.stats.spread), × ``scale``."""
        if batch in self.fps:
            raise GenetError(f"{source}: {self.label} bs{batch} is already given by {self.sources[batch]}")
        check_throughput(fps, f"{source}: {self.label} bs{batch}")
        self.fps[batch] = fps
        self.sources[batch] = source
        if spread and int(spread.get("repeats", 0)) > 1:
            self.spreads[batch] = scaled(spread, scale)

    def mixture(self) -> str | None:
        """A warning when this column's reports come from several devices or model files."""
        parts = []
        if len(self.measured_on) > 1:
            parts.append(f"devices {', '.join(sorted(self.measured_on))}")
        if len(self.models) > 1:
            parts.append(f"models {', '.join(sorted(self.models))}")
        return f"warning: column {self.label!r} mixes {' and '.join(parts)}" if parts else None

    @property
    def best_batch(self) -> int:
        return max(self.fps, key=lambda bs: (self.fps[bs], -bs))

    @property
    def best(self) -> float:
        return self.fps[self.best_batch]


def scaled(figure: dict, factor: float) -> dict:
    """A spread's quartiles and median × ``factor`` (a card of chips, the seed rule's 1.2 ×)."""
    return {**figure, **{key: float(figure[key]) * factor for key in ("median", "q1", "q3", "min", "max")
                         if key in figure}}


def noise_note(a: dict | None, b: dict | None, factor: float = 1.0) -> str:
    """`` (within the noise)`` when ``a`` and ``factor`` × ``b`` both carry repeats and neither beats the other by
    the tie rule (their interquartile ranges overlap); else nothing."""
    if not a or not b:
        return ""
    other = scaled(b, factor)
    return "" if clearly_above(a, other) or clearly_above(other, a) else " (within the noise)"


def column_name(device: Device) -> str:
    """A column's label; an NPU label says where its figures were measured when not on an NPU (``710 [cpu]``)."""
    elsewhere = sorted(device.measured_on - {"310"})
    if not elsewhere or label_chips(device.label) is None:
        return device.label
    return f"{device.label} [{', '.join(elsewhere)}]"


def split_spec(spec: str) -> tuple[str, str]:
    label, sep, rest = spec.partition(":")
    if not sep or not label.strip() or not rest.strip():
        raise GenetError(f"{spec!r}: expected LABEL:PATH or LABEL:BS=FPS[,BS=FPS...], e.g. 310:result/"
                         "perf_vision_batchsize_1_device_0.txt or 710:1=2580.59,4=6962.42")
    return label.strip(), rest.strip()


def _parse_figures(spec: str, figures: str) -> list[tuple[int, float]]:
    pairs = []
    for item in figures.split(","):
        batch, _, fps = item.partition("=")
        try:
            pairs.append((int(batch), float(fps)))
        except ValueError:
            raise GenetError(f"{spec!r}: {item.strip()!r} is not BS=FPS") from None
        if pairs[-1][0] < 1:
            raise GenetError(f"{spec!r}: batch size {pairs[-1][0]} is not positive")
    return pairs


def _expand(spec: str, pattern: str) -> list[str]:
    if os.path.exists(pattern) or not _GLOB_CHARS.search(pattern):
        return [pattern]
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise GenetError(f"{spec!r}: no file matches {pattern}")
    return paths


def load_devices(specs: Sequence[str], chips: dict[str, int] | None = None,
                 note: Log = lambda _: None) -> list[Device]:
    """One Device per label, in the order labels first appear; a label may be given many times."""
    chips = chips or {}
    devices: dict[str, Device] = {}
    for spec in specs:
        label, rest = split_spec(spec)
        device = devices.setdefault(label, Device(label))
        if not os.path.exists(rest) and _FIGURES.match(rest):
            for batch, fps in _parse_figures(spec, rest):
                device.add(batch, fps, spec)
            continue
        for path in _expand(spec, rest):
            try:
                found = read_report(path, accept=(Throughput, SweepFile), wanted="a throughput report or sweep file")
            except BatchSizeUnknown as exc:
                raise GenetError(f"{str(exc).rsplit(';', 1)[0]}; give its figure as {label}:BS=FPS "
                                 f"(or read it with parse.py --batch-size)") from None
            factor = chips.get(label, label_chips(label))
            if isinstance(found, SweepFile):
                _add_sweep(device, found, factor)
            else:
                _add_report(device, found, factor, note)
    for device in devices.values():
        warning = device.mixture()
        if warning:
            note(warning)
    return list(devices.values())


def _add_report(device: Device, report: Throughput, factor: int | None, note: Log) -> None:
    if report.per_chip and factor is None:
        note(f"note: {report.source}: NPU chip figure under label {device.label!r} taken x1 "
             f"(--chips {device.label}=4 for a 310 card)")
    if not report.per_chip and (factor or 1) > 1:
        note(f"note: {report.source}: measured on {report.device}, not an NPU chip: taken as it is, "
             f"not x{factor}")
    repeats = (report.details or {}).get("interface_repeats") if report.details else None
    chip_scale = (factor or 1) if report.per_chip else 1
    device.add(report.batch_size, report.card_fps(factor or 1), report.source, repeats, chip_scale)
    device.measured_on.add(report.device)
    if report.model:
        device.models.add(report.model)


def _add_sweep(device: Device, sweep: SweepFile, factor: int | None) -> None:
    """Every batch size of a benchmark.py sweep file (``sweep_device_{id}.json``) into one column."""
    for batch, fps in sorted(sweep.interface.items()):
        scale = (factor or 1) if sweep.per_chip else 1
        device.add(batch, fps * scale, f"{sweep.path} (bs{batch})", sweep.spread.get(batch), scale)
    device.measured_on.add(device_label({"backend": sweep.backend, "device": sweep.device}))
    if sweep.model:
        device.models.add(sweep.model)


def parse_chips(items: Sequence[str]) -> dict[str, int]:
    chips = {}
    for item in items:
        label, _, count = item.partition("=")
        if not label or not count.isdigit() or int(count) < 1:
            raise GenetError(f"--chips {item!r}: expected LABEL=N with N >= 1, e.g. 310=4")
        chips[label] = int(count)
    return chips


@dataclass
class Check:
    other: Device
    factor: float

    @property
    def threshold(self) -> float:
        return self.factor * self.other.best


@dataclass
class Verdict:
    candidate: Device
    checks: list[Check]
    unchecked: list[str]

    @property
    def not_on_npus(self) -> list[Device]:
        """NPU columns (the 710 and the 310 it is held against) with figures measured on a CPU or GPU."""
        npu_columns = [self.candidate] + [c.other for c in self.checks if is_310(c.other.label)]
        return [d for d in npu_columns if d.measured_on - {"310"}]

    @property
    def passed(self) -> bool:
        return not self.not_on_npus and all(self.candidate.best >= c.threshold for c in self.checks)

    def line(self) -> str:
        if self.not_on_npus:
            where = "; ".join(f"{d.label!r} on {', '.join(sorted(d.measured_on - {'310'}))}" for d in self.not_on_npus)
            return (f"verdict (seed 7.4): NOT APPLICABLE: the rule compares NPU cards, but column {where} was "
                    f"measured there, not on an NPU")
        c = self.candidate
        parts = [f"{c.label} best {format_fps(c.best)} (bs{c.best_batch}) "
                 f"{'>=' if c.best >= k.threshold else '<'} {k.factor} x {k.other.label} best "
                 f"{format_fps(k.other.best)} (bs{k.other.best_batch}) = {format_fps(k.threshold)}"
                 + noise_note(c.spreads.get(c.best_batch), k.other.spreads.get(k.other.best_batch), k.factor)
                 for k in self.checks]
        text = f"verdict (seed 7.4): {'PASS' if self.passed else 'FAIL'}: " + "; ".join(parts)
        if self.unchecked:
            text += f" (not checked: no {' or '.join(self.unchecked)} column)"
        return text


def seed_verdict(devices: Sequence[Device]) -> Verdict | None:
    """The seed's rule, or None when there is no 710 column or nothing to hold it against."""
    candidate = next((d for d in devices if is_710(d.label)), None)
    if candidate is None:
        return None
    checks, unchecked = [], []
    for name, matches, factor in (("310", is_310, RULE_VS_310), ("T4", is_t4, RULE_VS_T4)):
        other = next((d for d in devices if matches(d.label)), None)
        if other is None:
            unchecked.append(name)
        else:
            checks.append(Check(other, factor))
    return Verdict(candidate, checks, unchecked) if checks else None


@dataclass
class Table:
    devices: list[Device]
    candidate: Device

    @property
    def batches(self) -> list[int]:
        return sorted({bs for d in self.devices for bs in d.fps})

    @property
    def others(self) -> list[Device]:
        return [d for d in self.devices if d is not self.candidate]

    def header(self) -> list[str]:
        return ["batch"] + [column_name(d) for d in self.devices] + [f"{self.candidate.label}/{o.label}"
                                                                     for o in self.others]

    def _ratio(self, a: float | None, b: float | None, noise: str = "") -> str:
        """The ratio, ``~`` after it when the two figures' repeats overlap (within the noise)."""
        return f"{a / b:.3f}{' ~' if noise else ''}" if a is not None and b is not None else ""

    def rows(self, with_best_batch: bool) -> list[list[str]]:
        """Cells as text: one row per batch size, then the best-batch row."""
        c = self.candidate
        rows = [[str(bs)] + [format_fps(d.fps[bs]) if bs in d.fps else "" for d in self.devices]
                + [self._ratio(c.fps.get(bs), o.fps.get(bs), noise_note(c.spreads.get(bs), o.spreads.get(bs)))
                   for o in self.others] for bs in self.batches]
        best = [format_fps(d.best) + (f" (bs{d.best_batch})" if with_best_batch else "") for d in self.devices]
        rows.append(["best"] + best + [self._ratio(c.best, o.best, noise_note(c.spreads.get(c.best_batch),
                                                                              o.spreads.get(o.best_batch)))
                                       for o in self.others])
        return rows


def make_table(devices: Sequence[Device], candidate: str | None = None) -> Table:
    devices = [d for d in devices if d.fps]
    if not devices:
        raise GenetError("no throughput figures to compare")
    if candidate is not None:
        chosen = next((d for d in devices if d.label == candidate), None)
        if chosen is None:
            raise GenetError(f"--candidate {candidate!r} is not one of the labels: "
                             f"{', '.join(d.label for d in devices)}")
    else:
        chosen = next((d for d in devices if is_710(d.label)), devices[0])
    return Table(list(devices), chosen)


def markdown(table: Table) -> str:
    rows = table.rows(with_best_batch=True)
    noisy = any(cell.endswith(" ~") for row in rows for cell in row)
    note = ["", "~: within the noise (the two figures' repeats overlap: docs/metrics.md, \"Best batch\")"]
    note = note if noisy else []
    return "\n".join(markdown_table(table.header(), rows, empty="-") + note) + "\n"


def csv_text(table: Table) -> str:
    best = ["best batch"] + [str(d.best_batch) for d in table.devices] + [""] * len(table.others)
    return render.csv_text(table.header(), [*table.rows(with_best_batch=False), best])


def plot(table: Table, path: str | os.PathLike) -> None:
    """Throughput against batch size, log-scale batch axis, one line per device, best batch ringed.

    ``path`` is written in place: the caller makes it one of the run's atomic outputs.
    """
    lines = [Series(d.label, d.fps, ring=d.best_batch) for d in table.devices]
    plot_by_batch(path, [Panel("batch size", "throughput (images/s per card)", "Throughput against batch size",
                               lines)], size=(7, 4.5), dpi=120)
