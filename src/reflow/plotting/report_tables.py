"""Tables of a report as plain rows of strings: headline numbers, the policy timeline, formatting helpers.

Kept apart from the HTML so that the numbers can be checked (and reused, e.g. in a notebook) without markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reflow.domain import week_monday
from reflow.plotting.style import material_label, region_label
from reflow.report_text import MULTIPLE_UNIT, SPIKE_MULTIPLE

if TYPE_CHECKING:
    from reflow.plotting.load import RunResult

__all__ = ["flatten", "fmt_value", "headline_rows", "policy_rows", "short"]

_MATERIAL_METRICS = (  # (key, column header, kind)
    ("peak_price_multiple", f"Peak ex-China price ({MULTIPLE_UNIT})", "multiple"),
    ("peak_price_date", "Peak week", "date"),
    ("peak_price_region", "Peak region", "region"),
    ("weeks_in_shortage", "Weeks in shortage", "int"),
    ("cumulative_shortage_share", "Cumulative shortage (% of demand)", "pct"),
    ("final_non_china_share", "Non-Chinese share at end (%)", "pct"),
    # What recovers, and from when (summary.json's definition): a bare "Weeks to recover" beside Tb oxide's 0 weeks
    # in shortage read as a recovery from a shortage there never was.
    ("time_to_recover_weeks", f"Weeks from peak until price back under {SPIKE_MULTIPLE:g}x", "censored"),
)
_OVERALL_METRICS = (
    ("production_lost_share", "Production lost, all ex-China manufacturers (% of planned output)", "pct"),
    ("peak_production_lost_share", "Production lost in the worst 4 weeks (% of planned output)", "pct"),
    ("peak_production_lost_date", "First week of the worst 4 weeks", "date"),
    ("first_production_loss_date", "First week with production lost", "date"),
    ("approval_share", "Licence applications approved (% of decisions)", "pct"),
    ("mean_licence_wait_days", "Mean wait for a licence decision (calendar days)", "float"),
    ("licence_applications", "Licence applications", "int"),
)
# The La/Ce oxide market's block of summary.json (scenarios with a [light_ree] table, ODD 7.18).
_LIGHT_METRICS = (
    ("peak_price_multiple", f"La/Ce oxide: peak ex-China price ({MULTIPLE_UNIT})", "multiple"),
    ("peak_price_date", "La/Ce oxide: peak week", "date"),
    ("spread_at_peak", "La/Ce oxide: ex-China / China price at the peak (x)", "float"),
    ("max_quota_rent_usd_per_kg", "La/Ce oxide: largest quota licence rent (USD/kg)", "float"),
    ("cumulative_shortage_share", "La/Ce oxide: use short (% of need)", "pct"),
)
_POLICY_STAGES = ("announce", "effective", "suspend", "resume", "lift")
_POLICY_COMMON = {"id", "kind", "label", *_POLICY_STAGES}


def flatten(summary: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested summary to `a.b.c` keys (the same names sweeps store)."""
    out: dict[str, Any] = {}
    for k, v in summary.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def fmt_value(v: Any, kind: str) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    try:
        if kind == "multiple":
            return f"{float(v):.2f}x"
        if kind == "pct":
            return _pct(100 * float(v))
        if kind == "int":
            return f"{float(v):,.0f}"
        if kind == "float":
            return f"{float(v):,.1f}"
        if kind == "date":
            return pd.Timestamp(v).strftime("%d %b %Y")
        if kind == "region":  # the figures' names ("Third-country hub"), not summary.json's codes ("HUB")
            return region_label(str(v))
    except (TypeError, ValueError):
        pass
    return str(v)


def _pct(x: float) -> str:
    """A share in %: one decimal, but two significant figures below 1% (0.035%, not "0.0%" for production that
    was lost), "<0.001%" below that, and a bare "0%" only for exactly nothing."""
    if x == 0:
        return "0%"
    if abs(x) < 0.001:
        return "<0.001%" if x > 0 else "-<0.001%"
    if abs(x) < 1:
        return f"{x:.2g}%"
    return f"{x:.1f}%"


_NO_PRICE = object()  # a run without prices for the material (`recovered` null): nothing to recover
_NO_SPIKE = object()  # a run whose price never reached the spike multiple: its "0 weeks" is not a recovery
NEVER_SPIKED = f"never above {SPIKE_MULTIPLE:g}x"


