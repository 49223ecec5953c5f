"""The HTML report is built from saved files alone: these tests save a few figures' files in a
temporary folder, in the shapes the notebooks write, and read the page back."""
import base64
import html
import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from paperlib.errors import ConfigError, DataError
from paperlib.paper import report
from paperlib.paper.claims import VERDICTS
from paperlib.paper.profiles import PROFILES

# A 1x1 PNG: the page embeds the bytes as they are, so any image will do.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
                       "hQGAhKmMIQAAAABJRU5ErkJggg==")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def save_figure(folder, name, profile="small", *, commit=COMMIT, image=True, **extra):
    """A figure's CSV, JSON (with settings, runs and provenance) and PNG, as save_results and
    save_plot write them."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "figure": name, "profile": profile, "parameters": {"profile": profile},
        "settings": {"dataset": "CIFAR-10 (JPEG q75 copy)", "model": "resnet8", "seeds": [0, 1],
                     "test_images": 2000,
                     "runs": [{"curve": f"{name} curve A", "TBS": "128 (512)",
                               "schedule": "linear lr_min=0 lr_max=3"}]},
        "runs": [{"curve": f"{name} curve A", "seed": s, "status": "completed",
                  "final_test_accuracy": 0.5, "wall_s": 10.0} for s in (0, 1)],
        "wall_s": 125.0,
        "provenance": {"git_commit": commit, "git_dirty": False, "device": "CPU: Test (2 threads)",
                       "created_utc": "2026-11-30T21:39:31+00:00", "python": "3.11.7",
                       "packages": {"torch": "2.14.1"}},
        **extra}
    (folder / f"{name}.json").write_text(json.dumps(record))
    (folder / f"{name}.csv").write_text("step,loss\n0,1.0\n")
    if image:
        (folder / f"{name}.png").write_bytes(PNG)


def save_claims(folder, notebook, rows):
    pd.DataFrame(rows, columns=["claim", "paper", "ours", "verdict"]).to_csv(
        folder / f"{notebook}_claims.csv", index=False)


FIG1_CLAIMS = [("the test loss falls, then rises", "a minimum, then a rise",
                "minimum 1.350 at lr 3; noise ±1.6", "inconclusive"),
               ("a dip at small lr", "0.345 < 0.36", "fell 0.3; rose 0.2", "contradicted")]


@pytest.fixture
def small_figures(tmp_path):
    folder = tmp_path / "figures"
    save_figure(folder, "fig1a")
    save_figure(folder, "fig5a", dataset_role="CIFAR10 stand-in for Cifar100")
    save_claims(folder, "01_lr_range_test", FIG1_CLAIMS)
    save_claims(folder, "02_fig5_super_convergence",
                [("CLR beats a constant lr", "0.924 vs 0.912", "0.255 vs 0.590", "reproduced")])
    return folder


def page_of(folder, profile="small", out=None):
    out = out or folder.parent / "reports" / profile / "index.html"
    return report.write_report(profile, folder, out).read_text(encoding="utf-8")


# --- the page -----------------------------------------------------------------------------------

def test_the_page_shows_each_figure_with_its_image_settings_and_provenance(small_figures):
    page = page_of(small_figures)
    for name in ("fig1a", "fig5a"):
        assert f'<figure id="{name}">' in page
        assert f"{name} curve A" in page  # its settings table
    assert page.count(base64.b64encode(PNG).decode()) == 2  # embedded, not linked
    assert COMMIT[:12] in page and "CPU: Test (2 threads)" in page
    assert "seeds 0, 1" in page and "2 runs: 2 completed" in page and "wall time 2 min 5 s" in page
    assert "2026-11-30 21:39 UTC" in page
    assert "CIFAR10 stand-in for Cifar100" in page  # a stand-in dataset is said, per figure


def test_the_page_holds_each_notebooks_claims_with_their_verdicts_escaped(small_figures):
    page = page_of(small_figures)
    for claim, paper, _, verdict in FIG1_CLAIMS:
        assert claim in page
        assert f"\u00a0{verdict}</td>" in page
    assert "0.345 &lt; 0.36" in page and "0.345 < 0.36" not in page
    assert "CLR beats a constant lr" in page and "\u00a0reproduced</td>" in page
    assert "1 contradicted, 1 inconclusive" in page and "1 reproduced" in page  # the summary


def test_figures_and_claims_of_another_profile_are_left_out_and_named(small_figures):
    save_figure(small_figures, "fig8a", profile="paper")
    save_claims(small_figures, "03_fig8_cyclical_momentum",
                [("momentum decreasing gives the lowest loss", "0.345", "0.96", "contradicted")])
    page = page_of(small_figures)
    assert 'id="fig8a"' not in page and "fig8a curve A" not in page
    assert re.search(r"fig8a \([^)]*fig8a\.json is from profile 'paper'\)", html.unescape(page))
    assert "momentum decreasing" not in page
    assert "03_fig8_cyclical_momentum_claims.csv" in page  # named as left out
    assert re.search(r"fig15b \(no [^)]*fig15b\.json\)", page)  # a figure never made is named


def test_claims_of_a_notebook_with_no_figures_are_shown_with_a_caution_unless_they_say_whose(
        small_figures):
    save_claims(small_figures, "05_disciplined_recipe",
                [("the recipe ties", "-", "0.796", "inconclusive")])
    page = page_of(small_figures)
    assert "the recipe ties" in page and "This table records no profile" in page
    pd.DataFrame([("the recipe ties", "inconclusive", "paper")],
                 columns=["claim", "verdict", "profile"]).to_csv(
        small_figures / "05_disciplined_recipe_claims.csv", index=False)
    assert "the recipe ties" not in page_of(small_figures)


def test_a_figure_without_an_image_is_still_listed_and_says_so(tmp_path):
    save_figure(tmp_path / "figures", "fig1a", image=False)
    page = page_of(tmp_path / "figures")
    assert 'id="fig1a"' in page and "No image: neither fig1a.svg nor fig1a.png" in page


def test_an_svg_is_embedded_in_preference_to_the_png(small_figures):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'
    (small_figures / "fig1a.svg").write_bytes(svg)
    page = page_of(small_figures)
    assert "data:image/svg+xml;base64," + base64.b64encode(svg).decode() in page
    assert page.count(base64.b64encode(PNG).decode()) == 1  # fig5a's only


def test_the_page_is_the_same_file_each_time_and_readable_by_others(small_figures, tmp_path):
    out = tmp_path / "out" / "index.html"
    first = page_of(small_figures, out=out)
    assert page_of(small_figures, out=out) == first  # no random ids or timestamps
    assert out.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in out.parent.iterdir()] == ["index.html"]  # no temporary file left
    assert first.startswith("<!DOCTYPE html>") and first.count("<style>") == 1  # CSS in <head>
    assert first.index("</head>") > first.index("#T_claims_01_lr_range_test")


# --- errors -------------------------------------------------------------------------------------

def test_a_missing_folder_names_the_make_command_that_fills_it(tmp_path):
    with pytest.raises(DataError, match=r"no folder .*run make figures PROFILE=paper first"):
        report.write_report("paper", tmp_path / "nowhere", tmp_path / "index.html")


def test_a_folder_without_this_profiles_figures_says_whose_it_holds(small_figures, tmp_path):
    with pytest.raises(DataError, match=r"no figures of profile 'paper' in .*only figures of "
                                        r"profile 'small'.*make figures PROFILE=paper first"):
        report.write_report("paper", small_figures, tmp_path / "index.html")


def test_an_unknown_profile_a_corrupt_json_and_a_non_html_name_are_refused(small_figures,
                                                                           tmp_path):
    with pytest.raises(ConfigError, match="profile 'big' is unknown"):
        report.write_report("big", small_figures, tmp_path / "index.html")
    with pytest.raises(ConfigError, match="ending in .html"):
        report.write_report("small", small_figures, tmp_path / "index.txt")
    (small_figures / "fig5b.json").write_text("{not json")
    with pytest.raises(DataError, match=r"fig5b\.json is not valid JSON"):
        report.write_report("small", small_figures, tmp_path / "index.html")


def test_a_claims_csv_with_an_unknown_verdict_is_named_in_the_error(small_figures, tmp_path):
    save_claims(small_figures, "01_lr_range_test", [("c", "p", "o", "probably")])
    with pytest.raises(DataError, match=r"01_lr_range_test_claims\.csv: unknown verdict "
                                        r"'probably' in claim 1"):
        report.write_report("small", small_figures, tmp_path / "index.html")


# --- the claims table ---------------------------------------------------------------------------

def cell_backgrounds(styler) -> dict[str, str]:
    """Cell id -> background-color, from the Styler's <style> block."""
    css = re.search(r"<style[^>]*>(.*?)</style>", styler.to_html(), re.S).group(1)
    colours = {}
    for selectors, props in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        match = re.search(r"background-color:\s*([^;]+);", props)
        for selector in selectors.split(","):
            if match and re.fullmatch(r"\s*#T_\w+_row\d+_col\d+\s*", selector):
                colours[selector.strip().lstrip("#")] = match.group(1).strip()
    return colours


