"""The notebooks' structure, and papermill parameters that must stop a notebook in its first cells."""
import ast
import json

import pytest

from helpers import ROOT
from paperlib.errors import ConfigError
from paperlib.paper.notebook import check_parameters, injected_names

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"


def cells(path):
    return json.loads(path.read_text())["cells"]


def parameters_cells(path):
    return [c for c in cells(path) if "parameters" in c.get("metadata", {}).get("tags", [])]


FIGURE_NOTEBOOKS = NOTEBOOKS[:4]  # the paper's figures; 05 applies the recipe to a model


def test_the_numbered_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "01_lr_range_test.ipynb", "02_fig5_super_convergence.ipynb",
        "03_fig8_cyclical_momentum.ipynb", "04_fig15_cifar100.ipynb",
        "05_disciplined_recipe.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exactly_one_parameters_cell_of_annotated_literals(path):
    (cell,) = parameters_cells(path)
    tree = ast.parse("".join(cell["source"]))
    assert tree.body and all(isinstance(node, ast.AnnAssign) for node in tree.body)
    for node in tree.body:
        ast.literal_eval(node.value)  # a literal, not an expression
    names = [node.target.id for node in tree.body]
    assert names[0] == "profile" and {"dataset", "device", "seeds"} <= set(names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_executed_with_a_checked_cell_and_no_errors(path):
    code = [c for c in cells(path) if c["cell_type"] == "code"]
    unexecuted = [i for i, c in enumerate(code) if c["execution_count"] is None]
    assert not unexecuted, f"{path.name}: code cells {unexecuted} were not executed"
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert any("".join(c["source"]).startswith(CHECK) for c in code), "no checked cell"
    source = "".join(parameters_cells(path)[0]["source"])
    assert 'profile: str = "smoke"' in source  # committed as executed with the smoke profile


def namespace(injected: str, **values):
    return {"__annotations__": {"profile": str, "seeds": list[int], "rate": float,
                                "out": str | None},
            "profile": "smoke", "seeds": [0], "rate": 0.5, "out": None,
            "In": ["", "profile: str = 'smoke'", injected, "params = ..."], **values}


def test_check_parameters_accepts_the_declared_ones():
    params = check_parameters(namespace("# Parameters\nprofile = \"small\"\n", profile="small",
                                        rate=1))
    assert params == {"profile": "small", "seeds": [0], "rate": 1, "out": None}
    assert injected_names(namespace("# Parameters\na = 1\nb = [2]\n")) == ["a", "b"]


@pytest.mark.parametrize("injected, values, message", [
    ("# Parameters\nprofle = \"small\"\n", {"profle": "small"}, "unknown parameter 'profle'"),
    ("# Parameters\nseeds = 3\n", {"seeds": 3}, "parameter 'seeds' must be list"),
    ("# Parameters\nseeds = [True]\n", {"seeds": [True]}, "parameter 'seeds' must be list"),
    ("# Parameters\nrate = \"x\"\n", {"rate": "x"}, "parameter 'rate' must be float"),
    ("# Parameters\nprofile = \"huge\"\n", {"profile": "huge"}, "profile 'huge' is unknown"),
])
def test_check_parameters_refuses_bad_ones(injected, values, message):
    with pytest.raises(ConfigError, match=message):
        check_parameters(namespace(injected, **values))


@pytest.mark.parametrize("parameters, message", [
    # one kernel: papermill's injected cell reaches check_parameters, whose every refusal
    # (a wrong type, an unknown profile) test_check_parameters_refuses_bad_ones checks
    ({"profile": "smoke", "learning_rate": 3}, "unknown parameter 'learning_rate'"),
])
def test_papermill_stops_in_the_first_cells_on_bad_parameters(tmp_path, parameters, message):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError, match=message) as failure:
        papermill.execute_notebook(str(NOTEBOOKS[1]), str(out), parameters=parameters,
                                   progress_bar=False, cwd=str(tmp_path))
    assert failure.value.exec_count <= 4  # imports, parameters, injected, checks: nothing ran
    assert not (tmp_path / "figures").exists()
    # the error's one line, not ~55 lines of library frames around it
    assert failure.value.traceback == [f"paperlib: error: {failure.value.evalue}"]


