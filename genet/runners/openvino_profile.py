"""OpenVINO's performance counters, per executed node, mapped onto the model's nodes.

A model compiled with ``PERF_COUNT`` gives, after each inference, ``InferRequest.get_profiling_info()``:
one ``ProfilingInfo`` per node of the *executable* graph (``node_name``, ``node_type``, ``exec_type``
— the kernel, e.g. ``brgconv_avx512_f32`` —, ``status``, ``real_time``, ``cpu_time``; OpenVINO
2026.4 Python API). Those are the counters of that request's last inference only, so the profiler
reads them after every call. The executable graph (``CompiledModel.get_runtime_model()``, or the XML
benchmark_app ``-exec_graph_path`` writes) lists for each node the original layers it computes in
its ``originalLayersNames`` (comma-separated): the ONNX node names, or names OpenVINO gave the nodes
it made itself (``Multiply_4182`` for a decomposed BatchNormalization), which map to no layer.
benchmark_app's ``-report_type detailed_counters`` CSV holds the same counters
(``genet.layers.vendor_profiles``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import onnx

from genet.runners.base import CallTimes
from genet.runners.onnx_graph import load_model
from genet.runners.profiling import Kernel, KernelTimes, LayerProfiler


@dataclass(frozen=True)
class Counter:
    """One node's counter of one inference."""

    name: str
    node_type: str
    exec_type: str
    executed: bool
    seconds: float


def ov_kernel_times(calls: Sequence[Sequence[Counter]], original_names: dict[str, tuple[str, ...]] | None,
                    model: onnx.ModelProto | None = None) -> KernelTimes:
    """Per executed node: its seconds summed over ``calls`` and the original layers it computes."""
    seconds: dict[str, float] = defaultdict(float)
    kinds: dict[str, tuple[str, str]] = {}
    for counters in calls:
        for counter in counters:
            if counter.executed:
                seconds[counter.name] += counter.seconds
                kinds.setdefault(counter.name, (counter.node_type, counter.exec_type))
    kernels = [Kernel(name, kinds[name][0], total, (original_names or {}).get(name, ()), kinds[name][1])
               for name, total in seconds.items()]
    notes = [] if original_names is not None else [
        "no executable graph given: a fused node is shown under its own name only"]
    return KernelTimes(kernels, len(calls), notes=notes, model=model)


def split_original_names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


class OvProfiler(LayerProfiler):
    """The runner's model compiled again with the runner's settings and PERF_COUNT on."""

    def __init__(self, runner, core, compiled):
        self._runner, self._core, self._compiled = runner, core, compiled
        self._request = compiled.create_infer_request()
        self._recording = False
        self._calls: list[list[Counter]] = []

    def run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        logits, seconds = self._runner.timed_infer(self._request, batch)
        if self._recording:
            self._calls.append([Counter(info.node_name, info.node_type, info.exec_type,
                                        str(info.status).endswith("EXECUTED"), info.real_time.total_seconds())
                                for info in self._request.get_profiling_info()])
        return logits, CallTimes(seconds)

    def start(self) -> None:
        self._recording = True

    def collect(self) -> KernelTimes:
        self._recording = False
        names = {}
        for op in self._compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            if "originalLayersNames" in info:
                names[op.get_friendly_name()] = split_original_names(info["originalLayersNames"].astype(str))
        return ov_kernel_times(self._calls, names, load_model(self._runner.model_path))

    def dense_matmul(self, precision: str, size: int) -> Callable[[], None] | None:
        from genet.runners.onnxrt_profile import dense_matmul_model

        model_bytes = dense_matmul_model(precision, size)
        if model_bytes is None:
            return None
        from genet.runners.openvino import cpu_config

        compiled = self._core.compile_model(self._core.read_model(model_bytes, b""), "CPU",
                                            cpu_config(**self._runner.compile_settings()))
        a = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
        request = compiled.create_infer_request()
        return lambda: request.infer({0: a})

    def close(self) -> None:
        self._request = None
        self._compiled = None
