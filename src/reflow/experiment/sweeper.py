"""Running a sweep: plan the runs, resume what is stored, execute the rest, persist each result at once.

`sweep()` is what ``reflow sweep`` and notebooks call. The layers below it are replaceable on their own: the
config (`sweep_config`), the design (`designs`), seeds (`seeds`), where runs execute (`executors`) and how results
are stored (`store`). This module only wires them together and keeps the sweep folder's bookkeeping (resolved
config, design, base copy, manifest, error log).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import platform
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from reflow.errors import ConfigError, ReflowError, ResultExistsError, ResultReadError
from reflow.experiment.designs import UNIT_PREFIX, build_design
from reflow.experiment.executors import Executor, make_executor
from reflow.experiment.runner import DEFAULT_RUNNER, RunResult, RunTask, TimeseriesSpec, resolve_runner
from reflow.experiment.seeds import design_seed, new_root_seed, run_seed
from reflow.experiment.store import SweepStore, load_runs, write_text_atomic
from reflow.experiment.sweep_config import (
    FINGERPRINT_SCHEME,
    SWEEP_TOML_HEAD,
    SweepConfig,
    config_fingerprint,
    dump_sweep_toml,
    load_sweep_config,
    refuse_varied_set,
    resolved_base_sha256,
)
from reflow.provenance import extends_files, git_state

if TYPE_CHECKING:
    from reflow.config import KeyOrigins, OverrideSource

__all__ = ["FAILED_STATUSES", "SweepResult", "check_runner", "check_sweep", "parameter_columns", "plan_runs",
           "recorded_runners", "reproduce_command", "run_id", "sweep"]

logger = logging.getLogger(__name__)

#: Statuses of runs that did not produce metrics (`--retry-failed` runs them again).
FAILED_STATUSES = ("error", "crashed", "timeout")

_FOLDER_FILES = ("sweep.toml", "manifest.json", "design.parquet", "base.toml", "errors.log")
_FOLDER_DIRS = ("runs", "timeseries", "analysis")
_COMPACT_EVERY = 400  # parts; merging keeps `pd.read_parquet(out / "runs")` fast on big sweeps


@dataclass
class SweepResult:
    """What `sweep()` returns: where the results are and how the runs went."""

    path: Path
    planned: int
    done_before: int
    ran: int
    counts: dict[str, int] = field(default_factory=dict)
    wall_time_s: float = 0.0
    engine: str = ""

    @property
    def runs(self) -> pd.DataFrame:
        """The stored runs table (one row per run)."""
        return load_runs(self.path)

    @property
    def complete(self) -> bool:
        """True when every planned run is stored (whatever its status)."""
        return sum(self.counts.values()) >= self.planned

    @property
    def failed(self) -> int:
        """Stored runs without metrics (error, crashed, timeout), from this session or earlier ones."""
        return sum(n for s, n in self.counts.items() if s in FAILED_STATUSES)

    def __str__(self) -> str:
        parts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        now = (f"{self.ran} run now in {self.wall_time_s:.1f} s on {self.engine}" if self.ran
               else "nothing left to run")
        return f"{self.path}: {sum(self.counts.values())} of {self.planned} runs stored ({parts}); {now}"


def run_id(point_id: int, replicate: int) -> str:
    """The id of a run: ``p<point>-r<replicate>``, zero-padded so that ids sort in design order."""
    return f"p{point_id:06d}-r{replicate:04d}"


def parameter_columns(design: pd.DataFrame) -> list[str]:
    """The parameter key paths of a design table (not ``point_id`` nor unit coordinates)."""
    return [c for c in design.columns if c != "point_id" and not str(c).startswith(UNIT_PREFIX)]


def _native(v: Any) -> Any:
    item = getattr(v, "item", None)
    return item() if callable(item) else v


def plan_runs(cfg: SweepConfig, design: pd.DataFrame, root_seed: int, base: Mapping[str, Any],
              runner: str = DEFAULT_RUNNER) -> list[RunTask]:
    """Every run of a sweep, replicate by replicate (so a partial sweep covers all points evenly).

    Args:
        cfg: the sweep.
        design: its design table.
        root_seed: the sweep's root seed.
        base: the base scenario as a raw dict.
        runner: the run function, ``"module:function"``.
    """
    keys = parameter_columns(design)
    ts = None
    if cfg.outputs.timeseries:
        ts = TimeseriesSpec(cfg.outputs.timeseries_every_weeks, cfg.outputs.timeseries_agg,
                            tuple(cfg.outputs.timeseries_variables))
    points = [(int(pid), {k: _native(v) for k, v in zip(keys, vals, strict=True)})
              for pid, *vals in design[["point_id", *keys]].itertuples(index=False, name=None)]
    base = dict(base)
    tasks = []
    for r in range(cfg.sweep.replicates):
        common = run_seed(root_seed, r) if cfg.sweep.seeds == "common" else None
        for pid, params in points:
            seed = common if common is not None else run_seed(root_seed, r, params)
            tasks.append(RunTask(run_id=run_id(pid, r), point_id=pid, replicate=r, seed=seed, params=params,
                                 overrides={**cfg.sweep.set, **params}, base=base, runner=runner, timeseries=ts))
    return tasks


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(str(v))  # a TOML basic string


def reproduce_command(row: Mapping[str, Any], base: str | Path) -> str:
    """The ``reflow run`` command that reproduces one stored run exactly (same seed, same overrides)."""
    import shlex

    overrides = json.loads(row["overrides"]) if isinstance(row["overrides"], str) else dict(row["overrides"])
    parts = ["reflow", "run", shlex.quote(str(base)), "--seed", str(int(row["seed"]))]
    for k, v in overrides.items():
        parts += ["--set", shlex.quote(f"{k}={_toml_value(v)}")]
    return " ".join(parts)


# ----------------------------------------------------------------------------------------------- folder


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


def _load_cfg(config: str | Path | SweepConfig, overrides: Mapping[str, Any] | Sequence[str] | None,
              out: str | Path | None) -> tuple[SweepConfig, Path, Path | None, str | None]:
    """The sweep, its folder, and, if it was given as a sweep folder (`reflow sweep OUT_DIR`), that folder and the
    base its sweep was first started from (`_folder_cfg`)."""
    from reflow.config import parse_set_args

    sets = parse_set_args(overrides)
    if isinstance(config, SweepConfig):
        cfg = config
        if sets:
            refuse_varied_set(cfg.to_dict(), sets, str(cfg.source))
            cfg = cfg.model_copy(update={"sweep": cfg.sweep.model_copy(update={"set": {**cfg.sweep.set, **sets}})})
            cfg = cfg.with_cli_set(sets)
    else:
        path = Path(config)
        if path.is_dir():  # `reflow sweep OUT_DIR`: resume a sweep folder from its own resolved config and base
            cfg, started = _folder_cfg(path, sets)
            return cfg, Path(out).expanduser() if out is not None else path, path, started
        cfg = load_sweep_config(path, sets)
    return cfg, Path(out).expanduser() if out is not None else Path("results") / "sweeps" / cfg.sweep.name, None, None


def _folder_cfg(path: Path, sets: Mapping[str, Any]) -> tuple[SweepConfig, str | None]:
    """The sweep of a sweep folder, starting from the folder's own base.toml, and the base file its sweep.toml
    names (where the sweep was started from; None unless an absolute path), for the files a sweep from the folder
    writes elsewhere.

    The folder is self-sufficient: that base file need not exist any more, e.g. on another machine.
    """
    import tomllib

    from reflow.experiment.sweep_config import parse_sweep_config

    spec = path / "sweep.toml"
    if not spec.is_file():
        raise ConfigError(f"{path}: a folder without sweep.toml; give a sweep TOML file or a sweep folder")
    try:
        raw = tomllib.loads(spec.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{spec}: cannot read this sweep folder's config ({exc}); resume with the sweep file "
                          "instead (reflow sweep SWEEP.toml --out FOLDER)") from None
    refuse_varied_set(raw, sets, str(path))
    section = raw.get("sweep")
    started = None
    if isinstance(section, dict):
        first = section.get("base")
        started = first if isinstance(first, str) and Path(first).is_absolute() else None
        section["base"] = str((path / "base.toml").resolve())
        if sets:
            section["set"] = {**(section.get("set") or {}), **sets}
    cfg = parse_sweep_config(raw, source=str(spec)).with_cli_set(sets)
    if not cfg.base_path.is_file():
        raise ConfigError(f"{cfg.base_path}: the sweep folder's base scenario is missing; resume with the sweep file "
                          "instead (reflow sweep SWEEP.toml --out FOLDER)")
    return cfg, started


@dataclass(frozen=True)
class _Base:
    """A sweep's base scenario: merged from its `extends` chain, with the files it came from."""

    raw: dict[str, Any]  # merged, without `extends`: what every run starts from
    sha256: str  # `resolved_base_sha256(raw)`: what the fingerprint holds
    file_sha256: str  # the base file's bytes (scheme 1 fingerprints; provenance)
    files: list[dict[str, str]]  # the chain, base file first: {"path", "sha256"} of each
    origins: KeyOrigins | None = field(default=None, compare=False)  # the file of each key, for messages

    @property
    def extends(self) -> bool:
        """True when the base file extends others."""
        return len(self.files) > 1


