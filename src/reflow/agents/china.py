"""Chinese producers (refiners of each oxide, magnet makers) and China's aggregate domestic industry.

The producers' arithmetic is on arrays over producers (`ProducerFleet`); each producer is also a thin Mesa
agent (`ChineseProducer`) over its entry, for inspection and Mesa tooling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from reflow.agents.manufacturers import hoarding_multiplier
from reflow.agents.views import RowView
from reflow.domain import MAT, MATERIALS

if TYPE_CHECKING:
    from reflow.config import ChinaConfig
    from reflow.model import ReflowModel

__all__ = ["ChinaDomesticIndustry", "ChineseProducer", "ProducerFleet"]

NM = len(MATERIALS)


class ProducerFleet:
    """China's producers as arrays: `per_material` producers of each material, material-major (index p).

    Capacity is output over utilisation, split evenly; costs are spread from 0.85 to 1.15 of the mean.

    Attributes:
        material: (P,) index of the material each makes.
        capacity: (P,) t/week.
        cost: (P,) USD/kg marginal cost (the floor of its ask); a magnet maker's follows China's oxide prices.
        target_stock: (P,) t a producer aims to hold.
        stock: (P,) t held.
        output: (P,) t produced this week.
    """

    def __init__(self, cfg: ChinaConfig, reference_price: np.ndarray, magnet_bom: np.ndarray | None = None) -> None:
        """Args:
            cfg: China's configuration.
            reference_price: (M,) USD/kg.
            magnet_bom: (M,) t of each oxide per t of magnet (None: magnet makers' costs stay at reference).
        """
        k = cfg.producers_per_material
        self.per_material = k
        self.cfg = cfg
        spread = np.linspace(0.85, 1.15, k) if k > 1 else np.ones(1)
        material, capacity, cost = [], [], []
        for mi, m in enumerate(MATERIALS):
            cap = cfg.output_tpy[m] / max(cfg.base_utilisation, 1e-9)
            for j in range(k):
                material.append(mi)
                capacity.append(cap / k / 52.0)
                cost.append(cfg.unit_cost_share * reference_price[mi] * spread[j])
        self.material = np.array(material, np.int64)
        self.capacity = np.array(capacity, float)
        self.cost = np.array(cost, float)
        self.base_cost = self.cost.copy()
        self.reference_price = reference_price
        # Magnet makers buy their oxide at home: their cost moves with China's oxide prices (t oxide per t magnet).
        self.magnet_bom = None if magnet_bom is None or not np.any(magnet_bom) else np.asarray(magnet_bom, float)
        self._magnet = np.flatnonzero(self.material == MAT["ndfeb_magnet"])
        self.base_utilisation = cfg.base_utilisation
        self.target_stock = cfg.stock_target_weeks * self.capacity * cfg.base_utilisation
        self.stock = self.target_stock.copy()
        self.output = np.zeros(len(self.material))

    def __len__(self) -> int:
        return len(self.material)

    def cap_share(self, cap_tpy: np.ndarray) -> np.ndarray | float:
        """(P,) production caps of t/yr per material as a share of each producer's capacity (1.0 if none)."""
        if not np.isfinite(cap_tpy).any():
            return 1.0
        total = self.by_material(self.capacity).sum(axis=1) * 52.0
        return (cap_tpy / np.maximum(total, 1e-12))[self.material]

    def grow(self, factor: float) -> None:
        """Scale capacity and the stock producers aim to hold by `factor` (market growth, `[growth]`)."""
        self.capacity *= factor
        self.target_stock *= factor

    def by_material(self, x: np.ndarray) -> np.ndarray:
        """(M, per_material) view of a (P,) array."""
        return x.reshape(NM, self.per_material)

    def update_costs(self, oxide_price: np.ndarray) -> None:
        """Pass the change of China's oxide prices from reference into magnet makers' costs, one for one by
        content (a magnet is ~30% NdPr by weight, and oxide is most of its cost); never below a fifth of the
        reference cost.

        Args:
            oxide_price: (M,) China's expected domestic price of each material, USD/kg.
        """
        if self.magnet_bom is None:
            return
        extra = float(self.magnet_bom @ (oxide_price - self.reference_price))
        base = self.base_cost[self._magnet]
        self.cost[self._magnet] = np.maximum(0.2 * base, base + extra)

    def produce(self, price_ratio: np.ndarray, cap_share: np.ndarray | float = 1.0) -> None:
        """Produce this week: cut output when stocks pile up or prices sag, raise it otherwise, within capacity.

        Args:
            price_ratio: (P,) expected domestic price over the reference price, for each producer's material.
            cap_share: (P,) or scalar production cap as a share of capacity from policy (1 when there is none);
                a cap binds even below the usual minimum utilisation.
        """
        cfg = self.cfg
        bu = self.base_utilisation
        cover = np.maximum(self.stock, 1e-9) / np.maximum(self.target_stock, 1e-9)
        util = (bu * np.power(cover, -cfg.utilisation_response)
                * np.power(np.maximum(price_ratio, 1e-6), cfg.supply_price_elasticity))
        util = np.minimum(np.maximum(util, 0.3 * bu), np.minimum(1.0, cap_share))
        self.output = self.capacity * util
        self.stock += self.output

    def ask(self, expected_price: np.ndarray, floor: np.ndarray | float = 0.0) -> np.ndarray:
        """(P,) reservation prices: the expected price, shaded down when stock is above target, never below cost
        nor below a price the producers defend.

        Args:
            expected_price: (P,) expected domestic price of each producer's material.
            floor: (P,) or scalar USD/kg under which a producer does not sell (a `price_defence` event; 0 = none).
                What does not sell piles up in stock, and output falls with it (`produce`).
        """
        # Measured against target plus this week's output, which is what a producer at target holds at sale time.
        cover = np.maximum(self.stock, 1e-9) / np.maximum(self.target_stock + self.output, 1e-9)
        return np.maximum(np.maximum(self.cost, floor),
                          expected_price * np.power(cover, -self.cfg.ask_stock_elasticity))


class ChineseProducer(Agent):
    """A Chinese refiner (one oxide) or magnet maker: a view onto its entry of the `ProducerFleet`."""

    def __init__(self, model: ReflowModel, fleet: ProducerFleet, index: int) -> None:
        super().__init__(model)
        self.fleet = fleet
        self.index = index

    material = RowView("material", int, "Index of the material it makes.")
    capacity = RowView("capacity", float, "t/week.")
    cost = RowView("cost", float, "USD/kg marginal cost.")
    stock = RowView("stock", float, "t held.")
    output = RowView("output", float, "t produced this week.")

    def ask(self, expected_price: float, floor: float = 0.0) -> float:
        """Reservation price at an expected domestic price and a defended price (`ProducerFleet.ask`'s entry)."""
        return float(self.fleet.ask(np.asarray(expected_price, float), floor)[self.index])


class ChinaDomesticIndustry(Agent):
    """China's domestic users of each material, as one aggregate buyer with an elastic demand curve.

    Demand at price p is ``D_ref * (p / p_ref) ** elasticity`` per week, posted as a stepped bid curve.
    """

    # Price multiples of the reference at which the curve is stepped: fine enough (1.6% apart) that the step
    # does not show in the price.
    GRID = np.geomspace(0.2, 40.0, 340)

    def __init__(self, model: ReflowModel, demand_tpy: np.ndarray, reference_price: np.ndarray,
                 elasticity: float | np.ndarray) -> None:
        super().__init__(model)
        self.demand_week = demand_tpy / 52.0
        self.reference_price = reference_price
        self.elasticity = np.broadcast_to(np.asarray(elasticity, float), self.demand_week.shape)
        d = self.GRID[None, :] ** self.elasticity[:, None]
        # Quantity of step k is the extra demand between price x[k] and x[k+1]; the top step holds the rest.
        self._shape = np.concatenate([d[:, :-1] - d[:, 1:], d[:, -1:]], axis=1)
        self.consumed = np.zeros_like(self.demand_week)

    @staticmethod
    def hoarding_factor(trend: np.ndarray, response: float, limit: float) -> np.ndarray | None:
        """(M,) scale of the demand curves from the domestic price trend: China's traders and users hoard as
        prices rise and destock as they fall, by the rule buyers abroad use for their cover targets
        (`hoarding_multiplier`), with China's own response; None when that response is 0."""
        if response <= 0:
            return None
        return hoarding_multiplier(trend, response, limit)

    def bid_curves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stepped bid curves of every material (market index = material; quantities t, prices USD/kg)."""
        n = len(self.demand_week)
        q = (self.demand_week[:, None] * self._shape).ravel()
        p = (self.reference_price[:, None] * self.GRID[None, :]).ravel()
        return np.repeat(np.arange(n), len(self.GRID)), q, p
