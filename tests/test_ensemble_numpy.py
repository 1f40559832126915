"""The numpy reading of a run (wide tables, per-material blocks and traces) gives the same numbers as a plain
pandas reading of it, up to rounding (1e-12), so ensemble and run figures are drawn as before (docs/performance.md).

The reference below is the straightforward pandas code the numpy code replaced: a groupby and unstack per wide
view, and the trace functions on those frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import reflow
from reflow.plotting import _frames as frames
from reflow.plotting.ensemble import EX_CHINA, NEEDED_VARIABLES, reduce_run, runs_matrix
from reflow.plotting.style import REGIONS, sort_codes

ROOT = Path(__file__).resolve().parents[1]
# the numpy code adds in another order than pandas: equal up to rounding, not to the last bit
CLOSE = {"check_exact": False, "rtol": 1e-12, "atol": 1e-12}
COLUMN_CHOICES = [(), ("material",), ("region",), ("material", "region"), ("material", "origin", "region")]


class PandasSeries:
    """A run's time series read with pandas only: one groupby and unstack per wide view."""

    def __init__(self, ts: pd.DataFrame) -> None:
        ts = ts.assign(date=pd.to_datetime(ts["date"]))
        self._by_var = {str(k): v for k, v in ts.groupby("variable", sort=False)}
        self.dates = pd.DatetimeIndex(sorted(ts["date"].unique()))

    def wide(self, variable: str, columns: Sequence[str] = ("material", "region")) -> pd.DataFrame:
        df = self._by_var.get(variable)
        if df is None:
            return pd.DataFrame(index=self.dates)
        cols = list(columns)
        if not cols:
            return df.groupby("date")["value"].sum().to_frame("value").reindex(self.dates)
        out = df.groupby(["date", *cols], dropna=False)["value"].sum().unstack(cols)
        return out.reindex(self.dates).sort_index(axis=1)


def ref_ex_china_weighted(s: PandasSeries, variable: str, material: str) -> pd.Series:
    values = s.wide(variable)
    if values.empty or material not in values.columns.get_level_values(0):
        return pd.Series(np.nan, index=s.dates)
    v = values[material]
    v = v[[c for c in v.columns if c != "CN" and isinstance(c, str)]]
    w_all = s.wide("demand")
    if not w_all.empty and material in w_all.columns.get_level_values(0):
        w = w_all[material].reindex(columns=v.columns).fillna(0.0)
    else:
        w = pd.DataFrame(1.0, index=v.index, columns=v.columns)
    w = w.where(v.notna(), 0.0)
    weighted = (v.fillna(0.0) * w).sum(axis=1) / w.sum(axis=1).replace(0.0, np.nan)
    return weighted.fillna(v.mean(axis=1))


def ref_origin_shares(s: PandasSeries, material: str, regions: Sequence[str] | None = None,
                      window: int = 1) -> pd.DataFrame:
    flow = s.wide("flow", ["material", "origin", "region"])
    if flow.empty or material not in flow.columns.get_level_values(0):
        return pd.DataFrame(index=s.dates)
    f = flow[material]
    keep = [c for c in f.columns if c[1] != "CN" and (regions is None or c[1] in regions)]
    if not keep:
        return pd.DataFrame(index=s.dates)
    by_origin = f[keep].T.groupby(level=0).sum().T.fillna(0.0)
    if window > 1:
        by_origin = by_origin.rolling(window, min_periods=1).sum()
    shares = by_origin.div(by_origin.sum(axis=1).replace(0, np.nan), axis=0).ffill().fillna(0.0) * 100
    return shares[sort_codes((str(c) for c in shares.columns if shares[c].gt(0).any()), REGIONS)]


def ref_licence_wait(s: PandasSeries, material: str | None = None, window: int = 1) -> pd.Series:
    wait = s.wide("licence_mean_wait_days")
    if wait.empty or (material is not None and material not in wait.columns.get_level_values(0)):
        return pd.Series(np.nan, index=s.dates)
    approvals, denials = s.wide("licence_approvals"), s.wide("licence_denials")
    # (the replaced code added the two tables even when one was empty, and raised: columns without names)
    decided = approvals if denials.empty else denials if approvals.empty else approvals.add(denials, fill_value=0.0)
    w = wait[material] if material is not None else wait
    if not decided.empty and (material is None or material in decided.columns.get_level_values(0)):
        d = (decided[material] if material is not None else decided).reindex(columns=w.columns).fillna(0.0)
    else:
        d = pd.DataFrame(1.0, index=w.index, columns=w.columns)
    num, den = (w.fillna(0.0) * d).sum(axis=1), d.sum(axis=1)
    if window > 1:
        num, den = num.rolling(window, min_periods=1).sum(), den.rolling(window, min_periods=1).sum()
    return (num / den.replace(0.0, np.nan)).ffill()


