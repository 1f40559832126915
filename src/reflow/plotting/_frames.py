"""Reshaping the tidy time series into the wide tables figures draw (shared by run and ensemble figures)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from reflow.plotting.style import MATERIALS, REGIONS, sort_codes

__all__ = [
    "Series",
    "approval_share",
    "ex_china_weighted",
    "flow_matrix",
    "hhi_from_shares",
    "licence_wait",
    "origin_shares",
    "present_materials",
    "rolling_mean",
    "total",
]


_DIMS = ("material", "origin", "region")


def group_sums(groups: np.ndarray, values: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of `values` per group (NaN skipped) and rows per group, as pandas' groupby `sum` computes them.

    pandas adds a group's values in row order with Kahan compensation; doing the same (vectorised over groups,
    one step per position within a group) keeps wide tables, and so the figures, bit-identical to
    ``groupby(...).sum()``. A group whose values are all NaN sums to 0, as in pandas.

    Args:
        groups: group number (0..n_groups-1) of each row.
        values: the rows' values.
        n_groups: how many groups.

    Returns:
        ``(sums, counts)``, each of length `n_groups`; counts include rows whose value is NaN.
    """
    counts = np.bincount(groups, minlength=n_groups)
    sums = np.zeros(n_groups)
    keep = ~np.isnan(values)
    g, v = groups[keep], values[keep]
    if not len(g):
        return sums, counts
    order = np.argsort(g, kind="stable")  # each group's rows, in row order
    g_sorted = g[order]
    first = np.r_[True, g_sorted[1:] != g_sorted[:-1]]
    starts = np.flatnonzero(first)
    position = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    compensation = np.zeros(n_groups)
    for k in range(int(position.max()) + 1):
        rows = order[position == k]  # at most one row per group
        lab, val = g[rows], v[rows]
        y = val - compensation[lab]
        t = sums[lab] + y
        c = t - sums[lab] - y
        c[np.isnan(c)] = 0.0  # an infinite value: pandas resets the compensation so the sum stays infinite
        compensation[lab] = c
        sums[lab] = t
    return sums, counts


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
        for dim in _DIMS:
            self._codes[dim], self._labels[dim] = pd.factorize(ts[dim])  # missing: code -1
        variable, names = pd.factorize(ts["variable"])
        order = np.argsort(variable, kind="stable")
        bounds = np.searchsorted(variable[order], np.arange(len(names) + 1))
        self._rows = {str(v): order[bounds[i]:bounds[i + 1]] for i, v in enumerate(names)}
        self._wide: dict[tuple[str, tuple[str, ...]], pd.DataFrame] = {}

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
        rows = self._rows.get(variable)
        if rows is None:
            return pd.DataFrame(index=self.dates)
        n_dates = len(self.dates)
        # one number per combination of the columns' codes (missing values, code -1, are a combination too)
        combo = np.zeros(len(rows), dtype=np.int64)
        for dim in columns:
            codes = self._codes[dim][rows]
            combo = combo * (len(self._labels[dim]) + 1) + codes + 1
        combos, combo = np.unique(combo, return_inverse=True)
        sums, counts = group_sums(combo * n_dates + self._date[rows], self._value[rows], len(combos) * n_dates)
        table = np.where(counts > 0, sums, np.nan).reshape(len(combos), n_dates)
        if not columns:
            return pd.DataFrame({"value": table[0]}, index=self.dates)
        codes = []
        for dim in reversed(columns):
            size = len(self._labels[dim]) + 1
            codes.append(combos % size - 1)
            combos = combos // size
        codes.reverse()
        if len(columns) == 1:
            labels = self._labels[columns[0]]
            index = labels.take(codes[0], allow_fill=True, fill_value=labels.dtype.na_value).rename(columns[0])
        else:
            levels = []
            for i, dim in enumerate(columns):
                # only the labels present, and a missing label as a label of its own (last), as in a groupby
                # with dropna=False
                used = np.unique(codes[i][codes[i] >= 0])
                level = self._labels[dim][used]
                if (codes[i] < 0).any():
                    level = level.append(pd.Index([level.dtype.na_value], dtype=level.dtype))
                levels.append(level)
                codes[i] = np.where(codes[i] >= 0, np.searchsorted(used, codes[i]), len(used))
            index = pd.MultiIndex(levels=levels, codes=codes, names=list(columns), verify_integrity=False)
        # laid out as pandas' unstack lays it out (dates x columns, row-major): how pandas later sums across
        # columns depends on the layout, and the last bit of those sums with it
        return pd.DataFrame(np.ascontiguousarray(table.T), index=self.dates, columns=index,
                            copy=False).sort_index(axis=1)

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


