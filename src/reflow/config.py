"""Scenario configuration: the schema, its defaults (with sources), TOML loading, overrides and validation.

A config is data. It is validated here, once; everything downstream receives a typed `Scenario` and trusts it.
Defaults come from ``../shared/DOMAIN.md`` (tags [V] primary, [V2] trade press quoting a primary, [D] derived,
[R] recalled/placeholder); ``docs/parameters.md`` lists every field with unit and source.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from reflow.domain import IMPORT_REGIONS, MATERIALS, SECTORS, Material, Region, Sector
from reflow.errors import ConfigError

__all__ = [
    "KeyOrigins",
    "OverrideSource",
    "Scenario",
    "apply_overrides",
    "dump_toml",
    "load_config",
    "load_raw",
    "load_raw_traced",
    "merge_raw",
    "parse_set_args",
    "validate",
]

# Finite only: TOML's `inf` passes a `gt=0` bound, and a run with an infinite price or tonnage finishes with
# meaningless numbers. (Every float of the schema is finite anyway: `_Base` sets allow_inf_nan=False.)
Frac = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Pos = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]

# The name of a results folder: safe characters, and not "." or ".." (or only dots), which would put the run
# beside or above the results root. (The Rust regex engine pydantic uses has no look-ahead, hence the form.)
FOLDER_NAME_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$"


def _merge_tables(default: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` over `default`, key by key at every level (tables of tables merge too)."""
    out = dict(default)
    for k, v in given.items():
        d = out.get(k)
        out[k] = _merge_tables(d, v) if isinstance(d, Mapping) and isinstance(v, Mapping) else v
    return out


def _admits(annotation: Any, kinds: tuple[type, ...]) -> bool:
    """Whether a type annotation mentions any of `kinds` (a model, bool) anywhere inside it."""
    if isinstance(annotation, type) and issubclass(annotation, kinds):
        return True
    return any(_admits(a, kinds) for a in typing.get_args(annotation) if not isinstance(a, str | int | float))


def _bool_paths(value: Any, path: str) -> list[str]:
    """``path = true`` for every dotted path under `path` that holds true/false (`path` itself if `value` does)."""
    if isinstance(value, bool):
        return [f"{path} = {'true' if value else 'false'}"]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _bool_paths(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in _bool_paths(v, f"{path}.{i}")]
    return []


class _Base(BaseModel):
    # allow_inf_nan=False: no field of a scenario means anything at infinity (an absent quota is an absent
    # entry, not `inf`), and TOML accepts `inf` and `nan` as floats.
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, data: Any) -> Any:
        """Refuse true/false where a number is expected: pydantic would read them as 1 and 0, so a slip like
        ``--set scenario.seed=true`` would pass. Nested models check their own fields. (A model validator: a
        field validator on every field is not allowed on the `kind` discriminator of policy events.)"""
        if not isinstance(data, Mapping):
            return data
        bad = [p for name, field in cls.model_fields.items()
               if name in data and not _admits(field.annotation, (bool, BaseModel))
               for p in _bool_paths(data[name], name)]
        if bad:
            raise PydanticCustomError("bool_for_number", "true/false where a number or text is expected: {paths}",
                                      {"paths": bad})
        return data

    @model_validator(mode="before")
    @classmethod
    def _keep_default_table_entries(cls, data: Any) -> Any:
        """A per-key table (a mapping field with a non-empty default, e.g. ``china.output_tpy`` or
        ``manufacturers.cover_target_weeks``) given in part keeps the defaults of the keys it leaves out, at every
        level, as ``--set`` on one key does; set an entry to 0 to drop it. The model reads some of these tables
        for every key, so a partial table would otherwise also fail later with a KeyError. The resolved values
        are in the validated scenario (and the run's resolved config)."""
        if not isinstance(data, Mapping):
            return data
        out: dict[str, Any] | None = None
        for name, field in cls.model_fields.items():
            given = data.get(name)
            if not isinstance(given, Mapping) or field.default_factory is None:
                continue
            default = field.default_factory()
            if isinstance(default, dict) and default:
                out = dict(data) if out is None else out
                out[name] = _merge_tables(default, given)
        return data if out is None else out


# --------------------------------------------------------------------------------------------------- scenario


class ScenarioSection(_Base):
    """Identity and calendar of a run."""

    name: str = Field(pattern=FOLDER_NAME_PATTERN, description="scenario name, used as the results folder")
    description: str = Field("", description="one paragraph for reports")
    start: dt.date = Field(description="first simulated week (snapped back to its Monday)")
    weeks: int = Field(ge=4, le=2600, description="horizon in weeks (one step = one week)")
    seed: int = Field(0, ge=0, description="default random seed (overridden by --seed)")

    @field_validator("start")
    @classmethod
    def _monday(cls, v: dt.date) -> dt.date:
        return v - dt.timedelta(days=v.weekday())

    @property
    def end(self) -> dt.date:
        """The Monday of the last simulated week."""
        return self.start + dt.timedelta(weeks=self.weeks - 1)


# --------------------------------------------------------------------------------------------------- materials


class MaterialConfig(_Base):
    """Reference prices and trade frictions of one material."""

    reference_price: Pos = Field(description="USD/kg, China domestic price at which the market is calibrated")
    freight_premium: Frac = Field(0.04, description="fraction of value added by freight and handling ex-China")


class Materials(_Base):
    # USGS MCS 2025 annual averages 2024 [V]: Nd oxide 56, Dy oxide 260, Tb oxide 810 USD/kg; SMM Jan 2025 [V2].
    ndpr_oxide: MaterialConfig = MaterialConfig(reference_price=56.0)
    dy_oxide: MaterialConfig = MaterialConfig(reference_price=260.0)
    tb_oxide: MaterialConfig = MaterialConfig(reference_price=810.0)
    # Sintered NdFeB block ~50-60 USD/kg (Adamas: 58,152 t exported for US$2.86 bn in 2024 = 49 USD/kg) [D].
    ndfeb_magnet: MaterialConfig = MaterialConfig(reference_price=49.0, freight_premium=0.03)

    def get(self, m: str) -> MaterialConfig:
        """The config of material `m`."""
        return getattr(self, m)


def _per_material(**values: float) -> dict[str, float]:
    return {m: float(values[m]) for m in MATERIALS}


# --------------------------------------------------------------------------------------------------- China


class ChinaConfig(_Base):
    """Chinese producers (refiners per oxide, magnet makers) and China's aggregate domestic demand."""

    # Argus 2024 [V2]: NdPr oxide output 106 kt; Dy oxide 3.5 kt; Tb oxide 650 t; NdFeB ~300 kt. Capacity is
    # output / base utilisation.
    output_tpy: dict[Material, NonNeg] = Field(
        default_factory=lambda: _per_material(ndpr_oxide=106_000, dy_oxide=3_500, tb_oxide=650,
                                              ndfeb_magnet=300_000),
        description="t/yr produced at reference prices")
    base_utilisation: Frac = Field(0.9, description="share of capacity used at reference prices [R]")
    producers_per_material: int = Field(3, ge=1, le=1000, description="Chinese producer agents per material")
    unit_cost_share: Frac = Field(0.6, description="marginal cost as a share of the reference price [R]")
    stock_target_weeks: Pos = Field(8.0, description="weeks of output producers aim to hold [R]")
    utilisation_response: NonNeg = Field(
        0.5, description="elasticity of utilisation to stock cover (cut output when stocks pile up) [R]")
    supply_price_elasticity: NonNeg = Field(
        1.5, description="elasticity of utilisation to the expected price over reference: China's production "
                         "quotas and idle capacity track the market (utilisation <40% in the 2013 bust [V2]) [R]")
    ask_stock_elasticity: NonNeg = Field(
        0.25, description="elasticity of producers' asking price to their stock cover [R]")
    domestic_demand_tpy: dict[Material, NonNeg] | None = Field(
        None, description="t/yr China's domestic industry uses at reference prices (a material left out uses 0); "
                          "None = what balances the world market at reference prices: China's output plus "
                          "non-Chinese supply (alternative suppliers' week-0 capacity and non-Chinese magnet "
                          "makers' output) minus ex-China need, at least 20% of output (Argus: NdPr 106 kt out, "
                          "96 kt used [V2])")
    domestic_elasticity: Annotated[float, Field(le=0.0, ge=-3.0)] = Field(
        -0.3, description="price elasticity of China's domestic demand incl. state/industry stockpiling [R/D]")
    long_run_elasticity: Annotated[float, Field(le=0.0, ge=-3.0)] | None = Field(
        None, description="price elasticity of China's domestic demand to a price that has lasted (its slow memory, "
                          "manufacturers.hoarding_memory_weeks), where domestic_elasticity is the response to the "
                          "price against that memory: users who cut purchases in a spike (destocking, deferring) "
                          "buy again as a price lasts and passes through to their products; China's output was "
                          "~0.75 of 2009's at 4-5x 2009 prices in 2012-13 [V2/R]. None = domestic_elasticity (one "
                          "elasticity)")
    elasticity_by_material: dict[Material, Annotated[float, Field(le=0.0, ge=-3.0)]] = Field(
        default_factory=dict,
        description="materials whose domestic users respond to price with an elasticity of their own, to a spike and "
                    "to a lasting price alike (in place of domestic_elasticity and long_run_elasticity); e.g. "
                    "Tb in 2010-11, when China's Tb users were mostly lamp-phosphor makers, whose Tb use fell "
                    "60-70% from 2010-11 to 2013 with thinner coatings, recycling and LEDs [V2]; {} = none")
    hoarding_response: NonNeg = Field(
        0.0, description="elasticity of China's domestic demand to the domestic price trend (expected price over "
                         "its slow memory, manufacturers.hoarding_memory_weeks): demand x (trend ** response) within "
                         "manufacturers.hoarding_limit; China's traders and users hoarding as prices rise and "
                         "destocking as they fall (2011 [V2]); 0 = off [calibrated]")
    quota_rent_share: Frac = Field(
        0.0, description="share of the quota rent an official exporter's ask carries under a binding export quota: "
                         "its ask rises from its delivered cost toward the expected ex-China price by this share "
                         "times the quota's scarcity (share of the week's open demand the banked quota cannot "
                         "serve); the price of the quota licence it must hold or buy (Japanese buyers paid ~15 "
                         "USD/kg for La quota licences in mid-2010 [V2]) [R/calibrated]")


