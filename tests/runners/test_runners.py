"""Runners: the backend chosen by the model file, ONNX Runtime, PyTorch and the Ascend adapter (genet.runners)."""

from __future__ import annotations

import signal
import sys
import types

import numpy as np
import pytest
import torch

import genet.runners.base as runners_base
from genet.core.errors import GenetError, Terminated
from genet.model.checkpoint import load_model
from genet.runners import RunnerOptions, backend_for, open_runner
from genet.runners.ascend import AscendRunner
from tests.conftest import TINY
from tests.runner_helpers import SHAPE, direct_onnx, tiny_onnx


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


def test_a_cpu_runner_names_the_cpu_with_its_instruction_set(models, make_checkpoint, monkeypatch):
    import genet.core.cpuinfo as cpuinfo

    monkeypatch.setattr(cpuinfo, "this_cpu", lambda: cpuinfo.CpuInfo("AMD EPYC", 2, frozenset({"avx2", "fma"})))
    with open_runner(models["dynamic"]) as ort_runner, open_runner(make_checkpoint(TINY)) as torch_runner:
        assert ort_runner.device_name == torch_runner.device_name == "CPU: AMD EPYC (2 cores, AVX2)"


def test_onnxruntime_threads_on_the_cpu(models):
    with open_runner(models["dynamic"]) as runner:
        assert runner.settings()["intra_op_threads"] == "default" and "streams" not in runner.settings()
    with open_runner(models["dynamic"], options=RunnerOptions(threads=1)) as runner:
        assert runner.settings()["intra_op_threads"] == 1


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

    monkeypatch.setattr(runners_base.importlib, "import_module", failing_import)
    with pytest.raises((GenetError, Terminated), match=expected):
        open_runner(model)
