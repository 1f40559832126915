"""A price on the export-quota licence (`quota_licence_price` events, ODD 7.12b): the La/Ce market's stepped
supply, the policy timeline, and the effect in a run of the 2010-11 scenario (configs/quota_2010.toml)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from reflow.config import ConfigError, load_config, load_raw, validate
from reflow.domain import MAT, REG
from reflow.light_ree import LightInputs, LightParams, LightState, light_week
from reflow.model import ReflowModel
from reflow.policy import PolicyTimeline

Q2010 = Path(__file__).resolve().parents[1] / "configs" / "quota_2010.toml"
NDPR = MAT["ndpr_oxide"]

P = LightParams(demand_week=500.0, price_cn_ref=4.0, price_ex_ref=4.0 * 1.04 * 1.15, freight=0.04,
                china_price_link=0.5, elasticity=-0.2, restock_weeks=8.0, cover_weeks=12.0,
                ceiling=30 * 4.0 * 1.04 * 1.15, base_exports_week=450.0, hoarding_response=1.0)


def _without_licence_price(raw: dict) -> dict:
    """The scenario with any licence price of its own removed, so that each test sets the one it studies."""
    raw["policy"] = [e for e in raw["policy"] if e.get("kind") != "quota_licence_price"]
    return raw


def _event(share: float, effective: str = "2011-01-01", lift: str = "2012-07-01", **extra) -> dict:
    return {"id": "licence", "kind": "quota_licence_price", "effective": effective, "lift": lift,
            "share_of_ndpr_price": share, **extra}


@pytest.mark.parametrize("leak", [0.0, 0.3])
def test_a_dearer_licence_sells_less_officially_at_a_price_no_lower(leak: float) -> None:
    """A week in which the quota does not bind: official exports sell only at a price that covers parity plus the
    licence price; a dearer licence leaves less sold officially and a price abroad no lower; with no licence
    price the quota's allowance sells at parity."""
    s = LightState(stock=0.9 * P.cover_weeks * P.demand_week, alt_stock=0.0, premium=0.5, bank=math.inf)
    x = LightInputs(ndpr_cn_ratio=2.0, export_tax=0.15, alt_output=50.0, quota_tpy=30_000.0, embargoed_share=0.0,
                    leak_max_share=leak, leak_premium_scale=1.0, enforcement=0.0, leak_cost_per_kg=1.0)
    margins = (0.0, 1.0, 3.0, 10.0, 30.0, 1e6)
    weeks = [light_week(s, P, **{**x.__dict__, "official_margin": g})[1] for g in margins]
    assert weeks[0].official > 0.0 and weeks[0].price_ex == pytest.approx(weeks[0].parity)
    for g, w in zip(margins, weeks, strict=True):
        if w.official > 1e-9:
            assert w.price_ex >= w.parity + g - 1e-9
        assert math.isclose(w.bought, w.alt_sold + w.unofficial + w.official, rel_tol=1e-12)
    assert all(b.official <= a.official + 1e-9 for a, b in itertools.pairwise(weeks))
    assert all(b.price_ex >= a.price_ex - 1e-9 for a, b in itertools.pairwise(weeks))
    assert weeks[-1].official == 0.0 and weeks[-1].price_ex > weeks[0].price_ex
    if leak > 0:  # priced out of the official channel, buyers turn to the smugglers
        assert weeks[-1].unofficial > weeks[0].unofficial


def test_the_licence_price_is_in_force_between_its_dates() -> None:
    raw = _without_licence_price(load_raw(Q2010))
    raw["policy"].append(_event(0.5))
    tl = PolicyTimeline(validate(raw).policy)
    assert tl.state(dt.date(2010, 12, 27)).licence_price_share == 0.0
    assert tl.state(dt.date(2011, 6, 6)).licence_price_share == 0.5
    assert tl.state(dt.date(2012, 7, 2)).licence_price_share == 0.0


def test_a_phased_out_licence_price_falls_linearly_to_zero_by_its_lift() -> None:
    raw = _without_licence_price(load_raw(Q2010))
    raw["policy"].append(_event(0.5, lift="2012-10-01", phase_out_weeks=26))
    tl = PolicyTimeline(validate(raw).policy)
    lift = dt.date(2012, 10, 1)
    weeks = [lift - dt.timedelta(weeks=k) for k in range(40, -2, -1)]  # Monday by Monday, 40 weeks before to after
    share = np.array([tl.state(d).licence_price_share for d in weeks])
    assert share[0] == 0.5  # in full before the phase-out
    assert np.all(np.diff(share) <= 0.0)
    steps = -np.diff(share[14:41])  # the 26 weeks of the phase-out: equal steps of 0.5 / 26
    assert np.allclose(steps, 0.5 / 26, rtol=1e-9)
    assert share[-2] == 0.0 and share[-1] == 0.0  # at and after the lift
    # Half-way through, half the price; the same dates without a phase-out keep the full price to the lift.
    assert tl.state(lift - dt.timedelta(weeks=13)).licence_price_share == pytest.approx(0.25)
    raw["policy"][-1].pop("phase_out_weeks")
    plain = PolicyTimeline(validate(raw).policy)
    assert plain.state(lift - dt.timedelta(days=1)).licence_price_share == 0.5


