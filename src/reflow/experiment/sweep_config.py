"""Sweep configuration: the declared parameter space, design, replicates and outputs of an experiment.

A sweep file is TOML, validated here once (like scenarios) into a `SweepConfig`; everything downstream trusts it.

    [sweep]
    name = "approval_delay"
    base = "../controls_2025.toml"      # the scenario every run starts from (relative to this file)
    replicates = 20
    root_seed = 20250404                # optional; drawn from OS entropy and recorded when absent

    [sweep.set]                         # fixed overrides applied to every run
    "scenario.weeks" = 200

    [design]
    method = "grid"                     # grid | lhs | sobol | morris | from_csv

    [[parameters]]
    key = "licensing.approval_rate"     # any scenario field by key path, policy events by id
    values = [0.2, 0.5, 0.8]

    [[parameters]]
    key = "licensing.review_working_days_median"
    low = 10
    high = 90
    steps = 5                           # grid: evenly spaced; sampling designs use `dist`

    [outputs]
    metrics = ["dy_oxide.peak_price_multiple"]   # the ones `reflow analyze` reports (all are stored)
    timeseries = true
    timeseries_every_weeks = 4
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from reflow.config import FOLDER_NAME_PATTERN, OverrideSource, key_paths, parse_set_args, read_toml
from reflow.config.errors import pattern_message
from reflow.errors import ConfigError

__all__ = [
    "FINGERPRINT_SCHEME",
    "SWEEP_TOML_HEAD",
    "DesignSpec",
    "OutputSpec",
    "ParameterSpec",
    "SweepConfig",
    "SweepSection",
    "canonical_json",
    "config_fingerprint",
    "dump_sweep_toml",
    "identity_changes",
    "load_sweep_config",
    "parse_sweep_config",
    "refuse_varied_set",
    "resolved_base_sha256",
    "sweep_identity",
]

Scalar = bool | int | float | str


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SweepSection(_Base):
    """Identity, base scenario, replication and seeding of a sweep."""

    name: str = Field(pattern=FOLDER_NAME_PATTERN, description="used as the default output folder name")
    description: str = ""
    base: str = Field(description="scenario TOML every run starts from; relative paths are from the sweep file")
    replicates: int = Field(1, ge=1, le=100_000, description="runs per design point, each with its own seed")
    root_seed: int | None = Field(None, ge=0, description="root of every run's seed (numpy SeedSequence)")
    seeds: Literal["common", "independent"] = Field(
        "common", description="common: replicate r uses the same seed at every point (common random numbers); "
                              "independent: seeds also depend on the point's parameter values")
    set: dict[str, Any] = Field(default_factory=dict, description="fixed overrides applied to every run")


class DesignSpec(_Base):
    """How design points are chosen."""

    method: Literal["grid", "lhs", "sobol", "morris", "from_csv"] = "grid"
    samples: int | None = Field(
        None, ge=1, description="lhs: points; sobol: base sample N (a power of 2); morris: trajectories")
    second_order: bool = Field(False, description="sobol: also estimate second-order indices (more runs)")
    levels: int = Field(4, ge=2, le=64, description="morris: grid levels per parameter (even numbers work best)")
    path: str | None = Field(None, description="from_csv: CSV with one column per parameter key, one row per point")


class ParameterSpec(_Base):
    """One varied parameter: a list of values, or a range with a distribution."""

    key: str = Field(min_length=1, description="scenario key path, e.g. policy.apr2025.approval_rate")
    values: list[Scalar] | None = None
    low: float | None = None
    high: float | None = None
    steps: int | None = Field(None, ge=2, description="grid only: evenly spaced values from low to high")
    dist: Literal["uniform", "loguniform", "triangular", "truncnormal"] = "uniform"
    mode: float | None = Field(None, description="triangular: the most likely value")
    mean: float | None = Field(None, description="truncnormal: mean (default: middle of the range)")
    sd: float | None = Field(None, gt=0, description="truncnormal: standard deviation")
    integer: bool = Field(False, description="round sampled values to whole numbers")

    @field_validator("values", mode="before")
    @classmethod
    def _dates_as_text(cls, v: Any) -> Any:
        # A TOML date (effective = 2025-06-01, as scenario files write them) is a date's ISO text, which scenario
        # fields read as the date; unconverted it failed every type of the union at once (eight lines per value).
        if isinstance(v, list):
            return [x.isoformat() if isinstance(x, dt.date | dt.time) else x for x in v]
        return v

    @field_validator("low", "high", mode="before")
    @classmethod
    def _no_date_range(cls, v: Any) -> Any:
        if isinstance(v, dt.date | dt.time):
            raise ValueError(f"{v} is a date: a range of dates cannot be sampled; list the dates instead, "
                             f'values = ["{v.isoformat()}", ...]')
        return v

    @model_validator(mode="after")
    def _shape(self) -> ParameterSpec:
        has_range = self.low is not None or self.high is not None
        if self.values is not None and has_range:
            raise ValueError("give either 'values' or 'low'/'high', not both")
        if self.values is None and not has_range:
            raise ValueError("give 'values = [...]' or a range 'low = ..., high = ...'")
        if self.values is not None:
            if not self.values:
                raise ValueError("'values' is empty; list at least one value")
            kinds = {"str" if isinstance(v, str) else "bool" if isinstance(v, bool) else "num" for v in self.values}
            if len(kinds) > 1:
                raise ValueError(f"'values' mixes types {sorted(kinds)}; use one type per parameter")
            if len(set(map(repr, self.values))) != len(self.values):
                raise ValueError("'values' has duplicates; each value should appear once")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a range needs both 'low' and 'high'")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise ValueError(f"need finite low < high, got low={self.low}, high={self.high}")
        if self.integer and math.ceil(self.low) > math.floor(self.high):
            raise ValueError(f"integer = true needs a whole number between low={self.low} and high={self.high}; "
                             "widen the range or drop integer")
        if self.dist == "loguniform" and self.low <= 0:
            raise ValueError(f"dist 'loguniform' needs low > 0, got low={self.low}")
        if self.dist == "triangular" and (self.mode is None or not self.low <= self.mode <= self.high):
            raise ValueError(f"dist 'triangular' needs 'mode' between low and high, got mode={self.mode}")
        if self.dist == "truncnormal" and self.sd is None:
            raise ValueError("dist 'truncnormal' needs 'sd' (and optionally 'mean')")
        return self

    @property
    def is_range(self) -> bool:
        """True for a (low, high) range, False for an explicit list of values."""
        return self.values is None


class OutputSpec(_Base):
    """What a sweep keeps besides the summary metrics (always stored)."""

    metrics: list[str] = Field(default_factory=list, description="metrics `reflow analyze` reports (default: all)")
    timeseries: bool = Field(False, description="also store down-sampled weekly time series per run")
    timeseries_every_weeks: int = Field(4, ge=1, le=520, description="block length for down-sampling")
    timeseries_agg: Literal["mean", "last"] = Field("mean", description="how a block of weeks becomes one row")
    timeseries_variables: list[str] = Field(default_factory=list, description="variables kept (default: all)")


class SweepConfig(_Base):
    """A complete, validated sweep."""

    sweep: SweepSection
    design: DesignSpec = DesignSpec()
    parameters: list[ParameterSpec] = Field(default_factory=list)
    outputs: OutputSpec = OutputSpec()
    source: str = Field("<sweep>", exclude=True, description="file the config came from (for messages)")
    # keys of sweep.set given on the command line (`reflow sweep --set`), not in the file (for messages)
    _cli_set: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @model_validator(mode="after")
    def _cross_checks(self) -> SweepConfig:
        keys = [p.key for p in self.parameters]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"parameters {dup} are declared twice; each key once")
        both = sorted(set(keys) & set(self.sweep.set))
        if both:
            raise ValueError(f"{both} are both varied and fixed in [sweep.set]; remove one")
        method = self.design.method
        if method == "from_csv":
            if not self.design.path:
                raise ValueError("design.method 'from_csv' needs design.path = \"points.csv\"")
            return self
        if not self.parameters:
            raise ValueError("no [[parameters]] to vary; add at least one (or use design.method = 'from_csv')")
        if method == "grid":
            for p in self.parameters:
                if p.is_range and p.steps is None:
                    raise ValueError(f"grid parameter '{p.key}' is a range without 'steps'; add steps = N "
                                     "or list 'values'")
        else:
            if self.design.samples is None:
                what = {"lhs": "the number of points", "sobol": "the base sample N (a power of 2, e.g. 64)",
                        "morris": "the number of trajectories (e.g. 10)"}[method]
                raise ValueError(f"design.method '{method}' needs design.samples = {what}")
            if method == "sobol":
                n = self.design.samples
                if n & (n - 1):
                    lo = 1 << (n.bit_length() - 1)
                    raise ValueError(f"design.samples = {n} is not a power of 2 (Sobol' sequences need one); "
                                     f"use {lo} or {lo * 2}")
                if len(self.parameters) < 2:
                    raise ValueError("a sobol design needs at least 2 parameters")
        return self

    @property
    def config_dir(self) -> Path:
        """Folder of the sweep file (relative paths inside it are resolved from here)."""
        return Path(self.source).parent if self.source not in ("<sweep>", "") else Path.cwd()

    @property
    def base_path(self) -> Path:
        """Absolute path of the base scenario."""
        return (self.config_dir / self.sweep.base).resolve()

    @property
    def csv_path(self) -> Path | None:
        """Absolute path of the design CSV (from_csv designs)."""
        return (self.config_dir / self.design.path).resolve() if self.design.path else None

    def with_cli_set(self, keys: Any) -> SweepConfig:
        """A copy of this config that notes that the `sweep.set` entries `keys` came from ``--set``, not the file."""
        out = self.model_copy()
        out._cli_set = self._cli_set | frozenset(keys)
        return out

    def override_sources(self, keys: Any = ()) -> dict[str, OverrideSource]:
        """Where each override of a run comes from, so that a bad key or value names it (not ``--set``).

        Args:
            keys: the varied key paths (the design's parameter columns; a from_csv design's come from its CSV).

        Returns:
            ``{key path: OverrideSource}`` for the `[[parameters]]` entries, the columns of a from_csv design and
            the file's `[sweep.set]` entries (those given by ``--set`` are left to be named as such).
        """
        out = {k: OverrideSource(f'[sweep.set] "{k}" of {self.source}', "change it there")
               for k in self.sweep.set if k not in self._cli_set}
        for i, p in enumerate(self.parameters):
            fix = ("narrow its range (low, high) to values the key accepts" if p.is_range
                   else "change its values to ones the key accepts")
            out[p.key] = OverrideSource(f'the {_ordinal(i + 1)} [[parameters]] entry of {self.source} '
                                        f'(key = "{p.key}")', fix)
        if self.design.method == "from_csv":
            for k in keys:
                out[k] = OverrideSource(f"column {k!r} of the design CSV {self.csv_path} (design.path of "
                                        f"{self.source})", "change the values in that column")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (paths as written, nulls dropped)."""
        return _drop_none(self.model_dump(mode="json"))


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _drop_none(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _drop_none(x) for k, x in v.items() if x is not None and x != [] and x != {}}
    if isinstance(v, list):
        return [_drop_none(x) for x in v]
    return v


