"""Several runs of a scenario boiled down to weekly quantiles, for the ensemble and comparison figures.

Runs are read one at a time, only the variables the figures need, and reduced to a few weekly traces
(ex-China prices, shortage by region, ...) before the next run is read. Memory therefore grows with
runs x traces (about 0.4 MB per run), never with the rows of every time series at once.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reflow.plotting._frames import (
    Series,
    approval_share,
    ex_china_weighted,
    flow_matrix,
    hhi_from_shares,
    licence_wait,
    origin_shares,
    rolling_mean,
    shortage_threshold,
    total,
)
from reflow.plotting._parallel import fork_map
from reflow.plotting.flows import parse_period
from reflow.plotting.style import MATERIALS, sort_codes

if TYPE_CHECKING:
    from reflow.plotting.load import RunResult

__all__ = ["ALL", "EX_CHINA", "NEEDED_VARIABLES", "Ensemble", "nanquantile_rows", "reduce_run", "runs_matrix",
           "summarise"]

#: Variables the ensemble figures read from each run (nothing else is loaded).
NEEDED_VARIABLES = (
    "price_cn", "price_ex_vwap", "price_ex_ask", "demand", "shortage", "inventory_cover_weeks",
    "production_lost_share", "output_plan", "licence_applications", "licence_approvals", "licence_denials",
    "licence_backlog", "licence_mean_wait_days", "flow", "alt_capacity", "alt_capacity_pipeline",
    "light_price_cn", "light_price_ex",
)
EX_CHINA = "EXCN"  # pseudo-region: all importing regions other than China together
ALL = "ALL"  # pseudo-material: every material together
SHARE_WINDOW = 13
NOISY_WINDOW = 4

Trace = tuple[str, str, str]  # (figure, panel, line)


def _lost_overall(s: Series, regions: list[str]) -> pd.Series:
    """Production lost (%) of all importing regions, weighted by planned output when the run records it."""
    lost = s.wide("production_lost_share", ["region"])
    plan = s.wide("output_plan", ["region"])
    if not plan.empty and all(r in plan.columns for r in regions):
        w = plan[regions].fillna(0.0)
        return 100 * (lost[regions].fillna(0.0) * w).sum(axis=1) / w.sum(axis=1).replace(0.0, np.nan)
    return 100 * lost[regions].mean(axis=1)


def reduce_run(s: Series, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
               figures: Collection[str] | None = None,
               ) -> tuple[dict[Trace, pd.Series], dict[str, pd.DataFrame]]:
    """The weekly traces and flow matrices ensemble figures draw, from one run.

    Args:
        s: the run.
        start: first week of the flow matrices.
        end: last week of the flow matrices.
        figures: the figures to prepare (prices, shortages, inventories, licences, supply_shares, capacity,
            flows); default all.

    Returns:
        `{(figure, panel, line): weekly series}` and `{material: origin x destination tonnes}` over
        [start, end].
    """
    def want(name: str) -> bool:
        return figures is None or name in figures

    out: dict[Trace, pd.Series] = {}
    cn = s.wide("price_cn", ["material"])
    cap = s.wide("alt_capacity", ["material"])
    pipe = s.wide("alt_capacity_pipeline", ["material"])
    backlog = s.wide("licence_backlog", ["material"])
    applied = s.wide("licence_applications", ["material"])
    flows: dict[str, pd.DataFrame] = {}
    for m in s.materials():
        if want("prices"):
            if m in cn.columns:
                out["prices", m, "price_cn"] = cn[m]
            for var in ("price_ex_vwap", "price_ex_ask"):
                y = ex_china_weighted(s, var, m)
                if y.notna().any():
                    out["prices", m, var] = y
        demand = s.block("demand", m)
        needy = [] if demand is None else [r for j, r in enumerate(demand[1])
                                          if isinstance(r, str) and r != "CN" and (demand[0][:, j] > 0).any()]
        if want("shortages") and s.block("shortage", m) is not None:
            y = total(s, "shortage", m, exclude_regions=("CN",)).fillna(0.0)
            out["shortages", m, EX_CHINA] = rolling_mean(y, NOISY_WINDOW)
            out["shortages", m, "threshold"] = shortage_threshold(s, m, NOISY_WINDOW)
        cover = s.block("inventory_cover_weeks", m)
        if want("inventories") and cover is not None:
            where = {r: j for j, r in enumerate(cover[1])}
            for r in needy or [r for r in cover[1] if r != "CN"]:
                if r in where:
                    out["inventories", m, r] = pd.Series(cover[0][:, where[r]], index=s.dates, name=r)
            out["inventories", m, EX_CHINA] = ex_china_weighted(s, "inventory_cover_weeks", m)
        shares = origin_shares(s, m, window=SHARE_WINDOW) if want("supply_shares") else pd.DataFrame()
        if shares.shape[1]:
            for o in shares.columns:
                out["supply_shares", m, str(o)] = shares[o]
            # (no share in weeks with nothing delivered yet, not "100% non-Chinese")
            delivered = shares.sum(axis=1) > 0
            out["supply_shares", m, "NONCN"] = (100.0 - (shares["CN"] if "CN" in shares.columns else 0.0)).where(
                delivered)
            out["supply_shares", "hhi", m] = hhi_from_shares(shares)
        if want("capacity") and m in cap.columns:
            out["capacity", m, "operating"] = cap[m]
        if want("capacity") and m in pipe.columns:
            out["capacity", m, "pipeline"] = pipe[m]
        if want("licences") and m in applied.columns and applied[m].fillna(0).gt(0).any():
            if m in backlog.columns:
                out["licences", "backlog", m] = backlog[m]
            out["licences", "wait", m] = licence_wait(s, m, window=NOISY_WINDOW)
            out["licences", "share", m] = approval_share(s, m, window=NOISY_WINDOW)
        mat = flow_matrix(s, m, start, end) if want("flows") else pd.DataFrame()
        if not mat.empty:
            flows[m] = mat
    if want("prices") and s.has("light_price_ex"):
        # The La/Ce oxide market of a [light_ree] scenario: one ex-China price, what its buyers paid.
        out["prices", "light_ree", "price_cn"] = s.wide("light_price_cn", [])["value"]
        out["prices", "light_ree", "price_ex_vwap"] = s.wide("light_price_ex", [])["value"]
    if want("shortages"):
        _lost_traces(s, out)
    if want("licences"):
        _licence_traces(s, out)
    return out, flows


def _lost_traces(s: Series, out: dict[Trace, pd.Series]) -> None:
    lost = s.wide("production_lost_share", ["region"])
    regions = [r for r in lost.columns if isinstance(r, str) and r != "CN"]
    for r in regions:
        out["shortages", "lost", r] = 100 * lost[r]
    if regions:
        out["shortages", "lost", EX_CHINA] = rolling_mean(_lost_overall(s, regions), NOISY_WINDOW)


def _licence_traces(s: Series, out: dict[Trace, pd.Series]) -> None:
    for var, line in (("licence_applications", "applications"), ("licence_approvals", "approvals"),
                      ("licence_denials", "denials")):
        if s.has(var):
            out["licences", "flow", line] = rolling_mean(s.wide(var, [])["value"], NOISY_WINDOW)
    if s.has("licence_backlog"):
        out["licences", "backlog", ALL] = s.wide("licence_backlog", [])["value"]
    if s.has("licence_mean_wait_days"):
        out["licences", "wait", ALL] = licence_wait(s, window=NOISY_WINDOW)
        out["licences", "share", ALL] = approval_share(s, window=NOISY_WINDOW)


def runs_matrix(traces: Sequence[tuple[int, pd.Series]], dates: pd.DatetimeIndex, n_runs: int) -> np.ndarray:
    """One trace of several runs as a dates x runs array, NaN where a run lacks the trace or the week.

    Args:
        traces: ``(run number, weekly series)`` of the runs that have the trace.
        dates: the weeks of all runs (each series' dates are among them).
        n_runs: how many runs (columns).
    """
    arr = np.full((len(dates), n_runs), np.nan, order="F")  # column-major: each run fills one contiguous column
    for i, y in traces:
        rows = slice(None) if y.index.equals(dates) else dates.get_indexer(y.index)
        arr[rows, i] = y.to_numpy(dtype=float)
    return arr


def nanquantile_rows(arr: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """``np.nanquantile(arr, qs, axis=1)`` (linear method), equal to it bit for bit, without its loop over rows.

    numpy runs its 1-D routine once per row (`apply_along_axis`): over a 20-seed ensemble's ~40,000 weekly rows
    that was over half the time of `reflow plot`. Here rows with the same number of values are stacked, NaNs
    sorted last and cut off, and handed to `np.quantile` at once: the same values and the same interpolation
    as the 1-D routine's on each row. A row without values gives NaN.

    Returns:
        An array of shape ``(len(qs), len(arr))``.
    """
    a = np.asarray(arr, dtype=float)
    out = np.full((len(qs), a.shape[0]), np.nan)
    counts = a.shape[1] - np.isnan(a).sum(axis=1)
    ordered = np.sort(a, axis=1)  # NaNs last
    for k in np.unique(counts[counts > 0]):
        rows = counts == k
        out[:, rows] = np.quantile(ordered[rows, :k], qs, axis=1)
    return out


@dataclass
class Ensemble:
    """The runs of one scenario boiled down to quantiles per weekly trace."""

    name: str
    config: dict[str, Any]
    seeds: list[Any]
    stats: dict[Trace, pd.DataFrame]  # index dates; columns q05, q50, q95, mean
    flows: dict[str, pd.DataFrame]  # mean over runs, tonnes
    dates: pd.DatetimeIndex
    flow_dates: pd.DatetimeIndex
    summaries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of runs."""
        return len(self.seeds)

    def get(self, figure: str, panel: str, line: str) -> pd.DataFrame | None:
        """Quantiles of one trace, or None when no run has it."""
        return self.stats.get((figure, panel, line))

    def lines(self, figure: str, panel: str) -> list[str]:
        """Line names present in a panel."""
        return [k[2] for k in self.stats if k[0] == figure and k[1] == panel]

    def panels(self, figure: str) -> list[str]:
        """Panel names present in a figure, materials in canonical order."""
        return sort_codes({k[1] for k in self.stats if k[0] == figure}, MATERIALS)


def _check_one_config(runs: Sequence[RunResult]) -> None:
    """Refuse to pool runs of different configs: their spread would be drawn as if it were seed noise."""
    from reflow.errors import ReflowError
    from reflow.plotting.load import config_key, differing_keys

    by_key: dict[str, RunResult] = {}
    for r in runs:
        by_key.setdefault(config_key(r.config), r)
    if len(by_key) > 1:
        keys = differing_keys([r.config for r in by_key.values()])
        examples = ", ".join(str(r.path) for r in by_key.values())
        raise ReflowError(
            f"runs of {len(by_key)} different configs cannot be pooled into one median and band (they differ in "
            f"{', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}; runs: {examples}); summarise each config's "
            "runs apart (reflow.plotting.load.open_results groups them so)")


def summarise(runs: Sequence[RunResult], period: str | tuple[Any, Any] | None = None,
              name: str | None = None, figures: Collection[str] | None = None,
              workers: int | None = None) -> Ensemble:
    """Read runs one by one and reduce them to an `Ensemble` (quantiles across runs, week by week).

    Args:
        runs: finished runs of one scenario: the same resolved config apart from the seed.
        period: the period of the flow matrices (`"START:END"`); default the whole run.
        name: the scenario name (default: the first run's).
        figures: only prepare these figures (see `reduce_run`).
        workers: processes reading and reducing runs at once (default: the CPU count up to 4).

    Raises:
        ReflowError: the runs' configs differ (`reflow.plotting.load.open_results` groups runs by config).
    """
    if not runs:
        raise ValueError("no runs to summarise")
    _check_one_config(runs)
    lo, hi = parse_period(period)
    start = pd.Timestamp(lo) if lo is not None else None
    end = pd.Timestamp(hi) if hi is not None else None
    collected: dict[Trace, list[tuple[int, pd.Series]]] = defaultdict(list)
    flow_sum: dict[str, pd.DataFrame] = {}
    all_dates = pd.DatetimeIndex([])

    def reduce_one(i: int) -> tuple[pd.DatetimeIndex, dict[Trace, pd.Series], dict[str, pd.DataFrame]]:
        s = Series(runs[i].timeseries(NEEDED_VARIABLES))
        runs[i].drop_cache()
        return (s.dates, *reduce_run(s, start, end, figures))

    # each run's traces are a few hundred kB: cheap to send back from a worker, and nothing bigger is kept
    reduced = fork_map(reduce_one, len(runs), workers if len(runs) > 3 else 1)
    for i, (dates, traces, flows) in enumerate(reduced):
        all_dates = all_dates.union(dates)
        for key, y in traces.items():
            collected[key].append((i, y))
        for m, mat in flows.items():
            flow_sum[m] = mat if m not in flow_sum else flow_sum[m].add(mat, fill_value=0.0)
    stats: dict[Trace, pd.DataFrame] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN weeks (before the first decision, ...)
        for key, ys in collected.items():
            # one column per run, also for runs without this trace (an origin that never delivered there, a
            # material nobody applied for): quantiles and means are over every run, not the runs that have it
            arr = runs_matrix(ys, all_dates, len(runs))
            if (key[0] == "supply_shares" and key[1] != "hhi" and key[2] != "NONCN") or key[:2] == ("licences",
                                                                                                "backlog"):
                arr[np.isnan(arr)] = 0.0  # nothing delivered from that origin, no file waiting
            q = nanquantile_rows(arr, [0.05, 0.5, 0.95])
            stats[key] = pd.DataFrame({"q05": q[0], "q50": q[1], "q95": q[2],
                                       "mean": np.nanmean(arr, axis=1)}, index=all_dates)
    inside = np.ones(len(all_dates), dtype=bool)
    if start is not None:
        inside &= all_dates >= start
    if end is not None:
        inside &= all_dates <= end
    first = runs[0]
    return Ensemble(name=name or first.scenario, config=first.config, seeds=[r.seed for r in runs],
                    stats=stats, flows={m: f / len(runs) for m, f in flow_sum.items()}, dates=all_dates,
                    flow_dates=all_dates[inside], summaries=[r.summary for r in runs])
