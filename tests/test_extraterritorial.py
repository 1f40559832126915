"""The 0.1% extraterritorial rule (MOFCOM No. 61, ODD 7.11): foreign magnet makers with Chinese content need a
licence per destination abroad; what they cannot sell abroad goes where they may sell and does not leak out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from reflow.config import load_config
from reflow.domain import MAT, REG
from reflow.market import restrict_offers
from reflow.model import ReflowModel

MAGNET = MAT["ndfeb_magnet"]
JPKR = REG["JPKR"]
CONTROLS_2025 = Path(__file__).resolve().parents[1] / "configs" / "controls_2025.toml"


def test_restrict_offers_keeps_each_sellers_total_where_it_may_sell() -> None:
    alloc = np.array([[4.0, 2.0, 2.0], [1.0, 1.0, 0.0], [3.0, 0.0, 0.0]])
    allowed = np.array([[True, False, True], [False, False, True], [True, True, True]])
    out = restrict_offers(alloc, allowed)
    assert (out[~allowed] == 0).all()
    # Row 0 keeps its 8 t, split 4:2 as before over the regions it may sell to (a logit over the subset).
    np.testing.assert_allclose(out[0], [16 / 3, 0.0, 8 / 3])
    # Row 1 meant nothing for the only region it may sell to: it offers nothing (its goods stay in stock).
    np.testing.assert_allclose(out[1], 0.0)
    np.testing.assert_allclose(out[2], alloc[2])
    assert (out >= 0).all()


def _abroad_by_japans_makers(approval: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Japan/Korea's makers' magnets sold to each region outside their own while the rule is in force (from 1 Dec
    2025), t, and which of those regions any of them holds the rule's licence for."""
    sets = ["scenario.weeks=160", f"policy.oct2025_extraterritorial.approval_rate={approval}",
            "policy.oct2025_extraterritorial.suspend=2031-11-10"]
    m = ReflowModel(load_config(CONTROLS_2025, sets), rng=seed)
    while m.running:
        m.step()
    assert (m.pop.cn_content[m.pop.mk] >= 0.001).all()  # every maker is bound by the rule here
    w0 = m._week_of(dt.date(2025, 12, 1))
    sold = np.delete(m.rec["flow"][w0:, MAGNET, JPKR].sum(axis=0), JPKR)
    japans = m.pop.region[m._mk] == JPKR
    licensed = np.delete((m._et_draw()[japans] < approval).any(axis=0), JPKR)
    return sold, licensed


def test_the_rule_cuts_sales_abroad_and_what_is_denied_does_not_leak_out_later() -> None:
    """Japan/Korea's makers sell abroad only where one of them holds the licence, so a lower approval rate sells
    less abroad, and none at approval 0.

    Regression: the rule scaled each week's offer abroad, and what stayed in the goods was offered again the next
    week, so sales abroad at approval 0.25 were 0.99 of those at 1, and went to every destination. Seeds 1-4 now
    sell 0.75 as much abroad at 0.25 as at 1 in all, 0.67-0.90 per seed (which destinations a maker is licensed
    for is a draw, and what it meant for the others goes where it may sell, abroad too)."""
    seeds = range(1, 5)
    assert max(_abroad_by_japans_makers(0.0, s)[0].sum() for s in seeds) == 0.0
    quarter, full, denied = 0.0, 0.0, 0
    for s in seeds:
        sold, licensed = _abroad_by_japans_makers(0.25, s)
        assert (sold[~licensed] == 0.0).all(), f"seed {s}: sold where no maker holds a licence"
        denied += int((~licensed).sum())
        quarter += float(sold.sum())
        full += float(_abroad_by_japans_makers(1.0, s)[0].sum())
    assert denied > 0, "the test needs destinations without a licence"
    assert 0.0 < quarter < full
