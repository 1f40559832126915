"""Calibrate the La/Ce oxide market of configs/quota_2010.toml (its [light_ree] table) to the 2010-11 crisis.

    python experiments/calibrate_light_2010.py              # ~2-4 min on 2 cores -> results/calibration_light/<stamp>/
    python experiments/calibrate_light_2010.py --quick      # smoke run: 4 seeds, a few points

The second stage after experiments/calibrate_2010.py (the oxides' fit), and much cheaper: nothing flows from the
La/Ce market back into the rest of the model (it reads China's NdPr price, the non-Chinese NdPr mines' output and
the policy; docs/ODD.md 7.18), so each seed is run once with the config as it is, the market's weekly inputs are
kept (`ReflowModel.light_inputs`), and every candidate parameter set is evaluated by replaying the market alone
(`reflow.light_ree.replay`, bit-identical to the run: tested).

1. Targets: the La/Ce entries of `reflow.validation.TARGETS_2010` (the spread at the peak and a year later, from
   La's history), China's 2011 exports over the quota (La/Ce with the oxides, whose part is fixed by the run) and
   the post-crisis rebound guard. La/Ce's own price history in `CHECKS_2010` (peak multiple and timing, and the
   spread read at the crisis peak, NdPr's peak month) is
   reported beside them, as the oxides' fit reports its checks; `--fit-history` adds it to the objective (a
   what-if: the model then trades the spread for the timing, docs/validation.md 1.5). Misses are measured on the
   median over seeds against the targets inset by `--margin` of their width, as in the oxides' fit.
2. Parameters (`PARAMS`): the buyers' cover, restocking speed and hoarding. China's price link to NdPr (derived
   from La's 2011 prices, config/schema.py), the short-run elasticity (-0.2, DOMAIN.md 2.2), the reference prices and
   tonnages and the most buyers pay stay as sourced.
3. A Latin-hypercube screen, then Nelder-Mead from the best point (`scipy`), then the fit table over all seeds.

Output: a new folder `results/calibration_light/<UTC stamp>/` (`--out`; never an existing one): `manifest.json`
(written before the runs: arguments, seeds, the config with the sha256 of each file of its `extends` chain and of
the resolved config, reflow/Python/numpy/Mesa versions, git commit and dirty flag; completed at the end with the
number of evaluations and the result), `configs/scenario.toml` and `.json` (the resolved config each seed ran, as
`reflow run` writes `config.toml`), `search.csv`, `fit.csv`, `fit.md`, `run.json` and `calibrated.toml`; the
values are copied into configs/quota_2010.toml by hand with a comment naming this run. A calibration needs
`--seeds` >= 20; only `--quick` runs fewer.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import qmc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from reflow import validation as v  # noqa: E402
from reflow.config import load_config  # noqa: E402
from reflow.errors import ConfigError  # noqa: E402
from reflow.experiment.executors import process_pool  # noqa: E402
from reflow.light_ree import LightParams, LightState, replay  # noqa: E402
from reflow.provenance import new_stamped_folder, run_manifest, write_configs, write_manifest  # noqa: E402

CONFIG = ROOT / "configs" / "quota_2010.toml"
LHS_SEED = 20101  # the Latin hypercube's own seed (recorded in the manifest)
# (config key under [light_ree], LightParams field, low, high)
PARAMS: tuple[tuple[str, str, float, float], ...] = (
    ("cover_target_weeks", "cover_weeks", 4.0, 26.0),
    ("restock_weeks", "restock_weeks", 2.0, 26.0),
    ("hoarding_response", "hoarding_response", 0.0, 3.0),
)
FITTED = ("light_ree.spread_at_peak", "light_ree.spread_year_after", "exports_vs_quota", "post_crisis_rebound")
HISTORY = ("light_ree.peak_multiple", "light_ree.peak_months", "light_ree.spread_at_crisis_peak")
ALL = (*v.TARGETS_2010, *v.GUARDS_2010, *v.CHECKS_2010)
TARGETS = tuple(t for t in ALL if t.key in FITTED)
REPORTED = tuple(t for t in ALL if t.key in FITTED + HISTORY)


def _capture(task: tuple[str, int]) -> dict[str, Any]:
    """One seed of the scenario as configured: the La/Ce market's inputs and the oxides' fixed parts."""
    from reflow.model import ReflowModel

    config, seed = task
    sc = load_config(config)
    model = ReflowModel(sc, rng=seed)
    model.run()
    ts = model.rec.to_frame(sc.scenario.start)
    m = v.metrics_2010(ts, v.quota_in_force(sc))
    quota = v.quota_in_force(sc)
    ox = {k: q for k, q in quota.items() if k != "light_ree"}
    ox_x = sum(m[f"{k}.exports_vs_quota"] * q for k, q in ox.items())
    oxide_rebound = max(v.rebound(ts, k) for k in ("ndpr_oxide", "dy_oxide", "tb_oxide"))
    params, state = model.light_first
    dates = [model.date_of(w) for w in range(model.weeks)]
    return {"seed": seed, "params": params, "state": state, "inputs": model.light_inputs, "dates": dates,
            "oxide_exports": ox_x, "oxide_quota": sum(ox.values()), "light_quota": quota.get("light_ree", np.nan),
            "oxide_rebound": oxide_rebound, "crisis_peak": v.price_peak(ts, "ndpr_oxide")["date"]}


def evaluate(values: dict[str, float], runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median over seeds of the La/Ce metrics at `values` (config keys of `PARAMS`)."""
    per_seed = []
    for r in runs:
        p: LightParams = r["params"]
        p = dataclasses.replace(p, **{field: values[key] for key, field, *_ in PARAMS})
        s0 = LightState(stock=p.cover_weeks * p.demand_week, alt_stock=0.0, premium=0.0, bank=np.inf)
        weeks = replay(s0, p, r["inputs"])
        idx = pd.to_datetime(r["dates"])
        ex = pd.Series([w.price_ex for w in weeks], index=idx)
        cn = pd.Series([w.price_cn for w in weeks], index=idx)
        off = pd.Series([w.official for w in weeks], index=idx)
        lm = v.light_metrics(ex, cn, crisis_peak=r["crisis_peak"])
        out = {f"light_ree.{k}": x for k, x in lm.items()}
        light_x = v.year_total(off, v.QUOTA_YEAR)  # as exports_vs_quota sums the oxides' year
        out["exports_vs_quota"] = (r["oxide_exports"] + light_x) / (r["oxide_quota"] + r["light_quota"])
        out["post_crisis_rebound"] = max(r["oxide_rebound"], lm["rebound"])
        per_seed.append(out)
    return v.medians(per_seed)


