"""The transshipment channel: leakage rises with the premium, saturates, and enforcement shuts it; smugglers ask
their costs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from reflow.transshipment import channel_pull, leakage_offer, smuggler_ask

BASE = np.array([100.0, 10.0])
SHARE = np.array([[0.5, 0.5], [0.2, 0.8]])


def _offer(premium: float, restricted: bool = True, enforcement: float = 0.0) -> np.ndarray:
    return leakage_offer(np.full((2, 2), premium), np.full((2, 2), restricted), BASE, SHARE, 0.5, 1.0,
                         np.full(2, enforcement))


def test_no_leak_without_restriction_or_premium() -> None:
    assert _offer(3.0, restricted=False).sum() == 0.0
    assert _offer(0.0).sum() == 0.0
    assert _offer(-0.5).sum() == 0.0


def test_leak_rises_with_premium_and_saturates_at_max_share() -> None:
    vols = [_offer(p).sum() for p in (0.1, 0.5, 1.0, 3.0, 50.0)]
    assert all(a < b for a, b in itertools.pairwise(vols))
    np.testing.assert_allclose(_offer(50.0), 0.5 * BASE[:, None] * SHARE, rtol=1e-9)


def test_enforcement_shuts_its_share() -> None:
    np.testing.assert_allclose(_offer(1.0, enforcement=0.75), 0.25 * _offer(1.0))
    assert _offer(1.0, enforcement=1.0).sum() == 0.0


def test_smuggler_ask_cost_per_kg_weighs_on_cheap_material() -> None:
    """The same cost per kilogram is a large share of a cheap oxide's price and a small one of a dear one's."""
    cheap, dear = smuggler_ask(np.array([5.0, 500.0]), 0.1, 10.0)
    assert cheap == pytest.approx(5.0 * 1.1 + 10.0) and dear == pytest.approx(500.0 * 1.1 + 10.0)
    assert cheap / 5.0 > 3.0 > 1.2 > dear / 500.0
    assert smuggler_ask(100.0, 0.3, 0.0) == pytest.approx(130.0)


def test_profit_per_kg_opens_the_channel_for_dear_oxides_at_a_small_premium() -> None:
    """With a profit scale the pull follows USD/kg of profit: Dy a fifth above parity (hundreds of USD/kg) pulls
    harder than La/Ce at three times parity (tens of USD/kg); by the premium, the other way round."""
    parity = np.array([[1000.0], [5.0]])  # Dy, La/Ce, USD/kg
    premium = np.array([[0.2], [2.0]])
    margin = (1 + premium) * parity - smuggler_ask(parity / 1.25, 0.0, 10.0)
    by_profit = channel_pull(premium, 1.0, margin, profit_scale=30.0)
    by_premium = channel_pull(premium, 1.0)
    assert by_profit[0, 0] > 0.99 > by_profit[1, 0] > 0.0
    assert by_premium[0, 0] < by_premium[1, 0]
    # No profit, no pull; and the pull rises with the profit.
    assert channel_pull(0.5, 1.0, np.array([-3.0, 0.0]), 30.0).tolist() == [0.0, 0.0]
    pulls = channel_pull(0.0, 1.0, np.array([1.0, 10.0, 100.0]), 30.0)
    assert all(a < b for a, b in itertools.pairwise(pulls))
    with pytest.raises(ValueError, match="margin"):
        channel_pull(0.5, 1.0, None, 30.0)
    # leakage_offer passes it through.
    off = leakage_offer(premium, np.full((2, 1), True), np.array([10.0, 10.0]), np.ones((2, 1)), 0.5, 1.0,
                        np.zeros(2), margin=margin, profit_scale=30.0)
    np.testing.assert_allclose(off, 5.0 * by_profit)
