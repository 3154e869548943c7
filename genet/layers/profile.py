"""The per-layer profile: a backend's kernel times grouped by layer, against the machine's ceiling.

A row is a group of layers (``genet.layers.names``) and the kernels that compute them: a kernel that
covers several layers (a fused Conv + Relu) puts them in one row, named by all of them, and a layer
that several kernels compute (a convolution and its layout reorder) has them all in its row. A kernel
whose names map to no layer of the model is a row of its own under the backend's name, marked
unmapped: shown, never guessed.

Times: a row's ``ms`` is its kernels' time per batch: their seconds summed over the profiled calls,
divided by the calls and by the run's overlap (the calls' summed duration over the time any call
ran: 1, as benchmark.py runs one call at a time; about 2 in a profile written while ONNX Runtime and
OpenVINO kept two calls in flight), so that the rows add up
to the device time per batch that the Interface throughputRate counts. FLOPs per batch come from the
model (``genet.layers.flops``); GFLOP/s is FLOPs over ``ms``; ``of ceiling`` that rate over the dense
matrix product's rate measured in the same run (``genet.layers.ceiling``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from genet.core.errors import GenetError, name_some
from genet.layers.flops import OnnxLayers
from genet.runners.profiling import LAYER_NAMES, NPU_NAMES, Kernel, KernelTimes

#: The check of the per-layer sum against the unprofiled device time per batch.
SUM_TOLERANCE = 0.15


@dataclass
class Row:
    layers: tuple[str, ...]              # () for a kernel that maps to no layer
    kernels: list[Kernel]
    ops: tuple[str, ...] = ()            # the model's op types of its layers (ONNX), or the backend's
    flops: float | None = None           # per batch; None where unknown
    order: int = 0
    ms: float = 0.0                      # per batch
    share: float = 0.0                   # of the sum of the rows
    uncounted: tuple[str, ...] = ()      # op types whose FLOPs are not in ``flops``

    @property
    def label(self) -> str:
        return " + ".join(self.layers) if self.layers else self.kernels[0].name

    @property
    def mapped(self) -> bool:
        return bool(self.layers)

    def gflops_per_s(self) -> float | None:
        if self.flops is None or not self.flops or self.ms <= 0:
            return None
        return self.flops / (self.ms / 1000.0) / 1e9


@dataclass
class Ceiling:
    """The dense matrix product's rate on this backend and machine, GFLOP/s per precision."""

    gflops: dict[str, float]
    size: int
    streams: int
    threads: str
    seconds: float

    def of(self, precision: str) -> float | None:
        return self.gflops.get(precision, self.gflops.get("fp32"))


@dataclass
class LayerProfile:
    rows: list[Row]
    batch_size: int
    calls: int
    overlap: float = 1.0
    names: str = "onnx"
    precision: str = "fp32"
    notes: list[str] = field(default_factory=list)
    unseen: list[str] = field(default_factory=list)     # layers of the model no kernel time maps to
    about: dict = field(default_factory=dict)           # backend, device, versions, command line, date …
    ceiling: Ceiling | None = None
    check: dict | None = None
    overhead: dict | None = None

    @property
    def total_ms(self) -> float:
        return sum(row.ms for row in self.rows)

    def ceiling_fraction(self, row: Row) -> float | None:
        rate, top = row.gflops_per_s(), self.ceiling.of(self.precision) if self.ceiling else None
        return rate / top if rate is not None and top else None


def build_profile(times: KernelTimes, batch_size: int, overlap: float = 1.0, precision: str = "fp32",
                  where: str = "the profile") -> LayerProfile:
    """Group ``times`` by layer (the model in ``times.model`` names the layers and counts their FLOPs)."""
    if times.calls < 1:
        raise GenetError(f"{where}: holds no complete model call")
    layers = OnnxLayers(times.model, batch_size) if times.model is not None else None
    groups = _group(times, layers)
    if times.names != NPU_NAMES and times.model is not None and not any(row.layers for row in groups):
        raise GenetError(f"{where}: none of its {len(times.kernels)} kernels maps to a layer of the model "
                         f"(layer names come from the export's node names, /module/path/Op)")
    per_batch = 1000.0 / times.calls / max(overlap, 1.0)
    for row in groups:
        row.ms = sum(k.seconds for k in row.kernels) * per_batch
        if layers is not None and row.layers:
            facts = [layers.facts[name] for name in row.layers if name in layers.facts]
            row.ops = tuple(dict.fromkeys(op for f in facts for op in f.ops))
            row.flops = sum(f.flops for f in facts) if facts else None
            row.uncounted = tuple(dict.fromkeys(op for f in facts for op in f.uncounted))
            row.order = min((f.order for f in facts), default=row.order)
        elif not row.ops:
            row.ops = tuple(dict.fromkeys(k.op for k in row.kernels))
    total = sum(row.ms for row in groups)
    for row in groups:
        row.share = row.ms / total if total > 0 else math.nan
    groups.sort(key=lambda row: (not row.mapped, row.order if row.mapped else -row.ms))
    seen = {name for row in groups for name in row.layers}
    unseen = sorted((name for name in (layers.facts if layers else ()) if name not in seen),
                    key=lambda name: layers.facts[name].order)
    return LayerProfile(groups, batch_size, times.calls, overlap, times.names, precision, list(times.notes), unseen)