# --------------------------------------------------------------------------------------------------- manufacturers


def _default_demand() -> dict[str, dict[str, float]]:
    # Ex-China magnet-equivalent demand, t NdFeB/yr [D]: China exported 58,152 t of magnets in 2024 (Adamas/GAC
    # [V2]) and ex-China magnet makers supply roughly 10 kt more; EU used 20,000 t in 2024 (ECA [V2]). End-use
    # split: NEV 35% of NdFeB (CREIA [V2]), electronics ~30% (Heim & Vander Wal [V2]); defence low single-digit [R].
    shares = {"automotive": 0.45, "wind": 0.10, "electronics": 0.42, "defence": 0.03}
    totals = {"US": 12_000, "EU": 20_000, "JPKR": 18_000, "AU": 300, "CA": 600, "HUB": 8_000, "ROW": 10_000}
    return {r: {s: round(t * f, 1) for s, f in shares.items()} for r, t in totals.items()}


class ManufacturerConfig(_Base):
    """Manufacturers by region and sector: needs, stock policy, purchasing, diversification, thrifting."""

    per_region_sector: int = Field(4, ge=1, le=100_000, description="manufacturer agents per (region, sector)")
    demand_tpy: dict[Region, dict[Sector, NonNeg]] = Field(
        default_factory=_default_demand, description="t/yr magnet-equivalent need at full production, by region "
                                                     "and final-use sector")
    magnet_capacity_tpy: dict[Region, NonNeg] = Field(
        # Non-Chinese sintered NdFeB: Japan ~ 8-9 kt (Shin-Etsu, Proterial, TDK) [R]; EU VAC/Neo Narva ~1.5 kt
        # (Neo phase 1 2,000 t/yr [V2]); US MP Independence ramping 1,000 t/yr (MP [V2]).
        default_factory=lambda: {"JPKR": 9_000.0, "EU": 1_500.0, "US": 300.0},
        description="t/yr of non-Chinese magnet-making capacity (the 'magnet' sector)")
    magnet_utilisation: Frac = Field(0.85, description="share of magnet capacity used at reference prices [R]")
    bom: dict[Sector, dict[Material, NonNeg]] = Field(
        # t of input per t of output. NdFeB ~30% RE by weight; oxide-to-metal 1.17 -> ~0.31 t NdPr oxide; Dy 2-4%
        # and Tb ~0.5% of high-grade EV magnets [R]; the 60-75% yield (swarf) is folded in [V2-weak].
        default_factory=lambda: {
            "automotive": {"ndfeb_magnet": 1.0},
            "wind": {"ndfeb_magnet": 1.0},
            "electronics": {"ndfeb_magnet": 1.0, "ndpr_oxide": 0.03, "tb_oxide": 0.002},
            "defence": {"ndfeb_magnet": 1.0, "dy_oxide": 0.02},
            "magnet": {"ndpr_oxide": 0.31, "dy_oxide": 0.025, "tb_oxide": 0.006},
        },
        description="bill of materials, t input per t output")
    cover_target_weeks: dict[Sector, Pos] = Field(
        # Indian automakers held 4-6 weeks of magnets in Jun 2025 [V2]. Non-Chinese magnet makers ("magnet", mostly
        # Japan's): 24 weeks of their oxides [calibrated], the 2010-11 fit before China's price defence (run
        # 20261130T085201Z: 23.6) carried to the defaults (the current fit's 12.7 is not: docs/validation.md 2.4
        # item 3); Japan's industry and JOGMEC have stockpiled since 2010 [V2: CNA, Jan 2026; SRM Today], and
        # Shin-Etsu's magnet plant ran at full capacity in 2025 [V2: CNA] while China's Dy exports to Japan fell 95%
        # [V2: rawmaterials.net, GAC]. Others [R].
        default_factory=lambda: {"automotive": 6.0, "wind": 10.0, "electronics": 8.0, "defence": 26.0,
                                 "magnet": 24.0},
        description="weeks of need held as stock (order-up-to target)")
    front_load_weeks: NonNeg = Field(6.0, description="extra weeks of cover sought between a control's "
                                                      "announcement and its effect [R]")
    order_interval_weeks: int = Field(4, ge=1, le=26, description="weeks between a firm's orders (staggered)")
    size_sigma: NonNeg = Field(0.5, description="lognormal dispersion of firm sizes within a cell")
    listed_share: dict[Sector, Frac] = Field(
        default_factory=lambda: {"defence": 0.5},
        description="share of firms that are listed entities or military end users (denied in principle)")
    large_firm_share: Frac = Field(0.5, description="share of each cell's firms, the largest, counted as large "
                                   "enough for general licences (rounded to whole firms) [R]")
    # Willingness to pay rises convexly as cover falls below target, up to the value of lost production.
    # NdPr and Dy oxide: the 2010-11 calibration before China's price defence (run 20261130T085201Z: 19.7 and
    # 19.8) carried to the defaults (the current fit's 31.3 for Dy is not: docs/validation.md 2.4 item 3); Tb
    # oxide's is tied to Dy's in that fit (the same magnet makers buy both for the same job, and no target or
    # price series identifies Tb's own; the first defaults set them equal too); magnets held at 12 [R].
    wtp_cap_multiple: dict[Material, Annotated[float, Field(ge=1.0)]] = Field(
        default_factory=lambda: _per_material(ndpr_oxide=20.0, dy_oxide=20.0, tb_oxide=20.0, ndfeb_magnet=12.0),
        description="highest bid as a multiple of the reference price (value of lost production) [calibrated/R]")
    wtp_convexity: Annotated[float, Field(ge=0.5, le=6.0)] = Field(
        2.0, description="exponent of the bid's rise as cover falls below target [R]; 2.98 in the 2010-11 fit "
                         "(configs/quota_2010.toml), not carried over")
    bid_tiers: int = Field(3, ge=1, le=10, description="price tiers per order (shape of each firm's bid curve)")
    expectation_weeks: Pos = Field(8.0, description="weeks of the price expectation's exponential memory")
    # Precautionary hoarding and destocking: the cover target follows the price trend (2010 hoarding, 2011-12
    # destocking [V2: Japan cut purchases from China by half in 2012]); 0 = off.
    hoarding_response: NonNeg = Field(
        0.0, description="elasticity of the cover target to the price trend (expected price over its slow memory): "
                         "cover x (trend ** response), so rising prices raise stock targets and falling ones cut "
                         "them [calibrated]")
    hoarding_memory_weeks: Pos = Field(
        52.0, description="weeks of the slow price memory the trend is measured against [R]")
    hoarding_limit: Annotated[float, Field(ge=1.0, le=5.0)] = Field(
        2.0, description="the cover target stays within [1/limit, limit] x its normal level [R]")
    # Diversification: the share of needs a firm wants under non-Chinese contracts.
    non_china_share_initial: dict[Region, Frac] = Field(
        # US imports 70-77% from China (USGS [V], Census [V2]); EU magnets 85-98% from China (ECA, MERICS [V2]);
        # Japan ~60% dependent (UN Comtrade/Argus [V2]).
        default_factory=lambda: {"US": 0.2, "EU": 0.1, "JPKR": 0.35, "AU": 0.3, "CA": 0.2, "HUB": 0.02,
                                 "ROW": 0.05},
        description="initial target non-China share of needs")
    non_china_share_max: Frac = Field(0.8, description="ceiling of the diversification target [R]")
    diversify_disruption_weight: NonNeg = Field(
        3.0, description="how strongly experienced disruption (unmet China orders) raises the target [calibrated]")
    diversify_premium_weight: NonNeg = Field(
        0.5, description="how strongly the ex-China/China price premium raises the target [calibrated]")
    diversify_adjust_weeks: Pos = Field(52.0, description="time constant of moving toward the target")
    contract_years: Pos = Field(
        5.0, description="length of an offtake contract, in whole quarters (rounded to 13 weeks, at least one)")
    security_premium: NonNeg = Field(
        0.1, description="premium over the expected ex-China price a firm pays for a non-Chinese offtake with no "
                         "disruption experienced [R]")
    security_premium_disruption: NonNeg = Field(
        2.0, description="extra premium per unit of experienced disruption (0-1) a firm accepts for an offtake "
                         "(Western buyers paid far above Chinese prices in 2025 [V2]) [R/calibrated]")
    contract_price_share: Frac = Field(
        0.95, description="offtake price as a share of the expected ex-China spot price (floored at supplier "
                          "cost): market-linked with a volume discount [R]")
    contract_pricing: Literal["fixed", "indexed", "indexed_china"] = Field(
        "indexed_china", description="an offtake's price over its term: 'fixed' at the price set when it was signed; "
                             "'indexed' set again every week from the price expected then (contract_price_share x "
                             "the investors' expected ex-China price, floored at the supplier's cost); "
                             "'indexed_china' the same from China's expected domestic price with freight (Arafura's "
                             "offtakes reference China's ex-works NdPr price). Published offtakes are market-linked, "
                             "several with a floor (docs/DOMAIN.md 1.5) [V2], so the default is 'indexed_china' (since "
                             "2026-11-30; the 2010 fit holds with any of the three) [V2/R]")
    # Thrifting / substitution with a lag and a cap (Honda, Nissan: -30-40% heavy RE within 1-2 yr of 2011 [V2]).
    thrift_cap: Frac = Field(0.35, description="largest reduction of material intensity [V2/calibrated]")
    thrift_lag_weeks: int = Field(52, ge=0, le=520, description="weeks from price/shortage stress to savings")
    thrift_max_per_year: Frac = Field(0.10, description="largest intensity reduction per year")
    thrift_trigger_multiple: Annotated[float, Field(ge=1.0)] = Field(
        1.5, description="expected-price multiple of reference above which firms start to thrift")
    pending_credit: Frac = Field(
        0.5, description="share of the tonnes awaiting a licence (times the approval rate the firm has seen) "
                         "that it counts as on the way when topping up stock [R/calibrated]")
    magnet_conversion_cost: NonNeg = Field(
        15.0, description="USD/kg of magnet, non-oxide cost of making sintered NdFeB outside China [R]")
    # Non-Chinese magnet makers produce to sell: output follows sales once unsold magnets pile up. They start with
    # 2 weeks of output in stock, and buyers order every few weeks, so stock swings between ~1 and ~3 weeks.
    magnet_goods_max_weeks: Pos = Field(
        4.0, description="weeks of planned output in finished magnets above which a non-Chinese magnet maker makes "
                         "less than its plan (output = recent sales + (this x plan - goods) / "
                         "magnet_output_adjust_weeks, at most the plan) [R]")
    # Supply relationships between a region's magnet makers and its magnet users (ODD 7.13b): while a control
    # stands between users and Chinese magnets, users buy their region's makers' magnets first.
    maker_relationship_share: Frac = Field(
        1.0, description="share of a region's non-Chinese magnet makers' planned output sold to the region's magnet "
                         "users under standing supply relationships while magnets to the region are under export "
                         "control (ODD 7.13b): a user buys this times the makers' plan over the region's magnet need "
                         "(at most 1) of its magnet gap from them first. The default gives Japan/Korea's users 0.43 "
                         "of their magnets from their makers (7,650 of 18,000 t/yr), in line with Japan's ~60% "
                         "dependence on China (DOMAIN 7 [V2]); 0 turns relationships off [D]")
    maker_relationships_when: Literal["control", "always"] = Field(
        "control", description="when supply relationships (maker_relationship_share) hold: only while magnets to "
                               "the region are under export control (the 2025 default), or always, as qualification "
                               "and patent licences tied users to their region's makers in 2010-14 [R] (ODD 7.13b)")
    magnet_output_adjust_weeks: Pos = Field(
        8.0, description="weeks over which a magnet maker works excess finished magnets off by cutting output, "
                         "and the memory of its sales that sets output [R]")

    @model_validator(mode="after")
    def _starting_shares_within_the_cap(self) -> ManufacturerConfig:
        over = {r: v for r, v in self.non_china_share_initial.items() if v > self.non_china_share_max}
        if over:
            raise ValueError(
                f"non_china_share_initial {over} is above non_china_share_max ({self.non_china_share_max}); the "
                "diversification target starts at the initial share and never exceeds the cap: raise the cap or "
                "lower those shares")
        return self


