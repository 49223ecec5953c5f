"""Tests for paperlib.models: pinned parameter counts, shortcut shapes, initialisation, Caffe
multipliers, a layer-by-layer check of gresnet56 against the net in Smith's own training log, and
BatchNorm over shards of the batch, checked against plain BN shard by shard and against DDP."""
from __future__ import annotations

import functools
import math
import os
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from paperlib.errors import ConfigError
from paperlib.models import (
    INIT_CHOICES,
    MODEL_NAMES,
    GResNetBlock,
    HeBasicBlock,
    SubsampleZeroPad,
    ShardedBatchNorm2d,
    SuperConvergenceBlock,
    build_model,
    count_parameters,
    param_groups,
    reinitialize,
)

# Exact trainable-parameter counts: (CIFAR-10 head, CIFAR-100 head).
PINNED_COUNTS = {
    "resnet8": (75_290, 81_140),
    "resnet14": (172_506, 178_356),
    "resnet20": (269_722, 275_572),
    "resnet32": (464_154, 470_004),
    "resnet44": (658_586, 664_436),
    "resnet56": (853_018, 858_868),
    "resnet110": (1_727_962, 1_733_812),
    "resnet56-sc": (808_682, 814_532),
    "gresnet56": (860_874, 866_724),
}

# He et al. 2016, Table 6 ("# params" column).
HE_TABLE_MILLIONS = {"resnet20": "0.27", "resnet32": "0.46", "resnet44": "0.66",
                     "resnet56": "0.85", "resnet110": "1.7"}

LOG_NAME = "gResnet56_ResTBS512LR.0800.8M.95WD1e-4Epoch95BS128b_1"


@functools.cache
def shared_model(name: str, num_classes: int = 10) -> nn.Module:
    """One instance per model for the tests that only inspect it, to keep the file fast."""
    return build_model(name, num_classes)


def test_model_names_are_exactly_the_pinned_ones():
    assert set(MODEL_NAMES) == set(PINNED_COUNTS)


@pytest.mark.parametrize("name", list(PINNED_COUNTS))
def test_parameter_counts_are_pinned(name):
    cifar10, cifar100 = PINNED_COUNTS[name]
    assert count_parameters(shared_model(name)) == cifar10
    assert count_parameters(shared_model(name, 100)) == cifar100


@pytest.mark.parametrize("name", list(HE_TABLE_MILLIONS))
def test_he_resnets_match_he_et_al_table_6(name):
    assert f"{PINNED_COUNTS[name][0] / 1e6:.2g}" == HE_TABLE_MILLIONS[name]


@pytest.mark.parametrize("name", list(PINNED_COUNTS))
def test_every_model_has_56_weight_layers_or_its_named_depth(name):
    model = shared_model(name)
    weight_layers = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    depth = 56 if name in ("resnet56-sc", "gresnet56") else int(name.removeprefix("resnet"))
    assert weight_layers == depth


def test_residual_block_counts():
    def blocks(name, kind):
        return sum(isinstance(m, kind) for m in shared_model(name).modules())
    assert blocks("resnet56", HeBasicBlock) == 27
    assert blocks("resnet56-sc", SuperConvergenceBlock) == 27
    assert blocks("gresnet56", GResNetBlock) == 26


# --- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, parameter", [
    ({"name": "resnet57"}, "name"),
    ({"name": None}, "name"),
    ({"name": "resnet56", "num_classes": 1}, "num_classes"),
    ({"name": "resnet56", "num_classes": 10.0}, "num_classes"),
    ({"name": "resnet56", "num_classes": True}, "num_classes"),
    ({"name": "resnet56", "init": "kaiming"}, "init"),
    ({"name": "resnet56", "bn_momentum": 0.0}, "bn_momentum"),
    ({"name": "resnet56", "bn_shards": 0}, "bn_shards"),
    ({"name": "resnet56", "bn_shards": 2.0}, "bn_shards"),
    ({"name": "resnet56", "bn_shards": True}, "bn_shards"),
])
def test_bad_arguments_raise_config_error_naming_the_parameter(kwargs, parameter):
    with pytest.raises(ConfigError) as excinfo:
        build_model(**kwargs)
    message = str(excinfo.value)
    assert message.startswith(parameter + ":")
    assert "\n" not in message
    assert isinstance(excinfo.value, ValueError)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ConfigError, match="gresnet56") as excinfo:
        build_model("nope")
    assert all(name in str(excinfo.value) for name in MODEL_NAMES)
    with pytest.raises(ConfigError) as excinfo:
        build_model("resnet56", init="nope")
    assert all(init in str(excinfo.value) for init in INIT_CHOICES)


