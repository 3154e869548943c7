"""ONNX Runtime's profiler: the kernel events of a profiled session, mapped onto the model's nodes.

A session with ``SessionOptions.enable_profiling`` writes a Chrome-trace JSON (onnxruntime
``core/framework/sequential_executor.cc``): one ``{"cat": "Node", "name": "<node>_kernel_time",
"dur": µs, "args": {"op_name", "provider", …}}`` event per kernel run, inside one
``{"cat": "Session", "name": "model_run"}`` event per ``run()`` on the same thread (``tid``).

The node names are those of the *optimised* graph, which ``optimized_model_filepath`` saves from the
same session. How they relate to the model's nodes (onnxruntime 1.32, read off the graphs it writes):

- a node it kept keeps its name; a fusion such as ``FusedConv`` (Conv + Relu) takes the name of its
  first node, and the nodes after it vanish;
- the CPU's NCHWc layout pass names a node after the tensor the fused group writes:
  ``<tensor>_nchwc`` (``/block1/layer/layer.0/Relu_1_output_0_nchwc`` is the Conv *and* the Relu
  that writes ``Relu_1_output_0``), ``<tensor>_bn_nchwc`` for a BatchNormalization turned into a
  depthwise convolution; the nodes before it in the group vanish;
- ``ReorderInput`` / ``ReorderOutput`` nodes convert a tensor between layouts: each is counted with
  the node whose tensor it converts;
- a node it rewrote (an int8 model's QDQ Conv turned QLinearConv) is named ``<node>_token_<n>``.

``ort_kernel_times`` applies these rules, in this order: a kernel named after a tensor whose
producer is not of its op (a Conv named after a Relu's output) takes the vanished nodes before it
back to one of its op; then a kernel named after a tensor, or a fused one named after its node
(FusedConv, FusedGemm …), takes the vanished nodes that follow that node one after the other (an
activation fused into it, such as a Relu the NCHWc pass fused into a converted BatchNormalization).
A vanished node reached by no rule is left out, and said so.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from genet.runners.base import CallTimes
from genet.runners.onnx_graph import GraphIndex, load_model
from genet.runners.profiling import Kernel, KernelTimes, LayerProfiler

KERNEL_SUFFIX = "_kernel_time"
_NCHWC = re.compile(r"^(?P<tensor>.+?)(?P<suffix>_bn_nchwc|_nchwc)$")
_TOKEN = re.compile(r"^(?P<node>.+)_token_\d+$")
# The op a fused or quantized kernel computes, where its name is not the ONNX op's.
# Kernels that carry an activation fused after their node (ONNX Runtime's contrib ops).
FUSING_OPS = frozenset({"FusedConv", "NhwcFusedConv", "FusedGemm", "FusedMatMul"})
BASE_OPS = {"FusedConv": "Conv", "NhwcFusedConv": "Conv", "NhwcConv": "Conv", "QLinearConv": "Conv",
            "ConvInteger": "Conv", "FusedGemm": "Gemm", "QGemm": "Gemm", "FusedMatMul": "MatMul",
            "QLinearMatMul": "MatMul", "MatMulInteger": "MatMul", "MatMulIntegerToFloat": "MatMul",
            "DynamicQuantizeMatMul": "MatMul"}


def kernel_events(trace: list, skip_runs: int = 0) -> tuple[list[dict], int]:
    """The Node events of the ``model_run`` events after the first ``skip_runs``, and how many runs those are."""
    runs = sorted((e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e.get("ts", 0))
    nodes = [e for e in trace if e.get("cat") == "Node" and str(e.get("name", "")).endswith(KERNEL_SUFFIX)]
    if not runs:            # a trace cut to its Node events: every event counts
        return nodes, _runs_from_repeats(nodes)
    kept = runs[skip_runs:]
    windows: dict[object, list[tuple[float, float]]] = defaultdict(list)
    for run in kept:
        windows[run.get("tid")].append((run["ts"], run["ts"] + run.get("dur", 0)))
    inside = [e for e in nodes
              if any(start <= e.get("ts", 0) <= end for start, end in windows.get(e.get("tid"), ()))]
    return inside, len(kept)


def _runs_from_repeats(nodes: list[dict]) -> int:
    counts: dict[str, int] = defaultdict(int)
    for event in nodes:
        counts[event["name"]] += 1
    return max(counts.values(), default=0)


def ort_kernel_times(trace: list, original: onnx.ModelProto, optimized: onnx.ModelProto | None = None,
                     skip_runs: int = 0) -> KernelTimes:
    """Per optimised node: summed seconds, op, provider and the model's nodes it computes."""
    events, runs = kernel_events(trace, skip_runs)
    seconds: dict[str, float] = defaultdict(float)
    ops: dict[str, tuple[str, str]] = {}
    for event in events:
        name = event["name"][: -len(KERNEL_SUFFIX)]
        seconds[name] += float(event.get("dur", 0)) / 1e6
        args = event.get("args") or {}
        ops.setdefault(name, (str(args.get("op_name", "")), str(args.get("provider", ""))))
    index = GraphIndex(original.graph)
    members = _members(list(seconds), {name: op for name, (op, _) in ops.items()}, index,
                       GraphIndex(optimized.graph) if optimized is not None else None)
    kernels = [Kernel(name, ops[name][0], seconds[name], members.get(name, ()), ops[name][1]) for name in seconds]
    notes = [] if optimized is not None else [
        "no optimised graph given: layout reorders and renamed nodes are shown under ONNX Runtime's names"]
    return KernelTimes(kernels, runs, notes=notes, model=original)


