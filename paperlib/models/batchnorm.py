"""BatchNorm over equal shards of the batch: Smith's per-GPU Caffe BatchNorm on one device.

Separate from the networks because it is a drop-in layer with its own contract (state_dict and
parameters exactly nn.BatchNorm2d's) and its own measured costs; the networks only ask
`_batch_norm` for a plain or a sharded layer.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError


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

