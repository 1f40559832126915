"""Calibrate the mechanism parameters of configs/quota_2010.toml to the 2010-11 export-quota crisis.

    python experiments/calibrate_2010.py                    # ~20-30 min on 2 cores -> results/calibration/<stamp>/
    python experiments/calibrate_2010.py --quick            # smoke run: a few points, 4 final seeds (~1-2 min)
    python experiments/calibrate_2010.py --evaluate-only    # the final multi-seed fit of the config as it is
    python experiments/calibrate_2010.py --evaluate-only --set china.domestic_elasticity=-0.5   # a what-if
    python experiments/calibrate_2010.py --fit-check ndpr_oxide.cn_vs_history   # a check fitted as one more guard

What it does (the procedure docs/validation.md reports):

1. The targets are `reflow.validation.TARGETS_2010` (issue 3, from DOMAIN.md section 4) plus the guards
   `GUARDS_2010` (no large-scale loss of production outside China over 2010-14 or in any one month, no price cycles
   before the July 2010 announcement); `CHECKS_2010` (NdPr's spread against DOMAIN's ~1.4x, La/Ce's peak and timing)
   are reported in the fit table without being fitted. The La/Ce targets (the spreads) depend only on the
   [light_ree] table, which the second stage fits (experiments/calibrate_light_2010.py). A point's objective is the
   sum of the targets' normalised misses (`Target.miss`: 0 inside the interval, 1 one interval-width outside) of the
   **median over model seeds** of each metric, measured against each interval inset by `--margin` (0.1) of its width
   (`Target.inset`): a median on a bound of its interval would fall outside it on other seeds half the time, and a
   target no point reaches (the spreads at the peak) would otherwise push the fit to the bounds of the others. To
   that is added each search seed's own misses of the targets as they are, averaged over the seeds (since
   2026-11-30, run 20261130T214938Z): a point must meet the targets on every seed, not only on a median of seeds
   that straddle a bound (run 20261130T211453Z met Dy's peak timing on the median with a third of the seeds
   outside it). The fit tables report the targets as they are. The search uses a fixed set of model seeds (common
   random numbers), so the objective is a deterministic function of the parameters; three seeds per evaluation by
   default (`--search-seeds`; with two, a point can meet a target on the median of two seeds and on few others).
2. The parameters are mechanism parameters only (`PARAMS`; `TIED` ones follow a searched one: Tb oxide's bid
   ceiling is Dy's; bids, stock policy, thrifting, China's supply and
   demand responses, diversification); the policy inputs (quota tonnages and dates, duties, the embargo),
   demand, capacities and the supplier list stay as the config sources them. Each parameter is searched on a
   unit interval mapped to its bounds (log-spaced where marked).
3. Phase 1, a Latin-hypercube screen (`scipy.stats.qmc.LatinHypercube`, fixed seed) of `--screen` points plus
   the config's current values, all runs spread over `--workers` processes; it stops early once it has used half
   of the time budget (on a busy machine), so that phase 2 always runs.
4. The screen ranks the parameters by |Spearman correlation| with the objective; phase 2 moves only the
   `--nm-dims` most influential.
5. Phase 2, `--chains` Nelder-Mead chains side by side (`scipy.optimize.minimize`, bounded to the unit cube,
   adaptive): the first from the config's current values (the previous fit, a warm start), the others from the
   best screened points that differ from it and from each other, until `--nm-evals`
   evaluations per chain or the time budget (`--budget-min`, whole search) is spent.
6. The `--refine` best distinct points of the search are re-evaluated over six other seeds and the best of them
   is kept (a point that only suits the search seeds drops out).
7. The kept point and the config's current values are then each run over `--final-seeds` fresh seeds
   (1, 2, ...); the fit table (target, model median, 5-95% band, pass/fail) of both is written and printed.

Everything goes to a new folder `results/calibration/<UTC stamp>/` (`--out`; never an existing one):
`manifest.json` (written before the search: arguments, seeds, the config with the sha256 of each file of its
`extends` chain and of the resolved config, reflow/Python/numpy/Mesa versions, git commit and dirty flag; completed
with the number of screened points and evaluations, which depend on the time budget), `configs/scenario.toml` and
`.json` (the resolved config with `--set` applied, as `reflow run` writes `config.toml`; after the search also
`configs/calibrated.toml` and `.json`, the calibrated point's), `search.csv` (every point evaluated: phase,
parameters, objective, median metrics), `best.json`, `fit.csv` / `fit.md` (final fit, calibrated and current),
`final_metrics.csv` (per seed), `calibrated.toml` (the values to put in the config) and `log.txt`.
The config and arguments are checked before the folder is made (a bad one: a message and exit status 2);
`--final-seeds` must be at least 20 except with `--quick`.
The calibrated values are copied into configs/quota_2010.toml by hand, with a comment naming this script and the
date; they are scenario-level values and leave the global defaults in src/reflow/config/schema.py alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


CONFIG = ROOT / "configs" / "quota_2010.toml"
SEARCH_SEEDS = (101, 102, 103)  # model seeds of search evaluations (common random numbers); --search-seeds picks
# how many (the first N).
REFINE_SEEDS = (201, 202, 203, 204, 205, 206)  # the best search points are re-evaluated on these
FINAL_SEED0 = 1  # final evaluation: seeds FINAL_SEED0 .. FINAL_SEED0 + final_seeds - 1
LHS_SEED = 20100708  # the Latin hypercube's own seed (the announcement date)
SCREEN_SHARE = 0.5  # share of the search budget the screen may use
MARGIN = 0.1  # the search aims this share of each target's scale inside it (validation.Target.inset), --margin


@dataclass(frozen=True)
class Param:
    """A mechanism parameter searched on [lo, hi] (log-spaced if `log`; rounded if `integer`)."""

    key: str
    lo: float
    hi: float
    log: bool = False
    integer: bool = False
    optional: bool = False  # searched only where the config sets it (a mechanism the scenario uses)
    unless: str | None = None  # not searched where the config sets this key (a parameter that replaces it)

    def value(self, u: float) -> float | int:
        """The parameter's value at unit coordinate `u` (clipped to [0, 1])."""
        u = min(1.0, max(0.0, float(u)))
        v = math.exp(math.log(self.lo) + u * math.log(self.hi / self.lo)) if self.log else self.lo + u * (
            self.hi - self.lo)
        return round(v) if self.integer else round(v, 4)

    def unit(self, v: float) -> float:
        """The unit coordinate of value `v` (clipped)."""
        u = math.log(v / self.lo) / math.log(self.hi / self.lo) if self.log else (v - self.lo) / (self.hi - self.lo)
        return min(1.0, max(0.0, u))


