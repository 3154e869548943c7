"""Batch-size sweeps: the model loaded once, then run at each batch size of a list (the guide's section 7).

``benchmark.py -batch_size=1,4,8,16,32,64 -round=30`` runs every size ``--repeats`` times, interleaved
(1, 4, …, 64, 1, 4, …), each run with its share of ``-round`` and ``--min-seconds``, and writes, for each batch
size, the usual ``perf_vision_batchsize_{bs}_device_{id}.txt`` (+ JSON; its last repeat's), then
``sweep_device_{id}.json``, ``.csv`` and ``.png``: the median Interface and e2e img/s of the repeats with their
spread, and the device-time percentiles per batch; a best batch only when it beats every other size by the tie
rule, else the tied sizes (genet.bench.sweep_figures; docs/metrics.md). With ``-input_text_path`` every batch
size runs the whole dataset and keeps its dumps apart (``dumpOutput_device0_bs16/``).

``--best`` searches the batch size instead (``search_best``): doubling from the smallest batch
given until a batch does not beat the best so far by ``PLATEAU`` and by the tie rule (plateau), does not fit in
memory, or reaches ``BEST_LIMIT``; then one local step between the best and its neighbours. Each size it tries
runs its repeats back to back.

A static-batch model runs one batch size only; a set of static models, one per batch size, is
swept by naming them with ``{bs}`` in ``-om_path`` (``genet_bs{bs}_tuned.om``).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from genet.bench.config import BenchConfig
from genet.bench.engine import BenchResult, check_batch_memory, check_batch_size, run_benchmark
from genet.bench.outputs import check_all_outputs
from genet.bench.sweep_figures import Sweep, SweepPoint, plot_sweep, sweep_csv, sweep_lines  # noqa: F401
from genet.core.console import Log
from genet.core.errors import GenetError
from genet.core.fsio import JSON_FILE, PNG_IMAGE, atomic_files, text_kind
from genet.core.load import LoadReading
from genet.core.memory import BatchTooLarge
from genet.core.stats import clearly_above, spread
from genet.formats.info import read_numbered_info
from genet.formats.sweep_file import sweep_stem
from genet.runners import Runner, open_runner

PLATEAU = 0.05          # a doubling must gain 5 % Interface throughput to go on
BEST_LIMIT = 4096       # largest batch --best tries
MODEL_BATCH_FIELD = "{bs}"


def parse_batch_list(text: str) -> tuple[int, ...]:
    """``-batch_size`` as given: one positive integer or a comma-separated list of distinct ones."""
    sizes: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        try:
            size = int(item)
        except ValueError:
            raise argparse.ArgumentTypeError(f"-batch_size={text}: {item!r} is not an integer batch size") from None
        if size < 1:
            shown = "" if text.strip() == item else f" batch size {size}"
            raise argparse.ArgumentTypeError(f"-batch_size={text}:{shown} must be ≥ 1")
        if size in sizes:
            raise argparse.ArgumentTypeError(f"-batch_size={text}: batch size {size} is given twice")
        sizes.append(size)
    return tuple(sizes)


def model_for_batch(model_path: Path, batch_size: int) -> Path:
    """The model file of one batch size: ``-om_path`` with ``{bs}`` filled in, or the one model."""
    if MODEL_BATCH_FIELD in model_path.name:
        return model_path.with_name(model_path.name.replace(MODEL_BATCH_FIELD, str(batch_size)))
    return model_path


def is_out_of_memory(exc: BaseException) -> bool:
    """A failure that means the batch does not fit (host or device memory), whatever the backend says."""
    text = str(exc).lower()
    return isinstance(exc, (MemoryError, BatchTooLarge)) or "out of memory" in text or "failed to allocate" in text


@dataclass
class Search:
    """What ``--best`` tried (batch → median Interface img/s, and its repeats' spread), the best batch (the
    highest median), and why it stopped."""

    tried: dict[int, float] = field(default_factory=dict)
    figures: dict[int, dict] = field(default_factory=dict)
    best: int | None = None
    reason: str = ""


def search_best(measure: Callable[[int], float | dict], start: int = 1, limit: int = BEST_LIMIT,
                plateau: float = PLATEAU) -> Search:
    """Doubling from ``start``, then one local step; ``measure(bs)`` gives img/s, or the ``spread`` of its
    repeats (MemoryError: too big). A doubling goes on only when it gains ``plateau`` on the best so far and beats
    it by the tie rule (``clearly_above``: beyond both spreads)."""
    search = Search()

    def attempt(batch: int) -> bool:
        try:
            found = measure(batch)
        except MemoryError:
            return False
        search.figures[batch] = found if isinstance(found, dict) else spread([found])
        search.tried[batch] = float(search.figures[batch]["median"])
        if search.best is None or search.tried[batch] > search.tried[search.best]:
            search.best = batch
        return True

    batch = start
    while True:
        before = search.best
        if not attempt(batch):
            search.reason = f"memory: batch {batch} does not fit"
            break
        if before is not None:
            gain = search.tried[batch] >= search.tried[before] * (1.0 + plateau)
            if not (gain and clearly_above(search.figures[batch], search.figures[before])):
                why = (f"not {plateau:.0%} above" if not gain else "within the spread of")
                search.reason = (f"plateau: batch {batch} gave {search.tried[batch]:.1f} img/s, {why} the best "
                                 f"before it ({search.tried[before]:.1f} img/s)")
                break
        if batch * 2 > limit:
            search.reason = f"limit: batch {batch * 2} would exceed {limit}"
            break
        batch *= 2
    if search.best is None:
        return search
    best = search.best
    for neighbour in (best + best // 2, best - best // 4):
        if neighbour >= 1 and neighbour not in search.tried and neighbour <= limit:
            attempt(neighbour)
    return search


SWEEP_KINDS = {".json": JSON_FILE, ".csv": text_kind("a CSV table", ".csv"), ".png": PNG_IMAGE}


def sweep_paths(config: BenchConfig) -> list[Path]:
    """``sweep_device_{id}.json``, ``.csv`` and ``.png`` in the output folder."""
    stem = Path(config.output_dir) / sweep_stem(config.device_id)
    return [stem.with_suffix(suffix) for suffix in SWEEP_KINDS]


def best_candidates(start: int, limit: int = BEST_LIMIT) -> list[int]:
    """Every batch size ``search_best`` may try from ``start``: the doublings and their local steps."""
    found: set[int] = set()
    batch = start
    while batch <= limit:
        found.update(b for b in (batch, batch + batch // 2, batch - batch // 4) if 1 <= b <= limit)
        batch *= 2
    return sorted(found)


def point_config(config: BenchConfig, batch_size: int) -> BenchConfig:
    """The config of one batch size of a sweep: its model, its dump folder (``_bs{bs}``)."""
    suffix = "" if config.pure_inference else f"_bs{batch_size}"
    return replace(config, batch_size=batch_size, dump_suffix=suffix, progress=False,
                   model_path=model_for_batch(config.model_path, batch_size))


def write_sweep(sweep: Sweep) -> list[Path]:
    """``sweep_device_{id}.json``, ``.csv`` and ``.png``, replaced together."""
    paths = sweep_paths(sweep.config)
    with atomic_files(paths, suffixes=[".json", ".csv", ".png"]) as (js, table, png):
        js.write_text(json.dumps(sweep.to_json(), indent=2) + "\n", encoding="utf-8")
        table.write_text(sweep_csv(sweep), encoding="utf-8")
        plot_sweep(sweep, png)
    return paths


class _Models:
    """The open runner of a batch size: the one dynamic model, or for ``{bs}`` paths that size's model
    (the previous one closed first, so that one model at a time holds device memory)."""

    def __init__(self, config: BenchConfig):
        self._config = config
        self._path: Path | None = None
        self._runner: Runner | None = None
        self.load_seconds = 0.0

    def runner(self, batch_size: int) -> Runner:
        path = model_for_batch(self._config.model_path, batch_size)
        if path != self._path or self._runner is None:
            self.close()
            start = time.perf_counter()
            self._runner = open_runner(path, self._config.backend, self._config.options)
            self._path = path
            self.load_seconds += time.perf_counter() - start
        return self._runner

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None


def _check_static(config: BenchConfig, runner: Runner, batch_sizes: Sequence[int], best: bool) -> None:
    if runner.static_batch is None or MODEL_BATCH_FIELD in config.model_path.name:
        return
    if best:
        raise GenetError(f"{config.model_path}: --best needs a dynamic-batch model; this one has a fixed batch "
                         f"of {runner.static_batch} (a static-batch model cannot be searched: convert one per "
                         f"batch size and give -om_path=NAME{{bs}}.om with a -batch_size list)")
    raise GenetError(f"{config.model_path}: the model has a fixed batch of {runner.static_batch}, but "
                     f"-batch_size={','.join(map(str, batch_sizes))}; sweep static models with one file per batch "
                     f"size: -om_path=genet_bs{{bs}}_tuned.om")


def _check_model_files(config: BenchConfig, batch_sizes: Sequence[int]) -> None:
    if MODEL_BATCH_FIELD not in config.model_path.name:
        return
    missing = [str(model_for_batch(config.model_path, bs)) for bs in batch_sizes
               if not model_for_batch(config.model_path, bs).is_file()]
    if missing:
        raise GenetError(f"{missing[0]}: model file not found (-om_path={config.model_path} names one model per "
                         f"batch size{'' if len(missing) == 1 else f'; {len(missing)} are missing'})")


def _image_count(config: BenchConfig) -> int | None:
    """The images a dataset sweep reads (its info file's lines); None for pure inference or a packed array."""
    if config.pure_inference or config.info_path is None:
        return None
    return len(read_numbered_info(config.info_path))


def _check_model_batches(config: BenchConfig, batch_sizes: Sequence[int]) -> None:
    """Each ``{bs}`` model's fixed batch is its batch size, checked before the first batch (each model is
    opened once here and closed: a later model of the wrong batch would otherwise stop the sweep halfway)."""
    if MODEL_BATCH_FIELD not in config.model_path.name:
        return
    for bs in batch_sizes:
        with open_runner(model_for_batch(config.model_path, bs), config.backend, config.options) as runner:
            check_batch_size(runner, bs)


def _run_one(models: _Models, config: BenchConfig, batch_size: int, log: Log) -> BenchResult:
    runner = models.runner(batch_size)
    one = point_config(config, batch_size)
    log(f"batch {batch_size}: running")
    return run_benchmark(one, log, runner=runner)


def run_sweep(config: BenchConfig, batch_sizes: Sequence[int], log: Log, best: bool = False) -> Sweep:
    """Run every batch size of the list (or ``--best``'s search from the smallest) on one loaded model."""
    if best and MODEL_BATCH_FIELD in config.model_path.name:
        raise GenetError(f"-om_path={config.model_path}: --best needs one dynamic-batch model, not one model per "
                         f"batch size")
    if best and min(batch_sizes) > BEST_LIMIT:
        raise GenetError(f"-batch_size={min(batch_sizes)}: --best searches up to batch {BEST_LIMIT}; start at or "
                         f"below it")
    if not best:
        _check_model_files(config, batch_sizes)
        _check_model_batches(config, batch_sizes)
    planned = best_candidates(min(batch_sizes)) if best else batch_sizes
    check_all_outputs([point_config(config, bs) for bs in planned],
                      [(path, SWEEP_KINDS[path.suffix]) for path in sweep_paths(config)])
    models = _Models(config)
    try:
        first = models.runner(batch_sizes[0])
        _check_static(config, first, batch_sizes, best)
        if not best:                # --best stops its search at the first batch that does not fit
            images = _image_count(config)
            for bs in batch_sizes:
                check_batch_memory(point_config(config, bs), first, min(bs, images or bs),
                                   config.rounds or -(-(images or bs) // bs))
        points: dict[int, SweepPoint] = {}
        details: dict = {}
        repeats = config.repeats
        # one repeat is one run of a batch size, with its share of -round and --min-seconds; the sweep warns
        each = replace(config, min_seconds=config.min_seconds / repeats, repeats=1, warn_unstable=False,
                       rounds=None if config.rounds is None else -(-config.rounds // repeats))
        load = LoadReading.start()

        def measure(batch_size: int, times: int = 1) -> dict:
            for _ in range(times):
                try:
                    result = _run_one(models, each, batch_size, log)
                except Exception as exc:
                    if best and is_out_of_memory(exc):
                        raise MemoryError(str(exc)) from None
                    raise
                details.update(details or result.details)
                points.setdefault(batch_size, SweepPoint(batch_size)).add(result)
            return points[batch_size].interface

        search = None
        if best:
            search = search_best(lambda bs: measure(bs, repeats), start=min(batch_sizes), limit=BEST_LIMIT)
            if search.best is None:
                raise GenetError(f"{config.model_path}: --best: batch {min(batch_sizes)} already does not fit "
                                 f"({search.reason})")
            log(f"--best: batch {search.best} ({search.tried[search.best]:.1f} img/s); stopped on {search.reason}")
        elif MODEL_BATCH_FIELD in config.model_path.name:      # one model per size: its repeats back to back
            for batch_size in batch_sizes:
                measure(batch_size, repeats)
        else:               # the repeats interleaved across the sizes, so that drift hits every size alike
            for _ in range(repeats):
                for batch_size in batch_sizes:
                    measure(batch_size)
        sweep = Sweep(config, sorted(points.values(), key=lambda p: p.batch_size), details, models.load_seconds,
                      search, load.finish(), repeats)
        if sweep.warning():
            log(f"warning: {sweep.warning()}")
        return sweep
    finally:
        models.close()
