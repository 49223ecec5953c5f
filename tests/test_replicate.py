"""run_figure on the synthetic set: tidy rows, resumable run folders, divergence recorded."""
import pandas as pd
import pytest

from paperlib.paper import replicate
from paperlib.paper.claims import claims_fig5
from paperlib.paper.profiles import RunSpec
from paperlib.paper.replicate import Splits, run_figure

CLR = {"kind": "triangular", "lr_min": 0.05, "lr_max": 0.5, "step_size": 6, "momentum": 0.9}


@pytest.fixture
def splits():
    return Splits("synthetic", train_subset=256, test_subset=100, device="cpu")


def with_runs(monkeypatch, specs):
    monkeypatch.setattr(replicate, "runs_for", lambda figure, profile: specs)


def test_rows_are_tidy_and_a_rerun_resumes_from_the_run_folders(monkeypatch, splits, tmp_path):
    with_runs(monkeypatch, [RunSpec("a", CLR, 12, 32, 1e-4, "caffe-sgd", extra={"wd": 1e-4}),
                            RunSpec("b", CLR, 12, 32, 1e-5, "caffe-sgd", extra={"wd": 1e-5})])
    first = run_figure("fig5b", splits, profile="smoke", seeds=[0, 1], run_dir=tmp_path,
                       log=lambda line: None)
    assert set(first.metrics.columns) >= {"figure", "curve", "replicate", "seed", "batch_size",
                                          "init", "wd", "step", "split", "lr", "loss", "accuracy"}
    assert len(first.runs) == 4 and set(first.runs["status"]) == {"completed"}
    assert (tmp_path / "smoke" / "fig5b" / "synthetic" / "a" / "seed1" / "run.json").exists()
    again = run_figure("fig5b", splits, profile="smoke", seeds=[0, 1], run_dir=tmp_path,
                       log=lambda line: None)
    pd.testing.assert_frame_equal(first.metrics, again.metrics, check_dtype=False)


def test_a_diverging_run_is_recorded_and_the_verdict_says_where(monkeypatch, splits):
    blow_up = {"kind": "constant", "lr": 1e6, "momentum": 0.9}
    with_runs(monkeypatch, [RunSpec("Weight decay=0.001", blow_up, 10, 32, 1e-3, "caffe-sgd",
                                    extra={"wd": 1e-3}),
                            RunSpec("Weight decay=0.0001", CLR, 12, 32, 1e-4, "caffe-sgd",
                                    extra={"wd": 1e-4})])
    lines = []
    result = run_figure("fig5b", splits, profile="smoke", log=lines.append)
    bad = result.runs.iloc[0]
    assert bad["status"] == "diverged" and 0 <= bad["diverged_at"] < 10
    assert f"diverged at step {bad['diverged_at']}" in lines[0]
    a = pd.DataFrame([{"curve": "CLR=0.1-3", "final_test_accuracy": 0.5, "status": "completed",
                       "diverged_at": None},
                      {"curve": "LR=0.35", "final_test_accuracy": 0.4, "status": "completed",
                       "diverged_at": None}])
    rows = claims_fig5(a, result.runs)
    assert f"diverged at step {bad['diverged_at']}" in rows[1]["ours"]
    assert rows[1]["verdict"] == "reproduced"


def test_the_paper_profile_runs_four_jittered_replicates(monkeypatch, splits):
    with_runs(monkeypatch, [RunSpec("TBS=32", CLR, 4, 32, 1e-4, extra={"tbs": 32})])
    result = run_figure("fig8b", splits, profile="paper", log=lambda line: None)
    assert list(result.runs["batch_size"]) == [44, 40, 36, 32]
    assert list(result.runs["init"]) == ["xavier", "msra", "xavier", "msra"]
    assert list(result.runs["seed"]) == [0, 1, 2, 3]
