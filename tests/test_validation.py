"""Validation against history (issue 3): the 2010-11 targets on a multi-seed median, structural facts of 2025.

The 2010 targets are `reflow.validation.TARGETS_2010`, checked on the median over `SEEDS_2010` model seeds of
configs/quota_2010.toml as calibrated by experiments/calibrate_2010.py. A target the calibrated model does not
meet is not hidden: its test states the true target and is marked xfail(strict=True) with the measured value,
so that it starts failing (and must be un-marked) the day the model meets it. docs/validation.md reports the same
fit over 24 seeds with its 5-95% band.

The 2025 checks are structural (the policy inputs are sourced, the outcomes are the model's; DOMAIN.md section 5):
the ex-China Dy price stands above China's while the controls bind, magnet exports to the US fall more than to the
EU while US approval is lower, and production is lost only after inventories have been drawn down.

Runtime: about 30 s on 2 idle cores (runs are spread over two processes), so the module is not marked slow.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reflow import validation as v
from reflow.experiment.executors import process_pool

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SEEDS_2010 = tuple(range(1, 9))  # the median of 8 seeds is within ~1% of the 24-seed median for every target
SEEDS_2025 = tuple(range(1, 21))  # medians over 20 seeds, as the 2010 fit; the US-EU gap is within seed noise on 4-8
CONTROL = pd.Timestamp("2025-04-04")  # MOFCOM No. 18 takes effect
US_LOWER = (pd.Timestamp("2025-06-30"), pd.Timestamp("2025-11-09"))  # US approval 0.45 / 0.40 vs 0.6 / 0.5
BINDING = (pd.Timestamp("2025-06-01"), pd.Timestamp("2025-11-30"))  # before the general licences

# Targets the calibrated model misses (measured on the 8-seed median; see docs/validation.md for why). Filled from
# the last calibration; an entry that starts passing fails the suite (strict).
# A miss or pass whose 24-seed band straddles its bound is marginal: it may flip on another CPU or numpy build (the
# model amplifies last-bit differences), so its test is a non-strict xfail.
MARGINAL_MISSES: set[str] = set()
KNOWN_MISSES: dict[str, str] = {}  # none since the La/Ce market (2026-11-30); the checks are in docs/validation.md


def _pool_map(fn: Any, tasks: list[Any]) -> list[Any]:
    workers = min(2, os.cpu_count() or 1, len(tasks))
    if workers < 2:
        return [fn(t) for t in tasks]
    with process_pool(workers) as pool:  # as the sweep workers start: never forked from this (threaded) process
        return list(pool.map(fn, tasks))


def _metrics_2010(seed: int) -> dict[str, float]:
    import reflow

    res = reflow.run(CONFIGS / "quota_2010.toml", seed=seed, out=None)
    return v.metrics_2010(res.timeseries, v.quota_in_force(res.config))


def _series_2025(seed: int) -> dict[str, Any]:
    """The few weekly series the 2025 checks need, from one run of controls_2025 (kept small to pickle)."""
    import reflow

    res = reflow.run(CONFIGS / "controls_2025.toml", seed=seed, out=None)
    ts = res.timeseries
    var = ts["variable"]
    keep = ts[var.isin(["production_lost_share", "inventory_cover_weeks", "shortage"])
              | ((var == "exports_cn") & (ts["material"] == "ndfeb_magnet"))]
    return {
        "dy_ex": v.ex_china_price(ts, "dy_oxide"),
        "dy_cn": v.china_price(ts, "dy_oxide"),
        "freight": res.config.materials.dy_oxide.freight_premium,
        "frame": keep.assign(date=pd.to_datetime(keep["date"]))[["date", "variable", "material", "region", "value"]],
    }


@pytest.fixture(scope="module")
def runs_2010() -> list[dict[str, float]]:
    return _pool_map(_metrics_2010, list(SEEDS_2010))


@pytest.fixture(scope="module")
def median_2010(runs_2010: list[dict[str, float]]) -> dict[str, float]:
    return v.medians(runs_2010)


@pytest.fixture(scope="module")
def runs_2025() -> list[dict[str, Any]]:
    return _pool_map(_series_2025, list(SEEDS_2025))


# --------------------------------------------------------------------------------------------------- 2010


def _target_params() -> list[Any]:
    out = []
    for t in (*v.TARGETS_2010, *v.GUARDS_2010):  # the guards are fitted too: facts the fit must not break
        # A miss whose seed band straddles the bound may pass on another CPU or numpy build (the model amplifies
        # last-bit differences), so it must not fail CI by passing.
        strict = t.key not in MARGINAL_MISSES
        marks = [pytest.mark.xfail(strict=strict, reason=KNOWN_MISSES[t.key])] if t.key in KNOWN_MISSES else []
        out.append(pytest.param(t, id=t.key, marks=marks))
    return out


@pytest.mark.parametrize("target", _target_params())
def test_2010_target_on_the_multi_seed_median(target: v.Target, median_2010: dict[str, float],
                                              runs_2010: list[dict[str, float]]) -> None:
    value = median_2010.get(target.key)
    spread = [round(r[target.key], 3) for r in runs_2010]
    assert target.contains(value), (f"{target.label}: median {value:.4g} over {len(runs_2010)} seeds, target "
                                    f"{target.describe()} {target.unit}; per seed {spread}")


def test_2010_seeds_agree_on_what_passes(runs_2010: list[dict[str, float]], median_2010: dict[str, float]) -> None:
    """The fit is not a lucky median: for every target the median meets, most seeds meet it too."""
    for t in v.TARGETS_2010:
        if t.contains(median_2010.get(t.key)):
            share = np.mean([t.contains(r.get(t.key)) for r in runs_2010])
            assert share >= 0.75, f"{t.key}: only {share:.0%} of seeds meet the target the median meets"


# --------------------------------------------------------------------------------------------------- 2025


def _between(s: pd.Series, span: tuple[pd.Timestamp, pd.Timestamp]) -> pd.Series:
    return s[(s.index >= span[0]) & (s.index <= span[1])]


def _wide(frame: pd.DataFrame, variable: str, material: str | None = None) -> pd.DataFrame:
    sub = frame[frame["variable"] == variable]
    if material is not None:
        sub = sub[sub["material"] == material]
    return sub.groupby(["date", "region"])["value"].first().unstack("region").sort_index()


def test_2025_ex_china_dy_price_stands_above_china_while_controls_bind(runs_2025: list[dict[str, Any]]) -> None:
    """Licensing keeps Chinese Dy from arbitraging the gap: ex-China Dy costs more than China's price plus freight
    while the April-November controls bind, and not before them."""
    during, before = [], []
    for r in runs_2025:
        ratio = r["dy_ex"] / r["dy_cn"].reindex(r["dy_ex"].index)
        during.append(float(_between(ratio, BINDING).mean()) / (1 + r["freight"]))
        before.append(float(ratio[ratio.index.year == 2024].mean()) / (1 + r["freight"]))
    assert np.median(during) > 1.03, f"ex-China Dy over China's export parity, Jun-Nov 2025: {during}"
    assert np.median(before) < 1.02, f"before the controls: {before}"
    assert np.median(during) > np.median(before) + 0.02


def test_2025_magnet_exports_to_the_us_fall_more_than_to_the_eu_while_us_approval_is_lower(
        runs_2025: list[dict[str, Any]]) -> None:
    """From 30 June to the Busan suspension the US approval rate was set below the EU's (0.45 vs 0.6, then 0.4 vs
    0.5); China's magnet exports to the US, relative to 2024, must then be lower than to the EU."""
    us, eu = [], []
    for r in runs_2025:
        x = _wide(r["frame"], "exports_cn", "ndfeb_magnet").fillna(0.0)
        base = x[x.index.year == 2024].mean()
        win = _between(x, US_LOWER).mean()
        us.append(float(win["US"] / base["US"]))
        eu.append(float(win["EU"] / base["EU"]))
    assert np.median(us) < np.median(eu), f"exports vs 2024, US {np.round(us, 3)} EU {np.round(eu, 3)}"


