"""Alternative (non-Chinese) suppliers and strategic stockpiles.

The suppliers' weekly arithmetic is on arrays over suppliers (`SupplierFleet`); each supplier is also a thin
Mesa agent (`AltSupplier`) over its entry, which takes the (quarterly, per-project) investment decision.
"""

from __future__ import annotations

import math
import zlib
from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from reflow.agents.views import RowView
from reflow.domain import MAT, REG

if TYPE_CHECKING:
    from reflow.config import SupplierConfig
    from reflow.model import ReflowModel
    from reflow.policy import PolicyState

__all__ = ["AltSupplier", "StrategicStockpile", "SupplierFleet"]

OPERATING, BUILDING, CANDIDATE, FAILED = "operating", "building", "candidate", "failed"
STATES = (OPERATING, BUILDING, CANDIDATE, FAILED)
S_OPERATING, S_BUILDING, S_CANDIDATE, S_FAILED = range(4)
_NEVER = 2**62  # a week that never comes


class SupplierFleet:
    """Every alternative supplier and project as arrays (index s, in config order).

    Attributes:
        material, region: (S,) indices.
        nameplate: (S,) t/week at full ramp.
        cost: (S,) USD/kg all-in operating cost.
        state: (S,) index into STATES (operating, building, candidate, failed).
        online: (S,) t/week of capacity producing now (ramps toward nameplate).
        stock: (S,) t held.
        output: (S,) t produced this week.
    """

    def __init__(self, configs: list[SupplierConfig], start_weeks: list[int | None], seed: int) -> None:
        n = len(configs)
        # Each project's fate (failure) and lead-time noise come from its own stream, keyed by the run's seed and
        # the project's id, not from the model's shared stream: two scenarios (or sweep points) run with one seed
        # then give a project the same fate, whatever else differs between them (common random numbers).
        streams = [np.random.default_rng([seed, zlib.crc32(c.id.encode())]) for c in configs]
        self.fate_u = np.array([s.random() for s in streams])
        self.lead_z = np.array([s.standard_normal() for s in streams])
        self.cfg = list(configs)
        self.material = np.array([MAT[c.material] for c in configs], np.int64)
        self.region = np.array([REG[c.region] for c in configs], np.int64)
        self.nameplate = np.array([c.capacity_tpy / 52.0 for c in configs], float)
        self.cost = np.array([c.cost for c in configs], float)
        self.ramp_weeks = np.array([c.ramp_weeks for c in configs], np.int64)
        self.failure_probability = np.array([c.failure_probability for c in configs], float)
        self.state = np.full(n, S_CANDIDATE, np.int64)
        self.first_week = np.zeros(n, np.int64)
        self.completion_week = np.full(n, _NEVER, np.int64)
        for i, (c, start) in enumerate(zip(configs, start_weeks, strict=True)):
            if c.status == "operating" or (c.status == "committed" and start is not None and start <= 0):
                # Already producing before the run starts: ramp measured from its start date.
                self.state[i] = S_OPERATING
                self.first_week[i] = start if start is not None else -10_000
            elif c.status == "committed":
                self.state[i] = S_BUILDING
                self.completion_week[i] = start
        self.online = np.zeros(n)
        self.output = np.zeros(n)
        self._ramp(0)
        self.stock = 2.0 * self.online

    def __len__(self) -> int:
        return len(self.material)

    def _ramp(self, week: int) -> None:
        ramp = self.ramp_weeks
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(ramp == 0, 1.0,
                            np.minimum(1.0, np.maximum(0.0, (week - self.first_week + 1) / np.maximum(ramp, 1))))
        self.online = np.where(self.state == S_OPERATING, self.nameplate * frac, 0.0)

    def advance(self, week: int) -> None:
        """Finish construction (or fail) when due, and ramp up."""
        due = np.flatnonzero((self.state == S_BUILDING) & (week >= self.completion_week))
        if len(due):
            fail = self.fate_u[due] < self.failure_probability[due]
            self.state[due] = np.where(fail, S_FAILED, S_OPERATING)
            self.first_week[due[~fail]] = week
        self._ramp(week)

    @property
    def pipeline(self) -> np.ndarray:
        """(S,) t/week of nameplate under construction."""
        return np.where(self.state == S_BUILDING, self.nameplate, 0.0)

    def produce(self, expected_price: np.ndarray, contracted: np.ndarray, floor: np.ndarray,
                max_stock_weeks: float = np.inf) -> None:
        """Produce at the capacity online if selling pays (market or floor), else only what contracts need.

        A supplier whose unsold stock has reached `max_stock_weeks` of its online output makes only what its
        contracts need, or what refills its stock to that level: output that does not sell is not made.
        """
        worth = np.maximum(expected_price, floor) >= 0.8 * self.cost
        # (no ceiling: unlimited room, also where nothing is online, which inf * 0 would make NaN)
        room = (np.maximum(0.0, max_stock_weeks * self.online - self.stock) if math.isfinite(max_stock_weeks)
                else np.full(len(self.online), np.inf))
        contracted = np.minimum(self.online, contracted)
        self.output = np.where(worth, np.maximum(contracted, np.minimum(self.online, room)), contracted)
        self.stock += self.output

    @property
    def shade(self) -> np.ndarray:
        """(S,) factor (<= 1) by which suppliers shade their asks when more than two weeks of output pile up."""
        with np.errstate(divide="ignore", invalid="ignore"):
            cover = np.where(self.online > 0, self.stock / np.maximum(self.online, 1e-9), 1.0)
        return np.power(np.minimum(1.0, 2.0 / np.maximum(cover, 1e-9)), 0.25)


