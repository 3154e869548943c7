"""benchmark.py: {bs} with one batch size, device numbers on a CPU-only machine, ais_bench on several
devices without --output."""

from __future__ import annotations

import pytest

import genet.bench.devices as devices
from genet.cli.benchmark import main
from genet.core.errors import run_cli
from tests.runner_helpers import tiny_onnx


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("models") / "x_bs8.onnx")


def test_a_bs_pattern_with_one_batch_size_names_that_model(model, tmp_path):
    pattern = model.parent / "x_bs{bs}.onnx"
    assert run_cli(main, [f"-om_path={pattern}", "-round=1", "-batch_size=8", "--output-dir", str(tmp_path / "r"),
                          "--quiet"]) == 0
    assert (tmp_path / "r" / "perf_vision_batchsize_8_device_0.txt").is_file()


def test_a_device_number_past_0_on_a_machine_without_gpus_is_refused(model, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(devices, "cuda_device_count", lambda: 0)
    assert run_cli(main, [f"-om_path={model}", "-round=1", "-batch_size=8", "-device_id=5", "--output-dir",
                          str(tmp_path / "r"), "--quiet"]) == 2
    assert "no GPU" in capsys.readouterr().err and not (tmp_path / "r").exists()
    assert run_cli(main, [f"-om_path={model}", "-round=1", "-batch_size=8", "-device_id=5", "--device", "cpu",
                          "--output-dir", str(tmp_path / "r"), "--quiet"]) == 0


def test_ais_bench_on_several_devices_without_output_writes_no_file(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(main, ["--model", str(model), "--loop", "2", "--batchsize", "8", "--device", "0,1", "--device",
                          "cpu", "--quiet"]) == 0
    assert list(tmp_path.iterdir()) == []
