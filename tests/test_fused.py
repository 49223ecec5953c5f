"""Fused runs (the engine's stacked stepper) train each member as it would train alone.

Compared in float64, where the two paths agree to rounding, so that every tensor can be checked
on its own (in fp32 the summation order of grouped convolutions shows; see
benchmarks/fused_check.py, which CI runs in fp32).
"""
import json
import shutil
from dataclasses import replace

import pandas as pd
import pytest
import torch
from helpers import synthetic_loaders, tiny_model

from paperlib import schedules as S
from paperlib.errors import ConfigError
from paperlib.engine import (Compute, Every, Execution, Folder, Job, StackedModels, fit_many,
                             fusion_groups)
from paperlib.engine.loop import train_group
from paperlib.models import build_model

# Six steps: the 1cycle below rises for three and falls for three, with a log block, an
# evaluation and (where asked) a checkpoint half-way and at the end
STEPS = 6


class Float64:
    """A loader whose batches are float64, for exact comparisons."""

    def __init__(self, loader):
        self.loader, self.batch_size = loader, loader.batch_size

    @property
    def fingerprint(self):
        return ("float64", self.loader.fingerprint)

    def batch(self, step):
        x, y = self.loader.batch(step)
        return x.double(), y

    def __iter__(self):
        return ((x.double(), y) for x, y in self.loader)


def alone(job):
    return train_group([job], "eager")[0]


def stacked(jobs):
    return train_group(jobs, "stacked")


