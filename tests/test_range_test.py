"""LR range test: exact lr history, divergence stop, exact state restore, pure suggestions."""
import contextlib
import random

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import synthetic_loaders, tiny_model
from paperlib.errors import ConfigError
from paperlib.engine import Every, Folder, preserved_state
from paperlib.range_test import (Divergence, RangeTestResult, Sweep, load_range_tests,
                                 lr_range_test, save_range_tests, smooth_losses, suggest_smith,
                                 suggest_steep, suggest_valley, weight_decay_sweep)


def _folder_sweep(model, train, *, out, resume=False, lr_min=0.01, lr_max=1.0, steps=40,
                  mode="linear", log_every=3, eval_every=0, checkpoint_every=0,
                  divergence_factor=4.0, smoothing=0.98, **kw):
    """A range test with a run folder, its settings spelled out flat as the tests vary them."""
    stop = Divergence(divergence_factor, smoothing) if divergence_factor else None
    return lr_range_test(model, train, Sweep(lr_min, lr_max, steps, mode),
                         every=Every(log=log_every, eval=eval_every,
                                     checkpoint=checkpoint_every),
                         stop=stop, out=Folder(out, resume=resume), **kw)


def _state(model, optimizer=None):
    snap = {k: v.clone() for k, v in model.state_dict().items()}
    opt = None
    if optimizer is not None:
        opt = {i: {k: v.clone() for k, v in s.items()} for i, s in enumerate(optimizer.state.values())}
        opt["groups"] = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    return snap, opt


def _assert_same(a, b):
    assert a[0].keys() == b[0].keys()
    for k in a[0]:
        assert torch.equal(a[0][k], b[0][k]), k
    assert (a[1] is None) == (b[1] is None)
    if a[1] is not None:
        assert a[1]["groups"] == b[1]["groups"]
        for i in a[1]:
            if i != "groups":
                for k in a[1][i]:
                    assert torch.equal(a[1][i][k], b[1][i][k])


