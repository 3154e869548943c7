"""On a WRN-10-2 trained here on generated data (genet.synthetic: NOT CIFAR-10), int8 against fp32 layer by
layer: the table's last row is the logits quantize.py checks, and agrees with its figures."""

from __future__ import annotations

import numpy as np
import pytest

from genet.convert.export import export_onnx
from genet.convert.quantize import QuantizeSettings, check_images, quantize_model
from genet.core.constants import PACKED_IMAGES
from genet.data.synthetic import write_cifar10
from genet.layers.capture import DEPLOYED
from genet.layers.capture_onnx import OnnxCapture
from genet.layers.compare import compare_runs, open_images
from genet.model.checkpoint import load_model
from genet.model.train import TrainSettings, train_checkpoint
from genet.model.variant import Variant

CHECK = 200


@pytest.mark.slow
def test_int8_against_fp32_on_a_trained_wrn_10_2_agrees_with_quantize_py(tmp_path):
    silent = lambda message: None      # noqa: E731
    write_cifar10(tmp_path / "data", train=1500, test=CHECK, seed=0)
    train_checkpoint(tmp_path / "data", tmp_path / "genet.pth.tar", Variant(depth=10, width=2),
                     TrainSettings(epochs=2, limit=1500), quiet=True, log=silent)
    model, _ = load_model(tmp_path / "genet.pth.tar", log=None)
    export_onnx(model, tmp_path / "fp32.onnx")
    check, _ = quantize_model(tmp_path / "fp32.onnx", tmp_path / "data", tmp_path / "int8.onnx",
                              QuantizeSettings(calib=64, check=CHECK, keep_below=True), log=silent, quiet=True)
    images, _, _ = check_images(tmp_path / "data", CHECK, silent)           # the very images quantize.py checked on
    (tmp_path / "prep").mkdir()
    np.save(tmp_path / "prep" / PACKED_IMAGES, images)
    comparison = compare_runs(OnnxCapture(tmp_path / "fp32.onnx"), [OnnxCapture(tmp_path / "int8.onnx")],
                              open_images(tmp_path / "prep", CHECK), CHECK, 8, quiet=True)
    run = comparison.runs[0]
    assert comparison.rows[-1].name == DEPLOYED and run.info.precision == "int8"
    last = run.stats["accumulated"][DEPLOYED]
    assert last.images == CHECK
    assert last.max_abs == pytest.approx(check.max_abs_diff, rel=1e-4, abs=1e-5)
    assert run.status("conv1") == "fused into block1.layer.0/Relu"       # the quantizer's Conv+ReLU
    assert len(run.stats["isolated"]) == len(run.stats["accumulated"]) - 1
