"""The layer a PyTorch forward is computing, named as the ONNX export names it (``genet.layers.names``).

A leaf module's call is its module path; an op that a module's ``forward`` computes with a function
(``F.relu``, ``torch.sigmoid``, ``*``, ``+``, ``F.interpolate``, the head's pooling and flatten) is the
module's path, the ONNX op the exporter writes for it and ``_N`` for its N-th repeat in that call of
the module (``block1.layer.0/Relu_1``), one of the top module's by its op alone. The one home of that
rule on the torch side: the per-layer profiler (``torch_profile``) and the layer comparison's capture
(``genet.layers.capture_torch``) both name layers here.
"""

from __future__ import annotations

from collections import Counter as Tally

from torch import nn

# Functions a module's forward calls, by name, and the ONNX op the export writes for each.
FUNCTION_OPS = {"relu": "Relu", "relu_": "Relu", "sigmoid": "Sigmoid", "__mul__": "Mul", "mul": "Mul",
                "__rmul__": "Mul", "__add__": "Add", "add": "Add", "__radd__": "Add",
                "adaptive_avg_pool2d": "GlobalAveragePool", "flatten": "Flatten", "interpolate": "Resize"}


class LayerNames:
    """The module calls in progress during a forward (fed by forward pre- and post-hooks), and the name of
    each function op called in them."""

    def __init__(self, model: nn.Module):
        self.paths = {module: name for name, module in model.named_modules()}
        self.leaves = {module for module in self.paths if not any(True for _ in module.children())}
        self._stack: list[tuple[str, bool, Tally]] = []

    def enter(self, module: nn.Module) -> tuple[str, bool]:
        """A module's call begins: its path, and whether it is a leaf (a layer of its own)."""
        name, leaf = self.paths[module], module in self.leaves
        self._stack.append((name, leaf, Tally()))
        return name, leaf

    def leave(self) -> None:
        self._stack.pop()

    def function(self, func) -> tuple[str, str] | None:
        """``(layer, ONNX op)`` of a function called now; None for a function the export does not name as a
        node of its own, or one called inside a leaf module (part of that module's layer)."""
        op = FUNCTION_OPS.get(getattr(func, "__name__", ""))
        if op is None or not self._stack or self._stack[-1][1]:
            return None
        module, _, tally = self._stack[-1]
        repeat = tally[op]
        tally[op] += 1
        label = f"{op}_{repeat}" if repeat else op
        return (f"{module}/{label}" if module else label), op

    def clear(self) -> None:
        self._stack.clear()
