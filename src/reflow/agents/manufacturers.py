"""Manufacturers outside China: a vectorised population (struct of arrays) and thin Mesa agents over it.

Every firm has a region, a sector, a size, a bill of materials and stocks of each input. Each week it works
out its need (full production, less what thrifting has saved), its order-up-to target in weeks of cover
(raised ahead of an announced control), how much to apply for from China and how much to bid for on the spot
market, produces what its scarcest input allows (Leontief), and slowly moves toward non-Chinese supply after
experiencing disruption or paying a premium. Magnet makers also set their output from their sales (a stock of
finished magnets worked back to target) and price their magnets on what they paid for their oxide. The
arithmetic is on arrays over firms: a per-firm Python loop would dominate run time once analysts raise
`per_region_sector`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from reflow.agents.views import RowView
from reflow.domain import IMPORT_REGIONS, MAT, MATERIALS, REG, REGIONS, SEC, SECTORS

if TYPE_CHECKING:
    from reflow.config import Scenario
    from reflow.model import ReflowModel

__all__ = ["Manufacturer", "ManufacturerPopulation", "average_cost", "hoarding_multiplier", "output_rate", "wtp"]

NM = len(MATERIALS)
MAGNET_SECTOR = SEC["magnet"]


def wtp(expected: np.ndarray, ceiling: np.ndarray, urgency: np.ndarray, convexity: float,
        routine_markup: float = 0.1) -> np.ndarray:
    """Willingness to pay, USD/kg: the expected price plus a convex scarcity premium up to the ceiling.

    Args:
        expected: the buyer's expected price.
        ceiling: the value of lost production (the most any buyer pays).
        urgency: 0 at or above target cover, 1 with no stock at all.
        convexity: exponent of the premium's rise as urgency grows.
        routine_markup: premium a buyer with a gap pays anyway, so that routine orders clear.
    """
    u = np.clip(urgency, 0.0, 1.0) ** convexity
    base = expected * (1.0 + routine_markup)
    return np.minimum(ceiling, np.maximum(base, expected + (ceiling - expected) * u))


def hoarding_multiplier(trend: np.ndarray, response: float, limit: float) -> np.ndarray:
    """Scale of stock targets (or of a demand curve) from the price trend: ``trend ** response`` within
    ``[1 / limit, limit]``, so rising prices raise stock targets (hoarding) and falling ones cut them (destocking).

    Args:
        trend: expected price over its slow memory.
        response: elasticity of the scale to the trend (0: always 1).
        limit: the largest scale, and the reciprocal of the smallest.
    """
    return np.clip(np.power(np.maximum(trend, 1e-9), response), 1.0 / limit, limit)


def output_rate(plan: np.ndarray, sales: np.ndarray, goods: np.ndarray, cover_weeks: float,
                adjust_weeks: float, most: float = 1.0) -> np.ndarray:
    """Share of plan a maker of goods for sale produces: its expected sales plus the gap of its finished goods to
    their target, closed over `adjust_weeks`, within [0, most] (a stock-management rule).

    Args:
        plan: t/week of output at full production.
        sales: t/week the maker expects to sell (its memory of recent sales).
        goods: t of finished goods held.
        cover_weeks: finished goods the maker aims to hold, in weeks of plan.
        adjust_weeks: weeks over which it closes the gap to that target.
        most: the largest share of plan it can make (capacity over plan).
    """
    want = sales + (cover_weeks * plan - goods) / adjust_weeks
    return np.where(plan > 0, np.clip(want / np.maximum(plan, 1e-12), 0.0, most), 0.0)


def average_cost(cost: np.ndarray, stock: np.ndarray, bought: np.ndarray, paid: np.ndarray) -> np.ndarray:
    """Moving-average cost of a stock after purchases: what was held, at its cost, plus what was bought, at what
    it cost. Selling or using stock leaves the average unchanged.

    Args:
        cost: USD/kg, average cost of the stock before the purchases.
        stock: t held after the purchases.
        bought: t bought (already in `stock`).
        paid: USD/kg x t, what the purchases cost in total (t x USD/kg = kUSD).
    """
    # (cost * held + paid) / (held + bought) with held = stock - bought, written so that nothing bought leaves the
    # cost as it is without a test (and a stock that fell below the week's purchases is all at the new price).
    return cost + (paid - cost * bought) / np.maximum(np.maximum(stock, bought), 1e-12)


class ManufacturerPopulation:
    """All ex-China manufacturers as arrays over firms (index f) and materials (index m).

    Attributes:
        region, sector: (F,) indices into REGIONS / SECTORS.
        need_base: (F, M) t/week of input needed at full production before thrifting.
        plan: (F,) t/week of output at full production (magnet-equivalent; magnets for magnet makers).
        stock: (F, M) t of inputs held.
        goods: (F,) t of magnets held for sale by magnet makers.
        run: (F,) share of plan the firm intends to produce (below 1 for a magnet maker whose goods pile up).
        sales: (F,) t/week, a magnet maker's memory of its magnet sales.
        mk: indices of the magnet makers (the rows of `cost`).
        cost: (K, M) USD/kg, each magnet maker's moving-average cost of its stock of each input (what it paid for
            it, written down to market when the market falls below it).
        thrift: (F, M) share of need removed by thrifting/substitution (irreversible).
        thrift_goal: (F, M) saving the price-driven programmes launched so far will reach.
        nc_share: (F, M) share of needs the firm wants under non-Chinese offtake contracts.
        disruption: (F, M) exponential memory of unmet Chinese supply (0-1).
        cn_content: (F,) Chinese share of a magnet maker's oxide purchases (for the extraterritorial rule).
    """

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        mc = scenario.manufacturers
        n = mc.per_region_sector
        region, sector, plan, listed, large = [], [], [], [], []
        for r in IMPORT_REGIONS:
            cells = [(s, mc.demand_tpy.get(r, {}).get(s, 0.0) / 52.0) for s in SECTORS if s != "magnet"]
            cap = mc.magnet_capacity_tpy.get(r, 0.0)
            if cap > 0:
                cells.append(("magnet", cap * mc.magnet_utilisation / 52.0))
            for s, total in cells:
                if total <= 0:
                    continue
                size = rng.lognormal(0.0, mc.size_sigma, n) if mc.size_sigma > 0 else np.ones(n)
                share = size / size.sum()
                # The round(share x n) largest firms of the cell (a quantile cut gave 2 of 4 for a share of 0.35).
                # By rank, so that firms of equal size (size_sigma = 0) are not all large. Halves round up: Python's
                # round() rounds them to even, which made no firm large with one firm a cell (a general licence
                # then reached nobody) and 2 of 5 with five.
                n_large = int(np.floor(mc.large_firm_share * n + 0.5))
                is_large = np.zeros(n, bool)
                is_large[np.argsort(-share, kind="stable")[:n_large]] = True
                region += [REG[r]] * n
                sector += [SEC[s]] * n
                plan += list(total * share)
                large += list(is_large)
                listed += list(rng.random(n) < mc.listed_share.get(s, 0.0))
        self.n = len(plan)
        self.region = np.array(region, np.int64)
        self.sector = np.array(sector, np.int64)
        self.plan = np.array(plan, float)
        self.listed = np.array(listed, bool)
        self.large = np.array(large, bool)
        # A fixed draw per firm decides whether a general licence covering a share of eligible firms covers it.
        self.gl_draw = rng.random(self.n)
        # Whether a control that reaches a share of a sector's purchases reaches this firm (its products use the
        # listed grade, e.g. Dy/Tb-containing magnets), by position, shifted by one per cell so that the firms in
        # scope do not all share the same ordering weeks (phases follow position). Sizes are random, so this is a
        # random share of the cell's volume, and it draws nothing from the generator.
        cell = np.arange(self.n) // n
        pos = (np.arange(self.n) % n + cell) % n
        self.scope_draw = ((pos + 0.5) / n)[:, None] * np.ones((1, len(MATERIALS)))
        self.is_magnet_maker = self.sector == MAGNET_SECTOR
        bom = np.zeros((len(SECTORS), NM))
        for s, items in mc.bom.items():
            for m, q in items.items():
                bom[SEC[s], MAT[m]] = q
        self.need_base = self.plan[:, None] * bom[self.sector]
        self.cover_target = np.array([mc.cover_target_weeks.get(SECTORS[s], 8.0) for s in self.sector])
        self.stock = self.need_base * self.cover_target[:, None]
        self.goods = np.where(self.is_magnet_maker, self.plan * 2.0, 0.0)
        self.run = np.ones(self.n)
        self.cutting = False  # whether any firm makes less than its plan for want of sales (run < 1)
        self.sales = np.where(self.is_magnet_maker, self.plan, 0.0)
        self._goods_max = np.where(self.is_magnet_maker, self.plan * mc.magnet_goods_max_weeks, 0.0)
        self._inv_plan_mk = np.where(self.is_magnet_maker & (self.plan > 0), 1.0 / np.maximum(self.plan, 1e-300), 0.0)
        self._not_mk = np.where(self.is_magnet_maker, 0.0, 1.0)
        mats = [scenario.materials.get(m) for m in MATERIALS]
        parity = np.array([mt.reference_price * (1.0 + mt.freight_premium) for mt in mats])
        self.mk = np.flatnonzero(self.is_magnet_maker)
        self.mk_pos = np.full(self.n, -1, np.int64)  # each firm's row in `cost` (-1: not a magnet maker)
        self.mk_pos[self.mk] = np.arange(len(self.mk))
        self.cost = np.repeat(parity[None, :], len(self.mk), axis=0)
        self.thrift = np.zeros((self.n, NM))
        self._need = self.need_base * (1.0 - self.thrift)
        init = np.array([mc.non_china_share_initial.get(r, 0.0) for r in _region_names(self.region)])
        self.nc_initial = np.repeat(init[:, None], NM, axis=1) if self.n else np.zeros((0, NM))
        self.nc_share = self.nc_initial.copy()
        self.disruption = np.zeros((self.n, NM))
        self.cn_content = np.ones(self.n)
        self.output = np.zeros(self.n)
        self.frac = np.ones(self.n)
        self._thrift_ring = np.zeros((max(mc.thrift_lag_weeks, 1), self.n, NM))
        self._short_ring = np.zeros((max(mc.thrift_lag_weeks, 1), self.n, NM), bool)
        self.thrift_goal = np.zeros((self.n, NM))
        self.cfg = mc

    # ----------------------------------------------------------------------------------------- planning

    def need(self) -> np.ndarray:
        """(F, M) t/week needed this week at full production after thrifting (shared: do not modify)."""
        return self._need

    def target_stock(self, announced: np.ndarray, trend: np.ndarray | None = None) -> np.ndarray:
        """(F, M) order-up-to stock: target cover, scaled by the price trend (hoarding as prices rise, destocking
        as they fall), plus front-loading where a control is announced.

        Args:
            announced: (M, R) bool, a control on (material, destination) announced but not yet in force.
            trend: (M, R) expected price over its slow memory in each region (None: no trend).
        """
        c = self.cfg
        cover = self.cover_target[:, None]
        if trend is not None and c.hoarding_response > 0:
            mult = hoarding_multiplier(trend, c.hoarding_response, c.hoarding_limit)
            cover = cover * mult[:, self.region].T
        weeks = cover + c.front_load_weeks * announced[:, self.region].T
        return self.need() * weeks

    def urgency(self, m: int, idx: np.ndarray, extra: np.ndarray | float = 0.0) -> np.ndarray:
        """0-1 shortfall of cover below target for firms `idx` in material m, after buying `extra` t."""
        need = self.need()[idx, m]
        cover = (self.stock[idx, m] + extra) / np.maximum(need, 1e-12)
        return np.where(need > 0, 1.0 - cover / self.cover_target[idx], 0.0)

    def grow(self, factor: float) -> None:
        """Scale every firm's plan (and so its need and, for a magnet maker, its capacity) by `factor`: market
        growth (`[growth]`). Stocks, goods and sales are holdings and flows already made, and stay."""
        self.plan *= factor
        self.need_base *= factor
        self._need *= factor
        self._goods_max *= factor
        self._inv_plan_mk /= factor

    # ----------------------------------------------------------------------------------------- producing

    def produce(self) -> tuple[np.ndarray, np.ndarray]:
        """Produce what the scarcest input allows; magnet makers add magnets to their goods.

        Returns:
            (consumed (F, M) t, shortage (F, M) t: need that stock could not meet).
        """
        need = self.need()
        has = need > 1e-12
        ratio = np.where(has, np.minimum(1.0, self.stock / np.where(has, need, 1.0)), 1.0)
        self.frac = ratio.min(axis=1) if NM else np.ones(self.n)
        consumed = np.minimum(self.stock, need * self.frac[:, None])
        shortage = np.maximum(0.0, need - self.stock)
        self.stock -= consumed
        self.output = self.plan * self.run * self.frac
        self.goods += np.where(self.is_magnet_maker, self.output, 0.0)
        return consumed, shortage

    def book_purchases(self, bought: np.ndarray, paid: np.ndarray, market: np.ndarray) -> None:
        """Average magnet makers' purchases this week into the cost of their stocks (before production uses any),
        and write a stock down to market where the market has fallen below it (lower of cost and market).

        Args:
            bought: (K, M) t each magnet maker received this week (contracts, licensed and direct shipments from
                China, spot).
            paid: (K, M) what those tonnes cost, t x USD/kg.
            market: (K, M) USD/kg the maker expects the material to fetch in its region.
        """
        self.cost = np.minimum(average_cost(self.cost, self.stock[self.mk], bought, paid), market)

    def plan_magnet_output(self, sold: np.ndarray) -> None:
        """Magnet makers set next week's output from their sales: expected sales plus the gap of their finished
        magnets to `magnet_goods_max_weeks` of plan, closed over `magnet_output_adjust_weeks`, at most the plan.
        A maker selling its plan holds less than that ceiling and makes its plan; one that cannot sell, whatever
        the reason (no buyers, or an ask its costs keep above the market), cuts output and buys oxide only for
        what it will make.

        Args:
            sold: (F,) t of magnets each firm sold this week (0 for firms that are not magnet makers).
        """
        c = self.cfg
        a = max(c.magnet_output_adjust_weeks, 1.0)  # (under one week the memory would overshoot and diverge)
        self.sales += (sold - self.sales) / a  # (0 for other firms, who sell nothing)
        # output_rate for magnet makers, 1 for other firms, in a few whole-array operations.
        want = self.sales + (self._goods_max - self.goods) / a
        rate = np.minimum(1.0, np.maximum(0.0, want * self._inv_plan_mk) + self._not_mk)
        cutting = bool(rate.min() < 1.0) if self.n else False
        if cutting or self.cutting:  # (all at plan, as in most weeks: the need is unchanged)
            self.run = rate
            self._need = self.need_base * ((1.0 - self.thrift) * self.run[:, None])
        self.cutting = cutting

    def magnet_ask_shade(self) -> np.ndarray:
        """(K,) how far each magnet maker shades its ask below parity: 1 up to two weeks' plan of finished magnets,
        less (to the power 1/4 of plan over goods) as they pile up beyond it."""
        mk = self.mk
        return np.minimum(1.0, 2.0 * self.plan[mk] / np.maximum(self.goods[mk], 1e-9)) ** 0.25

    def magnet_unit_cost(self, conversion: float, bom: np.ndarray) -> np.ndarray:
        """(K,) USD/kg of magnet for each magnet maker (in the order of `mk`): conversion plus the oxide a kg
        takes (after thrifting) at what the maker paid for it.

        Args:
            conversion: USD/kg, non-oxide cost of making a magnet.
            bom: (M,) t of each input per t of magnet (0 for magnets).
        """
        return conversion + (bom[None, :] * (1.0 - self.thrift[self.mk]) * self.cost).sum(axis=1)

    # ----------------------------------------------------------------------------------------- adapting

    def update_thrift(self, week: int, price_multiple: np.ndarray, short: np.ndarray) -> None:
        """Thrift after price or shortage stress, with a lag, a rate cap and a cap; never undo a saving.

        High prices launch programmes (redesigns, substitutes) that, once their savings start, run to their
        goal even if prices fall back; a shortage drives savings only while it lasts.

        Args:
            price_multiple: (F, M) expected price over reference.
            short: (F, M) bool, the firm ran short of the material this week.
        """
        c = self.cfg
        trig = c.thrift_trigger_multiple
        wish = c.thrift_cap * np.clip((price_multiple - trig) / trig, 0.0, 1.0)
        L = self._thrift_ring.shape[0]
        if c.thrift_lag_weeks == 0:
            lagged, lagged_short = wish, short
        else:
            # What was wished L weeks ago.
            lagged, lagged_short = self._thrift_ring[week % L].copy(), self._short_ring[week % L].copy()
            self._thrift_ring[week % L] = wish
            self._short_ring[week % L] = short
        # Programmes launched on 2011's prices delivered in 2012-16 (Honda's and Nissan's Dy cuts, the HRE-free
        # magnet [V2]): the goal is the largest price-driven wish acted on so far.
        np.maximum(self.thrift_goal, lagged, out=self.thrift_goal)
        aim = np.where(lagged_short, c.thrift_cap, self.thrift_goal)
        step = c.thrift_max_per_year / 52.0
        self.thrift = np.maximum(self.thrift, np.minimum(aim, self.thrift + step))
        self._need = self.need_base * ((1.0 - self.thrift) * self.run[:, None])

    def update_diversification(self, disruption_signal: np.ndarray, premium: np.ndarray) -> None:
        """Raise the wanted non-Chinese share after disruption and premiums (slowly; never below the start).

        Args:
            disruption_signal: (F, M) this week's unmet Chinese supply as a share of need (0-1).
            premium: (F, M) ex-China price over Chinese export parity, minus one (>= 0).
        """
        c = self.cfg
        self.disruption += (np.clip(disruption_signal, 0.0, 1.0) - self.disruption) / 26.0
        target = np.clip(self.nc_initial + c.diversify_disruption_weight * self.disruption
                         + c.diversify_premium_weight * premium, 0.0, c.non_china_share_max)
        target = np.maximum(target, self.nc_initial)
        # (an adjustment time under one week moves all the way in one week, not past the target)
        self.nc_share += (target - self.nc_share) / max(c.diversify_adjust_weeks, 1.0)


def _region_names(region: np.ndarray) -> list[str]:
    return [REGIONS[i] for i in region]


def _per_material(row: np.ndarray) -> dict[str, float]:
    """A (M,) row as {material: value}."""
    return {m: float(row[i]) for i, m in enumerate(MATERIALS)}


class Manufacturer(Agent):
    """One manufacturer: a view onto its row of the population arrays (for inspection and Mesa tooling)."""

    def __init__(self, model: ReflowModel, population: ManufacturerPopulation, index: int) -> None:
        super().__init__(model)
        self.population = population
        self.index = index

    region = RowView("region", REGIONS.__getitem__, "Its region (`reflow.domain.REGIONS`).", of="population")
    sector = RowView("sector", SECTORS.__getitem__, "Its sector (`reflow.domain.SECTORS`).", of="population")
    stock = RowView("stock", _per_material, "t of each input held.", of="population")
    non_china_share = RowView("nc_share", _per_material, "Share of its need of each input it wants under "
                                                         "non-Chinese offtake contracts.", of="population")

    @property
    def cover_weeks(self) -> dict[str, float]:
        """Weeks of need each input stock covers (inf where the firm does not use it)."""
        need = self.population.need()[self.index]
        st = self.population.stock[self.index]
        return {m: float(st[i] / need[i]) if need[i] > 0 else float("inf") for i, m in enumerate(MATERIALS)}

    @property
    def magnet_goods(self) -> float:
        """t of magnets held for sale (0 for a firm that does not make magnets)."""
        return float(self.population.goods[self.index]) if self.population.is_magnet_maker[self.index] else 0.0

