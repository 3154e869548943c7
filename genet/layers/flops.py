"""Each layer of an ONNX model: its nodes, op types and floating-point operations per batch.

FLOPs are counted from the graph with its shapes inferred at the profiled batch size: a
multiply-add counts 2. Conv: 2 × output elements × (input channels / groups) × kernel area, plus one
per output element for a bias; Gemm and MatMul: 2 × M × N × K (plus M × N for Gemm's C);
BatchNormalization: 2 per element; element-wise ops (Relu, Sigmoid, Add, Mul, …): 1 per output
element; pooling and reductions: 1 per input element; ops that only move or convert data (Reshape,
Flatten, Q/DQ, Cast, Resize …): 0. Any other op is left uncounted and named in the table's notes.
The int8 ops (QLinearConv, ConvInteger, QLinearMatMul, MatMulInteger) count as their float twins.

A node's layer is ``genet.layers.names.layer_of_node``; a QuantizeLinear or DequantizeLinear that the
exporter did not name (ONNX Runtime's quantizer adds them) belongs to the layer whose tensor it
converts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import onnx

from genet.layers.names import layer_of_node, module_names_of_nodes
from genet.runners.onnx_graph import GraphIndex

CONV_OPS = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}          # op → index of its weight input
MATMUL_OPS = frozenset({"MatMul", "MatMulInteger", "QLinearMatMul"})
ELEMENTWISE_OPS = frozenset({"Relu", "Sigmoid", "Add", "Mul", "Sub", "Div", "Clip", "LeakyRelu", "Tanh", "Sum",
                             "HardSigmoid", "HardSwish", "PRelu", "Exp", "Sqrt", "Pow", "Neg", "Abs", "Erf"})
REDUCING_OPS = frozenset({"GlobalAveragePool", "GlobalMaxPool", "AveragePool", "MaxPool", "ReduceMean",
                          "ReduceSum", "ReduceMax"})
DATA_OPS = frozenset({"Reshape", "Flatten", "Identity", "Constant", "Shape", "Gather", "Unsqueeze", "Squeeze",
                      "Concat", "Cast", "Slice", "Resize", "Upsample", "Transpose", "QuantizeLinear",
                      "DequantizeLinear", "DynamicQuantizeLinear", "ConstantOfShape", "Expand"})
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})


@dataclass(frozen=True)
class LayerFacts:
    ops: tuple[str, ...]          # the ONNX op types of its nodes, in graph order
    flops: float                  # per batch
    order: int                    # graph order of its first node
    uncounted: tuple[str, ...]    # op types whose FLOPs are not counted


class OnnxLayers:
    """The layers of an ONNX model (ModelProto) at one batch size."""

    def __init__(self, model: onnx.ModelProto, batch_size: int):
        self.index = GraphIndex(model.graph)
        self.shapes = _shapes(model, batch_size)
        self._modules = module_names_of_nodes(self.index.nodes)
        self.node_layer = {node: self._layer(node) for node in self.index.nodes if node not in self.index.constant}
        self.facts = self._facts()

    def _layer(self, node: str) -> str | None:
        layer = layer_of_node(node, self._modules)
        while layer is None and self.index.op(node) in QDQ_OPS:
            producer = self.index.producer.get(self.index.nodes[node].input[0])
            if producer is None:
                return None
            node, layer = producer, layer_of_node(producer, self._modules)
        return layer

    def _facts(self) -> dict[str, LayerFacts]:
        ops: dict[str, list[str]] = {}
        flops: dict[str, float] = {}
        uncounted: dict[str, list[str]] = {}
        order: dict[str, int] = {}
        for node, layer in self.node_layer.items():
            if layer is None:
                continue
            op = self.index.op(node)
            order.setdefault(layer, self.index.order[node])
            if op not in ops.setdefault(layer, []):
                ops[layer].append(op)
            count = node_flops(self.index.nodes[node], self.shapes)
            if count is None:
                uncounted.setdefault(layer, []).append(op)
            flops[layer] = flops.get(layer, 0.0) + (count or 0.0)
        return {layer: LayerFacts(tuple(ops[layer]), flops[layer], order[layer], tuple(uncounted.get(layer, ())))
                for layer in ops}

    def layer_of(self, name: str) -> str | None:
        """The layer of a node or tensor name as a backend spells it (``GraphIndex.node_of``)."""
        node = self.index.node_of(name)
        return self.node_layer.get(node) if node is not None else None


def export_for_layers(module, batch_size: int) -> onnx.ModelProto | None:
    """The ONNX export of an fp32 CPU copy of a PyTorch module, for its layers' FLOPs; None if it will not export."""
    import copy
    import tempfile

    from genet.convert.export import export_onnx

    with tempfile.TemporaryDirectory(prefix="genet-layers-") as folder:
        path = Path(folder) / "model.onnx"
        try:
            export_onnx(copy.deepcopy(module).float().cpu().eval(), path, batch_size=batch_size)
        except Exception:       # the export only counts FLOPs: the table says where they are missing
            return None
        return onnx.load(str(path))


def _shapes(model: onnx.ModelProto, batch_size: int) -> dict[str, list[int]]:
    """Every tensor's shape with the first input's batch axis set to ``batch_size`` (0 where unknown)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    first = model.graph.input[0].type.tensor_type.shape
    if first.dim:
        first.dim[0].dim_value = batch_size
    del model.graph.value_info[:]
    for output in model.graph.output:
        if output.type.tensor_type.shape.dim:
            output.type.tensor_type.shape.dim[0].dim_param = "batch"
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
    except Exception:       # an op onnx cannot infer: the FLOPs of the nodes after it stay uncounted
        inferred = model.graph
    shapes = {init.name: list(init.dims) for init in inferred.initializer}
    for value in (*inferred.input, *inferred.value_info, *inferred.output):
        shapes[value.name] = [d.dim_value for d in value.type.tensor_type.shape.dim]
    return shapes


def _elements(shape: list[int] | None) -> float | None:
    if not shape or any(d <= 0 for d in shape):
        return None
    return float(math.prod(shape))


def node_flops(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> float | None:
    """FLOPs of one node per call (the rules of the module docstring); None where not counted."""
    op = node.op_type
    if op in DATA_OPS:
        return 0.0
    out = _elements(shapes.get(node.output[0]))
    if out is None:
        return None
    if op in CONV_OPS:
        weight = shapes.get(node.input[CONV_OPS[op]])
        if not weight or len(weight) < 3:
            return None
        has_bias = (op == "Conv" and len(node.input) > 2 and node.input[2]) or \
                   (op == "QLinearConv" and len(node.input) > 8 and node.input[8])
        return 2.0 * out * math.prod(weight[1:]) + (out if has_bias else 0.0)
    if op == "Gemm":
        a = shapes.get(node.input[0])
        trans_a = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
        if not a or len(a) != 2:
            return None
        depth = a[0] if trans_a else a[1]
        return 2.0 * out * depth + (out if len(node.input) > 2 and node.input[2] else 0.0)
    if op in MATMUL_OPS:
        a = shapes.get(node.input[0])
        return 2.0 * out * a[-1] if a else None
    if op == "BatchNormalization":
        return 2.0 * out
    if op in ELEMENTWISE_OPS:
        return out
    if op in REDUCING_OPS:
        return _elements(shapes.get(node.input[0]))
    return None
