"""Validation targets: the 2010-11 quota crisis as pure functions of a run's tidy time series.

Each stylised fact of issue 3 (DOMAIN.md section 4) is a metric computed from the tidy time series of one run
(docs/outputs.md) and a `Target` interval it should fall in. Metrics are computed per seed; calibration and tests
compare the **median over seeds** with the interval, and report the 5-95% band.

    >>> import reflow
    >>> from reflow import validation as v
    >>> res = reflow.run("configs/quota_2010.toml", seed=1, out=None)
    >>> vals = v.metrics_2010(res.timeseries, v.quota_in_force(res.config, v.QUOTA_YEAR))
    >>> v.fit_table([vals])                     # target, median, band, pass/fail per target

Definitions (all prices are the demand-weighted mean over importing regions of ``price_ex_vwap``, the price of
everything buyers paid, averaged by calendar month, because historical quotes are monthly and weekly clearing
prices of thin markets are noisy):

- **peak multiple**: the highest monthly ex-China price over the mean weekly price of the base year (2009);
- **peak timing**: whole months from the announcement month (July 2010) to the peak month;
- **fall-back**: the lowest monthly price in the 24 months after the peak, over the peak (<= 1/3 passes);
- **spread**: ex-China over China-domestic monthly price, in the peak month and 12 months later;
- **exports vs quota**: China's exports in 2011 (``exports_cn_total``) over the 2011 quota, summed over the
  materials under the quota (the quota was one tonnage for all rare earths);
- **thrifting**: ``thrift_saving_share`` weighted by need before thrifting, over regions and over the oxides
  under the quota (REO tonnes, as Adamas counts lost demand), in December 2014; its largest rise over 52 weeks is
  the yearly rate. Magnets are reported but not in the aggregate, which counts REO tonnes as Adamas does (magnet
  makers' savings of oxide per magnet are in it);
- **non-Chinese supply growth**: the largest year-on-year rise of non-Chinese oxide output (``production_alt``)
  as a share of that year's world consumption of the oxides (``consumption``);
- **capacity arrival**: the date (as a fractional year) non-Chinese oxide capacity in operation
  (``alt_capacity``) first exceeds its base-year level by 10%;
- guards: production lost (over 2010-14 and in the worst month), the largest price swing either way before the
  announcement, and the largest **rebound** after the crisis (a monthly price over the lowest before it, July
  2012-December 2014; prices fell steadily then).

The calendar over a run's weekly series (each week dated by the Monday it starts), one set of functions that
experiments/seed1_2010.py and experiments/validation_figures.py read their figures through too: a month's value is
the mean of the weekly values whose week starts in that month (`monthly_means`, `month_mean`); a year's tonnage the
sum of those whose week starts in that calendar year, NaN (not 0) if the run has no week in it (`year_total`); a
multiple of 2009 is over the mean of 2009's weekly values (`year_mean`); a period is the weeks starting between two
dates, both inclusive (`period`).
"""


from __future__ import annotations

from reflow.validation.fit import fit_table, medians, metrics_2010, objective, quota_in_force
from reflow.validation.metrics import (
    alt_capacity_arrival,
    alt_output_ratio,
    alt_supply_growth,
    china_price_ratio,
    china_price_vs_history,
    exports_vs_quota,
    fall_back,
    light_metrics,
    light_series,
    pre_shock_peak,
    pre_shock_swing,
    price_level,
    price_peak,
    production_lost,
    production_lost_worst_month,
    rebound,
    spread_ratio,
    thrift_lost,
    unofficial_vs_official,
    weighted_thrift,
)
from reflow.validation.series import (
    DateLike,
    china_price,
    covers_year,
    ex_china_price,
    month_mean,
    monthly_means,
    period,
    prepare,
    weekly_total,
    year_mean,
    year_total,
)
from reflow.validation.targets import (
    AFTER_CRISIS,
    AFTER_QUOTA_YEARS,
    ANNOUNCEMENT_2010,
    BASE_YEAR,
    CHECKS_2010,
    CN_HISTORY_MULTIPLES,
    END_2012,
    GUARDS_2010,
    MAX_MISS,
    NAN_MISS,
    PEAK_MATERIALS,
    QUOTA_YEAR,
    TARGETS_2010,
    TB_DY_MONTHS,
    THRIFT_BY,
    Target,
)

__all__ = [
    "AFTER_CRISIS",
    "AFTER_QUOTA_YEARS",
    "ANNOUNCEMENT_2010",
    "BASE_YEAR",
    "CHECKS_2010",
    "CN_HISTORY_MULTIPLES",
    "END_2012",
    "GUARDS_2010",
    "MAX_MISS",
    "NAN_MISS",
    "PEAK_MATERIALS",
    "QUOTA_YEAR",
    "TARGETS_2010",
    "TB_DY_MONTHS",
    "THRIFT_BY",
    "DateLike",
    "Target",
    "alt_capacity_arrival",
    "alt_output_ratio",
    "alt_supply_growth",
    "china_price",
    "china_price_ratio",
    "china_price_vs_history",
    "covers_year",
    "ex_china_price",
    "exports_vs_quota",
    "fall_back",
    "fit_table",
    "light_metrics",
    "light_series",
    "medians",
    "metrics_2010",
    "month_mean",
    "monthly_means",
    "objective",
    "period",
    "pre_shock_peak",
    "pre_shock_swing",
    "prepare",
    "price_level",
    "price_peak",
    "production_lost",
    "production_lost_worst_month",
    "quota_in_force",
    "rebound",
    "spread_ratio",
    "thrift_lost",
    "unofficial_vs_official",
    "weekly_total",
    "weighted_thrift",
    "year_mean",
    "year_total",
]