def test_each_verdict_gets_its_own_colour_and_keeps_its_word():
    table = pd.DataFrame({"claim": [f"claim {i}" for i in range(4)], "paper": "p", "ours": "o",
                          "verdict": list(VERDICTS)})
    styler = report.styled_claims(table, uuid="t")
    colours = cell_backgrounds(styler)
    verdict_col = list(styler.data.columns).index("verdict")
    shown = [colours[f"T_t_row{i}_col{verdict_col}"] for i in range(4)]
    assert shown == [report.VERDICT_STYLE[v][1] for v in VERDICTS]
    assert len(set(shown)) == 4
    markup = styler.to_html()
    for verdict in VERDICTS:  # readable without colour: the word is in the cell
        assert f"\u00a0{verdict}</td>" in markup


def test_the_styled_table_keeps_every_row_and_column_and_hides_the_index():
    table = pd.DataFrame({"claim": ["a", "b", "c"], "paper": ["1", "2", "3"],
                          "ours": ["x; y", "z", None], "verdict": ["reproduced"] * 3,
                          "rule": ["r1", "r2", "r3"]})
    markup = report.styled_claims(table).to_html()
    assert len(re.findall(r"<tr>", markup.split("<tbody>")[1])) == 3
    for header in ("claim", "paper", "ours (evidence)", "verdict", "rule"):
        assert f">{header}</th>" in markup
    for text in ("a", "b", "c", "r1", "r2", "r3", "x;<br>y"):
        assert f">{text}</td>" in markup
    assert "row_heading" not in markup
    assert ">None</td>" not in markup and ">nan</td>" not in markup  # an empty cell stays empty


