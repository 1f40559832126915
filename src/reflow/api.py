"""The Python API the CLI and notebooks share: simulate a scenario, run it into a result folder, read summaries.

    >>> import reflow
    >>> cfg = reflow.load_config("configs/controls_2025.toml")
    >>> result = reflow.run(cfg, seed=1, out=None)          # in memory; out="results" writes a run folder
    >>> result.timeseries.query("variable == 'price_ex_vwap'")
    >>> result.summary["materials"]["dy_oxide"]["peak_price_multiple"]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic_core import PydanticSerializationError

from reflow import __version__
from reflow.config import (
    OverrideSource,
    Scenario,
    apply_overrides,
    dump_toml,
    load_raw_traced,
    parse_set_args,
    validate,
)
from reflow.errors import ConfigError, ReflowError, ResultExistsError, UsageError, whole_number
from reflow.provenance import extends_files, git_status

__all__ = ["RunResult", "SimOutput", "check_run_id", "check_seed", "checked_scenario", "evaluate", "flatten_summary",
           "run", "simulate", "write_atomic", "write_resolved_config"]


@dataclass
class SimOutput:
    """What one simulation produces in memory."""

    timeseries: pd.DataFrame
    summary: dict[str, Any]


@dataclass
class RunResult:
    """A finished run: its data, the resolved scenario, the seed, and the folder it was written to (absolute; or
    None)."""

    timeseries: pd.DataFrame
    summary: dict[str, Any]
    config: Scenario
    seed: int
    path: Path | None
    manifest: dict[str, Any] | None = None

    @property
    def summary_frame(self) -> pd.DataFrame:
        """The summary as a one-row DataFrame of flat columns, led by ``scenario`` and ``seed`` so that frames of
        several runs can be concatenated and still told apart."""
        return pd.DataFrame([{"scenario": self.config.scenario.name, "seed": self.seed,
                              **flatten_summary(self.summary)}])


def simulate(scenario: Scenario, seed: int, *, progress: bool = False) -> SimOutput:
    """Run the model over the scenario's horizon with `seed` and return the tidy time series and summary.

    The scenario is validated again first (`checked_scenario`), so attributes set on it after loading are checked.

    Raises:
        ConfigError: the scenario holds a value its schema refuses. UsageError: not a Scenario, or a bad seed.
    """
    from reflow.metrics import summarise
    from reflow.model import ReflowModel

    if not isinstance(scenario, Scenario):
        raise UsageError(f"simulate: expected a Scenario (reflow.load_config(path)); got {type(scenario).__name__} "
                         "(reflow.run(config, out=None) takes a path or a dict too)")
    check_seed(seed)
    scenario = checked_scenario(scenario, caller="reflow.simulate")
    model = ReflowModel(scenario, rng=seed)
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=model.weeks, unit="wk", desc=scenario.scenario.name, leave=False)
    while model.running:
        model.step()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    ts = model.rec.to_frame(scenario.scenario.start)
    summary = summarise(ts, scenario, seed)
    return SimOutput(ts, summary)


def checked_scenario(scenario: Scenario, overrides: Mapping[str, Any] | None = None, *, caller: str,
                     sources: Mapping[str, OverrideSource] | None = None) -> Scenario:
    """`scenario` validated again, with `overrides` (``{"key.path": value}``) applied: what every entry point that
    takes a Scenario runs (`run`, `simulate`, `evaluate`).

    Pydantic checks a Scenario when it is built, not the attributes set on it afterwards
    (``cfg.licensing.approval_rate = 7.0``, ``cfg.scenario.weeks = None``): unchecked, such a value ran into a
    crash or nonsense mid-run, and into a config.toml that `reflow run` refuses. Validating again costs ~5 ms.

    Args:
        scenario: a Scenario, perhaps changed since it was loaded.
        overrides: key paths to set before validation (as ``--set``).
        caller: the function it was given to, named in the error (``"reflow.simulate"``).
        sources: where each override came from, for the error (`reflow.config.OverrideSource`).

    Raises:
        ConfigError: naming each bad key, its value and what it accepts, and how to fix a Scenario.
    """
    try:
        # None is kept, not dropped: a field that may not be None must refuse it, not fall back to its default
        # (no optional field has a default other than None, so a valid scenario validates to itself)
        raw = scenario.model_dump(mode="json", warnings=False)
    except PydanticSerializationError:  # a value JSON cannot hold (an array, an object): validation names its key
        raw = scenario.model_dump(warnings=False)
    sets = dict(overrides or {})
    raw = apply_overrides(raw, sets, sources)  # a key path that does not fit is its own ConfigError, naming it
    try:
        return validate(raw, source=f"the Scenario given to {caller}", overrides=sets, sources=sources)
    except ConfigError as exc:
        raise ConfigError(f"{exc}\n  (An attribute set on a Scenario after reflow.load_config is checked only when "
                          "the Scenario runs: set one the key accepts, or make the change with "
                          "reflow.load_config(path, overrides=[\"key.path=value\"]), which checks it at once.)"
                          ) from None


def check_seed(seed: Any) -> int:
    """The seed as an int; refuse one numpy cannot use (negative, a bool, a float) before any work is done.

    Raises:
        UsageError: the seed is not a whole number >= 0.
    """
    value = whole_number(seed)
    if value is None or value < 0:
        raise UsageError(f"--seed {seed!r}: a seed is a whole number >= 0, e.g. --seed 1")
    return value


def check_run_id(run_id: str) -> None:
    """Refuse a run id that is not a plain folder name: the run folder must land inside ``<out>/<scenario>/``.

    Raises:
        UsageError: the id is not a str, is empty, absolute, holds a path separator, is "." or "..", or starts with "."
            (hidden names are kept for runs being written, and `reflow plot` skips them).
    """
    if not isinstance(run_id, str):
        raise UsageError(f"--run-id {run_id!r}: a run id is a folder name (a str) such as 'seed1-lowrate'; got "
                         f"{type(run_id).__name__}")
    why = ("is empty" if not run_id
           else "is an absolute path" if os.path.isabs(run_id)
           else "holds a path separator" if "/" in run_id or "\\" in run_id
           else "names the folder itself or its parent" if run_id in (".", "..")
           else "starts with '.' (hidden names are kept for runs being written)" if run_id.startswith(".")
           else "holds a control character" if any(ord(c) < 32 or ord(c) == 127 for c in run_id)
           else None)
    if why:
        raise UsageError(f"--run-id {run_id!r} {why}; give a plain folder name such as 'seed1-lowrate' (the run "
                         "goes to <out>/<scenario>/<run-id>/; choose the place with --out)")


def _check_out(folder: Path) -> None:
    """Before simulating: the run folder's nearest existing ancestor must be a folder we can write into."""
    for parent in (folder.parent, *folder.parent.parents):
        if not parent.exists():
            continue
        if not parent.is_dir():
            raise UsageError(f"--out: {parent} is a file, not a folder; give --out a folder (the run goes to "
                             "<out>/<scenario>/<run-id>/)")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(f"--out: cannot write into {parent} (permission denied); give --out a folder you "
                             "can write to")
        return