def _load_base(cfg: SweepConfig, out: Path, from_folder: bool) -> _Base:
    """Read the base scenario (the whole `extends` chain) and fingerprint its merged content."""
    import tomllib

    from reflow.config import load_raw_traced

    path = cfg.base_path
    if from_folder and path.is_file():
        try:
            ref = tomllib.loads(path.read_text(encoding="utf-8")).get("extends")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            ref = None  # load_raw says what is wrong with it
        if ref is not None:  # only folders written before base.toml was made self-contained have this
            raise ReflowError(
                f"{path}: extends = {ref!r}: this sweep folder was written by an older reflow, whose base.toml "
                "kept the base scenario's `extends` and did not record the content of the files it extends, so "
                f"it cannot be resumed from the folder. The stored runs stay readable (`reflow analyze {out}`); "
                "to go on, run the sweep file again into another --out (or with --force to replace these runs)")
    raw, origins = load_raw_traced(path)
    files = extends_files(path.resolve())  # absolute: resumes compare them by path
    return _Base(raw=raw, sha256=resolved_base_sha256(raw), file_sha256=files[0]["sha256"], files=files,
                 origins=origins)


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


def _check_same_sweep(out: Path, cfg: SweepConfig, manifest: Mapping[str, Any], fp: str, base: _Base) -> None:
    """Refuse to resume a folder that holds another sweep (or one whose identity cannot be checked).

    Folders written before the fingerprint covered the files a base extends (no ``fingerprint_scheme`` in their
    manifest) are checked the old way, which is exact for a base that extends nothing.
    """
    scheme = manifest.get("fingerprint_scheme", 1)
    if scheme == FINGERPRINT_SCHEME:
        if fp == manifest.get("fingerprint"):
            return
    elif scheme == 1:
        if config_fingerprint(cfg, base.file_sha256) == manifest.get("fingerprint"):
            if not base.extends:
                return
            raise ReflowError(
                f"{out} was written by an older reflow, which did not record the content of the files its base "
                f"scenario {cfg.base_path} extends ({', '.join(f['path'] for f in base.files[1:])}), so it "
                "cannot tell whether the stored runs used their current content. The stored runs stay readable "
                f"(`reflow analyze {out}`); to go on, choose another --out (or --force to delete them and start "
                "over)")
    else:
        raise ReflowError(f"{out / 'manifest.json'}: fingerprint_scheme = {scheme!r} is newer than this reflow "
                          "knows; resume it with the reflow version that wrote it (manifest.json: reflow_version)")
    raise ReflowError(f"{out} holds a different sweep than {cfg.source}: {_what_changed(out, cfg, manifest, base)}; "
                      "choose another --out, or --force to delete its runs and start over")


