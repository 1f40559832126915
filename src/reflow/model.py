"""The Mesa model: builds the agents from a validated scenario and steps the weekly market.

One step is one calendar week. Its phases, in order (docs/ODD.md, "Process overview and scheduling"):

1. policy: the timeline's state this week; files for items no longer controlled are withdrawn and ship freely;
2. supply: projects finish (or fail) and ramp, candidates decide to invest (quarterly), everyone produces;
3. offtake contracts deliver;
4. licensing: firms that need a licence apply (every few weeks), the authority reviews due files, approved
   tonnes ship from Chinese stock; firms holding a general licence order directly;
5. spot markets clear per material, ex-China per importing region and then China's domestic market;
6. manufacturers produce with what they hold (production lost when an input runs out), thrift, diversify and
   sign offtake contracts; expectations update and the week is recorded.
"""

from __future__ import annotations

import datetime as dt
import logging

import mesa
import numpy as np

from reflow.agents import (
    AltSupplier,
    ChinaDomesticIndustry,
    ChineseProducer,
    LicensingAuthority,
    Manufacturer,
    ManufacturerPopulation,
    StrategicStockpile,
)
from reflow.agents.suppliers import BUILDING, CANDIDATE, OPERATING
from reflow.config import Scenario
from reflow.contracts import OfftakeBook
from reflow.domain import CN, IMPORT_REGIONS, MAGNET, MAT, MATERIALS, OXIDES, REG, REGIONS
from reflow.market import allocate_offers, clear_call_auction, running_sum
from reflow.policy import PolicyState, PolicyTimeline
from reflow.recorder import Recorder

__all__ = ["ReflowModel"]

log = logging.getLogger(__name__)

NM, NR = len(MATERIALS), len(REGIONS)
IMP = np.array([REG[r] for r in IMPORT_REGIONS])
# The China domestic demand curve is stepped on this grid of price multiples (fine enough that the step
# does not show in the price: 1.6% apart).
DOMESTIC_GRID = np.geomspace(0.2, 40.0, 340)
# Chinese exporters offer up to this multiple of a region's bids (so that, absent controls, the export
# parity ask is the marginal price and not the bids' ceiling).
EXPORT_OFFER_HEADROOM = 1.5
# A firm resells stock above RESALE_ABOVE x its target, down to RESALE_DOWN_TO x target.
RESALE_ABOVE, RESALE_DOWN_TO = 1.5, 1.25
ROUTINE_MARKUP = 0.1


