"""Silent wrong numbers: CPU figures never ×4, failed runs' figures refused, CPU sweeps not an NPU verdict."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from genet.cli.benchmark import main
from genet.cli.parse import main as parse_main
from genet.cli.perf_compare import main as compare_main
from genet.core.errors import GenetError, run_cli
from genet.formats.sweep_file import SweepFile
from genet.reports.perf_table import load_devices, make_table, markdown, seed_verdict
from genet.reports.read import read_report
from tests.runner_helpers import tiny_onnx, write_bins


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    good = tiny_onnx(folder / "t1.onnx")
    model = onnx.load(str(good))
    init = next(i for i in model.graph.initializer if numpy_helper.to_array(i).dtype == np.float32)
    values = numpy_helper.to_array(init).copy()
    values[...] = np.nan
    init.CopyFrom(numpy_helper.from_array(values, init.name))
    onnx.save(model, str(folder / "nan.onnx"))
    return {"good": good, "nan": folder / "nan.onnx"}


def _fps_of(line: str) -> float:
    return float(line.split("fps:")[1])


@pytest.mark.parametrize("mode", ["input", "loop"])
def test_a_saved_cpu_ais_bench_log_is_not_multiplied(tmp_path, models, mode, capsys):
    info, _ = write_bins(tmp_path / "data", 8)
    out = tmp_path / "out"
    out.mkdir()
    extra = ["--input", str(info.parent / "prep_dataset"), "--output", str(out)] if mode == "input" else ["--loop", "3"]
    assert run_cli(main, ["--model", str(models["good"]), "--batchsize", "4", "--quiet", *extra]) == 0
    log = capsys.readouterr().out
    (tmp_path / "a.log").write_text(log)
    logged = float(next(x for x in log.splitlines() if "throughput 1000*batchsize" in x).rsplit(":", 1)[1])
    assert parse_main([str(tmp_path / "a.log")]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("cpu bs4") and _fps_of(line) == pytest.approx(logged, rel=1e-3)


def test_a_cpu_report_copied_without_its_json_is_not_a_310_card(tmp_path, models, capsys):
    info, _ = write_bins(tmp_path / "data", 8)
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={models['good']}", f"-input_text_path={info}", "-batch_size=4",
                          "--output-dir", str(out), "--quiet"]) == 0
    fps = json.loads((out / "perf_vision_batchsize_4_device_0.json").read_text())["interface_throughput"]
    alone = tmp_path / "copy" / "perf_vision_batchsize_4_device_0.txt"
    alone.parent.mkdir()
    shutil.copy(out / "perf_vision_batchsize_4_device_0.txt", alone)
    capsys.readouterr()
    assert parse_main([str(alone)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("cpu bs4") and _fps_of(line) == pytest.approx(fps, rel=1e-3)


def test_a_failed_runs_figures_are_refused(tmp_path, models, capsys):
    info, _ = write_bins(tmp_path / "data", 8)
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={models['nan']}", f"-input_text_path={info}", "-batch_size=4",
                          "--output-dir", str(out), "--quiet"]) == 3
    txt = out / "perf_vision_batchsize_4_device_0.txt"
    alone = tmp_path / "alone" / txt.name
    alone.parent.mkdir()
    shutil.copy(txt, alone)
    for report in (txt, txt.with_suffix(".json"), alone):
        assert run_cli(parse_main, [str(report)]) == 2, report
        assert "non-finite" in capsys.readouterr().err
    assert run_cli(compare_main, [f"cpu:{txt}", "--no-plot", "--out", str(tmp_path / "cmp")]) == 2
    assert not (tmp_path / "cmp.md").exists()


def test_a_failed_ais_bench_run_records_its_nans(tmp_path, models, capsys):
    info, _ = write_bins(tmp_path / "data", 8)
    out = tmp_path / "out"
    out.mkdir()
    status = run_cli(main, ["--model", str(models["nan"]), "--input", str(info.parent / "prep_dataset"), "--output",
                            str(out), "--output_dirname", "n", "--batchsize", "4", "--quiet"])
    assert status == 3
    log = capsys.readouterr().out
    assert json.loads((out / "n_summary.json").read_text())["genet"]["non_finite_outputs"] == 8
    (tmp_path / "a.log").write_text(log)
    for report in (out / "n_summary.json", tmp_path / "a.log"):
        assert run_cli(parse_main, [str(report)]) == 2
        assert "non-finite" in capsys.readouterr().err


def test_a_failed_sweep_records_its_nans_and_is_refused(tmp_path, models):
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={models['nan']}", "-round=2", "-batch_size=1,2", "--output-dir", str(out),
                          "--quiet"]) == 3
    sweep = json.loads((out / "sweep_device_0.json").read_text())
    assert [p["non_finite_outputs"] for p in sweep["points"]] == [2, 4]
    with pytest.raises(GenetError, match="non-finite"):
        read_report(out / "sweep_device_0.json", accept=(SweepFile,), wanted="a sweep file")


def test_cpu_sweeps_under_npu_labels_give_no_verdict(tmp_path, models):
    for name in ("a", "b"):
        assert run_cli(main, [f"-om_path={models['good']}", "-round=2", "-batch_size=1,2", "--output-dir",
                              str(tmp_path / name), "--quiet"]) == 0
    devices = load_devices([f"310:{tmp_path / 'a' / 'sweep_device_0.json'}",
                            f"710:{tmp_path / 'b' / 'sweep_device_0.json'}"])
    verdict = seed_verdict(devices)
    assert not verdict.passed and "NOT APPLICABLE" in verdict.line() and "PASS" not in verdict.line()
    assert "710 [cpu]" in markdown(make_table(devices, None))


def test_a_sweep_and_an_npu_report_under_one_label_mix_devices(tmp_path, models):
    assert run_cli(main, [f"-om_path={models['good']}", "-round=2", "-batch_size=1,2", "--output-dir",
                          str(tmp_path / "a"), "--quiet"]) == 0
    npu = tmp_path / "perf_vision_batchsize_8_device_0.txt"
    npu.write_text("[e2e] throughputRate: 100, latency: 10\n[data read] throughputRate: 100, moduleLatency: 1\n"
                   "[preprocess] throughputRate: 100, moduleLatency: 1\n[inference] throughputRate: 100, "
                   "Interface throughputRate: 500, moduleLatency: 1\n[postprocess] throughputRate: 100, "
                   "moduleLatency: 1\n")
    notes: list[str] = []
    load_devices([f"310:{tmp_path / 'a' / 'sweep_device_0.json'}", f"310:{npu}"], note=notes.append)
    assert any("mixes devices" in note for note in notes)


def test_several_devices_record_their_nans(tmp_path, models):
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={models['nan']}", "-round=2", "-batch_size=2", "-device_id=0,1", "--device",
                          "cpu", "--output-dir", str(out), "--quiet"]) == 3
    report = json.loads((out / "devices_batchsize_2.json").read_text())
    assert [d["non_finite_outputs"] for d in report["devices"]] == [2, 2]
