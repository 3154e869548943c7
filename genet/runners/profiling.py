"""What a backend's profiler hands back: the time of each kernel it ran, in the backend's own names.

``Runner.profiler()`` opens a second, profiled instance of the runner's model (a ``LayerProfiler``).
``benchmark.py --profile`` drives it like the runner (``run_timed``) over the timed batches
once more, then ``collect()`` returns a ``KernelTimes``: per kernel, its summed seconds and the model
nodes it computes (``members``), in the names of the model the backend ran: ONNX node names for an
.onnx file, layer names (module paths) for a PyTorch checkpoint. ``genet.layers.profile`` turns that
into the per-layer table; the vendor readers (``genet.layers.vendor_profiles``) produce the same
``KernelTimes`` from files the backends' own tools write.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnx

from genet.runners.base import CallTimes

#: What ``KernelTimes.names`` says the names are.
ONNX_NAMES = "onnx"          # ONNX node (or tensor) names of the model file
LAYER_NAMES = "layer"        # layer names already (genet.layers.names)
NPU_NAMES = "npu"            # an NPU's op names, no map to the model given


@dataclass(frozen=True)
class Kernel:
    """One kernel (or fused node) of a backend, its time summed over the recorded model calls."""

    name: str                          # the backend's name for it (a node, a fused node, an NPU op)
    op: str                            # the backend's op type (Conv, FusedConv, Convolution, Conv2D …)
    seconds: float                     # summed over ``KernelTimes.calls`` model calls
    members: tuple[str, ...] = ()      # the model's nodes it computes, where the backend says which
    impl: str = ""                     # the implementation: provider, exec type, tactic, task type


@dataclass
class KernelTimes:
    """A profiler's record: kernels, over how many model calls, and what their names are."""

    kernels: list[Kernel]
    calls: int
    names: str = ONNX_NAMES
    notes: list[str] = field(default_factory=list)
    model: onnx.ModelProto | None = None     # the model as ONNX: node names, op types, FLOPs


class LayerProfiler(abc.ABC):
    """A profiled instance of a runner's model: run it like the runner, then ``collect()`` its kernels."""

    @abc.abstractmethod
    def run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        """As ``Runner.run_timed``; the backend's profiler records the call once ``start()`` was called."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.run_timed(batch)[0]

    @abc.abstractmethod
    def start(self) -> None:
        """Record the calls from now on (the warm-up calls before it are not recorded)."""

    @abc.abstractmethod
    def collect(self) -> KernelTimes:
        """Stop recording; the kernels of the calls made since ``start()``."""

    @abc.abstractmethod
    def dense_matmul(self, precision: str, size: int) -> Callable[[], None] | None:
        """One call of a size×size×size matrix product on this backend with the model's threads.

        ``precision`` is fp32, int8, fp16 or bf16; None where the backend has no such product.
        """

    def close(self) -> None:  # noqa: B027 (optional)
        """Release what the profiler holds (idempotent)."""

    def __enter__(self) -> "LayerProfiler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
