"""Sweep throughput: runs per second with 1 and 2 local workers, and the parallel efficiency.

    python benchmarks/sweep_bench.py                      # the real model, 24 runs of 417 weeks per setting
    python benchmarks/sweep_bench.py --runs 32 --weeks 208
    python benchmarks/sweep_bench.py --runner reflow.experiment.fakes:analytic --sleep 0.5   # machinery only
    python benchmarks/sweep_bench.py --json               # one JSON object (for benchmarks/run.py)

Each setting runs the same sweep (the approval-rate levels of configs/sweeps/bases/licensing_regime.toml, one seed
per run) into a fresh folder through `reflow.experiment.sweep`, so the time includes everything a user waits for:
spawning workers, validating, running, storing each result. Parallel efficiency = rate(2 workers) / (2 x rate(1)).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "sweeps" / "bases" / "licensing_regime.toml"

__all__ = ["bench", "main", "sweep_file", "sweep_points"]


def sweep_points(runs: int) -> list[float]:
    """The approval rates the benchmark sweep runs at (evenly spaced over 0.1-0.9)."""
    return [round(0.1 + 0.8 * i / max(1, runs - 1), 4) for i in range(runs)]


def sweep_file(folder: Path, runs: int, weeks: int) -> Path:
    """Write the benchmark sweep config (one run per approval rate, `weeks` long) into `folder`."""
    values = ", ".join(f"{v:.4f}" for v in sweep_points(runs))
    path = folder / "bench.toml"
    path.write_text(f"""[sweep]
name = "bench"
base = "{BASE.as_posix()}"
replicates = 1
root_seed = 1

[sweep.set]
"scenario.weeks" = {weeks}

[[parameters]]
key = "policy.controls.approval_rate"
values = [{values}]
""", encoding="utf-8")
    return path


def bench(workers: int, runs: int = 24, weeks: int = 417, runner: str | None = None) -> dict[str, float]:
    """Time one sweep of `runs` runs on `workers` local worker processes.

    Returns:
        ``workers``, ``runs``, ``wall_s`` (end to end), ``runs_per_s``, ``mean_run_s`` (inside the workers) and
        ``overhead_s`` (wall time not explained by the runs themselves: start-up, scheduling, storing).
    """
    from reflow.experiment import sweep
    from reflow.experiment.executors import ProcessExecutor
    from reflow.experiment.runner import DEFAULT_RUNNER

    stamps: list[tuple[float, int]] = []  # (time, results) of every batch the sweep received

    class Timed(ProcessExecutor):
        def run(self, tasks):
            for batch in super().run(tasks):
                stamps.append((time.perf_counter(), len(batch)))
                yield batch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory(prefix="reflow-bench-") as tmp:
        cfg = sweep_file(Path(tmp), runs, weeks)
        t0 = time.perf_counter()
        res = sweep(cfg, out=Path(tmp) / "out", progress=False, runner=runner or DEFAULT_RUNNER,
                    executor=Timed(workers))
        wall = time.perf_counter() - t0
        table = res.runs
    if set(table["status"]) != {"ok"}:
        bad = table.loc[table["status"] != "ok", ["run_id", "status", "error"]].head(3).to_dict("records")
        print(f"warning: not every run succeeded: {bad}", file=sys.stderr)
    mean_run = float(table["wall_time_s"].mean())
    mean_cpu = float(table["cpu_time_s"].mean())
    # steady state: results after the first round of runs (each worker's first run also pays its start-up)
    first = next((i for i, (_, n) in enumerate(stamps) if sum(k for _, k in stamps[: i + 1]) >= workers),
                 len(stamps) - 1)
    later = sum(n for _, n in stamps[first + 1:])
    span = stamps[-1][0] - stamps[first][0] if stamps else 0.0
    steady = later / span if later and span > 0 else float("nan")
    return {"workers": workers, "runs": runs, "wall_s": round(wall, 3), "runs_per_s": round(runs / wall, 4),
            "steady_runs_per_s": round(steady, 4), "mean_run_s": round(mean_run, 4),
            "mean_cpu_s": round(mean_cpu, 4), "load_before": round(load, 2),
            "overhead_s": round(wall - runs * mean_run / workers, 3)}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=24, help="runs per setting (default 24)")
    p.add_argument("--weeks", type=int, default=417, help="horizon of each run in weeks (default 417, 8 years)")
    p.add_argument("--runner", default=None, help="run function MODULE:FUNCTION (default: the model)")
    p.add_argument("--sleep", type=float, default=None, help="REFLOW_FAKE_SLEEP for the fake runners (s)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.sleep is not None:
        os.environ["REFLOW_FAKE_SLEEP"] = str(args.sleep)
    cores = os.cpu_count() or 1
    results = [bench(1, args.runs, args.weeks, args.runner), bench(2, args.runs, args.weeks, args.runner)]
    efficiency = results[1]["runs_per_s"] / (2 * results[0]["runs_per_s"])
    steady = results[1]["steady_runs_per_s"] / (2 * results[0]["steady_runs_per_s"])
    cpu_ratio = results[0]["mean_cpu_s"] / results[1]["mean_cpu_s"]
    out = {"benchmark": "sweep_throughput", "cores": cores, "runner": args.runner or "model",
           "weeks": args.weeks, "results": results, "parallel_efficiency": round(efficiency, 3),
           "steady_parallel_efficiency": round(steady, 3),
           "cpu_per_run_ratio": round(cpu_ratio, 3), "target_efficiency": 0.85}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"sweep throughput ({out['runner']}, {args.runs} runs of {args.weeks} weeks, {cores} cores)")
    print(f"{'workers':>8} {'wall s':>8} {'runs/s':>8} {'steady/s':>9} {'s/run':>8} {'cpu s/run':>10} "
          f"{'overhead s':>11} {'load':>6}")
    for r in results:
        print(f"{r['workers']:>8} {r['wall_s']:>8.2f} {r['runs_per_s']:>8.3f} {r['steady_runs_per_s']:>9.3f} "
              f"{r['mean_run_s']:>8.3f} {r['mean_cpu_s']:>10.3f} {r['overhead_s']:>11.2f} {r['load_before']:>6.2f}")
    verdict = "meets" if efficiency >= 0.85 else "below"
    print(f"parallel efficiency (2 workers): {efficiency:.0%} end to end ({verdict} the 85% target), "
          f"{steady:.0%} in steady state (after each worker's first run)")
    print(f"CPU time per run with 2 workers vs 1: {1 / cpu_ratio:.2f}x (1.00 = running in parallel costs nothing "
          "extra per run)")
    print("runs/s: runs / wall time, start-up included; steady/s: after each worker's first run; s/run and "
          "cpu s/run: mean wall and CPU time inside a worker; overhead: wall time not explained by the runs; "
          "load: 1-minute load average before the setting (other processes on a 2-core machine skew wall times)")
    if max(r["load_before"] for r in results) > 0.5 * cores:
        print("warning: the machine was busy with other processes; wall-time rates and efficiency understate "
              "what an idle machine gives")
    if cores < 2:
        print("note: this machine has one core; 2 workers cannot run in parallel here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
