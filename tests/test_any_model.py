"""Smith's tools on the model a practitioner brings: any module, any batch form, any loss, through
every entry point (the range test, fit, fit_many, the recipe), with the library's defaults."""
import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from paperlib.data import LoaderBatches, batches
from paperlib.engine import Compute, Every, Execution, Job, StepLoss, evaluate, fit, plan
from paperlib.errors import ConfigError
from paperlib.range_test import Sweep, lr_range_test
from paperlib.recipe import run_recipe

FEATURES, CLASSES = 20, 3


def _tabular(n=640, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)
    y = (x @ torch.randn(FEATURES, CLASSES, generator=g)).argmax(1)
    return x, y


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(FEATURES, 64), nn.BatchNorm1d(64), nn.ReLU(),
                         nn.Linear(64, CLASSES))


def _loaders(batch_size=64):
    x, y = _tabular()
    return (DataLoader(TensorDataset(x[:512], y[:512]), batch_size=batch_size, shuffle=True),
            DataLoader(TensorDataset(x[512:], y[512:]), batch_size=128))


def test_a_tabular_mlp_runs_through_the_range_test_with_the_defaults_and_comes_back_as_it_was():
    train, val = _loaders()
    model = _mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = lr_range_test(model, LoaderBatches(train), Sweep(0.001, 3.0, 100), test=val,
                           every=Every(eval=10))
    assert result.status in ("completed", "stopped") and len(result.test) >= 5
    assert result.suggest()["smith"]["lr_max"] > 0
    assert result.test["accuracy"].notna().all()  # three classes: accuracy is reported
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training  # and its mode too


def test_a_tabular_mlp_runs_through_the_recipe_with_the_defaults(tmp_path):
    train, val = _loaders()
    model = _mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    recipe = run_recipe(model, train, val, out_dir=tmp_path, steps=2000, log=None)
    handoff = recipe.handoff()
    assert 0 < handoff["lr_min"] < handoff["lr_max"] and handoff["batch_size"] == 64
    assert json.loads((tmp_path / "recipe.json").read_text())["settings"]["loss"] == \
        "cross-entropy"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class TwoInputs(nn.Module):
    """Two inputs, and an output of several kinds (the forms practitioners' models return)."""

    def __init__(self, returns="tensor"):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.returns = nn.Linear(FEATURES, CLASSES), nn.Linear(FEATURES, CLASSES), returns

    def forward(self, x1, x2=None, labels=None):
        logits = self.a(x1) + (0 if x2 is None else self.b(x2))
        if self.returns == "tuple":
            return logits, logits.detach()
        if self.returns == "dict":
            return {"logits": logits}
        if self.returns == "object":
            loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
            return type("Output", (), {"logits": logits, "loss": loss})()
        return logits


