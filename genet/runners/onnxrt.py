"""ONNX Runtime backend: CPU by default; CUDA / TensorRT execution providers where installed.

One call at a time, on the library's default intra-op threads unless ``--threads`` (two calls in
flight on half the cores each gave no 1.3x a user would see: benchmarks/results/streams.md).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from genet.core.cpuinfo import cpu_label
from genet.core.errors import GenetError, first_line
from genet.runners.base import CallTimes, Runner, RunnerOptions, base_versions, static_shape

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}
_GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
# Ops only a quantized graph holds (QDQ pairs, QLinear*, integer convolutions): such a model runs int8.
QUANTIZED_OPS = frozenset({
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul",
    "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearGlobalAveragePool", "QLinearAveragePool",
    "QLinearConcat", "QLinearLeakyRelu", "QGemm", "ConvInteger", "MatMulInteger",
})
_GRAPH_OPT = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def resolve_providers(options: RunnerOptions, where: Path) -> list[str]:
    """Provider names in priority order, CPU always last as the fallback; unknown ones are errors."""
    requested = [PROVIDER_ALIASES.get(p.lower(), p) for p in options.providers]
    if not requested:
        requested = ["CUDAExecutionProvider"] if options.device == "cuda" else []
    elif options.device == "cpu" and any(p in _GPU_PROVIDERS for p in requested):
        raise GenetError(f"{where}: --device cpu contradicts --providers {','.join(options.providers)}")
    available = ort.get_available_providers()
    for name in requested:
        if name not in available:
            raise GenetError(f"{where}: onnxruntime {ort.__version__} has no {name} on this machine "
                             f"(available: {', '.join(available)})")
    return [p for p in requested if p != "CPUExecutionProvider"] + ["CPUExecutionProvider"]


def graph_precision(model_path: Path) -> str:
    """The precision a graph computes in: int8 when it holds quantization ops, else fp32.

    (genet writes no fp16 ONNX models.)
    """
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    return "int8" if any(node.op_type in QUANTIZED_OPS for node in graph.node) else "fp32"


class OnnxFile:
    """For runners of ONNX files: the precision is the graph's, read once (mix in before ``Runner``)."""

    model_path: Path

    @functools.cached_property
    def precision(self) -> str:
        return graph_precision(self.model_path)


def _provider_entry(name: str, device_id: int) -> str | tuple[str, dict]:
    return (name, {"device_id": str(device_id)}) if name in _GPU_PROVIDERS else name


class OnnxRuntimeRunner(OnnxFile, Runner):
    """One ``InferenceSession``; the model's first input and first output are used."""

    name = "onnxruntime"
    OPTIONS = frozenset({"device", "providers", "threads", "graph_opt"})

    def __init__(self, model_path: Path, options: RunnerOptions):
        super().__init__(model_path, options)
        self._providers = resolve_providers(options, model_path)
        self._threads = options.threads
        self._session = self.new_session(self.session_options())
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].type != "tensor(float)":
            found = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
            raise GenetError(f"{model_path}: expected one float32 N×C×H×W image input, found: {found}")
        self._input_name = inputs[0].name
        self._output_name = self._session.get_outputs()[0].name
        self._input_shape = static_shape(inputs[0].shape)

    def session_options(self) -> ort.SessionOptions:
        """The runner's session settings (threads, graph optimisation, no spinning)."""
        session_options = ort.SessionOptions()
        session_options.log_severity_level = 3
        session_options.intra_op_num_threads = self._threads
        session_options.graph_optimization_level = _GRAPH_OPT[self.options.graph_opt]
        # Spinning intra-op threads would take the cores the reader and writer threads need.
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return session_options

    def new_session(self, session_options: ort.SessionOptions, model: str | bytes | None = None):
        """An InferenceSession of ``model`` (default: the runner's file) on the runner's providers."""
        try:
            return ort.InferenceSession(
                str(self.model_path) if model is None else model, session_options,
                providers=[_provider_entry(p, self.options.device_id) for p in self._providers])
        except Exception as exc:     # onnxruntime raises its own exception classes for every load failure
            raise GenetError(f"{self.model_path}: not a loadable ONNX model ({first_line(exc)})") from None

    def profiler(self):
        from genet.runners.onnxrt_profile import OrtProfiler

        return OrtProfiler(self)

    @property
    def device_name(self) -> str:
        active = self._session.get_providers()
        gpu = [p for p in active if p in _GPU_PROVIDERS]
        if gpu:
            return f"{gpu[0]} device {self.options.device_id}"
        return cpu_label()

    @property
    def providers(self) -> list[str]:
        return list(self._session.get_providers())

    def versions(self) -> dict[str, str]:
        return {**base_versions(), "onnxruntime": ort.__version__}

    def settings(self) -> dict[str, object]:
        return {"providers": self.providers, "intra_op_threads": self._threads or "default",
                "graph_optimization": self.options.graph_opt}

    def run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        logits, seconds = self.timed_run(self._session, batch)
        return self.check_logits(logits, len(batch)), CallTimes(seconds)

    def timed_run(self, session: ort.InferenceSession, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """The logits of ``session`` (this model's, or its profiled twin) and the call's seconds."""
        start = time.perf_counter()
        try:
            logits = session.run([self._output_name], {self._input_name: batch})[0]
        except Exception as exc:     # onnxruntime's own exception classes
            raise GenetError(f"{self.model_path}: inference failed on a {list(batch.shape)} batch "
                             f"({first_line(exc)})") from None
        return logits, time.perf_counter() - start
