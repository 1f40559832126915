"""Unit tests of the 2010 validation metrics (reflow.validation) on small synthetic tidy time series."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from reflow import validation as v

START = dt.date(2009, 1, 5)  # a Monday
WEEKS = 365
DATES = [START + dt.timedelta(weeks=w) for w in range(WEEKS)]


def _rows(variable: str, fn: Callable[[dt.date], float], material: str | None = None,
          region: str | None = None) -> list[dict]:
    return [{"week": w, "date": d, "variable": variable, "material": material, "origin": None, "region": region,
             "value": float(fn(d))} for w, d in enumerate(DATES)]


def _frame(*parts: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([r for p in parts for r in p])


def _const(x: float) -> Callable[[dt.date], float]:
    return lambda d: x


def _price_path(d: dt.date) -> float:
    """10 in 2009-Jun 2010, 150 in Aug 2011, 40 from Jan 2012 on, a ramp in between."""
    if d < dt.date(2010, 7, 1):
        return 10.0
    if d.year == 2011 and d.month == 8:
        return 150.0
    if d < dt.date(2011, 8, 1):
        return 60.0
    if d < dt.date(2012, 1, 1):
        return 100.0
    return 40.0


def _market(price: Callable[[dt.date], float] = _price_path, material: str = "dy_oxide") -> pd.DataFrame:
    return _frame(
        _rows("price_ex_vwap", price, material, "JPKR"),
        _rows("price_ex_vwap", lambda d: price(d) * 2.0, material, "US"),
        _rows("demand", _const(3.0), material, "JPKR"),
        _rows("demand", _const(0.0), material, "US"),  # no weight: the US price must not count
        _rows("price_cn", _const(10.0), material),
    )


# --------------------------------------------------------------------------------------------------- calendar


def _mondays(first: str, values: list[float]) -> pd.Series:
    """A weekly series on consecutive Mondays from `first`."""
    assert pd.Timestamp(first).day_name() == "Monday"
    return pd.Series(values, index=pd.date_range(first, periods=len(values), freq="7D"))


# Mondays 29 Aug 2011 (its week mostly in September, but it starts in August), 5-26 Sep (4), 3-31 Oct (5), 7 Nov.
AUG_TO_NOV_2011 = _mondays("2011-08-29", [100.0, 10.0, 20.0, 30.0, 40.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0])


def test_a_months_value_is_the_mean_of_the_weeks_starting_in_it() -> None:
    w = AUG_TO_NOV_2011
    assert v.month_mean(w, "2011-08") == 100.0  # the week of 29 August belongs to August
    assert v.month_mean(w, "2011-09") == 25.0  # (10 + 20 + 30 + 40) / 4: a four-week month
    assert v.month_mean(w, "2011-10") == 3.0  # (1 + 2 + 3 + 4 + 5) / 5: a five-week month
    assert math.isnan(v.month_mean(w, "2011-12"))  # no week of the run starts in it
    monthly = v.monthly_means(w)
    assert list(monthly.index) == [pd.Timestamp(f"2011-{m:02d}-01") for m in (8, 9, 10, 11)]
    assert monthly.tolist() == [100.0, 25.0, 3.0, 7.0]


def test_month_mean_and_monthly_means_agree_on_every_month() -> None:
    rng = np.random.default_rng(3)
    w = _mondays("2009-01-05", list(rng.uniform(1.0, 500.0, 160)))
    monthly = v.monthly_means(w)
    for month, value in monthly.items():
        assert v.month_mean(w, month.strftime("%Y-%m")) == pytest.approx(value, rel=1e-12)


def test_a_years_tonnage_is_the_sum_of_the_weeks_starting_in_it_and_nan_beyond_the_run() -> None:
    # Mondays 17, 24 and 31 December 2012 (the week of the 31st is six days of 2013) and 7 January 2013
    w = _mondays("2012-12-17", [1.0, 2.0, 4.0, 8.0])
    assert v.year_total(w, 2012) == 7.0
    assert v.year_total(w, 2013) == 8.0
    assert math.isnan(v.year_total(w, 2014)) and math.isnan(v.year_total(w, 2011))  # unknown, not 0 t
    assert v.year_total(_mondays("2012-12-17", [0.0, 0.0]), 2012) == 0.0  # a run that exported nothing: 0 t
    assert v.year_mean(w, 2012) == pytest.approx(7.0 / 3.0)
    assert v.year_mean(w, 2013) == 8.0
    assert math.isnan(v.year_mean(w, 2014))


def test_a_multiple_of_the_base_year_is_over_the_mean_of_its_weeks() -> None:
    # 52 Mondays of 2009 at 10 and 20 alternately, then September 2011's four weeks at 300
    w = pd.concat([_mondays("2009-01-05", [10.0, 20.0] * 26), _mondays("2011-09-05", [300.0] * 4)])
    assert v.month_mean(w, "2011-09") / v.year_mean(w, v.BASE_YEAR) == 20.0


def test_a_period_is_the_weeks_starting_between_two_dates_inclusive() -> None:
    w = AUG_TO_NOV_2011
    assert v.period(w, "2011-09-05", "2011-09-26").tolist() == [10.0, 20.0, 30.0, 40.0]  # both ends count
    assert v.period(w, dt.date(2011, 9, 6), pd.Timestamp("2011-10-03")).tolist() == [20.0, 30.0, 40.0, 1.0]
    assert v.period(w, "2012-01-01", "2012-12-31").empty
    # of monthly means: the months whose first day is in the period
    assert v.period(v.monthly_means(w), "2011-09-01", "2011-10-31").tolist() == [25.0, 3.0]


def test_weekly_total_sums_regions_or_reads_one() -> None:
    ts = _frame(_rows("exports_cn_unofficial", _const(2.0), "dy_oxide", "JPKR"),
                _rows("exports_cn_unofficial", _const(5.0), "dy_oxide", "US"),
                _rows("exports_cn_unofficial", _const(50.0), "tb_oxide", "US"),
                _rows("exports_cn_total", _const(9.0), "dy_oxide"))
    total = v.weekly_total(ts, "exports_cn_unofficial", "dy_oxide")
    assert list(total.index) == [pd.Timestamp(d) for d in DATES] and (total == 7.0).all()
    assert (v.weekly_total(ts, "exports_cn_unofficial", "dy_oxide", region="US") == 5.0).all()
    assert (v.weekly_total(ts, "exports_cn_total", "dy_oxide") == 9.0).all()  # China's: one row a week
    prepared = v.prepare(ts)
    assert v.prepare(prepared) is prepared  # prepared once, read many times
    assert v.weekly_total(prepared, "exports_cn_unofficial", "dy_oxide").equals(total)


# --------------------------------------------------------------------------------------------------- prices


def test_ex_china_price_is_demand_weighted_over_regions() -> None:
    ts = _frame(
        _rows("price_ex_vwap", _const(10.0), "dy_oxide", "JPKR"),
        _rows("price_ex_vwap", _const(20.0), "dy_oxide", "US"),
        _rows("demand", _const(3.0), "dy_oxide", "JPKR"),
        _rows("demand", _const(1.0), "dy_oxide", "US"),
    )
    p = v.ex_china_price(ts, "dy_oxide")
    assert len(p) == WEEKS
    assert p.iloc[0] == pytest.approx(12.5)
    monthly = v.ex_china_price(ts, "dy_oxide", "MS")
    assert monthly.index[0] == pd.Timestamp("2009-01-01")
    assert monthly.iloc[5] == pytest.approx(12.5)


def test_price_peak_is_the_monthly_peak_over_the_base_year_and_counts_months_from_july_2010() -> None:
    pk = v.price_peak(_market(), "dy_oxide")
    assert pk["multiple"] == pytest.approx(15.0)
    assert pk["date"] == pd.Timestamp("2011-08-01")
    assert pk["months"] == 13


def test_price_peak_needs_prices_in_the_base_year() -> None:
    with pytest.raises(ValueError, match="base year"):
        v.price_peak(_market(), "dy_oxide", base_year=2005)


def test_fall_back_is_the_lowest_price_within_24_months_over_the_peak() -> None:
    assert v.fall_back(_market(), "dy_oxide") == pytest.approx(40.0 / 150.0)
    # Only the window counts: a 12-month window ends before nothing lower than 40 either.
    assert v.fall_back(_market(), "dy_oxide", months=3) == pytest.approx(100.0 / 150.0)


def test_fall_back_is_nan_when_the_run_ends_at_the_peak() -> None:
    ts = _market(lambda d: 10.0 + (d - START).days)  # rising to the last week
    assert math.isnan(v.fall_back(ts, "dy_oxide"))


def test_price_level_is_the_windows_mean_over_the_base_year() -> None:
    ts = _market()
    assert v.price_level(ts, "dy_oxide", dt.date(2012, 12, 1), dt.date(2012, 12, 31)) == pytest.approx(4.0)
    # August 2011 (150) and the rest of 2011 (100): weighted by the weeks of each.
    aug_dec = v.price_level(ts, "dy_oxide", dt.date(2011, 8, 1), dt.date(2011, 12, 31))
    assert 10.0 < aug_dec < 15.0
    assert math.isnan(v.price_level(ts, "dy_oxide", dt.date(2040, 1, 1), dt.date(2040, 12, 31)))


def test_spread_ratio_at_the_peak_and_a_year_later() -> None:
    at, later = v.spread_ratio(_market(), "dy_oxide")
    assert at == pytest.approx(15.0)
    assert later == pytest.approx(4.0)
    _, too_late = v.spread_ratio(_market(), "dy_oxide", later_months=120)
    assert math.isnan(too_late)


def test_china_price_ratio_is_the_mean_of_monthly_ratios_in_the_window() -> None:
    ts = _frame(_rows("price_cn", _price_path, "tb_oxide"), _rows("price_cn", _const(10.0), "dy_oxide"))
    # Tb over Dy: 15 in August 2011, 10 in September-December, 4 from January 2012.
    sep_mar = v.china_price_ratio(ts, "tb_oxide", "dy_oxide", dt.date(2011, 9, 1), dt.date(2012, 3, 31))
    assert sep_mar == pytest.approx((4 * 10.0 + 3 * 4.0) / 7)
    assert v.china_price_ratio(ts, "tb_oxide", "dy_oxide", dt.date(2011, 8, 1), dt.date(2011, 8, 31)) == (
        pytest.approx(15.0))
    assert math.isnan(v.china_price_ratio(ts, "tb_oxide", "dy_oxide", dt.date(2040, 1, 1), dt.date(2040, 3, 1)))


def test_china_price_vs_history_reads_the_months_as_multiples_of_the_base_year() -> None:
    ts = _frame(_rows("price_cn", _price_path, "ndpr_oxide"))
    months = ((dt.date(2011, 9, 1), dt.date(2011, 9, 30)), (dt.date(2012, 3, 1), dt.date(2012, 3, 31)))
    # 2009 mean 10: September 2011 is 10x, March 2012 4x; against history's 10x and 4x that is history's.
    assert v.china_price_vs_history(ts, "ndpr_oxide", months, (10.0, 4.0)) == pytest.approx(1.0)
    assert v.china_price_vs_history(ts, "ndpr_oxide", months, (5.0, 2.0)) == pytest.approx(2.0)
    assert v.china_price_vs_history(ts, "ndpr_oxide", months, (20.0, 4.0)) == pytest.approx((0.5 + 1.0) / 2)


# --------------------------------------------------------------------------------------------------- volumes


def test_exports_vs_quota_sums_the_year_per_material_and_over_materials() -> None:
    ts = _frame(
        _rows("exports_cn_total", lambda d: 30.0 if d.year == 2011 else 99.0, "ndpr_oxide"),
        _rows("exports_cn_total", lambda d: 2.0 if d.year == 2011 else 99.0, "dy_oxide"),
    )
    out = v.exports_vs_quota(ts, {"ndpr_oxide": 3120.0, "dy_oxide": 208.0, "tb_oxide": math.inf})
    assert out["ndpr_oxide"] == pytest.approx(30.0 * 52 / 3120.0)
    assert out["dy_oxide"] == pytest.approx(2.0 * 52 / 208.0)
    assert out["all"] == pytest.approx((30.0 + 2.0) * 52 / (3120.0 + 208.0))
    assert "tb_oxide" not in out
    # Another year against the same quota (the post-crisis checks), and a year the run does not reach.
    later = v.exports_vs_quota(ts, {"ndpr_oxide": 3120.0, "dy_oxide": 208.0}, year=2012)
    assert later["all"] == pytest.approx((99.0 + 99.0) * 52 / (3120.0 + 208.0), rel=0.03)
    assert math.isnan(v.exports_vs_quota(ts, {"ndpr_oxide": 3120.0}, year=2030)["all"])
    # half of 2011 against the whole year's quota read as a quota half filled
    from_july = ts[ts["date"] >= dt.date(2011, 7, 4)]
    assert math.isnan(v.exports_vs_quota(from_july, {"ndpr_oxide": 3120.0})["ndpr_oxide"])
    assert v.exports_vs_quota(from_july, {"ndpr_oxide": 3120.0}, year=2012)["all"] == pytest.approx(
        99.0 * 52 / 3120.0, rel=0.03)


def test_unofficial_vs_official_sums_destinations_and_materials_in_the_year() -> None:
    in_2011 = lambda x: (lambda d: x if d.year == 2011 else 50.0)  # noqa: E731
    ts = _frame(
        _rows("exports_cn_total", in_2011(20.0), "ndpr_oxide"),
        _rows("exports_cn_unofficial", in_2011(3.0), "ndpr_oxide", "JPKR"),
        _rows("exports_cn_unofficial", in_2011(1.0), "ndpr_oxide", "EU"),
        _rows("light_exports_cn", in_2011(100.0)),
        _rows("light_exports_cn_unofficial", in_2011(140.0)),
    )
    assert v.unofficial_vs_official(ts, ["ndpr_oxide"]) == pytest.approx(4.0 / 20.0)
    assert v.unofficial_vs_official(ts, ["ndpr_oxide", "light_ree"]) == pytest.approx(144.0 / 120.0)
    assert v.unofficial_vs_official(ts, ["ndpr_oxide"], year=2012) == pytest.approx(100.0 / 50.0)
    assert math.isnan(v.unofficial_vs_official(ts, ["ndpr_oxide"], year=2030))


@pytest.mark.parametrize(("first", "last", "covered"), [
    ("2011-01-03", "2011-12-26", True),  # every week starting in 2011
    ("2010-12-27", "2012-01-02", True),
    ("2011-01-10", "2011-12-26", False),  # the year's first week left out
    ("2011-01-03", "2011-12-19", False),  # and its last
    ("2011-03-07", "2015-12-28", False),
    ("2009-01-05", "2011-06-27", False),
    ("2012-01-02", "2015-12-28", False),  # no week in 2011
])
def test_unofficial_vs_official_is_nan_for_a_year_the_run_does_not_cover_whole(first, last, covered) -> None:
    """A year outside the run summed to 0 t on both sides, and a part of a year gave the ratio of some months as
    the year's: only a run covering the whole year gives a ratio."""
    ts = _frame(
        _rows("exports_cn_total", _const(20.0), "ndpr_oxide"),
        _rows("exports_cn_unofficial", lambda d: 8.0 if d.month < 7 else 2.0, "ndpr_oxide", "JPKR"),
    )
    ts = ts[(ts["date"] >= dt.date.fromisoformat(first)) & (ts["date"] <= dt.date.fromisoformat(last))]
    assert v.covers_year(pd.to_datetime(ts["date"]), 2011) is covered
    ratio = v.unofficial_vs_official(ts, ["ndpr_oxide"], year=2011)
    if covered:
        assert ratio == pytest.approx((26 * 8.0 + 26 * 2.0) / (52 * 20.0))
    else:
        assert math.isnan(ratio)


