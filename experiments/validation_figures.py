"""Figures and tables of docs/validation.md: the 2010-11 fit and the 2025 episode out of sample.

    python experiments/validation_figures.py                                  # 20 seeds -> docs/figures/*.png
    python experiments/validation_figures.py --seeds 4 --figures /tmp/vfig    # a quick look, elsewhere

Runs configs/quota_2010.toml (calibrated, see experiments/calibrate_2010.py) and configs/controls_2025.toml with
variants, over seeds 1..N in parallel, and writes the figures below into `--figures` (default docs/figures, which
git tracks and docs/validation.md shows at 20 seeds: with fewer seeds the script refuses to write there unless
`--figures` is given, so that a quick look never silently replaces them). It replaces a figure already there only
if git holds it as it is (the tracked figures, committed), or with `--force`: an earlier quick look, or a redraw
of docs/figures not yet committed, is never silently overwritten.

- docs/figures/validation_2010_prices.png: ex-China and Chinese NdPr / Dy / Tb prices as multiples of 2009, model
  median and 5-95% band over seeds, with the historical points of DOMAIN.md section 4 and the target windows;
- docs/figures/validation_2010_volumes.png: China's exports against the quota, thrifting, non-Chinese supply,
  production lost;
- docs/figures/validation_2010_light.png: the La/Ce oxide market (ODD 7.18): prices in and outside China with La's
  and Ce's historical prices, the spread with its targets, exports against the quota and the licence rent;
- docs/figures/validation_2025_exports.png: China's monthly magnet exports by destination, and in total and to
  the US against the customs data reported for 2025;
- docs/figures/validation_2025_prices.png: ex-China (US, EU, demand-weighted) against Chinese Dy and Tb prices;
- docs/figures/validation_2025_production.png: production lost by region, licence backlog and mean wait;
- docs/figures/validation_2025_october.png: the October 2025 escalation as it happened (announced, suspended
  before it took effect), if the suspension had never come, and without the escalation;
- results/validation/<UTC stamp>/ (`--out`; a new folder, never an existing one): `tables.md` (the 2010 fit
  table, the 2010 figures the prose quotes beside it, and the 2025 numbers quoted in the doc), `fit_2010.csv`,
  `metrics_2010.csv` and `prose_2010.csv` (per seed; the latter the prose's figures, `PROSE_2010`), `table_2025.csv`,
  `monthly_2025.csv` (monthly medians, as happened), `configs/<name>.toml` and `.json` (the resolved config of the
  2010 scenario and of each 2025 variant, as `reflow run` writes `config.toml`), and `manifest.json`, written
  before the runs (arguments, seeds, the configs with the sha256 of each file of their `extends` chain and of the
  resolved config, the 2025 variants' overrides, reflow/Python/numpy/Mesa versions, git commit and dirty flag) and
  completed with the figures written, where, and from how many seeds.

Small PNGs (100 dpi) so that the repository stays light.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


Q2010 = ROOT / "configs" / "quota_2010.toml"
C2025 = ROOT / "configs" / "controls_2025.toml"
FIGURES = ROOT / "docs" / "figures"
# The PNGs each episode writes (the names `_save` is given below), checked before a run replaces any.
FIGURE_NAMES = {"2010": ("validation_2010_prices", "validation_2010_volumes", "validation_2010_light"),
                "2025": ("validation_2025_exports", "validation_2025_prices", "validation_2025_production",
                         "validation_2025_october")}

# The 2025 variants: the October 2025 measures as they happened, never suspended, never announced; the
# April-November licensing without the coverage_by_sector inputs (every magnet purchase in scope); the scenario
# run with all the mechanism parameters calibrated to 2010 (configs/quota_2010.toml) instead of the global defaults;
# and with the buyers' defaults before they took the 2010-calibrated bid ceilings and magnet makers' stocks (both,
# and each alone).
NEVER = "2031-12-01"  # after the end of the run
EARLIER_BIDS = ["manufacturers.wtp_cap_multiple.ndpr_oxide=25", "manufacturers.wtp_cap_multiple.dy_oxide=40",
                "manufacturers.wtp_cap_multiple.tb_oxide=40"]
EARLIER_MAKER_COVER = ["manufacturers.cover_target_weeks.magnet=10"]
# The buyers' values of the 2010 fit that the 2025 defaults carry, or not (docs/validation.md 2.4 item 3).
BUYER_KEYS = ("manufacturers.wtp_cap_multiple.ndpr_oxide", "manufacturers.wtp_cap_multiple.dy_oxide",
              "manufacturers.wtp_cap_multiple.tb_oxide", "manufacturers.cover_target_weeks.magnet")
VARIANTS_2025: dict[str, list[str]] = {
    "as happened": [],
    "no suspension": [f"policy.oct2025_extraterritorial.suspend={NEVER}"],
    "no October escalation": [f"policy.oct2025_extraterritorial.announce={NEVER}",
                              f"policy.oct2025_extraterritorial.effective={NEVER}",
                              f"policy.oct2025_extraterritorial.suspend={NEVER}"],
    "all magnets in scope": [f"policy.{e}.coverage_by_sector={{}}" for e in ("apr2025", "jun2025", "sep2025",
                                                                             "nov2025")],
    "2010-calibrated mechanisms": [],  # filled by calibrated_mechanisms()
    # The buyers' defaults before 2026-11-30 (bid ceilings 25x NdPr / 40x Dy / 40x Tb, magnet makers' cover 10 weeks),
    # kept so that the change to the 2010-calibrated values stays visible (docs/validation.md 2.4).
    "earlier buyer defaults": [*EARLIER_BIDS, *EARLIER_MAKER_COVER],
    # ... and each half of the change alone (the decomposition in docs/validation.md 2.4 item 3).
    "earlier bid ceilings only": EARLIER_BIDS,
    "earlier makers' cover only": EARLIER_MAKER_COVER,
    # The buyers' values of the current 2010 fit, with China's price defence (configs/quota_2010.toml, rounded),
    # which the defaults do not take (they keep the fit before it: docs/validation.md 2.4 item 3).
    "current 2010 fit's buyer values": [],  # filled by calibrated_mechanisms(BUYER_KEYS, rounded=True)
}


def calibrated_mechanisms(keys: tuple[str, ...] | None = None, rounded: bool = False) -> list[str]:
    """--set overrides carrying the mechanism parameters calibrated in configs/quota_2010.toml (`keys`; default
    the parameters experiments/calibrate_2010.py searches) into another scenario, rounded to whole numbers if
    `rounded`."""
    from reflow.config import load_config

    cfg = load_config(Q2010)
    if keys is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from calibrate_2010 import PARAMS, _at

        # The smuggling channel is carried whole: where it opens with the profit per kilogram, that (optional)
        # scale replaces the premium scale. China's other optional mechanisms stay 2010's (section 2.4 item 5).
        dumped = cfg.model_dump()
        keys = tuple(p.key for p in PARAMS if p.unless is None or _at(dumped, p.unless) is None)
        if _at(dumped, "transshipment.profit_scale") is not None:
            keys += ("transshipment.profit_scale",)
    out = []
    for key in keys:
        node: Any = cfg
        for seg in key.split("."):
            node = node[seg] if isinstance(node, dict) else getattr(node, seg)
        out.append(f"{key}={round(node) if rounded else node}")
    return out

# Historical points, DOMAIN.md section 4 (export prices, USD/kg; base = 2009 level): Dy oxide 91 (Jan 2009) ->
# 2,377 (Aug 2011) -> 1,400-1,420 (end-2011) -> 600-630 (end-2012) -> 440-490 (end-2013) [V2]; Nd oxide ~15 (2009
# [R]) -> ~260 (Sep 2011) -> 190-200 (end-2011) -> 75-80 (end-2012) -> 65-70 (end-2013) [V2].
HISTORY = {
    "dy_oxide": (91.0, [("2011-08-01", 2377.0), ("2011-12-01", 1410.0), ("2012-12-01", 615.0),
                        ("2013-12-01", 465.0)]),
    "ndpr_oxide": (15.0, [("2011-09-01", 260.0), ("2011-12-01", 195.0), ("2012-12-01", 77.5),
                          ("2013-12-01", 67.5)]),
}
# China's magnet exports in 2025, t (GAC customs data via Reuters/WSJ/Bloomberg [V2]; [D] derived from a reported
# month-on-month change): 2024 average 58,152 / 12; April ~2,630 [D: May was -52.9% m/m]; May 1,238; June ~3,190 [D:
# July +75% m/m]; July 5,577; August 6,146; September 5,774 (Reuters, 20 Oct 2025); October 5,473 (Reuters, 20 Nov
# 2025). To the US: May 46; June ~353 [D: July +75.5% m/m]; July 619; August 590; September ~420 [D: October +56.1%
# m/m]; October 656.
HISTORY_2025 = {
    "total": ([("2024-07-01", 58152 / 12), ("2025-04-01", 2630), ("2025-05-01", 1238), ("2025-06-01", 3190),
               ("2025-07-01", 5577), ("2025-08-01", 6146), ("2025-09-01", 5774), ("2025-10-01", 5473)],
              "#0072B2", 1.0, "customs, all destinations"),
    "US": ([("2025-05-01", 46), ("2025-06-01", 353), ("2025-07-01", 619), ("2025-08-01", 590), ("2025-09-01", 420),
            ("2025-10-01", 656)], "#D55E00", 5.0, "customs, US x5"),
}
# La and Ce oxide export prices, USD/kg (DOMAIN.md section 4 [V2]): 2008 averages; January 2010 (Ce 3-5); Q2-Q3
# 2011 peaks (La 117-135, Ce 118-138); late 2011 to 2014. Plotted as points at mid-period.
HISTORY_LIGHT = {
    "La oxide": [("2008-07-01", 8.71), ("2011-05-15", 135.0), ("2011-08-15", 117.0), ("2012-02-15", 42.0),
                 ("2012-07-01", 19.0)],
    "Ce oxide": [("2008-07-01", 4.56), ("2010-01-15", 4.0), ("2011-05-15", 138.0), ("2011-08-15", 118.0),
                 ("2011-11-15", 54.0), ("2011-12-15", 42.5), ("2012-07-01", 19.0), ("2012-12-15", 11.0),
                 ("2014-07-01", 4.5)],
}
# China's domestic La and Ce oxide prices, USD/kg (mean of the two; Reuters/SMM tables [V2], yuan at 6.39 and
# 6.31): La 135-145 and Ce 130-160 k yuan/t (September 2011), 75-80 and 80-90 (March 2012). The spreads they give
# against the export prices above: ~5x in Q3 2011 (117-118 USD/kg), ~3.4x in Q1 2012 (La 42) [D].
HISTORY_LIGHT_CN = [("2011-09-10", 22.7), ("2012-03-09", 12.9)]
HISTORY_LIGHT_SPREAD = [("2011-08-15", 5.2), ("2012-02-15", 3.4)]
COLOURS = {"US": "#0072B2", "EU": "#E69F00", "JPKR": "#009E73", "HUB": "#CC79A7", "ROW": "#7F7F7F",
           "AU": "#D55E00", "CA": "#56B4E9", "CN": "#000000", "ex": "#D55E00"}
STYLES = {"US": "-", "EU": "--", "JPKR": "-.", "HUB": ":", "ROW": (0, (5, 1)), "AU": (0, (1, 1)),
          "CA": (0, (3, 1, 1, 1)), "CN": "-", "ex": "-"}


# --------------------------------------------------------------------------------------------------- runs


def _per_month(weekly: pd.Series) -> pd.Series:
    """t/month from a weekly t/week series: the month's mean weekly rate (`reflow.validation.monthly_means`) times
    its days / 7 (summing the weeks that start in a month would alternate 4- and 5-week months)."""
    from reflow.validation import monthly_means

    m = monthly_means(weekly)
    return m * m.index.days_in_month / 7.0


def _wide(ts: pd.DataFrame, var: str, material: str | None = None) -> pd.DataFrame:
    sub = ts[ts["variable"] == var]
    if material is not None:
        sub = sub[sub["material"] == material]
    out = sub.groupby(["date", "region"])["value"].first().unstack("region")
    out.index = pd.to_datetime(out.index)
    return out.sort_index()


def _lost(ts: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(weekly production lost share by region, weekly plan-weighted overall share)."""
    lost, plan = _wide(ts, "production_lost_share"), _wide(ts, "output_plan")
    plan = plan.reindex(index=lost.index, columns=lost.columns).fillna(0.0)
    return lost, (lost * plan).sum(axis=1) / plan.sum(axis=1)


