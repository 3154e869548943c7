"""The run engine's parts (genet.bench.engine, sinks, figures, outputs): the dump writer, one call at a time and
what the Interface figure counts, a failing pipeline, signals held during the commit."""

from __future__ import annotations

import signal
import threading
import types

import numpy as np
import pytest

from genet.bench.batches import plan_batches
from genet.bench.config import BenchConfig
from genet.bench.engine import run_benchmark, run_pipeline
from genet.bench.figures import StageTimer, Timings
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
    writer = dump_sink(tmp_path, tmp_path, True, True, timer)
    batches = [(["b", "a"], np.full((2, 3), 1.0, np.float32)), (["c"], np.full((1, 3), 2.0, np.float32))]
    for stems, logits in batches:
        writer.submit(stems, logits)
    writer.finish()
    writer.close()
    stems, logits = read_packed(tmp_path / PACKED_DUMP)
    assert stems == ["b", "a", "c"] and logits[:, 0].tolist() == [1.0, 1.0, 2.0]
    assert writer.written == 3 and sorted(p.name for p in tmp_path.glob("*.bin")) == ["a_1.bin", "b_1.bin", "c_1.bin"]
    assert timer.busy > 0 and timer.span > 0


# --- one call at a time, and what the Interface figure counts ---------------------------------

class CountingRunner(Runner):
    """A runner that records which batch each call got and how many calls ran at once; 1 ms device time each."""

    name = "test"
    input_shape = (None, 3, 32, 32)
    device_name = "test"

    def __init__(self):
        super().__init__(types.SimpleNamespace(name="x"), RunnerOptions())
        self.order: list[int] = []
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()

    def versions(self):
        return {}

    def run_timed(self, batch):
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self.order.append(int(batch[0, 0, 0, 0]))
            return np.full((len(batch), 10), self.order[-1], np.float32), CallTimes(0.001)
        finally:
            with self._lock:
                self.in_flight -= 1


def test_calls_run_one_at_a_time_in_batch_order_and_the_interface_figure_sums_them(tmp_path):
    config = BenchConfig(model_path=tmp_path / "m", batch_size=4, rounds=10, output_dir=tmp_path / "r", warmup=0,
                         progress=False)
    runner = CountingRunner()
    # Number the batches (image value = batch index) so that the runner knows which call is which.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RandomImages, "read_into", lambda self, start, stop, out: out.fill(start // 4))
        result = run_benchmark(config, log=lambda message: None, runner=runner)
    assert runner.order == list(range(10)) and runner.most_in_flight == 1
    seconds = result.details["seconds"]
    assert seconds["device"] == pytest.approx(10 * 0.001)            # the sum of the calls' device-only seconds
    assert result.report.interface_throughput == pytest.approx(40 / 0.01)
    assert result.details["batch_latency_ms"]["device"]["p99"] == pytest.approx(1.0)


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


def test_a_failing_pipeline_stops_its_reader_thread_before_the_error_leaves_it():
    spans = plan_batches(40, 4, pad_to_batch=False)
    source = RandomImages(40)
    source.read_into = lambda start, stop, out: out.fill(start // 4)
    with pytest.raises(GenetError, match="disk full") as caught:
        run_pipeline(CountingRunner(), source, spans, SHAPE, _FailingSink(), Timings(), 2,
                     types.SimpleNamespace(update=lambda n: None))
    assert caught.value.__traceback__ is not None        # the traceback (and its frames) are still alive here
    assert not [t.name for t in threading.enumerate() if t.name == "genet-prefetch"]


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