def _explain(err: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    segs = [s for s in err.get("loc", ()) if s not in ("function-after",)]
    where = ".".join(str(s) for s in segs) or "(top level)"
    if len(segs) >= 2 and segs[0] == "parameters" and isinstance(segs[1], int):  # name the entry, not only its index
        entries = raw.get("parameters")
        entry = entries[segs[1]] if isinstance(entries, list) and segs[1] < len(entries) else None
        key = entry.get("key") if isinstance(entry, dict) else None
        where += f" (the {_ordinal(segs[1] + 1)} [[parameters]] entry" + (f', key = "{key}")' if key else ")")
    etype = err.get("type", "")
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    if etype == "extra_forbidden":
        return f"{where}: unknown key; remove it or check the spelling (see docs/sweeps.md)"
    if etype == "missing":
        return f"{where}: required key is missing; add it"
    if etype == "string_pattern_mismatch":  # the name is the output folder's: say which characters, not the regex
        msg = pattern_message(err)
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict | list) else ""
    return f"{where}{' = ' + shown if shown else ''}: {msg}"


def parse_sweep_config(raw: Mapping[str, Any], source: str = "<sweep>") -> SweepConfig:
    """Validate a raw sweep dict; raise one ConfigError that lists every problem with its key path."""
    try:
        cfg = SweepConfig.model_validate({**raw, "source": source})
    except ValidationError as exc:
        lines = [_explain(e, raw) for e in exc.errors()]
        raise ConfigError(f"{source}: invalid sweep config\n  " + "\n  ".join(lines)) from None
    return cfg


