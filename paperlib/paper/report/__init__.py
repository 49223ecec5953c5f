"""One HTML page per profile that a reader can open without Python: every figure, its settings,
where it came from, and the verdicts on the paper's claims.

The notebooks are where the work happens, but an executed notebook is long, needs Jupyter to read
and mixes code with results. This page is built only from what the notebooks saved
(`figures/<fig>.{svg,png,json}` and `figures/<notebook>_claims.csv`); nothing is rerun, so it can
be rebuilt in a second and always shows exactly the saved results. Images are embedded, so the
page stays whole when it is mailed or moved.

The small and paper profiles share figures/, so a figure is shown only if its JSON says this
profile made it, and the page names every figure it leaves out and why. A notebook's claims CSV
records no profile; it is shown when that notebook's figures are this profile's.

This module decides what is on the page and in which order, and is the command; the rest is in
the modules it imports, each readable alone:

- `inputs`: finding and reading the saved files (and which notebook drew which figure);
- `sections`: the header, each figure's block, the CSS and the document as HTML;
- `styled`: the claims table (`styled_claims`), also what the notebooks display, so that
  JupyterLab and the page show the same table.

Their public names are re-exported here, so `from paperlib.paper.report import styled_claims`
keeps working.

    python -m paperlib.paper.report --profile small   # -> reports/small/index.html

Heavy imports (pandas) happen inside the functions, so that `--help` answers at once.
"""
from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

from ...errors import ConfigError, DataError, PaperlibError
from .styled import (CLAIM_COLUMNS, CLAIM_HEADERS, CLAIM_WIDTHS, VERDICT_MEANING,
                            VERDICT_STYLE, base_verdict, styled_claims, verdict_legend)
from .inputs import (NOTEBOOKS, default_figures_dir, default_out, load_claims,
                            load_figures, notebook_figures, project_root, shown)
from .sections import (CSS, FIGURE_TITLES, IMAGE_TYPES, RUN_COLUMNS, TITLE, document,
                              figure_section, page_header, split_style)

__all__ = [
    "write_report", "render_page", "main", "PROFILE_NAMES",
    "styled_claims", "verdict_legend", "VERDICT_STYLE", "VERDICT_MEANING", "CLAIM_COLUMNS",
    "CLAIM_HEADERS", "CLAIM_WIDTHS",
    "NOTEBOOKS", "project_root", "default_figures_dir", "default_out", "load_figures",
    "load_claims", "notebook_figures",
    "FIGURE_TITLES", "RUN_COLUMNS", "IMAGE_TYPES", "TITLE", "CSS",
]

PROFILE_NAMES = ("smoke", "small", "paper")  # profiles.PROFILES; checked equal in the tests


# --- the page -----------------------------------------------------------------------------------

def write_report(profile: str, figures_dir: str | Path | None = None,
                 out: str | Path | None = None) -> Path:
    """Write the page of `profile`'s saved results to `out` (default reports/<profile>/index.html)
    from `figures_dir` (default: figures/smoke for smoke, else figures/), atomically; returns
    its path."""
    from ... import io
    if profile not in PROFILE_NAMES:
        raise ConfigError(f"profile {profile!r} is unknown; choose one of "
                          f"{', '.join(PROFILE_NAMES)}")
    figures_dir = Path(figures_dir) if figures_dir else default_figures_dir(profile)
    out = Path(out) if out else default_out(profile)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"the report is an HTML page: give --out a name ending in .html, "
                          f"not {str(out)!r}")
    make = f"make figures PROFILE={profile}"
    if not figures_dir.is_dir():
        raise DataError(f"no folder {shown(figures_dir)}: run {make} first (or give the "
                        f"figures folder with --figures-dir)")
    records = load_figures(figures_dir)
    mine = {name: r for name, r in records.items() if r.get("profile") == profile}
    if not mine:
        others = sorted({str(r.get("profile")) for r in records.values()})
        held = (f" (only figures of profile {', '.join(map(repr, others))})" if others
                else "")
        raise DataError(f"no figures of profile {profile!r} in {shown(figures_dir)}{held}: "
                        f"run {make} first")
    claims = load_claims(figures_dir)
    page = render_page(profile, figures_dir, out, records, claims)
    io.write_text(out, page)
    # The temporary file it was renamed from was private (0600); a page is for others to read.
    out.chmod(0o644)
    return out


