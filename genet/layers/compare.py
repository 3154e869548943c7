"""Layer by layer, every run against the reference (the first): accumulated and isolated error, and a verdict.

Each batch of images goes through the reference, then through each run twice: as it is
(*accumulated*: a layer's error includes everything it inherits from the layers before it) and,
where the run allows it, with every layer fed the reference's inputs to that layer (*isolated*: the
layer's own error). Outputs are reduced to statistics batch by batch (``metrics.LayerStats``) and
dropped, so memory holds one batch of activations per run at a time.

The verdict of a run, per mode, is the first layer (in the reference's order) whose output holds
a NaN or an infinity on any image, or crosses the run's precision threshold: the median cosine
similarity over the images must be at least ``cosine`` (defaults: fp32 0.9999, fp16 0.999, int8 0.99, see
docs/layers.md) and the relative Euclidean distance at most ``sqrt(2·(1 − cosine))``, the distance
of an error orthogonal to the output that brings the cosine to the threshold, so that an error the
cosine cannot see (a layer scaled by a constant) fails at the same size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from genet.bench.batches import plan_batches, read_batches
from genet.bench.sources import BinFiles, ImageSource, PackedImages
from genet.core.console import progress_bar
from genet.core.constants import CHANNELS, IMAGE_SIZE, PACKED_IMAGES
from genet.core.errors import GenetError, name_some
from genet.data.provenance import is_generated
from genet.formats.info import NumberedEntry
from genet.formats.listing import list_bins
from genet.layers.capture import DEPLOYED, Batch, Capture, RunInfo
from genet.layers.metrics import LayerStats

DEFAULT_COSINE = {"fp32": 0.9999, "fp16": 0.999, "int8": 0.99}
MODES = ("accumulated", "isolated")
IMAGE_SHAPE = (CHANNELS, IMAGE_SIZE, IMAGE_SIZE)


@dataclass(frozen=True)
class Threshold:
    cosine: float

    def __post_init__(self):
        if not 0.0 < self.cosine <= 1.0:
            raise GenetError(f"a cosine threshold must be in (0, 1], got {self.cosine}")

    @property
    def distance(self) -> float:
        """The relative Euclidean distance allowed: that of an orthogonal error at the cosine threshold."""
        return math.sqrt(2.0 * (1.0 - self.cosine))


def failure(stats: LayerStats, threshold: Threshold) -> str | None:
    """Why a layer fails its threshold, or None; written so that a NaN fails."""
    if stats.run_nan or stats.run_inf:
        return f"{_non_finite(stats.run_nan, stats.run_inf)} in its output"
    if stats.ref_nan or stats.ref_inf:
        return f"the reference's output holds {_non_finite(stats.ref_nan, stats.ref_inf)}"
    cosine = stats.cosine_median
    if not cosine >= threshold.cosine:
        return f"median cosine {cosine:.6g} < {threshold.cosine:g}"
    distance = stats.relative_euclidean
    if not distance <= threshold.distance:
        return (f"relative Euclidean distance {distance:.3g} > {threshold.distance:.3g} "
                f"(cosine {cosine:.6f}: the error is in the magnitude)")
    return None


def _non_finite(nan: int, inf: int) -> str:
    return " and ".join(part for part in (f"{nan} NaN" if nan else "", f"{inf} infinite value(s)" if inf else "")
                        if part)


@dataclass(frozen=True)
class Row:
    name: str
    op_type: str
    tensor: str | None          # the reference's tensor; None when the reference fused the layer


@dataclass(frozen=True)
class Verdict:
    layer: str
    reason: str


@dataclass
class RunResult:
    info: RunInfo
    tensors: dict[str, str]
    fused: dict[str, str]
    isolates: bool
    reference_fused: dict[str, str] = field(default_factory=dict)
    stats: dict[str, dict[str, LayerStats]] = field(default_factory=lambda: {mode: {} for mode in MODES})
    verdicts: dict[str, Verdict | None] = field(default_factory=dict)

    def add(self, mode: str, reference: dict[str, np.ndarray], values: dict[str, np.ndarray], rows: int) -> None:
        for name, value in values.items():
            if name in reference:
                self.stats[mode].setdefault(name, LayerStats()).update(reference[name], value[:rows])

    def status(self, layer: str) -> str:
        """compared | fused into X | not exposed."""
        if layer in self.stats["accumulated"]:
            return "compared"
        if layer in self.fused:
            return f"fused into {self.fused[layer]}"
        if layer in self.reference_fused:
            return f"fused into {self.reference_fused[layer]} (as in the reference)"
        return "not exposed"

    @property
    def modes(self) -> tuple[str, ...]:
        return MODES if self.isolates else MODES[:1]

    @property
    def passed(self) -> bool:
        return not any(self.verdicts.values())


@dataclass
class Comparison:
    reference: RunInfo
    rows: list[Row]
    runs: list[RunResult]
    images: int
    source: str
    batch_size: int
    thresholds: dict[str, Threshold]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(run.passed for run in self.runs)


def open_images(path: Path, count: int) -> ImageSource:
    """The first ``count`` images of preprocess.py's folder (its ``images.npy``, else its ``.bin`` files)."""
    packed = path / PACKED_IMAGES if path.is_dir() else path
    if packed.is_file() and packed.suffix == ".npy":
        source = PackedImages.alone(packed, IMAGE_SHAPE)
    else:
        entries = list_bins(str(path), IMAGE_SIZE, IMAGE_SIZE)
        if len(entries) < count:
            raise GenetError(f"{path}: holds {len(entries)} images, fewer than --count {count}")
        numbered = [NumberedEntry(entry.index + 1, entry) for entry in entries[:count]]
        source = BinFiles(path, numbered, IMAGE_SHAPE)
    if source.count < count:
        raise GenetError(f"{path}: holds {source.count} images, fewer than --count {count}")
    return source


