"""One execution plan: fit_many, the estimate and the Ray launcher group every profile's runs
alike and step each group with the stepper the plan names (engine.plan), on a GPU (faked: the
plan only asks which device the runs go to) and on the CPU."""
import types
from pathlib import Path

import pytest

import paperlib.engine.loop as loop
import paperlib.engine.execution as engine_plan
from paperlib.engine import Execution, plan
from paperlib.paper import estimate as E
from paperlib.paper import replicate
from paperlib.paper.profiles import FIGURES, eval_subset_for, figure_runs

EXECUTIONS = [Execution(), Execution(fuse="on"), Execution(fuse="off"), Execution(capture="off"),
              Execution(max_members=2)]


def _jobs(profile, execution):
    """Every run of the profile as the notebooks build it, on stand-in data: (figure, jobs)."""
    for figure in FIGURES:
        n_test = eval_subset_for(figure, profile) or 10_000
        splits = E.PlannedSplits("cifar10", figure, n_test)
        specs = figure_runs(figure, profile)
        yield figure, specs, [replicate.job_for(s, splits, root=Path("planned"),
                                                execution=execution) for s in specs]


def _named(figure, specs, members):
    return frozenset((figure, specs[i].label, specs[i].seed) for i in members)


@pytest.mark.parametrize("device_type", ["cuda", "cpu"])
@pytest.mark.parametrize("profile", ["smoke", "small", "paper"])
def test_fit_many_the_estimate_and_ray_tasks_get_the_same_groups_and_steppers(
        profile, device_type, monkeypatch):
    monkeypatch.setattr(engine_plan, "_device_type", lambda jobs: device_type)
    trained = []
    monkeypatch.setattr(loop, "train_group", lambda jobs, stepper, **kw: (
        trained.append((tuple(map(id, jobs)), stepper)), [None] * len(jobs))[1])
    runner = types.SimpleNamespace(gpus_per_task=1.0 if device_type == "cuda" else 0.0)
    for execution in EXECUTIONS:
        by_fit_many, by_ray, by_worker = set(), set(), set()
        for figure, specs, jobs in _jobs(profile, execution):
            index = {id(job): i for i, job in enumerate(jobs)}
            trained.clear()
            loop.fit_many(jobs, execution)
            by_fit_many |= {(_named(figure, specs, [index[j] for j in ids]), stepper)
                            for ids, stepper in trained}
            for group in replicate.task_groups(jobs, replicate.Execution(
                    **vars(execution)), runner):
                by_ray.add((_named(figure, specs, group.members), group.stepper))
                trained.clear()  # the task's worker plans its own jobs again: one group
                loop.fit_many([jobs[i] for i in group.members], execution)
                (ids, stepper), = trained
                by_worker.add((_named(figure, specs, [index[j] for j in ids]), stepper))
        work = E.work(list(FIGURES), profile, execution=execution, device_type=device_type)
        by_estimate = {(frozenset(zip(g["figure"], g["curve"], g["seed"])), g["stepper"].iloc[0])
                       for _, g in work.groupby("group")}
        assert by_fit_many == by_estimate == by_ray == by_worker, execution
        steppers = {stepper for _, stepper in by_fit_many}
        if device_type == "cpu":
            assert steppers <= {"eager", "stacked"}
        elif execution.capture == "auto":
            assert steppers == {"captured"}  # every group on CUDA, a run alone too


def test_the_plan_says_why_a_job_stands_alone():
    from helpers import synthetic_loaders, tiny_model
    from paperlib.engine import Job
    from paperlib.optim import make_optimizer
    train, test = synthetic_loaders()
    model = tiny_model()
    jobs = [Job(model=tiny_model(i), train=train, steps=2, lr=0.1, test=test) for i in range(2)]
    jobs.append(Job(model=model, train=train, steps=2, lr=0.1, test=test,
                    optimizer=make_optimizer("sgd", model.parameters()), momentum=None))
    groups = plan(jobs, Execution(fuse="on"))
    assert [g.members for g in groups] == [(0, 1), (2,)]
    assert [g.stepper for g in groups] == ["stacked", "eager"]
    assert groups[0].why == "" and "momentum or weight decay (None)" in groups[1].why


def test_outside_the_engine_nothing_imports_its_loop_or_steppers():
    """The engine's surface is paperlib.engine: loop.py and steppers.py are its inside (tests may
    reach in; the library, scripts and benchmarks may not)."""
    import re
    root = Path(__file__).resolve().parents[1]
    pattern = re.compile(r"(?:from|import)\s+(?:paperlib|\.+)?\.?engine\.(?:loop|steppers)\b"
                         r"|from\s+\.(?:loop|steppers)\s+import")
    offenders = []
    for folder in ("paperlib", "scripts", "benchmarks"):
        for path in (root / folder).rglob("*.py"):
            if path.parent.name == "engine" and path.parent.parent.name == "paperlib":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
