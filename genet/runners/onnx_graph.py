"""An ONNX graph's nodes and tensors, indexed: who produces and who consumes each tensor.

Backends and their profilers name what they ran after the model's nodes, sometimes after a tensor
(ONNX Runtime's NCHWc nodes, OpenVINO's result layer) or a node's name with a suffix of their own
(OpenVINO's ``/conv1/Conv/WithoutBiases``). ``GraphIndex.node_of`` finds the node such a name
stands for, by exact rules only: a node's name, a tensor's name (its producer), or a node's name
followed by ``/`` and more.
"""

from __future__ import annotations

from collections import defaultdict

import onnx


class GraphIndex:
    """Nodes in graph order, tensor producers and consumers, and the nodes that compute constants."""

    def __init__(self, graph: onnx.GraphProto):
        self.nodes: dict[str, onnx.NodeProto] = {}
        for i, node in enumerate(graph.node):
            self.nodes[node.name or f"{node.op_type}_{i}"] = node
        self.order = {name: i for i, name in enumerate(self.nodes)}
        self.producer: dict[str, str] = {}
        self.consumers: dict[str, list[str]] = defaultdict(list)
        for name, node in self.nodes.items():
            for tensor in node.output:
                self.producer[tensor] = name
            for tensor in node.input:
                if tensor:
                    self.consumers[tensor].append(name)
        self.graph_inputs = {value.name for value in graph.input}
        constant_tensors = {init.name for init in graph.initializer} - self.graph_inputs
        self.constant: set[str] = set()
        for name, node in self.nodes.items():      # graph order: a constant's inputs come before it
            if all(not t or t in constant_tensors for t in node.input):
                self.constant.add(name)
                constant_tensors.update(node.output)
        self.constant_tensors = constant_tensors

    def op(self, node: str) -> str:
        return self.nodes[node].op_type

    def node_of(self, name: str) -> str | None:
        """The node ``name`` stands for: a node, a tensor's producer, or a node with a ``/…`` suffix."""
        if name in self.nodes:
            return name
        if name in self.producer:
            return self.producer[name]
        head = name
        while "/" in head.strip("/"):
            head = head.rsplit("/", 1)[0]
            if head in self.nodes:
                return head
        return None

    def data_inputs(self, node: str) -> list[str]:
        """The node's inputs that are not constants (weights, shapes)."""
        return [t for t in self.nodes[node].input if t and t not in self.constant_tensors]

    def data_producers(self, node: str) -> list[str]:
        return [self.producer[t] for t in self.data_inputs(node) if t in self.producer]

    def data_consumers(self, node: str) -> list[str]:
        return [c for t in self.nodes[node].output for c in self.consumers.get(t, ())]


def load_model(path) -> onnx.ModelProto:
    """An ONNX file, without its external weights."""
    return onnx.load(str(path), load_external_data=False)