def render_page(profile: str, figures_dir: Path, out: Path, records: dict[str, dict],
                claims: dict) -> str:
    """The whole page as one HTML string; see write_report."""
    from ..profiles import FIGURES
    mine = {name: r for name, r in records.items() if r.get("profile") == profile}
    order = [f for f in FIGURES if f in mine] + sorted(set(mine) - set(FIGURES))

    left_out = []
    for name in FIGURES:
        if name in records and name not in mine:
            left_out.append(f"{name} ({shown(figures_dir / (name + '.json'))} is from profile "
                            f"{records[name].get('profile')!r})")
        elif name not in records:
            left_out.append(f"{name} (no {shown(figures_dir / (name + '.json'))})")
    for name in sorted(set(records) - set(FIGURES) - set(mine)):
        left_out.append(f"{name} (profile {records[name].get('profile')!r})")

    # Sections: one per notebook (its figures, then its claims), then figures no notebook claims.
    sections, placed, skipped_claims = [], set(), []
    names = list(NOTEBOOKS) + sorted(set(claims) - set(NOTEBOOKS))
    for notebook in names:
        figures = [f for f in notebook_figures(notebook, set(records)) if f in mine]
        placed.update(figures)
        table, own = claims.get(notebook), None
        if table is not None:
            if "profile" in table:  # a table that says which profile made it is believed
                own = set(table["profile"]) == {profile}
            elif figures or notebook_figures(notebook, set(records)):
                own = bool(figures)
            if own is False:
                skipped_claims.append(notebook)
                table = None
        if figures or table is not None:
            sections.append((notebook, figures, table, own))
    rest = [f for f in order if f not in placed]
    if rest:
        sections.append(("", rest, None, None))

    tables = [t for _, _, t, _ in sections if t is not None]
    counts = {v: sum(int((t["verdict"].map(base_verdict) == v).sum()) for t in tables
                     if "verdict" in t) for v in VERDICT_STYLE}
    css_blocks, body = [], []
    body.append(page_header(profile, figures_dir, [mine[f] for f in order], counts, left_out,
                            skipped_claims, sections))
    for notebook, figures, table, own in sections:
        title = NOTEBOOKS.get(notebook, (notebook.replace("_", " "), ()))[0] if notebook else \
            "Other figures"
        anchor = notebook or "other-figures"
        body.append(f'<section id="{html.escape(anchor)}">\n<h2>{html.escape(title)}</h2>')
        if notebook:
            body.append(f'<p class="meta">notebook <code>notebooks/{html.escape(notebook)}.ipynb'
                        f'</code></p>')
        for name in figures:
            body.append(figure_section(name, mine[name], figures_dir, out))
        if table is not None:
            body.append("<h3>Claims and verdicts</h3>")
            if own is None:
                body.append('<p class="warn">This table records no profile and its notebook '
                            'draws no figure here: it may come from another profile.</p>')
            try:
                uuid = "claims_" + re.sub(r"\W", "_", notebook)  # a CSS id takes no "-" or "."
                styler = styled_claims(table, legend=False, uuid=uuid)
            except DataError as e:
                csv = figures_dir / f"{notebook}_claims.csv"
                raise DataError(f"{shown(csv)}: {e}") from None
            css, tag = split_style(styler.to_html())
            css_blocks.append(css)
            body.append(tag)
        body.append("</section>")
    return document(profile, "\n".join(css_blocks), "\n".join(body))


# --- command line -------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, as every paperlib command answers bad input
        raise ConfigError(f"{message} (see '{self.prog} --help')")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m paperlib.paper.report",
        description="Write one HTML page of a profile's saved figures, settings, provenance and "
                    "claims (reports/<profile>/index.html), from the files the notebooks saved; "
                    "nothing is rerun.")
    parser.add_argument("--profile", default="small", choices=PROFILE_NAMES,
                        help="whose figures to show (default: small)")
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="where the figures are (default: figures/smoke for smoke, else "
                             "figures/, in the project)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the page to write (default: reports/<profile>/index.html)")
    try:
        args = parser.parse_args(argv)
        path = write_report(args.profile, args.figures_dir, args.out)
    except PaperlibError as e:
        print(f"paperlib: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {shown(path)}")
    return 0
