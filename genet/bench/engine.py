"""One benchmark run: the model over its inputs, the dumps, and the perf report.

Reading, inference and writing overlap: a prefetch thread reads batches ahead of the
model, the model runs on the calling thread (or, for a runner with several ``streams``,
on that many threads, results taken in batch order), and a small pool of writer threads
writes the dumps. Dumps go to a temporary folder that replaces ``dumpOutput_device{id}`` only once
every image has its dump. A run's outputs are one unit: every output path is checked before the
model's first call; once the dumps are complete, the perf reports are renamed into place and the
dump folder swapped in, with signals held back and a lock on the output folder (so that concurrent
runs cannot interleave theirs); if either step fails, the old reports are put back and the old
dumps kept. A failed or interrupted run leaves the previous outputs as they were and no temporary file.

Outputs that are not finite numbers (NaN, ±Inf) are counted: ``non_finite_outputs`` in the JSON is
the number of images with at least one such logit.

The figures of the perf report and its JSON twin (e2e, each stage's throughputRate and
moduleLatency, the Interface throughputRate, the per-call statistics) are defined in one place,
docs/metrics.md; ``build_report`` and ``_details`` compute them as written there.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from genet.bench.sources import (
    BatchSpan,
    BinFiles,
    ImageShape,
    ImageSource,
    PackedImages,
    Prefetcher,
    RandomImages,
    check_unique_stems,
    plan_batches,
    read_batches,
)
from genet.core.console import Log, progress_bar, stderr_log
from genet.core.constants import CHANNELS, PACKED_IMAGES
from genet.core.errors import GenetError
from genet.core.fsio import atomic_dir, check_apart, check_output_file, check_replaceable_dir, temp_name
from genet.formats.dumps import PACKED_DUMP, dump_folder, is_dump_name, write_dumps, write_packed
from genet.formats.info import NumberedEntry, read_numbered_info
from genet.formats.packed import check_packed
from genet.formats.perf_report import PerfReport, perf_paths, perf_texts, write_text_as
from genet.runners import BACKENDS, CallTimes, Runner, RunnerOptions, SettingError, open_runner


@dataclass
class BenchConfig:
    """What to run and where to write; ``info_path``/``packed_input`` None and ``rounds`` set = pure inference."""

    model_path: Path
    batch_size: int
    device_id: int = 0
    backend: str = "auto"
    options: RunnerOptions = field(default_factory=RunnerOptions)
    input_width: int | None = None
    input_height: int | None = None
    info_path: Path | None = None
    packed_input: Path | None = None
    auto_packed: bool = True            # use images.npy beside the .bin files when proven identical to them
    rounds: int | None = None
    output_dir: Path = Path("result")
    binary: bool = False
    packed_output: bool = False
    warmup: int = 2
    writer_threads: int = 1
    prefetch_depth: int = 8
    seed: int = 0
    progress: bool = True
    command_line: Sequence[str] = ()
    dump_suffix: str = ""               # dumpOutput_device{id}{suffix}: a sweep keeps each batch size apart

    def __post_init__(self) -> None:
        if self.backend not in ("auto", *BACKENDS):
            raise SettingError(f"{{backend}} {{value}}: unknown (choose from auto, {', '.join(BACKENDS)})",
                               value=self.backend)
        for name, least in (("batch_size", 1), ("device_id", 0), ("warmup", 0), ("writer_threads", 1),
                            ("prefetch_depth", 1), ("input_width", 1), ("input_height", 1)):
            value = getattr(self, name)
            if value is not None and value < least:
                raise SettingError(f"{{{name}}}={{value}}: must be ≥ {least}", value=value)
        if self.rounds is not None and not self.pure_inference:
            raise SettingError("{rounds} is pure-inference mode, which reads no inputs: leave out {info_path} "
                               "(and {packed_input}), or {rounds}")
        if self.rounds is None and self.pure_inference:
            raise SettingError("give {info_path}=INFO (a run over a dataset) or {rounds}=N (pure inference)")
        if self.rounds is not None and self.rounds < 1:
            raise SettingError("{rounds}={value}: must be ≥ 1", value=self.rounds)

    @property
    def pure_inference(self) -> bool:
        return self.info_path is None and self.packed_input is None


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
    streams: int = 1
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
        """Device-only seconds of the run: their sum, or with overlapping calls the time any ran."""
        if self.streams == 1:
            return sum(self.device_seconds)
        return union_seconds(self.call_spans)


def union_seconds(spans: Iterable[tuple[float, float]]) -> float:
    """Length of the union of [start, end) intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


