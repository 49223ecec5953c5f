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

Layout: ``batchnorm`` holds ShardedBatchNorm2d, ``resnets`` the blocks and networks; this package
itself builds and initialises them and groups their parameters. Import from ``paperlib.models``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..errors import ConfigError
from .batchnorm import ShardedBatchNorm2d
from .resnets import (CifarResNet, GResNet56, GResNetBlock, HeBasicBlock, HeResNet, Multiplier,
                      SubsampleZeroPad, SuperConvergenceBlock, SuperConvergenceResNet56)

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
