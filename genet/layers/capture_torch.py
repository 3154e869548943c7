"""A GENet checkpoint's layers in PyTorch: module hooks, and the functions a module's forward calls.

A leaf module (a convolution, a BatchNorm, the linear head, a pooling, an ``nn.ReLU``) is read by a
forward hook under its module path. An operation that a module's ``forward`` computes with a
function (``F.relu``, ``torch.sigmoid``, ``*``, ``+``, ``F.interpolate``, the head's pooling and
flatten) is read through a ``TorchFunctionMode`` and named as the ONNX exporter names its node
(``block2.layer.0/Relu_1``; the rule: ``genet.runners.torch_names``, shared with the profiler).

The checkpoint's foldable BatchNorms are folded into the convolutions before them when the ONNX
model compared with it was exported so (the TorchScript exporter folds the same ones as
``genet.model.fold``, which is also what genet's PyTorch runner runs); each folded BatchNorm is listed as
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

from genet.layers.capture import DEPLOYED, Batch, Layer, RunInfo
from genet.model.checkpoint import load_model
from genet.model.fold import fold_batchnorm
from genet.runners.torch_names import LayerNames

MODULE_OPS = {nn.Conv2d: "Conv", nn.BatchNorm2d: "BatchNormalization", nn.Linear: "Gemm", nn.ReLU: "Relu",
              nn.AdaptiveAvgPool2d: "GlobalAveragePool"}
HOW = "PyTorch forward hooks on the modules and a TorchFunctionMode on the functions they call"


def identities(model: nn.Module) -> set[str]:
    """Module paths of the Identity modules: the BatchNorms ``genet.model.fold`` folded away."""
    return {name for name, module in model.named_modules() if isinstance(module, nn.Identity)}


class _Pass:
    """What one forward pass records: the values, who produced each tensor, the module stack."""

    def __init__(self, reference: dict[str, np.ndarray] | None):
        self.reference = reference
        self.values: dict[str, torch.Tensor] = {}
        self.ops: dict[str, str] = {}
        self.producers: dict[int, str] = {}
        self.fused: dict[str, str] = {}
        self.output: torch.Tensor | None = None

    def record(self, name: str, op: str, output: torch.Tensor) -> None:
        self.values[name] = output
        self.ops[name] = op
        self.producers[id(output)] = name

    def substitute(self, value):
        """In isolated mode, a tensor produced by a layer becomes the reference's output of that layer."""
        if self.reference is None or not isinstance(value, torch.Tensor):
            return value
        producer = self.producers.get(id(value))
        if producer is None or producer not in self.reference:
            return value
        return torch.from_numpy(self.reference[producer]).to(value.dtype)


class _Functions(TorchFunctionMode):
    def __init__(self, names: LayerNames, state: _Pass):
        super().__init__()
        self.names, self.state = names, state

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        named = self.names.function(func)
        if named is None:
            return func(*args, **kwargs)
        args = tuple(self.state.substitute(a) for a in args)
        output = func(*args, **kwargs)
        if isinstance(output, torch.Tensor):
            self.state.record(*named, output)
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
        self._names = LayerNames(self._model)
        self._hooks = []
        for module in self._names.paths:
            self._hooks.append(module.register_forward_pre_hook(self._enter))
            self._hooks.append(module.register_forward_hook(self._leave))
        how = HOW + ("; foldable BatchNorms folded, as in the ONNX export" if fold else "")
        self.info = RunInfo("torch fp32", str(path), "torch", "fp32", how)
        probe = self._forward(np.zeros((1, 3, 32, 32), np.float32), None)
        self.layers = [Layer(name, probe.ops[name], name) for name in probe.values]
        self.layers.append(Layer(DEPLOYED, "model output", "forward()"))
        self.fused = probe.fused

    def _enter(self, module: nn.Module, args):
        _, leaf = self._names.enter(module)
        if leaf and not isinstance(module, nn.Identity):
            return tuple(self._state.substitute(a) for a in args)
        return None

    def _leave(self, module: nn.Module, args, output) -> None:
        self._names.leave()
        if module not in self._names.leaves:
            return
        name, state = self._names.paths[module], self._state
        if isinstance(module, nn.Identity):
            producer = state.producers.get(id(output))
            if producer:
                state.fused[name] = producer
            return
        state.record(name, MODULE_OPS.get(type(module), type(module).__name__), output)

    def _forward(self, images: np.ndarray, reference: dict[str, np.ndarray] | None) -> _Pass:
        self._state = _Pass(reference)
        with torch.no_grad(), _Functions(self._names, self._state):
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
