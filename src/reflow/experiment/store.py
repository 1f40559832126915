"""The sweep result store: Parquet parts written atomically, readable with one line of pandas.

Layout of a sweep folder (docs/sweeps.md):

    <out>/sweep.toml             resolved sweep config
    <out>/manifest.json          version, git commit, root seed, times, counts
    <out>/design.parquet         the design points (point_id, parameter values, unit coordinates)
    <out>/base.toml              the base scenario merged from its `extends` chain (self-contained)
    <out>/runs/part-*.parquet    one row per finished run
    <out>/timeseries/part-*.parquet   optional down-sampled time series (run_id column)
    <out>/errors.log             tracebacks of failed runs
    <out>/analysis/*.csv         written by `reflow analyze`

Guarantees: a part is written to a hidden temporary name and renamed into place, so a reader never sees half a
file (after a power cut a part the OS had not flushed yet can be unreadable: `recover` sets it aside and its runs
are redone); a run's time series are stored before its row, so a row means the run is complete; every part of a folder
has the same schema (a new column or a wider type rewrites the older parts first), so
``pd.read_parquet(out / "runs")`` works at any moment (a reader racing a merge may find a listed part gone:
`load_runs` then lists again); merging parts (compaction) records its intent first and is finished or undone by
the next writer, so a crash never loses a row; a crash between placing the merged part and deleting its inputs
leaves rows twice on disk until the sweep is resumed (`load_runs` drops such duplicates; `pd.read_parquet` does not).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from reflow.errors import ReflowError, ResultReadError, UsageError

logger = logging.getLogger(__name__)

__all__ = [
    "BASE_COLUMNS",
    "PartDir",
    "SweepStore",
    "load_runs",
    "load_timeseries",
    "write_text_atomic",
]

#: Columns every runs table starts with, in this order.
BASE_COLUMNS = ["run_id", "point_id", "replicate", "seed", "status", "error", "wall_time_s", "cpu_time_s",
                "overrides", "runner"]

_TS_TYPES = {"week": pa.int64(), "variable": pa.string(), "material": pa.string(), "origin": pa.string(),
             "region": pa.string(), "value": pa.float64(), "run_id": pa.string()}
_BASE_TYPES = {"run_id": pa.string(), "point_id": pa.int64(), "replicate": pa.int64(), "seed": pa.int64(),
               "status": pa.string(), "error": pa.string(), "wall_time_s": pa.float64(),
               "cpu_time_s": pa.float64(), "overrides": pa.string(), "runner": pa.string()}
_INTENT = ".compact.json"
_ROW_GROUP = 1 << 20  # rows per row group of a merged part
_CACHE_ROWS = 1 << 20  # rows of recently written parts kept in memory for the next compaction


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file through a temporary name and an atomic rename."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _merge_type(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The narrowest type holding both (null < int < float < string)."""
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if (pa.types.is_integer(a) or pa.types.is_floating(a)) and (pa.types.is_integer(b) or pa.types.is_floating(b)):
        return pa.float64()
    return pa.string()


