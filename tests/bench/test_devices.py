"""Several devices (genet.bench.devices): one worker per device, per-device reports, a total on one shared clock."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import genet.bench.devices as devices_module
from genet.bench.config import BenchConfig
from genet.bench.devices import DeviceRun, MultiDevice, check_devices, parse_device_ids, shares
from genet.cli.benchmark import main
from genet.core.errors import GenetError, run_cli
from genet.formats.devices_report import DevicesReport, devices_report_name
from genet.reports.read import read_report
from genet.runners import RunnerOptions
from tests.runner_helpers import direct_onnx, read_dumps, tiny_onnx, write_bins


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("models") / "genet_gpu.onnx")


@pytest.mark.parametrize("text, expected", [("0", (0,)), ("0,1,3", (0, 1, 3)), (" 2, 0", (2, 0))])
def test_device_lists(text, expected):
    assert parse_device_ids(text) == expected


@pytest.mark.parametrize("text, message", [("0,0", "given twice"), ("0,x", "not a device number"),
                                           ("-1", "not a device number"), ("0,", "not a device number")])
def test_bad_device_lists(text, message):
    with pytest.raises(ValueError, match=message):
        parse_device_ids(text)


def test_shares_cover_everything_once():
    assert shares(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert shares(2, 2) == [(0, 1), (1, 2)]


def _config(device: str = "auto") -> BenchConfig:
    return BenchConfig(model_path=Path("m.onnx"), batch_size=1, rounds=4,
                       options=RunnerOptions(device=device))


@pytest.mark.parametrize("gpus, ids, message", [
    (0, (0, 1), "this machine has no GPU"), (0, (0, 1), "add --device cpu"),
    (2, (0, 3), "no device 3 (this machine has 2 GPUs: 0..1)"),
])
def test_missing_devices_are_refused(gpus, ids, message):
    with pytest.raises(GenetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_devices(_config(), ids, gpus=gpus)


def test_cpu_workers_only_when_asked_for():
    check_devices(_config("cpu"), (0, 1), gpus=0)        # no error


def _run(device_id: int, images: int, interface: float, window: tuple[float, float]) -> DeviceRun:
    result = SimpleNamespace(images=images, report=SimpleNamespace(interface_throughput=interface))
    return DeviceRun(device_id, result, window)


def test_total_is_measured_on_the_shared_clock_not_added_up():
    # Device 0 computes 10 images in [0, 2] s, device 1 10 images in [1, 4] s: together 20 images in 4 s.
    multi = MultiDevice(_config(), [_run(0, 10, 50.0, (0.0, 2.0)), _run(1, 10, 40.0, (1.0, 4.0))])
    assert multi.wall_seconds == 4.0 and multi.total_throughput == 5.0
    assert multi.sum_of_device_rates == 90.0         # ais_bench's total for the same run


def test_missing_device_on_the_command_line_writes_nothing(tmp_path, model, monkeypatch, capsys):
    monkeypatch.setattr(devices_module, "cuda_device_count", lambda: 0)
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={model}", "-round=4", "-device_id=0,1", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no GPU" in err and len(err.strip().splitlines()) == 1 and not out.exists()


def test_cpu_workers_split_the_rounds_and_report_each_device(tmp_path, model, capsys):
    out = tmp_path / "result"
    assert main([f"-om_path={model}", "-round=5", "-batch_size=2", "-device_id=0,1", "--device", "cpu",
                 "--output-dir", str(out), "--quiet"]) == 0
    per_device = [json.loads((out / f"perf_vision_batchsize_2_device_{i}.json").read_text()) for i in (0, 1)]
    assert [d["images"] for d in per_device] == [6, 4]                 # 3 + 2 of the 5 batches
    report = json.loads((out / "devices_batchsize_2.json").read_text())
    total = report["total"]
    assert total["images"] == 10
    assert total["throughput"] == pytest.approx(10 / total["wall_seconds"])
    assert total["sum_of_device_rates"] == pytest.approx(sum(d["interface_throughput"] for d in per_device))
    assert "shared wall-clock" in capsys.readouterr().out
    found = read_report(out / devices_report_name(2), accept=(DevicesReport,))
    assert (found.throughput, found.sum_of_device_rates, found.device_ids) == (
        total["throughput"], total["sum_of_device_rates"], [0, 1])


def test_cpu_workers_over_a_dataset_write_each_share_dumps(tmp_path, model):
    info, images = write_bins(tmp_path / "data", 9)
    out = tmp_path / "result"
    assert main([f"-om_path={model}", f"-input_text_path={info}", "-batch_size=4", "-device_id=0,1",
                 "--device", "cpu", "--output-dir", str(out), "--quiet"]) == 0
    expected = direct_onnx(model, images, 4)
    assert sorted(os.listdir(out / "dumpOutput_device0")) == [f"{i:05d}_1.txt" for i in range(5)]
    assert sorted(os.listdir(out / "dumpOutput_device1")) == [f"{i:05d}_1.txt" for i in range(5, 9)]
    got = np.concatenate([read_dumps(out / "dumpOutput_device0", 5),
                          np.array([np.loadtxt(out / "dumpOutput_device1" / f"{i:05d}_1.txt") for i in range(5, 9)])])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_fewer_rounds_than_devices_is_refused(tmp_path, model, capsys):
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={model}", "-round=1", "-device_id=0,1", "--device", "cpu",
                          "--output-dir", str(out)]) == 2
    assert "fewer batches than the 2 devices" in capsys.readouterr().err and not out.exists()
