"""The run engine's parts (genet.bench.engine, sinks, figures, outputs): the dump writer, calls in flight at
once (streams) and what they count, a failing pipeline, signals held during the commit."""

from __future__ import annotations

import contextlib
import signal
import threading
import types

import numpy as np
import pytest

from genet.bench.batches import plan_batches
from genet.bench.config import BenchConfig
from genet.bench.engine import calls_in_order, run_benchmark, run_pipeline
from genet.bench.figures import StageTimer, Timings, union_seconds
from genet.bench.outputs import deferred_signals
from genet.bench.sinks import dump_sink
from genet.bench.sources import RandomImages
from genet.core.errors import GenetError, Terminated
from genet.formats.dumps import PACKED_DUMP, read_packed
from genet.runners import CallTimes, Runner, RunnerOptions
from tests.runner_helpers import SHAPE

# --- the dump writer -----------------------------------------------------------------------

def test_dump_writer_reports_a_failed_write_naming_the_folder(tmp_path):
    writer = dump_sink(tmp_path / "gone", tmp_path / "dumpOutput_device0", False, False, StageTimer())
    try:
        writer.submit(["00000"], np.zeros((1, 10), np.float32))
        with pytest.raises(GenetError, match="dumpOutput_device0/00000_1.txt: cannot write: No such file"):
            writer.finish()
    finally:
        writer.close()


def test_dump_writer_keeps_order_in_the_packed_output(tmp_path):
    timer = StageTimer()
    writer = dump_sink(tmp_path, tmp_path, True, True, timer, threads=2)
    batches = [(["b", "a"], np.full((2, 3), 1.0, np.float32)), (["c"], np.full((1, 3), 2.0, np.float32))]
    for stems, logits in batches:
        writer.submit(stems, logits)
    writer.finish()
    writer.close()
    stems, logits = read_packed(tmp_path / PACKED_DUMP)
    assert stems == ["b", "a", "c"] and logits[:, 0].tolist() == [1.0, 1.0, 2.0]
    assert writer.written == 3 and sorted(p.name for p in tmp_path.glob("*.bin")) == ["a_1.bin", "b_1.bin", "c_1.bin"]
    assert timer.busy > 0 and timer.span > 0


# --- streams: calls in flight at once -------------------------------------------------------

class OverlapRunner(Runner):
    """A runner whose calls prove they overlap, without timing anything.

    The first ``streams`` calls meet at a barrier (so that many are in flight at once), and each
    even call waits for the next call to finish first (so results come back out of order). A call
    that waits in vain fails after a generous timeout, which only guards against a hang.
    """

    name = "test"
    input_shape = (None, 3, 32, 32)
    device_name = "test"

    def __init__(self, streams: int, calls: int, fail_at: int | None = None, paired: bool = True):
        super().__init__(types.SimpleNamespace(name="x"), RunnerOptions())
        self.paired, self.overlapping, self.fail_at = paired, streams > 1, fail_at
        self.in_flight = self.most_in_flight = 0
        self._barrier = threading.Barrier(streams)
        self._done = [threading.Event() for _ in range(calls)]
        self._lock = threading.Lock()

    def versions(self):
        return {}

    def run_timed(self, batch):
        index = int(batch[0, 0, 0, 0])
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.overlapping and index < self._barrier.parties:
                self._barrier.wait(timeout=30)
            after_failure = self.fail_at is not None and index > self.fail_at      # its partner may be cancelled
            if self.paired and self.overlapping and index % 2 == 0 and index + 1 < len(self._done) \
                    and not after_failure:
                assert self._done[index + 1].wait(timeout=30), f"call {index + 1} never ran beside call {index}"
            if index == self.fail_at:
                raise GenetError(f"call {index} failed")
            return np.full((len(batch), 10), index, np.float32), CallTimes(0.001)
        finally:
            with self._lock:
                self.in_flight -= 1
            self._done[index].set()


