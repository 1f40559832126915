"""The light rare earths (lanthanum and cerium oxides) as one aggregate ex-China market (pure, no Mesa).

La and Ce are most of the tonnage China exports (DOMAIN.md section 0, note 3) and were most of what its
2010-14 export quotas, set in tonnes of all rare earths, rationed. They are cheap (a few USD/kg in 2009), so a
quota licence worth the same per kilogram as one for NdPr or Dy multiplies their price abroad: La oxide sold
abroad at ~10 times China's domestic price at the 2011 peak, ~2 times by mid-2012, while NdPr's export price was
~1.4 times China's [V2]. reflow's firms do not use La or Ce, so this market has one representative buyer (the
catalyst, polishing and glass makers outside China) rather than firm agents; it is only built when a scenario has
a ``[light_ree]`` table (docs/ODD.md section 7.18).

A week: the buyers want to use what the price allows (a short-run elasticity) and to move their stock a
share of the way to its target cover; they buy first what non-Chinese mines produce as a co-product of their NdPr,
then what leaks out of China through third countries, then China's official exports within the quota. When
those fill the order at China's export parity, that is the price. When they do not, the price is the one at which
the buyers' order equals what is on offer (`clearing_price`): with use this inelastic, a cut of a fifth in supply
triples the price and a halving of it multiplies it by thirty (Binnemans: minor co-product rare earths are "very
highly price inelastic" [V2]), up to the most buyers pay, where they are rationed. The quota rent is the price
over parity: what an export licence was worth that week.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reflow.agents.manufacturers import hoarding_multiplier
from reflow.transshipment import channel_pull, smuggler_ask

__all__ = ["LightInputs", "LightParams", "LightState", "LightWeek", "clearing_price", "light_week", "replay"]


@dataclass(frozen=True)
class LightParams:
    """The market's constants (from the scenario's ``[light_ree]`` table and the model's shared settings)."""

    demand_week: float  # t/week the buyer uses at the reference ex-China price
    price_cn_ref: float  # USD/kg, China's domestic price at reference
    price_ex_ref: float  # USD/kg, ex-China price at reference (export parity in the first week)
    freight: float  # share of value added by freight
    china_price_link: float  # elasticity of China's La/Ce price to China's NdPr price over its reference
    elasticity: float  # short-run price elasticity of use (< 0)
    restock_weeks: float  # weeks over which the buyer closes the gap to its target stock
    cover_weeks: float  # weeks of use the buyer aims to hold
    ceiling: float  # USD/kg, the most the buyer pays (value of the output lost without La/Ce)
    base_exports_week: float  # t/week China exports at reference (the smuggling channel's scale)
    hoarding_response: float = 0.0  # elasticity of the target cover to the price trend
    hoarding_memory_weeks: float = 52.0  # the slow memory the trend is read against
    hoarding_limit: float = 2.0  # largest scale of the target cover (and reciprocal of the smallest)
    # Thrifting and substitution, by the manufacturers' rule (`ManufacturerPopulation.update_thrift`).
    thrift_trigger: float = math.inf  # price over reference at which programmes start
    thrift_cap: float = 0.0  # most of use they can remove
    thrift_step: float = 0.0  # most they remove in a week
    thrift_lag_weeks: int = 0  # weeks from the decision to the first saving


@dataclass
class LightState:
    """What carries from week to week."""

    stock: float  # t the buyer holds
    alt_stock: float  # t non-Chinese producers hold unsold
    premium: float  # last week's ex-China price over export parity, minus one
    bank: float  # t of official exports the quota still allows (inf without a quota)
    price_fast: float = math.nan  # USD/kg, the buyer's recent price (4-week memory)
    price_slow: float = math.nan  # USD/kg, its slow memory (hoarding_memory_weeks)
    thrift: float = 0.0  # share of use removed by thrifting (never undone)
    thrift_goal: float = 0.0  # the saving the programmes launched so far will reach
    wishes: tuple[tuple[float, bool], ...] = ()  # the last thrift_lag_weeks weeks' (wish, short), oldest first


@dataclass(frozen=True)
class LightWeek:
    """One week's outcome (tonnes and USD/kg)."""

    price_ex: float
    price_cn: float
    parity: float
    rent: float
    use: float
    shortage: float
    bought: float
    alt_sold: float
    unofficial: float
    official: float