def load_sweep_config(path: str | Path, overrides: Mapping[str, Any] | Sequence[str] | str | None = None
                      ) -> SweepConfig:
    """Read and validate a sweep TOML file.

    Args:
        path: the sweep file.
        overrides: fixed scenario overrides added to ``[sweep.set]`` (as from ``reflow sweep --set``):
            ``{"scenario.weeks": 60}`` or ``["scenario.weeks=60", ...]``, as `reflow.sweep` takes them.

    Returns:
        The validated config; relative paths in it resolve against the file's folder.
    """
    overrides = parse_set_args(overrides)
    p = Path(path)
    raw = read_toml(p, "sweep file", "examples are in configs/sweeps/")  # not found, a folder, not UTF-8, unreadable
    if "sweep" not in raw and any(k in raw for k in ("scenario", "extends", "policy")):
        raise ConfigError(f"{p}: this is a scenario file (it has no [sweep] table), not a sweep; run it with "
                          f"`reflow run {p}`, or vary it with a sweep file whose sweep.base names it (examples in "
                          "configs/sweeps/)")
    refuse_varied_set(raw, overrides or {}, str(p))
    if overrides:
        section = raw.setdefault("sweep", {})
        if isinstance(section, dict):
            section.setdefault("set", {}).update(dict(overrides))
    cfg = parse_sweep_config(raw, source=str(p)).with_cli_set(overrides or ())
    if not cfg.base_path.is_file():
        raise ConfigError(f"{p}: sweep.base = {cfg.sweep.base!r}: scenario file {cfg.base_path} not found; "
                          "the path is relative to the sweep file")
    return cfg


