"""Caffe's SGD update rule, checked in closed form and against PyTorch's SGD."""
import pytest
import torch

from paperlib.errors import ConfigError
from paperlib.optim import CaffeSGD, make_optimizer


def _quadratic_steps(opt, w, lrs):
    """Minimise 0.5*w^2 (gradient = w) with the given lr at each step; return w after each."""
    out = []
    for lr in lrs:
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        (0.5 * (w ** 2).sum()).backward()
        opt.step()
        out.append(w.detach().clone())
    return out


def test_caffe_sgd_matches_the_update_rule_by_hand():
    w = torch.tensor([1.0], requires_grad=True)
    opt = CaffeSGD([w], lr=0.1, momentum=0.9, weight_decay=0.01)
    lrs = [0.1, 0.2, 0.4]
    got = _quadratic_steps(opt, w, lrs)
    wv, v = 1.0, 0.0
    for lr, g in zip(lrs, got):
        v = 0.9 * v + lr * (wv + 0.01 * wv)  # v <- m v + lr (g + wd w)
        wv = wv - v
        assert g.item() == pytest.approx(wv, rel=1e-6)


def test_caffe_nesterov_matches_the_update_rule_by_hand():
    w = torch.tensor([1.0], requires_grad=True)
    opt = CaffeSGD([w], lr=0.1, momentum=0.9, nesterov=True)
    lrs = [0.1, 0.3, 0.05]
    got = _quadratic_steps(opt, w, lrs)
    wv, v = 1.0, 0.0
    for lr, g in zip(lrs, got):
        v_new = 0.9 * v + lr * wv
        wv = wv - ((1 + 0.9) * v_new - 0.9 * v)
        v = v_new
        assert g.item() == pytest.approx(wv, rel=1e-6)


def test_caffe_and_torch_sgd_agree_at_constant_lr_and_differ_when_it_changes():
    def run(kind, lrs):
        torch.manual_seed(0)
        w = torch.randn(5, requires_grad=True)
        opt = make_optimizer(kind, [w], lr=lrs[0], momentum=0.9, weight_decay=1e-3)
        return _quadratic_steps(opt, w, lrs)[-1]

    constant = [0.1] * 6
    assert torch.allclose(run("sgd", constant), run("caffe-sgd", constant), atol=1e-6)
    assert torch.allclose(run("nesterov", constant), run("caffe-nesterov", constant), atol=1e-6)
    rising = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2]
    assert not torch.allclose(run("sgd", rising), run("caffe-sgd", rising), atol=1e-3)


def test_optimizer_arguments_are_checked():
    w = torch.zeros(1, requires_grad=True)
    with pytest.raises(ConfigError, match="optimizer 'lamb' is unknown"):
        make_optimizer("lamb", [w])
    with pytest.raises(ConfigError, match="momentum"):
        CaffeSGD([w], lr=0.1, momentum=1.0)


def test_adam_and_adamw_take_the_momentum_as_beta1_and_keep_beta2():
    w = torch.zeros(1, requires_grad=True)
    for kind, rule in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)):
        opt = make_optimizer(kind, [w], lr=1e-3, momentum=0.85, weight_decay=0.01)
        assert type(opt) is rule and opt.param_groups[0]["betas"] == (0.85, 0.999)
        assert opt.param_groups[0]["weight_decay"] == 0.01
        assert make_optimizer(kind, [w], momentum=None).param_groups[0]["betas"][0] == 0.9


def test_groups_given_as_generators_keep_their_parameters():
    model = torch.nn.Linear(3, 2)
    for kind in ("sgd", "caffe-sgd"):
        opt = make_optimizer(kind, [{"params": model.parameters(), "lr_mult": 2.0}])
        assert len(opt.param_groups[0]["params"]) == 2 and opt.param_groups[0]["lr_mult"] == 2.0


def test_nesterov_without_momentum_is_a_config_error():
    with pytest.raises(ConfigError, match="momentum"):
        make_optimizer("nesterov", [torch.zeros(1, requires_grad=True)], momentum=0.0)
