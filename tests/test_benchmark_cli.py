"""benchmark.py: the seed's two command lines, dumps, perf reports, packed input, and every bad input."""

from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np
import pytest
import torch

from genet.checkpoint import load_model
from genet.cli.benchmark import main
from genet.dumps import PACKED_DUMP, read_packed, scan_dumps
from genet.errors import GenetError
from genet.perf import PERF_FIELDS, parse_perf_txt, seed_interface_figure
from genet.runners.onnxrt import OnnxRuntimeRunner

from conftest import REPO, TINY, run_script
from runner_helpers import direct_onnx, read_dumps, tiny_onnx, write_bins


def seed_args(model, info, batch: int = 16, binary: bool = False, device_id: int = 0) -> list[str]:
    """The seed's step-5 command line, flag for flag."""
    return ["-model_type=vision", f"-device_id={device_id}", f"-batch_size={batch}", f"-om_path={model}",
            f"-input_text_path={info}", "-input_width=32", "-input_height=32", f"-output_binary={binary}",
            "-useDvpp=False"]


def perf_json(out, batch: int, device_id: int = 0) -> dict:
    return json.loads((out / f"perf_vision_batchsize_{batch}_device_{device_id}.json").read_text())


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"dynamic": tiny_onnx(folder / "genet_gpu.onnx"), "static64": tiny_onnx(folder / "st64.onnx", 64),
            "static16": tiny_onnx(folder / "st16.onnx", 16)}


@pytest.fixture(scope="module")
def thousand(tmp_path_factory):
    """1,000 generated images: a remainder of 40 at batch 64."""
    return write_bins(tmp_path_factory.mktemp("thousand"), 1000)


@pytest.fixture
def small(tmp_path):
    return write_bins(tmp_path / "data", 40)


def test_seed_command_writes_the_seed_files(tmp_path, models, monkeypatch):
    info, data = write_bins(tmp_path, 37, relative_to=tmp_path)       # './prep_dataset/00000.bin' lines
    monkeypatch.chdir(tmp_path)
    assert main(seed_args(models["dynamic"], info.name, batch=16) + ["--quiet"]) == 0
    folder = tmp_path / "result" / "dumpOutput_device0"
    assert sorted(os.listdir(folder)) == [f"{i:05d}_1.txt" for i in range(37)]
    for name in ("00000_1.txt", "00036_1.txt"):
        text = (folder / name).read_text()
        assert text.endswith("\n") and text.count("\n") == 1 and len(text.split()) == 10
    np.testing.assert_allclose(read_dumps(folder, 37), direct_onnx(models["dynamic"], data, 16), atol=1e-6)
    assert sorted(os.listdir(tmp_path / "result")) == [
        "dumpOutput_device0", "perf_vision_batchsize_16_device_0.json", "perf_vision_batchsize_16_device_0.txt"]


def test_text_dumps_round_trip_the_binary_float32(tmp_path, models, small):
    info, _ = small
    assert main(seed_args(models["dynamic"], info, 8, binary=False)
                + ["--quiet", "--output-dir", str(tmp_path / "t")]) == 0
    assert main(seed_args(models["dynamic"], info, 8, binary=True, device_id=3)
                + ["--quiet", "--output-dir", str(tmp_path / "b")]) == 0
    as_text = read_dumps(tmp_path / "t" / "dumpOutput_device0", 40)
    as_binary = read_dumps(tmp_path / "b" / "dumpOutput_device3", 40, binary=True)
    assert as_text.tobytes() == as_binary.tobytes()          # bit for bit
    assert (tmp_path / "b" / "perf_vision_batchsize_8_device_3.txt").is_file()
    assert all(p.suffix == ".bin" for p in scan_dumps(tmp_path / "b" / "dumpOutput_device3").values())


def test_static_and_dynamic_batch_with_a_remainder(tmp_path, models, thousand):
    info, data = thousand
    for name in ("dynamic", "static64"):
        assert main(seed_args(models[name], info, 64) + ["--quiet", "--output-dir", str(tmp_path / name)]) == 0
    expected = direct_onnx(models["dynamic"], data, 64)
    for name, padding in (("dynamic", 0), ("static64", 24)):
        folder = tmp_path / name / "dumpOutput_device0"
        assert len(scan_dumps(folder)) == 1000 and len(os.listdir(folder)) == 1000
        np.testing.assert_allclose(read_dumps(folder, 1000), expected, atol=1e-5)
        details = perf_json(tmp_path / name, 64)
        assert (details["images"], details["padding_images"], details["batches"]) == (1000, padding, 16)
        assert details["computed_images"] == 1000 + padding and details["static_batch"] == (64 if padding else None)