@dataclass(frozen=True)
class LightInputs:
    """What the rest of the model gives the La/Ce market in one week (the keyword arguments of `light_week`)."""

    ndpr_cn_ratio: float
    export_tax: float
    alt_output: float
    quota_tpy: float
    embargoed_share: float
    leak_max_share: float
    leak_premium_scale: float
    enforcement: float
    leak_cost_share: float = 0.0
    leak_cost_per_kg: float = 0.0
    leak_profit_scale: float | None = None
    official_margin: float = 0.0


def _order(price: float, stock: float, p: LightParams, cover: float, thrift: float = 0.0) -> tuple[float, float]:
    """(use, order) at `price`: use follows the price; the order adds a share of the gap to target cover."""
    use = p.demand_week * (1.0 - thrift) * (price / p.price_ex_ref) ** p.elasticity
    return use, max(0.0, use + (cover * use - stock) / p.restock_weeks)


def clearing_price(supply: float, stock: float, p: LightParams, cover: float, thrift: float = 0.0) -> float:
    """The price (USD/kg) at which the buyers' order equals `supply` t, when it is positive.

    Their order is ``use * (1 + cover / restock) - stock / restock`` with ``use = D * (price / ref) ** e``,
    so the clearing use is ``(supply + stock / restock) / (1 + cover / restock)``.
    """
    use = (supply + stock / p.restock_weeks) / (1.0 + cover / p.restock_weeks)
    return p.price_ex_ref * (max(use, 1e-12) / (p.demand_week * (1.0 - thrift))) ** (1.0 / p.elasticity)


def _clear(on_offer: float, floor: float, top: float, want: float, stock: float, p: LightParams, cover: float,
           thrift: float) -> float:
    """The price at which the buyers' order meets `on_offer` t: `floor` when that fills the order at `floor`
    (whose order is `want`), else the clearing price, at most `top` (where they are rationed)."""
    if want <= on_offer:
        return floor
    return min(max(clearing_price(on_offer, stock, p, cover, thrift), floor), top)


def _thrift(s: LightState, p: LightParams, price: float, short: bool) -> tuple[float, float, tuple]:
    """(thrift, goal, wishes) after this week: the manufacturers' rule for one buyer. High prices launch
    programmes that run to their goal after a lag; a shortage drives savings while it lasts."""
    if p.thrift_cap <= 0.0:
        return s.thrift, s.thrift_goal, s.wishes
    trig = p.thrift_trigger
    wish = p.thrift_cap * min(max((price / p.price_ex_ref - trig) / trig, 0.0), 1.0)
    if p.thrift_lag_weeks == 0:
        (lagged, lagged_short), wishes = (wish, short), ()
    else:
        ring = s.wishes or ((0.0, False),) * p.thrift_lag_weeks
        (lagged, lagged_short), wishes = ring[0], (*ring[1:], (wish, short))
    goal = max(s.thrift_goal, lagged)
    aim = p.thrift_cap if lagged_short else goal
    return max(s.thrift, min(aim, s.thrift + p.thrift_step)), goal, wishes


