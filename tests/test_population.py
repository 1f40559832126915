"""How the manufacturer population is laid out: large firms, and which firms a partial control reaches."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from reflow.agents.manufacturers import ManufacturerPopulation
from reflow.config import validate
from reflow.domain import MAT


def _pop(n: int, large: float, sigma: float | None = None) -> ManufacturerPopulation:
    mc = {"per_region_sector": n, "large_firm_share": large} | ({} if sigma is None else {"size_sigma": sigma})
    sc = validate({"scenario": {"name": "pop", "start": dt.date(2024, 1, 1), "weeks": 10}, "manufacturers": mc})
    return ManufacturerPopulation(sc, np.random.default_rng(3))


@pytest.mark.parametrize("sigma", [None, 0.0])  # the default spread of sizes, and firms all of one size
@pytest.mark.parametrize(("n", "share", "per_cell"), [(4, 0.5, 2), (4, 0.35, 1), (10, 0.35, 4), (5, 0.0, 0),
                                                     (3, 1.0, 3),
                                                     (1, 0.5, 1), (5, 0.5, 3)])  # halves round up, not to even
def test_large_firms_are_the_rounded_share_of_each_cells_largest(n: int, share: float, per_cell: int,
                                                                 sigma: float | None) -> None:
    pop = _pop(n, share, sigma)
    large = pop.large.reshape(-1, n)
    plan = pop.plan.reshape(-1, n)
    assert (large.sum(axis=1) == per_cell).all()
    if 0 < per_cell < n:  # and they are the largest of their cell
        assert (np.where(large, plan, np.inf).min(axis=1) >= np.where(large, -np.inf, plan).max(axis=1)).all()


def test_firms_in_a_partial_scope_do_not_all_order_in_the_same_weeks() -> None:
    # Ordering phases follow a firm's position (firm f orders when week % interval == f % interval); the firms a
    # control reaches are chosen by position too, shifted per cell, so a scope of 0.3 (one firm in four) reaches
    # firms of every phase rather than only the first of each cell.
    pop = _pop(4, 0.5)
    in_scope = pop.scope_draw[:, MAT["ndfeb_magnet"]] < 0.3
    assert (in_scope.reshape(-1, 4).sum(axis=1) == 1).all()
    phases = np.flatnonzero(in_scope) % 4
    assert set(phases.tolist()) == {0, 1, 2, 3}
