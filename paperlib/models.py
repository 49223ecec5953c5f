"""CIFAR residual networks: He et al.'s ResNets and the two ResNet-56 variants Smith trained.

Use ``build_model(name, num_classes, init)``; ``bn_shards=S`` gives Smith's per-GPU BatchNorm.
Parameter counts are trainable parameters, pinned in tests/test_models.py:

======================  ===========  ==============  ===============  =====================================
name                    blocks       CIFAR-10        CIFAR-100        what it is
======================  ===========  ==============  ===============  =====================================
resnet8                 1/1/1           75,290          81,140        He-style, n=1 (not in any paper)
resnet14                2/2/2          172,506         178,356        He-style, n=2 (not in any paper)
resnet20                3/3/3          269,722         275,572        He et al. 2016, Table 6: 0.27M
resnet32                5/5/5          464,154         470,004        He et al. 2016, Table 6: 0.46M
resnet44                7/7/7          658,586         664,436        He et al. 2016, Table 6: 0.66M
resnet56                9/9/9          853,018         858,868        He et al. 2016, Table 6: 0.85M
resnet110               18/18/18     1,727,962       1,733,812        He et al. 2016, Table 6: 1.7M
resnet56-sc             9/9/9          808,682         814,532        Smith 2018 Fig 5 (super-convergence)
gresnet56               9/9/8          860,874         866,724        Smith 2018 Figs 6-15 (gResnet56)
======================  ===========  ==============  ===============  =====================================

resnet8 and resnet14 are the same design as resnet20 with fewer blocks. They exist for smoke tests
and CPU-scale runs.

He ResNets (He et al. 2016, §4.2): 6n+2 weight layers with 16/32/64 filters. Blocks are
post-activation: conv-BN-ReLU-conv-BN, add, ReLU. Convs have no bias. Shortcuts are option A: the
first block of stages 2 and 3 has a stride-2 conv1, and its shortcut subsamples x[:, :, ::2, ::2]
and zero-pads the new channels. The head is global average pool then FC. All parameters take
lr_mult 1 and decay_mult 1.

resnet56-sc follows lnsmith54/super-convergence ``architectures/Resnet56Cifar.prototxt``
(commit e3fb1ab):
  * Stem: conv3x3(16) with bias, BN, Scale, ReLU.
  * 27 post-activation blocks, 9 per stage. Every conv is 3x3 with pad 1 and has a bias.
  * Downsampling is done by the FIRST block of stages 2 and 3 (``L2_b1``, ``L3_b1``). Its conv1 has
    stride 2 and keeps the input width. Its shortcut is a 3x3 stride-2 AVE pool with no padding
    (Caffe rounds the output size up). After the add and ReLU, a zero tensor is concatenated to
    double the width.
  * Head: 8x8 AVE pool (global on 32x32 inputs), then FC.
  * Fillers: convs msra; the FC is always xavier.
  * Multipliers: conv weights (1, 1), conv biases (lr 2, decay 0), Scale (1, 1), FC weight (1, 1),
    FC bias (lr 2, decay 1). The FC bias keeps Caffe's default decay_mult of 1 because its
    ``param`` block sets lr_mult only.
  * BN momentum is 0.05: ``x.sh`` turns moving_average_fraction 0.999 into 0.95 for the CLR runs
    of Fig 5. The piecewise-constant "LR=0.35" baseline kept 0.999; pass ``bn_momentum=0.001``
    for it.

gresnet56 follows lnsmith54/hyperParam1 ``Cifar/architectures/gResnet56.prototxt``
(commit 70e64e7). The same net is printed in Smith's training log in shared/paper/logs, which
tests/test_models.py checks layer by layer.
  * Stem: conv3x3(16) with bias, BN, Scale, ReLU.
  * Blocks: conv-BN-Scale-ReLU-conv-BN-Scale, then + shortcut, with NO ReLU after the add.
  * Stages have 9/9/8 blocks. Block 8 of stages 1 and 2 downsamples: its conv0 has stride 2 and
    twice the width, and its shortcut is a 2x2 stride-2 projection conv (pad 0, with bias)
    followed by BN and Scale.
  * All convs have a bias. Head: global AVE pool, then FC.
  * Multipliers: everything (1, 1) except the FC bias (lr 2, decay 0).
  * BN moving_average_fraction is 0.9, i.e. PyTorch momentum 0.1.
  * With num_classes=100 it is c100Resnet56.

Caffe's BatchNorm + Scale pair is one PyTorch BatchNorm2d: Scale's gamma/beta are its affine
parameters. Caffe's running statistics with moving_average_fraction m behave like PyTorch's with
momentum 1 - m. Caffe differs only in correcting the bias of its first few estimates.

Initialisation (``init``) applies to conv and FC weights:
  * "msra" is Caffe's msra filler: Gaussian with std sqrt(2 / fan_in).
  * "xavier" is Caffe's xavier filler: uniform(-a, a) with a = sqrt(3 / fan_in).
  * Under both, biases are 0, and BN has weight 1 and bias 0.
  * "torch" keeps PyTorch's default initialisation everywhere, biases included.
  * fan_in = in_channels * kernel area, as in Caffe.
  * Smith's four runs per curve alternate msra and xavier (hyperParam1 ``x4.sh``).

BatchNorm shards (``bn_shards=S``): Smith split each batch over 4 GPUs (gResnet56) or 8 (Fig 5,
resnet56-sc, 125 images each) with plain Caffe BatchNorm, so every BN normalised with the
statistics of one GPU's share, not of the whole batch. That is part of the regularisation his
batch sizes give. ``ShardedBatchNorm2d`` reproduces it on one device: it normalises S equal
contiguous shards of the batch separately, which equals S-GPU data parallelism with plain BN in
the forward pass and the gradient. Running statistics are shard 0's, as on Caffe's root GPU.
S=1 (the default) builds plain nn.BatchNorm2d; state_dict keys and parameter counts never change.

``param_groups(model)`` turns each model's Caffe lr_mult/decay_mult into optimizer param groups.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError

__all__ = [
    "MODEL_NAMES",
    "INIT_CHOICES",
    "reinitialize",
    "build_model",
    "param_groups",
    "count_parameters",
    "CifarResNet",
    "HeResNet",
    "SuperConvergenceResNet56",
    "GResNet56",
    "HeBasicBlock",
    "SuperConvergenceBlock",
    "GResNetBlock",
    "SubsampleZeroPad",
    "ShardedBatchNorm2d",
]

INIT_CHOICES: tuple[str, ...] = ("msra", "xavier", "torch")

# (parameter, lr_mult, decay_mult)
Multiplier = tuple[nn.Parameter, float, float]


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)


# --- BatchNorm over shards of the batch -----------------------------------------------------------

class ShardedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode statistics come from `shards` equal contiguous shards of the
    batch: shard k is images k*N/S .. (k+1)*N/S - 1, normalised with its own mean and variance.

    This is Smith's per-GPU Caffe BatchNorm on one device ("ghost" BN): his runs split the batch
    over 4 GPUs (8 for Fig 5) and each GPU normalised its own share. The output equals plain BN
    applied to each shard and concatenated, and the gradient of the mean loss over the whole batch
    equals DDP's average of the shards' mean-loss gradients.

    Running statistics are shard 0's: they are updated exactly as nn.BatchNorm2d would update them
    on shard 0 alone (the layer's momentum, shard 0's unbiased variance). Caffe tested with the root
    GPU's statistics, and DDP with broadcast_buffers=True keeps rank 0's buffers too. (Other ghost
    BNs average the shards' statistics instead; see shared/reference/SCALE-OUT.md.)

    In eval mode the running statistics are used, so any batch size works; in training mode the
    batch size must be a multiple of `shards`. With shards=1 this is nn.BatchNorm2d, the same code
    path. `shards` is not saved: state_dict keys and parameters are exactly nn.BatchNorm2d's, so
    checkpoints move freely between sharded and plain models.
    """

    def __init__(self, num_features: int, *, shards: int = 1, **kwargs):
        super().__init__(num_features, **kwargs)
        if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
            raise ConfigError(f"shards: must be a positive integer, got {shards!r}")
        self.shards = shards

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # As in the parent: batch statistics in training, or in eval when nothing is tracked.
        batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        if self.shards == 1 or not batch_stats:
            return super().forward(x)
        self._check_input_dim(x)
        if x.shape[0] % self.shards:
            raise ConfigError(f"batch size {x.shape[0]} is not divisible by "
                              f"bn_shards={self.shards}: BN shards must be equal; use a multiple "
                              f"of {self.shards} images")
        # The parent's running-statistics bookkeeping, done once per batch (not once per shard).
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        track = self.track_running_stats  # as in the parent: untracked buffers stay as they are
        mean, var = (self.running_mean, self.running_var) if track else (None, None)
        # One F.batch_norm per shard on chunk views, then one cat. A chunk is a view (no copy), and
        # a chunk of a channels_last batch is channels_last too. Only shard 0 is given the running
        # buffers, so they move exactly as plain BN's would on shard 0 alone.
        # Cost, measured on a loaded 2-core CPU, 1 thread, channels_last, forward+backward: a
        # resnet56 step on 512 images took a median 6.1 s with plain BN, 6.5 s with S=4 and 6.1 s
        # with S=8 (within noise); one layer at the largest activation ([512, 16, 32, 32]) took
        # 84 / 69 / 60 ms (smaller chunks stay in cache). Rejected: reshaping to [N/S, S*C, H, W]
        # for one F.batch_norm (+75% per step: two layout copies each way) and var_mean + addcmul
        # through autograd (+60% or more). On a GPU this is S launches per layer instead of one,
        # which torch.compile fuses.
        outs = [F.batch_norm(shard, mean if k == 0 else None, var if k == 0 else None,
                             self.weight, self.bias, True, factor, self.eps)
                for k, shard in enumerate(x.chunk(self.shards))]
        return torch.cat(outs)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", shards={self.shards}" if self.shards != 1 else "")