# Dumps waiting to be written, at most: logits are small, and a deep queue absorbs the jitter of
# file creation (on a busy disk its cost swings several-fold from one second to the next).
PENDING_IMAGES = 8192


class DumpWriter:
    """Writes each batch's dumps on a thread pool, at most ``PENDING_IMAGES`` images behind.

    One thread is the default: file creations in one folder serialise on the folder's lock
    (Linux), so more threads mostly add contention.
    """

    def __init__(self, folder: Path, shown_as: Path, binary: bool, threads: int, timer: StageTimer,
                 packed: bool):
        self._folder, self._shown_as, self._binary, self._timer = folder, shown_as, binary, timer
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="genet-dump")
        self._pending: deque[tuple[Future, int]] = deque()
        self._pending_images = 0
        self._packed: list[tuple[Sequence[str], np.ndarray]] | None = [] if packed else None
        self.written = 0

    def _write(self, stems: Sequence[str], logits: np.ndarray) -> None:
        start = time.perf_counter()
        try:
            write_dumps(self._folder, stems, logits, self._binary)
        except OSError as exc:
            raise self._error(exc) from None
        self._timer.add(start, time.perf_counter())

    def _error(self, exc: OSError) -> GenetError:
        name = os.path.basename(exc.filename) if exc.filename else PACKED_DUMP
        return GenetError(f"{self._shown_as / name}: cannot write: {exc.strerror}")

    def submit(self, stems: Sequence[str], logits: np.ndarray) -> None:
        if self._packed is not None:
            self._packed.append((stems, logits))
        self._pending.append((self._pool.submit(self._write, stems, logits), len(stems)))
        self._pending_images += len(stems)
        self.written += len(stems)
        while self._pending_images > PENDING_IMAGES:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        future, images = self._pending.popleft()
        self._pending_images -= images
        future.result()

    def finish(self) -> None:
        while self._pending:
            self._wait_oldest()
        if self._packed:
            start = time.perf_counter()
            stems = [stem for batch_stems, _ in self._packed for stem in batch_stems]
            try:
                write_packed(self._folder / PACKED_DUMP, stems, np.concatenate([lg for _, lg in self._packed]))
            except OSError as exc:
                raise GenetError(f"{self._shown_as / PACKED_DUMP}: cannot write: {exc.strerror}") from None
            self._timer.add(start, time.perf_counter())

    def close(self) -> None:
        for future, _ in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)


class DiscardSink:
    """Pure-inference mode: the logits are dropped (timed, as the postprocess stage)."""

    written = 0

    def __init__(self, timer: StageTimer):
        self._timer = timer

    def submit(self, stems: Sequence[str], logits: np.ndarray) -> None:
        start = time.perf_counter()
        del logits
        self._timer.add(start, time.perf_counter())

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class BenchResult:
    report: PerfReport
    details: dict
    perf_txt: Path
    perf_json: Path
    dump_dir: Path | None
    images: int
    calls: list[dict] = field(default_factory=list)     # per-call seconds (``call_records``)
    window: tuple[float, float] = (0.0, 0.0)            # first timed call start, last end (perf_counter)


def resolve_image_shape(runner: Runner, width: int | None, height: int | None) -> ImageShape:
    """C×H×W of the inputs: the model's, which -input_width/-input_height must agree with."""
    _, channels, model_height, model_width = runner.input_shape
    if (width is not None and model_width is not None and width != model_width) or \
            (height is not None and model_height is not None and height != model_height):
        given = " ".join(f"{flag}={value}" for flag, value in (("-input_width", width), ("-input_height", height))
                         if value is not None)
        raise GenetError(f"{runner.model_path}: the model takes {model_width}×{model_height} images, but {given}")
    width, height = model_width or width, model_height or height
    if width is None or height is None:
        raise GenetError(f"{runner.model_path}: the model's image size is dynamic: give -input_width and "
                         f"-input_height")
    return (channels or CHANNELS, height, width)


def check_batch_size(runner: Runner, batch_size: int) -> None:
    if runner.static_batch is not None and runner.static_batch != batch_size:
        raise GenetError(f"{runner.model_path}: the model has a fixed batch of {runner.static_batch}, but "
                         f"-batch_size={batch_size} (one model per batch size, as ATC converts them)")


def bin_folders(numbered: Sequence[NumberedEntry]) -> list[Path]:
    """The folders holding an info file's .bin files."""
    return sorted({Path(os.path.dirname(item.entry.path) or ".") for item in numbered})


