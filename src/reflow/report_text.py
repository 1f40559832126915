"""The readable summary table `reflow run` prints (plain text; no plotting libraries)."""

from __future__ import annotations

from typing import Any

from reflow.metrics import BASE_WEEKS
from reflow.metrics import RECOVERED_MULTIPLE as SPIKE_MULTIPLE

__all__ = ["MULTIPLE_BASIS", "MULTIPLE_UNIT", "SPIKE_MULTIPLE", "format_summary"]

# The unit of a peak price multiple, one term in the summary, the report and the figures. It was "x baseline",
# which read as "relative to the baseline scenario" (configs/baseline.toml, which reports compare runs with).
MULTIPLE_UNIT = f"x first {BASE_WEEKS} weeks"
MULTIPLE_BASIS = f"its mean over the run's first {BASE_WEEKS} weeks"


def _f(v: Any, fmt: str = "{:.2f}", none: str = "-") -> str:
    return none if v is None else fmt.format(v)


def format_summary(summary: dict[str, Any]) -> str:
    """A fixed-width table of the per-material metrics and the overall licence and production figures."""
    lines = [
        f"Scenario {summary['scenario']}  (seed {summary['seed']}, {summary['start']} to {summary['end']}, "
        f"{summary['weeks']} weeks)",
        "",
        f"{'material':<14}{'peak price':>11}{'peak date':>12}{'region':>8}{'weeks short':>13}"
        f"{'short share':>13}{'non-CN share':>14}{'recover (wk)':>14}",
    ]
    for m, s in summary["materials"].items():
        # The week and region of the highest price mean nothing when the price never spiked (a flat baseline's
        # "peak" is the noise of its first weeks): named only from the 1.25x that also counts as recovered.
        spiked = s["peak_price_multiple"] is None or s["peak_price_multiple"] >= SPIKE_MULTIPLE
        never = "not in run" if s["recovered"] is False else "-"
        lines.append(
            f"{m:<14}{_f(s['peak_price_multiple'], '{:.2f}x'):>11}"
            f"{_f(s['peak_price_date'] if spiked else None, '{}'):>12}"
            f"{_f(s['peak_price_region'] if spiked else None, '{}'):>8}{s['weeks_in_shortage']:>13}"
            f"{_f(s['cumulative_shortage_share'], '{:.2%}'):>13}{_f(s['final_non_china_share'], '{:.1%}'):>14}"
            # "not in run": the price had not recovered by the end; "-": no price, or one that never spiked (its
            # 0 weeks read as a spike that was over at once).
            f"{_f(s['time_to_recover_weeks'] if spiked else None, '{}', never):>14}")
    lr = summary.get("light_ree")
    if lr:
        lines.append(
            f"{'La/Ce oxide':<14}{_f(lr['peak_price_multiple'], '{:.2f}x'):>11}{_f(lr['peak_price_date'], '{}'):>12}"
            f"  (aggregate market: {_f(lr['spread_at_peak'], '{:.1f}x')} China's price at the peak, licence rent "
            f"up to {_f(lr['max_quota_rent_usd_per_kg'], '{:.0f} USD/kg')}, "
            f"{_f(lr['cumulative_shortage_share'], '{:.2%}')} of use short)")
    o = summary["overall"]
    by_region = ", ".join(f"{r} {v:.2%}" for r, v in o["production_lost_share_by_region"].items() if v is not None)
    lines += [
        "",
        f"production lost (ex-China manufacturers): {_f(o['production_lost_share'], '{:.2%}')}"
        + (f"  first on {o['first_production_loss_date']}" if o.get("first_production_loss_date") else "")
        + (f"; worst 4 weeks {_f(o['peak_production_lost_share'], '{:.2%}')} from {o['peak_production_lost_date']}"
           if o.get("peak_production_lost_date") else ""),
        # (no region planned any output: left out, like the dates above, rather than a label with nothing after it)
        *([f"  by region: {by_region}"] if by_region else []),
        f"licences: {o['licence_applications']} applications, approval share "
        f"{_f(o['approval_share'], '{:.0%}')}, mean wait {_f(o['mean_licence_wait_days'], '{:.0f} days')}",
        "",
        f"peak price = highest demand-weighted ex-China price / {MULTIPLE_BASIS} (date, region and recovery from "
        f"{SPIKE_MULTIPLE:g}x); short share = shortage / ex-China demand",
    ]
    return "\n".join(lines)