def light_week(s: LightState, p: LightParams, *, ndpr_cn_ratio: float, export_tax: float, alt_output: float,
               quota_tpy: float, embargoed_share: float, leak_max_share: float, leak_premium_scale: float,
               enforcement: float, leak_cost_share: float = 0.0,
               leak_cost_per_kg: float = 0.0, leak_profit_scale: float | None = None,
               official_margin: float = 0.0) -> tuple[LightState, LightWeek]:
    """Advance the La/Ce market one week; returns the new state and the week's outcome.

    Args:
        s: the state at the start of the week.
        p: the market's constants.
        ndpr_cn_ratio: China's expected NdPr oxide price over its reference (La/Ce are its co-products).
        export_tax: China's export duty on light rare earths this week (share of value).
        alt_output: t of La/Ce non-Chinese mines produced this week (co-products of their NdPr).
        quota_tpy: the export quota on La/Ce in force, t/yr (inf: none).
        embargoed_share: share of the buyer's use in destinations under a Chinese embargo (0-1).
        leak_max_share, leak_premium_scale, enforcement: the smuggling channel (`reflow.transshipment`).
        leak_cost_share, leak_cost_per_kg: the smugglers' costs; they sell only at a price that covers them.
        leak_profit_scale: USD/kg; when given, the channel opens with last week's profit per kilogram.
        official_margin: USD/kg official exporters ask over parity (the quota licence's price, ODD 7.12b).
    """
    # The quota allowance accrues weekly, up to a quarter's worth; issued licences stay valid when a smaller
    # quota follows (as for the oxides).
    if math.isfinite(quota_tpy):
        bank = s.bank if math.isfinite(s.bank) else 0.0
        bank = max(min(bank + quota_tpy / 52.0, quota_tpy / 4.0), bank)
    else:
        bank = math.inf
    price_cn = p.price_cn_ref * max(ndpr_cn_ratio, 1e-9) ** p.china_price_link
    parity = price_cn * (1.0 + p.freight) * (1.0 + export_tax)
    fast = parity if math.isnan(s.price_fast) else s.price_fast
    slow = parity if math.isnan(s.price_slow) else s.price_slow
    # Buyers hoard as prices rise and destock as they fall (the oxides' hoarding_multiplier).
    cover = p.cover_weeks * float(hoarding_multiplier(fast / slow, p.hoarding_response, p.hoarding_limit))
    th = s.thrift
    _, want = _order(parity, s.stock, p, cover, th)

    alt_have = s.alt_stock + alt_output
    smug_ask = smuggler_ask(price_cn * (1.0 + p.freight), leak_cost_share, leak_cost_per_kg)
    leak_cap = 0.0
    if math.isfinite(quota_tpy) or embargoed_share > 0:
        # Last week's price, at this week's parity, against this week's ask.
        pull = float(channel_pull(s.premium, leak_premium_scale, (1.0 + s.premium) * parity - smug_ask,
                                  leak_profit_scale))
        # Under a quota every destination is restricted; under an embargo alone only the embargoed ones (7.12a).
        restricted = 1.0 if math.isfinite(quota_tpy) else embargoed_share
        leak_cap = p.base_exports_week * leak_max_share * restricted * pull * (1.0 - enforcement)
    official_cap = 0.0 if embargoed_share >= 1.0 else bank * (1.0 - embargoed_share)  # (inf x 0 is nan)
    top = max(p.ceiling, parity)
    # Sellers' steps in the order buyers reach them: the non-Chinese co-product at parity, then the smugglers and
    # the official exporters at their asks (smugglers first at a tie: untaxed, they undercut the official channel).
    official_ask = parity + official_margin
    steps = sorted(((max(smug_ask, parity), 0, leak_cap), (official_ask, 1, official_cap)))
    on_offer = alt_have
    for ask, _, q in steps:
        if ask <= parity:
            on_offer += q
    price_ex = _clear(on_offer, parity, top, want, s.stock, p, cover, th)
    for ask, _, q in steps:
        if ask > parity and price_ex > ask and q > 0.0:
            on_offer += q
            price_ex = max(_clear(on_offer, parity, top, want, s.stock, p, cover, th), ask)
    use, want = _order(price_ex, s.stock, p, cover, th)
    alt_sold = min(want, alt_have)
    left, sold = want - alt_sold, {}
    for ask, k, q in steps:
        sold[k] = max(0.0, min(left, q)) if price_ex >= ask else 0.0
        left -= sold[k]
    unofficial, official = sold[0], sold[1]
    bought = alt_sold + unofficial + official
    stock = s.stock + bought
    used = min(use, stock)
    stock -= used
    thrift, goal, wishes = _thrift(s, p, price_ex, use - used > 1e-9 * use)
    new = LightState(
        stock=stock,
        alt_stock=alt_have - alt_sold,
        premium=price_ex / parity - 1.0,
        price_fast=fast + (price_ex - fast) / 4.0,
        price_slow=slow + (price_ex - slow) / max(p.hoarding_memory_weeks, 1.0),
        bank=bank - official if math.isfinite(bank) else bank,
        thrift=thrift,
        thrift_goal=goal,
        wishes=wishes,
    )
    week = LightWeek(price_ex=price_ex, price_cn=price_cn, parity=parity, rent=price_ex - parity, use=use,
                     shortage=use - used, bought=bought, alt_sold=alt_sold, unofficial=unofficial, official=official)
    return new, week


def replay(s: LightState, p: LightParams, inputs: list[LightInputs]) -> list[LightWeek]:
    """The market's weeks from state `s` under a run's recorded inputs (nothing flows back from La/Ce into the
    rest of the model, so this reproduces a run's La/Ce series for any `p`: the calibration uses it)."""
    out = []
    for x in inputs:
        s, week = light_week(s, p, **x.__dict__)
        out.append(week)
    return out
