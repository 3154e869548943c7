"""PyTorch backend: a GENet checkpoint (.pth/.pth.tar) on the CPU or a CUDA GPU.

The model is loaded in eval mode with its foldable BatchNorms folded into the convolutions
before them (``genet.model.fold``), then cast to fp32/fp16/bf16 and, if asked, to channels-last.

On CUDA the calls run on a *lane*: a CUDA stream of the runner's own, pinned host buffers and, per
batch shape, a device input buffer and (``--cuda-graphs``) a captured CUDA graph. A call copies the
batch into pinned memory, copies it to the device and casts it (H2D), runs the model (compute)
and copies the logits back (D2H), with CUDA events between the parts, so ``run_timed`` returns
all three. One call at a time (a second lane with two calls in flight was removed unmeasured with
the engine's calls in flight: benchmarks/results/streams.md).

``--compile``: ``torch.compile(dynamic=False)``, one compiled graph per batch shape. On CUDA it
uses ``mode="max-autotune"`` (torch's own CUDA graphs); with ``--cuda-graphs`` as well,
``mode="max-autotune-no-cudagraphs"`` and our own capture of the compiled model. The first use
of a batch shape (compiling, autotuning, capturing) happens before that call's timed part and is
reported in ``settings()["first_use_seconds"]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genet.core.constants import CHANNELS, IMAGE_SIZE
from genet.core.cpuinfo import cpu_label
from genet.core.errors import GenetError
from genet.model.checkpoint import load_model
from genet.model.device import resolve_device
from genet.model.fold import fold_batchnorm
from genet.runners.base import PRECISIONS, CallTimes, Runner, RunnerOptions, base_versions

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_WARMUP_CALLS = 3     # calls before a CUDA graph capture (torch's CUDA-graph notes), and before timing a compile
# One compiled graph per batch shape: a sweep over 1…2048 needs 12, above dynamo's default limit
# of 8, past which it would silently run the model eagerly.
_RECOMPILE_LIMIT = 64


def compile_mode(on_cuda: bool, cuda_graphs: bool) -> str | None:
    """The torch.compile mode: max-autotune on CUDA, without torch's CUDA graphs when we capture our own."""
    if not on_cuda:
        return None
    return "max-autotune-no-cudagraphs" if cuda_graphs else "max-autotune"


def call_times(h2d_start, compute_start, compute_end, d2h_end) -> CallTimes:
    """Seconds between four events recorded in order on one stream (anything with ``elapsed_time`` in ms)."""
    return CallTimes(compute=compute_start.elapsed_time(compute_end) / 1000.0,
                     h2d=h2d_start.elapsed_time(compute_start) / 1000.0,
                     d2h=compute_end.elapsed_time(d2h_end) / 1000.0)


@dataclass
class _Slot:
    """A lane's buffers (and captured graph) for one batch shape."""

    host_in: torch.Tensor                 # pinned float32, as the caller's batch
    staging: torch.Tensor                 # float32 on the device: the plain copy of host_in
    model_in: torch.Tensor                # the model's dtype and memory format (staging itself when equal)
    graph: "torch.cuda.CUDAGraph | None" = None
    graph_out: torch.Tensor | None = None
    host_out: torch.Tensor | None = None  # pinned float32 logits, made on the first call


class _Lane:
    """What the calls own on the GPU: their stream, timing events and buffers per batch shape."""

    def __init__(self, device: torch.device):
        self.stream = torch.cuda.Stream(device)
        self.events = tuple(torch.cuda.Event(enable_timing=True) for _ in range(4))
        self.slots: dict[tuple[int, ...], _Slot] = {}