def _warm_optimizer(model, train):
    """A user's optimizer with momentum buffers and BN statistics already moved by training."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for step in range(3):
        x, y = train.batch(step)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return opt


@pytest.mark.parametrize("mode", ["linear", "exp"])
def test_lr_history_is_exactly_the_ramp(mode):
    train, _ = synthetic_loaders()
    result = lr_range_test(tiny_model(), train, Sweep(1e-3, 1.0, 30, mode), stop=None)
    lrs = result.train["lr"].to_numpy()
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1.0)
    if mode == "linear":
        assert np.allclose(np.diff(lrs), (1.0 - 1e-3) / 29)
    else:
        assert np.allclose(np.diff(np.log(lrs)), np.log(1000) / 29)


def test_state_is_restored_exactly_after_a_completed_test():
    train, test = synthetic_loaders()
    model = tiny_model()
    opt = _warm_optimizer(model, train)
    before = _state(model, opt)
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    lr_range_test(model, train, Sweep(0.01, 1.0, 20), optimizer=opt, test=test,
                  every=Every(log=10, eval=10))
    assert torch.equal(torch.rand(3), expected_draw)  # RNG as if the test never ran
    _assert_same(before, _state(model, opt))
    assert model.training


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("failure", [Boom, KeyboardInterrupt])
def test_state_is_restored_when_the_sweep_is_interrupted(failure):
    train, _ = synthetic_loaders()
    model = tiny_model()
    opt = _warm_optimizer(model, train)
    before = _state(model, opt)
    calls = {"n": 0}

    def hook(module, inputs):
        calls["n"] += 1
        if calls["n"] == 8:
            raise failure()
    handle = model.register_forward_pre_hook(hook)
    py_state = random.getstate()
    with pytest.raises(failure):
        lr_range_test(model, train, Sweep(0.01, 1.0, 20), optimizer=opt)
    handle.remove()
    _assert_same(before, _state(model, opt))
    assert random.getstate() == py_state


def test_divergence_stops_the_sweep_and_the_state_comes_back():
    train, _ = synthetic_loaders()
    model = tiny_model()
    before = _state(model)
    result = lr_range_test(model, train, Sweep(0.01, 1e6, 60, "exp"), every=Every(log=2))
    assert result.status in ("stopped", "diverged")
    assert len(result.train) < 60
    _assert_same(before, _state(model))


def test_weight_decay_sweep_starts_every_run_from_the_same_state():
    train, _ = synthetic_loaders()
    model = tiny_model()
    results = weight_decay_sweep(model, train, Sweep(0.01, 0.5, 6), weight_decays=[1e-3, 1e-5],
                                 every=Every(log=3))
    first = [r.train["loss"].iloc[0] for r in results]
    assert first[0] == first[1]  # same weights and same first batch
    assert [r.train["weight_decay"].iloc[0] for r in results] == [1e-3, 1e-5]
    assert results[0].train["loss"].iloc[-1] != results[1].train["loss"].iloc[-1]


def test_smoothing_is_bias_corrected():
    assert smooth_losses(np.array([2.0, 2.0, 2.0]), 0.98) == pytest.approx([2.0, 2.0, 2.0])
    out = smooth_losses(np.array([1.0, 3.0]), 0.5)
    assert out == pytest.approx([1.0, (0.25 * 1 + 0.5 * 3) / 0.75])


def _synthetic_result(lrs, train_loss, test_lrs=None, test_loss=None, test_acc=None, mode="linear"):
    rows = [{"step": i, "split": "train", "lr": lr, "momentum": 0.9, "weight_decay": 0.0,
             "loss": loss, "accuracy": np.nan} for i, (lr, loss) in enumerate(zip(lrs, train_loss))]
    for j, lr in enumerate(test_lrs if test_lrs is not None else []):
        rows.append({"step": j, "split": "test", "lr": lr, "momentum": 0.9, "weight_decay": 0.0,
                     "loss": test_loss[j], "accuracy": test_acc[j]})
    return RangeTestResult(pd.DataFrame(rows), mode, "stopped", {"smoothing": 0.0})


def test_smith_rule_reads_the_test_loss_minimum():
    lrs = np.linspace(0.1, 3.0, 100)
    test_lrs = np.linspace(0.1, 3.0, 30)
    test_loss = (test_lrs - 1.2) ** 2 + 0.5
    test_acc = 0.9 - 0.1 * (test_lrs - 1.0) ** 2
    result = _synthetic_result(lrs, np.ones(100), test_lrs, test_loss, test_acc)
    s = suggest_smith(result)
    assert s["lr_max"] == pytest.approx(1.2, abs=0.11)
    assert s["lr_min"] == pytest.approx(s["lr_max"] / 10)
    assert s["basis"] == "test loss"
    assert s["lr_at_best_test_accuracy"] == pytest.approx(1.0, abs=0.11)


def test_valley_and_steep_on_a_known_curve():
    lrs = np.geomspace(1e-4, 10, 200)
    x = np.log10(lrs)
    loss = 2.3 - 1.5 / (1 + np.exp(-(x + 2) * 3)) + np.where(x > 0, 5 * x ** 2, 0)
    result = _synthetic_result(lrs, loss, mode="exp")
    steep = suggest_steep(result)["lr"]
    assert np.log10(steep) == pytest.approx(-2, abs=0.15)  # the sigmoid's steepest point
    valley = suggest_valley(result)
    assert 1e-4 <= valley["lr"] <= 1.0 and valley["valley"][1] == pytest.approx(1.0, rel=0.1)


def test_save_and_load_round_trip(tmp_path):
    train, test = synthetic_loaders()
    model = tiny_model()
    results = weight_decay_sweep(model, train, Sweep(0.01, 0.5, 10), weight_decays=[1e-4, 1e-3],
                                 test=test, every=Every(log=5, eval=5))
    doc = save_range_tests(results, tmp_path)
    for name in ("lr_find.csv", "lr_find.json", "lr_find.png"):
        assert (tmp_path / name).stat().st_size > 0
    back = load_range_tests(tmp_path / "lr_find.csv")
    assert [r.suggest()["smith"] for r in back] == [run["suggestions"]["smith"] for run in doc["runs"]]


def test_bad_range_arguments():
    train, _ = synthetic_loaders()
    with pytest.raises(ConfigError, match="lr_min"):
        lr_range_test(tiny_model(), train, Sweep(1.0, 0.1, 5))
    with pytest.raises(ConfigError, match="mode"):
        lr_range_test(tiny_model(), train, Sweep(0.1, 1.0, 5, "cosine"))
    with pytest.raises(ConfigError, match="lr_min must be > 0"):
        lr_range_test(tiny_model(), train, Sweep(0.0, 1.0, 5, "exp"))
    with pytest.raises(ConfigError, match="divergence_factor"):
        Divergence(factor=1.0)
    with pytest.raises(ConfigError, match="max_steps"):
        Sweep(0.1, 1.0, 5, max_steps=0)


def test_preserved_state_without_optimizer_restores_bn_statistics():
    model = tiny_model()
    before = _state(model)
    with preserved_state(model):
        model.train()
        model(torch.randn(8, 3, 32, 32))  # moves running_mean/var
    _assert_same(before, _state(model))


def test_range_test_runs_on_a_plain_dataloader_with_the_users_optimizer():
    from torch.utils.data import DataLoader, TensorDataset

    from paperlib.data import LoaderBatches
    torch.manual_seed(0)
    x, y = torch.randn(96, 3, 32, 32), torch.randint(0, 10, (96,))
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = tiny_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = _state(model, opt)
    result = lr_range_test(model, LoaderBatches(loader), Sweep(1e-5, 1e-1, 7, "exp"),
                           optimizer=opt, momentum=0.9, stop=None)
    assert len(result.train) == 7  # more steps than the loader has batches: it restarts
    _assert_same(before, _state(model, opt))


def test_gradients_are_restored_too():
    train, _ = synthetic_loaders()
    model = tiny_model()
    assert all(p.grad is None for p in model.parameters())
    lr_range_test(model, train, Sweep(0.01, 0.1, 3))
    assert all(p.grad is None for p in model.parameters())


def test_a_sweep_reloads_run_by_run_even_for_close_weight_decays(tmp_path):
    train, _ = synthetic_loaders()
    results = weight_decay_sweep(tiny_model(), train, Sweep(0.01, 0.5, 4),
                                 weight_decays=[0.0, 1e-9], every=Every(log=2))
    save_range_tests(results, tmp_path)
    back = load_range_tests(tmp_path / "lr_find.csv")
    assert [len(r.train) for r in back] == [4, 4]
    assert [r.settings["weight_decay"] for r in back] == [0.0, 1e-9]


# -- run folders: the paper's range tests are up to 20,000 iterations, so they resume ----------

def _counting(model):
    """Count the model's training forward passes: a resume that trains nothing makes none."""
    calls = {"n": 0}

    def hook(module, inputs):
        calls["n"] += module.training
    model.register_forward_pre_hook(hook)
    return calls


