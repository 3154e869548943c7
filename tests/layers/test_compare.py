"""Layer by layer: faults injected into one layer of an exported model are found first, in both modes."""

from __future__ import annotations

import numpy as np
import pytest

from genet.core.errors import GenetError
from genet.layers.capture import DEPLOYED
from genet.layers.capture_onnx import OnnxCapture
from genet.layers.capture_torch import TorchCapture
from genet.layers.compare import DEFAULT_COSINE, Threshold, compare_runs, failure, open_images
from genet.model.variant import Variant
from tests.layer_helpers import edit_initializer, edit_onnx, export_small, node, write_images

COUNT, BATCH = 8, 4


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("layers")
    checkpoint, model = export_small(folder)
    return folder, checkpoint, model, write_images(folder / "prep", COUNT)


def compare(reference, *captures, isolated=True, **kwargs):
    images = open_images(kwargs.pop("images"), COUNT)
    try:
        return compare_runs(reference, list(captures), images, COUNT, BATCH, isolated=isolated, quiet=True, **kwargs)
    finally:
        for capture in (reference, *captures):
            capture.close()


def scale_conv(graph):
    edit_initializer(graph, "block2.layer.0.conv2.weight", lambda w: 1.5 * w)


def replace_sigmoid(graph):
    node(graph, "/block2/layer/layer.0/Sigmoid").op_type = "Tanh"


def swap_channels(graph):
    conv = node(graph, "/block1/layer/layer.0/conv1/Conv")
    for name in conv.input[1:]:                       # weight and (BN-folded) bias: output channels 0 and 1
        edit_initializer(graph, name, lambda w: w[[1, 0, *range(2, len(w))]])


def nan_weight(graph):
    def poison(w):
        w.flat[5] = np.nan
        return w
    edit_initializer(graph, "block3.layer.0.conv2.weight", poison)


FAULTS = [(scale_conv, "block2.layer.0.conv2"), (replace_sigmoid, "block2.layer.0/Sigmoid"),
          (swap_channels, "block1.layer.0.conv1"), (nan_weight, "block3.layer.0.conv2")]


@pytest.mark.parametrize("fault, layer", FAULTS, ids=[f.__name__ for f, _ in FAULTS])
@pytest.mark.parametrize("reference", ["onnx", pytest.param("torch", marks=pytest.mark.slow)])
def test_a_fault_in_one_layer_is_found_first_in_both_modes(exported, tmp_path, fault, layer, reference):
    folder, checkpoint, model, images = exported
    faulty = edit_onnx(model, tmp_path / "faulty.onnx", fault)
    run = OnnxCapture(faulty)
    onnx_layers = {layer.name for layer in run.layers}
    ref = OnnxCapture(model) if reference == "onnx" else TorchCapture(checkpoint, onnx_layers)
    result = compare(ref, run, images=images).runs[0]
    assert result.verdicts["accumulated"].layer == layer
    assert result.verdicts["isolated"].layer == layer
    threshold = Threshold(DEFAULT_COSINE[result.info.precision])
    isolated_failures = [name for name, stats in result.stats["isolated"].items() if failure(stats, threshold)]
    assert isolated_failures == [layer]          # fed the reference's inputs, no other layer is wrong
    if fault is nan_weight:
        assert "NaN" in result.verdicts["accumulated"].reason


def test_identical_runs_give_cosine_one_everywhere_and_no_verdict(exported):
    _, _, model, images = exported
    comparison = compare(OnnxCapture(model), OnnxCapture(model), images=images)
    run = comparison.runs[0]
    assert comparison.passed and run.verdicts == {"accumulated": None, "isolated": None}
    assert [row.name for row in comparison.rows][-2:] == ["fc", DEPLOYED]
    for mode, rows in (("accumulated", 36), ("isolated", 35)):        # the deployed model cannot be isolated
        assert len(run.stats[mode]) == rows
        assert {stats.cosine_min for stats in run.stats[mode].values()} == {1.0}
        assert {stats.max_abs for stats in run.stats[mode].values()} == {0.0}


def test_checkpoint_against_its_export_passes_with_folded_batchnorms_shown_fused(exported):
    _, checkpoint, model, images = exported
    onnx_capture = OnnxCapture(model)
    onnx_layers = {layer.name for layer in onnx_capture.layers}
    comparison = compare(TorchCapture(checkpoint, onnx_layers), onnx_capture, images=images)
    run = comparison.runs[0]
    assert comparison.passed
    assert run.status("block1.layer.0.bn2") == "fused into block1.layer.0.conv1 (as in the reference)"
    assert run.status("block1.layer.0.bn1") == "fused into conv1 (as in the reference)"
    assert [row.name for row in comparison.rows][:3] == ["block1.layer.0.bn1", "conv1", "block1.layer.0/Relu"]
    assert min(s.cosine_min for s in run.stats["accumulated"].values()) > 0.99999


def test_fp16_emulation_rounds_but_passes_fp16_thresholds(exported):
    _, _, model, images = exported
    comparison = compare(OnnxCapture(model), OnnxCapture(model, fp16=True), images=images)
    run = comparison.runs[0]
    assert run.info.precision == "fp16" and comparison.passed
    sqnr = [stats.sqnr_db for stats in run.stats["accumulated"].values()]
    assert all(40 < value < 120 for value in sqnr)            # rounded to fp16: neither exact nor far


def test_openvino_against_onnx_runtime_passes(exported):
    pytest.importorskip("openvino")
    _, _, model, images = exported
    comparison = compare(OnnxCapture(model), OnnxCapture(model, "openvino"), images=images)
    assert comparison.passed and len(comparison.runs[0].stats["isolated"]) == 35


@pytest.mark.parametrize("variant, layer", [(Variant(depth=10, width=1), "block1.layer.0.convShortcut"),
                                            (Variant(depth=16, width=2), "block1.layer.1")])
def test_models_of_different_architectures_are_refused_naming_a_layer(exported, tmp_path, variant, layer):
    _, checkpoint, model, images = exported
    _, other = export_small(tmp_path, variant)
    with pytest.raises(GenetError, match=f"does not match .*layer {layer}"):
        compare(OnnxCapture(model), OnnxCapture(other), images=images)


def test_a_named_layer_a_run_cannot_expose_is_refused(exported):
    _, checkpoint, model, images = exported
    onnx_capture = OnnxCapture(model)
    torch_capture = TorchCapture(checkpoint, {layer.name for layer in onnx_capture.layers})
    with pytest.raises(GenetError, match="--layer block1.layer.0.bn2: torch fp32 .* computes it fused into "
                                         "block1.layer.0.conv1"):
        compare(torch_capture, onnx_capture, images=images, only=["block1.layer.0.bn2"])
    comparison = compare(OnnxCapture(model), OnnxCapture(model), images=images, only=["block2.layer.0.conv2"])
    assert [row.name for row in comparison.rows] == ["block2.layer.0.conv2"]
