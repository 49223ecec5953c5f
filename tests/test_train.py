"""The training loop: schedules applied, loss falls, logs, checkpoints, resume, divergence."""
import json

import pandas as pd
import pytest
import torch

from helpers import real_data_root, synthetic_loaders, tiny_model
from paperlib import schedules as S
from paperlib.errors import CheckpointError, ConfigError, OutputDirError
from paperlib.engine import Compute, Every, Folder, fit


class RecordingSGD(torch.optim.SGD):
    """SGD that records the lr and momentum it actually used at each step."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.used = []

    def step(self, closure=None):
        g = self.param_groups[0]
        self.used.append((g["lr"], g["momentum"], g["weight_decay"]))
        return super().step(closure)


def test_loop_applies_the_schedules_and_logs_them():
    train, _ = synthetic_loaders()
    model = tiny_model()
    lr, mom = S.one_cycle("smith", 0.05, 0.5, 10, 25, mom_max=0.95, mom_min=0.85)
    opt = RecordingSGD(model.parameters(), lr=0.1, momentum=0.9)
    result = fit(model, train, steps=25, lr=lr, momentum=mom, weight_decay=1e-4, optimizer=opt,
                 every=Every(log=7))
    expected = [(lr(s), mom(s), 1e-4) for s in range(25)]
    assert [v for used in opt.used for v in used] == pytest.approx([v for e in expected for v in e])
    log = result.train
    assert list(log["step"]) == list(range(25))
    assert list(log["lr"]) == pytest.approx([lr(s) for s in range(25)])
    assert list(log["momentum"]) == pytest.approx([mom(s) for s in range(25)])
    assert result.status == "completed" and result.steps_done == 25


PRECISIONS = ["fp32", "bf16"]  # both answers of precision="auto", on any CPU


@pytest.mark.parametrize("precision", PRECISIONS)
def test_loss_falls_on_a_learnable_task_and_test_rows_come_every_k_steps(precision):
    train, test = synthetic_loaders()
    result = fit(tiny_model(), train, steps=60, lr=0.05, momentum=0.9, test=test,
                 every=Every(log=10, eval=20), compute=Compute(precision))
    losses = result.train["loss"]
    assert losses.iloc[-10:].mean() < 0.6 * losses.iloc[:10].mean()
    assert list(result.test["step"]) == [20, 40, 60]
    assert result.test["accuracy"].iloc[-1] > 0.5  # 10 classes: chance is 0.1


@pytest.mark.parametrize("precision", PRECISIONS)
def test_same_seed_gives_identical_metrics(precision, tmp_path):
    def run(out):
        train, test = synthetic_loaders(seed=3)
        fit(tiny_model(seed=3), train, steps=20, lr=0.1, momentum=0.9, test=test,
            every=Every(eval=10), out=out, compute=Compute(precision))
        return (out / "metrics.csv").read_bytes()

    assert run(tmp_path / "a") == run(tmp_path / "b")


class Crash(RuntimeError):
    pass


def _crash_at(model, step_to_crash):
    calls = {"n": 0}

    def hook(module, inputs):
        if module.training:
            calls["n"] += 1
            if calls["n"] == step_to_crash + 1:
                raise Crash()
    return model.register_forward_pre_hook(hook)


def test_resume_after_a_crash_is_bit_identical(tmp_path):
    kwargs = dict(steps=30, lr=S.triangular(0.02, 0.3, 10), momentum=0.9, weight_decay=5e-4,
                  every=Every(log=4, eval=10, checkpoint=10))
    train, test = synthetic_loaders(seed=1)
    fit(tiny_model(seed=1), train, test=test, out=tmp_path / "whole", **kwargs)

    model = tiny_model(seed=1)
    handle = _crash_at(model, 25)
    with pytest.raises(Crash):
        fit(model, train, test=test, out=tmp_path / "broken", **kwargs)
    handle.remove()
    # the crashed run kept its rows up to the last flush, beyond the step-20 checkpoint
    assert pd.read_csv(tmp_path / "broken" / "metrics.csv")["step"].max() >= 20
    with pytest.raises(OutputDirError, match="unfinished run"):
        fit(tiny_model(seed=1), train, test=test, out=tmp_path / "broken", **kwargs)
    fit(tiny_model(seed=99), train, test=test, out=Folder(tmp_path / "broken", resume=True),
        **kwargs)
    assert (tmp_path / "broken" / "metrics.csv").read_bytes() == \
        (tmp_path / "whole" / "metrics.csv").read_bytes()


def test_resume_refuses_a_checkpoint_of_other_settings_or_a_corrupt_one(tmp_path):
    train, _ = synthetic_loaders()
    out = tmp_path / "run"
    model = tiny_model()
    handle = _crash_at(model, 15)
    with pytest.raises(Crash):
        fit(model, train, steps=20, lr=0.1, every=Every(checkpoint=10), out=out)
    handle.remove()
    with pytest.raises(CheckpointError, match="other settings"):
        fit(tiny_model(), train, steps=20, lr=0.2, every=Every(checkpoint=10),
            out=Folder(out, resume=True))
    ckpt = next((out / "checkpoints").glob("step_*.pt"))
    ckpt.write_bytes(ckpt.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        fit(tiny_model(), train, steps=20, lr=0.1, every=Every(checkpoint=10),
            out=Folder(out, resume=True))


def test_a_finished_run_is_not_overwritten_unless_asked(tmp_path):
    train, _ = synthetic_loaders()
    fit(tiny_model(), train, steps=5, lr=0.1, out=tmp_path)
    with pytest.raises(OutputDirError, match="holds a finished run"):
        fit(tiny_model(), train, steps=5, lr=0.1, out=tmp_path)
    fit(tiny_model(), train, steps=5, lr=0.1, out=Folder(tmp_path, overwrite=True))
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "completed"


def test_a_nan_loss_stops_the_run_and_is_recorded_not_raised(tmp_path):
    train, _ = synthetic_loaders()
    model = tiny_model()
    calls = {"n": 0}

    def poison_step_17(module, inputs, output):
        calls["n"] += 1
        return output * float("nan") if calls["n"] == 18 else output
    model.register_forward_hook(poison_step_17)
    result = fit(model, train, steps=40, lr=0.1, momentum=0.9, every=Every(log=5), out=tmp_path)
    assert result.status == "diverged"
    assert result.diverged_at == 17 and result.steps_done == 18
    assert result.last_finite["step"] < result.diverged_at
    doc = json.loads((tmp_path / "run.json").read_text())
    assert doc["status"] == "diverged" and doc["diverged_at"] == result.diverged_at
    assert int(result.train["step"].max()) == result.diverged_at  # nothing logged past it


def test_bad_arguments_name_the_parameter():
    train, _ = synthetic_loaders()
    with pytest.raises(ConfigError, match="steps"):
        fit(tiny_model(), train, steps=0, lr=0.1)
    with pytest.raises(ConfigError, match="run folder"):
        fit(tiny_model(), train, steps=5, lr=0.1, every=Every(checkpoint=2))
    with pytest.raises(ConfigError, match="precision"):
        fit(tiny_model(), train, steps=5, lr=0.1, compute=Compute(precision="fp8"))
    with pytest.raises(ConfigError, match="log_every"):
        Every(log=0)
    with pytest.raises(ConfigError, match="optimizer 'lamb' is unknown"):
        fit(tiny_model(), train, steps=5, lr=0.1, optimizer="lamb")
    with pytest.raises(ConfigError, match="loss must be None, a criterion"):
        fit(tiny_model(), train, steps=5, lr=0.1, loss="mse")


def test_short_real_run_on_a_cifar10_subset_learns(tmp_path):
    from paperlib.experiment import make_data, make_model
    root = real_data_root()
    data = make_data("cifar10", root=root, batch_size=64, subset=2000, test_subset=500, seed=0)
    model = make_model("resnet8", seed=0)
    lr, mom = S.one_cycle("smith", 0.05, 0.5, 30, 80, mom_max=0.95, mom_min=0.85)
    result = fit(model, data.train, steps=80, lr=lr, momentum=mom, weight_decay=5e-4,
                 test=data.test, every=Every(log=20, eval=40))
    losses = result.train["loss"]
    assert losses.iloc[-20:].mean() < losses.iloc[:20].mean() - 0.2
    assert result.test["accuracy"].iloc[-1] > 0.2  # chance is 0.1


def test_a_row_torn_by_a_crash_is_dropped_on_resume(tmp_path):
    from paperlib.runs import RunDir
    run = RunDir(tmp_path)
    run.append_metrics([{"step": s, "split": "train", "lr": 0.1, "momentum": 0.9,
                         "weight_decay": 0.0, "loss": 1.0, "accuracy": 0.5} for s in range(6)])
    with open(run.metrics, "a") as f:
        f.write("6,train,0.1,0.")  # the process died mid-row
    run.truncate_metrics(4)
    frame = pd.read_csv(run.metrics)
    assert list(frame["step"]) == [0, 1, 2, 3]


def test_resume_of_a_finished_run_loads_its_final_model(tmp_path):
    train, _ = synthetic_loaders()
    model = tiny_model()
    fit(model, train, steps=6, lr=0.1, out=tmp_path)
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    fresh = tiny_model(seed=42)
    result = fit(fresh, train, steps=6, lr=0.1, out=Folder(tmp_path, resume=True))
    assert result.status == "completed" and len(result.train) == 6
    assert all(torch.equal(trained[k], v) for k, v in fresh.state_dict().items())


def test_weight_decay_none_leaves_the_users_optimizer_alone():
    train, _ = synthetic_loaders()
    model = tiny_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    result = fit(model, train, steps=3, lr=1e-3, momentum=0.9, optimizer=opt)
    assert opt.param_groups[0]["weight_decay"] == 0.05
    assert list(result.train["weight_decay"]) == [0.05] * 3
    assert opt.param_groups[0]["betas"][0] == 0.9


def test_plain_functions_cannot_be_checkpointed(tmp_path):
    train, _ = synthetic_loaders()
    with pytest.raises(ConfigError, match="lr: checkpointing needs a paperlib schedule"):
        fit(tiny_model(), train, steps=3, lr=lambda s: 0.1, every=Every(checkpoint=1),
            out=tmp_path)


def test_auto_precision_is_bf16_on_a_cpu_exactly_when_it_has_native_bf16_and_a_convnet(
        monkeypatch):
    from paperlib import device as T
    cpu = torch.device("cpu")
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    for native in (True, False):
        monkeypatch.setattr(T, "cpu_has_native_bf16", lambda native=native: native)
        assert T.resolve_precision("auto", cpu) == ("bf16" if native else "fp32")
        assert T.resolve_precision("auto", cpu, tiny_model()) == ("bf16" if native else "fp32")
        assert T.resolve_precision("auto", cpu, mlp) == "fp32"  # linear layers: fp32 is faster
        assert T.resolve_precision("bf16", cpu, mlp) == "bf16"  # asked for, given
        assert T.resolve_precision("fp32", cpu) == "fp32"
        assert T.resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(ConfigError, match="precision 'fp16' is unknown; choose one of auto"):
        T.check_precision("fp16")


def test_native_bf16_detection_follows_what_torch_reports(monkeypatch):
    from paperlib import device as T
    for avx512_bf16, amx in ((False, False), (True, False), (False, True)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert T.cpu_has_native_bf16() is (avx512_bf16 or amx)


@pytest.mark.parametrize("every, steps", [(Every(log=4, eval=10, checkpoint=10), 30),
                                          (Every(log=7, eval=6, checkpoint=11), 25),
                                          (Every(log=50, eval=0, checkpoint=0), 9)])
def test_a_run_writes_the_evaluations_checkpoints_and_reads_its_job_counts(every, steps,
                                                                           tmp_path,
                                                                           monkeypatch):
    """The estimate counts a run's work with Job's counts; the loop must do exactly that."""
    import paperlib.engine.loop as loop
    from paperlib.engine import Job, fit_many, record
    saved, reads = [], []
    save, flush = record.save_checkpoint, loop._Loop._flush
    monkeypatch.setattr(record, "save_checkpoint",
                        lambda run, step, *a: (saved.append(step), save(run, step, *a))[1])
    monkeypatch.setattr(loop._Loop, "_flush", lambda self: (reads.append(1), flush(self))[1])
    train, test = synthetic_loaders()
    job = Job(model=tiny_model(), train=train, steps=steps, lr=0.05, test=test, every=every,
              out=tmp_path / "run")
    (result,) = fit_many([job])
    assert len(result.test) == job.evaluations()
    assert len(saved) == job.checkpoints() and saved[-1] == steps
    assert len(reads) == job.flushes()


def test_a_run_keeps_each_test_images_result_at_its_last_evaluations_and_a_resume_too(
        tmp_path):
    from paperlib.engine import Job, fit_many
    train, test = synthetic_loaders(seed=1)

    def job(model, out, resume=False):
        return Job(model=model, train=train, steps=30, lr=S.triangular(0.02, 0.3, 10),
                   weight_decay=5e-4, test=test, every=Every(log=5, eval=10, checkpoint=15),
                   out=Folder(out, resume=resume), per_image=2)
    (whole,) = fit_many([job(tiny_model(seed=1), tmp_path / "whole")])
    kept = whole.per_image
    assert list(kept["steps"]) == [20, 30] and kept["correct"].shape == (2, 100)
    assert (kept["correct"].mean(1) == whole.test["accuracy"].iloc[-2:].to_numpy()).all()
    assert kept["loss"].mean(1) == pytest.approx(whole.test["loss"].iloc[-2:], rel=1e-3)
    model = tiny_model(seed=1)
    handle = _crash_at(model, 25)  # after the evaluation at 20, past the checkpoint at 15
    with pytest.raises(Crash):
        fit_many([job(model, tmp_path / "cut")])
    handle.remove()
    from paperlib.engine import record
    from paperlib.runs import RunDir
    assert list(record.load_per_image(RunDir(tmp_path / "cut"))["steps"]) == [10, 20]
    (resumed,) = fit_many([job(tiny_model(seed=9), tmp_path / "cut", resume=True)])
    (reloaded,) = fit_many([job(tiny_model(seed=9), tmp_path / "cut", resume=True)])
    for again in (resumed, reloaded):
        for key in ("steps", "correct", "loss"):
            assert (again.per_image[key] == kept[key]).all(), key
    assert (tmp_path / "cut" / "per_image.npz").stat().st_size < 2 * 100 * 3 + 1000