# --------------------------------------------------------------------------------------------------- suppliers


class SupplierConfig(_Base):
    """A non-Chinese producer or project (mine+refinery, separation plant, or magnet plant)."""

    id: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    name: str = ""
    region: Region
    material: Material
    capacity_tpy: NonNeg = Field(description="t/yr nameplate capacity")
    cost: Pos = Field(description="USD/kg all-in operating cost")
    status: Literal["operating", "committed", "candidate"] = "operating"
    start: dt.date | None = Field(None, description="first production (committed projects)")
    ramp_weeks: int = Field(52, ge=0, le=520, description="weeks from first production to nameplate")
    lead_time_years: Annotated[float, Field(ge=0.0, le=30.0)] = Field(
        4.0, description="years from a go decision to first production (candidates)")
    capex_musd: NonNeg = Field(0.0, description="million USD to build (candidates)")
    failure_probability: Frac = Field(0.0, description="probability the project fails before production")
    source: str = ""

    @model_validator(mode="after")
    def _needs_start(self) -> SupplierConfig:
        if self.status == "committed" and self.start is None:
            raise ValueError("a committed project needs a 'start' date (first production)")
        return self


def _default_suppliers() -> list[SupplierConfig]:
    S = SupplierConfig
    return [
        S(id="lynas_ndpr", name="Lynas (Mt Weld / Malaysia)", region="AU", material="ndpr_oxide",
          capacity_tpy=7_200, cost=42, source="Lynas FY25 NdPr 6,558 t [V2]"),
        S(id="lynas_expansion", name="Lynas 12 kt expansion", region="AU", material="ndpr_oxide",
          capacity_tpy=4_800, cost=45, status="committed", start=dt.date(2026, 7, 1), ramp_weeks=78,
          source="Mt Weld feed for 12,000 t/yr NdPr [V2]"),
        S(id="lynas_hre_dy", name="Lynas heavy RE (Dy)", region="AU", material="dy_oxide", capacity_tpy=120,
          cost=220, status="committed", start=dt.date(2025, 5, 15), ramp_weeks=104,
          source="first ex-China separated Dy May 2025 [V2]; size [R]"),
        S(id="lynas_hre_tb", name="Lynas heavy RE (Tb)", region="AU", material="tb_oxide", capacity_tpy=30,
          cost=700, status="committed", start=dt.date(2025, 6, 15), ramp_weeks=104,
          source="first ex-China separated Tb Jun 2025 [V2]; size [R]"),
        S(id="mp_ndpr", name="MP Materials Mountain Pass", region="US", material="ndpr_oxide", capacity_tpy=4_000,
          cost=50, ramp_weeks=104, source="NdPr 1,294 t 2024, 2,599 t 2025, exit ~4,000 t/yr [V2]"),
        S(id="mp_magnets", name="MP Independence + 10X", region="US", material="ndfeb_magnet",
          capacity_tpy=10_000, cost=75, status="committed", start=dt.date(2026, 1, 1), ramp_weeks=156,
          source="1,000 t/yr 2025-26 -> 10,000 t/yr 2028 [V2]"),
        S(id="mp_hre", name="MP heavy RE separation", region="US", material="dy_oxide", capacity_tpy=200,
          cost=260, status="committed", start=dt.date(2026, 7, 1), ramp_weeks=104, failure_probability=0.2,
          source="HRE separation mid-2026 [V2]; size [R]"),
        S(id="neo_magnets", name="Neo Narva", region="EU", material="ndfeb_magnet", capacity_tpy=2_000, cost=70,
          status="committed", start=dt.date(2025, 9, 19), ramp_weeks=78, source="phase 1 2,000 t/yr [V2]"),
        S(id="solvay_ndpr", name="Solvay La Rochelle", region="EU", material="ndpr_oxide", capacity_tpy=400,
          cost=65, status="committed", start=dt.date(2025, 4, 8), ramp_weeks=52,
          source="several hundred t in 2025 [V2]"),
        S(id="src_ndpr", name="Saskatchewan Research Council", region="CA", material="ndpr_oxide",
          capacity_tpy=400, cost=70, source="~400 t/yr NdPr metal [V2]"),
        S(id="iluka_eneabba", name="Iluka Eneabba", region="AU", material="ndpr_oxide", capacity_tpy=5_500,
          cost=48, status="committed", start=dt.date(2027, 7, 1), ramp_weeks=104, failure_probability=0.15,
          source="commissioning 2027 [V2]; NdPr size [R]"),
        S(id="iluka_dy", name="Iluka Eneabba heavy RE", region="AU", material="dy_oxide", capacity_tpy=500,
          cost=240, status="committed", start=dt.date(2027, 7, 1), ramp_weeks=104, failure_probability=0.15,
          source="[R] ~0.75 kt Dy/Tb"),
        S(id="row_ndpr", name="Other ex-China (Vietnam, India, Russia)", region="ROW", material="ndpr_oxide",
          capacity_tpy=1_500, cost=52, source="USGS MCS 2025 mine output [V]; NdPr share [D]"),
        S(id="torngat", name="Torngat Strange Lake", region="CA", material="dy_oxide", capacity_tpy=600, cost=230,
          status="candidate", lead_time_years=4.0, capex_musd=1_500, failure_probability=0.35,
          source="~15 kt/yr REO >50% heavy, C$2 bn [V2]"),
        S(id="torngat_ndpr", name="Torngat Strange Lake (NdPr)", region="CA", material="ndpr_oxide",
          capacity_tpy=2_500, cost=55, status="candidate", lead_time_years=4.0, capex_musd=600,
          failure_probability=0.35, source="[R]"),
        S(id="eu_magnet_expansion", name="Neo Narva phase 2", region="EU", material="ndfeb_magnet",
          capacity_tpy=3_000, cost=68, status="candidate", lead_time_years=2.0, capex_musd=100,
          failure_probability=0.1, source="phase 2 5,000 t/yr, EUR 75-100 M [V2]"),
        S(id="us_tb", name="US heavy RE project", region="US", material="tb_oxide", capacity_tpy=60, cost=750,
          status="candidate", lead_time_years=5.0, capex_musd=300, failure_probability=0.3, source="[R]"),
        S(id="au_ndpr_greenfield", name="Australian greenfield (Arafura-type)", region="AU",
          material="ndpr_oxide", capacity_tpy=4_400, cost=50, status="candidate", lead_time_years=5.0,
          capex_musd=1_100, failure_probability=0.3, source="refinery lead time 2.5-8 yr (IEA [V2]); [R]"),
    ]


