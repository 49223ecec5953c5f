"""Verdicts follow the rules in claims.py's docstrings, from the runs' rows alone."""
import numpy as np
import pandas as pd

from paperlib.paper.claims import (NOT_ASSESSED, NOT_REPRODUCED, REPRODUCED, claims_fig1a, claims_fig5,
                             claims_fig8, claims_fig15, claims_table, format_claims)


def runs(rows):
    base = {"status": "completed", "diverged_at": None, "replicate": 0}
    return pd.DataFrame([{**base, **r} for r in rows])


def fig5(clr=0.9, const=0.8, wd_acc=(0.1, 0.9, 0.85, 0.8), big_status="completed", big_at=None):
    a = runs([{"curve": "CLR=0.1-3", "final_test_accuracy": clr},
              {"curve": "LR=0.35", "final_test_accuracy": const}])
    b = runs([{"curve": f"Weight decay={wd:g}", "wd": wd, "final_test_accuracy": acc}
              for wd, acc in zip((1e-3, 1e-4, 1e-5, 1e-6), wd_acc)])
    b.loc[0, ["status", "diverged_at"]] = [big_status, big_at]
    return claims_fig5(a, b)


def test_fig5_verdicts_follow_the_numbers():
    assert [r["verdict"] for r in fig5()] == [REPRODUCED] * 3
    assert [r["verdict"] for r in fig5(clr=0.7, wd_acc=(0.5, 0.8, 0.85, 0.8))] == [
        NOT_REPRODUCED] * 3


def test_a_diverged_run_shows_its_step_and_never_wins():
    rows = fig5(wd_acc=(0.95, 0.9, 0.85, 0.8), big_status="diverged", big_at=123)
    assert "diverged at step 123" in rows[1]["ours"]
    assert rows[1]["verdict"] == REPRODUCED  # a diverged run did not train
    assert rows[2]["verdict"] == REPRODUCED  # and its (stale) accuracy does not make it best


def test_fig8_verdicts():
    a = runs([{"curve": c, "final_test_loss": v} for c, v in
              (("Momentum=0.9", 0.36), ("CM range=0.85-0.95", 0.39), ("CM range=0.95-0.85", 0.34))])
    b = runs([{"tbs": t, "best_test_accuracy": v} for t, v in
              ((1024, 0.921), (512, 0.920), (256, 0.919), (128, 0.916))])
    assert [r["verdict"] for r in claims_fig8(a, b)] == [REPRODUCED] * 3
    b.loc[0, ["status", "diverged_at"]] = ["diverged", 7]  # a diverged run never scores best
    assert claims_fig8(a, b)[2]["verdict"] == NOT_REPRODUCED
    b.loc[0, ["status", "diverged_at"]] = ["completed", None]
    b["best_test_accuracy"] = b["best_test_accuracy"].to_numpy()[::-1]
    assert claims_fig8(a, b)[2]["verdict"] == NOT_REPRODUCED


def test_fig15_needs_several_seeds_for_the_spread_claim():
    steps = np.arange(5)
    m = pd.concat([pd.DataFrame({"split": "test", "wd": wd, "step": steps, "lr": 0.1 + 0.2 * steps,
                                 "loss": 2.0 + off + (steps - 2) ** 2 * 0.1})
                   for wd, off in ((3e-4, 0.3), (1e-4, 0.0), (1e-5, 0.2))])
    sweeps = runs([{"curve": f"WD={wd:g}", "wd": wd} for wd in (3e-4, 1e-4, 1e-5)])
    one = runs([{"tbs": t, "best_test_accuracy": 0.69} for t in (256, 512, 1024)])
    rows = claims_fig15(m, sweeps, one, dataset="cifar10")
    assert rows[0]["verdict"] == REPRODUCED and "cifar10 stand-in" in rows[0]["claim"]
    assert rows[1]["verdict"] == NOT_ASSESSED
    two = runs([{"tbs": t, "replicate": k, "best_test_accuracy": 0.69 + 0.004 * k}
                for t in (256, 512, 1024) for k in (0, 1)])
    assert claims_fig15(m, sweeps, two, dataset="cifar100")[1]["verdict"] == REPRODUCED
    two.loc[two["tbs"] == 256, "best_test_accuracy"] -= 0.05
    assert claims_fig15(m, sweeps, two, dataset="cifar100")[1]["verdict"] == NOT_REPRODUCED
    sweeps.loc[0, ["status", "diverged_at"]] = ["stopped", 40]
    assert "WD=0.0003 stopped at step 40" in claims_fig15(m, sweeps, two, dataset="cifar100")[0]["ours"]


def sweep_rows(curve, lrs, losses):
    return pd.DataFrame({"curve": curve, "split": "test", "step": range(len(lrs)), "lr": lrs,
                         "loss": losses, "accuracy": 0.5})


def test_fig1a_rise_and_dip_rules():
    wide = sweep_rows("LR range 0-3", np.linspace(0, 3, 10), [3, 2, 1.5, 1.2, 1.0, 1.1, 1.3, 1.6,
                                                              2.0, 2.5])
    low = sweep_rows("LR range 0-0.4", np.linspace(0, 0.4, 40),
                     [3, 2, 1.2, 1.0, 1.0, 1.3, 1.6, 1.7, 1.6, 1.5] + [1.2] * 30)
    ok = runs([{"curve": "LR range 0-3"}, {"curve": "LR range 0-0.4"}])
    rows = claims_fig1a(pd.concat([wide, low]), ok, lr_max=3.0)
    assert [r["verdict"] for r in rows] == [REPRODUCED, REPRODUCED]
    flat = sweep_rows("LR range 0-3", np.linspace(0, 3, 10), np.linspace(3, 1, 10))
    rows = claims_fig1a(pd.concat([flat, low.head(3)]), ok, lr_max=3.0)
    assert [r["verdict"] for r in rows] == [NOT_REPRODUCED, NOT_ASSESSED]
    ok.loc[0, ["status", "diverged_at"]] = ["diverged", 9]  # a blow-up is a rise
    rows = claims_fig1a(pd.concat([flat.head(6), low]), ok, lr_max=3.0)
    assert rows[0]["verdict"] == REPRODUCED and "diverged at step 9" in rows[0]["ours"]


def test_format_has_no_column_padding():
    text = format_claims(claims_table(fig5()))
    assert text.splitlines()[0].startswith("[reproduced] CLR 0.1-3")
    assert "  " not in text.replace("    paper", "").replace("    ours:  ", "")
