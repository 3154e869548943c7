"""One benchmark run: the model over its inputs, the dumps, and the perf report.

Reading, inference and writing overlap: a prefetch thread reads batches ahead of the
model, the model runs on the calling thread (or, for a runner with several ``streams``,
on that many threads, results taken in batch order), and a small pool of writer threads
writes the dumps. Dumps go to a temporary folder that replaces ``dumpOutput_device{id}`` only once
every image has its dump; the perf reports are written after that, so a failed run leaves
neither a partial dump folder nor a report.

Figures of the perf report (N = images run, the padding of a static batch not counted;
every time is wall-clock, ``time.perf_counter``):

- ``[e2e] latency``: ms from the start of reading the first input to the moment the last
  dump is written (after the model is loaded and warmed up; the process start, model
  loading, warm-up and the final folder swap and report writing are outside it).
  ``throughputRate`` = N / that time in seconds.
- ``moduleLatency`` of a stage: the stage's busy time per image, in ms: the seconds its
  work took, summed over its batches (over all streams for inference, all writer threads
  for postprocess), × 1000 / N.
  A stage's ``throughputRate`` = N / the seconds from its first start to its last finish
  (the rate at which images passed through it; with overlapping stages each is close to
  the e2e rate). The stages:
  - ``[data read]``: producing a batch's float32 array: reading its ``.bin`` files, copying
    its rows out of the packed ``images.npy``, or drawing random images (pure inference);
  - ``[preprocess]``: zeroing the padding rows of a static-batch model's last batch (the
    inputs are already preprocessed tensors, so this stage costs next to nothing);
  - ``[inference]``: the runner call: host → device copy, model, device → host copy;
  - ``[postprocess]``: formatting and writing the dumps (plus the packed dump with
    ``--packed-output``); in pure-inference mode, dropping the logits.
- ``[inference] Interface throughputRate``: images the model computed (padding included)
  / the summed device-only seconds of the calls (see ``genet.runners.base``): what the
  device sustains, the figure the seed's parser reads (8th field). With several streams
  the calls overlap, so the seconds are those in which at least one call was running.

The JSON report adds per-batch latency (count/min/mean/median (= p50)/p90/p95/p99/max/std, ms)
of the device-only time, of the whole runner call and of the host↔device copies where the
backend times them apart; the seconds of model loading, warm-up and the first (cold) call;
image counts, backend, settings, device, library versions and the command line.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from .constants import CHANNELS, PACKED_IMAGES
from .dumps import PACKED_DUMP, dump_folder, is_dump_name, write_dumps, write_packed
from .errors import GenetError
from .fsio import atomic_dir
from .info import read_numbered_info
from .inputs import (BatchSpan, BinFiles, ImageShape, ImageSource, PackedImages, Prefetcher,
                     RandomImages, check_unique_stems, plan_batches, read_batches)
from .perf import PerfReport, write_perf
from .runners import CallTimes, Runner, RunnerOptions, open_runner

Log = Callable[[str], None]


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
    auto_packed: bool = True            # use images.npy beside the info file's .bin files when it matches
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
            raise GenetError(f"{self._shown_as}: cannot write {os.path.basename(exc.filename)}: "
                             f"{exc.strerror}") from None
        self._timer.add(start, time.perf_counter())

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
            write_packed(self._folder / PACKED_DUMP, stems, np.concatenate([lg for _, lg in self._packed]))
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
    for flag, value in (("-input_width", width), ("-input_height", height)):
        if value is not None and value < 1:
            raise GenetError(f"{flag}={value}: must be ≥ 1")
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


def open_source(config: BenchConfig, shape: ImageShape, log: Log) -> ImageSource:
    if config.pure_inference:
        return RandomImages(config.rounds * config.batch_size, config.seed)
    if config.info_path is None:
        return PackedImages.alone(config.packed_input, shape)
    numbered = read_numbered_info(config.info_path)
    check_unique_stems(config.info_path, numbered)
    if config.packed_input is not None:
        return PackedImages.for_info(config.packed_input, config.info_path, numbered, shape)
    folders = {os.path.dirname(item.entry.path) for item in numbered}
    candidate = Path(folders.pop() or ".") / PACKED_IMAGES if len(folders) == 1 else None
    if config.auto_packed and candidate is not None and candidate.is_file():
        try:
            source = PackedImages.for_info(candidate, config.info_path, numbered, shape)
        except GenetError as exc:
            log(f"note: not using {candidate} ({exc}); reading the .bin files")
        else:
            log(f"note: reading {candidate} (packed) for the images of {config.info_path}; --no-packed reads "
                f"the .bin files")
            return source
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
            sink.submit(batch.stems, call.logits[:batch.real])
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


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def __enter__(self) -> "_NoProgress":
        return self

    def __exit__(self, *exc) -> None:
        pass


def _progress_bar(config: BenchConfig, total: int):
    if not config.progress:
        return _NoProgress()
    from tqdm import tqdm     # only when shown: a bare GPU host without tqdm still runs with --quiet

    return tqdm(total=total, unit="img", desc="benchmark", file=sys.stderr, dynamic_ncols=True)


@contextlib.contextmanager
def _dump_sink(config: BenchConfig, timer: StageTimer) -> Iterator[tuple[DumpWriter | DiscardSink, Path | None]]:
    """(sink, final dump folder): dumps go to a temporary folder swapped in when the block succeeds."""
    if config.pure_inference:
        yield DiscardSink(timer), None
        return
    final = dump_folder(config.output_dir, config.device_id)
    final = final.with_name(final.name + config.dump_suffix)
    inputs = [config.info_path, config.packed_input, config.model_path]
    with atomic_dir(final, inputs=[path for path in inputs if path is not None], ours=is_dump_name) as tmp:
        writer = DumpWriter(tmp, final, config.binary, config.writer_threads, timer, config.packed_output)
        try:
            yield writer, final
        finally:
            writer.close()


def _make_output_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise GenetError(f"{path}: exists and is not a folder (--output-dir)") from None
    except OSError as exc:
        raise GenetError(f"{path}: cannot create the output folder: {exc.strerror}") from None


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


def _execute(config: BenchConfig, runner: Runner, load_seconds: float, log: Log) -> _Run:
    check_batch_size(runner, config.batch_size)
    shape = resolve_image_shape(runner, config.input_width, config.input_height)
    source = open_source(config, shape, log)
    spans = plan_batches(source.count, config.batch_size, pad_to_batch=runner.static_batch is not None)
    warmup_start = time.perf_counter()
    warmup_calls = warm_up(runner, spans, shape, config.warmup, config.seed)
    warmup_seconds = time.perf_counter() - warmup_start
    _make_output_dir(config.output_dir)
    timings = Timings()
    with _dump_sink(config, timings.postprocess) as (sink, dump_dir), \
            _progress_bar(config, source.count) as progress:
        run_pipeline(runner, source, spans, shape, sink, timings, config.prefetch_depth, progress)
        if dump_dir is not None and sink.written != source.count:
            raise AssertionError(f"{sink.written} dumps for {source.count} images")
    return _Run(runner, source, spans, shape, timings, load_seconds, warmup_seconds, dump_dir, warmup_calls)


def run_benchmark(config: BenchConfig, log: Log = lambda message: print(message, file=sys.stderr),
                  runner: Runner | None = None) -> BenchResult:
    """Run the benchmark; bad input raises GenetError before anything is written.

    ``runner``: an already open runner to use instead of opening ``config.model_path``.
    """
    if config.batch_size < 1:
        raise GenetError(f"-batch_size={config.batch_size}: must be ≥ 1")
    if config.pure_inference and (config.rounds is None or config.rounds < 1):
        raise GenetError(f"-round={config.rounds}: must be ≥ 1")
    load_start = time.perf_counter()
    with contextlib.nullcontext(runner) if runner else open_runner(config.model_path, config.backend,
                                                                   config.options) as runner:
        run = _execute(config, runner, time.perf_counter() - load_start, log)
        details = _details(config, run)
    computed = details["computed_images"]
    report = build_report(run.timings, run.source.count, computed)
    txt, js = write_perf(config.output_dir, config.batch_size, config.device_id, report, details)
    spans = run.timings.call_spans
    window = (min(start for start, _ in spans), max(end for _, end in spans))
    return BenchResult(report, details, txt, js, run.dump_dir, run.source.count, call_records(run.timings), window)