class InvestmentConfig(_Base):
    """How candidate projects decide to build."""

    review_interval_weeks: int = Field(13, ge=1, le=104, description="weeks between investment reviews")
    discount_rate: Frac = Field(0.08, description="per year, before risk premium [R]")
    risk_premium: Frac = Field(0.12, description="per year, removed in proportion to offtake coverage [R]")
    offtake_risk_relief: Frac = Field(0.7, description="share of the risk premium removed at full offtake cover")
    project_life_years: Pos = Field(15.0, description="years of operation valued in the decision")
    expectation_weeks: Pos = Field(26.0, description="memory of the ex-China price expectation (weeks)")
    lead_time_sigma: NonNeg = Field(0.25, description="lognormal dispersion of realised lead times")
    supply_allocation_beta: NonNeg = Field(
        6.0, description="how sharply suppliers shift spot offers toward higher-priced regions (logit weight)")
    supplier_max_stock_weeks: Pos = Field(
        26.0, description="unsold stock, in weeks of online output, above which a supplier runs only for its "
        "contracts (a half-year of output; producers cut runs rather than pile up what does not sell) [R]")


# --------------------------------------------------------------------------------------------------- licensing


class LicensingConfig(_Base):
    """The licensing authority as a queue server (MOFCOM dual-use review)."""

    review_working_days_median: Pos = Field(
        28.0, description="median review time in working days: per-shipment licences took 1-1.5 months "
                          "(Reuters [V2])")
    review_sigma: NonNeg = Field(0.35, description="lognormal dispersion of review times [R]")
    legal_limit_working_days: Pos = Field(45.0, description="statutory limit (Dual-Use Regulations [V2])")
    overrun_probability: Frac = Field(0.1, description="share of reviews that run past the legal limit [R]")
    return_probability: Frac = Field(
        0.15, description="share of decisions that return the file for more information (Reuters Sep-Oct 2025 "
                          "[V2]; size [R])")
    reviewer_capacity_per_week: int = Field(
        5000, ge=1, description="decisions the authority can make per week (applications)")
    approval_rate: Frac = Field(
        1.0, description="approval probability of a licensing event that sets no approval_rate of its own")
    # at least a week: open licences decay by 1/validity a week, which would turn them negative below 1
    licence_validity_weeks: Annotated[float, Field(ge=1.0, allow_inf_nan=False)] = Field(
        26.0, description="weeks an approved per-shipment licence stays open for the buyer to call off (mean life "
                          "of the unused part, which lapses gradually): temporary licences with 6-month validity, "
                          "Jun 2025 (Reuters [V2])")


# --------------------------------------------------------------------------------------------------- policy


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
    destinations: list[Region] = Field(default_factory=lambda: list(_ALL_IMPORTERS), min_length=1)
    approval_rate: Frac | None = Field(
        None, description="probability an application is approved (default: licensing.approval_rate)")
    approval_by_region: dict[Region, Frac] = Field(default_factory=dict)
    approval_by_sector: dict[Sector, Frac] = Field(default_factory=lambda: {"defence": 0.0})
    listed_approval_rate: Frac = Field(0.0, description="listed entities and >=50%-owned affiliates [V]")
    coverage_by_sector: dict[Sector, Frac] = Field(
        default_factory=dict,
        description="share of each sector's purchases of the listed items that the control reaches (1 where not "
                    "given); e.g. No. 18 lists only Tb/Dy-containing NdFeB, which most consumer-electronics "
                    "magnets are not")
    review_working_days_median: Pos | None = None
    return_probability: Frac | None = None
    reviewer_capacity_per_week: int | None = Field(None, ge=1)
    customs_hold_weeks: int = Field(
        0, ge=0, le=26,
        description="weeks every shipment of the listed items to the destinations (licensed, under a general "
                    "licence or outside the control's scope) is held for inspection at Chinese customs before it "
                    "is exported; customs keyword-triggered inspections took 'one or two months' in 2025 "
                    "[V2: FT]; 0 = no hold")


class GeneralLicenceEvent(_EventBase):
    """General licences: covered (large) firms get multi-shipment approval for a validity period."""

    kind: Literal["general_licence"]
    materials: list[Material] = Field(default_factory=lambda: list(MATERIALS), min_length=1)
    destinations: list[Region] = Field(default_factory=lambda: list(_ALL_IMPORTERS), min_length=1)
    sectors: list[Sector] = Field(default_factory=lambda: ["automotive", "wind", "electronics", "magnet"],
                                  min_length=1)
    coverage: Frac = Field(1.0, description="share of the eligible (large) firms that receive one")
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
    materials: list[Material] = Field(default_factory=lambda: ["ndfeb_magnet"])
    threshold: Frac = Field(0.001, description="Chinese content share of value (0.1% [V])")
    approval_rate: Frac = Field(0.5)