def ref_total(s: PandasSeries, variable: str, material: str | None = None,
              exclude_regions: Sequence[str] = ()) -> pd.Series:
    wide = s.wide(variable, ["material", "region"])
    if wide.empty:
        return pd.Series(np.nan, index=s.dates)
    keep = [c for c in wide.columns if (material is None or c[0] == material) and c[1] not in exclude_regions]
    if not keep:
        return pd.Series(np.nan, index=s.dates)
    return wide[keep].sum(axis=1, min_count=1)


def ref_flow_matrix(s: PandasSeries, material: str, start: pd.Timestamp | None = None,
                    end: pd.Timestamp | None = None, domestic: bool = False) -> pd.DataFrame:
    flow = s.wide("flow", ["material", "origin", "region"])
    if flow.empty or material not in flow.columns.get_level_values(0):
        return pd.DataFrame()
    f = flow[material]
    if start is not None:
        f = f[f.index >= start]
    if end is not None:
        f = f[f.index <= end]
    mat = f.sum(axis=0).unstack("region").fillna(0.0)
    if not domestic and "CN" in mat.index and "CN" in mat.columns:
        mat.loc["CN", "CN"] = 0.0
    return mat


@pytest.fixture(scope="module")
def run_ts() -> pd.DataFrame:
    """A short controls_2025 run, past the April 2025 controls (licences, shortages and flows have values)."""
    res = reflow.run(ROOT / "configs" / "controls_2025.toml", seed=3, out=None, overrides=["scenario.weeks=80"])
    ts = res.timeseries
    return ts[ts["variable"].isin(NEEDED_VARIABLES)].reset_index(drop=True)


def _variant(ts: pd.DataFrame, name: str) -> pd.DataFrame:
    """The run as recorded, with gaps (NaN values), or without a variable."""
    if name == "with_nan":
        ts = ts.copy()
        gaps = np.random.default_rng(7).random(len(ts)) < 0.05
        ts.loc[gaps, "value"] = np.nan
        return ts
    if name.startswith("without_"):
        return ts[ts["variable"] != name.removeprefix("without_")].reset_index(drop=True)
    return ts


