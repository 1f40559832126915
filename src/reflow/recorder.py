"""Per-week records of a run in preallocated arrays, turned into the tidy table of docs/outputs.md."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from reflow.domain import IMPORT_REGIONS, MATERIALS, REG, REGIONS

__all__ = ["CARRY_FORWARD", "LIGHT_DIMS", "Recorder"]

NM, NR = len(MATERIALS), len(REGIONS)
IMP = np.array([REG[r] for r in IMPORT_REGIONS])

# variable -> dimensions ("m" material, "r" destination region, "o" origin)
DIMS: dict[str, str] = {
    "price_cn": "m",
    "price_ex_vwap": "mr",
    "price_ex_ask": "mr",
    "demand": "mr",
    "delivered": "mr",
    "shortage": "mr",
    "inventory_cover_weeks": "mr",
    "production_lost_share": "r",
    "output_plan": "r",
    "licence_applications": "mr",
    "licence_approvals": "mr",
    "licence_denials": "mr",
    "licence_backlog": "mr",
    "licence_mean_wait_days": "mr",
    "exports_cn": "mr",
    "exports_cn_unofficial": "mr",
    "flow": "mor",
    "non_china_share": "mr",
    "hhi": "mr",
    "alt_capacity": "m",
    "alt_capacity_pipeline": "m",
    "exports_cn_total": "m",
    "production_cn": "m",
    "production_alt": "m",
    "stock_total": "m",
    "consumption": "m",
    "thrift_saving_share": "mr",
}
# The La/Ce oxide market's series (one number a week; recorded only when a scenario has a [light_ree] table).
LIGHT_DIMS: dict[str, str] = {
    "light_price_ex": "",
    "light_price_cn": "",
    "light_quota_rent": "",
    "light_consumption": "",
    "light_shortage": "",
    "light_cover_weeks": "",
    "light_exports_cn": "",
    "light_exports_cn_unofficial": "",
    "light_production_alt": "",
    "light_thrift_share": "",
}
# Variables that hold their last value in weeks without an observation (see docs/outputs.md).
CARRY_FORWARD = ("price_ex_vwap", "price_ex_ask", "licence_mean_wait_days", "non_china_share", "hhi")


class Recorder:
    """Weekly arrays, one per output variable, shaped (weeks, material?, origin?, region?)."""

    def __init__(self, weeks: int, light: bool = False) -> None:
        self.weeks = weeks
        self.dims = {**DIMS, **(LIGHT_DIMS if light else {})}
        shape = {"m": NM, "r": NR, "o": NR}
        self.data: dict[str, np.ndarray] = {}
        for var, dims in self.dims.items():
            fill = np.nan if var in CARRY_FORWARD or var == "price_cn" else 0.0
            self.data[var] = np.full((weeks, *[shape[d] for d in dims]), fill)

    def __getitem__(self, var: str) -> np.ndarray:
        return self.data[var]

    def carry_forward(self, week: int) -> None:
        """Fill this week's missing observations with last week's values."""
        if week == 0:
            return
        for var in CARRY_FORWARD:
            a = self.data[var]
            miss = np.isnan(a[week])
            a[week][miss] = a[week - 1][miss]

    def to_frame(self, start: dt.date, weeks: int | None = None) -> pd.DataFrame:
        """The tidy table: week, date, variable, material, origin, region, value.

        Region-dimensioned variables are written for importing regions only (China's market is `price_cn`);
        `flow` series that are zero throughout are dropped, and so are weeks without an observation (NaN).
        """
        T = self.weeks if weeks is None else weeks
        week = np.arange(T, dtype=np.int64)
        dates = np.empty(T, dtype=object)
        dates[:] = [start + dt.timedelta(weeks=int(i)) for i in week]
        none = np.full(1, -1)
        # One block of series per variable: codes of (variable, material, origin, region), -1 for none, and
        # the (series, week) values, series in the order material, origin, region.
        codes, blocks = [], []
        for vi, (var, dims) in enumerate(self.dims.items()):
            a = self.data[var][:T]
            if dims == "":
                m, o, r = none, none, none
                vals = a[None, :]
            elif dims == "m":
                m, o, r = np.arange(NM), none, none
                vals = a.T
            elif dims == "r":
                m, o, r = none, none, IMP
                vals = a[:, IMP].T
            elif dims == "mr":
                m, o, r = np.repeat(np.arange(NM), len(IMP)), none, np.tile(IMP, NM)
                vals = a[:, m, r].T
            else:  # mor: flows that are zero throughout are dropped
                m, o, r = np.nonzero((a > 0).any(axis=0))
                vals = a[:, m, o, r].T
            n = len(vals)
            codes.append(np.stack([np.full(n, vi), *np.broadcast_arrays(m, o, r, np.zeros(n, np.int64))[:3]]))
            blocks.append(vals.reshape(-1))
        code = np.concatenate(codes, axis=1)
        n = code.shape[1]
        value = np.concatenate(blocks).astype(np.float64) if n else np.zeros(0)
        # No observation yet (e.g. a licence wait before the first decision): no row, rather than a NaN value.
        keep = np.isfinite(value)
        code = np.repeat(code, T, axis=1)[:, keep]
        names = (list(self.dims), MATERIALS, REGIONS, REGIONS)
        frame = pd.DataFrame({
            "week": np.tile(week, n)[keep],
            "date": np.tile(dates, n)[keep],
            **{col: _strings(names[i], code[i]) for i, col in enumerate(("variable", "material", "origin", "region"))},
            "value": value[keep],
        })
        return frame


def _strings(names: tuple[str, ...] | list[str], code: np.ndarray) -> pd.arrays.ArrowStringArray:
    """A pandas string column of `names[code]`, missing where code < 0 (built in Arrow, without Python objects)."""
    import pyarrow as pa

    taken = pa.array(list(names), pa.large_string()).take(pa.array(np.maximum(code, 0), mask=code < 0))
    return pd.arrays.ArrowStringArray(taken)
