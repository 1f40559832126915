"""reflow's performance benchmarks (issue 6): each figure against its target, PASS or FAIL.

    python benchmarks/run.py            # or: python -m benchmarks, make bench
    python benchmarks/run.py --quick    # fewer repeats, 2,000 firms instead of 10,000 (a smoke test, not the figures)
    python benchmarks/run.py --json     # one JSON object

R1-R3 are ratios to Mesa's own Boltzmann wealth example (`mesa.examples.BoltzmannWealth`) timed in the same
process, interleaved with the reflow runs and as the best of several repeats, so that the machine's speed and
load cancel out:

- R1: one run of configs/controls_2025.toml (default agent counts, records on: model, 417 weekly steps, the tidy
  time series and the summary, i.e. ``reflow.run(scenario, out=None)``) over Boltzmann with 100 agents for the
  same number of steps (its DataCollector on, its model and agent tables built at the end).
- R2: reflow's cost per agent-step with 10,000 manufacturers over Boltzmann's at 1,000 agents.
- R3: reflow's cost per agent-step at 10,000 manufacturers over that at 100 (linear scaling).

An agent-step is one Mesa agent (``len(model.agents)``: manufacturers, producers, suppliers, the domestic industry,
the authority, stockpiles) for one step. The firm counts come from the config (``manufacturers.per_region_sector``,
the firms in each of the 31 (region, sector) cells), so the scale runs are ordinary scenarios: for the large runs
the smallest count at or above the target (10,013 firms for 10,000; 2,015 for 2,000 with --quick), for the small
run the nearest to it (93 firms for 100).

Also: peak resident memory of the 10,000-firm run (a separate process), bytes of timeseries.parquet of one run at
default settings, and sweep throughput (benchmarks/sweep_bench.py: 1 and 2 worker processes, parallel efficiency)
with the sweep engine's overhead over calling ``reflow.run`` in a loop on the same points (runs of the sweep base
scenario, configs/sweeps/bases/licensing_regime.toml, at its own horizon of 208 weeks unless --sweep-weeks).
Machine load distorts the sweep figures most (two workers need two idle cores): the report shows the load average.

``--only`` runs some of the parts (ratios, memory, parquet, sweep); each part reports and is judged on its own
figures only, and the exit status (1 when a target does not hold) covers only the parts run. The header (and
``--json``) records reflow's version, git commit and whether the checkout had uncommitted changes, and the Python,
numpy and Mesa versions.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import math
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    from benchmarks import sweep_bench as sb
    from benchmarks.common import describe, environment, positive_int
except ImportError:  # run as a script: benchmarks/ is on sys.path
    import sweep_bench as sb  # type: ignore[no-redef]
    from common import describe, environment, positive_int  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
CONTROLS = ROOT / "configs" / "controls_2025.toml"

TARGETS = {  # name: (target, "<=" or ">=")
    "R1": (2.0, "<="),
    "R2": (1.0, "<="),
    "R3": (1.2, "<="),
    "peak_rss_mb": (1024.0, "<"),
    "parquet_mb": (5.0, "<"),
    "sweep_efficiency": (sb.TARGET_EFFICIENCY, ">="),
    "sweep_overhead": (0.05, "<="),
}
PARTS = {  # part: the figures it reports and is judged on
    "ratios": ("R1", "R2", "R3"),
    "memory": ("peak_rss_mb",),
    "parquet": ("parquet_mb",),
    "sweep": ("sweep_efficiency", "sweep_overhead"),
}

__all__ = ["main", "measure"]


# ----------------------------------------------------------------------------------------------- timing


def _best(fn: Callable[[], Any], repeats: int) -> float:
    """Fastest of `repeats` timed calls (garbage collection off while timing, as Mesa's benchmarks do)."""
    best = math.inf
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        finally:
            gc.enable()
    return best


def _interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best time of each function, the functions taking turns so that a slow spell of the machine hits all."""
    best = dict.fromkeys(fns, math.inf)
    for _ in range(repeats):
        for name, fn in fns.items():
            best[name] = min(best[name], _best(fn, 1))
    return best


def _boltzmann(n: int, seed: int = 1) -> Any:
    """Mesa's Boltzmann wealth model with n agents (constructor of Mesa 3.3 or 3.5)."""
    from mesa.examples import BoltzmannWealth

    params = inspect.signature(BoltzmannWealth.__init__).parameters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Mesa 3.5 deprecates `seed=`
        if "n" in params:
            return BoltzmannWealth(n=n, **({"rng": seed} if "rng" in params else {"seed": seed}))
        from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannScenario

        return BoltzmannWealth(scenario=BoltzmannScenario(n=n, rng=seed))


def _boltzmann_run(n: int, steps: int) -> Callable[[], None]:
    def run() -> None:
        model = _boltzmann(n)
        for _ in range(steps):
            model.step()
        model.datacollector.get_model_vars_dataframe()
        model.datacollector.get_agent_vars_dataframe()

    return run


def _big_target(quick: bool) -> int:
    """Target firm count of the large runs (R2, R3, memory)."""
    return 2_000 if quick else 10_000


def _cells(sc: Any) -> int:
    """The (region, sector) cells of scenario `sc`: its firms over its firms per cell."""
    from reflow.model import ReflowModel

    return ReflowModel(sc, rng=1).pop.n // sc.manufacturers.per_region_sector


def _scenario(firms: int | None = None, weeks: int | None = None) -> Any:
    """configs/controls_2025.toml, with per_region_sector set for about `firms` manufacturers: the smallest
    count at or above `firms` from 1,000 up, the nearest count to it below 1,000."""
    from reflow.config import load_config

    sc = load_config(CONTROLS)
    sets = {}
    if firms is not None:
        cells = _cells(sc)
        sets["manufacturers.per_region_sector"] = max(1, math.ceil(firms / cells) if firms >= 1000
                                                      else round(firms / cells))
    if weeks is not None:
        sets["scenario.weeks"] = weeks
    if sets:
        from reflow.config import apply_overrides, validate

        sc = validate(apply_overrides(sc.model_dump(mode="json", exclude_none=True), sets))
    return sc


def _reflow_run(scenario: Any, info: dict[str, int]) -> Callable[[], None]:
    import reflow
    from reflow.model import ReflowModel

    m = ReflowModel(scenario, rng=1)
    info["agents"], info["firms"], info["steps"] = len(m.agents), m.pop.n, m.weeks
    del m

    def run() -> None:
        reflow.run(scenario, seed=1, out=None)

    return run


# ----------------------------------------------------------------------------------------------- figures


def _ratios(quick: bool) -> dict[str, Any]:
    big = _big_target(quick)
    sc_default, sc_small, sc_big = _scenario(), _scenario(100), _scenario(big)
    info_d: dict[str, int] = {}
    info_s: dict[str, int] = {}
    info_b: dict[str, int] = {}
    run_d, run_s, run_b = _reflow_run(sc_default, info_d), _reflow_run(sc_small, info_s), _reflow_run(sc_big, info_b)
    steps = info_d["steps"]
    run_d()  # warm-up: imports, caches
    _boltzmann_run(100, 10)()
    r = 3 if quick else 5
    t1 = _interleaved({"reflow": run_d, "boltzmann100": _boltzmann_run(100, steps)}, r)
    t2 = _interleaved({"reflow_big": run_b, "reflow_small": run_s, "boltzmann1000": _boltzmann_run(1000, steps)},
                      1 if quick else 2)
    per = {
        "reflow_small": t2["reflow_small"] / (info_s["agents"] * info_s["steps"]),
        "reflow_big": t2["reflow_big"] / (info_b["agents"] * info_b["steps"]),
        "boltzmann1000": t2["boltzmann1000"] / (1000 * steps),
    }
    return {
        "R1": t1["reflow"] / t1["boltzmann100"],
        "R2": per["reflow_big"] / per["boltzmann1000"],
        "R3": per["reflow_big"] / per["reflow_small"],
        "detail": {
            "steps": steps,
            "reflow_default_s": t1["reflow"], "reflow_default_agents": info_d["agents"],
            "boltzmann100_s": t1["boltzmann100"],
            "reflow_big_s": t2["reflow_big"], "reflow_big_firms": info_b["firms"],
            "reflow_big_agents": info_b["agents"],
            "reflow_small_s": t2["reflow_small"], "reflow_small_firms": info_s["firms"],
            "reflow_small_agents": info_s["agents"],
            "boltzmann1000_s": t2["boltzmann1000"],
            "us_per_agent_step": {k: v * 1e6 for k, v in per.items()},
        },
    }


_RSS_CHILD = """
import resource, sys, time
from reflow.config import apply_overrides, load_raw, validate
import reflow
sc = validate(apply_overrides(load_raw(sys.argv[1]), {"manufacturers.per_region_sector": int(sys.argv[2])}))
t = time.perf_counter()
res = reflow.run(sc, seed=1, out=None)
# VmHWM is this process image's own peak; ru_maxrss survives exec and so starts at the parent's size at fork
try:
    kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(kb, time.perf_counter() - t, len(res.timeseries))
"""


def _peak_rss_mb(per_region_sector: int) -> dict[str, float]:
    """Peak RSS (MB) of a fresh process that imports reflow and runs the big scenario once."""
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(CONTROLS), str(per_region_sector)],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    kb, wall = float(out[0]), float(out[1])
    return {"peak_rss_mb": kb / 1024.0, "wall_s": wall}