def _what_changed(out: Path, cfg: SweepConfig, manifest: Mapping[str, Any], base: _Base) -> str:
    """Which files changed since the folder was written, when its manifest says (else the candidates), and which
    keys of the sweep differ from the folder's sweep.toml (its resolved config, `[sweep.set]` with the --set
    overrides)."""
    before = {f.get("path"): f.get("sha256") for f in manifest.get("base_files") or [] if isinstance(f, dict)}
    changed = [f["path"] for f in base.files if f["path"] in before and before[f["path"]] != f["sha256"]]
    keys = _changed_keys(out, cfg)
    listed = f": {'; '.join(keys)}" if keys else ""
    if changed:
        return (f"the base scenario changed since the sweep started ({', '.join(changed)} "
                f"{'has' if len(changed) == 1 else 'have'} changed)"
                + (f"; and the sweep differs from the folder's sweep.toml (before -> now){listed}" if keys else ""))
    if keys:
        return ("the sweep (its file, or --set, which adds to [sweep.set]) differs from the folder's sweep.toml "
                f"(before -> now){listed}")
    unchanged_base = bool(before) and all(before.get(f["path"]) == f["sha256"] for f in base.files)
    if cfg.design.method == "from_csv":  # the fingerprint holds the design CSV's content, not its path
        csv = cfg.csv_path
        if csv is None or not csv.is_file():
            return (f"its design CSV {csv} (design.path) is missing, so the design cannot be checked against the "
                    "one the stored runs used; put the file back")
        if unchanged_base and (out / "sweep.toml").is_file():  # config and base the same: the CSV's content
            return f"the design CSV {csv} (design.path) has changed since the sweep started"
    if unchanged_base:
        return "the sweep config or the --set overrides differ (the base scenario is unchanged)"
    return "the sweep config, the base scenario (or a file it extends) or the --set overrides differ"


