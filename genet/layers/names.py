"""One name per layer for every run: the PyTorch module path.

A GENet layer is named by the path of the module that computes it in ``genet.model.network`` (the reference's
parameter names): ``conv1``, ``block2.layer.0.conv1``, ``block2.layer.0.downop``, ``fc``. An operation
that a module's ``forward`` computes with a function rather than a submodule (the ReLUs, the excite's
sigmoid and product, the residual sum) is named by its module and the op: ``block2.layer.0/Sigmoid``;
one of the top module's ``forward`` by its op alone (``Relu``, ``GlobalAveragePool``).

The ONNX export (TorchScript exporter) names each node by its module scope and op,
``/block2/layer/layer.0/conv1/Conv``; a scope segment repeats its parent's name for the children of a
Sequential (``layer`` then ``layer.0``). ``layer_of_node`` turns such a node name back into the layer
name. A node that does not follow that pattern (an ``Identity`` of a shared initializer, a node added
by hand) has no layer: ``None``.
"""

from __future__ import annotations

import re

# "/scope/…/Op" or "/scope/…/Op_3": the exporter's suffix counts repeats of one op in one scope.
_NODE = re.compile(r"^/(?:(?P<scope>.*)/)?(?P<op>[A-Za-z][A-Za-z0-9]*)(?:_(?P<repeat>\d+))?$")


def module_path(scope_segments: list[str]) -> str:
    """``["block1", "layer", "layer.0", "conv1"]`` → ``block1.layer.0.conv1``."""
    parts: list[str] = []
    for segment in scope_segments:
        if parts and segment.startswith(parts[-1] + "."):
            parts[-1] = segment          # a Sequential child spelled with its parent's name
        else:
            parts.append(segment)
    return ".".join(parts)


def split_node_name(node_name: str) -> tuple[str, str, int] | None:
    """``/block1/layer/layer.0/Relu_1`` → ``("block1.layer.0", "Relu", 1)``; None for other names."""
    match = _NODE.match(node_name)
    if not match:
        return None
    scope = match["scope"] or ""
    module = module_path(scope.split("/")) if scope else ""
    return module, match["op"], int(match["repeat"] or 0)


def layer_of_node(node_name: str, module_names: frozenset[str]) -> str | None:
    """The layer an exported node computes, or None when the name is not the exporter's.

    ``module_names`` are the model's module paths (``model_module_names`` from a torch model,
    ``module_names_of_nodes`` from an ONNX graph's node names). A node whose scope is a leaf module (a
    Conv2d, a Linear, a pooling) is that module's layer; a node whose scope is a module with children (a
    block) is an op of that module's ``forward`` and is named ``module/Op`` (``_N`` kept for repeats); a
    node of the top module's ``forward`` is named by its op alone (``Relu``, ``Flatten``).
    """
    parts = split_node_name(node_name)
    if parts is None:
        return None
    module, op, repeat = parts
    op_name = f"{op}_{repeat}" if repeat else op
    if not module:
        return op_name
    if not _is_leaf(module, module_names):
        return f"{module}/{op_name}"
    return module


def _is_leaf(module: str, module_names: frozenset[str]) -> bool:
    prefix = module + "."
    return not any(name.startswith(prefix) for name in module_names)


def model_module_names(model) -> frozenset[str]:
    """The module paths of a torch model, the top module excluded."""
    return frozenset(name for name, _ in model.named_modules() if name)


def module_names_of_nodes(node_names) -> frozenset[str]:
    """The module paths that an export's node names show (every scope and each of its parents)."""
    names: set[str] = set()
    for node_name in node_names:
        parts = split_node_name(node_name)
        if parts and parts[0]:
            pieces = parts[0].split(".")
            names.update(".".join(pieces[:i]) for i in range(1, len(pieces) + 1))
    return frozenset(names)
