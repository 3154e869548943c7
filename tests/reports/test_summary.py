"""The demo's summary.md (genet.reports.summary): sections read back from the reports a run wrote."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genet.core.errors import GenetError
from genet.core.stats import spread
from genet.data.provenance import GENERATED_NOTE
from genet.formats.perf_report import PerfReport, perf_paths, write_perf
from genet.formats.sweep_file import SWEEP_KIND
from genet.reports.accuracy import Accuracy, accuracy_payload, write_accuracy_json
from genet.reports.summary import (
    RunFiles,
    Section,
    accuracy_section,
    generated_section,
    int8_section,
    render,
    sweep_section,
    two_decimals,
)

PERF = PerfReport(1234.56, 1.0, 10.0, 0.1, 10.0, 0.0, 10.0, 4321.0, 0.02, 10.0, 0.1)


def test_accuracy_format():
    assert [two_decimals(text) for text in ("98.7%", "100%", "n/a")] == ["98.70%", "100.00%", "n/a"]


def test_sections_are_joined_by_one_blank_line():
    text = render([Section("First", ["| a |", "", "note"]), Section(None, ["plain"]), Section("Last", ["x"])])
    assert text == "## First\n\n| a |\n\nnote\n\nplain\n\n## Last\n\nx\n"


def a_run(folder, bs: int, twin: bool) -> RunFiles:
    acc = Accuracy(images=3, classes=10, topk_correct=(1, 2, 2, 3, 3), confusion=np.zeros((10, 10), int))
    write_accuracy_json(folder / f"result_bs{bs}.json", accuracy_payload(acc))
    (folder / "result").mkdir(exist_ok=True)
    if twin:
        txt, _ = write_perf(folder / "result", bs, 0, PERF, {"backend": "onnxruntime", "precision": "int8",
                                                             "device": "CPU: test"})
    else:                                   # the Ascend benchmark tool's report: no JSON twin
        txt, _ = perf_paths(folder / "result", bs, 0)
        txt.write_text(PERF.to_txt())
    return RunFiles(bs, folder / f"result_bs{bs}.json", txt)


@pytest.mark.parametrize("twin, tool, run_by", [(True, "onnxruntime", "onnxruntime int8 on CPU: test"),
                                                (False, "benchmark", "Ascend benchmark tool"),
                                                (False, "ais_bench", "ais_bench")])
def test_accuracy_rows_from_the_accuracy_json_and_the_perf_report(tmp_path, twin, tool, run_by):
    section = accuracy_section([a_run(tmp_path, 16, twin)], tool, "generated data")
    assert section.heading == "Accuracy and throughput per batch size (generated data)"
    row = [cell.strip() for cell in section.lines[2].strip("|").split("|")]
    assert row == ["16", "3", "33.33%", "100.00%", "1234.6", "4321.0", "-", run_by]      # no repeats recorded


def test_int8_and_generated_notes(tmp_path):
    report = tmp_path / "genet_int8.json"
    report.write_text(json.dumps({"calibration": {}, "check": {"images": 100, "agreement": 99.0}, "passed": False}))
    (line,) = int8_section(report).lines
    assert line == ("int8: quantize.py's check on 100 test images: top-1 agreement with fp32 99.00%, REFUSED (kept "
                    "with --keep-below: do not trust its figures) (genet_int8.json).")
    assert generated_section().lines == [GENERATED_NOTE]
    report.write_text(json.dumps({"calibration": {}, "passed": True, "check": {
        "images": 100, "agreement": 99.5, "cpu": "CPU: AMD EPYC (2 cores, AVX2)", "int8_path": "avx2",
        "u8s8_may_saturate": True}}))
    (line,) = int8_section(report).lines
    assert line.startswith("int8: quantize.py's check on 100 test images on CPU: AMD EPYC (2 cores, AVX2), int8 "
                           "path avx2: top-1 agreement with fp32 99.50%, passed")
    with pytest.raises(GenetError, match=r"result_bs16\.json: an accuracy result, not quantize\.py's report"):
        int8_section(a_run(tmp_path, 16, True).accuracy_json)


def test_sweep_columns_mark_each_models_best_batch(tmp_path):
    paths = []
    for label, best in (("fp32", 4), ("int8", 1)):
        points = [{"batch_size": bs, "interface_throughput": 100.0 * bs, "device_latency_ms": {"p99": bs / 8}}
                  for bs in ((1, 4) if label == "fp32" else (1,))]
        paths.append((label, tmp_path / f"{label}.json"))
        paths[-1][1].write_text(json.dumps({"kind": SWEEP_KIND, "backend": "onnxruntime", "best_batch": best,
                                            "points": points}))
    lines = sweep_section(paths, rounds=30).lines
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:4]]
    assert rows == [["1", "100.0", "-", "0.125", "100.0 *", "-", "0.125", "-"],
                    ["4", "400.0 *", "-", "0.500", "-", "-", "-", "-"]]


def _spread_point(bs, values, calls=50):
    figure = spread(values)
    return {"batch_size": bs, "interface_throughput": figure["median"], "interface_spread": figure, "calls": calls,
            "device_latency_ms": {"count": calls, "p99": 1.0}}


def test_sweep_columns_show_spread_ties_noise_and_the_warning(tmp_path):
    files = {"fp32": {"best_batch": None, "tied_batches": [1, 4], "stability": {"warning": "the machine was busy"},
                      "points": [_spread_point(1, [100, 105, 110]), _spread_point(4, [98, 104, 109])]},
             "int8": {"best_batch": 4, "tied_batches": [],
                      "points": [_spread_point(1, [100, 106, 111]), _spread_point(4, [200, 201, 202], 150)]}}
    paths = []
    for label, data in files.items():
        paths.append((label, tmp_path / f"{label}.json"))
        paths[-1][1].write_text(json.dumps({"kind": SWEEP_KIND, "backend": "onnxruntime", **data}))
    lines = sweep_section(paths, rounds=30).lines
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:4]]
    assert rows[0] == ["1", "105.0 ≈", "102–108, CV 5%", "n<100", "106.0", "103–108, CV 5%", "n<100", "1.01× ~"]
    assert rows[1] == ["4", "104.0 ≈", "101–106, CV 5%", "n<100", "201.0 *", "200–202, CV 0%", "1.000", "1.93×"]
    assert "fp32: WARNING: the machine was busy" in lines


def test_accuracy_section_says_when_int8_and_fp32_differ_within_the_noise(tmp_path):
    runs = []
    for label, values in (("fp32", [4000, 4200, 4400]), ("int8", [3600, 4100, 4500])):
        folder = tmp_path / label
        folder.mkdir()
        run = a_run(folder, 16, False)
        details = {"backend": "onnxruntime", "precision": label, "device": "CPU: test",
                   "interface_repeats": spread(values), "stability": {"unstable": False, "high_load": True}}
        txt, _ = write_perf(folder / "result", 16, 0, PERF, details)
        runs.append(RunFiles(16, run.accuracy_json, txt, label))
    lines = accuracy_section(runs, "onnxruntime", "generated data").lines
    assert "bs16: int8 device fps 0.98× (within the noise) fp32's (medians of their repeats)" in lines
    row = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert row[6] == "4100–4300, CV 5% !"                # a busy machine: marked
    assert row[5] == "4200.0"       # the repeats' median, inside their IQR (the report's own figure is 4321.0)