def _jobs(n=3, *, optimizer="caffe-nesterov", lrs=None, out=None, checkpoint=0, resume=False,
          per_image=0):
    test = Float64(synthetic_loaders()[1])  # one test loader: members are scored on it together
    jobs = []
    for i in range(n):
        train, _ = synthetic_loaders(seed=i, batch_size=16)
        torch.manual_seed(i)
        model = build_model("resnet8", num_classes=10, bn_shards=2).double()
        lr_max = (lrs or [0.1 * (i + 1) for i in range(n)])[i]
        lr, mom = S.one_cycle("smith", lr_max / 10, lr_max, STEPS // 2, STEPS, mom_max=0.95,
                              mom_min=0.85)
        folder = None if out is None else Folder(out / f"run{i}", resume=resume)
        jobs.append(Job(model=model, train=Float64(train), steps=STEPS, lr=lr, momentum=mom,
                        weight_decay=1e-4 * (i + 1), optimizer=optimizer, test=test,
                        every=Every(log=3, eval=3, checkpoint=checkpoint), out=folder,
                        compute=Compute("fp32"), per_image=per_image))
    return jobs


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module, rtol=1e-6, atol=1e-8):
    """Every tensor within rtol of its norm, or atol: a conv bias before a BN has a gradient of
    pure rounding noise (BN removes it again), so only its absolute size says anything."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        if sa[name].is_floating_point():
            diff = float((sa[name] - sb[name]).norm())
            assert diff <= rtol * float(sa[name].norm()) + atol, f"{name}: differs by {diff:.2e}"
        else:
            assert torch.equal(sa[name], sb[name]), name


def _assert_same_rows(a: pd.DataFrame, b: pd.DataFrame):
    assert list(a["step"]) == list(b["step"]) and list(a["split"]) == list(b["split"])
    for col in ("lr", "momentum", "weight_decay"):
        assert list(a[col]) == list(b[col])
    # the loss is computed in fp32 from float64 logits (as fit does): equal to its rounding
    for col in ("loss", "accuracy"):
        assert ((a[col] - b[col]).abs() <= 1e-6 * a[col].abs().clip(lower=1)).all(), col


@pytest.mark.parametrize("optimizer", ["caffe-nesterov", "caffe-sgd", "sgd", "nesterov"])
def test_fused_members_train_exactly_as_they_would_apart(optimizer):
    apart, fused = _jobs(2, optimizer=optimizer), _jobs(2, optimizer=optimizer)
    expected = [alone(job) for job in apart]
    results = stacked(fused)
    for job_a, job_f, want, got in zip(apart, fused, expected, results):
        assert got.status == "completed" and got.steps_done == STEPS
        _assert_same_rows(want.metrics, got.metrics)
        _assert_same_state(job_a.model, job_f.model)


def test_a_fused_member_scores_every_test_image_as_it_would_alone():
    apart, fused = _jobs(2, per_image=2), _jobs(2, per_image=2)
    expected = [alone(job) for job in apart]
    for want, got in zip(expected, stacked(fused)):
        assert list(got.per_image["steps"]) == list(want.per_image["steps"]) == [3, 6]
        assert (got.per_image["correct"] == want.per_image["correct"]).all()
        assert got.per_image["correct"].shape == (2, 100)
        assert abs(got.per_image["loss"] - want.per_image["loss"]).max() <= 1e-3


def test_gresnet56_multipliers_and_shards_train_as_apart():
    def jobs():
        out = []
        for i in range(2):
            torch.manual_seed(i)
            model = build_model("gresnet56", bn_shards=4).double()
            out.append(Job(model=model, train=Float64(synthetic_loaders(seed=i, batch_size=8)[0]),
                           steps=2, lr=0.2 * (i + 1), momentum=0.9, weight_decay=1e-4,
                           optimizer="caffe-nesterov", every=Every(log=2),
                           compute=Compute("fp32")))
        return out
    apart, fused = jobs(), jobs()
    for job in apart:
        alone(job)
    stacked(fused)
    for a, b in zip(apart, fused):
        _assert_same_state(a.model, b.model)


def test_each_member_writes_the_run_folder_fit_would(tmp_path):
    apart, fused = _jobs(2, out=tmp_path / "apart"), _jobs(2, out=tmp_path / "fused")
    for job in apart:
        alone(job)
    stacked(fused)
    for i in range(2):
        a, f = tmp_path / "apart" / f"run{i}", tmp_path / "fused" / f"run{i}"
        doc_a, doc_f = (json.loads((d / "run.json").read_text()) for d in (a, f))
        assert doc_f["settings"] == doc_a["settings"] and doc_f["status"] == "completed"
        assert doc_f["fused"] == {"members": 2, "captured": False}
        _assert_same_rows(pd.read_csv(a / "metrics.csv"), pd.read_csv(f / "metrics.csv"))
        assert sorted(p.name for p in (f / "checkpoints").iterdir()) == \
            sorted(p.name for p in (a / "checkpoints").iterdir())


def test_a_fused_checkpoint_resumes_under_fit_to_the_fused_end(tmp_path):
    whole = _jobs(2, out=tmp_path / "whole", checkpoint=STEPS // 2)
    stacked(whole)
    # the same folders as a fused run stopped after its mid-run checkpoint would leave them
    shutil.copytree(tmp_path / "whole", tmp_path / "cut")
    for i in range(2):
        run = tmp_path / "cut" / f"run{i}"
        (run / "checkpoints" / f"step_{STEPS:07d}.pt").unlink()
        doc = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**doc, "status": "interrupted"}))
    resumed = _jobs(2, out=tmp_path / "cut", resume=True)
    for i, job in enumerate(resumed):
        result = alone(job)
        assert result.status == "completed"
        _assert_same_state(whole[i].model, job.model)
        _assert_same_rows(pd.read_csv(tmp_path / "whole" / f"run{i}" / "metrics.csv"),
                          result.metrics)


def test_a_diverging_member_is_recorded_and_the_others_train_as_apart():
    lrs = [0.1, 1e6, 0.3]
    apart, fused = _jobs(lrs=lrs), _jobs(lrs=lrs)
    expected = [alone(job) for job in apart]
    results = stacked(fused)
    assert expected[1].status == results[1].status == "diverged"
    assert results[1].diverged_at == expected[1].diverged_at
    for i in (0, 2):
        assert results[i].status == "completed"
        _assert_same_rows(expected[i].metrics, results[i].metrics)
        _assert_same_state(apart[i].model, fused[i].model)


def test_should_stop_ends_one_member_where_fit_would_and_not_the_others():
    def stop(losses):
        return len(losses) >= 3
    fused = _jobs(2)
    fused[0] = replace(fused[0], should_stop=stop)
    single = replace(_jobs(2)[0], should_stop=stop)
    want = alone(single)
    got = stacked(fused)
    assert want.status == got[0].status == "stopped" and got[0].steps_done == want.steps_done == 3
    assert got[1].status == "completed" and got[1].steps_done == STEPS
    _assert_same_state(single.model, fused[0].model)


def test_jobs_group_by_model_settings_batch_and_optimizer():
    train32, test = synthetic_loaders(batch_size=32)
    train16, _ = synthetic_loaders(batch_size=16)

    def job(model, train=train32, optimizer="sgd"):
        return Job(model=model, train=train, steps=5, lr=0.1, optimizer=optimizer, test=test,
                   every=Every(eval=5))
    jobs = [job(tiny_model(0)), job(tiny_model(1)), job(tiny_model(2), train16),
            job(build_model("resnet8", bn_shards=2)), job(tiny_model(3), optimizer="nesterov"),
            job(tiny_model(4)), job(build_model("resnet14"))]
    assert fusion_groups(jobs) == [[0, 1, 5], [2], [3], [4], [6]]
    assert fusion_groups(jobs, max_members=2) == [[0, 1], [5], [2], [3], [4], [6]]


def test_fusing_is_off_on_the_cpu_unless_asked_and_bad_values_are_refused(monkeypatch):
    import paperlib.engine.loop as loop
    steppers = []
    monkeypatch.setattr(loop, "train_group", lambda group, stepper, **kw: (
        steppers.append(stepper), [None] * len(group))[1])
    fit_many(_jobs(2))  # auto: alone on the CPU
    fit_many(_jobs(2), Execution(fuse="on"))
    assert steppers == ["eager", "eager", "stacked"]
    with pytest.raises(ConfigError, match="fuse"):
        Execution(fuse="yes")
    with pytest.raises(ConfigError, match="capture"):
        Execution(capture="on")
    with pytest.raises(ConfigError, match="precision 'fp16' is unknown"):
        Execution(precision="fp16")


def test_fit_many_returns_one_result_per_job_in_order_fused_or_not():
    for fuse in ("off", "on"):
        jobs = _jobs(3)
        jobs[1] = replace(jobs[1], steps=3)  # another group
        done = []
        results = fit_many(jobs, Execution(fuse=fuse), on_done=lambda i, r: done.append(i))
        assert sorted(done) == [0, 1, 2]
        assert [r.steps_done for r in results] == [STEPS, 3, STEPS]


def test_stacked_models_give_each_member_its_own_output_and_shared_input():
    models = [tiny_model(i).eval() for i in range(3)]
    stacked = StackedModels(models).train(False)
    x = torch.randn(3, 4, 3, 32, 32)
    with torch.no_grad():
        out, shared = stacked(x), stacked(x[0], shared=True)
        for i, m in enumerate(models):
            torch.testing.assert_close(out[i], m(x[i]), rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(shared[i], m(x[0]), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
def test_the_captured_step_trains_as_the_eager_one_on_cuda():
    from paperlib.data import DeviceLoader, NormStats, synthetic_split
    split, test_split = synthetic_split(256, seed=0), synthetic_split(100, seed=1)
    stats = NormStats.from_split(split)
    test = DeviceLoader(test_split, 50, stats=stats, device="cuda", shuffle=False,
                        drop_last=False)

    def jobs():
        out = []
        for i in range(2):
            torch.manual_seed(i)
            model = build_model("resnet8", bn_shards=2).cuda()
            train = DeviceLoader(split, 32, stats=stats, device="cuda", augment="crop-flip",
                                 seed=i)
            lr, mom = S.one_cycle("smith", 0.01, 0.1 * (i + 1), 6, STEPS, mom_max=0.95,
                                  mom_min=0.85)
            out.append(Job(model=model, train=train, steps=STEPS, lr=lr, momentum=mom,
                           weight_decay=1e-4, optimizer="caffe-nesterov", test=test,
                           every=Every(log=3, eval=3), compute=Compute("fp32")))
        return out
    eager, captured = jobs(), jobs()
    want, got = stacked(eager), train_group(captured, "captured")
    for a, b, ra, rb in zip(eager, captured, want, got):
        # the same kernels in the same order: equal up to nondeterministic cuDNN choices
        _assert_same_rows(ra.metrics, rb.metrics)
        _assert_same_state(a.model, b.model, rtol=1e-4, atol=1e-6)
