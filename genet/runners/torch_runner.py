"""PyTorch backend: a GENet checkpoint (.pth/.pth.tar) on the CPU or a CUDA GPU.

fp32, fp16 and bf16; channels-last memory format; CUDA graphs (one captured graph per
batch shape, captured on first use); ``torch.compile`` (with ``--cuda-graphs`` it uses
torch's own graph mode, ``mode="reduce-overhead"``, instead of the manual capture).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..checkpoint import load_model
from ..constants import CHANNELS, IMAGE_SIZE
from ..errors import GenetError
from .base import PRECISIONS, CallTimes, Runner, RunnerOptions, base_versions, cpu_name

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_GRAPH_WARMUP_CALLS = 3     # eager calls on a side stream before capture, as torch's CUDA-graph notes advise


class _CapturedGraph(NamedTuple):
    graph: "torch.cuda.CUDAGraph"
    static_input: torch.Tensor
    static_output: torch.Tensor


def pick_device(options: RunnerOptions, where: Path) -> torch.device:
    """cpu, or cuda:{device_id}; asking for CUDA where there is none is an error."""
    if options.device == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if options.device == "cuda":
            raise GenetError(f"{where}: --device cuda asked for, but torch {torch.__version__} sees no CUDA "
                             f"device on this machine")
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if options.device_id >= count:
        raise GenetError(f"{where}: -device_id={options.device_id}, but this machine has {count} CUDA device(s)")
    return torch.device("cuda", options.device_id)


class TorchRunner(Runner):
    name = "torch"
    OPTIONS = frozenset({"device", "precision", "threads", "channels_last", "cuda_graphs", "compile", "extent",
                         "unsafe_load"})
    PRECISIONS = PRECISIONS

    def __init__(self, model_path: Path, options: RunnerOptions):
        super().__init__(model_path, options)
        self._device = pick_device(options, model_path)
        self._on_cuda = self._device.type == "cuda"
        if options.cuda_graphs and not self._on_cuda:
            raise GenetError(f"{model_path}: --cuda-graphs needs a CUDA device; this run is on the CPU")
        if options.threads:
            torch.set_num_threads(options.threads)
        overrides = {"extent": options.extent} if options.extent is not None else None
        model, self.variant = load_model(model_path, overrides, options.unsafe_load, log=options.log)
        self._dtype = DTYPES[options.precision]
        self._memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
        model = model.to(device=self._device, dtype=self._dtype, memory_format=self._memory_format)
        if self._on_cuda:
            torch.backends.cudnn.benchmark = True      # fixed shapes: let cuDNN pick its fastest kernels
        if options.compile:
            model = torch.compile(model, mode="reduce-overhead" if options.cuda_graphs else None, dynamic=False)
        self._model = model
        self._manual_graphs = options.cuda_graphs and not options.compile
        self._graphs: dict[tuple[int, ...], _CapturedGraph] = {}

    @property
    def input_shape(self):
        return (None, CHANNELS, IMAGE_SIZE, IMAGE_SIZE)

    @property
    def device_name(self) -> str:
        if self._on_cuda:
            return torch.cuda.get_device_name(self._device)
        return cpu_name()

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
        }
        if self._on_cuda:
            # fp32 convolutions on Ampere and later run in TF32 unless this is off.
            found["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
        return found

    def _to_model_input(self, batch: np.ndarray) -> torch.Tensor:
        images = torch.from_numpy(batch)
        if self._on_cuda:
            images = images.to(self._device)
        return images.to(dtype=self._dtype, memory_format=self._memory_format)

    def _graph_for(self, images: torch.Tensor) -> _CapturedGraph:
        key = tuple(images.shape)
        if key not in self._graphs:
            static_input = images.clone()
            side = torch.cuda.Stream(self._device)
            side.wait_stream(torch.cuda.current_stream(self._device))
            with torch.cuda.stream(side):
                for _ in range(_GRAPH_WARMUP_CALLS):
                    self._model(static_input)
            torch.cuda.current_stream(self._device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_output = self._model(static_input)
            self._graphs[key] = _CapturedGraph(graph, static_input, static_output)
        return self._graphs[key]

    @torch.no_grad()
    def run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        images = self._to_model_input(batch)
        if not self._on_cuda:
            start = time.perf_counter()
            output = self._model(images)
            seconds = time.perf_counter() - start
            return self.check_logits(output.float().numpy(), len(batch)), CallTimes(seconds)
        if self._manual_graphs:
            captured = self._graph_for(images)
            captured.static_input.copy_(images)
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        if self._manual_graphs:
            captured.graph.replay()
            output = captured.static_output
        else:
            if self.options.compile and self.options.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()   # the previous output is already copied out
            output = self._model(images)
        end.record()
        logits = output.float().cpu().numpy()
        end.synchronize()
        return self.check_logits(logits, len(batch)), CallTimes(begin.elapsed_time(end) / 1000.0)

    def close(self) -> None:
        self._graphs.clear()