# The mechanism parameters searched, with bounds wide enough to be uninformative but physically sensible.
PARAMS: tuple[Param, ...] = (
    # Bids: the value of lost production caps them; convexity sets how early in a run-down they rise.
    Param("manufacturers.wtp_cap_multiple.ndpr_oxide", 8.0, 40.0, log=True),
    Param("manufacturers.wtp_cap_multiple.dy_oxide", 10.0, 45.0, log=True),
    Param("manufacturers.wtp_convexity", 1.0, 5.0),
    # Stock policy: weeks of cover held by magnet makers (the main oxide buyers) and electronics makers.
    Param("manufacturers.cover_target_weeks.magnet", 6.0, 40.0, log=True),
    Param("manufacturers.cover_target_weeks.electronics", 4.0, 26.0, log=True),
    Param("manufacturers.expectation_weeks", 2.0, 26.0, log=True),
    # Hoarding and destocking: how strongly cover targets (and China's domestic demand) follow the price trend,
    # and the memory the trend is read against.
    Param("manufacturers.hoarding_response", 0.0, 3.0),
    Param("manufacturers.hoarding_memory_weeks", 8.0, 104.0, log=True),
    # Thrifting / substitution: the firm-level yearly rate may exceed the 10%/yr aggregate target, since heavy
    # rare earths were cut 30-40% per motor within 1-2 years (Honda, Nissan [V2]).
    Param("manufacturers.thrift_cap", 0.15, 0.6),
    Param("manufacturers.thrift_lag_weeks", 8, 78, integer=True),
    Param("manufacturers.thrift_max_per_year", 0.03, 0.35, log=True),
    Param("manufacturers.thrift_trigger_multiple", 1.2, 5.0, log=True),
    # China's producers and domestic market.
    Param("china.supply_price_elasticity", 0.0, 3.0),
    Param("china.domestic_elasticity", -1.2, -0.05),
    # China's use against a lasting price (ODD 7.3): searched only in a scenario that has one (None = off).
    Param("china.long_run_elasticity", -1.2, 0.0, optional=True),
    # China's Tb users with an elasticity of their own (lamp-phosphor makers in 2010-11, whose Tb use fell 60-70% by
    # 2013 [V2]), searched only in a scenario that gives them one; fitted to China's Tb / Dy price ratio (a guard).
    Param("china.elasticity_by_material.tb_oxide", -1.5, -0.3, optional=True),
    Param("china.ask_stock_elasticity", 0.0, 1.0),
    Param("china.utilisation_response", 0.0, 1.5),
    # China's traders and users hoarding and destocking on the domestic price trend (own response, same memory).
    Param("china.hoarding_response", 0.0, 3.0),
    # The quota licence an official exporter must hold or buy (~15 USD/kg for La in mid-2010 [V2]).
    Param("china.quota_rent_share", 0.0, 1.0),
    # Diversification toward non-Chinese offtakes after disruption.
    Param("manufacturers.diversify_disruption_weight", 0.0, 6.0),
    # Unofficial exports through third-country hubs (2011: actual exports 2.2x the official figure [V2]); searched
    # only where the model has the mechanism (the schema has a [transshipment] table).
    Param("transshipment.max_share", 0.0, 1.0),
    # The channel opens with the premium over parity, or, where the config sets a profit scale, with the
    # smugglers' profit per kilogram (ODD 7.12a).
    Param("transshipment.premium_scale", 0.2, 5.0, log=True, unless="transshipment.profit_scale"),
    Param("transshipment.profit_scale", 5.0, 500.0, log=True, optional=True),
    # Smugglers' costs against the official channel's 15-25% export duty and quota licence [V2/R]: a share of the
    # value and an amount per kilogram (mislabelling, routing, risk per shipment).
    Param("transshipment.cost_share", 0.0, 0.6),
    Param("transshipment.cost_per_kg", 0.0, 40.0),
)


