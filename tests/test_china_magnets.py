"""China's magnet makers buy their oxide at home: their costs, and so their magnet prices, follow China's oxide
prices (a maker outside China pays the ex-China price; one inside pays China's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reflow.agents.china import ProducerFleet
from reflow.api import simulate
from reflow.config import apply_overrides, load_config, validate
from reflow.domain import MAT, MATERIALS
from reflow.validation import china_price

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
NM, NDPR, DY, MAG = len(MATERIALS), MAT["ndpr_oxide"], MAT["dy_oxide"], MAT["ndfeb_magnet"]


def _fleet() -> tuple[ProducerFleet, np.ndarray, np.ndarray]:
    sc = load_config(CONFIGS / "controls_2025.toml")
    ref = np.array([50.0, 250.0, 900.0, 70.0])[[MAT[m] for m in MATERIALS]]
    bom = np.zeros(NM)
    bom[NDPR], bom[DY] = 0.31, 0.025
    return ProducerFleet(sc.china, ref, bom), ref, bom


def test_magnet_makers_costs_move_with_chinas_oxide_prices_one_for_one_by_content() -> None:
    fleet, ref, bom = _fleet()
    base = fleet.cost.copy()
    mag = fleet.material == MAG
    fleet.update_costs(ref)  # at reference: unchanged
    assert np.array_equal(fleet.cost, base)
    price = ref.copy()
    price[NDPR] *= 3.0
    fleet.update_costs(price)
    assert np.allclose(fleet.cost[mag], base[mag] + bom[NDPR] * 2.0 * ref[NDPR])
    assert np.array_equal(fleet.cost[~mag], base[~mag])  # refiners' costs do not move
    # Oxide prices collapsing cannot push a cost below a fifth of its reference level (never zero or negative).
    fleet.update_costs(np.zeros(NM))
    assert np.all(fleet.cost[mag] >= 0.2 * base[mag] - 1e-12) and np.all(fleet.cost > 0)
    # Without a bill of materials (a fleet built without one) costs stay put.
    sc = load_config(CONFIGS / "controls_2025.toml")
    plain = ProducerFleet(sc.china, ref)
    before = plain.cost.copy()
    plain.update_costs(price)
    assert np.array_equal(plain.cost, before)


def test_a_squeeze_on_chinas_ndpr_raises_chinas_magnet_price() -> None:
    """A 2011-style production cap on NdPr lifts China's NdPr price; China's magnet price must follow it."""
    sc = load_config(CONFIGS / "baseline.toml")
    base = sc.model_dump(mode="json", exclude_none=True)
    base["scenario"]["weeks"] = 104
    cap = {"id": "cap", "kind": "production_cap", "label": "cap", "effective": "2024-03-04",
           "tonnes_per_year": {"ndpr_oxide": 0.5 * sc.china.output_tpy["ndpr_oxide"]}}
    capped = dict(base, policy=[*base.get("policy", []), cap])
    runs = {name: simulate(validate(apply_overrides(cfg, {})), seed=3).timeseries
            for name, cfg in (("free", base), ("capped", capped))}
    late = slice("2025-01-01", None)
    ndpr = {k: china_price(ts, "ndpr_oxide")[late].mean() for k, ts in runs.items()}
    mag = {k: china_price(ts, "ndfeb_magnet")[late].mean() for k, ts in runs.items()}
    assert ndpr["capped"] > 1.5 * ndpr["free"]
    # The magnet price rises by at least half what the NdPr content of a magnet costs more.
    assert mag["capped"] - mag["free"] >= 0.5 * 0.31 * (ndpr["capped"] - ndpr["free"])
