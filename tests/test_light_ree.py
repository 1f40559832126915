"""The La/Ce oxide market (reflow.light_ree, ODD 7.18): material balance, the quota, prices, and the model link."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from reflow.config import load_config
from reflow.errors import ConfigError
from reflow.light_ree import LightInputs, LightParams, LightState, clearing_price, light_week, replay

P = LightParams(demand_week=500.0, price_cn_ref=4.0, price_ex_ref=4.0 * 1.04 * 1.15, freight=0.04,
                china_price_link=0.5, elasticity=-0.2, restock_weeks=8.0, cover_weeks=12.0,
                ceiling=30 * 4.0 * 1.04 * 1.15, base_exports_week=450.0, hoarding_response=1.0)


def _start(p: LightParams = P) -> LightState:
    return LightState(stock=p.cover_weeks * p.demand_week, alt_stock=0.0, premium=0.0, bank=math.inf)


def _inputs(weeks: int, quota: float, embargo_at: int = -1) -> list[LightInputs]:
    rng = np.random.default_rng(0)
    return [LightInputs(ndpr_cn_ratio=float(rng.uniform(0.8, 3.0)), export_tax=0.15,
                        alt_output=float(rng.uniform(0.0, 150.0)), quota_tpy=quota if w >= 10 else math.inf,
                        embargoed_share=0.5 if embargo_at <= w < embargo_at + 8 else 0.0, leak_max_share=0.5,
                        leak_premium_scale=1.0, enforcement=0.0) for w in range(weeks)]


@pytest.mark.parametrize("quota", [math.inf, 26_000.0, 12_000.0, 3_000.0])
def test_material_balance_and_signs(quota: float) -> None:
    """The buyers' stock changes by what they bought less what they used; the mines' unsold stock by output less
    sales; nothing and no price goes negative."""
    ins = _inputs(200, quota, embargo_at=40)
    s = _start()
    stock0 = s.stock
    bought = used = alt_in = alt_sold = 0.0
    for x in ins:
        s, w = light_week(s, P, **x.__dict__)
        bought += w.bought
        used += w.use - w.shortage
        alt_in += x.alt_output
        alt_sold += w.alt_sold
        assert min(s.stock, s.alt_stock, w.official, w.unofficial, w.alt_sold, w.shortage) >= -1e-9
        assert w.price_ex >= w.parity - 1e-12 > 0 and w.price_cn > 0 and w.rent >= -1e-12
        assert math.isclose(w.bought, w.alt_sold + w.unofficial + w.official, rel_tol=1e-12)
    assert s.stock == pytest.approx(stock0 + bought - used, rel=1e-9)
    assert s.alt_stock == pytest.approx(alt_in - alt_sold, rel=1e-9, abs=1e-6)


def test_official_exports_stay_within_the_quota() -> None:
    """A year's official exports never exceed the year's quota plus the quarter's worth that may be banked."""
    quota = 8_000.0
    ins = [replace(x, alt_output=0.0) for x in _inputs(10 + 104, quota)]
    s, off = _start(), []
    for x in ins:
        s, w = light_week(s, P, **x.__dict__)
        off.append(w.official)
    assert sum(off[10:62]) <= quota * (1 + 0.25) + 1e-6
    assert sum(off[62:114]) <= quota * (1 + 0.25) + 1e-6


def test_no_quota_no_rent() -> None:
    """Without a quota or embargo the price is China's export parity: no licence rent, no smuggling."""
    s = _start()
    for x in _inputs(100, math.inf):
        s, w = light_week(s, P, **x.__dict__)
        assert w.rent == 0.0 and w.unofficial == 0.0 and w.shortage == 0.0