def _changed_keys(out: Path, cfg: SweepConfig) -> list[str]:
    """The keys in which `cfg` differs from the folder's sweep.toml, as `key: folder -> now` (none if unreadable)."""
    import tomllib

    from reflow.experiment.sweep_config import identity_changes, parse_sweep_config

    try:
        raw = tomllib.loads((out / "sweep.toml").read_text(encoding="utf-8"))
        stored = parse_sweep_config(raw, source=str(out / "sweep.toml"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ReflowError):
        return []  # the generic message then
    return identity_changes(stored, cfg)


#: How the TOML files a sweep writes into its folder start (`dump_sweep_toml`, `_base_toml` write these).
_HEADERS = {"sweep.toml": SWEEP_TOML_HEAD, "base.toml": _BASE_TOML_HEAD}


def _written_here(path: Path) -> bool:
    """True if `path` exists and is a file a sweep writes into its folder (its TOML files by their first line)."""
    if not path.is_file():
        return False
    head = _HEADERS.get(path.name)
    if head is None:
        return True
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline().startswith(head)
    except (OSError, UnicodeDecodeError):
        return False


def _refuse_inputs_in_out(out: Path, cfg: SweepConfig, base: _Base) -> None:
    """Refuse an `out` where the sweep would write over one of its own input files.

    `reflow sweep study/sweep.toml --out study`, with the base at study/base.toml, replaced both hand-written files
    (comments and all) with the resolved config and the merged base, without a word.
    """
    inputs = [Path(str(cfg.source)), *(Path(f["path"]) for f in base.files)]
    if cfg.design.method == "from_csv" and cfg.csv_path is not None:
        inputs.append(cfg.csv_path)
    written = {(out / name).resolve(): name for name in _FOLDER_FILES}
    # files a sweep wrote (an interrupted set-up's, resumed from the folder) are rewritten from what was read
    clash = [p for p in inputs if p.is_file() and p.resolve() in written and not _written_here(p.resolve())]
    if clash:
        raise ResultExistsError(
            f"--out {out}: the sweep would write its {' and '.join(written[p.resolve()] for p in clash)} over "
            f"{'its own input' if len(clash) == 1 else 'its own inputs'} {', '.join(str(p) for p in clash)} (a "
            f"sweep folder holds its own copies of the sweep file and the base scenario); choose another --out, "
            f"e.g. {out / 'results'} or results/sweeps/{cfg.sweep.name}")


def _as_started(cfg: SweepConfig, base: str | None) -> SweepConfig:
    """`cfg` with the base path it was started from (a sweep from a folder reads the folder's base.toml)."""
    if base is None:
        return cfg
    return cfg.model_copy(update={"sweep": cfg.sweep.model_copy(update={"base": base})})


def _with_root(cfg: SweepConfig, root: int) -> SweepConfig:
    return cfg.model_copy(update={"sweep": cfg.sweep.model_copy(update={"root_seed": int(root)})})


def _check_points(tasks: Sequence[RunTask], limit: int = 300, source: str = "",
                  origins: KeyOrigins | None = None, sources: Mapping[str, OverrideSource] | None = None) -> None:
    """Validate design points' scenarios before anything runs (one clear error, not N failed runs).

    Up to `limit` points are all checked; in bigger designs, the points holding each parameter's smallest and
    largest value and `limit` evenly spaced others (a bad value almost always sits at the end of a range).
    A problem names where it comes from: `sources` (`SweepConfig.override_sources`) the `[[parameters]]` entry
    or `[sweep.set]` key of an override, `origins` (of the base's keys) the file of the base scenario.
    """
    from reflow.config import apply_overrides, validate

    points = list({t.point_id: t for t in tasks}.values())
    if len(points) > limit:
        keep = {round(i * (len(points) - 1) / (limit - 1)) for i in range(limit)}
        for key in points[0].params:
            try:
                ranked = sorted(range(len(points)), key=lambda i: points[i].params[key])
            except TypeError:
                continue
            keep.update((ranked[0], ranked[-1]))
        points = [points[i] for i in sorted(keep)]
    bad: list[str] = []
    failed = 0
    for t in points:
        try:
            validate(apply_overrides(t.base, t.overrides, sources), source=f"design point {t.point_id} {t.params}",
                     overrides=t.overrides, origins=origins, sources=sources)
        except ConfigError as exc:
            if str(exc) not in bad:  # a bad key path is the same message at every point
                bad.append(str(exc))
            failed += 1
            if failed >= 3:
                break
    if bad:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}the sweep makes invalid scenarios (check parameter ranges and key paths):\n"
                          + "\n".join(bad))


