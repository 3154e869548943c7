"""benchmark.py --profile: each backend's profiler on tiny models, the table, its check and the ceiling."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest

from genet.cli.benchmark import main as benchmark_main
from genet.core.errors import GenetError, run_cli
from genet.layers.ceiling import best_of, measure_ceiling, rate_of
from genet.layers.flops import OnnxLayers, export_for_layers
from genet.layers.profile import Ceiling, build_profile, module_summary, sum_check
from genet.runners import RunnerOptions, open_runner
from genet.runners.ascend import AscendRunner
from genet.runners.onnxrt_profile import dense_matmul_model
from genet.runners.profiling import LAYER_NAMES, Kernel, KernelTimes
from tests.runner_helpers import chain_model, tiny_onnx

BATCH = 4


def profiled(runner, calls: int = 3):
    """Warm up, record ``calls`` calls, collect: what ``benchmark.py --profile`` does, without the pipeline."""
    profiler = runner.profiler()
    images = np.random.default_rng(0).standard_normal((BATCH, 3, 32, 32), dtype=np.float32)
    with profiler:
        profiler.run(images)
        profiler.start()
        for _ in range(calls):
            profiler.run_timed(images)
        return profiler.collect()


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_onnx_backends_profile_every_layer_of_the_export(tmp_path, make_checkpoint, backend):
    if backend == "openvino":
        pytest.importorskip("openvino", reason="the openvino package is not installed")
    from genet.convert.export import export_onnx
    from genet.model.checkpoint import load_model

    model, _ = load_model(make_checkpoint())
    path = tmp_path / "genet.onnx"
    export_onnx(model, path)
    with open_runner(path, backend, RunnerOptions(device="cpu")) as runner:
        times = profiled(runner)
    assert times.calls == 3
    profile = build_profile(times, BATCH)
    layers = OnnxLayers(times.model, BATCH).facts
    seen = {name for row in profile.rows for name in row.layers}
    assert seen | set(profile.unseen) == set(layers)
    assert not seen & set(profile.unseen)
    convs = [name for name, facts in layers.items() if "Conv" in facts.ops]
    assert convs and all(name in seen for name in convs)      # every convolution has a kernel of its own
    assert sum(row.ms for row in profile.rows) == pytest.approx(
        sum(k.seconds for k in times.kernels) * 1000.0 / times.calls)


def test_torch_layer_names_are_the_onnx_export_s(make_checkpoint):
    with open_runner(make_checkpoint(), "torch", RunnerOptions(device="cpu")) as runner:
        times = profiled(runner, calls=2)
        assert times.model is None
        times.model = export_for_layers(runner.profiler().module, BATCH)
    assert times.names == LAYER_NAMES and times.calls == 2
    facts = OnnxLayers(times.model, BATCH).facts
    named = {k.name for k in times.kernels}
    assert named <= set(facts), named - set(facts)
    assert {"conv1", "block1.layer.0.conv2", "block1.layer.0/Relu_1", "block2.layer.0/Add", "fc"} <= named
    profile = build_profile(times, BATCH)
    assert all(row.mapped and row.flops is not None for row in profile.rows)


@pytest.mark.parametrize("option, refusal", [("compile", "compiled model"), ("cuda_graphs", "CUDA graph")])
def test_torch_models_without_module_calls_are_refused(option, refusal):
    from genet.runners.torch_profile import TorchProfiler

    runner = SimpleNamespace(options=SimpleNamespace(compile=option == "compile", cuda_graphs=option == "cuda_graphs"),
                             model_path=Path("genet.pth.tar"))
    with pytest.raises(GenetError, match=refusal):
        TorchProfiler(runner)


def test_ascend_says_how_to_profile_an_om():
    runner = AscendRunner.__new__(AscendRunner)
    runner.model_path = Path("genet_bs16.om")
    with pytest.raises(GenetError, match="--profiler 1"):
        runner.profiler()


def test_dense_matmul_models_compute_the_product():
    size = 16
    a = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
    weights = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    fp32 = ort.InferenceSession(dense_matmul_model("fp32", size), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(fp32.run(None, {"a": a})[0], a @ weights, rtol=1e-4, atol=1e-4)
    int8 = ort.InferenceSession(dense_matmul_model("int8", size), providers=["CPUExecutionProvider"])
    got = int8.run(None, {"a": a})[0]
    assert np.corrcoef(got.ravel(), (a @ weights).ravel())[0, 1] > 0.99     # quantized: close, not equal
    assert dense_matmul_model("fp16", size) is None


def test_ceiling_rate_counts_the_calls_over_the_window():
    rate = rate_of(lambda: time.sleep(0.01), seconds=0.1, flops=1e9)
    assert 50 < rate < 101                        # ≈ 100 calls/s (fewer when sleeps overshoot) × 1 GFLOP


class _NoProduct:
    streams = 1

    def dense_matmul(self, precision, size):
        return None


def test_a_backend_without_the_product_has_no_ceiling():
    assert measure_ceiling(_NoProduct(), ["fp32"], "1 thread") is None
    one = Ceiling({"fp32": 10.0}, 512, 2, "t", 0.5)
    two = Ceiling({"fp32": 12.0, "int8": 40.0}, 512, 2, "t", 0.5)
    assert best_of(one, two).gflops == {"fp32": 12.0, "int8": 40.0}
    assert best_of(None, one) is one


def test_times_are_per_batch_over_the_calls_and_their_overlap():
    kernels = [Kernel("conv1", "Conv2d", 0.8, ("conv1",)), Kernel("conv2", "Conv2d", 1.6, ("conv2",)),
               Kernel("Relu_1", "Relu", 0.0, ("Relu_1",))]
    profile = build_profile(KernelTimes(kernels, 4, LAYER_NAMES, model=chain_model()), 2, overlap=2.0)
    rows = {row.label: row for row in profile.rows}
    assert rows["conv1"].ms == pytest.approx(100.0)          # 0.8 s / 4 calls / 2 in flight
    assert rows["conv2"].share == pytest.approx(2 / 3)
    assert rows["conv1"].gflops_per_s() == pytest.approx(27648 / 0.1 / 1e9)
    profile.ceiling = Ceiling({"fp32": 1e-3}, 512, 1, "t", 0.5)
    assert profile.ceiling_fraction(rows["conv1"]) == pytest.approx(27648 / 0.1 / 1e9 / 1e-3)
    assert [top for top, *_ in module_summary(profile)] == ["conv1", "conv2", "Relu_1"]
    assert set(profile.unseen) == {"bn", "Relu", "GlobalAveragePool", "Flatten", "fc"}


def test_the_sum_check_fails_on_nan_and_beyond_the_tolerance():
    profile = build_profile(KernelTimes([Kernel("fc", "Gemm", 1.0, ("fc",))], 10, LAYER_NAMES, model=chain_model()),
                            2)
    assert sum_check(profile, 100.0)["within"]
    assert not sum_check(profile, 80.0)["within"]
    assert not sum_check(profile, math.nan)["within"]
    assert not sum_check(profile, 0.0)["within"]


def test_benchmark_profile_writes_the_table_beside_the_perf_report(tmp_path, capsys):
    model = tiny_onnx(tmp_path / "tiny.onnx")
    out = tmp_path / "result"
    assert benchmark_main([f"-om_path={model}", "-round=3", "-batch_size=2", "--profile", "--quiet",
                           "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "profiler overhead" in printed and "ceiling" in printed
    data = json.loads((out / "profile_batchsize_2_device_0.json").read_text())
    assert data["calls"] == 3 and data["about"]["backend"] == "onnxruntime"
    assert {"layers_ms", "interface_ms", "difference", "within"} <= set(data["check"])
    assert data["ceiling"]["gflops"]["fp32"] > 0
    assert any("conv" in row["layers"] for row in data["rows"])
    assert (out / "profile_batchsize_2_device_0.md").read_text().startswith("# Per-layer profile")
    assert (out / "perf_vision_batchsize_2_device_0.txt").exists()


def test_profile_refuses_lists_before_writing_anything(tmp_path, capsys):
    model = tiny_onnx(tmp_path / "tiny.onnx")
    out = tmp_path / "result"
    assert run_cli(benchmark_main, [f"-om_path={model}", "-round=2", "-batch_size=1,2", "--profile", "--quiet",
                                    "--output-dir", str(out)]) == 2
    assert "--profile runs one batch size" in capsys.readouterr().err
    assert not out.exists()


def test_profile_refuses_a_model_whose_names_map_to_no_layer_before_the_run(tmp_path, capsys):
    model = chain_model()
    for i, node in enumerate(model.graph.node):
        node.name = f"node_{i}"
    path = tmp_path / "other.onnx"
    path.write_bytes(model.SerializeToString())
    out = tmp_path / "result"
    assert run_cli(benchmark_main, [f"-om_path={path}", "-round=1", "-batch_size=2", "-input_width=8",
                                    "-input_height=8", "--profile", "--quiet", "--output-dir", str(out)]) == 2
    assert "cannot name its layers" in capsys.readouterr().err
    assert not out.exists()