@pytest.mark.parametrize("path", FIGURE_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_smoke_verdict_is_decided_by_the_runs_scale_or_data_never_a_trained_number(path):
    """nbval checks the verdicts of the committed smoke claims tables, on any CPU: so each must
    follow from the smoke runs' length, evaluations or dataset, which every machine shares, and
    not from a loss or an accuracy, which differ between CPUs' kernels."""
    checked = [c for c in cells(path) if "".join(c["source"]).startswith(CHECK)
               and "format_claims" in "".join(c["source"])]
    text = "".join("".join(o.get("text", "")) for c in checked for o in c["outputs"])
    verdicts = [line.split("]")[0][1:] for line in text.splitlines() if line.startswith("[")]
    assert verdicts and set(verdicts) == {"not testable at this scale"}, verdicts


@pytest.mark.slow
def test_cifar100_where_it_is_absent_stops_in_the_first_cells_naming_the_fix(tmp_path,
                                                                              monkeypatch):
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path))  # a folder without CIFAR-100
    with pytest.raises(papermill.PapermillExecutionError,
                       match="put cifar-100-python/.*or run with -p dataset cifar10") as failure:
        papermill.execute_notebook(str(NOTEBOOKS[3]), str(tmp_path / "out.ipynb"),
                                   parameters={"profile": "smoke", "dataset": "cifar100"},
                                   progress_bar=False, cwd=str(tmp_path))
    assert failure.value.exec_count <= 4
    assert not (tmp_path / "figures").exists()


@pytest.mark.slow
@pytest.mark.parametrize("figure", ["fig1a", "fig5a", "fig5b", "fig8a", "fig8b", "fig15a",
                                    "fig15b"])
def test_every_paper_run_takes_a_step_on_the_cpu(figure):
    """The paper profile's real models, optimizers, BN shards and batch sizes, one step each
    through run_figure (what every notebook calls), so that a GPU user never meets a run that
    was not exercised. ResNet-56 steps at batches up to 1,036: about a minute in all here."""
    from helpers import real_data_root
    from paperlib.paper.notebook import make_splits
    from paperlib.paper.replicate import run_figure
    import os
    os.environ.setdefault("PAPERLIB_DATA", str(real_data_root()))
    splits = make_splits("cifar10", figure, profile="paper", device="cpu", test_images=100)
    result = run_figure(figure, splits, profile="paper", seeds=[0], max_steps=1,
                        log=lambda line: None)
    runs = result.runs
    assert len(runs) and runs["truncated"].all() and (runs["steps_done"] == 1).all()
    assert set(runs["status"]) == {"completed"} and runs["final_test_accuracy"].notna().all()
    assert set(runs["bn_shards"]) == {8 if figure.startswith("fig5") else 4}


@pytest.mark.parametrize("path", [NOTEBOOKS[2]], ids=lambda p: p.stem)
def test_a_truncated_pass_says_truncated_in_every_verdict_and_every_run(path, tmp_path,
                                                                        monkeypatch):
    """What `-p max_steps N` gives a notebook: its runs marked truncated in the figure JSON, and
    no verdict but 'not testable', saying so (one notebook's kernel: the rows are run_figure's
    and the verdicts the claims package's, shared by all four)."""
    papermill = pytest.importorskip("papermill")
    from helpers import real_data_root
    monkeypatch.setenv("PAPERLIB_DATA", str(real_data_root()))
    parameters = {"profile": "smoke", "max_steps": 2, "device": "cpu", "test_images": 100,
                  "figures_dir": str(tmp_path / "figures"), "run_dir": ""}
    papermill.execute_notebook(str(path), str(tmp_path / "out.ipynb"), parameters=parameters,
                               progress_bar=False, cwd=str(tmp_path))
    (claims_csv,) = (tmp_path / "figures").glob("*_claims.csv")
    import pandas as pd
    claims = pd.read_csv(claims_csv)
    assert set(claims["verdict"]) == {"not testable at this scale"}
    assert claims["ours"].str.contains("truncated at 2 step").all()
    for summary in (tmp_path / "figures").glob("fig*.json"):
        runs = json.loads(summary.read_text())["runs"]
        assert runs and all(r["truncated"] and r["steps_done"] == 2 for r in runs)
