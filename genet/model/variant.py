"""Which GENet a checkpoint holds: the reference constructor's arguments, read off its keys."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Mapping

from genet.core.errors import GenetError

EXTENTS = (0, 2, 4, 8)


@dataclass(frozen=True)
class Variant:
    """Arguments of the reference ``WideResNet(depth, widen_factor, num_classes, extent, extra_params, mlp)``."""

    depth: int = 16
    width: int = 8
    num_classes: int = 10
    extent: int = 0
    extra_params: bool = False
    mlp: bool = False

    def __post_init__(self) -> None:
        if self.depth < 10 or (self.depth - 4) % 6:
            raise GenetError(f"depth {self.depth} is not a GE-WideResNet depth (6n+4, n ≥ 1: 10, 16, 22, 28, ...)")
        if self.width < 1:
            raise GenetError(f"widen factor {self.width} must be ≥ 1")
        if self.num_classes < 1:
            raise GenetError(f"number of classes {self.num_classes} must be ≥ 1")
        if self.extent not in EXTENTS:
            raise GenetError(f"extent {self.extent} is not one of {', '.join(map(str, EXTENTS))} (0 = global)")
        if self.mlp and 16 * self.width < 16:
            raise GenetError("the θ+ MLP needs at least 16 channels")

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 4) // 6

    @property
    def gather(self) -> str:
        """The paper's name of the gather: θ⁻ (pooling), θ (depthwise convs), θ+ (θ with MLP)."""
        if not self.extra_params:
            return "θ⁻" + (" + mlp" if self.mlp else "")
        return "θ+" if self.mlp else "θ"

    def describe(self) -> str:
        extent = "global" if self.extent == 0 else f"extent {self.extent}"
        return (f"WRN-{self.depth}-{self.width}, {self.num_classes} classes, GE-{self.gather} {extent} "
                f"(depth={self.depth} width={self.width} extent={self.extent} "
                f"extra_params={self.extra_params} mlp={self.mlp})")

    def with_overrides(self, **overrides) -> "Variant":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


SEED_VARIANT = Variant()

_BLOCK_KEY = re.compile(r"^block1\.layer\.(\d+)\.")
_DOWNOP_CONV = re.compile(r"^block1\.layer\.0\.downop\.(?:(\d+)\.)?dwconv\.weight$")


def _shape(state: Mapping[str, object], key: str) -> tuple[int, ...]:
    value = state.get(key)
    shape = getattr(value, "shape", None)
    if shape is None:
        raise GenetError(f"no tensor '{key}': not a GE-WideResNet checkpoint")
    return tuple(int(s) for s in shape)


def _extent_of_theta(state: Mapping[str, object]) -> int:
    convs = [m for m in (_DOWNOP_CONV.match(k) for k in state) if m]
    if len(convs) == 1 and convs[0].group(1) is None:
        kernel = _shape(state, "block1.layer.0.downop.dwconv.weight")[-1]
        return 0 if kernel != 3 else 2
    return {2: 4, 3: 8}.get(len(convs), -1)


def detect_variant(state: Mapping[str, object]) -> Variant:
    """Read depth, width, classes and gather type off a (prefix-free) state_dict.

    θ⁻ with extent ≠ 0 has no parameters of its own: it is reported as global and its
    extent must come from the caller.
    """
    blocks = {int(m.group(1)) for m in (_BLOCK_KEY.match(k) for k in state) if m}
    if not blocks:
        raise GenetError("no 'block1.layer.N' keys: not a GE-WideResNet checkpoint")
    width_channels = _shape(state, "block1.layer.0.conv1.weight")[0]
    classes = _shape(state, "fc.weight")[0]
    extra_params = any(_DOWNOP_CONV.match(k) for k in state)
    mlp = "block1.layer.0.mlp.0.weight" in state
    extent = _extent_of_theta(state) if extra_params else 0
    if extent < 0:
        raise GenetError("the depthwise gather chain has an unexpected number of convs (extent must be 0, 2, 4 or 8)")
    if width_channels % 16:
        raise GenetError(f"first stage has {width_channels} channels, not a multiple of 16: not a GE-WideResNet")
    return Variant(depth=6 * len(blocks) + 4, width=width_channels // 16, num_classes=classes,
                   extent=extent, extra_params=extra_params, mlp=mlp)
