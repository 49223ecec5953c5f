"""Reading a finished recipe folder back (a notebook's tables and figures).

Why separate: a notebook shows a search from its files alone, never from the objects that made
them, so what is shown is what was saved. Nothing here trains or writes.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from .figures import draw, plot_final
from .records import RECIPE_FILES, summary_text


def load_step(out_dir: str | Path, name: str) -> dict:
    """A finished step's record (`<name>.json`): measured, chosen, why, cost, files."""
    if name not in RECIPE_FILES:
        raise ConfigError(f"step {name!r} is unknown; the steps are {', '.join(RECIPE_FILES)}")
    path = Path(out_dir) / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: run the recipe into {out_dir} first")
    return _read_json(path)


def plot_step(out_dir: str | Path, name: str):
    """A step's figure, drawn again from the CSV and JSON the recipe saved (the same figure as
    `<name>.png`); "final" draws the final run from final/metrics.csv."""
    out_dir = Path(out_dir)
    if name == "final":
        path = out_dir / "final" / "metrics.csv"
        if not path.is_file():
            raise ConfigError(f"{path} does not exist: run the recipe with train_final=True")
        return plot_final(pd.read_csv(path))
    step = load_step(out_dir, name)
    return draw(name, pd.read_csv(out_dir / f"{name}.csv"), step)


def step_table(out_dir: str | Path, name: str) -> pd.DataFrame:
    """A step's readings as a table, one row per run compared (seed, momentum, weight decay),
    with the value the step chose marked."""
    step = load_step(out_dir, name)
    m, chosen = step["measured"], step["chosen"]
    if name == "lr_range":
        return pd.DataFrame([{"seed": r["seed"], "lr_max (lowest test loss)": r["lr_max"],
                              "valley lr": r["valley_lr"], "status": r["status"],
                              "steps": r["steps_done"]} for r in m["seeds"]])
    if name == "momentum":
        return pd.DataFrame([{"momentum": float(k), "final test loss": v,
                              "chosen": float(k) == chosen["mom_max"]}
                             for k, v in m["final_test_loss"].items()])
    if name == "weight_decay":
        return pd.DataFrame([{"weight decay": float(k),
                              "range test: upper-half test loss": v["upper_half_test_loss"],
                              "range test completed": v["completed"],
                              "snapshot: final test loss": m["snapshot"].get(k),
                              "chosen": float(k) == chosen["weight_decay"]}
                             for k, v in m["range_test"].items()])
    check = m.get("check") or {}
    return pd.DataFrame([{"search batch": m["search_batch"], "batch size": chosen["batch_size"],
                          "lr_max scaled": m.get("lr_max_scaled"),
                          "check range test lr_max": check.get("lr_max"),
                          "lr_max kept": chosen["lr_max"],
                          "probe": "not run" if m["probe"] is None else m["probe"]}])


def describe_step(out_dir: str | Path, name: str) -> str:
    """What a step chose and why, and its notes, as lines of text."""
    step = load_step(out_dir, name)
    lines = [f"chosen: {summary_text(step['chosen'])}", f"why: {step['why']}"]
    return "\n".join(lines + [f"note: {note}" for note in step["notes"]])


def cost_table(out_dir: str | Path) -> pd.DataFrame:
    """What each finished step chose and cost: training images, evaluated images, seconds."""
    rows = []
    for name in RECIPE_FILES:
        if (Path(out_dir) / f"{name}.json").is_file():
            step = load_step(out_dir, name)
            cost = step["cost"]
            rows.append({"step": step["title"], "chosen": summary_text(step["chosen"]),
                         "training images": cost["images"],
                         "evaluated images": cost["eval_images"], "seconds": cost["seconds"]})
    return pd.DataFrame(rows)


def _read_json(path: Path) -> dict:
    import json
    return json.loads(path.read_text())
