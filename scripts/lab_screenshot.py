"""Notebook 03 in JupyterLab, driven by headless Chromium as a person would drive it: open the
notebook, set `profile = "small"` in its parameters cell, Run All Cells, and photograph the
figure's progress bar while the runs train. Writes docs/progress-bar.png and prints what the bar
said at two moments, so that one can see it move.

Why a script and not a test: it needs a browser (Debian's `chromium` and `chromium-driver`) and
Selenium, which the project does not otherwise need; it is how the README's screenshot was made,
and how to check the bar by eye after changing it.

    apt-get install -y chromium chromium-driver && .venv/bin/pip install selenium
    .venv/bin/python scripts/lab_screenshot.py [--out docs/progress-bar.png]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "03_fig8_cyclical_momentum.ipynb"
WORK = ROOT / "build" / "lab"  # git-ignored; under the project, so the notebook finds paperlib/


def _copy_with_small_profile() -> Path:
    """Notebook 03 with profile "small" and its outputs kept under build/lab (a person edits
    the parameters cell the same way)."""
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            text = "".join(cell["source"])
            text = text.replace('profile: str = "smoke"', 'profile: str = "small"')
            text = text.replace('figures_dir: str = ""', f'figures_dir: str = "{WORK}/figures"')
            text = text.replace('run_dir: str = "runs"', f'run_dir: str = "{WORK}/runs"')
            cell["source"] = text.splitlines(keepends=True)
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(WORK / "runs", ignore_errors=True)
    path = WORK / NOTEBOOK.name
    path.write_text(json.dumps(nb, indent=1))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "progress-bar.png")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args(argv)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError:
        print("needs Selenium: .venv/bin/pip install selenium", file=sys.stderr)
        return 2
    if not Path("/usr/bin/chromium").exists():
        print("needs Chromium: apt-get install -y chromium chromium-driver", file=sys.stderr)
        return 2
    notebook = _copy_with_small_profile()
    port, token = _free_port(), "paperlib-screenshot"
    env = {**os.environ, "PAPERLIB_PROGRESS": "", "CI": ""}  # as a person's JupyterLab has it
    lab = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser",
                            f"--port={port}", f"--IdentityProvider.token={token}",
                            "--allow-root", f"--ServerApp.root_dir={ROOT}"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                 f"--user-data-dir={WORK / 'chromium'}"):
        options.add_argument(flag)
    driver = None
    try:
        time.sleep(6)  # the server starts
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        relative = notebook.relative_to(ROOT)
        driver.get(f"http://127.0.0.1:{port}/lab/tree/{relative}?token={token}")
        deadline = time.monotonic() + 120
        while not driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"):
            assert time.monotonic() < deadline, "JupyterLab never showed the notebook"
            time.sleep(0.5)
        time.sleep(5)  # the kernel starts
        driver.find_element(By.XPATH, "//li[contains(@class,'lm-MenuBar-item')]"
                                      "[.//div[text()='Run']]").click()
        time.sleep(1)
        driver.find_element(By.XPATH, "//li[contains(@class,'lm-Menu-item')]"
                                      "[.//div[text()='Run All Cells']]").click()
        for no in driver.find_elements(By.XPATH, "//button[.//*[text()='No'] or text()='No']"):
            no.click()  # JupyterLab's question about news, over the notebook's corner
        deadline = time.monotonic() + args.timeout
        seen, first = [], None
        while True:
            assert time.monotonic() < deadline, "no progress bar appeared while the runs trained"
            bars = driver.find_elements(By.CSS_SELECTOR, ".widget-hprogress")
            status = driver.find_elements(By.CSS_SELECTOR, ".widget-hbox .widget-html")
            text = status[0].text if bars and status else ""
            if text and (not seen or text != seen[-1]):
                seen.append(text)
                first = first or time.monotonic()
            # a moment a third of the way into the figure: the bar has visibly moved
            if seen and (" 2/" in text or (first and time.monotonic() - first > 60)):
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", bars[0])
                time.sleep(0.5)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(args.out))
                seen.append(driver.find_elements(
                    By.CSS_SELECTOR, ".widget-hbox .widget-html")[0].text)
                break
            time.sleep(1)
        seen = [seen[0], seen[-1]]
        for moment, text in enumerate(seen):
            print(f"bar, moment {moment + 1}: {text}")
        print(f"wrote {args.out}")
        return 0
    finally:
        if driver is not None:
            driver.quit()
        lab.terminate()
        lab.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