def test_2025_production_is_lost_only_after_inventories_run_down(runs_2025: list[dict[str, Any]]) -> None:
    """No region loses production before the April controls, and where one does in 2025 (the year of
    per-shipment licences) the loss starts no sooner than half the shortest cover target (automotive: 6 weeks)
    after the control took effect, with an input short. Whether the firms that lose had drawn their stocks down
    first is checked firm by firm below: a region's cover mixes them with firms the control does not reach and,
    for Dy and Tb, with its magnet makers' 30 weeks of oxide."""
    checked = 0
    for r in runs_2025:
        lost = _wide(r["frame"], "production_lost_share")
        assert (lost[lost.index < CONTROL] <= 1e-9).all().all(), "production lost before the controls"
        in_2025 = lost[lost.index < "2026-01-01"]
        for reg in lost.columns:
            hit = in_2025.index[in_2025[reg] > 1e-3]
            if len(hit) == 0:
                continue
            first = hit[0]
            assert first >= CONTROL + pd.Timedelta(weeks=3), f"{reg}: production lost from {first.date()}"
            short = [m for m in ("dy_oxide", "tb_oxide", "ndfeb_magnet")
                     if _wide(r["frame"], "shortage", m).get(reg, pd.Series(dtype=float)).get(first, 0.0) > 0]
            assert short, f"{reg}: production lost on {first.date()} with no input short"
            checked += 1
    assert checked > 0, "no production was lost at all: the check would be vacuous"


