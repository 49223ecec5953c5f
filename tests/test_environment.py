"""The environment: requirements.lock pins every package (with its hashes) at versions that
pyproject.toml admits, environment.yml (conda) pins the same versions, and figures record the
lock."""
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

from paperlib.provenance import environment_lock, locked_versions

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["test"] + extras["ray"]]


def test_the_lock_pins_every_direct_dependency_at_a_version_pyproject_admits():
    pins = locked_versions(LOCK)
    for requirement in _direct_requirements():
        name = _name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not in the lock: run make lock"
        assert requirement.specifier.contains(pins[name].split("+")[0], prereleases=True), \
            f"{name}=={pins[name]} in the lock, {requirement.specifier} in pyproject: make lock"


def test_every_pin_of_the_lock_carries_its_hashes():
    blocks = re.split(r"\n(?=[A-Za-z0-9][A-Za-z0-9._-]*==)", LOCK.read_text())
    pinned = [b for b in blocks if re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*==", b)]
    assert len(pinned) == len(locked_versions(LOCK)) > 100
    assert all("--hash=sha256:" in block for block in pinned)


def test_environment_yml_pins_exactly_the_locks_versions():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {_name(name): version for name, version in
              (p.split("==") for p in pip if not p.startswith("-e"))}
    assert listed == locked_versions(LOCK), "environment.yml is not the lock's: run make lock"
    assert "-e ." in pip


def test_torch_pair_is_pinned():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.14.1" in deps and "torchvision==0.29.1" in deps
    assert locked_versions(LOCK)["torch"] == "2.14.1"


def test_provenance_records_the_locks_hash_and_whether_this_environment_is_the_locked_one():
    import hashlib
    record = environment_lock()
    assert record["sha256"] == hashlib.sha256(LOCK.read_bytes()).hexdigest()
    assert record["installed"] == "as locked" or record["installed"].startswith("differs: ")


def test_dirty_means_edited_code_not_the_results_a_figure_run_rewrites(tmp_path, monkeypatch):
    import subprocess
    from paperlib import provenance as P
    repo = tmp_path / "repo"
    for folder in ("paperlib", "figures", "reports/small", "benchmarks/results"):
        (repo / folder).mkdir(parents=True)
    for path in ("paperlib/a.py", "figures/fig1a.csv", "reports/small/timings.tsv",
                 "benchmarks/results/x.json"):
        (repo / path).write_text("0\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "c"], cwd=repo, check=True)
    monkeypatch.setattr(P, "PROJECT_ROOT", repo)
    assert P.git_dirty() is False
    for path in ("figures/fig1a.csv", "reports/small/timings.tsv", "benchmarks/results/x.json"):
        (repo / path).write_text("1\n")
    assert P.git_dirty() is False
    (repo / "paperlib/a.py").write_text("1\n")
    assert P.git_dirty() is True
