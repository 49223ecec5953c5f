"""The plan, locked before the runs it plans: plan.lock.json at the top of the checkout.

Why: a rule that is calibrated for one look is not calibrated for several. Rerunning a notebook
with more seeds and looking again inflates the decisive rate: 2 -> 4 seeds gave 7.0% with no
effect, 4 -> 8 -> 16 -> 36 gave 13.7% (scripts/claims_stress.py at 8208dd2). So the runs per
curve, the rules (`rules_hash`: their code without docstrings or comments, and the numbers they
read: LAST_K, the margin, the windows, CLAIM_MODEL and EFFECT_AT, all written into the lock as
well), the budget and the rate they were costed at are fixed in a file before the runs, every
figure JSON records the hash of the lock it ran under (notebook.save_results), and a verdict
from runs that depart from it is `exploratory`, with the reason (`lock_status`).

One lock, for `paper`, the profile a GPU day is spent on, in two stages: "pilot" (Smith's own 4
runs per curve and the day's budget, written by `python -m paperlib plan --profile paper --lock`
before any run), then "final" (the fresh runs per curve the pilot's noise and rate call for,
within the pilot lock's budget, written once by `plan --from-pilot`, pilot.py). The pilot's
runs measure and are not counted: the final verdict reads only the runs after them, whose number
was fixed before they existed. A final lock is written once: `write_lock` refuses to overwrite
one, and refuses one whose pilot lock is not the one it replaces. `smoke` and `small` have no
lock: they are sized by CPU time, not by a pilot, and every verdict of theirs says so.
"""
from __future__ import annotations

import ast
import datetime as _dt
import hashlib
import json
import math
from pathlib import Path

import pandas as pd

from ... import io
from ...errors import ConfigError

LOCK_PATH = Path(__file__).resolve().parents[3] / "plan.lock.json"
LOCK_FORMAT = 2
LOCKED_PROFILE = "paper"
STAGES = ("pilot", "final")
CLAIMS_DIR = Path(__file__).resolve().parents[1] / "claims"
EXPLORATORY = "exploratory"
START_OVER = ("to start over, delete it (git rm plan.lock.json), lock a new pilot with `python "
              "-m paperlib plan --profile paper --lock` and run the pilot again; runs made under "
              "the old lock stay exploratory")


def _code(source: str) -> str:
    """A module's code without its docstrings and comments, as a canonical AST dump."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def rules_hash() -> str:
    """The rules' version: sha256 over paperlib/paper/claims/*.py as code (names and AST, without
    docstrings or comments, so that prose does not move it) and the numbers they read
    (`frozen`)."""
    h = hashlib.sha256()
    for path in sorted(CLAIMS_DIR.glob("*.py")):
        h.update(path.name.encode() + b"\0" + _code(path.read_text()).encode() + b"\0")
    h.update(json.dumps(frozen(), sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _finite(value):
    """JSON has no infinity: an open window's end is written null."""
    return None if isinstance(value, float) and math.isinf(value) else value


def frozen() -> dict:
    """What the rules read that the lock fixes, as the claims package has it now."""
    from .. import claims as C
    return {"last_k": C.LAST_K,
            "margins": {"fig15b": {"value": C.FIG15B_MARGIN, "why": C.FIG15B_MARGIN_WHY}},
            "windows": {k: [[name, lo, _finite(hi)] for name, lo, hi in w]
                        for k, w in C.WINDOWS.items()},
            "claim_model": dict(C.CLAIM_MODEL),
            "effect_at": {k: {"images": v[0], "why": v[1], "share": v[2]}
                          for k, v in C.EFFECT_AT.items()}}


def make_lock(*, stage: str, seeds: dict, rate: dict, budget_hours: float,
              plan_rows: list[dict], pilot: dict | None = None,
              confirmatory: dict | None = None) -> dict:
    """A lock for `paper`: the rules' hash and what they read (`frozen`), the seeds per curve of
    every figure (stage "final": all of them, the pilot's first), the runs per curve the final
    verdict reads (`confirmatory`: {figure: [first seed, end)}), the rate (images/s per figure
    and where it came from), the budget, each claim's planned noise, conditions, power and n,
    and (stage "final") the pilot lock it was made from."""
    if stage not in STAGES:
        raise ConfigError(f"lock stage {stage!r} is unknown; choose one of {', '.join(STAGES)}")
    return {"format": LOCK_FORMAT, "profile": LOCKED_PROFILE, "stage": stage,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "rules": rules_hash(), **frozen(), "seeds": {f: int(n) for f, n in seeds.items()},
            "confirmatory": confirmatory, "rate": rate, "budget_hours": budget_hours,
            "plan": plan_rows, "pilot": pilot}