def _firm_production(seed: int) -> dict[str, Any]:
    """A controls_2025 run watched firm by firm: each week's stock before production, need and output share."""
    from reflow.config import load_config
    from reflow.model import ReflowModel

    model = ReflowModel(load_config(CONFIGS / "controls_2025.toml"), rng=seed)
    pop, log = model.pop, []
    produce = pop.produce

    def watched() -> Any:
        before, need = pop.stock.copy(), pop.need().copy()
        out = produce()
        log.append((before, need, pop.frac.copy()))
        return out

    pop.produce = watched  # type: ignore[method-assign]
    model.run()
    return {"stock": np.array([x[0] for x in log]), "need": np.array([x[1] for x in log]),
            "frac": np.array([x[2] for x in log]), "cover_target": pop.cover_target.copy(),
            "control": model._week_of(dt.date(2025, 4, 7)), "jan": model._week_of(dt.date(2025, 1, 6)),
            "end_2025": model._week_of(dt.date(2025, 12, 29))}


@pytest.mark.parametrize("seed", [1, 3])
def test_2025_firms_lose_production_only_after_their_stock_runs_down(seed: int) -> None:
    """Every firm that loses output in 2025 had used its buffer first: its first loss comes no sooner than half
    its cover target after the control took effect, and by the week before it, its stock of the input that
    limits it was under half its January-March 2025 level."""
    d = _firm_production(seed)
    c, jan = d["control"], d["jan"]
    frac = d["frac"][: d["end_2025"]]
    assert (frac[:c] > 1 - 1e-9).all(), "a firm lost output before the controls"
    losers = np.flatnonzero((frac[c:] < 0.999).any(axis=0))
    assert len(losers) > 0, "no firm lost output in 2025: the check would be vacuous"
    for f in losers:
        w = c + int(np.argmax(frac[c:, f] < 0.999))
        need, stock = d["need"][w, f], d["stock"][w, f]
        m = int(np.argmin(np.where(need > 1e-12, stock / np.maximum(need, 1e-12), np.inf)))
        assert w - c >= 0.5 * d["cover_target"][f], (f"firm {f}: output lost {w - c} weeks after the control, "
                                                     f"with a cover target of {d['cover_target'][f]:.0f} weeks")
        usual = d["stock"][jan:c, f, m].mean()
        assert d["stock"][w - 1, f, m] < 0.5 * usual, (f"firm {f}: output lost in week {w} for want of input {m} "
                                                       f"with {d['stock'][w - 1, f, m]:.3g} t in stock the week "
                                                       f"before against {usual:.3g} t usually")
