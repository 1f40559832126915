"""The 2010-11 targets, guards and checks (`Target` intervals, DOMAIN.md section 4), and the dates and
constants their metrics use."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

import numpy as np

ANNOUNCEMENT_2010 = dt.date(2010, 7, 8)  # the H2-2010 quota cut was announced in July 2010 [V2]
END_2012 = (dt.date(2012, 12, 1), dt.date(2012, 12, 31))  # "end-2012" of the post-crisis price reports [V2]
BASE_YEAR = 2009
QUOTA_YEAR = 2011
AFTER_QUOTA_YEARS = (2012, 2013)  # years of the post-crisis export checks (CHECKS_2010)
THRIFT_BY = dt.date(2014, 12, 31)
AFTER_CRISIS = (dt.date(2012, 7, 1), dt.date(2014, 12, 31))  # after the fall-back, before quotas were abolished
PEAK_MATERIALS = ("ndpr_oxide", "dy_oxide")
# The months of the Tb / Dy price guard (GUARDS_2010): those history reports China's prices for.
TB_DY_MONTHS = ((dt.date(2011, 9, 1), dt.date(2011, 9, 30)), (dt.date(2012, 3, 1), dt.date(2012, 3, 31)))
# China's own oxide prices in those months as multiples of the model's references (China's 2009 level) [D]: Nd oxide
# 1.05-1.18 M and 470-480 k yuan/t, Dy oxide 9,500-9,800 and 3,900-4,000 yuan/kg [V2: Reuters/SMM, 23 Sep 2011 and
# 9 Mar 2012], at 6.39 and 6.32 yuan/USD, over 16 and 110 USD/kg.
CN_HISTORY_MULTIPLES = {"ndpr_oxide": (10.9, 4.7), "dy_oxide": (13.7, 5.7)}
NAN_MISS = 2.0  # a metric the run cannot produce (e.g. no 24 months after the peak) counts as this miss
MAX_MISS = 5.0  # one wild metric should not swamp the others in a sum of misses


# --------------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """A target interval for one metric.

    Args:
        key: metric name, as in `metrics_2010` (``<material>.<metric>`` or a plain name).
        label: what it means, for tables.
        lo, hi: the interval (inclusive; ``math.inf`` for an open side).
        unit: unit of the value, for tables.
        log: measure misses on a log scale (multiples).
        scale: the distance that counts as a miss of 1; default the interval's width (log-width if `log`), or
            the finite bound when the other is open.
    """

    key: str
    label: str
    lo: float
    hi: float
    unit: str = ""
    log: bool = False
    scale: float | None = None

    def contains(self, value: float | None) -> bool:
        """Whether `value` lies in the interval (False for None or NaN)."""
        return value is not None and np.isfinite(value) and self.lo <= value <= self.hi

    def _scale(self) -> float:
        if self.scale is not None:
            return self.scale
        if self.log:
            return math.log(self.hi / self.lo) if math.isfinite(self.hi) else math.log(2.0)
        if math.isfinite(self.hi) and math.isfinite(self.lo):
            return (self.hi - self.lo) or 1.0
        return abs(self.lo if math.isfinite(self.lo) else self.hi) or 1.0

    def miss(self, value: float | None) -> float:
        """Normalised distance from the interval: 0 inside, 1 = one interval width outside (capped)."""
        if value is None or not np.isfinite(value):
            return NAN_MISS
        if self.lo <= value <= self.hi:
            return 0.0
        bound = self.lo if value < self.lo else self.hi
        d = abs(math.log(max(value, 1e-12) / bound)) if self.log else abs(value - bound)
        return min(MAX_MISS, d / self._scale())

    def inset(self, margin: float) -> Target:
        """The interval shrunk by `margin` (a share of the miss scale) from each side a value can cross.

        A calibration that counts misses only outside the interval is indifferent between a median on a bound
        and one well inside it, and a target it cannot reach pushes it to the bounds of the others; measured
        against the inset interval it settles where other seeds stay inside too. A lower bound of 0 on a share
        ('<= x') is not a side a value crosses and stays. An interval too narrow to shrink becomes its midpoint.
        """
        if margin <= 0:
            return self
        d = margin * self._scale()
        if self.log:
            lo = self.lo * math.exp(d)
            hi = self.hi * math.exp(-d) if math.isfinite(self.hi) else self.hi
            mid = math.sqrt(self.lo * self.hi) if math.isfinite(self.hi) else lo
        else:
            lo = self.lo + d if (math.isfinite(self.lo) and self.lo > 0) else self.lo
            hi = self.hi - d if math.isfinite(self.hi) else self.hi
            mid = 0.5 * (self.lo + self.hi) if math.isfinite(self.lo + self.hi) else lo
        if lo > hi:
            lo = hi = mid
        # The shrunk interval keeps the original's miss scale, so misses stay comparable across margins.
        return replace(self, lo=lo, hi=hi, scale=self._scale())

    def describe(self) -> str:
        """The interval as text, e.g. '10-30', '>= 3', '<= 0.333'."""
        if not math.isfinite(self.hi):
            return f">= {self.lo:g}"
        if self.lo <= 0 and not self.log:
            return f"<= {self.hi:.3g}"
        return f"{self.lo:g}-{self.hi:g}"


# Issue 3, item 1 (from DOMAIN.md section 4).
TARGETS_2010: tuple[Target, ...] = (
    Target("ndpr_oxide.peak_multiple", "NdPr oxide: ex-China peak / 2009 level", 8.0, 25.0, "x", log=True),
    Target("dy_oxide.peak_multiple", "Dy oxide: ex-China peak / 2009 level", 10.0, 30.0, "x", log=True),
    Target("ndpr_oxide.peak_months", "NdPr oxide: months from Jul 2010 announcement to peak", 9, 15, "months"),
    Target("dy_oxide.peak_months", "Dy oxide: months from Jul 2010 announcement to peak", 9, 15, "months"),
    Target("ndpr_oxide.fall_back", "NdPr oxide: lowest price within 24 months after peak / peak", 0.0, 1 / 3,
           "share", scale=1 / 3),
    Target("dy_oxide.fall_back", "Dy oxide: lowest price within 24 months after peak / peak", 0.0, 1 / 3,
           "share", scale=1 / 3),
    # The spread is La's (export ~10x domestic at the 2011 peak, ~2x by mid-2012 [V2]), the only element
    # DOMAIN.md gives it for: the quota licence's rent is the same per kg for every element, so it multiplies the
    # price of cheap La/Ce and adds little to NdPr or Dy (Nd: ~1.4x in Sep 2011 [V2]; see CHECKS_2010).
    Target("light_ree.spread_at_peak", "La/Ce oxide: ex-China / China price at its peak", 3.0, math.inf, "x"),
    Target("light_ree.spread_year_after", "La/Ce oxide: ex-China / China price 12 months after its peak", 0.0,
           2.5, "x", scale=2.5),
    Target("exports_vs_quota", "China's 2011 exports / 2011 quota (all under quota, La/Ce included)", 0.40, 0.75,
           "share"),
    Target("thrift_by_2014", "Demand lost to thrifting by end-2014 (oxides, REO-weighted)", 0.15, 0.35, "share"),
    Target("thrift_max_yearly", "Largest thrifting gain in any 52 weeks", 0.0, 0.10, "share/yr", scale=0.10),
    Target("alt_supply_growth", "Largest yearly rise of non-Chinese oxide output, share of world use", 0.0, 0.04,
           "share/yr", scale=0.04),
    Target("alt_capacity_arrival", "New non-Chinese capacity arrives (first +10% over 2009)", 2012.0, 2014.0,
           "year"),
)

# Guards: not targets of issue 3, but facts a calibration must not buy its fit by breaking. In 2010-11 the crisis
# was one of prices; no large-scale stoppage of manufacturing outside China was reported [R]. A search that meets
# "exports well under the quota" by starving magnet makers of Tb (so that they need less NdPr) is wrong.
# And prices were steady before the July 2010 announcement (Nd and Dy metal had doubled by August 2010, over the
# year [V2]): a fit must not buy its peak timing with price cycles of its own making before the shock.
# After the crisis prices fell steadily (Nd oxide ~75-80 USD/kg end-2012, ~70 mid-2013, 65-70 end-2013; Dy ~600,
# ~500, 440-490 [V2]): a fit must not meet its fall-back with yearly boom-bust cycles of its own making either.
# The stoppage guard over five years could hide a brief but deep stoppage in one month, hence the worst month too:
# at most 3% of ex-China output, a loss that would have been reported (0.10 until the smuggling channel could
# carry Dy and Tb at a small premium, docs/validation.md 1.5 item 5).
# (Reported only, not fitted, while the model had two mechanisms that forced such a month: magnet makers that could
# not cut output and a quota licence priced as a fixed mark-up; docs/validation.md section 1.3.)
GUARDS_2010: tuple[Target, ...] = (
    Target("production_lost_2010_14", "Guard [R]: ex-China production lost 2010-2014, plan-weighted", 0.0, 0.05,
           "share", scale=0.05),
    Target("production_lost_worst_month", "Guard [R]: ex-China production lost in the worst month of 2010-2014",
           0.0, 0.03, "share", scale=0.03),
    Target("pre_announcement_swing",
           "Guard [R]: largest NdPr/Dy/Tb ex-China price swing before July 2010 (x or / 2009 level)", 0.0, 1.5, "x",
           scale=0.5),
    Target("post_crisis_rebound",
           "Guard [V2]: largest NdPr/Dy/Tb/LaCe ex-China price rebound from a trough, Jul 2012-Dec 2014 (x)", 0.0, 1.5,
           "x", scale=0.5),
    # The supply-growth target must be met with the new plants producing, not idle: by 2014 Molycorp (4,785 t REO)
    # and Lynas (3,965 t in the year to June 2014, 8,799 t to June 2015) produced several times the ~2 kt of
    # Molycorp's stockpile sales and the few kt of others in 2009 [V2/R]. A fit before China's price defence met the
    # target at prices under the plants' costs, with non-Chinese output flat (docs/validation.md 1.5 item 3).
    Target("alt_output_2014", "Guard [V2/R]: non-Chinese oxide output in 2014 / 2009 (the new plants produce)", 2.0,
           math.inf, "x"),
    # China's Tb and Dy prices moved apart: Tb oxide 14,000-15,000 and Dy oxide 9,500-9,800 yuan/kg (23 Sep 2011),
    # 5,300-5,500 and 3,900-4,000 (9 Mar 2012) [V2: Reuters], 1.33-1.58x, against ~3.3x in 2009 (~360 and ~110
    # USD/kg [R]): Tb rose half as much as Dy. With Tb's users answering like Dy's, China's Tb price rose more than
    # Dy's (4.7x and 4.1x Dy's in those two months), nothing was left to leak abroad and Japan's makers ran out of Tb
    # in late 2011, a stoppage no one reported (docs/validation.md 1.5 item 5). Read in the two months reported:
    # a mean over Sep 2011-Mar 2012 would count the months in which both prices rest on their defended levels
    # (694 / 486 = 1.43, an input) and let September's ratio run to 2.8.
    Target("tb_oxide.cn_ratio_to_dy", "Guard [V2]: China's Tb / Dy oxide price, mean of Sep 2011 and Mar 2012",
           1.2, 1.8, "x"),
)

# Checks: reported beside the fit, not part of the objective of the oxides' fit. NdPr's spread at the peak: FOB
# ~260 USD/kg against China's 1.15-1.2 M yuan/t (~180 USD/kg) in Sep 2011 [V2]: ~1.4x (~1.7x if the yuan price
# includes VAT) [D]. La/Ce's peak: La oxide 117-135 USD/kg and Ce oxide 118-138 in Q2-Q3 2011 [V2], ~25x a 2009
# La/Ce mix of ~5 USD/kg [R] (La 13-15x, Ce 25-30x their 2008 prices [V2]), 10-14 months after July 2010.
# La/Ce's spread at the crisis peak: export 117-118 USD/kg (Q3 2011 average) against China's 135-145 (La) and
# 130-160 (Ce) k yuan/t in September 2011 [V2: Reuters/SMM], ~22 USD/kg: ~5x; La 42 (Q1 2012) against 75-80 k
# yuan/t (March 2012), ~3.4x [D]. So in history La's own peak and the crisis peak were one, with a spread of ~5x.
CHECKS_2010: tuple[Target, ...] = (
    Target("ndpr_oxide.spread_at_peak", "Check [D]: NdPr oxide: ex-China / China price at its peak", 1.3, 2.0, "x"),
    Target("light_ree.peak_multiple", "Check [V2/R]: La/Ce oxide: ex-China peak / 2009 level", 15.0, 30.0, "x",
           log=True),
    Target("light_ree.peak_months", "Check [V2]: La/Ce oxide: months from Jul 2010 announcement to peak", 9, 15,
           "months"),
    # The spread target read at the crisis peak (NdPr's peak month) rather than at La/Ce's own peak: the two
    # coincided in history (mid-2011, ~5x [V2/D], above), not in the model.
    Target("light_ree.spread_at_crisis_peak", "Check [V2]: La/Ce oxide: ex-China / China price in NdPr's peak month",
           3.0, math.inf, "x"),
    # Where prices settled after the crisis: end-2012 export prices of Nd oxide 75-80 USD/kg against ~15 in 2009
    # [V2; 2009 R], ~5.2x; of Dy oxide 600-630 against 91 (January 2009) [V2], ~6.8x (end-2013: ~4.5x and ~5.1x).
    # The fall-back target (at most a third of the peak within 24 months) is one-sided; history fell to 0.26-0.30
    # of its peak, which these levels pin down.
    Target("ndpr_oxide.level_end_2012", "Check [V2/R]: NdPr oxide: ex-China price in Dec 2012 / 2009 level", 3.5,
           7.5, "x", log=True),
    Target("dy_oxide.level_end_2012", "Check [V2]: Dy oxide: ex-China price in Dec 2012 / 2009 level", 4.5, 9.0, "x",
           log=True),
    # China's exports after the crisis, against the same ~31 kt quota: 16,265 t in 2012 (0.52) and 22,493 t in
    # 2013 (0.73) [V2: chinatungsten; DOMAIN.md section 4].
    Target("exports_vs_quota_2012", "Check [V2]: China's 2012 exports / quota (La/Ce included)", 0.45, 0.60,
           "share"),
    Target("exports_vs_quota_2013", "Check [V2]: China's 2013 exports / quota (La/Ce included)", 0.65, 0.80,
           "share"),
    # China's own price at the peak and after it, against history's: the fit has China's NdPr and Dy prices at
    # 24x and 37x 2009 in September 2011 (history ~11x and ~14x): the ex-China peak is China's price passed
    # through. Fitted as guards they cost the supply-growth target and the Tb / Dy guard (run 20261130T233831Z) or
    # NdPr's peak timing, with Dy's still missed (20261201T001102Z; docs/validation.md 1.5 item 8): they are checks.
    Target("ndpr_oxide.cn_vs_history", "Check [V2/D]: China's NdPr oxide price x 2009 in Sep 2011 and Mar 2012, "
           "over history's (10.9x, 4.7x)", 1 / 1.5, 1.5, "x", log=True),
    Target("dy_oxide.cn_vs_history", "Check [V2/D]: China's Dy oxide price x 2009 in Sep 2011 and Mar 2012, "
           "over history's (13.7x, 5.7x)", 1 / 1.5, 1.5, "x", log=True),
    # The Tb / Dy guard's two months each on its own: the mean passes at 1.68 on 2.7x and 0.64x (run
    # 20261130T225515Z's start). As guards, no Tb elasticity meets both: -1.5 gives 0.76x and 0.53x (docs/validation.md
    # 1.5 item 8), because Dy's price in China falls too slowly after the peak.
    Target("tb_oxide.cn_ratio_to_dy_sep2011", "Check [V2]: China's Tb / Dy oxide price, Sep 2011", 1.2, 1.8, "x"),
    Target("tb_oxide.cn_ratio_to_dy_mar2012", "Check [V2]: China's Tb / Dy oxide price, Mar 2012", 1.2, 1.8, "x"),
    # 2011: foreign customs counted 1.2 times more than China's own export figure (State Council white paper,
    # June 2012 [V2]); >21,000 t smuggled against ~18,600 t official (China Daily, Dec 2012 [V2]).
    Target("unofficial_vs_official_2011", "Check [V2]: China's unofficial / official exports in 2011 (La/Ce "
           "included)", 0.8, 1.5, "x"),
)
