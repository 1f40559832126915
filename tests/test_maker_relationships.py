"""Supply relationships between a region's magnet makers and its magnet users (ODD 7.13b): while magnets to a
region are under export control, its users buy a share of their magnet gap from their makers first, so purchases
the control does not reach or that licences serve do not bypass the makers (2025 episode: Japan's makers)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reflow.config import validate
from reflow.domain import MAT, REG
from reflow.model import ReflowModel

MAGNET = MAT["ndfeb_magnet"]
JPKR = REG["JPKR"]
CONTROLS_2025 = Path(__file__).resolve().parents[1] / "configs" / "controls_2025.toml"


def _controlled_world(share: float | None = None, materials: tuple[str, ...] = ("dy_oxide", "tb_oxide",
                                                                               "ndfeb_magnet"),
                      destinations: list[str] | None = None, maker_cover: float | None = None) -> dict:
    """Licensing from April 2025 with the 2025 scope: in-scope purchases need a licence, the rest go direct."""
    ev = {"id": "lic", "kind": "licensing", "effective": dt.date(2025, 4, 7), "materials": list(materials),
          "approval_rate": 0.5, "review_working_days_median": 30.0,
          "coverage_by_sector": {"automotive": 0.8, "wind": 0.9, "electronics": 0.3}}
    if destinations is not None:
        ev["destinations"] = destinations
    mc: dict = {"per_region_sector": 3}
    if share is not None:
        mc["maker_relationship_share"] = share
    if maker_cover is not None:
        mc["cover_target_weeks"] = {"magnet": maker_cover}
    return {"scenario": {"name": "rel", "start": dt.date(2025, 1, 6), "weeks": 80}, "manufacturers": mc,
            "policy": [ev]}


def _run(raw: dict, seed: int = 2) -> tuple[ReflowModel, np.ndarray]:
    """The model after its run, and the weekly output of each region's magnet makers (weeks, regions)."""
    m = ReflowModel(validate(raw), rng=seed)
    pop, out = m.pop, []
    while m.running:
        m.step()
        out.append(np.bincount(pop.region, weights=np.where(pop.is_magnet_maker, pop.output, 0.0), minlength=len(REG)))
    return m, np.array(out)


@pytest.mark.parametrize(("maker_cover", "off_at_most"), [(None, None), (10.0, 0.85)])
def test_makers_keep_making_their_plan_for_their_region_under_a_magnet_control(maker_cover: float | None,
                                                                               off_at_most: float | None) -> None:
    """With relationships Japan/Korea's makers keep (nearly) their plan and sell it at home, and their users import
    less from China. Without them, makers holding 10 weeks of oxide (the default until 2026-11-30) lose a good part
    of their output in this 80-week world (12-31% on seeds 2-6); with the default stocks (24 weeks) the loss here is
    small (3-9% on seeds 2-4), so that case is checked on controls_2025 below."""
    m, out = _run(_controlled_world(maker_cover=maker_cover))
    m_off, off = _run(_controlled_world(share=0.0, maker_cover=maker_cover))
    pop = m.pop
    plan = pop.plan[pop.is_magnet_maker & (pop.region == JPKR)].sum()
    w0 = m._week_of(dt.date(2025, 4, 7))
    after = slice(w0 + 8, None)
    assert out[after, JPKR].mean() > 0.9 * plan
    assert off[after, JPKR].mean() <= out[after, JPKR].mean()
    if off_at_most is not None:
        # How much the makers lose depends on the seed (which licences are refused, which projects fail): 12-31%
        # on seeds 2-6 (10-18% on seeds 3-4 before the projects' own streams, b0a681b), so a bound on seed 2 alone
        # leaned on its luck. The bound is on the loss pooled over seeds 2-4 (20% with this code).
        kept, made = off[after, JPKR].sum(), out[after, JPKR].sum()
        for seed in (3, 4):
            kept += _run(_controlled_world(share=0.0, maker_cover=maker_cover), seed)[1][after, JPKR].sum()
            made += _run(_controlled_world(maker_cover=maker_cover), seed)[1][after, JPKR].sum()
        assert kept < off_at_most * made
    # What they make goes to their own region's users: the flow JPKR -> JPKR carries most of it (0.69-0.90 on seeds
    # 2-6), where without relationships users abroad, bidding at the spot market, take most (0.19-0.31).
    home = m.rec["flow"][after, MAGNET, JPKR, JPKR].sum() / out[after, JPKR].sum()
    home_off = m_off.rec["flow"][after, MAGNET, JPKR, JPKR].sum() / off[after, JPKR].sum()
    assert home > 0.6
    assert home > 2.0 * home_off
    # Users buying at home import less from China.
    assert m.rec["exports_cn"][after, MAGNET, JPKR].sum() < 0.9 * m_off.rec["exports_cn"][after, MAGNET, JPKR].sum()