VARIANTS = ["as_recorded", "with_nan", "without_demand", "without_licence_denials", "without_flow"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_wide_tables_and_blocks_equal_a_pandas_groupby(run_ts: pd.DataFrame, variant: str) -> None:
    ts = _variant(run_ts, variant)
    fast, ref = frames.Series(ts), PandasSeries(ts)
    pd.testing.assert_index_equal(fast.dates, ref.dates, exact=True)
    for variable in [*NEEDED_VARIABLES, "not_recorded"]:
        for columns in COLUMN_CHOICES:
            pd.testing.assert_frame_equal(fast.wide(variable, columns), ref.wide(variable, columns), **CLOSE)
        for m in fast.materials() if fast.regions(variable) else []:
            block = fast.block(variable, m)
            wide = ref.wide(variable)
            if wide.empty or m not in wide.columns.get_level_values(0):
                assert block is None
            else:
                np.testing.assert_allclose(block[0], wide[m].to_numpy(), rtol=1e-12, atol=1e-12)
                assert block[1] == list(wide[m].columns)


@pytest.mark.parametrize("variant", VARIANTS)
def test_traces_equal_the_pandas_reference(run_ts: pd.DataFrame, variant: str) -> None:
    ts = _variant(run_ts, variant)
    fast, ref = frames.Series(ts), PandasSeries(ts)
    same = pd.testing.assert_series_equal
    for m in fast.materials():
        for var in ("price_ex_vwap", "price_ex_ask", "inventory_cover_weeks"):
            same(frames.ex_china_weighted(fast, var, m), ref_ex_china_weighted(ref, var, m), **CLOSE)
        same(frames.total(fast, "shortage", m, ("CN",)), ref_total(ref, "shortage", m, ("CN",)), **CLOSE)
        for window in (1, 4):
            same(frames.licence_wait(fast, m, window), ref_licence_wait(ref, m, window), **CLOSE)
        for regions, window in ((None, 13), (None, 1), (["US", "EU"], 13)):
            pd.testing.assert_frame_equal(frames.origin_shares(fast, m, regions, window),
                                          ref_origin_shares(ref, m, regions, window), **CLOSE)
    same(frames.licence_wait(fast, None, 4), ref_licence_wait(ref, None, 4), **CLOSE)
    same(frames.total(fast, "shortage"), ref_total(ref, "shortage"), **CLOSE)
    # reduce_run's own selections: per-region inventory cover of the regions with demand (all when none)
    traces, _ = reduce_run(fast)
    for m in fast.materials():
        cover = ref.wide("inventory_cover_weeks")[m]
        demand = ref.wide("demand")
        needy = [] if demand.empty else [r for r in demand[m].columns
                                         if r != "CN" and demand[m][r].fillna(0).gt(0).any()]
        lines = {k[2] for k in traces if k[:2] == ("inventories", m)}
        assert lines == {*(needy or [r for r in cover.columns if r != "CN"]), EX_CHINA}
        for r in lines - {EX_CHINA}:
            same(traces["inventories", m, r], cover[r], **CLOSE)


@pytest.mark.parametrize("variant", VARIANTS)
def test_flow_matrices_equal_the_pandas_reference(run_ts: pd.DataFrame, variant: str) -> None:
    ts = _variant(run_ts, variant)
    fast, ref = frames.Series(ts), PandasSeries(ts)
    periods = [(None, None), ("2025-04-01", "2025-09-30"), ("2024-06-01", None), (None, "2020-01-01")]
    for m in [*fast.materials(), "not_a_material"]:
        for lo, hi in periods:
            start, end = (pd.Timestamp(x) if x else None for x in (lo, hi))
            for domestic in (False, True):
                got = frames.flow_matrix(fast, m, start, end, domestic)
                pd.testing.assert_frame_equal(got, ref_flow_matrix(ref, m, start, end, domestic), **CLOSE)
    if variant != "without_flow":  # the test sees flows: trade with China's own market left out, and weeks outside
        whole = frames.flow_matrix(fast, "dy_oxide")
        assert whole.loc["CN", "CN"] == 0.0 < frames.flow_matrix(fast, "dy_oxide", domestic=True).loc["CN", "CN"]
        part = frames.flow_matrix(fast, "dy_oxide", pd.Timestamp("2025-04-01"), pd.Timestamp("2025-09-30"))
        assert whole.to_numpy().sum() > part.to_numpy().sum() > 0


def test_group_sums_equal_pandas_groupby_sum() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, n_groups = int(rng.integers(1, 60)), int(rng.integers(1, 8))
        groups = rng.integers(0, n_groups, n)
        if rng.random() < 0.4:
            groups = np.sort(groups)
        values = rng.normal(size=n) * 10.0 ** rng.integers(-3, 6)
        if rng.random() < 0.5:
            values[rng.random(n) < 0.3] = np.nan
        if rng.random() < 0.1:
            values[0] = np.inf
        sums, counts = frames.group_sums(groups, values, n_groups)
        expected = pd.Series(values).groupby(groups).sum()
        # rounding is relative to the magnitudes added, not to the (possibly cancelling) sum
        scale = pd.Series(np.abs(values)).groupby(groups).sum().to_numpy()
        got, want = sums[expected.index], expected.to_numpy()
        finite = np.isfinite(scale)
        assert np.array_equal(got[~finite], want[~finite])  # a group with inf sums to inf
        assert (np.abs(got[finite] - want[finite]) <= 1e-12 * scale[finite]).all()
        assert np.array_equal(counts, np.bincount(groups, minlength=n_groups))
        assert (sums[counts == 0] == 0).all()
    sums, counts = frames.group_sums(np.array([0, 2, 0]), np.array([np.nan, 1.0, np.nan]), 3)
    assert sums.tolist() == [0.0, 0.0, 1.0] and counts.tolist() == [2, 0, 1]  # all NaN: 0, as in pandas


def test_group_sums_sum_each_column_of_a_table_apart() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(9, 4))
    values[2, 1] = np.nan
    groups = np.array([1, 0, 1, 3, 0, 1, 3, 3, 0])
    sums, counts = frames.group_sums(groups, values, 5)
    expected = pd.DataFrame(values).groupby(groups).sum().reindex(range(5), fill_value=0.0).to_numpy()
    assert sums.shape == (5, 4)
    np.testing.assert_allclose(sums, expected, rtol=1e-12, atol=1e-12)
    assert counts.tolist() == [3, 3, 0, 3, 0]
    empty, none = frames.group_sums(np.array([], dtype=np.intp), np.zeros((0, 4)), 2)
    assert empty.shape == (2, 4) and not empty.any() and none.tolist() == [0, 0]


def test_row_sums_count_nan_as_zero_like_pandas_sums_across_columns() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(50, 30)) * 1e3
    values[rng.random(values.shape) < 0.2] = np.nan
    values[4] = np.nan  # a week without any value sums to 0
    for n_cols in (1, 3, 12, 30):
        frame = pd.DataFrame(values[:, :n_cols])
        np.testing.assert_allclose(frames.row_sums(frame.to_numpy()), frame.sum(axis=1).to_numpy(),
                                   rtol=1e-12, atol=1e-9)  # atol: cancelling sums of values near 1e3
    assert frames.row_sums(values)[4] == 0.0


def test_runs_matrix_gives_the_same_means_as_a_pandas_table_of_the_runs() -> None:
    rng = np.random.default_rng(2)
    dates = pd.date_range("2024-01-01", periods=30, freq="W-MON")
    traces = [(i, pd.Series(rng.normal(size=30 - i % 4), index=dates[i % 4:])) for i in range(20) if i % 7]
    for _i, y in traces[::3]:
        y.iloc[::5] = np.nan
    arr = runs_matrix(traces, dates, 20)
    table = pd.concat([y.rename(i) for i, y in traces], axis=1, sort=True).reindex(index=dates, columns=range(20))
    assert np.array_equal(arr, table.to_numpy(dtype=float), equal_nan=True)
    np.testing.assert_allclose(np.nanmean(arr, axis=1), np.nanmean(table.to_numpy(dtype=float), axis=1),
                               rtol=1e-12, atol=1e-12)