def refuse_varied_set(raw: Mapping[str, Any], overrides: Mapping[str, Any], source: str) -> None:
    """Refuse a ``--set`` of a key the sweep varies, naming the option (it was reported as a `[sweep.set]` key).

    Args:
        raw: the sweep as read (its ``parameters`` entries).
        overrides: the ``--set`` overrides, ``{key path: value}``.
        source: the sweep file or folder (for the message).
    """
    entries = raw.get("parameters")
    varied = {e.get("key"): i for i, e in enumerate(entries) if isinstance(e, dict)} if isinstance(
        entries, list) else {}
    both = [k for k in overrides if k in varied]
    if both:
        where = ", ".join(f'the {_ordinal(varied[k] + 1)} [[parameters]] entry (key = "{k}")' for k in both)
        raise ConfigError(f"--set {both[0]}={overrides[both[0]]}: {source} varies {where}; a --set fixes a key for "
                          "every run, so it cannot also be varied: leave it out of --set (or vary it in another "
                          "sweep file)")


#: Version of what `config_fingerprint` is given as the base's hash, recorded in a sweep's manifest.json:
#: 1 (folders without the record): the bytes of the base file alone, blind to the files it `extends`;
#: 2: `resolved_base_sha256`, the merged scenario of the whole `extends` chain.
FINGERPRINT_SCHEME = 2


