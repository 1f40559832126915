"""Market growth (`[growth]`, ODD 7.19): need and the capacity that serves it grow together from a start date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from reflow.config import ConfigError, load_config
from reflow.domain import REG
from reflow.model import ReflowModel

BASELINE = Path(__file__).resolve().parents[1] / "configs" / "baseline.toml"
WEEKS = 156


def _run(*sets: str, seed: int = 2) -> ReflowModel:
    m = ReflowModel(load_config(BASELINE, [f"scenario.weeks={WEEKS}", *sets]), rng=seed)
    while m.running:
        m.step()
    return m


@pytest.fixture(scope="module")
def flat() -> ReflowModel:
    return _run()


@pytest.fixture(scope="module")
def grown() -> ReflowModel:
    return _run("growth.rate_per_year=0.08", "growth.start=2025-01-06")


def test_a_zero_rate_changes_nothing(flat) -> None:
    zero = _run("growth.rate_per_year=0", "growth.start=2025-01-06")
    for var, a in flat.rec.data.items():
        assert np.array_equal(a, zero.rec.data[var], equal_nan=True), var


def test_need_and_capacity_grow_at_the_rate_from_the_start_date(flat, grown) -> None:
    start = (dt.date(2025, 1, 6) - grown.start).days // 7
    factor = 1.08 ** ((WEEKS - 1 - start) * 7 / 365.25)  # one step a week after the start week
    assert grown.pop.plan.sum() == pytest.approx(flat.pop.plan.sum() * factor, rel=1e-9)
    assert grown.prod.capacity.sum() == pytest.approx(flat.prod.capacity.sum() * factor, rel=1e-9)
    assert grown.domestic.demand_week.sum() == pytest.approx(flat.domestic.demand_week.sum() * factor, rel=1e-9)
    # Before the start the run is the run without growth; the recorded plan grows from the week after it.
    plan_f, plan_g = flat.rec.data["output_plan"], grown.rec.data["output_plan"]
    assert np.array_equal(plan_g[: start + 1], plan_f[: start + 1])
    ratio = plan_g[start + 1:].sum(axis=1) / plan_f[start + 1:].sum(axis=1)
    assert np.all(np.diff(ratio) > 0) and ratio[0] > 1.0
    # The non-Chinese suppliers are projects with their own capacities: they do not grow.
    assert np.array_equal(grown.fleet.nameplate, flat.fleet.nameplate)


def test_a_growing_market_stays_balanced_at_reference_prices(grown) -> None:
    # Demand and the capacity that serves it grow together: no shortage, prices within 10% of where they began.
    rec = grown.rec.data
    assert np.all(rec["production_lost_share"] <= 1e-12)
    cn = rec["price_cn"]
    assert np.all(np.abs(cn[-13:].mean(axis=0) / cn[:13].mean(axis=0) - 1.0) < 0.10)
    us = rec["price_ex_vwap"][:, :, REG["US"]]
    assert np.all(np.abs(np.nanmean(us[-13:], axis=0) / np.nanmean(us[:13], axis=0) - 1.0) < 0.10)


def test_growth_moves_more_material_and_non_chinese_supply_takes_a_smaller_share(flat, grown) -> None:
    use_f, use_g = flat.rec.data["consumption"], grown.rec.data["consumption"]
    assert use_g[-52:].sum() > 1.1 * use_f[-52:].sum()
    nc_f = flat.rec.data["production_alt"][-52:].sum(axis=0) / use_f[-52:].sum(axis=0)
    nc_g = grown.rec.data["production_alt"][-52:].sum(axis=0) / use_g[-52:].sum(axis=0)
    made = use_f[-52:].sum(axis=0) > 0
    assert np.all(nc_g[made] <= nc_f[made] + 1e-12)


def test_an_out_of_range_rate_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"growth\.rate_per_year"):
        load_config(BASELINE, ["growth.rate_per_year=0.9"])
