"""Thrifting: programmes launched on high prices run to their goal; shortages drive savings only while they last."""

from __future__ import annotations

import numpy as np
import pytest

from reflow.agents.manufacturers import ManufacturerPopulation
from reflow.config import validate

LAG, RATE, CAP, TRIGGER = 4, 0.104, 0.4, 2.0  # RATE / 52 = 0.002 a week


def _population() -> ManufacturerPopulation:
    sc = validate({"scenario": {"name": "unit", "start": "2025-01-06", "weeks": 10},
                   "manufacturers": {"thrift_lag_weeks": LAG, "thrift_max_per_year": RATE, "thrift_cap": CAP,
                                     "thrift_trigger_multiple": TRIGGER}})
    return ManufacturerPopulation(sc, np.random.default_rng(0))


def _drive(pop: ManufacturerPopulation, multiples: list[float], short: list[bool]) -> np.ndarray:
    """Thrift of firm 0, material 0 after each week of the given price multiples and shortage flags."""
    out = []
    shape = pop.thrift.shape
    for w, (mult, s) in enumerate(zip(multiples, short, strict=True)):
        pm = np.ones(shape)
        pm[0, 0] = mult
        sh = np.zeros(shape, bool)
        sh[0, 0] = s
        pop.update_thrift(w, pm, sh)
        out.append(pop.thrift[0, 0])
    return np.array(out)


def test_a_price_spike_launches_savings_that_continue_after_prices_fall() -> None:
    pop = _population()
    # Four weeks at 4x (stress 1: goal = the cap), then prices back at reference for a long time.
    weeks = 260  # the cap takes 0.4 / 0.002 = 200 weeks of savings
    t = _drive(pop, [4.0] * 4 + [1.0] * (weeks - 4), [False] * weeks)
    step = RATE / 52
    assert (t[:LAG] == 0).all()  # nothing before the lag
    assert (np.diff(t) >= -1e-15).all()  # a saving is never undone
    assert np.diff(t).max() <= step + 1e-12  # at most the yearly rate
    # Savings keep growing long after the spike has passed, to the goal it set, and stop there.
    assert t[100] == pytest.approx(min(CAP, step * (100 - LAG + 1)))
    assert t[-1] == pytest.approx(CAP)
    # A smaller spike sets a smaller goal: stress (3 - 2) / 2 = 0.5 of the cap.
    pop2 = _population()
    t2 = _drive(pop2, [3.0] * 4 + [1.0] * (weeks - 4), [False] * weeks)
    assert t2[-1] == pytest.approx(0.5 * CAP)
    # Firms that saw no stress do not thrift.
    assert pop.thrift[1:, :].max() == 0.0 and pop.thrift[0, 1:].max() == 0.0


def test_shortage_drives_savings_only_while_it_lasts() -> None:
    pop = _population()
    weeks = 100
    t = _drive(pop, [1.0] * weeks, [True] * 10 + [False] * (weeks - 10))
    step = RATE / 52
    # Ten weeks short, acted on LAG weeks later: ten weeks of savings at the yearly rate, then no more.
    assert t[LAG + 9] == pytest.approx(10 * step)
    assert t[-1] == pytest.approx(10 * step)


def test_no_thrift_below_the_trigger() -> None:
    pop = _population()
    t = _drive(pop, [TRIGGER] * 60, [False] * 60)
    assert t.max() == 0.0
