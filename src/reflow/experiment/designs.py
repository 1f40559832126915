"""Experimental designs: which parameter values each design point gets.

Pure functions over plain data (SALib's style). Sampling designs draw points in the unit hypercube and map each
coordinate to a value through the parameter's distribution (inverse CDF), so every design works with every kind of
parameter, lists of values included (EMA Workbench maps categorical parameters the same way). The unit coordinates
are kept beside the values: Sobol' and Morris analyses work on them. Morris designs sit on a grid of `levels`
levels, so there a list (or a short integer range) is mapped by level index, which gives each value an equal share
only when the number of levels is an even multiple of the number of values (`morris_design` refuses it otherwise).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reflow.errors import ConfigError
from reflow.experiment.sweep_config import DesignSpec, ParameterSpec, SweepConfig

__all__ = [
    "UNIT_PREFIX",
    "build_design",
    "design_size",
    "from_csv_design",
    "grid_design",
    "lhs_design",
    "morris_design",
    "morris_level_values",
    "salib_problem",
    "sobol_design",
    "to_values",
]

#: Column prefix of the unit-hypercube coordinates in a design table (``unit:<key>``).
UNIT_PREFIX = "unit:"


def salib_problem(keys: Sequence[str]) -> dict[str, Any]:
    """The SALib problem for parameters sampled in the unit hypercube."""
    return {"num_vars": len(keys), "names": list(keys), "bounds": [[0.0, 1.0]] * len(keys)}


def to_values(p: ParameterSpec, u: np.ndarray) -> list[Any]:
    """Map unit coordinates in [0, 1] to parameter values (inverse CDF of the parameter's distribution).

    Args:
        p: the parameter.
        u: coordinates in [0, 1].

    Returns:
        Plain Python values (int, float, str or bool), one per coordinate.
    """
    u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
    if p.values is not None:
        # Equal-probability bins, with u = 1 (a Morris level) in the last one.
        idx = np.minimum((u * len(p.values)).astype(int), len(p.values) - 1)
        return [p.values[i] for i in idx]
    lo, hi = float(p.low), float(p.high)  # type: ignore[arg-type]
    if p.integer and p.dist == "uniform":
        # Each whole number in [low, high] equally likely (rounding would halve the end points' weight).
        a, b = math.ceil(lo), math.floor(hi)
        return [int(v) for v in np.minimum(a + np.floor(u * (b - a + 1)), b)]
    if p.dist == "uniform":
        x = lo + u * (hi - lo)
    elif p.dist == "loguniform":
        x = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))
    elif p.dist == "triangular":
        from scipy import stats

        x = stats.triang(c=(p.mode - lo) / (hi - lo), loc=lo, scale=hi - lo).ppf(u)
    else:  # truncnormal
        from scipy import stats

        mean = p.mean if p.mean is not None else (lo + hi) / 2
        x = stats.truncnorm((lo - mean) / p.sd, (hi - mean) / p.sd, loc=mean, scale=p.sd).ppf(u)
    x = np.clip(x, lo, hi)
    if p.integer:
        return _whole_within(x, lo, hi)
    return [float(v) for v in x]


def _whole_within(x: np.ndarray, lo: float, hi: float) -> list[int]:
    """The nearest whole number to each value that lies inside [lo, hi] (rounding alone can step outside
    fractional bounds)."""
    return [int(v) for v in np.clip(np.rint(x), math.ceil(lo), math.floor(hi))]


def _grid_values(p: ParameterSpec) -> list[Any]:
    if p.values is not None:
        return list(p.values)
    xs = np.linspace(float(p.low), float(p.high), int(p.steps))  # type: ignore[arg-type]
    if p.integer:
        return list(dict.fromkeys(_whole_within(xs, float(p.low), float(p.high))))  # type: ignore[arg-type]
    return [float(v) for v in xs]


def grid_design(params: Sequence[ParameterSpec]) -> pd.DataFrame:
    """Full factorial: every combination of every parameter's values, the last parameter varying fastest."""
    keys = [p.key for p in params]
    rows = list(itertools.product(*(_grid_values(p) for p in params)))
    return _table(keys, rows, unit=None)


def lhs_design(params: Sequence[ParameterSpec], n: int, seed: int) -> pd.DataFrame:
    """Latin hypercube of `n` points (scipy's scrambled LHS: one point per stratum of every parameter)."""
    from scipy.stats import qmc

    unit = qmc.LatinHypercube(d=len(params), rng=np.random.default_rng(seed)).random(n)
    return _from_unit(params, unit)


def sobol_design(params: Sequence[ParameterSpec], n: int, seed: int, second_order: bool = False) -> pd.DataFrame:
    """Saltelli's scheme on a scrambled Sobol' sequence (SALib): N*(D+2) points, or N*(2D+2) with second order."""
    from SALib.sample import sobol

    problem = salib_problem([p.key for p in params])
    unit = sobol.sample(problem, n, calc_second_order=second_order, scramble=True, seed=seed)
    return _from_unit(params, unit)


def _discrete_count(p: ParameterSpec) -> int | None:
    """Number of values of a list or of a uniform integer range (each equally likely); None for other ranges."""
    if p.values is not None:
        return len(p.values)
    if p.integer and p.dist == "uniform":
        return math.floor(float(p.high)) - math.ceil(float(p.low)) + 1  # type: ignore[arg-type]
    return None


def morris_level_values(p: ParameterSpec, u: np.ndarray, levels: int) -> list[Any]:
    """Values of a parameter at Morris grid coordinates u = j / (levels - 1), j = 0..levels-1.

    A list of k values, or a uniform integer range of k <= levels whole numbers, is mapped by level index: level j
    gets value floor(j k / levels), so with levels an even multiple of k each value gets levels / k of the levels
    and a step of levels / 2 levels (SALib's) can join any two values. Ranges map through `to_values`, as in the
    other designs (an integer range wider than the grid: levels spread evenly from low to high).

    Raises:
        ConfigError: levels is not an even multiple of the number of values (the shares would be unequal).
    """
    k = _discrete_count(p)
    if k is None or (p.values is None and k > levels):
        return to_values(p, u)
    problem = _uneven_levels(p, levels)
    if problem:
        raise ConfigError(problem)
    j = np.rint(np.clip(np.asarray(u, dtype=float), 0.0, 1.0) * (levels - 1)).astype(int)
    idx = (j * k) // levels
    if p.values is not None:
        return [p.values[i] for i in idx]
    return [math.ceil(float(p.low)) + int(i) for i in idx]  # type: ignore[arg-type]


def _uneven_levels(p: ParameterSpec, levels: int) -> str | None:
    """Why a Morris grid of `levels` levels cannot share out a parameter's values equally (None if it can)."""
    k = _discrete_count(p)
    # An integer range wider than the grid is treated as a range; a list must have every value on the grid.
    # Even levels too: with an odd number SALib's trajectories leave the level grid (it warns so itself).
    if k is None or k < 2 or (p.values is None and k > levels) or (levels % k == 0 and levels % 2 == 0):
        return None
    step = math.lcm(2, k)
    fit = next((n for n in range(step, 65, step) if n >= levels), None)
    what = f"{k} values" if p.values is not None else f"{k} whole numbers from {p.low:g} to {p.high:g}"
    fix = (f"use design.levels = {fit}, or a different number of values" if fit is not None
           else "use fewer values (levels are at most 64) or a continuous range")
    return (f"design.levels = {levels}: parameter '{p.key}' has {what}, and a Morris grid gives each value an equal "
            f"share of its levels only when levels is an even multiple of {k}; {fix}")


def morris_design(params: Sequence[ParameterSpec], trajectories: int, levels: int, seed: int) -> pd.DataFrame:
    """Morris one-at-a-time trajectories (SALib): trajectories*(D+1) points on a `levels`-level grid.

    Raises:
        ConfigError: `levels` is not an even multiple of the number of values of a list or short integer range.
    """
    from SALib.sample import morris

    for p in params:  # before sampling: the error is about the config, not the sample
        problem = _uneven_levels(p, levels)
        if problem:
            raise ConfigError(problem)
    problem = salib_problem([p.key for p in params])
    unit = morris.sample(problem, trajectories, num_levels=levels, seed=seed)
    cols = [morris_level_values(p, unit[:, j], levels) for j, p in enumerate(params)]
    return _table([p.key for p in params], list(zip(*cols, strict=True)), unit=unit)


def from_csv_design(path: Path, params: Sequence[ParameterSpec] = ()) -> pd.DataFrame:
    """Points listed in a CSV file: one column per parameter key path, one row per point.

    Raises:
        ConfigError: missing file, empty table, blank cells, or columns that do not match declared parameters.
    """
    if not path.is_file():
        raise ConfigError(f"design.path = {str(path)!r}: file not found (the path is relative to the sweep file)")
    data = path.read_bytes()  # read once: pandas parses it, and the header is checked as written
    try:
        df = pd.read_csv(io.BytesIO(data), skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the design CSV: {exc}") from None
    # pandas renames a repeated column 'key.1'; read the header as pandas does, without a byte-order mark
    text = io.StringIO(data.decode("utf-8-sig", errors="replace"), newline=None)
    header = [c.strip() for c in next(csv.reader(text, skipinitialspace=True), [])]
    repeated = sorted({c for c in header if header.count(c) > 1 and c})
    if repeated:
        raise ConfigError(f"{path}: column(s) {repeated} appear more than once in the header; give each key path "
                          "one column")
    df = df.drop(columns=[c for c in ("point_id",) if c in df.columns])
    if df.empty or not len(df.columns):
        raise ConfigError(f"{path}: the design CSV has no rows or no parameter columns; "
                          "write a header of key paths and one row per point")
    declared = [p.key for p in params]
    if declared and sorted(declared) != sorted(df.columns):
        raise ConfigError(f"{path}: columns {list(df.columns)} do not match the declared parameters {declared}; "
                          "make them the same or drop [[parameters]]")
    blank = df.isna().any()
    if blank.any():
        bad = list(blank[blank].index)
        raise ConfigError(f"{path}: blank cells in columns {bad}; every point needs every value")
    keys = list(df.columns)
    rows = [tuple(_native(v) for v in r) for r in df.itertuples(index=False, name=None)]
    return _table(keys, rows, unit=None)


def _native(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _from_unit(params: Sequence[ParameterSpec], unit: np.ndarray) -> pd.DataFrame:
    cols = [to_values(p, unit[:, j]) for j, p in enumerate(params)]
    return _table([p.key for p in params], list(zip(*cols, strict=True)), unit=unit)


def _table(keys: list[str], rows: list[tuple[Any, ...]], unit: np.ndarray | None) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=keys) if rows else pd.DataFrame(columns=keys)
    df.insert(0, "point_id", np.arange(len(df), dtype=np.int64))
    if unit is not None:
        for j, k in enumerate(keys):
            df[UNIT_PREFIX + k] = unit[:, j]
    return df


def design_size(design: DesignSpec, n_params: int) -> int | None:
    """Number of points a sampling design will have (None for grid and from_csv: count the table)."""
    n = design.samples or 0
    if design.method == "lhs":
        return n
    if design.method == "sobol":
        return n * (2 * n_params + 2 if design.second_order else n_params + 2)
    if design.method == "morris":
        return n * (n_params + 1)
    return None


def build_design(cfg: SweepConfig, seed: int) -> pd.DataFrame:
    """The design table of a sweep: ``point_id``, one column per parameter key, and unit coordinates.

    Args:
        cfg: the validated sweep.
        seed: seed of the sampler (derived from the sweep's root seed).
    """
    d, ps = cfg.design, cfg.parameters
    if d.method == "grid":
        return grid_design(ps)
    if d.method == "lhs":
        return lhs_design(ps, int(d.samples), seed)  # type: ignore[arg-type]
    if d.method == "sobol":
        return sobol_design(ps, int(d.samples), seed, d.second_order)  # type: ignore[arg-type]
    if d.method == "morris":
        try:
            return morris_design(ps, int(d.samples), d.levels, seed)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ConfigError(f"{cfg.source}: {exc}") from None
    return from_csv_design(cfg.csv_path, ps)  # type: ignore[arg-type]
