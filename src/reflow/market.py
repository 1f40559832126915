"""Market clearing: a uniform-price call auction on numpy arrays (pure functions, no Mesa).

Each week, per material and importing region (and for China's domestic market), sellers post asks (quantity,
lowest acceptable price) and buyers post bids (quantity, highest acceptable price). Asks are sorted up, bids
down; the traded volume is where the curves cross. Everyone trades at one price chosen inside the interval the
crossing leaves open (a k-double auction): with excess supply the price is the marginal ask, with excess demand
the marginal bid, which is what lets scarcity show up as price spikes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BatchClearing", "Clearing", "SortedOrders", "allocate_offers", "clear_call_auction",
           "clear_call_auctions", "running_sum", "vwap"]

_EPS = 1e-12


@dataclass(frozen=True)
class Clearing:
    """Result of one call auction.

    Attributes:
        price: uniform clearing price (NaN when nothing traded).
        volume: quantity traded.
        bid_fill: quantity each bid received (same order as the input).
        ask_fill: quantity each ask sold.
        marginal_ask: the highest accepted ask, or the cheapest ask when nothing traded (NaN without asks).
    """

    price: float
    volume: float
    bid_fill: np.ndarray
    ask_fill: np.ndarray
    marginal_ask: float


def running_sum(x: np.ndarray) -> float:
    """Sum of `x` added up in order (numpy's `sum` adds pairwise, so its last bit depends on the length).

    Clearing sums this way so that a batch of markets, totalled per market with `np.bincount`, gives exactly the
    same numbers as clearing each market alone: the model is sensitive to the last bit.
    """
    return float(np.cumsum(x)[-1]) if len(x) else 0.0


def _fill_in_order(q: np.ndarray, order: np.ndarray, prices_sorted: np.ndarray, total: float) -> np.ndarray:
    """Fill quantities in `order` up to `total`, sharing pro rata among tied prices at the margin."""
    fill = np.zeros_like(q)
    if total <= _EPS:
        return fill
    qs = q[order]
    cum = np.cumsum(qs)
    # The marginal entry is the first whose cumulative quantity reaches the total. Every entry at its price
    # shares what is left after the strictly better prices, pro rata, so ties never depend on input order.
    m = min(int(np.searchsorted(cum, total * (1 - 1e-12), side="left")), len(qs) - 1)
    tied = prices_sorted == prices_sorted[m]
    first_tied = int(np.argmax(tied))
    fill_sorted = np.where(np.arange(len(qs)) < first_tied, qs, 0.0)
    rest = max(total - (float(cum[first_tied - 1]) if first_tied else 0.0), 0.0)
    fill_sorted[tied] = np.minimum(qs[tied], rest * qs[tied] / running_sum(qs[tied]))
    fill[order] = fill_sorted
    return fill


def clear_call_auction(
    bid_q: np.ndarray,
    bid_p: np.ndarray,
    ask_q: np.ndarray,
    ask_p: np.ndarray,
    k: float = 0.5,
) -> Clearing:
    """Clear a uniform-price call auction.

    Args:
        bid_q: bid quantities (t), non-negative.
        bid_p: bid limit prices (USD/kg).
        ask_q: ask quantities (t), non-negative.
        ask_p: ask limit prices (USD/kg).
        k: where in the open price interval the price is set (0 = lower end, 1 = upper end).

    Returns:
        The clearing (price, volume, fills per bid and ask, marginal ask).
    """
    bid_q = np.asarray(bid_q, dtype=float)
    bid_p = np.asarray(bid_p, dtype=float)
    ask_q = np.asarray(ask_q, dtype=float)
    ask_p = np.asarray(ask_p, dtype=float)
    live_a = ask_q > _EPS
    live_b = bid_q > _EPS
    cheapest = float(ask_p[live_a].min()) if live_a.any() else float("nan")
    empty = Clearing(float("nan"), 0.0, np.zeros_like(bid_q), np.zeros_like(ask_q), cheapest)
    if not live_a.any() or not live_b.any():
        return empty

    a_ord = np.flatnonzero(live_a)[np.argsort(ask_p[live_a], kind="stable")]
    b_ord = np.flatnonzero(live_b)[np.argsort(-bid_p[live_b], kind="stable")]
    a_p, b_p = ask_p[a_ord], bid_p[b_ord]
    a_cum, b_cum = np.cumsum(ask_q[a_ord]), np.cumsum(bid_q[b_ord])
    # For ask step i, the bids willing to pay its price are a prefix of the sorted bids.
    n_willing = np.searchsorted(-b_p, -a_p, side="right")
    a_before = np.concatenate(([0.0], a_cum[:-1]))
    reach = np.where(n_willing > 0, np.minimum(a_cum, b_cum[np.maximum(n_willing - 1, 0)]), 0.0)
    reach = np.where(reach > a_before, reach, 0.0)  # the step must actually be reached
    volume = float(reach.max())
    if volume <= _EPS:
        return empty

    ask_fill = _fill_in_order(ask_q, a_ord, a_p, volume)
    bid_fill = _fill_in_order(bid_q, b_ord, b_p, volume)
    a_full = ask_fill >= ask_q - 1e-9
    b_full = bid_fill >= bid_q - 1e-9
    # Accepted orders: those filled beyond dust; when a dust-sized volume is spread so thin that no order on a
    # side gets more than dust, every order with a fill counts.
    acc_a, acc_b = ask_fill > _EPS, bid_fill > _EPS
    acc_a = acc_a if acc_a.any() else ask_fill > 0
    acc_b = acc_b if acc_b.any() else bid_fill > 0
    last_ask = float(ask_p[acc_a].max())
    last_bid = float(bid_p[acc_b].min())
    rej_b = live_b & ~b_full
    rej_a = live_a & ~a_full
    first_rej_bid = float(bid_p[rej_b].max()) if rej_b.any() else -np.inf
    first_rej_ask = float(ask_p[rej_a].min()) if rej_a.any() else np.inf
    lower = max(last_ask, first_rej_bid)
    upper = min(last_bid, first_rej_ask)
    if upper < lower:  # only through float noise at ties
        upper = lower
    price = lower + k * (upper - lower)
    return Clearing(price, volume, bid_fill, ask_fill, last_ask)


@dataclass(frozen=True)
class BatchClearing:
    """Results of many independent call auctions cleared at once (see `clear_call_auctions`).

    Attributes:
        price: (n_markets,) uniform clearing price of each market (NaN where nothing traded).
        volume: (n_markets,) quantity traded.
        bid_fill: quantity each bid received (same order as the input).
        ask_fill: quantity each ask sold.
        marginal_ask: (n_markets,) the highest accepted ask, or the cheapest ask when nothing traded (NaN
            without asks).
    """

    price: np.ndarray
    volume: np.ndarray
    bid_fill: np.ndarray
    ask_fill: np.ndarray
    marginal_ask: np.ndarray


class SortedOrders:
    """One side of a batch of order books: the live orders sorted by (market, price), best price first.

    Build it with `SortedOrders.bids` / `SortedOrders.asks`, or let `clear_call_auctions` build it; a side that
    does not change from call to call (China's domestic demand curves) can be built once and passed in.
    """

    def __init__(self, market: np.ndarray, q: np.ndarray, key: np.ndarray, n_markets: int) -> None:
        market = np.asarray(market, dtype=np.int64)
        q = np.asarray(q, dtype=float)
        live = np.flatnonzero(q > _EPS)
        order = np.lexsort((key[live], market[live]))  # stable: ties keep input order, as in a per-market sort
        self.n_markets = n_markets
        self.idx = live[order]  # input position of each sorted order
        self.seg = market[self.idx]
        self.q = q[self.idx]
        self.key = key[self.idx]  # ascending within a market: the ask price, or minus the bid price
        self.count = np.bincount(self.seg, minlength=n_markets)
        self.start = np.cumsum(self.count) - self.count
        self.pos = np.arange(len(self.idx)) - self.start[self.seg]
        # Running totals per market, added in order: a padded (market, position) table's cumsum along rows
        # gives exactly the numbers a per-market cumsum gives.
        table = np.zeros((n_markets, int(self.count.max(initial=0))))
        table[self.seg, self.pos] = self.q
        self.cum = np.cumsum(table, axis=1)[self.seg, self.pos]

    @classmethod
    def bids(cls, market: np.ndarray, q: np.ndarray, p: np.ndarray, n_markets: int) -> SortedOrders:
        """Bids sorted by market, then price from the highest."""
        return cls(market, q, -np.asarray(p, dtype=float), n_markets)

    @classmethod
    def asks(cls, market: np.ndarray, q: np.ndarray, p: np.ndarray, n_markets: int) -> SortedOrders:
        """Asks sorted by market, then price from the lowest."""
        return cls(market, q, np.asarray(p, dtype=float), n_markets)

    def fill(self, total: np.ndarray, traded: np.ndarray, n: int) -> np.ndarray:
        """Fill in order up to each market's `total`, pro rata among tied prices at the margin (as
        `_fill_in_order`); returns the fills in input order (length n), zero in markets that did not trade."""
        out = np.zeros(n)
        N = len(self.idx)
        if N == 0:
            return out
        seg, q, key = self.seg, self.q, self.key
        in_trade = traded[seg]
        # The marginal order: the first whose running total reaches the market's total.
        m = np.bincount(seg, weights=self.cum < (total * (1 - 1e-12))[seg], minlength=self.n_markets)
        m = np.minimum(m.astype(np.int64), self.count - 1)
        key_m = key[np.clip(self.start + m, 0, N - 1)][seg]
        tied = (key == key_m) & in_trade
        # Orders at better prices than the tied block (keys are sorted within a market).
        n_better = np.bincount(seg, weights=key < key_m, minlength=self.n_markets).astype(np.int64)
        before = np.where(n_better > 0, self.cum[np.maximum(self.start + n_better - 1, 0)], 0.0)
        rest = np.maximum(total - before, 0.0)
        tq, ts = q[tied], seg[tied]
        tied_sum = np.bincount(ts, weights=tq, minlength=self.n_markets)
        f = np.where((self.pos < n_better[seg]) & in_trade, q, 0.0)
        f[tied] = np.minimum(tq, rest[ts] * tq / tied_sum[ts])
        out[self.idx] = f
        return out


def clear_call_auctions(
    n_markets: int,
    bid_market: np.ndarray,
    bid_q: np.ndarray,
    bid_p: np.ndarray,
    ask_market: np.ndarray,
    ask_q: np.ndarray,
    ask_p: np.ndarray,
    k: float = 0.5,
    *,
    bids: SortedOrders | None = None,
) -> BatchClearing:
    """Clear many independent uniform-price call auctions in one call.

    Market by market, the result is exactly (to the bit) what `clear_call_auction` gives for that market's
    bids and asks in the order they appear here: orders are sorted by (market, price) with ties in input
    order, running totals and per-market sums are added in order, and the crossing, fills, price interval and
    marginal ask follow the same rules.

    Args:
        n_markets: number of markets; market ids run from 0 to n_markets - 1.
        bid_market, ask_market: market id of each bid and ask.
        bid_q, bid_p, ask_q, ask_p: quantities (t) and limit prices (USD/kg), as for `clear_call_auction`.
        k: where in the open price interval the price is set (0 = lower end, 1 = upper end).
        bids: the bids already sorted (`SortedOrders.bids` of the same bid arrays), to save sorting them again.

    Returns:
        Price, volume and marginal ask per market, and fills per bid and ask.
    """
    bid_q = np.asarray(bid_q, dtype=float)
    bid_p = np.asarray(bid_p, dtype=float)
    ask_q = np.asarray(ask_q, dtype=float)
    ask_p = np.asarray(ask_p, dtype=float)
    bid_market = np.asarray(bid_market, dtype=np.int64)
    ask_market = np.asarray(ask_market, dtype=np.int64)
    S = n_markets
    asks = SortedOrders.asks(ask_market, ask_q, ask_p, S)
    if bids is None:
        bids = SortedOrders.bids(bid_market, bid_q, bid_p, S)
    cheapest = np.full(S, np.nan)
    has_a = asks.count > 0
    cheapest[has_a] = asks.key[asks.start[has_a]]

    # For each ask step, the bids willing to pay its price are a prefix of its market's sorted bids: count
    # them with one search over (market, -price) pairs, ordered lexicographically as complex numbers.
    n_willing = (np.searchsorted(_pairs(bids.seg, bids.key), _pairs(asks.seg, -asks.key), side="right")
                 - bids.start[asks.seg])
    prev = np.where(asks.pos > 0, np.concatenate(([0.0], asks.cum[:-1])), 0.0)
    b_cum_at = bids.cum[np.maximum(bids.start[asks.seg] + n_willing - 1, 0)] if len(bids.cum) else 0.0
    reach = np.where(n_willing > 0, np.minimum(asks.cum, b_cum_at), 0.0)
    reach = np.where(reach > prev, reach, 0.0)  # the step must actually be reached
    volume = np.zeros(S)
    np.maximum.at(volume, asks.seg, reach)
    traded = volume > _EPS
    volume = np.where(traded, volume, 0.0)

    ask_fill = asks.fill(volume, traded, len(ask_q))
    bid_fill = bids.fill(volume, traded, len(bid_q))
    price = np.full(S, np.nan)
    marginal = cheapest
    if traded.any():
        a_full = ask_fill >= ask_q - 1e-9
        b_full = bid_fill >= bid_q - 1e-9
        last_ask = _accepted_extreme(np.maximum, -np.inf, traded, ask_market, ask_p, ask_fill)
        last_bid = _accepted_extreme(np.minimum, np.inf, traded, bid_market, bid_p, bid_fill)
        first_rej_bid = _seg_extreme(np.maximum, -np.inf, S, bid_market, bid_p, (bid_q > _EPS) & ~b_full)
        first_rej_ask = _seg_extreme(np.minimum, np.inf, S, ask_market, ask_p, (ask_q > _EPS) & ~a_full)
        lower = np.maximum(last_ask, first_rej_bid)[traded]
        upper = np.minimum(last_bid, first_rej_ask)[traded]
        upper = np.where(upper < lower, lower, upper)  # only through float noise at ties
        price[traded] = lower + k * (upper - lower)
        marginal = np.where(traded, last_ask, cheapest)
    return BatchClearing(price, volume, bid_fill, ask_fill, marginal)


def _pairs(seg: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(seg, x) pairs as complex numbers, which numpy orders lexicographically (real part first)."""
    c = np.empty(len(seg), complex)
    c.real = seg
    c.imag = x
    return c


def _accepted_extreme(op: np.ufunc, init: float, traded: np.ndarray, seg: np.ndarray, p: np.ndarray,
                      fill: np.ndarray) -> np.ndarray:
    """Per market, the extreme price of the accepted orders: filled beyond dust, or, in a traded market where no
    order is, filled at all (as `clear_call_auction`)."""
    n = len(traded)
    acc = fill > _EPS
    out = _seg_extreme(op, init, n, seg, p, acc)
    thin = traded & (np.bincount(seg[acc], minlength=n) == 0)
    if thin.any():
        out = np.where(thin, _seg_extreme(op, init, n, seg, p, fill > 0), out)
    return out


def _seg_extreme(op: np.ufunc, init: float, n: int, seg: np.ndarray, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full(n, init)
    op.at(out, seg[mask], x[mask])
    return out


def vwap(prices: np.ndarray, volumes: np.ndarray, fallback: float) -> float:
    """Volume-weighted average price, or `fallback` when nothing traded."""
    v = float(np.sum(volumes))
    if v <= _EPS:
        return fallback
    return float(np.dot(prices, volumes) / v)


def restrict_offers(alloc: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Keep each seller's offer where it may sell, moving what it meant for the other regions to those it may.

    Args:
        alloc: (n_sellers, n_regions) t offered per region.
        allowed: (n_sellers, n_regions) bool, where the seller may sell.

    Returns:
        (n_sellers, n_regions) t offered; a row keeps its total wherever any region with an offer is allowed
        (a logit split over the allowed regions only, since shares are proportional), else offers nothing.
    """
    kept = np.where(allowed, alloc, 0.0)
    tot, tot_kept = alloc.sum(axis=1), kept.sum(axis=1)
    scale = np.where(tot_kept > 0, tot / np.where(tot_kept > 0, tot_kept, 1.0), 0.0)
    return kept * scale[:, None]


def allocate_offers(volume: np.ndarray, net_prices: np.ndarray, beta: float, open_: np.ndarray,
                    weights: np.ndarray | None = None) -> np.ndarray:
    """Split each seller's spot volume across regions by a logit on the net prices they expect there.

    Args:
        volume: (n_sellers,) t to offer this week.
        net_prices: (n_sellers, n_regions) expected price net of tariffs, USD/kg.
        beta: sensitivity to relative price (0 = equal split over open regions).
        open_: (n_sellers, n_regions) bool, where the seller may sell at all.
        weights: (n_regions,) or (n_sellers, n_regions) size of each market (e.g. its expected demand); a
            region's share is proportional to weight * price**beta. Default: equal.

    Returns:
        (n_sellers, n_regions) t offered per region; rows sum to `volume` where any region is open.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(open_, np.log(np.maximum(net_prices, 1e-9)), -np.inf)
        top = np.max(logp, axis=1, keepdims=True)
        w = np.where(open_, np.exp(beta * (logp - np.where(np.isfinite(top), top, 0.0))), 0.0)
        if weights is not None:
            w = w * np.broadcast_to(np.maximum(weights, 0.0), w.shape)
        tot = w.sum(axis=1, keepdims=True)
        share = np.where(tot > 0, w / np.where(tot > 0, tot, 1.0), 0.0)
    return share * volume[:, None]
