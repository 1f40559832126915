"""Offtake contracts and supply relationships: deliveries under contract, the quarterly contracting
round, and magnet users buying from their region's makers first (phases 3, 4 and 6 of the week;
docs/ODD.md 7.6, 7.13b)."""

from __future__ import annotations

import numpy as np

from reflow.agents.suppliers import BUILDING, OPERATING
from reflow.contracts import staggered_ends
from reflow.domain import MAGNET
from reflow.phases.common import CONTRACTING_WEEKS, NM, NR, add_at, contract_term_weeks
from reflow.policy import PolicyState


class OfftakesAndRelationships:
    """Offtake contracts and supply relationships: methods of `ReflowModel` (mixed in), working on its state."""

    def _deliver_contracts(self, pol: PolicyState) -> None:
        book = self.offtakes
        book.expire(self.week)
        self.contract_rate[:] = 0.0
        if len(book) == 0:
            return
        fl = self.fleet
        d = book.deliveries(fl.stock.copy())
        fl.stock -= np.bincount(book.supplier, weights=d, minlength=len(fl))
        origin = self.sup_region[book.supplier]
        pricing = self.config.manufacturers.contract_pricing
        if pricing == "fixed":
            agreed = book.price
        else:
            agreed = self._offtake_price(fl.cost[book.supplier], book.material, china=pricing == "indexed_china")
        price = self._delivered(pol, agreed, book.material, self.pop.region[book.buyer], origin)
        self._deliver(book.buyer, book.material, d, price, origin)
        add_at(self.contract_rate, (book.buyer, book.material), d)

    def _offtake_price(self, cost: np.ndarray | float, material: np.ndarray | int,
                       china: bool = False) -> np.ndarray:
        """An offtake's price (USD/kg, before freight and tariff): a share of the investors' expected ex-China
        price (`china`: of China's expected domestic price with freight, the benchmark some offtakes reference),
        never below the supplier's cost; set when a contract is signed, and every week when indexed."""
        ref = self.p_cn_exp * (1 + self.freight) if china else self.p_inv  # per material, then per contract
        return np.maximum(cost, self.config.manufacturers.contract_price_share * ref[material])

    def _contracting_round(self, w: int, pol: PolicyState, staggered: bool = False) -> None:
        """Firms seek offtake contracts for their wanted non-Chinese share; suppliers sign cheapest first. A firm
        accepts an offer when its delivered cost (price, freight from another region, the tariff in force) is
        within what it will pay.

        `staggered` (the starting book only): each buyer's contracts have already run part of their term, so
        they end spread evenly over the next term, each in a round week (`staggered_ends`), and are renewed
        round by round, as a book signed over the years before the start would be, rather than all in one week."""
        pop = self.pop
        mc = self.config.manufacturers
        # Contracts that delivered for the last time this week are over: the round renews them. A new contract
        # delivers from next week for `term` weeks, so that it ends in a round week too.
        self.offtakes.expire(w + 1)
        held = self.offtakes.held(pop.n, NM)
        desired = pop.nc_share * pop.need()
        request = np.where(desired - held > 0.05 * np.maximum(desired, 1e-12), desired - held, 0.0)
        committed = self.offtakes.committed(len(self.suppliers))
        term = contract_term_weeks(mc.contract_years)
        ends = w + (staggered_ends(pop.n, term, CONTRACTING_WEEKS) if staggered else np.full(pop.n, term, np.int64))
        self.unmet_offtake[:] = 0.0
        for m in range(NM):
            ask = request[:, m]
            tot = float(ask.sum())
            if tot <= 1e-12:
                continue
            sup = [i for i in np.flatnonzero(self.sup_material == m)
                   if self.suppliers[i].state in (OPERATING, BUILDING)]
            sup.sort(key=lambda i: self.suppliers[i].cost)
            # What each buyer accepts: the expected price plus a security premium that disruption raises.
            accept = self.p_ex_exp[m, pop.region] * (
                1.0 + mc.security_premium + mc.security_premium_disruption * pop.disruption[:, m])
            left = ask.copy()
            sup_s, buy_s, vol_s, price_s = [], [], [], []
            for i in sup:
                s = self.suppliers[i]
                free = max(0.0, 0.9 * s.nameplate - committed[i])
                price = float(self._offtake_price(s.cost, m))
                ok = (left > 1e-12) & (accept >= self._delivered(pol, price, m, pop.region, s.region))
                want = float(left[ok].sum())
                if free <= 1e-12 or want <= 1e-12:
                    continue
                take = left[ok] * min(1.0, free / want)
                buyers = np.flatnonzero(ok)
                left[buyers] -= take
                committed[i] += float(take.sum())
                sup_s += [i] * len(buyers)
                buy_s += list(buyers)
                vol_s += list(take)
                price_s += [price] * len(buyers)
            self.unmet_offtake[m] = float(left.sum())
            if vol_s:
                self.offtakes.add(np.array(sup_s, np.int64), np.array(buy_s, np.int64),
                                  np.full(len(sup_s), m, np.int64), np.array(vol_s), np.array(price_s),
                                  ends[np.array(buy_s, np.int64)])

    def _buy_from_home_makers(self, pol: PolicyState, target: np.ndarray) -> None:
        """Supply relationships (7.13b): while magnets to a region are under export control, its magnet users buy
        the share `home_share[r]` of their gap from the region's magnet makers first, before they apply for
        licences, order from China or bid on the spot market. Makers serve these orders from their finished
        magnets, pro rata when they hold too few, at the ask they would make on the spot market (7.9); users pay
        the region's mean of those asks, weighted by what each maker sold."""
        pop, mk, mk_reg = self.pop, self._mk, self._mk_reg
        on = (pol.controlled[MAGNET] | self._relationships_always) & (self._home_share > 0)
        u = self._home_users[on[pop.region[self._home_users]]]
        if len(u) == 0:
            return
        ru = pop.region[u]
        gap = target[u, MAGNET] - pop.stock[u, MAGNET]
        if self._holds:
            gap = gap - self.in_customs[u, MAGNET]
        order = self._home_share[ru] * np.maximum(0.0, gap)
        goods = np.where(on[mk_reg], np.maximum(pop.goods[mk], 0.0), 0.0)
        want = np.bincount(ru, weights=order, minlength=NR)
        have = np.bincount(mk_reg, weights=goods, minlength=NR)
        sold = goods * np.minimum(1.0, want / np.maximum(have, 1e-12))[mk_reg]
        cost = pop.magnet_unit_cost(self.config.manufacturers.magnet_conversion_cost, self._magnet_bom)
        ask = self._maker_ask(pol, cost, pop.magnet_ask_shade(), mk_reg, mk_reg)
        price = (np.bincount(mk_reg, weights=sold * ask, minlength=NR)
                 / np.maximum(np.bincount(mk_reg, weights=sold, minlength=NR), 1e-12))
        pop.goods[mk] -= sold
        self._mk_sold[mk] += sold
        got = order * np.minimum(1.0, have / np.maximum(want, 1e-12))[ru]
        self._deliver(u, np.full(len(u), MAGNET), got, price[ru], ru)
