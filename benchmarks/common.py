"""What every benchmark records with its figures (reflow's version, git commit and dirty flag, the versions it ran
on, the machine's cores and load), and the argument check the benchmarks share."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["describe", "environment", "positive_int"]


def environment(**versions: str) -> dict[str, Any]:
    """Provenance of a benchmark result, taken before measuring: ``reflow`` (version), ``commit`` and ``dirty``
    (``reflow.provenance.git_state()``; None outside a git checkout), ``python``, ``numpy``, the extra library
    versions given (e.g. ``mesa=mesa.__version__``), ``cores`` and ``load_average`` (1 minute, None if unknown)."""
    import numpy

    import reflow
    from reflow.provenance import git_state

    commit, dirty = git_state()
    return {"reflow": reflow.__version__, "commit": commit, "dirty": dirty, "python": sys.version.split()[0],
            "numpy": numpy.__version__, **versions, "cores": os.cpu_count(),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def describe(env: dict[str, Any], *libraries: str) -> str:
    """One line for a report's header, e.g. ``reflow 0.1.0, commit 9bc69bc… (uncommitted changes), Python 3.11.7,
    numpy 2.4.0, Mesa 3.3.1, 2 cores, load average 0.3 at start``; `libraries` are extra keys of `env` to name."""
    if env.get("commit") is None:
        source = "commit unknown (not a git checkout)"
    else:
        source = f"commit {env['commit']}" + (" (uncommitted changes)" if env.get("dirty") else "")
    names = {"mesa": "Mesa", "matplotlib": "matplotlib"}
    libs = "".join(f", {names.get(k, k)} {env[k]}" for k in libraries if k in env)
    load = f", load average {env['load_average']:.1f} at start" if env.get("load_average") is not None else ""
    return (f"reflow {env['reflow']}, {source}, Python {env['python']}, numpy {env['numpy']}{libs}, "
            f"{env['cores']} cores{load}")


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (argparse names the option in its error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one of at least 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small; give a whole number of at least 1")
    return value
