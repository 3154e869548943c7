"""benchmark.py: the seed's two command lines, dumps, perf reports, packed input, and every bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import genet.core.console as console
import genet.formats.dumps as dumps
from genet.bench import sources
from genet.cli.benchmark import main
from genet.core.errors import GenetError, Terminated, run_cli
from genet.formats.dumps import PACKED_DUMP, read_packed, scan_dumps
from genet.formats.perf_report import PERF_FIELDS, parse_perf_txt, seed_interface_figure
from genet.model.checkpoint import load_model
from genet.runners.onnxrt import OnnxRuntimeRunner
from tests.conftest import REPO, TINY, run_script
from tests.runner_helpers import direct_onnx, read_dumps, tiny_onnx, write_bins


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
                + ["--quiet", "--output-dir", str(tmp_path / "b"), "--device", "cpu"]) == 0
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


def test_static_model_refuses_another_batch_size(tmp_path, models, small):
    with pytest.raises(GenetError, match=r"st64\.onnx: the model has a fixed batch of 64, but -batch_size=16"):
        main(seed_args(models["static64"], small[0], 16) + ["--quiet", "--output-dir", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_packed_and_per_image_inputs_give_identical_dumps(tmp_path, models, small, monkeypatch):
    info, data = small
    np.save(info.parent / "prep_dataset" / "images.npy", data)
    # proven identical
    monkeypatch.setattr(sources, "check_packed", lambda packed, bins: None)
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


@pytest.mark.parametrize("verdict", ["unproven", "no manifest"])
def test_a_packed_file_not_proven_identical_is_not_used(tmp_path, models, small, capsys, monkeypatch, verdict):
    """images.npy beside the .bin files, equal to them on the first, middle and last rows only."""
    info, data = small
    changed = data.copy()
    changed[1:19] = changed[21:39] = 0.0
    packed = info.parent / "prep_dataset" / "images.npy"
    np.save(packed, changed)
    seen = []
    if verdict == "unproven":
        monkeypatch.setattr(sources, "check_packed",
                            lambda path, bins: seen.append((path, list(bins))) or "no manifest")
    assert main(seed_args(models["dynamic"], info, 16) + ["--output-dir", str(tmp_path / "r")]) == 0
    note = capsys.readouterr().err
    assert "note: not using" in note and "reading the .bin files" in note
    assert perf_json(tmp_path / "r", 16)["input"]["kind"] == "bin files"
    np.testing.assert_allclose(read_dumps(tmp_path / "r" / "dumpOutput_device0", 40),
                               direct_onnx(models["dynamic"], data, 16), atol=1e-6)
    assert ("no manifest" if verdict == "unproven" else "packed.json") in note
    if verdict == "unproven":
        assert seen == [(packed, [line.split()[1] for line in info.read_text().splitlines()])]


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
        "[e2e]", "[data read]", "[preprocess]", "[inference]", "[postprocess]", "[genet]"]
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
        "--warmup", "0", "--quiet", "--output-dir", str(out)]) == 0
    details = perf_json(out, 16)
    assert details["settings"] == {"providers": ["CPUExecutionProvider"], "intra_op_threads": 1,
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
    assert outputs == ["48 random standard-normal images (seed 0; 48 distinct)",
                       "48 random standard-normal images (seed 1; 48 distinct)"]


def test_output_dir_that_is_a_file_is_an_error(tmp_path, models, small):
    blocker = tmp_path / "result"
    blocker.write_text("not a folder")
    with pytest.raises(GenetError, match="result: exists and is not a folder"):
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


def _rewrite_info(case, edit):
    lines = case.info.read_text().splitlines(keepends=True)
    case.info.write_text(edit(lines))
    return case.args


def _other_folder_duplicate(case):
    other = case.tmp_path / "other"
    other.mkdir()
    shutil.copy(case.bins / "00000.bin", other / "00000.bin")
    return _rewrite_info(case, lambda lines: lines[0] + f"1 {other / '00000.bin'} 32 32\n")


def _replace(old, new):
    return lambda case: [a.replace(old, new) for a in case.args]


def _om_without_ais_bench(case):
    case.monkeypatch.setitem(sys.modules, "ais_bench", None)
    return seed_args(_corrupt(case.tmp_path, "genet_bs16.om", b"om"), case.info, 16)


# (case, how it changes the data set or the seed's command line, a fragment of the expected message)
BAD_INPUTS = [
    ("missing_bin", lambda c: (c.bins / "00002.bin").unlink() or c.args, "00002.bin not found"),
    ("short_bin", lambda c: (c.bins / "00001.bin").write_bytes(b"\0" * 100) and c.args, "is 100 bytes, expected 12288"),
    ("malformed_line", lambda c: _rewrite_info(c, lambda ls: ls[0] + "1 just-a-path\n" + "".join(ls[2:])),
     "prep_bin.info:2: malformed info line"),
    ("line_size", lambda c: _rewrite_info(c, lambda ls: ls[0].replace(" 32 32", " 64 64") + "".join(ls[1:])),
     "lists a 64×64 image"),
    ("duplicate_stem", _other_folder_duplicate, "same name as line 1"),
    ("empty_info", lambda c: _rewrite_info(c, lambda ls: "\n"), "info file lists no inputs"),
    ("no_info", lambda c: seed_args(c.model, c.tmp_path / "nowhere.info", 16), "info file not found"),
    ("flag_width", _replace("-input_width=32", "-input_width=64"), "but -input_width=64"),
    ("width_zero", _replace("-input_width=32", "-input_width=0"), "-input_width=0: must be ≥ 1"),
    ("batch_zero", lambda c: seed_args(c.model, c.info, 0), "-batch_size=0: must be ≥ 1"),
    ("batch_negative", lambda c: seed_args(c.model, c.info, -4), "-batch_size=-4: must be ≥ 1"),
    ("device_negative", _replace("-device_id=0", "-device_id=-1"), "not a device number"),
    ("missing_model", lambda c: seed_args(c.tmp_path / "absent.onnx", c.info, 16), "model file not found"),
    ("corrupt_onnx", lambda c: seed_args(_corrupt(c.tmp_path, "garbage.onnx", b"\x01\x02not onnx"), c.info, 16),
     "not a loadable ONNX model"),
    ("corrupt_checkpoint",
     lambda c: seed_args(_corrupt(c.tmp_path, "garbage.pth.tar", b"PK\x03\x04truncated"), c.info, 16), "checkpoint"),
    ("unknown_backend", lambda c: c.args + ["--backend", "tensorflow"], "invalid choice: 'tensorflow'"),
    ("unknown_precision", lambda c: c.args + ["--precision", "fp8"], "invalid choice: 'fp8'"),
    ("backend_mismatch", lambda c: c.args + ["--backend", "torch"], "--backend torch reads .pth.tar"),
    ("cuda_providers", lambda c: c.args + ["--providers", "cuda"], "has no CUDAExecutionProvider"),
    ("threads_negative", lambda c: c.args + ["--threads", "-2"], "--threads=-2: must be ≥ 0"),
    ("warmup_negative", lambda c: c.args + ["--warmup", "-1"], "--warmup=-1: must be ≥ 0"),
    ("dvpp", _replace("-useDvpp=False", "-useDvpp=True"), "DVPP is the Ascend JPEG decoder"),
    ("model_type", _replace("=vision", "=nlp"), "invalid choice: 'nlp'"),
    ("bool_value", _replace("-output_binary=False", "-output_binary=maybe"), "expected True or False, got 'maybe'"),
    ("no_input", lambda c: [f"-om_path={c.model}", "-batch_size=4"], "give -input_text_path=INFO"),
    ("round_and_input", lambda c: c.args + ["-round=3"], "-round is pure-inference mode"),
    ("round_zero", lambda c: [f"-om_path={c.model}", "-batch_size=4", "-round=0"], "-round=0: must be ≥ 1"),
    ("om_here", _om_without_ais_bench, "runs only on an Ascend host with CANN"),
    ("output_is_the_bins", lambda c: c.args + ["--output-dir", str(c.bins)], "the output folder is the input"),
    ("output_holds_the_model", lambda c: c.args + ["--output-dir", str(c.model.parent)], "holds the input"),
]


@pytest.mark.parametrize("case, edit, message", BAD_INPUTS, ids=[case for case, _, _ in BAD_INPUTS])
def test_bad_input_is_one_error_and_writes_nothing(tmp_path, models, small, case, edit, message, monkeypatch,
                                                   make_checkpoint):
    info, _ = small
    context = SimpleNamespace(tmp_path=tmp_path, info=info, bins=info.parent / "prep_dataset", model=models["dynamic"],
                              args=seed_args(models["dynamic"], info, 16), monkeypatch=monkeypatch,
                              make_checkpoint=make_checkpoint)
    args = edit(context)
    before = _tree(tmp_path, models["dynamic"].parent)
    with pytest.raises(GenetError, match=re.escape(message)) as caught:
        main(["--quiet", "--output-dir", str(tmp_path / "result")] + args)
    assert "\n" not in str(caught.value)
    assert _tree(tmp_path, models["dynamic"].parent) == before


def _tree(*folders) -> set:
    """Every path under ``folders``: a failed run must add none."""
    return {path for folder in folders for path in folder.rglob("*")}


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
                 "--packed-input", "--packed-output", "--quiet", "--warmup", "--allow-non-finite", "exit status"):
        assert flag in text, flag


def test_progress_bar_on_stderr_unless_quiet(tmp_path, models, small, capsys, monkeypatch):
    monkeypatch.setattr(console, "stderr_is_terminal", lambda: True)
    assert main(seed_args(models["dynamic"], small[0], 16) + ["--output-dir", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    assert "benchmark:" in captured.err and "/40" in captured.err and "[e2e] throughputRate" in captured.out
    assert main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_script_runs_the_seed_command_and_reports_errors_in_one_line(tmp_path, models, small):
    info, data = small
    done = run_script(str(REPO / "benchmark.py"), *seed_args(models["static16"], info, 16),
                      "--output-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # stderr is a pipe here: no progress bar in it (genet.core.console.progress_bar)
    assert "[inference] throughputRate" in done.stdout and "/40" not in done.stderr
    np.testing.assert_allclose(read_dumps(tmp_path / "r" / "dumpOutput_device0", 40),
                               direct_onnx(models["static16"], data, 16), atol=1e-6)
    failed = run_script(str(REPO / "benchmark.py"),
                        *seed_args(tmp_path / "absent.onnx", info, 16), cwd=tmp_path)
    assert failed.returncode == 2 and failed.stdout == ""
    assert failed.stderr.strip().splitlines() == [
        f"benchmark.py: error: {tmp_path / 'absent.onnx'}: model file not found"]
    assert not (tmp_path / "result").exists()


def _nan_rows(monkeypatch, rows):
    """Make the runner return NaN / Inf logits for the images ``rows`` of each batch call."""
    real_run = OnnxRuntimeRunner.run_timed

    def poisoned(self, batch):
        logits, times = real_run(self, batch)
        logits = logits.copy()
        logits[rows, 0] = np.nan
        logits[rows, 1] = np.inf
        return logits, times

    monkeypatch.setattr(OnnxRuntimeRunner, "run_timed", poisoned)


def test_non_finite_outputs_fail_the_run_but_keep_the_evidence(tmp_path, models, small, monkeypatch, capsys):
    _nan_rows(monkeypatch, [0, 3])                  # 2 images of each batch of 16: 3 batches → 6 (last has 8 rows)
    out = tmp_path / "r"
    assert main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(out)]) == 3
    err = capsys.readouterr().err
    assert "FAILED: 6 of 40 outputs hold NaN or infinite logits" in err and len(err.strip().splitlines()) == 1
    assert perf_json(out, 16)["non_finite_outputs"] == 6
    assert "nan inf" in (out / "dumpOutput_device0" / "00000_1.txt").read_text()
    assert main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(out),
                                                              "--allow-non-finite"]) == 0
    assert "kept going" in capsys.readouterr().err


def test_a_sweep_with_non_finite_outputs_fails_too(tmp_path, models, monkeypatch, capsys):
    _nan_rows(monkeypatch, [0])
    argv = ["-om_path=" + str(models["dynamic"]), "-round=2", "-batch_size=1,4", "--quiet", "--output-dir",
            str(tmp_path)]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.count("FAILED") == 2 and "2 of 2 outputs hold NaN" in err and "2 of 8 outputs hold NaN" in err
    assert main(argv + ["--allow-non-finite"]) == 0


def test_finite_outputs_are_counted_as_zero(tmp_path, models):
    assert main(["-om_path=" + str(models["dynamic"]), "-round=2", "-batch_size=4", "--quiet", "--output-dir",
                 str(tmp_path)]) == 0
    assert perf_json(tmp_path, 4)["non_finite_outputs"] == 0


def _snapshot(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("blocked", ["perf_vision_batchsize_16_device_0.json", "perf_vision_batchsize_16_device_0.txt"])
def test_a_perf_path_that_is_a_folder_stops_the_run_before_inference(tmp_path, models, small, monkeypatch, blocked):
    out = tmp_path / "r"
    assert main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(out)]) == 0
    (out / blocked).unlink()
    (out / blocked).mkdir()
    before = _snapshot(out)
    calls = []
    monkeypatch.setattr(OnnxRuntimeRunner, "run_timed", lambda self, batch: calls.append(1))
    with pytest.raises(GenetError, match="is a folder"):
        main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(out)])
    assert calls == [] and _snapshot(out) == before and sorted(p.name for p in out.iterdir() if p.name[0] == ".") == []


def test_a_dump_folder_holding_user_files_stops_the_run_before_inference(tmp_path, models, small, monkeypatch):
    out = tmp_path / "r"
    (out / "dumpOutput_device0").mkdir(parents=True)
    (out / "dumpOutput_device0" / "notes.txt").write_text("mine")
    calls = []
    monkeypatch.setattr(OnnxRuntimeRunner, "run_timed", lambda self, batch: calls.append(1))
    with pytest.raises(GenetError, match="holds files genet did not write"):
        main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(out)])
    assert calls == [] and _snapshot(out) == {"dumpOutput_device0/notes.txt": b"mine"}


@pytest.mark.parametrize("failing", ["device_0.txt", "device_0.json", "dumpOutput_device0"])
def test_a_failed_commit_keeps_the_old_dumps_and_reports_together(tmp_path, models, small, monkeypatch, failing):
    out = tmp_path / "r"
    assert main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(out)]) == 0
    before = _snapshot(out)
    real_replace, real_rename = os.replace, os.rename

    failed = []

    def failing_rename(real):
        def rename(src, dst):
            if str(dst).endswith(failing) and not failed:          # once: putting the old one back works
                failed.append(dst)
                raise OSError(28, "No space left on device", str(src), None, str(dst))
            return real(src, dst)
        return rename

    _nan_rows(monkeypatch, [0])             # the new dumps differ from the old ones
    monkeypatch.setattr(os, "replace", failing_rename(real_replace))
    monkeypatch.setattr(os, "rename", failing_rename(real_rename))
    with pytest.raises(GenetError, match=f"{failing}: cannot write: No space left"):
        main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(out)])
    assert _snapshot(out) == before and not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("where", ["dump writer", "report"])
def test_disk_full_names_the_file(tmp_path, models, small, monkeypatch, where):
    out = tmp_path / "r"
    assert main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(out)]) == 0
    before = _snapshot(out)
    if where == "dump writer":
        def full(path, data):
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(dumps, "write_file", full)
        fragment = "dumpOutput_device0/00000_1.txt: cannot write: No space left"
    else:
        def full(self, text, encoding=None):
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(Path, "write_text", full)
        fragment = "perf_vision_batchsize_16_device_0.json: cannot write: No space left"
    with pytest.raises(GenetError, match=fragment):
        main(seed_args(models["dynamic"], small[0], 16) + ["--quiet", "--output-dir", str(out)])
    assert _snapshot(out) == before and not [p for p in out.iterdir() if p.name.startswith(".")]


def test_sigterm_during_a_run_keeps_the_old_outputs_and_stops_every_thread(tmp_path, models, thousand, monkeypatch):
    out = tmp_path / "r"
    args = seed_args(models["dynamic"], thousand[0], 16) + ["--quiet", "--output-dir", str(out)]
    assert main(args) == 0
    before = _snapshot(out)
    real_run, calls = OnnxRuntimeRunner.run_timed, []

    def terminated_mid_run(self, batch):
        calls.append(1)
        if len(calls) == 30:
            raise Terminated(signal.SIGTERM)
        return real_run(self, batch)

    monkeypatch.setattr(OnnxRuntimeRunner, "run_timed", terminated_mid_run)
    assert run_cli(main, args) == 128 + signal.SIGTERM
    assert _snapshot(out) == before and not [p for p in out.iterdir() if p.name.startswith(".")]
    assert not [t.name for t in threading.enumerate() if t.name.startswith("genet-")]
