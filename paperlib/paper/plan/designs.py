"""Each claim as a design: Smith's effect with its source, how to read one run's noise (from a set
of runs, or Smith's tables), the conditions its rule will meet, and how to draw sets of runs
through its rule (DESIGNS, `design`).

Separate because this is where the plan meets the paper and our runs: Smith's numbers read off his
figures as the rules read ours (claims.smith), the conditions stated before a pilot measures
them (Conditions), and the readers (readers.py) that a pilot's runs replace them with. The
simulations below it (simulate.py) know no claim, and the table above it (table.py) only asks
each design for its noise, its conditions and its draws.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import ConfigError
from .. import claims as C
from . import readers as R
from .simulate import (simulate_below, simulate_best, simulate_gap, simulate_order,
                       simulate_tost, simulate_trend, simulate_turn)

Noise = tuple  # (sd | None, source text, df)
RHO = 0.6  # AR(1) between a range test's neighbouring evaluations, until a pilot's sweeps say


@dataclass(frozen=True)
class Conditions:
    """What a claim's rule will meet beside the runs' noise, drawn into every simulated set
    (simulate.py): the test images' disagreement per curve (V / N), each curve's chance that a
    run diverges (None: none), the AR(1) coefficient between a range test's evaluations, and
    where each came from."""
    images: float = 0.0
    diverge: tuple | None = None
    rho: float = 0.0
    source: str = ""

    def text(self) -> str:
        return self.source

    def record(self) -> dict:
        return {"images": self.images, "diverge": None if self.diverge is None else
                list(self.diverge), "rho": self.rho, "conditions": self.source}

    @classmethod
    def from_record(cls, record: dict | None) -> "Conditions | None":
        if not record:
            return None
        return cls(float(record.get("images") or 0.0),
                   None if record.get("diverge") is None else tuple(record["diverge"]),
                   float(record.get("rho") or 0.0), str(record.get("conditions") or ""))


NO_IMAGES = ("the test images' disagreement: 0 assumed until a pilot's claims tables measure "
             "it from per-image records")


@dataclass(frozen=True)
class Design:
    """One claim: its figure (whose seeds and runs it needs), what it says, Smith's effect with
    its source, the EFFECT_AT entry that dates it (None: none), how to read one run's noise from
    a set of runs (`reader`: (metrics, runs) -> ((sd, df) | None, what)) or from Smith (`smith`:
    (sd, source, df)), the conditions stated before a pilot (`conditions`), its curves in the
    draw's order as (run column, keys) for a pilot's divergence (`curves`), and how to draw it
    for a profile; `alt_*`: the power under a second effect (Fig 15b: equal means)."""
    key: str
    figure: str
    statement: str
    effect: str
    effect_at: str | None
    reader: Callable | None
    smith: Noise | None
    draw: Callable[..., np.ndarray] | None  # (rng, sigma, n, sims, profile, conditions) -> codes
    note: str = ""
    effect_curve: Callable | None = None  # the curve EFFECT_AT dates (claims/smith.py), else all
    cut: Callable[[str], str | None] | None = None  # the rule's own "not testable" for a profile
    alt_effect: str = ""
    alt_draw: Callable[..., np.ndarray] | None = None
    conditions: Conditions = field(default_factory=Conditions)
    curves: tuple | None = None

    def noise_from(self, metrics, runs, label: str) -> Noise | None:
        """One run's SD read off a set of runs, or None."""
        if self.reader is None:
            return None
        got, what = self.reader(metrics, runs)
        return None if got is None else (got[0], f"{what}, {label}, {got[1]} df", got[1])

    def noise(self, profile: str, figures_dir: Path) -> Noise:
        """One run's noise for a profile: our committed runs of the figure where they were run
        under that profile (read when called), else Smith's, else our committed runs of another
        profile, else none."""
        found, ours = R.committed(figures_dir, self.figure), None
        if found is not None:
            metrics, runs, data = found
            role = data.get("dataset_role")
            ours = self.noise_from(metrics, runs, f"our committed runs ({self.figure}.json, "
                                   f"profile {data.get('profile', '?')}"
                                   + (f", {role})" if role else ")"))
            if ours is not None and data.get("profile") == profile:
                return ours
        if self.smith is not None:
            return self.smith
        if ours is not None:
            return ours
        return (None, f"no published run-to-run SD (REPLICATIONS.md §5) and no committed "
                      f"replicates of {self.figure} in {figures_dir}", math.nan)

    def conditions_from(self, metrics, runs, images: dict, label: str) -> Conditions:
        """The conditions a pilot's runs measure, this design's stated ones where they do not:
        each curve's share of diverged runs, the dip's correlation, the images' disagreement its
        claims table read (`images`: {claim: V / N})."""
        c, said = self.conditions, []
        if self.curves is not None:
            got = R.divergence(runs, self.curves)
            if got is not None:
                c = replace(c, diverge=None if not any(got) else got)
                said.append(f"diverged runs per curve {'/'.join(f'{q:.2f}' for q in got)} "
                            f"({label})")
        if self.key == "fig1a_dip":
            got = R.dip_rho(metrics)
            if got is not None:
                c = replace(c, rho=max(0.0, got[0]))
                said.append(f"AR(1) {max(0.0, got[0]):.2f}: {got[1]} ({label})")
        if self.key in images:
            c = replace(c, images=images[self.key])
            said.append(f"the test images' disagreement {images[self.key]:.2e} per curve, from "
                        f"the claims table's per-image records ({label})")
        if not said:
            return c
        return replace(c, source="; ".join(said) + (f" (stated before it: {c_source})" if (
            c_source := self.conditions.source) else ""))