def test_streams_give_the_same_dumps(tmp_path, models, thousand):
    info, data = thousand
    for streams in (1, 3):
        out = tmp_path / f"s{streams}"
        assert main(seed_args(models["dynamic"], info, 64) + ["--streams", str(streams), "--quiet",
                                                              "--output-dir", str(out)]) == 0
        np.testing.assert_allclose(read_dumps(out / "dumpOutput_device0", 1000), direct_onnx(models["dynamic"], data,
                                                                                               64), atol=1e-5)
        details = perf_json(out, 64)
        assert details["settings"]["streams"] == streams
        assert details["interface_throughput"] == pytest.approx(1000 / details["seconds"]["device"])


def test_static_model_refuses_another_batch_size(tmp_path, models, small):
    with pytest.raises(GenetError, match=r"st64\.onnx: the model has a fixed batch of 64, but -batch_size=16"):
        main(seed_args(models["static64"], small[0], 16) + ["--quiet", "--output-dir", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_packed_and_per_image_inputs_give_identical_dumps(tmp_path, models, small):
    info, data = small
    np.save(info.parent / "prep_dataset" / "images.npy", data)
    runs = {
        "bins": ["-input_text_path=" + str(info), "--no-packed"],
        "auto": ["-input_text_path=" + str(info)],
        "explicit": ["-input_text_path=" + str(info), "--packed-input", str(info.parent / "prep_dataset/images.npy")],
        "npy_only": ["-input_text_path=" + str(info.parent / "prep_dataset/images.npy")],
    }
    dumps = {}
    for name, inputs in runs.items():
        out = tmp_path / name
        assert main([f"-om_path={models['dynamic']}", "-batch_size=16", *inputs, "--quiet", "--output-dir", str(out),
                     "--packed-output"]) == 0
        dumps[name] = read_dumps(out / "dumpOutput_device0", 40)
        assert perf_json(out, 16)["input"]["kind"] == ("bin files" if name == "bins" else "packed")
        stems, packed = read_packed(out / "dumpOutput_device0" / PACKED_DUMP)
        assert stems == [f"{i:05d}" for i in range(40)] and packed.tobytes() == dumps[name].tobytes()
    for name in runs:
        assert dumps[name].tobytes() == dumps["bins"].tobytes(), name


def test_stale_packed_file_is_ignored_with_a_note(tmp_path, models, small, capsys):
    info, data = small
    np.save(info.parent / "prep_dataset" / "images.npy", data[::-1].copy())
    assert main(seed_args(models["dynamic"], info, 16) + ["--output-dir", str(tmp_path / "r")]) == 0
    note = capsys.readouterr().err
    assert "note: not using" in note and "not from the same preprocess run" in note and "reading the .bin" in note
    assert perf_json(tmp_path / "r", 16)["input"]["kind"] == "bin files"
    np.testing.assert_allclose(read_dumps(tmp_path / "r" / "dumpOutput_device0", 40),
                               direct_onnx(models["dynamic"], data, 16), atol=1e-6)


def test_pure_inference_seed_command(tmp_path, models, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["-device_id=0", f"-om_path={models['dynamic']}", "-round=30", "-batch_size=4", "--quiet"]) == 0
    assert sorted(os.listdir(tmp_path / "result")) == ["perf_vision_batchsize_4_device_0.json",
                                                       "perf_vision_batchsize_4_device_0.txt"]
    details = perf_json(tmp_path / "result", 4)
    assert details["mode"] == "pure inference" and details["images"] == 120 and details["batches"] == 30
    assert details["input"]["kind"] == "random" and details["dumps"] is None
    text = (tmp_path / "result" / "perf_vision_batchsize_4_device_0.txt").read_text()
    assert seed_interface_figure(text) == pytest.approx(details["interface_throughput"], rel=1e-5)


def test_perf_report_figures_and_the_seed_parser_rule(tmp_path, models, small):
    out = tmp_path / "r"
    assert main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(out)]) == 0
    text = (out / "perf_vision_batchsize_16_device_0.txt").read_text()
    assert [line.split("]")[0] + "]" for line in text.splitlines()] == [
        "[e2e]", "[data read]", "[preprocess]", "[inference]", "[postprocess]"]
    details = perf_json(out, 16)
    report = parse_perf_txt(text)
    for name in PERF_FIELDS:
        assert getattr(report, name) == pytest.approx(details[name], rel=1e-5), name
    assert seed_interface_figure(text) == pytest.approx(details["interface_throughput"], rel=1e-5)
    seconds = details["seconds"]
    assert details["e2e_latency_ms"] == pytest.approx(seconds["e2e"] * 1000)
    assert details["e2e_throughput"] == pytest.approx(40 / seconds["e2e"])
    assert details["interface_throughput"] == pytest.approx(40 / seconds["device"])
    assert details["inference_latency_ms"] == pytest.approx(seconds["inference_call_busy"] * 1000 / 40, rel=1e-4)
    latency = details["batch_latency_ms"]["device"]
    assert latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert details["backend"] == "onnxruntime" and details["precision"] == "fp32"
    assert details["versions"]["onnxruntime"] and details["device"].startswith("CPU")
    assert details["command_line"][1:] == seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir",
                                                                                      str(out)]