def _batch_norm(channels: int, momentum: float, shards: int = 1) -> nn.BatchNorm2d:
    """A plain BatchNorm2d, or a sharded one when `shards` > 1 (default models stay unchanged)."""
    if shards == 1:
        return nn.BatchNorm2d(channels, momentum=momentum)
    return ShardedBatchNorm2d(channels, momentum=momentum, shards=shards)


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


# BN momentum in PyTorch's convention (1 - Caffe's moving_average_fraction).
_BUILDERS: dict[str, tuple[Callable[[int, float, int], nn.Module], float]] = {
    **{f"resnet{6 * n + 2}": ((lambda c, m, s, n=n: HeResNet(n, c, m, s)), 0.1)
       for n in (1, 2, 3, 5, 7, 9, 18)},
    "resnet56-sc": (SuperConvergenceResNet56, 0.05),
    "gresnet56": (GResNet56, 0.1),
}

MODEL_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def _caffe_initialise(model: nn.Module, init: str) -> None:
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            filler = getattr(module, "caffe_filler", init)  # a layer may pin its own filler
            fan_in = module.weight[0].numel()
            if filler == "msra":
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_in))
            else:
                bound = math.sqrt(3.0 / fan_in)
                nn.init.uniform_(module.weight, -bound, bound)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def build_model(name: str, num_classes: int = 10, init: str = "msra", *,
                bn_momentum: float | None = None, bn_shards: int = 1) -> nn.Module:
    """Build one of MODEL_NAMES with `num_classes` outputs and the given weight initialisation.

    `bn_momentum` overrides the model's BatchNorm momentum (PyTorch convention, 1 - Caffe's
    moving_average_fraction). By default it is 0.05 for resnet56-sc and 0.1 for the rest.
    `bn_shards` > 1 makes every BatchNorm a ShardedBatchNorm2d with that many shards (Smith's
    per-GPU BN); training batches must then be a multiple of it.
    """
    key = name.lower() if isinstance(name, str) else None
    if key not in _BUILDERS:
        raise ConfigError(f"name: unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"num_classes: must be an integer >= 2, got {num_classes!r}")
    if init not in INIT_CHOICES:
        raise ConfigError(f"init: unknown initialisation {init!r}; choose one of "
                          f"{', '.join(INIT_CHOICES)}")
    builder, default_momentum = _BUILDERS[key]
    momentum = default_momentum if bn_momentum is None else bn_momentum
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 < momentum <= 1:
        raise ConfigError(f"bn_momentum: must be a number in (0, 1], got {bn_momentum!r}")
    if isinstance(bn_shards, bool) or not isinstance(bn_shards, int) or bn_shards < 1:
        raise ConfigError(f"bn_shards: must be a positive integer (1 for plain BN), "
                          f"got {bn_shards!r}")
    model = builder(num_classes, float(momentum), bn_shards)
    if init != "torch":
        _caffe_initialise(model, init)
    return model


@torch.no_grad()
def reinitialize(model: nn.Module, init: str = "msra", seed: int | None = None) -> nn.Module:
    """Draw fresh weights in place and reset BatchNorm statistics, as a new model would have.

    A model compiled with torch.compile keeps its compiled code across this, so many runs (seeds,
    grid points) can share one compilation. With `seed`, the draw is that seed's and the global
    RNG is left as it was.
    """
    if init not in INIT_CHOICES:
        raise ConfigError(f"init: unknown initialisation {init!r}; choose one of "
                          f"{', '.join(INIT_CHOICES)}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.reset_running_stats()
            if init == "torch" and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if init != "torch":
            _caffe_initialise(model, init)
    return model


def param_groups(model: nn.Module) -> list[dict]:
    """Optimizer param groups ``{"params", "lr_mult", "decay_mult"}``, one per distinct pair.

    Uses ``model.param_multipliers()`` when the model has it, else (1, 1) for everything. As in
    Caffe, a group's learning rate is base_lr * lr_mult and its weight decay is wd * decay_mult.
    """
    if callable(getattr(model, "param_multipliers", None)):
        triples = list(model.param_multipliers())
    else:
        triples = [(p, 1.0, 1.0) for p in model.parameters() if p.requires_grad]
    seen = [id(p) for p, _, _ in triples]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    if len(seen) != len(set(seen)) or set(seen) != trainable:
        raise RuntimeError("param_multipliers must name every trainable parameter exactly once")
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for param, lr_mult, decay_mult in triples:
        groups.setdefault((float(lr_mult), float(decay_mult)), []).append(param)
    return [{"params": params, "lr_mult": lr, "decay_mult": decay}
            for (lr, decay), params in groups.items()]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (Caffe's learnable blobs; BN running stats are buffers)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