def _dip_draw(rng, sigma, n, sims, profile, cond):
    lrs = R.eval_lrs("fig1a", profile, 0)
    truth = np.interp(lrs, C.SMITH_FIG1A_LR, C.SMITH_FIG1A_LOSS)
    return simulate_turn(rng, truth, lrs, sigma, n, sims, C.WINDOWS["fig1a_dip"], rho=cond.rho)


FIG5A, FIG5B = C.PAPER["fig5a_final"], C.PAPER["fig5b_final"]
FIG8A, FIG8B, FIG15B = C.PAPER["fig8a_final_loss"], C.PAPER["fig8b_last3"], C.PAPER[
    "fig15b_last3"]
FIG15A = {wd: float(np.mean(v)) for wd, v in C.SMITH_FIG15A_WINDOW.items()}
TABLE1 = (C.SEED_SD["cifar10"][0], C.SEED_SD["cifar10"][1], C.SEED_SD_DF["cifar10"])
TABLE2 = (C.SEED_SD["cifar100"][0], C.SEED_SD["cifar100"][1], C.SEED_SD_DF["cifar100"])
_TBS = sorted(FIG8B)
FIG8B_TREND = float(np.dot(C.trend_weights(np.log2(_TBS)), [FIG8B[t] for t in _TBS]))
_TBS15 = sorted(FIG15B)
FIG15B_GAP = max(FIG15B.values()) - min(FIG15B.values())
_DIP = list(C.window_means(C.SMITH_FIG1A_LR, C.SMITH_FIG1A_LOSS, C.WINDOWS["fig1a_dip"]))
_WD = (1e-4, 1e-3, 1e-5, 1e-6)  # Fig 5b's curves, the claimed best first
_COLLAPSE = "WD 1e-3 collapses (Fig 5b, 0.10): drawn as every run diverging"
_COUNTS = _COLLAPSE + ", where the best-of has only the counts to go on"
_STATED = "; ".join([NO_IMAGES, "no run diverges (none of Smith's did, SETTINGS.md §4)"])


def _cond(**kw) -> Conditions:
    return Conditions(**{"source": _STATED, **kw})


