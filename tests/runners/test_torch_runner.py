"""The PyTorch backend's inference path: BN folding, options, the CUDA timing split, torch.compile."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from genet.core.errors import GenetError
from genet.model.checkpoint import load_model
from genet.model.fold import fold_batchnorm
from genet.model.network import build_model
from genet.model.variant import Variant
from genet.runners import CallTimes, RunnerOptions, open_runner
from genet.runners.torch_runner import TorchRunner, call_times, compile_mode
from tests.conftest import TINY, randomize_batchnorm


def images(count: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 3, 32, 32), dtype=np.float32)


def batchnorms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


# --- conv+BN folding ------------------------------------------------------------------------

@pytest.mark.parametrize("variant, folded", [
    (TINY, 3),                                               # width 1: the stem's output is also the shortcut
    (Variant(depth=10, width=2), 4),                         # projection shortcut: the stem's BN folds too
    (Variant(depth=10, width=2, extent=4, extra_params=True, mlp=True), 4 + 3 * 2),   # + two Downblocks each
    (Variant(depth=10, width=1, extent=0, extra_params=True), 3 + 3),
])
def test_folding_keeps_the_logits(variant, folded):
    torch.manual_seed(0)
    model = build_model(variant).eval()
    randomize_batchnorm(model, seed=1)
    batch = torch.from_numpy(images(8))
    with torch.no_grad():
        expected = model(batch)
        result, count = fold_batchnorm(model)
        logits = result(batch)
    assert count == folded
    assert batchnorms(result) == batchnorms(model) - folded
    assert batchnorms(model) == sum(isinstance(m, nn.BatchNorm2d) for m in build_model(variant).modules())
    assert not result.training
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)


def test_runner_folds_and_matches_the_unfolded_model(make_checkpoint):
    ckpt = make_checkpoint(Variant(depth=10, width=2))
    model, _ = load_model(ckpt, log=None)
    batch = images(5)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    with open_runner(ckpt, options=RunnerOptions(device="cpu")) as runner:
        logits, times = runner.run_timed(batch)
        assert runner.settings()["batchnorms_folded"] == 4
    with TorchRunner(ckpt, RunnerOptions(device="cpu"), fold_bn=False) as unfolded:
        assert unfolded.settings()["batchnorms_folded"] == 0
        np.testing.assert_allclose(unfolded.run(batch), expected, atol=1e-5)
    np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=1e-5)
    assert times.compute > 0 and times.h2d is None and times.d2h is None    # no copies on the CPU


# --- options --------------------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    (RunnerOptions(device="cpu", cuda_graphs=True), "--cuda-graphs needs a CUDA device"),
    (RunnerOptions(device="cpu", providers=("cpu",)), "--providers does not apply"),
    (RunnerOptions(device="cpu", graph_opt="basic"), "--graph-opt does not apply"),
])
def test_bad_options(make_checkpoint, options, message):
    with pytest.raises(GenetError, match=message):
        open_runner(make_checkpoint(TINY), options=options)


def test_unknown_precision_is_refused_with_the_options():
    with pytest.raises(GenetError, match="precision int8: unknown"):
        RunnerOptions(device="cpu", precision="int8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("options, message", [
    (RunnerOptions(device="cuda"), "sees no CUDA device"),
    (RunnerOptions(cuda_graphs=True), "--cuda-graphs needs a CUDA device"),     # auto picks the CPU here
])
def test_cuda_requests_without_a_gpu(make_checkpoint, options, message):
    with pytest.raises(GenetError, match=message):
        open_runner(make_checkpoint(TINY), options=options)


def test_a_missing_cuda_device_number_is_refused(make_checkpoint, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(GenetError, match="-device_id=1, but this machine has 1 CUDA device"):
        open_runner(make_checkpoint(TINY), options=RunnerOptions(device="cuda", device_id=1))


@pytest.mark.parametrize("on_cuda, cuda_graphs, mode", [
    (True, False, "max-autotune"),
    (True, True, "max-autotune-no-cudagraphs"),
    (False, False, None),
])
def test_compile_mode(on_cuda, cuda_graphs, mode):
    assert compile_mode(on_cuda, cuda_graphs) == mode


# --- the CUDA timing split, with fake events ------------------------------------------------

class FakeEvent:
    def __init__(self, ms: float):
        self.ms = ms

    def elapsed_time(self, later: "FakeEvent") -> float:
        return later.ms - self.ms


def test_call_times_split_copies_from_compute():
    times = call_times(FakeEvent(10.0), FakeEvent(10.5), FakeEvent(14.5), FakeEvent(14.75))
    assert times == CallTimes(compute=pytest.approx(0.004), h2d=pytest.approx(0.0005), d2h=pytest.approx(0.00025))


# --- torch.compile on the CPU ---------------------------------------------------------------

@pytest.mark.slow
def test_compiled_model_matches_eager_and_reports_first_use(make_checkpoint):
    ckpt = make_checkpoint(TINY)
    batch = images(4)
    with open_runner(ckpt, options=RunnerOptions(device="cpu")) as runner:
        expected = runner.run(batch)
    with open_runner(ckpt, options=RunnerOptions(device="cpu", compile=True)) as runner:
        logits, times = runner.run_timed(batch)
        runner.run(batch[:1])
        settings = runner.settings()
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)
    assert settings["compile_mode"] == "default"
    assert set(settings["first_use_seconds"]) == {"4", "1"}
    assert times.compute < settings["first_use_seconds"]["4"]        # the compile is outside the timed call
