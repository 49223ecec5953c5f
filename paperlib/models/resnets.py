"""The CIFAR ResNets themselves: He et al.'s blocks and nets and Smith's two ResNet-56s.

Separate from building and initialising (the package's `build_model`) so that the layer-by-layer
architecture, which tests/test_models.py checks against Smith's prototxts and logs, reads on its
own. The package docstring describes each design and where it comes from.
"""
from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .batchnorm import _batch_norm

# (parameter, lr_mult, decay_mult)
Multiplier = tuple[nn.Parameter, float, float]


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)


# --- blocks -------------------------------------------------------------------------------------

class SubsampleZeroPad(nn.Module):
    """He et al.'s option-A shortcut: subsample by `stride`, then append zero channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.extra_channels = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        # The pad tuple runs from the last dim backwards: (W, W, H, H, C, C).
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


class HeBasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, add the shortcut, ReLU (He et al. 2016, option-A shortcut)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, bn_momentum: float,
                 bn_shards: int = 1):
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn1 = _batch_norm(out_channels, bn_momentum, bn_shards)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.bn2 = _batch_norm(out_channels, bn_momentum, bn_shards)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = SubsampleZeroPad(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SuperConvergenceBlock(nn.Module):
    """The Resnet56Cifar.prototxt block. A downsampling block halves the map at constant width;
    after the add and ReLU it concatenates zeros to double the width."""

    def __init__(self, channels: int, downsample: bool, bn_momentum: float, bn_shards: int = 1):
        super().__init__()
        self.downsample = downsample
        self.conv1 = _conv3x3(channels, channels, 2 if downsample else 1, bias=True)
        self.bn1 = _batch_norm(channels, bn_momentum, bn_shards)
        self.conv2 = _conv3x3(channels, channels, bias=True)
        self.bn2 = _batch_norm(channels, bn_momentum, bn_shards)
        # Caffe pooling with pad 0 rounds the output size up (32 -> 16, 16 -> 8). It divides a
        # clipped edge window by its in-image size, and so does ceil_mode with padding=0.
        self.shortcut = (nn.AvgPool2d(3, stride=2, ceil_mode=True) if downsample
                         else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))
        if self.downsample:
            out = F.pad(out, (0, 0, 0, 0, 0, out.shape[1]))  # the DummyData zeros + Concat
        return out


class GResNetBlock(nn.Module):
    """The gResnet56.prototxt block: conv-BN-ReLU-conv-BN plus shortcut, with no ReLU after the add.
    A downsampling block uses a 2x2 stride-2 projection conv (with bias) and BN as its shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, bn_momentum: float,
                 bn_shards: int = 1):
        super().__init__()
        self.conv0 = _conv3x3(in_channels, out_channels, stride, bias=True)
        self.bn0 = _batch_norm(out_channels, bn_momentum, bn_shards)
        self.conv1 = _conv3x3(out_channels, out_channels, bias=True)
        self.bn1 = _batch_norm(out_channels, bn_momentum, bn_shards)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 2, stride=stride, padding=0, bias=True),
                _batch_norm(out_channels, bn_momentum, bn_shards),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn0(self.conv0(x)))
        return self.bn1(self.conv1(out)) + self.shortcut(x)


# --- networks -----------------------------------------------------------------------------------

class CifarResNet(nn.Module):
    """A stem (conv3x3 to 16 channels, BN, ReLU), a chain of blocks, global average pool and FC.

    `param_multipliers` yields (param, lr_mult, decay_mult) for every trainable parameter. Here all
    are (1, 1); the Smith variants override it with their prototxt's multipliers.
    """

    def __init__(self, blocks: list[nn.Module], final_width: int, num_classes: int,
                 bn_momentum: float, stem_bias: bool, bn_shards: int = 1):
        super().__init__()
        self.stem = nn.Sequential(
            _conv3x3(3, 16, bias=stem_bias),
            _batch_norm(16, bn_momentum, bn_shards),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(final_width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(x, 1))

    def multipliers_for(self, name: str) -> tuple[float, float]:
        """(lr_mult, decay_mult) of the parameter called `name`."""
        return 1.0, 1.0

    def param_multipliers(self) -> Iterator[Multiplier]:
        for name, param in self.named_parameters():
            if param.requires_grad:
                yield (param, *self.multipliers_for(name))


class HeResNet(CifarResNet):
    """He et al. 2016 CIFAR ResNet with 6n+2 layers."""

    def __init__(self, n: int, num_classes: int, bn_momentum: float, bn_shards: int = 1):
        blocks: list[nn.Module] = []
        in_width = 16
        for stage, width in enumerate((16, 32, 64)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(HeBasicBlock(in_width, width, stride, bn_momentum, bn_shards))
                in_width = width
        super().__init__(blocks, 64, num_classes, bn_momentum, stem_bias=False,
                         bn_shards=bn_shards)


class SuperConvergenceResNet56(CifarResNet):
    """Smith's super-convergence ResNet-56 (Fig 5): 9/9/9 blocks, avg-pool + zero-concat shortcuts."""

    def __init__(self, num_classes: int, bn_momentum: float, bn_shards: int = 1):
        blocks: list[nn.Module] = []
        for stage, width in enumerate((16, 32, 64)):
            for i in range(9):
                if stage > 0 and i == 0:  # L2_b1, L3_b1 work at the previous width
                    blocks.append(SuperConvergenceBlock(width // 2, True, bn_momentum, bn_shards))
                else:
                    blocks.append(SuperConvergenceBlock(width, False, bn_momentum, bn_shards))
        super().__init__(blocks, 64, num_classes, bn_momentum, stem_bias=True,
                         bn_shards=bn_shards)
        self.fc.caffe_filler = "xavier"  # post_FC has a fixed xavier filler in the prototxt

    def multipliers_for(self, name: str) -> tuple[float, float]:
        if name == "fc.bias":
            return 2.0, 1.0  # param { lr_mult: 2 } with decay_mult left at its default
        owner_name, _, kind = name.rpartition(".")
        if kind == "bias" and isinstance(self.get_submodule(owner_name), nn.Conv2d):
            return 2.0, 0.0  # every Convolution has param { lr_mult: 2 decay_mult: 0 } on its bias
        return 1.0, 1.0


class GResNet56(CifarResNet):
    """Smith's gResnet56 (Figs 6-15): 9/9/8 blocks, projection shortcuts, no ReLU after the add."""

    def __init__(self, num_classes: int, bn_momentum: float, bn_shards: int = 1):
        blocks: list[nn.Module] = []
        widths = (16, 32, 64)
        for stage, blocks_in_stage in enumerate((9, 9, 8)):
            width = widths[stage]
            for i in range(blocks_in_stage):
                # group0_block8 and group1_block8 move on to the next stage's width and size.
                if i == blocks_in_stage - 1 and stage < 2:
                    blocks.append(GResNetBlock(width, widths[stage + 1], 2, bn_momentum,
                                                  bn_shards))
                else:
                    blocks.append(GResNetBlock(width, width, 1, bn_momentum, bn_shards))
        super().__init__(blocks, 64, num_classes, bn_momentum, stem_bias=True,
                         bn_shards=bn_shards)

    def multipliers_for(self, name: str) -> tuple[float, float]:
        # post_FC: param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }.
        # Conv biases and Scale have no param block, so they take Caffe's default (1, 1).
        return (2.0, 0.0) if name == "fc.bias" else (1.0, 1.0)