DESIGNS = (
    Design("fig1a_rise", "fig1a", "the 0-3 sweep's test loss falls, then rises (Fig 1a, §4.1)",
           "none: Smith shows no sweep past lr 0.4 (the 0-3 sweep is this project's, "
           "SETTINGS.md §3)", None, None,
           (None, "none needed: with no effect of Smith's to aim at, there is no power to plan "
                  "for (SETTINGS.md §3)", math.nan), None),
    Design("fig1a_dip", "fig1a", "the 0-0.4 sweep's test loss dips inside lr 0.01-0.04 (Fig 1a "
           "box)", f"Smith's Fig 1a mean loss below / inside / above the box {_DIP[0]:.3f} / "
           f"{_DIP[1]:.3f} / {_DIP[2]:.3f} (figs/fig1a.png)", "fig1a_dip", R.dip,
           R.smith_fig1a(), _dip_draw, "one sweep gives no verdict", cut=R.dip_cut,
           effect_curve=lambda spec: spec.label == "LR range 0-0.4",
           conditions=Conditions(rho=RHO, source=f"AR(1) {RHO} between neighbouring "
                                 f"evaluations, assumed until a pilot's sweeps measure it")),
    Design("fig5a", "fig5a", "CLR 0.1-3 beats LR 0.35 run 8x as long (Fig 5a)",
           f"{FIG5A['CLR=0.1-3']} vs {FIG5A['LR=0.35']} (Fig 5a annotations, SETTINGS.md §4)",
           "fig5a", R.final("final_test_accuracy"), TABLE1,
           lambda rng, sigma, n, sims, profile, c: simulate_gap(
               rng, [FIG5A["CLR=0.1-3"], FIG5A["LR=0.35"]], sigma, n, sims, diverge=c.diverge,
               images=c.images),
           effect_curve=lambda spec: spec.label == "CLR=0.1-3", conditions=_cond(),
           curves=("curve", ("CLR=0.1-3", "LR=0.35"))),
    Design("fig5b_collapse", "fig5b", "WD 1e-3 ends below 0.2 (Fig 5b)",
           f"{FIG5B[1e-3]} (read off Fig 5b, SETTINGS.md §4) against the rule's 0.2",
           "fig5b_collapse", R.final("final_test_accuracy", leave_out=("wd", 1e-3)), TABLE1,
           lambda rng, sigma, n, sims, profile, c: simulate_below(
               rng, [FIG5B[1e-3]], sigma, n, sims, threshold=0.2, test_images=10_000,
               diverge=c.diverge),
           conditions=Conditions(diverge=(1.0,), source=_COLLAPSE), curves=("wd", (1e-3,))),
    Design("fig5b_best", "fig5b", "WD 1e-4 ends highest of 1e-3..1e-6 (Fig 5b)",
           "1e-4: 0.92, 1e-6: 0.90, 1e-5: 0.89, 1e-3: 0.10 (read off Fig 5b, SETTINGS.md §4)",
           "fig5b_best", R.final("final_test_accuracy", leave_out=("wd", 1e-3)), TABLE1,
           lambda rng, sigma, n, sims, profile, c: simulate_best(
               rng, [FIG5B[wd] for wd in _WD], sigma, n, sims, higher=True, diverge=c.diverge,
               images=c.images),
           conditions=Conditions(diverge=(0.0, 1.0, 0.0, 0.0),
                                 source="; ".join([NO_IMAGES, _COUNTS])),
           curves=("wd", _WD)),
    Design("fig8a_order", "fig8a", "final test loss 0.95-0.85 < 0.9 < 0.85-0.95 (Fig 8a)",
           "0.345 < 0.36 < 0.385 (read off Fig 8a, SETTINGS.md §4)", "fig8a",
           R.final("final_test_loss"), None,
           lambda rng, sigma, n, sims, profile, c: simulate_order(
               rng, [FIG8A[k] for k in FIG8A], sigma, n, sims, higher=False, diverge=c.diverge,
               images=c.images),
           conditions=_cond(), curves=("curve", tuple(FIG8A))),
    Design("fig8b_trend", "fig8b", "final accuracy rises with TBS at a fixed budget (Fig 8b)",
           f"{FIG8B_TREND:+.4f} per doubling: the linear contrast of the means of each curve's "
           "last 3 evaluations, " + ", ".join(f"{t}: {FIG8B[t]:.4f}" for t in _TBS)
           + " (figs/fig8b.png inset, read by pixel: claims.SMITH_FIG8B_LAST3; its peaks give "
           "+0.0013)",
           "fig8b", R.readings,
           (C.FIG8B_SD[0], "Smith's Table 1, TBS 512 with CM 0.95-0.85: 92.0 ± 0.2 % "
                           "(SETTINGS.md §6)", C.FIG8B_SD[1]),
           lambda rng, sigma, n, sims, profile, c: simulate_trend(
               rng, [FIG8B[t] for t in _TBS], sigma, n, sims, x=np.log2(_TBS),
               diverge=c.diverge, images=c.images),
           effect_curve=lambda spec: spec.extra.get("tbs") == 512, conditions=_cond(),
           curves=("tbs", tuple(_TBS))),
    Design("fig15a_best", "fig15a", "WD 1e-4 has the lowest mean loss at lr 0.25-0.45 (Fig 15a)",
           "mean validation loss at lr 0.25-0.45 1e-4: {:.3f}, 1e-5: {:.3f}, 3e-4: {:.3f} (read "
           "off figs/fig15a.png)".format(FIG15A[1e-4], FIG15A[1e-5], FIG15A[3e-4]), "fig15a",
           R.window, None,
           lambda rng, sigma, n, sims, profile, c: simulate_best(
               rng, [FIG15A[1e-4], FIG15A[3e-4], FIG15A[1e-5]], sigma, n, sims, higher=False),
           "about CIFAR-100: on a stand-in dataset not testable"),
    Design("fig15b_equal", "fig15b", "TBS 256/512/1024 end within ±1 SD (Fig 15b)",
           "the means of each curve's last 3 evaluations " + " / ".join(
               f"{FIG15B[t]:.4f}" for t in _TBS15) + " (figs/fig15b.png inset, read by pixel: "
           f"claims.SMITH_FIG15B_LAST3): their largest gap, {FIG15B_GAP:.4f}, inside the margin "
           f"±{C.FIG15B_MARGIN} ({C.FIG15B_MARGIN_WHY})",
           "fig15b", R.readings, TABLE2,
           lambda rng, sigma, n, sims, profile, c: simulate_tost(
               rng, [FIG15B[t] for t in _TBS15], sigma, n, sims, margin=C.FIG15B_MARGIN,
               diverge=c.diverge, images=c.images),
           "about CIFAR-100: on a stand-in dataset not testable",
           effect_curve=lambda spec: spec.extra.get("tbs") == 512,
           alt_effect="equal means",
           alt_draw=lambda rng, sigma, n, sims, profile, c: simulate_tost(
               rng, [0.690] * 3, sigma, n, sims, margin=C.FIG15B_MARGIN, diverge=c.diverge,
               images=c.images),
           conditions=_cond(), curves=("tbs", tuple(_TBS15))),
)


def design(key: str) -> Design:
    for d in DESIGNS:
        if d.key == key:
            return d
    raise ConfigError(f"claim {key!r} is unknown; choose one of "
                      + ", ".join(d.key for d in DESIGNS))
