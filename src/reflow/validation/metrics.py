"""The validation metrics, each a pure function of one run's tidy time series (definitions in
`reflow.validation`'s docstring)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reflow.domain import OXIDES
from reflow.validation.series import (
    _base,
    _months_between,
    _wide,
    china_price,
    covers_year,
    ex_china_price,
    monthly_means,
    period,
    prepare,
    weekly_total,
    year_mean,
    year_total,
)
from reflow.validation.targets import AFTER_CRISIS, ANNOUNCEMENT_2010, BASE_YEAR, QUOTA_YEAR, THRIFT_BY


def price_peak(ts: pd.DataFrame, material: str, base_year: int = BASE_YEAR,
               announced: dt.date = ANNOUNCEMENT_2010) -> dict[str, Any]:
    """The ex-China price peak of `material`: monthly peak over the base-year mean, its month, months after
    the announcement.

    Returns:
        ``{"multiple": float, "date": Timestamp (month start), "months": int}``.
    """
    weekly = ex_china_price(ts, material)
    base = _base(weekly, base_year)
    monthly = monthly_means(weekly)
    k = monthly.idxmax()
    return {"multiple": float(monthly[k] / base), "date": k, "months": _months_between(announced, k)}


def fall_back(ts: pd.DataFrame, material: str, months: int = 24) -> float:
    """Lowest monthly ex-China price in the `months` after the peak month, over the peak price.

    NaN when the run ends in the peak month.
    """
    monthly = monthly_means(ex_china_price(ts, material))
    k = monthly.idxmax()
    after = monthly[(monthly.index > k) & (monthly.index <= k + pd.DateOffset(months=months))]
    if after.notna().sum() == 0:
        return float("nan")
    return float(after.min() / monthly[k])


def price_level(ts: pd.DataFrame, material: str, start: dt.date, end: dt.date, base_year: int = BASE_YEAR) -> float:
    """Mean weekly ex-China price from `start` to `end` (inclusive) over its `base_year` mean; NaN without prices."""
    weekly = ex_china_price(ts, material)
    sel = period(weekly, start, end)
    if sel.notna().sum() == 0:
        return float("nan")
    return float(sel.mean() / _base(weekly, base_year))


def spread_ratio(ts: pd.DataFrame, material: str, later_months: int = 12) -> tuple[float, float]:
    """(ex-China / China-domestic monthly price in the peak month, the same `later_months` later; NaN if the
    run ends before)."""
    ex = monthly_means(ex_china_price(ts, material))
    cn = monthly_means(china_price(ts, material)).reindex(ex.index)
    k = ex.idxmax()
    at = float(ex[k] / cn[k])
    later = k + pd.DateOffset(months=later_months)
    after = float(ex[later] / cn[later]) if later in ex.index and np.isfinite(cn.get(later, np.nan)) else float("nan")
    return at, after


def exports_vs_quota(ts: pd.DataFrame, quota_tpy: Mapping[str, float], year: int = QUOTA_YEAR) -> dict[str, float]:
    """China's exports in `year` (sum of weekly ``exports_cn_total``) over the quota, per material and ``"all"``
    (summed tonnes over summed quota, as the real quota was one tonnage for all rare earths).

    Args:
        quota_tpy: t/yr per material in force in `year` (see `quota_in_force`); materials with no finite quota
            are left out.

    Returns:
        NaN throughout unless the run covers the whole year (`covers_year`): a part of a year's exports over the
        whole year's quota would read as a quota not filled.
    """
    ts = prepare(ts)  # once, not again for each material's series
    out: dict[str, float] = {}
    whole = covers_year(ts["date"], year)
    tot_x = tot_q = 0.0
    for m, q in quota_tpy.items():
        if not np.isfinite(q) or q <= 0:
            continue
        s = light_series(ts, "light_exports_cn") if m == "light_ree" else weekly_total(ts, "exports_cn_total", m)
        x = year_total(s, year) if whole else float("nan")
        out[m] = x / q
        tot_x += x
        tot_q += q
    out["all"] = tot_x / tot_q if tot_q > 0 else float("nan")
    return out


def unofficial_vs_official(ts: pd.DataFrame, materials: Iterable[str], year: int = QUOTA_YEAR) -> float:
    """China's unofficial exports (``exports_cn_unofficial``, all destinations) over its official ones
    (``exports_cn_total``) in `year`, summed over `materials` (``"light_ree"``: the La/Ce market's).

    NaN unless the run covers the whole year (`covers_year`). A year without a week of the run has no exports to
    compare, not 0 t. Nor does part of a year give the ratio: the target is a whole year's figure, and smuggling
    rose and fell with the price gap within a year (2011: most of it around the mid-year peak), so the ratio of a
    few months is not the year's.
    """
    ts = prepare(ts)  # once, not again for each material's series
    if not covers_year(ts["date"], year):
        return float("nan")
    un = off = 0.0
    for m in materials:
        if m == "light_ree":
            u, o = light_series(ts, "light_exports_cn_unofficial"), light_series(ts, "light_exports_cn")
        else:
            u = weekly_total(ts, "exports_cn_unofficial", m)
            o = weekly_total(ts, "exports_cn_total", m)
        un += float(u[u.index.year == year].sum())
        off += float(o[o.index.year == year].sum())
    return un / off if off > 0 else float("nan")


def weighted_thrift(ts: pd.DataFrame, material: str) -> tuple[pd.Series, pd.Series]:
    """(weekly need-weighted thrift share over regions, weekly need before thrifting)."""
    th = _wide(ts, "thrift_saving_share", material)
    d = _wide(ts, "demand", material).reindex(index=th.index, columns=th.columns).fillna(0.0)
    base = d / (1.0 - th.clip(upper=0.999))
    tot = base.sum(axis=1)
    return (th * base).sum(axis=1) / tot.where(tot > 0), tot


def thrift_lost(ts: pd.DataFrame, by: dt.date = THRIFT_BY, materials: Sequence[str] = OXIDES,
                year_weeks: int = 52) -> dict[str, float]:
    """Demand removed by thrifting/substitution: per material and aggregated over `materials`.

    Returns:
        ``{"<material>": share at the last week on or before `by`, "all": the need-weighted aggregate,
        "all_max_yearly": the aggregate's largest rise over `year_weeks` weeks up to `by`}``.
    """
    out: dict[str, float] = {}
    shares, needs = {}, {}
    for m in materials:
        s, n = weighted_thrift(ts, m)
        shares[m], needs[m] = s.fillna(0.0), n.fillna(0.0)
    cut = pd.Timestamp(by)
    for m in materials:
        s = shares[m][shares[m].index <= cut]
        out[m] = float(s.iloc[-1]) if len(s) else float("nan")
    num = sum(shares[m] * needs[m] for m in materials)
    den = sum(needs[m] for m in materials)
    agg = (num / den.where(den > 0)).fillna(0.0)
    agg = agg[agg.index <= cut]
    out["all"] = float(agg.iloc[-1]) if len(agg) else float("nan")
    out["all_max_yearly"] = float((agg - agg.shift(year_weeks)).max()) if len(agg) > year_weeks else float("nan")
    return out


def _yearly_alt_output(ts: pd.DataFrame, materials: Sequence[str]) -> tuple[pd.Series, pd.Series]:
    """Non-Chinese output of `materials` (t summed) per calendar year as a weekly mean (a year holds 52 or 53
    Mondays), and the number of weeks each year has in the run."""
    prod = sum(weekly_total(ts, "production_alt", m) for m in materials)
    return prod.groupby(prod.index.year).mean(), prod.groupby(prod.index.year).size()


def alt_supply_growth(ts: pd.DataFrame, materials: Sequence[str] = OXIDES,
                      years: Iterable[int] | None = None) -> dict[int, float]:
    """Per year: rise of non-Chinese output of `materials` over the year before, as a share of the year's world
    consumption of them (t summed over materials). Only whole calendar years in the run count."""
    py, n = _yearly_alt_output(ts, materials)
    cons = sum(weekly_total(ts, "consumption", m) for m in materials)
    cy = cons.groupby(cons.index.year).mean()
    full = [y for y in py.index if n[y] >= 52]
    ys = [y for y in (years if years is not None else full) if y in full and y - 1 in full]
    return {int(y): float((py[y] - py[y - 1]) / cy[y]) if cy[y] > 0 else float("nan") for y in ys}


def alt_output_ratio(ts: pd.DataFrame, year: int, materials: Sequence[str] = OXIDES,
                     base_year: int = BASE_YEAR) -> float:
    """Non-Chinese output of `materials` (t summed) in `year` over `base_year`, as weekly means (NaN if the run
    does not cover both years, or nothing was produced in the base year)."""
    py, _ = _yearly_alt_output(ts, materials)
    if year not in py.index or base_year not in py.index or py[base_year] <= 0:
        return float("nan")
    return float(py[year] / py[base_year])


def alt_capacity_arrival(ts: pd.DataFrame, materials: Sequence[str] = OXIDES, base_year: int = BASE_YEAR,
                         rise: float = 0.10) -> float:
    """Fractional year in which non-Chinese capacity in operation of `materials` first exceeds its base-year
    mean by `rise` (NaN if never; 0 t/yr in the base year counts any capacity)."""
    cap = sum(weekly_total(ts, "alt_capacity", m) for m in materials)
    base = year_mean(cap, base_year) if (cap.index.year == base_year).any() else 0.0
    above = cap[(cap > base * (1.0 + rise)) & (cap > 1e-9) & (cap.index.year > base_year)]
    if len(above) == 0:
        return float("nan")
    d = above.index[0]
    return d.year + (d.day_of_year - 1) / (366.0 if d.is_leap_year else 365.0)


def china_price_ratio(ts: pd.DataFrame, material: str, other: str, start: dt.date, end: dt.date) -> float:
    """Mean over the calendar months from `start` to `end` of China's monthly price of `material` over that of
    `other` (e.g. Tb oxide against Dy oxide: how far the two moved apart, without a base year)."""
    a, b = monthly_means(china_price(ts, material)), monthly_means(china_price(ts, other))
    r = period(a / b.where(b > 0), start, end)
    return float(r.mean()) if r.notna().any() else float("nan")


def china_price_vs_history(ts: pd.DataFrame, material: str, months: Sequence[tuple[dt.date, dt.date]],
                           history: Sequence[float], base_year: int = BASE_YEAR) -> float:
    """Mean over `months` of China's monthly price of `material` as a multiple of its `base_year` mean, over the
    multiple `history` reports for that month (1 = history's)."""
    weekly = china_price(ts, material)
    monthly = monthly_means(weekly) / _base(weekly, base_year)
    ratios = [float(period(monthly, a, b).mean()) / h
              for (a, b), h in zip(months, history, strict=True)]
    return float(np.mean(ratios))


def production_lost_worst_month(ts: pd.DataFrame, start: dt.date, end: dt.date) -> float:
    """Largest monthly share of planned ex-China output lost between `start` and `end` (weekly shares weighted
    by ``output_plan`` over regions, then averaged by calendar month)."""
    ts = prepare(ts)
    lost = ts[ts["variable"] == "production_lost_share"].groupby(["date", "region"])["value"].first()
    plan = ts[ts["variable"] == "output_plan"].groupby(["date", "region"])["value"].first()
    both = pd.concat({"lost": lost, "plan": plan}, axis=1).dropna()
    weekly = (both["lost"] * both["plan"]).groupby(level="date").sum() / both["plan"].groupby(level="date").sum()
    weekly = period(weekly, start, end)
    return float(monthly_means(weekly).max()) if len(weekly) else float("nan")


def pre_shock_peak(ts: pd.DataFrame, material: str, base_year: int = BASE_YEAR,
                   announced: dt.date = ANNOUNCEMENT_2010) -> float:
    """Highest monthly ex-China price before the month of the announcement, over the base-year mean."""
    weekly = ex_china_price(ts, material)
    monthly = monthly_means(weekly)
    before = monthly[monthly.index < pd.Timestamp(announced.replace(day=1))]
    return float(before.max() / _base(weekly, base_year))


def pre_shock_swing(ts: pd.DataFrame, material: str, base_year: int = BASE_YEAR,
                    announced: dt.date = ANNOUNCEMENT_2010) -> float:
    """Largest monthly departure of the ex-China price from its base-year mean before the month of the
    announcement, either way: max(highest / base, base / lowest) (1 = flat)."""
    weekly = ex_china_price(ts, material)
    monthly = monthly_means(weekly)
    before = monthly[monthly.index < pd.Timestamp(announced.replace(day=1))].dropna()
    base = _base(weekly, base_year)
    return float(max(before.max() / base, base / before.min())) if len(before) else float("nan")


def rebound(ts: pd.DataFrame, material: str, start: dt.date = AFTER_CRISIS[0],
            end: dt.date = AFTER_CRISIS[1]) -> float:
    """Largest rise of the monthly ex-China price over the lowest monthly price before it, between `start` and
    `end` (1 = it never rose again; a steady decline)."""
    window = period(monthly_means(ex_china_price(ts, material)), start, end).dropna()
    if len(window) < 2:
        return float("nan")
    return float((window / window.cummin()).max())


def production_lost(ts: pd.DataFrame, start: dt.date, end: dt.date) -> float:
    """Share of planned ex-China output lost between `start` and `end` (``production_lost_share`` weighted by
    ``output_plan`` over regions and weeks)."""
    ts = prepare(ts)
    lost = ts[ts["variable"] == "production_lost_share"].groupby(["date", "region"])["value"].first()
    plan = ts[ts["variable"] == "output_plan"].groupby(["date", "region"])["value"].first()
    both = pd.concat({"lost": lost, "plan": plan}, axis=1).dropna()
    d = both.index.get_level_values("date")
    both = both[(d >= pd.Timestamp(start)) & (d <= pd.Timestamp(end))]
    tot = float(both["plan"].sum())
    return float((both["lost"] * both["plan"]).sum() / tot) if tot > 0 else float("nan")


def light_series(ts: pd.DataFrame, variable: str) -> pd.Series:
    """A weekly La/Ce series (``light_*`` variables, docs/outputs.md) by date; empty without a La/Ce market."""
    sub = ts[ts["variable"] == variable]
    return pd.Series(sub["value"].to_numpy(float), index=pd.to_datetime(sub["date"]), name=variable).sort_index()


def light_metrics(price_ex: pd.Series, price_cn: pd.Series, base_year: int = BASE_YEAR,
                  announced: dt.date = ANNOUNCEMENT_2010, crisis_peak: pd.Timestamp | None = None) -> dict[str, float]:
    """The La/Ce market's peak, spreads and rebound from its weekly prices (the oxides' definitions).

    Args:
        crisis_peak: a month (e.g. NdPr's peak month) at which to read the spread as well.

    Returns:
        ``peak_multiple``, ``peak_months``, ``spread_at_peak``, ``spread_year_after`` (NaN if the run ends
        first), ``fall_back``, ``rebound`` and, with `crisis_peak`, ``spread_at_crisis_peak``.
    """
    ex = monthly_means(price_ex)
    cn = monthly_means(price_cn).reindex(ex.index)
    k = ex.idxmax()
    later = k + pd.DateOffset(months=12)
    after = ex[(ex.index > k) & (ex.index <= k + pd.DateOffset(months=24))]
    window = period(ex, *AFTER_CRISIS).dropna()
    return {
        "peak_multiple": float(ex[k] / _base(price_ex, base_year)),
        "peak_months": float(_months_between(announced, k)),
        "spread_at_peak": float(ex[k] / cn[k]),
        "spread_year_after": float(ex[later] / cn[later]) if later in ex.index else float("nan"),
        "fall_back": float(after.min() / ex[k]) if after.notna().any() else float("nan"),
        "rebound": float((window / window.cummin()).max()) if len(window) >= 2 else float("nan"),
        **({"spread_at_crisis_peak": float(ex[crisis_peak] / cn[crisis_peak]) if crisis_peak in ex.index
            else float("nan")} if crisis_peak is not None else {}),
    }
