"""Unofficial exports through third-country hubs (pure functions, no Mesa).

When a control, quota or embargo keeps Chinese material out of a market whose price has risen far above
export parity, some of it leaks out anyway: mislabelled, or re-exported through a third country (HUB). In 2011
China's actual rare-earth exports were 2.2 times the official figure [V2]; in 2025 China ran an anti-smuggling
campaign against third-country re-export [V2]. The leaked volume rises with the premium and saturates; an
enforcement campaign shuts a share of the channel. Smugglers ask China's price delivered, untaxed, plus their
costs: a share of the value (bribes and risk grow with what a shipment is worth) and an amount per kilogram
(mislabelling, routing through a hub, and risk that grows with the tonnage moved). A cost per kilogram weighs on
cheap La/Ce far more than on dear Dy or Tb, so the heavy oxides leak first.
"""

from __future__ import annotations

import numpy as np

__all__ = ["channel_pull", "leakage_offer", "smuggler_ask"]


def leakage_offer(
    premium: np.ndarray,
    restricted: np.ndarray,
    base_exports: np.ndarray,
    demand_share: np.ndarray,
    max_share: float,
    premium_scale: float,
    enforcement: np.ndarray,
    margin: np.ndarray | None = None,
    profit_scale: float | None = None,
) -> np.ndarray:
    """Tonnes offered through the hub this week, per material and destination.

    Args:
        premium: (M, R) expected ex-China price over export parity, minus one.
        restricted: (M, R) bool, official exports to the destination are blocked or rationed.
        base_exports: (M,) t/week China exports at reference prices (the channel's scale).
        demand_share: (M, R) each destination's share of ex-China demand for the material.
        max_share: most of `base_exports` that can leak at a very large premium.
        premium_scale: premium at which leakage reaches 1 - 1/e of its maximum.
        enforcement: (M,) share of the channel an enforcement campaign shuts.
        margin: (M, R) USD/kg, expected ex-China price less the smugglers' ask (their profit per kilogram).
        profit_scale: USD/kg; when given, the channel opens with the profit per kilogram instead of the premium
            (`channel_pull`).

    Returns:
        (M, R) t/week, zero where official exports are unrestricted or there is no premium.
    """
    pull = channel_pull(premium, premium_scale, margin, profit_scale)
    scale = base_exports[:, None] * demand_share * max_share * (1.0 - enforcement[:, None])
    return np.where(restricted, scale * pull, 0.0)


def smuggler_ask(untaxed_parity: np.ndarray | float, cost_share: float, cost_per_kg: float) -> np.ndarray | float:
    """USD/kg smugglers ask abroad: China's price delivered without the export tax, plus their costs.

    Args:
        untaxed_parity: USD/kg, China's price with freight (and any tariff), without the export tax.
        cost_share: their costs that grow with value, as a share of it.
        cost_per_kg: USD/kg, their costs that grow with tonnage.
    """
    return untaxed_parity * (1.0 + cost_share) + cost_per_kg


def channel_pull(premium: np.ndarray | float, premium_scale: float, margin: np.ndarray | float | None = None,
                 profit_scale: float | None = None) -> np.ndarray | float:
    """Share of its maximum the channel carries (0-1).

    By default it rises with the premium over export parity: ``1 - exp(-premium / premium_scale)``. With
    `profit_scale` (USD/kg) it rises with the smugglers' profit per kilogram instead,
    ``1 - exp(-margin / profit_scale)``: their risk and effort grow with the kilograms moved, so a dear oxide
    whose price abroad is a fifth above parity (hundreds of USD/kg) pulls as hard as cheap La/Ce at several times
    parity (tens of USD/kg).
    """
    if profit_scale is None:
        return 1.0 - np.exp(-np.maximum(premium, 0.0) / premium_scale)
    if margin is None:
        raise ValueError("channel_pull: profit_scale needs the smugglers' margin")
    return 1.0 - np.exp(-np.maximum(margin, 0.0) / profit_scale)