@pytest.mark.parametrize("streams", [1, 2, 3])
def test_calls_in_order_keeps_the_order_and_the_limit(streams):
    runner = OverlapRunner(streams, calls=8)
    batches = [np.full((2, 3, 32, 32), i, np.float32) for i in range(8)]
    results = list(calls_in_order(runner, enumerate(batches), lambda item: item[1], streams))
    assert [item[0] for item, _ in results] == list(range(8))
    assert [int(call.logits[0, 0]) for _, call in results] == list(range(8))
    assert all(call.end >= call.start for _, call in results)
    assert runner.most_in_flight == streams


def test_calls_in_order_raises_the_first_failure_and_stops_its_threads():
    batches = [np.full((1, 3, 32, 32), i, np.float32) for i in range(8)]
    with pytest.raises(GenetError, match="call 3 failed"):
        with contextlib.closing(calls_in_order(OverlapRunner(2, 8, fail_at=3), batches, lambda images: images,
                                               2)) as calls:
            list(calls)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("genet-stream")]


@pytest.mark.parametrize("spans, seconds", [
    ([], 0.0),
    ([(0, 1)], 1.0),
    ([(0, 1), (2, 3)], 2.0),
    ([(0, 2), (1, 3)], 3.0),
    ([(1, 3), (0, 2), (1.5, 2.5)], 3.0),
    ([(0, 4), (1, 2)], 4.0),
])
def test_union_seconds(spans, seconds):
    assert union_seconds(spans) == pytest.approx(seconds)


class PairedStreams(OverlapRunner):
    streams = 2


def test_overlapping_calls_count_once_in_the_interface_figure(tmp_path):
    config = BenchConfig(model_path=tmp_path / "m", batch_size=4, rounds=10, output_dir=tmp_path / "r", warmup=0,
                         progress=False)
    runner = PairedStreams(2, calls=10)
    # Number the batches (image value = batch index) so that the runner knows which call is which.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RandomImages, "read_into", lambda self, start, stop, out: out.fill(start // 4))
        result = run_benchmark(config, log=lambda message: None, runner=runner)
    seconds = result.details["seconds"]
    assert seconds["device"] < seconds["inference_call_busy"]       # paired calls overlapped: counted once
    assert result.report.interface_throughput == pytest.approx(40 / seconds["device"])


def test_device_seconds_of_overlapping_calls_are_their_union():
    timings = Timings(call_spans=[(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)], device_seconds=[2.0, 2.0, 1.0], streams=2)
    assert timings.device_busy_seconds == pytest.approx(4.0)
    timings.streams = 1
    assert timings.device_busy_seconds == pytest.approx(5.0)


# --- failures and signals ------------------------------------------------------------------

class _FailingSink:
    """A dump writer whose second batch fails (a full disk)."""

    def __init__(self):
        self.batches = 0

    def submit(self, stems, logits):
        self.batches += 1
        if self.batches == 2:
            raise GenetError("disk full")

    def finish(self):
        pass


def test_a_failing_pipeline_stops_its_stream_threads_before_the_error_leaves_it():
    runner = PairedStreams(2, calls=10, paired=False)
    spans = plan_batches(40, 4, pad_to_batch=False)
    source = RandomImages(40)
    source.read_into = lambda start, stop, out: out.fill(start // 4)
    with pytest.raises(GenetError, match="disk full") as caught:
        run_pipeline(runner, source, spans, SHAPE, _FailingSink(), Timings(), 2,
                     types.SimpleNamespace(update=lambda n: None))
    assert caught.value.__traceback__ is not None        # the traceback (and its frames) are still alive here
    assert not [t.name for t in threading.enumerate() if t.name.startswith("genet-stream")]


def test_signals_during_the_commit_are_held_until_it_is_done():
    def stop(signum, frame):
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        finished = []
        with pytest.raises(Terminated):
            with deferred_signals():
                signal.raise_signal(signal.SIGTERM)
                finished.append("the renames after the signal")
        assert finished == ["the renames after the signal"]
        assert signal.getsignal(signal.SIGTERM) is stop
    finally:
        signal.signal(signal.SIGTERM, previous)