def _poisoned(model, step):
    """The loss of training step `step` becomes NaN."""
    calls = {"n": 0}

    def hook(module, inputs, output):
        if module.training:
            calls["n"] += 1
            return output * float("nan") if calls["n"] == step + 1 else output
    model.register_forward_hook(hook)
    return model


@pytest.mark.parametrize("status, kwargs", [
    ("completed", dict(divergence_factor=None)),
    ("stopped", dict(lr_max=100.0, mode="exp")),
    ("diverged", dict(poison_at=12)),
])
def test_resuming_a_finished_sweep_trains_nothing_and_returns_the_stored_rows(status, kwargs,
                                                                             tmp_path):
    train, test = synthetic_loaders()
    poison_at = kwargs.pop("poison_at", None)
    args = {**dict(lr_min=0.01, lr_max=1.0, steps=40, log_every=3, test=test, eval_every=10,
                   checkpoint_every=10, out=tmp_path), **kwargs}
    model = tiny_model() if poison_at is None else _poisoned(tiny_model(), poison_at)
    first = _folder_sweep(model, train, **args)
    assert first.status == status
    model = tiny_model(seed=1)
    before = _state(model)
    calls = _counting(model)
    again = _folder_sweep(model, train, resume=True, **args)
    assert calls["n"] == 0
    pd.testing.assert_frame_equal(again.metrics, first.metrics, check_exact=True)
    assert (again.status, again.settings) == (first.status, first.settings)
    _assert_same(before, _state(model))