def present_materials(series: Series, variable: str) -> list[str]:
    """Materials for which a variable has rows."""
    wide = series.wide(variable, ["material"])
    return sort_codes((str(c) for c in wide.columns if isinstance(c, str)), MATERIALS)


def ex_china_weighted(series: Series, variable: str, material: str, weight: str = "demand") -> pd.Series:
    """Demand-weighted mean of a (material, region) variable over importing regions other than China.

    Falls back to the plain mean where no region has a weight that week, so thin weeks still show a value.
    """
    values = series.wide(variable)
    if values.empty or material not in values.columns.get_level_values(0):
        return pd.Series(np.nan, index=series.dates)
    v = values[material]
    v = v[[c for c in v.columns if c != "CN" and isinstance(c, str)]]
    w_all = series.wide(weight)
    if not w_all.empty and material in w_all.columns.get_level_values(0):
        w = w_all[material].reindex(columns=v.columns).fillna(0.0)
    else:
        w = pd.DataFrame(1.0, index=v.index, columns=v.columns)
    w = w.where(v.notna(), 0.0)
    total = w.sum(axis=1)
    weighted = (v.fillna(0.0) * w).sum(axis=1) / total.replace(0.0, np.nan)
    return weighted.fillna(v.mean(axis=1))


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
    f = flow[material]
    keep = [c for c in f.columns if c[1] != "CN" and (regions is None or c[1] in regions)]
    if not keep:
        return pd.DataFrame(index=series.dates)
    by_origin = f[keep].T.groupby(level=0).sum().T.fillna(0.0)
    if window > 1:
        by_origin = by_origin.rolling(window, min_periods=1).sum()
    total = by_origin.sum(axis=1).replace(0, np.nan)
    shares = by_origin.div(total, axis=0).ffill().fillna(0.0) * 100
    cols = sort_codes((str(c) for c in shares.columns if shares[c].gt(0).any()), REGIONS)
    return shares[cols]


def hhi_from_shares(shares: pd.DataFrame) -> pd.Series:
    """Herfindahl-Hirschman index (0-1) of shares given in %, NaN where nothing was delivered."""
    if shares.shape[1] == 0:
        return pd.Series(np.nan, index=shares.index)
    frac = shares / 100.0
    out = (frac**2).sum(axis=1)
    return out.where(frac.sum(axis=1) > 0)


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
    decided = series.wide("licence_approvals").add(series.wide("licence_denials"), fill_value=0.0)
    w = wait[material] if material is not None else wait
    if not decided.empty and (material is None or material in decided.columns.get_level_values(0)):
        d = (decided[material] if material is not None else decided).reindex(columns=w.columns).fillna(0.0)
    else:
        d = pd.DataFrame(1.0, index=w.index, columns=w.columns)
    num = (w.fillna(0.0) * d).sum(axis=1)
    den = d.sum(axis=1)
    if window > 1:
        num = num.rolling(window, min_periods=1).sum()
        den = den.rolling(window, min_periods=1).sum()
    return (num / den.replace(0.0, np.nan)).ffill()


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
    keep = [c for c in wide.columns
            if (material is None or c[0] == material) and c[1] not in exclude_regions]
    if not keep:
        return pd.Series(np.nan, index=series.dates)
    return wide[keep].sum(axis=1, min_count=1)


def flow_matrix(series: Series, material: str, start: pd.Timestamp | None = None,
                end: pd.Timestamp | None = None, domestic: bool = False) -> pd.DataFrame:
    """Tonnes delivered from each origin (rows) to each region (columns) over [start, end].

    China's own market (China to China) is left out unless `domestic`: it is not trade, and it would set
    the colour scale for everything else.
    """
    flow = series.wide("flow", ["material", "origin", "region"])
    if flow.empty or material not in flow.columns.get_level_values(0):
        return pd.DataFrame()
    f = flow[material]
    if start is not None:
        f = f[f.index >= start]
    if end is not None:
        f = f[f.index <= end]
    totals = f.sum(axis=0)  # t/week summed over weeks = tonnes
    mat = totals.unstack("region").fillna(0.0)
    if not domestic and "CN" in mat.index and "CN" in mat.columns:
        mat.loc["CN", "CN"] = 0.0
    return mat


def rolling_mean(y: pd.Series, window: int) -> pd.Series:
    """Trailing mean over `window` weeks (NaN weeks ignored), to calm weekly noise on the page."""
    return y.rolling(window, min_periods=1).mean() if window > 1 else y
