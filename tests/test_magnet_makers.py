"""Non-Chinese magnet makers behave like firms: output follows sales, and costs are what they paid for oxide."""

from __future__ import annotations

import numpy as np
import pytest

from reflow.agents.manufacturers import ManufacturerPopulation, average_cost, output_rate
from reflow.config import validate
from reflow.domain import MAT, MATERIALS
from reflow.model import ReflowModel

OXIDE_IDX = [MAT[m] for m in MATERIALS if m != "ndfeb_magnet"]


# ----------------------------------------------------------------------------------------------- pure functions


def test_output_rate_keeps_plan_below_the_goods_ceiling_and_cuts_above_it() -> None:
    plan = np.array([10.0, 10.0, 10.0, 10.0, 0.0])
    sales = np.array([10.0, 0.0, 0.0, 5.0, 0.0])
    goods = np.array([20.0, 40.0, 80.0, 40.0, 0.0])
    rate = output_rate(plan, sales, goods, cover_weeks=4.0, adjust_weeks=8.0)
    # Selling its plan with 2 weeks of goods: full plan (capped at 1).
    assert rate[0] == 1.0
    # No sales, goods at the ceiling: nothing more is made.
    assert rate[1] == 0.0
    # No sales, goods above the ceiling: never negative.
    assert rate[2] == 0.0
    # Half its plan sold, goods at the ceiling: makes what it sells.
    assert rate[3] == pytest.approx(0.5)
    assert rate[4] == 0.0


def test_average_cost_weights_what_was_held_and_what_was_bought() -> None:
    cost = np.array([100.0, 100.0, 100.0])
    stock = np.array([30.0, 10.0, 0.0])  # after the purchases
    bought = np.array([10.0, 0.0, 0.0])
    paid = np.array([10.0 * 500.0, 0.0, 0.0])
    new = average_cost(cost, stock, bought, paid)
    assert new[0] == pytest.approx((20 * 100 + 10 * 500) / 30)
    assert new[1] == 100.0  # nothing bought: unchanged (using or selling stock keeps the average)
    assert new[2] == 100.0
    # Buying into an empty stock: the cost is what was paid.
    assert average_cost(np.array([100.0]), np.array([5.0]), np.array([5.0]), np.array([5.0 * 70.0]))[0] == 70.0


def _population(**mc) -> ManufacturerPopulation:
    sc = validate({"scenario": {"name": "unit", "start": "2025-01-06", "weeks": 10}, "manufacturers": mc})
    return ManufacturerPopulation(sc, np.random.default_rng(0))


def test_cost_follows_the_price_paid_not_the_market_and_is_written_down_when_the_market_falls() -> None:
    pop = _population()
    mk = pop.mk
    assert len(mk) and (pop.mk_pos[mk] == np.arange(len(mk))).all()
    dy = MAT["dy_oxide"]
    start = pop.cost[:, dy].copy()
    bought = np.zeros_like(pop.cost)
    paid = np.zeros_like(pop.cost)
    # Each maker buys as much Dy as it holds at 5x its cost, while the market expects 10x: the average moves
    # half way, whatever the market says.
    bought[:, dy] = pop.stock[mk, dy]
    paid[:, dy] = bought[:, dy] * 5.0 * start
    pop.stock[mk] += bought
    market = np.tile(10.0 * pop.cost.max(axis=0), (len(mk), 1))
    pop.book_purchases(bought, paid, market)
    np.testing.assert_allclose(pop.cost[:, dy], 3.0 * start)
    # The magnets' unit cost is built from that paid cost (and the bill of materials after thrifting).
    bom = np.zeros(len(MATERIALS))
    bom[dy] = 0.025
    np.testing.assert_allclose(pop.magnet_unit_cost(15.0, bom), 15.0 + 0.025 * 3.0 * start)
    pop.thrift[mk, dy] = 0.2
    np.testing.assert_allclose(pop.magnet_unit_cost(15.0, bom), 15.0 + 0.025 * 0.8 * 3.0 * start)
    # A market below the book cost writes the stock down to it.
    market = pop.cost.copy()
    market[:, dy] = start
    pop.book_purchases(np.zeros_like(bought), np.zeros_like(paid), market)
    np.testing.assert_allclose(pop.cost[:, dy], start)