def test_a_full_embargo_without_a_quota_stops_official_exports() -> None:
    """Every destination embargoed: no official exports, the price rises, stock never goes negative."""
    s = _start()
    ins = [replace(x, quota_tpy=math.inf, embargoed_share=1.0, alt_output=0.0) for x in _inputs(30, math.inf)]
    prices = []
    for x in ins:
        s, w = light_week(s, P, **x.__dict__)
        assert w.official == 0.0 and math.isfinite(w.price_ex) and s.stock >= 0.0
        prices.append(w.price_ex / w.parity)
    assert max(prices) > 2.0


def test_tighter_quota_raises_the_spread() -> None:
    """Monotone response: a smaller quota gives a higher peak ex-China price over China's, and less official
    exports (common inputs)."""
    peaks, exports = [], []
    for quota in (30_000.0, 18_000.0, 12_000.0, 6_000.0):
        weeks = replay(_start(), P, _inputs(150, quota))
        peaks.append(max(w.price_ex / w.price_cn for w in weeks))
        exports.append(sum(w.official for w in weeks))
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(peaks))
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(exports))
    assert peaks[0] < 1.3 < 3.0 < peaks[-1]  # an unbinding quota leaves duty and freight; a tight one, a large rent


def test_smugglers_sell_only_at_a_price_that_covers_their_costs() -> None:
    """A week short of supply with a large premium: the smugglers' ask sets the floor of what they sell at, a
    dearer ask leaves less smuggled and a price no lower, and an ask above what buyers pay leaves the market as
    it is without a channel."""
    s = replace(_start(), premium=3.0, bank=0.0, stock=0.8 * _start().stock)
    x = LightInputs(ndpr_cn_ratio=1.0, export_tax=0.15, alt_output=0.0, quota_tpy=15_000.0, embargoed_share=0.0,
                    leak_max_share=0.5, leak_premium_scale=1.0, enforcement=0.0)
    untaxed = P.price_cn_ref * (1 + P.freight)
    costs = (0.0, 2.0, 5.0, 10.0, 20.0, 40.0, 1e6)
    weeks = [light_week(s, P, **{**x.__dict__, "leak_cost_share": 0.1, "leak_cost_per_kg": c})[1] for c in costs]
    assert weeks[0].unofficial > 0.0
    for c, w in zip(costs, weeks, strict=True):
        if w.unofficial > 1e-9:
            assert w.price_ex >= untaxed * 1.1 + c - 1e-9
    assert all(b.unofficial <= a.unofficial + 1e-9 for a, b in itertools.pairwise(weeks))
    assert all(b.price_ex >= a.price_ex - 1e-9 for a, b in itertools.pairwise(weeks))
    shut = light_week(s, P, **{**x.__dict__, "leak_max_share": 0.0})[1]
    assert weeks[-1].unofficial == 0.0 and weeks[-1].price_ex == pytest.approx(shut.price_ex)
    assert weeks[-1].price_ex > weeks[0].price_ex


def test_clearing_price_clears() -> None:
    """At the clearing price the buyers order exactly the supply offered."""
    stock = 3_000.0
    for supply in (50.0, 200.0, 400.0):
        p = clearing_price(supply, stock, P, P.cover_weeks)
        use = P.demand_week * (p / P.price_ex_ref) ** P.elasticity
        order = use + (P.cover_weeks * use - stock) / P.restock_weeks
        assert order == pytest.approx(supply, rel=1e-9)
    assert clearing_price(50.0, stock, P, P.cover_weeks) > clearing_price(400.0, stock, P, P.cover_weeks)


