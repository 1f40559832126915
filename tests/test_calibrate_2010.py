"""The calibration script's mapping from search points to config overrides (experiments/calibrate_2010.py)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import calibrate_2010 as cal

from reflow.config import load_config


def test_unit_coordinates_map_to_the_bounds_and_back() -> None:
    for p in cal.PARAMS:
        assert p.value(0.0) == pytest.approx(p.lo, rel=1e-3, abs=1e-3)
        assert p.value(1.0) == pytest.approx(p.hi, rel=1e-3, abs=1e-3)
        mid = p.value(0.5)
        assert p.unit(mid) == pytest.approx(0.5, abs=0.02 if p.integer else 1e-3)


@pytest.mark.parametrize("u", [0.1, 0.7])
def test_a_point_sets_whole_tables_and_tied_parameters_follow_their_lead(u: float) -> None:
    tables = cal.table_entries(cal.CONFIG)
    ov = cal.overrides_at(np.full(len(cal.PARAMS), u), None, tables)
    cfg = load_config(cal.CONFIG, ov)
    bids = cfg.manufacturers.wtp_cap_multiple
    assert cal.TIED, "nothing is tied: the check below would be vacuous"
    for key, lead in cal.TIED.items():
        leaf, lead_leaf = key.rsplit(".", 1)[1], lead.rsplit(".", 1)[1]
        assert bids[leaf] == bids[lead_leaf]
    # An entry of a table that is not searched keeps the config's value (the table is carried whole).
    assert bids["ndfeb_magnet"] == tables["manufacturers.wtp_cap_multiple"]["ndfeb_magnet"]
    assert cfg.manufacturers.cover_target_weeks["automotive"] == tables[
        "manufacturers.cover_target_weeks"]["automotive"]
    searched = {p.key: p.value(u) for p in cal.PARAMS}
    assert bids["dy_oxide"] == searched["manufacturers.wtp_cap_multiple.dy_oxide"]


def test_the_la_ce_stage_scores_a_point_as_a_full_run_would() -> None:
    """experiments/calibrate_light_2010.py evaluates La/Ce parameters by replaying the La/Ce market on a kept run;
    its metrics must equal those of a full run with the same values (the calibration's shortcut is exact)."""
    import calibrate_light_2010 as light

    import reflow
    from reflow import validation as v

    kept = light._capture((str(light.CONFIG), 2))
    values = {"cover_target_weeks": 9.0, "restock_weeks": 12.0, "hoarding_response": 0.5}
    fast = light.evaluate(values, [kept])
    res = reflow.run(light.CONFIG, seed=2, out=None, overrides=[f"light_ree.{k}={x}" for k, x in values.items()])
    full = v.metrics_2010(res.timeseries, v.quota_in_force(res.config))
    for key in (*light.FITTED, *light.HISTORY):
        assert fast[key] == pytest.approx(full[key], rel=1e-9), key


def test_an_optional_mechanism_is_searched_only_where_the_config_uses_it(tmp_path: Path) -> None:
    key = "china.long_run_elasticity"
    text = cal.CONFIG.read_text()
    assert text.count("\nlong_run_elasticity = ") == 1
    without = tmp_path / "without.toml"  # quota_2010 with China's single elasticity
    without.write_text(re.sub(r"\nlong_run_elasticity = [^\n]*", "", text))
    try:
        assert key in [p.key for p in cal.use_params(cal.CONFIG)]  # quota_2010 sets it
        assert key not in [p.key for p in cal.use_params(without)]
        assert key not in [p.key for p in cal.use_params(cal.CONFIG, {key: -0.3})]  # fixed by --set: not searched
        assert len(cal.use_params(cal.CONFIG)) == len(cal.use_params(without)) + 1
    finally:
        cal.use_params(cal.CONFIG)


def test_a_replaced_parameter_is_not_searched(tmp_path: Path) -> None:
    """quota_2010's channel opens with the profit per kilogram, so its premium scale (unused) is not searched;
    without the profit scale the premium scale is searched again."""
    text = cal.CONFIG.read_text()
    assert text.count("\nprofit_scale = ") == 1
    without = tmp_path / "without.toml"
    without.write_text(re.sub(r"\nprofit_scale = [^\n]*", "", text))
    try:
        keys = [p.key for p in cal.use_params(cal.CONFIG)]
        assert "transshipment.profit_scale" in keys and "transshipment.premium_scale" not in keys
        keys = [p.key for p in cal.use_params(without)]
        assert "transshipment.profit_scale" not in keys and "transshipment.premium_scale" in keys
    finally:
        cal.use_params(cal.CONFIG)


def test_a_fitted_check_adds_to_the_objective_only_when_asked() -> None:
    """--fit-check treats a check as one more guard: a point that misses only that check scores 0 without it
    and more than 0 with it."""
    from reflow.validation import CHECKS_2010, objective

    check = next(c for c in CHECKS_2010 if c.key == "ndpr_oxide.cn_vs_history")
    base = cal.fitted_targets()
    wider = cal.fitted_targets([check.key])
    assert len(wider) == len(base) + 1 and wider[-1] is check
    assert all(t.key != check.key for t in base)
    # A point inside every target and guard that misses only this check.
    inside = {t.key: (t.lo + min(t.hi, t.lo + 1.0)) / 2 for t in base}
    assert objective(inside, base) == 0.0
    point = {**inside, check.key: check.hi * 2}
    assert objective(point, base) == 0.0
    assert objective(point, wider) > 0.0
