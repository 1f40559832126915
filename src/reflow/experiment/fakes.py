"""Cheap run functions for testing and benchmarking the sweep machinery without the model.

Each has the run-function signature ``fn(scenario, seed) -> (metrics, timeseries)``. Name one with
``reflow sweep --runner reflow.experiment.fakes:analytic``.

`analytic` stands in for the model when trying out a study design (a sweep's design, plots, analysis) in
seconds: its metrics respond, in the model's direction, to the levers the bundled sweeps vary
(`licensing_levers`, `market_factors`):

- licensing: the scenario's ``[[policy]]`` licensing events, week by week over the run (the one in force that
  took effect last, as in the model; a field the event leaves out from ``[licensing]``): a lower approval rate or a
  longer median review (``policy.<id>.approval_rate``, ``policy.<id>.review_working_days_median``) means more
  shortage, higher ex-China peak prices and more lost production; the review time and the overrun and return
  probabilities lengthen the mean licence wait. Weeks without a control in force add no stress. A scenario with
  no licensing event reads ``licensing.*`` as a regime in force for the whole run.
- buyers: more weeks of cover (``manufacturers.cover_target_weeks.magnet``, ``.automotive``), a stronger pull
  to non-Chinese supply (``manufacturers.diversify_disruption_weight``) and more magnet sold through supply
  relationships (``manufacturers.maker_relationship_share``) mean less shortage and lost production; higher bid
  caps (``manufacturers.wtp_cap_multiple.<material>``), a steeper bid curve (``manufacturers.wtp_convexity``)
  and more Dy in defence output (``manufacturers.bom.defence.dy_oxide``) higher peak prices. Each acts through
  its ratio to the schema default, so a scenario with the defaults gets the numbers it got before these effects
  existed. ``manufacturers.front_load_weeks`` is ignored (it acts between a control's announcement and its
  effect, which the fake does not model).

Every other key is accepted and ignored. The noise comes from the seed alone: the same scenario and seed give the
same numbers. The other fakes (`noisy_linear`, `ishigami`, `interaction` and the fault fakes) read three
``licensing`` fields as inputs in [0, 1]: ``licensing.approval_rate``, ``licensing.overrun_probability`` and
``licensing.return_probability``.

Environment variables (inherited by worker processes) tune the fakes used in fault tests:

- ``REFLOW_FAKE_SLEEP``: seconds each run sleeps (default 0).
- ``REFLOW_FAKE_MARKERS``: a folder; `crash_once` kills its worker the first time it sees a seed (it leaves a
  marker file there), so the retry succeeds.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reflow.experiment.executors import Executor, InProcessExecutor

__all__ = ["LicensingLevers", "StopAfter", "analytic", "crash_always", "crash_once", "failing", "hang",
           "interaction", "ishigami", "licensing_levers", "market_factors", "noisy_linear", "write_fake_sweep"]

#: Working days of review over which a licence's effective approval falls by a factor e: a review twice the
#: default median (28 working days) makes an approval rate of 0.5 act like about 0.31.
REVIEW_SCALE_DAYS = 60.0


def _inputs(scenario: Any) -> tuple[float, float, float]:
    lic = scenario.licensing
    return float(lic.approval_rate), float(lic.overrun_probability), float(lic.return_probability)


def _sleep() -> None:
    s = float(os.environ.get("REFLOW_FAKE_SLEEP", "0") or 0)
    if s > 0:
        time.sleep(s)


def _timeseries(seed: int, weeks: int, level: float) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    w = np.arange(weeks, dtype=np.int64)
    rows = []
    for var, mat, reg in (("price_ex_vwap", "dy_oxide", "US"), ("shortage", "dy_oxide", "EU"),
                          ("production_lost_share", None, "US"), ("licence_backlog", "dy_oxide", "US")):
        rows.append(pd.DataFrame({"week": w, "variable": var, "material": mat, "origin": None, "region": reg,
                                  "value": level + rng.normal(0, 0.1, weeks)}))
    return pd.concat(rows, ignore_index=True)


@dataclass(frozen=True)
class LicensingLevers:
    """The licensing regime of a run as `analytic` sees it."""

    stress: float  #: 0 (no control, or every licence approved at once) .. 1 (nothing licensed all run)
    approval: float | None  #: mean approval rate over the weeks under control (None: no week under control)
    wait_days: float | None  #: mean licence wait over those weeks
    overrun: float  #: ``licensing.overrun_probability``


def _default(model: Any, name: str) -> Any:
    """The schema default of field `name` of a pydantic config object (None when `model` is not one)."""
    fields = getattr(type(model), "model_fields", None)
    info = fields.get(name) if fields else None
    return None if info is None else info.get_default(call_default_factory=True)


def _week_stress(approval: float, review_days: float, ref_days: float) -> float:
    # a longer review acts like a lower approval rate: fewer licences reach buyers within the weeks they need them
    return min(1.0, max(0.0, 1.0 - approval * math.exp(-(review_days - ref_days) / REVIEW_SCALE_DAYS)))


def _wait_days(review_days: float, ref_days: float, overrun: float, returned: float) -> float:
    return (30 + 20 * overrun + 10 * returned) * review_days / ref_days


def licensing_levers(scenario: Any) -> LicensingLevers:
    """The licensing levers of `scenario`, averaged over the weeks of its run (see the module docstring)."""
    lic = scenario.licensing
    overrun = float(lic.overrun_probability)
    ref = float(_default(lic, "review_working_days_median") or lic.review_working_days_median)
    events = [ev for ev in (getattr(scenario, "policy", None) or []) if getattr(ev, "kind", None) == "licensing"]
    if not events:  # the licensing table as a regime in force all run (what the fakes read before events)
        a, review, ret = float(lic.approval_rate), float(lic.review_working_days_median), float(lic.return_probability)
        return LicensingLevers(_week_stress(a, review, ref), a, _wait_days(review, ref, overrun, ret), overrun)
    from reflow.policy import in_force

    start, weeks = scenario.scenario.start, int(scenario.scenario.weeks)
    stress, approvals, waits = 0.0, [], []
    for w in range(weeks):
        day = start + dt.timedelta(weeks=w)
        live = [ev for ev in events if in_force(ev, day)]
        if not live:
            continue
        ev = max(live, key=lambda e: e.effective)  # the one that took effect last wins, as in the model
        a = float(lic.approval_rate if ev.approval_rate is None else ev.approval_rate)
        review = float(lic.review_working_days_median if ev.review_working_days_median is None
                       else ev.review_working_days_median)
        ret = float(lic.return_probability if ev.return_probability is None else ev.return_probability)
        stress += _week_stress(a, review, ref)
        approvals.append(a)
        waits.append(_wait_days(review, ref, overrun, ret))
    if not approvals:
        return LicensingLevers(0.0, None, None, overrun)
    return LicensingLevers(stress / max(weeks, 1), float(np.mean(approvals)), float(np.mean(waits)), overrun)


def market_factors(scenario: Any) -> tuple[float, dict[str, float]]:
    """How the buyers' settings scale `analytic`'s shortage and each material's peak price premium (1 at the
    schema defaults; see the module docstring)."""
    man = getattr(scenario, "manufacturers", None)
    if man is None:
        return 1.0, {}

    def ratio(name: str, *keys: str) -> float:
        now, default = getattr(man, name), _default(man, name)
        for key in keys:
            now, default = (now or {}).get(key), (default or {}).get(key)
        return float(now) / float(default) if now is not None and default else 1.0

    def linear(r: float, slope: float) -> float:  # for settings whose range reaches 0, where a power would not do
        return max(0.1, 1.0 + slope * (r - 1.0))

    shortage = (ratio("cover_target_weeks", "magnet") ** -0.5 * ratio("cover_target_weeks", "automotive") ** -0.25
                * linear(ratio("diversify_disruption_weight"), -0.1)
                * linear(ratio("maker_relationship_share"), -0.2))
    bids = ratio("wtp_convexity") ** 0.5
    premium = {m: bids * ratio("wtp_cap_multiple", m) ** 0.5 for m in ("dy_oxide", "tb_oxide", "ndfeb_magnet")}
    premium["dy_oxide"] *= linear(ratio("bom", "defence", "dy_oxide"), 0.25)  # defence bids up ex-China Dy
    return shortage, premium


def analytic(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """A smooth response to the licensing and buyer levers plus seed noise; metrics named like the real summary."""
    _sleep()
    lev = licensing_levers(scenario)
    s, o = lev.stress, lev.overrun
    short_f, premium = market_factors(scenario)
    rng = np.random.default_rng(seed)
    dy_p, tb_p = premium.get("dy_oxide", 1.0), premium.get("tb_oxide", 1.0)
    # each term scaled on its own: with the default factors (1.0) the sums are those of the older formula
    peak = 1.0 + 3.0 * s * dy_p + 0.5 * o * dy_p + rng.normal(0.0, 0.1)
    lost = max(0.0, 0.05 * s * short_f + rng.normal(0, 0.002))
    # drawn after the older metrics' draws, so that adding them left those values as they were
    tb_peak = 1.0 + 2.0 * s * tb_p + 0.3 * o * tb_p + rng.normal(0.0, 0.1)
    shortage = min(1.0, max(0.0, (0.2 * s**2 + 0.02 * o) * short_f + rng.normal(0.0, 0.002)))
    metrics = {
        "dy_oxide.peak_price_multiple": peak,
        "dy_oxide.weeks_in_shortage": round(40 * min(1.0, s * short_f)),
        "dy_oxide.cumulative_shortage_share": round(shortage, 5),
        "dy_oxide.peak_price_date": "2025-09-01",
        "tb_oxide.peak_price_multiple": tb_peak,
        # magnets pass on part of the oxide's rise
        "ndfeb_magnet.peak_price_multiple": 1.0 + 0.4 * (peak - 1.0) * premium.get("ndfeb_magnet", 1.0),
        "overall.production_lost_share": lost,
        # the worst 4 weeks: never below the whole run's share
        "overall.peak_production_lost_share": min(1.0, lost * (1.0 + 3.0 * s)),
        "overall.approval_share": lev.approval if lev.approval else None,
        "overall.mean_licence_wait_days": lev.wait_days,
    }
    return metrics, _timeseries(seed, int(scenario.scenario.weeks), peak)


def noisy_linear(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """y = 10 a + noise(sd 1): a known mean per point, for confidence-interval coverage tests."""
    a, _, _ = _inputs(scenario)
    rng = np.random.default_rng(seed)
    return {"y": 10.0 * a + rng.normal(0.0, 1.0)}, None


def ishigami(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """The Ishigami function (a = 7, b = 0.1) with x_i = -pi + 2 pi u_i, u_i the three licensing inputs.

    Known indices: S1 = (0.314, 0.442, 0), ST = (0.558, 0.442, 0.244); deterministic (the seed is unused).
    """
    u = _inputs(scenario)
    x1, x2, x3 = (-math.pi + 2 * math.pi * v for v in u)
    y = math.sin(x1) + 7.0 * math.sin(x2) ** 2 + 0.1 * x3**4 * math.sin(x1)
    return {"y": y}, None


def interaction(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """y = 4 u1 + u2 + 2 u1 u2 (u3 inert): a clear Morris ranking u1 > u2 > u3 = 0, with sigma(u3) = 0."""
    u1, u2, _ = _inputs(scenario)
    return {"y": 4.0 * u1 + u2 + 2.0 * u1 * u2}, None


def failing(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """Like `analytic`, but raises for approval rates below 0.3."""
    a, _, _ = _inputs(scenario)
    if a < 0.3:
        raise RuntimeError(f"model blew up at approval_rate={a}")
    return analytic(scenario, seed)


def crash_always(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """Kills its own process (like a segfault or the OOM killer) for approval rates below 0.3."""
    a, _, _ = _inputs(scenario)
    if a < 0.3:
        os._exit(137)
    return analytic(scenario, seed)


def crash_once(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """Kills its process the first time it runs a seed with approval rate below 0.3; succeeds on the retry."""
    a, o, r = _inputs(scenario)
    folder = os.environ.get("REFLOW_FAKE_MARKERS")
    if a < 0.3 and folder:
        marker = Path(folder) / f"{seed}-{a}-{o}-{r}.marker"
        if not marker.exists():
            marker.touch()
            os._exit(137)
    return analytic(scenario, seed)


def hang(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """Never returns for approval rates below 0.3 (for timeout tests)."""
    a, _, _ = _inputs(scenario)
    if a < 0.3:
        while True:
            time.sleep(1)
    return analytic(scenario, seed)


def write_fake_sweep(folder: str | os.PathLike[str], sweep: str, weeks: int = 8) -> Path:
    """Write a minimal base scenario and a sweep file into `folder`; return the sweep file's path.

    Args:
        folder: where to write ``base.toml`` and ``sweep.toml``.
        sweep: the sweep TOML body without ``base`` (``[sweep]`` needs ``name``; ``base = "base.toml"`` is
            added).
        weeks: horizon of the base scenario.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.toml").write_text(
        f'[scenario]\nname = "fake_base"\nstart = 2024-01-01\nweeks = {int(weeks)}\n', encoding="utf-8")
    body = sweep.replace("[sweep]\n", '[sweep]\nbase = "base.toml"\n', 1)
    path = folder / "sweep.toml"
    path.write_text(body, encoding="utf-8")
    return path


class StopAfter(Executor):
    """An executor that runs tasks here and raises KeyboardInterrupt after `n` results, like Ctrl-C mid-sweep."""

    description = "test"

    def __init__(self, n: int) -> None:
        self.n = n

    def run(self, tasks: Any) -> Any:
        for i, batch in enumerate(InProcessExecutor(flush_s=0).run(tasks)):
            if i == self.n:
                raise KeyboardInterrupt
            yield batch