def test_without_relationships_japans_makers_sell_little_at_home_in_2026_in_controls_2025() -> None:
    """At the default stocks, in the bundled 2025 scenario: once general licences let users buy from China again,
    makers with relationships still make (nearly) their plan and sell most of it at home; without them their home
    users go back to China and the makers' 2026 home sales fall to a fraction (0.13-0.28 on seeds 1-3; what they
    still make goes to users abroad)."""
    from reflow.config import load_config

    made, home = [], []
    for sets in ([], ["manufacturers.maker_relationship_share=0"]):
        m = ReflowModel(load_config(CONTROLS_2025, sets), rng=1)
        pop = m.pop
        makers = pop.is_magnet_maker & (pop.region == JPKR)
        w0, w1 = m._week_of(dt.date(2026, 1, 5)), m._week_of(dt.date(2027, 1, 4))
        total = 0.0
        while m.running:
            week = m.week
            m.step()
            if w0 <= week < w1:
                total += float(pop.output[makers].sum())
        made.append(total)
        home.append(float(m.rec["flow"][w0:w1, MAGNET, JPKR, JPKR].sum()))
    assert made[0] > 0.9 * 52 * float(m.pop.plan[makers].sum())
    assert home[0] > 0.7 * made[0]
    assert home[1] < 0.4 * home[0]
    assert made[1] <= made[0]


def test_relationships_change_nothing_without_a_control_on_magnets() -> None:
    """Without a control on magnets the spot market stands for relationships: the share has no effect at all
    (which keeps scenarios without magnet controls, such as the 2010 quota crisis, as they were)."""
    for materials in (("dy_oxide",), ("dy_oxide", "tb_oxide")):
        raw_on = _controlled_world(materials=materials)
        raw_off = _controlled_world(share=0.0, materials=materials)
        start = validate(raw_on).scenario.start
        a = ReflowModel(validate(raw_on), rng=5)
        b = ReflowModel(validate(raw_off), rng=5)
        pd.testing.assert_frame_equal(a.run().to_frame(start), b.run().to_frame(start))


def _one_week_of_home_buying(goods_scale: float, destinations: list[str] | None = None
                             ) -> tuple[ReflowModel, dict[str, np.ndarray]]:
    """A model in a controlled week, the makers' goods scaled, and what one `_buy_from_home_makers` moved."""
    raw = _controlled_world(destinations=destinations)
    raw["policy"][0]["effective"] = dt.date(2025, 1, 6)
    m = ReflowModel(validate(raw), rng=4)
    pol = m.timeline.state(m.date_of(0))
    m._new_week_ledgers()
    pop = m.pop
    pop.goods *= goods_scale
    target = pop.target_stock(pol.announced) * 1.5  # every user wants more magnets than it holds
    before = {"stock": pop.stock[:, MAGNET].copy(), "goods": pop.goods.copy(), "total": m.stock_by_material()}
    m._buy_from_home_makers(pol, target)
    return m, {"target": target, **before}


