"""An ONNX graph's layers, and the copies of it that expose them: every output, each layer isolated, fp16.

A layer of a graph is a node that computes (not a Q/DQ pair, a Cast, a Constant, an Identity or a
shape computation). Its name is read off the *tensor* it writes, whose name the TorchScript exporter
derives from the node that first wrote it (``/block1/layer/layer.0/Relu_output_0`` is the output of
the node ``/block1/layer/layer.0/Relu``): a graph rewritten after export (ONNX Runtime's quantizer
drops a ReLU after a convolution and lets the convolution write the ReLU's tensor) keeps the tensor
names, so a layer keeps its name whatever node now computes it, and the node's own layer is listed
as fused into it. A tensor without such a name (the graph output ``class``) takes the node's.

In a QDQ int8 graph a layer's value is the output of the DequantizeLinear of its QuantizeLinear /
DequantizeLinear pair: the int8 value mapped back to the float tensor (``value`` below).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from genet.layers.capture import Layer
from genet.layers.flops import QDQ_OPS
from genet.layers.names import layer_of_node, module_names_of_nodes

# Nodes that only move, convert or describe data: never a layer of their own.
NOT_LAYERS = QDQ_OPS | {"Cast", "Constant", "ConstantOfShape", "Identity", "Shape", "Gather", "Unsqueeze",
                        "Squeeze", "Concat", "Slice"}
_OUTPUT_SUFFIX = re.compile(r"^(?P<node>.+)_output_\d+$")
ISOLATED_PREFIX = "isolated::"


@dataclass(frozen=True)
class GraphLayer:
    layer: Layer
    tensor: str          # the float tensor the node writes
    value: str           # the tensor holding the layer's value: ``tensor``, or the end of its Q/DQ (or Cast) chain


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    found: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def _dequantized(tensor: str, consumers: dict[str, list[onnx.NodeProto]]) -> str:
    """The DequantizeLinear output of ``tensor``'s Q/DQ pair, or ``tensor`` where there is none."""
    for quantize in consumers.get(tensor, []):
        if quantize.op_type == "QuantizeLinear" and quantize.input[0] == tensor:
            for dequantize in consumers.get(quantize.output[0], []):
                if dequantize.op_type == "DequantizeLinear":
                    return dequantize.output[0]
    return tensor


def layer_name(tensor: str, node: onnx.NodeProto, modules: frozenset[str]) -> str:
    """The layer a tensor is the output of: from its exporter name, else from its node, else the node's name."""
    match = _OUTPUT_SUFFIX.match(tensor)
    named = layer_of_node(match["node"], modules) if match else None
    return named or layer_of_node(node.name, modules) or node.name or tensor


def graph_layers(model: onnx.ModelProto) -> tuple[list[GraphLayer], dict[str, str]]:
    """The graph's layers in graph (topological) order, and ``{layer: layer it is fused into}``."""
    graph = model.graph
    modules = module_names_of_nodes(node.name for node in graph.node)
    consumers = _consumers(graph)
    layers: list[GraphLayer] = []
    fused: dict[str, str] = {}
    seen: set[str] = set()
    for node in graph.node:
        if node.op_type in NOT_LAYERS or not node.output:
            continue
        tensor = node.output[0]
        name = layer_name(tensor, node, modules)
        if name in seen:
            name = node.name or tensor          # two nodes claiming one name: the node's own, in full
        seen.add(name)
        own = layer_of_node(node.name, modules)
        if own and own != name:
            fused[own] = name
        layers.append(GraphLayer(Layer(name, node.op_type, tensor), tensor, _dequantized(tensor, consumers)))
    return layers, fused