def test_names_are_case_insensitive():
    assert count_parameters(build_model("gResnet56")) == PINNED_COUNTS["gresnet56"][0]


# --- shapes and structure -------------------------------------------------------------------------

def test_option_a_shortcut_subsamples_and_zero_pads():
    x = torch.randn(2, 16, 32, 32)
    out = SubsampleZeroPad(16, 32, 2)(x)
    assert out.shape == (2, 32, 16, 16)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2])
    assert not out[:, 16:].any()


def test_he_downsampling_block_shapes():
    block = HeBasicBlock(16, 32, 2, bn_momentum=0.1)
    assert isinstance(block.shortcut, SubsampleZeroPad)
    assert block(torch.randn(2, 16, 32, 32)).shape == (2, 32, 16, 16)
    assert isinstance(HeBasicBlock(32, 32, 1, 0.1).shortcut, nn.Identity)


def test_he_stage_outputs():
    model = build_model("resnet20").eval()
    shapes = []
    x = model.stem(torch.randn(2, 3, 32, 32))
    for block in model.blocks:
        x = block(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes[2] == (16, 32, 32) and shapes[3] == (32, 16, 16) and shapes[6] == (64, 8, 8)


def test_super_convergence_downsampling_block_pools_and_concatenates_zeros():
    block = SuperConvergenceBlock(16, downsample=True, bn_momentum=0.05)
    assert block.conv1.out_channels == 16 and block.conv1.stride == (2, 2)
    out = block(torch.randn(2, 16, 32, 32))
    assert out.shape == (2, 32, 16, 16)
    assert not out[:, 16:].any()  # the concatenated zeros come after the add and ReLU
    assert (out[:, :16] >= 0).all()
    # Caffe's AVE pool divides a clipped edge window by its in-image size: ones stay ones.
    assert torch.equal(block.shortcut(torch.ones(1, 16, 32, 32)), torch.ones(1, 16, 16, 16))
    assert block.shortcut(torch.ones(1, 32, 16, 16)).shape == (1, 32, 8, 8)


def test_super_convergence_net_forward_on_a_batch_of_two():
    model = build_model("resnet56-sc")
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    widths = [b.conv1.in_channels for b in model.blocks]
    assert widths == [16] * 10 + [32] * 9 + [64] * 8  # L2_b1 and L3_b1 run at the old width
    assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Conv2d))


def test_gresnet_block_has_no_relu_after_the_add():
    torch.manual_seed(0)
    block = GResNetBlock(16, 16, 1, bn_momentum=0.1)
    out = block(torch.randn(4, 16, 8, 8))
    assert (out < 0).any()
    down = GResNetBlock(16, 32, 2, bn_momentum=0.1)
    projection = down.shortcut[0]
    assert (projection.kernel_size, projection.stride, projection.padding) == ((2, 2), (2, 2), (0, 0))
    assert projection.bias is not None
    assert down(torch.randn(2, 16, 32, 32)).shape == (2, 32, 16, 16)


@pytest.mark.parametrize("name, momentum", [("resnet56-sc", 0.05), ("gresnet56", 0.1),
                                            ("resnet20", 0.1)])
def test_batchnorm_momentum_is_one_minus_caffe_moving_average_fraction(name, momentum):
    model = shared_model(name)
    assert {m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)} == {momentum}
    override = build_model(name, bn_momentum=0.001)  # maf 0.999: the Fig 5a "LR=0.35" baseline
    assert {m.momentum for m in override.modules() if isinstance(m, nn.BatchNorm2d)} == {0.001}


