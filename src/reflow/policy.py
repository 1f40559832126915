"""The policy timeline: which measures are announced or in force on a date, as arrays (pure, no Mesa).

An event is *in force* on day d when ``effective <= d``, it is not lifted (``d < lift``) and not suspended
(``suspend <= d < resume``). It is *announced* when ``announce <= d < effective``. Where two events of the same
kind cover the same item, the one that took effect last wins (a June easing replaces April's approval rates).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reflow.domain import MAT, MATERIALS, REG, REGIONS, SEC, SECTORS

__all__ = ["PolicyState", "PolicyTimeline", "after_the_run", "in_force", "is_announced", "phase_out_factor"]

NM, NR, NS = len(MATERIALS), len(REGIONS), len(SECTORS)


def _suspended(ev, day: dt.date) -> bool:
    return ev.suspend is not None and ev.suspend <= day and (ev.resume is None or day < ev.resume)


def in_force(ev, day: dt.date) -> bool:
    """Whether an event is in force on `day`."""
    if day < ev.effective or (ev.lift is not None and day >= ev.lift):
        return False
    return not _suspended(ev, day)


def is_announced(ev, day: dt.date) -> bool:
    """Whether an event has been announced but has not yet taken effect on `day` (and is not suspended then)."""
    return ev.announce <= day < ev.effective and not _suspended(ev, day)


def after_the_run(events: Sequence[Any], last_week: dt.date) -> list[Any]:
    """The events announced after `last_week` (the Monday of a run's last week, on which the run reads the
    timeline last): neither announced nor in force in any week of the run, so without effect."""
    return [ev for ev in events if ev.announce > last_week]


def without_own_approval_rate(events: Sequence[Any]) -> list[Any]:
    """The licensing events that set no `approval_rate` of their own: the only ones `licensing.approval_rate`
    reaches (every licensing event of the bundled scenarios sets its own)."""
    return [ev for ev in events if ev.kind == "licensing" and ev.approval_rate is None]


@dataclass
class PolicyState:
    """Everything the agents need to know about policy in one week."""

    controlled: np.ndarray = field(default_factory=lambda: np.zeros((NM, NR), bool))
    customs_hold: np.ndarray = field(default_factory=lambda: np.zeros((NM, NR), np.int64))  # weeks held at customs
    coverage: np.ndarray = field(default_factory=lambda: np.ones((NM, NR, NS)))  # share of purchases in scope
    approval: np.ndarray = field(default_factory=lambda: np.ones((NM, NR, NS)))
    listed_approval: np.ndarray = field(default_factory=lambda: np.zeros((NM, NR)))
    # (material, destination): NaN where no licensing event in force sets one (the [licensing] value applies)
    review_median: np.ndarray = field(default_factory=lambda: np.full((NM, NR), np.nan))
    return_probability: np.ndarray = field(default_factory=lambda: np.full((NM, NR), np.nan))
    reviewer_capacity: int | None = None
    announced: np.ndarray = field(default_factory=lambda: np.zeros((NM, NR), bool))
    general_licence: np.ndarray = field(default_factory=lambda: np.zeros((NM, NR, NS)))
    quota_tpy: np.ndarray = field(default_factory=lambda: np.full(NM, np.inf))
    light_quota_tpy: float = np.inf  # La/Ce oxides ([light_ree])
    light_export_tax: float = 0.0
    licence_price_share: float = 0.0  # quota licence price per kg, as a share of China's NdPr price (7.12b)
    production_cap_tpy: np.ndarray = field(default_factory=lambda: np.full(NM, np.inf))
    cn_price_floor: np.ndarray = field(default_factory=lambda: np.zeros(NM))  # USD/kg China's producers defend
    export_tax: np.ndarray = field(default_factory=lambda: np.zeros(NM))
    extraterritorial: np.ndarray = field(default_factory=lambda: np.zeros(NM, bool))
    et_threshold: float = 0.001
    et_approval: float = 1.0
    tariff: np.ndarray = field(default_factory=lambda: np.zeros((NM, NR, NR)))  # material, importer, origin
    price_floor: np.ndarray = field(default_factory=lambda: np.zeros((NM, NR)))  # material, producer region
    embargo: np.ndarray = field(default_factory=lambda: np.zeros((NM, NR), bool))
    releases: dict[str, float] = field(default_factory=dict)  # t/week of each release in force, by event id
    capex_grant: np.ndarray = field(default_factory=lambda: np.zeros(NR))
    lead_time_factor: np.ndarray = field(default_factory=lambda: np.ones(NR))
    enforcement: np.ndarray = field(default_factory=lambda: np.zeros(NM))  # share of leakage shut (0-1)
    active_ids: tuple[str, ...] = ()


class PolicyTimeline:
    """The dated policy events of a scenario, queried week by week."""

    def __init__(self, events: list, default_approval: float = 1.0) -> None:
        # Later effective date wins; ties keep file order.
        self.events = sorted(events, key=lambda e: e.effective)
        self.default_approval = default_approval
        # keyed by (active ids, announced ids, (id, phase-out factor) of events phasing out)
        self._cache: dict[tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, float], ...]], PolicyState] = {}

    def state(self, day: dt.date) -> PolicyState:
        """The policy state on `day` (cached per set of active and announced events, and phase-out stage)."""
        live = [e for e in self.events if in_force(e, day) and day < _expiry(e)]
        active = tuple(e.id for e in live)
        announced = tuple(e.id for e in self.events if is_announced(e, day))
        fading = tuple((e.id, f) for e in live if (f := phase_out_factor(e, day)) < 1.0)
        key = (active, announced, fading)
        if key not in self._cache:
            self._cache[key] = self._build(active, announced, dict(fading))
        return self._cache[key]

    def _build(self, active: tuple[str, ...], announced: tuple[str, ...],
               fading: dict[str, float] | None = None) -> PolicyState:
        fading = fading or {}
        st = PolicyState(active_ids=active)
        st.approval[:] = self.default_approval
        by_id = {e.id: e for e in self.events}
        for ev in (by_id[i] for i in active):
            k = ev.kind
            if k == "licensing":
                for m in ev.materials:
                    mi = MAT[m]
                    for r in ev.destinations:
                        ri = REG[r]
                        st.controlled[mi, ri] = True
                        st.customs_hold[mi, ri] = ev.customs_hold_weeks
                        st.approval[mi, ri], st.coverage[mi, ri] = self._licensing_terms(ev, r)
                        st.listed_approval[mi, ri] = ev.listed_approval_rate
                        # Per destination, like the approval rates: an event for some destinations sets no review
                        # time for the files of others (it did, for every destination of the material).
                        if ev.review_working_days_median is not None:
                            st.review_median[mi, ri] = ev.review_working_days_median
                        if ev.return_probability is not None:
                            st.return_probability[mi, ri] = ev.return_probability
                if ev.reviewer_capacity_per_week is not None:
                    st.reviewer_capacity = ev.reviewer_capacity_per_week
            elif k == "general_licence":
                for m in ev.materials:
                    for r in ev.destinations:
                        for s in ev.sectors:
                            st.general_licence[MAT[m], REG[r], SEC[s]] = ev.coverage
            elif k == "export_quota":
                for m, t in ev.tonnes_per_year.items():
                    st.quota_tpy[MAT[m]] = t
                if ev.light_ree_tpy is not None:
                    st.light_quota_tpy = ev.light_ree_tpy
            elif k == "production_cap":
                for m, t in ev.tonnes_per_year.items():
                    st.production_cap_tpy[MAT[m]] = t
            elif k == "price_defence":
                for m, price in ev.prices.items():
                    st.cn_price_floor[MAT[m]] = price
            elif k == "export_tax":
                for m, rate in ev.rate.items():
                    st.export_tax[MAT[m]] = rate
                if ev.light_ree is not None:
                    st.light_export_tax = ev.light_ree
            elif k == "quota_licence_price":
                st.licence_price_share = ev.share_of_ndpr_price * fading.get(ev.id, 1.0)
            elif k == "extraterritorial":
                for m in ev.materials:
                    st.extraterritorial[MAT[m]] = True
                st.et_threshold, st.et_approval = ev.threshold, ev.approval_rate
            elif k == "tariff":
                for m in ev.materials:
                    for imp in ev.importers:
                        for org in ev.origins:
                            st.tariff[MAT[m], REG[imp], REG[org]] = ev.rate
            elif k == "price_floor":
                for m in ev.materials:
                    for r in ev.regions:
                        st.price_floor[MAT[m], REG[r]] = ev.price
            elif k == "embargo":
                for m in ev.materials:
                    for r in ev.destinations:
                        st.embargo[MAT[m], REG[r]] = True
            elif k == "stockpile_release":
                st.releases[ev.id] = ev.tonnes / ev.weeks
            elif k == "enforcement":
                for m in ev.materials:
                    st.enforcement[MAT[m]] = max(st.enforcement[MAT[m]], ev.intensity)
            elif k == "investment_support":
                for r in ev.regions:
                    st.capex_grant[REG[r]] = max(st.capex_grant[REG[r]], ev.capex_grant_share)
                    st.lead_time_factor[REG[r]] = min(st.lead_time_factor[REG[r]], ev.lead_time_factor)
        for ev in self.events:
            # Controls on China's exports make buyers stock up before they bind. The extraterritorial rule is not
            # one: it restricts what foreign makers sell abroad, so stocking up on Chinese imports escapes nothing.
            if ev.id in announced and ev.kind in ("licensing", "embargo", "export_quota"):
                mats = getattr(ev, "materials", None) or list(getattr(ev, "tonnes_per_year", {}))
                if ev.kind == "export_quota":  # a larger quota coming is no reason to stock up
                    mats = [m for m in mats if ev.tonnes_per_year[m] < st.quota_tpy[MAT[m]]]
                for m in mats:
                    for r in getattr(ev, "destinations", None) or REGIONS[1:]:
                        if self._tightens(ev, st, MAT[m], r):
                            st.announced[MAT[m], REG[r]] = True
        return st

    def _licensing_terms(self, ev, r: str) -> tuple[np.ndarray, np.ndarray]:
        """(approval, coverage) by sector that licensing event `ev` sets for destination `r`."""
        rate = self.default_approval if ev.approval_rate is None else ev.approval_rate
        base = ev.approval_by_region.get(r, rate)
        approval = np.array([min(base, ev.approval_by_sector.get(s, 1.0)) for s in SECTORS])
        coverage = np.array([ev.coverage_by_sector.get(s, 1.0) for s in SECTORS])
        return approval, coverage

    def _tightens(self, ev, st: PolicyState, mi: int, r: str) -> bool:
        """Whether an announced control restricts China's exports of material `mi` to `r` beyond what is in force
        (state `st`): an embargo where there is none; a licensing control where there is none, or one that approves
        less (listed entities included), reaches more of some sector's purchases or holds shipments longer at
        customs. An easing coming is no reason to stock up."""
        ri = REG[r]
        if ev.kind == "embargo":
            return not st.embargo[mi, ri]
        if ev.kind == "licensing" and st.controlled[mi, ri]:
            approval, coverage = self._licensing_terms(ev, r)
            return bool((approval < st.approval[mi, ri]).any() or (coverage > st.coverage[mi, ri]).any()
                        or ev.listed_approval_rate < st.listed_approval[mi, ri]
                        or ev.customs_hold_weeks > st.customs_hold[mi, ri])
        return True



def phase_out_factor(ev, day: dt.date) -> float:
    """How much of an event's size is left on `day` while it phases out (1 outside its phase-out): falls linearly
    over the event's last ``phase_out_weeks`` before ``lift``."""
    weeks = getattr(ev, "phase_out_weeks", 0)
    if not weeks or ev.lift is None:
        return 1.0
    left = (ev.lift - day).days / 7.0  # weeks to go until lift
    return min(1.0, max(0.0, left / weeks))


def _expiry(ev) -> dt.date:
    """Events with a life of their own: a general licence's validity, a stockpile release's duration."""
    if ev.kind == "general_licence":
        return ev.effective + dt.timedelta(weeks=ev.validity_weeks)
    if ev.kind == "stockpile_release":
        return ev.effective + dt.timedelta(weeks=ev.weeks)
    return dt.date.max
