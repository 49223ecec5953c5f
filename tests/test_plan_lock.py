"""The plan measured on a pilot and locked before the runs: `plan --from-pilot` re-reads each
claim's noise and the rate from a pilot's saved figures and writes plan.lock.json; every figure
JSON records the hash of the lock it ran under; a verdict from runs that depart from the lock is
`exploratory`. The pilot here is smoke-sized runs saved through notebook.save_results, so that its
files are the notebooks' own format; no training is needed to read them."""
import datetime as dt
import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from paperlib.cli import main
from paperlib.errors import ConfigError
from paperlib.paper import claims as C
from paperlib.paper import notebook as nb
from paperlib.paper import plan as P
from paperlib.paper.plan import lock as L
from paperlib.paper.profiles import FIGURES, figure_runs


def smoke_pilot(folder, seeds=(0, 1, 2), figures=FIGURES, rng=None, start=None):
    """Smoke-sized runs of each figure, as save_results writes them: run rows, tidy test rows
    with a loss and an accuracy per evaluation, and a wall time from one shared start."""
    rng = rng or np.random.default_rng(0)
    start = start or dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    wall = 0.0
    for figure in figures:
        rows, tidy = [], []
        for spec in figure_runs(figure, "smoke", list(seeds)):
            lrs = np.linspace(spec.schedule.get("lr_min", 0.1), spec.schedule.get("lr_max", 1),
                              8)
            losses = 2.0 - lrs / 2 + 0.05 * rng.standard_normal(8)
            accs = np.clip(0.3 + lrs / 4 + 0.01 * rng.standard_normal(8), 0, 1)
            for k, (lr, loss, acc) in enumerate(zip(lrs, losses, accs), 1):
                tidy.append({"figure": figure, "curve": spec.label, "replicate": spec.replicate,
                             "seed": spec.seed, "step": k * 5, "split": "test", "lr": lr,
                             "loss": loss, "accuracy": acc, **spec.extra})
            rows.append({"figure": figure, "curve": spec.label, "replicate": spec.replicate,
                         "seed": spec.seed, "batch_size": spec.batch_size, **spec.extra,
                         "status": "completed", "diverged_at": None, "steps": spec.steps,
                         "steps_done": spec.steps, "truncated": False, "test_images": 500,
                         "final_test_loss": losses[-1], "final_test_accuracy": accs[-1],
                         "wall_s": 1.0})
        wall += 10.0 * len(rows)
        nb.save_results(folder, figure, pd.DataFrame(tidy), params={"profile": "smoke"},
                        settings={"model": "resnet8"}, runs=pd.DataFrame(rows))
        record = json.loads((folder / f"{figure}.json").read_text())
        record["wall_s"] = wall  # one notebook's clock, as save_results keeps it
        record["provenance"]["created_utc"] = (start + dt.timedelta(seconds=wall)).isoformat()
        (folder / f"{figure}.json").write_text(json.dumps(record))
    return folder


@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    return smoke_pilot(tmp_path_factory.mktemp("pilot"))


@pytest.fixture(scope="module")
def final(pilot, tmp_path_factory):
    path = tmp_path_factory.mktemp("lock") / "plan.lock.json"
    assert main(["plan", "--profile", "paper", "--from-pilot", str(pilot), "--budget-hours",
                 "24", "--lock-file", str(path)]) == 0
    return path


def test_plan_from_a_smoke_sized_pilot_writes_a_final_lock_of_the_rules_seeds_and_rate(final,
                                                                                      pilot):
    lock = P.read_lock(final)
    assert lock["stage"] == "final" and lock["rules"] == P.rules_hash()
    assert lock["last_k"] == C.LAST_K and lock["margins"]["fig15b"]["value"] == C.FIG15B_MARGIN
    assert lock["margins"]["fig15b"]["why"] == C.FIG15B_MARGIN_WHY
    assert lock["effect_at"]["fig15b"]["images"] == C.EFFECT_AT["fig15b"][0]
    assert set(lock["seeds"]) == set(FIGURES)
    assert all(n >= 3 for n in lock["seeds"].values())  # the pilot's 3, and never fewer
    assert "pilot's wall times" in lock["rate"]["source"]
    noises = {r["claim"]: r["noise"] for r in lock["plan"]}
    assert "the pilot (" in noises["fig8a_order"] and "fig8a.json" in noises["fig8a_order"]
    assert lock["pilot"]["figures"]["fig8a"]["runs_per_curve"] == 3


def test_the_pilots_rate_is_each_figures_images_over_its_own_wall_time(pilot):
    found = P.read_pilot(pilot)
    rates = P.pilot_rate(found)
    for figure in FIGURES:
        runs = found[figure][1]
        images = float((runs["steps_done"] * runs["batch_size"]).sum())
        assert rates[figure] == pytest.approx(images / (10.0 * len(runs)))  # not the cumulative