def _available(params: Sequence[Param]) -> tuple[Param, ...]:
    """The parameters the installed model's schema knows (a mechanism not yet in the model is not searched)."""
    from reflow.config import Scenario

    return tuple(p for p in params if p.key.split(".")[0] in Scenario.model_fields)


ALL_PARAMS = _available(PARAMS)
# What a scenario that leaves the optional mechanisms off searches; `use_params` adds those its config sets.
PARAMS = tuple(p for p in ALL_PARAMS if not p.optional)


def use_params(config: Path, fixed: Mapping[str, Any] | None = None) -> tuple[Param, ...]:
    """Set `PARAMS` to the parameters searched for `config` (with `fixed` overrides): every one that is not
    optional, and each optional one the config sets (a `--set` of it fixes it instead: it is not searched); none
    whose replacement the config sets (`Param.unless`)."""
    from reflow.config import load_config

    global PARAMS
    cfg = load_config(config, fixed).model_dump()
    PARAMS = tuple(p for p in ALL_PARAMS
                   if (not p.optional or (_at(cfg, p.key) is not None and p.key not in (fixed or {})))
                   and (p.unless is None or _at(cfg, p.unless) is None))
    return PARAMS


def _at(tree: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted key path of a dumped config (None where a table has no such entry)."""
    node: Any = tree
    for seg in key.split("."):
        if node is None or seg not in node:
            return None
        node = node[seg]
    return node

# Parameters that are not searched but follow a searched one. Tb oxide's bid ceiling follows Dy's: both are bought
# by the same magnet makers for the same job (coercivity at temperature), no 2010-11 target or price series for
# Tb identifies a value of its own, and the model's first defaults set them equal (40x) too.
TIED: dict[str, str] = {"manufacturers.wtp_cap_multiple.tb_oxide": "manufacturers.wtp_cap_multiple.dy_oxide"}


# --------------------------------------------------------------------------------------------------- evaluation


def _run_one(task: tuple[str, dict[str, Any], int]) -> dict[str, float]:
    """One model run (in a worker process): the 2010 metrics of `config` with `overrides` and `seed`."""
    config, overrides, seed = task
    from reflow.api import simulate
    from reflow.config import load_config
    from reflow.validation import metrics_2010, quota_in_force

    cfg = load_config(config, overrides)
    sim = simulate(cfg, seed)
    return metrics_2010(sim.timeseries, quota_in_force(cfg))


def table_entries(config: Path, fixed: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The tables (mapping fields such as ``manufacturers.cover_target_weeks``) that searched parameters are
    entries of, with their values in the config: an override of one entry must carry the whole table, or the
    loader would replace the config's table by the one entry and fill the rest with the schema's defaults."""
    from pydantic import BaseModel

    from reflow.config import load_config

    cfg = load_config(config, fixed)
    out: dict[str, dict[str, Any]] = {}
    for p in PARAMS:
        parent, _ = p.key.rsplit(".", 1)
        node: Any = cfg
        for seg in parent.split("."):
            node = getattr(node, seg) if isinstance(node, BaseModel) else node[seg]
        if isinstance(node, dict):
            out[parent] = dict(node)
    return out


def overrides_at(u: Sequence[float], fixed: Mapping[str, Any] | None = None,
                 tables: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The config overrides of unit point `u` (plus any `fixed` overrides); entries of the `tables`
    (`table_entries`) are set as whole tables."""
    out = dict(fixed or {})
    values = {p.key: p.value(x) for p, x in zip(PARAMS, u, strict=True)}
    values.update({k: values[lead] for k, lead in TIED.items() if lead in values})
    for key, v in values.items():
        parent, leaf = key.rsplit(".", 1)
        if tables and parent in tables:
            out.setdefault(parent, dict(tables[parent]))[leaf] = v
        else:
            out[key] = v
    return out


def current_values(config: Path, fixed: Mapping[str, Any] | None = None) -> dict[str, float]:
    """The values the config (with `fixed` overrides) gives the searched parameters now."""
    from reflow.config import load_config

    cfg = load_config(config, fixed).model_dump()
    return {p.key: float(_at(cfg, p.key)) for p in PARAMS}


def _key(u: Sequence[float]) -> tuple[float, ...]:
    """Cache key of a unit point: the parameter values it maps to (rounded as the runs see them)."""
    return tuple(p.value(x) for p, x in zip(PARAMS, u, strict=True))


class Evaluator:
    """Objective of unit points over the search seeds, evaluated in a process pool, cached, logged.

    Thread-safe, so that several Nelder-Mead chains can share the pool.
    """

    def __init__(self, pool: ProcessPoolExecutor, config: Path, seeds: Sequence[int], fixed: Mapping[str, Any],
                 log: Callable[[str], None], margin: float = 0.0, fitted: tuple[Any, ...] | None = None) -> None:
        self.pool, self.config, self.seeds, self.fixed, self.log = pool, str(config), tuple(seeds), fixed, log
        self.margin = margin
        self.fitted = fitted_targets() if fitted is None else fitted
        self.tables = table_entries(config, fixed)
        self.rows: list[dict[str, Any]] = []
        self.cache: dict[tuple[float, ...], float] = {}
        self.best: tuple[float, np.ndarray | None] = (math.inf, None)
        self._lock = threading.Lock()

    def _record(self, phase: str, u: np.ndarray, runs: list[dict[str, float]]) -> float:
        from reflow.validation import medians, objective

        med = medians(runs)
        fitted = self.fitted
        # The medians' misses (inset), plus each seed's own misses of the targets as they are, averaged over the
        # seeds: a point must meet the targets on every seed, not only on a median of seeds that straddle a bound.
        obj = objective(med, fitted, margin=self.margin) + float(np.mean([objective(r, fitted) for r in runs]))
        ov = {p.key: p.value(x) for p, x in zip(PARAMS, u, strict=True)}
        with self._lock:
            self.rows.append({"phase": phase, "objective": obj, **{p.key: ov[p.key] for p in PARAMS},
                              **{f"median.{k}": v for k, v in med.items()}})
            self.cache[_key(u)] = obj
            if obj < self.best[0]:
                self.best = (obj, np.array(u, float))
        return obj

    def batch(self, phase: str, points: np.ndarray, deadline: float) -> None:
        """Evaluate many points at once (all their runs in the pool), logging progress; stop at `deadline`."""
        tasks = [(self.config, overrides_at(u, self.fixed, self.tables), s) for u in points for s in self.seeds]
        t0 = time.time()
        n = len(self.seeds)
        results: list[dict[str, float]] = []
        for i, res in enumerate(self.pool.map(_run_one, tasks)):
            results.append(res)
            if (i + 1) % n == 0:
                k = (i + 1) // n - 1
                self._record(phase, points[k], results[-n:])
                done = k + 1
                if done % 20 == 0 or done == len(points):
                    el = time.time() - t0
                    left = el / done * (len(points) - done)
                    self.log(f"{phase}: {done}/{len(points)} points, {el:.0f} s, ~{left:.0f} s left; "
                             f"best objective {self.best[0]:.3f}")
                if time.time() > deadline:
                    self.log(f"{phase}: time budget reached after {done} points")
                    break

    def __call__(self, u: np.ndarray, phase: str = "nelder-mead") -> float:
        """Objective of one point (its seeds in parallel)."""
        u = np.clip(np.asarray(u, float), 0.0, 1.0)
        key = _key(u)
        with self._lock:
            if key in self.cache:
                return self.cache[key]
        ov = overrides_at(u, self.fixed, self.tables)
        runs = list(self.pool.map(_run_one, [(self.config, ov, s) for s in self.seeds]))
        return self._record(phase, u, runs)


class _Budget(Exception):
    pass


def rank_parameters(rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of `PARAMS`, most influential first: |Spearman correlation| of each with the objective over the
    screened points (a screening of main effects, as in global sensitivity analysis)."""
    from scipy.stats import spearmanr

    obj = np.array([r["objective"] for r in rows], float)
    score = []
    for p in PARAMS:
        x = np.array([r[p.key] for r in rows], float)
        rho = spearmanr(x, obj).statistic if np.ptp(x) > 0 and np.ptp(obj) > 0 else 0.0
        score.append(abs(rho) if np.isfinite(rho) else 0.0)
    return [int(i) for i in np.argsort(score)[::-1]]


def _nelder_mead(ev: Evaluator, start: np.ndarray, dims: Sequence[int], nm_evals: int, deadline: float,
                 name: str, log: Callable[[str], None]) -> None:
    """One bounded, adaptive Nelder-Mead chain over the coordinates `dims` of the unit cube (the others fixed at
    `start`), until `nm_evals` evaluations or the deadline."""
    from scipy.optimize import minimize

    count = [0]

    def f(z: np.ndarray) -> float:
        if time.time() > deadline or count[0] >= nm_evals:
            raise _Budget
        u = start.copy()
        u[list(dims)] = z
        count[0] += 1
        val = ev(u, name)
        if count[0] % 10 == 0:
            log(f"{name}: {count[0]} evaluations, best objective so far {ev.best[0]:.3f}")
        return val

    # Initial simplex: steps of 0.15 of each unit range from the start, pointing into the cube.
    z0 = start[list(dims)]
    simplex = np.repeat(z0[None, :], len(dims) + 1, axis=0)
    for i in range(len(dims)):
        simplex[i + 1, i] += 0.15 if z0[i] <= 0.85 else -0.15
    try:
        res = minimize(f, z0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * len(dims),
                       options={"initial_simplex": simplex, "adaptive": True, "xatol": 1e-3, "fatol": 1e-3,
                                "maxfev": nm_evals})
        log(f"{name}: stopped after {count[0]} evaluations ({res.message})")
    except _Budget:
        log(f"{name}: evaluation or time budget reached after {count[0]} evaluations")


def search(ev: Evaluator, x0: np.ndarray, n_screen: int, nm_evals: int, nm_dims: int, chains: int,
           deadline: float, log: Callable[[str], None]) -> np.ndarray:
    """Latin-hypercube screen, then Nelder-Mead chains (in parallel) over the most influential parameters from
    the best distinct screened points; returns the best unit point found."""
    from scipy.stats import qmc

    pts = qmc.LatinHypercube(d=len(PARAMS), seed=LHS_SEED).random(n_screen) if n_screen > 0 else np.zeros(
        (0, len(PARAMS)))
    pts = np.vstack([x0[None, :], pts])
    log(f"screen: {len(pts)} points x {len(ev.seeds)} seed(s) (point 0 = the config's current values)")
    # The screen may use at most SCREEN_SHARE of the time left, so that Nelder-Mead always gets the rest.
    ev.batch("screen", pts, time.time() + SCREEN_SHARE * (deadline - time.time()))
    log(f"screen best objective {ev.best[0]:.3f}")
    if nm_evals <= 0 or time.time() > deadline:
        return ev.best[1]
    order = rank_parameters(ev.rows)
    dims = sorted(order[:nm_dims])
    log("parameters by influence on the objective (screen): " + ", ".join(PARAMS[i].key for i in order))
    log(f"Nelder-Mead over the {len(dims)} most influential; the others stay at each chain's start")
    # The first chain starts from the config's current values (the previous fit: a warm start, so that a re-run
    # after a model change refines it); the others from the best screened points that differ from it and from
    # each other (unit distance > 0.25).
    screened = sorted(((r["objective"], k) for k, r in enumerate(ev.rows)), key=lambda t: t[0])
    unit = [np.array([p.unit(ev.rows[k][p.key]) for p in PARAMS]) for _, k in screened]
    starts: list[np.ndarray] = [x0.copy()]
    for u in unit:
        if all(np.linalg.norm(u - s) > 0.25 for s in starts):
            starts.append(u)
        if len(starts) == chains:
            break
    with ThreadPoolExecutor(len(starts)) as threads:
        futs = [threads.submit(_nelder_mead, ev, s, dims, nm_evals, deadline, f"nelder-mead {i + 1}", log)
                for i, s in enumerate(starts)]
        for fu in futs:
            fu.result()
    log(f"search done: best objective {ev.best[0]:.3f} after {len(ev.rows)} evaluations")
    return ev.best[1]


def refine(ev: Evaluator, k: int, seeds: Sequence[int], log: Callable[[str], None]) -> tuple[np.ndarray, float]:
    """Re-evaluate the `k` best distinct points of the search over other seeds and return the best of them, so
    that the choice does not rest on the search seeds alone."""
    ranked = sorted(range(len(ev.rows)), key=lambda i: ev.rows[i]["objective"])
    picked: list[np.ndarray] = []
    for i in ranked:
        u = np.array([p.unit(ev.rows[i][p.key]) for p in PARAMS])
        if all(np.linalg.norm(u - q) > 0.05 for q in picked):
            picked.append(u)
        if len(picked) == k:
            break
    check = Evaluator(ev.pool, Path(ev.config), seeds, ev.fixed, log, ev.margin, ev.fitted)
    check.batch("refine", np.array(picked), math.inf)
    for row, u in zip(check.rows, picked, strict=True):
        log(f"refine: search objective {ev.cache.get(_key(u), float('nan')):.3f} -> "
            f"{row['objective']:.3f} over seeds {list(seeds)}")
    ev.rows += check.rows
    return check.best[1], check.best[0]


def final_fit(pool: ProcessPoolExecutor, config: Path, overrides: Mapping[str, Any], seeds: Sequence[int],
              label: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit table (targets and guards) and per-seed metrics of `overrides` over `seeds`."""
    from reflow.validation import CHECKS_2010, GUARDS_2010, TARGETS_2010, fit_table

    runs = list(pool.map(_run_one, [(str(config), dict(overrides), s) for s in seeds]))
    table = fit_table(runs, (*TARGETS_2010, *GUARDS_2010, *CHECKS_2010))
    table.insert(0, "config", label)
    per_seed = pd.DataFrame(runs)
    per_seed.insert(0, "seed", list(seeds))
    per_seed.insert(0, "config", label)
    return table, per_seed


def _fmt(x: float, unit: str = "") -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    if unit == "year":
        return f"{x:.1f}"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def markdown_table(table: pd.DataFrame) -> str:
    """The fit table as Markdown: target, model median, 5-95% band, pass/fail."""
    lines = ["| metric | target | model median | 5-95% band | |", "|---|---|---|---|---|"]
    for _, r in table.iterrows():
        u = r["unit"]
        lines.append(f"| {r['label']} | {r['target']} | {_fmt(r['median'], u)} | {_fmt(r['p5'], u)} - "
                     f"{_fmt(r['p95'], u)} | "
                     f"{'pass' if r['pass'] else 'FAIL'} |")
    return "\n".join(lines)


def toml_block(values: Mapping[str, Any], stamp: str) -> str:
    """The calibrated values (overrides, whole tables as dicts) as TOML grouped by table, for the config."""
    groups: dict[str, list[str]] = {}

    def val(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        return repr(float(v)) if isinstance(v, float) else str(v)

    for key, v in values.items():
        table, rest = key.split(".", 1)
        groups.setdefault(table, []).append(f"{rest} = {val(v)}")
    out = [f"# calibrated by experiments/calibrate_2010.py ({stamp})"]
    for table, lines in groups.items():
        out += [f"[{table}]", *lines, ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------- main


MIN_FINAL_SEEDS = 20  # the final fit's medians and bands need this many seeds (only --quick may use fewer)
# --quick's settings (its help text is built from them, so that it stays true).
QUICK = {"screen": 8, "nm_evals": 4, "nm_dims": 3, "refine": 2, "final_seeds": 4}


def fitted_targets(fit_checks: Sequence[str] = ()) -> tuple[Any, ...]:
    """What the objective fits: the targets, the guards and the checks named in `fit_checks` (``--fit-check``,
    a what-if that treats a check as one more guard for one calibration)."""
    from reflow.validation import CHECKS_2010, GUARDS_2010, TARGETS_2010

    extra = tuple(c for c in CHECKS_2010 if c.key in set(fit_checks))
    return (*TARGETS_2010, *GUARDS_2010, *extra)


def check_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad arguments (`ap.error`: message, exit 2) before anything is created (after --quick applied)."""
    if args.final_seeds < 1:
        ap.error(f"--final-seeds {args.final_seeds}: give at least {MIN_FINAL_SEEDS} seeds (or --quick for a "
                 "smoke run)")
    if args.final_seeds < MIN_FINAL_SEEDS and not args.quick:
        ap.error(f"--final-seeds {args.final_seeds}: the final fit needs at least {MIN_FINAL_SEEDS} seeds; use "
                 "--quick for a smoke run")
    if not 1 <= args.search_seeds <= len(SEARCH_SEEDS):
        ap.error(f"--search-seeds {args.search_seeds}: give 1 to {len(SEARCH_SEEDS)} (the fixed search seeds "
                 f"{list(SEARCH_SEEDS)})")
    for name in ("screen", "nm_evals", "refine"):
        if getattr(args, name) < 0:
            ap.error(f"--{name.replace('_', '-')} {getattr(args, name)}: give 0 or more")
    for name, what in (("nm_dims", "parameter"), ("chains", "chain"), ("workers", "worker process")):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} {getattr(args, name)}: give at least 1 {what}")
    if not (math.isfinite(args.budget_min) and args.budget_min > 0):
        ap.error(f"--budget-min {args.budget_min}: give a positive number of minutes (default 26)")
    from reflow.validation import CHECKS_2010

    known = [c.key for c in CHECKS_2010]
    for key in args.fit_check:
        if key not in known:
            ap.error(f"--fit-check {key}: not a check of reflow.validation.CHECKS_2010; give one of {known}")
    if not 0.0 <= args.margin <= 0.5:
        ap.error(f"--margin {args.margin}: give a share of each target's scale between 0 and 0.5 (default {MARGIN})")


def main(argv: list[str] | None = None) -> int:
    """Run the calibration; 2 on bad input (the message names the argument or file and the fix)."""
    from reflow.cli import guarded

    return guarded(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--screen", type=int, default=300, help="Latin-hypercube points (besides the current values)")
    ap.add_argument("--nm-evals", type=int, default=200, help="Nelder-Mead evaluations per chain at most")
    ap.add_argument("--nm-dims", type=int, default=10, help="parameters Nelder-Mead moves (most influential first)")
    ap.add_argument("--chains", type=int, default=2, help="Nelder-Mead chains run side by side")
    ap.add_argument("--search-seeds", type=int, default=3,
                    help=f"model seeds per search evaluation (1 to {len(SEARCH_SEEDS)})")
    ap.add_argument("--refine", type=int, default=8, help="best distinct search points re-evaluated on other seeds")
    ap.add_argument("--budget-min", type=float, default=26.0, help="wall-clock budget of the search, minutes")
    ap.add_argument("--final-seeds", type=int, default=24,
                    help=f"seeds of the final evaluation (>= {MIN_FINAL_SEEDS}; fewer only with --quick)")
    ap.add_argument("--margin", type=float, default=MARGIN,
                    help="search misses are measured against each target inset by this share of its scale")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--set", dest="fixed", action="append", default=[], metavar="KEY=VALUE",
                    help="an override applied to every run (a what-if on the inputs), repeatable")
    ap.add_argument("--fit-check", action="append", default=[], metavar="KEY",
                    help="fit this check as one more guard (a what-if; repeatable; keys of "
                         "reflow.validation.CHECKS_2010)")
    ap.add_argument("--evaluate-only", action="store_true", help="no search: the final fit of the config as is")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: {QUICK['screen']} screen points, {QUICK['nm_evals']} NM evals per chain over "
                         f"the {QUICK['nm_dims']} most influential parameters, {QUICK['refine']} points refined, "
                         f"{QUICK['final_seeds']} final seeds")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "calibration")
    args = ap.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    check_args(ap, args)

    from reflow.config import load_config, parse_set_args
    from reflow.provenance import new_stamped_folder, run_manifest, write_configs, write_manifest

    fixed = parse_set_args(args.fixed)
    # The config (with --set) is loaded before the output folder exists: a bad path or value leaves nothing.
    resolved = load_config(args.config, fixed)
    use_params(args.config, fixed)
    now = current_values(args.config, fixed)
    x0 = np.array([p.unit(now[p.key]) for p in PARAMS])
    final_seeds = list(range(FINAL_SEED0, FINAL_SEED0 + args.final_seeds))
    seeds = SEARCH_SEEDS[: args.search_seeds]
    manifest = run_manifest(
        argv, args, {"scenario": args.config}, overrides=fixed, script=__file__,
        seeds={"final": final_seeds} if args.evaluate_only else {"search": list(seeds), "refine": list(REFINE_SEEDS),
                                                                  "final": final_seeds},
        lhs_seed=LHS_SEED, screen_share=SCREEN_SHARE, params=[p.key for p in PARAMS], tied=TIED)
    folder = new_stamped_folder(args.out)  # a new folder per call: earlier calibrations are never overwritten
    stamp = folder.name
    write_configs(folder, manifest, {"scenario": resolved})  # configs/scenario.toml, .json: what every run starts from
    write_manifest(folder, manifest)  # before the search, so that a crash still says what was being run
    with (folder / "log.txt").open("w") as logf:
        return _calibrate(args, folder, stamp, fixed, now, x0, seeds, final_seeds, manifest, logf)