def _merge_schema(current: pa.Schema | None, new: pa.Schema) -> pa.Schema:
    fields: dict[str, pa.DataType] = {f.name: f.type for f in current} if current is not None else {}
    for f in new:
        fields[f.name] = _merge_type(fields[f.name], f.type) if f.name in fields else f.type
    # An all-null column gets a concrete type so that later parts never need a cast from null; most metrics are
    # numbers (a string metric seen later widens it to string and the older parts are rewritten).
    return pa.schema([(n, pa.float64() if pa.types.is_null(t) else t) for n, t in fields.items()])


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    if table.schema.equals(schema):
        return table
    have = dict(zip(table.column_names, table.columns, strict=True))
    cols = []
    for f in schema:
        col = have.get(f.name)
        if col is None:
            cols.append(pa.nulls(table.num_rows, f.type))
        else:
            cols.append(col if col.type.equals(f.type) else col.cast(f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def _column(name: str, values: list[Any], known: dict[str, pa.DataType]) -> pa.Array:
    if name in known:
        return pa.array(values, type=known[name])
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: keep them readable as text
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def rows_to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Run rows (dicts) as an Arrow table, base columns first and typed."""
    names = list(BASE_COLUMNS)
    for r in rows:
        names.extend(k for k in r if k not in names)
    return pa.table({n: _column(n, [r.get(n) for r in rows], _BASE_TYPES) for n in names})


def timeseries_to_table(df: pd.DataFrame) -> pa.Table:
    """A down-sampled time-series frame as an Arrow table with stable column types."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    for name, typ in _TS_TYPES.items():
        if name in table.column_names and table.column(name).type != typ:
            i = table.column_names.index(name)
            table = table.set_column(i, name, table.column(name).cast(typ))
    return table


class PartDir:
    """A folder of Parquet parts that share one schema."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.schema: pa.Schema | None = None
        self.written = 0  # parts written by this process since the last compaction
        # The parts this process wrote since the last compaction, as written: compacting takes them from here
        # instead of reading each file back (~3 ms a part; most of the end-of-sweep compaction).
        self._cache: dict[str, pa.Table] = {}
        self._cached_rows = 0

    def parts(self) -> list[Path]:
        """Visible parts, oldest first (names start with a millisecond timestamp)."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.glob("part-*.parquet") if p.is_file())

    def recover(self) -> None:
        """Finish or undo an interrupted compaction and delete temporary files."""
        if not self.path.is_dir():
            return
        intent = self.path / _INTENT
        if intent.exists():
            try:
                plan = json.loads(intent.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                plan = None
            if plan is not None and (plan.get("output") is None or (self.path / plan["output"]).exists()):
                for name in plan.get("inputs", []):  # the merged part is in place: the inputs are redundant
                    (self.path / name).unlink(missing_ok=True)
            intent.unlink(missing_ok=True)
        for tmp in self.path.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        self.schema = None
        self._forget()
        for p in self.parts():
            try:
                # The whole part, not just its footer (a part torn in the middle has an intact schema), unless it
                # is large: those are merged parts, written with fsync, which a crash cannot tear.
                if p.stat().st_size <= _FULL_CHECK_BYTES:
                    schema = pq.read_table(p).schema.remove_metadata()
                else:
                    schema = pq.read_schema(p).remove_metadata()
            except (OSError, pa.ArrowInvalid) as exc:  # e.g. not flushed before a power cut: redo its runs
                # Set aside under a name Parquet readers skip ("_..."), so `pd.read_parquet(runs/)` still works.
                aside = p.with_name(f"_{p.name}.corrupt")
                logger.warning("%s is unreadable (%s); set aside as %s, its runs will be redone", p, exc, aside.name)
                os.replace(p, aside)
                continue
            self.schema = _merge_schema(self.schema, schema)

    def _new_name(self) -> str:
        return f"part-{int(time.time() * 1000):013d}-{secrets.token_hex(3)}.parquet"

    def _write(self, table: pa.Table, name: str) -> None:
        # No fsync: a killed process cannot tear a renamed file (the kernel has it); what a power cut leaves
        # unflushed, `recover` sets aside and the sweep redoes. Syncing cost ~5 ms a run.
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.path / name)

    def append(self, table: pa.Table, name: str | None = None) -> str:
        """Store a table as a new part (rewriting older parts first if the schema widens). Returns its name."""
        target = _merge_schema(self.schema, table.schema)
        if self.schema is not None and not target.equals(self.schema) and self.parts():
            self.compact(schema=target)
        self.schema = target
        name = name or self._new_name()
        table = _conform(table, target)
        self._write(table, name)
        self.written += 1
        if self._cached_rows + table.num_rows <= _CACHE_ROWS:
            self._cache[name] = table
            self._cached_rows += table.num_rows
        return name

    def _forget(self) -> None:
        self._cache.clear()
        self._cached_rows = 0

    def compact(self, drop_run_ids: Iterable[str] = (), schema: pa.Schema | None = None) -> None:
        """Merge all parts into one (dropping rows whose run_id is in `drop_run_ids`)."""
        parts = self.parts()
        drop = set(drop_run_ids)
        if not parts or (len(parts) == 1 and not drop and (schema is None or schema.equals(self.schema))):
            return
        if schema is None:
            schema = self.schema
            for p in parts:
                if p.name not in self._cache:  # a cached part has self.schema
                    schema = _merge_schema(schema, pq.read_schema(p).remove_metadata())
        name = self._new_name()
        intent = self.path / _INTENT
        write_text_atomic(intent, json.dumps({"inputs": [p.name for p in parts], "output": name}))
        tmp = self.path / f".{name}.tmp"
        rows = 0
        buffer: list[pa.Table] = []
        buffered = 0
        with pq.ParquetWriter(tmp, schema) as writer:
            for p in parts:
                t = self._cache.get(p.name)
                if t is None:
                    t = pq.read_table(p)
                if drop and "run_id" in t.column_names:
                    keep = [rid not in drop for rid in t.column("run_id").to_pylist()]
                    t = t.filter(pa.array(keep))
                if t.num_rows:
                    buffer.append(_conform(t, schema))
                    buffered += t.num_rows
                    rows += t.num_rows
                if buffered >= _ROW_GROUP:  # few, large row groups: one per part would bloat the file
                    writer.write_table(pa.concat_tables(buffer))
                    buffer, buffered = [], 0
            if buffer:
                writer.write_table(pa.concat_tables(buffer))
        if rows:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path / name)
        else:
            tmp.unlink(missing_ok=True)
            write_text_atomic(intent, json.dumps({"inputs": [p.name for p in parts], "output": None}))
        for p in parts:
            p.unlink(missing_ok=True)
        intent.unlink(missing_ok=True)
        self.schema = schema
        self.written = 0
        self._forget()

    def read_column(self, column: str) -> list[Any]:
        """All values of one column across parts (cheap: reads only that column)."""
        out: list[Any] = []
        for p in self.parts():
            if column in pq.read_schema(p).names:
                out.extend(pq.read_table(p, columns=[column]).column(column).to_pylist())
        return out


class SweepStore:
    """The result store of one sweep folder; only the process holding the folder's lock writes to it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runs = PartDir(self.root / "runs")
        self.timeseries = PartDir(self.root / "timeseries")
        self._lock_fh: Any = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[SweepStore]:
        """Hold the folder's write lock (released on exit, and by the OS if the process dies).

        A folder this call created and that holds nothing but the lock on exit (a sweep refused before it wrote
        anything) is removed, so a refusal leaves no trace to be mistaken for a sweep folder.
        """
        created = not self.root.exists()
        for folder in (self.root, *self.root.parents):  # the nearest existing one must be a folder
            if folder.exists():
                if not folder.is_dir():
                    raise UsageError(f"--out {self.root}: {folder} is a file, not a folder; give --out a folder "
                                     "(new, or one a sweep wrote)")
                break
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--out {self.root}: cannot create the sweep folder ({exc.strerror or exc}); give "
                             "--out a folder you can write to") from None
        fh = open(self.root / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
        try:
            try:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # not POSIX: no advisory locks; rely on users not running two sweeps at once
                pass
            except OSError:
                fh.seek(0)
                holder = fh.read().strip() or "?"
                raise ReflowError(f"{self.root}: another `reflow sweep` (pid {holder}) is writing to this folder; "
                                  "wait for it to finish or choose another --out") from None
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            self._lock_fh = fh
            yield self
        finally:
            self._lock_fh = None
            fh.close()
            if created and [p.name for p in self.root.iterdir()] == [".lock"]:
                (self.root / ".lock").unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # something appeared meanwhile: leave it
                    self.root.rmdir()

    def recover(self) -> None:
        """Repair what an interrupted writer left: finish compactions, drop temp files and orphan time series."""
        self.runs.recover()
        self.timeseries.recover()
        if self.timeseries.parts():
            done = set(self.runs.read_column("run_id"))
            for p in self.timeseries.parts():
                ids = set(pq.read_table(p, columns=["run_id"]).column("run_id").to_pylist())
                if not ids <= done:  # written just before a crash, without its rows: the runs will be redone
                    p.unlink()
            self.timeseries.recover()

    def finished(self) -> pd.DataFrame:
        """run_id, status and seed of every stored run."""
        frames = [pq.read_table(p, columns=["run_id", "status", "seed"]).to_pandas() for p in self.runs.parts()]
        if not frames:
            return pd.DataFrame({"run_id": [], "status": [], "seed": []})
        return pd.concat(frames, ignore_index=True).drop_duplicates("run_id", keep="last")

    def append(self, rows: Sequence[dict[str, Any]], timeseries: Sequence[pd.DataFrame] = ()) -> None:
        """Persist finished runs now: their time series first, then their rows (the commit)."""
        if not rows:
            return
        name = self.runs._new_name()
        ts = [t for t in timeseries if t is not None and len(t)]
        if ts:
            self.timeseries.append(timeseries_to_table(pd.concat(ts, ignore_index=True)), name)
        self.runs.append(rows_to_table(rows), name)

    def compact(self, drop_run_ids: Iterable[str] = ()) -> None:
        """Merge parts into one per folder (optionally dropping runs, e.g. failed ones about to be retried)."""
        drop = list(drop_run_ids)
        self.runs.compact(drop)
        self.timeseries.compact(drop)


_FULL_CHECK_BYTES = 32 * 2**20  # parts up to this size are read whole when a sweep is resumed


def _sweep_root(path: str | Path) -> Path:
    p = Path(path)
    return p.parent if p.name in ("runs", "timeseries") else p


def _read_parts(folder: Path, columns: list[str] | None = None, attempts: int = 5) -> pd.DataFrame | None:
    # A running sweep may merge parts between the listing and the reading (the merged part is in place before
    # its inputs go): a part that vanished means "list again", not a damaged store.
    for attempt in range(attempts):
        parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
        frames: list[pd.DataFrame] = []
        vanished = False
        for p in parts:
            try:
                frames.append(pq.read_table(p, columns=columns).to_pandas())
            except (OSError, pa.ArrowInvalid) as exc:
                if p.exists():
                    root = _sweep_root(folder)
                    raise ResultReadError(f"{p}: cannot read this Parquet part ({exc}); resume the sweep (`reflow "
                                          f"sweep {root}`), which sets it aside as _*.corrupt and redoes its runs"
                                          ) from None
                vanished = True
                break
        if not vanished:
            break
        time.sleep(0.05 * (attempt + 1))
    else:
        raise ResultReadError(f"{folder}: its parts kept changing while being read (a sweep is compacting them); "
                              "read again in a moment")
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def load_runs(path: str | Path) -> pd.DataFrame:
    """The runs table of a sweep: one row per finished run, sorted by point and replicate.

    Args:
        path: the sweep folder (or its ``runs`` subfolder).

    Returns:
        Columns ``run_id, point_id, replicate, seed, status, error, wall_time_s, cpu_time_s, overrides, runner``,
        one per varied parameter (named by key path) and one per summary metric. Empty (with the base columns)
        before the first run finishes. ``runner`` is the run function that made the run; folders written before
        the table recorded it get the one their manifest lists when it lists exactly one, else null.

    Raises:
        ResultReadError: `path` does not exist or is not a sweep folder (a run or scenario folder, say).
    """
    root = _sweep_root(path)
    if not root.is_dir():
        raise ResultReadError(f"{root}: no such sweep folder (run `reflow sweep CONFIG --out {root}` first)")
    # Only a sweep's folder may be empty (before its first run finishes): any other folder is a wrong path, not
    # a sweep without runs.
    if (root / "manifest.json").is_file() and (root / "timeseries.parquet").is_file():
        raise ResultReadError(f"{root} is a run folder, not a sweep: read its timeseries.parquet and summary.json "
                              "(reflow.plotting.load.load_run), or give the folder `reflow sweep` wrote")
    if not (root / "sweep.toml").is_file() and not (root / "runs").is_dir():
        raise ResultReadError(f"{root}: not a sweep folder (no sweep.toml, no runs/); give the folder "
                              "`reflow sweep CONFIG --out FOLDER` wrote")
    df = _read_parts(root / "runs")
    if df is None:
        return pd.DataFrame({c: pd.Series(dtype=_BASE_TYPES[c].to_pandas_dtype()) for c in BASE_COLUMNS})
    df = _with_runner(df.drop_duplicates("run_id", keep="last"), root)
    return df.sort_values(["point_id", "replicate"], kind="stable").reset_index(drop=True)


def _with_runner(df: pd.DataFrame, root: Path) -> pd.DataFrame:
    """`df` with a ``runner`` for every run the folder can attribute: runs stored before the table had the column
    (an older reflow's) made by the only run function the manifest lists; null where it lists several."""
    missing = "runner" not in df.columns
    if not missing and not df["runner"].isna().any():
        return df
    from reflow.experiment.runner_checks import recorded_runners

    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    runners = recorded_runners(manifest) if isinstance(manifest, dict) else []
    only = runners[0] if len(runners) == 1 else None
    if missing:
        at = list(df.columns).index("overrides") + 1 if "overrides" in df.columns else len(df.columns)
        df = df.copy()
        text = df["overrides"].dtype if "overrides" in df.columns else object  # as the other text columns read
        df.insert(at, "runner", pd.Series([only] * len(df), index=df.index, dtype=text))
    elif only is not None:
        df = df.assign(runner=df["runner"].fillna(only))
    return df


def load_timeseries(path: str | Path, run_ids: Iterable[str] | None = None) -> pd.DataFrame | None:
    """The stored down-sampled time series of a sweep (None if it kept none), optionally for some runs only."""
    df = _read_parts(_sweep_root(path) / "timeseries")
    if df is None:
        return None
    if run_ids is not None:
        df = df[df["run_id"].isin(set(run_ids))]
    return df.reset_index(drop=True)