def test_pth_tar_checkpoint_with_the_seed_command(tmp_path, make_checkpoint, small):
    info, data = small
    ckpt = make_checkpoint(TINY)
    out = tmp_path / "r"
    assert main(seed_args(ckpt, info, 16) + ["--quiet", "--output-dir", str(out)]) == 0
    model, _ = load_model(ckpt, log=None)
    with torch.no_grad():
        expected = model(torch.from_numpy(data)).numpy()
    np.testing.assert_allclose(read_dumps(out / "dumpOutput_device0", 40), expected, atol=1e-5)
    details = perf_json(out, 16)
    assert details["backend"] == "torch" and details["versions"]["torch"] == torch.__version__
    assert main(seed_args(ckpt, info, 16) + ["--precision", "bf16", "--channels-last", "--threads", "1", "--quiet",
                                             "--output-dir", str(out)]) == 0
    details = perf_json(out, 16)
    assert details["precision"] == "bf16" and details["settings"]["channels_last"] is True
    assert details["settings"]["threads"] == 1
    low = read_dumps(out / "dumpOutput_device0", 40)
    assert (low.argmax(1) == expected.argmax(1)).mean() >= 0.9


def test_long_options_reach_the_runner_and_the_report(tmp_path, models, small):
    out = tmp_path / "r"
    assert main(seed_args(models["dynamic"], small[0], 16) + [
        "--backend", "onnxruntime", "--device", "cpu", "--providers", "cpu", "--threads", "1", "--graph-opt", "basic",
        "--streams", "3", "--warmup", "0", "--writer-threads", "1", "--quiet", "--output-dir", str(out)]) == 0
    details = perf_json(out, 16)
    assert details["settings"] == {"providers": ["CPUExecutionProvider"], "intra_op_threads": 1, "streams": 3,
                                   "graph_optimization": "basic"}
    assert details["warmup_calls"] == 0 and details["seconds"]["warmup"] < 0.01


def test_pure_inference_on_a_static_model_and_another_seed(tmp_path, models):
    outputs = []
    for seed in ("0", "1"):
        out = tmp_path / seed
        assert main(["-om_path=" + str(models["static16"]), "-round=3", "-batch_size=16", "--seed", seed, "--quiet",
                     "--output-dir", str(out)]) == 0
        details = perf_json(out, 16)
        assert (details["images"], details["padding_images"], details["input"]["kind"]) == (48, 0, "random")
        outputs.append(details["input"]["source"])
    assert outputs == ["48 random standard-normal images (seed 0)", "48 random standard-normal images (seed 1)"]


def test_output_dir_that_is_a_file_is_an_error(tmp_path, models, small):
    blocker = tmp_path / "result"
    blocker.write_text("not a folder")
    with pytest.raises(GenetError, match=r"result: exists and is not a folder \(--output-dir\)"):
        main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(blocker)])
    assert blocker.read_text() == "not a folder"


