"""Checkpoint loading: wrappers, prefixes, detection, overrides, strictness and refusals."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import onnx
import pytest
import torch

from genet.core.errors import GenetError
from genet.model.checkpoint import load_model
from genet.model.network import build_model
from genet.model.variant import Variant
from tests.conftest import TINY


@pytest.mark.parametrize("wrap", ["reference", "bare", "dataparallel"])
def test_checkpoint_wrappings_load_to_the_same_weights(make_checkpoint, wrap):
    path = make_checkpoint(TINY, wrap=wrap)
    model, variant = load_model(path, log=None)
    assert variant == TINY
    reference = torch.load(make_checkpoint(TINY, name="ref.pth.tar"), weights_only=True)["state_dict"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, reference[key], rtol=0, atol=0)
    assert not model.training


def test_loader_prints_what_it_found(make_checkpoint):
    lines = []
    load_model(make_checkpoint(Variant(depth=10, width=2, extent=4, extra_params=True)), log=lines.append)
    assert "WRN-10-2" in lines[0] and "extent 4" in lines[0] and "θ" in lines[0]


def test_overrides_set_the_extent_of_a_theta_minus_checkpoint(make_checkpoint):
    path = make_checkpoint(Variant(depth=10, width=1, extent=4, mlp=True))
    _, detected = load_model(path, log=None)
    assert detected.extent == 0 and detected.mlp
    _, variant = load_model(path, overrides={"extent": 4}, log=None)
    assert variant == Variant(depth=10, width=1, extent=4, mlp=True)


def test_wrong_variant_override_fails_naming_keys_and_suggesting_the_real_variant(make_checkpoint):
    path = make_checkpoint(Variant(depth=10, width=1, extra_params=True))
    with pytest.raises(GenetError) as err:
        load_model(path, overrides={"extra_params": False}, log=None)
    message = str(err.value)
    assert str(path) in message and "unexpected keys" in message and "downop.dwconv.weight" in message
    assert "keys suggest WRN-10-1" in message and "\n" not in message


def test_shape_mismatch_is_reported(make_checkpoint):
    path = make_checkpoint(Variant(depth=10, width=2))
    with pytest.raises(GenetError, match="shape mismatches"):
        load_model(path, overrides={"width": 1}, log=None)


def test_missing_num_batches_tracked_is_tolerated(tmp_path):
    state = {k: v for k, v in build_model(TINY).state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": state}, tmp_path / "old.pth")
    model, _ = load_model(tmp_path / "old.pth", log=None)
    assert int(model.bn1.num_batches_tracked) == 0


def test_missing_weights_are_an_error(tmp_path):
    state = build_model(TINY).state_dict()
    del state["block2.layer.0.conv1.weight"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(GenetError, match="missing keys block2.layer.0.conv1.weight"):
        load_model(tmp_path / "cut.pth", log=None)


class Opaque:
    """Not a tensor or container: weights_only=True refuses to unpickle it."""


def test_pickle_refused_by_weights_only_needs_unsafe_load(tmp_path):
    path = tmp_path / "opaque.pth.tar"
    state = build_model(TINY).state_dict()
    torch.save({"state_dict": state, "extra": Opaque()}, path)
    with pytest.raises(GenetError, match="weights_only=True.*--unsafe-load"):
        load_model(path, log=None)
    _, variant = load_model(path, unsafe_load=True, log=None)
    assert variant == TINY


def _zip_without_data_pkl() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes/readme.txt", "hi")
    return buffer.getvalue()


def _onnx_model() -> bytes:
    node = onnx.helper.make_node("Relu", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph([node], "g", [value], [onnx.helper.make_tensor_value_info(
        "y", onnx.TensorProto.FLOAT, [1])])
    return onnx.helper.make_model(graph).SerializeToString()


@pytest.mark.parametrize("content,problem", [
    (b"", "an empty file"),
    (b"hello, I am not a checkpoint\n" * 10, "neither a torch zip checkpoint nor a pickle"),
    (np.random.default_rng(0).bytes(3000), "neither a torch zip checkpoint nor a pickle"),
    (b"\x80\x02" + np.random.default_rng(1).bytes(3000), "damaged or truncated pickle"),
    (pickle.dumps({"state_dict": 1}, protocol=2), "not a torch checkpoint"),
    (_zip_without_data_pkl(), "zip archive without data.pkl"),
    (_zip_without_data_pkl()[:40], "truncated or damaged zip"),
    (_onnx_model(), "an ONNX model, not a checkpoint"),
])
def test_files_that_are_not_checkpoints_are_named_for_what_they_are(tmp_path, content, problem):
    path = tmp_path / "x.pth.tar"
    path.write_bytes(content)
    with pytest.raises(GenetError, match=problem) as caught:
        load_model(path, log=None)
    assert "--unsafe-load" not in str(caught.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused(tmp_path, make_checkpoint, value):
    state = torch.load(make_checkpoint(TINY), weights_only=True)["state_dict"]
    state["block2.layer.0.conv1.weight"][0, 0, 0, 0] = value
    torch.save({"state_dict": state}, tmp_path / "bad.pth.tar")
    with pytest.raises(GenetError, match=r"1 tensor\(s\) hold NaN or Inf: block2\.layer\.0\.conv1\.weight"):
        load_model(tmp_path / "bad.pth.tar", log=None)


@pytest.mark.parametrize("obj,problem", [([1, 2, 3], "holds a list"), ({"epoch": 3}, "holds no tensors"),
                                         ({}, "holds a dict, not a state_dict")])
def test_torch_files_without_a_state_dict(tmp_path, obj, problem):
    torch.save(obj, tmp_path / "x.pth")
    with pytest.raises(GenetError, match=problem):
        load_model(tmp_path / "x.pth", log=None)


def test_truncated_checkpoint(make_checkpoint):
    path = make_checkpoint(TINY)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(GenetError, match="truncated or damaged"):
        load_model(path, log=None)


def test_other_architecture(tmp_path):
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Linear(8, 10)).state_dict(), tmp_path / "o.pth")
    with pytest.raises(GenetError, match="not a GE-WideResNet checkpoint"):
        load_model(tmp_path / "o.pth", log=None)


def test_missing_path(tmp_path):
    with pytest.raises(GenetError, match="no such file"):
        load_model(tmp_path / "absent.pth.tar", log=None)
