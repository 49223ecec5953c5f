"""environment.yml (a conda environment, for users who prefer conda) from requirements.lock: the
same exact versions, so that `conda env create -f environment.yml` installs what `make setup`
installs. `make lock` runs it after refreshing the lock; tests/test_environment.py checks that
the two agree.

    python scripts/environment_yml.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = """\
# Conda environment for users: `conda env create -f environment.yml && conda activate paperlib`.
# Written by `make lock` (scripts/environment_yml.py) from requirements.lock: every package at
# the lock's exact version (the lock also holds their hashes; `make setup` checks them).
# The lock is resolved for Linux x86_64 and Python 3.11.
name: paperlib
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def main() -> int:
    from paperlib import io
    from paperlib.provenance import LOCK, locked_versions
    pins = locked_versions(LOCK)
    lines = [f"      - {name}=={version}" for name, version in sorted(pins.items())]
    io.write_text(ROOT / "environment.yml", HEADER + "\n".join(lines + ["      - -e ."]) + "\n")
    print(f"environment.yml: {len(pins)} packages pinned as in {LOCK.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