class AltSupplier(Agent):
    """A non-Chinese producer or project: a view onto its entry of the `SupplierFleet`; decides to invest."""

    def __init__(self, model: ReflowModel, fleet: SupplierFleet, index: int) -> None:
        super().__init__(model)
        self.fleet = fleet
        self.index = index
        self.cfg = fleet.cfg[index]

    # Read through to the fleet, not copied at construction: the fleet's arrays are what the model uses.
    material = RowView("material", int, "Index of the material it produces (`reflow.domain.MATERIALS`).")
    region = RowView("region", int, "Index of its region (`reflow.domain.REGIONS`).")
    nameplate = RowView("nameplate", float, "t/week of nameplate capacity.")
    cost = RowView("cost", float, "USD/kg, its all-in operating cost.")
    state = RowView("state", STATES.__getitem__, "operating, building, candidate or failed.")
    online = RowView("online", float, "t/week of capacity producing now.")
    stock = RowView("stock", float, "t held.")
    output = RowView("output", float, "t produced this week.")

    @property
    def pipeline(self) -> float:
        """t/week of nameplate under construction."""
        return self.nameplate if self.fleet.state[self.index] == S_BUILDING else 0.0

    shade = RowView("shade", float, "Factor (<= 1) by which the supplier shades its asks when more than two weeks of "
                                    "output pile up.")

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
        if self.fleet.state[self.index] != S_CANDIDATE:
            return False
        inv = self.model.config.investment
        lead_years = self.cfg.lead_time_years * policy.lead_time_factor[self.region]
        rate = inv.discount_rate + inv.risk_premium * (1.0 - inv.offtake_risk_relief * min(1.0, offtake_cover))
        margin = max(expected_price, floor) - self.cost  # USD/kg
        cash = margin * self.cfg.capacity_tpy * 1000.0 * 0.85  # USD/yr at 85% availability
        annuity = (1 - (1 + rate) ** -inv.project_life_years) / rate if rate > 0 else inv.project_life_years
        value = cash * annuity / (1 + rate) ** lead_years
        capex = self.cfg.capex_musd * 1e6 * (1.0 - policy.capex_grant[self.region])
        if value <= capex:
            return False
        self.fleet.state[self.index] = S_BUILDING
        noise = math.exp(inv.lead_time_sigma * float(self.fleet.lead_z[self.index]))
        self.fleet.completion_week[self.index] = week + max(1, round(lead_years * 52 * noise))
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