def test_thrift_lost_weights_by_need_before_thrifting() -> None:
    # NdPr: 20% saved with 80 t/wk left (100 before); Dy: 50% saved with 5 t/wk left (10 before).
    ts = _frame(
        _rows("thrift_saving_share", _const(0.2), "ndpr_oxide", "JPKR"),
        _rows("demand", _const(80.0), "ndpr_oxide", "JPKR"),
        _rows("thrift_saving_share", _const(0.5), "dy_oxide", "JPKR"),
        _rows("demand", _const(5.0), "dy_oxide", "JPKR"),
    )
    out = v.thrift_lost(ts, materials=("ndpr_oxide", "dy_oxide"))
    assert out["ndpr_oxide"] == pytest.approx(0.2)
    assert out["dy_oxide"] == pytest.approx(0.5)
    assert out["all"] == pytest.approx((20.0 + 5.0) / 110.0)
    assert out["all_max_yearly"] == pytest.approx(0.0)


def test_thrift_lost_reads_the_share_at_the_cut_off_and_its_largest_yearly_rise() -> None:
    def share(d: dt.date) -> float:
        return min(0.3, max(0.0, (d - dt.date(2011, 1, 3)).days / 365.0 * 0.1))  # 10%/yr from 2011, cap 0.3

    ts = _frame(_rows("thrift_saving_share", share, "dy_oxide", "EU"),
                _rows("demand", lambda d: 10.0 * (1 - share(d)), "dy_oxide", "EU"))
    out = v.thrift_lost(ts, by=dt.date(2012, 12, 31), materials=("dy_oxide",))
    assert out["dy_oxide"] == pytest.approx(0.2, abs=0.002)
    assert out["all_max_yearly"] == pytest.approx(0.1, abs=0.002)