def _run_2010(task: tuple[str, list[str], int]) -> dict[str, Any]:
    config, overrides, seed = task
    import reflow
    from reflow import validation as v

    res = reflow.run(config, seed=seed, overrides=overrides, out=None)
    ts = res.timeseries
    quota = v.quota_in_force(res.config)
    metrics = v.metrics_2010(ts, quota)
    out: dict[str, Any] = {"metrics": metrics, "quota": quota, "prose": prose_2010(ts, metrics)}
    series = {}
    pt = v.prepare(ts)
    for m in ("ndpr_oxide", "dy_oxide", "tb_oxide"):
        ex = v.ex_china_price(pt, m)
        cn = v.china_price(pt, m)
        series[f"{m}.ex"] = v.monthly_means(ex) / v.year_mean(ex, 2009)
        series[f"{m}.cn"] = v.monthly_means(cn) / v.year_mean(cn, 2009)
        series[f"{m}.exports"] = v.monthly_means(v.weekly_total(pt, "exports_cn_total", m)) * 52.0  # t/yr rate
    th = {m: v.weighted_thrift(pt, m) for m in ("ndpr_oxide", "dy_oxide", "tb_oxide")}
    num = sum(s.fillna(0) * n for s, n in th.values())
    den = sum(n for _, n in th.values())
    series["thrift"] = v.monthly_means(num / den)
    series["dy_oxide.thrift"] = v.monthly_means(th["dy_oxide"][0])
    alt = sum(v.weekly_total(pt, "production_alt", m) for m in ("ndpr_oxide", "dy_oxide", "tb_oxide"))
    cons = sum(v.weekly_total(pt, "consumption", m) for m in ("ndpr_oxide", "dy_oxide", "tb_oxide"))
    series["alt_share"] = v.monthly_means(alt / cons)
    _, overall = _lost(ts)
    series["lost"] = v.monthly_means(overall)
    if (ts["variable"] == "light_price_ex").any():  # (from `ts`: `pt` keeps only the variables metrics read)
        for var in ("light_price_ex", "light_price_cn", "light_quota_rent"):
            series[var] = v.monthly_means(v.light_series(ts, var))
        for var in ("light_exports_cn", "light_exports_cn_unofficial", "light_consumption"):
            series[var] = v.monthly_means(v.light_series(ts, var)) * 52.0  # t/yr rate
        series["light_spread"] = series["light_price_ex"] / series["light_price_cn"]
    out["series"] = pd.DataFrame(series)
    return out


