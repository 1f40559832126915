"""Where a result came from: the git commit of the reflow source that made it (recorded in manifests), and the
manifest, resolved configs and stamped output folder the experiment scripts (experiments/*.py) share.

    folder = new_stamped_folder(args.out)                    # results/<root>/<UTC stamp>[-k]/, never reused
    manifest = run_manifest(argv, args, {"scenario": path}, seeds={"final": [1, 2, 3]})
    write_configs(folder, manifest, {"scenario": cfg})      # configs/scenario.toml and .json: the resolved config
    write_manifest(folder, manifest)                         # before the long work: a crash still leaves it
    ...
    write_manifest(folder, manifest, status="finished", evaluations=412)   # end-of-run facts
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow.errors import UsageError

if TYPE_CHECKING:
    from reflow.config import Scenario

__all__ = ["DIRTY_PATHS_SHOWN", "config_provenance", "extends_files", "git_state", "git_status", "new_stamped_folder",
           "run_manifest", "write_configs", "write_manifest"]

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


#: At most this many dirty paths are named in a manifest (``git_dirty_count`` says how many there were).
DIRTY_PATHS_SHOWN = 20


def git_status(limit: int = DIRTY_PATHS_SHOWN) -> dict[str, Any]:
    """Where the reflow source of a result came from, for a manifest (None for each outside a git checkout):

    ``git_commit`` (HEAD of the checkout), ``git_dirty`` (whether any file differs from it: a tracked file changed,
    staged or not, or an untracked file that .gitignore does not ignore), ``git_dirty_paths`` (the first `limit`
    of those paths, sorted, relative to the checkout) and ``git_dirty_count`` (how many there are).

    Untracked files count: a new module or config beside the package can change results while the commit does not
    say so. Ignored ones (results/, caches) do not. Two git calls, ~5-10 ms: called once a run or a sweep session.
    """
    none: dict[str, Any] = {"git_commit": None, "git_dirty": None, "git_dirty_paths": None, "git_dirty_count": None}
    here = Path(__file__).resolve().parent
    # no optional locks: status must not refresh (write) the index, which could race another git command or run
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        # Only a checkout that tracks this very package: a copy or an install inside some other repository must
        # not borrow that repository's commit.
        subprocess.run(["git", "ls-files", "--error-unmatch", "__init__.py"], cwd=here, capture_output=True,
                       text=True, timeout=5, check=True, env=env)
        # one call for the commit and the changes; -z: paths as they are (no quoting), v2: HEAD's commit included
        out = subprocess.run(["git", "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal",
                              "--no-renames"], cwd=here, capture_output=True, text=True, timeout=5, check=True,
                             env=env).stdout
    except (OSError, subprocess.SubprocessError):
        return none
    commit, paths = _parse_status(out)
    if commit is None:
        return none  # no commit yet: nothing a result could name
    return {"git_commit": commit, "git_dirty": bool(paths), "git_dirty_paths": sorted(paths)[:limit],
            "git_dirty_count": len(paths)}


def _parse_status(out: str) -> tuple[str | None, list[str]]:
    """HEAD's commit (None before the first) and the changed or untracked paths of ``git status --porcelain=v2
    --branch -z``."""
    commit: str | None = None
    paths: list[str] = []
    records = iter(out.split("\0"))
    for rec in records:
        kind = rec[:1]
        if rec.startswith("# branch.oid "):
            oid = rec.removeprefix("# branch.oid ").strip()
            commit = oid if oid != "(initial)" else None
        elif kind == "1":  # 1 XY sub mH mI mW hH hI path
            paths.append(rec.split(" ", 8)[8])
        elif kind == "2":  # a rename (not reported with --no-renames; parsed all the same): the old path follows
            paths.append(rec.split(" ", 9)[9])
            next(records, None)
        elif kind == "u":  # unmerged: u XY sub m1 m2 m3 mW h1 h2 h3 path
            paths.append(rec.split(" ", 10)[10])
        elif kind == "?":
            paths.append(rec[2:])
    return commit, paths


def git_state() -> tuple[str | None, bool | None]:
    """(commit of the reflow checkout, whether it is dirty), or (None, None) outside git; see `git_status`."""
    status = git_status(0)
    return status["git_commit"], status["git_dirty"]


def new_stamped_folder(root: str | Path, option: str = "--out") -> Path:
    """Create and return a new folder ``root/<UTC stamp>`` (``-2``, ``-3``, ... if that name is taken).

    An existing folder is never reused, so an earlier result is never overwritten; `mkdir` without `exist_ok`
    is atomic, so two runs started in the same second (even in two processes) get two folders. `option` names
    the command-line option that chose `root`, for the message when it cannot be created.
    """
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {root}: cannot create the output folder ({exc.strerror or exc}); give a "
                         "folder you can write to") from None
    stamp = dt.datetime.now(dt.UTC).strftime(STAMP_FORMAT)
    k = 1
    while True:
        folder = root / (stamp if k == 1 else f"{stamp}-{k}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            k += 1
        except OSError as exc:
            raise UsageError(f"{option} {root}: cannot create a folder in it ({exc.strerror or exc}); give a "
                             "folder you can write to") from None


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def extends_files(path: str | Path) -> list[dict[str, str]]:
    """``{"path", "sha256"}`` of a scenario file and of each file it extends, top first (as
    `reflow.config.load_raw` follows them; call that first: it refuses a missing file or a loop)."""
    return [{"path": str(f), "sha256": _sha256_file(f)} for f in _extends_chain(Path(path))]


def _extends_chain(path: Path) -> list[Path]:
    """The file and the files it extends, top first (as `reflow.config.load_raw` follows them)."""
    from reflow.config import read_toml

    chain = [path]
    while True:
        ref = read_toml(chain[-1], "config file", "bundled scenarios are in configs/").get("extends")
        if not isinstance(ref, str):
            return chain
        base = (chain[-1].parent / ref).resolve()
        if base in (p.resolve() for p in chain):  # load_raw has already refused a loop; never spin here
            return chain
        chain.append(base)


def config_provenance(path: str | Path, overrides: Sequence[str] | Mapping[str, Any] | None = None
                      ) -> dict[str, Any]:
    """The path of a scenario file, the sha256 of each file of its `extends` chain and of the resolved config.

    ``resolved_sha256`` hashes the merged content (`reflow.experiment.sweep_config.resolved_base_sha256`), so a
    change in any parent file changes it while comments and layout do not; with `overrides` (``--set``), the
    hash of the merged config with them applied is recorded too. Raises ConfigError for a missing or broken file.
    """
    from reflow.config import apply_overrides, load_raw, parse_set_args
    from reflow.experiment.sweep_config import resolved_base_sha256

    p = Path(path)
    raw = load_raw(p)  # first: a missing or looping file is a ConfigError naming it
    out: dict[str, Any] = {
        "path": str(p),
        "extends_chain": extends_files(p),
        "resolved_sha256": resolved_base_sha256(raw),
    }
    ov = parse_set_args(overrides)
    if ov:
        out["overrides"] = ov
        out["resolved_with_overrides_sha256"] = resolved_base_sha256(apply_overrides(raw, ov))
    return out


def _versions() -> dict[str, str | None]:
    """Versions of reflow, Python and the packages results depend on (read from metadata: nothing imported)."""
    from importlib.metadata import PackageNotFoundError, version

    from reflow import __version__

    out: dict[str, str | None] = {"reflow": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "pandas", "scipy", "mesa"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _plain(value: Any) -> Any:
    """JSON-ready plain data: paths and other objects as text, numpy scalars as numbers, NaN and inf as None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, bool | int | float | str):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN or infinity
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def run_manifest(argv: Sequence[str] | None, args: argparse.Namespace | Mapping[str, Any],
                 configs: Mapping[str, str | Path], seeds: Sequence[int] | Mapping[str, Sequence[int]],
                 overrides: Sequence[str] | Mapping[str, Any] | None = None, script: str | Path | None = None,
                 **extra: Any) -> dict[str, Any]:
    """What an experiment script needs recorded to be re-run: a dict for `write_manifest`.

    Args:
        argv: the script's arguments (None: ``sys.argv[1:]``, as argparse reads them).
        args: the parsed arguments, as the run uses them (after ``--quick`` changed any).
        configs: scenario files by role (``{"scenario": path}``); each gets `config_provenance`.
        seeds: the model seeds, or seeds by role (``{"search": [...], "final": [...]}``).
        overrides: ``--set`` overrides applied to every config (their hash with them is recorded too).
        script: the script's file (default: ``sys.argv[0]``).
        extra: further facts known at the start (fixed seeds of a design, variants, ...).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    return {
        "script": str(script) if script is not None else (sys.argv[0] if sys.argv else None),
        "argv": argv,
        "args": _plain(vars(args) if isinstance(args, argparse.Namespace) else dict(args)),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": "running",  # set to "finished" by the last write_manifest: a crash leaves "running"
        **git_status(),
        "versions": _versions(),
        "platform": platform.platform(),
        "configs": {role: config_provenance(path, overrides) for role, path in configs.items()},
        "seeds": _plain(seeds),
        **_plain(extra),
    }


def write_configs(folder: str | Path, manifest: dict[str, Any], scenarios: Mapping[str, Scenario]) -> dict[str, Any]:
    """Write the resolved config of each of `scenarios` (name: validated scenario, overrides applied) that the
    script runs into ``folder/configs/<name>.toml`` and ``.json``, as `reflow run` writes a run folder's
    ``config.toml`` (`reflow.api.write_resolved_config`), and record the files in
    ``manifest["resolved_configs"]`` (`write_manifest` writes it). Names are made file-safe (lower case, runs of
    other characters as ``_``); two names that come out the same get a ``-2``, ``-3`` file, so nothing written
    earlier is replaced. Returns the entries added.

    The files hold the content the runs used, which the path and hashes of `run_manifest` only point to: a scenario
    file edited or deleted later does not lose what was run. ``scenario.seed`` is the scenario's own: the runs'
    seeds are the manifest's ``seeds``, and ``reflow run configs/<name>.toml --seed S`` repeats the run of seed S.
    """
    from reflow import __version__
    from reflow.api import write_resolved_config

    out = Path(folder) / "configs"
    out.mkdir(exist_ok=True)
    recorded = manifest.setdefault("resolved_configs", {})
    taken = {Path(e["toml"]).stem for e in recorded.values()}
    script = Path(str(manifest.get("script") or "")).name or "an experiment script"
    added: dict[str, Any] = {}
    for name, scenario in scenarios.items():
        if name in recorded:
            raise ValueError(f"resolved config {name!r}: already recorded in this manifest; give it another name")
        stem = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "config"
        base, k = stem, 1
        while stem in taken:
            k += 1
            stem = f"{base}-{k}"
        taken.add(stem)
        header = (f"# Resolved by reflow {__version__}: every default filled in and overrides applied.\n"
                  f"# {name!r} as {script} ran it; its runs used the seeds in ../manifest.json, not scenario.seed.\n"
                  f"# Re-run one with: reflow run {stem}.toml --seed S\n\n")
        write_resolved_config(out, scenario, name=stem, header=header)
        entry = {"toml": f"configs/{stem}.toml", "json": f"configs/{stem}.json"}
        recorded[name] = added[name] = entry
    return added


def write_manifest(folder: str | Path, manifest: dict[str, Any], **facts: Any) -> Path:
    """Write `manifest` (updated in place with `facts`) to ``folder/manifest.json`` atomically; return its path.

    Called before the long work starts and again with end-of-run facts (``status="finished"``, counts that
    depend on a time budget, the files written), so that a crash leaves the start facts and never half a file.
    """
    manifest.update(_plain(facts))
    if facts.get("status") == "finished":
        manifest["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    path = Path(folder) / "manifest.json"
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(_plain(manifest), indent=2, allow_nan=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