def lock_hash(lock: dict) -> str:
    """The lock's own hash: sha256 of its canonical JSON (sorted keys)."""
    text = json.dumps(lock, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_lock(lock: dict, path: Path | str = LOCK_PATH) -> Path:
    """Write `lock` to `path`. A final lock there is never overwritten (a lock looked past would
    lock nothing); a final lock is written only over the pilot lock it was made from (its
    pilot["lock"] hash), with that lock's budget."""
    path = Path(path)
    try:
        before = json.loads(path.read_text()) if path.exists() else None
    except json.JSONDecodeError:
        before = None  # not a lock: nothing to keep
    if isinstance(before, dict) and before.get("stage") == "final":
        raise ConfigError(f"{path} holds a final lock (lock {lock_hash(before)}), written once: "
                          + START_OVER)
    before = before if isinstance(before, dict) and before.get("format") == LOCK_FORMAT else None
    if lock["stage"] == "final":
        made_from = (lock.get("pilot") or {}).get("lock")
        if before is None or before["stage"] != "pilot" or lock_hash(before) != made_from:
            found = "no lock" if before is None else f"lock {lock_hash(before)}"
            raise ConfigError(f"the final lock was made from pilot lock {made_from}, and {path} "
                              f"holds {found}: a final lock replaces the pilot lock its pilot "
                              f"ran under")
        if lock["budget_hours"] != before.get("budget_hours"):
            raise ConfigError(f"the final lock's budget ({lock['budget_hours']:g} GPU-hours) is "
                              f"not its pilot lock's ({before.get('budget_hours')}): the budget "
                              f"is fixed before the pilot's verdicts are seen")
    return io.write_json(path, lock)


def read_lock(path: Path | str = LOCK_PATH) -> dict | None:
    """The lock at `path`, or None where there is none; a clear error where it is not one."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        lock = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON ({e}): restore it from git, or write it "
                          f"again with python -m paperlib plan --profile paper --lock") from None
    missing = [k for k in ("format", "profile", "stage", "rules", "seeds") if k not in lock]
    if missing or lock.get("format") != LOCK_FORMAT:
        raise ConfigError(f"{path} is not a plan lock of format {LOCK_FORMAT} (missing "
                          f"{', '.join(missing) or 'nothing'}, format {lock.get('format')!r}): "
                          f"write it again with python -m paperlib plan --profile paper --lock")
    return lock


def lock_for(profile: str, path: Path | str = LOCK_PATH) -> dict | None:
    lock = read_lock(path)
    return lock if lock is not None and lock["profile"] == profile else None


def locked_seeds(figure: str, profile: str, path: Path | str = LOCK_PATH) -> int | None:
    """The runs per curve the lock has `figure` run under `profile` (seeds 0..n-1: at stage
    final, the pilot's and then the fresh ones), or None."""
    lock = lock_for(profile, path)
    return None if lock is None else lock["seeds"].get(figure)


def confirmatory_seeds(lock: dict | None, figure: str) -> range | None:
    """The seeds whose runs a final lock's verdict on `figure` reads (the fresh ones after the
    pilot's), or None where the lock has none (a pilot lock, no lock)."""
    got = ((lock or {}).get("confirmatory") or {}).get(figure)
    return None if got is None else range(int(got[0]), int(got[1]))


def lock_record(profile: str, path: Path | str = LOCK_PATH) -> dict | None:
    """What a figure JSON records of the lock its runs were made under (None: no lock)."""
    lock = lock_for(profile, path)
    if lock is None:
        return None
    return {"hash": lock_hash(lock), "stage": lock["stage"], "rules": lock["rules"],
            "path": Path(path).name}


def describe_lock(profile: str, path: Path | str = LOCK_PATH) -> str:
    """One line: the lock in force for `profile`, or that there is none and what follows."""
    lock = lock_for(profile, path)
    if lock is None:
        return (f"Plan lock: none for profile {profile!r} (plan.lock.json locks "
                f"{LOCKED_PROFILE} only); every verdict here is exploratory")
    fresh = "" if lock["rules"] == rules_hash() else (
        f"; the rules changed since ({rules_hash()}): every verdict from these runs is "
        f"exploratory")
    reads = ""
    if lock.get("confirmatory"):
        reads = "; the verdicts read seeds " + ", ".join(
            f"{f} {a}-{b - 1}" for f, (a, b) in lock["confirmatory"].items())
    return (f"Plan lock: {Path(path).name}, stage {lock['stage']}, lock {lock_hash(lock)}, rules "
            f"{lock['rules']}, budget {lock.get('budget_hours')} GPU-hours, runs per curve "
            + ", ".join(f"{f} {n}" for f, n in lock["seeds"].items()) + reads + fresh)


def lock_status(profile: str, figure: str, runs: pd.DataFrame, *, lock: dict | None = None,
                path: Path | str = LOCK_PATH, recorded: dict | None = None) -> str:
    """'as locked (...)' where these runs of `figure` are the lock's: same profile, same rules
    and what they read, a final-stage lock, the figure JSON's record of the lock its runs ran
    under (`recorded`, notebook.save_results' plan_lock) that very lock, and on every curve
    exactly the lock's confirmatory seeds (the pilot's left out: review.confirmatory); else
    'exploratory: <why>'."""
    lock = lock if lock is not None else lock_for(profile, path)
    if lock is None or lock.get("profile") != profile:
        return (f"{EXPLORATORY}: profile {profile!r} has no plan lock (plan.lock.json locks "
                f"{LOCKED_PROFILE} only: {profile} is sized by CPU time, not by a pilot)")
    if lock["rules"] != rules_hash():
        now = frozen()
        changed = [k for k in now if json.dumps(now[k], sort_keys=True, default=str)
                   != json.dumps(lock.get(k), sort_keys=True, default=str)]
        return (f"{EXPLORATORY}: the rules changed after the lock ("
                + (", ".join(changed) if changed else "paperlib/paper/claims/ code")
                + f"; rules {rules_hash()}, locked {lock['rules']})")
    if lock["stage"] != "final":
        return (f"{EXPLORATORY}: pilot runs (the lock's stage is {lock['stage']!r}); they "
                f"measure the noise and the rate, python -m paperlib plan --profile {profile} "
                f"--from-pilot DIR locks the fresh runs that decide, and the verdict is read "
                f"once, on those")
    if recorded is None:
        return (f"{EXPLORATORY}: no record of the lock these runs of {figure} ran under (review "
                f"reads it from the figure JSON: pass saved=<its folder>)")
    if recorded.get("hash") != lock_hash(lock):
        return (f"{EXPLORATORY}: {figure}.json records lock {recorded.get('hash')} "
                f"({recorded.get('stage')}), not the final lock {lock_hash(lock)}")
    seeds = confirmatory_seeds(lock, figure)
    if seeds is None:
        return f"{EXPLORATORY}: the lock has no confirmatory seeds for {figure}"
    n = len(seeds)
    counts = runs.groupby("curve").size() if len(runs) else pd.Series(dtype=int)
    found = set(runs["seed"].astype(int)) if "seed" in runs and len(runs) else set()
    if found & set(range(seeds.start)):
        return (f"{EXPLORATORY}: the pilot's seeds 0-{seeds.start - 1} are among these runs; the "
                f"locked verdict reads seeds {seeds.start}-{seeds.stop - 1} alone "
                f"(plan.confirmatory)")
    if len(counts) == 0 or set(counts) != {n}:
        got = ", ".join(sorted({str(int(c)) for c in counts})) or "no"
        return f"{EXPLORATORY}: {got} run(s) per curve, the lock says {n}"
    if "seed" in runs and found != set(seeds):
        return f"{EXPLORATORY}: seeds other than the lock's {seeds.start}..{seeds.stop - 1}"
    return (f"as locked (lock {lock_hash(lock)}, seeds {seeds.start}-{seeds.stop - 1}: {n} "
            f"fresh runs per curve, rules {lock['rules']})")