def _float_info(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def _input_info(name: str, known: onnx.TypeProto | None) -> onnx.ValueInfoProto:
    """A float input of the shape shape inference found for the tensor it stands for (OpenVINO wants a rank)."""
    info = _float_info(name)
    if known is not None and known.HasField("tensor_type") and known.tensor_type.HasField("shape"):
        info.type.tensor_type.shape.CopyFrom(known.tensor_type.shape)
    return info


def with_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """A copy whose graph also outputs ``names`` (after its own outputs)."""
    exposed = copy.deepcopy(model)
    present = {o.name for o in exposed.graph.output}
    exposed.graph.output.extend(_float_info(name) for name in names if name not in present)
    return exposed


def _chain(graph: onnx.GraphProto, start: str, end: str) -> list[onnx.NodeProto]:
    """The nodes that lead from ``start`` to ``end`` through Q/DQ pairs or Casts (empty when equal)."""
    producers = {out: node for node in graph.node for out in node.output}
    nodes: list[onnx.NodeProto] = []
    current = end
    while current != start:
        node = producers.get(current)
        if node is None or node.op_type not in QDQ_OPS | {"Cast"}:
            raise ValueError(f"no Q/DQ or Cast chain from {start} to {end}")
        nodes.append(node)
        current = node.input[0]
    return nodes[::-1]


def isolated_copy(model: onnx.ModelProto, layers: list[GraphLayer], fed: set[str]) -> onnx.ModelProto:
    """A copy in which every consumer of a layer in ``fed`` reads a new input instead.

    The input is named ``isolated::{tensor}`` and takes the reference's output of that layer; where
    the layer's value goes through a Q/DQ pair (or fp16 Casts), a copy of that chain sits between
    the new input and the consumers, so that a layer of an int8 graph quantizes the reference's
    input as it would its own. The layer itself is still computed and output from its own inputs.
    """
    isolated = copy.deepcopy(model)
    graph = isolated.graph
    types = {info.name: info.type for info in onnx.shape_inference.infer_shapes(model).graph.value_info}
    consumed = set(_consumers(graph))
    for item in layers:
        if item.layer.name not in fed or item.value not in consumed:
            continue
        source = ISOLATED_PREFIX + item.tensor
        graph.input.append(_input_info(source, types.get(item.tensor)))
        chain = _chain(graph, item.tensor, item.value)
        feeds = _copy_chain(graph, chain, source)
        skip = {id(node) for node in chain}
        for node in list(graph.node):
            if id(node) in skip:
                continue
            for i, name in enumerate(node.input):
                if name == item.value:
                    node.input[i] = feeds
    return sort_nodes(isolated)


def _copy_chain(graph: onnx.GraphProto, chain: list[onnx.NodeProto], source: str) -> str:
    """Append copies of ``chain`` reading ``source``; returns the last copy's output (``source`` if none)."""
    current = source
    for node in chain:
        twin = copy.deepcopy(node)
        twin.name = f"{ISOLATED_PREFIX}{node.name}"
        twin.input[0] = current
        current = f"{ISOLATED_PREFIX}{node.output[0]}"
        twin.output[0] = current
        graph.node.append(twin)
    return current


def _topological(graph: onnx.GraphProto) -> None:
    """Reorder the nodes so that each comes after the producers of its inputs (ONNX Runtime requires it)."""
    available = {i.name for i in graph.input} | {init.name for init in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [node for node in pending if all(name in available for name in node.input)]
        if not ready:
            raise ValueError("graph has a cycle or an input nothing produces")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        done = {id(node) for node in ready}
        pending = [node for node in pending if id(node) not in done]
    del graph.node[:]
    graph.node.extend(ordered)


def sort_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    _topological(model.graph)
    return model


def _cast(source: str, target: str, to: int, name: str) -> onnx.NodeProto:
    return helper.make_node("Cast", [source], [target], name=name, to=to)


def fp16_copy(model: onnx.ModelProto, layers: list[GraphLayer]) -> tuple[onnx.ModelProto, list[GraphLayer]]:
    """A copy computing as an fp16 device stores data: weights, input and every layer output rounded to fp16.

    Each float initializer is rounded to the nearest fp16 value; the image and each layer's output
    pass through Cast(float16) then Cast(float) (the node now writes ``{tensor}::fp32`` and the
    casts write the old name, so consumers and outputs are unchanged). Arithmetic between is fp32.
    Returns the copy and its layers (``tensor`` the node's raw output, ``value`` the rounded one).
    """
    half = copy.deepcopy(model)
    graph = half.graph
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            rounded = numpy_helper.to_array(init).astype(np.float16).astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(rounded, init.name))
    producers = {out: node for node in graph.node for out in node.output}
    rounded_layers = []
    for item in layers:
        raw = f"{item.tensor}::fp32"
        node = producers[item.tensor]
        node.output[list(node.output).index(item.tensor)] = raw
        _append_rounding(graph, raw, item.tensor)
        rounded_layers.append(GraphLayer(item.layer, raw, item.tensor))
    for graph_input in graph.input:
        if graph_input.type.tensor_type.elem_type == TensorProto.FLOAT:
            _round_input(graph, graph_input.name)
    return sort_nodes(half), rounded_layers


def _append_rounding(graph: onnx.GraphProto, source: str, target: str) -> None:
    graph.node.extend([_cast(source, f"{target}::fp16", TensorProto.FLOAT16, f"{target}::to_fp16"),
                       _cast(f"{target}::fp16", target, TensorProto.FLOAT, f"{target}::to_fp32")])


def _round_input(graph: onnx.GraphProto, name: str) -> None:
    """Consumers of a graph input read it rounded to fp16."""
    rounded = f"{name}::rounded"
    for node in graph.node:
        for i, used in enumerate(node.input):
            if used == name:
                node.input[i] = rounded
    graph.node.extend([_cast(name, f"{name}::fp16", TensorProto.FLOAT16, f"{name}::to_fp16"),
                       _cast(f"{name}::fp16", rounded, TensorProto.FLOAT, f"{name}::to_fp32")])
