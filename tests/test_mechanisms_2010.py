"""The mechanisms added for the 2010-11 episode: China's production cap, hoarding and destocking, the quota
licence (priced as its rent) and the quota bank's carry-over. Pure functions first, then their effect in the model."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from reflow.agents.china import ChinaDomesticIndustry, ProducerFleet
from reflow.agents.manufacturers import ManufacturerPopulation
from reflow.config import apply_overrides, load_config, validate
from reflow.domain import MAT, MATERIALS, REG
from reflow.licensing import quota_licence_ask
from reflow.model import ReflowModel
from reflow.validation import quota_in_force

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
NM, NDPR, DY = len(MATERIALS), MAT["ndpr_oxide"], MAT["dy_oxide"]


def _with(scenario, **sets):
    return validate(apply_overrides(scenario.model_dump(mode="json", exclude_none=True), sets))


@pytest.fixture(scope="module")
def quota() -> object:
    return load_config(CONFIGS / "quota_2010.toml")


# ----------------------------------------------------------------------------------------- pure functions


def test_production_cap_binds_output_even_when_prices_call_for_more(quota) -> None:
    fleet = ProducerFleet(quota.china, np.ones(NM) * 10.0)
    cap_tpy = np.full(NM, np.inf)
    cap_tpy[NDPR] = 0.5 * fleet.by_material(fleet.capacity).sum(axis=1)[NDPR] * 52.0
    share = fleet.cap_share(cap_tpy)
    fleet.produce(np.full(len(fleet), 20.0), share)  # prices 20x reference: unconstrained, all run flat out
    out = fleet.by_material(fleet.output).sum(axis=1) * 52.0
    assert out[NDPR] == pytest.approx(cap_tpy[NDPR])
    full = fleet.by_material(fleet.capacity).sum(axis=1) * 52.0
    assert out[DY] == pytest.approx(full[DY])  # no cap on Dy: capacity
    assert fleet.cap_share(np.full(NM, np.inf)) == 1.0


def test_cover_targets_rise_with_the_price_trend_and_stay_within_the_limit(quota) -> None:
    sc = _with(quota, **{"manufacturers.hoarding_response": 1.5, "manufacturers.hoarding_limit": 2.0})
    pop = ManufacturerPopulation(sc, np.random.default_rng(1))
    none = np.zeros((NM, len(REG)), bool)
    trends = [0.2, 0.8, 1.0, 1.3, 5.0]
    targets = [pop.target_stock(none, np.full((NM, len(REG)), t)) for t in trends]
    base = pop.target_stock(none)
    used = base > 0
    assert np.allclose(targets[2], base)
    for lo, hi in itertools.pairwise(targets):
        assert np.all(hi[used] >= lo[used]) and np.any(hi[used] > lo[used])
    assert np.allclose(targets[0][used], base[used] / 2.0) and np.allclose(targets[-1][used], base[used] * 2.0)
    off = ManufacturerPopulation(_with(quota, **{"manufacturers.hoarding_response": 0.0}), np.random.default_rng(1))
    assert np.allclose(off.target_stock(none, np.full((NM, len(REG)), 3.0)), off.target_stock(none))


def test_china_demand_shifts_with_its_price_trend_only_when_hoarding_is_on() -> None:
    trend = np.array([2.0, 0.5, 1.0, 9.0])
    assert ChinaDomesticIndustry.hoarding_factor(trend, 0.0, 2.0) is None
    assert ChinaDomesticIndustry.hoarding_factor(trend, 1.0, 2.0) == pytest.approx([2.0, 0.5, 1.0, 2.0])
    # A weaker response moves demand less, in the same direction.
    half = ChinaDomesticIndustry.hoarding_factor(trend, 0.5, 2.0)
    assert half == pytest.approx([2.0 ** 0.5, 0.5 ** 0.5, 1.0, 2.0])


def test_china_hoarding_is_its_own_parameter(quota) -> None:
    """China's traders hoarding on the domestic price trend (china.hoarding_response, with buyers abroad not
    hoarding) raises China's own Dy price in the 2011 squeeze."""
    def china_dy_peak(**sets: float) -> float:
        m = _run(_with(quota, **sets))
        return float(m.rec["price_cn"][:, MAT["dy_oxide"]].max())

    base = {"manufacturers.hoarding_response": 0.0, "china.hoarding_response": 0.0}
    off = china_dy_peak(**base)
    assert china_dy_peak(**{**base, "china.hoarding_response": 1.5}) > off


# ----------------------------------------------------------------------------------------- in the model