def test_a_run_that_departs_from_the_lock_is_exploratory_and_says_why(final, pilot):
    lock = P.read_lock(final)
    metrics, runs, _ = P.committed(pilot, "fig8b")
    n = lock["seeds"]["fig8b"]
    one = runs[runs["replicate"] == 0]
    mine = pd.concat([one.assign(replicate=r, seed=r) for r in range(n)])
    assert P.lock_status("paper", "fig8b", mine, lock=lock).startswith("as locked")
    for k in (n - 1, n + 1):  # fewer, more
        other = pd.concat([one.assign(replicate=r, seed=r) for r in range(k)])
        assert P.lock_status("paper", "fig8b", other, lock=lock) == (
            f"exploratory: {k} run(s) per curve, the lock says {n}")
    assert "seeds other than" in P.lock_status("paper", "fig8b", mine.assign(seed=mine["seed"] + 7),
                                               lock=lock)
    pilot_stage = {**lock, "stage": "pilot"}
    assert "pilot runs" in P.lock_status("paper", "fig8b", mine, lock=pilot_stage)
    assert "profile 'small' has no plan lock" in P.lock_status("small", "fig8b", mine)


def test_a_rule_changed_after_the_lock_makes_every_verdict_exploratory(tmp_path, monkeypatch,
                                                                       final, pilot):
    lock = P.read_lock(final)
    copy = tmp_path / "claims"
    shutil.copytree(L.CLAIMS_DIR, copy)
    monkeypatch.setattr(L, "CLAIMS_DIR", copy)
    assert P.rules_hash() == lock["rules"]
    (copy / "smith.py").write_text((copy / "smith.py").read_text() + "\n# another rule\n")
    _, runs, _ = P.committed(pilot, "fig8b")
    assert "the rules changed after the lock" in P.lock_status("paper", "fig8b", runs, lock=lock)


def test_every_figure_json_records_the_hash_of_the_lock_its_runs_were_made_under(tmp_path):
    lock = P.read_lock()
    nb.save_results(tmp_path, "fig8b", pd.DataFrame({"a": [1]}), params={"profile": "paper"},
                    settings={})
    record = json.loads((tmp_path / "fig8b.json").read_text())["plan_lock"]
    assert record["hash"] == P.lock_hash(lock) and record["rules"] == lock["rules"]
    nb.save_results(tmp_path, "fig1a", pd.DataFrame({"a": [1]}), params={"profile": "smoke"},
                    settings={})
    assert json.loads((tmp_path / "fig1a.json").read_text())["plan_lock"] is None


def test_the_committed_lock_is_the_pilots_and_was_made_by_these_rules():
    lock = P.read_lock()
    assert lock is not None and lock["profile"] == "paper" and lock["stage"] == "pilot"
    assert set(lock["seeds"].values()) == {4}
    now = P.frozen()
    for key in now:
        assert json.dumps(lock[key], sort_keys=True) == json.dumps(now[key], sort_keys=True), key
    assert lock["rules"] == P.rules_hash(), (
        "paperlib/paper/claims/ changed after plan.lock.json was written: before any paper run, "
        "lock again with `python -m paperlib plan --profile paper --lock`; after one, its "
        "verdicts are exploratory, as they must be")


def test_the_review_gives_each_verdict_its_power_and_the_locks_word(pilot):
    metrics, runs, _ = P.committed(pilot, "fig8b")
    metrics_a, runs_a, _ = P.committed(pilot, "fig8a")
    runs = runs.assign(steps=9_277, batch_size=512)
    runs_a = runs_a.assign(steps=20_000, batch_size=1024)
    rows = C.claims_fig8(runs_a, metrics, runs, model="gresnet56")
    table = P.review(rows, profile="paper", runs={"fig8a": runs_a, "fig8b": runs}, sims=300)
    text = C.format_claims(table)
    assert "runs: exploratory: 3 run(s) per curve, the lock says 4" in text
    assert " at n = 3 per curve under Smith's effect (SD " in text
    smoke = P.review(rows, profile="smoke", runs={"fig8a": runs_a, "fig8b": runs}, sims=300)
    assert "exploratory: profile 'smoke' has no plan lock" in C.format_claims(smoke)


@pytest.mark.parametrize("argv, message", [
    (["plan", "--profile", "small", "--from-pilot", "x"], "add --profile paper"),
    (["plan", "--profile", "paper", "--from-pilot", "/nonexistent"], "no such folder"),
    (["plan", "--profile", "paper", "--from-pilot", "x", "--lock"], "give one"),
])
def test_a_bad_pilot_request_is_one_line_naming_the_fix(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_the_rate_of_a_device_check_costs_the_plan(tmp_path, capsys):
    (tmp_path / "device_check.json").write_text(json.dumps(
        {"projection": {"per_figure_s": {f: 3600.0 for f in FIGURES}}}))
    assert main(["plan", "--profile", "smoke", "--rate-from",
                 str(tmp_path / "device_check.json")]) == 0
    assert "Plan for profile 'smoke'" in capsys.readouterr().out
    assert main(["plan", "--profile", "smoke", "--rate-from", str(tmp_path / "none.json")]) == 2
    with pytest.raises(ConfigError):
        P.read_pilot(tmp_path)  # no figure there
    assert math.isfinite(P.LEAST_SEEDS)