def test_alt_supply_growth_is_the_yearly_rise_over_world_consumption() -> None:
    ts = _frame(
        _rows("production_alt", lambda d: {2009: 10.0, 2010: 10.0, 2011: 14.0}.get(d.year, 20.0), "ndpr_oxide"),
        _rows("production_alt", _const(0.0), "dy_oxide"),
        _rows("consumption", _const(90.0), "ndpr_oxide"),
        _rows("consumption", _const(10.0), "dy_oxide"),
    )
    g = v.alt_supply_growth(ts, materials=("ndpr_oxide", "dy_oxide"))
    assert g[2010] == pytest.approx(0.0)
    assert g[2011] == pytest.approx(0.04)
    assert g[2012] == pytest.approx(0.06)
    assert g[2013] == pytest.approx(0.0)
    assert 2009 not in g  # no year before it in the run


def test_alt_capacity_arrival_is_the_first_rise_of_ten_percent_over_the_base_year() -> None:
    cap = lambda d: 900.0 + (80.0 if d >= dt.date(2011, 6, 1) else 0.0) + (500.0 if d >= dt.date(2012, 11, 26) else 0.0)  # noqa: E731
    ts = _frame(_rows("alt_capacity", cap, "ndpr_oxide"), _rows("alt_capacity", _const(0.0), "dy_oxide"))
    year = v.alt_capacity_arrival(ts, materials=("ndpr_oxide", "dy_oxide"))
    assert 2012.89 < year < 2012.92  # the Monday on or after 26 Nov 2012; +80 t/yr (8.9%) did not count
    assert math.isnan(v.alt_capacity_arrival(_frame(_rows("alt_capacity", _const(900.0), "ndpr_oxide")),
                                             materials=("ndpr_oxide",)))