def _combine(values: list[Any], kind: str) -> str:
    """One run: its value. Several: median and 5-95% range (dates as dates, text as the most common)."""
    if kind == "censored":  # null = not recovered by the end of the run: longer than any run that did
        return _combine_censored(values)
    present = [v for v in values if v is not None]
    if len(values) == 1:
        return fmt_value(values[0], kind)
    if not present:
        return "–"
    if kind in ("text", "region"):
        counts = pd.Series([fmt_value(v, kind) for v in present]).value_counts()
        return f"{counts.index[0]} ({counts.iloc[0]} of {len(values)})"
    if kind == "date":
        ts = pd.to_datetime(pd.Series(present), errors="coerce").dropna()
        if ts.empty:
            return "–"
        q = ts.quantile([0.05, 0.5, 0.95])
        never = len(values) - len(ts)
        lo, med, hi = (fmt_value(q.iloc[i], kind) for i in range(3))
        return _spread(lo, med, hi) + (f"; none in {never} runs" if never else "")
    arr = pd.to_numeric(pd.Series(present), errors="coerce").dropna().to_numpy(dtype=float)
    if arr.size == 0:
        return "–"
    lo, med, hi = np.quantile(arr, [0.05, 0.5, 0.95])
    never = len(values) - arr.size
    text = _spread(fmt_value(lo, kind), fmt_value(med, kind), fmt_value(hi, kind))
    return text + (f"; none in {never} runs" if never else "")


def _combine_censored(values: list[Any]) -> str:
    """Median and 5-95% range of weeks-to-recover over runs, a run that never recovered counting as infinite
    (so the median is not that of the recovered runs only); "not in run" where a quantile falls among those.
    Runs without prices (`_NO_PRICE`) are left out: "–" when no run has any."""
    values = [v for v in values if v is not _NO_PRICE]
    if not values:
        return "–"
    # NdPr's flat price read "0" weeks from peak to recovery, as if it had spiked and fallen back at once.
    if all(v is _NO_SPIKE for v in values):
        return NEVER_SPIKED
    values = [0 if v is _NO_SPIKE else v for v in values]  # beside runs that spiked: under the line throughout
    arr = np.array([np.inf if v is None else float(v) for v in values])
    if len(values) == 1:
        return "not in run" if np.isinf(arr[0]) else fmt_value(arr[0], "int")
    lo, med, hi = (np.quantile(arr, q, method="inverted_cdf") for q in (0.05, 0.5, 0.95))
    text = _spread(*("not in run" if np.isinf(x) else fmt_value(x, "int") for x in (lo, med, hi)))
    n = int(np.isinf(arr).sum())
    return text + (f"; not recovered by the end in {n} of {len(values)} runs" if n else "")


def _spread(lo: str, med: str, hi: str) -> str:
    """"3.48x (2.96x to 7.53x)", or just "0" when every run agrees."""
    return med if lo == hi else f"{med} ({lo} to {hi})"


NOT_RECORDED = "not recorded (summary.json predates this metric)"


def _cell(blocks: list[dict[str, Any]], key: str, kind: str) -> str:
    """One table cell from each run's block of summary.json. A metric no run's block holds at all (runs made
    before reflow recorded it) says so: a bare "–" read as "none", e.g. no production lost in the worst 4 weeks."""
    if any(blocks) and not any(key in b for b in blocks):
        return NOT_RECORDED
    if kind == "censored":  # a null time is "not recovered" unless `recovered` is null too: no price at all
        return _combine([_NO_PRICE if "recovered" in b and b["recovered"] is None else b.get(key)
                         for b in blocks], kind)
    return _combine([b.get(key) for b in blocks], kind)


def _named_peak(block: dict[str, Any]) -> dict[str, Any]:
    """A material's summary with the peak's week and region dropped when the price never spiked (under 1.25x):
    a flat price's highest week is noise, and naming it read as an event. Its time to recover (0) is marked
    too, so that the table says the price never spiked rather than that it recovered in no time."""
    multiple = block.get("peak_price_multiple")
    if multiple is None or multiple >= SPIKE_MULTIPLE:  # (no peak, or not recorded: nothing to drop)
        return block
    ttr = block.get("time_to_recover_weeks", _NO_SPIKE)
    return {**block, "peak_price_date": None, "peak_price_region": None,
            "time_to_recover_weeks": _NO_SPIKE if ttr in (0, _NO_SPIKE) else ttr}


