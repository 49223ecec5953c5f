"""recipe.json (the hand-off) and report.md (the lab notebook), written once the search is done.

Why separate: these two files are written last, so their presence means the search finished;
they are made only from the finished Recipe and its records, never from the search's state.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .. import io
from .figures import plot_final
from .records import Recipe, StepRecord, loss_text, summary_text, value_text


def recipe_json(recipe: Recipe, settings: dict, device: torch.device) -> dict:
    """recipe.json: the hand-off, how it was found, the search's settings and provenance."""
    from ..provenance import provenance
    return {**recipe.to_dict(), "settings": settings, "provenance": provenance(device)}


def write_report(out: Path, recipe: Recipe) -> None:
    """report.md, and final.png beside it when the recipe trained its final run."""
    lines = ["# Smith's recipe: lab notebook", "",
             f"Search budget {recipe.search_images} training images, used "
             f"{recipe.images_used} ({recipe.images_used / recipe.search_images:.0%}); "
             f"{sum(r.seconds for r in recipe.records):.1f} s. Every run trains a copy of the "
             "model from the same starting weights; a seed is a data order.", ""]
    for record in recipe.records:
        lines += _report_section(record)
    lines += ["## e. Hand-off", "", "```json",
              _json_text(recipe.handoff()), "```", "",
              f"Train with `one_cycle(\"smith\", {recipe.lr_min:.4g}, {recipe.lr_max:.4g}, "
              f"{recipe.step_size}, {recipe.steps}, mom_max={recipe.mom_max}, "
              f"mom_min={recipe.mom_min})`, weight decay {recipe.weight_decay:g}, batch "
              f"{recipe.batch_size}, {recipe.steps} steps.", ""]
    if recipe.final is not None:
        io.save_figure(plot_final(recipe.final.metrics), out / "final.png", dpi=110,
                       bbox_inches="tight")
        lines += [f"Final run (`final/`): {recipe.final.status} after {recipe.final.steps_done} "
                  f"steps, test accuracy {recipe.final.final_test_accuracy():.4f}.", "",
                  "![final run](final.png)", ""]
    io.write_text(out / "report.md", "\n".join(lines))


def _report_section(record: StepRecord) -> list[str]:
    name = record.name
    lines = [f"## {record.title}", "",
             f"- **Measured:** {_measured_text(record)}",
             f"- **Chosen:** {summary_text(record.chosen)}",
             f"- **Why:** {record.why}",
             f"- **Cost:** {record.images} training images, {record.eval_images} evaluated, "
             f"{record.seconds:.1f} s"]
    lines += [f"- **Note:** {note}" for note in record.notes]
    lines += ["", f"![{name}]({name}.png)", "",
              f"Data: [{name}.csv]({name}.csv), [{name}.json]({name}.json)", ""]
    return lines


def _measured_text(record: StepRecord) -> str:
    m = record.measured
    if record.name == "lr_range":
        per_seed = ", ".join(f"seed {r['seed']}: {value_text(r['lr_max'])} (valley "
                             f"{value_text(r['valley_lr'])}, {r['status']})" for r in m["seeds"])
        return (f"lr_max per seed {per_seed}; median {m['lr_max_median']:.3g}, spread "
                f"{m['lr_max_spread'][0]:.3g}-{m['lr_max_spread'][1]:.3g}")
    if record.name == "momentum":
        return "final test loss " + ", ".join(f"{k}: {loss_text(v)}"
                                              for k, v in m["final_test_loss"].items())
    if record.name == "weight_decay":
        ranges = ", ".join(
            f"{k}: {value_text(v['upper_half_test_loss']) if v['completed'] else 'diverged'}"
            for k, v in m["range_test"].items())
        snaps = ", ".join(f"{k}: {loss_text(v)}" for k, v in m["snapshot"].items())
        return (f"range tests, mean upper-half test loss {ranges}; snapshot continuations, "
                f"final test loss {snaps}; the two {'agree' if m['agree'] else 'disagree'}")
    check = m.get("check")
    if check is None:
        return f"search batch {m['search_batch']}; probe {m['probe'] or 'not run'}"
    return (f"lr_max scaled to {m['lr_max_scaled']:.3g}; the check range test read "
            f"{value_text(check['lr_max'])}; probe {m['probe'] or 'not run'}")


def _json_text(obj) -> str:
    import json
    return json.dumps(obj, indent=2, sort_keys=True, default=io._json_default)
