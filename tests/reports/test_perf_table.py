"""test/perf_compare.py: the seed's table (FORMATS.md) round-trips; files, chips, verdicts, errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from genet.cli.perf_compare import main
from genet.core.errors import GenetError, run_cli
from genet.core.stats import spread
from genet.formats.perf_report import PerfReport, write_perf
from genet.formats.sweep_file import SWEEP_KIND
from genet.reports.perf_table import load_devices, make_table, seed_verdict
from tests.conftest import REPO, SAMPLES

BATCHES = [1, 4, 8, 16, 32, 64]
# The seed's performance table, section 7.4 (as FORMATS.md quotes it).
SEED = {
    "310": [3239.252, 6923.88, 6631, 7796.88, 7295.48, 6611.72],
    "710": [2580.59, 6962.42, 9350.57, 10586.7, 11005.9, 11256.5],
    "T4": [1805.315, 3258.019, 5226.538, 5922.109, 5898.248, 6105.938],
}


def figures(label: str, values=None) -> str:
    return f"{label}:" + ",".join(f"{bs}={fps}" for bs, fps in zip(BATCHES, values or SEED[label]))


def run_table(tmp_path, capsys, *inputs: str) -> tuple[str, list[list[str]]]:
    assert main([*inputs, "--out", str(tmp_path / "cmp")]) == 0
    with open(tmp_path / "cmp.csv", newline="") as fh:
        return capsys.readouterr().out, list(csv.reader(fh))


def test_seed_table_round_trips_with_its_ratios_and_verdict(tmp_path, capsys):
    out, rows = run_table(tmp_path, capsys, figures("310"), figures("710"), figures("T4"))
    assert rows[0] == ["batch", "310", "710", "T4", "710/310", "710/T4"]
    for bs, row in zip(BATCHES, rows[1:7]):
        i = BATCHES.index(bs)
        assert row[0] == str(bs)
        assert [float(x) for x in row[1:4]] == [SEED["310"][i], SEED["710"][i], SEED["T4"][i]]
        assert float(row[4]) == pytest.approx(SEED["710"][i] / SEED["310"][i], abs=5e-4)
        assert float(row[5]) == pytest.approx(SEED["710"][i] / SEED["T4"][i], abs=5e-4)
    assert rows[7][:4] == ["best", "7796.88", "11256.5", "6105.938"]
    assert rows[7][4:] == [f"{11256.5 / 7796.88:.3f}", f"{11256.5 / 6105.938:.3f}"] == ["1.444", "1.844"]
    assert rows[8][:4] == ["best batch", "16", "64", "64"]
    assert "| best | 7796.88 (bs16) | 11256.5 (bs64) | 6105.938 (bs64) | 1.444 | 1.844 |" in out
    assert out.strip().endswith(
        "verdict (seed 7.4): PASS: 710 best 11256.5 (bs64) >= 1.2 x 310 best 7796.88 (bs16) = "
        f"{round(1.2 * 7796.88, 3)}; 710 best 11256.5 (bs64) >= 1.6 x T4 best 6105.938 (bs64) = "
        f"{round(1.6 * 6105.938, 3)}")
    assert (tmp_path / "cmp.md").read_text() == out
    assert (tmp_path / "cmp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_verdict_fails_when_the_710_falls_short():
    slow_710 = [x * 0.8 for x in SEED["710"]]    # best 9005.2: >= 1.2 x 310 (9356.3) fails
    verdict = seed_verdict(load_devices([figures("310"), figures("710", slow_710), figures("T4")]))
    assert not verdict.passed
    assert "FAIL: 710 best 9005.2 (bs64) < 1.2 x 310 best" in verdict.line()
    assert "< 1.6 x T4 best" in verdict.line()


def test_verdict_checks_only_the_devices_present():
    verdict = seed_verdict(load_devices(["Ascend310P3:1=100,8=500", figures("310")]))
    assert verdict.candidate.label == "Ascend310P3"
    assert not verdict.passed and verdict.line().endswith("(not checked: no T4 column)")
    assert seed_verdict(load_devices([figures("310"), figures("T4")])) is None
    assert seed_verdict(load_devices([figures("710")])) is None


def test_report_files_with_chip_rules(tmp_path, capsys):
    _, rows = run_table(
        tmp_path, capsys,
        f"310:{SAMPLES}/perf_vision_batchsize_*_device_0.txt",
        f"310:{SAMPLES / 'PureInfer_perf_of_genet_bs4_tuned_in_device_0.txt'}",
        f"710:{SAMPLES / 'ais_bench_310P_bs16.log'}",
        f"T4:{SAMPLES / 'trtexec_t4_bs16.log'}",
    )
    by_batch = {row[0]: row for row in rows[1:]}
    assert by_batch["1"][1] == str(round(809.813 * 4, 3))          # 310: one chip's figure x 4
    assert by_batch["4"][1] == str(round(1730.97 * 4, 3))
    assert by_batch["16"][2] == str(round(10586.7362487201, 3))     # 710: as it is
    assert by_batch["16"][3] == str(round(16000 / 2.70174, 3))      # T4: 1000 x batch / mean ms
    assert by_batch["4"][2:4] == ["", ""]

    _, rows = run_table(tmp_path, capsys, f"310:{SAMPLES / 'perf_vision_batchsize_1_device_0.txt'}",
                        "--chips", "310=1")
    assert rows[1] == ["1", "809.813"]


def test_runner_perf_json_as_a_column(tmp_path, capsys):
    report = PerfReport(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 5000.25, 1.0, 1.0, 1.0)
    _, js = write_perf(tmp_path, 32, 0, report, {"backend": "onnxruntime"})
    _, rows = run_table(tmp_path, capsys, f"cpu:{js}", figures("T4"))
    assert rows[0] == ["batch", "cpu", "T4", "cpu/T4"]
    assert rows[5] == ["32", "5000.25", "5898.248", f"{5000.25 / 5898.248:.3f}"]


def test_a_cpu_report_under_a_310_label_is_not_multiplied_and_a_note_says_so(tmp_path):
    txt, _ = write_perf(tmp_path, 1, 0, PerfReport(*[1.0] * 7, 1083.91, *[1.0] * 3),
                        {"backend": "onnxruntime", "device": "CPU: x86_64 (2 cores)", "model": "genet_gpu.onnx"})
    notes = []
    devices = load_devices([f"310:{txt}"], note=notes.append)
    assert devices[0].fps == {1: 1083.91}
    assert any("measured on cpu, not an NPU chip: taken as it is, not x4" in n for n in notes)


def test_a_column_mixing_models_or_devices_is_warned_about(tmp_path):
    sources = []
    for batch, device, model in [(1, "CPU: x", "a.onnx"), (4, "CPU: x", "b.onnx"), (8, "NVIDIA H100", "a.onnx")]:
        folder = tmp_path / str(batch)
        folder.mkdir()
        sources.append(write_perf(folder, batch, 0, PerfReport(*[1.0] * 7, 100.0 * batch, *[1.0] * 3),
                                  {"backend": "torch", "device": device, "model": model})[1])
    notes = []
    load_devices([f"run:{path}" for path in sources], note=notes.append)
    assert notes == ["warning: column 'run' mixes devices cpu, gpu and models a.onnx, b.onnx"]
    notes.clear()
    load_devices([f"run:{sources[0]}", "run:16=50"], note=notes.append)
    assert notes == []


@pytest.mark.parametrize("taken", ["cmp.csv", "cmp.md", "cmp.png"])
def test_an_output_that_is_a_folder_is_refused_before_anything_is_written(tmp_path, capsys, taken):
    (tmp_path / taken).mkdir()
    assert run_cli(main, [figures("310"), "--out", str(tmp_path / "cmp")]) == 2
    assert f"{taken}: is a folder" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == [taken]


def test_unknown_label_for_an_npu_report_is_taken_once_with_a_note():
    notes = []
    devices = load_devices([f"npu:{SAMPLES / 'perf_vision_batchsize_1_device_0.txt'}"], note=notes.append)
    assert devices[0].fps == {1: 809.813}
    assert "taken x1 (--chips npu=4 for a 310 card)" in notes[0]


def test_candidate_option_sets_the_ratio_columns():
    table = make_table(load_devices([figures("310"), figures("T4")]), candidate="T4")
    assert table.header() == ["batch", "310", "T4", "T4/310"]
    assert make_table(load_devices([figures("310"), figures("T4")])).header()[-1] == "310/T4"


@pytest.mark.parametrize("inputs, message", [
    (["310"], r"'310': expected LABEL:PATH or LABEL:BS=FPS"),
    ([":1=2"], r"expected LABEL:PATH"),
    (["310:1=fast"], r"'310:1=fast': '1=fast' is not BS=FPS"),
    (["310:0=100"], r"batch size 0 is not positive"),
    (["310:1=-5"], r"310 bs1: throughput -5.0 is not a positive number"),
    (["310:1=100", "310:1=200"], r"310:1=200: 310 bs1 is already given by 310:1=100"),
    (["310:/nowhere/perf.txt"], r"/nowhere/perf\.txt: file not found"),
    (["310:/nowhere/*.txt"], r"no file matches /nowhere/\*\.txt"),
    ([f"310:{SAMPLES / 'result_bs1.json'}"], r"result_bs1\.json: an accuracy result, not a throughput report"),
    (["310:1=100", "--candidate", "T4"], r"--candidate 'T4' is not one of the labels: 310"),
    (["310:1=100", "--chips", "310=four"], r"--chips '310=four': expected LABEL=N"),
])
def test_bad_inputs_are_errors(tmp_path, inputs, message):
    with pytest.raises(GenetError, match=message):
        main([*inputs, "--out", str(tmp_path / "cmp"), "--no-plot"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_as_a_process(tmp_path):
    script = str(REPO / "test" / "perf_compare.py")
    done = subprocess.run([sys.executable, script, figures("310"), figures("710"), "--no-plot"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "verdict (seed 7.4): PASS" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["perf_compare.csv", "perf_compare.md"]
    done = subprocess.run([sys.executable, script, "310:missing.log"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stderr == "perf_compare.py: error: missing.log: file not found\n"


def _npu_sweep(path, points):
    path.write_text(json.dumps({"kind": SWEEP_KIND, "backend": "ascend", "device": "Ascend", "points": [
        {"batch_size": bs, "interface_throughput": spread(values)["median"], "interface_spread": spread(values)}
        for bs, values in points.items()]}))
    return path


def test_verdict_and_ratios_say_when_a_difference_is_within_the_noise(tmp_path):
    a710 = _npu_sweep(tmp_path / "710.json", {1: [900, 1000, 1300], 4: [4000, 4900, 5800]})
    a310 = _npu_sweep(tmp_path / "310.json", {1: [240, 250, 260], 4: [980, 1000, 1020]})
    devices = load_devices([f"710:{a710}", f"310:{a310}"], {"310": 4})
    line = seed_verdict(devices).line()
    # 710 best 4900 (IQR 4450–5350) against 1.2 × 4000 = 4800 (IQR 4740–4860 after ×4 chips, ×1.2): overlapping
    assert "710 best 4900.0 (bs4) >= 1.2 x 310 best 4000.0 (bs4) = 4800.0 (within the noise)" in line
    rows = make_table(devices).rows(with_best_batch=False)
    assert rows[0][-1] == "1.000 ~" and rows[1][-1] == "1.225"       # bs4: 4450–5350 against 3920–4080
    clear = _npu_sweep(tmp_path / "710b.json", {4: [9000, 9100, 9200]})
    assert "(within the noise)" not in seed_verdict(load_devices([f"710:{clear}", f"310:{a310}"], {"310": 4})).line()
