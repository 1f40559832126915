"""Memories and adjustment times shorter than the model's one-week step (valid: the schema takes any positive
number of weeks) must not make the weekly exponential updates overshoot and diverge."""

from __future__ import annotations

import datetime as dt

import numpy as np

from reflow.config import validate
from reflow.model import ReflowModel


def test_memories_shorter_than_a_week_stay_within_what_was_observed() -> None:
    start = dt.date(2025, 1, 6)
    raw = {
        "scenario": {"name": "short_memory", "start": start, "weeks": 60},
        "manufacturers": {"expectation_weeks": 0.25, "hoarding_response": 1.0, "hoarding_memory_weeks": 0.25,
                          "diversify_adjust_weeks": 0.25, "magnet_output_adjust_weeks": 0.25},
        "china": {"hoarding_response": 0.5},
        "investment": {"expectation_weeks": 0.25},
        # A control that moves prices, so that the memories have something to follow.
        "policy": [{"id": "lic", "kind": "licensing", "effective": start + dt.timedelta(weeks=6),
                    "materials": ["dy_oxide", "tb_oxide", "ndfeb_magnet"], "approval_rate": 0.2}],
    }
    sc = validate(raw)
    m = ReflowModel(sc, rng=1)
    nc_max = sc.manufacturers.non_china_share_max
    sold_max = 0.0
    while m.running:
        m.step()
        sold_max = max(sold_max, float(m._mk_sold.max()), float(m.pop.plan.max()))
        for name in ("p_cn_exp", "p_ex_exp", "p_inv", "p_cn_slow", "p_ex_slow"):
            a = getattr(m, name)
            assert np.all(np.isfinite(a)) and np.all(a > 0), (m.week, name, a.min())
        # A wanted share moves toward its target, never past the bounds the target lies in.
        assert m.pop.nc_share.min() >= -1e-12 and m.pop.nc_share.max() <= nc_max + 1e-12, m.week
        # Magnet makers' memory of their sales lies between nothing and the most they ever sold (or planned).
        mk = m.pop.mk
        assert m.pop.sales[mk].min() >= -1e-9 and m.pop.sales[mk].max() <= sold_max * (1 + 1e-9), m.week
    assert np.isfinite(m.rec["price_ex_vwap"][:, :, 1:]).all()
