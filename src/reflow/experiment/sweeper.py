"""Running a sweep: plan the runs, resume what is stored, execute the rest, persist each result at once.

`sweep()` is what ``reflow sweep`` and notebooks call. The layers below it are replaceable on their own: the
config (`sweep_config`), the design (`designs`), seeds (`seeds`), where runs execute (`executors`) and how results
are stored (`store`). This module only wires them together, with the sweep's bookkeeping in modules of their own:
what it reads (`sweep_inputs`), the checks before anything runs (`preflight`, `runner_checks`), the folder's own
files (`folder`) and the refusals that protect them (`folder_safety`), and resuming (`resume`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from reflow.errors import ConfigError, ResultExistsError, UsageError
from reflow.experiment.designs import UNIT_PREFIX, build_design
from reflow.experiment.executors import Executor, make_executor
from reflow.experiment.folder import (
    _base_toml,
    _clear_folder,
    _now,
    _read_design,
    _read_manifest,
    _versions,
    _write_json,
    _write_parquet_atomic,
)
from reflow.experiment.folder_safety import _refuse_foreign_folder, _refuse_inputs_in_out
from reflow.experiment.preflight import _check_outputs, _check_points
from reflow.experiment.resume import _check_same_sweep
from reflow.experiment.runner import DEFAULT_RUNNER, RunResult, RunTask, TimeseriesSpec
from reflow.experiment.runner_checks import _stored_runners, check_runner, recorded_runners
from reflow.experiment.seeds import design_seed, new_root_seed, run_seed
from reflow.experiment.store import SweepStore, load_runs, write_text_atomic
from reflow.experiment.sweep_config import FINGERPRINT_SCHEME, SweepConfig, config_fingerprint, dump_sweep_toml
from reflow.experiment.sweep_inputs import _as_started, _load_base, _load_cfg, _with_root

__all__ = ["FAILED_STATUSES", "SweepResult", "check_runner", "check_sweep", "parameter_columns", "plan_runs",
           "recorded_runners", "reproduce_command", "run_id", "sweep"]

logger = logging.getLogger(__name__)

#: Statuses of runs that did not produce metrics (`--retry-failed` runs them again).
FAILED_STATUSES = ("error", "crashed", "timeout")

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


# ----------------------------------------------------------------------------------------------- runs


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


# ----------------------------------------------------------------------------------------------- sweep


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


def _check_sweep_args(config: Any, out: Any) -> None:
    """Refuse arguments of the wrong type before any worker starts: a scenario (not a sweep) and a number as a
    folder failed deep inside with a TypeError about ``os.fspath``."""
    import os

    if not isinstance(config, (str, os.PathLike, SweepConfig)):
        hint = (" (a sweep varies a base scenario: write a sweep file whose `base` is the scenario's file, see "
                "docs/sweeps.md, or call reflow.run for one run)" if type(config).__name__ == "Scenario" else "")
        raise UsageError(f"sweep: expected a sweep file, a sweep folder or a SweepConfig; got "
                         f"{type(config).__name__}{hint}")
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise UsageError(f"sweep: out= is a folder (a str or Path); got {type(out).__name__}")


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
        UsageError: `config` is not a sweep file, folder or SweepConfig (a Scenario, say), or `out` not a path.
    """
    t_start = time.perf_counter()
    _check_sweep_args(config, out)
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
