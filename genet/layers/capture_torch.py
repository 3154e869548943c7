"""A GENet checkpoint's layers in PyTorch: module hooks, and the functions a module's forward calls.

A leaf module (a convolution, a BatchNorm, the linear head, a pooling, an ``nn.ReLU``) is read by a
forward hook under its module path. An operation that a module's ``forward`` computes with a
function (``F.relu``, ``torch.sigmoid``, ``*``, ``+``, ``F.interpolate``, the head's pooling and
flatten) is read through a ``TorchFunctionMode`` and named as the ONNX exporter names its node: the
module path, the ONNX op, ``_N`` for its N-th repeat in that module (``block2.layer.0/Relu_1``).

The checkpoint's foldable BatchNorms are folded into the convolutions before them when the ONNX
model compared with it was exported so (the TorchScript exporter folds the same ones as
``genet.fold``, which is also what genet's PyTorch runner runs); each folded BatchNorm is listed as
fused into its convolution. Isolated mode replaces a layer's tensor inputs by the reference's
outputs of the layers that produced them (a forward pre-hook for modules, the function's arguments
for functions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..checkpoint import load_model
from ..fold import fold_batchnorm
from .capture import DEPLOYED, Batch, Layer, RunInfo

# torch function (its __name__) → the ONNX op the exporter writes for it
FUNCTION_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "mul": "Mul", "__mul__": "Mul", "add": "Add",
                "__add__": "Add", "interpolate": "Resize", "flatten": "Flatten",
                "adaptive_avg_pool2d": "GlobalAveragePool"}
MODULE_OPS = {nn.Conv2d: "Conv", nn.BatchNorm2d: "BatchNormalization", nn.Linear: "Gemm", nn.ReLU: "Relu",
              nn.AdaptiveAvgPool2d: "GlobalAveragePool"}
HOW = "PyTorch forward hooks on the modules and a TorchFunctionMode on the functions they call"


def identities(model: nn.Module) -> set[str]:
    """Module paths of the Identity modules: the BatchNorms ``genet.fold`` folded away."""
    return {name for name, module in model.named_modules() if isinstance(module, nn.Identity)}


class _Pass:
    """What one forward pass records: the values, who produced each tensor, the module stack."""

    def __init__(self, reference: dict[str, np.ndarray] | None):
        self.reference = reference
        self.values: dict[str, torch.Tensor] = {}
        self.ops: dict[str, str] = {}
        self.producers: dict[int, str] = {}
        self.fused: dict[str, str] = {}
        self.stack: list[tuple[str, bool]] = []      # (module path, is a leaf)
        self.output: torch.Tensor | None = None
        self.repeats: dict[tuple[str, str], int] = {}

    def record(self, name: str, op: str, output: torch.Tensor) -> None:
        self.values[name] = output
        self.ops[name] = op
        self.producers[id(output)] = name

    def function_name(self, op: str) -> str | None:
        """The exporter's name for a function called now, or None inside a leaf module."""
        scope, leaf = self.stack[-1] if self.stack else ("", False)
        if leaf:
            return None
        count = self.repeats.get((scope, op), 0)
        self.repeats[(scope, op)] = count + 1
        op_name = f"{op}_{count}" if count else op
        return f"{scope}/{op_name}" if scope else op_name

    def substitute(self, value):
        """In isolated mode, a tensor produced by a layer becomes the reference's output of that layer."""
        if self.reference is None or not isinstance(value, torch.Tensor):
            return value
        producer = self.producers.get(id(value))
        if producer is None or producer not in self.reference:
            return value
        return torch.from_numpy(self.reference[producer]).to(value.dtype)


class _Functions(TorchFunctionMode):
    def __init__(self, state: _Pass):
        super().__init__()
        self.state = state

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = FUNCTION_OPS.get(getattr(func, "__name__", ""))
        name = self.state.function_name(op) if op else None
        if name is None:
            return func(*args, **kwargs)
        args = tuple(self.state.substitute(a) for a in args)
        output = func(*args, **kwargs)
        if isinstance(output, torch.Tensor):
            self.state.record(name, op, output)
        return output


class TorchCapture:
    """A checkpoint in PyTorch fp32 on the CPU."""

    can_isolate = True

    def __init__(self, path: Path, onnx_layers: set[str] | None = None, log=None):
        model, self.variant = load_model(path, log=log)
        folded, _ = fold_batchnorm(model)
        # Fold as the ONNX model compared with it was exported: when it has none of those BatchNorms.
        fold = onnx_layers is not None and not identities(folded) & onnx_layers
        self._model = folded if fold else model.eval()
        self._state: _Pass | None = None
        self._hooks = []
        for name, module in self._model.named_modules():
            leaf = not any(True for _ in module.children())
            self._hooks.append(module.register_forward_pre_hook(self._enter(name, leaf)))
            self._hooks.append(module.register_forward_hook(self._leave(name, leaf, type(module))))
        how = HOW + ("; foldable BatchNorms folded, as in the ONNX export" if fold else "")
        self.info = RunInfo("torch fp32", str(path), "torch", "fp32", how)
        probe = self._forward(np.zeros((1, 3, 32, 32), np.float32), None)
        self.layers = [Layer(name, probe.ops[name], name) for name in probe.values]
        self.layers.append(Layer(DEPLOYED, "model output", "forward()"))
        self.fused = probe.fused

    def _enter(self, name: str, leaf: bool):
        def hook(module, args):
            state = self._state
            state.stack.append((name, leaf))
            if leaf and not isinstance(module, nn.Identity):
                return tuple(state.substitute(a) for a in args)
            return None
        return hook

    def _leave(self, name: str, leaf: bool, kind: type):
        def hook(module, args, output):
            state = self._state
            state.stack.pop()
            if not leaf:
                return
            if isinstance(module, nn.Identity):
                producer = state.producers.get(id(output))
                if producer:
                    state.fused[name] = producer
                return
            state.record(name, MODULE_OPS.get(kind, kind.__name__), output)
        return hook

    def _forward(self, images: np.ndarray, reference: dict[str, np.ndarray] | None) -> _Pass:
        self._state = _Pass(reference)
        with torch.no_grad(), _Functions(self._state):
            self._state.output = self._model(torch.from_numpy(np.ascontiguousarray(images)))
        state, self._state = self._state, None
        return state

    def _values(self, state: _Pass) -> dict[str, np.ndarray]:
        return {name: value.detach().float().numpy().copy() for name, value in state.values.items()}

    def outputs(self, batch: Batch, reference: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        state = self._forward(batch.images, None)
        values = self._values(state)
        values[DEPLOYED] = state.output.float().numpy().copy()      # hooks read, they change nothing
        return values

    def isolated(self, batch: Batch, reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._values(self._forward(batch.images, reference))

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