def _memory(quick: bool) -> dict[str, Any]:
    """The memory part: the large run's firm count per cell from the scenario builder (nothing timed here), then
    its peak RSS in a fresh process."""
    per_cell = _scenario(_big_target(quick)).manufacturers.per_region_sector
    return {**_peak_rss_mb(per_cell), "peak_rss_firms": _cells(_scenario()) * per_cell}


def _parquet_mb() -> dict[str, float]:
    """Size of timeseries.parquet of one run of each bundled scenario at default settings (the largest counts)."""
    import reflow

    sizes = {}
    with tempfile.TemporaryDirectory(prefix="reflow-bench-") as tmp:
        for cfg in sorted((ROOT / "configs").glob("*.toml")):
            res = reflow.run(cfg, seed=1, out=tmp, figures=False)
            sizes[cfg.stem] = (res.path / "timeseries.parquet").stat().st_size / 1e6
    return {"parquet_mb": max(sizes.values()), "by_scenario_mb": sizes}


def _sweep_overhead(runs: int, weeks: int, repeats: int) -> dict[str, float]:
    """Wall time of a sweep run in this process (`InProcessExecutor`: design, validation, runs, storing every
    result) over calling ``reflow.run`` in a loop on the same points and seeds, minus one."""
    import reflow
    from reflow.experiment import sweep
    from reflow.experiment.executors import InProcessExecutor

    with tempfile.TemporaryDirectory(prefix="reflow-bench-") as tmp:
        cfg = sb.sweep_file(Path(tmp), runs, weeks)
        counter = iter(range(10**6))

        def engine() -> None:
            res = sweep(cfg, out=Path(tmp) / f"out{next(counter)}", progress=False, executor=InProcessExecutor())
            engine.seeds = [int(s) for s in res.runs.sort_values("run_id")["seed"]]  # type: ignore[attr-defined]

        engine()  # warm-up, and the seeds the sweep gives its runs
        seeds = engine.seeds  # type: ignore[attr-defined]

        def loop() -> None:
            for v, seed in zip(sb.sweep_points(runs), seeds, strict=False):
                reflow.run(sb.BASE, seed=seed, out=None,
                           overrides={"scenario.weeks": weeks, "policy.controls.approval_rate": v})

        t = _interleaved({"loop": loop, "engine": engine}, repeats)
    return {"sweep_overhead": t["engine"] / t["loop"] - 1.0, "loop_s": t["loop"], "engine_s": t["engine"],
            "runs": runs, "weeks": weeks}