def canonical_json(data: Any) -> str:
    """Plain data as one canonical JSON text (sorted keys, dates as ISO text): equal data, equal text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def resolved_base_sha256(raw: Mapping[str, Any]) -> str:
    """Hash of a base scenario as merged from its whole `extends` chain (`reflow.config.load_raw`).

    Hashing the merged content rather than the base file's bytes makes a change in any parent file count, while
    comments and layout do not.
    """
    return hashlib.sha256(canonical_json(raw).encode()).hexdigest()


def config_fingerprint(cfg: SweepConfig, base_sha256: str) -> str:
    """A hash of everything that decides which runs a sweep contains (used to refuse resuming a changed sweep).

    Args:
        cfg: the sweep.
        base_sha256: `resolved_base_sha256` of its base scenario (scheme 1 folders: sha256 of the base file).
    """
    text = json.dumps({"config": sweep_identity(cfg), "base": base_sha256}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sweep_identity(cfg: SweepConfig) -> dict[str, Any]:
    """The part of a sweep config that decides its runs (what `config_fingerprint` hashes, with the base's hash).

    Not the description, the number of replicates (more extend a sweep: the stored runs keep their seeds) nor
    `outputs.metrics` (what analyze reports); the base by content, not by path; a design CSV by its content.
    """
    data = cfg.to_dict()
    data["sweep"].pop("description", None)
    data["sweep"].pop("replicates", None)
    data["sweep"]["base"] = "<base>"
    if cfg.design.path:
        data["design"]["path"] = _sha256_file(cfg.csv_path) if cfg.csv_path and cfg.csv_path.is_file() else "?"
    data["outputs"].pop("metrics", None)
    return data


def identity_changes(before: SweepConfig, after: SweepConfig, limit: int = 6) -> list[str]:
    """What differs between two sweeps' `sweep_identity`, one phrase per key path (at most `limit`).

    `[[parameters]]` entries are matched by their key, so adding or removing one reads as such, not as every
    later entry changing.
    """
    old, new = _identity_entries(before), _identity_entries(after)
    changes = [_change(key, old.get(key, _UNSET), new.get(key, _UNSET))
               for key in [*old, *(k for k in new if k not in old)] if old.get(key, _UNSET) != new.get(key, _UNSET)]
    return changes[:limit] + ([f"and {len(changes) - limit} more"] if len(changes) > limit else [])


_UNSET: Any = object()  # a key one of the two sweeps does not have


def _identity_entries(cfg: SweepConfig) -> dict[str, Any]:
    """`sweep_identity` by key path, each `[[parameters]]` entry as one item named by its key."""
    data = sweep_identity(cfg)
    params = {f'[[parameters]] key = "{p.get("key")}"': {k: v for k, v in p.items() if k != "key"}
              for p in data.pop("parameters", [])}
    return {**key_paths(data, spelling="toml"), **params}


def _shown(v: Any) -> str:
    return json.dumps(v, default=str) if not isinstance(v, dict) else ", ".join(
        f"{k} = {json.dumps(x, default=str)}" for k, x in v.items())


def _change(key: str, old: Any, new: Any) -> str:
    """``key: old -> new``; of a `[[parameters]]` entry in both, the fields that differ."""
    if old is _UNSET:
        return f"{key}: (not set) -> {_shown(new)}"
    if new is _UNSET:
        return f"{key}: {_shown(old)} -> (not set)"
    if isinstance(old, dict) and isinstance(new, dict):
        inner = [f"{f} {_shown(old.get(f, '(unset)'))} -> {_shown(new.get(f, '(unset)'))}"
                 for f in dict.fromkeys([*old, *new]) if old.get(f) != new.get(f)]
        return f"{key}: {'; '.join(inner)}"
    return f"{key}: {_shown(old)} -> {_shown(new)}"


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: How the sweep.toml a sweep writes into its folder starts (the sweeper tells its own files by their first line).
SWEEP_TOML_HEAD = "# Resolved sweep config written by `reflow sweep`"


def dump_sweep_toml(cfg: SweepConfig, extra_comment: str = "") -> str:
    """The resolved config as TOML text (base path absolute, root seed filled in)."""
    from reflow.config import dump_toml

    data = _drop_none(cfg.model_dump())  # typed values: a date in [sweep.set] stays a date, a text a text
    data["sweep"]["base"] = str(cfg.base_path)
    if cfg.design.path:
        data["design"]["path"] = str(cfg.csv_path)
    head = f"{SWEEP_TOML_HEAD}; re-running the sweep resumes from it.\n"
    if extra_comment:
        head += "".join(f"# {line}\n" for line in extra_comment.splitlines())
    return head + dump_toml(data)