class TorchRunner(Runner):
    name = "torch"
    OPTIONS = frozenset({"device", "precision", "threads", "channels_last", "cuda_graphs", "compile", "extent",
                         "unsafe_load"})
    PRECISIONS = PRECISIONS

    def __init__(self, model_path: Path, options: RunnerOptions, fold_bn: bool = True):
        super().__init__(model_path, options)
        self._device = resolve_device(options.device, options.device_id, model_path)
        self._on_cuda = self._device.type == "cuda"
        self._check_options()
        if options.threads:
            torch.set_num_threads(options.threads)
        overrides = {"extent": options.extent} if options.extent is not None else None
        model, self.variant = load_model(model_path, overrides, options.unsafe_load, log=options.log)
        self.folded_bn = 0
        if fold_bn:
            model, self.folded_bn = fold_batchnorm(model)
        self._dtype = DTYPES[options.precision]
        self._memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
        model = model.to(device=self._device, dtype=self._dtype, memory_format=self._memory_format)
        if self._on_cuda:
            torch.backends.cudnn.benchmark = True      # fixed shapes: let cuDNN pick its fastest kernels
        self._compile_mode = compile_mode(self._on_cuda, options.cuda_graphs)
        if options.compile:
            _raise_recompile_limit()
            model = torch.compile(model, mode=self._compile_mode, dynamic=False)
        self._model = model
        self._first_use: dict[int, float] = {}        # batch size → seconds of compiling/capturing it
        self._lane = _Lane(self._device) if self._on_cuda else None

    def _check_options(self) -> None:
        options, where = self.options, self.model_path
        if options.cuda_graphs and not self._on_cuda:
            raise GenetError(f"{where}: --cuda-graphs needs a CUDA device; this run is on the CPU")

    @property
    def input_shape(self):
        return (None, CHANNELS, IMAGE_SIZE, IMAGE_SIZE)

    @property
    def device_name(self) -> str:
        if self._on_cuda:
            return torch.cuda.get_device_name(self._device)
        return cpu_label()

    def versions(self) -> dict[str, str]:
        found = {**base_versions(), "torch": torch.__version__}
        if self._on_cuda:
            found["cuda"] = str(torch.version.cuda)
            found["cudnn"] = str(torch.backends.cudnn.version())
        return found

    def settings(self) -> dict[str, object]:
        found: dict[str, object] = {
            "device": str(self._device), "dtype": str(self._dtype).removeprefix("torch."),
            "channels_last": self.options.channels_last, "cuda_graphs": self.options.cuda_graphs,
            "compile": self.options.compile, "threads": torch.get_num_threads(), "variant": self.variant.describe(),
            "batchnorms_folded": self.folded_bn,
            "first_use_seconds": {str(batch): round(seconds, 3) for batch, seconds in sorted(self._first_use.items())},
        }
        if self.options.compile:
            found["compile_mode"] = self._compile_mode or "default"
        if self._on_cuda:
            # fp32 convolutions on Ampere and later run in TF32 unless this is off.
            found["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
            found["pinned_host_buffers"] = True
        return found

    @torch.no_grad()
    def run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        if not self._on_cuda:
            return self._run_on_cpu(batch)
        return self._run_on_lane(self._lane, batch)

    def _run_on_cpu(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        images = torch.from_numpy(batch).to(dtype=self._dtype, memory_format=self._memory_format)
        if self.options.compile and len(batch) not in self._first_use:
            start = time.perf_counter()
            self._model(images)
            self._first_use[len(batch)] = time.perf_counter() - start
        start = time.perf_counter()
        output = self._model(images)
        seconds = time.perf_counter() - start
        return self.check_logits(output.float().numpy(), len(batch)), CallTimes(seconds)

    def _run_on_lane(self, lane: _Lane, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        slot = lane.slots.get(batch.shape) or self._prepare(lane, batch.shape)
        slot.host_in.numpy()[...] = batch
        h2d_start, compute_start, compute_end, d2h_end = lane.events
        with torch.cuda.stream(lane.stream):
            h2d_start.record()
            slot.staging.copy_(slot.host_in, non_blocking=True)
            if slot.model_in is not slot.staging:
                slot.model_in.copy_(slot.staging)
            compute_start.record()
            output = self._forward(slot)
            compute_end.record()
            logits = output.float()
            if slot.host_out is None:
                slot.host_out = torch.empty(logits.shape, dtype=torch.float32, pin_memory=True)
            slot.host_out.copy_(logits, non_blocking=True)
            d2h_end.record()
        d2h_end.synchronize()
        # a copy: the pinned buffer is the lane's, and the caller may keep the logits past the next call
        logits = self.check_logits(slot.host_out.numpy().copy(), len(batch))
        return logits, call_times(h2d_start, compute_start, compute_end, d2h_end)

    def _forward(self, slot: _Slot) -> torch.Tensor:
        if slot.graph is not None:
            slot.graph.replay()
            return slot.graph_out
        if self.options.compile and self._compile_mode == "max-autotune":
            torch.compiler.cudagraph_mark_step_begin()   # the previous call's output is already copied out
        return self._model(slot.model_in)

    def _prepare(self, lane: _Lane, shape: tuple[int, ...]) -> _Slot:
        """Buffers, compilation and graph of a new batch shape."""
        start = time.perf_counter()
        lane.slots[shape] = self._new_slot(lane, shape)
        torch.cuda.synchronize(self._device)
        self._first_use[shape[0]] = self._first_use.get(shape[0], 0.0) + time.perf_counter() - start
        return lane.slots[shape]

    def _new_slot(self, lane: _Lane, shape: tuple[int, ...]) -> _Slot:
        host_in = torch.empty(shape, dtype=torch.float32, pin_memory=True)
        staging = torch.empty(shape, dtype=torch.float32, device=self._device)
        plain = self._dtype == torch.float32 and self._memory_format == torch.contiguous_format
        model_in = staging if plain else torch.empty(shape, dtype=self._dtype, device=self._device,
                                                     memory_format=self._memory_format)
        slot = _Slot(host_in, staging, model_in)
        model_in.normal_()
        with torch.cuda.stream(lane.stream):
            for _ in range(_WARMUP_CALLS):       # compiles and autotunes a compiled model for this shape
                self._forward(slot)
        lane.stream.synchronize()
        if self.options.cuda_graphs:
            slot.graph = torch.cuda.CUDAGraph()
            # thread_local: the capture checks this thread's CUDA calls only (the reader and writer threads run on)
            with torch.cuda.graph(slot.graph, stream=lane.stream, capture_error_mode="thread_local"):
                slot.graph_out = self._model(model_in)
        return slot

    def profiler(self):
        from genet.runners.torch_profile import TorchProfiler

        return TorchProfiler(self)

    def close(self) -> None:
        if self._lane is not None:
            self._lane.slots.clear()


def _raise_recompile_limit() -> None:
    import torch._dynamo.config as dynamo_config

    name = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
    setattr(dynamo_config, name, max(getattr(dynamo_config, name), _RECOMPILE_LIMIT))
