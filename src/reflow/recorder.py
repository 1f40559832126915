"""Per-week records of a run in preallocated arrays, turned into the tidy table of docs/outputs.md."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from reflow.domain import IMPORT_REGIONS, MATERIALS, REG, REGIONS

__all__ = ["CARRY_FORWARD", "Recorder"]

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
# Variables that hold their last value in weeks without an observation (see docs/outputs.md).
CARRY_FORWARD = ("price_ex_vwap", "price_ex_ask", "licence_mean_wait_days", "non_china_share", "hhi")


class Recorder:
    """Weekly arrays, one per output variable, shaped (weeks, material?, origin?, region?)."""

    def __init__(self, weeks: int) -> None:
        self.weeks = weeks
        shape = {"m": NM, "r": NR, "o": NR}
        self.data: dict[str, np.ndarray] = {}
        for var, dims in DIMS.items():
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
        dates = np.array([start + dt.timedelta(weeks=int(i)) for i in week], dtype="datetime64[D]")
        parts = []
        for var, dims in DIMS.items():
            a = self.data[var][:T]
            if dims == "m":
                idx = [(m, None, None) for m in range(NM)]
                vals = [a[:, m] for m in range(NM)]
            elif dims == "r":
                idx = [(None, None, r) for r in IMP]
                vals = [a[:, r] for r in IMP]
            elif dims == "mr":
                idx = [(m, None, r) for m in range(NM) for r in IMP]
                vals = [a[:, m, r] for m in range(NM) for r in IMP]
            else:  # mor
                idx, vals = [], []
                for m in range(NM):
                    for o in range(NR):
                        for r in range(NR):
                            if np.any(a[:, m, o, r] > 0):
                                idx.append((m, o, r))
                                vals.append(a[:, m, o, r])
            for (m, o, r), v in zip(idx, vals, strict=True):
                parts.append((var, m, o, r, v))
        n = len(parts)
        value = np.concatenate([p[4] for p in parts]) if n else np.zeros(0)
        rep = np.repeat
        frame = pd.DataFrame({
            "week": np.tile(week, n),
            "date": np.tile(dates, n),
            "variable": rep(np.array([p[0] for p in parts], dtype=object), T),
            "material": rep(np.array([MATERIALS[p[1]] if p[1] is not None else None for p in parts],
                                     dtype=object), T),
            "origin": rep(np.array([REGIONS[p[2]] if p[2] is not None else None for p in parts],
                                   dtype=object), T),
            "region": rep(np.array([REGIONS[p[3]] if p[3] is not None else None for p in parts],
                                   dtype=object), T),
            "value": value.astype(np.float64),
        })
        # No observation yet (e.g. a licence wait before the first decision): no row, rather than a NaN value.
        frame = frame[np.isfinite(value)].reset_index(drop=True)
        for col in ("variable", "material", "origin", "region"):
            frame[col] = frame[col].astype("string")
        frame["date"] = frame["date"].dt.date if hasattr(frame["date"], "dt") else frame["date"]
        return frame
