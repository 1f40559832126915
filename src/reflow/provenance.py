"""Where a result came from: the git commit of the reflow source that made it (recorded in manifests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["git_state"]


def git_state() -> tuple[str | None, bool | None]:
    """(commit of the reflow checkout, whether tracked files differ from it), or (None, None) outside git.

    Untracked files do not count: a run records its resolved config, so a new config file is not a gap.
    """
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip() != ""
        return commit or None, dirty
    except (OSError, subprocess.SubprocessError):
        return None, None