# One of each block design; the other He depths reuse resnet8's blocks.
@pytest.mark.parametrize("name", ["resnet8", "resnet56-sc", "gresnet56"])
def test_channels_last_and_bfloat16_autocast(name):
    model = build_model(name).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 32, 32).to(memory_format=torch.channels_last)
    out = model(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (2, 10) and out.dtype == torch.bfloat16 and torch.isfinite(out).all()


# --- initialisation -------------------------------------------------------------------------------

def _last_conv(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]


@pytest.mark.parametrize("name", ["resnet56", "gresnet56"])
def test_msra_init_std_is_sqrt_two_over_fan_in(name):
    torch.manual_seed(0)
    conv = _last_conv(build_model(name, init="msra"))
    fan_in = conv.in_channels * 9
    assert conv.weight.numel() == 64 * 64 * 9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.1)
    assert conv.weight.mean().abs().item() < 0.1 * math.sqrt(2 / fan_in)
    if conv.bias is not None:
        assert not conv.bias.any()


def test_xavier_init_is_caffe_uniform():
    torch.manual_seed(0)
    model = build_model("gresnet56", init="xavier")
    conv = _last_conv(model)
    bound = math.sqrt(3 / (conv.in_channels * 9))
    assert conv.weight.abs().max().item() <= bound
    assert conv.weight.abs().max().item() > 0.95 * bound
    assert conv.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    assert not conv.bias.any()
    assert model.fc.weight.abs().max().item() <= math.sqrt(3 / 64)


def test_torch_init_keeps_pytorch_defaults():
    torch.manual_seed(0)
    model = build_model("gresnet56", init="torch")
    conv = _last_conv(model)
    # kaiming_uniform_(a=sqrt(5)) gives uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    fan_in = conv.in_channels * 9
    assert conv.weight.std().item() == pytest.approx(1 / math.sqrt(3 * fan_in), rel=0.1)
    assert conv.bias.any()


def test_init_choices_give_different_weight_statistics():
    stds = {}
    for init in INIT_CHOICES:
        torch.manual_seed(0)
        stds[init] = _last_conv(build_model("resnet56", init=init)).weight.std().item()
    assert stds["msra"] > 1.3 * stds["xavier"] > 1.3 * stds["torch"]


def test_batchnorm_starts_at_identity_and_sc_fc_is_always_xavier():
    torch.manual_seed(0)
    model = build_model("resnet56-sc", init="msra")
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and not bn.bias.any()
    # post_FC uses a fixed xavier filler: uniform, so bounded by sqrt(3/64).
    assert model.fc.weight.abs().max().item() <= math.sqrt(3 / 64)
    assert not model.fc.bias.any()


def test_build_model_is_deterministic_under_manual_seed():
    for init in INIT_CHOICES:
        torch.manual_seed(123)
        first = build_model("resnet20", init=init).state_dict()
        torch.manual_seed(123)
        second = build_model("resnet20", init=init).state_dict()
        assert all(torch.equal(first[k], second[k]) for k in first)
    torch.manual_seed(124)
    third = build_model("resnet20").state_dict()
    assert not torch.equal(first["stem.0.weight"], third["stem.0.weight"])


# --- Caffe multipliers ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(PINNED_COUNTS))
def test_param_groups_cover_every_trainable_parameter_once(name):
    model = shared_model(name)
    groups = param_groups(model)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    pairs = [(g["lr_mult"], g["decay_mult"]) for g in groups]
    assert len(pairs) == len(set(pairs))


def _multipliers_by_name(model):
    by_id = {id(p): (g["lr_mult"], g["decay_mult"]) for g in param_groups(model) for p in g["params"]}
    return {name: by_id[id(p)] for name, p in model.named_parameters()}


def test_gresnet56_multipliers():
    mults = _multipliers_by_name(shared_model("gresnet56"))
    assert mults.pop("fc.bias") == (2.0, 0.0)
    assert set(mults.values()) == {(1.0, 1.0)}  # conv biases and Scale take weight decay too


def test_super_convergence_multipliers():
    model = shared_model("resnet56-sc")
    mults = _multipliers_by_name(model)
    assert mults.pop("fc.bias") == (2.0, 1.0)
    assert mults.pop("fc.weight") == (1.0, 1.0)
    for name, pair in mults.items():
        owner = model.get_submodule(name.rpartition(".")[0])
        is_conv_bias = isinstance(owner, nn.Conv2d) and name.endswith("bias")
        assert pair == ((2.0, 0.0) if is_conv_bias else (1.0, 1.0)), name


def test_he_resnet_multipliers_are_all_one():
    groups = param_groups(shared_model("resnet56"))
    assert [(g["lr_mult"], g["decay_mult"]) for g in groups] == [(1.0, 1.0)]