class ReflowModel(mesa.Model):
    """Rare-earth trade under export licensing, one step per week.

    Args:
        scenario: a validated scenario (see `reflow.config`).
        rng: seed of the model's random generator; every random draw comes from it.
    """

    def __init__(self, scenario: Scenario, *, rng: int | None = None) -> None:
        super().__init__(rng=rng)
        sc = scenario
        self.scenario = sc
        self.weeks = sc.scenario.weeks
        self.start = sc.scenario.start
        self.week = 0
        self.timeline = PolicyTimeline(sc.policy, sc.licensing.approval_rate)
        self.p_ref = np.array([sc.materials.get(m).reference_price for m in MATERIALS])
        self.freight = np.array([sc.materials.get(m).freight_premium for m in MATERIALS])
        mc = sc.manufacturers

        # Manufacturers: arrays for the arithmetic, one thin Agent per firm for inspection.
        self.pop = ManufacturerPopulation(sc, self.rng)
        for i in range(self.pop.n):
            Manufacturer(self, self.pop, i)
        self._firm_phase = np.arange(self.pop.n) % mc.order_interval_weeks
        self.wtp_ceiling = np.array([mc.wtp_cap_multiple[m] for m in MATERIALS]) * self.p_ref

        # Alternative suppliers.
        self.suppliers: list[AltSupplier] = [AltSupplier(self, cfg, self._week_of(cfg.start)) for cfg in sc.suppliers]
        self.sup_material = np.array([s.material for s in self.suppliers], np.int64)
        self.sup_region = np.array([s.region for s in self.suppliers], np.int64)

        # Chinese producers: capacity = output / utilisation, split evenly, costs spread around the mean.
        ch = sc.china
        self.producers: list[ChineseProducer] = []
        k = ch.producers_per_material
        spread = np.linspace(0.85, 1.15, k) if k > 1 else np.ones(1)
        for m in MATERIALS:
            cap = ch.output_tpy[m] / max(ch.base_utilisation, 1e-9)
            for j in range(k):
                self.producers.append(ChineseProducer(
                    self, MAT[m], cap / k, ch.unit_cost_share * self.p_ref[MAT[m]] * spread[j],
                    ch.base_utilisation, ch.stock_target_weeks))
        self.prod_material = np.array([p.material for p in self.producers], np.int64)

        # China's domestic industry: by default, what balances the world market at reference prices.
        if ch.domestic_demand_tpy is not None:
            dom = np.array([ch.domestic_demand_tpy.get(m, 0.0) for m in MATERIALS])
        else:
            out = np.array([ch.output_tpy[m] for m in MATERIALS])
            alt = np.zeros(NM)
            for s in self.suppliers:
                alt[s.material] += s.online * 52.0
            alt[MAGNET] += float(self.pop.plan[self.pop.is_magnet_maker].sum()) * 52.0
            ex_need = self.pop.need_base.sum(axis=0) * 52.0
            dom = np.maximum(out + alt - ex_need, 0.2 * out)
        self.domestic = ChinaDomesticIndustry(self, dom, self.p_ref, ch.domestic_elasticity)
        x = DOMESTIC_GRID
        d = x ** ch.domestic_elasticity
        self._dom_shape = np.append(d[:-1] - d[1:], d[-1])

        self.authority = LicensingAuthority(self)
        self.stockpiles: dict[str, StrategicStockpile] = {}
        for ev in sc.policy:
            if ev.kind == "stockpile_release":
                self.stockpiles[ev.id] = StrategicStockpile(self, REG[ev.region], MAT[ev.material], ev.tonnes)

        # Expectations (exponential memories).
        parity = self.p_ref * (1.0 + self.freight)
        self.p_cn = self.p_ref.copy()  # last clearing price in China
        self.p_cn_exp = self.p_ref.copy()
        self.p_ex_exp = np.repeat(parity[:, None], NR, axis=1)
        self.p_inv = parity.copy()  # investors' slower memory of the ex-China price
        self.perceived_approval = np.ones((NM, NR))
        self.expected_wait = np.full((NM, NR), sc.licensing.review_working_days_median / 5.0)  # weeks
        self.quota_bank = np.full(NM, np.inf)
        self.unmet_offtake = np.zeros(NM)  # t/week buyers wanted under contract but could not sign
        self.contract_rate = np.zeros((self.pop.n, NM))

        self.offtakes = OfftakeBook()
        self.rec = Recorder(self.weeks)
        self._contracting_round(0)
        self._stock0 = self.stock_by_material()

    # ------------------------------------------------------------------------------------------------ helpers

    def _week_of(self, day: dt.date | None) -> int | None:
        return None if day is None else (day - self.start).days // 7

    def date_of(self, week: int) -> dt.date:
        """The Monday that starts `week`."""
        return self.start + dt.timedelta(weeks=week)

    def stock_by_material(self) -> np.ndarray:
        """(M,) t held by every agent (producers, suppliers, manufacturers, magnet makers' goods, stockpiles)."""
        st = np.zeros(NM)
        np.add.at(st, self.prod_material, [p.stock for p in self.producers])
        np.add.at(st, self.sup_material, [s.stock for s in self.suppliers])
        st += self.pop.stock.sum(axis=0)
        st[MAGNET] += self.pop.goods.sum()
        for sp in self.stockpiles.values():
            st[sp.material] += sp.stock
        return st

    def _tariff_factor(self, pol: PolicyState, m: int, importer: int, origin: np.ndarray | int) -> np.ndarray:
        return 1.0 + pol.tariff[m, importer, origin]

    def _parity(self, pol: PolicyState) -> np.ndarray:
        """(M, R) delivered price of Chinese material in each region at the expected Chinese price."""
        base = self.p_cn_exp * (1 + self.freight) * (1 + pol.export_tax)
        par = base[:, None] * (1 + pol.tariff[:, :, CN])
        par[:, CN] = self.p_cn_exp
        return par

    def _export_parity(self, pol: PolicyState, m: int, r: int) -> float:
        """Delivered price of a Chinese shipment to region r at the expected Chinese price."""
        return float(self.p_cn_exp[m] * (1 + self.freight[m]) * (1 + pol.export_tax[m]) * (1 + pol.tariff[m, r, CN]))

    # ------------------------------------------------------------------------------------------------ step

    def step(self) -> None:
        """Advance one week."""
        w = self.week
        if w >= self.weeks:
            self.running = False
            return
        pol = self.timeline.state(self.date_of(w))
        pop = self.pop
        F = pop.n
        # Ledger of this week's deliveries to importing regions: volume and value by (material, region).
        self._vol = np.zeros((NM, NR))
        self._val = np.zeros((NM, NR))
        self._spot = np.full((NM, NR), np.nan)  # spot clearing prices (what expectations follow)
        self._received = np.zeros((F, NM))
        self._unmet_cn = np.zeros((F, NM))

        self._withdraw_uncontrolled(pol)
        self._supply(w, pol)
        self._deliver_contracts(pol)

        need = pop.need()
        target = pop.target_stock(pol.announced)
        covered = self._general_licence_cover(pol)
        controlled = pol.controlled[:, pop.region].T & (need > 0)
        in_scope = pop.scope_draw < pol.coverage[:, pop.region, pop.sector].T
        self._licensing(w, pol, need, target, controlled & in_scope & ~covered)
        # Firms under a general licence, and purchases the control does not reach, ship without review.
        self._direct_orders(pol, need, target, controlled & (covered | ~in_scope))
        self._spot_markets(w, pol, need, target)
        self._china_market(w, pol)

        consumed, shortage = pop.produce()
        self._adapt(w, pol, need, shortage)
        self._record(w, pol, need, consumed, shortage)
        self._update_expectations(w)
        self.week += 1
        if self.week >= self.weeks:
            self.running = False

    # ------------------------------------------------------------------------------------------------ phases

    def _withdraw_uncontrolled(self, pol: PolicyState) -> None:
        q = self.authority.queue
        if len(q) == 0:
            return
        still = pol.controlled[q.view("material").astype(np.int64), q.view("region").astype(np.int64)]
        q.withdraw(~still)

    def _supply(self, w: int, pol: PolicyState) -> None:
        inv = self.scenario.investment
        for s in self.suppliers:
            s.advance(w)
        if w > 0 and w % inv.review_interval_weeks == 0:
            for s in self.suppliers:
                if s.state != CANDIDATE:
                    continue
                floor = float(pol.price_floor[s.material, s.region])
                cover = self.unmet_offtake[s.material] / max(s.nameplate, 1e-9)
                s.consider_investing(w, float(self.p_inv[s.material]), floor, cover, pol)
        committed = self.offtakes.committed(len(self.suppliers))
        for i, s in enumerate(self.suppliers):
            s.produce(float(self.p_inv[s.material]), float(committed[i]), float(pol.price_floor[s.material, s.region]))
        ratio = self.p_cn_exp / self.p_ref
        for p in self.producers:
            p.produce(float(ratio[p.material]))
        for m in range(NM):
            q = pol.quota_tpy[m]
            if np.isfinite(q):
                bank = 0.0 if not np.isfinite(self.quota_bank[m]) else self.quota_bank[m]
                self.quota_bank[m] = min(bank + q / 52.0, q / 4.0)  # a quarter's allowance can be carried
            else:
                self.quota_bank[m] = np.inf

    def _deliver(self, buyers: np.ndarray, m: int, tonnes: np.ndarray, price: np.ndarray | float,
                 origin: np.ndarray | int) -> None:
        """Book deliveries to firms: stock, the week's ledger and the origin-destination flows."""
        if len(buyers) == 0:
            return
        reg = self.pop.region[buyers]
        np.add.at(self.pop.stock[:, m], buyers, tonnes)
        np.add.at(self._received[:, m], buyers, tonnes)
        np.add.at(self._vol[m], reg, tonnes)
        np.add.at(self._val[m], reg, tonnes * price)
        flow = self.rec["flow"][self.week, m]
        np.add.at(flow, (np.broadcast_to(origin, reg.shape), reg), tonnes)

    def _deliver_contracts(self, pol: PolicyState) -> None:
        book = self.offtakes
        book.expire(self.week)
        self.contract_rate[:] = 0.0
        if len(book) == 0:
            return
        avail = np.array([s.stock for s in self.suppliers])
        d = book.deliveries(avail)
        sold = np.bincount(book.supplier, weights=d, minlength=len(self.suppliers))
        for i, s in enumerate(self.suppliers):
            s.stock -= sold[i]
        origin = self.sup_region[book.supplier]
        for m in np.unique(book.material):
            sel = book.material == m
            b = book.buyer[sel]
            price = book.price[sel] * self._tariff_factor(pol, int(m), self.pop.region[b], origin[sel])
            self._deliver(b, int(m), d[sel], price, origin[sel])
            np.add.at(self.contract_rate[:, m], b, d[sel])

    def _general_licence_cover(self, pol: PolicyState) -> np.ndarray:
        pop = self.pop
        share = pol.general_licence[:, pop.region, pop.sector].T  # (F, M)
        return pop.large[:, None] & (pop.gl_draw[:, None] < share) & ~pop.listed[:, None]

    def _pipeline(self) -> np.ndarray:
        """(F, M) tonnes awaiting a licence that a firm counts on (credit x the approval rate it has seen)."""
        pend = self.authority.queue.pending_tonnes(self.pop.n, NM)
        pa = self.perceived_approval[:, self.pop.region].T
        return pend * pa * self.scenario.manufacturers.pending_credit

    def _licensing(self, w: int, pol: PolicyState, need: np.ndarray, target: np.ndarray,
                   needs_licence: np.ndarray) -> None:
        pop, rec = self.pop, self.rec
        mc = self.scenario.manufacturers
        interval = mc.order_interval_weeks
        q = self.authority.queue
        if needs_licence.any():
            due = (self._firm_phase == w % interval)[:, None] & needs_licence
            pending = q.pending_tonnes(pop.n, NM)
            # Order-up-to on the inventory position: stock plus what is applied for, counted at the approval
            # rate the firm has seen; the position should cover the target plus need over the review period
            # and the expected wait. Denials are expected, so a firm applies for more than it hopes to get.
            pa = np.maximum(self.perceived_approval[:, pop.region].T, 0.25)
            lead = self.expected_wait[:, pop.region].T
            position = pop.stock + pending * pa + self.contract_rate * (interval + lead)
            want = target + need * (interval + lead) - position
            apply_t = np.where(due & (want > 0.05 * need), want / np.maximum(pa, 0.5), 0.0)
            f, m = np.nonzero(apply_t)
            if len(f):
                self.authority.receive(w, pol, m, pop.region[f], pop.sector[f], f, pop.listed[f], apply_t[f, m])
                np.add.at(rec["licence_applications"][w], (m, pop.region[f]), 1.0)
        if len(q) == 0:
            return
        dec = self.authority.review(w, pol)
        if len(dec.tonnes) == 0:
            return
        ok = dec.approved
        np.add.at(rec["licence_approvals"][w], (dec.material[ok], dec.region[ok]), 1.0)
        np.add.at(rec["licence_denials"][w], (dec.material[~ok], dec.region[~ok]), 1.0)
        n_dec = np.zeros((NM, NR))
        wait = np.zeros((NM, NR))
        np.add.at(n_dec, (dec.material, dec.region), 1.0)
        np.add.at(wait, (dec.material, dec.region), dec.wait_weeks * 7.0)
        has = n_dec > 0
        rec["licence_mean_wait_days"][w][has] = wait[has] / n_dec[has]
        # Firms learn the approval rate they face from the decisions they see.
        n_ok = np.zeros((NM, NR))
        np.add.at(n_ok, (dec.material[ok], dec.region[ok]), 1.0)
        self.perceived_approval[has] += 0.3 * (n_ok[has] / n_dec[has] - self.perceived_approval[has])
        self.expected_wait[has] += 0.3 * (wait[has] / n_dec[has] / 7.0 - self.expected_wait[has])
        np.add.at(self._unmet_cn, (dec.applicant[~ok], dec.material[~ok]), dec.tonnes[~ok])
        for m in np.unique(dec.material[ok]):
            sel = ok & (dec.material == m)
            self._ship_from_china(pol, int(m), dec.applicant[sel], dec.tonnes[sel])

    def _ship_from_china(self, pol: PolicyState, m: int, firms: np.ndarray, tonnes: np.ndarray) -> None:
        """Ship ordered tonnes from Chinese producers' stock (within the export quota and any embargo)."""
        reg = self.pop.region[firms]
        ordered = tonnes
        tonnes = np.where(pol.embargo[m, reg], 0.0, tonnes)
        total = running_sum(tonnes)
        if total <= 1e-12:
            np.add.at(self._unmet_cn[:, m], firms, ordered)
            return
        prods = [p for p in self.producers if p.material == m]
        stock = np.array([p.stock for p in prods])
        avail = min(0.9 * float(stock.sum()), float(self.quota_bank[m]))
        ratio = min(1.0, avail / total)
        sent = tonnes * ratio
        shipped = running_sum(sent)
        take = stock / max(stock.sum(), 1e-12) * shipped
        for p, t in zip(prods, take, strict=True):
            p.stock -= t
        if np.isfinite(self.quota_bank[m]):
            self.quota_bank[m] -= shipped
        # A licence is scarce: the exporter sells at the destination's expected spot price when that is above
        # export parity (the licence rent: Japanese buyers paid ~15 USD/kg for quota licences in 2010 [V2]).
        price = np.array([max(self._export_parity(pol, m, int(r)), float(self.p_ex_exp[m, r])) for r in reg])
        self._deliver(firms, m, sent, price, CN)
        np.add.at(self.rec["exports_cn"][self.week, m], reg, sent)
        np.add.at(self._unmet_cn[:, m], firms, ordered - sent)

    def _direct_orders(self, pol: PolicyState, need: np.ndarray, target: np.ndarray, covered: np.ndarray) -> None:
        """Firms under a general licence order their gap straight from China, without a per-shipment review."""
        if not covered.any():
            return
        gap = np.where(covered, np.maximum(0.0, target - self.pop.stock - self._pipeline()), 0.0)
        for m in range(NM):
            f = np.flatnonzero(gap[:, m] > 1e-9)
            if len(f):
                self._ship_from_china(pol, m, f, gap[f, m])

    def _spot_markets(self, w: int, pol: PolicyState, need: np.ndarray, target: np.ndarray) -> None:
        pop, rec = self.pop, self.rec
        mc = self.scenario.manufacturers
        beta = self.scenario.investment.supply_allocation_beta
        gap_all = np.maximum(0.0, target - pop.stock - self._pipeline())
        # Prices are anchored on China's export parity (what a buyer pays in normal times): bids add a
        # scarcity premium to it, sellers shade it by their stock. Anchoring on last week's ex-China price
        # instead would let prices ratchet, since bids sit above expectations whenever buyers have a gap.
        parity = self._parity(pol)
        self._cn_alt_offers: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        K = mc.bid_tiers
        for m in range(NM):
            gap = gap_all[:, m]
            bid_vol_r = np.bincount(pop.region, weights=gap, minlength=NR)
            # --- sellers: alternative suppliers, magnet makers, stockpiles, Chinese exporters -------------
            s_idx = np.flatnonzero(self.sup_material == m)
            sup_vol = np.array([max(0.0, self.suppliers[i].stock) for i in s_idx])
            sup_org = self.sup_region[s_idx]
            dom_week = self.domestic.demand_week[m]
            weights = bid_vol_r.copy()
            weights[CN] = dom_week
            net = np.empty((len(s_idx), NR))
            for j, o in enumerate(sup_org):
                net[j] = self.p_ex_exp[m] / (1.0 + pol.tariff[m, :, o])
                net[j, CN] = self.p_cn_exp[m]
            open_ = np.ones_like(net, bool)
            sup_alloc = allocate_offers(sup_vol, net, beta, open_, weights) if len(s_idx) else np.zeros((0, NR))
            sup_cost = np.array([self.suppliers[i].cost for i in s_idx])
            sup_shade = np.array([self.suppliers[i].shade for i in s_idx])
            # Asks at the destination's parity, shaded by stock, never below delivered cost.
            sup_cn_ask = np.maximum(sup_cost * (1 + self.freight[m]), parity[m, CN] * sup_shade)
            self._cn_alt_offers[m] = (s_idx, sup_alloc[:, CN] if len(s_idx) else np.zeros(0), sup_cn_ask)

            mk = np.flatnonzero(pop.is_magnet_maker) if m == MAGNET else np.zeros(0, np.int64)
            if len(mk):
                mk_org = pop.region[mk]
                netm = self.p_ex_exp[m][None, :] / (1.0 + pol.tariff[m][:, mk_org].T)
                openm = np.zeros((len(mk), NR), bool)
                openm[:, IMP] = True
                mk_alloc = allocate_offers(np.maximum(pop.goods[mk], 0.0), netm, beta, openm, bid_vol_r)
                if pol.extraterritorial[m]:
                    # Foreign-made magnets with Chinese content above the threshold need a licence to leave
                    # the maker's region; only the approved share goes abroad.
                    bound = pop.cn_content[mk] >= pol.et_threshold
                    abroad = np.arange(NR)[None, :] != mk_org[:, None]
                    mk_alloc = np.where(bound[:, None] & abroad, mk_alloc * pol.et_approval, mk_alloc)
                unit_cost = self._magnet_unit_cost(mk_org)
                shade = np.minimum(1.0, 2.0 * pop.plan[mk] / np.maximum(pop.goods[mk], 1e-9)) ** 0.25
                mk_shade = shade
            sp = [(k, s) for k, s in self.stockpiles.items() if s.material == m and k in pol.active_ids]

            prods = [p for p in self.producers if p.material == m]
            p_stock = np.array([max(0.0, p.stock) for p in prods])
            p_ask = np.array([p.ask(float(self.p_cn_exp[m])) for p in prods])
            open_cn = ~pol.controlled[m] & ~pol.embargo[m]
            open_cn[CN] = False
            demand_open = float(bid_vol_r[open_cn].sum())
            cn_budget = min(0.8 * float(p_stock.sum()), float(self.quota_bank[m]))
            cn_scale = min(1.0, cn_budget / max(EXPORT_OFFER_HEADROOM * demand_open, 1e-12))
            p_share = p_stock / max(p_stock.sum(), 1e-12)
            cn_sold = np.zeros(len(prods))
            sup_sold = np.zeros(len(s_idx))
            mk_sold = np.zeros(len(mk))

            for r in IMP:
                firms = np.flatnonzero((pop.region == r) & (gap > 1e-9))
                if len(firms) == 0:
                    continue
                # --- bids: K tiers per firm, each priced by the cover it would leave ----------------------
                q = gap[firms] / K
                tier_q = np.repeat(q, K)
                extra = (np.arange(K)[None, :] * q[:, None]).ravel()
                f_rep = np.repeat(firms, K)
                urg = pop.urgency(m, f_rep, extra)
                bid_p = _wtp(parity[m, r], self.wtp_ceiling[m], urg, mc.wtp_convexity)
                # --- asks -------------------------------------------------------------------------------
                a_q, a_p, a_kind, a_i = [], [], [], []
                if len(s_idx):
                    fr = np.where(sup_org == r, 1.0, 1.0 + self.freight[m])
                    a_q.append(sup_alloc[:, r])
                    a_p.append(np.maximum(sup_cost * fr * (1.0 + pol.tariff[m, r, sup_org]), parity[m, r] * sup_shade))
                    a_kind.append(np.full(len(s_idx), 0))
                    a_i.append(np.arange(len(s_idx)))
                if len(mk):
                    fr = np.where(mk_org == r, 1.0, 1.0 + self.freight[m])
                    a_q.append(mk_alloc[:, r])
                    a_p.append(np.maximum(unit_cost * fr * (1.0 + pol.tariff[m, r, mk_org]), parity[m, r] * mk_shade))
                    a_kind.append(np.full(len(mk), 1))
                    a_i.append(np.arange(len(mk)))
                if open_cn[r] and cn_scale > 0:
                    vol = EXPORT_OFFER_HEADROOM * bid_vol_r[r] * cn_scale * p_share
                    a_q.append(vol)
                    a_p.append(p_ask * (1 + self.freight[m]) * (1 + pol.export_tax[m]) * (1 + pol.tariff[m, r, CN]))
                    a_kind.append(np.full(len(prods), 2))
                    a_i.append(np.arange(len(prods)))
                # Firms holding far more than they want resell the excess (the ex-China spot market is largely
                # stock changing hands in a crunch); they ask what they would bid themselves at target cover.
                long_f = np.flatnonzero((pop.region == r) & (target[:, m] > 0)
                                        & (pop.stock[:, m] > RESALE_ABOVE * target[:, m]))
                if len(long_f):
                    a_q.append(pop.stock[long_f, m] - RESALE_DOWN_TO * target[long_f, m])
                    a_p.append(np.full(len(long_f), parity[m, r] * (1.0 + ROUTINE_MARKUP)))
                    a_kind.append(np.full(len(long_f), 4))
                    a_i.append(long_f)
                for j, (_, s) in enumerate(sp):
                    if s.region == r:
                        rate = next(rt for (rr, mm, rt) in pol.releases if rr == r and mm == m)
                        a_q.append(np.array([s.offer(rate)]))
                        a_p.append(np.array([self.p_ref[m] * (1 + self.freight[m])]))
                        a_kind.append(np.array([3]))
                        a_i.append(np.array([j]))
                if not a_q:
                    continue
                ask_q, ask_p = np.concatenate(a_q), np.concatenate(a_p)
                kind, idx = np.concatenate(a_kind), np.concatenate(a_i)
                cl = clear_call_auction(tier_q, bid_p, ask_q, ask_p, k=0.5)
                if np.isfinite(cl.marginal_ask):
                    rec["price_ex_ask"][w, m, r] = cl.marginal_ask
                if cl.volume <= 0:
                    continue
                self._spot[m, r] = cl.price
                got = np.bincount(np.searchsorted(firms, f_rep), weights=cl.bid_fill, minlength=len(firms))
                # Book by seller origin so flows and shares know where the material came from.
                origins = np.select([kind == 0, kind == 1, kind == 2], [
                    sup_org[np.minimum(idx, max(len(s_idx) - 1, 0))] if len(s_idx) else np.zeros_like(idx),
                    pop.region[mk[np.minimum(idx, max(len(mk) - 1, 0))]] if len(mk) else np.zeros_like(idx),
                    np.full_like(idx, CN)], default=r)
                resale = kind == 4
                if resale.any():
                    np.subtract.at(pop.stock[:, m], idx[resale], cl.ask_fill[resale])
                self._book_spot(m, r, firms, got, cl.price, np.where(resale, 0.0, cl.ask_fill), origins,
                                running_sum(cl.ask_fill[resale]))
                for kd, arr in ((0, sup_sold), (1, mk_sold), (2, cn_sold)):
                    sel = kind == kd
                    np.add.at(arr, idx[sel], cl.ask_fill[sel])
                for j, (_, s) in enumerate(sp):
                    sel = (kind == 3) & (idx == j)
                    s.stock -= running_sum(cl.ask_fill[sel])
                if m in (MAT[o] for o in OXIDES) and len(firms):
                    cn_part = running_sum(cl.ask_fill[kind == 2]) / max(cl.volume, 1e-12)
                    mkf = firms[pop.is_magnet_maker[firms]]
                    if len(mkf):
                        pop.cn_content[mkf] += 0.05 * (cn_part - pop.cn_content[mkf])
                rec["exports_cn"][w, m, r] += running_sum(cl.ask_fill[kind == 2])

            for i, t in zip(s_idx, sup_sold, strict=True):
                self.suppliers[i].stock -= t
            if len(mk):
                pop.goods[mk] -= mk_sold
            for p, t in zip(prods, cn_sold, strict=True):
                p.stock -= t
            if np.isfinite(self.quota_bank[m]):
                self.quota_bank[m] = max(0.0, self.quota_bank[m] - float(cn_sold.sum()))

    def _book_spot(self, m: int, r: int, firms: np.ndarray, got: np.ndarray, price: float,
                   ask_fill: np.ndarray, origins: np.ndarray, resold: float) -> None:
        """Book a spot clearing: buyers' stock, the price ledger (all purchases) and, for material that came
        into the region (not resold between its firms), deliveries and flows by origin."""
        pop = self.pop
        pop.stock[firms, m] += got
        vol = running_sum(got)
        imported = 1.0 - resold / max(vol, 1e-12)
        self._received[firms, m] += got * imported
        self._vol[m, r] += vol
        self._val[m, r] += vol * price
        np.add.at(self.rec["flow"][self.week, m, :, r], origins, ask_fill)

    def _magnet_unit_cost(self, regions: np.ndarray) -> np.ndarray:
        bom = self.scenario.manufacturers.bom.get("magnet", {})
        c = np.full(len(regions), self.scenario.manufacturers.magnet_conversion_cost)
        for o, q in bom.items():
            c += q * self.p_ex_exp[MAT[o], regions]
        return c

    def _china_market(self, w: int, pol: PolicyState) -> None:
        """China's domestic market: Chinese producers' stock and imported alt supply against domestic demand."""
        rec = self.rec
        for m in range(NM):
            prods = [p for p in self.producers if p.material == m]
            p_stock = np.array([max(0.0, p.stock) for p in prods])
            p_ask = np.array([p.ask(float(self.p_cn_exp[m])) for p in prods])
            s_idx, s_vol, s_ask = self._cn_alt_offers[m]
            s_vol = np.array([min(v, max(0.0, self.suppliers[i].stock)) for i, v in zip(s_idx, s_vol, strict=True)])
            ask_q = np.concatenate([p_stock, s_vol])
            ask_p = np.concatenate([p_ask, s_ask])
            bid_q = self.domestic.demand_week[m] * self._dom_shape
            bid_p = self.p_ref[m] * DOMESTIC_GRID
            cl = clear_call_auction(bid_q, bid_p, ask_q, ask_p, k=0.5)
            if cl.volume > 0:
                self.p_cn[m] = cl.price
                fills = cl.ask_fill
                for p, t in zip(prods, fills[: len(prods)], strict=True):
                    p.stock -= t
                for i, t in zip(s_idx, fills[len(prods):], strict=True):
                    self.suppliers[i].stock -= t
                rec["flow"][w, m, self.sup_region[s_idx], CN] += fills[len(prods):] if len(s_idx) else 0.0
                flow_cn = float(fills[: len(prods)].sum())
                rec["flow"][w, m, CN, CN] += flow_cn
                self.domestic.consumed[m] = cl.volume
            else:
                self.domestic.consumed[m] = 0.0
            rec["price_cn"][w, m] = self.p_cn[m]

    def _adapt(self, w: int, pol: PolicyState, need: np.ndarray, shortage: np.ndarray) -> None:
        pop = self.pop
        parity = self.p_ref * (1 + self.freight)
        mult = self.p_ex_exp[:, pop.region].T / parity[None, :]
        pop.update_thrift(w, mult, shortage > 1e-9 * np.maximum(need, 1e-12) + 1e-12)
        signal = (self._unmet_cn + shortage) / np.maximum(need, 1e-12)
        signal = np.where(need > 0, np.minimum(1.0, signal), 0.0)
        cn_parity = self.p_cn_exp * (1 + self.freight)
        premium = np.maximum(0.0, self.p_ex_exp[:, pop.region].T / cn_parity[None, :] - 1.0)
        pop.update_diversification(signal, premium)
        if w > 0 and w % 13 == 0:
            self._contracting_round(w)

    def _contracting_round(self, w: int) -> None:
        """Firms seek offtake contracts for their wanted non-Chinese share; suppliers sign cheapest first."""
        pop = self.pop
        mc = self.scenario.manufacturers
        held = self.offtakes.held(pop.n, NM)
        desired = pop.nc_share * pop.need()
        request = np.where(desired - held > 0.05 * np.maximum(desired, 1e-12), desired - held, 0.0)
        committed = self.offtakes.committed(len(self.suppliers))
        end = w + round(mc.contract_years * 52)
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
                price = max(s.cost, mc.contract_price_share * float(self.p_inv[m]))
                fr = np.where(pop.region == s.region, 1.0, 1.0 + self.freight[m])
                ok = (left > 1e-12) & (accept >= price * fr)
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
                                  np.full(len(sup_s), end, np.int64))

    def _update_expectations(self, w: int) -> None:
        mc = self.scenario.manufacturers
        a = 1.0 / mc.expectation_weeks
        a_inv = 1.0 / self.scenario.investment.expectation_weeks
        self.p_cn_exp += a * (self.p_cn - self.p_cn_exp)
        # Expectations follow spot prices, not the VWAP: contract prices are set from expectations, and
        # following them would feed back on themselves.
        vw = self._spot
        ok = np.isfinite(vw)
        self.p_ex_exp[ok] += a * (vw[ok] - self.p_ex_exp[ok])
        dem = self.rec["demand"][w]
        wsum = np.where(ok, dem, 0.0).sum(axis=1)
        mean = np.where(wsum > 0, np.nansum(np.where(ok, vw * dem, 0.0), axis=1) / np.maximum(wsum, 1e-12),
                        self.p_inv)
        self.p_inv += a_inv * (mean - self.p_inv)

    # ------------------------------------------------------------------------------------------------ record

    def _record(self, w: int, pol: PolicyState, need: np.ndarray, consumed: np.ndarray,
                shortage: np.ndarray) -> None:
        rec, pop = self.rec, self.pop
        reg = pop.region
        for var, arr in (("demand", need), ("shortage", shortage), ("delivered", self._received)):
            out = rec[var][w]
            for m in range(NM):
                out[m] = np.bincount(reg, weights=arr[:, m], minlength=NR)
        st = np.zeros((NM, NR))
        uses = need > 0
        for m in range(NM):
            st[m] = np.bincount(reg, weights=np.where(uses[:, m], pop.stock[:, m], 0.0), minlength=NR)
        dem = rec["demand"][w]
        rec["inventory_cover_weeks"][w] = np.where(dem > 0, st / np.maximum(dem, 1e-12), 0.0)
        plan = np.bincount(reg, weights=pop.plan, minlength=NR)
        lost = np.bincount(reg, weights=pop.plan * (1 - pop.frac), minlength=NR)
        rec["production_lost_share"][w] = np.where(plan > 0, lost / np.maximum(plan, 1e-12), 0.0)
        rec["output_plan"][w] = plan
        base = np.zeros((NM, NR))
        for m in range(NM):
            base[m] = np.bincount(reg, weights=pop.need_base[:, m], minlength=NR)
        rec["thrift_saving_share"][w] = np.where(base > 0, 1.0 - dem / np.maximum(base, 1e-12), 0.0)
        rec["licence_backlog"][w] = self.authority.queue.backlog(NM, NR)
        has = self._vol > 1e-12
        rec["price_ex_vwap"][w][has] = self._val[has] / self._vol[has]
        flow = rec["flow"][w]
        into = flow[:, :, :]  # (M, O, R)
        tot = into.sum(axis=1)
        ok = tot > 1e-12
        share = np.where(ok[:, None, :], into / np.maximum(tot, 1e-12)[:, None, :], 0.0)
        nc = 1.0 - share[:, CN, :]
        rec["non_china_share"][w][ok] = nc[ok]
        rec["hhi"][w][ok] = (share ** 2).sum(axis=1)[ok]
        for var in ("non_china_share", "hhi", "price_ex_vwap"):
            rec[var][w][:, CN] = np.nan
        rec["exports_cn_total"][w] = rec["exports_cn"][w].sum(axis=1)
        cap = np.zeros(NM)
        pipe = np.zeros(NM)
        prod_alt = np.zeros(NM)
        for s in self.suppliers:
            cap[s.material] += s.online * 52.0
            pipe[s.material] += s.pipeline * 52.0
            prod_alt[s.material] += s.output
        prod_alt[MAGNET] += float(pop.output[pop.is_magnet_maker].sum())
        rec["alt_capacity"][w] = cap
        rec["alt_capacity_pipeline"][w] = pipe
        rec["production_alt"][w] = prod_alt
        prod_cn = np.zeros(NM)
        np.add.at(prod_cn, self.prod_material, [p.output for p in self.producers])
        rec["production_cn"][w] = prod_cn
        rec["consumption"][w] = consumed.sum(axis=0) + self.domestic.consumed
        rec["stock_total"][w] = self.stock_by_material()
        rec.carry_forward(w)
        if w == 0:
            # Nothing observed yet for a series: start it from the reference so carry-forward has a value.
            for var, start in (("price_ex_vwap", self.p_ex_exp), ("price_ex_ask", self.p_ex_exp)):
                a = rec[var][0]
                a[np.isnan(a)] = start[np.isnan(a)]
            for var in ("non_china_share", "hhi"):
                a = rec[var][0]
                a[np.isnan(a)] = 0.0 if var == "non_china_share" else 1.0
            for var in ("price_ex_vwap", "price_ex_ask", "non_china_share", "hhi"):
                rec[var][0][:, CN] = np.nan

    def run(self) -> Recorder:
        """Step through the whole horizon and return the records."""
        while self.running and self.week < self.weeks:
            self.step()
        return self.rec


def _wtp(expected: float, ceiling: float, urgency: np.ndarray, convexity: float) -> np.ndarray:
    from reflow.agents.manufacturers import wtp

    return wtp(np.full(len(urgency), expected), np.full(len(urgency), ceiling), urgency, convexity)
