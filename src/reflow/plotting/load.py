"""Reading run, scenario and sweep folders (docs/outputs.md) for plotting, with clear errors.

A path given by the user is one of:

- a run folder (`manifest.json`, `config.json`, `timeseries.parquet`, `summary.json`);
- a scenario folder holding several run folders (an ensemble over seeds);
- a sweep folder (`sweep.toml` and/or `runs/part-*.parquet`).

Anything else, and any missing or unreadable file, raises `ResultReadError` naming the file and what to do.

Runs are pooled (median and band over seeds) only when they are runs of the same scenario: the same name and the
same resolved config apart from the seed (`config_key`). Runs of one name whose configs differ (other `--set`
overrides, another `scenario.weeks`, an edited file) become separate groups, labelled by the keys that differ
(`variant_labels`), and `ResultSet.notes` says so. Runs of one config and one seed are one simulation: the
last to finish is kept, and a note names the others.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from reflow.errors import ResultReadError
from reflow.plotting._parallel import in_worker

__all__ = [
    "ResultSet",
    "RunResult",
    "SweepResult",
    "config_key",
    "differing_keys",
    "load_run",
    "load_sweep",
    "open_results",
    "variant_labels",
]

TIMESERIES_COLUMNS = ("week", "date", "variable", "material", "origin", "region", "value")
_RUN_FILES = ("manifest.json", "config.json", "timeseries.parquet", "summary.json")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ResultReadError(f"{path} is missing; the result folder is incomplete (re-run it)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultReadError(f"{path} is not valid JSON ({exc}); the file is corrupt (re-run the scenario)"
                              ) from exc
    if not isinstance(data, dict):
        raise ResultReadError(f"{path} should hold a JSON object, found {type(data).__name__}")
    return data


def read_timeseries(path: Path, variables: Iterable[str] | None = None) -> pd.DataFrame:
    """Read a `timeseries.parquet`, optionally only some variables (pushed down to the Parquet reader).

    Returns:
        The tidy frame with `date` as datetime64 so matplotlib draws real dates.
    """
    if not path.is_file():
        raise ResultReadError(f"{path} is missing; the run folder is incomplete (re-run it)")
    filters = None
    if variables is not None:
        filters = [("variable", "in", sorted(set(variables)))]
    try:  # single-threaded inside a forked worker: a thread pool inherited through fork is not to be trusted
        df = pd.read_parquet(path, filters=filters, use_threads=not in_worker())
    except Exception as exc:  # pyarrow raises several unrelated types for truncated or foreign files
        raise ResultReadError(f"{path} could not be read as Parquet ({type(exc).__name__}: {exc}); "
                              "the file is corrupt (re-run the scenario)") from exc
    missing = [c for c in TIMESERIES_COLUMNS if c not in df.columns]
    if missing:
        raise ResultReadError(f"{path} lacks column(s) {', '.join(missing)}; "
                              "it does not follow docs/outputs.md")
    df["date"] = pd.to_datetime(df["date"])
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    return df


@dataclass
class RunResult:
    """One finished run folder; the time series is read on demand."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    manifest: dict[str, Any]
    _cache: dict[frozenset[str] | None, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def scenario(self) -> str:
        """The scenario name (from the resolved config)."""
        return str((self.config.get("scenario") or {}).get("name") or self.manifest.get("scenario")
                   or self.path.parent.name)

    @property
    def seed(self) -> Any:
        """The run's seed (from the manifest)."""
        return self.manifest.get("seed", self.summary.get("seed"))

    @property
    def config_key(self) -> str:
        """Hash of the resolved config without the seed: runs with equal keys may be pooled over seeds."""
        return config_key(self.config)

    def timeseries(self, variables: Iterable[str] | None = None) -> pd.DataFrame:
        """The run's time series, or only the given variables (cached per selection).

        A new frame each call, sharing the cached data: a caller adding or replacing columns (a notebook
        converting units) leaves the run as read, and so does writing into values under pandas' copy-on-write
        (the default from pandas 3).
        """
        key = None if variables is None else frozenset(variables)
        if key not in self._cache:
            if None in self._cache:
                full = self._cache[None]
                return full[full["variable"].isin(key)] if key is not None else full.copy(deep=False)
            self._cache[key] = read_timeseries(self.path / "timeseries.parquet", key)
        return self._cache[key].copy(deep=False)

    def drop_cache(self) -> None:
        """Forget loaded time series (ensembles of many runs read one at a time)."""
        self._cache.clear()


# Fields that do not change what a run simulates: the default seed (each run records the one it used) and the
# text for reports. Everything else in config.json, defaults included, is part of the scenario.
_NOT_SCENARIO = {"scenario": ("seed", "description")}


def _scenario_part(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    for table, keys in _NOT_SCENARIO.items():
        if isinstance(out.get(table), dict):
            out[table] = {k: v for k, v in out[table].items() if k not in keys}
    return out


def config_key(config: dict[str, Any]) -> str:
    """A short hash of a resolved config (``config.json``) without its seed and description."""
    text = json.dumps(_scenario_part(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


_MISSING = "(absent)"


def differing_keys(configs: Sequence[dict[str, Any]]) -> list[str]:
    """Key paths whose values differ between resolved configs (seed and description left out), sorted."""
    return _differing(_flat_configs(configs))


def _flat_configs(configs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each config's scenario part by key path as `reflow run --set` spells it; a list as its JSON text."""
    from reflow.config import key_paths  # here, not above: plotting otherwise never loads pydantic (~0.4 s)

    return [{k: json.dumps(v, sort_keys=True, default=str) if isinstance(v, list) else v
             for k, v in key_paths(_scenario_part(c)).items()} for c in configs]


def _differing(flats: Sequence[dict[str, Any]]) -> list[str]:
    keys = sorted(set().union(*flats)) if flats else []
    return [k for k in keys if len({json.dumps(f.get(k, _MISSING), default=str) for f in flats}) > 1]


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each key path by its shortest ending that no other of `keys` shares (`weeks`, `apr2025.approval_rate`)."""
    out = {}
    for k in keys:
        parts = k.split(".")
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if not any(o != k and (o == tail or o.endswith("." + tail)) for o in keys):
                break
        out[k] = tail
    return out


def _telling_keys(keys: Sequence[str], flats: Sequence[dict[str, Any]], n: int) -> list[str]:
    """The `n` keys (in the order of `keys`) that tell the most configs apart, chosen one at a time.

    Alphabetically first keys could all be ones most configs share (three demand keys of one region the other
    runs leave at their defaults), leaving labels that differ only in a "#2"."""
    def told_apart(ks: list[str]) -> int:
        return len({tuple(json.dumps(f.get(k, _MISSING), default=str) for k in ks) for f in flats})

    chosen: list[str] = []
    for _ in range(min(n, len(keys))):
        rest = [k for k in keys if k not in chosen]
        chosen.append(max(rest, key=lambda k: told_apart([*chosen, k])))  # (ties: the first in `keys`)
    return [k for k in keys if k in chosen]


def variant_labels(name: str, configs: Sequence[dict[str, Any]], max_keys: int = 3) -> list[str]:
    """Distinct labels for runs of one scenario name with different configs: the name and the differing values.

    ``controls_2025 [approval_rate=0.4]``: each differing key by the shortest ending of its path that tells it
    from the other differing keys (`differing_keys` gives the full paths); beyond `max_keys` keys, those that
    tell the most configs apart, and ``+N more``.
    """
    flats = _flat_configs(configs)  # flattened once, for the keys that differ and for the values shown
    keys = _differing(flats)
    short = _short_keys(keys)
    shown_keys = _telling_keys(keys, flats, max_keys)
    labels = []
    for flat in flats:
        shown = [f"{short[k]}={_short(flat.get(k, _MISSING))}" for k in shown_keys]
        more = f", +{len(keys) - max_keys} more" if len(keys) > max_keys else ""
        labels.append(f"{name} [{', '.join(shown)}{more}]" if shown else name)
    counts = {label: labels.count(label) for label in labels}
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):  # values cut short, or keys left out, can collide: number them all
        if counts[label] > 1:
            seen[label] = seen.get(label, 0) + 1
            labels[i] = f"{label} #{seen[label]}"
    return labels


def load_run(path: str | Path) -> RunResult:
    """Open a run folder, checking that it is complete.

    Raises:
        ResultReadError: the folder is missing, a sweep's, interrupted (no manifest) or holds corrupt JSON.
    """
    path = Path(path)
    if not path.is_dir():
        raise ResultReadError(f"{path} does not exist or is not a folder")
    if _is_sweep(path):  # it has a manifest.json too: not an incomplete run
        raise ResultReadError(f"{path} is a sweep folder, not a run: read its runs with "
                              "reflow.experiment.load_runs, or plot it with reflow.plotting.plot")
    if not (path / "manifest.json").is_file():
        raise ResultReadError(f"{path} has no manifest.json: the run was interrupted or this is not a "
                              "run folder")
    manifest = _read_json(path / "manifest.json")
    config = _read_json(path / "config.json")
    summary = _read_json(path / "summary.json")
    if not (path / "timeseries.parquet").is_file():
        raise ResultReadError(f"{path / 'timeseries.parquet'} is missing; the run folder is incomplete")
    return RunResult(path=path, config=config, summary=summary, manifest=manifest)


@dataclass
class SweepResult:
    """One sweep folder; the per-run table is read with only the columns a figure needs."""

    path: Path
    spec: dict[str, Any]
    spec_text: str
    manifest: dict[str, Any]
    columns: list[str]
    _runs: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The sweep's name (from sweep.toml or the folder name)."""
        for key in ("name", "sweep_name"):
            if isinstance(self.spec.get(key), str):
                return self.spec[key]
        sweep = self.spec.get("sweep")
        if isinstance(sweep, dict) and isinstance(sweep.get("name"), str):
            return sweep["name"]
        return self.path.name

    @property
    def design_method(self) -> str | None:
        """`grid`, `lhs`, `sobol`, `morris` or `from_csv` (None when the folder does not say)."""
        design = self.spec.get("design")
        if isinstance(design, dict) and isinstance(design.get("method"), str):
            return design["method"]
        method = self.manifest.get("design")
        return method if isinstance(method, str) else None

    @property
    def parameters(self) -> list[str]:
        """Columns holding varied parameters (key paths such as `licensing.approval_rate`)."""
        from reflow.experiment.store import BASE_COLUMNS

        declared = _declared_parameters(self.spec) + _declared_parameters(self.manifest)
        cols = [c for c in self.columns if c not in BASE_COLUMNS]
        found = [c for c in dict.fromkeys(declared) if c in cols]
        if found:
            return found
        return [c for c in cols if not _looks_like_metric(c)]

    @property
    def metrics(self) -> list[str]:
        """Columns holding summary metrics (`dy_oxide.peak_price_multiple`, `overall.approval_share`, ...)."""
        from reflow.experiment.store import BASE_COLUMNS

        params = set(self.parameters)
        return [c for c in self.columns
                if c not in BASE_COLUMNS and c not in params and _looks_like_metric(c)]

    def runs(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The per-run table (one row per run, read once and kept: a few kB per thousand runs).

        Args:
            columns: only these columns (plus `status`), when given.
        """
        if self._runs is None:
            self._runs = _read_runs(self.path, None)
        if columns is None:
            return self._runs
        wanted = [c for c in dict.fromkeys([*columns, "status"]) if c in self._runs.columns]
        return self._runs[wanted]

    @cached_property
    def analysis_record(self) -> dict[str, Any] | None:
        """``analysis/notes.json`` as `reflow analyze` wrote it (read once), or None when it is absent, unreadable
        or not a JSON object."""
        try:
            record = json.loads((self.path / "analysis" / "notes.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def analysis_stale(self) -> str | None:
        """Why the files of `reflow analyze` are out of date (the sweep stored runs since), or None.

        ``analysis/notes.json`` records the runs the analysis saw, by status; analyses written before it did are
        taken as current.
        """
        return self._stale

    @cached_property
    def _stale(self) -> str | None:
        # once per folder opened: `analysis` asks for every table a figure reads
        seen = self.analysis_record.get("runs") if self.analysis_record is not None else None
        if not isinstance(seen, dict):
            return None
        from reflow.experiment.analysis import runs_stamp

        now = runs_stamp(self.runs(["status"]))
        if seen == now:
            return None

        def said(c: dict[str, Any]) -> str:
            return ", ".join(f"{n} {k}" for k, n in c.items()) or "none"

        return (f"{self.path / 'analysis'} was written when the sweep held {said(seen)} runs; it now holds "
                f"{said(now)}: figures and notes are computed from the runs as they are (`reflow analyze "
                f"{self.path}` updates the files)")

    def analysis(self, name: str) -> pd.DataFrame | None:
        """`analysis/<name>.csv` (points, sobol, morris) if the sweep has been analysed since it last stored runs,
        else None."""
        path = self.path / "analysis" / f"{name}.csv"
        if not path.is_file() or self.analysis_stale():
            return None
        try:
            return pd.read_csv(path)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise ResultReadError(f"{path} could not be read as CSV ({exc}); re-run the analysis") from exc


_METRIC_PREFIXES = ("overall.", "ndpr_oxide.", "dy_oxide.", "tb_oxide.", "ndfeb_magnet.", "light_ree.")


def _looks_like_metric(column: str) -> bool:
    return column.startswith(_METRIC_PREFIXES) or column in {"weeks", "seed"}


def _declared_parameters(spec: dict[str, Any]) -> list[str]:
    """Parameter key paths declared in a sweep spec or manifest, whatever the exact layout."""
    names: list[str] = []
    for key in ("parameters", "vary", "params", "space"):
        block = spec.get(key)
        if isinstance(block, dict):
            names.extend(str(k) for k in block)
        elif isinstance(block, list):
            for item in block:
                if isinstance(item, dict):
                    n = item.get("name") or item.get("key") or item.get("path")
                    if n:
                        names.append(str(n))
                elif isinstance(item, str):
                    names.append(item)
    sweep = spec.get("sweep")
    if isinstance(sweep, dict):
        names.extend(_declared_parameters(sweep))
    return names


def _runs_dataset_columns(path: Path) -> list[str]:
    import pyarrow.dataset as ds

    try:
        return list(ds.dataset(path / "runs", format="parquet").schema.names)
    except Exception as exc:
        raise ResultReadError(f"{path / 'runs'} could not be read as Parquet ({exc}); the sweep store is "
                              "corrupt or still being written") from exc


def _read_runs(path: Path, columns: list[str] | None) -> pd.DataFrame:
    try:  # the sweep engine's own reader knows its layout best, when present
        from reflow.experiment.store import load_runs  # type: ignore[import-not-found]
    except ImportError:
        load_runs = None
    if load_runs is not None:
        try:
            df = load_runs(path)
        except (FileNotFoundError, OSError, ValueError) as exc:
            raise ResultReadError(f"{path}: the sweep's run table could not be read ({exc})") from exc
        return df if columns is None else df[[c for c in columns if c in df.columns]]
    try:
        return pd.read_parquet(path / "runs", columns=columns)
    except Exception as exc:
        raise ResultReadError(f"{path / 'runs'} could not be read as Parquet ({type(exc).__name__}: {exc}); "
                              "the sweep store is corrupt") from exc


def load_sweep(path: str | Path) -> SweepResult:
    """Open a sweep folder.

    Raises:
        ResultReadError: no run table, unreadable `sweep.toml`, or corrupt Parquet parts.
    """
    path = Path(path)
    runs_dir = path / "runs"
    if not runs_dir.is_dir() or not any(runs_dir.glob("*.parquet")):
        raise ResultReadError(f"{path} has no runs/*.parquet: the sweep has not stored any run yet")
    spec: dict[str, Any] = {}
    text = ""
    if (path / "sweep.toml").is_file():
        text = (path / "sweep.toml").read_text(encoding="utf-8", errors="replace")
        try:
            spec = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ResultReadError(f"{path / 'sweep.toml'} is not valid TOML ({exc})") from exc
    manifest = _read_json(path / "manifest.json") if (path / "manifest.json").is_file() else {}
    columns = _runs_dataset_columns(path)
    missing = [c for c in ("run_id", "status") if c not in columns]
    if missing:
        raise ResultReadError(f"{runs_dir} lacks column(s) {', '.join(missing)}; not a reflow sweep store")
    return SweepResult(path=path, spec=spec, spec_text=text, manifest=manifest, columns=columns)


def _is_sweep(path: Path) -> bool:
    return (path / "sweep.toml").is_file() or (path / "runs").is_dir()


@dataclass
class ResultSet:
    """What the user asked to plot: runs grouped by scenario, or one sweep."""

    groups: dict[str, list[RunResult]] = field(default_factory=dict)
    sweep: SweepResult | None = None
    skipped: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. runs of one scenario name split by config

    @property
    def kind(self) -> str:
        """`sweep`, `run` (one run), `ensemble` (one scenario, several seeds) or `overlay` (scenarios)."""
        if self.sweep is not None:
            return "sweep"
        if len(self.groups) > 1:
            return "overlay"
        runs = next(iter(self.groups.values()))
        return "run" if len(runs) == 1 else "ensemble"

    @property
    def runs(self) -> list[RunResult]:
        """All runs, scenario by scenario."""
        return [r for rs in self.groups.values() for r in rs]


def _run_order(run: RunResult) -> tuple[int, str]:
    """Seed in numeric order (seed 2 before seed 10), then folder."""
    seed = run.seed
    return seed if isinstance(seed, int) else 2**63 - 1, run.path.name


def _finished(run: RunResult) -> tuple[str, str]:
    """When a run finished (its manifest's UTC time, which sorts as text), then its folder name."""
    return str(run.manifest.get("finished_at") or ""), run.path.name


def _one_run_per_seed(name: str, runs: list[RunResult], notes: list[str]) -> list[RunResult]:
    """The runs of one config with each seed once: the last to finish of those sharing a seed.

    Runs of one config and seed are the same simulation (`reflow run` twice without --run-id makes two such
    folders); pooled, they would count as two seeds, narrowing the band and weighting that seed double. Each
    seed left out is noted, naming the folders."""
    by_seed: dict[Any, list[RunResult]] = {}
    for run in runs:
        by_seed.setdefault(run.seed if run.seed is not None else id(run), []).append(run)
    kept = []
    for seed, same in by_seed.items():
        latest = max(same, key=_finished)
        kept.append(latest)
        if len(same) > 1:
            others = [str(r.path) for r in same if r is not latest]
            notes.append(f"{len(same)} runs of scenario '{name}' have the same config and seed {seed}, so the "
                         f"same result: counted once, from {latest.path} (the last to finish); left out "
                         f"{', '.join(others[:3])}{' ...' if len(others) > 3 else ''}")
    return [r for r in runs if any(r is k for k in kept)]


def open_results(paths: Sequence[str | Path]) -> ResultSet:
    """Open the folders named on the command line and work out what kind of figure set they make.

    Raises:
        ResultReadError: a path is missing, is not a result folder, mixes sweeps with runs, or is incomplete.
    """
    if not paths:
        raise ResultReadError("no result folder given")
    result = ResultSet()
    runs: list[RunResult] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ResultReadError(f"{path} does not exist")
        if not path.is_dir():
            raise ResultReadError(f"{path} is a file; give a run, scenario or sweep folder "
                                  "(not a file inside it)")
        if _is_sweep(path):
            if result.sweep is not None:
                raise ResultReadError("give one sweep folder at a time")
            result.sweep = load_sweep(path)
        elif any((path / f).exists() for f in _RUN_FILES):  # a run folder, maybe incomplete: say what's wrong
            runs.append(load_run(path))
        else:
            # hidden folders are runs being written (`.seed1.x8k2`), not results yet
            # (a run with a manifest but no time series is an error from load_run, not a run left out unsaid)
            subfolders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
            sweeps = [p for p in subfolders if _is_sweep(p)]  # a sweep has a manifest.json too: not a run
            children = [p for p in subfolders if p not in sweeps
                        and ((p / "timeseries.parquet").exists() or (p / "manifest.json").is_file())]
            complete = [p for p in children if (p / "manifest.json").is_file()]
            result.skipped.extend(p for p in children if p not in complete)
            if not complete and sweeps:
                raise ResultReadError(
                    f"{path} holds sweep folders ({', '.join(p.name for p in sweeps[:4])}"
                    f"{' ...' if len(sweeps) > 4 else ''}), not runs; give one sweep folder at a time")
            if not complete:
                raise ResultReadError(
                    f"{path} is not a run folder (no manifest.json + timeseries.parquet), a scenario folder "
                    "(holding run folders) or a sweep folder (sweep.toml, runs/)")
            runs.extend(load_run(p) for p in complete)
    if result.sweep is not None and runs:
        raise ResultReadError("plot a sweep on its own, not together with run folders")
    seen: set[Path] = set()
    by_name: dict[str, dict[str, list[RunResult]]] = {}
    for run in runs:
        if run.path.resolve() in seen:
            continue
        seen.add(run.path.resolve())
        by_name.setdefault(run.scenario, {}).setdefault(run.config_key, []).append(run)
    for name, variants in by_name.items():  # scenarios in the order given
        for key, rs in variants.items():
            variants[key] = _one_run_per_seed(name, rs, result.notes)
        if len(variants) == 1:
            result.groups[name] = next(iter(variants.values()))
            continue
        # Pooling runs of different configs into one median and band would show a spread that is not seed noise:
        # each config is a group of its own, labelled by what differs.
        configs = [rs[0].config for rs in variants.values()]
        labels = variant_labels(name, configs)
        result.groups.update(zip(labels, variants.values(), strict=True))
        keys = differing_keys(configs)
        result.notes.append(
            f"runs of scenario '{name}' have {len(variants)} different configs (differing in "
            f"{', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''}); drawn as separate groups: "
            + "; ".join(f"{label} ({len(rs)} run{'s' if len(rs) != 1 else ''})"
                        for label, rs in zip(labels, variants.values(), strict=True)))
    for group in result.groups.values():  # runs by seed
        group.sort(key=_run_order)
    return result
