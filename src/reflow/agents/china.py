"""Chinese producers (refiners of each oxide, magnet makers) and China's aggregate domestic industry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

if TYPE_CHECKING:
    from reflow.model import ReflowModel

__all__ = ["ChinaDomesticIndustry", "ChineseProducer"]


def _vpow(x: float, y: float) -> float:
    """x ** y by numpy's array power, which can differ from libm's scalar pow in the last bit (SIMD)."""
    return float(np.power(np.array([x]), y)[0])


class ChineseProducer(Agent):
    """A Chinese refiner (one oxide) or magnet maker: produces, holds stock, sells at home and abroad.

    Attributes:
        material: index of the material it makes.
        capacity: t/week.
        cost: USD/kg marginal cost (its floor ask).
        stock: t held.
        output: t produced this week.
    """

    def __init__(self, model: ReflowModel, material: int, capacity_tpy: float, cost: float,
                 base_utilisation: float, stock_target_weeks: float) -> None:
        super().__init__(model)
        self.material = material
        self.capacity = capacity_tpy / 52.0
        self.cost = cost
        self.base_utilisation = base_utilisation
        self.target_stock = stock_target_weeks * self.capacity * base_utilisation
        self.stock = self.target_stock
        self.output = 0.0

    def produce(self, price_ratio: float, cap_share: float = 1.0) -> None:
        """Produce this week: cut output when stocks pile up or prices sag, raise it otherwise, within capacity.

        Args:
            price_ratio: expected domestic price over the reference price.
            cap_share: production cap as a share of capacity from policy (1 when there is none).
        """
        cfg = self.model.scenario.china
        cover = max(self.stock, 1e-9) / max(self.target_stock, 1e-9)
        util = (self.base_utilisation * _vpow(cover, -cfg.utilisation_response)
                * _vpow(max(price_ratio, 1e-6), cfg.supply_price_elasticity))
        util = float(np.clip(util, 0.3 * self.base_utilisation, min(1.0, cap_share)))
        self.output = self.capacity * util
        self.stock += self.output

    def ask(self, expected_price: float) -> float:
        """Reservation price: the expected price, shaded down when stock is above target, never below cost."""
        elasticity = self.model.scenario.china.ask_stock_elasticity
        # Measured against target plus this week's output, which is what a producer at target holds at sale time.
        cover = max(self.stock, 1e-9) / max(self.target_stock + self.output, 1e-9)
        return max(self.cost, expected_price * _vpow(cover, -elasticity))


class ChinaDomesticIndustry(Agent):
    """China's domestic users of each material, as one aggregate buyer with an elastic demand curve.

    Demand at price p is ``D_ref * (p / p_ref) ** elasticity`` per week, posted as a stepped bid curve.
    """

    _GRID = np.geomspace(0.2, 40.0, 40)  # price multiples of the reference at which the curve is stepped

    def __init__(self, model: ReflowModel, demand_tpy: np.ndarray, reference_price: np.ndarray,
                 elasticity: float) -> None:
        super().__init__(model)
        self.demand_week = demand_tpy / 52.0
        self.reference_price = reference_price
        self.elasticity = elasticity
        x = self._GRID
        d = x ** elasticity
        # Quantity of step k is the extra demand between price x[k] and x[k+1]; the top step holds the rest.
        self._shape = np.append(d[:-1] - d[1:], d[-1])
        self.consumed = np.zeros_like(self.demand_week)

    def bids(self, material: int) -> tuple[np.ndarray, np.ndarray]:
        """Stepped bid curve (quantities t, prices USD/kg) for one material this week."""
        return self.demand_week[material] * self._shape, self.reference_price[material] * self._GRID