class TariffEvent(_EventBase):
    """An import tariff by importing regions on goods of given origins."""

    kind: Literal["tariff"]
    importers: list[Region] = Field(min_length=1)
    origins: list[Region] = Field(default_factory=lambda: ["CN"])
    materials: list[Material] = Field(default_factory=lambda: list(MATERIALS))
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
    materials: list[Material] = Field(default_factory=lambda: list(MATERIALS))
    destinations: list[Region] = Field(min_length=1)


class StockpileReleaseEvent(_EventBase):
    """A strategic stockpile released into a region's market over the event's life."""

    kind: Literal["stockpile_release"]
    region: Region
    material: Material
    tonnes: Pos
    weeks: int = Field(26, ge=1, le=520)


class InvestmentSupportEvent(_EventBase):
    """Grants and faster permitting for non-Chinese projects."""

    kind: Literal["investment_support"]
    regions: list[Region] = Field(min_length=1)
    capex_grant_share: Frac = 0.0
    lead_time_factor: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0


class EnforcementEvent(_EventBase):
    """An anti-smuggling campaign: cuts the transshipment of Chinese material through third countries."""

    kind: Literal["enforcement"]
    materials: list[Material] = Field(default_factory=lambda: list(MATERIALS))
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


class GrowthConfig(_Base):
    """Market growth: demand and the capacity that serves it at reference prices grow together."""

    rate_per_year: Annotated[float, Field(ge=-0.5, le=0.5)] = Field(
        0.0, description="yearly growth of every user's need (manufacturers outside China and China's own "
                         "industry) and of the capacity of China's producers and of the magnet makers outside "
                         "China, so that the market stays balanced at reference prices; the non-Chinese oxide "
                         "suppliers (each with its own capacity), the La/Ce market and stockpiles do not grow. "
                         "Magnet rare-earth consumption 5.4%/yr 2024-40 (Adamas), all rare-earth demand 8%/yr "
                         "2022-35 (BCG) [V2]; 0 = none")
    start: dt.date | None = Field(None, description="growth runs from this date (default: the scenario's start)")


class TransshipmentConfig(_Base):
    """Unofficial exports: Chinese material re-exported through third-country hubs (HUB) when controls bind."""

    # 2011: actual exports 2.2x the official figure (State Council white paper [V2]); ~10,000 t of illegal output
    # in 2010 (Reuters [V2]); 2025 anti-smuggling campaign against third-country re-export [V2].
    max_share: Frac = Field(
        0.5, description="most of China's unconstrained exports of a material that can leak out per week when the "
                         "premium is very large, as a share [D from 2.2x official in 2011: leakage 1.2x a quota ~0.6 "
                         "of 2009 exports ~ 0.7 of unconstrained; halved for risk] [R/calibrated]")
    premium_scale: Pos = Field(
        1.0, description="ex-China premium over export parity (e.g. 1.0 = +100%) at which leakage reaches 63% of its "
                         "maximum [R/calibrated]")
    cost_share: NonNeg = Field(
        0.3, description="smugglers' cost (mislabelling, bribes, risk) as a share of export parity without the "
                         "export tax, added to their asks [R]")
    profit_scale: Pos | None = Field(
        None, description="USD/kg; when set, the channel opens with the smugglers' profit per kilogram (the price "
                          "abroad less their ask) instead of the premium over parity, reaching 63% of its maximum "
                          "at this profit (premium_scale is then unused): their risk and effort grow with the "
                          "kilograms moved, so dear Dy or Tb leak at a small relative premium and cheap La/Ce "
                          "only at a large one; unset = the premium (quota_2010 calibrates it) [R/calibrated]")
    cost_per_kg: NonNeg = Field(
        0.0, description="USD/kg, smugglers' costs that grow with tonnage rather than value (mislabelling, routing "
                         "through a hub, risk per shipment), added to their asks: it weighs on cheap La/Ce far "
                         "more than on Dy or Tb; 0 = none (quota_2010 calibrates it) [R/calibrated]")


class LightREEConfig(_Base):
    """La/Ce oxides as one aggregate ex-China market (docs/ODD.md 7.18): most of the tonnage under China's
    2010-14 export quotas. Only built when a scenario has this table."""

    demand_tpy: Pos = Field(description="t/yr of La/Ce oxide used outside China at the reference price "
                                               "(quota_2010: China's 2009 La/Ce exports plus ex-China output [D])")
    reference_price: Pos = Field(description="USD/kg, China's domestic La/Ce oxide price at reference "
                                                  "(quota_2010: from 2008-10 La and Ce prices [V2/D])")
    exports_tpy: Pos = Field(description="t/yr China exports at reference (the smuggling channel's scale; "
                                                "quota_2010: ~80% of 2009 exports less the oxides [D])")
    freight_premium: Frac = Field(0.04, description="fraction of value added by freight and handling ex-China")
    co_product_per_ndpr: NonNeg = Field(
        4.0, description="t of La+Ce oxide a non-Chinese mine produces per t of NdPr oxide (bastnaesite at "
                         "Mountain Pass ~5, Mt Weld ~3 [R])")
    china_price_link: NonNeg = Field(
        0.71, description="elasticity of China's La/Ce price to China's NdPr price over its reference: both come "
                          "from the same ore, under the same production quota; China's La and Ce oxides were "
                          "135-145 and 130-160 k yuan/t when its Nd oxide was 1.05-1.18 M yuan/t (Sep 2011), "
                          "75-80 and 80-90 k yuan/t at 470-480 k yuan/t (Mar 2012) [V2: Reuters/SMM], i.e. La/Ce "
                          "5.4x and 3.1x the ~4.2 USD/kg reference when NdPr was 10.9x and 4.7x its 16: "
                          "ln 5.4 / ln 10.9 = 0.71, ln 3.1 / ln 4.7 = 0.72 [D]")
    elasticity: Annotated[float, Field(lt=0.0, ge=-3.0)] = Field(
        -0.2, description="short-run price elasticity of La/Ce use (catalysts, polishing) (DOMAIN 2.2 [R/D])")
    restock_weeks: Pos = Field(8.0, description="weeks over which buyers close the gap to their target stock "
                                                 "[R/calibrated in quota_2010]")
    hoarding_response: NonNeg = Field(
        0.0, description="elasticity of buyers' target cover to the price trend (4-week over slow memory), within "
                         "manufacturers.hoarding_limit; 0 = off [R/calibrated in quota_2010]")
    cover_target_weeks: Pos = Field(
        12.0, description="weeks of use the buyers aim to hold [R/calibrated in quota_2010]")
    wtp_cap_multiple: Pos = Field(
        30.0, description="the most buyers pay, as a multiple of the reference ex-China price: La/Ce oxides sold at "
                          "~120-150 USD/kg in mid-2011, ~25-30x their 2008-09 level [V2]")


# --------------------------------------------------------------------------------------------------- top level