def _is_run_folder(path: Path) -> bool:
    """A finished reflow run folder: a folder with manifest.json (written last, so interrupted runs have none)."""
    return path.is_dir() and not path.is_symlink() and (path / "manifest.json").is_file()


def _refuse_replacing(folder: Path) -> None:
    """`--force` replaces only a reflow run folder; anything else at that path is the user's and is kept."""
    if not _is_run_folder(folder):
        what = ("a link" if folder.is_symlink() else "a file" if not folder.is_dir()
                else "a folder that is not a reflow run (no manifest.json)")
        raise ResultExistsError(f"{folder}: is {what}; --force only replaces a reflow run folder, so it is left as "
                                "it is; choose another --run-id or --out, or move it away yourself")


def _resolve(config: str | Path | Scenario | Mapping[str, Any], overrides: Any) -> tuple[Scenario, str | None]:
    sets = parse_set_args(overrides)
    if isinstance(config, Scenario):
        return checked_scenario(config, sets, caller="reflow.run"), None
    if isinstance(config, Mapping):
        return validate(apply_overrides(dict(config), sets), source="<dict>", overrides=sets), None
    if not isinstance(config, str | os.PathLike):
        raise UsageError(f"config: expected a TOML path, a Scenario (from reflow.load_config) or a dict; got "
                         f"{type(config).__name__}")
    raw, origins = load_raw_traced(config)
    return validate(apply_overrides(raw, sets), source=str(config), overrides=sets, origins=origins), str(config)


