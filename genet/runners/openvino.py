"""OpenVINO backend (optional: ``pip install genet[openvino]``): the .onnx files, on the CPU.

fp32 computes in fp32: OpenVINO's default on a CPU with bf16 instructions would compute an fp32
model in bf16, a silent precision change, so every model compiles with INFERENCE_PRECISION_HINT
f32 (an int8 model's quantized layers still run int8). ``--threads`` sets INFERENCE_NUM_THREADS
(default: all cores). One stream (NUM_STREAMS 1) and one InferRequest, one call at a time: two
streams with two calls in flight gave 1.20-1.35x whole-process, short of the 1.3x a user would
see everywhere (benchmarks/results/streams.md).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from genet.core.cpuinfo import cpu_label
from genet.core.errors import GenetError, first_line
from genet.runners.base import CallTimes, Runner, RunnerOptions, base_versions, static_shape, usable_cpus
from genet.runners.onnxrt import OnnxFile

try:
    import openvino as ov
except ModuleNotFoundError as exc:
    if exc.name != "openvino":
        raise
    raise GenetError("--backend openvino needs the openvino package: pip install genet[openvino] "
                     "(or pip install openvino)") from None

def cpu_config(threads: int = 0, streams: int = 0, precision_hint: str = "f32") -> dict[str, object]:
    """compile_model settings for the CPU; 0 threads or streams leaves OpenVINO's choice."""
    config: dict[str, object] = {"INFERENCE_PRECISION_HINT": precision_hint}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    if streams:
        config["NUM_STREAMS"] = streams
    return config


def compile_for_cpu(core: "ov.Core", model_path: Path, batch: int | None = None, **settings) -> "ov.CompiledModel":
    """``model_path`` compiled for the CPU with ``cpu_config(**settings)``; reshaped to ``batch`` when given."""
    model = core.read_model(str(model_path))
    if batch is not None:
        model.reshape([batch, *model.inputs[0].get_partial_shape()[1:]])
    return core.compile_model(model, "CPU", cpu_config(**settings))


class OpenVinoRunner(OnnxFile, Runner):
    """One compiled model (the ONNX file's one input and first output) and its InferRequest."""

    name = "openvino"
    OPTIONS = frozenset({"device", "threads"})

    def __init__(self, model_path: Path, options: RunnerOptions):
        super().__init__(model_path, options)
        if options.device not in ("auto", "cpu"):
            raise GenetError(f"{model_path}: the openvino backend runs on the CPU only, not --device {options.device}")
        try:
            self._compiled = compile_for_cpu(ov.Core(), model_path, **self.compile_settings())
        except Exception as exc:     # OpenVINO raises RuntimeError subclasses of its own
            raise GenetError(f"{model_path}: not a loadable ONNX model ({first_line(exc)})") from None
        inputs = self._compiled.inputs
        shape = inputs[0].get_partial_shape() if len(inputs) == 1 else None
        if shape is None or not shape.rank.is_static or shape.rank.get_length() != 4 \
                or inputs[0].get_element_type() != ov.Type.f32:
            found = ", ".join(f"{i.get_any_name()} {i.get_element_type()} {i.get_partial_shape()}" for i in inputs)
            raise GenetError(f"{model_path}: expected one float32 N×C×H×W image input, found: {found}")
        self._input_shape = static_shape(d.get_length() if d.is_static else None for d in shape)
        self._threads = int(self._compiled.get_property("INFERENCE_NUM_THREADS"))
        if options.threads and self._threads != options.threads:
            raise GenetError(f"{model_path}: OpenVINO runs {self._threads} threads, not --threads {options.threads} "
                             f"(it uses at most the {usable_cpus()} usable cores)")
        self._request = self._compiled.create_infer_request()

    @property
    def device_name(self) -> str:
        return cpu_label()

    def versions(self) -> dict[str, str]:
        return {**base_versions(), "openvino": ov.__version__}

    def settings(self) -> dict[str, object]:
        return {"inference_threads": self._threads,
                "inference_precision": self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()}

    def compile_settings(self) -> dict[str, object]:
        """The settings ``cpu_config`` takes for the runner's model: its threads, one stream."""
        return {"threads": self.options.threads, "streams": 1}

    def profiler(self):
        from genet.runners.openvino_profile import OvProfiler

        core = ov.Core()
        try:
            compiled = core.compile_model(core.read_model(str(self.model_path)), "CPU",
                                          {**cpu_config(**self.compile_settings()), "PERF_COUNT": True})
        except Exception as exc:     # OpenVINO raises RuntimeError subclasses of its own
            raise GenetError(f"{self.model_path}: cannot compile it with PERF_COUNT ({first_line(exc)})") from None
        return OvProfiler(self, core, compiled)

    def run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        logits, seconds = self.timed_infer(self._request, batch)
        return self.check_logits(logits, len(batch)), CallTimes(seconds)

    def timed_infer(self, request: "ov.InferRequest", batch: np.ndarray) -> tuple[np.ndarray, float]:
        """The logits of ``request`` (of this model, or of its profiled twin) and the call's seconds."""
        start = time.perf_counter()
        try:
            logits = request.infer({0: batch})[request.model_outputs[0]]
        except Exception as exc:
            raise GenetError(f"{self.model_path}: inference failed on a {list(batch.shape)} batch "
                             f"({first_line(exc)})") from None
        return logits, time.perf_counter() - start

    def close(self) -> None:
        self._request = None
        self._compiled = None
