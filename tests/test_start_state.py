"""The starting state: a duty or tariff in force from the first week is part of it, not news to be learnt."""

from __future__ import annotations

import datetime as dt

import numpy as np

from reflow.config import validate
from reflow.domain import MATERIALS, REG
from reflow.model import ReflowModel


def test_a_duty_in_force_from_the_start_leaves_expected_prices_at_rest() -> None:
    start = dt.date(2025, 1, 6)
    raw = {"scenario": {"name": "duty", "start": start, "weeks": 14},
           "policy": [{"id": "tax", "kind": "export_tax", "effective": start, "rate": {m: 0.25 for m in MATERIALS}},
                      {"id": "tar", "kind": "tariff", "effective": start, "importers": ["US"],
                       "materials": list(MATERIALS), "rate": 0.2}]}
    m = ReflowModel(validate(raw), rng=1)
    us, eu = REG["US"], REG["EU"]
    ex, inv = [m.p_ex_exp.copy()], [m.p_inv.copy()]
    while m.running:
        m.step()
        ex.append(m.p_ex_exp.copy())
        inv.append(m.p_inv.copy())
    ex, inv = np.array(ex), np.array(inv)
    # Nothing changes over these weeks, so expectations stay near where they start (they drifted 25-50% up as
    # they learnt a duty and tariff that were in force from the first day)...
    for r in (us, eu):
        assert np.abs(ex[:, :, r] / ex[0, :, r] - 1).max() < 0.06, r
    assert np.abs(inv / inv[0] - 1).max() < 0.06
    # ...and the start is China's reference price delivered, with the duty and the US tariff.
    parity = m.p_ref * (1 + m.freight) * 1.25
    np.testing.assert_allclose(ex[0, :, eu], parity)
    np.testing.assert_allclose(ex[0, :, us], parity * 1.2)
