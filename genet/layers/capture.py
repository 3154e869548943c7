"""What every run hands the comparison: its layers, and their outputs for a batch of images.

A *capture* is one run of the model that exposes its layers' outputs under the one layer name
(``genet.layers.names``): PyTorch through hooks (``capture_torch``), an ONNX model on ONNX Runtime or
OpenVINO through intermediate outputs added to a copy of it (``capture_onnx``), an NPU through the
dump files it wrote (``npu_dump``). ``outputs(batch)`` gives ``{layer: B×… float32 array}`` for the
batch; ``isolated(batch, reference)`` gives each layer's output when it is fed the reference's input
to that layer instead of its own (where the run allows it), so that a row shows the layer's own
error beside the one it inherits.

Besides its layers, a run that can gives the model's output as deployed (``DEPLOYED``): genet's runner
for that backend on the unmodified model (OpenVINO: compiled as that runner compiles it), the figure
``quantize.py`` and ``compare_outputs.py`` see.

A layer the run computes inside another one (a BatchNorm folded into the convolution before it, a
ReLU fused into a quantized convolution, an NPU fusion op) is listed in ``fused``: ``{layer: the
layer whose output holds it}``; it is shown as fused, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")
# The model's own output as its runtime runs it when deployed (no outputs added): the last row.
DEPLOYED = "output (as deployed)"


@dataclass(frozen=True)
class Layer:
    """One layer as a run exposes it."""

    name: str           # the layer name shared by every run
    op_type: str        # the op that computes it in this run (ONNX op type, or the module's)
    tensor: str         # the run's own name for its output (ONNX tensor, module path, NPU op): the CSV's NPUDump


@dataclass(frozen=True)
class Batch:
    index: int          # batch number, from 0
    start: int          # first image
    images: np.ndarray  # B×C×H×W float32


@dataclass
class RunInfo:
    """What a capture is, for the report."""

    label: str                      # short column name: "ort int8", "torch fp32"
    source: str                     # the file or folder it reads
    backend: str                    # torch | onnxruntime | openvino | npu dump
    precision: str                  # fp32 | fp16 | int8: picks the thresholds
    how: str                        # how its layers are read, in words
    full_graph: bool = True         # exposes every layer of the model (structure checks apply)
    notes: list[str] = field(default_factory=list)


class Capture(Protocol):
    info: RunInfo
    layers: list[Layer]             # in execution order
    fused: dict[str, str]
    can_isolate: bool

    def outputs(self, batch: Batch, reference: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Every exposed layer's output for the batch (``reference`` only tells shapes where a run needs it)."""

    def isolated(self, batch: Batch, reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each layer's output from the reference's inputs to it (only when ``can_isolate``)."""

    def close(self) -> None:
        """Release what the run holds."""


def to_float32(value) -> np.ndarray:
    """An output as a float32 numpy array (fp16 and int outputs widened)."""
    return np.asarray(value).astype(np.float32, copy=False)