@pytest.mark.parametrize(("extra", "match"), [
    ({"lift": None, "phase_out_weeks": 26}, "needs a 'lift' date"),
    ({"lift": "2011-03-01", "phase_out_weeks": 26}, "starts before effective"),
    ({"phase_out_weeks": -1}, "phase_out_weeks"),
])
def test_a_phase_out_that_cannot_happen_is_a_clear_error(extra: dict, match: str) -> None:
    raw = _without_licence_price(load_raw(Q2010))
    ev = _event(0.5, **{k: v for k, v in extra.items() if k != "lift"})
    if "lift" in extra:
        if extra["lift"] is None:
            ev.pop("lift")
        else:
            ev["lift"] = extra["lift"]
    raw["policy"].append(ev)
    with pytest.raises(ConfigError, match=match):
        validate(raw)


@pytest.mark.parametrize("share", [0.0, -0.5, 6.0])
def test_a_licence_price_share_out_of_range_is_a_clear_error(share: float) -> None:
    raw = _without_licence_price(load_raw(Q2010))
    raw["policy"].append(_event(share))
    with pytest.raises(ConfigError, match="share_of_ndpr_price"):
        validate(raw)


def _run(share: float, **extra) -> ReflowModel:
    raw = _without_licence_price(load_raw(Q2010))
    raw["scenario"]["weeks"] = 210  # to the end of 2012
    if share > 0:
        raw["policy"].append(_event(share, **extra))
    m = ReflowModel(validate(raw), rng=3)
    while m.running:
        m.step()
    return m


@pytest.fixture(scope="module")
def runs() -> list[ReflowModel]:
    return [_run(share) for share in (0.0, 0.25, 0.5)]


def test_a_dearer_licence_widens_the_spread_and_moves_exports_to_the_smugglers(runs) -> None:
    """Monotone responses over the licence price in 2011 (the licence in force): official NdPr exports fall,
    unofficial ones rise, and the ex-China NdPr price stands further above China's."""
    start = load_config(Q2010).scenario.start
    y2011 = slice((dt.date(2011, 1, 3) - start).days // 7, (dt.date(2012, 1, 2) - start).days // 7)
    official = [np.asarray(m.rec.data["exports_cn"])[y2011, NDPR].sum() for m in runs]
    unofficial = [np.asarray(m.rec.data["exports_cn_unofficial"])[y2011, NDPR].sum() for m in runs]
    spread = []
    for m in runs:
        ex = np.asarray(m.rec.data["price_ex_vwap"])[y2011, NDPR, REG["JPKR"]]
        cn = np.asarray(m.rec.data["price_cn"])[y2011, NDPR]
        spread.append(float(np.nanmedian(ex / cn)))
    assert all(b < a for a, b in itertools.pairwise(official))
    assert all(b > a for a, b in itertools.pairwise(unofficial))
    assert all(b > a for a, b in itertools.pairwise(spread))
    for m in runs:
        assert np.all(np.asarray(m.rec.data["stock_total"]) >= -1e-9)
        assert np.all(np.asarray(m.rec.data["price_cn"]) > 0)


def test_the_la_ce_market_sees_the_licence_price_only_while_it_and_a_la_ce_quota_are_in_force(runs) -> None:
    priced = runs[-1]
    start = load_config(Q2010).scenario.start
    dates = [start + dt.timedelta(weeks=w) for w in range(len(priced.light_inputs))]
    window = np.array([dt.date(2011, 1, 1) <= d < dt.date(2012, 7, 1) for d in dates])
    margins = np.array([x.official_margin for x in priced.light_inputs])
    quota = np.isfinite([x.quota_tpy for x in priced.light_inputs])
    assert np.all(margins[window & quota] > 0.0)
    assert np.all(margins[~(window & quota)] == 0.0)
    assert all(x.official_margin == 0.0 for x in runs[0].light_inputs)


def test_phasing_the_licence_price_out_spreads_the_banked_allowance_over_months(runs) -> None:
    """A licence price that ends on one date releases at once the NdPr allowance it kept unsold (a week of several
    times the usual exports after 1 July 2012); phased out over the half-year around that date, the largest week
    of official NdPr exports from April to December 2012 is smaller, and the year's total much the same."""
    step = runs[-1]  # 0.5 to 1 July 2012
    faded = _run(0.5, lift="2012-10-01", phase_out_weeks=26)  # 0.5 to April, 0 by October: half on 1 July
    start = load_config(Q2010).scenario.start
    w2012 = (dt.date(2012, 1, 2) - start).days // 7

    def exports(m: ReflowModel) -> np.ndarray:
        return np.asarray(m.rec.data["exports_cn"])[w2012:w2012 + 52, NDPR].sum(axis=1)

    apr_dec = slice(13, 52)
    assert exports(faded)[apr_dec].max() < 0.7 * exports(step)[apr_dec].max()
    assert exports(faded).sum() == pytest.approx(exports(step).sum(), rel=0.15)