class Scenario(_Base):
    """A complete, validated scenario."""

    scenario: ScenarioSection
    materials: Materials = Materials()
    china: ChinaConfig = ChinaConfig()
    manufacturers: ManufacturerConfig = ManufacturerConfig()
    suppliers: list[SupplierConfig] = Field(default_factory=_default_suppliers)
    investment: InvestmentConfig = InvestmentConfig()
    licensing: LicensingConfig = LicensingConfig()
    transshipment: TransshipmentConfig = TransshipmentConfig()
    growth: GrowthConfig = GrowthConfig()
    light_ree: LightREEConfig | None = None
    policy: list[PolicyEvent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        for kind, items in (("policy", self.policy), ("suppliers", self.suppliers)):
            seen: set[str] = set()
            for it in items:
                if it.id in seen:
                    raise ValueError(f"two {kind} entries have id '{it.id}'; ids must be unique")
                seen.add(it.id)
        for s in self.manufacturers.demand_tpy:
            if s == "CN":
                raise ValueError("manufacturers.demand_tpy has 'CN': China's demand is china.domestic_demand_tpy")
        # China's own market is the domestic industry (ODD 7.3): controls, embargoes and releases act on the
        # importing regions, and the alternative suppliers are the non-Chinese ones.
        for ev in self.policy:
            if ev.kind in ("licensing", "general_licence", "embargo") and "CN" in ev.destinations:
                raise ValueError(f"policy '{ev.id}' ({ev.kind}) lists 'CN' among its destinations: China's export "
                                 "controls act on the importing regions; drop 'CN'")
            if ev.kind == "stockpile_release" and ev.region == "CN":
                raise ValueError(f"policy '{ev.id}' releases a stockpile into 'CN': releases go to an importing "
                                 "region's manufacturers; China's own stocks are its producers' "
                                 "(china.stock_target_weeks)")
        for sup in self.suppliers:
            if sup.region == "CN":
                raise ValueError(f"suppliers '{sup.id}' is in 'CN': suppliers are the non-Chinese mines and "
                                 "refiners; China's producers are set in [china]")
        if self.light_ree is None:
            for ev in self.policy:
                quota = getattr(ev, "light_ree_tpy", None) is not None
                if quota or (ev.kind == "export_tax" and ev.light_ree is not None):
                    raise ValueError(f"policy '{ev.id}' sets a La/Ce quota or duty but the scenario has no [light_ree] "
                                     "table; add one (docs/parameters.md) or drop the La/Ce entry")
        for sector, bom in self.manufacturers.bom.items():
            if sector == "magnet" and bom.get("ndfeb_magnet", 0.0) > 0:
                raise ValueError("manufacturers.bom.magnet cannot use ndfeb_magnet (magnet makers make magnets)")
        return self

    def event(self, event_id: str) -> Any:
        """The policy event with this id."""
        for ev in self.policy:
            if ev.id == event_id:
                return ev
        raise KeyError(event_id)


# --------------------------------------------------------------------------------------------------- loading


def read_toml(path: Path, what: str, hint: str) -> dict[str, Any]:
    """Parse a TOML file; a missing, unreadable, non-UTF-8 or malformed file is a ConfigError naming it.

    Args:
        path: the file.
        what: what the file should be, for messages ("config file", "sweep file").
        hint: where such files are, for the not-found message ("bundled scenarios are in configs/").
    """
    if path.is_dir():
        raise ConfigError(f"{path}: a folder, not a {what}; give the path of a TOML file ({hint})")
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found (check the path; {hint})")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); TOML files "
                          "must be UTF-8: save it as UTF-8 in your editor") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}); check that the file is readable "
                          "by you") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


KeyPath = tuple[str | int, ...]


class KeyOrigins:
    """Which file of an `extends` chain set each key of the merged config, for messages that name that file.

    Filled as `load_raw_traced` merges: a map from the key path of every value in the merged dict (list entries
    by position) to the file it came from, and the chain of files, the one loaded (the user's) first.
    """

    def __init__(self) -> None:
        self.chain: list[str] = []
        self.files: dict[KeyPath, str] = {}

    def set_by(self, path: KeyPath, value: Any, file: str) -> None:
        """Record that `file` set `path` to `value` (replacing whatever a base file had there)."""
        n = len(path)
        for old in [q for q in self.files if q[:n] == path]:
            del self.files[old]
        for leaf in _leaf_paths(value, path):
            self.files[leaf] = file

    def under(self, path: KeyPath) -> set[str]:
        """The files that set `path` or any key inside it."""
        n = len(path)
        return {f for q, f in self.files.items() if q[:n] == path}

    def describe(self, file: str, source: str) -> str:
        """Where `file` sits for a config read as `source`: '' for the file itself, else its place in the chain."""
        if file == source or file not in self.chain:
            return ""
        d = self.chain.index(file)
        if d == 0:
            return f"in {file}"
        through = f" through {', '.join(self.chain[1:d])}" if d > 1 else ""
        return f"in {file}, which {self.chain[0]} extends{through}"


def _leaf_paths(value: Any, path: KeyPath) -> list[KeyPath]:
    if isinstance(value, Mapping) and value:
        return [q for k, v in value.items() for q in _leaf_paths(v, (*path, k))]
    if isinstance(value, list) and value:
        return [q for i, v in enumerate(value) for q in _leaf_paths(v, (*path, i))]
    return [path]


def _shown(path: Path) -> str:
    """A base file as messages name it: relative to the working folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_raw(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Parse a TOML file into a plain dict (not validated). Raises ConfigError for a missing or broken file.

    A file may start from another with ``extends = "other.toml"`` (a path relative to the file): tables are
    merged key by key, ``policy`` and ``suppliers`` entries with the same ``id`` are merged and new ones are
    appended, and any other value in the file replaces the base's. Forward scenarios use it to add events to
    ``controls_2025.toml`` without copying it. A validation error names the file that sets the offending key:
    one from the base "in controls_2025.toml, which forward/x.toml extends", one the file sets (over the base's
    value, too) the file itself.
    """
    return _load(Path(path), _seen, None, str(path))


def load_raw_traced(path: str | Path) -> tuple[dict[str, Any], KeyOrigins]:
    """`load_raw`, and which file of the `extends` chain set each key (give it to `validate` as `origins`)."""
    origins = KeyOrigins()
    return _load(Path(path), (), origins, str(path)), origins


def _load(p: Path, seen: tuple[Path, ...], origins: KeyOrigins | None, shown: str) -> dict[str, Any]:
    raw = read_toml(p, "config file", "bundled scenarios are in configs/")
    base_ref = raw.pop("extends", None)
    if origins is not None:
        origins.chain.append(shown)
    if base_ref is None:
        if origins is not None:
            origins.set_by((), raw, shown)
        return raw
    if not isinstance(base_ref, str):
        raise ConfigError(f"{p}: extends = {base_ref!r}: expected the path of a base config, e.g. "
                          'extends = "../controls_2025.toml"')
    base_path = (p.parent / base_ref).resolve()
    if base_path in seen or base_path == p.resolve():
        raise ConfigError(f"{p}: extends = {base_ref!r}: configs extend each other in a loop")
    if not base_path.is_file():
        what = "a folder, not a file" if base_path.is_dir() else "no such file"
        raise ConfigError(f"{p}: extends = {base_ref!r}: {what} ({base_path}); give the path of a TOML file, "
                          f"relative to {p}")
    base = _load(base_path, (*seen, p.resolve()), origins, _shown(base_path))
    return _merge(base, raw, (), origins, shown)


