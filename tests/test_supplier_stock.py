"""Alternative suppliers do not pile up output that does not sell: above `investment.supplier_max_stock_weeks`
of their online output they make only what their contracts need (ODD 7.4, Production)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reflow.agents.suppliers import SupplierFleet
from reflow.config import apply_overrides, load_config, validate
from reflow.model import ReflowModel

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def baseline() -> object:
    return load_config(CONFIGS / "baseline.toml")


def _with(scenario, **sets):
    return validate(apply_overrides(scenario.model_dump(mode="json", exclude_none=True), sets))


def _operating_fleet(scenario) -> SupplierFleet:
    fleet = SupplierFleet(list(scenario.suppliers), [0] * len(scenario.suppliers), seed=1)
    fleet.online = fleet.nameplate.copy()
    return fleet


def test_a_supplier_that_cannot_sell_stops_at_the_ceiling_and_keeps_serving_contracts(baseline) -> None:
    fleet = _operating_fleet(baseline)
    n = len(fleet)
    price = fleet.cost * 2.0  # production pays
    contracted = 0.25 * fleet.online
    fleet.stock = np.zeros(n)
    for _ in range(60):  # nothing is ever sold or delivered
        fleet.produce(price, np.zeros(n), np.zeros(n), max_stock_weeks=10.0)
    on = fleet.online > 0
    assert np.allclose(fleet.stock[on], 10.0 * fleet.online[on])
    assert np.all(fleet.output[on] == 0.0)
    fleet.produce(price, contracted, np.zeros(n), max_stock_weeks=10.0)
    assert np.allclose(fleet.output, contracted)  # at the ceiling, contracts are still made
    fleet.stock = fleet.stock - 3.0 * fleet.online  # three weeks sold
    fleet.produce(price, np.zeros(n), np.zeros(n), max_stock_weeks=10.0)
    assert np.allclose(fleet.output[on], fleet.online[on])  # room again: full runs, never above capacity
    assert np.all(fleet.output <= fleet.online + 1e-12)


def test_when_selling_does_not_pay_only_contracts_are_made_whatever_the_ceiling(baseline) -> None:
    fleet = _operating_fleet(baseline)
    n = len(fleet)
    contracted = 0.5 * fleet.online
    fleet.stock = np.zeros(n)
    fleet.produce(fleet.cost * 0.5, contracted, np.zeros(n), max_stock_weeks=1e9)
    assert np.allclose(fleet.output, contracted)


def test_no_supplier_holds_more_than_the_ceiling_in_a_run(baseline) -> None:
    # Baseline: several producers (Solvay, SRC at 65-70 USD/kg against China's ~60) cannot sell their NdPr;
    # before the ceiling they held 5-6 years of output by 2031.
    for weeks in (8.0, 26.0):
        sc = _with(baseline, **{"investment.supplier_max_stock_weeks": weeks, "scenario.weeks": 260})
        model = ReflowModel(sc, rng=1)
        worst = 0.0
        while model.running:
            model.step()
            fl = model.fleet
            on = fl.online > 0
            # One week's output on top: a week's production lands before that week's sales.
            worst = max(worst, float(np.max(fl.stock[on] / fl.online[on])))
            assert np.all(fl.stock >= -1e-9)
        assert worst <= weeks + 1.0 + 1e-9
        assert worst >= weeks - 1.0  # the ceiling binds in this scenario: the test means something


def test_a_lower_ceiling_leaves_less_unsold_stock(baseline) -> None:
    held = []
    for weeks in (4.0, 26.0, 1e9):
        sc = _with(baseline, **{"investment.supplier_max_stock_weeks": weeks, "scenario.weeks": 260})
        model = ReflowModel(sc, rng=1)
        while model.running:
            model.step()
        held.append(float(model.fleet.stock.sum()))
    assert held[0] < held[1] < held[2]



def test_a_supplier_agent_shows_its_fleet_entry_as_it_is_now(baseline) -> None:
    # The agents are views: a fleet entry changed during a run (as `[growth]` does to firms) is what they show.
    model = ReflowModel(baseline, rng=1)
    s = model.suppliers[0]
    model.fleet.nameplate[s.index] *= 2.0
    model.fleet.cost[s.index] += 1.0
    assert s.nameplate == model.fleet.nameplate[s.index] and s.cost == model.fleet.cost[s.index]
    assert (s.material, s.region) == (model.fleet.material[s.index], model.fleet.region[s.index])


def test_without_a_ceiling_projects_not_yet_online_make_nothing_and_stocks_stay_numbers(baseline) -> None:
    # produce()'s default is no ceiling (max_stock_weeks = inf); a supplier with nothing online (a candidate, a
    # project being built) then had inf * 0 = NaN room, and NaN output and stock.
    fleet = SupplierFleet(list(baseline.suppliers), [0] * len(baseline.suppliers), seed=1)
    n = len(fleet)
    fleet.online = fleet.nameplate.copy()
    fleet.online[::2] = 0.0
    assert (fleet.online == 0).any() and (fleet.online > 0).any()
    fleet.stock = np.full(n, 5.0)
    fleet.produce(fleet.cost * 2.0, np.zeros(n), np.zeros(n))
    assert np.isfinite(fleet.output).all() and np.isfinite(fleet.stock).all()
    assert np.array_equal(fleet.output, fleet.online)  # no ceiling: every supplier runs flat out
    assert np.allclose(fleet.stock, 5.0 + fleet.online)
