"""Fold eval-mode BatchNorm into the convolution before it, for inference.

``bn(conv(x)) = conv'(x)`` with ``w' = w·γ/σ`` per output channel and ``b' = β + (b − μ)·γ/σ``,
``σ = sqrt(running_var + eps)``. GENet's blocks are pre-activation, so most BNs follow an
addition (the residual sum) and cannot fold; the ones that directly follow a convolution whose
output feeds nothing else are:

- ``bn2`` of every GE block (after ``conv1``);
- the BN of every ``Downblock`` of a GE-θ gather (after its depthwise conv);
- ``block1``'s first ``bn1`` (after the stem ``conv1``) when that block has a projection
  shortcut (width > 1), so that the stem's output feeds ``bn1`` alone.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from genet.model.network import Downblock, GEBlock, GENet


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A convolution (with bias) equal to ``bn(conv(x))`` for ``bn`` in eval mode."""
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                           padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                           padding_mode=conv.padding_mode).to(device=conv.weight.device, dtype=conv.weight.dtype)
        folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        folded.bias.copy_(bn.bias + (bias - bn.running_mean) * scale)
    return folded


def fold_batchnorm(model: GENet) -> tuple[GENet, int]:
    """An eval-mode copy of ``model`` with every foldable BN folded; and how many were folded."""
    model = copy.deepcopy(model).eval()
    folded = 0
    for module in model.modules():
        if isinstance(module, GEBlock):
            module.conv1 = fold_conv_bn(module.conv1, module.bn2)
            module.bn2 = nn.Identity()
            folded += 1
        elif isinstance(module, Downblock):
            module.dwconv = fold_conv_bn(module.dwconv, module.bn)
            module.bn = nn.Identity()
            folded += 1
    first = model.block1.layer[0]
    if not first.equal_in_out:
        model.conv1 = fold_conv_bn(model.conv1, first.bn1)
        first.bn1 = nn.Identity()
        folded += 1
    return model, folded