def merge_raw(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge config dicts: tables key by key, id-keyed lists (policy, suppliers) by id, anything else replaced."""
    return _merge(base, top, (), None, "")


def _merge(base: Mapping[str, Any], top: Mapping[str, Any], path: KeyPath, origins: KeyOrigins | None,
           file: str) -> dict[str, Any]:
    """`merge_raw`, recording in `origins` (if given) that `file` (the top) set each key it gives."""
    import copy

    out = copy.deepcopy(dict(base))
    for k, v in top.items():
        b = out.get(k)
        here = (*path, k)
        if isinstance(b, dict) and isinstance(v, dict):
            out[k] = _merge(b, v, here, origins, file)
        elif k in ("policy", "suppliers") and isinstance(b, list) and isinstance(v, list):
            merged = list(b)
            ids = [it.get("id") if isinstance(it, dict) else None for it in merged]
            for it in v:
                i = it.get("id") if isinstance(it, dict) else None
                if i is not None and i in ids:
                    j = ids.index(i)
                    merged[j] = _merge(merged[j], it, (*here, j), origins, file)
                else:
                    merged.append(copy.deepcopy(it))
                    ids.append(i)
                    if origins is not None:
                        origins.set_by((*here, len(merged) - 1), it, file)
            out[k] = merged
        else:
            out[k] = copy.deepcopy(v)
            if origins is not None:
                origins.set_by(here, v, file)
    return out


def parse_set_args(items: Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """Turn ``["a.b=0.4", "c=\"x\""]`` into ``{"a.b": 0.4, "c": "x"}``; values are read as TOML values.

    A bare word that is not valid TOML (``--set scenario.name=test``) is taken as a string.
    """
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. --set licensing.approval_rate=0.4")
        try:
            out[key] = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = text.strip()
    return out


def _find_item(seq: list[Any], seg: str, label: str) -> int:
    """The position in a policy or supplier list that a key-path segment names: the entry with that id, else,
    for a whole number, the entry at that index (0-based; negative from the end).

    Ids come first so that ``policy.1.rate`` edits the event with id "1", as the config spells it, rather than
    the second event; an index is only a fallback for entries without a matching id.
    """
    ids = [it.get("id") if isinstance(it, dict) else None for it in seq]
    if seg in ids:
        return ids.index(seg)
    known = [x for x in ids if x]
    if seg.lstrip("-").isdigit():
        i = int(seg)
        if not -len(seq) <= i < len(seq):
            raise ConfigError(f"{label}: no entry with id '{seg}', and index {i} is out of range (the list "
                              f"has {len(seq)} entries); ids are {known}")
        return i
    hint = difflib.get_close_matches(seg, known, n=1)
    extra = f"; did you mean '{hint[0]}'?" if hint else f"; ids are {known}"
    raise ConfigError(f"{label}: no entry with id '{seg}'{extra}")


class OverrideSource(NamedTuple):
    """Where an override came from, for messages; an override without one is named ``--set KEY=VALUE``."""

    what: str  #: e.g. 'the 2nd [[parameters]] entry of sweep.toml (key = "licensing.approval_rate")'
    fix: str = ""  #: what to change there, e.g. "change its values to ones the key accepts"


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any] | None,
                    sources: Mapping[str, OverrideSource] | None = None) -> dict[str, Any]:
    """Return a copy of `raw` with dotted key paths set (``policy.apr2025.approval_rate``: by id or index).

    A path into a table or list the file does not spell out starts from the schema's default for it, so
    ``manufacturers.cover_target_weeks.automotive=3`` changes one sector and keeps the others' defaults, and
    ``suppliers.mp_ndpr.capacity_tpy=5000`` edits the default supplier list. Validation then checks the result.
    A key path that does not fit the config is a ConfigError naming the override: by its `sources` entry (e.g.
    a sweep's parameter), else as ``--set KEY``.
    """
    import copy

    out = copy.deepcopy(raw)
    for path, value in (overrides or {}).items():
        label = sources[path].what if sources and path in sources else f"--set {path}"
        segs = path.split(".")
        node: Any = out
        node_is_root_path = True  # every segment so far was a table key (schema defaults apply)
        for j, seg in enumerate(segs):
            last = j == len(segs) - 1
            if isinstance(node, list):
                node_is_root_path = False
                idx = _find_item(node, seg, label)
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[seg] = value
                else:
                    if seg not in node:
                        default = _schema_default(segs[: j + 1]) if node_is_root_path else None
                        if default is None and seg == "policy":
                            raise ConfigError(f"{label}: the config has no '{seg}' list to index into")
                        node[seg] = default if isinstance(default, dict | list) else {}
                    node = node[seg]
            else:
                raise ConfigError(f"{label}: '{'.'.join(segs[:j])}' is a value, not a table")
    return out


def _schema_default(segs: Sequence[str]) -> Any:
    """The schema's default at a key path, as plain JSON-like data (None where there is none)."""
    import copy

    from pydantic_core import PydanticUndefined

    field = Scenario.model_fields.get(segs[0])
    if field is None:
        return None
    val = field.get_default(call_default_factory=True)
    if val is PydanticUndefined or val is None:
        return None

    def plain(v: Any) -> Any:
        if isinstance(v, BaseModel):
            return v.model_dump(mode="json", exclude_none=True)
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    val = plain(val)
    for seg in segs[1:]:
        if isinstance(val, dict) and seg in val:
            val = val[seg]
        else:
            return None
    return copy.deepcopy(val)


def _loc_str(loc: Sequence[Any], raw: Mapping[str, Any]) -> str:
    parts: list[str] = []
    node: Any = raw
    for seg in loc:
        if isinstance(seg, int) and isinstance(node, list):
            item = node[seg] if seg < len(node) else None
            ident = item.get("id") if isinstance(item, dict) else None
            parts.append(f"{ident}" if ident else str(seg))
            node = item
        elif isinstance(node, dict) and seg in node:
            parts.append(str(seg))
            node = node[seg]
        elif isinstance(node, dict) and isinstance(node.get("kind"), str) and seg == node.get("kind"):
            continue  # the discriminated-union tag pydantic inserts into the location
        else:
            parts.append(str(seg))
            node = None
    return ".".join(parts)


def _siblings(loc: Sequence[Any], raw: Mapping[str, Any]) -> list[str]:
    """Allowed field names next to an unknown key, found by walking the schema along `loc`."""
    parent = _parent_model(loc, raw)
    if isinstance(parent, type) and issubclass(parent, BaseModel):
        return list(parent.model_fields)
    import typing

    if typing.get_origin(parent) is dict:
        key_t = typing.get_args(parent)[0]
        if typing.get_origin(key_t) is Literal:
            return list(typing.get_args(key_t))
    return []


def _describe(loc: Sequence[Any], raw: Mapping[str, Any]) -> str:
    """The schema's description of the field at `loc` (what is expected), or ''."""
    parent = _parent_model(loc, raw)
    if loc and isinstance(parent, type) and issubclass(parent, BaseModel):
        field = parent.model_fields.get(str(loc[-1]))
        if field is not None and field.description:
            return field.description
    return ""


def _parent_model(loc: Sequence[Any], raw: Mapping[str, Any]) -> Any:
    """The schema type that holds the last element of `loc`."""
    import typing

    model: Any = Scenario
    node: Any = raw
    for seg in loc[:-1]:
        origin = typing.get_origin(model)
        if isinstance(node, dict) and isinstance(node.get("kind"), str) and seg == node["kind"]:
            continue
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(seg))
            if field is None:
                return None
            model = field.annotation
            node = node.get(seg) if isinstance(node, dict) else None
        elif origin in (list, dict):
            model = typing.get_args(model)[-1]
            node = node[seg] if isinstance(node, list) and isinstance(seg, int) and seg < len(node) else (
                node.get(seg) if isinstance(node, dict) else None)
        else:
            return None
        # unwrap Optional / Annotated / discriminated unions
        for _ in range(4):
            o = typing.get_origin(model)
            if o is typing.Annotated:
                model = typing.get_args(model)[0]
            elif o in (typing.Union, __import__("types").UnionType):
                args = [a for a in typing.get_args(model) if a is not type(None)]
                kind = node.get("kind") if isinstance(node, dict) else None
                pick = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)
                        and "kind" in a.model_fields and kind in typing.get_args(a.model_fields["kind"].annotation)]
                model = pick[0] if pick else args[0]
            else:
                break
    return model


_PATTERN_WORDS = {
    FOLDER_NAME_PATTERN: "letters, digits, '_', '-' and '.' (not only dots: the name is a folder)",
    r"^[A-Za-z0-9_]+$": "letters, digits and '_'",
}


def _explain(err: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    loc = tuple(err.get("loc", ()))
    where = _loc_str(loc, raw) or "(top level)"
    etype = err.get("type", "")
    value = err.get("input")
    msg = err.get("msg", "")
    if etype == "extra_forbidden":
        names = _siblings(loc, raw)
        hint = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.5) if names else []
        fix = f"did you mean '{hint[0]}'?" if hint else (
            f"allowed keys here: {', '.join(names)}" if names else "remove it")
        return f"{where}: unknown key; {fix}"
    if etype == "missing":
        return f"{where}: required key is missing; add it"
    if etype == "bool_for_number":
        return "\n  ".join(f"{where}.{p}: true/false where a number (or text) is expected; give a value of the "
                            "field's type, e.g. 1 rather than true" for p in err.get("ctx", {}).get("paths", []))
    if etype == "union_tag_not_found":
        return f"{where}: a policy event needs a 'kind'; add kind = one of {', '.join(POLICY_KINDS)}"
    if etype == "union_tag_invalid":
        return (f"{where}: unknown policy kind {err.get('ctx', {}).get('tag')!r}; expected one of "
                f"{err.get('ctx', {}).get('expected_tags')}")
    if etype == "enum" or etype == "literal_error":
        # Hint from the allowed literals themselves (not the sibling field names).
        names = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        hint = difflib.get_close_matches(str(value), names, n=1) if names else []
        if loc and loc[-1] == "[key]":  # an unknown key of a table keyed by material / region / sector
            where = _loc_str(loc[:-1], raw)
            fix = f"did you mean '{hint[0]}'?" if hint else f"allowed keys here: {', '.join(names)}"
            return f"{where}: unknown key; {fix}"
        return f"{where} = {value!r}: {msg}" + (f"; did you mean '{hint[0]}'?" if hint else "")
    msg = msg.removeprefix("Value error, ")
    if etype == "finite_number":
        msg = "inf and nan have no meaning here; give a finite number"
    elif etype == "string_pattern_mismatch":
        msg = "not allowed; use " + _PATTERN_WORDS.get(err.get("ctx", {}).get("pattern", ""), "other characters")
    if isinstance(value, dict | list):  # a cross-field check on a whole table: the message names the values
        return f"{where}: {msg}"
    desc = _describe(loc, raw)
    return f"{where} = {value!r}: {msg}" + (f" (expected: {desc})" if desc else "")


