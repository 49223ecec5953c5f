"""The plan measured on a pilot and locked before the runs: `plan --from-pilot` re-reads each
claim's noise, its conditions and the rate from a pilot's saved figures and writes the final
plan.lock.json, once, within the pilot lock's budget; every figure JSON records the hash of the
lock it ran under; the final verdict reads the fresh runs after the pilot's, and a verdict from
runs that depart from the lock reads "exploratory". The pilot here is smoke-sized runs saved
through notebook.save_results under the committed pilot lock, so that its files are the
notebooks' own format; no training is needed to read them."""
import dataclasses
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
from paperlib.paper.profiles import FIGURES, PILOT_SEEDS, figure_runs


def smoke_pilot(folder, seeds=tuple(range(PILOT_SEEDS)), figures=FIGURES, rng=None, start=None,
                lock=None):
    """Smoke-sized runs of each figure, as save_results writes them under the pilot lock `lock`
    (default: the committed one): run rows, tidy test rows with a loss and an accuracy per
    evaluation, and a wall time from one shared start."""
    rng = rng or np.random.default_rng(0)
    start = start or dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    record_of = {"hash": P.lock_hash(lock or P.read_lock()), "stage": "pilot",
                 "rules": P.rules_hash(), "path": "plan.lock.json"}
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
        record["plan_lock"] = record_of  # run under the pilot lock
        (folder / f"{figure}.json").write_text(json.dumps(record))
    return folder


@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    return smoke_pilot(tmp_path_factory.mktemp("pilot"))


@pytest.fixture(scope="module")
def final(pilot, tmp_path_factory):
    path = tmp_path_factory.mktemp("lock") / "plan.lock.json"
    shutil.copy(P.LOCK_PATH, path)  # the pilot lock the pilot ran under, which the final replaces
    assert main(["plan", "--profile", "paper", "--from-pilot", str(pilot), "--lock-file",
                 str(path)]) == 0
    return path


def test_plan_from_a_smoke_sized_pilot_writes_a_final_lock_of_the_rules_seeds_and_rate(final,
                                                                                      pilot):
    lock = P.read_lock(final)
    assert lock["stage"] == "final" and lock["rules"] == P.rules_hash()
    assert lock["last_k"] == C.LAST_K and lock["margins"]["fig15b"]["value"] == C.FIG15B_MARGIN
    assert lock["margins"]["fig15b"]["why"] == C.FIG15B_MARGIN_WHY
    assert lock["effect_at"]["fig15b"]["images"] == C.EFFECT_AT["fig15b"][0]
    assert set(lock["seeds"]) == set(FIGURES)
    for figure, (first, end) in lock["confirmatory"].items():
        # the fresh runs follow the pilot's 4, at least 3 of them, and all are run
        assert first == PILOT_SEEDS and end - first >= P.LEAST_SEEDS
        assert lock["seeds"][figure] == end
    assert "pilot's wall times" in lock["rate"]["source"]
    noises = {r["claim"]: r["noise"] for r in lock["plan"]}
    assert "the pilot (" in noises["fig8a_order"] and "fig8a.json" in noises["fig8a_order"]
    assert lock["pilot"]["figures"]["fig8a"]["runs_per_curve"] == PILOT_SEEDS
    assert lock["pilot"]["lock"] == P.lock_hash(P.read_lock())
    assert lock["budget_hours"] == P.read_lock()["budget_hours"]
    conditions = {r["claim"]: r["conditions"] for r in lock["plan"]}
    assert "diverged runs per curve 0.00/0.00 (the pilot" in conditions["fig5a"]


def test_the_pilots_rate_is_each_figures_images_over_its_own_wall_time(pilot):
    found = P.read_pilot(pilot)
    rates = P.pilot_rate(found)
    for figure in FIGURES:
        runs = found[figure][1]
        images = float((runs["steps_done"] * runs["batch_size"]).sum())
        assert rates[figure] == pytest.approx(images / (10.0 * len(runs)))  # not the cumulative


def locked_runs(lock, runs, n=None, first=None):
    """Runs of every curve at the lock's confirmatory seeds (or `n` of them from `first`)."""
    got = P.confirmatory_seeds(lock, "fig8b")
    first = got.start if first is None else first
    n = len(got) if n is None else n
    one = runs[runs["replicate"] == 0]
    return pd.concat([one.assign(replicate=r, seed=r) for r in range(first, first + n)])


