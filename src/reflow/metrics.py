"""Run metrics (pure functions on arrays and the tidy time series): HHI, price peaks, recovery, the summary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reflow.domain import IMPORT_REGIONS, MATERIALS

__all__ = ["hhi", "in_shortage", "peak_multiple", "summarise", "time_to_recover", "wide", "worst_window_share"]

SHORTAGE_WEEK_THRESHOLD = 0.01  # a week "in shortage": ex-China shortage above 1% of ex-China demand
RECOVERED_MULTIPLE = 1.25  # also what counts as a spike: a peak under it has no week or region worth naming
BASE_WEEKS = 13
WORST_WINDOW_WEEKS = 4  # "the worst month" of production lost: the figures' 4-week averages


def hhi(shares: np.ndarray, axis: int = -1) -> np.ndarray:
    """Herfindahl-Hirschman index (0-1) of shares along `axis` (normalised first; 0 where all are zero)."""
    s = np.asarray(shares, float)
    tot = s.sum(axis=axis, keepdims=True)
    p = np.divide(s, tot, out=np.zeros_like(s), where=tot > 0)
    return (p ** 2).sum(axis=axis)


def in_shortage(shortage: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Whether each week is "in shortage": the ex-China shortage above `SHORTAGE_WEEK_THRESHOLD` of ex-China
    demand (tonnes a week, week by week; NaN counts as none)."""
    short = np.nan_to_num(np.asarray(shortage, float))
    need = np.nan_to_num(np.asarray(demand, float))
    return short > SHORTAGE_WEEK_THRESHOLD * np.maximum(need, 1e-12)


def peak_multiple(price: np.ndarray, base_weeks: int = BASE_WEEKS) -> tuple[float, int]:
    """(max of price / mean of its first `base_weeks`, week of the max). NaNs are ignored."""
    p = np.asarray(price, float)
    base = np.nanmean(p[:base_weeks]) if np.isfinite(p[:base_weeks]).any() else np.nan
    if not np.isfinite(base) or base <= 0 or not np.isfinite(p).any():
        return float("nan"), 0
    mult = p / base
    k = int(np.nanargmax(mult))
    return float(mult[k]), k


def time_to_recover(multiple: np.ndarray, peak_week: int, threshold: float = RECOVERED_MULTIPLE) -> int | None:
    """Weeks from the peak until the multiple is first back under `threshold` (0 if the peak is under it)."""
    m = np.asarray(multiple, float)
    if not m[peak_week] >= threshold:
        return 0
    after = np.flatnonzero(m[peak_week:] < threshold)
    return int(after[0]) if len(after) else None


def worst_window_share(lost: np.ndarray, planned: np.ndarray, weeks: int = WORST_WINDOW_WEEKS,
                       ) -> tuple[float | None, int | None]:
    """The largest share lost of what was planned over `weeks` consecutive weeks, and the window's first week.

    A run's whole-horizon share dilutes a month-long halt over years of normal output; this is what a reader
    means by "at worst". (None, None) when no window had anything planned; the week is None when nothing was lost.
    """
    lo, pl = np.asarray(lost, float), np.asarray(planned, float)
    n = min(weeks, len(pl))
    if n == 0:
        return None, None
    lo_w = np.convolve(lo, np.ones(n), mode="valid")
    pl_w = np.convolve(pl, np.ones(n), mode="valid")
    ok = pl_w > 0
    if not ok.any():
        return None, None
    share = np.where(ok, lo_w / np.where(ok, pl_w, 1.0), -np.inf)
    k = int(np.argmax(share))
    return float(share[k]), (k if share[k] > 0 else None)


def wide(ts: pd.DataFrame, variable: str, columns: str | list[str] = "region") -> pd.DataFrame:
    """One variable as a week x columns table (NaN where absent)."""
    sub = ts[ts["variable"] == variable]
    return sub.pivot_table(index="week", columns=columns, values="value", aggfunc="first", dropna=False)


def _num(x: float | None, nd: int = 4) -> float | None:
    if x is None or not np.isfinite(x):
        return None
    return round(float(x), nd)