def _row(task: RunTask, res: RunResult) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": task.run_id, "point_id": task.point_id, "replicate": task.replicate, "seed": task.seed,
        "status": res.status, "error": res.error, "wall_time_s": float(res.wall_time_s),
        "cpu_time_s": None if res.cpu_time_s is None else float(res.cpu_time_s),
        "overrides": json.dumps(task.overrides, sort_keys=True, default=str),
        "runner": task.runner,  # a resume with --allow-runner-change mixes run functions: each row says which
    }
    row.update(task.params)
    taken = set(row)
    for k, v in res.metrics.items():
        row[k if k not in taken else f"metric:{k}"] = v
    return row


def _log_errors(out: Path, tasks: Mapping[str, RunTask], results: Sequence[RunResult]) -> None:
    failed = [r for r in results if r.status != "ok"]
    if not failed:
        return
    with open(out / "errors.log", "a", encoding="utf-8") as fh:
        for r in failed:
            t = tasks[r.run_id]
            fh.write(f"=== {_now()} {r.run_id} seed={t.seed} status={r.status} attempts={r.attempts}\n"
                     f"params: {json.dumps(t.params, default=str)}\n{r.traceback or r.error or ''}\n")


@contextlib.contextmanager
def _workers_started(ex: Executor, runner: str) -> Iterator[None]:
    """Start the executor's workers now, if it can, so that their start-up (a Python process importing numpy,
    pandas, Mesa and the model: ~1 s) overlaps with the sweep's preparation; stop any left unused at the end."""
    start = getattr(ex, "start", None)
    if start is not None:
        start(runner)
    try:
        yield
    finally:
        close = getattr(ex, "close", None)
        if close is not None:
            close()


def recorded_runners(manifest: Mapping[str, Any]) -> list[str]:
    """The run functions of the runs a sweep folder holds, as its manifest records them (``runners``; folders
    written before it did: the runners of the sessions that stored runs)."""
    before = manifest.get("runners")
    if not isinstance(before, list):
        before = [str(s.get("runner")) for s in manifest.get("sessions", []) if isinstance(s, dict)
                  and s.get("runner") and (s.get("ran") or s.get("status") in ("running", "killed"))]
    return list(dict.fromkeys(str(r) for r in before))


def _runner_named(runner: str) -> str:
    return f"the model ({DEFAULT_RUNNER}, no --runner)" if runner == DEFAULT_RUNNER else f"--runner {runner}"


def _stored_runners(out: Path, manifest: Mapping[str, Any], runner: str, *, kept: int, to_run: int,
                    allow_change: bool) -> list[str]:
    """The run functions whose runs the folder will hold once this session has run (`manifest["runners"]`).

    Refuses, unless `allow_change`, a session that would add runs of `runner` to runs that another run function
    made: the result set would mix two run functions without a trace in the runs table. Folders written before
    the manifest listed ``runners`` take them from the sessions that stored runs.

    Args:
        out: the sweep folder (for the message).
        manifest: its manifest as read (empty for a new sweep).
        runner: this session's run function.
        kept: stored runs that stay (all of them, less those `--retry-failed` is about to run again).
        to_run: runs this session will run.
        allow_change: mix on purpose (`--allow-runner-change`).

    Raises:
        ReflowError: another run function made the stored runs, and `allow_change` is false.
    """
    held = recorded_runners(manifest) if kept else []  # none stay: nothing to mix with
    if not to_run:
        return held
    if held and runner not in held and not allow_change:
        old = held[-1]
        others = f" (and {', '.join(held[:-1])})" if len(held) > 1 else ""
        again = "leave --runner out" if old == DEFAULT_RUNNER else f"give --runner {old}"
        raise ReflowError(
            f"{out}: its {kept} stored runs were made by {_runner_named(old)}{others}; this session would run "
            f"{to_run} more with {_runner_named(runner)}, mixing two run functions in one result set. To resume as "
            f"before, {again}; to run the sweep with the new one alone, choose another --out (or --force, which "
            "deletes the stored runs); to mix them on purpose, add --allow-runner-change (manifest.json then lists "
            "both under `runners`)")
    return list(dict.fromkeys([*held, runner]))


# ----------------------------------------------------------------------------------------------- sweep


