"""How a run's tidy time series is read for validation: calendar periods (months, years) and the weekly
series of prices and volumes the metrics are computed from."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from reflow.domain import IMPORT_REGIONS

# --------------------------------------------------------------------------------------------------- calendar

# How months, years and periods are read from a run's weekly series (one value per week, dated by the Monday the
# week starts): the metrics here, experiments/seed1_2010.py and experiments/validation_figures.py all use these, so
# that a figure docs/validation.md quotes and a fitted metric mean the same month or year.

DateLike = str | dt.date | pd.Timestamp


def period(series: pd.Series, start: DateLike, end: DateLike) -> pd.Series:
    """The values of `series` dated from `start` to `end`, both inclusive: of a weekly series, the weeks starting
    between the two dates (``period(w, "2011-05-01", "2011-08-31")``: May-August 2011); of `monthly_means`, the
    months whose first day is between them."""
    return series[(series.index >= pd.Timestamp(start)) & (series.index <= pd.Timestamp(end))]


def monthly_means(weekly: pd.Series) -> pd.Series:
    """Every calendar month's value, indexed by the month's first day: the mean of the weekly values whose week
    starts in that month (4 or 5 weeks; NaN values left out)."""
    return weekly.resample("MS").mean()


def month_mean(weekly: pd.Series, month: str) -> float:
    """One calendar month's value (`month` as ``"YYYY-MM"``): the mean of the weekly values whose week starts in
    it; NaN if the run has no week in it.

    The value of `monthly_means` for that month, but for the last bit of rounding (pandas averages a resampled
    month by another route).
    """
    sel = weekly[weekly.index.to_period("M") == pd.Period(month, "M")]
    return float(sel.mean()) if len(sel) else float("nan")


def year_total(weekly: pd.Series, year: int) -> float:
    """A calendar year's tonnage: the sum of the weekly values whose week starts in `year`; NaN, not 0, if the run
    has no week in it (a run that ends before `year` did not export nothing)."""
    inside = weekly[weekly.index.year == year]
    return float(inside.sum()) if len(inside) else float("nan")


def covers_year(dates: pd.Series | pd.DatetimeIndex, year: int) -> bool:
    """True when a run's weeks (their start dates, consecutive) include every week starting in `year`: one
    starting in its first seven days and one in its last seven."""
    inside = pd.DatetimeIndex(dates)
    inside = inside[inside.year == year]
    return len(inside) > 0 and inside.min() <= pd.Timestamp(year, 1, 7) and inside.max() >= pd.Timestamp(year, 12, 25)


def year_mean(weekly: pd.Series, year: int) -> float:
    """A calendar year's level: the mean of the weekly values whose week starts in `year` (NaN if the run has
    none). A "multiple of 2009" is a value over ``year_mean(weekly, 2009)`` (`BASE_YEAR`)."""
    return float(weekly[weekly.index.year == year].mean())


# --------------------------------------------------------------------------------------------------- series


_USED = ("price_ex_vwap", "demand", "price_cn", "exports_cn_total", "thrift_saving_share", "production_alt",
         "consumption", "alt_capacity", "production_lost_share", "output_plan", "light_price_ex", "light_price_cn",
         "light_exports_cn", "exports_cn_unofficial", "light_exports_cn_unofficial")
_PREPARED = "reflow.validation.prepared"


def prepare(ts: pd.DataFrame) -> pd.DataFrame:
    """The rows of the variables the metrics read, with plain string columns and datetime dates.

    Every function here prepares the time series it is given; a frame already prepared is returned as it is, so a
    caller reading many series of one run prepares it once and passes the result.
    """
    if ts.attrs.get(_PREPARED):
        return ts
    sub = ts.loc[ts["variable"].isin(_USED), ["date", "variable", "material", "region", "value"]]
    sub = pd.DataFrame({
        "date": pd.to_datetime(sub["date"]),
        "variable": sub["variable"].astype(object),
        "material": sub["material"].astype(object),
        "region": sub["region"].astype(object),
        "value": sub["value"].to_numpy(float),
    })
    sub.attrs[_PREPARED] = True
    return sub


def _wide(ts: pd.DataFrame, variable: str, material: str) -> pd.DataFrame:
    ts = prepare(ts)
    sub = ts[(ts["variable"] == variable) & (ts["material"] == material)]
    out = sub.groupby(["date", "region"])["value"].first().unstack("region")
    return out.sort_index()


def weekly_total(ts: pd.DataFrame, variable: str, material: str, region: str | None = None) -> pd.Series:
    """Weekly values of `variable` for `material` by date, summed over regions (China's series have one row a
    week), or of `region` alone. For the La/Ce market's series (no material) see `light_series`."""
    ts = prepare(ts)
    sub = ts[(ts["variable"] == variable) & (ts["material"] == material)]
    if region is not None:
        sub = sub[sub["region"] == region]
    return sub.groupby("date")["value"].sum().sort_index()


def ex_china_price(ts: pd.DataFrame, material: str, freq: str | None = None) -> pd.Series:
    """Weekly (or `freq`-averaged, e.g. ``"MS"``) ex-China price: ``price_ex_vwap`` weighted by ``demand``.

    Args:
        ts: a run's tidy time series.
        material: e.g. ``"dy_oxide"``.
        freq: a pandas offset alias to average into (``"MS"``: calendar months, as `monthly_means`), or None
            for weekly.
    """
    p = _wide(ts, "price_ex_vwap", material)
    d = _wide(ts, "demand", material)
    regions = [r for r in IMPORT_REGIONS if r in p.columns and r in d.columns]
    p, d = p[regions], d[regions].reindex(p.index).fillna(0.0)
    d = d.where(p.notna(), 0.0)
    w = (p.fillna(0.0) * d).sum(axis=1) / d.sum(axis=1).where(lambda x: x > 0)
    return w.resample(freq).mean() if freq else w


def china_price(ts: pd.DataFrame, material: str, freq: str | None = None) -> pd.Series:
    """Weekly (or `freq`-averaged) Chinese domestic price ``price_cn``."""
    s = weekly_total(ts, "price_cn", material)
    return s.resample(freq).mean() if freq else s


def _base(weekly: pd.Series, base_year: int) -> float:
    """`year_mean` of the base year, which a price multiple cannot do without."""
    base = year_mean(weekly, base_year)
    if math.isnan(base):
        raise ValueError(f"the time series has no prices in the base year {base_year}")
    return base


def _months_between(a: pd.Timestamp | dt.date, b: pd.Timestamp | dt.date) -> int:
    return (b.year - a.year) * 12 + (b.month - a.month)