def validate(raw: Mapping[str, Any], source: str = "<config>", overrides: Mapping[str, Any] | None = None,
             origins: KeyOrigins | None = None, sources: Mapping[str, OverrideSource] | None = None) -> Scenario:
    """Validate a raw config dict into a `Scenario`; raise one ConfigError listing every problem.

    `overrides` (the ``{"key.path": value}`` applied to `raw`) lets a problem that comes from one of them say so,
    rather than point at the file, which does not hold the key: as ``--set KEY=VALUE``, or as its `sources` entry
    says (a sweep's parameter entry); `origins` (from `load_raw_traced`) lets a problem with a key that a file of
    the `extends` chain sets name that file rather than `source`."""
    if "sweep" in raw and "scenario" not in raw:
        raise ConfigError(f"{source}: this is a sweep file (it has a [sweep] table), not a scenario; run it with "
                          f"`reflow sweep {source}`")
    try:
        return Scenario.model_validate(dict(raw))
    except ValidationError as exc:
        lines = [_explain(e, raw) + (_from_override(e, raw, overrides, sources)
                                     or _from_file(e, raw, origins, source)) for e in exc.errors()]
        raise ConfigError(f"{source}: invalid config\n  " + "\n  ".join(lines)) from None


def _from_override(err: Mapping[str, Any], raw: Mapping[str, Any], overrides: Mapping[str, Any] | None,
                   sources: Mapping[str, OverrideSource] | None = None) -> str:
    """Where the override that set the error's key (or a table around it) came from: ' (from --set KEY=VALUE, not
    the file)', or its `sources` entry with the value and the fix; '' for a key no override set."""
    if not overrides:
        return ""
    where = _loc_str(tuple(err.get("loc", ())), raw)
    for key, value in overrides.items():
        at = _override_loc(key, raw)  # a list entry named by index, as the location names it (by id)
        if where == at or where.startswith(at + "."):
            src = sources.get(key) if sources else None
            if src is None:
                return f" (from --set {key}={value}, not the file)"
            return f" (from {src.what}, value {value!r}" + (f"; {src.fix})" if src.fix else ")")
    return ""


def _override_loc(key: str, raw: Mapping[str, Any]) -> str:
    """An override's key path spelled as `_loc_str` spells an error's: a list entry by its id, not its index."""
    node: Any = raw
    parts = key.split(".")
    for j, seg in enumerate(parts):
        if isinstance(node, list):
            item = next((it for it in node if isinstance(it, dict) and it.get("id") == seg), None)
            if item is None and seg.lstrip("-").isdigit() and -len(node) <= int(seg) < len(node):
                item = node[int(seg)]
                ident = item.get("id") if isinstance(item, dict) else None
                parts[j] = str(ident) if ident else str(int(seg) % len(node))
            node = item
        else:
            node = node.get(seg) if isinstance(node, dict) else None
    return ".".join(parts)


def _raw_path(loc: Sequence[Any], raw: Mapping[str, Any]) -> KeyPath:
    """The key path in `raw` of an error location (without the tags pydantic adds: policy kinds, '[key]')."""
    out: list[str | int] = []
    node: Any = raw
    for seg in loc:
        if seg == "[key]":
            continue
        if isinstance(node, dict) and isinstance(node.get("kind"), str) and seg == node["kind"] and seg not in node:
            continue
        out.append(seg)
        if isinstance(node, list) and isinstance(seg, int) and seg < len(node):
            node = node[seg]
        elif isinstance(node, dict):
            node = node.get(seg)
        else:
            node = None
    return tuple(out)


def _from_file(err: Mapping[str, Any], raw: Mapping[str, Any], origins: KeyOrigins | None, source: str) -> str:
    """Which file of the `extends` chain holds the key of an error, when that is not `source` (or '')."""
    if origins is None:
        return ""
    path = _raw_path(tuple(err.get("loc", ())), raw)
    if not path:
        return ""  # a check of the whole scenario
    paths = [path]
    if err.get("type") == "bool_for_number":  # the model's location, and the true/false values inside it
        paths = [(*path, *(int(x) if x.isdigit() else x for x in p.split(" = ")[0].split(".")))
                 for p in err.get("ctx", {}).get("paths", [])] or paths
    files: set[str] = set()
    for p in paths:
        files |= origins.under(p)
    missing = not files
    if missing:  # a required key no file gives: name the file of the entry that lacks it, if that is one file
        files = origins.under(path[:-1]) if len(path) > 1 else set()
        if len(files) != 1:
            return ""
    if len(files) > 1:
        named = [f for f in origins.chain if f in files]
        return f" (its keys are set in {' and '.join(named)})"
    (file,) = files
    where = origins.describe(file, source)
    if not where:
        return ""
    if missing:
        return f" ({_loc_str(path[:-1], raw)} is {where})"
    if err.get("type") == "extra_forbidden":
        return f" ({where}; fix it there)"
    top = origins.chain[0]
    fix = f"fix it there, or set it in {top}" if top == source else "fix it there"
    return f" ({where}; {fix})"


def load_config(path: str | Path, overrides: Sequence[str] | Mapping[str, Any] | None = None) -> Scenario:
    """Load, override and validate a scenario file.

    Args:
        path: TOML scenario file.
        overrides: ``["key.path=value", ...]`` (as from ``--set``) or a ``{"key.path": value}`` mapping.

    Returns:
        The validated scenario with every default filled in.
    """
    sets = parse_set_args(overrides)
    raw, origins = load_raw_traced(path)
    return validate(apply_overrides(raw, sets), source=str(path), overrides=sets, origins=origins)


def dump_toml(data: Mapping[str, Any]) -> str:
    """Serialise plain data to TOML text: the run folder's ``config.toml``, a sweep folder's ``base.toml``.

    Give Python values, as from ``Scenario.model_dump()`` or `load_raw`: a `datetime.date`, `datetime.datetime`
    or `datetime.time` becomes a TOML date, date-time or time, and every `str` a TOML string, whatever it looks
    like, so that a text such as ``description = "2024-01-01"`` reads back as the same text. (JSON-mode data,
    ``model_dump(mode="json")``, has turned its dates into text: they are written as strings, which a scenario
    still validates to the same dates, but other readers see text.)
    """
    lines: list[str] = []

    def val(v: Any) -> str:
        if v is None:
            raise TypeError("None has no TOML form; drop the key")
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v) if not (isinstance(v, float) and v != v) else "nan"
        if isinstance(v, str):
            return _toml_string(v)
        if isinstance(v, dt.datetime):  # before date: a datetime is a date too
            return v.isoformat()  # RFC 3339, with the offset when it has one (TOML's offset or local date-time)
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, dt.time):
            if v.tzinfo is not None:
                raise TypeError(f"{v!r}: TOML has no time of day with an offset")
            return v.isoformat()
        if isinstance(v, list | tuple):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_key(k)} = {val(x)}" for k, x in v.items() if x is not None) + " }"
        raise TypeError(type(v))

    def table(prefix: str, d: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict) and not _is_table_list(v)}
        if prefix:
            lines.append(f"\n[{prefix}]")
        for k, v in scalars.items():
            if v is not None:
                lines.append(f"{_key(k)} = {val(v)}")
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{_key(k)}" if prefix else _key(k), v)
        for k, v in d.items():
            if _is_table_list(v):
                for item in v:
                    lines.append(f"\n[[{prefix + '.' if prefix else ''}{_key(k)}]]")
                    for ik, iv in item.items():
                        if iv is not None:
                            lines.append(f"{_key(ik)} = {val(iv)}")

    table("", data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _key(k: str) -> str:
    # Bare keys are ASCII letters, digits, '_' and '-' only (str.isalnum would also pass 'é').
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_string(k)


_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and every control character escaped, so any text round-trips
    (TOML forbids raw control characters such as CR or U+0001 in strings)."""
    return '"' + re.sub(r'["\\\x00-\x1f\x7f]',
                        lambda m: _TOML_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text) + '"'


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


# Sectors in order, re-exported for modules that index arrays by sector.
SECTOR_LIST = list(SECTORS)
