"""Policy events: one model per `kind` of dated event in a scenario's ``[[policy]]`` list, and their union.

Every event has an id and dates (`_EventBase`: announce, effective, suspend, resume, lift); `PolicyEvent`
picks the model by `kind`.
"""

from __future__ import annotations

import datetime as dt
import typing
from typing import Annotated, Literal

from pydantic import Field, model_validator

from reflow.config.base import Frac, NonNeg, Pos, _Base
from reflow.domain import IMPORT_REGIONS, MATERIALS, Material, Region, Sector


class _EventBase(_Base):
    id: str = Field(pattern=r"^[A-Za-z0-9_]+$", description="unique, used in key paths: policy.<id>.<field>")
    label: str = Field("", description="short text for figure markers")
    announce: dt.date | None = Field(None, description="public announcement (defaults to effective)")
    effective: dt.date = Field(description="takes effect")
    suspend: dt.date | None = Field(None, description="suspended from this date")
    resume: dt.date | None = Field(None, description="back in force from this date (after a suspension)")
    lift: dt.date | None = Field(None, description="lifted for good from this date")
    source: str = ""

    @model_validator(mode="after")
    def _dates_in_order(self) -> _EventBase:
        if self.announce is None:
            self.announce = self.effective
        if self.announce > self.effective:
            raise ValueError(f"announce ({self.announce}) is after effective ({self.effective}); "
                             "an event is announced on or before it takes effect")
        if self.lift is not None and self.lift <= self.effective:
            raise ValueError(f"lift ({self.lift}) is not after effective ({self.effective}); "
                             "an event can only be lifted after it takes effect")
        if self.resume is not None and self.suspend is None:
            raise ValueError("'resume' needs a 'suspend' date before it")
        if self.suspend is not None:
            if self.suspend < self.announce:
                raise ValueError(f"suspend ({self.suspend}) is before announce ({self.announce})")
            if self.resume is not None and self.resume <= self.suspend:
                raise ValueError(f"resume ({self.resume}) is not after suspend ({self.suspend})")
            if self.lift is not None and self.lift < self.suspend:
                raise ValueError(f"suspend ({self.suspend}) is after lift ({self.lift})")
        return self


_ALL_IMPORTERS = list(IMPORT_REGIONS)


class LicensingEvent(_EventBase):
    """Export licensing of listed items: each export needs an approved application."""

    kind: Literal["licensing"]
    materials: list[Material] = Field(min_length=1)
    destinations: list[Region] = Field(
        default_factory=lambda: list(_ALL_IMPORTERS), min_length=1,
        description="destinations that need a licence (default: every importing region) [choice]: China's dual-use "
                    "licences apply to exports to any destination")
    approval_rate: Frac | None = Field(
        None, description="probability an application is approved (default: licensing.approval_rate)")
    approval_by_region: dict[Region, Frac] = Field(
        default_factory=dict, description="approval probability by destination, replacing `approval_rate` there "
                                          "[choice]: none, one rate for every destination")
    approval_by_sector: dict[Sector, Frac] = Field(
        default_factory=lambda: {"defence": 0.0},
        description="cap on the approval probability by end-use sector (default: defence denied; military end users "
                    "are 'in principle' denied, MOFCOM No. 61, DOMAIN.md section 5.1 [V])")
    listed_approval_rate: Frac = Field(0.0, description="listed entities and >=50%-owned affiliates [V]")
    coverage_by_sector: dict[Sector, Frac] = Field(
        default_factory=dict,
        description="share of each sector's purchases of the listed items that the control reaches (1 where not "
                    "given); e.g. No. 18 lists only Tb/Dy-containing NdFeB, which most consumer-electronics "
                    "magnets are not [choice]: {} = the control reaches every sector's purchases")
    review_working_days_median: Pos | None = None
    return_probability: Frac | None = None
    reviewer_capacity_per_week: int | None = Field(
        None, ge=1, description="decisions per week of the whole authority while the event is in force, for every "
                                "material and destination (one body reviews every file); the last event in force "
                                "that sets it wins (default: `licensing.reviewer_capacity_per_week`)")
    customs_hold_weeks: int = Field(
        0, ge=0, le=26,
        description="weeks every shipment of the listed items to the destinations (licensed, under a general "
                    "licence or outside the control's scope) is held for inspection at Chinese customs before it "
                    "is exported; customs keyword-triggered inspections took 'one or two months' in 2025 "
                    "[V2: FT]; 0 = no hold [choice]: holds are a scenario input (controls_2025 sets them)")


