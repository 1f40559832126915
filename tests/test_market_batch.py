"""The batched call auction (`clear_call_auctions`) gives, market by market, exactly what `clear_call_auction`
gives for that market alone: same price, volume, marginal ask and fills, to the bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reflow.market import clear_call_auction, clear_call_auctions

# Quantities include zero and dust (orders that are not live); prices come from a coarse grid (ties at the
# margin) or anywhere.
QTY = st.one_of(st.sampled_from([0.0, 1e-13, 2e-12, 3e-12, 0.5, 1.0, 2.5, 10.0]), st.floats(0.0, 50.0))
GRID_PRICE = st.sampled_from([10.0, 20.0, 30.0, 40.0, 50.0])
ANY_PRICE = st.floats(0.01, 500.0)


@st.composite
def books(draw: st.DrawFn) -> tuple[list, np.ndarray, np.ndarray, float]:
    """Several markets' order books, plus an interleaving of their orders that keeps each market's order."""
    n_markets = draw(st.integers(1, 5))
    price = GRID_PRICE if draw(st.booleans()) else ANY_PRICE
    mk = []
    for _ in range(n_markets):
        nb, na = draw(st.integers(0, 10)), draw(st.integers(0, 10))
        mk.append((np.array(draw(st.lists(QTY, min_size=nb, max_size=nb)), float),
                   np.array(draw(st.lists(price, min_size=nb, max_size=nb)), float),
                   np.array(draw(st.lists(QTY, min_size=na, max_size=na)), float),
                   np.array(draw(st.lists(price, min_size=na, max_size=na)), float)))
    bid_order = draw(st.permutations([m for m, b in enumerate(mk) for _ in b[0]]))
    ask_order = draw(st.permutations([m for m, b in enumerate(mk) for _ in b[2]]))
    k = draw(st.sampled_from([0.0, 0.5, 1.0]))
    return mk, np.array(bid_order, np.int64), np.array(ask_order, np.int64), k


def _interleave(order: np.ndarray, qs: list[np.ndarray], ps: list[np.ndarray]):
    """Flat arrays of the markets' orders in `order` (each market's orders keep their own order)."""
    nxt = [0] * len(qs)
    pos = np.zeros(len(order), np.int64)
    for i, m in enumerate(order):
        pos[i] = nxt[m]
        nxt[m] += 1
    q = np.array([qs[m][j] for m, j in zip(order, pos, strict=True)], float)
    p = np.array([ps[m][j] for m, j in zip(order, pos, strict=True)], float)
    return q, p, pos


@settings(max_examples=400, deadline=None)
@given(books())
def test_batch_equals_one_market_at_a_time(case) -> None:
    """Every market of a batch clears exactly as it clears alone, whatever the interleaving of markets."""
    mk, bid_mkt, ask_mkt, k = case
    bq, bp, bpos = _interleave(bid_mkt, [b[0] for b in mk], [b[1] for b in mk])
    aq, ap, apos = _interleave(ask_mkt, [b[2] for b in mk], [b[3] for b in mk])
    batch = clear_call_auctions(len(mk), bid_mkt, bq, bp, ask_mkt, aq, ap, k=k)
    for m, (q_b, p_b, q_a, p_a) in enumerate(mk):
        one = clear_call_auction(q_b, p_b, q_a, p_a, k=k)
        assert np.array_equal([one.price, one.marginal_ask], [batch.price[m], batch.marginal_ask[m]], equal_nan=True)
        assert one.volume == batch.volume[m]
        bid_fill = np.zeros(len(q_b))
        bid_fill[bpos[bid_mkt == m]] = batch.bid_fill[bid_mkt == m]
        ask_fill = np.zeros(len(q_a))
        ask_fill[apos[ask_mkt == m]] = batch.ask_fill[ask_mkt == m]
        assert np.array_equal(one.bid_fill, bid_fill)
        assert np.array_equal(one.ask_fill, ask_fill)


def test_markets_without_orders_do_not_trade() -> None:
    """Markets with no orders, only bids or only asks: no trade; the marginal ask is the cheapest live ask."""
    c = clear_call_auctions(4, np.array([1, 3]), np.array([5.0, 5.0]), np.array([100.0, 100.0]),
                            np.array([2, 2, 3]), np.array([1.0, 0.0, 1.0]), np.array([30.0, 10.0, 200.0]))
    assert np.isnan(c.price).all()
    np.testing.assert_array_equal(c.volume, 0.0)
    np.testing.assert_array_equal(c.marginal_ask, [np.nan, np.nan, 30.0, 200.0])
    np.testing.assert_array_equal(c.bid_fill, 0.0)
    np.testing.assert_array_equal(c.ask_fill, 0.0)


def test_dust_volume_spread_thin_still_gets_a_price() -> None:
    """3e-12 t traded against ten tied bids of 2e-12 t: no bid gets more than dust (1e-12), yet the market has a
    price (every filled order counts as accepted), the same one alone and in a batch."""
    bq, bp = np.full(10, 2e-12), np.full(10, 20.0)
    aq, ap = np.array([3e-12]), np.array([10.0])
    one = clear_call_auction(bq, bp, aq, ap, k=0.5)
    batch = clear_call_auctions(1, np.zeros(10, np.int64), bq, bp, np.zeros(1, np.int64), aq, ap, k=0.5)
    assert one.price == batch.price[0] == 15.0
    assert one.volume == batch.volume[0] == 3e-12


def test_empty_batch() -> None:
    """No orders at all."""
    e = np.zeros(0)
    c = clear_call_auctions(2, e.astype(np.int64), e, e, e.astype(np.int64), e, e)
    assert len(c.bid_fill) == len(c.ask_fill) == 0
    assert np.isnan(c.price).all() and np.isnan(c.marginal_ask).all()