def run(
    config: str | Path | Scenario | Mapping[str, Any],
    seed: int | None = None,
    *,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    out: str | Path | None = "results",
    run_id: str | None = None,
    force: bool = False,
    figures: bool = True,
    progress: bool = False,
) -> RunResult:
    """Run one scenario and (unless `out` is None) write its result folder.

    Args:
        config: a TOML path, a `Scenario` (validated again, so attributes set on it are checked), or a raw dict.
        seed: random seed, a whole number >= 0 (default: ``scenario.seed``).
        overrides: ``["key.path=value", ...]`` or a mapping, applied before validation.
        out: results root; the run goes to ``<out>/<scenario>/<run-id>/``. None keeps everything in memory.
        run_id: folder name (default ``seed<N>-<UTC timestamp>``): a plain name, not a path.
        force: replace an existing run folder of the same name (only a reflow run folder, one with
            manifest.json: anything else there is refused, never deleted).
        figures: write the quick-look PNG figures.
        progress: show a progress bar on a terminal.

    Returns:
        The run's time series, summary, resolved config, seed and folder.

    Raises:
        ConfigError: the config is invalid. ResultExistsError: the folder exists and `force` is False, or it is
            not a reflow run folder. UsageError: a config, seed, run id or `out` of the wrong type or value
            (checked before simulating).
    """
    if seed is not None:
        seed = check_seed(seed)
    if run_id is not None:
        check_run_id(run_id)
    if out is not None and not isinstance(out, str | os.PathLike):
        raise UsageError(f"--out {out!r}: expected a folder path (a str or a Path), or None to keep the run in "
                         f"memory; got {type(out).__name__}")
    scenario, config_file = _resolve(config, overrides)
    # hashed as read, not after the run: the files may be edited meanwhile
    config_files = extends_files(Path(config_file).resolve()) if config_file and out is not None else None
    seed = scenario.scenario.seed if seed is None else seed
    started = dt.datetime.now(dt.UTC)
    folder: Path | None = None
    if out is not None:
        rid = run_id or f"seed{seed}-{started.strftime('%Y%m%dT%H%M%S%fZ')}"
        folder = Path(out).expanduser() / scenario.scenario.name / rid
        _check_out(folder)
        if folder.exists() or folder.is_symlink():
            if not force:
                raise ResultExistsError(f"{folder}: a result already exists here; use --force to replace it or "
                                        "--run-id to name a new one")
            _refuse_replacing(folder)
    # The figures' workers fork now and import matplotlib while the model runs (see quick_figure_pool). Only from
    # a single-threaded process (the CLI): a worker forked while another thread holds a lock, e.g. a notebook
    # kernel's, could hang on its imports; there the figures are drawn after the run, in workers that import
    # nothing.
    pool = None
    if figures and folder is not None and threading.active_count() == 1:
        from reflow.plotting.quick import quick_figure_pool

        pool = quick_figure_pool()
    try:
        t0 = time.perf_counter()
        sim = simulate(scenario, seed, progress=progress)
        wall = time.perf_counter() - t0
        manifest = None
        if folder is not None:
            manifest = _write_run(folder, scenario, seed, sim, config_file, overrides, started, wall, figures,
                                  force, pool, config_files=config_files)
    finally:
        if pool is not None:
            pool.close()
    # absolute: the result keeps naming its folder after the caller changes the working folder (os.chdir)
    return RunResult(sim.timeseries, sim.summary, scenario, seed, folder.absolute() if folder else None, manifest)