# The 2010 figures docs/validation.md quotes in its prose (summary, sections 1.5 and 1.6) beside the fit table, as
# (key, what it is); `prose_2010` measures them on one run, `table_prose_2010` gives their medians. Read through
# reflow.validation's calendar, as the fitted metrics are: a month's price is the mean of the weekly values whose
# week starts in it (`month_mean`, `monthly_means`), a period's the mean of the weeks starting in it (`period`), a
# year's tonnage the sum of the weeks starting in it, NaN past the run (`year_total`), a multiple of 2009 over
# 2009's weekly mean (`year_mean`).
PROSE_2010 = [
    ("dy_oxide.spread_at_peak", "Dy oxide: ex-China / China price at its peak (x)"),
    ("tb_oxide.spread_at_peak", "Tb oxide: ex-China / China price at its peak (x)"),
    ("post_crisis_rebound", "largest ex-China price rebound from a trough, Jul 2012-Dec 2014 (x; the 1.4 guard)"),
    ("ndpr_oxide.cn_sep2011", "China's NdPr oxide price, Sep 2011 / 2009 (x)"),
    ("dy_oxide.cn_sep2011", "China's Dy oxide price, Sep 2011 / 2009 (x)"),
    ("tb_oxide.cn_sep2011", "China's Tb oxide price, Sep 2011 / 2009 (x)"),
    ("ndpr_oxide.official_2012_07", "China's official NdPr exports, July 2012 (t, the weeks starting in it)"),
    ("ndpr_oxide.official_2012_top_month", "China's official NdPr exports, largest month of 2012 (t, the weeks "
     "starting in it; Jan, Apr, Jul, Oct and Dec have five)"),
    ("ndpr_oxide.official_2012_top_month_of", "... that month (1-12)"),
    ("ndpr_oxide.official_2012_top_month_per_day", "China's official NdPr exports, largest calendar month of 2012 "
     "(t: the month's mean weekly rate x its days / 7)"),
    ("alt_ndpr_2013", "non-Chinese NdPr oxide output, 2013 (t)"),
    ("alt_ndpr_2014", "non-Chinese NdPr oxide output, 2014 (t)"),
    ("alt_ndpr_2015", "non-Chinese NdPr oxide output, 2015 (t)"),
    ("light.peak_monthly", "La/Ce: ex-China price, highest month (USD/kg)"),
    ("light.peak_weekly", "La/Ce: ex-China price, highest week (USD/kg)"),
    ("light_ree.peak_months", "La/Ce: months from Jul 2010 to the highest month (the 1.4 check)"),
    ("light_ree.spread_at_peak", "La/Ce: ex-China / China price in its highest month (x)"),
    ("light_ree.spread_year_after", "La/Ce: ex-China / China price 12 months later (x)"),
    ("light.spread_late_2010", "La/Ce: ex-China / China price, highest month of Oct-Dec 2010 (x)"),
    ("light.cn_may_aug_2011", "La/Ce: China's price, May-Aug 2011 (USD/kg)"),
    ("light.cn_may_aug_2011_x2009", "La/Ce: China's price, May-Aug 2011 / 2009 (x)"),
    ("light.ex_may_aug_2011", "La/Ce: ex-China price, May-Aug 2011 (USD/kg)"),
    ("light_ree.spread_at_crisis_peak", "La/Ce: ex-China / China price in NdPr's peak month (x)"),
    ("light.spread_q1_2012", "La/Ce: ex-China / China price, Q1 2012 (mean of the weekly ratios, x)"),
    ("light.rent_jul_sep_2010", "La/Ce: licence rent (price over export parity), Jul-Sep 2010 (USD/kg)"),
    ("light.rent_max", "La/Ce: licence rent, highest week (USD/kg)"),
    ("light.official_2011", "La/Ce: China's official exports, 2011 (t)"),
    ("light_ree.exports_vs_quota", "La/Ce: China's official exports, 2011 / La/Ce quota"),
    ("light.unofficial_2010", "La/Ce: China's unofficial exports, 2010 (t)"),
    ("light.unofficial_2011", "La/Ce: China's unofficial exports, 2011 (t)"),
    ("light.thrift_end_2014", "La/Ce: use thrifted away, last week of 2014 (share)"),
    ("light.ex_2013", "La/Ce: ex-China price, 2013 (USD/kg)"),
    ("light.ex_2013_x2009", "La/Ce: ex-China price, 2013 / 2009 (x)"),
]


def prose_2010(ts: pd.DataFrame, metrics: dict[str, float]) -> dict[str, float]:
    """The figures of `PROSE_2010` on one run (`metrics`: its `reflow.validation.metrics_2010`)."""
    from reflow import validation as v

    pt = v.prepare(ts)
    out = {k: metrics.get(k, float("nan")) for k, _ in PROSE_2010}
    for m in ("ndpr_oxide", "dy_oxide", "tb_oxide"):
        cn = v.china_price(pt, m)
        out[f"{m}.cn_sep2011"] = v.month_mean(cn, "2011-09") / v.year_mean(cn, 2009)
    out.update(official_ndpr_2012(v.weekly_total(pt, "exports_cn_total", "ndpr_oxide")))
    alt = v.weekly_total(pt, "production_alt", "ndpr_oxide")
    for y in (2013, 2014, 2015):
        out[f"alt_ndpr_{y}"] = v.year_total(alt, y)
    if not (ts["variable"] == "light_price_ex").any():
        return out
    # (from `ts`: `pt` keeps only the variables the metrics read, not the rent or the thrift share)
    ex, cn, rent = (v.light_series(ts, var) for var in ("light_price_ex", "light_price_cn", "light_quota_rent"))
    spread_m = v.monthly_means(ex) / v.monthly_means(cn)
    q1 = v.period(ex, "2012-01-01", "2012-03-31") / v.period(cn, "2012-01-01", "2012-03-31")
    thrift = v.light_series(ts, "light_thrift_share")
    out.update({
        "light.peak_monthly": float(v.monthly_means(ex).max()), "light.peak_weekly": float(ex.max()),
        "light.spread_late_2010": float(v.period(spread_m, "2010-10-01", "2010-12-31").max()),
        "light.cn_may_aug_2011": float(v.period(cn, "2011-05-01", "2011-08-31").mean()),
        "light.ex_may_aug_2011": float(v.period(ex, "2011-05-01", "2011-08-31").mean()),
        "light.spread_q1_2012": float(q1.mean()),
        "light.rent_jul_sep_2010": float(v.period(rent, "2010-07-01", "2010-09-30").mean()),
        "light.rent_max": float(rent.max()),
        "light.official_2011": v.year_total(v.light_series(ts, "light_exports_cn"), 2011),
        "light.unofficial_2010": v.year_total(v.light_series(ts, "light_exports_cn_unofficial"), 2010),
        "light.unofficial_2011": v.year_total(v.light_series(ts, "light_exports_cn_unofficial"), 2011),
        "light.thrift_end_2014": float(thrift[thrift.index.year == 2014].iloc[-1])
        if (thrift.index.year == 2014).any() else float("nan"),
        "light.ex_2013": v.year_mean(ex, 2013),
    })
    out["light.cn_may_aug_2011_x2009"] = out["light.cn_may_aug_2011"] / v.year_mean(cn, 2009)
    out["light.ex_2013_x2009"] = out["light.ex_2013"] / v.year_mean(ex, 2009)
    return out


