"""Reshaping the tidy time series into the wide tables figures draw (shared by run and ensemble figures)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from reflow.metrics import SHORTAGE_WEEK_THRESHOLD
from reflow.plotting.style import MATERIALS, REGIONS, sort_codes

__all__ = [
    "Series",
    "approval_share",
    "ex_china_weighted",
    "ffill",
    "flow_matrix",
    "group_sums",
    "hhi_from_shares",
    "licence_wait",
    "origin_shares",
    "present_materials",
    "rolling_mean",
    "rolling_sum",
    "row_sums",
    "shortage_threshold",
    "total",
]


_DIMS = ("material", "origin", "region")


def group_sums(groups: np.ndarray, values: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of `values` per group (NaN skipped, so a group of NaN sums to 0) and rows per group.

    The same numbers as pandas' groupby `sum` up to rounding (values are added in row order).

    Args:
        groups: group number (0..n_groups-1) of each row.
        values: the rows' values, one row per entry of `groups` (further axes are summed apart).
        n_groups: how many groups.

    Returns:
        ``(sums, counts)``: sums of shape ``(n_groups, *values.shape[1:])``; counts include rows whose value is
        NaN.
    """
    counts = np.bincount(groups, minlength=n_groups)
    values = np.asarray(values, dtype=float)
    width = int(np.prod(values.shape[1:], dtype=np.int64))
    # one bincount for all further axes: bin (group, position within the row)
    bins = (np.asarray(groups, dtype=np.int64)[:, None] * width + np.arange(width)).ravel()
    sums = np.bincount(bins, weights=np.where(np.isnan(values), 0.0, values).ravel(), minlength=n_groups * width)
    return sums.reshape(n_groups, *values.shape[1:]), counts


class _Table(NamedTuple):
    """A variable summed per combination of some columns: combinations x dates, sorted as pandas sorts them."""

    values: np.ndarray  # combinations x dates; NaN where a combination has no row that week
    levels: list[pd.Index]  # per column: its labels in sorted order, a missing label last
    codes: list[np.ndarray]  # per column: each combination's position in its level


