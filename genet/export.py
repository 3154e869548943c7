"""Checkpoint → ONNX, and the check that the file computes what the PyTorch model computes."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from .constants import CHANNELS, IMAGE_SIZE, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME
from .errors import GenetError

DEFAULT_OPSET = 11
VERIFY_BATCH_SIZES = (1, 16)
VERIFY_TOLERANCE = 1e-4
# What a deployable GENet graph may hold; anything else (Dropout, training BN, ...) is a bug.
INFERENCE_OPS = frozenset({
    "Conv", "BatchNormalization", "Relu", "Add", "Mul", "Sigmoid", "GlobalAveragePool", "AveragePool",
    "Resize", "Upsample", "Gemm", "MatMul", "Flatten", "Reshape", "Constant", "Shape", "Gather",
    "Unsqueeze", "Concat", "Cast", "Slice", "Identity",
})


@dataclass
class VerifyResult:
    batch_size: int
    max_abs_diff: float
    top1_agree: int

    def line(self) -> str:
        return (f"verify bs={self.batch_size}: max |Δ| = {self.max_abs_diff:.3g}, "
                f"top-1 agreement {self.top1_agree}/{self.batch_size}")


def _torchscript_export(model: torch.nn.Module, path: Path, opset: int, batch_size: int | None) -> None:
    dummy = torch.randn(batch_size or 1, CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
    dynamic = None if batch_size else {ONNX_INPUT_NAME: {0: "batch"}, ONNX_OUTPUT_NAME: {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of dynamo, which cannot emit opset 11.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), str(path), dynamo=False, opset_version=opset,
                          input_names=[ONNX_INPUT_NAME], output_names=[ONNX_OUTPUT_NAME],
                          dynamic_axes=dynamic, do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)


def check_graph(path: str | os.PathLike) -> onnx.ModelProto:
    """onnx.checker plus our own rule: only inference ops, one input and one output of the right names."""
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    ops = {node.op_type for node in proto.graph.node}
    stray = sorted(ops - INFERENCE_OPS)
    if stray:
        raise GenetError(f"{path}: exported graph holds ops that are not for inference: {', '.join(stray)}")
    inputs = [i.name for i in proto.graph.input]
    outputs = [o.name for o in proto.graph.output]
    if inputs != [ONNX_INPUT_NAME] or outputs != [ONNX_OUTPUT_NAME]:
        raise GenetError(f"{path}: graph has inputs {inputs} and outputs {outputs}, "
                         f"expected ['{ONNX_INPUT_NAME}'] and ['{ONNX_OUTPUT_NAME}']")
    return proto


def export_onnx(model: torch.nn.Module, path: str | os.PathLike, opset: int = DEFAULT_OPSET,
                batch_size: int | None = None) -> onnx.ModelProto:
    """Export ``model`` (put in eval mode) to ``path`` and check the graph; returns the ONNX model."""
    if batch_size is not None and batch_size < 1:
        raise GenetError(f"static batch size must be ≥ 1, got {batch_size}")
    model.eval()
    try:
        _torchscript_export(model, Path(path), opset, batch_size)
    except (torch.onnx.errors.OnnxExporterError, torch.onnx.errors.UnsupportedOperatorError) as exc:
        raise GenetError(f"{path}: ONNX export at opset {opset} failed: {str(exc).splitlines()[0]}") from None
    return check_graph(path)


def onnx_session(path: str | os.PathLike):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def verify_onnx(model: torch.nn.Module, path: str | os.PathLike, batch_sizes=VERIFY_BATCH_SIZES,
                static_batch: int | None = None, seed: int = 0) -> list[VerifyResult]:
    """Run random inputs through PyTorch and ONNX Runtime; report max |Δ| and top-1 agreement."""
    session = onnx_session(path)
    generator = torch.Generator().manual_seed(seed)
    results = []
    for batch in ([static_batch] if static_batch else batch_sizes):
        images = torch.randn(batch, CHANNELS, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
        with torch.no_grad():
            expected = model(images).numpy()
        got = session.run([ONNX_OUTPUT_NAME], {ONNX_INPUT_NAME: images.numpy()})[0]
        agree = int((expected.argmax(1) == got.argmax(1)).sum())
        results.append(VerifyResult(batch, float(np.abs(expected - got).max()), agree))
    return results