def test_failed_run_leaves_the_previous_results_untouched(tmp_path, models, small, monkeypatch):
    out = tmp_path / "r"
    assert main(seed_args(models["dynamic"], small[0], 8) + ["--quiet", "--output-dir", str(out)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real_run, calls = OnnxRuntimeRunner.run_timed, []

    def failing_on_third_batch(self, batch):
        calls.append(1)
        if len(calls) == 2 + 3:          # two warm-up calls, then the third batch
            raise GenetError("device lost")
        return real_run(self, batch)

    monkeypatch.setattr(OnnxRuntimeRunner, "run_timed", failing_on_third_batch)
    with pytest.raises(GenetError, match="device lost"):
        main(seed_args(models["dynamic"], small[0], 8) + ["--quiet", "--output-dir", str(out)])
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and sorted(os.listdir(out)) == sorted({str(p.parts[0]) for p in before})


def _corrupt(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


BAD_INPUTS = [
    # (edit of the data set or command line, expected message)
    ("missing_bin", r"prep_bin\.info:3: input file .*00002\.bin not found"),
    ("short_bin", r"prep_bin\.info:2: .*00001\.bin is 100 bytes, expected 12288 \(float32 3×32×32\)"),
    ("malformed_line", r"prep_bin\.info:2: malformed info line"),
    ("line_size", r"prep_bin\.info:1: lists a 64×64 image, but the run is for 32×32 inputs"),
    ("duplicate_stem", r"prep_bin\.info:2: .* same name as line 1"),
    ("empty_info", r"prep_bin\.info: info file lists no inputs"),
    ("no_info", r"nowhere\.info: info file not found"),
    ("flag_width", r"the model takes 32×32 images, but -input_width=64"),
    ("batch_zero", r"-batch_size=0: must be ≥ 1"),
    ("batch_negative", r"-batch_size=-4: must be ≥ 1"),
    ("missing_model", r"absent\.onnx: model file not found"),
    ("corrupt_onnx", r"garbage\.onnx: not a loadable ONNX model"),
    ("corrupt_checkpoint", r"garbage\.pth\.tar: .*checkpoint"),
    ("unknown_backend", r"--backend tensorflow: unknown \(choose from auto, onnxruntime, torch, ascend\)"),
    ("backend_mismatch",
     r"genet_gpu\.onnx: --backend torch reads \.pth\.tar, \.pth, \.pt files; this file is for onnxruntime"),
    ("cuda_providers", r"has no CUDAExecutionProvider on this machine"),
    ("streams_negative", r"--streams=-1: must be ≥ 0"),
    ("streams_on_torch", r"--streams 2 needs a CUDA device"),
    ("dvpp", r"-useDvpp=True: DVPP is the Ascend JPEG decoder"),
    ("model_type", r"-model_type=nlp: only vision"),
    ("bool_value", r"argument -output_binary: expected True or False, got 'maybe'"),
    ("no_input", r"give -input_text_path=INFO .* or -round=N"),
    ("round_and_input", r"-round is pure-inference mode"),
    ("round_zero", r"-round=0: must be ≥ 1"),
    ("om_here", r"genet_bs16\.om: an \.om model runs only on an Ascend host with CANN"),
]


@pytest.mark.parametrize("case, message", BAD_INPUTS, ids=[case for case, _ in BAD_INPUTS])
def test_bad_input_is_one_error_and_writes_nothing(tmp_path, models, small, case, message, monkeypatch,
                                                   make_checkpoint):
    info, _ = small
    model = models["dynamic"]
    args = seed_args(model, info, 16)
    bins = info.parent / "prep_dataset"
    lines = info.read_text().splitlines(keepends=True)
    if case == "missing_bin":
        (bins / "00002.bin").unlink()
    elif case == "short_bin":
        (bins / "00001.bin").write_bytes(b"\0" * 100)
    elif case == "malformed_line":
        info.write_text(lines[0] + "1 just-a-path\n" + "".join(lines[2:]))
    elif case == "line_size":
        info.write_text(lines[0].replace(" 32 32", " 64 64") + "".join(lines[1:]))
    elif case == "duplicate_stem":
        other = tmp_path / "other"
        other.mkdir()
        shutil.copy(bins / "00000.bin", other / "00000.bin")
        info.write_text(lines[0] + f"1 {other / '00000.bin'} 32 32\n")
    elif case == "empty_info":
        info.write_text("\n")
    elif case == "no_info":
        args = seed_args(model, tmp_path / "nowhere.info", 16)
    elif case == "flag_width":
        args = [a.replace("-input_width=32", "-input_width=64") for a in args]
    elif case in ("batch_zero", "batch_negative"):
        args = seed_args(model, info, 0 if case == "batch_zero" else -4)
    elif case == "missing_model":
        args = seed_args(tmp_path / "absent.onnx", info, 16)
    elif case == "corrupt_onnx":
        args = seed_args(_corrupt(tmp_path, "garbage.onnx", b"\x01\x02not onnx"), info, 16)
    elif case == "corrupt_checkpoint":
        args = seed_args(_corrupt(tmp_path, "garbage.pth.tar", b"PK\x03\x04truncated"), info, 16)
    elif case == "unknown_backend":
        args += ["--backend", "tensorflow"]
    elif case == "backend_mismatch":
        args += ["--backend", "torch"]
    elif case == "cuda_providers":
        args += ["--providers", "cuda"]
    elif case == "streams_negative":
        args += ["--streams", "-1"]
    elif case == "streams_on_torch":
        args = seed_args(make_checkpoint(TINY), info, 16) + ["--streams", "2", "--device", "cpu"]
    elif case == "dvpp":
        args = [a.replace("-useDvpp=False", "-useDvpp=True") for a in args]
    elif case == "model_type":
        args = [a.replace("=vision", "=nlp") for a in args]
    elif case == "bool_value":
        args = [a.replace("-output_binary=False", "-output_binary=maybe") for a in args]
    elif case == "no_input":
        args = [f"-om_path={model}", "-batch_size=4"]
    elif case == "round_and_input":
        args += ["-round=3"]
    elif case == "round_zero":
        args = [f"-om_path={model}", "-batch_size=4", "-round=0"]
    elif case == "om_here":
        monkeypatch.setitem(sys.modules, "ais_bench", None)
        args = seed_args(_corrupt(tmp_path, "genet_bs16.om", b"om"), info, 16)
    out = tmp_path / "result"
    with pytest.raises(GenetError, match=message) as caught:
        main(args + ["--quiet", "--output-dir", str(out)])
    assert "\n" not in str(caught.value)
    assert not out.exists()


def test_cuda_device_where_there_is_none(tmp_path, make_checkpoint, small):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(GenetError, match="--device cuda asked for, but torch .* sees no CUDA device"):
        main(seed_args(make_checkpoint(TINY), small[0], 16) + ["--device", "cuda", "--quiet", "--output-dir",
                                                                str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for flag in ("-model_type", "-device_id", "-batch_size", "-om_path", "-input_text_path", "-input_width",
                 "-input_height", "-output_binary", "-useDvpp", "-round", "--backend", "--precision", "--providers",
                 "--threads", "--graph-opt", "--channels-last", "--cuda-graphs", "--compile", "--output-dir",
                 "--packed-input", "--packed-output", "--quiet", "--warmup"):
        assert flag in text, flag


def test_progress_bar_on_stderr_unless_quiet(tmp_path, models, small, capsys):
    assert main(seed_args(models["dynamic"], small[0], 16) + ["--output-dir", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    assert "40/40" in captured.err and "[e2e] throughputRate" in captured.out
    assert main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == ""


def test_script_runs_the_seed_command_and_reports_errors_in_one_line(tmp_path, models, small):
    info, data = small
    done = run_script(str(REPO / "benchmark.py"), *seed_args(models["static16"], info, 16),
                      "--output-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[inference] throughputRate" in done.stdout and "40/40" in done.stderr
    np.testing.assert_allclose(read_dumps(tmp_path / "r" / "dumpOutput_device0", 40),
                               direct_onnx(models["static16"], data, 16), atol=1e-6)
    failed = run_script(str(REPO / "benchmark.py"),
                        *seed_args(tmp_path / "absent.onnx", info, 16), cwd=tmp_path)
    assert failed.returncode == 2 and failed.stdout == ""
    assert failed.stderr.strip().splitlines() == [
        f"benchmark.py: error: {tmp_path / 'absent.onnx'}: model file not found"]
    assert not (tmp_path / "result").exists()