def _write_run(folder: Path, scenario: Scenario, seed: int, sim: SimOutput, config_file: str | None,
               overrides: Any, started: dt.datetime, wall: float, figures: bool, force: bool,
               pool: Any = None, *, config_files: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Write a run folder: everything into a sibling temp folder, manifest last, then one rename into place.

    `pool`: workers started before the run to draw the figures in (`reflow.plotting.quick.quick_figure_pool`).
    `config_files`: path and sha256 of the config file and of each file it extends (None: a config from Python).
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    # mkdtemp makes the folder private (0700); a run folder gets the mode a plain mkdir would give it, so that
    # others on a shared machine can read results as the user's umask allows.
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)
    try:
        cfg_json = write_resolved_config(tmp, scenario, seed)
        _write_parquet(sim.timeseries, tmp / "timeseries.parquet")
        write_atomic(tmp / "summary.json", json.dumps(sim.summary, indent=2, default=_json_default) + "\n")
        if figures:
            if pool is not None:  # its workers read the Parquet file just written; matplotlib stays out of here
                from reflow.plotting.quick import draw_quick_figures

                draw_quick_figures(pool, tmp / "timeseries.parquet", cfg_json, tmp / "figures", seed=seed)
            else:
                from reflow.plotting import quick_figures

                quick_figures(sim.timeseries, cfg_json, tmp / "figures", seed=seed)
        files = {p.relative_to(tmp).as_posix(): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        import mesa
        import numpy as np

        manifest = {
            "reflow_version": __version__,
            **git_status(),  # git_commit, git_dirty, git_dirty_paths (capped), git_dirty_count
            "seed": seed,
            "scenario": scenario.scenario.name,
            "config_file": config_file,
            "config_files": config_files,  # the file and those it extends: absolute paths, sha256 as read
            "overrides": parse_set_args(overrides),
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "wall_time_s": round(wall, 3),
            "python": platform.python_version(),
            "mesa_version": mesa.__version__,
            "numpy_version": np.__version__,  # its Generator streams may change between versions (NEP 19)
            "platform": platform.platform(),
            "files": files,
        }
        write_atomic(tmp / "manifest.json", json.dumps(manifest, indent=2, default=_json_default) + "\n")
        if folder.exists() or folder.is_symlink():
            if not force:
                raise ResultExistsError(f"{folder}: appeared while the run was going; the new result is kept in "
                                        f"{tmp}")
            if not _is_run_folder(folder):  # checked before the run too; this one guards against a race
                raise ResultExistsError(f"{folder}: is not a reflow run folder (no manifest.json), so --force "
                                        f"leaves it as it is; the new result is kept in {tmp}")
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
        return manifest
    except ResultExistsError:
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_resolved_config(folder: Path, scenario: Scenario, seed: int | None = None, name: str = "config",
                          header: str | None = None) -> dict[str, Any]:
    """Write the resolved scenario as ``folder/<name>.toml`` (which `reflow run` reads back) and ``<name>.json``.

    Every default is filled in and overrides are applied, as a run folder's ``config.toml``. `seed`: the seed the
    run used, recorded as ``scenario.seed`` so that re-running the TOML alone reproduces it (None: the scenario's
    own). `header`: the comment above the TOML (default: how to re-run it with `seed`). Returns the JSON content.
    """
    cfg_json = scenario.model_dump(mode="json")
    # TOML from the typed values (dates are dates, text stays text, whatever it looks like), not from the JSON
    cfg_toml = scenario.model_dump()
    if seed is not None:
        cfg_json["scenario"]["seed"] = cfg_toml["scenario"]["seed"] = seed
    if header is None:
        header = _config_header(cfg_json["scenario"]["seed"])
    write_atomic(folder / f"{name}.toml", header + dump_toml(_drop_none(cfg_toml)))
    write_atomic(folder / f"{name}.json", json.dumps(cfg_json, indent=2) + "\n")
    return cfg_json


def _config_header(seed: int) -> str:
    return (f"# Resolved by reflow {__version__}: every default filled in and overrides applied.\n"
            f"# Re-run with: reflow run config.toml --seed {seed}\n\n")


def _drop_none(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _drop_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_drop_none(x) for x in v]
    return v


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("week", pa.int64()), ("date", pa.date32()), ("variable", pa.string()),
                        ("material", pa.string()), ("origin", pa.string()), ("region", pa.string()),
                        ("value", pa.float64())])
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def write_atomic(path: Path, text: str) -> None:
    """Write text to a temp file beside `path`, fsync it and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _json_default(o: Any) -> Any:
    if isinstance(o, dt.date | dt.datetime):
        return o.isoformat()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(type(o))


def flatten_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """One flat dict of scalars: ``dy_oxide.peak_price_multiple``, ``overall.approval_share``, ...

    Per-region dicts are flattened one level deeper (``dy_oxide.peak_price_multiple_by_region.US``).
    """
    flat: dict[str, Any] = {}
    for m, metrics in summary.get("materials", {}).items():
        for k, v in metrics.items():
            if isinstance(v, Mapping):
                for r, x in v.items():
                    flat[f"{m}.{k}.{r}"] = x
            else:
                flat[f"{m}.{k}"] = v
    for k, v in summary.get("overall", {}).items():
        if isinstance(v, Mapping):
            for r, x in v.items():
                flat[f"overall.{k}.{r}"] = x
        else:
            flat[f"overall.{k}"] = v
    for k, v in summary.get("light_ree", {}).items():  # only with a La/Ce market
        flat[f"light_ree.{k}"] = v
    return flat


def evaluate(**params: Any) -> dict[str, Any]:
    """Scalar outcomes of one run for external tools (EMA Workbench); see `reflow.experiment.evaluate`."""
    try:
        from reflow.experiment.evaluate import evaluate as _evaluate
    except ModuleNotFoundError as exc:  # pragma: no cover - the experiment layer ships with reflow
        raise ReflowError("reflow.experiment.evaluate is not available in this installation") from exc
    return _evaluate(**params)