def open_source(config: BenchConfig, shape: ImageShape, log: Log,
                numbered: Sequence[NumberedEntry] | None = None) -> ImageSource:
    """The run's images; ``numbered``: the info file's lines, when already read."""
    if config.pure_inference:
        return RandomImages(config.rounds * config.batch_size, config.seed)
    if config.info_path is None:
        return PackedImages.alone(config.packed_input, shape)
    if numbered is None:
        numbered = read_numbered_info(config.info_path)
    check_unique_stems(config.info_path, numbered)
    if config.packed_input is not None:
        return PackedImages.for_info(config.packed_input, config.info_path, numbered, shape)
    folders = bin_folders(numbered)
    candidate = folders[0] / PACKED_IMAGES if len(folders) == 1 else None
    if config.auto_packed and candidate is not None and candidate.is_file():
        reason = check_packed(candidate, [item.entry.path for item in numbered])
        if reason is None:
            log(f"note: reading {candidate} (packed; preprocess's manifest proves it holds the images of "
                f"{config.info_path}); --no-packed reads the .bin files")
            return PackedImages.for_info(candidate, config.info_path, numbered, shape)
        log(f"note: not using {candidate}: {reason}; reading the .bin files (--packed-input {candidate} "
            f"uses it anyway)")
    return BinFiles(config.info_path, numbered, shape)


def warm_up(runner: Runner, spans: Sequence[BatchSpan], shape: ImageShape, calls: int, seed: int) -> list[float]:
    """``calls`` runs at the full batch shape, one at the remainder's (CUDA graphs, compiles, autotuning).

    Returns the wall-clock seconds of each warm-up call (the first one is the cold call).
    """
    seconds: list[float] = []
    if calls < 1:
        return seconds
    generator = np.random.default_rng(seed + 1)
    for i, rows in enumerate(sorted({span.rows for span in spans}, reverse=True)):
        images = generator.standard_normal((rows, *shape), dtype=np.float32)
        for _ in range(calls if i == 0 else 1):
            start = time.perf_counter()
            runner.run(images)
            seconds.append(time.perf_counter() - start)
    return seconds


Item = TypeVar("Item")


@dataclass
class Call:
    """One ``run_timed`` call: its logits, wall-clock start and end, and the backend's split of its time."""

    logits: np.ndarray
    start: float
    end: float
    times: CallTimes


def _timed_call(runner: Runner, images: np.ndarray) -> Call:
    start = time.perf_counter()
    logits, times = runner.run_timed(images)
    return Call(logits, start, time.perf_counter(), times)


# Calls submitted per stream before the oldest result is waited for: with one, a stream whose
# call finished early would idle until the oldest call (its result is due first) is done.
_QUEUED_PER_STREAM = 2


def calls_in_order(runner: Runner, items: Iterable[Item], images: Callable[[Item], np.ndarray],
                   streams: int = 1) -> Iterator[tuple[Item, Call]]:
    """Run the model on each item's images, ``streams`` calls in flight at once; yield in item order.

    Up to 2 × ``streams`` items are submitted ahead, so a free stream always has the next one.
    """
    if streams <= 1:
        for item in items:
            yield item, _timed_call(runner, images(item))
        return
    pool = ThreadPoolExecutor(max_workers=streams, thread_name_prefix="genet-stream")
    pending: deque[tuple[Item, Future]] = deque()
    try:
        for item in items:
            pending.append((item, pool.submit(_timed_call, runner, images(item))))
            if len(pending) >= streams * _QUEUED_PER_STREAM:
                item, future = pending.popleft()
                yield item, future.result()
        while pending:
            item, future = pending.popleft()
            yield item, future.result()
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def run_pipeline(runner: Runner, source: ImageSource, spans: Sequence[BatchSpan], shape: ImageShape,
                 sink, timings: Timings, prefetch_depth: int, progress) -> None:
    start = time.perf_counter()
    timings.streams = runner.streams
    with Prefetcher(read_batches(source, spans, shape), prefetch_depth) as batches:
        for batch, call in calls_in_order(runner, batches, lambda batch: batch.images, runner.streams):
            timings.read.add(batch.read_start, batch.read_end)
            timings.preprocess.add(batch.read_end, batch.prep_end)
            timings.inference.add(call.start, call.end)
            timings.call_spans.append((call.start, call.end))
            timings.add_call(call.times)
            logits = call.logits[:batch.real]
            timings.non_finite += int(np.count_nonzero(~np.isfinite(logits).all(axis=1)))
            sink.submit(batch.stems, logits)
            progress.update(batch.real)
    sink.finish()
    timings.e2e_seconds = time.perf_counter() - start


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


