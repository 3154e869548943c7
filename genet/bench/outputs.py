"""A run's outputs as one transaction: checked before the model runs, put in place together, or not at all.

Every output path is checked before the model's first call. Dumps go to a temporary folder that
replaces ``dumpOutput_device{id}`` only once every image has its dump. Once the dumps are complete,
the perf reports are renamed into place and the dump folder swapped in, with signals held back and
a lock on the output folder (so that concurrent runs cannot interleave theirs); if either step
fails, the old reports are put back and the old dumps kept. A failed or interrupted run leaves the
previous outputs as they were and no temporary file.

``RunOutputs`` is what the engine asks of a run's outputs. ``GuideOutputs`` is benchmark.py's, made of
two plug-ins: ``DumpFolder`` (the dumps, through the sinks of ``genet.bench.sinks``) and
``PerfReportFiles`` (the perf report and its JSON twin). ``NoOutputs`` writes nothing (a run whose
files its driver writes).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import threading
from pathlib import Path
from typing import ContextManager, Iterator, Protocol, Sequence

from genet.bench.config import BenchConfig
from genet.bench.figures import StageTimer
from genet.bench.sinks import Discard, Sink, dump_sink
from genet.bench.sources import bin_folders
from genet.core.errors import GenetError
from genet.core.fsio import (
    JSON_FILE,
    OutputKind,
    atomic_dir,
    check_apart,
    check_output_file,
    check_replaceable_dir,
    temp_name,
    text_kind,
)
from genet.formats.dumps import PACKED_DUMP, is_dump_name
from genet.formats.info import NumberedEntry, read_numbered_info
from genet.formats.perf_report import PerfReport, perf_paths, perf_texts, write_text_as

PERF_TEXT = text_kind("a perf report (text)", ".txt")


class RunOutputs(Protocol):
    perf_txt: Path | None
    perf_json: Path | None
    dump_dir: Path | None

    def check(self, inputs: Sequence[Path]) -> None:
        """Refuse, before the model runs, any output the run could not write or must not replace."""

    def sink(self, timer: StageTimer, inputs: Sequence[Path]) -> ContextManager[Sink]:
        """The run's sink; leaving the block without an error puts what it wrote in place."""

    def dumps_details(self, count: int) -> dict | None:
        """The perf JSON's ``dumps`` entry."""

    def commit(self, report: PerfReport, details: dict) -> ContextManager[None]:
        """Entered inside the sink's block once the run is complete: puts the reports in place."""


def run_inputs(config: BenchConfig, numbered: Sequence[NumberedEntry] | None) -> list[Path]:
    """What the run reads, which no output may be, hold or lie inside: model, info file, .bin folders, packed file,
    input files."""
    found = [path for path in (config.model_path, config.info_path, config.packed_input) if path is not None]
    return found + (bin_folders(numbered) if numbered else []) + list(config.input_files)


class DumpFolder:
    """``dumpOutput_device{id}``: written in a temporary folder, swapped in whole when the run succeeds."""

    def __init__(self, config: BenchConfig):
        self.config = config
        self.path = config.dump_dir

    def check(self, inputs: Sequence[Path]) -> None:
        check_replaceable_dir(self.path, inputs, ours=is_dump_name)

    @contextlib.contextmanager
    def sink(self, timer: StageTimer, inputs: Sequence[Path]) -> Iterator[Sink]:
        with atomic_dir(self.path, inputs=inputs, ours=is_dump_name) as tmp:
            sink = dump_sink(tmp, self.path, self.config.binary, self.config.packed_output, timer)
            try:
                yield sink
            finally:
                sink.close()

    def details(self, count: int) -> dict:
        return {"folder": str(self.path), "count": count, "format": "bin" if self.config.binary else "txt",
                "packed": str(self.path / PACKED_DUMP) if self.config.packed_output else None}


