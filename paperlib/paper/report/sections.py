"""The parts of the report page: its header (what, where and when the results came from),
one block per figure (image, settings, provenance, runs), the HTML tables, the page's CSS and
the document around it all.

They are apart from report.py, which decides what goes on the page and in which order, because
they only turn one saved record into markup: each can be read, and its output checked, without
the rules for which figures and claims a profile's page shows.
"""
from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path

from .styled import verdict_legend
from .inputs import NOTEBOOKS, shown

FIGURE_TITLES = {
    "fig1a": "Fig 1a: the learning-rate range test",
    "fig5a": "Fig 5a: one cycle against a constant lr run 8\u00d7 longer",
    "fig5b": "Fig 5b: the same cycle at four weight decays",
    "fig8a": "Fig 8a: constant momentum against the two cyclical forms",
    "fig8b": "Fig 8b: total batch size at a fixed budget",
    "fig15a": "Fig 15a: range tests at three weight decays",
    "fig15b": "Fig 15b: total batch size",
}
# The per-run summary columns worth a reader's time, in this order (others stay in the JSON).
RUN_COLUMNS = ("curve", "seed", "replicate", "batch_size", "init", "status", "steps_done",
               "steps", "diverged_at", "best_test_accuracy", "final_test_accuracy",
               "final_test_loss", "wall_s")
IMAGE_TYPES = (("svg", "image/svg+xml"), ("png", "image/png"))  # first found is embedded
TITLE = ("L. N. Smith, \u201cA disciplined approach to neural network hyper-parameters: "
         "Part 1\u201d (arXiv 1803.09820)")


def page_header(profile, figures_dir, records, counts, left_out, skipped_claims, sections) -> str:
    """The page's <header>: the facts every figure shares (profile, data set, device, commit,
    dates, software), the verdict counts and legend, what was left out, and the contents."""
    from ..profiles import PROFILE_SETTINGS
    prov = [r.get("provenance") or {} for r in records]
    settings = [r.get("settings") or {} for r in records]
    datasets = _unique(s.get("dataset") for s in settings)
    roles = _unique(r.get("dataset_role") for r in records)
    roles = [(role, [str(r.get("figure")) for r in records if r.get("dataset_role") == role])
             for role in roles]
    devices = _unique(p.get("device") for p in prov)
    commits = _unique(p.get("git_commit") for p in prov)
    dirty = any(p.get("git_dirty") for p in prov)
    dates = sorted(d for d in (p.get("created_utc") for p in prov) if d)
    packages = _unique(", ".join(f"{k} {v}" for k, v in sorted((p.get("packages") or {}).items())
                                 if v) for p in prov)
    pythons = _unique(p.get("python") for p in prov)

    code = ", ".join(f"<code>{html.escape(c[:12])}</code>" + (
        " (" + ", ".join(html.escape(str(r.get("figure"))) for r, p in zip(records, prov)
                         if p.get("git_commit") == c) + ")" if len(commits) > 1 else "")
        for c in commits) or "not recorded"
    if dirty:
        code += (' <span class="warn">with uncommitted changes (git_dirty): the commit alone '
                 'may not reproduce these results</span>')
    rows = [("Profile", f"<b>{html.escape(profile)}</b>: "
                        f"{html.escape(PROFILE_SETTINGS[profile].purpose)}"),
            ("Dataset", html.escape("; ".join(datasets) or "not recorded")
             + "".join(f' <span class="warn">({html.escape(", ".join(figs))}: '
                       f'{html.escape(role)})</span>' for role, figs in roles)),
            ("Device", html.escape("; ".join(devices) or "not recorded")),
            ("Code", code),
            ("Results dated", html.escape(f"{_date(dates[0])} to {_date(dates[-1])}"
                                          if dates else "not recorded")),
            ("Software", html.escape("; ".join(f"Python {p}" for p in pythons)
                                     + (" \u00b7 " if pythons and packages else "")
                                     + " | ".join(packages))),
            ("Source", f"<code>{html.escape(shown(figures_dir))}</code>: the saved CSV, JSON "
                       f"and image files; nothing on this page was rerun")]
    summary = ", ".join(f"{n} {html.escape(v)}" for v, n in counts.items() if n)
    parts = [f"<header>\n<h1>Replication of {html.escape(TITLE)}</h1>",
             "<p>This project replicates the figures of Smith's paper with scaled-down runs "
             "and checks each of the paper's claims against them with a stated noise model. "
             f"This page collects what the notebooks saved for the <b>{html.escape(profile)}"
             "</b> profile. In the settings tables, a value in parentheses is the paper's.</p>",
             '<table class="facts">' + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>"
                                               for k, v in rows) + "</table>",
             f'<p class="legend"><b>Verdicts</b> ({summary or "no claims tables"}): '
             f"{verdict_legend()}</p>"]
    if left_out:
        parts.append('<p class="missing"><b>Not on this page:</b> '
                     + "; ".join(html.escape(m) for m in left_out) + ".</p>")
    if skipped_claims:
        parts.append('<p class="missing"><b>Claims left out</b> (their notebook\'s figures are '
                     "another profile's): " + ", ".join(
                         f"<code>{html.escape(n)}_claims.csv</code>" for n in skipped_claims)
                     + ".</p>")
    toc = "".join(f'<li><a href="#{html.escape(n or "other-figures")}">'
                  f'{html.escape(NOTEBOOKS.get(n, (n or "Other figures",))[0])}</a></li>'
                  for n, _, _, _ in sections)
    parts.append(f'<nav><ol>{toc}</ol></nav>\n</header>')
    return "\n".join(parts)