def latency_stats_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Summary statistics of per-call seconds, in ms (``p50`` and ``median`` are the same figure)."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    if ms.size == 0:
        return {}
    p50, p90, p95, p99 = np.percentile(ms, (50, 90, 95, 99))
    stats = {"count": ms.size, "min": ms.min(), "mean": ms.mean(), "median": p50, "p50": p50, "p90": p90,
             "p95": p95, "p99": p99, "max": ms.max(), "std": ms.std()}
    return {key: int(value) if key == "count" else float(value) for key, value in stats.items()}


def batch_latencies(timings: Timings) -> dict[str, dict[str, float]]:
    """Per-batch latency statistics: device-only, whole runner call, and the copies where timed."""
    found = {"device": latency_stats_ms(timings.device_seconds), "call": latency_stats_ms(timings.call_seconds)}
    for name, seconds in (("h2d", timings.h2d_seconds), ("d2h", timings.d2h_seconds)):
        if seconds:
            found[name] = latency_stats_ms(seconds)
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


def _stage_seconds(timings: Timings) -> dict[str, float]:
    stages = {"read": timings.read, "preprocess": timings.preprocess, "inference_call": timings.inference,
              "postprocess": timings.postprocess}
    found = {f"{name}_busy": timer.busy for name, timer in stages.items()}
    found["device"] = timings.device_busy_seconds
    found["e2e"] = timings.e2e_seconds
    return found


@contextlib.contextmanager
def _dump_sink(config: BenchConfig, timer: StageTimer,
               inputs: Sequence[Path]) -> Iterator[tuple[DumpWriter | DiscardSink, Path | None]]:
    """(sink, final dump folder): dumps go to a temporary folder swapped in when the block succeeds."""
    if config.pure_inference:
        yield DiscardSink(timer), None
        return
    final = run_dump_folder(config)
    with atomic_dir(final, inputs=inputs, ours=is_dump_name) as tmp:
        writer = DumpWriter(tmp, final, config.binary, config.writer_threads, timer, config.packed_output)
        try:
            yield writer, final
        finally:
            writer.close()


def run_dump_folder(config: BenchConfig) -> Path:
    """``dumpOutput_device{id}``, with the sweep's per-batch suffix."""
    final = dump_folder(config.output_dir, config.device_id)
    return final.with_name(final.name + config.dump_suffix)


def _make_output_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenetError(f"{path}: cannot create the output folder: {exc.strerror}") from None


def run_inputs(config: BenchConfig, numbered: Sequence[NumberedEntry] | None) -> list[Path]:
    """What the run reads, which no output may be, hold or lie inside: model, info file, .bin folders, packed file."""
    found = [path for path in (config.model_path, config.info_path, config.packed_input) if path is not None]
    return found + (bin_folders(numbered) if numbered else [])


def check_outputs(config: BenchConfig, inputs: Sequence[Path]) -> tuple[Path, Path]:
    """Refuse, before the model runs, any output the run could not write or must not replace; the perf paths."""
    out = config.output_dir
    if out.exists() and not out.is_dir():
        raise GenetError(f"{out}: exists and is not a folder (the output folder)")
    check_apart(out, inputs)
    txt, js = perf_paths(out, config.batch_size, config.device_id)
    if out.is_dir():
        for path in (txt, js):
            check_output_file(path)
        if not config.pure_inference:
            check_replaceable_dir(run_dump_folder(config), inputs, ours=is_dump_name)
    return txt, js


@contextlib.contextmanager
def output_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (flock on the folder itself: no lock file left behind)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass
class _Run:
    """What one run used and measured, for the report's details."""

    runner: Runner
    source: ImageSource
    spans: Sequence[BatchSpan]
    shape: ImageShape
    timings: Timings
    load_seconds: float
    warmup_seconds: float
    dump_dir: Path | None
    warmup_calls: Sequence[float] = ()


def _first_call_seconds(run: _Run) -> float | None:
    """The model's first call after loading (cold: compiles, graph captures, lazy allocations)."""
    if run.warmup_calls:
        return run.warmup_calls[0]
    return run.timings.call_seconds[0] if run.timings.call_spans else None