def _sweep(quick: bool, weeks: int) -> dict[str, Any]:
    runs = 8 if quick else sb.RUNS
    out: dict[str, Any] = {}
    r1, r2 = sb.bench(1, runs, weeks), sb.bench(2, runs, weeks)
    out["sweep_efficiency"] = r2["runs_per_s"] / (2 * r1["runs_per_s"])
    out["sweep_steady_efficiency"] = r2["steady_runs_per_s"] / (2 * r1["steady_runs_per_s"])
    out["sweep_results"] = [r1, r2]
    out.update(_sweep_overhead(runs // 2 if quick else 12, weeks, 2 if quick else 3))
    return out


def measure(quick: bool = False, parts: tuple[str, ...] = tuple(PARTS),
            sweep_weeks: int = sb.WEEKS) -> dict[str, Any]:
    """Run the chosen parts of the benchmarks; returns their figures (and details) with the provenance
    (`benchmarks.common.environment`) and ``verdicts``, each part's figures against their targets."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"parts: unknown {unknown}; choose from {list(PARTS)}")
    import mesa

    res: dict[str, Any] = {"quick": quick, **environment(mesa=mesa.__version__),
                           "parts": [p for p in PARTS if p in parts]}
    if "ratios" in parts:
        res.update(_ratios(quick))
    if "memory" in parts:
        res.update(_memory(quick))
    if "parquet" in parts:
        res.update(_parquet_mb())
    if "sweep" in parts:
        res.update(_sweep(quick, sweep_weeks))
    res["verdicts"] = {k: _verdict(k, res.get(k)) for p in res["parts"] for k in PARTS[p]}
    return res


# ----------------------------------------------------------------------------------------------- report


def _verdict(name: str, value: float | None) -> str:
    """PASS or FAIL of a figure against its target (n/a when it has no value)."""
    target, op = TARGETS[name]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    ok = {"<=": value <= target, "<": value < target, ">=": value >= target}[op]
    return "PASS" if ok else "FAIL"


def report(res: dict[str, Any]) -> str:
    """The table of figures against targets."""
    d = res.get("detail", {})
    big = d.get("reflow_big_firms", res.get("peak_rss_firms", "?"))
    small = d.get("reflow_small_firms", "?")
    rows = [
        ("R1", "one controls_2025 run / Boltzmann 100 agents, same steps", "x"),
        ("R2", f"per agent-step: {big} firms / Boltzmann 1,000 agents", "x"),
        ("R3", f"per agent-step: {big} firms / {small} firms", "x"),
        ("peak_rss_mb", f"peak RSS of the {res.get('peak_rss_firms', big)}-firm run", "MB"),
        ("parquet_mb", "timeseries.parquet of one default run (largest scenario)", "MB"),
        ("sweep_efficiency", "sweep parallel efficiency, 2 workers", ""),
        ("sweep_overhead", "sweep engine overhead vs reflow.run in a loop", ""),
    ]
    lines = [f"reflow benchmarks ({describe(res, 'mesa')}"
             + (", QUICK: not the issue's figures" if res.get("quick") else "") + ")",
             "parts: " + ", ".join(res.get("parts", [])), ""]
    lines.append(f"{'figure':<18} {'value':>9} {'target':>9}  {'':4}  what")
    for name, what, unit in rows:
        if name not in res:
            continue
        v = res[name]
        target, op = TARGETS[name]
        if name in ("sweep_efficiency", "sweep_overhead"):
            vs, ts = f"{v:.0%}" if v == v else "n/a", f"{op}{target:.0%}"
        else:
            vs, ts = f"{v:.3g}{unit}", f"{op}{target:g}{unit}"
        lines.append(f"{name:<18} {vs:>9} {ts:>9}  {_verdict(name, v):4}  {what}")
    if d:
        us = d["us_per_agent_step"]
        lines += ["", f"controls_2025: {d['reflow_default_s']:.3f} s a run ({d['reflow_default_agents']} agents, "
                      f"{d['steps']} steps); Boltzmann 100 agents: {d['boltzmann100_s']:.3f} s",
                  f"{big} firms: {d['reflow_big_s']:.2f} s ({us['reflow_big']:.2f} us/agent-step); "
                  f"{small} firms: {d['reflow_small_s']:.3f} s ({us['reflow_small']:.2f} us/agent-step); "
                  f"Boltzmann 1,000: {d['boltzmann1000_s']:.2f} s ({us['boltzmann1000']:.2f} us/agent-step)"]
    if "by_scenario_mb" in res:
        lines.append("parquet MB: " + ", ".join(f"{k} {v:.2f}" for k, v in res["by_scenario_mb"].items()))
    if "sweep_results" in res:
        r1, r2 = res["sweep_results"]
        lines.append(f"sweep ({r1['runs']} runs): 1 worker {r1['runs_per_s']:.2f} runs/s, 2 workers "
                     f"{r2['runs_per_s']:.2f} runs/s; steady-state efficiency {res['sweep_steady_efficiency']:.0%}")
    if "loop_s" in res:
        lines.append(f"sweep engine in-process {res['engine_s']:.2f} s vs reflow.run loop {res['loop_s']:.2f} s "
                     f"({res['runs']} runs of {res['weeks']} weeks)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exits 1 when a target of a part that ran does not hold."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats and 2,000 firms (smoke test)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--only", nargs="+", choices=list(PARTS),
                   help="run only these parts (each reports and is judged on its own figures only)")
    p.add_argument("--sweep-weeks", type=positive_int, default=sb.WEEKS,
                   help=f"horizon of each sweep run, at least 1 (default {sb.WEEKS}, the sweep base scenario's own)")
    args = p.parse_args(argv)
    res = measure(args.quick, tuple(args.only) if args.only else tuple(PARTS), args.sweep_weeks)
    print(json.dumps(res, default=float) if args.json else report(res))
    return 0 if all(v in ("PASS", "n/a") for v in res["verdicts"].values()) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