def test_production_lost_is_plan_weighted_over_regions_and_weeks() -> None:
    ts = _frame(
        _rows("production_lost_share", lambda d: 0.5 if d.year == 2011 else 0.0, None, "JPKR"),
        _rows("output_plan", _const(3.0), None, "JPKR"),
        _rows("production_lost_share", _const(0.0), None, "US"),
        _rows("output_plan", _const(1.0), None, "US"),
    )
    got = v.production_lost(ts, dt.date(2011, 1, 1), dt.date(2011, 12, 31))
    assert got == pytest.approx(0.5 * 3.0 / 4.0)
    assert v.production_lost(ts, dt.date(2009, 1, 1), dt.date(2009, 12, 31)) == 0.0


def test_production_lost_worst_month_weights_regions_then_averages_the_month() -> None:
    # JPKR (plan 3) loses 40% in the weeks of March 2011 starting on or after the 14th; the US (plan 1) nothing.
    ts = _frame(
        _rows("production_lost_share", lambda d: 0.4 if (d.year, d.month) == (2011, 3) and d.day >= 14 else 0.0,
              None, "JPKR"),
        _rows("output_plan", _const(3.0), None, "JPKR"),
        _rows("production_lost_share", _const(0.0), None, "US"),
        _rows("output_plan", _const(1.0), None, "US"),
    )
    march = [d for d in DATES if (d.year, d.month) == (2011, 3)]
    hit = sum(d.day >= 14 for d in march)
    got = v.production_lost_worst_month(ts, dt.date(2010, 1, 1), dt.date(2014, 12, 31))
    assert got == pytest.approx(0.4 * 3.0 / 4.0 * hit / len(march))
    assert v.production_lost_worst_month(ts, dt.date(2012, 1, 1), dt.date(2012, 12, 31)) == 0.0


