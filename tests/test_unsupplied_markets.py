"""A spot market where buyers bid and nobody offers anything trades nothing but still shows a price (ODD 7.16).

Before this, expectations moved only on trades, so such a market never signalled its scarcity: the unofficial
channel (7.12a), which opens on the expected premium over parity, stayed shut however high buyers bid, and the
market stayed empty until an unrelated drift of China's price put parity under the frozen expectation. In
`controls_2025`, seed 4, with `maker_relationships_when = "always"` and `magnet_goods_max_weeks = 1`, the makers
sold every magnet at home, nobody offered magnets anywhere else after the April 2025 control, and the magnet
markets stayed empty from week 66 to 71 while bids rose to 11x parity: 21% of planned output was lost in week 72.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

import reflow
from reflow.config import validate
from reflow.domain import IMPORT_REGIONS, MAT, REG
from reflow.model import ReflowModel

MAGNET = MAT["ndfeb_magnet"]
IMP = [REG[r] for r in IMPORT_REGIONS]
CONTROLS_2025 = Path(__file__).resolve().parents[1] / "configs" / "controls_2025.toml"


def _no_makers_world() -> dict:
    """Magnets under licence from February 2025 and no magnet makers outside China: once the control takes
    effect, nobody offers magnets on the ex-China spot markets until the unofficial channel opens."""
    lic = {"id": "lic", "kind": "licensing", "effective": dt.date(2025, 2, 3), "materials": ["ndfeb_magnet"],
           "approval_rate": 0.5, "review_working_days_median": 30.0}
    return {"scenario": {"name": "bare", "start": dt.date(2025, 1, 6), "weeks": 8},
            "manufacturers": {"per_region_sector": 3, "magnet_capacity_tpy": {"JPKR": 0.0, "EU": 0.0, "US": 0.0}},
            "policy": [lic]}


def test_a_market_nobody_supplies_raises_the_expected_price_to_the_top_bid() -> None:
    m = ReflowModel(validate(_no_makers_world()), rng=1)
    w0 = m._week_of(dt.date(2025, 2, 3))
    while m.week < w0:
        m.step()
    before = m.p_ex_exp[MAGNET].copy()
    m.step()  # the control's first week
    # Nothing was offered: China's spot exports are shut by the control, there are no makers, and the unofficial
    # channel had no premium to open on.
    assert m.rec["exports_cn"][w0, MAGNET, IMP].sum() == 0.0
    assert m.rec["exports_cn_unofficial"][w0, MAGNET].sum() == 0.0
    flows = m.rec["flow"][w0, MAGNET]
    assert flows[:, IMP].sum() == 0.0
    # Yet buyers bid, so the expected price moves up toward what they bid (1/expectation_weeks of the way) ...
    rose = m.p_ex_exp[MAGNET, IMP] > before[IMP] * 1.01
    assert rose.all()
    # ... and the unofficial channel opens the next week on that premium.
    m.step()
    assert m.rec["exports_cn_unofficial"][w0 + 1, MAGNET, IMP].sum() > 0.0


def test_makers_selling_everything_at_home_leave_no_production_collapse_in_controls_2025() -> None:
    """The reported case (first 90 weeks, which hold April-September 2025): each override alone lost at most 1.7%
    of planned output in its worst week, both together 21% (week 72) before the fix; 0.5% after it."""
    cfg = reflow.load_config(CONTROLS_2025, overrides=["manufacturers.maker_relationships_when=always",
                                                       "manufacturers.magnet_goods_max_weeks=1", "scenario.weeks=90"])
    ts = reflow.run(cfg, seed=4, out=None).timeseries
    lost = ts[ts.variable == "production_lost_share"].set_index(["week", "region"]).value
    plan = ts[ts.variable == "output_plan"].set_index(["week", "region"]).value
    weekly = (lost * plan).groupby("week").sum() / plan.groupby("week").sum()
    assert np.isfinite(weekly).all()
    assert weekly.max() < 0.05
