"""`reflow.provenance.git_status`: what a manifest says about the source tree a result came from."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

import reflow

SRC = Path(reflow.__file__).resolve().parent


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, ModuleType]:
    """A git repository tracking a copy of the package's provenance module (git runs from the module's folder),
    committed and clean, with results/ ignored as in reflow's own .gitignore."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    pkg = repo / "src" / "reflow"
    pkg.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    shutil.copy(SRC / "__init__.py", pkg / "__init__.py")
    shutil.copy(SRC / "provenance.py", pkg / "provenance.py")
    (repo / ".gitignore").write_text("/results/*\n__pycache__/\n")
    (repo / "notes.txt").write_text("x\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "x")
    spec = importlib.util.spec_from_file_location("reflow_provenance_under_test", pkg / "provenance.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return repo, mod


def test_an_untracked_file_makes_the_tree_dirty(checkout: tuple[Path, ModuleType]) -> None:
    """git_dirty ignored untracked files: a new module beside the package (or a new config) could change results
    while the manifest said the tree was clean."""
    repo, prov = checkout
    assert prov.git_state()[1] is False
    (repo / "results").mkdir()
    (repo / "results" / "run.json").write_text("{}")  # ignored output: still clean
    assert prov.git_state()[1] is False
    (repo / "src" / "reflow" / "extra model.py").write_text("RATE = 7\n")  # untracked, not ignored; a space
    assert prov.git_state()[1] is True
    status = prov.git_status()
    assert status["git_dirty"] is True and status["git_dirty_paths"] == ["src/reflow/extra model.py"]
    assert status["git_dirty_count"] == 1


def test_dirty_paths_name_changed_and_new_files_and_are_capped(checkout: tuple[Path, ModuleType]) -> None:
    repo, prov = checkout
    status = prov.git_status()
    assert status["git_dirty"] is False and status["git_dirty_paths"] == [] and status["git_dirty_count"] == 0
    assert len(status["git_commit"]) == 40
    (repo / "src" / "reflow" / "__init__.py").write_text("# edited\n")  # tracked, changed, not staged
    (repo / "notes.txt").unlink()  # tracked, deleted
    _git(repo, "mv", "src/reflow/provenance.py", "src/reflow/prov2.py")  # staged rename: both paths
    (repo / "configs").mkdir()
    for i in range(30):
        (repo / "configs" / f"c{i:02d}.toml").write_text("")
    status = prov.git_status(limit=3)
    # an untracked folder is one entry (git status's "normal" mode), so the count stays small
    expected = sorted(["configs/", "notes.txt", "src/reflow/__init__.py", "src/reflow/prov2.py",
                       "src/reflow/provenance.py"])
    assert status["git_dirty"] is True and status["git_dirty_count"] == len(expected)
    assert status["git_dirty_paths"] == expected[:3]


def test_outside_a_checkout_of_the_package_nothing_is_claimed(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("reflow_provenance_loose", tmp_path / "provenance.py")
    shutil.copy(SRC / "provenance.py", tmp_path / "provenance.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.git_status() == {"git_commit": None, "git_dirty": None, "git_dirty_paths": None,
                                "git_dirty_count": None}
    assert mod.git_state() == (None, None)