def _start(name: str, index: GraphIndex, optimized: GraphIndex | None) -> tuple[list[str], str]:
    """The model's nodes a kernel is named after, and how: node, tensor, bn, output or input."""
    if name in index.nodes:
        return [name], "node"
    token = _TOKEN.match(name)
    if token and token["node"] in index.nodes:
        return [token["node"]], "node"
    match = _NCHWC.match(name)
    if match and match["tensor"] in index.producer:
        return [index.producer[match["tensor"]]], "bn" if match["suffix"] == "_bn_nchwc" else "tensor"
    if optimized is None or name not in optimized.nodes:
        return [], ""
    node = optimized.nodes[name]
    for tensors, how in ((node.output, "output"), (node.input, "input")):
        found = [index.producer[t] for t in tensors if t in index.producer]
        if found:
            return found, how
    return [], ""


def _members(names: list[str], ops: dict[str, str], index: GraphIndex,
             optimized: GraphIndex | None) -> dict[str, tuple[str, ...]]:
    starts = {name: _start(name, index, optimized) for name in names}
    started = {node for found, _ in starts.values() for node in found}
    vanished = {n for n in index.nodes if n not in started and n not in index.constant}
    members = {name: list(found) for name, (found, _) in starts.items()}
    single = {name: (found[0], how) for name, (found, how) in starts.items() if len(found) == 1}
    for name, (node, how) in single.items():          # first the groups a kernel's op proves
        base = BASE_OPS.get(ops[name], ops[name])
        if how == "tensor" and base != index.op(node):
            members[name] += _absorb_before(node, base, index, vanished)
    for name, (node, how) in single.items():          # then the activations fused after a node
        if how in ("tensor", "bn") or (how == "node" and ops[name] in FUSING_OPS):
            members[name] += _absorb_after(node, index, vanished)
    return {name: tuple(found) for name, found in members.items()}


def _absorb_after(node: str, index: GraphIndex, vanished: set[str]) -> list[str]:
    """The vanished nodes that follow ``node`` one after the other (each the only consumer of the last)."""
    taken = []
    while True:
        consumers = index.data_consumers(node)
        if len(consumers) != 1 or consumers[0] not in vanished:
            return taken
        node = consumers[0]
        vanished.discard(node)
        taken.append(node)


def _absorb_before(node: str, base_op: str, index: GraphIndex, vanished: set[str]) -> list[str]:
    """The vanished nodes before ``node``, back to one of ``base_op``; none unless that one is reached."""
    path = []
    while True:
        producers = index.data_producers(node)
        if len(producers) < 1 or producers[0] not in vanished:
            return []
        node = producers[0]
        path.append(node)
        if index.op(node) == base_op:
            vanished.difference_update(path)
            return path


def dense_matmul_model(precision: str, size: int) -> bytes | None:
    """An ONNX model of one size×size by size×size product: fp32 MatMul, or int8 as a QDQ MatMul."""
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((size, size), dtype=np.float32)
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])
    if precision == "fp32":
        nodes = [helper.make_node("MatMul", ["a", "b"], ["y"])]
        inits = [numpy_helper.from_array(weights, "b")]
    elif precision == "int8":
        scale = np.float32(0.05)
        q_weights = np.clip(np.round(weights / scale), -127, 127).astype(np.int8)
        inits = [numpy_helper.from_array(np.array(scale), "s"), numpy_helper.from_array(np.array(np.uint8(128)), "z"),
                 numpy_helper.from_array(np.array(np.int8(0)), "zb"), numpy_helper.from_array(q_weights, "bq")]
        nodes = [helper.make_node("QuantizeLinear", ["a", "s", "z"], ["aq"]),
                 helper.make_node("DequantizeLinear", ["aq", "s", "z"], ["ad"]),
                 helper.make_node("DequantizeLinear", ["bq", "s", "zb"], ["bd"]),
                 helper.make_node("MatMul", ["ad", "bd"], ["y"])]
    else:
        return None
    graph = helper.make_graph(nodes, "dense_matmul", [a], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return model.SerializeToString()


class OrtProfiler(LayerProfiler):
    """A second session of the runner's model with the runner's settings and profiling on."""

    def __init__(self, runner):
        self._runner = runner
        self._folder = tempfile.TemporaryDirectory(prefix="genet-ort-profile-")
        self._optimized = Path(self._folder.name) / "optimized.onnx"
        options = runner.session_options()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(self._folder.name) / "ort_profile")
        options.optimized_model_filepath = str(self._optimized)
        self._session = runner.new_session(options)
        self._lock = threading.Lock()
        self._runs = 0
        self._skip: int | None = None

    def run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        logits, seconds = self._runner.timed_run(self._session, batch)
        with self._lock:
            self._runs += 1
        return logits, CallTimes(seconds)

    def start(self) -> None:
        with self._lock:
            self._skip = self._runs

    def collect(self) -> KernelTimes:
        trace = json.loads(Path(self._session.end_profiling()).read_text(encoding="utf-8"))
        optimized = load_model(self._optimized) if self._optimized.is_file() else None
        times = ort_kernel_times(trace, load_model(self._runner.model_path), optimized, self._skip or 0)
        if self._runner.providers != ["CPUExecutionProvider"]:
            times.notes.append("a GPU execution provider: ONNX Runtime's node events time each kernel's launch on "
                               "the host, not its work on the GPU (not measured here: docs/profile.md)")
        return times

    def dense_matmul(self, precision: str, size: int) -> Callable[[], None] | None:
        model = dense_matmul_model(precision, size)
        if model is None:
            return None
        session = self._runner.new_session(self._runner.session_options(), model)
        a = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
        return lambda: session.run(["y"], {"a": a})

    def close(self) -> None:
        self._session = None
        self._folder.cleanup()
