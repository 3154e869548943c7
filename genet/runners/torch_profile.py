"""PyTorch's profiler, grouped by layer: one ``record_function`` range per layer of the model.

``torch.profiler`` groups by aten op, not by module. The profiler here opens a
``record_function("genet::<layer>")`` range around each leaf module's call (forward pre- and post-hooks)
and around each op that a module's ``forward`` computes with a function (``F.relu``, ``torch.sigmoid``,
``*``, ``+``; a ``TorchFunctionMode``), named as the ONNX export names that op
(``block1.layer.0/Relu_1``: ``genet.runners.torch_names``). A range's time is its CPU time on the CPU and the
time of the CUDA kernels launched inside it on a GPU; its kernels are the aten ops (CPU) or CUDA kernels
(GPU) that did the work. ``KernelTimes.model`` is left empty: the layers' FLOPs and op types come from the
module's ONNX export, which ``genet.layers`` makes (``flops.export_for_layers``).

A compiled model (``--compile``) or a captured CUDA graph (``--cuda-graphs``) has no module calls to
hook, so neither can be profiled here.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Callable

import numpy as np
import onnx
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from genet.core.errors import GenetError
from genet.runners.base import CallTimes
from genet.runners.profiling import LAYER_NAMES, Kernel, KernelTimes, LayerProfiler
from genet.runners.torch_names import LayerNames

RANGE_PREFIX = "genet::"
_NO_TIME = (nn.Identity,)
# aten ops that allocate or reshape rather than compute: never named as a layer's kernels.
_BOOKKEEPING = ("aten::empty", "aten::empty_like", "aten::resize_", "aten::as_strided", "aten::view", "aten::reshape",
                "aten::_reshape_alias", "aten::expand", "aten::t", "aten::transpose", "aten::contiguous")


class _LayerRanges(TorchFunctionMode):
    """Opens a record_function range per leaf module call and per function op of a module's forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self._names = LayerNames(model)
        self._scopes: list[object] = []
        self._handles: list = []
        self.kinds: dict[str, str] = {}         # layer → the module's class or the function's ONNX op

    def __enter__(self):
        """Hook every module for the call (the runner's own calls stay unhooked)."""
        for module in self._names.paths:
            self._handles.append(module.register_forward_pre_hook(self._enter))
            self._handles.append(module.register_forward_hook(self._exit))
        return super().__enter__()

    def __exit__(self, *exc):
        self.remove()
        return super().__exit__(*exc)

    def _enter(self, module: nn.Module, args) -> None:
        name, leaf = self._names.enter(module)
        scope = None
        if leaf and not isinstance(module, _NO_TIME):
            self.kinds[name] = type(module).__name__
            scope = torch.autograd.profiler.record_function(RANGE_PREFIX + name)
            scope.__enter__()
        self._scopes.append(scope)

    def _exit(self, module: nn.Module, args, output) -> None:
        self._names.leave()
        scope = self._scopes.pop()
        if scope is not None:
            scope.__exit__(None, None, None)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        named = self._names.function(func)
        if named is None:
            return func(*args, **kwargs)
        layer, op = named
        self.kinds[layer] = op
        with torch.autograd.profiler.record_function(RANGE_PREFIX + layer):
            return func(*args, **kwargs)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._names.clear()
        self._scopes.clear()


def layer_kernel_times(events, calls: int, on_cuda: bool, kinds: dict[str, str],
                       model: onnx.ModelProto | None) -> KernelTimes:
    """Per layer range: its time summed over the calls, and the aten ops or CUDA kernels under it."""
    seconds: dict[str, float] = defaultdict(float)
    work: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for event in events:
        if not event.name.startswith(RANGE_PREFIX):
            continue
        layer = event.name[len(RANGE_PREFIX):]
        if on_cuda:
            kernels = [k for e in _descendants(event) for k in e.kernels]
            seconds[layer] += sum(k.duration for k in kernels) / 1e6
            for kernel in kernels:
                work[layer][kernel.name] += kernel.duration
        else:
            seconds[layer] += event.cpu_time_total / 1e6
            for child in _descendants(event):
                if child is not event and child.self_cpu_time_total > 0 and child.name not in _BOOKKEEPING:
                    work[layer][child.name] += child.self_cpu_time_total
    kernels = []
    for layer, total in seconds.items():
        heaviest = sorted(work[layer], key=work[layer].get, reverse=True)[:2]
        kernels.append(Kernel(layer, kinds.get(layer, ""), total, (layer,), ", ".join(heaviest)))
    return KernelTimes(kernels, calls, names=LAYER_NAMES, model=model)


def _descendants(event):
    found, todo = [], [event]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(current.cpu_children)
    return found


class TorchProfiler(LayerProfiler):
    """The runner's model with a range per layer, under ``torch.profiler``."""

    def __init__(self, runner):
        options = runner.options
        if options.compile or options.cuda_graphs:
            raise GenetError(f"{runner.model_path}: --profile cannot see the layers of a "
                             f"{'compiled model (--compile)' if options.compile else 'CUDA graph (--cuda-graphs)'};"
                             f" profile without it")
        self._runner = runner
        self._model = runner._model
        self._device, self._dtype, self._format = runner._device, runner._dtype, runner._memory_format
        self._on_cuda = self._device.type == "cuda"
        self._ranges = _LayerRanges(self._model)
        self.module = runner._model          # for the layers' FLOPs: genet.layers.flops.export_for_layers
        self._profile = None
        self._calls = 0

    @torch.no_grad()
    def run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        images = torch.from_numpy(batch).to(device=self._device, dtype=self._dtype, memory_format=self._format)
        start = time.perf_counter()
        with self._ranges:
            output = self._model(images)
        if self._on_cuda:
            torch.cuda.synchronize(self._device)
        seconds = time.perf_counter() - start
        if self._profile is not None:
            self._calls += 1
        return output.float().cpu().numpy(), CallTimes(seconds)

    def start(self) -> None:
        activities = [torch.profiler.ProfilerActivity.CPU]
        if self._on_cuda:
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        self._profile = torch.profiler.profile(activities=activities)
        self._profile.__enter__()

    def collect(self) -> KernelTimes:
        self._profile.__exit__(None, None, None)
        events = self._profile.events()
        return layer_kernel_times(events, self._calls, self._on_cuda, self._ranges.kinds, None)

    def dense_matmul(self, precision: str, size: int) -> Callable[[], None] | None:
        if precision != self._runner.precision:
            return None
        a = torch.randn(size, size, device=self._device).to(self._dtype)
        b = torch.randn(size, size, device=self._device).to(self._dtype)

        def call() -> None:
            torch.mm(a, b)
            if self._on_cuda:
                torch.cuda.synchronize(self._device)

        return call

    def close(self) -> None:
        self._ranges.remove()