MIN_SEEDS = 20  # fewer seeds make the medians too noisy for a calibration (only --quick may use fewer)
QUICK = {"seeds": 4, "screen": 8, "nm_evals": 10}


def check_args(ap: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Refuse bad arguments (`ap.error`: message, exit 2) before anything is created (after --quick applied)."""
    if a.seeds < 1:
        ap.error(f"--seeds {a.seeds}: give at least {MIN_SEEDS} seeds (or --quick for a smoke run); with none "
                 "every median is NaN and the 'calibration' would be meaningless")
    if a.seeds < MIN_SEEDS and not a.quick:
        ap.error(f"--seeds {a.seeds}: a calibration needs at least {MIN_SEEDS} seeds; use --quick for a smoke run")
    if a.screen < 0:
        ap.error(f"--screen {a.screen}: give 0 or more Latin-hypercube points")
    if a.nm_evals < 1:
        ap.error(f"--nm-evals {a.nm_evals}: give at least 1 Nelder-Mead evaluation")
    if not 0.0 <= a.margin <= 0.5:
        ap.error(f"--margin {a.margin}: give a share of each target's width between 0 and 0.5 (default 0.1)")
    if a.workers < 1:
        ap.error(f"--workers {a.workers}: give at least 1 worker process")


def main(argv: list[str] | None = None) -> int:
    """Run the calibration; 2 on bad input (the message names the argument or file and the fix)."""
    from reflow.cli import guarded

    return guarded(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--seeds", type=int, default=24, help=f"model seeds (>= {MIN_SEEDS}; fewer only with --quick)")
    ap.add_argument("--screen", type=int, default=120, help="Latin-hypercube points")
    ap.add_argument("--nm-evals", type=int, default=150, help="Nelder-Mead evaluations")
    ap.add_argument("--margin", type=float, default=0.1, help="targets inset by this share of their width")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--fit-history", action="store_true", help="also fit La/Ce's peak multiple and timing")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: {QUICK['seeds']} seeds, {QUICK['screen']} screen points, "
                         f"{QUICK['nm_evals']} NM evals")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "calibration_light")
    a = ap.parse_args(argv)
    if a.quick:
        a.seeds, a.screen, a.nm_evals = QUICK["seeds"], QUICK["screen"], QUICK["nm_evals"]
    check_args(ap, a)
    fitted = REPORTED if a.fit_history else TARGETS
    sc = load_config(a.config)  # a missing or broken config fails here, before any folder is made
    if sc.light_ree is None:
        raise ConfigError(f"{a.config}: has no [light_ree] table, so there is nothing to calibrate; give --config "
                          "a scenario with one (configs/quota_2010.toml)")
    seeds = list(range(1, a.seeds + 1))
    manifest = run_manifest(argv, a, {"scenario": a.config}, seeds, script=__file__, lhs_seed=LHS_SEED,
                            fitted=[t.key for t in fitted])
    out = new_stamped_folder(a.out)  # never an existing folder: earlier calibrations are never overwritten
    stamp = out.name
    write_configs(out, manifest, {"scenario": sc})  # configs/scenario.toml and .json: the config every seed runs
    write_manifest(out, manifest)  # before the runs, so that a crash still says what was being run
    with process_pool(a.workers) as pool:  # started as the sweep workers are: never forked from here
        runs = list(pool.map(_capture, [(str(a.config), s) for s in seeds]))
    current = {key: float(getattr(sc.light_ree, key)) for key, *_ in PARAMS}
    lo = np.array([p[2] for p in PARAMS])
    hi = np.array([p[3] for p in PARAMS])
    rows: list[dict[str, Any]] = []

    def f(u: np.ndarray, phase: str) -> float:
        u = np.clip(u, 0.0, 1.0)
        values = {key: float(x) for (key, *_), x in zip(PARAMS, lo + u * (hi - lo), strict=True)}
        med = evaluate(values, runs)
        obj = v.objective(med, fitted, margin=a.margin)
        rows.append({"phase": phase, **values, "objective": obj, **med})
        return obj

    u0 = (np.array(list(current.values())) - lo) / (hi - lo)
    f(u0, "current")
    for u in qmc.LatinHypercube(d=len(PARAMS), seed=LHS_SEED).random(a.screen):
        f(u, "screen")
    best = min(rows, key=lambda r: r["objective"])
    start = (np.array([best[k] for k, *_ in PARAMS]) - lo) / (hi - lo)
    minimize(lambda u: f(u, "nelder-mead"), start, method="Nelder-Mead",
             options={"maxfev": a.nm_evals, "xatol": 1e-3, "fatol": 1e-4, "adaptive": True})
    search = pd.DataFrame(rows)
    search.to_csv(out / "search.csv", index=False)
    write_manifest(out, manifest, evaluations=len(rows), files=["search.csv"])
    best = search.loc[search["objective"].idxmin()]
    values = {k: float(best[k]) for k, *_ in PARAMS}
    tables = {}
    for name, vals in (("calibrated", values), ("current", current)):
        per = [evaluate(vals, [r]) for r in runs]
        t = v.fit_table(per, REPORTED)
        t.insert(0, "point", name)
        tables[name] = t
    fit = pd.concat(tables.values())
    fit.to_csv(out / "fit.csv", index=False)
    cols = ["point", "label", "target", "median", "p5", "p95", "pass"]
    (out / "fit.md").write_text(fit[cols].to_markdown(index=False) if _has_tabulate() else fit[cols].to_string())
    toml = "\n".join(f"{k} = {round(x, 4)}" for k, x in values.items())
    (out / "calibrated.toml").write_text(f"# experiments/calibrate_light_2010.py, run {stamp}\n[light_ree]\n{toml}\n")
    (out / "run.json").write_text(json.dumps({"config": str(a.config), "seeds": a.seeds, "screen": a.screen,
                                              "nm_evals": a.nm_evals, "margin": a.margin,
                                              "fit_history": a.fit_history,
                                              "objective": float(best["objective"]), "values": values}, indent=2))
    write_manifest(out, manifest, status="finished", evaluations=len(rows), objective=float(best["objective"]),
                   objective_current=float(rows[0]["objective"]), values=values,
                   files=["search.csv", "fit.csv", "fit.md", "calibrated.toml", "run.json"])
    pd.set_option("display.width", 160)
    print(fit[cols].to_string(index=False))
    print(f"\nobjective {best['objective']:.3f} (current {rows[0]['objective']:.3f}); values for [light_ree]:\n{toml}")
    print(f"written to {out}")
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main())
