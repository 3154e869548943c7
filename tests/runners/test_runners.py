"""Runners (ONNX Runtime, PyTorch, Ascend adapter), input sources and batching."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import types

import numpy as np
import pytest
import torch

from genet.bench.engine import (
    BenchConfig,
    DumpWriter,
    StageTimer,
    Timings,
    calls_in_order,
    deferred_signals,
    run_benchmark,
    run_pipeline,
    union_seconds,
)
from genet.bench.sources import BinFiles, PackedImages, Prefetcher, RandomImages, plan_batches, read_batches
from genet.core.errors import GenetError, Terminated
from genet.formats.dumps import PACKED_DUMP, read_packed
from genet.formats.info import read_numbered_info
from genet.model.checkpoint import load_model
from genet.runners import CallTimes, Runner, RunnerOptions, backend_for, open_runner
from genet.runners.ascend import AscendRunner
from tests.conftest import TINY
from tests.runner_helpers import SHAPE, direct_onnx, tiny_onnx, write_bins


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"dynamic": tiny_onnx(folder / "dyn.onnx"), "static8": tiny_onnx(folder / "st8.onnx", batch_size=8)}


def images(count: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, *SHAPE), dtype=np.float32)


# --- factory and backend choice -------------------------------------------------------------

@pytest.mark.parametrize("name, backend", [("a.onnx", "onnxruntime"), ("model_best.pth.tar", "torch"),
                                           ("m.PTH", "torch"), ("genet_bs16_tuned.om", "ascend")])
def test_backend_follows_the_suffix(tmp_path, name, backend):
    assert backend_for(tmp_path / name) == backend


def test_unknown_suffix_missing_folder_and_unknown_backend_are_errors(tmp_path, models):
    odd = tmp_path / "model.bin"
    odd.write_bytes(b"x")
    with pytest.raises(GenetError, match=r"model\.bin: cannot tell the backend.*--backend"):
        open_runner(odd)
    with pytest.raises(GenetError, match=r"nope\.onnx: model file not found"):
        open_runner(tmp_path / "nope.onnx")
    with pytest.raises(GenetError, match="is a folder"):
        open_runner(tmp_path)
    with pytest.raises(GenetError, match="backend tensorflow: unknown"):
        open_runner(models["dynamic"], "tensorflow")


def test_corrupt_onnx_is_one_error_naming_the_file(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(GenetError, match=r"broken\.onnx: not a loadable ONNX model"):
        open_runner(bad)


# --- ONNX Runtime ---------------------------------------------------------------------------

def test_onnxruntime_runner_matches_a_direct_session(models):
    batch = images(5)
    with open_runner(models["dynamic"], options=RunnerOptions(threads=1)) as runner:
        assert runner.name == "onnxruntime" and runner.input_shape == (None, 3, 32, 32)
        assert runner.static_batch is None and runner.device_name.startswith("CPU")
        logits, times = runner.run_timed(batch)
        assert "onnxruntime" in runner.versions() and runner.settings()["providers"] == ["CPUExecutionProvider"]
    assert logits.dtype == np.float32 and logits.shape == (5, 10) and times.compute > 0
    np.testing.assert_allclose(logits, direct_onnx(models["dynamic"], batch, 5), atol=1e-6)


def test_static_onnx_model_reports_its_batch(models):
    with open_runner(models["static8"]) as runner:
        assert runner.input_shape == (8, 3, 32, 32) and runner.static_batch == 8


@pytest.mark.parametrize("options, message", [
    (RunnerOptions(precision="fp16"), "runs fp32, not --precision fp16"),
    (RunnerOptions(channels_last=True), "--channels-last does not apply to the onnxruntime backend"),
    (RunnerOptions(cuda_graphs=True, compile=True), "--compile, --cuda-graphs does not apply"),
    (RunnerOptions(providers=("cuda",)), "has no CUDAExecutionProvider on this machine"),
    (RunnerOptions(device="cuda"), "has no CUDAExecutionProvider on this machine"),
    (RunnerOptions(providers=("FooExecutionProvider",)), "has no FooExecutionProvider"),
])
def test_onnxruntime_option_errors(models, options, message):
    with pytest.raises(GenetError, match=message):
        open_runner(models["dynamic"], options=options)


def test_onnxruntime_streams_and_threads_on_the_cpu(models, monkeypatch):
    monkeypatch.setattr("genet.runners.onnxrt.usable_cpus", lambda: 8)
    with open_runner(models["dynamic"]) as runner:
        assert runner.streams == 2 and runner.settings()["intra_op_threads"] == 4
    with open_runner(models["dynamic"], options=RunnerOptions(streams=3, threads=1)) as runner:
        assert runner.streams == 3 and runner.settings()["intra_op_threads"] == 1
    monkeypatch.setattr("genet.runners.onnxrt.usable_cpus", lambda: 1)
    with open_runner(models["dynamic"]) as runner:
        assert runner.streams == 1 and runner.settings()["intra_op_threads"] == "default"


def test_graph_optimisation_levels_give_the_same_logits(models):
    batch = images(4)
    outputs = []
    for level in ("disable", "all"):
        with open_runner(models["dynamic"], options=RunnerOptions(graph_opt=level, threads=1)) as runner:
            outputs.append(runner.run(batch))
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)


# --- PyTorch --------------------------------------------------------------------------------

def test_torch_runner_matches_the_checkpoint_model(make_checkpoint):
    ckpt = make_checkpoint(TINY)
    model, _ = load_model(ckpt, log=None)
    batch = images(6)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    with open_runner(ckpt, options=RunnerOptions(device="cpu")) as runner:
        assert runner.name == "torch" and runner.input_shape == (None, 3, 32, 32)
        logits, times = runner.run_timed(batch)
        assert runner.settings()["variant"].startswith("WRN-10-1")
    assert times.compute > 0
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    with open_runner(ckpt, options=RunnerOptions(channels_last=True)) as runner:
        np.testing.assert_allclose(runner.run(batch), expected, atol=1e-5)
    with open_runner(ckpt, options=RunnerOptions(precision="bf16")) as runner:
        low = runner.run(batch)
        assert runner.settings()["dtype"] == "bfloat16"
    assert low.dtype == np.float32 and np.abs(low - expected).max() < 0.25 * np.abs(expected).max() + 0.05


def test_torch_cuda_requests_fail_without_a_gpu(make_checkpoint):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    ckpt = make_checkpoint(TINY)
    with pytest.raises(GenetError, match="--device cuda asked for, but torch .* sees no CUDA device"):
        open_runner(ckpt, options=RunnerOptions(device="cuda"))
    with pytest.raises(GenetError, match="--cuda-graphs needs a CUDA device"):
        open_runner(ckpt, options=RunnerOptions(cuda_graphs=True))


def test_torch_rejects_onnx_only_options_and_corrupt_checkpoints(make_checkpoint, tmp_path):
    with pytest.raises(GenetError, match="--providers does not apply to the torch backend"):
        open_runner(make_checkpoint(TINY), options=RunnerOptions(providers=("cpu",)))
    bad = tmp_path / "bad.pth.tar"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(GenetError, match=r"bad\.pth\.tar"):
        open_runner(bad)


# --- Ascend (ais_bench) ---------------------------------------------------------------------

def test_om_without_ais_bench_says_what_is_needed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ais_bench", None)     # import fails as on a machine without it
    om = tmp_path / "genet_bs16_tuned.om"
    om.write_bytes(b"om")
    with pytest.raises(GenetError, match=r"genet_bs16_tuned\.om: .*Ascend host with CANN and the ais_bench"):
        open_runner(om)


class _FakeInferSession:
    """Stands in for ais_bench.infer.interface.InferSession (its documented surface only)."""

    def __init__(self, device_id, model_path):
        self.calls = []
        self._times = []

    def get_inputs(self):
        return [types.SimpleNamespace(name="image", shape=[4, 3, 32, 32])]

    def infer(self, feeds, mode="static"):
        (batch,) = feeds
        assert mode == "static" and batch.shape == (4, 3, 32, 32)
        self.calls.append(batch.copy())
        self._times.append(2.5)
        return [batch.reshape(4, -1)[:, :10] * 2.0]

    def sumary(self):        # the older spelling, which the runner must accept
        return types.SimpleNamespace(exec_time_list=list(self._times))


def test_ascend_runner_speaks_the_ais_bench_interface(tmp_path, monkeypatch):
    interface = types.ModuleType("ais_bench.infer.interface")
    interface.InferSession = _FakeInferSession
    for name, module in (("ais_bench", types.ModuleType("ais_bench")),
                         ("ais_bench.infer", types.ModuleType("ais_bench.infer")),
                         ("ais_bench.infer.interface", interface)):
        monkeypatch.setitem(sys.modules, name, module)
    om = tmp_path / "genet_bs4.om"
    om.write_bytes(b"om")
    batch = images(4)
    with open_runner(om) as runner:
        assert isinstance(runner, AscendRunner) and runner.static_batch == 4
        logits, times = runner.run_timed(batch)
    np.testing.assert_array_equal(logits, batch.reshape(4, -1)[:, :10] * 2.0)
    assert times.compute == pytest.approx(0.0025)
    with pytest.raises(GenetError, match="--precision fp16"):
        open_runner(om, options=RunnerOptions(precision="fp16"))


# --- inputs and batching --------------------------------------------------------------------

@pytest.mark.parametrize("count, batch, pad, rows", [
    (1000, 64, False, [64] * 15 + [40]),
    (1000, 64, True, [64] * 16),
    (10, 16, False, [10]),
    (32, 16, True, [16, 16]),
])
def test_plan_covers_every_image_once(count, batch, pad, rows):
    spans = plan_batches(count, batch, pad)
    assert [s.rows for s in spans] == rows
    covered = [i for s in spans for i in range(s.start, s.stop)]
    assert covered == list(range(count))


def test_bin_files_are_read_in_order_and_padded_with_zeros(tmp_path):
    info, data = write_bins(tmp_path, 11)
    numbered = read_numbered_info(info)
    source = BinFiles(info, numbered, SHAPE)
    batches = list(read_batches(source, plan_batches(11, 4, True), SHAPE))
    assert [b.real for b in batches] == [4, 4, 3] and batches[-1].images.shape == (4, *SHAPE)
    np.testing.assert_array_equal(np.concatenate([b.images[:b.real] for b in batches]), data)
    assert not batches[-1].images[3:].any()
    assert [s for b in batches for s in b.stems] == [f"{i:05d}" for i in range(11)]


def test_info_line_numbers_skip_blank_lines(tmp_path):
    info, _ = write_bins(tmp_path, 3)
    info.write_text("\n" + info.read_text().replace("\n", "\n\n", 1))
    (tmp_path / "prep_dataset" / "00002.bin").unlink()
    with pytest.raises(GenetError, match=r"prep_bin\.info:5: input file .*00002\.bin not found"):
        BinFiles(info, read_numbered_info(info), SHAPE)


def test_packed_rows_follow_the_stems_and_must_match_the_bin_files(tmp_path):
    info, data = write_bins(tmp_path, 12)
    packed = tmp_path / "prep_dataset" / "images.npy"
    np.save(packed, data)
    lines = info.read_text().splitlines()
    info.write_text("\n".join([lines[7], lines[2], lines[11]]) + "\n")       # a subset, out of order
    source = PackedImages.for_info(packed, info, read_numbered_info(info), SHAPE)
    out = np.empty((3, *SHAPE), np.float32)
    source.read_into(0, 3, out)
    np.testing.assert_array_equal(out, data[[7, 2, 11]])
    np.save(packed, data[::-1].copy())                                          # stale: other rows
    with pytest.raises(GenetError, match="differs from .*not from the same preprocess run"):
        PackedImages.for_info(packed, info, read_numbered_info(info), SHAPE)
    np.save(packed, data[:5])
    with pytest.raises(GenetError, match=r"prep_bin\.info:1: .*00007\.bin has no row"):
        PackedImages.for_info(packed, info, read_numbered_info(info), SHAPE)
    np.save(packed, data.astype(np.float64))
    with pytest.raises(GenetError, match="holds float64"):
        PackedImages.alone(packed, SHAPE)


def test_random_images_are_not_zeros_and_reproducible():
    first, second = (np.empty((8, *SHAPE), np.float32) for _ in range(2))
    RandomImages(8, seed=5).read_into(0, 8, first)
    RandomImages(8, seed=5).read_into(0, 8, second)
    np.testing.assert_array_equal(first, second)
    assert 0.9 < first.std() < 1.1 and np.count_nonzero(first) == first.size


def test_random_images_come_from_a_pool_drawn_once():
    source = RandomImages(600)
    batches = [np.empty((100, *SHAPE), np.float32) for _ in range(6)]
    for i, batch in enumerate(batches):
        source.read_into(100 * i, 100 * (i + 1), batch)
    images = np.concatenate(batches)
    pool = RandomImages.POOL
    assert len(np.unique(images.reshape(600, -1), axis=0)) == pool          # every pool image, none twice in a row
    np.testing.assert_array_equal(images[pool:2 * pool], images[:pool])      # image i is pool row i % POOL


def test_prefetcher_forwards_producer_errors_and_stops_early():
    def failing():
        yield 1
        raise GenetError("line 2 is bad")

    with Prefetcher(failing(), depth=1) as items:
        with pytest.raises(GenetError, match="line 2 is bad"):
            list(items)
    produced = []
    gate = threading.Event()

    def endless():
        for i in range(10_000):
            produced.append(i)
            gate.set()
            yield i

    with Prefetcher(endless(), depth=2) as items:
        assert next(iter(items)) == 0
        gate.wait(5)
    assert len(produced) < 10                  # the producer stopped once the consumer left


def test_dump_writer_reports_a_failed_write_naming_the_folder(tmp_path):
    writer = DumpWriter(tmp_path / "gone", tmp_path / "dumpOutput_device0", False, 1, StageTimer(), False)
    try:
        writer.submit(["00000"], np.zeros((1, 10), np.float32))
        with pytest.raises(GenetError, match="dumpOutput_device0/00000_1.txt: cannot write: No such file"):
            writer.finish()
    finally:
        writer.close()


def test_dump_writer_keeps_order_in_the_packed_output(tmp_path):
    timer = StageTimer()
    writer = DumpWriter(tmp_path, tmp_path, True, 2, timer, True)
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


@pytest.mark.parametrize("failure, expected", [
    (ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime"), "lacks the module 'onnxruntime'"),
    ("interrupted", "SIGTERM"),
])
def test_a_backend_import_failure_is_one_line_or_the_interrupt(tmp_path, monkeypatch, failure, expected):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")

    def failing_import(name):
        if failure != "interrupted":
            raise failure
        try:
            raise Terminated(signal.SIGTERM)          # as onnxruntime's pybind import turns it into an ImportError
        except Terminated as exc:
            raise ImportError("initialization failed") from exc

    monkeypatch.setattr("genet.runners.base.importlib.import_module", failing_import)
    with pytest.raises((GenetError, Terminated), match=expected):
        open_runner(model)


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
