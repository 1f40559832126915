"""The La/Ce oxide market under an export quota, stepped after the record each week (docs/ODD.md 7.18)."""

from __future__ import annotations

import math

import numpy as np

from reflow.config import Scenario
from reflow.domain import MAT
from reflow.light_ree import LightInputs, LightParams, LightState, light_week
from reflow.policy import PolicyState


class LightMarket:
    """The La/Ce oxide market: methods of `ReflowModel` (mixed in), working on its state."""

    def _light_market(self, sc: Scenario) -> tuple[LightParams, LightState]:
        """The La/Ce oxide market's constants and first state (7.18): buyers at target cover, no quota yet."""
        lc, mc = sc.light_ree, sc.manufacturers
        tax0 = self.timeline.state(self.date_of(0)).light_export_tax
        ex_ref = lc.reference_price * (1 + lc.freight_premium) * (1 + tax0)
        params = LightParams(
            demand_week=lc.demand_tpy / 52.0, price_cn_ref=lc.reference_price, price_ex_ref=ex_ref,
            freight=lc.freight_premium, china_price_link=lc.china_price_link, elasticity=lc.elasticity,
            restock_weeks=lc.restock_weeks, cover_weeks=lc.cover_target_weeks, ceiling=lc.wtp_cap_multiple * ex_ref,
            base_exports_week=lc.exports_tpy / 52.0, hoarding_response=lc.hoarding_response,
            hoarding_memory_weeks=mc.hoarding_memory_weeks, hoarding_limit=mc.hoarding_limit,
            # The buyers thrift by the manufacturers' rule (FCC catalyst makers cut their La content in 2011 [R]).
            thrift_trigger=mc.thrift_trigger_multiple, thrift_cap=mc.thrift_cap,
            thrift_step=mc.thrift_max_per_year / 52.0, thrift_lag_weeks=mc.thrift_lag_weeks)
        state = LightState(stock=lc.cover_target_weeks * params.demand_week, alt_stock=0.0, premium=0.0, bank=np.inf)
        return params, state

    def _light_week(self, w: int, pol: PolicyState) -> None:
        """One week of the La/Ce oxide market (7.18), recorded."""
        params, state = self._light
        nd = MAT["ndpr_oxide"]
        fl = self.fleet
        alt = float(fl.output[fl.material == nd].sum()) * self.config.light_ree.co_product_per_ndpr
        embargoed = float(self._demand_share[nd][pol.embargo[nd]].sum())
        tc = self.config.transshipment
        x = LightInputs(
            ndpr_cn_ratio=float(self.p_cn_exp[nd] / self.p_ref[nd]), export_tax=pol.light_export_tax,
            alt_output=alt, quota_tpy=pol.light_quota_tpy, embargoed_share=embargoed, leak_max_share=tc.max_share,
            leak_premium_scale=tc.premium_scale, enforcement=float(pol.enforcement[nd]),
            leak_cost_share=tc.cost_share, leak_cost_per_kg=tc.cost_per_kg, leak_profit_scale=tc.profit_scale,
            official_margin=self._licence_price(pol) if math.isfinite(pol.light_quota_tpy) else 0.0)
        self.light_inputs.append(x)
        state, out = light_week(state, params, **x.__dict__)
        self._light = (params, state)
        rec = self.rec
        for var, v in (("light_price_ex", out.price_ex), ("light_price_cn", out.price_cn),
                       ("light_quota_rent", out.rent), ("light_consumption", out.use - out.shortage),
                       ("light_shortage", out.shortage), ("light_cover_weeks", state.stock / max(out.use, 1e-12)),
                       ("light_exports_cn", out.official), ("light_exports_cn_unofficial", out.unofficial),
                       ("light_production_alt", alt), ("light_thrift_share", state.thrift)):
            rec[var][w] = v