def test_param_groups_default_for_plain_modules():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[1].bias.requires_grad_(False)
    (group,) = param_groups(model)
    assert (group["lr_mult"], group["decay_mult"]) == (1.0, 1.0)
    assert len(group["params"]) == 3
    assert count_parameters(model) == 3 * 4 + 4 + 4 * 2


# --- gresnet56 against the net printed in Smith's Caffe log ----------------------------------------

GLOG = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ \S+\] (.*)$")
CONV_NAME = re.compile(r"^(first|group\d+_block\d+_(conv\d|proj))$")


def _log_path() -> Path:
    shared = os.environ.get("PAPERLIB_SHARED")
    root = Path(shared) if shared else Path(__file__).resolve().parents[1].parent / "shared"
    return root / "paper" / "logs" / LOG_NAME


def _printed_layers(text_lines):
    """Complete `layer { ... }` blocks of the printed NetParameter, as name -> block text.
    Caffe's log cuts the print short (glog's message limit), so the last block may be partial."""
    layers, block, depth = {}, [], 0
    for line in text_lines:
        if depth == 0 and not line.startswith("layer {"):
            continue
        block.append(line)
        depth += line.count("{") - line.count("}")
        if depth == 0:
            text = "\n".join(block)
            layers[re.search(r'^  name: "([^"]+)"', text, re.M).group(1)] = text
            block = []
    return layers


def _field(text, key, default=None):
    match = re.search(rf"\b{key}: (\S+)", text)
    return match.group(1).strip('"') if match else default


def _parse_train_net(path: Path):
    lines = path.read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if "Initializing net from parameters" in l)
    end = next(i for i in range(start, len(lines)) if "Network initialization done" in lines[i])
    first_log_line = next(i for i in range(start + 1, end) if GLOG.match(lines[i]))
    printed = _printed_layers(lines[start + 1:first_log_line])

    # Layer set-up messages: every layer in order, its bottoms and tops, and each top's shape.
    order, bottoms, tops, shapes, pending = [], {}, {}, {}, []
    for line in lines[first_log_line:end]:
        message = GLOG.match(line).group(1)
        if m := re.fullmatch(r"Creating Layer (\S+)", message):
            order.append(m.group(1))
            bottoms[m.group(1)], tops[m.group(1)] = [], []
        elif m := re.fullmatch(r"(\S+) <- (\S+)", message):
            bottoms[m.group(1)].append(m.group(2))
        elif m := re.fullmatch(r"(\S+) -> (\S+)( \(in-place\))?", message):
            tops[m.group(1)].append(m.group(2))
        elif m := re.fullmatch(r"Setting up (\S+)", message):
            pending = list(tops[m.group(1)])
        elif m := re.fullmatch(r"Top shape: ([\d ]+) \(\d+\)", message):
            shapes[pending.pop(0)] = [int(v) for v in m.group(1).split()]
    return printed, order, bottoms, tops, shapes


@pytest.fixture(scope="module")
def smith_log():
    path = _log_path()
    if not path.is_file():
        pytest.skip(f"Smith's gResnet56 training log not found at {path} "
                    "(set PAPERLIB_SHARED to the folder holding paper/logs)")
    return _parse_train_net(path)


def _log_convolutions(smith_log):
    """(name, in, out, kernel, stride, pad, bias) for every Convolution, in net order.

    Shapes come from the set-up messages, which cover the whole net. Kernel, pad and bias come from
    the printed prototxt. For layers past the point where the print is cut, they are taken from a
    printed conv with the same role (conv0/conv1/proj/first) and stride. The role is read from the
    layer name, and the test first checks that this naming rule holds for every printed layer."""
    printed, order, bottoms, tops, shapes = smith_log
    for name, text in printed.items():
        assert (_field(text, "type") == "Convolution") == bool(CONV_NAME.match(name)), name

    by_role = {}
    convs = []
    for name in filter(CONV_NAME.match, order):
        in_shape, out_shape = shapes[bottoms[name][0]], shapes[tops[name][0]]
        stride = in_shape[2] // out_shape[2]
        role = (name.rpartition("_")[2], stride)
        if name in printed:
            text = printed[name]
            kernel, pad = int(_field(text, "kernel_size")), int(_field(text, "pad", 0))
            bias = _field(text, "bias_term", "true") == "true"
            assert int(_field(text, "num_output")) == out_shape[1]
            assert int(_field(text, "stride", 1)) == stride
            by_role[role] = (kernel, pad, bias)
        kernel, pad, bias = by_role[role]
        convs.append((name, in_shape[1], out_shape[1], kernel, stride, pad, bias))
    return convs