def figure_section(name: str, record: dict, figures_dir: Path, out: Path) -> str:
    """One figure's <figure>: its embedded image, a line of provenance, its settings, a summary
    of each run and links (relative to `out`) to its saved files."""
    settings = record.get("settings") or {}
    prov = record.get("provenance") or {}
    title = FIGURE_TITLES.get(name, name)
    parts = [f'<figure id="{html.escape(name)}">', f"<h3>{html.escape(title)}</h3>"]
    if record.get("dataset_role"):
        parts.append(f'<p class="warn">{html.escape(record["dataset_role"])}</p>')
    image = _image(name, figures_dir)
    parts.append(image or f'<p class="missing">No image: neither {name}.svg nor {name}.png '
                          f'is in {html.escape(shown(figures_dir))}.</p>')

    runs = record.get("runs") or []
    statuses = {}
    for run in runs:
        statuses[run.get("status", "?")] = statuses.get(run.get("status", "?"), 0) + 1
    seeds = settings.get("seeds")
    commit = prov.get("git_commit")
    line = [f"seeds {', '.join(map(str, seeds))}" if seeds else None,
            f"{len(runs)} run{'s' * (len(runs) != 1)}: "
            + ", ".join(f"{n} {s}" for s, n in statuses.items()) if runs else None,
            prov.get("device"),
            f"commit {commit[:12]}{' (uncommitted changes)' if prov.get('git_dirty') else ''}"
            if commit else "commit not recorded",
            _date(prov["created_utc"]) if prov.get("created_utc") else None,
            f"wall time {_duration(record['wall_s'])}" if record.get("wall_s") else None]
    parts.append('<figcaption class="meta">' + " \u00b7 ".join(
        f'<span class="nowrap">{html.escape(x)}</span>' for x in line if x) + "</figcaption>")

    scalars = {k: v for k, v in settings.items() if k not in ("runs", "seeds")
               and not isinstance(v, (list, dict))}
    if scalars:
        parts.append('<p class="settings-line">' + " \u00b7 ".join(
            f"{html.escape(k.replace('_', ' '))}: <b>{html.escape(_text(v))}</b>"
            for k, v in scalars.items()) + "</p>")
    if settings.get("runs"):
        parts.append('<div class="scroll">' + _html_table(settings["runs"], "settings") + "</div>")
    if runs:
        rows = [{c: r.get(c) for c in RUN_COLUMNS if any(c in x for x in runs)} for r in runs]
        parts.append(f"<details><summary>Summary of each run ({len(runs)})</summary>"
                     f'<div class="scroll">{_html_table(rows, "runs")}</div></details>')
    files = [f'<a href="{html.escape(_relative(figures_dir / f"{name}.{ext}", out))}">{ext}</a>'
             for ext in ("pdf", "svg", "png", "csv", "json")
             if (figures_dir / f"{name}.{ext}").exists()]
    if files:
        parts.append('<p class="meta">files: ' + " \u00b7 ".join(files) + "</p>")
    parts.append("</figure>")
    return "\n".join(parts)