class Series:
    """A run's tidy time series split by variable once, with wide views on demand.

    The tidy columns are turned into arrays and integer codes once (dates, variables, materials, origins,
    regions); a wide view is then a group sum over codes rather than a pandas groupby and unstack, which made
    reading the runs of an ensemble the larger part of `reflow plot`'s time.
    """

    def __init__(self, ts: pd.DataFrame) -> None:
        if not np.issubdtype(ts["date"].dtype, np.datetime64):
            ts = ts.assign(date=pd.to_datetime(ts["date"]))
        self.dates = pd.DatetimeIndex(sorted(ts["date"].unique()))
        self._date = self.dates.get_indexer(ts["date"])
        self._value = ts["value"].to_numpy(dtype=float)
        self._codes: dict[str, np.ndarray] = {}
        self._labels: dict[str, pd.Index] = {}
        self._rank: dict[str, np.ndarray] = {}
        for dim in _DIMS:
            self._codes[dim], self._labels[dim] = pd.factorize(ts[dim])  # missing: code -1
            self._rank[dim] = np.argsort(np.argsort(np.asarray(self._labels[dim], dtype=object), kind="stable"))
        variable, names = pd.factorize(ts["variable"])
        order = np.argsort(variable, kind="stable")
        bounds = np.searchsorted(variable[order], np.arange(len(names) + 1))
        self._rows = {str(v): order[bounds[i]:bounds[i + 1]] for i, v in enumerate(names)}
        self._tables: dict[tuple[str, tuple[str, ...]], _Table | None] = {}
        self._wide: dict[tuple[str, tuple[str, ...]], pd.DataFrame] = {}
        self._blocks: dict[tuple[str, str], tuple[np.ndarray, list[Any]] | None] = {}

    def has(self, variable: str) -> bool:
        """True when the variable has at least one row."""
        return variable in self._rows

    def wide(self, variable: str, columns: Sequence[str] = ("material", "region")) -> pd.DataFrame:
        """Dates down, one column per combination of `columns` (summed over other dimensions).

        Results are cached per (variable, columns): treat them as read-only.
        """
        key = (variable, tuple(columns))
        if key not in self._wide:
            self._wide[key] = self._make_wide(variable, key[1])
        return self._wide[key]

    def _make_wide(self, variable: str, columns: tuple[str, ...]) -> pd.DataFrame:
        table = self._table(variable, columns)
        if table is None:
            return pd.DataFrame(index=self.dates)
        if not columns:
            return pd.DataFrame({"value": table.values[0]}, index=self.dates)
        if len(columns) == 1:
            index = table.levels[0].take(table.codes[0]).rename(columns[0])
        else:
            index = pd.MultiIndex(levels=table.levels, codes=table.codes, names=list(columns),
                                  verify_integrity=False)
        return pd.DataFrame(table.values.T, index=self.dates, columns=index, copy=False)

    def _table(self, variable: str, columns: tuple[str, ...]) -> _Table | None:
        """The variable summed per (combination of `columns`, date) and per date, as pandas' ``groupby(["date",
        *columns], dropna=False).sum().unstack(columns).sort_index(axis=1)`` computes it; None without rows."""
        key = (variable, columns)
        if key in self._tables:
            return self._tables[key]
        rows = self._rows.get(variable)
        if rows is None:
            self._tables[key] = None
            return None
        n_dates = len(self.dates)
        # one number per combination of the columns' codes (missing values, code -1, are a combination too)
        combo = np.zeros(len(rows), dtype=np.int64)
        for dim in columns:
            combo = combo * (len(self._labels[dim]) + 1) + self._codes[dim][rows] + 1
        combos, combo = np.unique(combo, return_inverse=True)
        levels, codes = [], []
        for dim in reversed(columns):
            size = len(self._labels[dim]) + 1
            level, code = self._sorted_level(dim, combos % size - 1)
            levels.insert(0, level)
            codes.insert(0, code)
            combos = combos // size
        # combinations sorted as sort_index sorts them (missing labels last)
        order = np.lexsort(codes[::-1]) if codes else np.zeros(1, dtype=np.int64)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        # groups numbered by date, then by sorted combination, so that the sums reshape into dates x combinations
        groups = self._date[rows] * len(order) + rank[combo]
        sums, counts = group_sums(groups, self._value[rows], n_dates * len(order))
        values = np.where(counts > 0, sums, np.nan).reshape(n_dates, len(order)).T
        table = _Table(np.ascontiguousarray(values), levels, [c[order] for c in codes])
        self._tables[key] = table
        return table

    def _sorted_level(self, dim: str, codes: np.ndarray) -> tuple[pd.Index, np.ndarray]:
        """The labels of `dim` that `codes` use, sorted, a missing label (code -1) last as a label of its own
        (as a groupby with dropna=False keeps it), and the codes into that level."""
        present = codes >= 0
        used = np.unique(codes[present])
        used = used[np.argsort(self._rank[dim][used])]
        level = self._labels[dim][used]
        position = np.empty(len(self._labels[dim]), dtype=np.int64)
        position[used] = np.arange(len(used))
        if not present.all():
            level = level.append(pd.Index([level.dtype.na_value], dtype=level.dtype))
        out = np.full(len(codes), len(used), dtype=np.int64)
        out[present] = position[codes[present]]
        return level, out

    def block(self, variable: str, material: str) -> tuple[np.ndarray, list[Any]] | None:
        """`wide(variable)[material]` as an array (dates x regions) and its region labels; None without rows.

        The same numbers as the wide table, without building it or selecting from its MultiIndex (the larger
        cost of the per-material figures); a missing region label is None. Cached: treat the array as read-only.
        """
        key = (variable, material)
        if key not in self._blocks:
            table = self._table(variable, ("material", "region"))
            found = None
            if table is not None:
                materials, regions = table.levels
                at = _position(materials, material)
                mine = table.codes[0] == at
                if at >= 0 and mine.any():
                    labels = regions.take(table.codes[1][mine])
                    found = (table.values[mine].T, [None if pd.isna(r) else r for r in labels])
            self._blocks[key] = found
        return self._blocks[key]

    def materials(self) -> list[str]:
        """Materials that appear anywhere in the series, canonical order first."""
        return sort_codes((str(m) for m in self._labels["material"]), MATERIALS)

    def regions(self, variable: str) -> list[str]:
        """Regions that carry the variable, canonical order."""
        rows = self._rows.get(variable)
        if rows is None:
            return []
        codes = np.unique(self._codes["region"][rows])
        return sort_codes((str(r) for r in self._labels["region"][codes[codes >= 0]]), REGIONS)