def test_log_net_printout_is_long_enough_to_cover_every_conv_role(smith_log):
    printed = smith_log[0]
    for name in ("first", "group0_block8_conv0", "group0_block8_conv1", "group0_block8_proj",
                 "group1_block0_conv0", "group1_block0_conv1"):
        assert name in printed


def test_gresnet56_convolutions_match_smith_log(smith_log):
    expected = [c[1:] for c in _log_convolutions(smith_log)]
    model = shared_model("gresnet56")
    ours = [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0],
             m.bias is not None) for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(expected) == 55
    assert ours == expected


def test_gresnet56_learnable_parameter_count_matches_smith_log(smith_log):
    printed, order, bottoms, tops, shapes = smith_log
    convs = sum(i * o * k * k + (o if bias else 0)
                for _, i, o, k, _, _, bias in _log_convolutions(smith_log))
    # Scale layers carry gamma and beta per channel (bias_term: true in every printed one).
    scales = [name for name in order if name.endswith("_scale")]
    assert all(_field(printed[n], "bias_term") == "true" for n in scales if n in printed)
    scale_params = sum(2 * shapes[tops[n][0]][1] for n in scales)
    fc_in = math.prod(shapes[bottoms["post_FC"][0]][1:])
    fc_out = shapes[tops["post_FC"][0]][1]
    caffe_learnable = convs + scale_params + fc_in * fc_out + fc_out

    model = shared_model("gresnet56", fc_out)
    assert caffe_learnable == count_parameters(model) == PINNED_COUNTS["gresnet56"][0]
    batchnorms = [n for n in order if n.endswith("_bn")]
    assert len(batchnorms) == len(scales) == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_gresnet56_batchnorm_and_relus_match_smith_log(smith_log):
    printed, order, bottoms, tops, shapes = smith_log
    fractions = {float(_field(t, "moving_average_fraction")) for n, t in printed.items()
                 if _field(t, "type") == "BatchNorm"}
    assert fractions == {0.9}
    model = shared_model("gresnet56")
    assert {m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)} == {0.1}
    relus = [n for n in order if n.endswith("_relu")]
    assert len(relus) == 1 + 26  # stem + one inside each block; none after a sum
    assert not any("sum_eltwise" in b for n in relus for b in bottoms[n])
    assert shapes[bottoms["post_pool"][0]][1:] == [64, 8, 8]


def test_reinitialize_draws_fresh_weights_in_place_and_resets_bn_statistics():
    from paperlib.models import reinitialize
    model = build_model("resnet8")
    params_before = [p for p in model.parameters()]
    model.train()
    model(torch.randn(8, 3, 32, 32) * 3 + 1)  # move the running statistics
    reinitialize(model, "msra", seed=3)
    first = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(a is b for a, b in zip(params_before, model.parameters()))  # same tensors
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
    assert torch.equal(bn.running_var, torch.ones_like(bn.running_var))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    reinitialize(model, "msra", seed=3)
    assert all(torch.equal(first[k], v) for k, v in model.state_dict().items())
    reinitialize(model, "msra", seed=4)
    conv = next(k for k, v in first.items() if v.dim() == 4)
    assert not torch.equal(first[conv], model.state_dict()[conv])


# --- BatchNorm over shards of the batch (Smith's per-GPU BN) ------------------------------------

def _same_weights(name: str, shards: int) -> tuple[nn.Module, nn.Module]:
    """(model with bn_shards=shards, plain model) holding the same weights, both in train mode."""
    sharded = build_model(name, bn_shards=shards)
    plain = build_model(name)
    plain.load_state_dict(sharded.state_dict())
    return sharded.train(), plain.train()


