"""test/parse.py: each report form recognised by content, on hand-made samples (tests/samples/README.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from genet.cli.parse import main
from genet.core.errors import GenetError, run_cli
from genet.formats.perf_report import PerfReport, write_perf
from genet.reports.accuracy import Accuracy, accuracy_payload, write_accuracy_json
from genet.reports.read import read_report
from tests.conftest import REPO, SAMPLES


def parse(capsys, *args: str) -> list[str]:
    assert main([*args]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("sample, expected", [
    # The seed's own example: Interface throughputRate 809.813 x 4 chips.
    ("perf_vision_batchsize_1_device_0.txt", "310 bs1 fps:3239.252"),
    ("perf_vision_batchsize_16_device_0.txt", f"310 bs16 fps:{round(1949.22 * 4, 3)}"),
    # A samples/s suffix on the figure, which the seed's parser strips.
    ("perf_vision_batchsize_32_device_0.txt", f"310 bs32 fps:{round(1823.87 * 4, 3)}"),
    ("PureInfer_perf_of_genet_bs4_tuned_in_device_0.txt", f"310 bs4 fps:{round(1730.97 * 4, 3)}"),
    ("benchmark_pureinfer_bs8.log", f"310 bs8 fps:{round(1657.75 * 4, 3)}"),
    ("trtexec_t4_bs16.log", f"gpu bs16 fps:{round(1000 * 16 / 2.70174, 3)}"),
    ("trtexec_bs64_trt10.log", f"gpu bs64 fps:{round(1000 * 64 / 10.4816, 3)}"),
    ("ais_bench_310P_bs16.log", f"310 bs16 fps:{round(10586.7362487201 * 4, 3)}"),
    ("ais_bench_310P_bs1.log", f"310 bs1 fps:{round(2580.591632294208 * 4, 3)}"),
])
def test_each_form_gives_the_seed_style_line(capsys, sample, expected):
    assert parse(capsys, str(SAMPLES / sample))[0] == expected


def test_chip_options_scale_npu_figures_only(capsys):
    perf = str(SAMPLES / "perf_vision_batchsize_1_device_0.txt")
    assert parse(capsys, "--chip", "710", perf) == ["710 bs1 fps:809.813"]
    assert parse(capsys, "--chip", "310P", perf) == ["310P bs1 fps:809.813"]
    assert parse(capsys, "--chips", "2", perf) == [f"310 bs1 fps:{round(809.813 * 2, 3)}"]
    # perf_compare.py's spelling, LABEL=N, names the card too.
    assert parse(capsys, "--chips", "910=2", perf) == [f"910 bs1 fps:{round(809.813 * 2, 3)}"]
    with pytest.raises(GenetError, match="expected N or LABEL=N"):
        main(["--chips", "=2", perf])
    trt = str(SAMPLES / "trtexec_t4_bs16.log")
    assert parse(capsys, "--chip", "310", trt)[0] == parse(capsys, "--chip", "710", trt)[0]


def test_trtexec_latency_percentiles_are_printed(capsys):
    assert parse(capsys, str(SAMPLES / "trtexec_bs64_trt10.log")) == [f"gpu bs64 fps:{round(1000 * 64 / 10.4816, 3)}"]
    lines = parse(capsys, "--latency", str(SAMPLES / "trtexec_bs64_trt10.log"))
    assert lines == [f"gpu bs64 fps:{round(1000 * 64 / 10.4816, 3)}  latency ms (GPU Compute Time per batch): "
                     "min 10.1396 max 11.7207 mean 10.4816 median 10.458 p90 10.5977 p95 10.6826 p99 11.4121"]


def test_seed_trtexec_quote_split_over_lines_needs_the_batch(capsys):
    seed_log = str(SAMPLES / "trtexec_t4_bs1_seed.log")
    assert parse(capsys, "--batch-size", "1", seed_log)[0] == "gpu bs1 fps:1805.315"   # the seed's T4 bs1 figure
    with pytest.raises(GenetError, match=r"trtexec_t4_bs1_seed\.log: cannot tell the batch size .*--batch-size"):
        main([seed_log])


def test_given_batch_that_contradicts_the_report_is_an_error():
    with pytest.raises(GenetError, match=r"trtexec_t4_bs16\.log: the log's --shapes says batch size 16, but "
                                         r"--batch-size 8 was given"):
        main(["--batch-size", "8", str(SAMPLES / "trtexec_t4_bs16.log")])
    with pytest.raises(GenetError, match=r"says batch size 1, but --batch-size 4"):
        main(["--batch-size", "4", str(SAMPLES / "perf_vision_batchsize_1_device_0.txt")])


def test_ais_bench_run_without_batchsize_is_worked_out_from_the_compute_mean(tmp_path, capsys):
    log = (SAMPLES / "ais_bench_310P_bs1.log").read_text()
    # The same log as if the bs16 model had been run without --batchsize: ais_bench then logs batchsize 1.
    path = tmp_path / "ais.log"
    path.write_text(log)
    assert parse(capsys, "--chip", "710", "--batch-size", "16", str(path))[0] == \
        f"710 bs16 fps:{round(1000 * 16 / 0.3875080013275146, 3)}"


PERF = PerfReport(100.0, 1000.0, 110.0, 9.0, 120.0, 8.0, 130.0, 4321.5, 0.23, 140.0, 7.0)


def test_runner_perf_json_gives_throughput_and_percentiles(tmp_path, capsys):
    # As genet.bench.engine writes it: the device time per batch under batch_latency_ms.device.
    stats = {"min": 3.1, "mean": 3.5, "p50": 3.4, "p90": 3.9, "p99": 4.4, "max": 5.0}
    details = {"images": 10000, "backend": "onnxruntime", "precision": "fp32", "device": "CPU: x86_64 (2 cores)",
               "batch_latency_ms": {"device": stats, "call": {"min": 9.0}}}
    _, js = write_perf(tmp_path, 16, 0, PERF, details)
    assert parse(capsys, str(js)) == ["cpu bs16 fps:4321.5"]
    assert parse(capsys, "--latency", str(js)) == [
        "cpu bs16 fps:4321.5  latency ms (device time per batch): min 3.1 mean 3.5 p50 3.4 p90 3.9 p99 4.4 max 5"]


@pytest.mark.parametrize("backend, device, label", [
    ("onnxruntime", "CPU: AMD EPYC (2 cores)", "cpu"),
    ("torch", "NVIDIA H100 80GB HBM3", "gpu"),
    ("onnxruntime", "CUDAExecutionProvider device 0", "gpu"),
])
@pytest.mark.parametrize("chip_flags", [[], ["--chips", "1"], ["--chips", "4"], ["--chip", "710"]])
def test_a_perf_txt_our_runner_measured_off_an_npu_is_labelled_by_its_json_twin(
        tmp_path, capsys, backend, device, label, chip_flags):
    txt, _ = write_perf(tmp_path, 1, 0, PERF, {"backend": backend, "device": device, "model": "m.onnx"})
    assert parse(capsys, *chip_flags, str(txt)) == [f"{label} bs1 fps:4321.5"]


@pytest.mark.parametrize("figure", ["nan", "-809.813", "0"])
def test_parse_refuses_a_figure_that_is_not_a_positive_number(tmp_path, capsys, figure):
    text = (SAMPLES / "perf_vision_batchsize_1_device_0.txt").read_text()
    path = tmp_path / "perf_vision_batchsize_1_device_0.txt"
    path.write_text(text.replace("Interface throughputRate: 809.813", f"Interface throughputRate: {figure}"))
    assert run_cli(main, [str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "is not a positive number" in captured.err


def test_runner_perf_json_flat_latency_and_ascend_backend(tmp_path, capsys):
    details = {"latency_ms": {"min": 1.0, "p99": 2.0}, "backend": "ascend", "device_name": "Ascend NPU device 0"}
    txt, js = write_perf(tmp_path, 8, 0, PERF, details)
    # An NPU run's figure is one chip's: x4 for a 310 card, as is for a 310P.
    assert parse(capsys, "--latency", str(js)) == [f"310 bs8 fps:{round(4321.5 * 4, 3)}  latency ms (latency_ms): "
                                                   "min 1 p99 2"]
    assert parse(capsys, "--chip", "310P", str(js))[0] == "310P bs8 fps:4321.5"
    assert main([str(txt)]) == 0 and capsys.readouterr().err == ""


def test_runner_perf_json_without_optional_keys(tmp_path, capsys):
    payload = {"batch_size": 4, "interface_throughput": 100.0}
    (tmp_path / "p.json").write_text(json.dumps(payload))
    assert parse(capsys, str(tmp_path / "p.json")) == ["genet bs4 fps:100.0"]


def test_accuracy_json_lines(capsys, tmp_path):
    # The seed's JSON, which has no Error entries: they are worked out from Top1/Top5.
    assert parse(capsys, str(SAMPLES / "result_bs1.json")) == ["bs1 top1:94.22% top5:99.85% Error@1 5.78 Error@5 0.15"]
    acc = Accuracy(images=3, classes=10, topk_correct=(1, 2, 2, 3, 3), confusion=np.zeros((10, 10), int))
    write_accuracy_json(tmp_path / "result_bs16.json", accuracy_payload(acc))
    assert parse(capsys, str(tmp_path / "result_bs16.json")) == ["bs16 top1:33.33% top5:100.00% Error@1 66.67 "
                                                                "Error@5 0.0"]


def test_accuracy_json_on_generated_data_says_so(capsys, tmp_path):
    acc = Accuracy(images=3, classes=10, topk_correct=(1, 2, 2, 3, 3), confusion=np.zeros((10, 10), int))
    write_accuracy_json(tmp_path / "result_bs1.json", accuracy_payload(acc, generated=True))
    lines = parse(capsys, str(tmp_path / "result_bs1.json"))
    assert len(lines) == 1 and lines[0].endswith("(data: generated (NOT CIFAR-10): not CIFAR-10 accuracies)")


@pytest.mark.parametrize("content, message", [
    ("hello\nworld\n", "not a perf report, pure-inference report, ais_bench log, trtexec log"),
    ("", "empty file"),
    ('{"foo": 1}', "JSON that is neither an accuracy result nor a genet perf report"),
    ('{"title": "x", \n"value": [', r"x\.txt:2: malformed JSON"),
    ('{"title": "x", "value": [{"key": "Recall", "value": "1"}]}', "no Top1..Top5 accuracy entries"),
    ('{"title": "x", "value": [{"key": "Top1 accuracy", "value": "nan%"}]}', "'nan%' is not a percentage"),
    ('{"title": "x", "value": [{"key": "Top1 accuracy", "value": "-3%"}]}', "'-3%' is not a percentage"),
    ('{"title": "x", "value": [{"key": "Top1 accuracy", "value": "many"}]}', "'many' is not a percentage"),
    ('{"batch_size": "many", "interface_throughput": 3}', "perf JSON has a malformed figure"),
    ("[e2e] throughputRate: 1, latency: 2\n[inference] throughputRate: 1, Interface throughputRate: 2, "
     "moduleLatency: 3\n", r"no \[data read\] line"),
    ("[e2e] throughputRate: 132.777, latency: 75314.4\n", r"no \[data read\] line"),
    ("[I] GPU Compute Time: min = 1 ms, max = 2 ms\n", "GPU Compute Time has no mean figure"),
    ("[INFO] throughput 1000*batchsize(1)/NPU_compute_time.mean(1.0): 1000\n" * 2, "holds 2 ais_bench summaries"),
])
def test_unrecognised_or_broken_content_is_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "x.txt"
    path.write_text(content)
    with pytest.raises(GenetError, match=message):
        read_report(path, batch_size=1)


def test_binary_and_missing_files_are_errors(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(GenetError, match=r"x\.bin: binary file"):
        read_report(tmp_path / "x.bin")
    with pytest.raises(GenetError, match=r"nothing\.txt: file not found"):
        read_report(tmp_path / "nothing.txt")


def test_perf_report_renamed_without_a_batch_size(tmp_path, capsys):
    shutil.copy(SAMPLES / "perf_vision_batchsize_1_device_0.txt", tmp_path / "perf.txt")
    with pytest.raises(GenetError, match=r"perf\.txt: cannot tell the batch size \(the file name does not say it\)"):
        main([str(tmp_path / "perf.txt")])
    assert parse(capsys, "--batch-size", "1", str(tmp_path / "perf.txt")) == ["310 bs1 fps:3239.252"]


@pytest.mark.slow
def test_seed_command_lines_as_processes(tmp_path):
    """`python3 test/parse.py result/...` from the working folder, genet not installed."""
    (tmp_path / "result").mkdir()
    shutil.copy(SAMPLES / "perf_vision_batchsize_1_device_0.txt", tmp_path / "result")
    shutil.copy(SAMPLES / "result_bs1.json", tmp_path)
    script = str(REPO / "test" / "parse.py")
    for arg, out in [("result/perf_vision_batchsize_1_device_0.txt", "310 bs1 fps:3239.252\n"),
                     ("result_bs1.json", "bs1 top1:94.22% top5:99.85% Error@1 5.78 Error@5 0.15\n")]:
        done = subprocess.run([sys.executable, script, arg], cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)
        assert (done.returncode, done.stdout, done.stderr) == (0, out, "")
    (tmp_path / "notes.txt").write_text("nothing to see\n")
    done = subprocess.run([sys.executable, script, "notes.txt"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("parse.py: error: notes.txt: not a perf report")


def test_a_sweep_file_is_one_line_as_perf_compare_takes_it(tmp_path, capsys):
    sweep = {"kind": "genet batch sweep", "backend": "onnxruntime", "device": "CPU: AMD EPYC (2 cores)",
             "best_batch": 4,
             "points": [{"batch_size": 4, "interface_throughput": 300.0},
                        {"batch_size": 1, "interface_throughput": 100.0}]}
    (tmp_path / "sweep_device_0.json").write_text(json.dumps(sweep))
    assert parse(capsys, str(tmp_path / "sweep_device_0.json")) == ["cpu sweep bs1 fps:100.0 bs4 fps:300.0 best bs4"]
    npu = {**sweep, "backend": "ascend"}
    (tmp_path / "npu.json").write_text(json.dumps(npu))
    assert parse(capsys, str(tmp_path / "npu.json")) == ["310 sweep bs1 fps:400.0 bs4 fps:1200.0 best bs4"]


def test_genet_ais_summary_is_labelled_as_its_perf_report_is(tmp_path, capsys):
    summary = {"NPU_compute_time": {"mean": 2.0}, "throughput": 8000.0, "args": {"batchsize": "16"},
               "genet": {"backend": "onnxruntime", "device": "CPU: AMD EPYC (2 cores)"}}
    (tmp_path / "s_summary.json").write_text(json.dumps(summary))
    assert parse(capsys, str(tmp_path / "s_summary.json")) == ["cpu bs16 fps:8000.0"]
