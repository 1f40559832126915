"""The Mesa model: builds the agents from a validated scenario and steps the weekly market.

One step is one calendar week. Its phases, in order (docs/ODD.md, "Process overview and scheduling"):

1. policy: the timeline's state this week (and a week of market growth); files for purchases that no longer need a
   licence (the item is no longer controlled, a general licence now covers the firm, or the control no longer
   reaches it) are withdrawn;
2. supply: projects finish (or fail) and ramp, candidates decide to invest (quarterly), everyone produces;
3. offtake contracts deliver; shipments whose customs hold ends are released;
4. supply relationships: while magnets to a region are controlled, its magnet users buy a share of their gap from
   the region's magnet makers first (7.13b);
   licensing: firms that need a licence apply (every few weeks), the authority reviews due files, approved
   tonnes become open licences that firms call off from Chinese stock as they need them; firms holding a general
   licence order directly;
5. spot markets clear per material, ex-China per importing region and then China's domestic market;
6. manufacturers produce with what they hold (production lost when an input runs out), thrift, diversify and
   sign offtake contracts; the week is recorded (then the La/Ce market's week), magnet makers plan next week's
   output, and expectations update.

This module builds the agents and steps the week; the larger phases are mixins in `reflow.phases`.
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
    ProducerFleet,
    StrategicStockpile,
    SupplierFleet,
)
from reflow.agents.suppliers import S_BUILDING, S_CANDIDATE, S_FAILED
from reflow.config import Scenario
from reflow.contracts import OfftakeBook
from reflow.domain import CN, MAGNET, MAT, MATERIALS, REG
from reflow.light_ree import LightInputs
from reflow.market import SortedOrders
from reflow.phases import ChinaExports, LightMarket, OfftakesAndRelationships, SpotMarkets, WeekRecord
from reflow.phases.common import CONTRACTING_WEEKS, IMP, NM, NR, add_at
from reflow.policy import PolicyState, PolicyTimeline
from reflow.recorder import Recorder

__all__ = ["ReflowModel"]

log = logging.getLogger(__name__)


class ReflowModel(ChinaExports, SpotMarkets, OfftakesAndRelationships, WeekRecord, LightMarket, mesa.Model):
    """Rare-earth trade under export licensing, one step per week.

    Args:
        scenario: a validated scenario (see `reflow.config`).
        rng: seed of the model's random generator, and (with each project's id) of the projects' own streams.
    """

    def __init__(self, scenario: Scenario, *, rng: int | None = None) -> None:
        super().__init__(rng=rng)
        sc = scenario
        # Not `self.scenario`: from Mesa 3.5 that is Mesa's own Scenario (a property that sets `scenario.model`).
        self.config = sc
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

        pop = self.pop
        self._mk = pop.mk
        self._mk_reg = pop.region[self._mk]
        self._magnet_bom = np.zeros(NM)  # t of each oxide per t of magnet (made in China or outside)
        for o, q in mc.bom.get("magnet", {}).items():
            self._magnet_bom[MAT[o]] = q
        self._mk_open = np.zeros((len(self._mk), NR), bool)
        self._mk_open[:, IMP] = True
        self._et_u: np.ndarray | None = None  # the extraterritorial licence draws (`_et_draw`)
        # Supply relationships (7.13b): the share of its magnet gap a user buys first from its region's makers.
        mk_plan = np.bincount(self._mk_reg, weights=pop.plan[self._mk], minlength=NR)
        use = np.bincount(pop.region, weights=pop.need_base[:, MAGNET], minlength=NR)
        self._home_share = np.minimum(1.0, mc.maker_relationship_share * mk_plan / np.maximum(use, 1e-12))
        self._home_users = np.flatnonzero((pop.need_base[:, MAGNET] > 0) & (self._home_share[pop.region] > 0))
        self._relationships_always = mc.maker_relationships_when == "always"  # else only under a magnet control
        # Shipments held at Chinese customs (7.8): tonnes and their value by (week of release mod L, firm, material).
        hold = max((ev.customs_hold_weeks for ev in sc.policy if ev.kind == "licensing"), default=0)
        self._holds = hold > 0
        self._customs_t = np.zeros((hold + 1, pop.n, NM) if self._holds else (1, 0, NM))
        self._customs_v = np.zeros_like(self._customs_t)
        self.in_customs = np.zeros((pop.n, NM))  # t each firm has waiting at Chinese customs
        # Index of each (firm, material) cell's (material, region) total, for in-order bincounts.
        self._mr_index = (np.arange(NM)[None, :] * NR + pop.region[:, None]).ravel()

        # Alternative suppliers: arrays for the arithmetic, one thin Agent each.
        seed = rng if rng is not None else int(self.rng.integers(2**62))  # projects' own streams (SupplierFleet)
        self.fleet = SupplierFleet(list(sc.suppliers), [self._week_of(cfg.start) for cfg in sc.suppliers], seed)
        self.suppliers: list[AltSupplier] = [AltSupplier(self, self.fleet, i) for i in range(len(self.fleet))]
        self.sup_material = self.fleet.material
        self.sup_region = self.fleet.region

        # Chinese producers: capacity = output / utilisation, split evenly, costs spread around the mean.
        ch = sc.china
        self.prod = ProducerFleet(ch, self.p_ref, self._magnet_bom)
        self.producers: list[ChineseProducer] = [ChineseProducer(self, self.prod, i) for i in range(len(self.prod))]
        self.prod_material = self.prod.material

        # China's domestic industry: by default, what balances the world market at reference prices.
        out = np.array([ch.output_tpy[m] for m in MATERIALS])
        # (float: numpy's bincount of an empty fleet is integer, and the += below would truncate)
        alt = np.bincount(self.fleet.material, weights=self.fleet.online * 52.0, minlength=NM).astype(float)
        alt[MAGNET] += float(self.pop.plan[self.pop.is_magnet_maker].sum()) * 52.0
        ex_need = self.pop.need_base.sum(axis=0) * 52.0
        if ch.domestic_demand_tpy is not None:
            dom = np.array([ch.domestic_demand_tpy.get(m, 0.0) for m in MATERIALS])
        else:
            dom = np.maximum(out + alt - ex_need, 0.2 * out)
        # The transshipment channel's scale: China's exports at reference prices, split by destination demand.
        self._base_exports = np.maximum(ex_need - alt, 0.0) / 52.0
        need_mr = self._by_material_region(self.pop.need_base)
        self._demand_share = need_mr / np.maximum(need_mr.sum(axis=1, keepdims=True), 1e-12)
        # China's users' elasticities (7.3): short-run (to a price against its slow memory) and long-run (to a
        # price that has lasted); a material with an elasticity of its own uses it for both.
        short = np.full(NM, ch.domestic_elasticity)
        long = np.full(NM, ch.domestic_elasticity if ch.long_run_elasticity is None else ch.long_run_elasticity)
        for mat, e in ch.elasticity_by_material.items():
            short[MAT[mat]] = long[MAT[mat]] = e
        self.domestic = ChinaDomesticIndustry(self, dom, self.p_ref, short)
        # China's domestic bid curves are fixed: built and sorted once, one market per material.
        self._dom_bid_mkt, self._dom_bid_q, self._dom_bid_p = self.domestic.bid_curves()
        self._dom_bids = SortedOrders.bids(self._dom_bid_mkt, self._dom_bid_q, self._dom_bid_p, NM)

        self.authority = LicensingAuthority(self)
        self.stockpiles: dict[str, StrategicStockpile] = {}
        for ev in sc.policy:
            if ev.kind == "stockpile_release":
                self.stockpiles[ev.id] = StrategicStockpile(self, REG[ev.region], MAT[ev.material], ev.tonnes)

        # Expectations (exponential memories).
        parity = self.p_ref * (1.0 + self.freight)
        self.p_cn = self.p_ref.copy()  # last clearing price in China
        self.p_cn_exp = self.p_ref.copy()
        # Abroad, China's reference price delivered with the duty and tariffs in force in the first week: a duty
        # in force from the start is part of the starting state, not news the first weeks' prices must learn.
        pol0 = self.timeline.state(self.date_of(0))
        self.p_ex_exp = np.repeat(parity[:, None], NR, axis=1)
        self.p_ex_exp[:, IMP] = self._parity(pol0)[:, IMP]
        self.p_inv = parity * (1.0 + pol0.export_tax)  # investors' slower memory of the ex-China price
        # Slow memories against which buyers read the price trend (hoarding); kept only when hoarding is on.
        self._hoarding = sc.manufacturers.hoarding_response > 0 or sc.china.hoarding_response > 0
        # China's use against a lasting price (7.3): the demand curve scales by (slow / p_ref) ^ (lr - short-run).
        self._lr_gap = long - short
        self._lasting = bool(self._lr_gap.any())
        self._slow = self._hoarding or self._lasting
        self.p_cn_slow = self.p_cn_exp.copy()
        self.p_ex_slow = self.p_ex_exp.copy()
        self.perceived_approval = np.ones((NM, NR))
        self.expected_wait = np.full((NM, NR), sc.licensing.review_working_days_median / 5.0)  # weeks
        self.quota_bank = np.full(NM, np.inf)
        self.unmet_offtake = np.zeros(NM)  # t/week buyers wanted under contract but could not sign
        self.contract_rate = np.zeros((self.pop.n, NM))
        self.licensed = np.zeros((self.pop.n, NM))  # t approved under licence and not yet called off
        self._has_licences = False

        self.offtakes = OfftakeBook()
        self.rec = Recorder(self.weeks, light=sc.light_ree is not None)
        self._light = self._light_market(sc) if sc.light_ree is not None else None
        self.light_first = self._light  # the La/Ce market's constants and first state, and its weekly inputs
        self.light_inputs: list[LightInputs] = []
        self._need_base_mr = self._by_material_region(pop.need_base)
        # Market growth ([growth]): a weekly factor from the week it starts (none when the rate is 0).
        g = sc.growth
        self._growth = (1.0 + g.rate_per_year) ** (7.0 / 365.25) if g.rate_per_year else 1.0
        self._growth_from = max(0, self._week_of(g.start) or 0)
        self._contracting_round(0, self.timeline.state(self.date_of(0)), staggered=True)
        self._stock0 = self.stock_by_material()

    # ------------------------------------------------------------------------------------------------ helpers

    def _grow(self, factor: float) -> None:
        """One week of market growth: every user's need, China's domestic demand curve and the capacity of China's
        producers and of the magnet makers outside China scale by `factor` (ODD 7.19)."""
        self.pop.grow(factor)
        self.prod.grow(factor)
        self.domestic.demand_week *= factor
        self._dom_bid_q = self._dom_bid_q * factor
        self._dom_bids = None  # re-sorted when next needed unscaled (`_china_market` re-sorts scaled curves anyway)
        self._need_base_mr = self._need_base_mr * factor
        self._base_exports = self._base_exports * factor

    def _week_of(self, day: dt.date | None) -> int | None:
        return None if day is None else (day - self.start).days // 7

    def date_of(self, week: int) -> dt.date:
        """The Monday that starts `week`."""
        return self.start + dt.timedelta(weeks=week)

    def stock_by_material(self) -> np.ndarray:
        """(M,) t held by every agent (producers, suppliers, manufacturers, magnet makers' goods, stockpiles)."""
        st = np.bincount(self.prod.material, weights=self.prod.stock, minlength=NM)
        np.add.at(st, self.fleet.material, self.fleet.stock)
        st += self.pop.stock.sum(axis=0)
        st[MAGNET] += self.pop.goods.sum()
        if self._holds:
            st += self.in_customs.sum(axis=0)
        for sp in self.stockpiles.values():
            st[sp.material] += sp.stock
        return st

    def _by_material_region(self, x: np.ndarray) -> np.ndarray:
        """(M, R) totals of a (F, M) firm array by material and region, each added up in firm order."""
        return np.bincount(self._mr_index, weights=x.ravel(), minlength=NM * NR).reshape(NM, NR)

    def _parity(self, pol: PolicyState) -> np.ndarray:
        """(M, R) delivered price of Chinese material in each region at the expected Chinese price."""
        base = self.p_cn_exp * (1 + self.freight) * (1 + pol.export_tax)
        par = base[:, None] * (1 + pol.tariff[:, :, CN])
        par[:, CN] = self.p_cn_exp
        return par

    def _delivered(self, pol: PolicyState, price: np.ndarray | float, m: np.ndarray | int, dest: np.ndarray | int,
                   origin: np.ndarray | int) -> np.ndarray:
        """What a buyer in `dest` bears for material `m` bought at `price` from `origin`: freight when the
        material crosses regions, and the import tariff in force (arguments broadcast)."""
        fr = np.where(origin == dest, 1.0, 1.0 + self.freight[m])
        return price * fr * (1.0 + pol.tariff[m, dest, origin])

    def _floor_lift(self, pol: PolicyState) -> np.ndarray:
        """(M,) factor lifting prices built on China's expected price to a defended price above it (7.2): 1 where
        no price is defended or the expected price already stands at or above it. Sellers from China's stock
        (licensed exporters, smugglers) price from it, as the producers' own asks do."""
        return np.maximum(1.0, pol.cn_price_floor / self.p_cn_exp)

    def _export_parity(self, pol: PolicyState, m: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Delivered price of Chinese shipments of materials m to regions r at the expected Chinese price."""
        return self.p_cn_exp[m] * (1 + self.freight[m]) * (1 + pol.export_tax[m]) * (1 + pol.tariff[m, r, CN])

    def _maker_ask(self, pol: PolicyState, cost: np.ndarray, shade: np.ndarray, dest: np.ndarray,
                   origin: np.ndarray) -> np.ndarray:
        """A magnet maker's ask to a buyer in `dest` (7.9): China's export parity there, shaded as unsold magnets
        pile up, never below the maker's cost delivered from `origin`. The same ask on the spot market and in home
        purchases under supply relationships (7.13b)."""
        return np.maximum(self._delivered(pol, cost, MAGNET, dest, origin),
                          self._export_parity(pol, MAGNET, dest) * shade)

    # ------------------------------------------------------------------------------------------------ step

    def _new_week_ledgers(self) -> None:
        """Empty the ledgers a week fills: deliveries, spot prices, receipts, magnet makers' purchases and sales,
        unmet Chinese orders."""
        F = self.pop.n
        # Deliveries to importing regions: volume and value by (material, region).
        self._vol = np.zeros((NM, NR))
        self._val = np.zeros((NM, NR))
        self._spot = np.full((NM, NR), np.nan)  # spot prices (clearing, or the quote of an unsupplied market)
        self._received = np.zeros((F, NM))
        # What magnet makers paid for this week's purchases (t x USD/kg), for the cost of their stocks; the tonnes
        # are those received plus what they bought from resellers of their own region (not counted as received).
        self._paid = np.zeros((len(self._mk), NM))
        self._resold_to = np.zeros((len(self._mk), NM))
        self._mk_sold = np.zeros(F)
        self._unmet_cn = np.zeros((F, NM))
        self._cn_ship_room: np.ndarray | None = None  # set by the week's first shipment from China

    def step(self) -> None:
        """Advance one week."""
        w = self.week
        if w >= self.weeks:
            self.running = False
            return
        pol = self.timeline.state(self.date_of(w))
        pop = self.pop
        if self._growth != 1.0 and w > self._growth_from:
            self._grow(self._growth)
        self._new_week_ledgers()

        covered = self._general_licence_cover(pol)
        in_scope = pop.scope_draw < pol.coverage[:, pop.region, pop.sector].T
        self._withdraw_unneeded(pol, covered, in_scope)
        self._supply(w, pol)
        self._deliver_contracts(pol)
        if self._holds:
            self._clear_customs()

        need = pop.need()
        target = pop.target_stock(pol.announced, self.p_ex_exp / self.p_ex_slow if self._hoarding else None)
        if self._home_users.size and (self._relationships_always or pol.controlled[MAGNET].any()):
            self._buy_from_home_makers(pol, target)
        controlled = pol.controlled[:, pop.region].T & (need > 0)
        self._licensing(w, pol, need, target, controlled & in_scope & ~covered)
        pipeline = self._pipeline(need)
        # Firms under a general licence, and purchases the control does not reach, ship without review.
        self._direct_orders(pol, target, controlled & (covered | ~in_scope), pipeline)
        if self._holds:  # direct orders held at customs are on the way too: not to be bought again on the spot market
            pipeline = self._pipeline(need)
        self._spot_markets(w, pol, target, pipeline)
        self._china_market(w, pol)

        if len(self._mk):
            pop.book_purchases(self._received[self._mk] + self._resold_to, self._paid, self.p_ex_exp[:, self._mk_reg].T)
        consumed, shortage = pop.produce()
        self._adapt(w, pol, need, shortage)
        self._record(w, pol, need, consumed, shortage)
        if self._light is not None:
            self._light_week(w, pol)
        if len(self._mk):
            pop.plan_magnet_output(self._mk_sold)  # next week's output, from this week's sales
        self._update_expectations(w)
        self.week += 1
        if self.week >= self.weeks:
            self.running = False

    # ------------------------------------------------------------------------------------------------ phases

    def _licence_price(self, pol: PolicyState) -> float:
        """USD/kg an export-quota licence costs this week, the same for every element (7.12b); 0 without one."""
        return pol.licence_price_share * float(self.p_cn_exp[MAT["ndpr_oxide"]])

    def _supply(self, w: int, pol: PolicyState) -> None:
        inv = self.config.investment
        fl = self.fleet
        was_building = fl.state == S_BUILDING
        fl.advance(w)
        failed = np.flatnonzero(was_building & (fl.state == S_FAILED))
        if len(failed):
            # Offtakes signed on a project that failed are void: buyers seek new ones at the next round.
            self.offtakes.cancel(failed)
        if w > 0 and w % inv.review_interval_weeks == 0:
            for s in self.suppliers:
                if fl.state[s.index] != S_CANDIDATE:
                    continue
                floor = float(pol.price_floor[s.material, s.region])
                cover = self.unmet_offtake[s.material] / max(s.nameplate, 1e-9)
                s.consider_investing(w, float(self.p_inv[s.material]), floor, cover, pol)
        committed = self.offtakes.committed(len(fl))
        fl.produce(self.p_inv[fl.material], committed, pol.price_floor[fl.material, fl.region],
                   inv.supplier_max_stock_weeks)
        ratio = self.p_cn_exp / self.p_ref
        self.prod.update_costs(self.p_cn_exp)
        self.prod.produce(ratio[self.prod.material], self.prod.cap_share(pol.production_cap_tpy))
        q = pol.quota_tpy
        bank = np.where(np.isfinite(self.quota_bank), self.quota_bank, 0.0)
        # Unused allowance accrues up to a quarter's worth; licences already issued stay valid when a smaller
        # quota follows (2010: exporters carried unused first-half licences into the cut second half [V2]).
        self.quota_bank = np.where(np.isfinite(q), np.maximum(np.minimum(bank + q / 52.0, q / 4.0), bank),
                                   np.inf)

    def _deliver(self, buyers: np.ndarray, m: np.ndarray, tonnes: np.ndarray, price: np.ndarray,
                 origin: np.ndarray | int) -> None:
        """Book deliveries to firms (material m of each): stock, the week's ledger and the origin-destination
        flows. Each cell adds up its deliveries in the order given."""
        if len(buyers) == 0:
            return
        reg = self.pop.region[buyers]
        add_at(self.pop.stock, (buyers, m), tonnes)
        add_at(self._received, (buyers, m), tonnes)
        pos = self.pop.mk_pos[buyers]
        mk = pos >= 0
        if mk.any():
            add_at(self._paid, (pos[mk], m[mk]), tonnes[mk] * price[mk])
        add_at(self._vol, (m, reg), tonnes)
        add_at(self._val, (m, reg), tonnes * price)
        add_at(self.rec["flow"][self.week], (m, origin, reg), tonnes)

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
        if w > 0 and w % CONTRACTING_WEEKS == 0:
            self._contracting_round(w, pol)

    def _update_expectations(self, w: int) -> None:
        mc = self.config.manufacturers
        # A memory shorter than the one-week step is the last observation: a weight above 1 would overshoot
        # and, below half a week, diverge (expected prices of -1e42 with 0.3 weeks). The same for the slow memories.
        a = 1.0 / max(mc.expectation_weeks, 1.0)
        a_inv = 1.0 / max(self.config.investment.expectation_weeks, 1.0)
        slow = max(mc.hoarding_memory_weeks, 1.0)
        self.p_cn_exp += a * (self.p_cn - self.p_cn_exp)
        # Expectations follow spot prices, not the VWAP: contract prices are set from expectations, and
        # following them would feed back on themselves.
        vw = self._spot
        ok = np.isfinite(vw)
        self.p_ex_exp[ok] += a * (vw[ok] - self.p_ex_exp[ok])
        if self._slow:
            self.p_cn_slow += (self.p_cn_exp - self.p_cn_slow) / slow
            self.p_ex_slow += (self.p_ex_exp - self.p_ex_slow) / slow
        dem = self.rec["demand"][w]
        wsum = np.where(ok, dem, 0.0).sum(axis=1)
        mean = np.where(wsum > 0, np.nansum(np.where(ok, vw * dem, 0.0), axis=1) / np.maximum(wsum, 1e-12),
                        self.p_inv)
        self.p_inv += a_inv * (mean - self.p_inv)

    def run(self) -> Recorder:
        """Step through the whole horizon and return the records."""
        while self.running and self.week < self.weeks:
            self.step()
        return self.rec