def _batch(n: int, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose shards differ in mean and scale, so per-shard statistics really differ."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g)
    x = x * torch.linspace(0.5, 3.0, n).view(n, 1, 1, 1) + torch.linspace(-1, 1, n).view(n, 1, 1, 1)
    return x, torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("name, shards", [("gresnet56", 2), ("gresnet56", 4), ("resnet56-sc", 4),
                                          ("resnet8", 2)])
def test_sharded_model_equals_the_plain_model_applied_shard_by_shard_outputs_and_gradients(
        name, shards):
    torch.manual_seed(0)
    sharded, plain = _same_weights(name, shards)
    x, y = _batch(8)
    out = sharded(x)
    nn.functional.cross_entropy(out, y).backward()  # the mean over the whole batch
    plain_out = []
    for xs, ys in zip(x.chunk(shards), y.chunk(shards)):
        o = plain(xs)
        # DDP averages the ranks' gradients: each shard's mean loss, divided by the shard count.
        (nn.functional.cross_entropy(o, ys) / shards).backward()
        plain_out.append(o.detach())
    torch.testing.assert_close(out.detach(), torch.cat(plain_out), rtol=1e-5, atol=1e-5)
    for (pname, p), q in zip(sharded.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=pname)
    # and the shards really differ from one whole-batch BN, or this test would prove nothing
    whole = build_model(name).train()
    whole.load_state_dict(sharded.state_dict())
    assert not torch.allclose(whole(x), out, atol=1e-3)


def test_running_statistics_are_those_of_plain_bn_on_shard_0_alone():
    torch.manual_seed(0)
    sharded, plain = _same_weights("resnet8", 4)
    x, _ = _batch(16)
    sharded(x)
    plain(x[:4])  # images 0..3: the first contiguous shard
    for key, value in plain.state_dict().items():
        if "running" in key or "num_batches_tracked" in key:
            assert torch.equal(sharded.state_dict()[key], value), key
    moved = sharded.stem[1].running_mean
    assert not torch.equal(moved, torch.zeros_like(moved))


@pytest.mark.parametrize("momentum", [0.05, None])  # None: PyTorch's cumulative average
def test_a_sharded_layer_updates_its_running_statistics_like_plain_bn_on_shard_0(momentum):
    sharded = ShardedBatchNorm2d(16, shards=2, momentum=momentum)
    plain = nn.BatchNorm2d(16, momentum=momentum)
    for seed in range(3):
        x = torch.randn(8, 16, 4, 4, generator=torch.Generator().manual_seed(seed)) * 2 + seed
        sharded(x)
        plain(x[:4])
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.equal(getattr(sharded, name), getattr(plain, name)), name


def test_one_shard_is_plain_batchnorm_bit_for_bit():
    torch.manual_seed(0)
    one, plain = ShardedBatchNorm2d(16, shards=1), nn.BatchNorm2d(16)
    with torch.no_grad():
        for layer in (one, plain):
            layer.weight.copy_(torch.linspace(0.5, 2, 16))
            layer.bias.copy_(torch.linspace(-1, 1, 16))
    x = torch.randn(6, 16, 8, 8) * 3 + 1
    for train in (True, False):
        one.train(train), plain.train(train)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        a, b = one(xa), plain(xb)
        assert torch.equal(a, b)
        (a * x).sum().backward(), (b * x).sum().backward()
        assert torch.equal(xa.grad, xb.grad) and torch.equal(one.weight.grad, plain.weight.grad)
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in one.state_dict().items())
    # build_model's default stays the plain class, so default models are exactly as before
    assert {type(m) for m in build_model("resnet8", bn_shards=1).modules()
            if isinstance(m, nn.BatchNorm2d)} == {nn.BatchNorm2d}