def test_pre_shock_peak_looks_only_before_the_announcement_month() -> None:
    def path(d: dt.date) -> float:
        if d < dt.date(2010, 1, 1):
            return 10.0
        return 13.0 if d < dt.date(2010, 7, 1) else 80.0  # +30% in H1 2010, the spike after July

    assert v.pre_shock_peak(_market(path), "dy_oxide") == pytest.approx(1.3)


def test_pre_shock_swing_counts_falls_as_well_as_rises() -> None:
    def dip(d: dt.date) -> float:
        if d < dt.date(2010, 1, 1):
            return 10.0
        return 6.0 if d < dt.date(2010, 7, 1) else 80.0  # a 40% fall in H1 2010, the spike after July

    assert v.pre_shock_swing(_market(dip), "dy_oxide") == pytest.approx(10.0 / 6.0)
    assert v.pre_shock_swing(_market(lambda d: 10.0 if d < dt.date(2010, 7, 1) else 80.0), "dy_oxide") == \
        pytest.approx(1.0)


def test_rebound_is_the_largest_rise_over_an_earlier_trough_in_the_window() -> None:
    def cycle(d: dt.date) -> float:
        if d < dt.date(2012, 7, 1):
            return 100.0  # outside the window: ignored
        if d < dt.date(2013, 1, 1):
            return 20.0
        return 50.0 if d < dt.date(2013, 4, 1) else 10.0  # a 2.5x rebound, then a lower trough

    assert v.rebound(_market(cycle), "dy_oxide") == pytest.approx(2.5)
    # A steady decline never rebounds (1), and a rise before the window does not count.
    decline = _market(lambda d: 100.0 - 0.05 * (d - dt.date(2009, 1, 1)).days)
    assert v.rebound(decline, "dy_oxide") == pytest.approx(1.0)
    assert v.rebound(_market(lambda d: 10.0 if d < dt.date(2012, 6, 1) else 20.0), "dy_oxide") == \
        pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------- targets


