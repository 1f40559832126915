"""Unit tests of market clearing (`reflow.market`): golden hand-worked auctions and hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reflow.market import allocate_offers, clear_call_auction, vwap

TOL = 1e-9


def _arr(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=float)


# ----------------------------------------------------------------------------------------- golden auctions


def test_simple_crossing_trades_where_curves_cross_and_prices_inside_the_open_interval():
    # Bids 10 t @100 and 10 t @80; asks 10 t @50 and 10 t @90. Only the 100-bid and the 50-ask can trade:
    # 10 t. The open interval is [80, 90] (the rejected bid at 80 and the rejected ask at 90 bound it).
    bq, bp, aq, ap = _arr(10, 10), _arr(100, 80), _arr(10, 10), _arr(50, 90)
    c = clear_call_auction(bq, bp, aq, ap, k=0.5)
    assert c.volume == pytest.approx(10.0)
    assert c.price == pytest.approx(85.0)
    np.testing.assert_allclose(c.bid_fill, [10.0, 0.0])
    np.testing.assert_allclose(c.ask_fill, [10.0, 0.0])
    assert c.marginal_ask == pytest.approx(50.0)
    # k picks the point in the interval: 0 is its lower end, 1 its upper end.
    assert clear_call_auction(bq, bp, aq, ap, k=0.0).price == pytest.approx(80.0)
    assert clear_call_auction(bq, bp, aq, ap, k=1.0).price == pytest.approx(90.0)


def test_excess_supply_sets_price_at_the_marginal_ask_whatever_k():
    # 10 t wanted at up to 100; 5 t offered @40, 10 t @60, 10 t @70. The 60-ask is partly filled: price 60.
    bq, bp, aq, ap = _arr(10), _arr(100), _arr(5, 10, 10), _arr(40, 60, 70)
    for k in (0.0, 0.5, 1.0):
        c = clear_call_auction(bq, bp, aq, ap, k=k)
        assert c.volume == pytest.approx(10.0)
        assert c.price == pytest.approx(60.0)
        np.testing.assert_allclose(c.ask_fill, [5.0, 5.0, 0.0])
        np.testing.assert_allclose(c.bid_fill, [10.0])
        assert c.marginal_ask == pytest.approx(60.0)


def test_excess_demand_sets_price_at_the_marginal_bid_whatever_k():
    # 15 t offered at 50; 10 t wanted @100 and 10 t @90. The 90-bid is rationed to 5 t: price rises to 90.
    bq, bp, aq, ap = _arr(10, 10), _arr(100, 90), _arr(15), _arr(50)
    for k in (0.0, 0.5, 1.0):
        c = clear_call_auction(bq, bp, aq, ap, k=k)
        assert c.volume == pytest.approx(15.0)
        assert c.price == pytest.approx(90.0)
        np.testing.assert_allclose(c.bid_fill, [10.0, 5.0])
        np.testing.assert_allclose(c.ask_fill, [15.0])
        assert c.marginal_ask == pytest.approx(50.0)  # the highest accepted ask, not the price


def test_no_crossing_gives_zero_volume_nan_price_and_the_cheapest_ask():
    c = clear_call_auction(_arr(10, 5), _arr(40, 30), _arr(10, 10), _arr(70, 50))
    assert c.volume == 0.0
    assert math.isnan(c.price)
    np.testing.assert_array_equal(c.bid_fill, [0.0, 0.0])
    np.testing.assert_array_equal(c.ask_fill, [0.0, 0.0])
    assert c.marginal_ask == pytest.approx(50.0)


def test_empty_sides_trade_nothing():
    no_asks = clear_call_auction(_arr(10), _arr(100), _arr(), _arr())
    assert no_asks.volume == 0.0 and math.isnan(no_asks.price) and math.isnan(no_asks.marginal_ask)
    no_bids = clear_call_auction(_arr(), _arr(), _arr(10), _arr(50))
    assert no_bids.volume == 0.0 and math.isnan(no_bids.price)
    assert no_bids.marginal_ask == pytest.approx(50.0)
    np.testing.assert_array_equal(no_bids.ask_fill, [0.0])


@pytest.mark.parametrize(
    ("ask_q", "want"),
    [
        ((4.0, 6.0), (2.0, 3.0)),  # 5 t shared 4:6 between two asks at the same price
        ((6.0, 4.0), (3.0, 2.0)),  # ... and the same per ask when the input order is reversed
    ],
)
def test_tied_asks_at_the_margin_share_pro_rata(ask_q, want):
    c = clear_call_auction(_arr(5), _arr(100), _arr(*ask_q), _arr(50, 50))
    np.testing.assert_allclose(c.ask_fill, want)
    assert c.price == pytest.approx(50.0)


def test_ties_at_the_margin_do_not_depend_on_input_order():
    # Cheaper ask fully filled first (4 t @40), then 8 t left for two 50-asks of 6 and 10 t: 3 and 5.
    aq, ap = _arr(4, 6, 10), _arr(40, 50, 50)
    c = clear_call_auction(_arr(12), _arr(100), aq, ap)
    np.testing.assert_allclose(c.ask_fill, [4.0, 3.0, 5.0])
    for perm in ([2, 1, 0], [1, 2, 0], [0, 2, 1]):
        p = clear_call_auction(_arr(12), _arr(100), aq[perm], ap[perm])
        np.testing.assert_allclose(p.ask_fill, c.ask_fill[perm])
        assert p.price == pytest.approx(c.price)
    # The margin can land exactly on the end of the first tied entry: still shared, in either order.
    for order in ([0, 1], [1, 0]):
        q = _arr(4, 6)[order]
        t = clear_call_auction(_arr(4), _arr(100), q, _arr(50, 50))
        np.testing.assert_allclose(t.ask_fill, 0.4 * q)


def test_tied_bids_at_the_margin_are_rationed_pro_rata():
    # 6 t offered; 4 t wanted @100, then 2 t and 6 t @90 share the remaining 2 t as 0.5 and 1.5.
    for order in ([0, 1, 2], [2, 1, 0]):
        bq, bp = _arr(4, 2, 6)[order], _arr(100, 90, 90)[order]
        c = clear_call_auction(bq, bp, _arr(6), _arr(10))
        np.testing.assert_allclose(c.bid_fill, _arr(4, 0.5, 1.5)[order])
        assert c.price == pytest.approx(90.0)


def test_zero_quantity_entries_are_ignored():
    bq, bp, aq, ap = _arr(10, 10), _arr(100, 80), _arr(10, 10), _arr(50, 90)
    base = clear_call_auction(bq, bp, aq, ap)
    # A zero bid at a sky-high price and a zero ask at a rock-bottom price must change nothing.
    z = clear_call_auction(_arr(0, 10, 10), _arr(1e6, 100, 80), _arr(10, 0, 10), _arr(50, 0.01, 90))
    assert z.price == pytest.approx(base.price)
    assert z.volume == pytest.approx(base.volume)
    assert z.marginal_ask == pytest.approx(base.marginal_ask)
    np.testing.assert_allclose(z.bid_fill, [0.0, *base.bid_fill])
    np.testing.assert_allclose(z.ask_fill, [base.ask_fill[0], 0.0, base.ask_fill[1]])
    # Only zero entries on one side: nothing trades, and a zero ask is not quoted as the cheapest.
    only_zero = clear_call_auction(_arr(10), _arr(100), _arr(0), _arr(1))
    assert only_zero.volume == 0.0 and math.isnan(only_zero.marginal_ask)


# ----------------------------------------------------------------------------------------- properties

_qty = st.one_of(st.just(0.0), st.integers(1, 50).map(float), st.floats(0.01, 100.0))
_price = st.integers(1, 12).map(float)  # few levels, so ties are frequent
_side = st.lists(st.tuples(_qty, _price), max_size=8)


def _split(side):
    q = np.array([x[0] for x in side], dtype=float)
    p = np.array([x[1] for x in side], dtype=float)
    return q, p


def _max_tradeable(bq, bp, aq, ap) -> float:
    """Brute force: the largest min(supply at <= p, demand at >= p) over all quoted prices."""
    best = 0.0
    for p in set(bp.tolist()) | set(ap.tolist()):
        best = max(best, min(aq[ap <= p].sum(), bq[bp >= p].sum()))
    return best


@settings(max_examples=300, deadline=None)
@given(bids=_side, asks=_side, k=st.floats(0.0, 1.0))
def test_clearing_invariants(bids, asks, k):
    bq, bp = _split(bids)
    aq, ap = _split(asks)
    c = clear_call_auction(bq, bp, aq, ap, k=k)
    tol = TOL * (1 + bq.sum() + aq.sum())

    assert c.volume <= min(bq.sum(), aq.sum()) + tol
    assert c.volume == pytest.approx(_max_tradeable(bq, bp, aq, ap), abs=tol)  # the crossing, no less
    assert c.bid_fill.sum() == pytest.approx(c.volume, abs=tol)
    assert c.ask_fill.sum() == pytest.approx(c.volume, abs=tol)
    assert np.all(c.bid_fill >= 0) and np.all(c.bid_fill <= bq + tol)
    assert np.all(c.ask_fill >= 0) and np.all(c.ask_fill <= aq + tol)

    if c.volume <= tol:
        assert math.isnan(c.price)
        assert not c.bid_fill.any() and not c.ask_fill.any()
        return
    assert math.isfinite(c.price)
    filled_b, filled_a = c.bid_fill > tol, c.ask_fill > tol
    assert np.all(bp[filled_b] >= c.price - TOL)
    assert np.all(ap[filled_a] <= c.price + TOL)
    # Nobody left wanting could trade at the price: rationed bids sit at or below it, rationed asks above.
    short_b = (bq > 0) & (c.bid_fill < bq - tol)
    short_a = (aq > 0) & (c.ask_fill < aq - tol)
    assert np.all(bp[short_b] <= c.price + TOL)
    assert np.all(ap[short_a] >= c.price - TOL)
    assert c.marginal_ask == pytest.approx(ap[filled_a].max())


@settings(max_examples=200, deadline=None)
@given(bids=_side, asks=_side, k=st.floats(0.0, 1.0), data=st.data())
def test_clearing_is_invariant_to_input_order(bids, asks, k, data):
    bq, bp = _split(bids)
    aq, ap = _split(asks)
    pb = np.array(data.draw(st.permutations(range(len(bq)))), dtype=int)
    pa = np.array(data.draw(st.permutations(range(len(aq)))), dtype=int)
    c = clear_call_auction(bq, bp, aq, ap, k=k)
    d = clear_call_auction(bq[pb], bp[pb], aq[pa], ap[pa], k=k)
    tol = TOL * (1 + bq.sum() + aq.sum())
    assert d.volume == pytest.approx(c.volume, abs=tol)
    if math.isnan(c.price):
        assert math.isnan(d.price)
    else:
        assert d.price == pytest.approx(c.price, abs=TOL)
    # Fills follow the agents, not their position in the arrays.
    np.testing.assert_allclose(d.bid_fill, c.bid_fill[pb], atol=tol)
    np.testing.assert_allclose(d.ask_fill, c.ask_fill[pa], atol=tol)


# ----------------------------------------------------------------------------------------- vwap


def test_vwap_weights_prices_by_volume():
    assert vwap(_arr(10, 20), _arr(1, 3), fallback=-1.0) == pytest.approx(17.5)
    assert vwap(_arr(42), _arr(5), fallback=-1.0) == pytest.approx(42.0)


def test_vwap_falls_back_when_nothing_traded():
    assert vwap(_arr(10, 20), _arr(0, 0), fallback=56.0) == 56.0
    assert vwap(_arr(), _arr(), fallback=7.0) == 7.0


# ----------------------------------------------------------------------------------------- allocate_offers


def test_allocate_offers_beta_zero_splits_equally_over_open_regions():
    volume = _arr(10, 6, 3)
    prices = np.array([[50.0, 100.0, 80.0], [50.0, 100.0, 80.0], [50.0, 100.0, 80.0]])
    open_ = np.array([[True, True, False], [True, False, False], [False, False, False]])
    out = allocate_offers(volume, prices, beta=0.0, open_=open_)
    np.testing.assert_allclose(out, [[5.0, 5.0, 0.0], [6.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_allocate_offers_is_a_logit_in_log_price():
    # Shares are proportional to price ** beta: 10, 20, 40 with beta 2 -> 1 : 4 : 16.
    out = allocate_offers(_arr(21), np.array([[10.0, 20.0, 40.0]]), beta=2.0, open_=np.ones((1, 3), bool))
    np.testing.assert_allclose(out, [[1.0, 4.0, 16.0]])


def test_allocate_offers_closed_regions_get_nothing_even_at_the_best_price():
    out = allocate_offers(_arr(9), np.array([[10.0, 1000.0, 20.0]]), beta=6.0,
                          open_=np.array([[True, False, True]]))
    assert out[0, 1] == 0.0
    assert out.sum() == pytest.approx(9.0)
    assert out[0, 2] > out[0, 0]


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 5),
    m=st.integers(1, 6),
    beta=st.floats(0.0, 10.0),
)
def test_allocate_offers_properties(data, n, m, beta):
    volume = np.array(data.draw(st.lists(st.floats(0.0, 1e4), min_size=n, max_size=n)))
    prices = np.array(data.draw(st.lists(st.floats(0.0, 1e3), min_size=n * m, max_size=n * m))).reshape(n, m)
    open_ = np.array(data.draw(st.lists(st.booleans(), min_size=n * m, max_size=n * m))).reshape(n, m)
    out = allocate_offers(volume, prices, beta, open_)
    assert out.shape == (n, m)
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    assert np.all(out[~open_] == 0.0)
    any_open = open_.any(axis=1)
    np.testing.assert_allclose(out.sum(axis=1)[any_open], volume[any_open], rtol=1e-9, atol=1e-9)
    assert np.all(out.sum(axis=1)[~any_open] == 0.0)
    # Among a seller's open regions, a higher net price never gets less.
    for i in range(n):
        idx = np.flatnonzero(open_[i])
        order = idx[np.argsort(prices[i, idx], kind="stable")]
        assert np.all(np.diff(out[i, order]) >= -1e-9 * (1 + volume[i]))
