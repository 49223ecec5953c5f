"""The plan, locked before the runs it plans: plan.lock.json at the top of the checkout.

Why: a rule that is calibrated for one look is not calibrated for several. Rerunning a notebook
with more seeds and looking again inflates the decisive rate: 2 -> 4 seeds gave 7.0% with no
effect, 4 -> 8 -> 16 -> 36 gave 13.7% (scripts/claims_stress.py at 8208dd2). So the runs per
curve, the rules (a hash of paperlib/paper/claims/, whose smith.py holds LAST_K, the margin, the
windows, CLAIM_MODEL and EFFECT_AT, all written into the lock as well) and the rate they were
costed at are fixed in a file before the runs, every figure JSON records the hash of the lock it
ran under (notebook.save_results), and a verdict from runs that depart from it is labelled
`exploratory`, with the reason (`lock_status`).

One lock, for `paper`, the profile a GPU day is spent on, in two stages: "pilot" (Smith's own 4
runs per curve, written by `python -m paperlib plan --profile paper --lock` before any run), then
"final" (the runs per curve the pilot's noise and rate call for, written by `plan --from-pilot`).
Verdicts from a pilot-stage lock are exploratory: the pilot's runs count in the final n, and the
final verdict is read once, at the final n. `smoke` and `small` have no lock: they are sized by
CPU time, not by a pilot, and every verdict of theirs says so.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from pathlib import Path

import pandas as pd

from ... import io
from ...errors import ConfigError

LOCK_PATH = Path(__file__).resolve().parents[3] / "plan.lock.json"
LOCK_FORMAT = 1
LOCKED_PROFILE = "paper"
STAGES = ("pilot", "final")
CLAIMS_DIR = Path(__file__).resolve().parents[1] / "claims"
EXPLORATORY = "exploratory"


def rules_hash() -> str:
    """The rules' version: sha256 over the names and bytes of paperlib/paper/claims/*.py."""
    h = hashlib.sha256()
    for path in sorted(CLAIMS_DIR.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
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
              plan_rows: list[dict], pilot: dict | None = None) -> dict:
    """A lock for `paper`: the rules' hash and what they read (`frozen`), the seeds per curve of
    every figure, the rate (images/s per figure and where it came from), the budget, each claim's
    planned noise, power and n, and (stage "final") the pilot it was made from."""
    if stage not in STAGES:
        raise ConfigError(f"lock stage {stage!r} is unknown; choose one of {', '.join(STAGES)}")
    return {"format": LOCK_FORMAT, "profile": LOCKED_PROFILE, "stage": stage,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "rules": rules_hash(), **frozen(), "seeds": {f: int(n) for f, n in seeds.items()},
            "rate": rate, "budget_hours": budget_hours, "plan": plan_rows, "pilot": pilot}


def lock_hash(lock: dict) -> str:
    """The lock's own hash: sha256 of its canonical JSON (sorted keys)."""
    text = json.dumps(lock, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_lock(lock: dict, path: Path | str = LOCK_PATH) -> Path:
    return io.write_json(Path(path), lock)


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
    """The runs per curve the lock fixes for `figure` under `profile`, or None."""
    lock = lock_for(profile, path)
    return None if lock is None else lock["seeds"].get(figure)


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
    return (f"Plan lock: {Path(path).name}, stage {lock['stage']}, lock {lock_hash(lock)}, rules "
            f"{lock['rules']}, runs per curve "
            + ", ".join(f"{f} {n}" for f, n in lock["seeds"].items()) + fresh)


def lock_status(profile: str, figure: str, runs: pd.DataFrame, *, lock: dict | None = None,
                path: Path | str = LOCK_PATH) -> str:
    """'as locked (...)' where these runs of `figure` are the lock's: same profile, same rules
    and what they read, seeds 0..n-1 of the lock's n on every curve, a final-stage lock; else
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
                + (", ".join(changed) if changed else "paperlib/paper/claims/")
                + f"; rules {rules_hash()}, locked {lock['rules']})")
    n = lock["seeds"].get(figure)
    counts = runs.groupby("curve").size() if len(runs) else pd.Series(dtype=int)
    if n is None:
        return f"{EXPLORATORY}: the lock has no seeds for {figure}"
    if len(counts) == 0 or set(counts) != {n}:
        got = ", ".join(sorted({str(int(c)) for c in counts})) or "no"
        return f"{EXPLORATORY}: {got} run(s) per curve, the lock says {n}"
    if "seed" in runs and set(runs["seed"].astype(int)) != set(range(n)):
        return f"{EXPLORATORY}: seeds other than the lock's 0..{n - 1}"
    if lock["stage"] != "final":
        return (f"{EXPLORATORY}: pilot runs (the lock's stage is {lock['stage']!r}); python -m "
                f"paperlib plan --profile {profile} --from-pilot DIR sets the final n, and the "
                f"verdict is read once, there")
    return f"as locked (lock {lock_hash(lock)}, {n} runs per curve, rules {lock['rules']})"
