"""Where a run's logits go: output sinks, one interface, each a small plug-in.

A sink takes each batch's real rows (``submit(stems, logits)``, padding already dropped, in batch
order), then ``finish()`` once every batch was submitted (everything written), and ``close()`` in
every case. ``written`` counts the images it took. Its seconds are the postprocess stage's.

- ``DumpFiles``: one dump per image, ``{stem}_1.txt`` or ``.bin`` (genet.formats.dumps), written on a
  writer thread while the model runs, at most ``PENDING_IMAGES`` images behind (one thread: a second
  one did not pay, benchmarks/results/streams.md; file creations in one folder serialise on the
  folder's lock);
- ``PackedDump``: every output in one ``packed_logits.npz``, written at the end;
- ``AisBenchFiles``: ais_bench's outputs, one file per input file, ``{name}_0.{bin|npy|txt}``
  (genet.formats.ais_bench_files), and the summary's ``filesinfo`` of them;
- ``Discard``: pure inference, the logits dropped;
- ``AllOf``: several sinks fed the same batches.

A new output format is a class with that interface; ``genet.bench.outputs`` decides where its files
go and when they are put in place.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from genet.bench.figures import StageTimer
from genet.core.errors import GenetError
from genet.formats.ais_bench_files import output_name, write_output
from genet.formats.dumps import PACKED_DUMP, write_dumps, write_packed

# Dumps waiting to be written, at most: logits are small, and a deep queue absorbs the jitter of
# file creation (on a busy disk its cost swings several-fold from one second to the next).
PENDING_IMAGES = 8192


class Sink(Protocol):
    written: int

    def submit(self, stems: Sequence[str], logits: np.ndarray) -> None: ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


class DumpFiles:
    """Writes each batch's dumps on a writer thread, in order, at most ``PENDING_IMAGES`` images behind."""

    def __init__(self, folder: Path, shown_as: Path, binary: bool, timer: StageTimer):
        self._folder, self._shown_as, self._binary, self._timer = folder, shown_as, binary, timer
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genet-dump")
        self._pending: deque[tuple[Future, int]] = deque()
        self._pending_images = 0
        self.written = 0

    def _write(self, stems: Sequence[str], logits: np.ndarray) -> None:
        start = time.perf_counter()
        try:
            write_dumps(self._folder, stems, logits, self._binary)
        except OSError as exc:
            name = os.path.basename(exc.filename) if exc.filename else ""      # named as the final folder's file
            raise GenetError(f"{self._shown_as / name}: cannot write: {exc.strerror}") from None
        self._timer.add(start, time.perf_counter())

    def submit(self, stems: Sequence[str], logits: np.ndarray) -> None:
        self._pending.append((self._writer.submit(self._write, stems, logits), len(stems)))
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

    def close(self) -> None:
        for future, _ in self._pending:
            future.cancel()
        self._writer.shutdown(wait=True)


class PackedDump:
    """Keeps every batch's logits, then writes them all into one ``packed_logits.npz`` at ``finish``."""

    def __init__(self, folder: Path, shown_as: Path, timer: StageTimer):
        self._folder, self._shown_as, self._timer = folder, shown_as, timer
        self._batches: list[tuple[Sequence[str], np.ndarray]] = []
        self.written = 0

    def submit(self, stems: Sequence[str], logits: np.ndarray) -> None:
        self._batches.append((stems, logits))
        self.written += len(stems)

    def finish(self) -> None:
        if not self._batches:
            return
        start = time.perf_counter()
        stems = [stem for batch_stems, _ in self._batches for stem in batch_stems]
        try:
            write_packed(self._folder / PACKED_DUMP, stems, np.concatenate([lg for _, lg in self._batches]))
        except OSError as exc:
            raise GenetError(f"{self._shown_as / PACKED_DUMP}: cannot write: {exc.strerror}") from None
        self._timer.add(start, time.perf_counter())

    def close(self) -> None:
        self._batches.clear()


class AisBenchFiles:
    """ais_bench's layout: each input's rows in a file of its own, named after the input (output 0).

    ``inputs``: the run's input files in order, as ais_bench spells them (the ``infiles``); ``prefix``:
    the output folder as ais_bench joins it (``{output}/{dirname}``, for the ``outfiles``); the files
    go into ``folder`` (the temporary folder swapped in for it). Padding rows never reach a sink.
    """

    def __init__(self, folder: Path, prefix: str, inputs: Sequence[str], outfmt: str, timer: StageTimer):
        self._folder, self._prefix, self._inputs = folder, prefix, list(inputs)
        self._outfmt, self._timer = outfmt, timer
        self.filesinfo: dict[str, dict[str, list[str]]] = {}
        self.written = 0

    def submit(self, stems: Sequence[str], logits: np.ndarray) -> None:
        start = time.perf_counter()
        for row in range(len(logits)):
            sample = self.written
            infile = self._inputs[sample]
            name = output_name(infile, 0, self._outfmt)
            try:
                write_output(self._folder / name, logits[row:row + 1])     # the batch axis kept, as split
            except OSError as exc:
                raise GenetError(f"{os.path.join(self._prefix, name)}: cannot write: {exc.strerror}") from None
            self.filesinfo[str(sample)] = {"infiles": [infile], "outfiles": [os.path.join(self._prefix, name)]}
            self.written += 1
        self._timer.add(start, time.perf_counter())

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


class Discard:
    """Pure-inference mode: the logits are dropped (timed, as the postprocess stage)."""

    def __init__(self, timer: StageTimer):
        self._timer = timer
        self.written = 0

    def submit(self, stems: Sequence[str], logits: np.ndarray) -> None:
        start = time.perf_counter()
        self.written += len(logits)
        del logits
        self._timer.add(start, time.perf_counter())

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


class AllOf:
    """Several sinks fed the same batches, finished and closed in turn; ``written``: the fewest any took."""

    def __init__(self, sinks: Sequence[Sink]):
        self._sinks = list(sinks)

    @property
    def written(self) -> int:
        return min(sink.written for sink in self._sinks)

    def submit(self, stems: Sequence[str], logits: np.ndarray) -> None:
        for sink in self._sinks:
            sink.submit(stems, logits)

    def finish(self) -> None:
        for sink in self._sinks:
            sink.finish()

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()


def dump_sink(folder: Path, shown_as: Path, binary: bool, packed: bool, timer: StageTimer) -> Sink:
    """benchmark.py's dumps into ``folder`` (shown in errors as ``shown_as``): per image, and packed if asked."""
    per_image = DumpFiles(folder, shown_as, binary, timer)
    return AllOf([per_image, PackedDump(folder, shown_as, timer)]) if packed else per_image
