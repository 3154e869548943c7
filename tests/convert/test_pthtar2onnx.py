"""pthtar2onnx.py: export parity, dynamic and static batch, the graph, and every bad-input path."""

from __future__ import annotations

import argparse
import os
import zipfile

import numpy as np
import onnx
import pytest
import torch

from genet.cli.pthtar2onnx import main
from genet.convert.export import onnx_session
from genet.core.errors import run_cli
from genet.model.checkpoint import load_model
from genet.model.network import build_model
from genet.model.variant import Variant
from tests.conftest import TINY, run_script


def run_onnx(path, images: np.ndarray) -> np.ndarray:
    return onnx_session(path).run(["class"], {"image": images})[0]


@pytest.mark.parametrize("variant", [
    Variant(depth=10, width=1),
    pytest.param(Variant(depth=10, width=2, extra_params=True), marks=pytest.mark.slow),
    pytest.param(Variant(depth=10, width=2, extra_params=True, mlp=True), marks=pytest.mark.slow),
    Variant(depth=10, width=1, extent=2, extra_params=True),
    pytest.param(Variant(depth=10, width=1, extent=4, extra_params=True), marks=pytest.mark.slow),
    pytest.param(Variant(depth=10, width=1, extent=8, extra_params=True), marks=pytest.mark.slow),
])
def test_export_matches_pytorch_with_a_dynamic_batch(make_checkpoint, tmp_path, capsys, variant):
    ckpt = make_checkpoint(variant)
    out = tmp_path / "genet_gpu.onnx"
    assert main([str(ckpt), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "verify bs=1" in printed and "verify bs=16" in printed and "top-1 agreement 16/16" in printed
    model, _ = load_model(ckpt, log=None)
    for batch in (1, 7):
        images = np.random.default_rng(batch).standard_normal((batch, 3, 32, 32), dtype=np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(images)).numpy()
        got = run_onnx(out, images)
        assert got.shape == (batch, 10)
        assert np.abs(got - expected).max() <= 1e-4


def test_theta_minus_extent_comes_from_the_flag(make_checkpoint, tmp_path):
    variant = Variant(depth=10, width=1, extent=4, mlp=True)
    ckpt = make_checkpoint(variant)
    out = tmp_path / "e4.onnx"
    assert main([str(ckpt), "-o", str(out), "--extent", "4"]) == 0
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "AveragePool" in ops and "Resize" in ops


# Written here, independently of genet.convert.export: the ops a GENet graph is made of, and ops that
# must never reach a deployed graph.
GENET_OPS = {"Conv", "BatchNormalization", "Relu", "Add", "Mul", "Sigmoid", "GlobalAveragePool", "Gemm", "Flatten"}
OPTIONAL_OPS = {"Identity", "Constant", "Resize", "AveragePool", "Reshape", "Shape", "Gather", "Unsqueeze",
                "Concat", "Cast", "Slice"}
TRAINING_OPS = {"Dropout", "BatchNormalizationTraining", "Gradient", "RandomNormal", "RandomUniform"}


def test_graph_is_opset_11_inference_only_with_named_io(make_checkpoint, tmp_path):
    out = tmp_path / "g.onnx"
    main([str(make_checkpoint(TINY)), "-o", str(out), "--no-verify"])
    proto = onnx.load(str(out))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [11]
    ops = {n.op_type for n in proto.graph.node}
    assert GENET_OPS <= ops and ops <= GENET_OPS | OPTIONAL_OPS and not ops & TRAINING_OPS
    # Eval-mode BatchNormalization has one output; training mode adds the running statistics.
    assert all(len(n.output) == 1 for n in proto.graph.node if n.op_type == "BatchNormalization")
    (inp,), (outp,) = proto.graph.input, proto.graph.output
    assert inp.name == "image" and outp.name == "class"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims[1:] == [3, 32, 32] and isinstance(dims[0], str)


def test_static_batch(make_checkpoint, tmp_path):
    out = tmp_path / "s.onnx"
    assert main([str(make_checkpoint(TINY)), "-o", str(out), "--batch-size", "4"]) == 0
    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [4, 3, 32, 32]
    assert run_onnx(out, np.zeros((4, 3, 32, 32), np.float32)).shape == (4, 10)


@pytest.mark.slow
def test_seed_wrn_16_8_export_verifies_within_tolerance(make_checkpoint, tmp_path):
    ckpt = make_checkpoint(Variant(), seed=3)
    result = run_script("pthtar2onnx.py", str(ckpt), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "WRN-16-8, 10 classes, GE-θ⁻ global" in result.stdout
    deltas = [float(line.split("max |Δ| = ")[1].split(",")[0]) for line in result.stdout.splitlines()
              if line.startswith("verify")]
    assert len(deltas) == 2 and max(deltas) <= 1e-4
    assert (tmp_path / "genet_gpu.onnx").is_file()        # the seed's default output name


def assert_clean_failure(argv, fragment, tmp_path, capsys):
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err, err
    assert not list(tmp_path.rglob("*.onnx")), "an .onnx was left behind"
    assert not [p for p in tmp_path.rglob(".*tmp*")], "a temporary file was left behind"


def _zip_without_data_pkl(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x/readme.txt", "hi")


@pytest.mark.parametrize("make, fragment", [
    (lambda p: None, "nope.pth.tar: no such file"),
    (lambda p: p.write_text("not a checkpoint"), "neither a torch zip checkpoint nor a pickle"),
    (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4000)), "neither a torch zip checkpoint nor a pickle"),
    (_zip_without_data_pkl, "zip archive without data.pkl"),
])
def test_cli_files_that_are_not_checkpoints(tmp_path, capsys, make, fragment):
    path = tmp_path / "nope.pth.tar"
    make(path)
    assert_clean_failure([str(path), "-o", str(tmp_path / "m.onnx")], fragment, tmp_path, capsys)


def test_cli_an_onnx_file_given_as_the_checkpoint_is_named(make_checkpoint, tmp_path, capsys):
    model = tmp_path / "genet_gpu.onnx"
    assert main([str(make_checkpoint(TINY)), "-o", str(model), "--no-verify"]) == 0
    capsys.readouterr()
    assert run_cli(main, [str(model), "-o", str(tmp_path / "again.onnx")]) == 2
    err = capsys.readouterr().err
    assert "an ONNX model, not a checkpoint" in err and "--unsafe-load" not in err


def test_cli_truncated_checkpoint(make_checkpoint, tmp_path, capsys):
    ckpt = make_checkpoint(TINY)
    ckpt.write_bytes(ckpt.read_bytes()[:5000])
    assert_clean_failure([str(ckpt), "-o", str(tmp_path / "m.onnx")], "truncated", tmp_path, capsys)


def test_cli_other_architecture(tmp_path, capsys):
    path = tmp_path / "resnet.pth"
    torch.save({"state_dict": {"layer1.0.conv1.weight": torch.zeros(8, 3, 3, 3)}}, path)
    assert_clean_failure([str(path), "-o", str(tmp_path / "m.onnx")], "not a GE-WideResNet", tmp_path, capsys)


def test_cli_unwritable_output(make_checkpoint, tmp_path, capsys):
    ckpt = make_checkpoint(TINY)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            # root ignores permissions: a missing folder is the unwritable path then
            target = tmp_path / "no" / "such" / "dir" / "m.onnx"
        else:
            target = locked / "m.onnx"
        assert_clean_failure([str(ckpt), "-o", str(target)], str(target), tmp_path, capsys)
    finally:
        locked.chmod(0o700)


def test_cli_output_that_is_a_folder_is_refused_before_loading(make_checkpoint, tmp_path, capsys):
    (tmp_path / "out.onnx").mkdir()
    assert run_cli(main, [str(make_checkpoint(TINY)), "-o", str(tmp_path / "out.onnx")]) == 2
    captured = capsys.readouterr()
    assert "out.onnx: is a folder" in captured.err and captured.out == ""


def test_cli_unsafe_pickle_needs_the_flag(tmp_path, capsys):
    path = tmp_path / "opaque.pth.tar"
    torch.save({"state_dict": build_model(TINY).state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    assert_clean_failure([str(path), "--no-verify", "-o", str(tmp_path / "m.onnx")], "--unsafe-load", tmp_path,
                         capsys)
    assert main([str(path), "--no-verify", "--unsafe-load", "-o", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_cli_non_finite_weights_fail_the_export(make_checkpoint, tmp_path, capsys, value):
    state = torch.load(make_checkpoint(TINY), weights_only=True)["state_dict"]
    state["fc.weight"][3, 5] = value
    torch.save({"state_dict": state}, tmp_path / "bad.pth.tar")
    assert_clean_failure([str(tmp_path / "bad.pth.tar"), "-o", str(tmp_path / "m.onnx")],
                         "fc.weight; the checkpoint is damaged", tmp_path, capsys)


def test_cli_non_finite_outputs_fail_the_export(make_checkpoint, tmp_path, capsys):
    state = torch.load(make_checkpoint(TINY), weights_only=True)["state_dict"]
    state["fc.weight"].fill_(3e38)       # finite weights whose logits overflow float32
    torch.save({"state_dict": state}, tmp_path / "huge.pth.tar")
    assert_clean_failure([str(tmp_path / "huge.pth.tar"), "-o", str(tmp_path / "m.onnx")],
                         "outputs hold NaN or Inf: file not written", tmp_path, capsys)


@pytest.mark.parametrize("flags, fragment", [
    (["--opset", "99"], "invalid choice: 99"),
    (["--opset", "7"], "invalid choice: 7"),
    (["--batch-size", "100000"], "static batch size must be 1..16384, got 100000"),
    (["--batch-size", "0"], "static batch size must be 1..16384, got 0"),
])
def test_cli_settings_out_of_range(make_checkpoint, tmp_path, capsys, flags, fragment):
    assert_clean_failure([str(make_checkpoint(TINY)), "-o", str(tmp_path / "m.onnx"), *flags], fragment, tmp_path,
                         capsys)


def test_static_batch_beyond_the_verify_sizes_is_checked_on_its_dynamic_twin(make_checkpoint, tmp_path, capsys):
    out = tmp_path / "s64.onnx"
    assert main([str(make_checkpoint(TINY)), "-o", str(out), "--batch-size", "64"]) == 0
    assert "verify bs=16" in capsys.readouterr().out
    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [64, 3, 32, 32]
    images = np.random.default_rng(1).standard_normal((64, 3, 32, 32), dtype=np.float32)
    model, _ = load_model(make_checkpoint(TINY), log=None)
    with torch.no_grad():
        expected = model(torch.from_numpy(images)).numpy()
    assert np.abs(run_onnx(out, images) - expected).max() <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genet.pth.tar", "s64.onnx"]
