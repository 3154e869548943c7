"""The one registry of reports (genet.reports.read): every kind recognised by its content, a kind the caller does
not take refused by name, and the one rule of which figures are one NPU chip's."""

from __future__ import annotations

import json

import pytest

from genet.core.errors import GenetError
from genet.formats.devices_report import DEVICES_KIND, DevicesReport
from genet.formats.perf_report import NPU_BACKENDS, PerfReport, is_npu_chip, write_perf
from genet.formats.quantize_report import QuantizeReport
from genet.formats.sweep_file import SWEEP_KIND, SweepFile
from genet.reports.figures import AccuracySummary, Throughput
from genet.reports.read import KINDS, read_report, read_throughput
from genet.runners import BACKENDS
from genet.runners.ascend import AscendRunner
from tests.conftest import SAMPLES

PERF = PerfReport(10.0, 1.0, 10.0, 0.1, 10.0, 0.0, 10.0, 50.0, 0.02, 10.0, 0.1)


def sweep_json(backend: str = "onnxruntime") -> dict:
    return {"kind": SWEEP_KIND, "backend": backend, "best_batch": 4,
            "points": [{"batch_size": 1, "interface_throughput": 100.0, "device_latency_ms": {"p99": 0.5}},
                       {"batch_size": 4, "interface_throughput": 300.0, "device_latency_ms": {"p99": 1.5}}]}


def devices_json() -> dict:
    return {"kind": DEVICES_KIND, "batch_size": 2, "total": {"throughput": 90.0, "sum_of_device_rates": 120.0},
            "devices": [{"device_id": 0}, {"device_id": 1}]}


def quantize_json() -> dict:
    return {"calibration": {"images": 64}, "check": {"images": 100, "agreement": 99.5}, "passed": True}


def ais_summary_json(backend: str | None) -> dict:
    data = {"NPU_compute_time": {"mean": 2.0, "percentile(99%)": 3.0, "count": 5}, "throughput": 8000.0,
            "args": {"batchsize": "16"}}
    if backend is not None:
        data["genet"] = {"backend": backend, "device": "some device"}
    return data


def write_json(path, data):
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("name, data, kind", [
    ("sweep_device_0.json", sweep_json(), SweepFile),
    ("devices_batchsize_2.json", devices_json(), DevicesReport),
    ("genet_int8.json", quantize_json(), QuantizeReport),
    ("summary.json", ais_summary_json(None), Throughput),
])
def test_each_genet_json_kind_is_read_and_refused_where_not_taken(tmp_path, name, data, kind):
    path = write_json(tmp_path / name, data)
    assert isinstance(read_report(path, accept=(kind,)), kind)
    if kind is not Throughput:
        with pytest.raises(GenetError, match=rf"{name}: an? [a-z .-]+, not a perf report, log or accuracy JSON"):
            read_report(path)


def test_genet_reports_read_back_as_written(tmp_path):
    sweep = read_report(write_json(tmp_path / "s.json", sweep_json()), accept=(SweepFile,))
    assert (sweep.interface, sweep.best_batch, sweep.p99_ms(4), sweep.per_chip) == ({1: 100.0, 4: 300.0}, 4, 1.5, False)
    devices = read_report(write_json(tmp_path / "d.json", devices_json()), accept=(DevicesReport,))
    assert (devices.batch_size, devices.throughput, devices.sum_of_device_rates, devices.device_ids) == (2, 90.0, 120.0,
                                                                                                        [0, 1])
    int8 = read_report(write_json(tmp_path / "q.json", quantize_json()), accept=(QuantizeReport,))
    assert (int8.check_images, int8.agreement, int8.passed) == (100, 99.5, True)


@pytest.mark.parametrize("data, message", [
    ({**sweep_json(), "points": []}, "sweep file holds no batch sizes"),
    ({**sweep_json(), "best_batch": 8}, "sweep file marks batch 8 best, but holds no such batch size"),
    ({**sweep_json(), "points": [{"batch_size": "x"}]}, "not a readable genet sweep file"),
    ({**devices_json(), "total": {}}, "not a readable several-device report"),
    ({**quantize_json(), "check": {"images": 3}}, "not quantize.py's report"),
])
def test_a_broken_genet_report_is_one_error_naming_the_file(tmp_path, data, message):
    path = write_json(tmp_path / "r.json", data)
    with pytest.raises(GenetError, match=rf"r\.json: {message}"):
        read_report(path, accept=(SweepFile, DevicesReport, QuantizeReport))


def test_a_sweep_without_latency_says_so_when_asked(tmp_path):
    data = sweep_json()
    del data["points"][0]["device_latency_ms"]
    sweep = read_report(write_json(tmp_path / "s.json", data), accept=(SweepFile,))
    with pytest.raises(GenetError, match=r"s\.json: sweep file gives no device p99 for batch 1"):
        sweep.p99_ms(1)


def test_every_kind_has_a_distinct_name_and_the_samples_each_one():
    assert len({kind.name for kind in KINDS}) == len(KINDS)
    read = [read_report(path, batch_size=1 if "seed" in path.name else None)
            for path in sorted(SAMPLES.iterdir()) if path.suffix in (".txt", ".log") or path.name == "result_bs1.json"]
    assert {type(found) for found in read} == {Throughput, AccuracySummary}
    assert {found.kind for found in read if isinstance(found, Throughput)} == {
        "benchmark perf report", "benchmark pure-inference report", "ais_bench log", "trtexec log"}


# --- one rule: which figures are one NPU chip's ---------------------------------------------------

def test_the_npu_backends_are_the_ascend_runners_alone():
    assert AscendRunner.name in NPU_BACKENDS and set(NPU_BACKENDS) <= set(BACKENDS)
    assert [backend for backend in BACKENDS if is_npu_chip(backend)] == [AscendRunner.name]


@pytest.mark.parametrize("backend", BACKENDS)
def test_perf_json_sweep_and_ais_summary_follow_the_one_rule(tmp_path, backend):
    chip = backend == AscendRunner.name
    txt, js = write_perf(tmp_path, 4, 0, PERF, {"backend": backend, "device": "Ascend NPU device 0 (a name only)"})
    assert read_throughput(js).per_chip is chip and read_throughput(txt).per_chip is chip
    assert read_report(write_json(tmp_path / "s.json", sweep_json(backend)), accept=(SweepFile,)).per_chip is chip
    assert read_throughput(write_json(tmp_path / "a.json", ais_summary_json(backend))).per_chip is chip


def test_the_vendor_tools_own_reports_are_chip_figures(tmp_path):
    assert read_throughput(write_json(tmp_path / "a.json", ais_summary_json(None))).per_chip
    assert read_throughput(SAMPLES / "perf_vision_batchsize_1_device_0.txt").per_chip
    assert not read_throughput(SAMPLES / "trtexec_t4_bs16.log").per_chip
