"""One benchmark run: the model over its inputs, into its outputs, and the figures of it.

Reading, inference and writing overlap: a prefetch thread reads batches ahead of the model
(``genet.bench.batches``, from an input source of ``genet.bench.sources``), the model runs on the
calling thread, one call at a time, and the outputs' sink (``genet.bench.sinks``) writes behind it
on a thread of its own. (Two calls in flight, and a pool of writer threads, were measured and
removed: benchmarks/results/streams.md.) The outputs are
checked before the model's first call and put in place as one transaction (``genet.bench.outputs``);
the figures are computed as docs/metrics.md defines them (``genet.bench.figures``).

Outputs that are not finite numbers (NaN, ±Inf) are counted: ``non_finite_outputs`` in the JSON is
the number of images with at least one such logit.

The sweep (``genet.bench.sweep``), the several-device run (``genet.bench.devices``) and ais_bench's
command line (``genet.bench.aisbench``) are drivers over ``run_benchmark``.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from genet.bench.batches import BatchSpan, Prefetcher, plan_batches, read_batches
from genet.bench.config import MIN_CALLS, BenchConfig
from genet.bench.figures import RunFacts, Timings, build_report, call_records, run_details, stability_warning
from genet.bench.int8_path import warn_other_int8_path
from genet.bench.outputs import GuideOutputs, RunOutputs, run_inputs
from genet.bench.sinks import Sink
from genet.bench.sources import ImageShape, ImageSource, image_bytes, open_source
from genet.bench.warmup import warm_up
from genet.core.console import Log, progress_bar, stderr_log
from genet.core.constants import CHANNELS
from genet.core.errors import GenetError
from genet.core.load import LoadReading
from genet.core.memory import check_batch_fits
from genet.formats.info import read_numbered_info
from genet.formats.perf_report import PerfReport
from genet.runners import CallTimes, Runner, open_runner


@dataclass
class BenchResult:
    report: PerfReport
    details: dict
    perf_txt: Path | None
    perf_json: Path | None
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


def input_buffers(prefetch_depth: int) -> int:
    """Input batches a run holds at once: read ahead, the one in the model, the one being read, the warm-up."""
    return prefetch_depth + 3


def check_batch_memory(config: BenchConfig, runner: Runner, rows: int, batches: int = 0) -> None:
    """Refuse a batch whose input buffers (and the run's records of ``batches`` batches) do not fit in memory
    (genet.core.memory)."""
    shape = resolve_image_shape(runner, config.input_width, config.input_height)
    check_batch_fits(rows, image_bytes(shape), input_buffers(config.prefetch_depth),
                     f"{config.model_path}: -batch_size={config.batch_size}", batches)


def check_batch_size(runner: Runner, batch_size: int) -> None:
    if runner.static_batch is not None and runner.static_batch != batch_size:
        raise GenetError(f"{runner.model_path}: the model has a fixed batch of {runner.static_batch}, but "
                         f"-batch_size={batch_size} (one model per batch size, as ATC converts them)")


@dataclass
class Call:
    """One ``run_timed`` call: its logits, wall-clock start and end, and the backend's split of its time."""

    logits: np.ndarray
    start: float
    end: float
    times: CallTimes


def timed_call(runner: Runner, images: np.ndarray) -> Call:
    start = time.perf_counter()
    logits, times = runner.run_timed(images)
    return Call(logits, start, time.perf_counter(), times)


MAX_CALLS = 100_000        # a bound on a time-sized run of a very fast model (its per-call records, ~1 KiB each)


def sized_rounds(config: BenchConfig, runner: Runner, shape: ImageShape, warmup_calls: Sequence[float]) -> int:
    """Pure inference's number of calls: ``-round`` as a lower bound, raised to ``MIN_CALLS`` and to what fills
    ``min_seconds`` at the warm calls' median time (a call of its own when the warm-up gave no warm call);
    ``-round`` alone when ``min_seconds`` is 0."""
    if config.min_seconds <= 0:
        return config.rounds
    warm = list(warmup_calls[1:])
    if not warm:
        images = np.random.default_rng(config.seed + 1).standard_normal((config.batch_size, *shape), dtype=np.float32)
        call = timed_call(runner, images)
        warm = [call.end - call.start]
    per_call = max(float(np.median(warm)), 1e-9)
    return max(config.rounds, min(MAX_CALLS, max(MIN_CALLS, math.ceil(config.min_seconds / per_call))))


def run_pipeline(runner: Runner, source: ImageSource, spans: Sequence[BatchSpan], shape: ImageShape,
                 sink: Sink, timings: Timings, prefetch_depth: int, progress) -> None:
    start = time.perf_counter()
    with Prefetcher(read_batches(source, spans, shape), prefetch_depth) as batches:
        for batch in batches:
            call = timed_call(runner, batch.images)
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


def _execute(config: BenchConfig, runner: Runner, load_seconds: float, log: Log,
             outputs: RunOutputs) -> BenchResult:
    check_batch_size(runner, config.batch_size)
    load = LoadReading.start()
    shape = resolve_image_shape(runner, config.input_width, config.input_height)
    numbered = read_numbered_info(config.info_path) if config.info_path is not None else None
    inputs = run_inputs(config, numbered)
    outputs.check(inputs)
    source = open_source(config, shape, log, numbered)
    rows = config.batch_size if runner.static_batch is not None else min(config.batch_size, source.count)
    check_batch_memory(config, runner, rows, -(-source.count // config.batch_size))     # before planning them
    spans = plan_batches(source.count, config.batch_size, pad_to_batch=runner.static_batch is not None)
    warmup_start = time.perf_counter()
    warmup_calls = warm_up(runner, spans, shape, config.warmup, config.seed)
    warmup_seconds = time.perf_counter() - warmup_start
    asked = config.rounds
    rounds = sized_rounds(config, runner, shape, warmup_calls) if config.pure_inference else None
    if rounds != config.rounds:
        config = replace(config, rounds=rounds)
        source = open_source(config, shape, log, numbered)
        check_batch_memory(config, runner, config.batch_size, config.rounds)
        spans = plan_batches(source.count, config.batch_size, pad_to_batch=runner.static_batch is not None)
    timings = Timings()
    try:
        with contextlib.ExitStack() as commit:
            with outputs.sink(timings.postprocess, inputs) as sink, \
                    progress_bar(source.count, "benchmark", quiet=not config.progress) as progress:
                run_pipeline(runner, source, spans, shape, sink, timings, config.prefetch_depth, progress)
                if sink.written != source.count:
                    raise AssertionError(f"{sink.written} outputs for {source.count} images")
                facts = RunFacts(runner, source, spans, shape, timings, load_seconds, warmup_seconds, warmup_calls,
                                 load.finish(), asked)
                details = run_details(config, facts, outputs.dumps_details(source.count))
                warning = stability_warning(details)
                if warning and config.warn_unstable:
                    log(f"warning: batch {config.batch_size}: {warning}")
                report = build_report(timings, source.count, facts.computed)
                commit.enter_context(outputs.commit(report, details))
    except OSError as exc:
        raise GenetError(f"{exc.filename2 or exc.filename}: cannot write: {exc.strerror}") from None
    return BenchResult(report, details, outputs.perf_txt, outputs.perf_json, outputs.dump_dir, source.count,
                       call_records(timings), timings.window)


def run_benchmark(config: BenchConfig, log: Log | None = None, runner: Runner | None = None,
                  outputs: RunOutputs | None = None,
                  then: Callable[[Runner], Callable[[BenchResult], None]] | None = None) -> BenchResult:
    """Run the benchmark; bad input raises GenetError before anything is written.

    ``log``: where notes go (default: stderr); ``runner``: an already open runner to use instead of
    opening ``config.model_path``; ``outputs``: where the results go (default: benchmark.py's dumps and
    perf report, ``GuideOutputs``); ``then(runner)``, called once the runner is loaded and before the
    run (it may refuse it), returns what to do with the result while the runner is still open
    (``benchmark.py --profile``).
    """
    log = log or stderr_log()
    outputs = outputs or GuideOutputs(config)
    load_start = time.perf_counter()
    with contextlib.nullcontext(runner) if runner else open_runner(config.model_path, config.backend,
                                                                   config.options) as runner:
        load_seconds = time.perf_counter() - load_start
        warn_other_int8_path(config.model_path, runner.name, runner.precision, runner.device_name)
        after = then(runner) if then is not None else None
        result = _execute(config, runner, load_seconds, log, outputs)
        if after is not None:
            after(result)
        return result