def _details(config: BenchConfig, run: _Run) -> dict:
    computed = sum(span.rows for span in run.spans)
    runner, source = run.runner, run.source
    return {
        "mode": "pure inference" if config.pure_inference else "dataset",
        "images": source.count,
        "computed_images": computed,
        "padding_images": computed - source.count,
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
        "seconds": {**_stage_seconds(run.timings), "model_load": run.load_seconds, "warmup": run.warmup_seconds,
                    "first_call": _first_call_seconds(run)},
        "warmup_calls": config.warmup,
        "batch_latency_ms": batch_latencies(run.timings),
        "dumps": None if run.dump_dir is None else {
            "folder": str(run.dump_dir), "count": source.count, "format": "bin" if config.binary else "txt",
            "packed": str(run.dump_dir / PACKED_DUMP) if config.packed_output else None},
        "command_line": list(config.command_line),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _execute(config: BenchConfig, runner: Runner, load_seconds: float, log: Log) -> BenchResult:
    check_batch_size(runner, config.batch_size)
    shape = resolve_image_shape(runner, config.input_width, config.input_height)
    numbered = read_numbered_info(config.info_path) if config.info_path is not None else None
    inputs = run_inputs(config, numbered)
    perf_txt, perf_json = check_outputs(config, inputs)
    source = open_source(config, shape, log, numbered)
    spans = plan_batches(source.count, config.batch_size, pad_to_batch=runner.static_batch is not None)
    warmup_start = time.perf_counter()
    warmup_calls = warm_up(runner, spans, shape, config.warmup, config.seed)
    warmup_seconds = time.perf_counter() - warmup_start
    _make_output_dir(config.output_dir)
    timings = Timings()
    try:
        with contextlib.ExitStack() as commit:
            with _dump_sink(config, timings.postprocess, inputs) as (sink, dump_dir), \
                    progress_bar(source.count, "benchmark", quiet=not config.progress) as progress:
                run_pipeline(runner, source, spans, shape, sink, timings, config.prefetch_depth, progress)
                if dump_dir is not None and sink.written != source.count:
                    raise AssertionError(f"{sink.written} dumps for {source.count} images")
                run = _Run(runner, source, spans, shape, timings, load_seconds, warmup_seconds, dump_dir,
                           warmup_calls)
                details = _details(config, run)
                report = build_report(timings, source.count, details["computed_images"])
                txt_text, json_text = perf_texts(config.batch_size, config.device_id, report, details)
                # The reports go in first, then (leaving this block) the dumps; a failure of either puts the old
                # reports back, and the dump swap restores the old dumps itself.
                commit.enter_context(deferred_signals())
                commit.enter_context(output_lock(config.output_dir))
                commit.enter_context(reports_in({perf_json: json_text, perf_txt: txt_text}))
    except OSError as exc:
        raise GenetError(f"{exc.filename2 or exc.filename}: cannot write: {exc.strerror}") from None
    spans = timings.call_spans
    window = (min(start for start, _ in spans), max(end for _, end in spans))
    return BenchResult(report, details, perf_txt, perf_json, dump_dir, source.count, call_records(timings), window)


@contextlib.contextmanager
def reports_in(texts: dict[Path, str]) -> Iterator[None]:
    """Put each file of ``texts`` in place, keeping the old ones until the block (the dump swap) succeeds.

    On failure the old files are put back (or the new ones removed where there was none).
    """
    temps: dict[Path, Path] = {}
    kept: dict[Path, Path | None] = {}
    try:
        for target, text in texts.items():
            temps[target] = temp_name(target)
            write_text_as(temps[target], target, text)
        for target, tmp in temps.items():
            kept[target] = temp_name(target, "old") if target.exists() else None
            if kept[target] is not None:
                os.link(target, kept[target])
            os.replace(tmp, target)
        yield
    except BaseException:
        for target, old in kept.items():
            with contextlib.suppress(OSError):
                if old is not None:
                    os.replace(old, target)
                    old.unlink(missing_ok=True)     # still there when the rename did nothing (same file)
                else:
                    target.unlink(missing_ok=True)
        for tmp in temps.values():
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        raise
    for old in kept.values():
        if old is not None:
            old.unlink(missing_ok=True)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP back until the block is done (the last renames of a run)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: caught.append(signum))
                for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            signal.raise_signal(caught[0])


def run_benchmark(config: BenchConfig, log: Log | None = None, runner: Runner | None = None,
                  then: Callable[[Runner], Callable[[BenchResult], None]] | None = None) -> BenchResult:
    """Run the benchmark; bad input raises GenetError before anything is written.

    ``log``: where notes go (default: stderr); ``runner``: an already open runner to use instead of
    opening ``config.model_path``; ``then(runner)``, called once the runner is loaded and before the
    run (it may refuse it), returns what to do with the result while the runner is still open
    (``benchmark.py --profile``).
    """
    log = log or stderr_log()
    load_start = time.perf_counter()
    with contextlib.nullcontext(runner) if runner else open_runner(config.model_path, config.backend,
                                                                   config.options) as runner:
        load_seconds = time.perf_counter() - load_start
        after = then(runner) if then is not None else None
        result = _execute(config, runner, load_seconds, log)
        if after is not None:
            after(result)
        return result
