"""An ONNX model's layers on ONNX Runtime or OpenVINO: intermediate outputs of a copy of the model.

As msit's ``debug compare`` dumps an ONNX model (msit ``msquickcmp/onnx_model/onnx_dump_data.py``:
every node output made a graph output, ``ORT_DISABLE_ALL`` unless fusion is asked for), the copy
runs on ONNX Runtime with graph optimisations off, so that every node survives and computes what
the graph says; a QDQ int8 graph then computes its convolutions in float on dequantized inputs and
each layer's value is its DequantizeLinear output. OpenVINO compiles the copy with the extra outputs
(CPU, f32 precision hint as genet's OpenVINO runner); an output it cannot keep is not exposed.

Marking outputs can change what a runtime fuses (what Polygraphy's ``mark all`` is known for), so
a last row holds the model's output *as deployed*: genet's ONNX Runtime runner (the same call as
``quantize.py``'s check), or the unmodified model compiled as genet's OpenVINO runner compiles it; the
largest difference between the copy's logits and the deployed ones is noted with the run.
"""

from __future__ import annotations

import functools
import math
import tempfile
from pathlib import Path

import numpy as np
import onnx

from genet.core.errors import GenetError, first_line
from genet.layers.capture import DEPLOYED, Batch, Layer, RunInfo, to_float32
from genet.layers.graph_copies import ISOLATED_PREFIX, fp16_copy, graph_layers, isolated_copy, with_outputs
from genet.layers.names import module_names_of_nodes
from genet.runners import RunnerOptions, open_runner
from genet.runners.onnxrt import QUANTIZED_OPS

HOW = {
    "onnxruntime": "ONNX Runtime, graph optimisations off, every layer output added to a copy of the model",
    "openvino": "OpenVINO (CPU, f32 hint), every layer output added to a copy of the model",
}
HOW_INT8 = "; int8 layers read at their DequantizeLinear (the int8 value mapped back to the float tensor)"
HOW_FP16 = ("; fp16 emulated: weights, input and every layer output rounded to fp16, arithmetic in fp32 "
            "(as an fp16 device stores data; see docs/layers.md)")


