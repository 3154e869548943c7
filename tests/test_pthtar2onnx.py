"""pthtar2onnx.py: export parity, dynamic and static batch, the graph, and every bad-input path."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import torch

from genet.checkpoint import load_model
from genet.cli.pthtar2onnx import main
from genet.errors import GenetError
from genet.export import INFERENCE_OPS, onnx_session
from genet.variant import Variant

from conftest import TINY, run_script


def run_onnx(path, images: np.ndarray) -> np.ndarray:
    return onnx_session(path).run(["class"], {"image": images})[0]


@pytest.mark.parametrize("variant", [
    Variant(depth=10, width=1),
    Variant(depth=10, width=2, extra_params=True),
    Variant(depth=10, width=2, extra_params=True, mlp=True),
    Variant(depth=10, width=1, extent=2, extra_params=True),
    Variant(depth=10, width=1, extent=4, extra_params=True),
    Variant(depth=10, width=1, extent=8, extra_params=True),
])
def test_export_matches_pytorch_with_a_dynamic_batch(make_checkpoint, tmp_path, capsys, variant):
    ckpt = make_checkpoint(variant)
    out = tmp_path / "genet_gpu.onnx"
    assert main([str(ckpt), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "verify bs=1" in printed and "verify bs=16" in printed and "top-1 agreement 16/16" in printed
    model, _ = load_model(ckpt, log=None)
    for batch in (1, 7, 32):
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


def test_graph_is_opset_11_inference_only_with_named_io(make_checkpoint, tmp_path):
    out = tmp_path / "g.onnx"
    main([str(make_checkpoint(TINY)), "-o", str(out), "--no-verify"])
    proto = onnx.load(str(out))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [11]
    assert {n.op_type for n in proto.graph.node} <= INFERENCE_OPS
    assert not {"Dropout", "BatchNormalization"} & {n.op_type for n in proto.graph.node} or all(
        len(n.output) == 1 for n in proto.graph.node if n.op_type == "BatchNormalization")
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


def assert_clean_failure(result, path_text, tmp_path):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pthtar2onnx.py: error: ") and path_text in lines[0]
    assert not list(tmp_path.rglob("*.onnx")), "an .onnx was left behind"
    assert not [p for p in tmp_path.rglob(".*tmp*")], "a temporary file was left behind"


def test_cli_missing_path(tmp_path):
    result = run_script("pthtar2onnx.py", str(tmp_path / "nope.pth.tar"), cwd=tmp_path)
    assert_clean_failure(result, "nope.pth.tar: no such file", tmp_path)


def test_cli_not_a_checkpoint_and_truncated(make_checkpoint, tmp_path):
    junk = tmp_path / "junk.pth.tar"
    junk.write_text("not a checkpoint")
    assert_clean_failure(run_script("pthtar2onnx.py", str(junk), cwd=tmp_path), "junk.pth.tar",
                         tmp_path)
    ckpt = make_checkpoint(TINY)
    ckpt.write_bytes(ckpt.read_bytes()[:5000])
    assert_clean_failure(run_script("pthtar2onnx.py", str(ckpt), cwd=tmp_path), "truncated",
                         tmp_path)


def test_cli_other_architecture(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"state_dict": {"layer1.0.conv1.weight": torch.zeros(8, 3, 3, 3)}}, path)
    assert_clean_failure(run_script("pthtar2onnx.py", str(path), cwd=tmp_path),
                         "not a GE-WideResNet", tmp_path)


def test_cli_unwritable_output(make_checkpoint, tmp_path):
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
        result = run_script("pthtar2onnx.py", str(ckpt), "-o", str(target), cwd=tmp_path)
        assert_clean_failure(result, str(target), tmp_path)
    finally:
        locked.chmod(0o700)


def test_cli_unsafe_pickle_needs_the_flag(tmp_path):
    path = tmp_path / "opaque.pth.tar"
    script = ("import torch, argparse, genet.model as m, genet.variant as v;"
              "torch.save({'state_dict': m.build_model(v.Variant(depth=10, width=1)).state_dict(),"
              " 'args': argparse.Namespace(lr=0.1)}, r'%s')" % path)
    assert run_script("-c", script).returncode == 0
    result = run_script("pthtar2onnx.py", str(path), "--no-verify", cwd=tmp_path)
    assert_clean_failure(result, "--unsafe-load", tmp_path)
    result = run_script("pthtar2onnx.py", str(path), "--no-verify", "--unsafe-load", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "genet_gpu.onnx").exists()


def test_bad_static_batch_is_refused(make_checkpoint, tmp_path):
    with pytest.raises(GenetError, match="static batch size"):
        main([str(make_checkpoint(TINY)), "-o", str(tmp_path / "z.onnx"), "--batch-size", "0"])
    assert not (tmp_path / "z.onnx").exists()
