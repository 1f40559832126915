"""The week's record: demand, shortages, stocks and cover, prices, flows and supply shares, licences,
capacity and output (phase 6 of the week; docs/outputs.md lists the variables)."""

from __future__ import annotations

import numpy as np

from reflow.domain import CN, MAGNET
from reflow.phases.common import NM, NR
from reflow.policy import PolicyState


class WeekRecord:
    """The week's record: methods of `ReflowModel` (mixed in), working on its state."""

    def _record(self, w: int, pol: PolicyState, need: np.ndarray, consumed: np.ndarray,
                shortage: np.ndarray) -> None:
        rec, pop = self.rec, self.pop
        reg = pop.region
        for var, arr in (("demand", need), ("shortage", shortage), ("delivered", self._received)):
            rec[var][w] = self._by_material_region(arr)
        st = self._by_material_region(np.where(need > 0, pop.stock, 0.0))
        dem = rec["demand"][w]
        rec["inventory_cover_weeks"][w] = np.where(dem > 0, st / np.maximum(dem, 1e-12), 0.0)
        plan = np.bincount(reg, weights=pop.plan, minlength=NR)
        # Lost: what a firm meant to make (its plan, less a magnet maker's cut for want of sales) and could not.
        lost = np.bincount(reg, weights=pop.plan * pop.run * (1 - pop.frac) if pop.cutting else
                           pop.plan * (1 - pop.frac), minlength=NR)
        rec["production_lost_share"][w] = np.where(plan > 0, lost / np.maximum(plan, 1e-12), 0.0)
        rec["output_plan"][w] = plan
        # Thrifting's saving is measured against what firms intend to make (not a magnet maker's cut for want of
        # sales).
        base = self._by_material_region(pop.need_base * pop.run[:, None]) if pop.cutting else self._need_base_mr
        rec["thrift_saving_share"][w] = np.where(base > 0, np.clip(1.0 - dem / np.maximum(base, 1e-12), 0.0, 1.0), 0.0)
        rec["licence_backlog"][w] = self.authority.queue.backlog(NM, NR)
        has = self._vol > 1e-12
        rec["price_ex_vwap"][w][has] = self._val[has] / self._vol[has]
        flow = rec["flow"][w]
        into = flow[:, :, :]  # (M, O, R)
        tot = into.sum(axis=1)
        ok = tot > 1e-12
        share = np.where(ok[:, None, :], into / np.maximum(tot, 1e-12)[:, None, :], 0.0)
        nc = 1.0 - share[:, CN, :]
        rec["non_china_share"][w][ok] = nc[ok]
        rec["hhi"][w][ok] = (share ** 2).sum(axis=1)[ok]
        for var in ("non_china_share", "hhi", "price_ex_vwap"):
            rec[var][w][:, CN] = np.nan
        rec["exports_cn_total"][w] = rec["exports_cn"][w].sum(axis=1)
        fl = self.fleet
        rec["alt_capacity"][w] = np.bincount(fl.material, weights=fl.online * 52.0, minlength=NM)
        rec["alt_capacity_pipeline"][w] = np.bincount(fl.material, weights=fl.pipeline * 52.0, minlength=NM)
        prod_alt = np.bincount(fl.material, weights=fl.output, minlength=NM).astype(float)  # (an empty fleet: int)
        prod_alt[MAGNET] += float(pop.output[pop.is_magnet_maker].sum())
        rec["production_alt"][w] = prod_alt
        rec["production_cn"][w] = np.bincount(self.prod.material, weights=self.prod.output, minlength=NM)
        rec["consumption"][w] = consumed.sum(axis=0) + self.domestic.consumed
        rec["stock_total"][w] = self.stock_by_material()
        rec.carry_forward(w)
        if w == 0:
            # A price not yet observed starts from the expected price at the start, so that carry-forward has a
            # value (outputs.md). Supply shares are not made up: a region's shares start with its first delivery.
            for var, start in (("price_ex_vwap", self.p_ex_exp), ("price_ex_ask", self.p_ex_exp)):
                a = rec[var][0]
                a[np.isnan(a)] = start[np.isnan(a)]
            for var in ("price_ex_vwap", "price_ex_ask"):
                rec[var][0][:, CN] = np.nan
