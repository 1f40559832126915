"""The scenario schema: a pydantic model for each config section, with its defaults and their sources.

Each field says its unit, bounds and meaning in its description; the tags in it and in comments above or inside
the field ([V], [V2], [D], [R], [calibrated], or [choice] for a neutral or structural default) give the source of
its default (``docs/gen_parameters.py`` collects both into ``docs/parameters.md``, whose "Source tags" table
explains them; every default carries one). `Scenario` is the whole config, and checks what spans sections.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from reflow.config.base import FOLDER_NAME_PATTERN, Frac, NonNeg, Pos, _Base
from reflow.config.events import PolicyEvent
from reflow.domain import MATERIALS, SECTORS, Material, Region, Sector, week_monday

# --------------------------------------------------------------------------------------------------- scenario


class ScenarioSection(_Base):
    """Identity and calendar of a run."""

    # a longer name made `reflow run` die on the file system's 255-byte limit for names, with a traceback
    name: str = Field(pattern=FOLDER_NAME_PATTERN, max_length=100,
                      description="scenario name, used as the results folder (at most 100 characters)")
    description: str = Field("", description="one paragraph for reports")
    start: dt.date = Field(description="first simulated week (snapped back to its Monday)")
    weeks: int = Field(ge=4, le=2600, description="horizon in weeks (one step = one week)")
    seed: int = Field(0, ge=0, description="default random seed (overridden by --seed) [choice]: any fixed seed "
                                           "makes a run reproducible; 0 is the first")

    @field_validator("start")
    @classmethod
    def _monday(cls, v: dt.date) -> dt.date:
        return week_monday(v)

    @property
    def end(self) -> dt.date:
        """The Monday of the last simulated week."""
        return self.start + dt.timedelta(weeks=self.weeks - 1)


# --------------------------------------------------------------------------------------------------- materials


class MaterialConfig(_Base):
    """Reference prices and trade frictions of one material."""

    reference_price: Pos = Field(description="USD/kg, China domestic price at which the market is calibrated")
    # Freight and handling ex-China [R]: no figure for rare earths was found (DOMAIN.md 1.6). All goods pay ~6% of
    # their value for transport and insurance (OECD ITIC, 1995-2014 [V]); a 40 ft box Shanghai-Rotterdam (~4,300 USD
    # in 2024 [V2: Drewry]) is ~0.2 USD/kg, under 0.5% of NdPr oxide's price and less of Dy's and Tb's, and air
    # freight (3-3.50 USD/kg [V2: Fastmarkets]) ~6% of NdPr's and ~7% of a magnet's [D]. 4% (3% for magnets) lies
    # between the two: high for oxides that go by sea.
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
    producers_per_material: int = Field(
        3, ge=1, le=1000, description="Chinese producer agents per material [choice]: numerical resolution, enough to "
                                      "spread costs low, middle and high over 0.85-1.15 of the mean (ODD 4)")
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

    per_region_sector: int = Field(
        4, ge=1, le=100_000, description="manufacturer agents per (region, sector) [choice]: numerical resolution; the "
                                         "cell's need is split among them by size, so more agents only smooth it")
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
    order_interval_weeks: int = Field(4, ge=1, le=26, description="weeks between a firm's orders (staggered) [R]: "
                                                                  "monthly purchasing")
    size_sigma: NonNeg = Field(0.5, description="lognormal dispersion of firm sizes within a cell [R]: the largest of "
                                                "four firms about 3 times the smallest; no data on firm sizes")
    listed_share: dict[Sector, Frac] = Field(
        default_factory=lambda: {"defence": 0.5},
        description="share of firms that are listed entities or military end users (denied in principle, MOFCOM "
                    "No. 61 [V]) [R]: half of the defence buyers, none elsewhere")
    large_firm_share: Frac = Field(0.5, description="share of each cell's firms, the largest, counted as large "
                                   "enough for general licences (rounded to whole firms, halves up) [R]")
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
    bid_tiers: int = Field(3, ge=1, le=10, description="price tiers per order (shape of each firm's bid curve) "
                                                       "[choice]: numerical resolution of the bid curve")
    expectation_weeks: Pos = Field(
        8.0, description="weeks of the price expectation's exponential memory [R]; 2.5 in the 2010-11 fit "
                         "(configs/quota_2010.toml), not carried over (docs/validation.md 2.4 item 3 carries only the "
                         "bid ceilings and the magnet makers' cover)")
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
    diversify_adjust_weeks: Pos = Field(
        52.0, description="time constant of moving toward the target [R]: a year, shorter than an offtake's term "
                          "(contract_years)")
    contract_years: Pos = Field(
        5.0, description="length of an offtake contract, in whole quarters (rounded to 13 weeks, at least one); "
                         "Arafura's offtakes with Siemens Gamesa and Traxys run 5 years, DOMAIN.md section 1.5 [V2]")
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
        1.5, description="expected-price multiple of reference above which firms start to thrift [R]; 4.9 in the "
                         "2010-11 fit (configs/quota_2010.toml), not carried over")
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
    status: Literal["operating", "committed", "candidate"] = Field(
        "operating", description="operating (producing at the start), committed (producing from `start`) or candidate "
                                 "(builds only after a positive investment decision) [choice]: an entry is a plant "
                                 "that produces unless it says otherwise")
    start: dt.date | None = Field(None, description="first production (committed projects)")
    # A year to nameplate [R] is the quick end of what new plants took: Lynas's Kalgoorlie plant was "fully
    # commissioned and producing" 11 months after its first feed (Dec 2023 - Nov 2024 [V2]); Lynas's LAMP, first
    # production Nov 2012, made 3,965 t REO in the year to June 2014 and 8,799 t in the next against an 11,000 t/yr
    # first phase [V2]; Solvay's La Rochelle line made "several hundred tonnes" in its first year, paced by buyers
    # [V2] (DOMAIN.md 1.4, 4). The committed projects of the default list set 52-156 weeks; its candidates use this.
    ramp_weeks: int = Field(52, ge=0, le=520, description="weeks from first production to nameplate")
    # Go decision to first production [R], inside the range seen (DOMAIN.md 1.4): ~2 years for Neo's Narva magnet
    # plant (construction planned from 2023, pre-start operations May 2025 [V2]), under 2.5 for Lynas's brownfield
    # Kalgoorlie plant after full approvals [V2], ~5 for Iluka's Eneabba refinery (approved in 2022 for first
    # production in 2025, commissioning now 2027 [V2]), ~8 on average for new refining facilities (IEA [V2]).
    lead_time_years: Annotated[float, Field(ge=0.0, le=30.0)] = Field(
        4.0, description="years from a go decision to first production (candidates)")
    capex_musd: NonNeg = Field(0.0, description="million USD to build (candidates) [choice]: 0 for the operating "
                                                "and committed plants, which do not use it; a candidate sets its own "
                                                "(every default candidate does)")
    failure_probability: Frac = Field(
        0.0, description="probability the project fails before production [choice]: 0 for an operating plant; "
                         "projects set their own (the default projects 0.1-0.35)")
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

    review_interval_weeks: int = Field(
        13, ge=1, le=104, description="weeks between investment reviews [R]: quarterly, the cycle on which listed "
                                      "miners report (ASX Listing Rule 5.1, DOMAIN.md 1.4 [V])")
    discount_rate: Frac = Field(0.08, description="per year, before risk premium [R]")
    risk_premium: Frac = Field(0.12, description="per year, removed in proportion to offtake coverage [R]")
    offtake_risk_relief: Frac = Field(
        0.7, description="share of the risk premium removed at full offtake cover [R]: most, not all, since published "
                         "offtakes are market-linked, leaving the price risk (DOMAIN.md 1.5 [V2])")
    project_life_years: Pos = Field(
        15.0, description="years of operation valued in the decision [R]: between the 'indicative life of nine "
                          "years' Iluka gave Eneabba on its stockpile alone and the 16-year term of its government "
                          "loan (DOMAIN.md 1.4 [V2])")
    expectation_weeks: Pos = Field(26.0, description="memory of the ex-China price expectation (weeks) [R]: half a "
                                                     "year, so investors look through spikes of a few weeks")
    lead_time_sigma: NonNeg = Field(
        0.25, description="lognormal dispersion of realised lead times [R]; the draw is centred on the planned lead "
                          "time, where the slips seen all ran late: Eneabba from 2025 to 2027 on a 3-year plan (ln 5/3 "
                          "= 0.5), Torngat from 2028 to 2029-30, Lynas's Texas plant stalled (DOMAIN.md 1.3, 1.4 "
                          "[V2])")
    supply_allocation_beta: NonNeg = Field(
        6.0, description="how sharply suppliers shift spot offers toward higher-priced regions (logit weight) [R]: a "
                         "region paying 10% more draws 1.1^6 = 1.8 times the offers, market size for market size")
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
    legal_limit_working_days: Pos = Field(
        45.0, description="statutory limit (Dual-Use Regulations [V2]); reviews are capped at it, or at the "
                          "median where that is longer, except for the overruns (ODD 7.8)")
    overrun_probability: Frac = Field(0.1, description="share of reviews that run past the legal limit [R]")
    return_probability: Frac = Field(
        0.15, description="share of decisions that return the file for more information (Reuters Sep-Oct 2025 "
                          "[V2]; size [R])")
    reviewer_capacity_per_week: int = Field(
        5000, ge=1, description="decisions the authority can make per week (applications) [choice]: far above what "
                                "the model files (at most 41 applications a week in controls_2025, seed 1), so review "
                                "times, not a queue, set the wait; a licensing event can set a binding capacity")
    approval_rate: Frac = Field(
        1.0, description="approval probability of a licensing event that sets no approval_rate of its own [choice]: "
                         "such an event only delays (every event of controls_2025 sets its own rate)")
    # at least a week: open licences decay by 1/validity a week, which would turn them negative below 1
    licence_validity_weeks: Annotated[float, Field(ge=1.0, allow_inf_nan=False)] = Field(
        26.0, description="weeks an approved per-shipment licence stays open for the buyer to call off (mean life "
                          "of the unused part, which lapses gradually): temporary licences with 6-month validity, "
                          "Jun 2025 (Reuters [V2])")


# --------------------------------------------------------------------------------------------------- other tables


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
    freight_premium: Frac = Field(
        0.04, description="fraction of value added by freight and handling ex-China [R]: about what a 40 ft box "
                          "Shanghai-Rotterdam costs on La/Ce oxides at ~4-5 USD/kg (DOMAIN.md 1.6 [D])")
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
    restock_weeks: Pos = Field(8.0, description="weeks over which buyers close the gap to their target stock [R]; "
                                                 "quota_2010, the scenario with a [light_ree] table, sets its own, "
                                                 "fitted (22 weeks, docs/validation.md 1.6)")
    hoarding_response: NonNeg = Field(
        0.0, description="elasticity of buyers' target cover to the price trend (4-week over slow memory), within "
                         "manufacturers.hoarding_limit; 0 = off [choice]: quota_2010, the scenario with a [light_ree] "
                         "table, sets its own, fitted (docs/validation.md 1.6)")
    cover_target_weeks: Pos = Field(
        12.0, description="weeks of use the buyers aim to hold [R]; quota_2010 sets its own, fitted (9.5 weeks, "
                          "docs/validation.md 1.6)")
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



# Sectors in order, re-exported for modules that index arrays by sector.
SECTOR_LIST = list(SECTORS)
