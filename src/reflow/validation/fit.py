"""All the 2010 metrics of a run at once, and how runs are scored against the targets: misses, the fit table,
medians over seeds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reflow.domain import OXIDES
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
    pre_shock_swing,
    price_level,
    price_peak,
    production_lost,
    production_lost_worst_month,
    rebound,
    spread_ratio,
    thrift_lost,
    unofficial_vs_official,
)
from reflow.validation.series import prepare
from reflow.validation.targets import (
    AFTER_QUOTA_YEARS,
    CN_HISTORY_MULTIPLES,
    END_2012,
    PEAK_MATERIALS,
    QUOTA_YEAR,
    TARGETS_2010,
    TB_DY_MONTHS,
    Target,
)

# --------------------------------------------------------------------------------------------------- all targets


def quota_in_force(scenario: Any, year: int = QUOTA_YEAR) -> dict[str, float]:
    """t/yr of the export quota in force at mid-`year`, per material, from a validated scenario's policy."""
    from reflow.domain import MATERIALS
    from reflow.policy import PolicyTimeline

    st = PolicyTimeline(scenario.policy).state(dt.date(year, 7, 1))
    out = {m: float(st.quota_tpy[i]) for i, m in enumerate(MATERIALS) if np.isfinite(st.quota_tpy[i])}
    if getattr(scenario, "light_ree", None) is not None and np.isfinite(st.light_quota_tpy):
        out["light_ree"] = float(st.light_quota_tpy)
    return out


def metrics_2010(ts: pd.DataFrame, quota_tpy: Mapping[str, float],
                 materials: Sequence[str] = PEAK_MATERIALS) -> dict[str, float]:
    """Every metric of `TARGETS_2010` (and a few more, per material) from one run of the 2010 scenario.

    Args:
        ts: the run's tidy time series.
        quota_tpy: the 2011 export quota per material (`quota_in_force`).
        materials: the materials whose prices are targets (Tb is reported as well).
    """
    ts = prepare(ts)
    out: dict[str, float] = {}
    for m in (*materials, "tb_oxide"):
        pk = price_peak(ts, m)
        at, later = spread_ratio(ts, m)
        out[f"{m}.peak_multiple"] = pk["multiple"]
        out[f"{m}.peak_months"] = float(pk["months"])
        out[f"{m}.fall_back"] = fall_back(ts, m)
        out[f"{m}.level_end_2012"] = price_level(ts, m, *END_2012)
        out[f"{m}.spread_at_peak"] = at
        out[f"{m}.spread_year_after"] = later
    ex = exports_vs_quota(ts, quota_tpy)
    out["exports_vs_quota"] = ex.pop("all")
    for m, v in ex.items():
        out[f"{m}.exports_vs_quota"] = v
    out["unofficial_vs_official_2011"] = unofficial_vs_official(ts, list(quota_tpy))
    for year in AFTER_QUOTA_YEARS:  # the 2011 quota stayed in force, at ~31 kt, through 2014
        out[f"exports_vs_quota_{year}"] = exports_vs_quota(ts, quota_tpy, year)["all"]
    th = thrift_lost(ts)
    out["thrift_by_2014"] = th.pop("all")
    out["thrift_max_yearly"] = th.pop("all_max_yearly")
    for m, v in th.items():
        out[f"{m}.thrift_by_2014"] = v
    out["ndfeb_magnet.thrift_by_2014"] = thrift_lost(ts, materials=("ndfeb_magnet",))["all"]
    growth = alt_supply_growth(ts)
    out["alt_supply_growth"] = max(growth.values()) if growth else float("nan")
    out["alt_output_2014"] = alt_output_ratio(ts, 2014)
    out["alt_capacity_arrival"] = alt_capacity_arrival(ts)
    out["production_lost_2010_14"] = production_lost(ts, dt.date(2010, 1, 1), dt.date(2014, 12, 31))
    out["production_lost_worst_month"] = production_lost_worst_month(ts, dt.date(2010, 1, 1), dt.date(2014, 12, 31))
    ratios = [china_price_ratio(ts, "tb_oxide", "dy_oxide", a, b) for a, b in TB_DY_MONTHS]
    out["tb_oxide.cn_ratio_to_dy"] = float(np.mean(ratios))
    out["tb_oxide.cn_ratio_to_dy_sep2011"], out["tb_oxide.cn_ratio_to_dy_mar2012"] = ratios
    for m, h in CN_HISTORY_MULTIPLES.items():
        out[f"{m}.cn_vs_history"] = china_price_vs_history(ts, m, TB_DY_MONTHS, h)
    out["pre_announcement_swing"] = max(pre_shock_swing(ts, m) for m in OXIDES)
    out["post_crisis_rebound"] = max(rebound(ts, m) for m in OXIDES)
    if (ts["variable"] == "light_price_ex").any():
        lm = light_metrics(light_series(ts, "light_price_ex"), light_series(ts, "light_price_cn"),
                           crisis_peak=price_peak(ts, "ndpr_oxide")["date"])
        out.update({f"light_ree.{k}": v for k, v in lm.items()})
        out["post_crisis_rebound"] = max(out["post_crisis_rebound"], lm["rebound"])
    return out


def objective(values: Mapping[str, float], targets: Sequence[Target] = TARGETS_2010,
              weights: Mapping[str, float] | None = None, margin: float = 0.0) -> float:
    """Sum of the targets' normalised misses (`Target.miss`) of `values` (e.g. medians over seeds), measured
    against each interval inset by `margin` (`Target.inset`; 0 = the targets as they are)."""
    w = weights or {}
    return float(sum(w.get(t.key, 1.0) * t.inset(margin).miss(values.get(t.key)) for t in targets))


def fit_table(runs: Sequence[Mapping[str, float]], targets: Sequence[Target] = TARGETS_2010,
              band: tuple[float, float] = (5.0, 95.0)) -> pd.DataFrame:
    """Target vs model over seeds: one row per target with the median, the band and whether the median passes.

    Args:
        runs: one metrics dict per seed (`metrics_2010`).
    """
    rows = []
    for t in targets:
        vals = np.array([r.get(t.key, np.nan) for r in runs], float)
        ok = vals[np.isfinite(vals)]
        med = float(np.median(ok)) if len(ok) else float("nan")
        lo, hi = (np.percentile(ok, band) if len(ok) else (np.nan, np.nan))
        rows.append({"key": t.key, "target": t.describe(), "unit": t.unit, "median": med, "p5": float(lo),
                     "p95": float(hi), "n": len(ok), "miss": t.miss(med), "pass": t.contains(med),
                     "label": t.label})
    return pd.DataFrame(rows)


def medians(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Median over runs of every metric (NaNs ignored; NaN where no run has a value)."""
    keys = sorted({k for r in runs for k in r})
    out = {}
    for k in keys:
        v = np.array([r.get(k, np.nan) for r in runs], float)
        v = v[np.isfinite(v)]
        out[k] = float(np.median(v)) if len(v) else float("nan")
    return out