def test_home_purchases_move_magnets_from_makers_to_their_regions_users_and_conserve_them() -> None:
    for scale in (20.0, 0.05):  # makers with more goods than their users order, and with far too few
        m, b = _one_week_of_home_buying(scale)
        pop = m.pop
        got = pop.stock[:, MAGNET] - b["stock"]
        sold = b["goods"] - pop.goods
        np.testing.assert_allclose(m.stock_by_material(), b["total"], rtol=1e-12)
        assert (got >= -1e-12).all() and (sold >= -1e-12).all() and (pop.goods >= -1e-9).all()
        assert (got[pop.is_magnet_maker] == 0).all() and (sold[~pop.is_magnet_maker] == 0).all()
        for r in np.unique(pop.region[pop.is_magnet_maker]):
            users = (pop.region == r) & ~pop.is_magnet_maker
            np.testing.assert_allclose(got[users].sum(), sold[pop.is_magnet_maker & (pop.region == r)].sum())
            order = m._home_share[r] * np.maximum(0.0, b["target"][users, MAGNET] - b["stock"][users])
            assert (got[users] <= order + 1e-9).all()
            if scale < 1:
                # Too few magnets: the makers sell all they hold, and every user gets the same share of its order.
                np.testing.assert_allclose(sold[pop.is_magnet_maker & (pop.region == r)],
                                           b["goods"][pop.is_magnet_maker & (pop.region == r)])
                ratio = got[users] / np.maximum(order, 1e-12)
                np.testing.assert_allclose(ratio[order > 0], ratio[order > 0][0])
            else:
                np.testing.assert_allclose(got[users], order, rtol=1e-9)
        # Users pay at least what the magnets cost their makers to make, and the sale is the makers' sales.
        mk = pop.is_magnet_maker
        np.testing.assert_allclose(m._mk_sold[mk], sold[mk])
        jp = m._vol[MAGNET, JPKR]
        cost = pop.magnet_unit_cost(m.config.manufacturers.magnet_conversion_cost, m._magnet_bom)
        assert jp > 0 and m._val[MAGNET, JPKR] / jp >= cost[m._mk_reg == JPKR].min() - 1e-9


def test_only_the_controlled_regions_users_buy_from_their_makers() -> None:
    m, b = _one_week_of_home_buying(1.0, destinations=["US"])
    pop = m.pop
    got = pop.stock[:, MAGNET] - b["stock"]
    assert got[pop.region == REG["US"]].sum() > 0
    assert (got[pop.region != REG["US"]] == 0).all()
    assert (pop.goods[pop.region != REG["US"]] == b["goods"][pop.region != REG["US"]]).all()


def _uncontrolled_world(when: str | None = None) -> dict:
    """No control at all; a 50% export duty on the oxides (none on magnets) makes Chinese magnets cheaper than
    magnets made abroad from taxed oxide, as the 2010-15 duties did."""
    mc: dict = {"per_region_sector": 3}
    if when is not None:
        mc["maker_relationships_when"] = when
    tax = {"id": "duty", "kind": "export_tax", "effective": dt.date(2025, 1, 6),
           "rate": {"ndpr_oxide": 0.5, "dy_oxide": 0.5, "tb_oxide": 0.5, "ndfeb_magnet": 0.0}}
    return {"scenario": {"name": "rel", "start": dt.date(2025, 1, 6), "weeks": 60}, "manufacturers": mc,
            "policy": [tax]}


def test_relationships_always_keep_the_home_market_without_a_control() -> None:
    """`maker_relationships_when = "always"` (quota_2010: qualification and patent licences, 2010-14): with no
    control, an oxide export duty makes Chinese magnets cheaper than magnets made abroad; with relationships only
    under a control users abroad buy Chinese magnets and Japan's makers sell less at home, with them always on they
    keep selling at home. The default ("control") is the model without them when nothing is controlled."""
    m_ctl, out_ctl = _run(_uncontrolled_world())
    m_alw, out_alw = _run(_uncontrolled_world("always"))
    later = slice(20, None)
    home_ctl = m_ctl.rec["flow"][later, MAGNET, JPKR, JPKR].sum()
    home_alw = m_alw.rec["flow"][later, MAGNET, JPKR, JPKR].sum()
    assert home_alw > 1.2 * home_ctl
    assert out_alw[later, JPKR].sum() >= out_ctl[later, JPKR].sum()
    assert (m_alw.rec["exports_cn"][later, MAGNET, JPKR].sum()
            < m_ctl.rec["exports_cn"][later, MAGNET, JPKR].sum())
    # "control" with no control in force is the model as it was: the same run as no relationships at all.
    _, out_none = _run({**_uncontrolled_world(), "manufacturers": {"per_region_sector": 3,
                                                                   "maker_relationship_share": 0.0}})
    assert np.array_equal(out_ctl, out_none)