class PerfReportFiles:
    """``perf_vision_batchsize_{bs}_device_{id}.txt`` and its JSON twin, renamed into place at the commit."""

    def __init__(self, config: BenchConfig):
        self.config = config
        self.txt, self.json = perf_paths(config.output_dir, config.batch_size, config.device_id)

    def check(self, inputs: Sequence[Path]) -> None:
        check_output_file(self.txt, PERF_TEXT, inputs=inputs)
        check_output_file(self.json, JSON_FILE, inputs=inputs)
        self.check_same_mode()

    def check_same_mode(self) -> None:
        """Refuse to replace a dataset run's report with a pure-inference one, or the reverse: its figures differ
        in kind, and a reader of the file name (parse.py) would take one for the other."""
        try:
            previous = json.loads(self.json.read_text(encoding="utf-8")).get("mode")
        except (OSError, ValueError, AttributeError):
            return
        mode = "pure inference" if self.config.pure_inference else "dataset"
        if previous in ("dataset", "pure inference") and previous != mode:
            raise GenetError(f"{self.txt}: holds a {previous} run's report, which this {mode} run would replace; "
                             f"give another --output-dir (e.g. result_sweep for the guide's section 7)")

    @contextlib.contextmanager
    def commit(self, report: PerfReport, details: dict) -> Iterator[None]:
        txt_text, json_text = perf_texts(self.config.batch_size, self.config.device_id, report, details)
        with deferred_signals(), output_lock(self.config.output_dir), \
                reports_in({self.json: json_text, self.txt: txt_text}):
            yield


class GuideOutputs:
    """benchmark.py's files in the output folder: the dump folder (none in pure inference) and the perf report.

    The reports go in first, then (leaving the sink's block) the dumps; a failure of either puts the old
    reports back, and the dump swap restores the old dumps itself.
    """

    def __init__(self, config: BenchConfig):
        self.config = config
        self.dumps = None if config.pure_inference else DumpFolder(config)
        self.report = PerfReportFiles(config)
        self.perf_txt, self.perf_json = self.report.txt, self.report.json
        self.dump_dir = self.dumps.path if self.dumps else None

    def check(self, inputs: Sequence[Path]) -> None:
        out = self.config.output_dir
        if out.exists() and not out.is_dir():
            raise GenetError(f"{out}: exists and is not a folder (the output folder)")
        check_apart(out, inputs)
        if out.is_dir():
            self.report.check(inputs)
            if self.dumps:
                self.dumps.check(inputs)

    def sink(self, timer: StageTimer, inputs: Sequence[Path]) -> ContextManager[Sink]:
        make_output_dir(self.config.output_dir)
        return self.dumps.sink(timer, inputs) if self.dumps else contextlib.nullcontext(Discard(timer))

    def dumps_details(self, count: int) -> dict | None:
        return self.dumps.details(count) if self.dumps else None

    def commit(self, report: PerfReport, details: dict) -> ContextManager[None]:
        return self.report.commit(report, details)


class NoOutputs:
    """A run that writes nothing: the logits are dropped (its driver writes the files it needs)."""

    perf_txt = perf_json = dump_dir = None

    def check(self, inputs: Sequence[Path]) -> None:
        pass

    @contextlib.contextmanager
    def sink(self, timer: StageTimer, inputs: Sequence[Path]) -> Iterator[Sink]:
        yield Discard(timer)

    def dumps_details(self, count: int) -> dict | None:
        return None

    def commit(self, report: PerfReport, details: dict) -> ContextManager[None]:
        return contextlib.nullcontext()


def check_all_outputs(configs: Sequence[BenchConfig], files: Sequence[tuple[Path, OutputKind]] = ()) -> None:
    """Before the first batch of a sweep or of several devices: refuse every output any of its runs writes.

    ``configs``: one per run (batch size, device); ``files``: the plan's own outputs (the sweep
    table, the devices' report) with their kinds. Nothing is written when one is refused.
    """
    inputs: list[Path] = []
    for one in configs:
        numbered = read_numbered_info(one.info_path) if one.info_path is not None else None
        found = run_inputs(one, numbered)
        GuideOutputs(one).check(found)
        inputs += found
    for path, kind in files:
        if path.parent.is_dir():
            check_output_file(path, kind, inputs=inputs)


def make_output_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenetError(f"{path}: cannot create the output folder: {exc.strerror}") from None


@contextlib.contextmanager
def output_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (flock on the folder itself: no lock file left behind)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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