def _calibrate(args: argparse.Namespace, folder: Path, stamp: str, fixed: dict[str, Any], now: dict[str, float],
               x0: np.ndarray, seeds: Sequence[int], final_seeds: list[int], manifest: dict[str, Any],
               logf: Any) -> int:
    """The search, refinement and final fit, written into `folder` (its manifest completed at the end)."""
    from reflow.config import load_config
    from reflow.experiment.executors import process_pool
    from reflow.provenance import write_configs, write_manifest

    t_start = time.time()

    def log(msg: str) -> None:
        line = f"[{time.time() - t_start:7.1f} s] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    log(f"calibrating {args.config} -> {folder}")
    if fixed:
        log(f"fixed overrides on every run: {fixed}")
    facts: dict[str, Any] = {}
    with process_pool(args.workers) as pool:  # started as the sweep workers are: never forked from here
        tables, per_seed = [], []
        if args.evaluate_only:
            best = dict(fixed)
        else:
            ev = Evaluator(pool, args.config, seeds, fixed, log, args.margin, fitted_targets(args.fit_check))
            log(f"search objective: the medians' misses from the targets inset by {args.margin:g} of their scale, "
                "plus the seeds' mean misses of the targets as they are")
            deadline = t_start + 60.0 * args.budget_min
            u = search(ev, x0, args.screen, args.nm_evals, args.nm_dims, args.chains, deadline, log)
            refined = None
            if args.refine > 1:
                u, refined = refine(ev, args.refine, REFINE_SEEDS, log)
            pd.DataFrame(ev.rows).to_csv(folder / "search.csv", index=False)
            best_params = {p.key: p.value(x) for p, x in zip(PARAMS, u, strict=True)}
            best = overrides_at(u, fixed, ev.tables)
            (folder / "best.json").write_text(json.dumps({"config": str(args.config),
                                                          "objective_search": ev.best[0], "objective_refine": refined,
                                                          "refine_seeds": REFINE_SEEDS, "params": best_params,
                                                          "current": now, "fixed": fixed, "margin": args.margin,
                                                          "search_seeds": seeds}, indent=1))
            # How far the search got depends on the wall-clock budget: recorded as soon as it is known.
            facts = {"screened_points": sum(r["phase"] == "screen" for r in ev.rows),
                     "evaluations": len(ev.rows), "objective_search": ev.best[0], "objective_refine": refined,
                     "params": best_params}
            # The calibrated point's whole resolved config, beside the scenario's: `reflow run` reads it as it is.
            write_configs(folder, manifest, {"calibrated": load_config(args.config, best)})
            write_manifest(folder, manifest, **facts)
            (folder / "calibrated.toml").write_text(toml_block(overrides_at(u, None, ev.tables), stamp[:8]))
            log(f"final evaluation of the calibrated point over {len(final_seeds)} seeds")
            t, s = final_fit(pool, args.config, best, final_seeds, "calibrated")
            tables.append(t)
            per_seed.append(s)
        log(f"final evaluation of the config as it is over {len(final_seeds)} seeds")
        t, s = final_fit(pool, args.config, fixed, final_seeds, "config as is")
        tables.append(t)
        per_seed.append(s)
    from reflow.validation import objective

    fit = pd.concat(tables, ignore_index=True)
    fit.to_csv(folder / "fit.csv", index=False)
    pd.concat(per_seed, ignore_index=True).to_csv(folder / "final_metrics.csv", index=False)
    md = []
    for label, tab in fit.groupby("config", sort=False):
        obj = objective(dict(zip(tab["key"], tab["median"], strict=True)), fitted_targets(args.fit_check))
        md += [f"### {label} ({len(final_seeds)} seeds; objective {obj:.3f}, "
               f"{int(tab['pass'].sum())} of {len(tab)} pass)", "", markdown_table(tab), ""]
    (folder / "fit.md").write_text("\n".join(md))
    print()
    print("\n".join(md))
    if not args.evaluate_only:
        print("values for configs/quota_2010.toml:\n")
        print((folder / "calibrated.toml").read_text())
    files = ["log.txt", "fit.csv", "final_metrics.csv", "fit.md"]
    if not args.evaluate_only:
        files += ["search.csv", "best.json", "calibrated.toml"]
    write_manifest(folder, manifest, status="finished", wall_time_min=round((time.time() - t_start) / 60, 2),
                   files=files, **facts)
    log(f"done in {(time.time() - t_start) / 60:.1f} min; results in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
