"""benchmark.py on an int8 model warns once when this CPU's int8 kernels are not those of quantize.py's check.
The CPUs are described (genet.core.cpuinfo.CpuInfo), not this machine's: the tests hold on any CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import genet.bench.int8_path as int8_path
from genet.bench.int8_path import other_int8_path, warn_other_int8_path
from genet.cli.benchmark import main
from genet.convert.quantize import QuantizeSettings, quantize_model
from genet.core.cpuinfo import CpuInfo
from genet.data.synthetic import write_cifar10
from tests.runner_helpers import separated_onnx

AVX2 = CpuInfo("AMD EPYC", 2, frozenset({"avx2", "fma", "sse4_1"}))
VNNI = CpuInfo("AMD EPYC", 2, frozenset({"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16"}))
AMX = CpuInfo("Intel(R) Xeon(R) Platinum 8480+", 8, VNNI.flags | {"amx_tile", "amx_int8"})


def report_checked_on(model: Path, cpu: CpuInfo, reduce_range: bool = False) -> Path:
    """A quantize.py report beside ``model`` saying its check ran on ``cpu``."""
    path = model.with_suffix(".json")
    path.write_text(json.dumps({"calibration": {"images": 64}, "passed": True, "reduce_range": reduce_range, "check": {
        "images": 100, "agreement": 100.0, "cpu": cpu.label(), "int8_path": cpu.int8_path,
        "u8s8_may_saturate": cpu.u8s8_may_saturate}}))
    return path


@pytest.mark.parametrize("checked, running, warns", [
    (VNNI, AVX2, True), (AVX2, VNNI, True), (AVX2, AMX, True),
    (VNNI, AMX, False),       # both accumulate in 32 bits: the same integer sums
    (VNNI, VNNI, False), (AVX2, AVX2, False),
])
def test_a_cpu_of_the_other_kind_is_named_with_the_way_to_check(checked, running, warns, tmp_path):
    model = tmp_path / "genet_int8.onnx"
    report_checked_on(model, checked)
    warning = other_int8_path(model, "onnxruntime", "int8", running.label(), cpu=running)
    if not warns:
        assert warning is None
        return
    assert warning.startswith("warning: ") and "\n" not in warning
    assert checked.label() in warning and running.label() in warning and "compare_outputs.py" in warning
    assert f"({checked.int8_path})" in warning and f"the {running.int8_path} kernels" in warning


@pytest.mark.parametrize("backend, precision, device, report", [
    ("onnxruntime", "fp32", "CPU: x", "vnni"),                 # an fp32 model
    ("openvino", "int8", "CPU: x", "vnni"),                    # another backend's kernels
    ("onnxruntime", "int8", "CUDAExecutionProvider device 0", "vnni"),
    ("onnxruntime", "int8", "CPU: x", None),                   # no report beside the model
    ("onnxruntime", "int8", "CPU: x", "older"),                # a report from before the CPU was recorded
    ("onnxruntime", "int8", "CPU: x", "not json"),
    ("onnxruntime", "int8", "CPU: x", "7-bit"),                # no u8s8 sum saturates: the same logits anywhere
])
def test_nothing_is_said_where_nothing_can_be_compared(backend, precision, device, report, tmp_path):
    model = tmp_path / "genet_int8.onnx"
    if report in ("vnni", "7-bit"):
        report_checked_on(model, VNNI, reduce_range=report == "7-bit")
    elif report == "older":
        model.with_suffix(".json").write_text(json.dumps({"calibration": {}, "passed": True,
                                                          "check": {"images": 100, "agreement": 99.5}}))
    elif report:
        model.with_suffix(".json").write_text(report)
    assert other_int8_path(model, backend, precision, device, cpu=AVX2) is None


def test_benchmark_warns_once_per_model(tmp_path, monkeypatch, capsys):
    write_cifar10(tmp_path / "data", train=64, test=32, seed=1)
    separated_onnx(tmp_path / "fp32.onnx")
    model = tmp_path / "genet_int8.onnx"
    settings = QuantizeSettings(calib=32, check=32, reduce_range=False)        # 8-bit weights: kernels matter
    quantize_model(tmp_path / "fp32.onnx", tmp_path / "data", model, settings, log=lambda m: None, quiet=True)
    report = json.loads(model.with_suffix(".json").read_text())
    assert report["check"]["cpu"].startswith("CPU: ") and report["check"]["int8_path"]
    other = VNNI if report["check"]["u8s8_may_saturate"] else AVX2
    monkeypatch.setattr(int8_path, "this_cpu", lambda: other)
    monkeypatch.setattr(int8_path, "_warned", set())
    for run in range(2):
        assert main([f"-om_path={model}", "-batch_size=4", "-round=2", "--quiet",
                     "--output-dir", str(tmp_path / f"out{run}")]) == 0
    err = capsys.readouterr().err
    assert err.count("compare_outputs.py") == 1 and other.label() in err
    warn_other_int8_path(model, "onnxruntime", "int8", "CPU: x")
    assert capsys.readouterr().err == ""