def _layers_of(kernel: Kernel, times: KernelTimes, layers: OnnxLayers | None) -> tuple[str, ...]:
    if times.names == NPU_NAMES:
        return ()
    names = kernel.members or (kernel.name,)
    if times.names == LAYER_NAMES:
        return tuple(dict.fromkeys(names))
    if layers is None:
        return ()
    return tuple(dict.fromkeys(layer for layer in map(layers.layer_of, names) if layer is not None))


class LayerGroups:
    """Layers joined into groups by what they share (a kernel, a row): union-find, in first-seen order."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def join(self, names: tuple[str, ...]) -> None:
        for name in names:
            self._parent.setdefault(name, name)
        for name in names[1:]:
            self._parent[self.root(name)] = self.root(names[0])

    def root(self, name: str) -> str:
        parent = self._parent
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def order(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self._parent)}


def _group(times: KernelTimes, layers: OnnxLayers | None) -> list[Row]:
    """Rows: layers joined by the kernels they share, and one row per unmapped kernel name."""
    groups = LayerGroups()
    covered: list[tuple[Kernel, tuple[str, ...]]] = []
    unmapped: dict[str, list[Kernel]] = {}
    for kernel in times.kernels:
        names = _layers_of(kernel, times, layers)
        if not names:
            unmapped.setdefault(kernel.name, []).append(kernel)
            continue
        groups.join(names)
        covered.append((kernel, names))
    rows: dict[str, Row] = {}
    order = groups.order()
    for kernel, names in covered:
        row = rows.setdefault(groups.root(names[0]), Row((), []))
        row.kernels.append(kernel)
        row.layers = tuple(sorted(set(row.layers) | set(names), key=lambda n: _order(n, layers, order)))
        row.order = _order(row.layers[0], layers, order)
    return list(rows.values()) + [Row((), kernels) for kernels in unmapped.values()]


def _order(name: str, layers: OnnxLayers | None, seen: dict[str, int]) -> int:
    if layers is not None and name in layers.facts:
        return layers.facts[name].order
    return seen.get(name, 0)


def module_summary(profile: LayerProfile) -> list[tuple[str, float, float, float]]:
    """Per top-level module (conv1, block1 …, or the top's own op): ms, share, and the share in Conv rows."""
    found: dict[str, list[float]] = {}
    total = profile.total_ms
    for row in profile.rows:
        top = row.layers[0].split("/")[0].split(".")[0] if row.layers else "(unmapped)"
        entry = found.setdefault(top, [0.0, 0.0])
        entry[0] += row.ms
        if any(op in ("Conv", "ConvInteger", "QLinearConv", "Conv2d") for op in row.ops):
            entry[1] += row.ms
    return [(top, ms, ms / total if total else math.nan, conv / total if total else math.nan)
            for top, (ms, conv) in found.items()]


def sum_check(profile: LayerProfile, interface_ms: float) -> dict:
    """The per-layer sum against the unprofiled device time per batch; NaN or a zero time fails."""
    ratio = profile.total_ms / interface_ms - 1.0 if interface_ms > 0 else math.nan
    return {"layers_ms": profile.total_ms, "interface_ms": interface_ms, "difference": ratio,
            "tolerance": SUM_TOLERANCE, "within": bool(abs(ratio) <= SUM_TOLERANCE)}


def unmapped_note(profile: LayerProfile) -> str | None:
    names = [row.label for row in profile.rows if not row.mapped]
    if not names:
        return None
    ms = sum(row.ms for row in profile.rows if not row.mapped)
    return f"{len(names)} kernels map to no layer ({ms:.3f} ms per batch): {name_some(names)}"