def test_target_miss_is_zero_inside_and_grows_with_distance() -> None:
    t = v.Target("x", "x", 0.4, 0.75)
    assert t.miss(0.5) == 0.0 and t.contains(0.5)
    assert t.miss(0.75 + 0.35) == pytest.approx(1.0)
    assert t.miss(0.4 - 0.035) == pytest.approx(0.1)
    assert t.miss(float("nan")) == v.NAN_MISS and not t.contains(float("nan"))
    assert t.miss(1e9) == v.MAX_MISS


def test_log_and_open_targets() -> None:
    peak = v.Target("p", "p", 10.0, 30.0, log=True)
    assert peak.miss(90.0) == pytest.approx(1.0)  # one log-width (x3) above
    assert peak.miss(10.0 / 3.0) == pytest.approx(1.0)
    spread = v.Target("s", "s", 3.0, math.inf)
    assert spread.miss(1.5) == pytest.approx(0.5) and spread.miss(40.0) == 0.0
    assert spread.describe() == ">= 3"
    assert v.Target("f", "f", 0.0, 1 / 3).describe() == "<= 0.333"
    assert peak.describe() == "10-30"


def test_inset_targets_pull_a_calibration_off_the_bounds() -> None:
    share = v.Target("x", "x", 0.40, 0.75)
    inner = share.inset(0.1)
    assert (inner.lo, inner.hi) == pytest.approx((0.435, 0.715))
    # A median just inside the real bound misses the inset target, in the original's units of miss.
    assert share.miss(0.74) == 0.0 and inner.miss(0.74) == pytest.approx(0.025 / 0.35)
    assert inner.miss(0.6) == 0.0 and share.inset(0.0) is share
    peak = v.Target("p", "p", 10.0, 30.0, log=True).inset(0.1)
    assert peak.lo == pytest.approx(10.0 * 3.0 ** 0.1) and peak.hi == pytest.approx(30.0 / 3.0 ** 0.1)
    # '<= x' keeps its lower end; '>= x' keeps its open end; too narrow an interval becomes its midpoint.
    upto = v.Target("f", "f", 0.0, 1 / 3).inset(0.1)
    assert upto.lo == 0.0 and upto.hi == pytest.approx(0.3)
    at_least = v.Target("s", "s", 3.0, math.inf).inset(0.1)
    assert at_least.lo == pytest.approx(3.3) and at_least.hi == math.inf
    assert v.Target("m", "m", 9, 15).inset(0.6).lo == pytest.approx(12.0)
    ts = (share, v.Target("b", "b", 10.0, 20.0))
    assert v.objective({"x": 0.74, "b": 15.0}, ts) == 0.0
    assert v.objective({"x": 0.74, "b": 15.0}, ts, margin=0.1) == pytest.approx(0.025 / 0.35)