@pytest.mark.parametrize("change", [dict(lr_max=200.0), dict(divergence_factor=3.0),
                                    dict(smoothing=0.9), dict(log_every=3)])
@pytest.mark.parametrize("ended", [False, True])
def test_resuming_a_different_sweep_is_refused_in_one_line(change, ended, tmp_path):
    from paperlib.errors import CheckpointError
    train, _ = synthetic_loaders()
    args = dict(lr_min=0.01, lr_max=100.0, mode="exp", steps=40, log_every=2, checkpoint_every=5)
    model = tiny_model()
    if not ended:  # a crash after step 8's checkpoint: the checkpoint's settings are compared
        calls = {"n": 0}

        def crash(module, inputs):
            calls["n"] += 1
            if calls["n"] == 9:
                raise Boom()
        model.register_forward_pre_hook(crash)
    with contextlib.nullcontext() if ended else pytest.raises(Boom):
        first = _folder_sweep(model, train, out=tmp_path, **args)
    if ended:  # stopped by the divergence rule: run.json's settings are compared
        assert first.status == "stopped"
    with pytest.raises(CheckpointError, match="other settings") as refused:
        _folder_sweep(tiny_model(), train, out=tmp_path, resume=True, **{**args, **change})
    assert "\n" not in str(refused.value)


def test_the_model_and_optimizer_are_as_before_after_a_crashed_and_a_resumed_sweep(tmp_path):
    train, test = synthetic_loaders()
    args = dict(lr_min=0.01, lr_max=1.0, steps=20, log_every=4, test=test, eval_every=5,
                checkpoint_every=5, out=tmp_path)
    model = tiny_model()
    opt = _warm_optimizer(model, train)
    before = _state(model, opt)
    calls = {"n": 0}

    def crash(module, inputs):
        calls["n"] += module.training
        if module.training and calls["n"] == 13:
            raise Boom()
    handle = model.register_forward_pre_hook(crash)
    py_state = random.getstate()
    with pytest.raises(Boom):
        _folder_sweep(model, train, optimizer=opt, **args)
    handle.remove()
    _assert_same(before, _state(model, opt))
    result = _folder_sweep(model, train, optimizer=opt, resume=True, **args)
    assert result.status == "completed" and result.settings["steps_done"] == 20
    _assert_same(before, _state(model, opt))  # though the resume loaded step 10's checkpoint
    assert random.getstate() == py_state and model.training


def test_a_weight_decay_sweep_keeps_each_run_in_its_own_folder(tmp_path):
    train, _ = synthetic_loaders()
    results = weight_decay_sweep(tiny_model(), train, Sweep(0.01, 0.5, 4),
                                 weight_decays=[0.0, 1e-4], every=Every(log=2), out=tmp_path)
    for wd, result in zip(["0.0", "0.0001"], results):
        folder = tmp_path / f"weight_decay={wd}"
        assert len(pd.read_csv(folder / "metrics.csv")) == 4 == len(result.train)
    again = weight_decay_sweep(tiny_model(), train, Sweep(0.01, 0.5, 4),
                               weight_decays=[0.0, 1e-4], every=Every(log=2),
                               out=Folder(tmp_path, resume=True))
    for a, b in zip(results, again):
        pd.testing.assert_frame_equal(a.metrics, b.metrics, check_exact=True)


def test_a_reading_at_the_sweeps_first_lr_is_flagged_not_passed_on_silently():
    import pandas as pd
    rows = [{"step": s, "split": "train", "lr": 0.1 * s, "momentum": 0.9, "weight_decay": 0.0,
             "loss": 1.0 + s, "accuracy": 0.1} for s in range(8)]
    rows += [{"step": s, "split": "test", "lr": 0.1 * (s - 1), "momentum": 0.9,
              "weight_decay": 0.0, "loss": 1.0 + s, "accuracy": 0.1} for s in (1, 3, 5, 7)]
    result = RangeTestResult(pd.DataFrame(rows), "linear", "stopped", {"lr_min": 0.0})
    assert result.suggest()["smith"]["lr_max"] == 0.0
    assert any("the sweep's first lr (0)" in note for note in result.suggest()["diagnostics"])
