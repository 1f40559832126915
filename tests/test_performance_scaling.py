"""Scale: firm counts come from the config, and a 10,000-firm run is an ordinary scenario that completes and
keeps the model's accounting (no timing is asserted here; benchmarks/run.py measures speed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reflow.agents import Manufacturer
from reflow.config import apply_overrides, load_raw, validate
from reflow.model import ReflowModel

CONTROLS = Path(__file__).resolve().parents[1] / "configs" / "controls_2025.toml"


def _scenario(**sets: object):
    return validate(apply_overrides(load_raw(CONTROLS), sets))


def test_firm_count_scales_with_per_region_sector() -> None:
    """Doubling manufacturers.per_region_sector doubles the firms, one Mesa agent each."""
    a = ReflowModel(_scenario(**{"manufacturers.per_region_sector": 2, "scenario.weeks": 4}), rng=1)
    b = ReflowModel(_scenario(**{"manufacturers.per_region_sector": 4, "scenario.weeks": 4}), rng=1)
    assert b.pop.n == 2 * a.pop.n
    assert len(b.agents_by_type[Manufacturer]) == b.pop.n


@pytest.mark.slow
def test_ten_thousand_firms_conserve_material_and_stay_finite() -> None:
    """10,000+ firms through the April 2025 controls: stocks change by production less consumption every week,
    flows add up to deliveries, nothing goes negative, prices stay finite."""
    cells = ReflowModel(_scenario(**{"scenario.weeks": 4}), rng=1).pop.n // 4
    sc = _scenario(**{"manufacturers.per_region_sector": math.ceil(10_000 / cells), "scenario.weeks": 140})
    model = ReflowModel(sc, rng=3)
    assert model.pop.n >= 10_000
    stock0 = model.stock_by_material()
    low = np.inf
    while model.running:
        model.step()
        low = min(low, float(model.pop.stock.min()), float(model.prod.stock.min()),
                  float(model.fleet.stock.min(initial=0.0)))
    rec = model.rec
    change = np.diff(np.vstack([stock0, rec["stock_total"]]), axis=0)
    net = rec["production_cn"] + rec["production_alt"] - rec["consumption"]
    scale = np.maximum(1.0, np.abs(rec["stock_total"]).max(axis=0))
    assert np.all(np.abs(change - net) <= 1e-9 * scale)
    assert low >= -1e-6 * scale.max()
    np.testing.assert_allclose(rec["flow"].sum(axis=2)[:, :, 1:], rec["delivered"][:, :, 1:], rtol=1e-9, atol=1e-9)
    assert rec["licence_applications"].sum() > 0 and rec["shortage"].sum() > 0  # the controls did bite
    for var in ("price_cn", "price_ex_vwap"):
        a = rec[var][:, :, 1:] if rec[var].ndim == 3 else rec[var]
        assert np.all(np.isfinite(a)) and np.all(a > 0), var