def test_in_the_model_makers_costs_stay_finite_and_near_what_they_paid() -> None:
    """Without controls, makers pay about reference parity: their costs stay finite, non-negative and near it."""
    m = _world(30)
    pop = m.pop
    while m.running:
        m.step()
        assert np.isfinite(pop.cost).all() and (pop.cost >= 0).all()
    parity = m.p_ref * (1 + m.freight)
    oxides = np.array(OXIDE_IDX)
    np.testing.assert_allclose(pop.cost[:, oxides], np.broadcast_to(parity[oxides], (len(pop.mk), len(oxides))),
                               rtol=0.25)


# ----------------------------------------------------------------------------------------------- in the model


def _world(weeks: int = 60) -> ReflowModel:
    raw = {"scenario": {"name": "mk", "start": "2024-01-01", "weeks": weeks},
           "manufacturers": {"per_region_sector": 3}}
    return ReflowModel(validate(raw), rng=3)


def test_a_magnet_maker_that_cannot_sell_cuts_output_and_its_goods_stay_bounded() -> None:
    m = _world()
    pop, mk = m.pop, m._mk
    m._mk_open[:] = False  # makers offer their magnets nowhere: their sales stop
    mc = m.config.manufacturers
    need0 = pop.need()[mk][:, OXIDE_IDX].sum()
    goods = []
    while m.running:
        m.step()
        goods.append(pop.goods[mk].copy())
    goods = np.array(goods)
    # Without the response goods would grow by the plan every week (60 weeks of it); with it they stop a little
    # above the ceiling (the memory of past sales fades over the adjustment time).
    assert (goods <= (mc.magnet_goods_max_weeks + mc.magnet_output_adjust_weeks) * pop.plan[mk]).all()
    assert np.abs(goods[-1] - goods[-10]).max() < 1e-6 * pop.plan[mk].max()
    assert pop.output[mk].sum() < 0.01 * pop.plan[mk].sum()
    # It orders oxide only for what it will make: its need has fallen with its output.
    assert pop.need()[mk][:, OXIDE_IDX].sum() < 0.01 * need0


def test_magnet_makers_selling_their_plan_keep_making_it() -> None:
    m = _world(52)
    pop, mk = m.pop, m._mk
    out = []
    while m.running:
        m.step()
        out.append(pop.output[mk].sum())
    assert np.mean(out) > 0.99 * pop.plan[mk].sum()
    assert pop.run[mk].min() > 0.95


def test_the_weekly_output_rule_is_output_rate() -> None:
    """`plan_magnet_output` (whole-array form used in the weekly step) agrees with the pure `output_rate`."""
    pop = _population()
    mk = pop.is_magnet_maker
    rng = np.random.default_rng(1)
    pop.goods = np.where(mk, pop.plan * rng.uniform(0.0, 10.0, pop.n), 0.0)
    sold = np.where(mk, pop.plan * rng.uniform(0.0, 1.5, pop.n), 0.0)
    sales = pop.sales + (sold - pop.sales) / pop.cfg.magnet_output_adjust_weeks
    pop.plan_magnet_output(sold)
    expect = output_rate(pop.plan, sales, pop.goods, pop.cfg.magnet_goods_max_weeks,
                         pop.cfg.magnet_output_adjust_weeks)
    np.testing.assert_allclose(pop.run[mk], expect[mk])
    assert (pop.run[~mk] == 1.0).all() and pop.cutting
    np.testing.assert_allclose(pop.need()[mk], pop.need_base[mk] * pop.run[mk, None])