def _codes(col: pd.Series, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Index of each value of a string column in `names` (-1 where missing or not among them), via Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    idx = pc.index_in(pa.array(col, from_pandas=True), value_set=pa.array(list(names), pa.string()))
    return np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def summarise(ts: pd.DataFrame, scenario: Any, seed: int) -> dict[str, Any]:
    """The headline metrics of docs/outputs.md from a run's tidy time series."""
    week = ts["week"].to_numpy()
    weeks = int(week.max()) + 1
    _, first = np.unique(week, return_index=True)
    dates = ts["date"].iloc[first].tolist()  # the date of each week present, in week order
    regions = list(IMPORT_REGIONS)
    variable = ts["variable"]
    var_names = list(dict.fromkeys(variable.dropna().unique().tolist()))
    vi = _codes(variable, var_names)
    mi, ri = _codes(ts["material"], MATERIALS), _codes(ts["region"], regions)
    value = ts["value"].to_numpy(dtype=float)

    def rows(var: str) -> np.ndarray:
        return np.flatnonzero(vi == var_names.index(var)) if var in var_names else np.zeros(0, np.int64)

    def cube(var: str) -> np.ndarray:
        """(weeks, materials, regions) array of a (material, region) variable."""
        out = np.zeros((weeks, len(MATERIALS), len(regions)))
        r = rows(var)
        r = r[(mi[r] >= 0) & (ri[r] >= 0)]
        out[week[r], mi[r], ri[r]] = value[r]
        return out

    def by_region(var: str) -> np.ndarray:
        out = np.zeros((weeks, len(regions)))
        r = rows(var)
        r = r[ri[r] >= 0]
        out[week[r], ri[r]] = value[r]
        return out

    vwap, demand, short = cube("price_ex_vwap"), cube("demand"), cube("shortage")
    materials: dict[str, Any] = {}
    flow = rows("flow")
    late_flow = flow[(ri[flow] >= 0) & (week[flow] >= weeks - BASE_WEEKS)]  # into importing regions, last weeks
    from_cn = _codes(ts["origin"].iloc[late_flow], ["CN"]) == 0
    for i, m in enumerate(MATERIALS):
        d = demand[:, i, :]
        dsum = d.sum(axis=1)
        w_price = np.where(dsum > 0, (vwap[:, i, :] * d).sum(axis=1) / np.maximum(dsum, 1e-12), np.nan)
        mult_all, k = peak_multiple(w_price)
        head = w_price[:BASE_WEEKS]
        base = np.nanmean(head) if np.isfinite(head).any() else np.nan  # (no demand: no price)
        by_reg = {}
        for j, r in enumerate(regions):
            if d[:, j].sum() > 0:
                mr, _ = peak_multiple(vwap[:, i, j])
                by_reg[r] = _num(mr, 3)
        top = max((r for r in by_reg if by_reg[r] is not None), key=lambda r: by_reg[r], default=None)
        s_tot, d_tot = short[:, i, :].sum(axis=1), dsum
        in_short = in_shortage(s_tot, d_tot)
        nc = None
        if len(flow):
            sel = mi[late_flow] == i
            tot = float(value[late_flow[sel]].sum())
            if tot > 0:
                nc = float(value[late_flow[sel & ~from_cn]].sum()) / tot
        ttr = time_to_recover(w_price / base, k) if np.isfinite(mult_all) else None
        materials[m] = {
            "peak_price_multiple": _num(mult_all, 3),
            "peak_price_date": str(dates[k]) if np.isfinite(mult_all) else None,
            "peak_price_region": top if np.isfinite(mult_all) else None,  # (no base-window price: no peak)
            "peak_price_multiple_by_region": by_reg,
            "weeks_in_shortage": int(in_short[dsum > 0].sum()),
            # (null without ex-China demand: "no shortage" would be a false zero in a sweep's means)
            "cumulative_shortage_share": _num(s_tot.sum() / d_tot.sum() if d_tot.sum() > 0 else None, 5),
            "final_non_china_share": _num(nc, 4),
            # Censored: null when the price has not recovered by the end of the run; `recovered` says which.
            "time_to_recover_weeks": ttr,
            "recovered": (ttr is not None) if np.isfinite(mult_all) else None,
        }

    lost = by_region("production_lost_share")
    plan = by_region("output_plan")
    plan_tot = plan.sum()
    overall_lost = float((lost * plan).sum() / plan_tot) if plan_tot > 0 else None  # nothing planned: no share
    lost_by_region = {r: _num(float((lost[:, j] * plan[:, j]).sum() / plan[:, j].sum()), 5)
                      for j, r in enumerate(regions) if plan[:, j].sum() > 0}
    any_lost = np.flatnonzero((lost * plan).sum(axis=1) > 1e-9)
    worst, worst_week = worst_window_share((lost * plan).sum(axis=1), plan.sum(axis=1))
    apps, ok, no = cube("licence_applications"), cube("licence_approvals"), cube("licence_denials")
    wait = cube("licence_mean_wait_days")
    decided = ok + no
    n_dec = float(decided.sum())
    out = {
        "scenario": scenario.scenario.name,
        "seed": int(seed),
        "start": str(dates[0]),
        "end": str(dates[-1]),
        "weeks": weeks,
        "materials": materials,
        "overall": {
            "production_lost_share": _num(overall_lost, 5),
            "production_lost_share_by_region": lost_by_region,
            "first_production_loss_date": str(dates[int(any_lost[0])]) if len(any_lost) else None,
            "peak_production_lost_share": _num(worst, 5),
            "peak_production_lost_date": str(dates[worst_week]) if worst_week is not None else None,
            "approval_share": _num(float(ok.sum()) / n_dec, 4) if n_dec > 0 else None,
            "mean_licence_wait_days": _num(float((np.nan_to_num(wait) * decided).sum()) / n_dec, 2)
            if n_dec > 0 else None,
            "licence_applications": int(apps.sum()),
        },
    }
    if "light_price_ex" in var_names:
        light_dates = [dates[int(w)] for w in week[rows("light_price_ex")]]
        out["light_ree"] = _light_summary(lambda v: value[rows(v)], light_dates)
    return out


def _light_summary(series: Any, dates: list[Any]) -> dict[str, Any]:
    """Headline numbers of the La/Ce oxide market (docs/ODD.md 7.18): its ex-China price peak as for the oxides,
    the spread over China's price and the licence rent there, the largest rent, and the share of use lost."""
    ex, cn, rent = series("light_price_ex"), series("light_price_cn"), series("light_quota_rent")
    mult, k = peak_multiple(ex)
    use, short = series("light_consumption"), series("light_shortage")
    need = float(use.sum() + short.sum())
    return {
        "peak_price_multiple": _num(mult, 3),
        "peak_price_date": str(dates[k]) if np.isfinite(mult) else None,
        "spread_at_peak": _num(float(ex[k] / cn[k]), 3) if np.isfinite(mult) else None,
        "max_quota_rent_usd_per_kg": _num(float(rent.max()), 3),
        "cumulative_shortage_share": _num(float(short.sum()) / need if need > 0 else None, 5),
    }
