"""The spot markets: one call auction per (material, importing region) outside China, cleared at once,
then China's domestic market (phase 5 of the week; docs/ODD.md 7.9, 7.10, 7.12a, 7.12b)."""

from __future__ import annotations

import numpy as np

from reflow.agents import StrategicStockpile
from reflow.agents.manufacturers import wtp
from reflow.domain import CN, MAGNET, MAT, OXIDES
from reflow.licensing import quota_licence_ask
from reflow.market import BatchClearing, SortedOrders, allocate_offers, clear_call_auctions, restrict_offers
from reflow.phases.common import (
    EXPORT_OFFER_HEADROOM,
    IMP,
    K_CHINA,
    K_MAGNET_MAKER,
    K_RESALE,
    K_SMUGGLER,
    K_STOCKPILE,
    K_SUPPLIER,
    NM,
    NR,
    RESALE_ABOVE,
    RESALE_DOWN_TO,
    ROUTINE_MARKUP,
    add_at,
)
from reflow.policy import PolicyState
from reflow.transshipment import leakage_offer, smuggler_ask


class SpotMarkets:
    """The ex-China spot markets and China's domestic market: methods of `ReflowModel` (mixed in), working on
    its state."""

    def _spot_markets(self, w: int, pol: PolicyState, target: np.ndarray, pipeline: np.ndarray) -> None:
        """Ex-China spot markets: one call auction per (material, importing region) with buyers, cleared at once.

        The markets of a week are independent but for one link: the oxide markets update magnet makers'
        Chinese content, which the extraterritorial rule reads. With that rule in force on magnets, the oxide
        markets clear first and the magnet markets after them.
        """
        gap = np.maximum(0.0, target - self.pop.stock - pipeline)
        # Prices are anchored on China's export parity (what a buyer pays in normal times): bids add a
        # scarcity premium to it, sellers shade it by their stock. Anchoring on last week's ex-China price
        # instead would let prices ratchet, since bids sit above expectations whenever buyers have a gap.
        parity = self._parity(pol)
        bid_vol = self._by_material_region(gap)
        offers = self._spot_offers(pol, parity, bid_vol)
        two_pass = pol.extraterritorial[MAGNET] and len(self._mk)
        passes = [np.array([MAT[o] for o in OXIDES]), np.array([MAGNET])] if two_pass else [np.arange(NM)]
        for mats in passes:
            cn_sold = self._clear_spot(w, pol, mats, gap, target, parity, bid_vol, offers)
            # Whatever the export licences or spot sales used of the quota (never below zero).
            qb = self.quota_bank[mats]
            self.quota_bank[mats] = np.where(np.isfinite(qb), np.maximum(0.0, qb - cn_sold[mats]), qb)

    def _spot_offers(self, pol: PolicyState, parity: np.ndarray, bid_vol: np.ndarray) -> dict[str, np.ndarray]:
        """What each seller brings to this week's spot markets (and alternative suppliers to China's)."""
        fl, pop, prod = self.fleet, self.pop, self.prod
        beta = self.config.investment.supply_allocation_beta
        o: dict[str, np.ndarray] = {}
        # Alternative suppliers split their stock across regions by a logit on the net price they expect there,
        # weighted by each market's size (China's is its domestic demand); magnet makers split the magnets
        # they hold across importing regions the same way. (One call: the split is row by row.)
        sm = fl.material
        weights = bid_vol[sm]
        weights[:, CN] = self.domestic.demand_week[sm]
        net = self.p_ex_exp[sm] / (1.0 + pol.tariff[sm, :, fl.region])
        net[:, CN] = self.p_cn_exp[sm]
        vol, open_ = np.maximum(0.0, fl.stock), np.ones_like(net, bool)
        mk = self._mk
        if len(mk):
            mk_org = pop.region[mk]
            netm = self.p_ex_exp[MAGNET][None, :] / (1.0 + pol.tariff[MAGNET][:, mk_org].T)
            vol = np.concatenate([vol, np.maximum(pop.goods[mk], 0.0)])
            net, open_ = np.concatenate([net, netm]), np.concatenate([open_, self._mk_open])
            weights = np.concatenate([weights, np.broadcast_to(bid_vol[MAGNET], netm.shape)])
        alloc = allocate_offers(vol, net, beta, open_, weights)
        o["sup_alloc"], o["mk_alloc"] = alloc[: len(fl)], alloc[len(fl):]
        o["sup_shade"] = fl.shade
        # Asks at the destination's parity, shaded by stock, never below delivered cost.
        self._cn_alt = (o["sup_alloc"][:, CN].copy(),
                        np.maximum(fl.cost * (1 + self.freight[sm]), parity[sm, CN] * o["sup_shade"]))
        if len(mk):
            o["mk_cost"] = pop.magnet_unit_cost(self.config.manufacturers.magnet_conversion_cost, self._magnet_bom)
            o["mk_shade"] = pop.magnet_ask_shade()
        # Chinese exporters offer into regions without controls, within stock and the export quota.
        p_stock = np.maximum(0.0, prod.stock)
        o["p_ask"] = prod.ask(self.p_cn_exp[prod.material], pol.cn_price_floor[prod.material])
        open_cn = ~pol.controlled & ~pol.embargo
        open_cn[:, CN] = False
        o["open_cn"] = open_cn
        demand_open = np.where(open_cn, bid_vol, 0.0)[:, IMP].sum(axis=1)
        stock_m = prod.by_material(p_stock).sum(axis=1)
        cn_budget = np.minimum(0.8 * stock_m, self.quota_bank)
        o["cn_scale"] = np.minimum(1.0, cn_budget / np.maximum(EXPORT_OFFER_HEADROOM * demand_open, 1e-12))
        # What the official offers can sell at most; smugglers offer only from the rest of the stock.
        o["cn_room"] = np.maximum(0.0, stock_m - np.minimum(EXPORT_OFFER_HEADROOM * demand_open, cn_budget))
        o["quota_scarcity"] = np.where(np.isfinite(self.quota_bank),
                                       np.clip(1.0 - self.quota_bank / np.maximum(demand_open, 1e-12), 0.0, 1.0), 0.0)
        o["p_share"] = p_stock / np.maximum(stock_m, 1e-12)[prod.material]
        return o

    def _clear_spot(self, w: int, pol: PolicyState, mats: np.ndarray, gap: np.ndarray, target: np.ndarray,
                    parity: np.ndarray, bid_vol: np.ndarray, o: dict[str, np.ndarray]) -> np.ndarray:
        """Build, clear and book the spot markets of materials `mats`; returns what Chinese exporters sold
        (t per material)."""
        pop, fl, prod = self.pop, self.fleet, self.prod
        mc = self.config.manufacturers
        K = mc.bid_tiers
        # --- markets: (material, importing region) pairs with at least one buyer, in that order ---------------
        f, g = np.nonzero(gap[:, mats] > 1e-9)  # buyer rows (firm, material), firms in order
        m_b, r_b = mats[g], pop.region[f]
        has = np.zeros((NM, NR), bool)
        has[m_b, r_b] = True
        mk_m, mk_r = np.nonzero(has)
        S = len(mk_m)
        mid = np.full((NM, NR), -1, np.int64)
        mid[mk_m, mk_r] = np.arange(S)
        row_mkt = mid[m_b, r_b]
        if S == 0:
            return np.zeros(NM)
        # --- bids: K tiers per firm, each priced by the cover it would leave -------------------------------
        q = gap[f, m_b] / K
        tier_q = np.repeat(q, K)
        extra = (np.arange(K)[None, :] * q[:, None]).ravel()
        m_rep, r_rep = np.repeat(m_b, K), np.repeat(r_b, K)
        urg = pop.urgency(m_rep, np.repeat(f, K), extra)
        bid_p = wtp(parity[m_rep, r_rep], self.wtp_ceiling[m_rep], urg, mc.wtp_convexity)
        # --- asks, each market listing suppliers, magnet makers, Chinese exporters, resellers, stockpiles ----
        parts: list[tuple[np.ndarray, ...]] = []
        sm, si = np.nonzero(mk_m[:, None] == fl.material[None, :])
        if len(si):
            m, r, org = mk_m[sm], mk_r[sm], fl.region[si]
            ask = np.maximum(self._delivered(pol, fl.cost[si], m, r, org), parity[m, r] * o["sup_shade"][si])
            parts.append((sm, o["sup_alloc"][si, r], ask, np.full(len(si), K_SUPPLIER), si, org))
        mag = np.flatnonzero(mk_m == MAGNET)
        mk = self._mk
        if len(mag) and len(mk):
            mk_org = pop.region[mk]
            alloc = o["mk_alloc"]
            if pol.extraterritorial[MAGNET]:
                # Foreign-made magnets with Chinese content above the threshold need a licence to leave the
                # maker's region. A maker holds one for a destination or not (the share `approval_rate` of
                # them); what it meant for the others goes where it may sell, and never leaks out later.
                bound = pop.cn_content[mk] >= pol.et_threshold
                abroad = np.arange(NR)[None, :] != mk_org[:, None]
                alloc = restrict_offers(alloc, ~(bound[:, None] & abroad) | (self._et_draw() < pol.et_approval))
            sm = np.repeat(mag, len(mk))
            j = np.tile(np.arange(len(mk)), len(mag))
            r, org = mk_r[sm], mk_org[j]
            parts.append((sm, alloc[j, r], self._maker_ask(pol, o["mk_cost"][j], o["mk_shade"][j], r, org),
                          np.full(len(j), K_MAGNET_MAKER), j, org))
        cs = np.flatnonzero(o["open_cn"][mk_m, mk_r] & (o["cn_scale"][mk_m] > 0))
        if len(cs):
            k = prod.per_material
            sm = np.repeat(cs, k)
            m, r = mk_m[sm], mk_r[sm]
            p = m * k + np.tile(np.arange(k), len(cs))
            ask = o["p_ask"][p] * (1 + self.freight[m]) * (1 + pol.export_tax[m]) * (1 + pol.tariff[m, r, CN])
            # Under a binding export quota the official channel also costs the quota licence (its rent).
            share = self.config.china.quota_rent_share
            if share > 0:
                ask = quota_licence_ask(ask, self.p_ex_exp[m, r], share, o["quota_scarcity"][m])
            licence = self._licence_price(pol)
            if licence > 0:
                ask = ask + licence * np.isfinite(pol.quota_tpy[m])
            parts.append((sm, EXPORT_OFFER_HEADROOM * bid_vol[m, r] * o["cn_scale"][m] * o["p_share"][p],
                          ask, np.full(len(p), K_CHINA), p, np.full(len(p), CN)))
        # Smugglers: when official exports are blocked or rationed and the premium is large, Chinese stock
        # leaks out through third-country hubs, untaxed, at parity plus the smugglers' costs.
        tc = self.config.transshipment
        restricted = pol.controlled | pol.embargo | np.isfinite(pol.quota_tpy)[:, None]
        premium = self.p_ex_exp / np.maximum(parity, 1e-12) - 1.0
        smug_ask = smuggler_ask(parity * self._floor_lift(pol)[:, None] / (1 + pol.export_tax[:, None]), tc.cost_share,
                                tc.cost_per_kg)
        leak = leakage_offer(premium, restricted, self._base_exports, self._demand_share, tc.max_share,
                             tc.premium_scale, pol.enforcement, margin=self.p_ex_exp - smug_ask,
                             profit_scale=tc.profit_scale)
        ls = np.flatnonzero(leak[mk_m, mk_r] > 1e-12)
        if len(ls):
            k = prod.per_material
            sm = np.repeat(ls, k)
            m, r = mk_m[sm], mk_r[sm]
            p = m * k + np.tile(np.arange(k), len(ls))
            ask = smug_ask[m, r]
            # Official and smuggled sales together never exceed a producer's stock (p_share follows stock).
            offered = np.bincount(mk_m[ls], weights=leak[mk_m[ls], mk_r[ls]], minlength=NM)
            fit = np.where(offered > o["cn_room"], o["cn_room"] / np.maximum(offered, 1e-300), 1.0)
            parts.append((sm, leak[m, r] * fit[m] * o["p_share"][p], ask, np.full(len(p), K_SMUGGLER), p,
                          np.full(len(p), CN)))
        # Firms holding far more than they want resell the excess (the ex-China spot market is largely
        # stock changing hands in a crunch); they ask what they would bid themselves at target cover.
        tg = target[:, mats]
        lf, lg = np.nonzero((tg > 0) & (pop.stock[:, mats] > RESALE_ABOVE * tg))
        lm, lr = mats[lg], pop.region[lf]
        keep = mid[lm, lr] >= 0
        lf, lm, lr = lf[keep], lm[keep], lr[keep]
        if len(lf):
            parts.append((mid[lm, lr], pop.stock[lf, lm] - RESALE_DOWN_TO * target[lf, lm],
                          parity[lm, lr] * (1.0 + ROUTINE_MARKUP), np.full(len(lf), K_RESALE), lf, lr))
        piles = []
        for key, s in self.stockpiles.items():
            if key in pol.releases and mid[s.material, s.region] >= 0:
                parts.append((np.array([mid[s.material, s.region]]), np.array([s.offer(pol.releases[key])]),
                              np.array([self.p_ref[s.material] * (1 + self.freight[s.material])]),
                              np.array([K_STOCKPILE]), np.array([len(piles)]), np.array([s.region])))
                piles.append(s)
        if parts:
            ask_mkt, ask_q, ask_p, kind, idx, org = (np.concatenate(c) for c in zip(*parts, strict=True))
        else:
            ask_mkt = kind = idx = org = np.zeros(0, np.int64)
            ask_q = ask_p = np.zeros(0)
        bid_mkt = np.repeat(row_mkt, K)
        cl = clear_call_auctions(S, bid_mkt, tier_q, bid_p, ask_mkt, ask_q, ask_p, k=0.5)
        self._quote_unsupplied(mk_m, mk_r, bid_mkt, bid_p, ask_mkt, ask_q)
        return self._book_spot(w, cl, mk_m, mk_r, K, f, m_b, row_mkt, ask_mkt, kind, idx, org, piles)

    def _quote_unsupplied(self, mk_m: np.ndarray, mk_r: np.ndarray, bid_mkt: np.ndarray, bid_p: np.ndarray,
                          ask_mkt: np.ndarray, ask_q: np.ndarray) -> None:
        """A market where buyers bid and nobody offers anything trades nothing, yet it shows a price: a buyer
        stands ready to pay its top bid, so the price is at least that (the first tonne offered would clear
        there). Where the top bid is above the expected price, expectations follow it as they follow a clearing
        price (ODD 7.16). Without this such a market never signals its scarcity, and the sellers who answer to
        the expected price (the unofficial channel, 7.12a; suppliers' and makers' split across regions, 7.4)
        never come to it, however high buyers bid."""
        S = len(mk_m)
        offered = np.bincount(ask_mkt, weights=ask_q, minlength=S)
        top = np.full(S, -np.inf)
        np.maximum.at(top, bid_mkt, bid_p)
        quote = (offered <= 1e-12) & (top > self.p_ex_exp[mk_m, mk_r])
        self._spot[mk_m[quote], mk_r[quote]] = top[quote]

    def _book_spot(self, w: int, cl: BatchClearing, mk_m: np.ndarray, mk_r: np.ndarray, K: int, f: np.ndarray,
                   m_b: np.ndarray, row_mkt: np.ndarray, ask_mkt: np.ndarray, kind: np.ndarray, idx: np.ndarray,
                   org: np.ndarray, piles: list[StrategicStockpile]) -> np.ndarray:
        """Book the spot clearings: prices, buyers' stock and the week's ledger, flows by seller origin, and
        sellers' stock; returns what Chinese exporters sold (t per material). Every total is added up in the
        order of the market's orders."""
        pop, rec, fl, prod = self.pop, self.rec, self.fleet, self.prod
        S = len(mk_m)
        fin = np.isfinite(cl.marginal_ask)
        rec["price_ex_ask"][w, mk_m[fin], mk_r[fin]] = cl.marginal_ask[fin]
        tr = cl.volume > 0
        if not tr.any():
            return np.zeros(NM)
        self._spot[mk_m[tr], mk_r[tr]] = cl.price[tr]
        fill = cl.ask_fill
        a_tr = tr[ask_mkt]
        am, ar = mk_m[ask_mkt], mk_r[ask_mkt]
        resale = a_tr & (kind == K_RESALE)
        pop.stock[idx[resale], am[resale]] -= fill[resale]  # one ask per (firm, material)
        # Buyers: what each firm got over its tiers; material resold between a region's firms did not come in.
        got = np.bincount(np.repeat(np.arange(len(f)), K), weights=cl.bid_fill, minlength=len(f))
        rt = tr[row_mkt]
        fb, mb, rm, gb = f[rt], m_b[rt], row_mkt[rt], got[rt]
        pop.stock[fb, mb] += gb
        vol = np.bincount(rm, weights=gb, minlength=S)
        resold = np.bincount(ask_mkt[resale], weights=fill[resale], minlength=S)
        imported = 1.0 - resold / np.maximum(vol, 1e-12)
        got_in = gb * imported[rm]
        self._received[fb, mb] += got_in
        pos = pop.mk_pos[fb]
        mk = pos >= 0  # magnet makers' purchases, one row per (firm, material)
        self._paid[pos[mk], mb[mk]] += gb[mk] * cl.price[rm[mk]]
        self._resold_to[pos[mk], mb[mk]] += gb[mk] - got_in[mk]
        self._vol[mk_m[tr], mk_r[tr]] += vol[tr]
        self._val[mk_m[tr], mk_r[tr]] += vol[tr] * cl.price[tr]
        moved = a_tr & (kind != K_RESALE)
        add_at(rec["flow"][w], (am[moved], org[moved], ar[moved]), fill[moved])
        # Sellers.
        def sold_by(k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
            """Which asks of kind k traded, and what each seller of that kind (index idx, n of them) sold."""
            sel = a_tr & (kind == k)
            out = np.zeros(n)
            if sel.any():
                np.add.at(out, idx[sel], fill[sel])
            return sel, out

        fl.stock -= sold_by(K_SUPPLIER, len(fl))[1]
        mk_sold = sold_by(K_MAGNET_MAKER, len(self._mk))[1]
        pop.goods[self._mk] -= mk_sold
        self._mk_sold[self._mk] += mk_sold
        china, cn_sold = sold_by(K_CHINA, len(prod))
        prod.stock -= cn_sold
        smug, leaked = sold_by(K_SMUGGLER, len(prod))
        prod.stock -= leaked
        un = np.bincount(ask_mkt[smug], weights=fill[smug], minlength=S) if smug.any() else None
        if un is not None:
            rec["exports_cn_unofficial"][w, mk_m[tr], mk_r[tr]] += un[tr]
        for j, s in enumerate(piles):
            s.stock -= float(fill[a_tr & (kind == K_STOCKPILE) & (idx == j)].sum())
        cn = np.bincount(ask_mkt[china], weights=fill[china], minlength=S)
        rec["exports_cn"][w, mk_m[tr], mk_r[tr]] += cn[tr]
        # Magnet makers' Chinese content follows the Chinese share of the oxides they buy, oxide by oxide.
        cn_all = cn + (un if un is not None else 0.0)
        cn_part = cn_all / np.maximum(cl.volume, 1e-12)
        mkb = rt & pop.is_magnet_maker[f]
        for o in OXIDES:
            b = np.flatnonzero(mkb & (m_b == MAT[o]))
            if len(b):
                pop.cn_content[f[b]] += 0.05 * (cn_part[row_mkt[b]] - pop.cn_content[f[b]])
        return prod.by_material(cn_sold).sum(axis=1)

    def _china_market(self, w: int, pol: PolicyState) -> None:
        """China's domestic market: Chinese producers' stock and imported alt supply against domestic demand,
        one call auction per material, cleared at once."""
        rec, prod, fl = self.rec, self.prod, self.fleet
        alt_vol, alt_ask = self._cn_alt
        P = len(prod)
        bid_q, bids = self._dom_bid_q, self._dom_bids
        # Shifts of the whole demand curve: hoarding on the price trend, and use against a lasting price (7.3).
        scale = (self.domestic.hoarding_factor(self.p_cn_exp / self.p_cn_slow, self.config.china.hoarding_response,
                                               self.config.manufacturers.hoarding_limit)
                 if self._hoarding else None)
        if self._lasting:
            lasting = np.power(self.p_cn_slow / self.p_ref, self._lr_gap)
            scale = lasting if scale is None else scale * lasting
        if scale is not None:
            bid_q = bid_q * scale[self._dom_bid_mkt]
            bids = SortedOrders.bids(self._dom_bid_mkt, bid_q, self._dom_bid_p, NM)
        elif bids is None:  # grown since last sorted
            bids = self._dom_bids = SortedOrders.bids(self._dom_bid_mkt, bid_q, self._dom_bid_p, NM)
        # Asked again after the export markets: what producers sold abroad changed their stock cover.
        p_ask = prod.ask(self.p_cn_exp[prod.material], pol.cn_price_floor[prod.material])
        cl = clear_call_auctions(
            NM, self._dom_bid_mkt, bid_q, self._dom_bid_p,
            np.concatenate([prod.material, fl.material]),
            np.concatenate([np.maximum(0.0, prod.stock), np.minimum(alt_vol, np.maximum(0.0, fl.stock))]),
            np.concatenate([p_ask, alt_ask]), k=0.5, bids=bids)
        tr = cl.volume > 0
        self.p_cn[tr] = cl.price[tr]
        p_fill, s_fill = cl.ask_fill[:P], cl.ask_fill[P:]
        prod.stock -= p_fill
        fl.stock -= s_fill
        flow = rec["flow"][w]
        # np.add.at: two suppliers of one material in one region both book their sales.
        np.add.at(flow, (fl.material, fl.region, CN), s_fill)
        flow[np.flatnonzero(tr), CN, CN] += prod.by_material(p_fill).sum(axis=1)[tr]
        self.domestic.consumed[:] = np.where(tr, cl.volume, 0.0)
        rec["price_cn"][w] = self.p_cn