def test_the_legend_explains_every_verdict_and_can_be_left_out():
    table = pd.DataFrame({"claim": ["a"], "verdict": ["inconclusive"]})
    with_legend = report.styled_claims(table).to_html()
    assert all(report.VERDICT_MEANING[v] in with_legend for v in VERDICTS)
    assert "<caption>" not in report.styled_claims(table, legend=False).to_html()


def test_styled_claims_refuses_what_is_not_a_claims_table():
    with pytest.raises(ConfigError, match="takes the claims DataFrame"):
        report.styled_claims([{"claim": "a", "verdict": "reproduced"}])
    with pytest.raises(DataError, match="no 'verdict' column"):
        report.styled_claims(pd.DataFrame({"claim": ["a"], "ours": ["b"]}))
    with pytest.raises(DataError, match="unknown verdict 'yes' in claim 2"):
        report.styled_claims(pd.DataFrame({"claim": ["a", "b"],
                                           "verdict": ["reproduced", "yes"]}))


def test_the_palette_and_profiles_match_the_claims_and_profiles_modules():
    # report.py keeps its own copies so that --help imports nothing heavy
    assert tuple(report.VERDICT_STYLE) == VERDICTS and tuple(report.VERDICT_MEANING) == VERDICTS
    assert report.PROFILE_NAMES == PROFILES


# --- command line -------------------------------------------------------------------------------

def test_the_command_writes_the_page_and_answers_bad_input_in_one_line(small_figures, tmp_path,
                                                                       capsys):
    out = tmp_path / "page.html"
    assert report.main(["--profile", "small", "--figures-dir", str(small_figures),
                        "--out", str(out)]) == 0
    assert 'id="fig1a"' in out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert report.main(["--profile", "paper", "--figures-dir", str(small_figures),
                        "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "make figures PROFILE=paper" in err
    assert report.main(["--profile", "huge"]) == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_the_defaults_follow_the_notebooks_folders():
    assert report.default_figures_dir("smoke").parts[-2:] == ("figures", "smoke")
    assert report.default_figures_dir("paper").name == "figures"
    assert report.default_out("paper").parts[-3:] == ("reports", "paper", "index.html")


def test_importing_the_module_loads_no_pandas_so_help_is_quick():
    code = "import sys, paperlib.paper.report; print('pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_an_exploratory_verdict_takes_its_verdicts_colour_and_keeps_its_words():
    table = pd.DataFrame([{"claim": "a", "verdict": "reproduced (exploratory)", "paper": "x",
                           "ours": "y"},
                          {"claim": "b", "verdict": "inconclusive", "paper": "x", "ours": "y"}])
    page = report.styled_claims(table).to_html()
    assert "reproduced (exploratory)" in page
    assert report.VERDICT_STYLE["reproduced"][1] in page  # the reproduced tint
    with pytest.raises(DataError, match="unknown verdict 'proven'"):
        report.styled_claims(table.assign(verdict="proven")).to_html()