class GeneralLicenceEvent(_EventBase):
    """General licences: covered (large) firms get multi-shipment approval for a validity period."""

    kind: Literal["general_licence"]
    materials: list[Material] = Field(default_factory=lambda: list(MATERIALS), min_length=1,
                                      description="materials covered [choice]: all four")
    destinations: list[Region] = Field(default_factory=lambda: list(_ALL_IMPORTERS), min_length=1,
                                       description="destination regions covered [choice]: every importing region")
    sectors: list[Sector] = Field(
        default_factory=lambda: ["automotive", "wind", "electronics", "magnet"], min_length=1,
        description="end-use sectors covered (defence is not in the default list: military end users are 'in "
                    "principle' denied, MOFCOM No. 61 [V]) [choice]: every civilian sector")
    coverage: Frac = Field(1.0, description="share of the eligible (large) firms that receive one [choice]: every "
                                            "eligible firm; eligibility is manufacturers.large_firm_share")
    validity_weeks: int = Field(52, ge=1, le=520, description="12 months (Reuters Dec 2025 [V2])")


class ExportQuotaEvent(_EventBase):
    """An export quota: China's exports of each material capped at a yearly rate while in force."""

    kind: Literal["export_quota"]
    tonnes_per_year: dict[Material, NonNeg] = Field(min_length=1)
    light_ree_tpy: NonNeg | None = Field(
        None, description="t/yr of La/Ce oxide exports the quota allows (the scenario's [light_ree] market); None "
                          "= the quota does not cover them")


class ProductionCapEvent(_EventBase):
    """A cap on China's own output (production quotas, a crackdown on illegal mining) per material."""

    kind: Literal["production_cap"]
    tonnes_per_year: dict[Material, NonNeg] = Field(min_length=1, description="t/yr China may produce at most")


class PriceDefenceEvent(_EventBase):
    """China's producers defend a price: they sell nothing, at home or abroad, below it, and cut output and
    stock what does not sell (2011-14: Baotou's and the other state groups' output halts and purchases above
    market, and the State Reserve's buying [V2])."""

    kind: Literal["price_defence"]
    prices: dict[Material, Pos] = Field(
        min_length=1, description="USD/kg below which China's producers of each material do not sell")


class ExportTaxEvent(_EventBase):
    """An export tax on Chinese exports (a share of value)."""

    kind: Literal["export_tax"]
    rate: dict[Material, Frac] = Field(min_length=1)
    light_ree: Frac | None = Field(None, description="the duty on La/Ce oxides ([light_ree]); None = unchanged")


class QuotaLicencePriceEvent(_EventBase):
    """A price on the export-quota licence: official exports of a material under an export quota (and La/Ce under
    theirs) carry, on top of the exporter's delivered cost and any scarcity rent, a licence price per kilogram that
    is the same for every element, because a tonne of quota ships any rare earth; set as a share of China's NdPr
    oxide price, the element the quota's licences earn most on (ODD 7.12b)."""

    kind: Literal["quota_licence_price"]
    share_of_ndpr_price: Annotated[float, Field(gt=0.0, le=5.0)] = Field(
        description="the licence price per kg as a share of China's expected NdPr oxide price: 2011's quota holders' "
                    "pricing and informal minimum export prices [V2: GTA act 2888]; history's per-kg spreads of "
                    "September 2011 (Nd ~80, La ~95 USD/kg) and the ~15 USD/kg paid for La licences in mid-2010 are "
                    "each about half of China's Nd price then [D]")
    phase_out_weeks: int = Field(
        0, ge=0, le=520,
        description="weeks before `lift` over which the licence price falls linearly to zero (0 = it ends at once "
                    "on `lift`): the licences lost their value as the spread abroad closed and the quota went unused "
                    "in 2012 [V2]; its length is a judgement")

    @model_validator(mode="after")
    def _phase_out_within_life(self) -> QuotaLicencePriceEvent:
        if self.phase_out_weeks:
            if self.lift is None:
                raise ValueError("phase_out_weeks needs a 'lift' date: the price falls to zero by then")
            if self.lift - dt.timedelta(weeks=self.phase_out_weeks) < self.effective:
                raise ValueError(f"phase_out_weeks ({self.phase_out_weeks}) starts before effective "
                                 f"({self.effective}); shorten it or move 'lift' later")
        return self