def test_a_run_that_departs_from_the_lock_is_exploratory_and_says_why(final, pilot):
    lock = P.read_lock(final)
    record = {"hash": P.lock_hash(lock), "stage": "final"}
    _, runs, _ = P.committed(pilot, "fig8b")
    n = len(P.confirmatory_seeds(lock, "fig8b"))
    mine = locked_runs(lock, runs)

    def status(frame, **kw):
        return P.lock_status("paper", "fig8b", frame, lock=kw.pop("lock", lock),
                             recorded=kw.pop("recorded", record))

    assert status(mine).startswith("as locked")
    for k in (n - 1, n + 1):  # fewer, more
        assert status(locked_runs(lock, runs, n=k)) == (
            f"exploratory: {k} run(s) per curve, the lock says {n}")
    assert "seeds other than" in status(mine.assign(seed=mine["seed"] + 50))
    # the pilot's runs counted again: the locked verdict reads the fresh ones alone
    assert "the pilot's seeds 0-3 are among these runs" in status(
        locked_runs(lock, runs, n=n + PILOT_SEEDS, first=0))
    # runs saved under another lock (the pilot's, or a lock rewritten after a look)
    assert "records lock" in status(mine, recorded={"hash": "0123", "stage": "pilot"})
    assert "no record of the lock" in status(mine, recorded=None)
    assert "pilot runs" in status(mine, lock={**lock, "stage": "pilot"})
    assert "profile 'small' has no plan lock" in P.lock_status("small", "fig8b", mine)


def test_a_final_lock_is_written_once_from_the_pilot_lock_it_replaces(final, pilot, tmp_path):
    lock = P.read_lock(final)
    with pytest.raises(ConfigError, match="written once.*to start over"):
        P.write_lock(lock, final)
    with pytest.raises(ConfigError, match="written once"):  # a pilot lock over it, too
        P.write_lock(P.read_lock(), final)
    elsewhere = tmp_path / "plan.lock.json"
    with pytest.raises(ConfigError, match="replaces the pilot lock its pilot ran under"):
        P.write_lock(lock, elsewhere)  # no pilot lock there
    other = {**P.read_lock(), "budget_hours": 48.0}
    P.write_lock(other, elsewhere)
    with pytest.raises(ConfigError, match="replaces the pilot lock"):
        P.write_lock(lock, elsewhere)  # another pilot lock than its own


def test_the_budget_is_the_pilot_locks_and_the_pilot_must_be_its_runs(pilot, tmp_path):
    with pytest.raises(ConfigError, match="the budget is the pilot lock's"):
        P.plan_from_pilot(pilot, budget_hours=48.0, sims=50)
    grown = tmp_path / "grown"  # a fifth run per curve, added after a look
    smoke_pilot(grown, seeds=tuple(range(PILOT_SEEDS + 1)), figures=["fig8b"])
    with pytest.raises(ConfigError, match=r"the pilot lock says seeds 0\.\.3"):
        P.plan_from_pilot(grown, sims=50)
    other = tmp_path / "other"
    smoke_pilot(other, figures=["fig8b"], lock={**P.read_lock(), "budget_hours": 1.0})
    with pytest.raises(ConfigError, match="not the pilot lock"):
        P.plan_from_pilot(other, sims=50)
    with pytest.raises(ConfigError, match="needs the pilot lock"):
        P.plan_from_pilot(pilot, sims=50, pilot_lock={**P.read_lock(), "stage": "final"})


def test_the_plan_from_a_pilot_draws_the_image_term_its_claims_tables_measured(tmp_path):
    folder = smoke_pilot(tmp_path / "pilot", figures=["fig8b"])
    pd.DataFrame([{"key": "fig8b_trend", "images": 2.5e-7, "verdict": "inconclusive"}]).to_csv(
        folder / "03_fig8_cyclical_momentum_claims.csv", index=False)
    table, lock = P.plan_from_pilot(folder, sims=50)
    row = table.set_index("claim").loc["fig8b_trend"]
    assert row["images"] == 2.5e-7 and "from the claims table's per-image records" in (
        row["conditions"])
    assert {r["claim"]: r["images"] for r in lock["plan"]}["fig8b_trend"] == 2.5e-7
    assert table.set_index("claim").loc["fig5a", "images"] == 0.0  # no pilot of it: stated


def test_the_rules_hash_moves_with_code_and_frozen_numbers_and_not_with_prose(tmp_path,
                                                                             monkeypatch):
    copy = tmp_path / "claims"
    shutil.copytree(L.CLAIMS_DIR, copy)
    monkeypatch.setattr(L, "CLAIMS_DIR", copy)
    before = P.rules_hash()
    smith = copy / "smith.py"
    text = smith.read_text()
    smith.write_text(text.replace('"""The numbers the claims', '"""Reworded: the numbers the '
                                  'claims', 1) + "\n# a comment\n")
    assert P.rules_hash() == before  # a docstring and a comment are not the rules
    smith.write_text(text.replace("LAST_K = 3", "LAST_K = 4"))
    assert P.rules_hash() != before
    smith.write_text(text)
    rules = copy / "rules.py"
    rules.write_text(rules.read_text().replace("TOWARDS_WELCH = 0.2", "TOWARDS_WELCH = 0.3"))
    assert P.rules_hash() != before
    monkeypatch.setattr(C, "LAST_K", 4)  # what the rules read, as the lock freezes it
    rules.write_text(rules.read_text().replace("TOWARDS_WELCH = 0.3", "TOWARDS_WELCH = 0.2"))
    assert P.rules_hash() != before


