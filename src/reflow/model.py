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
"""

from __future__ import annotations

import datetime as dt
import logging
import math

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
from reflow.agents.manufacturers import wtp
from reflow.agents.suppliers import BUILDING, OPERATING, S_BUILDING, S_CANDIDATE, S_FAILED
from reflow.config import Scenario
from reflow.contracts import OfftakeBook, staggered_ends
from reflow.domain import CN, IMPORT_REGIONS, MAGNET, MAT, MATERIALS, OXIDES, REG, REGIONS
from reflow.licensing import quota_licence_ask
from reflow.light_ree import LightInputs, LightParams, LightState, light_week
from reflow.market import BatchClearing, SortedOrders, allocate_offers, clear_call_auctions, restrict_offers
from reflow.policy import PolicyState, PolicyTimeline
from reflow.recorder import Recorder
from reflow.transshipment import leakage_offer, smuggler_ask

__all__ = ["ReflowModel"]

log = logging.getLogger(__name__)

NM, NR = len(MATERIALS), len(REGIONS)
IMP = np.array([REG[r] for r in IMPORT_REGIONS])
# Chinese exporters offer up to this multiple of a region's bids (so that, absent controls, the export
# parity ask is the marginal price and not the bids' ceiling).
EXPORT_OFFER_HEADROOM = 1.5
# A firm resells stock above RESALE_ABOVE x its target, down to RESALE_DOWN_TO x target.
RESALE_ABOVE, RESALE_DOWN_TO = 1.5, 1.25
ROUTINE_MARKUP = 0.1
CONTRACTING_WEEKS = 13  # weeks between offtake contracting rounds (a quarter)
# Ask kinds on the ex-China spot markets, in the order a market lists them (ties at a price keep this order).
K_SUPPLIER, K_MAGNET_MAKER, K_CHINA, K_RESALE, K_STOCKPILE, K_SMUGGLER = range(6)


def contract_term_weeks(contract_years: float) -> int:
    """An offtake contract's term in weeks: `contract_years` in whole contracting rounds (quarters), at least one,
    so that every contract ends in a round week, where it can be renewed."""
    return CONTRACTING_WEEKS * max(1, round(contract_years * 52 / CONTRACTING_WEEKS))


def _add_at(a: np.ndarray, index: tuple[np.ndarray | int, ...], values: np.ndarray | float) -> None:
    """``np.add.at(a, index, values)``: the same additions in the same order, through the flat view of `a` when
    there are many (numpy's fast path; the tuple-index form is several times slower per element, but cheaper
    to call for a handful)."""
    if max(np.size(i) for i in index) < 200:
        np.add.at(a, index, values)
    else:
        np.add.at(np.reshape(a, -1, copy=False), np.ravel_multi_index(index, a.shape), values)


class ReflowModel(mesa.Model):
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

    def _light_market(self, sc: Scenario) -> tuple[LightParams, LightState]:
        """The La/Ce oxide market's constants and first state (7.18): buyers at target cover, no quota yet."""
        lc, mc = sc.light_ree, sc.manufacturers
        tax0 = self.timeline.state(self.date_of(0)).light_export_tax
        ex_ref = lc.reference_price * (1 + lc.freight_premium) * (1 + tax0)
        params = LightParams(
            demand_week=lc.demand_tpy / 52.0, price_cn_ref=lc.reference_price, price_ex_ref=ex_ref,
            freight=lc.freight_premium, china_price_link=lc.china_price_link, elasticity=lc.elasticity,
            restock_weeks=lc.restock_weeks, cover_weeks=lc.cover_target_weeks, ceiling=lc.wtp_cap_multiple * ex_ref,
            base_exports_week=lc.exports_tpy / 52.0, hoarding_response=lc.hoarding_response,
            hoarding_memory_weeks=mc.hoarding_memory_weeks, hoarding_limit=mc.hoarding_limit,
            # The buyers thrift by the manufacturers' rule (FCC catalyst makers cut their La content in 2011 [R]).
            thrift_trigger=mc.thrift_trigger_multiple, thrift_cap=mc.thrift_cap,
            thrift_step=mc.thrift_max_per_year / 52.0, thrift_lag_weeks=mc.thrift_lag_weeks)
        state = LightState(stock=lc.cover_target_weeks * params.demand_week, alt_stock=0.0, premium=0.0, bank=np.inf)
        return params, state

    def _licence_price(self, pol: PolicyState) -> float:
        """USD/kg an export-quota licence costs this week, the same for every element (7.12b); 0 without one."""
        return pol.licence_price_share * float(self.p_cn_exp[MAT["ndpr_oxide"]])

    def _light_week(self, w: int, pol: PolicyState) -> None:
        """One week of the La/Ce oxide market (7.18), recorded."""
        params, state = self._light
        nd = MAT["ndpr_oxide"]
        fl = self.fleet
        alt = float(fl.output[fl.material == nd].sum()) * self.config.light_ree.co_product_per_ndpr
        embargoed = float(self._demand_share[nd][pol.embargo[nd]].sum())
        tc = self.config.transshipment
        x = LightInputs(
            ndpr_cn_ratio=float(self.p_cn_exp[nd] / self.p_ref[nd]), export_tax=pol.light_export_tax,
            alt_output=alt, quota_tpy=pol.light_quota_tpy, embargoed_share=embargoed, leak_max_share=tc.max_share,
            leak_premium_scale=tc.premium_scale, enforcement=float(pol.enforcement[nd]),
            leak_cost_share=tc.cost_share, leak_cost_per_kg=tc.cost_per_kg, leak_profit_scale=tc.profit_scale,
            official_margin=self._licence_price(pol) if math.isfinite(pol.light_quota_tpy) else 0.0)
        self.light_inputs.append(x)
        state, out = light_week(state, params, **x.__dict__)
        self._light = (params, state)
        rec = self.rec
        for var, v in (("light_price_ex", out.price_ex), ("light_price_cn", out.price_cn),
                       ("light_quota_rent", out.rent), ("light_consumption", out.use - out.shortage),
                       ("light_shortage", out.shortage), ("light_cover_weeks", state.stock / max(out.use, 1e-12)),
                       ("light_exports_cn", out.official), ("light_exports_cn_unofficial", out.unofficial),
                       ("light_production_alt", alt), ("light_thrift_share", state.thrift)):
            rec[var][w] = v

    def _withdraw_unneeded(self, pol: PolicyState, covered: np.ndarray, in_scope: np.ndarray) -> None:
        """Withdraw pending files for purchases that no longer need a licence: the item is no longer controlled,
        a general licence now covers the firm, or the control no longer reaches its purchases. The firm then
        buys that material without review (and counts nothing as pending, so it does not order twice)."""
        q = self.authority.queue
        if len(q) == 0:
            return
        m, f = q.view("material").astype(np.int64), q.view("applicant")
        still = pol.controlled[m, q.view("region").astype(np.int64)] & ~covered[f, m] & in_scope[f, m]
        q.withdraw(~still)

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
        _add_at(self.pop.stock, (buyers, m), tonnes)
        _add_at(self._received, (buyers, m), tonnes)
        pos = self.pop.mk_pos[buyers]
        mk = pos >= 0
        if mk.any():
            _add_at(self._paid, (pos[mk], m[mk]), tonnes[mk] * price[mk])
        _add_at(self._vol, (m, reg), tonnes)
        _add_at(self._val, (m, reg), tonnes * price)
        _add_at(self.rec["flow"][self.week], (m, origin, reg), tonnes)

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
        _add_at(self.contract_rate, (book.buyer, book.material), d)

    def _offtake_price(self, cost: np.ndarray | float, material: np.ndarray | int,
                       china: bool = False) -> np.ndarray:
        """An offtake's price (USD/kg, before freight and tariff): a share of the investors' expected ex-China
        price (`china`: of China's expected domestic price with freight, the benchmark some offtakes reference),
        never below the supplier's cost; set when a contract is signed, and every week when indexed."""
        ref = self.p_cn_exp * (1 + self.freight) if china else self.p_inv  # per material, then per contract
        return np.maximum(cost, self.config.manufacturers.contract_price_share * ref[material])

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

    def _et_draw(self) -> np.ndarray:
        """(makers, regions) uniform draws: a maker holds the extraterritorial licence for a destination while
        the rule's approval rate is above its draw (drawn once, when the rule first binds, so scenarios without
        it keep their random stream and a higher approval rate licenses a superset)."""
        if self._et_u is None:
            self._et_u = self.rng.random((len(self._mk), NR))
        return self._et_u

    def _general_licence_cover(self, pol: PolicyState) -> np.ndarray:
        pop = self.pop
        share = pol.general_licence[:, pop.region, pop.sector].T  # (F, M)
        return pop.large[:, None] & (pop.gl_draw[:, None] < share) & ~pop.listed[:, None]

    def _pipeline(self, need: np.ndarray) -> np.ndarray:
        """(F, M) tonnes awaiting a licence that a firm counts on (credit x the approval rate it has seen).

        Only files due for a decision before the firm's stock runs out count: a licence that can only come
        after the line has stopped does not keep it running, so the firm still bids at the spot market.
        """
        weeks_left = np.where(need > 0, self.pop.stock / np.maximum(need, 1e-12), 1e9)
        due_by = self.week + np.floor(np.minimum(weeks_left, 1e9))
        pend = self.authority.queue.pending_tonnes(self.pop.n, NM, due_by)
        pa = self.perceived_approval[:, self.pop.region].T
        pipe = pend * pa * self.config.manufacturers.pending_credit + self.licensed
        return pipe + self.in_customs if self._holds else pipe

    def _licensing(self, w: int, pol: PolicyState, need: np.ndarray, target: np.ndarray,
                   needs_licence: np.ndarray) -> None:
        pop, rec = self.pop, self.rec
        mc = self.config.manufacturers
        interval = mc.order_interval_weeks
        q = self.authority.queue
        if needs_licence.any():
            due = (self._firm_phase == w % interval)[:, None] & needs_licence
            pending = self.authority.queue.pending_tonnes(self.pop.n, NM)
            # Order-up-to on the inventory position: stock plus licences approved and not yet called off, plus
            # what is applied for, counted at the approval rate the firm has seen; the position should cover the
            # target plus need over the review period and the expected wait. Denials are expected, so a firm
            # applies for more than it hopes to get (what comes through beyond its need is not called off).
            pa = np.maximum(self.perceived_approval[:, pop.region].T, 0.25)
            lead = self.expected_wait[:, pop.region].T
            position = pop.stock + self.licensed + pending * pa + self.contract_rate * (interval + lead)
            if self._holds:
                position = position + self.in_customs
            want = target + need * (interval + lead) - position
            apply_t = np.where(due & (want > 0.05 * need), want / np.maximum(pa, 0.5), 0.0)
            f, m = np.nonzero(apply_t)
            if len(f):
                self.authority.receive(w, pol, m, pop.region[f], pop.sector[f], f, pop.listed[f], apply_t[f, m])
                _add_at(rec["licence_applications"][w], (m, pop.region[f]), 1.0)
        if len(q):
            self._decide(w, pol)
        if self._has_licences:
            # A licence permits an export, it does not oblige the buyer to take it: a firm calls off approved
            # tonnes up to its order-up-to level once the wait is over (its target plus its need until its next
            # order), never to a stock it would itself resell; the rest stays open and lapses gradually.
            level = np.minimum(target + need * interval, RESALE_ABOVE * target)
            held = pop.stock + self.in_customs if self._holds else pop.stock
            call = np.minimum(self.licensed, np.maximum(0.0, level - held))
            self.licensed -= call
            self.licensed *= 1.0 - 1.0 / self.config.licensing.licence_validity_weeks
            f, m = np.nonzero(call > 0)
            self._ship_from_china(pol, m, f, call[f, m])
            self._has_licences = bool(self.licensed.max() > 1e-9)

    def _decide(self, w: int, pol: PolicyState) -> None:
        """The authority decides the due files; approved tonnes become open licences of their applicants."""
        rec = self.rec
        dec = self.authority.review(w, pol)
        if len(dec.tonnes) == 0:
            return
        ok = dec.approved
        _add_at(rec["licence_approvals"][w], (dec.material[ok], dec.region[ok]), 1.0)
        _add_at(rec["licence_denials"][w], (dec.material[~ok], dec.region[~ok]), 1.0)
        n_dec = np.zeros((NM, NR))
        wait = np.zeros((NM, NR))
        _add_at(n_dec, (dec.material, dec.region), 1.0)
        _add_at(wait, (dec.material, dec.region), dec.wait_weeks * 7.0)
        has = n_dec > 0
        rec["licence_mean_wait_days"][w][has] = wait[has] / n_dec[has]
        # Firms learn the approval rate they face from the decisions they see.
        n_ok = np.zeros((NM, NR))
        _add_at(n_ok, (dec.material[ok], dec.region[ok]), 1.0)
        self.perceived_approval[has] += 0.3 * (n_ok[has] / n_dec[has] - self.perceived_approval[has])
        self.expected_wait[has] += 0.3 * (wait[has] / n_dec[has] / 7.0 - self.expected_wait[has])
        _add_at(self._unmet_cn, (dec.applicant[~ok], dec.material[~ok]), dec.tonnes[~ok])
        _add_at(self.licensed, (dec.applicant[ok], dec.material[ok]), dec.tonnes[ok])
        self._has_licences = self._has_licences or bool(ok.any())

    def _ship_from_china(self, pol: PolicyState, mat: np.ndarray, firms: np.ndarray, tonnes: np.ndarray) -> None:
        """Ship ordered tonnes (material `mat` to each firm) from Chinese producers' stock, within the export
        quota and any embargo. A material's orders share its producers' stock pro rata, in the order given."""
        if len(firms) == 0:
            return
        prod = self.prod
        reg = self.pop.region[firms]
        ordered = tonnes
        tonnes = np.where(pol.embargo[mat, reg], 0.0, tonnes)
        total = np.bincount(mat, weights=tonnes, minlength=NM)
        go = (np.bincount(mat, minlength=NM) > 0) & (total > 1e-12)  # materials that ship anything
        stock = prod.by_material(prod.stock).sum(axis=1)
        if self._cn_ship_room is None:
            # Licensed and direct shipments together take at most 90% of the stock producers hold at the week's
            # first shipment, not 90% at each of the week's calls.
            self._cn_ship_room = 0.9 * stock
        avail = np.minimum(self._cn_ship_room, self.quota_bank)
        ratio = np.minimum(1.0, avail / np.where(go, total, 1.0))
        ships = go[mat]
        sent = np.where(ships, tonnes * ratio[mat], 0.0)
        shipped = np.bincount(mat, weights=sent, minlength=NM)
        self._cn_ship_room = np.maximum(0.0, self._cn_ship_room - shipped)
        pm = prod.material
        prod.stock -= np.where(go[pm], prod.stock / np.maximum(stock, 1e-12)[pm] * shipped[pm], 0.0)
        self.quota_bank = np.where(go & np.isfinite(self.quota_bank), self.quota_bank - shipped, self.quota_bank)
        # A licence is scarce: the exporter sells at the destination's expected spot price when that is above
        # export parity (the licence rent: Japanese buyers paid ~15 USD/kg for quota licences in 2010 [V2]).
        f, m, r, t = firms[ships], mat[ships], reg[ships], sent[ships]
        price = np.maximum(self._export_parity(pol, m, r) * self._floor_lift(pol)[m], self.p_ex_exp[m, r])
        if self._holds:
            # Shipments of controlled items wait at customs; they are exported (and counted) when released.
            h = pol.customs_hold[m, r]
            held = h > 0
            if held.any():
                at = ((self.week + h[held]) % len(self._customs_t), f[held], m[held])
                _add_at(self._customs_t, at, t[held])
                _add_at(self._customs_v, at, t[held] * price[held])
                self.in_customs = self._customs_t.sum(axis=0)
                go = ~held
                f, m, r, t, price = f[go], m[go], r[go], t[go], price[go]
        self._deliver(f, m, t, price, CN)
        _add_at(self.rec["exports_cn"][self.week], (m, r), t)
        _add_at(self._unmet_cn, (firms, mat), ordered - sent)

    def _clear_customs(self) -> None:
        """Release the shipments whose customs hold ends this week: they leave China (counted as exports this
        week, the customs statistics' convention) and are delivered at the price agreed when they shipped."""
        slot = self.week % len(self._customs_t)
        t = self._customs_t[slot]
        f, m = np.nonzero(t > 0)
        if len(f) == 0:
            return
        tonnes = t[f, m]
        self._deliver(f, m, tonnes, self._customs_v[slot][f, m] / tonnes, CN)
        _add_at(self.rec["exports_cn"][self.week], (m, self.pop.region[f]), tonnes)
        t[:] = 0.0
        self._customs_v[slot] = 0.0
        self.in_customs = self._customs_t.sum(axis=0)

    def _direct_orders(self, pol: PolicyState, target: np.ndarray, covered: np.ndarray,
                       pipeline: np.ndarray) -> None:
        """Firms under a general licence order their gap straight from China, without a per-shipment review."""
        if not covered.any():
            return
        gap = np.where(covered, np.maximum(0.0, target - self.pop.stock - pipeline), 0.0)
        f, m = np.nonzero(gap > 1e-9)
        self._ship_from_china(pol, m, f, gap[f, m])

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
        _add_at(rec["flow"][w], (am[moved], org[moved], ar[moved]), fill[moved])
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

    # ------------------------------------------------------------------------------------------------ record

    def _record(self, w: int, pol: PolicyState, need: np.ndarray, consumed: np.ndarray,
                shortage: np.ndarray) -> None:
        rec, pop = self.rec, self.pop
        reg = pop.region
        for var, arr in (("demand", need), ("shortage", shortage), ("delivered", self._received)):
            rec[var][w] = self._by_material_region(arr)
        st = self._by_material_region(np.where(need > 0, pop.stock, 0.0))
        dem = rec["demand"][w]
        rec["inventory_cover_weeks"][w] = np.where(dem > 0, st / np.maximum(dem, 1e-12), 0.0)
        plan = np.bincount(reg, weights=pop.plan, minlength=NR)
        # Lost: what a firm meant to make (its plan, less a magnet maker's cut for want of sales) and could not.
        lost = np.bincount(reg, weights=pop.plan * pop.run * (1 - pop.frac) if pop.cutting else
                           pop.plan * (1 - pop.frac), minlength=NR)
        rec["production_lost_share"][w] = np.where(plan > 0, lost / np.maximum(plan, 1e-12), 0.0)
        rec["output_plan"][w] = plan
        # Thrifting's saving is measured against what firms intend to make (not a magnet maker's cut for want of
        # sales).
        base = self._by_material_region(pop.need_base * pop.run[:, None]) if pop.cutting else self._need_base_mr
        rec["thrift_saving_share"][w] = np.where(base > 0, np.clip(1.0 - dem / np.maximum(base, 1e-12), 0.0, 1.0), 0.0)
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
        fl = self.fleet
        rec["alt_capacity"][w] = np.bincount(fl.material, weights=fl.online * 52.0, minlength=NM)
        rec["alt_capacity_pipeline"][w] = np.bincount(fl.material, weights=fl.pipeline * 52.0, minlength=NM)
        prod_alt = np.bincount(fl.material, weights=fl.output, minlength=NM).astype(float)  # (an empty fleet: int)
        prod_alt[MAGNET] += float(pop.output[pop.is_magnet_maker].sum())
        rec["production_alt"][w] = prod_alt
        rec["production_cn"][w] = np.bincount(self.prod.material, weights=self.prod.output, minlength=NM)
        rec["consumption"][w] = consumed.sum(axis=0) + self.domestic.consumed
        rec["stock_total"][w] = self.stock_by_material()
        rec.carry_forward(w)
        if w == 0:
            # A price not yet observed starts from the expected price at the start, so that carry-forward has a
            # value (outputs.md). Supply shares are not made up: a region's shares start with its first delivery.
            for var, start in (("price_ex_vwap", self.p_ex_exp), ("price_ex_ask", self.p_ex_exp)):
                a = rec[var][0]
                a[np.isnan(a)] = start[np.isnan(a)]
            for var in ("price_ex_vwap", "price_ex_ask"):
                rec[var][0][:, CN] = np.nan

    def run(self) -> Recorder:
        """Step through the whole horizon and return the records."""
        while self.running and self.week < self.weeks:
            self.step()
        return self.rec

