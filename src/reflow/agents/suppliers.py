"""Alternative (non-Chinese) suppliers and strategic stockpiles."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from reflow.domain import MAT, REG

if TYPE_CHECKING:
    from reflow.config import SupplierConfig
    from reflow.model import ReflowModel
    from reflow.policy import PolicyState

__all__ = ["AltSupplier", "StrategicStockpile"]

OPERATING, BUILDING, CANDIDATE, FAILED = "operating", "building", "candidate", "failed"


class AltSupplier(Agent):
    """A non-Chinese producer or project: ramps up, produces, sells on contract and spot, decides to invest.

    Attributes:
        state: operating, building, candidate or failed.
        online: t/week of capacity producing now (ramps toward nameplate).
        stock: t held.
    """

    def __init__(self, model: ReflowModel, cfg: SupplierConfig, start_week: int | None) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.material = MAT[cfg.material]
        self.region = REG[cfg.region]
        self.nameplate = cfg.capacity_tpy / 52.0
        self.cost = cfg.cost
        self.first_week: int | None = None
        if cfg.status == "operating" or (cfg.status == "committed" and start_week is not None and start_week <= 0):
            # Already producing before the run starts: ramp measured from its start date.
            self.state = OPERATING
            self.first_week = start_week if start_week is not None else -10_000
        elif cfg.status == "committed":
            self.state = BUILDING
            self.completion_week = start_week
        else:
            self.state = CANDIDATE
        self.online = 0.0
        self.stock = 0.0
        self.output = 0.0
        self._ramp(0)
        self.stock = 2.0 * self.online

    def _ramp(self, week: int) -> None:
        if self.state != OPERATING or self.first_week is None:
            self.online = 0.0
            return
        ramp = self.cfg.ramp_weeks
        frac = 1.0 if ramp == 0 else min(1.0, max(0.0, (week - self.first_week + 1) / ramp))
        self.online = self.nameplate * frac

    def advance(self, week: int) -> None:
        """Finish construction (or fail) when due, and ramp up."""
        if self.state == BUILDING and week >= self.completion_week:
            if self.model.rng.random() < self.cfg.failure_probability:
                self.state = FAILED
            else:
                self.state = OPERATING
                self.first_week = week
        self._ramp(week)

    @property
    def pipeline(self) -> float:
        """t/week of nameplate under construction."""
        return self.nameplate if self.state == BUILDING else 0.0

    def produce(self, expected_price: float, contracted: float, floor: float) -> None:
        """Produce at the capacity online if selling pays (market or floor), else only what contracts need."""
        worth = max(expected_price, floor) >= 0.8 * self.cost
        self.output = self.online if worth else min(self.online, contracted)
        self.stock += self.output

    @property
    def shade(self) -> float:
        """Factor (<= 1) by which the supplier shades its asks when more than two weeks of output pile up."""
        cover = self.stock / max(self.online, 1e-9) if self.online > 0 else 1.0
        return float(np.power(np.array([min(1.0, 2.0 / max(cover, 1e-9))]), 0.25)[0])

    def ask(self, expected_price: float, delivery_factor: float = 1.0) -> float:
        """Reservation price on the spot market: the destination's expected price shaded by stock, never below
        cost times the delivery factor (freight, tariff) to get there."""
        return max(self.cost * delivery_factor, expected_price * self.shade)

    def consider_investing(self, week: int, expected_price: float, floor: float, offtake_cover: float,
                           policy: PolicyState) -> bool:
        """Candidate projects build when the discounted margin over the project's life covers the capex.

        The discount rate carries a risk premium that signed offtakes relieve; grants cut the capex and faster
        permitting shortens the lead time.
        """
        if self.state != CANDIDATE:
            return False
        inv = self.model.scenario.investment
        lead_years = self.cfg.lead_time_years * policy.lead_time_factor[self.region]
        rate = inv.discount_rate + inv.risk_premium * (1.0 - inv.offtake_risk_relief * min(1.0, offtake_cover))
        margin = max(expected_price, floor) - self.cost  # USD/kg
        cash = margin * self.cfg.capacity_tpy * 1000.0 * 0.85  # USD/yr at 85% availability
        annuity = (1 - (1 + rate) ** -inv.project_life_years) / rate if rate > 0 else inv.project_life_years
        value = cash * annuity / (1 + rate) ** lead_years
        capex = self.cfg.capex_musd * 1e6 * (1.0 - policy.capex_grant[self.region])
        if value <= capex:
            return False
        self.state = BUILDING
        noise = math.exp(inv.lead_time_sigma * float(self.model.rng.standard_normal()))
        self.completion_week = week + max(1, round(lead_years * 52 * noise))
        return True


class StrategicStockpile(Agent):
    """A government stockpile released into a region's market while its release event runs."""

    def __init__(self, model: ReflowModel, region: int, material: int, tonnes: float) -> None:
        super().__init__(model)
        self.region = region
        self.material = material
        self.stock = tonnes

    def offer(self, rate: float) -> float:
        """t offered this week."""
        return float(np.minimum(self.stock, rate))
