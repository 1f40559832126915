"""Offtake contracts: delivery pro rata to what a supplier has, expiry, cancellation when a project fails."""

from __future__ import annotations

import datetime as dt

import numpy as np

from reflow.config import validate
from reflow.contracts import OfftakeBook
from reflow.model import ReflowModel


def _book() -> OfftakeBook:
    b = OfftakeBook()
    b.add(np.array([0, 0, 1]), np.array([5, 6, 5]), np.array([1, 1, 0]), np.array([2.0, 6.0, 1.0]),
          np.array([200.0, 210.0, 50.0]), np.array([10, 20, 30]))
    return b


def test_deliveries_are_pro_rata_when_a_supplier_is_short() -> None:
    d = _book().deliveries(np.array([4.0, 5.0]))
    np.testing.assert_allclose(d, [1.0, 3.0, 1.0])


def test_expire_and_cancel() -> None:
    b = _book()
    b.expire(15)
    assert list(b.end) == [20, 30]
    assert b.cancel(np.array([1])) == 1
    assert list(b.supplier) == [0] and b.held(7, 4)[6, 1] == 6.0


def test_a_failed_project_leaves_no_contracts_behind() -> None:
    """A committed project that certainly fails: once it fails, nobody holds an offtake from it."""
    raw = {"scenario": {"name": "fail", "start": dt.date(2025, 1, 6), "weeks": 80},
           "manufacturers": {"security_premium": 3.0},  # buyers sign with any supplier
           "suppliers": [
               {"id": "big", "region": "AU", "material": "dy_oxide", "capacity_tpy": 2000, "cost": 100,
                "status": "committed", "start": dt.date(2025, 9, 1), "failure_probability": 1.0},
               {"id": "ok", "region": "AU", "material": "ndpr_oxide", "capacity_tpy": 5000, "cost": 40}]}
    m = ReflowModel(validate(raw), rng=3)
    signed = bool((m.offtakes.supplier == 0).any())
    m.run()
    assert signed, "the test needs an offtake signed on the project before it fails"
    assert not (m.offtakes.supplier == 0).any()
    assert m.fleet.state[0] == 3  # failed
