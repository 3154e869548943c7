"""Checkpoint → ONNX, and the check that the file computes what the PyTorch model computes."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from genet.core.constants import CHANNELS, IMAGE_SIZE, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME
from genet.core.errors import GenetError, first_line

DEFAULT_OPSET = 11
ATC_MAX_OPSET = 11          # the highest opset ATC of CANN 5.0.x accepts
# 9: the first opset our gather's nearest upsampling exports to; 20: the TorchScript exporter's last.
OPSETS = tuple(range(9, 21))
# A static batch beyond this is a typing slip, not a deployment (export a dynamic batch instead).
MAX_STATIC_BATCH = 16384
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

    finite: bool = True             # both sides' outputs hold no NaN or Inf

    @property
    def passed(self) -> bool:
        """Finite and within VERIFY_TOLERANCE (a NaN difference fails)."""
        return self.finite and self.max_abs_diff <= VERIFY_TOLERANCE

    def line(self) -> str:
        text = (f"verify bs={self.batch_size}: max |Δ| = {self.max_abs_diff:.3g}, "
                f"top-1 agreement {self.top1_agree}/{self.batch_size}")
        return text if self.finite else text + ", outputs hold NaN or Inf"


def check_export_settings(opset: int, batch_size: int | None) -> None:
    if opset not in OPSETS:
        raise GenetError(f"opset {opset} is not one the exporter supports for GENet ({OPSETS[0]}..{OPSETS[-1]}; "
                         f"ATC takes at most {ATC_MAX_OPSET})")
    if batch_size is not None and not 1 <= batch_size <= MAX_STATIC_BATCH:
        raise GenetError(f"static batch size must be 1..{MAX_STATIC_BATCH}, got {batch_size}; "
                         "export a dynamic batch (no --batch-size) to run larger batches")


def _torchscript_export(model: torch.nn.Module, path: Path, opset: int) -> None:
    """A dynamic-batch export traced with one image, whatever batch the caller wants in the end."""
    dummy = torch.randn(1, CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
    dynamic = {ONNX_INPUT_NAME: {0: "batch"}, ONNX_OUTPUT_NAME: {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of dynamo, which cannot emit opset 11.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), str(path), dynamo=False, opset_version=opset,
                          input_names=[ONNX_INPUT_NAME], output_names=[ONNX_OUTPUT_NAME],
                          dynamic_axes=dynamic, do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)


def fix_batch(source: str | os.PathLike, target: str | os.PathLike, batch_size: int) -> None:
    """Copy a dynamic-batch export with its batch axis set to ``batch_size`` (no tracing at that size)."""
    proto = onnx.load(str(source))
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = batch_size
    del proto.graph.value_info[:]           # intermediate shapes were inferred for a dynamic batch
    onnx.save(proto, str(target))


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
                batch_size: int | None = None, dynamic_twin: str | os.PathLike | None = None) -> onnx.ModelProto:
    """Export ``model`` (put in eval mode) to ``path`` and check the graph; returns the ONNX model.

    A static batch is the dynamic export with its batch axis fixed: ``dynamic_twin`` (a path) keeps
    that dynamic export, for verifying on small batches.
    """
    check_export_settings(opset, batch_size)
    model.eval()
    traced = Path(dynamic_twin) if dynamic_twin and batch_size is not None else Path(path)
    try:
        _torchscript_export(model, traced, opset)
    except (torch.onnx.errors.OnnxExporterError, torch.onnx.errors.UnsupportedOperatorError) as exc:
        raise GenetError(f"{path}: ONNX export at opset {opset} failed: {first_line(exc)}") from None
    if traced != Path(path):
        fix_batch(traced, path, batch_size)
    elif batch_size is not None:
        fix_batch(path, path, batch_size)
    return check_graph(path)


def onnx_session(path: str | os.PathLike):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def verify_onnx(model: torch.nn.Module, path: str | os.PathLike, batch_sizes=VERIFY_BATCH_SIZES,
                seed: int = 0) -> list[VerifyResult]:
    """Run random inputs through PyTorch and ONNX Runtime; report max |Δ|, top-1 agreement, finiteness."""
    session = onnx_session(path)
    generator = torch.Generator().manual_seed(seed)
    results = []
    for batch in batch_sizes:
        images = torch.randn(batch, CHANNELS, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
        with torch.no_grad():
            expected = model(images).numpy()
        got = session.run([ONNX_OUTPUT_NAME], {ONNX_INPUT_NAME: images.numpy()})[0]
        agree = int((expected.argmax(1) == got.argmax(1)).sum())
        finite = bool(np.isfinite(expected).all() and np.isfinite(got).all())
        with np.errstate(invalid="ignore"):         # inf - inf: the NaN is what we report
            worst = float(np.abs(expected - got).max())
        results.append(VerifyResult(batch, worst, agree, finite))
    return results


def verify_batches(static_batch: int | None) -> tuple[int, ...]:
    """A static export is checked at its own batch when that is small, else its dynamic twin at the usual ones."""
    if static_batch is not None and static_batch <= max(VERIFY_BATCH_SIZES):
        return (static_batch,)
    return VERIFY_BATCH_SIZES
