"""Constants and helpers the phases of a week share (`reflow.model` and `reflow.phases`)."""

from __future__ import annotations

import numpy as np

from reflow.domain import IMPORT_REGIONS, MATERIALS, REG, REGIONS

NM, NR = len(MATERIALS), len(REGIONS)
IMP = np.array([REG[r] for r in IMPORT_REGIONS])
# Chinese exporters offer up to this multiple of a region's bids (so that, absent controls, the export
# parity ask is the marginal price and not the bids' ceiling).
EXPORT_OFFER_HEADROOM = 1.5
# A firm resells stock above RESALE_ABOVE x its target, down to RESALE_DOWN_TO x target.
RESALE_ABOVE, RESALE_DOWN_TO = 1.5, 1.25
ROUTINE_MARKUP = 0.1
CONTRACTING_WEEKS = 13  # weeks between offtake contracting rounds (a quarter)
# Ask kinds on the ex-China spot markets, in the order a market lists them (ties at a price keep this order).
K_SUPPLIER, K_MAGNET_MAKER, K_CHINA, K_RESALE, K_STOCKPILE, K_SMUGGLER = range(6)


def contract_term_weeks(contract_years: float) -> int:
    """An offtake contract's term in weeks: `contract_years` in whole contracting rounds (quarters), at least one,
    so that every contract ends in a round week, where it can be renewed."""
    return CONTRACTING_WEEKS * max(1, round(contract_years * 52 / CONTRACTING_WEEKS))


def add_at(a: np.ndarray, index: tuple[np.ndarray | int, ...], values: np.ndarray | float) -> None:
    """``np.add.at(a, index, values)``: the same additions in the same order, through the flat view of `a` when
    there are many (numpy's fast path; the tuple-index form is several times slower per element, but cheaper
    to call for a handful)."""
    if max(np.size(i) for i in index) < 200:
        np.add.at(a, index, values)
    else:
        np.add.at(np.reshape(a, -1, copy=False), np.ravel_multi_index(index, a.shape), values)