def test_objective_sums_misses_and_fit_table_uses_the_median_over_seeds() -> None:
    ts = (v.Target("a", "a", 0.0, 1.0), v.Target("b", "b", 10.0, 20.0))
    assert v.objective({"a": 0.5, "b": 25.0}, ts) == pytest.approx(0.5)
    assert v.objective({"a": 0.5}, ts) == pytest.approx(v.NAN_MISS)
    runs = [{"a": x, "b": 15.0} for x in (0.2, 0.9, 3.0)]
    tab = v.fit_table(runs, ts).set_index("key")
    assert tab.loc["a", "median"] == pytest.approx(0.9)
    assert bool(tab.loc["a", "pass"]) and bool(tab.loc["b", "pass"])
    assert tab.loc["a", "p5"] < 0.9 < tab.loc["a", "p95"]
    assert v.medians(runs)["a"] == pytest.approx(0.9)


def test_every_2010_target_names_a_metric_of_metrics_2010() -> None:
    mats = ("ndpr_oxide", "dy_oxide", "tb_oxide")
    parts = []
    for m in mats:
        parts += [_market(material=m).to_dict("records")]
        parts += [_rows(var, _const(1.0), m) for var in ("exports_cn_total", "production_alt", "consumption")]
        parts += [_rows("alt_capacity", lambda d: 10.0 if d.year < 2013 else 20.0, m)]
        parts += [_rows("thrift_saving_share", _const(0.1), m, "JPKR"), _rows("demand", _const(1.0), m, "EU")]
    parts += [_rows("thrift_saving_share", _const(0.0), "ndfeb_magnet", "JPKR"),
              _rows("demand", _const(1.0), "ndfeb_magnet", "JPKR")]
    parts += [_rows("production_lost_share", _const(0.0), None, "JPKR"), _rows("output_plan", _const(1.0), None,
                                                                                "JPKR")]
    # La/Ce: China at 4, ex-China on the oxides' price path; exports of 2 t a week against a 52 t/yr quota.
    parts += [_rows("light_price_ex", _price_path), _rows("light_price_cn", _const(4.0)),
              _rows("light_exports_cn", _const(2.0))]
    ts = _frame(*parts)
    out = v.metrics_2010(ts, {**{m: 52.0 for m in mats}, "light_ree": 52.0})
    for t in (*v.TARGETS_2010, *v.GUARDS_2010, *v.CHECKS_2010):
        assert t.key in out, t.key
        assert np.isfinite(out[t.key]), t.key
    assert out["light_ree.exports_vs_quota"] == pytest.approx(2.0)
    assert out["exports_vs_quota"] == pytest.approx((3 * 52 + 2 * 52) / (4 * 52))
    assert out["exports_vs_quota_2013"] == pytest.approx((3 * 52 + 2 * 52) / (4 * 52), rel=0.03)
    assert out["light_ree.spread_at_peak"] == pytest.approx(150.0 / 4.0)
    assert out["light_ree.peak_months"] == 13
    assert out["dy_oxide.level_end_2012"] == pytest.approx(4.0)  # 40 in December 2012 against 10 in 2009
    assert out["dy_oxide.peak_months"] == 13
    assert 2013.0 <= out["alt_capacity_arrival"] < 2013.02
    assert out["alt_output_2014"] == pytest.approx(1.0)  # production_alt constant at 1 t a week


