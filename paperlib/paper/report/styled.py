"""The claims table as a reader sees it: each claim beside its verdict, coloured and with a
symbol, then the paper's numbers and our evidence, and a legend of what each verdict means.

It is its own module because two places show the table and must show the same thing: the
notebooks display `styled_claims` in JupyterLab, and the report page embeds it. The verdicts'
rules are in paperlib.paper.claims; only their colours and one-line meanings are here, so that
importing this module (and the report's `--help`) needs no pandas.
"""
from __future__ import annotations

import hashlib
import html

from ...errors import ConfigError, DataError

# Okabe & Ito's colour-blind-safe palette: blue and vermillion stay apart under every common
# colour-vision deficiency, yellow is far lighter than both, and grey carries no hue at all. Cells
# get a pale tint of the colour (dark text stays readable) and a bar in the full colour; the
# symbol and the word itself carry the verdict where colour does not (print, screen readers).
VERDICT_STYLE = {
    "reproduced": ("#0072B2", "#d4e6f3", "\u2713"),
    "contradicted": ("#D55E00", "#f7d9c6", "\u2717"),
    "inconclusive": ("#E6C700", "#fbf5cc", "?"),
    "not testable at this scale": ("#8c8c8c", "#e9e9e9", "\u2013"),
}
# The rules are paperlib.paper.claims'; these are their one-line forms for the legend.
VERDICT_MEANING = {
    "reproduced": "the claimed direction holds by more than the noise",
    "contradicted": "the opposite holds by more than the noise",
    "inconclusive": "the difference is within the noise",
    "not testable at this scale": "these runs cannot show the effect (too short, truncated, "
                                  "another network, or a stand-in dataset)",
}
# Claims tables put the claim and its verdict side by side, then the evidence, the effect beside
# Smith's value, the power at the runs used, the plan lock's word on the runs and Holm's column;
# any further columns follow in their own order. The bookkeeping columns (the claim's key, runs
# per curve, raw and adjusted p, Smith inside the interval) stay in the CSV, not on the page.
CLAIM_COLUMNS = ("claim", "verdict", "paper", "ours", "effect", "power", "runs", "holm",
                 "shares_runs_with")
CLAIM_HEADERS = {"ours": "ours (evidence)", "effect": "effect (95% interval; Smith's value)",
                 "power": "power at these runs", "runs": "runs against the plan lock",
                 "holm": "after Holm", "shares_runs_with": "shares runs with"}
HIDDEN_COLUMNS = ("key", "n", "smith_inside", "p", "p_holm", "images")
CLAIM_WIDTHS = {"claim": "27%", "verdict": "9.5em", "paper": "17%"}


def styled_claims(table, *, legend: bool = True, uuid: str | None = None):
    """The claims table as a pandas Styler: claim, verdict (coloured, with a symbol), the paper's
    numbers, our evidence (one item per line), then any further columns; left-aligned, wrapped,
    no index. `legend` adds a caption saying what each verdict means. The table's HTML id comes
    from its content unless `uuid` is given, so that a re-executed notebook with the same results
    has the same output."""
    import pandas as pd
    if not isinstance(table, pd.DataFrame):
        raise ConfigError(f"styled_claims takes the claims DataFrame (claims.claims_table), "
                          f"not {type(table).__name__}")
    missing = [c for c in ("claim", "verdict") if c not in table.columns]
    if missing:
        raise DataError(f"the claims table has no {missing[0]!r} column (it has: "
                        f"{', '.join(map(str, table.columns)) or 'none'}); build it with "
                        f"claims.claims_table")
    frame = table.reset_index(drop=True).astype(object).where(table.notna().to_numpy(), "")
    frame = frame.astype(str)
    for i, verdict in enumerate(frame["verdict"]):
        if base_verdict(verdict) not in VERDICT_STYLE:
            raise DataError(f"unknown verdict {verdict!r} in claim {i + 1}; a verdict is one of: "
                            f"{', '.join(VERDICT_STYLE)}")
    order = [c for c in CLAIM_COLUMNS if c in frame] + [
        c for c in frame if c not in CLAIM_COLUMNS and c not in HIDDEN_COLUMNS]
    frame = frame[order]

    styler = frame.style
    styler.set_uuid(uuid or "claims_" + hashlib.sha1(frame.to_csv().encode()).hexdigest()[:10])
    styler.hide(axis="index")
    # Claims quote inequalities ("0.345 < 0.36"): every cell is escaped here, by us, because
    # pandas escapes after a formatter runs and would escape the <br> between evidence items.
    for column in frame.columns:
        styler.format(_CELL_FORMATS.get(column, html.escape), subset=[column], escape=None)
    styler.relabel_index([html.escape(str(CLAIM_HEADERS.get(c, c))) for c in frame.columns],
                         axis="columns")
    styler.map(_verdict_css, subset=["verdict"])
    styler.apply(lambda col: [f"border-left: 5px solid {VERDICT_STYLE[base_verdict(v)][0]}"
                              for v in frame["verdict"]], subset=["claim"], axis=0)

    # The verdict column is as wide as its longest word, so that "contradicted" never breaks;
    # the evidence and any further columns share what the claim and the paper leave.
    widths = [{"selector": f"th.col{i}", "props": f"width: {CLAIM_WIDTHS[c]};"}
              for i, c in enumerate(frame.columns) if c in CLAIM_WIDTHS]
    styler.set_table_styles([
        {"selector": "", "props": "border-collapse: collapse; width: 100%; table-layout: fixed;"
                                  " font-size: 0.92em; margin: 0.4em 0 1em 0;"},
        {"selector": "th", "props": "text-align: left; vertical-align: bottom; font-weight: 600;"
                                    " padding: 6px 8px; border-bottom: 2px solid #555;"},
        {"selector": "td", "props": "text-align: left; vertical-align: top; padding: 6px 8px;"
                                    " border-bottom: 1px solid #ccc; white-space: normal;"
                                    " overflow-wrap: anywhere; line-height: 1.35;"},
        {"selector": "caption", "props": "caption-side: top; text-align: left;"
                                         " padding: 0 0 6px 0; font-size: 0.95em;"},
        *widths])
    if legend:
        styler.set_caption(verdict_legend())
    return styler


def base_verdict(verdict: str) -> str:
    """The verdict a table's cell names: "reproduced (exploratory)" is a reproduced one, read
    off runs the plan lock does not stand behind, and takes its colour."""
    return str(verdict).split(" (")[0]


def _verdict_css(verdict: str) -> str:
    return (f"background-color: {VERDICT_STYLE[base_verdict(verdict)][1]}; color: #111; "
            f"font-weight: 600; overflow-wrap: normal;")


# The evidence lists its comparisons with "; ": one per line is quicker to read.
_CELL_FORMATS = {
    "verdict": lambda v: f"{VERDICT_STYLE[base_verdict(v)][2]}\u00a0{html.escape(v)}",
    "ours": lambda s: ";<br>".join(html.escape(part) for part in s.split("; ")),
}


def verdict_legend() -> str:
    """The four verdicts as coloured chips, each with its meaning (HTML)."""
    chips = []
    for verdict, meaning in VERDICT_MEANING.items():
        strong, tint, symbol = VERDICT_STYLE[verdict]
        chips.append(f'<span style="display: inline-block; margin: 2px 14px 2px 0;">'
                     f'<span style="background-color: {tint}; color: #111; font-weight: 600; '
                     f'border-left: 5px solid {strong}; padding: 1px 6px;">{symbol}\u00a0'
                     f'{html.escape(verdict)}</span> {html.escape(meaning)}</span>')
    return "".join(chips)