def official_ndpr_2012(weekly: pd.Series) -> dict[str, float]:
    """China's official NdPr exports by month of 2012 from its weekly tonnes (section 1.5 item 8: where the quota
    allowance banked under the licence price ships): July's and the largest month's tonnes, summing the weeks that
    start in the month (as the document has counted them; five in January, April, July, October and December 2012),
    that month (1-12), and the largest month per calendar month (`_per_month`). NaN if the run misses 2012."""
    w = weekly[weekly.index.year == 2012]
    if not len(w):
        return {k: float("nan") for k in ("ndpr_oxide.official_2012_07", "ndpr_oxide.official_2012_top_month",
                                           "ndpr_oxide.official_2012_top_month_of",
                                           "ndpr_oxide.official_2012_top_month_per_day")}
    summed = w.groupby(w.index.month).sum()
    return {"ndpr_oxide.official_2012_07": float(summed.get(7, float("nan"))),
            "ndpr_oxide.official_2012_top_month": float(summed.max()),
            "ndpr_oxide.official_2012_top_month_of": float(summed.idxmax()),
            "ndpr_oxide.official_2012_top_month_per_day": float(_per_month(w).max())}


def table_prose_2010(per_seed: pd.DataFrame, first: int = 8) -> str:
    """The `PROSE_2010` figures as Markdown: median over all seeds, 5-95%, and median and range over seeds 1-`first`
    (section 1.6 quotes seeds 1-8). `per_seed`: one row per seed, a ``seed`` column."""
    few = per_seed[per_seed["seed"] <= first]
    lines = [f"| figure | median, {len(per_seed)} seeds | 5-95% | median, seeds 1-{first} | seeds 1-{first}, "
             "lowest - highest |", "|---|---|---|---|---|"]
    for key, label in PROSE_2010:
        a, b = per_seed[key].astype(float), few[key].astype(float)
        lines.append(f"| {label} | {a.median():.4g} | {a.quantile(0.05):.4g} - {a.quantile(0.95):.4g} | "
                     f"{b.median():.4g} | {b.min():.4g} - {b.max():.4g} |")
    return "\n".join(lines)


def _run_2025(task: tuple[str, str, list[str], int]) -> dict[str, Any]:
    label, config, overrides, seed = task
    import reflow
    from reflow import validation as v

    res = reflow.run(config, seed=seed, overrides=overrides, out=None)
    ts = res.timeseries
    series: dict[str, pd.Series] = {}
    exports = _wide(ts, "exports_cn", "ndfeb_magnet").fillna(0.0)
    for r in exports.columns:
        series[f"magnet_exports.{r}"] = _per_month(exports[r])
    series["magnet_exports.total"] = _per_month(exports.sum(axis=1))
    for m in ("dy_oxide", "tb_oxide", "ndfeb_magnet"):
        vw = _wide(ts, "price_ex_vwap", m)
        for r in ("US", "EU", "JPKR"):
            if r in vw.columns:
                series[f"{m}.{r}"] = v.monthly_means(vw[r])
        series[f"{m}.ex"] = v.monthly_means(v.ex_china_price(ts, m))
        series[f"{m}.cn"] = v.monthly_means(v.china_price(ts, m))
    flow = ts[(ts["variable"] == "flow") & (ts["material"] == "ndfeb_magnet")]
    abroad = flow[(flow["origin"] != "CN") & (flow["origin"] != flow["region"])].groupby("date")["value"].sum()
    abroad.index = pd.to_datetime(abroad.index)
    series["magnet_abroad"] = _per_month(abroad)
    lost, overall = _lost(ts)
    for r in lost.columns:
        series[f"lost.{r}"] = v.monthly_means(lost[r])
    series["lost.all"] = v.monthly_means(overall)
    for m in ("dy_oxide", "tb_oxide", "ndfeb_magnet"):
        series[f"backlog.{m}"] = v.monthly_means(_wide(ts, "licence_backlog", m).sum(axis=1))
    # Mean wait of each month's decisions: the weekly means weighted by the week's decisions.
    ok = ts[ts["variable"].isin(["licence_approvals", "licence_denials"])].groupby(["date", "material", "region"])[
        "value"].sum()
    wait = ts[ts["variable"] == "licence_mean_wait_days"].groupby(["date", "material", "region"])["value"].first()
    both = pd.concat({"n": ok, "wait": wait}, axis=1).dropna()
    both = both[both["n"] > 0]
    wsum = (both["n"] * both["wait"]).groupby(level="date").sum()
    nsum = both["n"].groupby(level="date").sum()
    wsum.index, nsum.index = pd.to_datetime(wsum.index), pd.to_datetime(nsum.index)
    series["wait_days"] = wsum.resample("MS").sum() / nsum.resample("MS").sum()
    series["decisions"] = nsum.resample("MS").sum()
    frame = pd.DataFrame(series)
    # First week of production loss by region and the cover of each input in that region just before it.
    first: dict[str, Any] = {}
    covers = {m: _wide(ts, "inventory_cover_weeks", m) for m in ("dy_oxide", "tb_oxide", "ndfeb_magnet")}
    for r in lost.columns:
        hit = lost.index[lost[r] > 1e-3]
        if len(hit) == 0:
            continue
        d = hit[0]
        before = lost.index[lost.index < d]
        prev = before[-1] if len(before) else d
        pre = lost.index[(lost.index >= "2025-01-01") & (lost.index < "2025-04-01")]
        cov = {m: (float(c.loc[prev, r]) if r in c.columns else np.nan,
                   float(c.loc[pre, r].mean()) if r in c.columns and len(pre) else np.nan) for m, c in covers.items()}
        first[r] = {"date": d.date().isoformat(), "cover_before": cov}
    return {"label": label, "seed": seed, "series": frame, "first_loss": first, "summary": res.summary}


# --------------------------------------------------------------------------------------------------- bands


def band(frames: list[pd.DataFrame], col: str) -> pd.DataFrame:
    """Median and 5-95% band over seeds of one column."""
    wide = pd.concat([f[col].rename(i) for i, f in enumerate(frames) if col in f.columns], axis=1)
    return pd.DataFrame({"median": wide.median(axis=1), "p5": wide.quantile(0.05, axis=1),
                         "p95": wide.quantile(0.95, axis=1)})


def _plot_band(ax: Any, b: pd.DataFrame, label: str, colour: str, ls: Any = "-", alpha: float = 0.18) -> None:
    ax.fill_between(b.index, b["p5"], b["p95"], color=colour, alpha=alpha, linewidth=0)
    ax.plot(b.index, b["median"], color=colour, linestyle=ls, label=label, linewidth=1.6)