class DictBatches(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x1": self.x[i], "x2": self.x[i].flip(0), "labels": self.y[i]}


@pytest.mark.parametrize("form, returns", [("triple", "tensor"), ("triple", "tuple"),
                                           ("list", "dict"), ("dict", "object"),
                                           ("dict", "tensor")])
def test_batches_of_several_inputs_or_dicts_train_and_score_whatever_the_model_returns(form,
                                                                                       returns):
    x, y = _tabular()
    if form == "dict":
        data = DataLoader(DictBatches(x, y), batch_size=32)
    else:
        data = [[x[i:i + 32], x[i:i + 32].flip(1), y[i:i + 32]] if form == "list" else
                (x[i:i + 32], x[i:i + 32].flip(1), y[i:i + 32]) for i in range(0, 320, 32)]
    model = TwoInputs(returns)
    result = fit(model, LoaderBatches(data), steps=20, lr=0.1, test=data, every=Every(eval=10),
                 compute=Compute("fp32"))
    assert result.status == "completed" and result.train["loss"].iloc[-1] < \
        result.train["loss"].iloc[0]
    assert result.test["accuracy"].between(0, 1).all()
    loss, accuracy = evaluate(model, data, precision="fp32")
    assert loss == pytest.approx(result.test["loss"].iloc[-1], rel=1e-5)


def test_a_regression_takes_its_criterion_in_training_and_evaluation_and_reports_no_accuracy():
    x, _ = _tabular()
    y = x @ torch.randn(FEATURES)
    data = DataLoader(TensorDataset(x, y), batch_size=64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(), nn.Linear(32, 1), nn.Flatten(0))
    result = fit(model, LoaderBatches(data), steps=40, lr=0.01, test=data, every=Every(eval=20),
                 loss=nn.MSELoss(), compute=Compute("fp32"))
    assert result.test["accuracy"].isna().all() and result.train["accuracy"].isna().all()
    with torch.no_grad():
        mse = float(((model(x) - y) ** 2).mean())
    assert result.test["loss"].iloc[-1] == pytest.approx(mse, rel=1e-5)
    with pytest.raises(ConfigError, match="pass loss=, e.g. loss=torch.nn.MSELoss"):
        fit(model, LoaderBatches(data), steps=1, lr=0.01)  # float targets, no loss given


def test_a_step_function_gives_the_loss_whether_wrapped_or_named_model_and_batch():
    x, y = _tabular()
    data = DataLoader(DictBatches(x, y), batch_size=32)

    def training_step(model, batch):
        return nn.functional.cross_entropy(model(batch["x1"]), batch["labels"])
    for loss in (training_step, StepLoss(lambda m, b: training_step(m, b))):
        result = fit(TwoInputs(), LoaderBatches(data), steps=10, lr=0.1, test=data, loss=loss)
        assert result.status == "completed" and result.test["accuracy"].isna().all()
        assert result.test["loss"].iloc[-1] > 0


def test_a_language_model_scores_every_token_by_default():
    torch.manual_seed(0)
    tokens = torch.randint(0, 11, (64, 9))
    data = [(tokens[i:i + 16, :-1], tokens[i:i + 16, 1:]) for i in range(0, 64, 16)]
    model = nn.Sequential(nn.Embedding(11, 16), nn.Linear(16, 11))  # [B, T] -> [B, T, 11]
    result = fit(model, LoaderBatches(data), steps=8, lr=0.1, test=data, every=Every(eval=8),
                 compute=Compute("fp32"))
    with torch.no_grad():
        logits = torch.cat([model(a) for a, _ in data])
        targets = torch.cat([b for _, b in data])
        ce = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        accuracy = float((logits.argmax(-1) == targets).float().mean())
    assert result.test["loss"].iloc[-1] == pytest.approx(float(ce), rel=1e-5)
    assert result.test["accuracy"].iloc[-1] == pytest.approx(accuracy)


def test_channels_last_goes_only_to_models_with_convolutions_and_is_recorded(tmp_path):
    x, y = _tabular()
    data = [(x[:32], y[:32])]
    fit(_mlp(), LoaderBatches(data), steps=2, lr=0.1, out=tmp_path / "mlp")
    assert json.loads((tmp_path / "mlp" / "run.json").read_text())["settings"][
        "channels_last"] is False
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))
    images = [(torch.randn(8, 3, 8, 8), torch.randint(0, 2, (8,)))]
    fit(conv, LoaderBatches(images), steps=2, lr=0.1, out=tmp_path / "conv")
    assert json.loads((tmp_path / "conv" / "run.json").read_text())["settings"][
        "channels_last"] is True
    assert conv[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_the_plan_fuses_only_what_a_fused_step_computes_and_says_why_not():
    from helpers import synthetic_loaders, tiny_model
    train, test = synthetic_loaders()
    same = [Job(model=tiny_model(i), train=train, steps=2, lr=0.1, test=test) for i in range(2)]
    other = Job(model=tiny_model(2), train=train, steps=2, lr=0.1, test=test,
                loss=nn.CrossEntropyLoss(label_smoothing=0.1))
    mlp = Job(model=_mlp(), train=LoaderBatches([_tabular()]), steps=2, lr=0.1)
    groups = plan([*same, other, mlp], Execution(fuse="on"))
    assert [(g.members, g.stepper) for g in groups] == [((0, 1), "stacked"), ((2,), "eager"),
                                                         ((3,), "eager")]
    assert "loss is not the cross-entropy" in groups[1].why
    assert "no batch_size" in groups[2].why


def test_batches_are_moved_to_the_device_leaf_by_leaf_and_grown_for_a_probe():
    batch = {"x": torch.ones(3, 2), "meta": "kept", "pair": (torch.zeros(3), torch.ones(3))}
    moved = batches.to_device(batch, torch.device("cpu"))
    assert moved["meta"] == "kept" and isinstance(moved["pair"], tuple)
    assert batches.size(batch) == 3
    grown = batches.repeated((torch.arange(3.0)[:, None], torch.arange(3)), 7)
    assert grown[1].tolist() == [0, 1, 2, 0, 1, 2, 0] and grown[0].shape == (7, 1)
    with pytest.raises(ConfigError, match="a batch must be"):
        batches.split(torch.ones(3))


def test_a_batch_already_on_the_device_comes_back_as_it_is_and_a_namedtuple_stays_one():
    from collections import namedtuple
    pair = (torch.ones(3, 2), torch.zeros(3))
    assert batches.to_device(pair, torch.device("cpu")) is pair
    Pair = namedtuple("Pair", "x y")
    moved = batches.to_device(Pair(torch.ones(2), torch.zeros(2, dtype=torch.float64)),
                              torch.device("meta"))
    assert isinstance(moved, Pair) and moved.x.device.type == "meta"