def load_onnx(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise GenetError(f"{path}: no such ONNX file")
    try:
        return onnx.load(str(path))
    except Exception as exc:        # protobuf's DecodeError and friends
        raise GenetError(f"{path}: not an ONNX model ({type(exc).__name__}: {first_line(exc)})") from None


def static_batch(model: onnx.ModelProto) -> int | None:
    dim = model.graph.input[0].type.tensor_type.shape.dim
    return dim[0].dim_value if dim and dim[0].HasField("dim_value") and dim[0].dim_value > 0 else None


class _OrtSession:
    def __init__(self, model: onnx.ModelProto, where: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            self._session = ort.InferenceSession(model.SerializeToString(), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:     # onnxruntime's own exception classes
            raise GenetError(f"{where}: ONNX Runtime cannot load the copy with layer outputs ({first_line(exc)})") \
                from None
        self.outputs = {o.name for o in self._session.get_outputs()}

    def run(self, feeds: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
        return dict(zip(names, self._session.run(names, feeds)))


@functools.lru_cache(maxsize=None)
def _openvino_core():
    """One OpenVINO Core for every model compiled here, kept for the process: OpenVINO 2026.4 crashes the
    process on a later signal once the compiled models of two Cores that lived at once are freed."""
    from genet.runners.openvino import ov

    return ov.Core()


class _OpenVinoSession:
    def __init__(self, model: onnx.ModelProto, where: Path):
        from genet.runners.openvino import cpu_config

        core = _openvino_core()
        with tempfile.TemporaryDirectory(prefix="genet-layers-") as scratch:
            copy_path = Path(scratch) / "layers.onnx"
            onnx.save(model, str(copy_path))
            try:
                self._compiled = core.compile_model(core.read_model(str(copy_path)), "CPU", cpu_config(streams=1))
            except Exception as exc:     # OpenVINO's RuntimeError subclasses
                raise GenetError(f"{where}: OpenVINO cannot compile the copy with layer outputs "
                                 f"({first_line(exc)})") from None
        self._ports = {name: port for port in self._compiled.outputs for name in port.get_names()}
        self.outputs = set(self._ports)
        self._request = self._compiled.create_infer_request()

    def run(self, feeds: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
        results = self._request.infer(feeds)
        return {name: np.array(results[self._ports[name]]) for name in names}


class _DeployedOpenVino:
    """The model as genet's OpenVINO runner compiles it (``compile_for_cpu``, one stream), on the one Core."""

    def __init__(self, path: Path):
        from genet.runners.openvino import compile_for_cpu

        try:
            self._compiled = compile_for_cpu(_openvino_core(), path, streams=1)
        except Exception as exc:         # OpenVINO's RuntimeError subclasses
            raise GenetError(f"{path}: not a loadable ONNX model ({first_line(exc)})") from None
        self._request = self._compiled.create_infer_request()

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.array(self._request.infer({0: batch})[self._compiled.outputs[0]])

    def close(self) -> None:
        self._request = self._compiled = None


def _deployed(path: Path, backend: str):
    if backend == "openvino":
        return _DeployedOpenVino(path)
    return open_runner(path, backend, RunnerOptions(device="cpu"))


_SESSIONS = {"onnxruntime": _OrtSession, "openvino": _OpenVinoSession}


class OnnxCapture:
    """An ONNX file on ONNX Runtime or OpenVINO, or its fp16 emulation on ONNX Runtime."""

    can_isolate = True

    def __init__(self, path: Path, backend: str = "onnxruntime", fp16: bool = False):
        model = load_onnx(path)
        items, self.fused = graph_layers(model)
        self.modules = module_names_of_nodes(node.name for node in model.graph.node)
        quantized = any(node.op_type in QUANTIZED_OPS for node in model.graph.node)
        if fp16 and quantized:
            raise GenetError(f"{path}: --fp16 emulates fp16 from an fp32 model; this one is quantized")
        precision = "int8" if quantized else "fp16" if fp16 else "fp32"
        if fp16:
            model, items = fp16_copy(model, items)
        self._path, self._backend, self._model, self._items = path, backend, model, items
        self.layers = [item.layer for item in items]
        self.static_batch = static_batch(model)
        self._input = model.graph.input[0].name
        self._output = model.graph.output[0].name
        label = f"{'ov' if backend == 'openvino' else 'ort'} {precision}"
        how = HOW[backend] + (HOW_INT8 if quantized else "") + (HOW_FP16 if fp16 else "")
        self.info = RunInfo(label, str(path), backend, precision, how)
        self._session = _SESSIONS[backend](with_outputs(model, [item.value for item in items]), path)
        self._exposed = [item for item in items if item.value in self._session.outputs]
        self._isolated = None
        self._fed: list = []
        self._deployed = None if fp16 else _deployed(path, backend)
        if self._deployed is not None:
            self.layers.append(Layer(DEPLOYED, "model output", self._output))
        self._fidelity = 0.0

    def _chunks(self, images: np.ndarray):
        """The batch cut and zero-padded to a static batch size (the count of real rows with each chunk)."""
        size = self.static_batch or len(images)
        for start in range(0, len(images), size):
            chunk = images[start:start + size]
            real = len(chunk)
            if real < size:
                chunk = np.concatenate([chunk, np.zeros((size - real, *chunk.shape[1:]), chunk.dtype)])
            yield start, real, chunk

    def _run(self, session, images: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        names = [item.value for item in self._exposed]
        parts: dict[str, list[np.ndarray]] = {item.layer.name: [] for item in self._exposed}
        for start, real, chunk in self._chunks(images):
            feeds = {self._input: chunk}
            for name, value in (extra or {}).items():
                feeds[name] = _padded(value[start:start + real], len(chunk))
            try:
                values = session.run(feeds, names)
            except Exception as exc:     # runtime-specific exception classes
                raise GenetError(f"{self._path}: inference of the copy with layer outputs failed "
                                 f"({first_line(exc)})") from None
            for item in self._exposed:
                parts[item.layer.name].append(to_float32(values[item.value])[:real])
        return {name: np.concatenate(chunks) for name, chunks in parts.items()}

    def outputs(self, batch: Batch, reference: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        values = self._run(self._session, batch.images)
        if self._deployed is not None:
            chunks = self._chunks(batch.images)
            values[DEPLOYED] = np.concatenate([self._deployed.run(chunk)[:real] for _, real, chunk in chunks])
            copy_output = next((values[i.layer.name] for i in self._exposed if i.value == self._output), None)
            if copy_output is not None:
                self._note_fidelity(copy_output, values[DEPLOYED])
        return values

    def _note_fidelity(self, copy_logits: np.ndarray, deployed: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            worst = float(np.abs(copy_logits.astype(np.float64) - deployed).max(initial=0.0))
        self._fidelity = worst if math.isnan(worst) else max(self._fidelity, worst)

    def isolated(self, batch: Batch, reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._isolated is None:
            fed = {item.layer.name for item in self._items if item.layer.name in reference}
            model = isolated_copy(self._model, self._items, fed)
            self._fed = [item for item in self._items if ISOLATED_PREFIX + item.tensor in
                         {graph_input.name for graph_input in model.graph.input}]
            self._isolated = _SESSIONS[self._backend](with_outputs(model, [i.value for i in self._items]), self._path)
        extra = {ISOLATED_PREFIX + item.tensor: reference[item.layer.name] for item in self._fed}
        return self._run(self._isolated, batch.images, extra)

    def close(self) -> None:
        """Release the sessions now (an OpenVINO model freed later, at a random collection, can crash the process)."""
        self._session = self._isolated = None
        if self._deployed is not None:
            self.info.notes.append(f"the copy with layer outputs and the model as deployed differ by at most "
                                   f"{self._fidelity:.3g} in the logits")
            self._deployed.close()
            self._deployed = None


def _padded(value: np.ndarray, rows: int) -> np.ndarray:
    value = np.ascontiguousarray(value, dtype=np.float32)
    if len(value) < rows:
        value = np.concatenate([value, np.zeros((rows - len(value), *value.shape[1:]), np.float32)])
    return value