def _position(labels: pd.Index, label: str) -> int:
    """Where `label` is in a level of a few labels (-1 if absent): `Index.get_indexer` on a level of Arrow strings
    takes a few hundred microseconds (it builds a hash table), some 30 times this loop."""
    return next((i for i, x in enumerate(labels.tolist()) if isinstance(x, str) and x == label), -1)


def present_materials(series: Series, variable: str) -> list[str]:
    """Materials for which a variable has rows."""
    wide = series.wide(variable, ["material"])
    return sort_codes((str(c) for c in wide.columns if isinstance(c, str)), MATERIALS)


def row_sums(a: np.ndarray) -> np.ndarray:
    """Sum across the columns of a dates x columns array, NaN counted as 0 (as pandas' ``frame.sum(axis=1)``)."""
    return np.nansum(a, axis=1)


def ffill(a: np.ndarray) -> np.ndarray:
    """Each NaN replaced by the last value before it along axis 0 (NaN before the first value)."""
    seen = np.where(np.isnan(a), 0, np.arange(a.shape[0]).reshape(-1, *([1] * (a.ndim - 1))))
    return np.take_along_axis(a, np.maximum.accumulate(seen, axis=0), axis=0)


def _columns(block: tuple[np.ndarray, list[Any]] | None, labels: Sequence[Any], fill: float) -> np.ndarray | None:
    """The block's columns in the order of `labels` (a label it lacks, or NaN, as `fill`); None without a block."""
    if block is None:
        return None
    values, have = block
    where = {c: i for i, c in enumerate(have)}
    out = np.full((values.shape[0], len(labels)), fill)
    for j, c in enumerate(labels):
        if c in where:
            out[:, j] = values[:, where[c]]
    return np.where(np.isnan(out), fill, out)


