"""A sweep folder's own files: the manifest, design and self-contained base.toml a sweep writes, reading them
back on a resume, and clearing them for `--force` (docs/sweeps.md, "The sweep folder").

Internals of `reflow.experiment.sweeper.sweep`; the results themselves (runs/, timeseries/) are `store`'s.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from reflow.errors import ReflowError, ResultReadError
from reflow.experiment.store import write_text_atomic
from reflow.provenance import git_state

if TYPE_CHECKING:
    from reflow.experiment.sweep_config import SweepConfig
    from reflow.experiment.sweep_inputs import _Base

__all__: list[str] = []  # the sweeper's internals, imported by name


_FOLDER_FILES = ("sweep.toml", "manifest.json", "design.parquet", "base.toml", "errors.log")


_FOLDER_DIRS = ("runs", "timeseries", "analysis")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _versions() -> dict[str, Any]:
    from importlib import metadata

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    from reflow import __version__

    sha, dirty = git_state()
    return {"reflow_version": __version__, "git_commit": sha, "git_dirty": dirty, "python": sys.version.split()[0],
            "mesa_version": version("mesa"), "numpy_version": version("numpy"), "salib_version": version("SALib"),
            "platform": platform.platform()}


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def _write_parquet_atomic(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _read_manifest(path: Path) -> dict[str, Any]:
    """A sweep folder's manifest, or a clear error naming the file and the fix."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or "root_seed" not in manifest:
            raise ValueError("no root_seed")  # a manifest without it cannot be resumed
    except (OSError, ValueError) as exc:
        raise ResultReadError(f"{path}: not a readable sweep manifest ({type(exc).__name__}: {exc}); the sweep "
                              "cannot be resumed from it: use --force to start the sweep over, or another --out "
                              "(the stored runs in runs/ are left as they are until then)") from None
    return manifest


def _read_design(path: Path) -> pd.DataFrame:
    """A sweep folder's design, or a clear error naming the file and the fix."""
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # missing, or any of pyarrow's errors for a damaged file
        raise ResultReadError(f"{path}: missing or unreadable ({type(exc).__name__}); the sweep cannot be resumed "
                              "without its design: use --force to start the sweep over, or another --out") from None


def _clear_folder(out: Path) -> None:
    for name in _FOLDER_FILES:
        (out / name).unlink(missing_ok=True)
    for name in _FOLDER_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)


_BASE_TOML_HEAD = "# Base scenario of this sweep: "


def _base_toml(cfg: SweepConfig, base: _Base) -> str:
    """The merged base scenario as a self-contained TOML file (no `extends`), checked to read back the same.

    `reflow sweep OUT_DIR` and the command of `reflow analyze --reproduce` read it from the sweep folder, where the
    relative paths of an `extends` would not resolve (or, worse, resolve to another file).
    """
    import tomllib

    from reflow.config import dump_toml

    chain = (", merged with the files it extends (" + ", ".join(f["path"] for f in base.files[1:]) + ")"
             if base.extends else "")
    head = (f"{_BASE_TOML_HEAD}{cfg.base_path}{chain}.\n# Self-contained (written by `reflow "
            "sweep`): `reflow run base.toml --seed S --set ...` reproduces a run.\n\n")
    text = head + dump_toml(base.raw)  # the values as read: a date stays a date, a text a text
    if _typed_json(tomllib.loads(text)) != _typed_json(base.raw):  # a value TOML cannot carry as it was
        raise ReflowError(f"{cfg.base_path}: the base scenario does not survive a TOML round trip, so the sweep "
                          "folder could not reproduce it; please report this (with the file) as a reflow bug")
    return text


def _typed_json(data: Any) -> str:
    """Plain data as canonical JSON that keeps the type of dates and times (a date and its ISO text differ)."""
    return json.dumps(data, sort_keys=True, default=lambda v: [type(v).__name__, v.isoformat()])