def image_batches(source: ImageSource, count: int, batch_size: int) -> Iterator[Batch]:
    spans = plan_batches(count, batch_size, pad_to_batch=False)
    for span, read in zip(spans, read_batches(source, spans, IMAGE_SHAPE)):
        yield Batch(read.number, span.start, read.images)


def layer_rows(reference: Capture) -> list[Row]:
    """The reference's layers in order, each layer it fused placed just before the one that holds it."""
    rows: list[Row] = []
    for layer in reference.layers:
        rows += [Row(name, "fused", None) for name, into in reference.fused.items() if into == layer.name]
        rows.append(Row(layer.name, layer.op_type, layer.tensor))
    return rows


def check_structure(reference: Capture, capture: Capture) -> None:
    """Refuse two models of different architectures: a layer one has and the other neither has nor fused."""
    if not (reference.info.full_graph and capture.info.full_graph):
        return
    known = {layer.name for layer in reference.layers} | set(reference.fused) | {DEPLOYED}
    theirs = {layer.name for layer in capture.layers} | set(capture.fused) | {DEPLOYED}
    for names, other, where in (([layer.name for layer in reference.layers], theirs, reference.info.source),
                                ([layer.name for layer in capture.layers], known, capture.info.source)):
        missing = [name for name in names if name not in other]
        if missing:
            raise GenetError(f"{capture.info.source} does not match {reference.info.source}: layer {missing[0]} of "
                             f"{where} has no counterpart in the other (different architectures?"
                             f"{' also: ' + name_some(missing[1:], 3) if len(missing) > 1 else ''})")


def check_shapes(rows: Sequence[Row], reference: dict[str, np.ndarray], capture: Capture,
                 values: dict[str, np.ndarray], ref_info: RunInfo) -> None:
    for row in rows:
        if row.name in reference and row.name in values:
            mine, theirs = reference[row.name].shape[1:], values[row.name].shape[1:]
            if mine != theirs:
                raise GenetError(f"{capture.info.source} does not match {ref_info.source}: first mismatching layer "
                                 f"{row.name} is {'×'.join(map(str, theirs))} per image there, "
                                 f"{'×'.join(map(str, mine))} in the reference")


def check_named(names: Sequence[str], reference: Capture, captures: Sequence[Capture]) -> None:
    """Every layer the user named must be a layer every run exposes."""
    for name in names:
        for capture in (reference, *captures):
            if name in capture.fused:
                raise GenetError(f"--layer {name}: {capture.info.label} ({capture.info.source}) computes it fused "
                                 f"into {capture.fused[name]}: it has no output of its own there")
            if name not in {layer.name for layer in capture.layers}:
                raise GenetError(f"--layer {name}: {capture.info.label} ({capture.info.source}) has no such layer "
                                 f"(its first layers: {name_some([layer.name for layer in capture.layers], 4)})")


def verdict(run: RunResult, rows: Sequence[Row], mode: str, threshold: Threshold) -> Verdict | None:
    for row in rows:
        stats = run.stats[mode].get(row.name)
        reason = failure(stats, threshold) if stats else None
        if reason:
            return Verdict(row.name, reason)
    return None


def _batch_values(capture: Capture, batch: Batch, reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    values = capture.outputs(batch, reference)
    short = [name for name, value in values.items() if len(value) < len(batch.images)]
    if short:
        raise GenetError(f"{capture.info.source}: layer {short[0]} holds {len(values[short[0]])} image(s) in "
                         f"batch {batch.index + 1}, which has {len(batch.images)}")
    return values


def compare_runs(reference: Capture, captures: Sequence[Capture], images: ImageSource, count: int,
                 batch_size: int, isolated: bool = True, only: Sequence[str] = (),
                 thresholds: dict[str, Threshold] | None = None, quiet: bool = False) -> Comparison:
    """Every capture against the reference over the first ``count`` images, in batches of ``batch_size``."""
    import time

    started = time.perf_counter()
    for capture in captures:
        check_structure(reference, capture)
    if only:
        check_named(only, reference, captures)
    rows = [row for row in layer_rows(reference) if not only or row.name in only]
    results = [RunResult(c.info, {layer.name: layer.tensor for layer in c.layers}, dict(c.fused),
                         isolated and c.can_isolate, dict(reference.fused)) for c in captures]
    with progress_bar(count, "compare layers", quiet) as bar:
        for batch in image_batches(images, count, batch_size):
            ref = reference.outputs(batch)
            if only:
                ref = {name: value for name, value in ref.items() if name in only}
            for capture, result in zip(captures, results):
                values = _batch_values(capture, batch, ref)
                if batch.index == 0:
                    check_shapes(rows, ref, capture, values, reference.info)
                result.add("accumulated", ref, values, len(batch.images))
                del values
                if result.isolates:
                    result.add("isolated", ref, capture.isolated(batch, ref), len(batch.images))
            bar.update(len(batch.images))
    thresholds = thresholds or {p: Threshold(c) for p, c in DEFAULT_COSINE.items()}
    for result in results:
        result.verdicts = {mode: verdict(result, rows, mode, thresholds[result.info.precision])
                           for mode in result.modes}
    source = images.description + (" (generated data, NOT CIFAR-10)" if is_generated(images.description) else "")
    return Comparison(reference.info, rows, results, count, source, batch_size, thresholds,
                      time.perf_counter() - started)