def test_model_replay_matches_the_run() -> None:
    """The La/Ce market replayed from a run's recorded inputs reproduces the run's series (the calibration's
    shortcut relies on it), and the quota_2010 run records La/Ce prices with a licence rent after the cut."""
    from reflow.model import ReflowModel

    sc = load_config("configs/quota_2010.toml")
    m = ReflowModel(sc, rng=2)
    m.run()
    params, s0 = m.light_first
    weeks = replay(s0, params, m.light_inputs)
    np.testing.assert_array_equal([w.price_ex for w in weeks], m.rec["light_price_ex"])
    np.testing.assert_array_equal([w.official for w in weeks], m.rec["light_exports_cn"])
    rent = m.rec["light_quota_rent"]
    week = {d: (dt.date.fromisoformat(d) - sc.scenario.start).days // 7 for d in ("2010-07-12", "2015-01-05")}
    assert rent[: week["2010-07-12"]].max() == 0.0  # the H1 2010 quota does not bind: no licence rent
    assert rent[week["2015-01-05"] + 1:].max() == 0.0  # quotas abolished: none again
    assert rent.max() > 0.0
    assert np.all(m.rec["light_exports_cn"] >= 0) and np.all(m.rec["light_cover_weeks"] > 0)


def test_scenarios_without_the_table_record_no_la_ce() -> None:
    import reflow

    res = reflow.run("configs/baseline.toml", seed=1, out=None, overrides=["scenario.weeks=8"])
    assert not res.timeseries["variable"].astype(str).str.startswith("light_").any()
    assert "light_ree" not in res.summary


def test_the_summary_reports_the_la_ce_market() -> None:
    """The run summary's La/Ce block agrees with the recorded series: the peak comes after the July 2010 cut, with
    a premium over China's price and a licence rent."""
    import reflow
    from reflow.validation import light_series

    res = reflow.run("configs/quota_2010.toml", seed=1, out=None)
    lr = res.summary["light_ree"]
    ex = light_series(res.timeseries, "light_price_ex")
    assert lr["peak_price_date"] >= "2010-07-12"
    assert lr["spread_at_peak"] > 1.5 and lr["max_quota_rent_usd_per_kg"] > 0
    assert lr["max_quota_rent_usd_per_kg"] == pytest.approx(light_series(res.timeseries, "light_quota_rent").max(),
                                                            rel=1e-3)
    assert lr["peak_price_multiple"] == pytest.approx(ex.max() / ex.iloc[:13].mean(), rel=1e-3)
    flat = reflow.api.flatten_summary(res.summary)  # what sweeps store per run
    assert flat["light_ree.spread_at_peak"] == lr["spread_at_peak"]


def test_a_la_ce_quota_without_the_table_is_a_clear_error(tmp_path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[scenario]\nname = "x"\nstart = 2010-01-04\nweeks = 10\n\n[[policy]]\nid = "q"\n'
                   'kind = "export_quota"\neffective = 2010-01-04\ntonnes_per_year = { ndpr_oxide = 100 }\n'
                   'light_ree_tpy = 1000\n')
    with pytest.raises(ConfigError, match=r"light_ree"):
        load_config(cfg)


def test_an_embargo_alone_opens_the_channel_only_for_the_embargoed_share() -> None:
    """Without a quota, only the embargoed destinations' official supply is blocked, so the smugglers reach only
    their share of the trade (as in the oxide markets, 7.12a); under a quota every destination is restricted."""
    s = replace(_start(), premium=1.0)
    x = LightInputs(ndpr_cn_ratio=1.0, export_tax=0.15, alt_output=0.0, quota_tpy=math.inf, embargoed_share=0.0,
                    leak_max_share=0.5, leak_premium_scale=1.0, enforcement=0.0)
    shares = (0.0, 0.05, 0.2, 0.5, 1.0)
    leaked = [light_week(s, P, **{**x.__dict__, "embargoed_share": e})[1].unofficial for e in shares]
    assert leaked[0] == 0.0
    assert all(b > a for a, b in itertools.pairwise(leaked))
    assert leaked[1] == pytest.approx(0.05 * leaked[-1], rel=1e-9)  # the cap scales with the embargoed share
    quota = light_week(s, P, **{**x.__dict__, "quota_tpy": 30_000.0, "embargoed_share": 0.05})[1]
    assert quota.unofficial == pytest.approx(leaked[-1], rel=1e-9)
