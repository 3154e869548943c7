"""GE-WideResNet (Hu et al., Gather-Excite, NeurIPS 2018), as in BayesWatch/pytorch-GENet @ 3fbf99f.

Module and parameter names follow the reference so that its state_dicts load with
``strict=True``. The function is the same; two rewrites only make the exported graph
static: a 1×1 gathered map is broadcast instead of upsampled (identical result), and a
larger one is upsampled by its integer factor (nearest), which equals the reference's
nearest resize to the feature map's size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genet.core.constants import IMAGE_SIZE
from genet.model.variant import SEED_VARIANT, Variant

STAGE_SPATIAL = (IMAGE_SIZE, IMAGE_SIZE // 2, IMAGE_SIZE // 4)   # feature map side of each stage


class Downblock(nn.Module):
    """Depthwise conv + BN (one step of the θ gather), ReLU unless it is the chain's last."""

    def __init__(self, channels: int, kernel_size: int = 3, stride: int = 2, padding: int = 1, relu: bool = False):
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, kernel_size, stride=stride, padding=padding,
                                groups=channels, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.dwconv(x))
        return F.relu(x) if self.relu else x


def make_gather(channels: int, spatial: int, extent: int, extra_params: bool) -> nn.Module:
    if not extra_params:
        return nn.AdaptiveAvgPool2d(1 if extent == 0 else spatial // extent)
    if extent == 0:
        return Downblock(channels, kernel_size=spatial, stride=1, padding=0)
    steps = {2: 1, 4: 2, 8: 3}[extent]
    if steps == 1:
        return Downblock(channels)
    return nn.Sequential(*[Downblock(channels, relu=i < steps - 1) for i in range(steps)])


def make_mlp(channels: int) -> nn.Module:
    hidden = channels // 16
    return nn.Sequential(
        nn.Conv2d(channels, hidden, kernel_size=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(hidden, channels, kernel_size=1, bias=False),
    )


class GEBlock(nn.Module):
    """Pre-activation wide basic block whose residual branch is rescaled by a gather-excite map."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, spatial: int, variant: Variant):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.equal_in_out = in_planes == out_planes
        if not self.equal_in_out:
            self.convShortcut = nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)
        self.downop = make_gather(out_planes, spatial, variant.extent, variant.extra_params)
        if variant.mlp:
            self.mlp = make_mlp(out_planes)
        self.upsample_factor = 1 if variant.extent == 0 else variant.extent

    def excite(self, out: torch.Tensor) -> torch.Tensor:
        gathered = self.downop(out)
        if hasattr(self, "mlp"):
            gathered = self.mlp(gathered)
        if self.upsample_factor > 1:
            gathered = F.interpolate(gathered, scale_factor=float(self.upsample_factor), mode="nearest")
        return out * torch.sigmoid(gathered)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(x))
        out = self.conv1(activated)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.excite(out)
        shortcut = x if self.equal_in_out else self.convShortcut(activated)
        return shortcut + out


class NetworkBlock(nn.Module):
    """One stage: ``layer`` is a Sequential of GE blocks (the reference's key names)."""

    def __init__(self, blocks: int, in_planes: int, out_planes: int, stride: int, spatial: int, variant: Variant):
        super().__init__()
        self.layer = nn.Sequential(*[
            GEBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1, spatial, variant)
            for i in range(blocks)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class GENet(nn.Module):
    """GE-WideResNet for 32×32 inputs: conv, three stages, BN-ReLU, global pooling, linear."""

    def __init__(self, variant: Variant = SEED_VARIANT):
        super().__init__()
        self.variant = variant
        channels = (16, 16 * variant.width, 32 * variant.width, 64 * variant.width)
        self.conv1 = nn.Conv2d(3, channels[0], 3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(variant.blocks_per_stage, channels[0], channels[1], 1, STAGE_SPATIAL[0], variant)
        self.block2 = NetworkBlock(variant.blocks_per_stage, channels[1], channels[2], 2, STAGE_SPATIAL[1], variant)
        self.block3 = NetworkBlock(variant.blocks_per_stage, channels[2], channels[3], 2, STAGE_SPATIAL[2], variant)
        self.bn1 = nn.BatchNorm2d(channels[3])
        self.fc = nn.Linear(channels[3], variant.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """He initialisation as in the reference (conv: N(0, 2/(k·k·out)); BN: 1, 0; linear bias 0)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, (2.0 / fan_out) ** 0.5)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.relu(self.bn1(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


def build_model(variant: Variant = SEED_VARIANT) -> GENet:
    return GENet(variant)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
