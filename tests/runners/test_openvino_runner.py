"""The optional OpenVINO backend: same logits as ONNX Runtime for fp32, int8 read from the model,
benchmark.py --backend openvino on one stream, dumps in order, and its bad inputs. Data: random or generated
by genet.data.synthetic, not CIFAR-10."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from genet.cli.benchmark import main
from genet.core.errors import GenetError, run_cli
from genet.data.synthetic import write_cifar10
from genet.runners import RunnerOptions, open_runner
from tests.runner_helpers import direct_onnx, read_dumps, tiny_onnx, write_bins

pytest.importorskip("openvino", reason="the openvino package is not installed (pip install genet[openvino])")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny fp32 model and its int8 version (calibrated on generated images)."""
    from genet.convert.quantize import QuantizeSettings, quantize_model

    folder = tmp_path_factory.mktemp("ov")
    fp32 = tiny_onnx(folder / "genet_gpu.onnx")
    data = write_cifar10(folder / "datasets", train=64, test=32, seed=3).parent
    int8 = folder / "genet_int8.onnx"
    quantize_model(fp32, data, int8, QuantizeSettings(calib=64, check=32, keep_below=True), log=lambda m: None,
                   quiet=True)
    return {"fp32": fp32, "int8": int8}


def images(count: int) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((count, 3, 32, 32), dtype=np.float32)


def test_fp32_logits_are_onnx_runtime_s_computed_in_f32(models):
    batch = images(13)
    with open_runner(models["fp32"], "openvino") as runner:
        logits, times = runner.run_timed(batch)
        assert runner.precision == "fp32" and runner.settings()["inference_precision"] == "f32"
        assert runner.name == "openvino" and "openvino" in runner.versions()
    assert logits.dtype == np.float32 and logits.shape == (13, 10) and times.compute > 0
    assert np.abs(logits - direct_onnx(models["fp32"], batch, 13)).max() <= 1e-4


def test_int8_precision_is_read_from_the_model(models):
    with open_runner(models["int8"], "openvino") as runner:
        logits = runner.run(images(4))
        assert runner.precision == "int8"
    assert logits.shape == (4, 10) and np.isfinite(logits).all()


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_are_the_compile_settings_on_one_stream(models, threads):
    from genet.runners.openvino import usable_cpus

    if threads > usable_cpus():
        pytest.skip(f"{threads} threads: this machine lets the process use {usable_cpus()} core(s)")
    with open_runner(models["fp32"], "openvino", RunnerOptions(threads=threads)) as runner:
        assert runner.settings()["inference_threads"] == threads
        assert int(runner._compiled.get_property("NUM_STREAMS")) == 1


def test_benchmark_writes_the_perf_files_of_the_openvino_backend(tmp_path, models):
    for precision in ("fp32", "int8"):
        out = tmp_path / precision
        assert main([f"-om_path={models[precision]}", "-batch_size=8", "-round=3", "--backend", "openvino",
                     "--quiet", "--output-dir", str(out)]) == 0
        details = json.loads((out / "perf_vision_batchsize_8_device_0.json").read_text())
        assert (details["backend"], details["precision"]) == ("openvino", precision)
        assert (out / "perf_vision_batchsize_8_device_0.txt").is_file()


def test_dumps_are_the_models_logits_in_order(tmp_path, models):
    info, data = write_bins(tmp_path / "data", 300)
    out = tmp_path / "result"
    assert main([f"-om_path={models['fp32']}", f"-input_text_path={info}", "-batch_size=16", "-output_binary=True",
                 "--backend", "openvino", "--quiet", "--output-dir", str(out)]) == 0
    dumps = read_dumps(out / "dumpOutput_device0", 300, binary=True)
    assert np.abs(dumps - direct_onnx(models["fp32"], data, 16)).max() <= 1e-4


@pytest.mark.parametrize("model, options, message", [
    ("genet.pth.tar", [], "--backend openvino reads .onnx files; this file is for torch"),
    ("genet_gpu.onnx", ["--device", "cuda"], "runs on the CPU only, not --device cuda"),
    ("genet_gpu.onnx", ["--precision", "fp16"], "runs fp32, not --precision fp16"),
    ("genet_gpu.onnx", ["--graph-opt", "basic"], "--graph-opt does not apply to the openvino backend"),
])
def test_bad_settings_are_one_line_and_exit_2(tmp_path, models, capsys, model, options, message):
    path = models["fp32"]
    if model != path.name:
        path = tmp_path / model
        path.write_bytes(b"weights")
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={path}", "-batch_size=4", "-round=2", "--backend", "openvino",
                          "--output-dir", str(out), *options]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_a_file_that_is_no_model_names_itself(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(GenetError, match=r"broken\.onnx: not a loadable ONNX model"):
        open_runner(bad, "openvino")


@pytest.mark.parametrize("element, dims", [(TensorProto.FLOAT, ["N", 10]), (TensorProto.DOUBLE, ["N", 3, 32, 32])])
def test_a_model_without_one_float32_image_input_is_refused(tmp_path, element, dims):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", element, dims)],
                              [helper.make_tensor_value_info("y", element, dims)])
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(GenetError, match=r"other\.onnx: expected one float32 N×C×H×W image input"):
        open_runner(path, "openvino")


def test_missing_package_says_how_to_install_it(tmp_path, models, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)          # import fails as on a machine without it
    if "genet.runners.openvino" in sys.modules:                 # imported again, without openvino
        monkeypatch.delitem(sys.modules, "genet.runners.openvino")
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={models['fp32']}", "-batch_size=4", "-round=2", "--backend", "openvino",
                          "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--backend openvino needs the openvino package: pip install genet[openvino]" in err
    assert err.count("\n") == 1 and not out.exists()
