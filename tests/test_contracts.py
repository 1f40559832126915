"""Offtake contracts: delivery pro rata to what a supplier has, expiry, cancellation when a project fails."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from reflow.config import validate
from reflow.contracts import OfftakeBook, staggered_ends
from reflow.model import ReflowModel
from reflow.phases.common import CONTRACTING_WEEKS, contract_term_weeks


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


def test_staggered_ends_spread_evenly_over_the_term_on_round_weeks() -> None:
    """Remaining terms of a book signed at a steady rate: every round week of the term gets a share, none a
    large one, and a run of consecutive buyers (one cell of the population) is spread too."""
    ends = staggered_ends(400, 260, 13)
    assert ends.min() >= 13 and ends.max() <= 260 and (ends % 13 == 0).all()
    counts = np.bincount(ends // 13, minlength=21)[1:]
    assert (counts > 0).all() and counts.max() <= 2 * 400 / 20
    assert len(np.unique(staggered_ends(400, 260)[:8])) == 8  # eight neighbours, eight different weeks
    with pytest.raises(ValueError, match="term"):
        staggered_ends(3, 0)


def test_the_starting_book_does_not_all_end_in_one_week() -> None:
    """The offtakes firms hold at the start end spread over the contract term and are renewed as they end, so the
    contracted volume never drops in one week (a book signed in one round at week 0 would all end at week 260,
    when its buyers go back to the spot market together)."""
    raw = {"scenario": {"name": "book", "start": dt.date(2025, 1, 6), "weeks": 300}}
    m = ReflowModel(validate(raw), rng=2)
    book = m.offtakes
    assert len(book) > 20, "the test needs a starting book"
    term = round(m.config.manufacturers.contract_years * 52)
    share = np.bincount(book.end) / len(book)  # of contracts (a large firm holds a third of the volume)
    assert share.max() < 0.15 and book.end.max() <= term
    total = [book.volume.sum()]
    for _ in range(m.weeks):
        m.step()
        total.append(m.offtakes.volume.sum())
    total = np.array(total)
    assert total.min() > 0.9 * total[0]
    assert (total[1:] / total[:-1]).min() > 0.95  # no week loses more than 5% of the book


def _contract_prices(pricing: str, p_inv_scale: float, p_cn_scale: float = 1.0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(price paid, supplier cost, price agreed at signing) of each contract delivery in one week after the
    investors' expected ex-China prices are scaled by `p_inv_scale` and China's by `p_cn_scale` (a market that
    has moved since the book was signed)."""
    raw = {"scenario": {"name": "book", "start": dt.date(2025, 1, 6), "weeks": 20},
           "manufacturers": {"contract_pricing": pricing}}
    m = ReflowModel(validate(raw), rng=4)
    agreed = m.offtakes.price.copy()
    m.p_inv = m.p_inv * p_inv_scale
    m.p_cn_exp = m.p_cn_exp * p_cn_scale
    paid: list[np.ndarray] = []
    deliver = m._deliver

    def spy(buyer, material, tonnes, price, origin):
        if not paid:  # the first call of the week is the contracts' (ODD section 2, phase 3)
            paid.append(np.asarray(price, float) / np.where(origin == m.pop.region[buyer], 1.0,
                                                            1.0 + m.freight[material]))
        return deliver(buyer, material, tonnes, price, origin)

    m._deliver = spy
    m.step()
    cost = m.fleet.cost[m.offtakes.supplier]
    return paid[0], cost, agreed


def test_indexed_offtakes_follow_the_market_and_never_go_below_cost() -> None:
    """A fixed-price offtake pays what was agreed whatever the market does; an indexed one follows the expected
    price, down to the supplier's cost and no further (like MP's NdPr floor)."""
    fixed_up, _, agreed = _contract_prices("fixed", 3.0)
    np.testing.assert_allclose(fixed_up, agreed)
    up, cost, agreed = _contract_prices("indexed", 3.0)
    assert (up > 2.0 * agreed).all()
    down, cost, agreed = _contract_prices("indexed", 0.01)
    np.testing.assert_allclose(down, cost)
    assert (down < agreed).any()


def test_china_indexed_offtakes_follow_chinas_price_not_the_ex_china_spike() -> None:
    """Indexed to China's price (as Arafura's offtakes reference China's ex-works price), a contract does not
    follow a spike outside China while China's price stays put (2025), and does follow China's price."""
    spike, _, agreed = _contract_prices("indexed_china", 3.0)
    np.testing.assert_allclose(spike, agreed)
    up, _, agreed = _contract_prices("indexed_china", 1.0, p_cn_scale=3.0)
    assert (up > 2.0 * agreed).all()


def test_a_contract_term_is_whole_contracting_rounds() -> None:
    assert contract_term_weeks(5.0) == 260
    assert contract_term_weeks(2.3) == 117  # 119.6 weeks: nine rounds
    assert contract_term_weeks(0.01) == CONTRACTING_WEEKS  # at least one round


@pytest.mark.parametrize("years", [5.0, 2.3])
def test_contracts_are_renewed_without_a_week_of_no_delivery(years: float) -> None:
    """A contract delivers every week of its term, the week it ends included, and the round of that week renews it:
    a buyer who keeps its contracts gets deliveries every week, round weeks included (until 1 December 2026 each
    renewal lost the round week's delivery, and a term that was not whole rounds left buyers uncovered for weeks)."""
    raw = {"scenario": {"name": "renew", "start": dt.date(2025, 1, 6), "weeks": 140},
           "manufacturers": {"contract_years": years}}
    m = ReflowModel(validate(raw), rng=2)
    rates = []
    while m.running:
        m.step()
        rates.append(m.contract_rate.copy())
    got = np.array(rates) > 1e-12  # (week, firm, material) delivered under contract
    held_around = got[:-2] & got[2:]  # delivered the week before and the week after
    gaps = held_around & ~got[1:-1]
    assert got.any(axis=0).sum() > 20, "the test needs contracts"
    assert not gaps.any(), f"weeks with a gap in contract deliveries: {sorted(set(np.nonzero(gaps)[0] + 1))}"
    # Nor a longer one: a (firm, material) that has had contracts has them from then on, but for a few.
    held = np.flatnonzero(got.any(axis=0).ravel())
    flat = got.reshape(len(got), -1)[:, held]
    restarts = sum(int((np.diff(np.flatnonzero(col)) > 1).sum()) for col in flat.T)
    assert restarts <= 0.05 * len(held)