@pytest.mark.parametrize("name", list(PINNED_COUNTS))
def test_bn_shards_keep_state_dict_keys_and_parameter_counts_and_reach_every_batchnorm(name):
    sharded = build_model(name, bn_shards=4)
    bns = [m for m in sharded.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(type(m) is ShardedBatchNorm2d and m.shards == 4 for m in bns)
    assert list(sharded.state_dict()) == list(shared_model(name).state_dict())
    assert count_parameters(sharded) == PINNED_COUNTS[name][0]
    sharded.load_state_dict(shared_model(name).state_dict())  # checkpoints are interchangeable


@pytest.mark.parametrize("init", INIT_CHOICES)
def test_bn_shards_do_not_change_the_initial_weights_drawn_from_a_seed(init):
    def built(shards):
        torch.manual_seed(5)
        return build_model("resnet8", init=init, bn_shards=shards).state_dict()
    plain, sharded = built(1), built(4)
    assert all(torch.equal(value, sharded[key]) for key, value in plain.items())


def test_an_indivisible_training_batch_is_refused_in_one_line_and_eval_takes_any_size():
    model = build_model("resnet8", bn_shards=4)
    with pytest.raises(ConfigError) as excinfo:
        model(torch.randn(10, 3, 16, 16))
    message = str(excinfo.value)
    assert "\n" not in message and "10" in message and "bn_shards=4" in message
    assert "multiple of 4" in message
    assert model.eval()(torch.randn(10, 3, 16, 16)).shape == (10, 10)


def test_a_sharded_layer_keeps_channels_last_and_matches_a_contiguous_input():
    torch.manual_seed(0)
    layer = ShardedBatchNorm2d(8, shards=4)
    x = torch.randn(8, 8, 6, 6) * 2 + 1
    out = layer(x.contiguous(memory_format=torch.channels_last))
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, ShardedBatchNorm2d(8, shards=4)(x), rtol=1e-6, atol=1e-6)


def test_reinitialize_keeps_bn_shards_and_resets_their_statistics():
    model = build_model("resnet8", bn_shards=2)
    model(torch.randn(4, 3, 16, 16) * 3 + 1)
    reinitialize(model, "msra", seed=0)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(isinstance(m, ShardedBatchNorm2d) and m.shards == 2 for m in bns)
    assert all(torch.equal(m.running_mean, torch.zeros_like(m.running_mean)) for m in bns)


# Two ranks of gloo DDP with plain BN, each training on its contiguous half of every batch.
DDP_STEPS, DDP_BATCH, DDP_SIZE = 3, 8, 16


def _sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def _ddp_worker(rank: int, world_size: int, port: int, state: dict, out_path: str) -> None:
    import datetime
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)  # two ranks share this machine's cores
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    dist.init_process_group("gloo", rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=60))
    try:
        model = build_model("resnet8").train()
        model.load_state_dict(state)
        ddp = DistributedDataParallel(model, broadcast_buffers=True)
        optimizer = _sgd(model)
        for step in range(DDP_STEPS):
            x, y = _batch(DDP_BATCH, DDP_SIZE, seed=step)
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(ddp(x.chunk(world_size)[rank]),
                                               y.chunk(world_size)[rank])
            loss.backward()  # DDP averages the two ranks' gradients
            optimizer.step()
        if rank == 0:
            torch.save(model.state_dict(), out_path)
        dist.barrier()  # neither rank tears gloo down while the other still talks to it
        Path(f"{out_path}.done{rank}").touch()
    finally:
        dist.destroy_process_group()


def test_two_shards_on_one_process_match_two_rank_gloo_ddp_with_plain_bn(tmp_path):
    import socket

    import torch.multiprocessing as mp

    torch.manual_seed(0)
    sharded = build_model("resnet8", bn_shards=2).train()
    state = {k: v.clone() for k, v in sharded.state_dict().items()}
    with socket.socket() as s:  # a free port; released just before the ranks bind it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out_path = tmp_path / "rank0.pt"
    try:
        mp.spawn(_ddp_worker, args=(2, port, state, str(out_path)), nprocs=2, join=True)
    except mp.ProcessExitedException as exited:
        # gloo can abort a rank in its teardown ("terminate called without an active exception")
        # after both ranks finished: what is compared here was written by then
        if not all(Path(f"{out_path}.done{rank}").exists() for rank in range(2)):
            raise
        print(f"a rank's teardown ended it after both finished: {exited}")
    rank0 = torch.load(out_path)

    optimizer = _sgd(sharded)
    for step in range(DDP_STEPS):
        x, y = _batch(DDP_BATCH, DDP_SIZE, seed=step)
        optimizer.zero_grad()
        nn.functional.cross_entropy(sharded(x), y).backward()
        optimizer.step()
    for key, value in sharded.state_dict().items():
        if key.endswith("num_batches_tracked"):
            assert torch.equal(value, rank0[key]), key
        else:  # parameters, and running statistics equal to rank 0's (broadcast_buffers=True)
            torch.testing.assert_close(value, rank0[key], rtol=1e-5, atol=1e-6, msg=key)
    assert not torch.equal(sharded.fc.weight, state["fc.weight"])  # it did train
