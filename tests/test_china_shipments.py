"""Shipments from Chinese producers' stock under licences and direct orders (ODD 7.8, `_ship_from_china`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reflow.config import load_config
from reflow.domain import MAT
from reflow.model import ReflowModel

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_the_weeks_shipments_from_china_share_one_90_percent_limit_of_stock() -> None:
    # Licence call-offs and direct orders are two calls a week; each used to take up to 90% of what was left,
    # 99% together.
    sc = load_config(CONFIGS / "controls_2025.toml")
    model = ReflowModel(sc, rng=1)
    model.step()
    model._new_week_ledgers()
    pol = model.timeline.state(model.date_of(model.week))
    dy = MAT["dy_oxide"]
    stock0 = float(model.prod.by_material(model.prod.stock).sum(axis=1)[dy])
    firms = np.arange(min(5, model.pop.n))
    mat = np.full(len(firms), dy)
    huge = np.full(len(firms), 10.0 * stock0)
    pol.embargo[:] = False
    model._ship_from_china(pol, mat, firms, huge)
    model._ship_from_china(pol, mat, firms, huge)
    left = float(model.prod.by_material(model.prod.stock).sum(axis=1)[dy])
    assert stock0 > 0
    assert left == pytest.approx(0.1 * stock0, rel=1e-9)