def headline_rows(groups: dict[str, list[RunResult]]) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """Headline tables: material metrics (rows per material and scenario) and overall metrics per scenario.

    Returns:
        (material-table header, material rows, overall rows with one column per scenario).
    """
    header = ["Material"] + (["Scenario"] if len(groups) > 1 else []) + [h for _k, h, _t in _MATERIAL_METRICS]
    materials: list[str] = []
    for runs in groups.values():
        for r in runs:
            materials += [m for m in (r.summary.get("materials") or {}) if m not in materials]
    rows = []
    for m in materials:
        for name, runs in groups.items():
            blocks = [_named_peak((r.summary.get("materials") or {}).get(m) or {}) for r in runs]
            cells = [_cell(blocks, key, kind) for key, _h, kind in _MATERIAL_METRICS]
            rows.append([material_label(m)] + ([name] if len(groups) > 1 else []) + cells)
    overall = []
    for key, label, kind in _OVERALL_METRICS:
        overall.append([label] + [_cell([r.summary.get("overall") or {} for r in runs], key, kind)
                                  for runs in groups.values()])
    if any(r.summary.get("light_ree") for runs in groups.values() for r in runs):
        for key, label, kind in _LIGHT_METRICS:
            overall.append([label] + [_cell([r.summary.get("light_ree") or {} for r in runs], key, kind)
                                      for runs in groups.values()])
    return header, rows, overall


def policy_rows(config: dict[str, Any], varied: Sequence[str] = ()) -> list[list[str]]:
    """The policy timeline as table rows: id, kind, label, the five dates and the kind-specific settings.

    `varied`: a sweep's parameter keys; a setting one of them replaces (`policy.<id or index>.<key>`) is marked
    as the base value the sweep varies, not the value its runs used.
    """
    swept = {tuple(p.split(".")[1:3]) for p in varied if p.startswith("policy.") and p.count(".") == 2}
    span = _run_span(config)
    rows: list[tuple[int, list[str]]] = []
    for i, ev in enumerate(config.get("policy") or []):
        if not isinstance(ev, dict):
            continue

        def _setting(k: str, v: Any, ev: dict[str, Any] = ev, i: int = i) -> str:
            mark = (str(ev.get("id")), k) in swept or (str(i), k) in swept
            return f"{k}: {short(v)}" + (" (base value; varied by the sweep)" if mark else "")

        details = "; ".join(_setting(k, v) for k, v in ev.items() if k not in _POLICY_COMMON and v not in
                            (None, [], {}, ""))
        dates = [fmt_value(ev.get(s), "date") for s in _POLICY_STAGES]
        first = next((pd.Timestamp(d).value for d in dates if d != "–"), 0)  # rows in the order of their first date
        rows.append((first, [str(ev.get("id", "")), str(ev.get("kind", "")), str(ev.get("label") or ""),
                             *[_dated(ev.get(s), span) for s in _POLICY_STAGES], details]))
    rows.sort(key=lambda kr: kr[0])
    return [r for _, r in rows]


def _run_span(config: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The first and last day a config simulates (None if it does not say)."""
    sc = config.get("scenario") or {}
    try:
        start = pd.Timestamp(week_monday(pd.Timestamp(sc["start"]).date()))  # as the schema snaps it
        return start, start + pd.Timedelta(weeks=int(sc["weeks"])) - pd.Timedelta(days=1)
    except (KeyError, TypeError, ValueError):
        return None


def _dated(value: Any, span: tuple[pd.Timestamp, pd.Timestamp] | None) -> str:
    """A milestone's date, marked when it falls outside the run: a measure in force from before the start shows
    no marker in the figures, and one dated after the end was never simulated, which the table alone hid."""
    text = fmt_value(value, "date")
    if span is None or text == "–":
        return text
    when = pd.Timestamp(value)
    return (f"{text} (before the run)" if when < span[0] else f"{text} (after the run)" if when > span[1]
            else text)


def short(v: Any) -> str:
    if isinstance(v, list):
        return ", ".join(short(x) for x in v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={short(x)}" for k, x in v.items()) + "}"
    return str(v)


# ------------------------------------------------------------------------------------------------ HTML