def test_a_rule_changed_after_the_lock_makes_every_verdict_exploratory(tmp_path, monkeypatch,
                                                                       final, pilot):
    lock = P.read_lock(final)
    copy = tmp_path / "claims"
    shutil.copytree(L.CLAIMS_DIR, copy)
    monkeypatch.setattr(L, "CLAIMS_DIR", copy)
    assert P.rules_hash() == lock["rules"]
    (copy / "rules.py").write_text((copy / "rules.py").read_text().replace(
        "TOWARDS_WELCH = 0.2", "TOWARDS_WELCH = 0.5"))
    _, runs, _ = P.committed(pilot, "fig8b")
    assert "the rules changed after the lock" in P.lock_status(
        "paper", "fig8b", locked_runs(lock, runs), lock=lock,
        recorded={"hash": P.lock_hash(lock)})


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
    table = P.review(rows, profile="paper", runs={"fig8a": runs_a, "fig8b": runs}, sims=300,
                     saved=pilot)
    text = C.format_claims(table)
    assert "runs: exploratory: pilot runs (the lock's stage is 'pilot')" in text
    assert f" at n = {PILOT_SEEDS} per curve under Smith's effect (SD " in text
    smoke = P.review(rows, profile="smoke", runs={"fig8a": runs_a, "fig8b": runs}, sims=300)
    assert "exploratory: profile 'smoke' has no plan lock" in C.format_claims(smoke)


def test_an_exploratory_verdict_says_so_and_stays_out_of_the_confirmatory_holm_family():
    def row(key, p, verdict):
        return {"key": key, "claim": key, "paper": "", "ours": "", "effect": "", "n": 4,
                "smith_inside": "", "p": p, "shares_runs_with": "", "verdict": verdict}
    rows = [row("fig5a", 0.001, C.REPRODUCED), row("fig8b_trend", 0.004, C.REPRODUCED),
            row("fig8a_order", 0.3, C.INCONCLUSIVE)]
    runs = pd.DataFrame({"curve": ["a"], "seed": [0]})
    table = P.review(rows, profile="smoke", runs={"fig5a": runs, "fig8b": runs, "fig8a": runs},
                     sims=50)
    assert list(table["verdict"]) == ["reproduced (exploratory)", "reproduced (exploratory)",
                                      "inconclusive"]
    assert table["holm"].str.contains("exploratory, adjusted p").all()
    # one locked claim among exploratory ones is its own family: Holm over 1, not 3
    locked = C.claims_table([{**rows[0], "runs": "as locked (...)"},
                             *({**r, "runs": "exploratory: x"} for r in rows[1:])])
    assert locked["p_holm"].tolist() == pytest.approx([0.001, 0.008, 0.3])
    assert "1 exploratory claim(s) are adjusted among themselves" in C.multiplicity(
        locked.iloc[:2])


@dataclasses.dataclass
class Result:  # replicate.FigureResult's fields, without importing the engine
    figure: str
    metrics: pd.DataFrame
    runs: pd.DataFrame
    settings: dict
    per_image: dict


def test_the_locked_verdict_reads_the_fresh_runs_alone(final, pilot):
    metrics, runs, _ = P.committed(pilot, "fig8b")
    lock = P.read_lock(final)
    seeds = P.confirmatory_seeds(lock, "fig8b")
    every = pd.concat([runs[runs["replicate"] == 0].assign(replicate=r, seed=r)
                       for r in range(seeds.stop)])
    tidy = pd.concat([metrics[metrics["replicate"] == 0].assign(replicate=r, seed=r)
                      for r in range(seeds.stop)])
    result = Result("fig8b", tidy, every, {}, {(c, r): {} for c, r in
                                               zip(every["curve"], every["replicate"])})
    cut = P.confirmatory(result, "fig8b", "paper", path=final)
    assert set(cut.runs["seed"]) == set(seeds) and set(cut.metrics["seed"]) == set(seeds)
    assert {r for _, r in cut.per_image} == set(seeds)
    assert P.lock_status("paper", "fig8b", cut.runs, path=final, recorded={
        "hash": P.lock_hash(lock)}).startswith("as locked")
    assert P.confirmatory(result, "fig8b", "small") is result  # no lock: unchanged


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
