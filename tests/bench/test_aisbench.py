"""ais_bench's command line (both generations) on genet's runner: inputs, output layout, summary JSON, readers."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import genet.core.load as load_module
from genet.bench.ais_args import translate_ais_bench
from genet.bench.ais_inputs import likely_cause
from genet.cli.benchmark import main
from genet.cli.parse import main as parse_main
from genet.core.errors import GenetError, run_cli
from genet.reports.read import read_throughput
from tests.runner_helpers import direct_onnx, tiny_onnx, write_bins


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("models") / "genet_gpu.onnx")


@pytest.fixture
def dataset(tmp_path):
    info, images = write_bins(tmp_path / "data", 10)
    folder = info.parent / "prep_dataset"
    (folder / "val_label.txt").write_text("00000.bin 3\n")
    return folder, images


@pytest.mark.parametrize("argv", [
    ["--model", "m.onnx", "--loop", "10", "--batchsize", "16", "--device", "0", "--warmup_count", "3"],
    ["--om-model=m.onnx", "--loop=10", "--dym-batch", "16", "--device=0", "--warmup-count", "3"],
    ["--model", "m.onnx", "--loop", "10", "--dymBatch", "16", "--batchsize", "16", "-device_id=0", "--warmup_count",
     "3", "-om_path=m.onnx"],
], ids=["first_generation", "hyphenated", "both_agreeing"])
def test_both_generations_map_onto_the_guide_flags(argv):
    request = translate_ais_bench(argv)
    assert sorted(request.argv) == sorted(["-om_path=m.onnx", "-batch_size=16", "-device_id=0", "--warmup=3",
                                           "-round=10"])


def test_plain_guide_command_is_not_ais_bench():
    assert translate_ais_bench(["-om_path=m.onnx", "-round=3", "--device", "cpu"]) is None


@pytest.mark.parametrize("argv, message", [
    (["--model", "a.onnx", "-om_path=b.onnx"], "contradicts -om_path=b.onnx"),
    (["--model", "a.onnx", "--batchsize", "4", "-batch_size=8"], "batchsize 4 contradicts -batch_size=8"),
    (["--model", "a.onnx", "--loop", "3", "-round=5"], "loop 3 contradicts -round=5"),
    (["--model", "a.onnx", "--device", "1", "-device_id=0"], "device 1 contradicts -device_id=0"),
    (["--model", "a.onnx", "--batchsize", "4", "--dymBatch", "8"], "contradict each other"),
    (["--model", "a.onnx", "--outfmt", "CSV"], "--outfmt CSV: choose from BIN, NPY, TXT"),
    (["--model", "a.onnx", "--loop", "0"], "--loop 0: must be a positive integer"),
    (["--model", "a.onnx", "--output_dirname", "../x"], "a folder name, not a path"),
], ids=["model", "batch", "loop", "device", "batch_vs_dym", "outfmt", "loop_zero", "dirname"])
def test_contradictions_and_bad_values_are_refused(argv, message):
    with pytest.raises(GenetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        translate_ais_bench(argv)


@pytest.mark.parametrize("outfmt", ["TXT", "BIN", "NPY"])
def test_folder_input_writes_ais_bench_layout_and_summary(tmp_path, model, dataset, outfmt, capsys):
    folder, images = dataset
    out = tmp_path / "out"
    out.mkdir()
    argv = ["--model", str(model), "--input", str(folder), "--output", str(out), "--output_dirname", "run1",
            "--outfmt", outfmt, "--loop", "2", "--batchsize", "4", "--device", "0"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "skipping 1 file(s)" in captured.err and "val_label.txt" in captured.err
    assert "throughput 1000*batchsize.mean(4)/NPU_compute_time.mean(" in captured.out
    ext = outfmt.lower()
    # one file per input file, its row only: 10 inputs in batches of 4 give 10 files, not 3
    assert sorted(os.listdir(out / "run1")) == [f"{i:05d}_0.{ext}" for i in range(10)]
    expected = direct_onnx(model, images, 4)
    read = {"TXT": lambda p: np.loadtxt(p, dtype=np.float32, ndmin=2), "NPY": np.load,
            "BIN": lambda p: np.fromfile(p, dtype=np.float32).reshape(1, -1)}[outfmt]
    for i in (0, 5, 9):
        got = read(out / "run1" / f"{i:05d}_0.{ext}")
        assert got.shape == (1, expected.shape[1])
        np.testing.assert_allclose(got[0], expected[i], atol=1e-5)
    summary = json.loads((out / "run1_summary.json").read_text())
    for key in ("NPU_compute_time", "H2D_latency", "D2H_latency"):
        assert {"min", "max", "mean", "median", "percentile(99%)", "P99", "count"} <= summary[key].keys()
    compute = summary["NPU_compute_time"]
    assert compute["count"] == 6 == len(summary["npu_compute_time_list"])     # 3 batches × --loop 2
    assert compute["mean"] == pytest.approx(np.mean(summary["npu_compute_time_list"]))
    assert summary["throughput"] == pytest.approx(1000 * 4 / compute["mean"])
    assert summary["H2D_latency"]["count"] == 0          # the CPU backend has no copies to time
    assert sorted(summary["filesinfo"], key=int) == [str(i) for i in range(10)]
    assert summary["filesinfo"]["5"] == {"infiles": [os.path.join(str(folder), "00005.bin")],
                                         "outfiles": [os.path.join(str(out), "run1", f"00005_0.{ext}")]}
    assert summary["args"] == [sys.argv[0], *argv] and summary["genet"]["backend"] == "onnxruntime"


def test_comma_separated_npy_and_bin_files(tmp_path, model, dataset):
    folder, images = dataset
    np.save(tmp_path / "extra.npy", images[3])
    out = tmp_path / "out"
    out.mkdir()
    assert main(["--om-model", str(model), "--input", f"{folder / '00001.bin'},{tmp_path / 'extra.npy'}",
                 "--output", str(out), "--output-dirname", "r", "--outfmt", "NPY", "--quiet"]) == 0
    assert sorted(os.listdir(out / "r")) == ["00001_0.npy", "extra_0.npy"]
    np.testing.assert_allclose(np.load(out / "r" / "extra_0.npy")[0], direct_onnx(model, images[3:4], 1)[0],
                               atol=1e-5)


def test_default_output_folder_is_the_start_time(tmp_path, model, dataset):
    out = tmp_path / "out"
    out.mkdir()
    assert main(["--model", str(model), "--input", str(dataset[0]), "--output", str(out), "--quiet"]) == 0
    (summary,) = [n for n in os.listdir(out) if n.endswith("_summary.json")]
    stamp = summary[:-len("_summary.json")]
    assert len(stamp) == 19 and stamp[4] == stamp[7] == "_" and stamp[10] == "-" and (out / stamp).is_dir()


def _write(path, nbytes: int):
    np.zeros(nbytes, np.uint8).tofile(path)
    return path


BAD_INPUTS = [
    ("float_224", lambda d: str(_write(d / "big.bin", 3 * 224 * 224 * 4)),
     "tensorsize: 12288 filesize: 602112 not match"),
    ("uint8", lambda d: str(_write(d / "u8.bin", 3 * 32 * 32)), "uint8 pixels"),
    ("mixed_folder", lambda d: (_write(d / "a.bin", 12288), _write(d / "b.bin", 100), _write(d / "l.txt", 5),
                                str(d))[-1],
     "files of different sizes"),
    ("not_bin", lambda d: str(_write(d / "x.png", 12288)), "x.png: --input files are .bin or .npy"),
    ("missing", lambda d: str(d / "absent.bin"), "absent.bin: input file not found"),
    ("empty_folder", lambda d: (_write(d / "notes.txt", 3), str(d))[-1], "holds no .bin or .npy input files"),
]


@pytest.mark.parametrize("case, make, message", BAD_INPUTS, ids=[c for c, _, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, model, capsys, case, make, message):
    inputs = tmp_path / "in"
    inputs.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    assert run_cli(main, ["--model", str(model), "--input", make(inputs), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert os.listdir(out) == []


def test_size_mismatch_names_both_sizes_and_the_likely_cause():
    cause = likely_cause(602112, 196608, (3, 128, 128))
    assert "float32 3×224×224" in cause


def test_summary_is_read_by_parse_py_with_the_device_that_ran_it(tmp_path, model, dataset, capsys):
    out = tmp_path / "out"
    out.mkdir()
    assert main(["--model", str(model), "--input", str(dataset[0]), "--output", str(out), "--output_dirname", "s",
                 "--batchsize", "2", "--quiet"]) == 0
    capsys.readouterr()
    summary = json.loads((out / "s_summary.json").read_text())
    assert parse_main([str(out / "s_summary.json")]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("cpu bs2 ") and f"bs2 fps:{round(summary['throughput'], 3)}" in line


# The real tool's summary (ais_bench's own keys; older releases spell the 99th percentile so).
REAL_SUMMARY = {
    "filesinfo": {"0": {"infiles": ["prep/00000.bin"], "outfiles": ["out/2023_05_27-12_05_31/00000_0.bin"]}},
    "args": ["/usr/local/lib/python3.7/site-packages/ais_bench/__main__.py", "--model", "genet_bs16.om",
             "--input", "prep", "--output", "out", "--batchsize", "16", "--device", "0"],
    "NPU_compute_time": {"min": 1.4, "max": 1.9, "mean": 1.5, "median": 1.5, "percentile(99%)": 1.8, "count": 100},
    "H2D_latency": {"min": 0.1, "max": 0.2, "mean": 0.15, "median": 0.15, "percentile(99%)": 0.2, "count": 100},
    "D2H_latency": {"min": 0.01, "max": 0.02, "mean": 0.015, "median": 0.015, "percentile(99%)": 0.02, "count": 100},
    "npu_compute_time_list": [1.5] * 100, "throughput": 10666.667, "pid": 1234,
}


def test_real_tool_summary_is_one_chip_of_a_310_card(tmp_path, capsys):
    path = tmp_path / "2023_05_27-12_05_31_summary.json"
    path.write_text(json.dumps(REAL_SUMMARY))
    report = read_throughput(path)
    assert report.per_chip and report.batch_size == 16 and report.latency_ms["p99"] == 1.8
    assert parse_main([str(path)]) == 0
    assert capsys.readouterr().out.startswith("310 bs16 fps:42666.668")


@pytest.mark.parametrize("args, batch", [
    (["ais_bench", "--model", "m.om", "--dymBatch=8"], 8),
    (["ait", "benchmark", "--om-model", "m.om", "--batch-size", "4"], 4),
    (["ais_bench", "--model", "m.om", "--dymBatch", "0", "--batchsize", "2"], 2),
])
def test_batch_from_the_argv_list(tmp_path, args, batch):
    path = tmp_path / "r_summary.json"
    path.write_text(json.dumps(dict(REAL_SUMMARY, args=args, throughput=1000 * batch / 1.5)))
    assert read_throughput(path).batch_size == batch


def test_newer_p99_key_and_batch_from_the_throughput(tmp_path):
    # no batch on the command line (the model's own): ais_bench's throughput = 1000 × batch / mean ms gives it
    data = dict(REAL_SUMMARY, args=["ais_bench", "--model", "m.om"])
    data["NPU_compute_time"] = {"min": 1.4, "max": 1.9, "mean": 1.5, "median": 1.5, "P99": 1.7, "count": 100}
    path = tmp_path / "r_summary.json"
    path.write_text(json.dumps(data))
    report = read_throughput(path)
    assert report.batch_size == 16 and report.latency_ms["p99"] == 1.7
    path.write_text(json.dumps(dict(data, throughput=10333.333)))      # 15.5 images per call: not a whole batch
    with pytest.raises(GenetError, match="pass --batch-size"):
        read_throughput(path)
    assert read_throughput(path, batch_size=15).batch_size == 15


@pytest.mark.parametrize("throughput", [float("nan"), -5.0, 0.0])
def test_summary_with_a_non_positive_throughput_is_refused(tmp_path, throughput):
    path = tmp_path / "bad_summary.json"
    path.write_text(json.dumps(dict(REAL_SUMMARY, throughput=throughput)))
    with pytest.raises(GenetError, match="not a positive number"):
        read_throughput(path)


def test_pure_inference_loop_is_exactly_loop_calls_whatever_the_minimum_time(tmp_path, model, monkeypatch):
    monkeypatch.setenv("GENET_MIN_SECONDS", "5")        # a guide run would be sized up to 5 s; ais_bench's is not
    out = tmp_path / "out"
    out.mkdir()
    assert main(["--model", str(model), "--output", str(out), "--output_dirname", "r", "--loop", "3",
                 "--batchsize", "2", "--device", "0"]) == 0
    summary = json.loads((out / "r_summary.json").read_text())
    assert summary["NPU_compute_time"]["count"] == 3
    genet = summary["genet"]
    assert genet["calls"] == 3 and genet["interface_repeats"]["repeats"] == 1      # GENET_REPEATS=1 in the tests
    assert {"load_before", "load_after", "cores", "high_load", "unstable"} <= genet["stability"].keys()


def test_the_summary_gives_the_spread_over_loops_and_warns_on_a_busy_machine(tmp_path, model, dataset, capsys,
                                                                              monkeypatch):
    monkeypatch.setattr(load_module.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    monkeypatch.setattr(load_module.os, "cpu_count", lambda: 2)
    folder, _ = dataset
    out = tmp_path / "out"
    out.mkdir()
    assert main(["--model", str(model), "--input", str(folder), "--output", str(out), "--output_dirname", "r",
                 "--loop", "3", "--batchsize", "4", "--device", "0"]) == 0
    genet = json.loads((out / "r_summary.json").read_text())["genet"]
    assert genet["interface_repeats"]["repeats"] == 3 and genet["stability"]["high_load"]
    assert "[WARNING] genet: the figures may be unstable (a busy machine" in capsys.readouterr().out