def test_alt_output_ratio_compares_a_year_with_the_base_year_and_needs_both() -> None:
    ts = _frame(*[_rows("production_alt", lambda d: 3.0 if d.year >= 2013 else 1.0, m)
                  for m in ("ndpr_oxide", "dy_oxide", "tb_oxide")])
    assert v.alt_output_ratio(ts, 2014) == pytest.approx(3.0)
    assert v.alt_output_ratio(ts, 2012) == pytest.approx(1.0)
    assert math.isnan(v.alt_output_ratio(ts, 2030))
    idle = _frame(_rows("production_alt", lambda d: 0.0 if d.year == 2009 else 5.0, "ndpr_oxide"))
    assert math.isnan(v.alt_output_ratio(idle, 2014, materials=("ndpr_oxide",)))


def test_quota_in_force_reads_the_2011_quota_from_the_scenario() -> None:
    from pathlib import Path

    from reflow.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "quota_2010.toml")
    q = v.quota_in_force(cfg, 2011)
    assert set(q) == {"ndpr_oxide", "dy_oxide", "tb_oxide", "light_ree"}
    assert all(x > 0 for x in q.values())
    assert q["light_ree"] == cfg.event("quota_2011_2014").light_ree_tpy
    assert v.quota_in_force(cfg, 2016) == {}


def test_light_metrics_peak_spread_and_rebound() -> None:
    """La/Ce metrics follow the oxides' definitions: peak over the 2009 mean and its month, the spread over
    China's price there and a year later, the fall-back and the post-crisis rebound."""
    idx = pd.to_datetime(DATES)
    ex = pd.Series([_price_path(d) for d in DATES], index=idx)
    cn = pd.Series([5.0 if d.year < 2012 else 20.0 for d in DATES], index=idx)
    m = v.light_metrics(ex, cn)
    assert m["peak_multiple"] == pytest.approx(15.0) and m["peak_months"] == 13
    assert m["spread_at_peak"] == pytest.approx(30.0)
    assert m["spread_year_after"] == pytest.approx(ex["2012-08"].mean() / 20.0)
    assert m["fall_back"] == pytest.approx(ex["2011-09":"2013-08"].resample("MS").mean().min() / 150.0)
    assert m["rebound"] >= 1.0
    assert "spread_at_crisis_peak" not in m
    early = v.light_metrics(ex, cn, crisis_peak=pd.Timestamp("2011-03-01"))["spread_at_crisis_peak"]
    assert early == pytest.approx(60.0 / 5.0)  # read in another month than La/Ce's own peak