def _marks(ax: Any, marks: list[tuple[str, str]]) -> None:
    """Policy dates as dotted lines with labels; concise date ticks."""
    import matplotlib.dates as mdates

    loc = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    for day, text in marks:
        x = pd.Timestamp(day)
        ax.axvline(x, color="#555555", linewidth=0.7, linestyle=":")
        ax.annotate(text, (x, 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=6.5, va="top",
                    ha="right", color="#333333")


MARKS_2010 = [("2010-07-08", "quota cut announced"), ("2010-09-21", "Japan embargo"),
              ("2011-01-03", "2011 quota, licence price"), ("2011-10-19", "price defence"),
              ("2012-04-02", "licence price phasing out"), ("2012-10-01", "licence price gone"),
              ("2013-09-02", "2013 defended prices"),
              ("2015-01-05", "quotas abolished")]
MARKS_2025 = [("2025-04-04", "No. 18"), ("2025-06-30", "June easing"), ("2025-09-01", "returns"),
              ("2025-10-09", "Oct escalation"), ("2025-11-10", "Busan suspension"),
              ("2025-12-08", "general licences")]


# --------------------------------------------------------------------------------------------------- figures


def figures_2010(runs: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reflow.validation import TARGETS_2010

    frames = [r["series"] for r in runs]
    tgt = {t.key: t for t in TARGETS_2010}
    paths = []
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=False)
    for ax, m, name in zip(axes, ("ndpr_oxide", "dy_oxide", "tb_oxide"), ("NdPr oxide", "Dy oxide", "Tb oxide"),
                           strict=True):
        _plot_band(ax, band(frames, f"{m}.ex"), "ex-China (model)", COLOURS["ex"])
        _plot_band(ax, band(frames, f"{m}.cn"), "China domestic (model)", COLOURS["CN"], "--")
        if m in HISTORY:
            base, pts = HISTORY[m]
            ax.plot([pd.Timestamp(d) for d, _ in pts], [p / base for _, p in pts], "o", color="#0072B2",
                    markersize=5, label="history, export price (DOMAIN.md)")
            t = tgt[f"{m}.peak_multiple"]
            ax.add_patch(plt.Rectangle((pd.Timestamp("2011-04-01"), t.lo),
                                       pd.Timestamp("2011-10-31") - pd.Timestamp("2011-04-01"), t.hi - t.lo,
                                       fill=False, edgecolor="#0072B2", linestyle="--", linewidth=1.0,
                                       label="target: peak size and timing"))
        ax.set_yscale("log")
        ax.set_title(f"{name}: price / 2009 level", fontsize=10)
        _marks(ax, MARKS_2010)
        ax.set_xlim(pd.Timestamp("2009-01-01"), pd.Timestamp("2015-12-31"))
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    axes[2].legend(handles, labels, fontsize=7, loc="center right")
    fig.tight_layout()
    paths.append(_save(fig, out, "validation_2010_prices"))
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    ax = axes[0]
    q = runs[0]["quota"]
    for m, name, c in (("ndpr_oxide", "NdPr", "#0072B2"), ("dy_oxide", "Dy x10", "#D55E00"),
                       ("tb_oxide", "Tb x10", "#009E73")):
        k = 10.0 if m != "ndpr_oxide" else 1.0
        b = band(frames, f"{m}.exports") * k
        _plot_band(ax, b, f"exports {name} (t/yr)", c)
        if m in q:
            ax.hlines(q[m] * k, pd.Timestamp("2011-01-01"), pd.Timestamp("2014-12-31"), color=c,
                      linestyle=":", linewidth=1.2)
    ax.set_title("China's exports, monthly mean rate (dotted: 2011-14 quota)", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[1]
    _plot_band(ax, band(frames, "thrift"), "oxides, REO-weighted", "#0072B2")
    _plot_band(ax, band(frames, "dy_oxide.thrift"), "Dy oxide", "#D55E00", "--")
    ax.axhspan(0.15, 0.35, xmin=0.0, xmax=1.0, color="#0072B2", alpha=0.06, label="target by 2014: 15-35%")
    ax.set_title("demand removed by thrifting / substitution", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[2]
    _plot_band(ax, band(frames, "alt_share"), "non-Chinese oxide output / world use", "#009E73")
    _plot_band(ax, band(frames, "lost"), "ex-China production lost", "#CC79A7", "--")
    ax.set_title("non-Chinese supply and production lost", fontsize=10)
    ax.legend(fontsize=7)
    for ax in axes:
        _marks(ax, MARKS_2010)
        ax.set_xlim(pd.Timestamp("2009-01-01"), pd.Timestamp("2015-12-31"))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(_save(fig, out, "validation_2010_volumes"))
    plt.close(fig)
    if "light_price_ex" in frames[0].columns:
        paths.append(_figure_light(runs, out))
    return paths


def _figure_light(runs: list[dict[str, Any]], out: Path) -> Path:
    """The La/Ce oxide market: prices with history, the spread with its targets, exports and the licence rent."""
    import matplotlib.pyplot as plt

    frames = [r["series"] for r in runs]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    ax = axes[0]
    _plot_band(ax, band(frames, "light_price_ex"), "ex-China (model)", COLOURS["ex"])
    _plot_band(ax, band(frames, "light_price_cn"), "China (model)", COLOURS["CN"], "--")
    for (name, pts), mk in zip(HISTORY_LIGHT.items(), ("o", "s"), strict=True):
        ax.plot([pd.Timestamp(d) for d, _ in pts], [p for _, p in pts], mk, color="#0072B2", markersize=4,
                label=f"history: {name} export price")
    ax.plot([pd.Timestamp(d) for d, _ in HISTORY_LIGHT_CN], [p for _, p in HISTORY_LIGHT_CN], "D",
            color="#000000", markersize=4, label="history: La/Ce price in China")
    ax.set_yscale("log")
    ax.set_ylim(2.0, 4000.0)  # room above the 2011 points for the legend
    ax.set_ylabel("USD/kg")
    ax.set_title("La/Ce oxide price (USD/kg)", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    ax = axes[1]
    _plot_band(ax, band(frames, "light_spread"), "ex-China / China (model)", "#0072B2")
    ax.axhline(3.0, color="#D55E00", linestyle="--", linewidth=1.0, label="target at the peak: >= 3x")
    ax.axhline(2.5, color="#009E73", linestyle=":", linewidth=1.2, label="target a year later: <= 2.5x")
    ax.plot([pd.Timestamp("2011-06-15"), pd.Timestamp("2012-06-15")], [10.0, 2.0], "o", color="#000000",
            markersize=5, label="history: La ~10x at the peak, ~2x mid-2012")
    ax.plot([pd.Timestamp(d) for d, _ in HISTORY_LIGHT_SPREAD], [p for _, p in HISTORY_LIGHT_SPREAD], "D",
            color="#000000", markersize=4, markerfacecolor="white",
            label="history: export / China's price, Q3 2011, Q1 2012")
    ax.set_yscale("log")
    ax.set_ylim(0.8, 200.0)
    ax.set_ylabel("ratio")
    ax.set_title("La/Ce: ex-China over China's price", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    ax = axes[2]
    _plot_band(ax, band(frames, "light_exports_cn"), "official exports (t/yr)", "#0072B2")
    _plot_band(ax, band(frames, "light_exports_cn_unofficial"), "unofficial (t/yr)", "#CC79A7", "--")
    q = runs[0]["quota"].get("light_ree")
    if q is not None:
        ax.hlines(q, pd.Timestamp("2011-01-01"), pd.Timestamp("2014-12-31"), color="#0072B2", linestyle=":",
                  linewidth=1.2, label="2011-14 La/Ce quota")
    ax.set_ylabel("t/yr")
    ax2 = ax.twinx()
    _plot_band(ax2, band(frames, "light_quota_rent"), "licence rent (USD/kg, right)", "#D55E00", "-.", alpha=0.1)
    ax2.set_ylabel("USD/kg")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right")
    ax.set_title("La/Ce: China's exports and the licence rent", fontsize=10)
    for ax in axes:
        _marks(ax, MARKS_2010)
        ax.set_xlim(pd.Timestamp("2008-06-01"), pd.Timestamp("2015-12-31"))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = _save(fig, out, "validation_2010_light")
    plt.close(fig)
    return path


def figures_2025(runs: dict[str, list[dict[str, Any]]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    base = [r["series"] for r in runs["as happened"]]
    lo, hi = pd.Timestamp("2024-07-01"), pd.Timestamp("2026-12-31")

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [3, 2]})
    for r in ("US", "EU", "JPKR", "HUB", "ROW"):
        b = band(base, f"magnet_exports.{r}")
        _plot_band(ax, b, r, COLOURS[r], STYLES[r], alpha=0.10)
    ax.set_title("model: China's NdFeB magnet exports by destination, t/month", fontsize=10)
    ax.legend(fontsize=8, ncol=5, loc="upper left", bbox_to_anchor=(0.0, 0.88))
    _plot_band(ax2, band(base, "magnet_exports.total"), "model, all destinations", "#000000")
    _plot_band(ax2, band(base, "magnet_exports.US") * 5.0, "model, US x5", COLOURS["US"], "--")
    for key, (pts, c, k, label) in HISTORY_2025.items():
        ax2.plot([pd.Timestamp(d) for d, _ in pts], [v * k for _, v in pts], "o" if key == "total" else "s",
                 color=c, markersize=5, label=label)
    ax2.set_title("all destinations and the US: model against customs data", fontsize=10)
    ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, 0.88))
    for a in (ax, ax2):
        a.set_xlim(lo, hi)
        _marks(a, MARKS_2025)
        a.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(_save(fig, out, "validation_2025_exports"))
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, m, name in zip(axes, ("dy_oxide", "tb_oxide"), ("Dy oxide", "Tb oxide"), strict=True):
        _plot_band(ax, band(base, f"{m}.cn"), "China domestic", COLOURS["CN"], "-")
        _plot_band(ax, band(base, f"{m}.ex"), "ex-China, demand-weighted", COLOURS["ex"], "-")
        for r in ("US", "EU"):
            _plot_band(ax, band(base, f"{m}.{r}"), f"ex-China, {r}", COLOURS[r], STYLES[r], alpha=0.08)
        ax.set_yscale("log")
        ax.set_title(f"{name}, USD/kg (model median, 5-95% band)", fontsize=10)
        ax.set_xlim(lo, hi)
        _marks(ax, MARKS_2025)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, 0.85))
    fig.tight_layout()
    paths.append(_save(fig, out, "validation_2025_prices"))
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    for r in ("US", "EU", "JPKR", "HUB", "ROW"):
        _plot_band(ax, band(base, f"lost.{r}"), r, COLOURS[r], STYLES[r], alpha=0.06)
    _plot_band(ax, band(base, "lost.all"), "all ex-China", "#000000", "-", alpha=0.15)
    ax.set_title("share of planned output lost", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    ax = axes[1]
    for m, c, ls in (("dy_oxide", "#D55E00", "-"), ("tb_oxide", "#009E73", "--"), ("ndfeb_magnet", "#0072B2", "-.")):
        _plot_band(ax, band(base, f"backlog.{m}"), m, c, ls)
    ax.set_title("licence backlog, applications pending", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[2]
    _plot_band(ax, band(base, "wait_days"), "mean wait of the month's decisions", "#CC79A7")
    ax.axhline(63, color="#555555", linestyle="--", linewidth=0.8)
    ax.annotate("45 working days", (pd.Timestamp("2026-06-01"), 64), fontsize=7)
    ax.set_title("licence wait, calendar days", fontsize=10)
    ax.legend(fontsize=7)
    for ax in axes:
        ax.set_xlim(lo, hi)
        _marks(ax, MARKS_2025)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(_save(fig, out, "validation_2025_production"))
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    cols = {"as happened": "#000000", "no suspension": "#D55E00", "no October escalation": "#0072B2"}
    lss = {"as happened": "-", "no suspension": "--", "no October escalation": ":"}
    for label, c in cols.items():
        frames = [r["series"] for r in runs[label]]
        _plot_band(axes[0], band(frames, "ndfeb_magnet.ex"), label, c, lss[label], alpha=0.08)
        _plot_band(axes[1], band(frames, "lost.all"), label, c, lss[label], alpha=0.08)
    axes[0].set_title("ex-China NdFeB magnet price, USD/kg", fontsize=10)
    axes[1].set_title("ex-China production lost, share of plan", fontsize=10)
    for ax in axes:
        ax.set_xlim(pd.Timestamp("2025-07-01"), pd.Timestamp("2027-12-31"))
        _marks(ax, [*MARKS_2025[3:], ("2026-11-10", "suspension ends")])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out, "validation_2025_october"))
    plt.close(fig)
    return paths


def _save(fig: Any, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    tmp = out / f".{name}.tmp.png"
    fig.savefig(tmp, dpi=100, pil_kwargs={"optimize": True})
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------------- tables


def _q(vals: list[float]) -> str:
    a = np.array([x for x in vals if x is not None and np.isfinite(x)], float)
    if len(a) == 0:
        return "n/a"
    med, lo, hi = np.median(a), np.percentile(a, 5), np.percentile(a, 95)
    f = (lambda x: f"{x:.2f}") if abs(med) < 10 else (lambda x: f"{x:.0f}")
    return f"{f(med)} ({f(lo)}-{f(hi)})"


def table_2025_frame(runs: dict[str, list[dict[str, Any]]]) -> pd.DataFrame:
    """The 2025 numbers quoted in docs/validation.md: one row per quantity, one column per variant, each cell the
    median (5-95%) over seeds as text."""
    from reflow.validation import period

    rows = []
    for label, rs in runs.items():
        def per(fn: Any, rs: list[dict[str, Any]] = rs) -> str:
            return _q([fn(r) for r in rs])

        def ser(r: dict[str, Any], col: str, a: str, b: str) -> pd.Series:
            return period(r["series"][col], a, b)

        def ratio(r: dict[str, Any], m: str) -> float:
            return float((ser(r, f"{m}.ex", "2025-06-01", "2025-11-01")
                          / ser(r, f"{m}.cn", "2025-06-01", "2025-11-01")).mean())

        def exp_change(r: dict[str, Any], reg: str, a: str, b: str) -> float:
            s = r["series"].get(f"magnet_exports.{reg}")
            if s is None:
                return float("nan")
            base = period(s, "2024-01-01", "2024-12-31").mean()
            return float(period(s, a, b).mean() / base - 1.0)

        def first_loss(r: dict[str, Any]) -> float:
            ds = [pd.Timestamp(x["date"]) for x in r["first_loss"].values()]
            return (min(ds) - pd.Timestamp("2025-04-04")).days / 7.0 if ds else float("nan")

        rows.append({
            "variant": label,
            "first production loss, weeks after 4 Apr 2025": per(first_loss),
            "ex-China production lost, worst month 2025": per(lambda r: float(ser(r, "lost.all", "2025-01-01",
                                                                                  "2025-12-31").max())),
            "ex-China production lost, 2025-26 mean": per(lambda r: float(ser(r, "lost.all", "2025-01-01",
                                                                              "2026-12-31").mean())),
            "magnet exports to US, May 2025 vs 2024 mean": per(lambda r: exp_change(r, "US", "2025-05-01",
                                                                                    "2025-05-01")),
            "magnet exports to EU, May 2025 vs 2024 mean": per(lambda r: exp_change(r, "EU", "2025-05-01",
                                                                                    "2025-05-01")),
            "magnet exports to US, Jul-Oct 2025 vs 2024 mean": per(lambda r: exp_change(r, "US", "2025-07-01",
                                                                                        "2025-10-01")),
            "magnet exports to EU, Jul-Oct 2025 vs 2024 mean": per(lambda r: exp_change(r, "EU", "2025-07-01",
                                                                                        "2025-10-01")),
            "Dy ex-China / China price, Jun-Nov 2025": per(lambda r: ratio(r, "dy_oxide")),
            "Tb ex-China / China price, Jun-Nov 2025": per(lambda r: ratio(r, "tb_oxide")),
            "magnet ex-China price peak, 2025-27, USD/kg": per(lambda r: float(ser(r, "ndfeb_magnet.ex",
                                                                                    "2025-01-01",
                                                                                    "2027-12-31").max())),
            "ex-China production lost, Dec 2025-Nov 2026 mean": per(lambda r: float(ser(
                r, "lost.all", "2025-12-01", "2026-11-30").mean())),
            "magnet ex-China price, Dec 2025-Nov 2026 mean, USD/kg": per(lambda r: float(ser(
                r, "ndfeb_magnet.ex", "2025-12-01", "2026-11-30").mean())),
            "non-Chinese magnets sold outside the maker's region, Dec 2025-Nov 2026, t/month": per(
                lambda r: float(ser(r, "magnet_abroad", "2025-12-01", "2026-11-30").mean())),
            "licence backlog peak (all materials)": per(lambda r: float(sum(
                ser(r, f"backlog.{m}", "2025-01-01", "2026-12-31") for m in ("dy_oxide", "tb_oxide",
                                                                             "ndfeb_magnet")).max())),
            "approval share (run)": per(lambda r: r["summary"]["overall"]["approval_share"] or float("nan")),
            "mean licence wait, days (run)": per(lambda r: r["summary"]["overall"]["mean_licence_wait_days"]
                                                 or float("nan")),
        })
    tab = pd.DataFrame(rows).set_index("variant").T
    tab.index.name = "quantity"
    return tab


def table_2025(runs: dict[str, list[dict[str, Any]]]) -> str:
    """The 2025 numbers quoted in docs/validation.md, per variant: median (5-95%) over seeds, as Markdown."""
    tab = table_2025_frame(runs)
    lines = ["| | " + " | ".join(tab.columns) + " |", "|---" * (len(tab.columns) + 1) + "|"]
    for k, row in tab.iterrows():
        lines.append(f"| {k} | " + " | ".join(row.values) + " |")
    return "\n".join(lines)


def monthly_medians(rs: list[dict[str, Any]]) -> pd.DataFrame:
    """Every monthly series of one variant, median over seeds (the source of the monthly figures quoted in
    docs/validation.md section 2.2: exports by destination, prices by region, production lost, backlog, waits)."""
    cols = sorted({c for r in rs for c in r["series"].columns})
    return pd.DataFrame({c: band([r["series"] for r in rs], c)["median"] for c in cols})


def first_loss_table(rs: list[dict[str, Any]]) -> str:
    """Per region: median first week of production loss and the cover of each input the week before."""
    regions = sorted({r for x in rs for r in x["first_loss"]})
    lines = ["| region | first loss (median date) | seeds with a loss | cover the week before, weeks (Dy / Tb / "
             "magnets) | cover Jan-Mar 2025 (Dy / Tb / magnets) |", "|---|---|---|---|---|"]
    for reg in regions:
        hits = [x["first_loss"][reg] for x in rs if reg in x["first_loss"]]
        ds = sorted(pd.Timestamp(h["date"]) for h in hits)
        med = ds[len(ds) // 2].date().isoformat()
        cov = {m: np.nanmedian([h["cover_before"][m][0] for h in hits]) for m in ("dy_oxide", "tb_oxide",
                                                                                 "ndfeb_magnet")}
        pre = {m: np.nanmedian([h["cover_before"][m][1] for h in hits]) for m in ("dy_oxide", "tb_oxide",
                                                                                 "ndfeb_magnet")}
        fmt = lambda d: " / ".join("-" if not np.isfinite(x) else f"{x:.1f}" for x in d.values())  # noqa: E731
        lines.append(f"| {reg} | {med} | {len(hits)} of {len(rs)} | {fmt(cov)} | {fmt(pre)} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------- main


MIN_SEEDS_DOCS = 20  # the tracked figures in docs/figures are drawn from this many seeds (docs/validation.md)


def check_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad arguments (`ap.error`: message, exit 2) before anything is created; fill in --figures."""
    if args.seeds < 1:
        ap.error(f"--seeds {args.seeds}: give at least 1 seed ({MIN_SEEDS_DOCS} for the figures of docs/validation.md)")
    if args.workers < 1:
        ap.error(f"--workers {args.workers}: give at least 1 worker process")
    if not args.config_2010.is_file():
        ap.error(f"--config-2010 {args.config_2010}: no such file; give the path of a scenario TOML, e.g. "
                 "a what-if that extends configs/quota_2010.toml")
    if args.figures is None and args.config_2010.resolve() != Q2010.resolve():
        ap.error(f"--config-2010 {args.config_2010}: its figures would replace the tracked figures of "
                 f"{Q2010.name} in {FIGURES}; give --figures DIR for them")
    if args.figures is None:
        if args.seeds < MIN_SEEDS_DOCS:  # a quick look must not silently replace the tracked 20-seed figures
            ap.error(f"--seeds {args.seeds}: fewer than {MIN_SEEDS_DOCS} seeds would replace the tracked "
                     f"{MIN_SEEDS_DOCS}-seed figures in {FIGURES}; give --figures DIR for a quick look (e.g. "
                     f"--figures /tmp/validation_figures), or --figures {FIGURES} to replace them on purpose")
        args.figures = FIGURES
    if args.figures.exists() and not args.figures.is_dir():
        ap.error(f"--figures {args.figures}: a file, not a folder; give a folder for the PNGs")
    # Found now, not after the runs: the nearest folder that exists must let us create the PNGs (and folders).
    there = next(p for p in (args.figures.absolute(), *args.figures.absolute().parents) if p.exists())
    if not there.is_dir() or not os.access(there, os.W_OK | os.X_OK):
        ap.error(f"--figures {args.figures}: cannot write there ({there} is not a folder you can write to); give "
                 "a folder you can write to")
    episodes = [e for e in FIGURE_NAMES if args.only in (None, e)]
    existing = [args.figures / f"{n}.png" for e in episodes for n in FIGURE_NAMES[e]]
    lost = not_in_git([p for p in existing if p.exists()])
    if lost and not args.force:
        ap.error(f"--figures {args.figures}: would replace {', '.join(p.name for p in lost)}, which git holds no "
                 "copy of as they are (an earlier result, or a redraw not yet committed); give another --figures "
                 "folder, commit them, or --force to replace them")


def not_in_git(paths: list[Path]) -> list[Path]:
    """Those of `paths` (files in one folder) that git holds no copy of as they are: untracked, ignored, changed
    since the last commit, or outside a git checkout. Replacing one of them loses it."""
    if not paths:
        return []
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "--",
                                 *(p.name for p in paths)], cwd=paths[0].parent, capture_output=True, text=True,
                                timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return list(paths)
    flagged = {Path(line[3:].strip('"')).name for line in status.splitlines()}  # paths from the checkout's root
    return [p for p in paths if p.name in flagged]


def main(argv: list[str] | None = None) -> int:
    """Draw the figures and write the tables; 2 on bad input (the message names the argument or file and the fix)."""
    from reflow.cli import guarded

    return guarded(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=MIN_SEEDS_DOCS,
                    help=f"seeds 1..N of every run (default {MIN_SEEDS_DOCS}; fewer needs --figures)")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--figures", type=Path, default=None,
                    help=f"folder of the PNGs (default {FIGURES.relative_to(ROOT)}, the tracked figures, only with "
                         f">= {MIN_SEEDS_DOCS} seeds; required with fewer)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "validation")
    ap.add_argument("--only", choices=["2010", "2025"], default=None)
    ap.add_argument("--config-2010", type=Path, default=Q2010,
                    help="the 2010 scenario to run (default configs/quota_2010.toml; e.g. a what-if that extends it)")
    ap.add_argument("--force", action="store_true",
                    help="replace figures in --figures that git holds no copy of (an earlier quick look, or a "
                         "redraw of docs/figures not yet committed)")
    args = ap.parse_args(argv)
    check_args(ap, args)
    from reflow.config import load_config
    from reflow.errors import UsageError
    from reflow.experiment.executors import process_pool
    from reflow.provenance import new_stamped_folder, run_manifest, write_configs, write_manifest

    do10, do25 = args.only in (None, "2010"), args.only in (None, "2025")
    q2010 = args.config_2010
    configs = {**({"2010": q2010} if do10 else {}), **({"2025": C2025} if do25 else {})}
    # Every config and variant is loaded before the output folder exists: a broken one leaves nothing behind.
    resolved = {}
    if do10:
        resolved["2010"] = load_config(q2010)
    if do25:
        VARIANTS_2025["2010-calibrated mechanisms"] = calibrated_mechanisms()
        if "current 2010 fit's buyer values" in VARIANTS_2025:  # (a caller may run fewer variants)
            VARIANTS_2025["current 2010 fit's buyer values"] = calibrated_mechanisms(BUYER_KEYS, rounded=True)
        for label, ov in VARIANTS_2025.items():
            resolved[f"2025 {label}"] = load_config(C2025, ov)
    seeds = list(range(1, args.seeds + 1))
    manifest = run_manifest(argv, args, configs, seeds, script=__file__,
                            variants_2025=VARIANTS_2025 if do25 else None,
                            figures={"dir": str(args.figures), "seeds": len(seeds), "written": []})
    folder = new_stamped_folder(args.out)  # never an existing folder: earlier tables are never overwritten
    write_configs(folder, manifest, resolved)  # configs/<name>.toml and .json: each config the runs ran
    write_manifest(folder, manifest)  # before the runs, so that a crash still says what was being run
    try:  # now, not when the first figure is saved after the runs
        args.figures.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--figures {args.figures}: cannot create the folder ({exc.strerror or exc}); give a "
                         "folder you can write to") from None
    written: list[str] = []
    md: list[str] = []
    files: list[str] = []

    def wrote(paths: list[Path]) -> None:
        for p in paths:
            print("wrote", p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
            written.append(str(p))
        write_manifest(folder, manifest, figures={"dir": str(args.figures), "seeds": len(seeds), "written": written},
                       files=files)

    def tables(new: list[str], *names: str) -> None:
        # tables.md is rewritten after each episode, so a crash in the second keeps the first's tables.
        md.extend(new)
        (folder / "tables.md").write_text("\n".join(md))
        files.extend(n for n in ("tables.md", *names) if n not in files)

    with process_pool(args.workers) as pool:  # started as the sweep workers are: never forked from here
        if do10:
            print(f"2010: {len(seeds)} seeds of {q2010.name}", flush=True)
            runs10 = list(pool.map(_run_2010, [(str(q2010), [], s) for s in seeds]))
            from reflow.validation import CHECKS_2010, GUARDS_2010, TARGETS_2010, fit_table

            fit = fit_table([r["metrics"] for r in runs10], (*TARGETS_2010, *GUARDS_2010, *CHECKS_2010))
            fit.to_csv(folder / "fit_2010.csv", index=False)
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from calibrate_2010 import markdown_table

            pd.DataFrame([r["metrics"] for r in runs10]).assign(seed=seeds).to_csv(folder / "metrics_2010.csv",
                                                                                   index=False)
            prose = pd.DataFrame([r["prose"] for r in runs10]).assign(seed=seeds)
            prose.to_csv(folder / "prose_2010.csv", index=False)
            tables([f"## 2010 fit ({len(seeds)} seeds, {int(fit['pass'].sum())} of {len(fit)} pass)", "",
                    markdown_table(fit), "", "### 2010 figures quoted in the prose (summary, sections 1.5-1.6)", "",
                    table_prose_2010(prose), ""], "fit_2010.csv", "metrics_2010.csv", "prose_2010.csv")
            wrote(figures_2010(runs10, args.figures))
        if do25:
            tasks = [(label, str(C2025), ov, s) for label, ov in VARIANTS_2025.items() for s in seeds]
            print(f"2025: {len(VARIANTS_2025)} variants x {len(seeds)} seeds of {C2025.name}", flush=True)
            res = list(pool.map(_run_2025, tasks))
            runs25: dict[str, list[dict[str, Any]]] = {k: [] for k in VARIANTS_2025}
            for r in res:
                runs25[r["label"]].append(r)
            table_2025_frame(runs25).to_csv(folder / "table_2025.csv")
            monthly_medians(runs25["as happened"]).to_csv(folder / "monthly_2025.csv", float_format="%.6g")
            files.append("monthly_2025.csv")
            tables([f"## 2025 ({len(seeds)} seeds; median and 5-95% band)", "", table_2025(runs25), "",
                    "### First production loss by region (as happened)", "",
                    first_loss_table(runs25["as happened"]), ""], "table_2025.csv")
            wrote(figures_2025(runs25, args.figures))
    write_manifest(folder, manifest, status="finished", files=files)
    print()
    print("\n".join(md))
    print(f"\ntables in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