def _image(name: str, figures_dir: Path) -> str | None:
    """The figure as an <img> with its bytes in a data: URI (an <img>, not inline SVG, so that
    the ids inside two matplotlib SVGs cannot clash)."""
    for ext, mime in IMAGE_TYPES:
        path = figures_dir / f"{name}.{ext}"
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            alt = html.escape(f"{FIGURE_TITLES.get(name, name)} ({name}.{ext})")
            return f'<img src="data:{mime};base64,{data}" alt="{alt}">'
    return None


def _html_table(rows: list[dict], css_class: str) -> str:
    """Rows of dicts as an escaped HTML table, the columns in the order they first appear."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(str(c).replace('_', ' '))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_text(row.get(c)))}</td>"
                                    for c in columns) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def split_style(styler_html: str) -> tuple[str, str]:
    """A Styler's HTML as (its CSS, its table), so that the CSS can go in the page's <head>."""
    match = re.match(r"\s*<style[^>]*>(.*?)</style>\s*", styler_html, flags=re.S)
    if not match:
        return "", styler_html
    return match.group(1).strip(), styler_html[match.end():]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)


def _unique(values) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values if v not in (None, "")))


def _date(stamp: str) -> str:
    """'2026-11-30T21:39:31+00:00' -> '2026-11-30 21:39 UTC'."""
    match = re.match(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)", stamp)
    return f"{match.group(1)} {match.group(2)} UTC" if match else stamp


def _duration(seconds: float) -> str:
    seconds = round(float(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s} s"
    return f"{minutes // 60} h {minutes % 60} min"


def _relative(path: Path, out: Path) -> str:
    return Path(os.path.relpath(path.resolve(), out.resolve().parent)).as_posix()


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a;
       max-width: 1150px; margin: 0 auto; padding: 1.5em 2em 4em; line-height: 1.45; }
h1 { font-size: 1.45em; margin-bottom: 0.3em; }
h2 { font-size: 1.25em; margin-top: 2.2em; padding-top: 0.6em; border-top: 3px solid #333; }
h3 { font-size: 1.05em; margin: 1.4em 0 0.4em; }
code { font-size: 0.92em; }
table.facts { border-collapse: collapse; margin: 0.8em 0; }
table.facts th { text-align: left; vertical-align: top; padding: 3px 14px 3px 0;
                 white-space: nowrap; font-weight: 600; }
table.facts td { text-align: left; padding: 3px 0; }
.warn { color: #8a3b00; font-weight: 600; }
.missing { background: #f3f3f3; border-left: 5px solid #8c8c8c; padding: 6px 10px; }
.nowrap { white-space: nowrap; }
.meta { color: #555; font-size: 0.9em; margin: 0.3em 0; }
.legend { line-height: 1.9; }
nav ol { margin: 0.4em 0; }
figure { margin: 1.2em 0 2em; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e2e2e2; }
figcaption { margin-top: 0.4em; }
.settings-line { font-size: 0.9em; margin: 0.4em 0; }
.scroll { overflow-x: auto; }
table.settings, table.runs { border-collapse: collapse; font-size: 0.85em; margin: 0.3em 0; }
table.settings th, table.runs th { text-align: left; border-bottom: 2px solid #555;
                                    padding: 3px 8px; vertical-align: bottom; }
table.settings td, table.runs td { text-align: left; border-bottom: 1px solid #ddd;
                                    padding: 3px 8px; vertical-align: top; }
details { margin: 0.4em 0; font-size: 0.95em; }
summary { cursor: pointer; color: #333; }
@media print { details { display: none; } h2 { break-before: page; } }
"""


def document(profile: str, claims_css: str, body: str) -> str:
    """The whole HTML document around `body`, with CSS and the claims tables' CSS in <head>."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>Smith (2018) replication: {html.escape(profile)} profile</title>\n"
            f"<style>{CSS}\n{claims_css}\n</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