def _refuse_foreign_folder(out: Path) -> tuple[list[str], bool]:
    """Refuse an `out` holding files no sweep wrote (a run, notes, a study's own sweep.toml): --force starts a
    sweep folder over, and never clears a folder that is not one.

    Returns:
        (the files in `out` but the lock, whether they are only what an interrupted set-up leaves: those can go).
    """
    leftovers = [p.name for p in out.iterdir() if p.name != ".lock"] if out.is_dir() else []
    setup_only = (set(leftovers) <= {"sweep.toml", "base.toml", "design.parquet"}
                  and all(_written_here(out / name) for name in leftovers))
    if leftovers and not setup_only and not _written_here(out / "sweep.toml"):
        raise ResultExistsError(f"{out} exists and is not a sweep folder ({', '.join(leftovers[:5])}); "
                                "choose another --out (--force only starts a sweep folder over)")
    return leftovers, setup_only


def check_runner(runner: str) -> None:
    """Import the run function now (``"module:function"``), so that a wrong `--runner` is one clear error before
    anything is written, not one stored error per run.

    Raises:
        ConfigError: the module or the function cannot be imported, or is not callable.
    """
    try:
        resolve_runner(runner)
    except (Exception, SystemExit) as exc:  # an import can raise anything; the message is what the user needs
        raise ConfigError(f"--runner {runner!r}: cannot use it ({type(exc).__name__}: {exc}); give an importable "
                          "'package.module:function' (e.g. reflow.experiment.fakes:analytic), or leave --runner "
                          "out to run the model") from None


def _check_outputs(cfg: SweepConfig, base_raw: Mapping[str, Any], runner: str) -> None:
    """Check the `[outputs]` names the model produces (another runner produces its own names)."""
    if runner != DEFAULT_RUNNER:
        return
    from reflow.config import apply_overrides
    from reflow.experiment.outputs import check_outputs

    # whether runs have the La/Ce market (light_* names) is known from the base and fixed overrides, unless a
    # parameter may add it; a bad override key is reported with the design points' check
    scenario: Mapping[str, Any] | None = None
    if not any(p.key.startswith("light_ree") for p in cfg.parameters):
        with contextlib.suppress(ConfigError):
            scenario = apply_overrides(dict(base_raw), cfg.sweep.set)
    check_outputs(cfg.outputs, str(cfg.source), scenario)


def check_sweep(config: str | Path | SweepConfig,
                overrides: Mapping[str, Any] | Sequence[str] | None = None) -> tuple[SweepConfig, int, int]:
    """Validate a sweep file, its base scenario, its `[outputs]` names and every design point's scenario (as
    `sweep` does before it runs), without running or writing anything.

    Returns:
        The sweep config, the number of design points and the number of runs.

    Raises:
        ConfigError: invalid sweep or scenario, naming the file and key.
    """
    from reflow.config import load_raw_traced

    cfg = _load_cfg(config, overrides, None)[0]
    base_raw, origins = load_raw_traced(cfg.base_path)
    _check_outputs(cfg, base_raw, DEFAULT_RUNNER)
    # A sweep without a root seed draws one when it starts; any root gives the same points for a grid, and
    # points from the same ranges for a sampling design.
    root = int(cfg.sweep.root_seed) if cfg.sweep.root_seed is not None else 0
    cfg = _with_root(cfg, root)
    design = build_design(cfg, design_seed(root))
    tasks = plan_runs(cfg, design, root, base_raw)
    if not tasks:
        raise ConfigError(f"{cfg.source}: the design has no points")
    _check_points(tasks, source=str(cfg.source), origins=origins,
                  sources=cfg.override_sources(parameter_columns(design)))
    return cfg, len(design), len(tasks)