def ex_china_weighted(series: Series, variable: str, material: str, weight: str = "demand") -> pd.Series:
    """Demand-weighted mean of a (material, region) variable over importing regions other than China.

    Falls back to the plain mean where no region has a weight that week, so thin weeks still show a value.
    """
    block = series.block(variable, material)
    if block is None:
        return pd.Series(np.nan, index=series.dates)
    keep = [j for j, c in enumerate(block[1]) if c != "CN" and isinstance(c, str)]
    v = block[0][:, keep]
    regions = [block[1][j] for j in keep]
    w = _columns(series.block(weight, material), regions, 0.0)
    if w is None:
        w = np.ones_like(v)
    missing = np.isnan(v)
    w = np.where(missing, 0.0, w)
    total = row_sums(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted = row_sums(np.where(missing, 0.0, v) * w) / np.where(total == 0.0, np.nan, total)
        mean = row_sums(v) / (~missing).sum(axis=1)
    return pd.Series(np.where(np.isnan(weighted), mean, weighted), index=series.dates)


def origin_shares(series: Series, material: str, regions: Sequence[str] | None = None,
                  window: int = 1) -> pd.DataFrame:
    """Share (%) of deliveries to importing regions other than China by producing origin.

    Args:
        series: the run.
        material: the material.
        regions: importing regions to count (default: all but China).
        window: weeks of deliveries each share is computed over (a rolling sum); deliveries are lumpy, so a
            quarter (13) reads better than single weeks.

    Returns:
        Dates down, origins across (canonical order, origins that never deliver left out); weeks without
        deliveries carry the last shares forward, as the contract does for `non_china_share`.
    """
    flow = series.wide("flow", ["material", "origin", "region"])
    if flow.empty or material not in flow.columns.get_level_values(0):
        return pd.DataFrame(index=series.dates)
    mine = np.asarray(flow.columns.get_level_values(0).isin([material]), dtype=bool)
    origin = flow.columns.get_level_values(1)[mine]
    region = flow.columns.get_level_values(2)[mine]
    keep = np.array([r != "CN" and (regions is None or r in regions) for r in region], dtype=bool)
    if not keep.any():
        return pd.DataFrame(index=series.dates)
    values = flow.to_numpy()[:, mine][:, keep]
    # tonnes by origin: each origin's regions (columns) summed
    codes, origins = pd.factorize(origin[keep], sort=True)
    sums, _ = group_sums(codes, values.T, len(origins))
    by_origin = sums.T
    if window > 1:
        by_origin = pd.DataFrame(by_origin).rolling(window, min_periods=1).sum().to_numpy()  # column by column
    total = row_sums(by_origin)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = by_origin / np.where(total == 0, np.nan, total)[:, None]
    shares = ffill(shares)
    shares = np.where(np.isnan(shares), 0.0, shares) * 100
    present = [str(o) for j, o in enumerate(origins) if (shares[:, j] > 0).any()]
    cols = sort_codes(present, REGIONS)
    where = {str(o): j for j, o in enumerate(origins)}
    return pd.DataFrame(shares[:, [where[c] for c in cols]], index=series.dates,
                        columns=pd.Index(cols, dtype=origins.dtype, name="origin"))


def hhi_from_shares(shares: pd.DataFrame) -> pd.Series:
    """Herfindahl-Hirschman index (0-1) of shares given in %, NaN where nothing was delivered."""
    if shares.shape[1] == 0:
        return pd.Series(np.nan, index=shares.index)
    frac = shares / 100.0
    out = (frac**2).sum(axis=1)
    return out.where(frac.sum(axis=1) > 0)


def _decisions(series: Series, material: str | None, labels: Sequence[Any]) -> np.ndarray:
    """Licence decisions (approvals + denials) per week for each column label of a wait table.

    Labels are regions of `material`, or (material, region) pairs when `material` is None. Where the run records
    no decision at all for the material, every column weighs 1.
    """
    tables = []
    for var in ("licence_approvals", "licence_denials"):
        if material is not None:
            found = series.block(var, material)
        else:
            wide = series.wide(var)
            found = None if wide.empty else (wide.to_numpy(), list(wide.columns))
        if found is not None:
            tables.append(_columns(found, labels, 0.0))
    if not tables:
        return np.ones((len(series.dates), len(labels)))
    return tables[0] + tables[1] if len(tables) == 2 else tables[0]


def licence_wait(series: Series, material: str | None = None, window: int = 1) -> pd.Series:
    """Mean wait (calendar days) of decisions, weighted by decisions per destination (and material).

    Args:
        series: the run.
        material: one material, or None for all of them.
        window: weeks of decisions pooled into each value (a rolling, decision-weighted mean).

    Returns:
        Weekly values; weeks without decisions carry the last value forward (as the contract does), and before
        the first decision the value is NaN, so nothing is drawn.
    """
    wait = series.wide("licence_mean_wait_days")
    if wait.empty or (material is not None and material not in wait.columns.get_level_values(0)):
        return pd.Series(np.nan, index=series.dates)
    found = series.block("licence_mean_wait_days", material) if material is not None else None
    w, labels = found if found is not None else (wait.to_numpy(), list(wait.columns))
    d = _decisions(series, material, labels)
    num = row_sums(np.where(np.isnan(w), 0.0, w) * d)
    den = row_sums(d)
    if window > 1:
        num = rolling_sum(num, window)
        den = rolling_sum(den, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = num / np.where(den == 0.0, np.nan, den)
    return pd.Series(ffill(mean), index=series.dates)


def approval_share(series: Series, material: str | None = None, window: int = 4) -> pd.Series:
    """Approved share (%) of decisions in a rolling window of weeks (all materials if `material` is None)."""
    cols = ["material"] if material is not None else []
    appr = series.wide("licence_approvals", cols)
    deny = series.wide("licence_denials", cols)
    key = material if material is not None else "value"
    if key not in appr.columns or key not in deny.columns:
        return pd.Series(np.nan, index=series.dates)
    a = appr[key].fillna(0.0).rolling(window, min_periods=1).sum()
    d = deny[key].fillna(0.0).rolling(window, min_periods=1).sum()
    return 100 * a / (a + d).replace(0.0, np.nan)


def total(series: Series, variable: str, material: str | None = None,
          exclude_regions: Sequence[str] = ()) -> pd.Series:
    """A variable summed over regions (and origins), for one material or all of them."""
    wide = series.wide(variable, ["material", "region"])
    if wide.empty:
        return pd.Series(np.nan, index=series.dates)
    keep = [j for j, c in enumerate(wide.columns)
            if (material is None or c[0] == material) and c[1] not in exclude_regions]
    if not keep:
        return pd.Series(np.nan, index=series.dates)
    values = wide.to_numpy()[:, keep]
    sums = row_sums(values)
    sums[np.isnan(values).all(axis=1)] = np.nan  # min_count=1: a week without any value stays empty
    return pd.Series(sums, index=series.dates)


def flow_matrix(series: Series, material: str, start: pd.Timestamp | None = None,
                end: pd.Timestamp | None = None, domestic: bool = False) -> pd.DataFrame:
    """Tonnes delivered from each origin (rows) to each region (columns) over [start, end].

    Rows and columns are the origins and regions the material's flows name (sorted), a pair without flows 0.
    China's own market (China to China) is left out unless `domestic`: it is not trade, and it would set
    the colour scale for everything else.
    """
    table = series._table("flow", _DIMS)
    if table is None:
        return pd.DataFrame()
    materials, origins, regions = table.levels
    at = _position(materials, material)
    mine = table.codes[0] == at
    if at < 0 or not mine.any():
        return pd.DataFrame()
    inside = np.ones(len(series.dates), dtype=bool)
    if start is not None:
        inside &= series.dates >= start
    if end is not None:
        inside &= series.dates <= end
    tonnes = np.nansum(table.values[mine][:, inside], axis=1)  # t/week summed over weeks = tonnes
    # each (origin, region) pair is one combination of the table: scattered into origins x regions
    used_origins, row = np.unique(table.codes[1][mine], return_inverse=True)
    used_regions, col = np.unique(table.codes[2][mine], return_inverse=True)
    values = np.zeros((len(used_origins), len(used_regions)))
    values[row, col] = tonnes
    origins, regions = origins.take(used_origins), regions.take(used_regions)
    cn = _position(origins, "CN"), _position(regions, "CN")
    if not domestic and min(cn) >= 0:
        values[cn] = 0.0
    return pd.DataFrame(values, index=origins.rename("origin"), columns=regions.rename("region"))


def rolling_sum(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing sum over `window` weeks (NaN weeks ignored), by pandas' rolling sum (and so equal to it)."""
    return pd.Series(y).rolling(window, min_periods=1).sum().to_numpy()


def rolling_mean(y: pd.Series, window: int) -> pd.Series:
    """Trailing mean over `window` weeks (NaN weeks ignored), to calm weekly noise on the page."""
    return y.rolling(window, min_periods=1).mean() if window > 1 else y


def shortage_threshold(series: Series, material: str, window: int) -> pd.Series:
    """The shortage (t/week) above which the summary counts a week "in shortage": `SHORTAGE_WEEK_THRESHOLD` of
    ex-China demand, as a trailing `window`-week mean like the shortages drawn against it."""
    return SHORTAGE_WEEK_THRESHOLD * rolling_mean(total(series, "demand", material, exclude_regions=("CN",)), window)