def _run(scenario, seed: int = 1) -> ReflowModel:
    m = ReflowModel(scenario, rng=seed)
    m.run()
    return m


def _weeks(m: ReflowModel, start: str, end: str) -> slice:
    import datetime as dt

    a = (dt.date.fromisoformat(start) - m.start).days // 7
    b = (dt.date.fromisoformat(end) - m.start).days // 7
    return slice(max(a, 0), b)


def test_china_output_stays_under_the_2011_production_cap(quota) -> None:
    m = _run(quota)
    ev = next(e for e in quota.policy if e.kind == "production_cap")
    span = _weeks(m, str(ev.effective), str(ev.lift))
    for mat, tpy in ev.tonnes_per_year.items():
        weekly = m.rec["production_cn"][span, MAT[mat]]
        assert np.all(weekly <= tpy / 52.0 * (1 + 1e-9)), mat


def test_official_exports_never_exceed_what_the_quotas_allow(quota) -> None:
    """Under the quotas, official exports over any stretch are at most the allowance accrued in it plus the bank
    carried into it (at most a quarter of the largest quota before)."""
    m = _run(quota)
    quotas = sorted((e for e in quota.policy if e.kind == "export_quota"), key=lambda e: e.effective)
    first = _weeks(m, str(quotas[0].effective), str(quotas[-1].lift))
    for mat in ("ndpr_oxide", "dy_oxide", "tb_oxide"):
        shipped = m.rec["exports_cn_total"][first, MAT[mat]].sum()
        allowed = sum(e.tonnes_per_year[mat] / 52.0 * (_weeks(m, str(e.effective), str(e.lift)).stop
                                                        - _weeks(m, str(e.effective), str(e.lift)).start)
                      for e in quotas)
        assert shipped <= allowed * (1 + 1e-9), mat
        # ... and Chinese material does reach buyers abroad: officially or, for Dy and Tb, which smugglers carry
        # untaxed at a small premium (ODD 7.12a), mostly through third countries.
        unofficial = m.rec["exports_cn_unofficial"][first, MAT[mat]].sum()
        assert shipped + unofficial > 0.3 * allowed, mat


def test_the_quota_licence_prices_official_exports_between_cost_and_the_expected_price() -> None:
    """The licence is worth a share of the rent (expected price - cost): nothing without scarcity or rent, more
    with either, and never enough to price official exports above what buyers abroad expect to pay."""
    cost = np.array([10.0, 10.0, 10.0, 30.0])
    expected = np.array([20.0, 20.0, 20.0, 20.0])
    scarcity = np.array([0.0, 0.5, 1.0, 1.0])
    ask = quota_licence_ask(cost, expected, 1.0, scarcity)
    assert ask == pytest.approx([10.0, 15.0, 20.0, 30.0])  # the last: cost above the price, the licence worthless
    assert np.all(np.diff(ask[:3]) > 0)  # monotone in scarcity
    half = quota_licence_ask(cost, expected, 0.5, scarcity)
    assert np.all(half[1:3] < ask[1:3]) and np.all(half >= cost)
    assert np.all(quota_licence_ask(cost, expected, 0.0, scarcity) == cost)
    assert np.all(ask <= np.maximum(cost, expected))


def test_the_quota_licence_leaves_exports_within_the_quota(quota) -> None:
    """Whatever share of the rent licence holders take, official exports stay within the quota and are used.
    2011's exports may add what was left of the allowance at the end of 2010 (licences issued stay valid, ODD
    7.8): at most a quarter of the second-half 2010 quota."""
    sc = _with(quota, **{"china.quota_rent_share": 1.0})
    m = _run(sc)
    span = _weeks(m, "2011-01-01", "2012-01-01")
    official = m.rec["exports_cn_total"][span, :3].sum()
    allowed = sum(v for k, v in quota_in_force(sc).items() if k in MAT and MAT[k] < 3)
    h2 = next(e for e in sc.policy if e.id == "quota_2010_h2").tonnes_per_year
    carried = sum(h2.get(k, 0.0) for k in MAT if MAT[k] < 3) / 4.0
    assert 0.3 * allowed < official <= (allowed + carried) * (1 + 1e-9)


def test_mechanisms_off_by_default_leave_the_2025_scenarios_alone() -> None:
    """The 2025 scenarios set none of the 2010 mechanisms: no production cap, no hoarding, no quota."""
    sc = load_config(CONFIGS / "controls_2025.toml")
    assert sc.manufacturers.hoarding_response == 0.0
    assert not any(e.kind in ("production_cap", "export_quota") for e in sc.policy)