def sweep(config: str | Path | SweepConfig, *, out: str | Path | None = None, workers: int | None = None,
          scheduler: str | None = None, overrides: Mapping[str, Any] | Sequence[str] | None = None,
          progress: bool = True, retry_failed: bool = False, force: bool = False, max_attempts: int = 3,
          timeout: float | None = None, runner: str = DEFAULT_RUNNER,
          executor: Executor | None = None, allow_runner_change: bool = False) -> SweepResult:
    """Run a sweep, or resume it: runs already stored in `out` are skipped (failed ones too, unless
    `retry_failed`).

    Args:
        config: sweep TOML file (or a sweep folder to resume, or a `SweepConfig`).
        out: sweep folder (default ``results/sweeps/<sweep.name>``).
        workers: local worker processes (default: all cores; 0: in this process, for debugging).
        scheduler: Dask scheduler address (``tcp://host:8786``), or ``"local"`` for an embedded LocalCluster.
        overrides: fixed scenario overrides for every run (``{"scenario.weeks": 60}`` or ``["k=v", ...]``).
        progress: show a progress bar (stderr).
        retry_failed: run again the stored runs that failed (error, crashed, timeout).
        force: delete what `out` holds and start over.
        max_attempts: tries per run when its worker process dies.
        timeout: per-run time limit in seconds (local worker processes only).
        runner: the run function, ``"module:function"`` (default: the reflow model).
        executor: an executor instance (overrides `workers` / `scheduler`).
        allow_runner_change: resume a folder whose stored runs another `runner` made, mixing the two in one result
            set (recorded in manifest.json: ``runners``).

    Returns:
        A `SweepResult`; ``result.runs`` is the stored table, ``result.failed`` the number of failed runs.

    Raises:
        ConfigError: invalid sweep, scenario, `[outputs]` name or runner (before anything is written).
        ReflowError: `out` holds a different sweep, or runs of another `runner` (without `allow_runner_change`),
            or another sweep is writing to it.
    """
    t_start = time.perf_counter()
    check_runner(runner)  # before any worker starts or anything is written
    ex = executor or make_executor(workers, scheduler, max_attempts=max_attempts, timeout=timeout)
    with _workers_started(ex, runner):
        cfg, out, folder, started_base = _load_cfg(config, overrides, out)
        base = _load_base(cfg, out, folder is not None)
        _check_outputs(cfg, base.raw, runner)
        if not (out / "manifest.json").is_file():  # a sweep folder's own files are rewritten from what was read
            _refuse_inputs_in_out(out, cfg, base)  # before the lock: a refusal leaves no .lock in the user's folder
            _refuse_foreign_folder(out)  # likewise (and again under the lock, where it counts)
        store = SweepStore(out)
        with store.locked():
            manifest_path = out / "manifest.json"
            resuming = (out / "sweep.toml").is_file() and manifest_path.is_file() and not force
            if resuming:
                manifest = _read_manifest(manifest_path)
                if cfg.sweep.root_seed is None:
                    cfg = _with_root(cfg, manifest["root_seed"])
                fp = config_fingerprint(cfg, base.sha256)
                _check_same_sweep(out, cfg, manifest, fp, base)
                manifest.update({"fingerprint": fp, "fingerprint_scheme": FINGERPRINT_SCHEME})
                design = _read_design(out / "design.parquet")
            else:
                leftovers, setup_only = _refuse_foreign_folder(out)
                if leftovers and not force and not setup_only:
                    raise ResultExistsError(f"{out} holds an incomplete sweep folder (no manifest.json); "
                                            "use --force to start over")
                cfg = _with_root(cfg, cfg.sweep.root_seed if cfg.sweep.root_seed is not None else new_root_seed())
                fp = config_fingerprint(cfg, base.sha256)
                design = build_design(cfg, design_seed(cfg.sweep.root_seed))
                manifest = {"sweep": cfg.sweep.name, "fingerprint": fp, "fingerprint_scheme": FINGERPRINT_SCHEME,
                            "root_seed": cfg.sweep.root_seed, "created_at": _now(), "sessions": []}

            tasks = plan_runs(cfg, design, int(cfg.sweep.root_seed), base.raw, runner)  # type: ignore[arg-type]
            if not tasks:
                raise ConfigError(f"{cfg.source}: the design has no points")
            # before anything is written: a bad sweep leaves no folder behind
            _check_points(tasks, source=str(cfg.source), origins=base.origins,
                          sources=cfg.override_sources(parameter_columns(design)))

            if not resuming:
                base_text = _base_toml(_as_started(cfg, started_base), base)
                _clear_folder(out)
                write_text_atomic(out / "base.toml", base_text)
                _write_parquet_atomic(design, out / "design.parquet")

            store.recover()
            stored = store.finished()
            planned_ids = {t.run_id for t in tasks}
            redo = stored[stored["status"].isin(FAILED_STATUSES)]["run_id"].tolist() if retry_failed else []
            kept = stored[~stored["run_id"].isin(redo)]
            done = set(kept["run_id"]) & planned_ids
            todo = [t for t in tasks if t.run_id not in done]
            # before the retried runs are dropped: a refusal leaves the folder as it was
            runners = _stored_runners(out, manifest, runner, kept=len(kept), to_run=len(todo),
                                      allow_change=allow_runner_change)
            # A resume of the folder itself keeps its sweep.toml; started over (--force) or into another --out, a
            # sweep from a folder writes it (it left the folder without one: not resumable, not analysable).
            keep_file = folder is not None and resuming and out.resolve() == folder.resolve()
            if not keep_file:
                write_text_atomic(out / "sweep.toml", dump_sweep_toml(_as_started(cfg, started_base)))
            if redo:
                store.compact(drop_run_ids=redo)
                stored = store.finished()
            counts: Counter[str] = Counter(stored[stored["run_id"].isin(planned_ids)]["status"])
            failed_before = sum(counts[s] for s in FAILED_STATUSES)

            limit = getattr(ex, "limit", None)
            if limit is not None:  # no idle workers for a short remainder (this sweep only)
                limit(max(1, len(todo)))
            engine = ex.description
            # Each session records the code it ran (a resume may run other code than the runs stored before it).
            versions = _versions()
            session = {"started_at": _now(), "engine": engine, "to_run": len(todo), "ran": 0,
                       "status": "running", "runner": runner, **versions}
            if not keep_file:  # the files this session read (a resume of the folder keeps the originals)
                manifest.update({"config_file": str(cfg.source), "base_file": str(cfg.base_path),
                                 "base_sha256": base.file_sha256, "base_files": base.files})
            manifest.update({
                **versions, "base_resolved_sha256": base.sha256,
                "design": cfg.design.method, "points": len(design), "parameters": parameter_columns(design),
                "replicates": cfg.sweep.replicates, "runs_planned": len(tasks), "status": "running",
                "updated_at": _now(), "counts": dict(counts), "runners": runners,
            })
            for earlier in manifest.get("sessions", []):
                if isinstance(earlier, dict) and earlier.get("status") == "running":
                    # it held the lock this session holds now: it was killed before it could record how it ended
                    # (its runs are those stored; its `ran` was never updated)
                    earlier["status"] = "killed"
            manifest["sessions"] = [*manifest.get("sessions", []), session]
            _write_json(manifest_path, manifest)

            bar = None
            if progress:
                from tqdm.auto import tqdm

                skipped = (f" ({failed_before} of them failed and are skipped: --retry-failed runs them again)"
                           if failed_before else "")
                print(f"sweep '{cfg.sweep.name}': {len(tasks)} runs ({len(design)} points x {cfg.sweep.replicates} "
                      f"replicates), {len(done)} already stored{skipped}, {len(todo)} to run on {engine}\n"
                      f"results: {out}", file=sys.stderr)
                bar = tqdm(total=len(tasks), initial=len(done), unit="run", desc=cfg.sweep.name, file=sys.stderr,
                           dynamic_ncols=True, smoothing=0.05)
            by_id = {t.run_id: t for t in todo}
            ran = 0
            status = "interrupted"
            shown_failures = 0
            gen = ex.run(todo) if todo else iter(())
            try:
                for batch in gen:
                    rows = [_row(by_id[r.run_id], r) for r in batch]
                    store.append(rows, [r.timeseries for r in batch if r.timeseries is not None])
                    _log_errors(out, by_id, batch)
                    ran += len(batch)
                    counts.update(r.status for r in batch)
                    if store.runs.written >= _COMPACT_EVERY:
                        store.compact()
                    if bar is not None:
                        for r in batch:
                            if r.status != "ok" and shown_failures < 5:
                                shown_failures += 1
                                bar.write(f"run {r.run_id} {r.status}: {(r.error or '').splitlines()[0][:200]}"
                                          + (" (more in errors.log)" if shown_failures == 5 else ""))
                        bar.set_postfix(ok=counts["ok"], failed=sum(counts[s] for s in FAILED_STATUSES),
                                        refresh=False)
                        bar.update(len(batch))
                status = "complete"
            finally:
                try:
                    close = getattr(gen, "close", None)
                    if close is not None:
                        close()
                    if bar is not None:
                        bar.close()
                    if status == "complete":
                        store.compact()
                except BaseException:
                    # e.g. Ctrl-C during the final merge (which the next session finishes): the manifest below
                    # still records what ran, not a session "running" with 0 runs
                    status = "interrupted"
                    raise
                finally:
                    session.update({"finished_at": _now(), "ran": ran, "status": status,
                                    "wall_time_s": round(time.perf_counter() - t_start, 3)})
                    manifest.update({"status": status if status != "complete" or sum(counts.values()) >= len(tasks)
                                     else "incomplete", "updated_at": _now(), "counts": dict(counts)})
                    _write_json(manifest_path, manifest)
    # absolute: `runs` reads the folder again, also after the caller changes the working folder (os.chdir)
    return SweepResult(path=out.absolute(), planned=len(tasks), done_before=len(done), ran=ran, counts=dict(counts),
                       wall_time_s=time.perf_counter() - t_start, engine=engine)