class ExtraterritorialEvent(_EventBase):
    """MOFCOM No. 61: foreign-made items with >= threshold of Chinese content by value need a licence."""

    kind: Literal["extraterritorial"]
    materials: list[Material] = Field(
        default_factory=lambda: ["ndfeb_magnet"],
        description="items made abroad that the rule covers [choice]: magnets, the only item the model's firms "
                    "make abroad from Chinese rare earths")
    threshold: Frac = Field(0.001, description="Chinese content share of value (0.1% [V])")
    approval_rate: Frac = Field(
        0.5, description="share of the covered exports that is licensed [R]: No. 61 was suspended before it took "
                         "effect, so no rate was seen; between the April 2025 rule's 25% and 60% (DOMAIN.md 5.2 [V2])")


class TariffEvent(_EventBase):
    """An import tariff by importing regions on goods of given origins."""

    kind: Literal["tariff"]
    importers: list[Region] = Field(min_length=1)
    origins: list[Region] = Field(default_factory=lambda: ["CN"],
                                  description="origins the tariff applies to [choice]: China, the supplier the "
                                              "model's tariffs are aimed at")
    materials: list[Material] = Field(default_factory=lambda: list(MATERIALS),
                                      description="materials the tariff applies to [choice]: all four")
    rate: NonNeg = Field(description="share of value")


class PriceFloorEvent(_EventBase):
    """A government price floor for producers in a region (e.g. DoD-MP 110 USD/kg NdPr [V2])."""

    kind: Literal["price_floor"]
    regions: list[Region] = Field(min_length=1)
    materials: list[Material] = Field(min_length=1)
    price: Pos = Field(description="USD/kg")


class EmbargoEvent(_EventBase):
    """A de-facto embargo: no Chinese exports of the materials reach the destinations."""

    kind: Literal["embargo"]
    materials: list[Material] = Field(default_factory=lambda: list(MATERIALS),
                                      description="materials embargoed [choice]: all four")
    destinations: list[Region] = Field(min_length=1)


class StockpileReleaseEvent(_EventBase):
    """A strategic stockpile released into a region's market over the event's life."""

    kind: Literal["stockpile_release"]
    region: Region
    material: Material
    tonnes: Pos
    weeks: int = Field(26, ge=1, le=520, description="weeks over which it is released, evenly [R]: half a year; "
                                                     "no rare-earth stockpile release was found to copy")


class InvestmentSupportEvent(_EventBase):
    """Grants and faster permitting for non-Chinese projects."""

    kind: Literal["investment_support"]
    regions: list[Region] = Field(min_length=1)
    capex_grant_share: Frac = Field(
        0.0, description="share of a project's capex paid by the government [choice]: 0 = no grant unless the "
                         "event sets one")
    lead_time_factor: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        1.0, description="multiplier on a project's lead time (faster permitting) [choice]: 1 = no change unless the "
                         "event sets one")


class EnforcementEvent(_EventBase):
    """An anti-smuggling campaign: cuts the transshipment of Chinese material through third countries."""

    kind: Literal["enforcement"]
    materials: list[Material] = Field(default_factory=lambda: list(MATERIALS),
                                      description="materials whose unofficial exports the campaign cuts [choice]: "
                                                  "all four")
    intensity: Frac = Field(description="share of the transshipment channel the campaign shuts (0-1)")


PolicyEvent = Annotated[
    LicensingEvent | GeneralLicenceEvent | ExportQuotaEvent | ProductionCapEvent | PriceDefenceEvent
    | ExportTaxEvent | QuotaLicencePriceEvent
    | ExtraterritorialEvent | TariffEvent | PriceFloorEvent | EmbargoEvent | StockpileReleaseEvent
    | InvestmentSupportEvent | EnforcementEvent,
    Field(discriminator="kind"),
]

# The `kind` of every policy event type, for messages ("add kind = one of ...").
POLICY_KINDS: tuple[str, ...] = tuple(
    typing.get_args(cls.model_fields["kind"].annotation)[0] for cls in typing.get_args(typing.get_args(PolicyEvent)[0]))
