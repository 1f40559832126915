"""Sweep throughput: runs per second with 1 and 2 local workers, and the parallel efficiency.

    python benchmarks/sweep_bench.py                      # the real model, 24 runs of 208 weeks per setting
    python benchmarks/sweep_bench.py --runs 32 --weeks 417
    python benchmarks/sweep_bench.py --runner reflow.experiment.fakes:analytic --sleep 0.5   # machinery only
    python benchmarks/sweep_bench.py --start-method spawn # workers as fresh interpreters (the default elsewhere)
    python benchmarks/sweep_bench.py --warm               # also: a later sweep in a process that ran one before
    python benchmarks/sweep_bench.py --json               # one JSON object (for benchmarks/run.py)

Each setting runs the same sweep (the approval-rate levels of configs/sweeps/bases/licensing_regime.toml, one seed
per run) into a fresh folder through `reflow.experiment.sweep`, so the time includes everything a user waits for:
starting workers, validating, running, storing each result. Parallel efficiency = rate(2 workers) / (2 x rate(1)),
printed against its target (>= 85%) with PASS or FAIL; the exit status is 1 when it fails. The defaults (24 runs of
208 weeks, the sweep base scenario's own horizon: `RUNS`, `WEEKS`) are the figure benchmarks/run.py reports and
docs/performance.md quotes.

Each setting runs in a fresh Python process (with `reflow.experiment.sweep` already imported, as in a session
that has just imported it), so it pays the workers' start-up in full: on Linux the fork server's start (a process
importing numpy, pandas, Mesa and the model), elsewhere each spawned worker's. The fork server then lives as long
as the process: measured in one process, the 2-worker setting would start its workers from the server the
1-worker setting started, and look better than a `reflow sweep` command does. ``--warm`` adds that case too (a
notebook's second sweep): the same two settings in one process after a warm-up sweep.

The breakdown shows where the time that does not parallelise goes: ``start-up`` from calling ``sweep()`` to the
first run beginning (preparing the sweep, starting workers), ``end`` from the last result to ``sweep()``
returning (storing, compacting the store, stopping workers).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from benchmarks.common import describe, environment, positive_int
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from common import describe, environment, positive_int  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "sweeps" / "bases" / "licensing_regime.toml"
RUNS = 24  # runs per setting: the documented figure (benchmarks/run.py, docs/performance.md)
WEEKS = 208  # weeks per run: the sweep base scenario's own horizon, the documented figure
TARGET_EFFICIENCY = 0.85  # parallel efficiency with 2 workers (issue 6)

__all__ = ["RUNS", "TARGET_EFFICIENCY", "WEEKS", "bench", "main", "sweep_file", "sweep_points"]


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


def _bench_here(workers: int, runs: int, weeks: int, runner: str | None,
                start_method: str | None) -> dict[str, float]:
    """Time one sweep in this process (see `bench`)."""
    from reflow.experiment import sweep
    from reflow.experiment.executors import ProcessExecutor
    from reflow.experiment.runner import DEFAULT_RUNNER

    stamps: list[tuple[float, list[str]]] = []  # (time, run ids) of every batch the sweep received

    class Timed(ProcessExecutor):
        def run(self, tasks):
            for batch in super().run(tasks):
                stamps.append((time.perf_counter(), [r.run_id for r in batch]))
                yield batch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    executor = Timed(workers, start_method=start_method)
    with tempfile.TemporaryDirectory(prefix="reflow-bench-") as tmp:
        cfg = sweep_file(Path(tmp), runs, weeks)
        t0 = time.perf_counter()
        res = sweep(cfg, out=Path(tmp) / "out", progress=False, runner=runner or DEFAULT_RUNNER,
                    executor=executor)
        wall = time.perf_counter() - t0
        table = res.runs
    if set(table["status"]) != {"ok"}:
        bad = table.loc[table["status"] != "ok", ["run_id", "status", "error"]].head(3).to_dict("records")
        print(f"warning: not every run succeeded: {bad}", file=sys.stderr)
    mean_run = float(table["wall_time_s"].mean())
    mean_cpu = float(table["cpu_time_s"].mean())
    run_s = dict(zip(table["run_id"], table["wall_time_s"], strict=True))
    # steady state: results after the first round of runs (each worker's first run also pays its start-up)
    counts = [len(ids) for _, ids in stamps]
    first = next((i for i in range(len(stamps)) if sum(counts[: i + 1]) >= workers), len(stamps) - 1)
    later = sum(counts[first + 1:])
    span = stamps[-1][0] - stamps[first][0] if stamps else 0.0
    steady = later / span if later and span > 0 else float("nan")
    startup = min((t - t0 - run_s[i] for t, ids in stamps for i in ids), default=float("nan"))
    end = wall - (stamps[-1][0] - t0) if stamps else float("nan")
    return {"workers": workers, "runs": runs, "wall_s": round(wall, 3), "runs_per_s": round(runs / wall, 4),
            "steady_runs_per_s": round(steady, 4), "mean_run_s": round(mean_run, 4),
            "mean_cpu_s": round(mean_cpu, 4), "load_before": round(load, 2),
            "overhead_s": round(wall - runs * mean_run / workers, 3), "startup_s": round(startup, 3),
            "end_s": round(end, 3), "start_method": executor.start_method}


def bench(workers: int, runs: int = RUNS, weeks: int = WEEKS, runner: str | None = None, *, fresh: bool = True,
          start_method: str | None = None) -> dict[str, float]:
    """Time one sweep of `runs` runs on `workers` local worker processes.

    Args:
        fresh: run it in a new Python process (the workers' start-up paid in full, as by a `reflow sweep`
            command); False: in this one (a fork server started by an earlier sweep here is reused).
        start_method: how workers start (default: `reflow.experiment.executors.default_start_method`).

    Returns:
        ``workers``, ``runs``, ``wall_s`` (end to end), ``runs_per_s``, ``steady_runs_per_s`` (after each worker's
        first run), ``mean_run_s`` and ``mean_cpu_s`` (inside the workers), ``overhead_s`` (wall time not explained
        by the runs themselves), ``startup_s`` (sweep() called to the first run beginning), ``end_s`` (last result
        to sweep() returning), ``load_before`` and ``start_method``.
    """
    if not fresh:
        return _bench_here(workers, runs, weeks, runner, start_method)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", str(workers), "--runs", str(runs),
           "--weeks", str(weeks), *(["--runner", runner] if runner else []),
           *(["--start-method", start_method] if start_method else [])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark process failed ({done.returncode}):\n{done.stderr[-3000:]}")
    if done.stderr.strip():
        print(done.stderr.strip(), file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _efficiency(r1: dict[str, float], r2: dict[str, float]) -> tuple[float, float]:
    return r2["runs_per_s"] / (2 * r1["runs_per_s"]), r2["steady_runs_per_s"] / (2 * r1["steady_runs_per_s"])


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exits 1 when the parallel efficiency misses its target."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=positive_int, default=RUNS, help=f"runs per setting, at least 1 (default {RUNS})")
    p.add_argument("--weeks", type=positive_int, default=WEEKS,
                   help=f"horizon of each run in weeks, at least 1 (default {WEEKS}, the sweep base scenario's own)")
    p.add_argument("--runner", default=None, help="run function MODULE:FUNCTION (default: the model)")
    p.add_argument("--sleep", type=float, default=None, help="REFLOW_FAKE_SLEEP for the fake runners (s)")
    p.add_argument("--start-method", choices=["forkserver", "spawn"], default=None,
                   help="how workers start (default: forkserver on Linux, spawn elsewhere)")
    p.add_argument("--warm", action="store_true",
                   help="also time both settings as later sweeps of one process (fork server already running)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # internal: one setting, here
    args = p.parse_args(argv)
    if args.sleep is not None:
        os.environ["REFLOW_FAKE_SLEEP"] = str(args.sleep)
    if args.one is not None:
        print(json.dumps(_bench_here(args.one, args.runs, args.weeks, args.runner, args.start_method)))
        return 0
    env = environment()
    cores = env["cores"] or 1
    kw = {"start_method": args.start_method}
    results = [bench(1, args.runs, args.weeks, args.runner, **kw), bench(2, args.runs, args.weeks, args.runner, **kw)]
    efficiency, steady = _efficiency(*results)
    cpu_ratio = results[0]["mean_cpu_s"] / results[1]["mean_cpu_s"]
    verdict = "PASS" if efficiency >= TARGET_EFFICIENCY else "FAIL"
    out = {"benchmark": "sweep_throughput", **env, "runner": args.runner or "model",
           "runs": args.runs, "weeks": args.weeks, "results": results, "parallel_efficiency": round(efficiency, 3),
           "steady_parallel_efficiency": round(steady, 3),
           "cpu_per_run_ratio": round(cpu_ratio, 3), "target_efficiency": TARGET_EFFICIENCY, "verdict": verdict}
    if args.warm:
        bench(1, 2, 4, args.runner, fresh=False, **kw)  # starts the fork server (if any) in this process
        warm = [bench(1, args.runs, args.weeks, args.runner, fresh=False, **kw),
                bench(2, args.runs, args.weeks, args.runner, fresh=False, **kw)]
        w_eff, w_steady = _efficiency(*warm)
        out.update({"warm_results": warm, "warm_parallel_efficiency": round(w_eff, 3),
                    "warm_steady_parallel_efficiency": round(w_steady, 3)})
    status = 0 if verdict == "PASS" else 1
    if args.json:
        print(json.dumps(out))
        return status
    print(f"sweep throughput ({out['runner']}, {args.runs} runs of {args.weeks} weeks, workers started by "
          f"{results[0]['start_method']}; {describe(env)})")
    header = (f"{'':>6} {'workers':>8} {'wall s':>8} {'runs/s':>8} {'steady/s':>9} {'s/run':>8} {'cpu s/run':>10} "
              f"{'overhead s':>11} {'start-up s':>11} {'end s':>7} {'load':>6}")
    print(header)
    rows = [("cold", r) for r in results] + [("warm", r) for r in out.get("warm_results", [])]
    for label, r in rows:
        print(f"{label:>6} {r['workers']:>8} {r['wall_s']:>8.2f} {r['runs_per_s']:>8.3f} "
              f"{r['steady_runs_per_s']:>9.3f} {r['mean_run_s']:>8.3f} {r['mean_cpu_s']:>10.3f} "
              f"{r['overhead_s']:>11.2f} {r['startup_s']:>11.2f} {r['end_s']:>7.2f} {r['load_before']:>6.2f}")
    print(f"parallel efficiency (2 workers): {efficiency:.0%} end to end, target >= {TARGET_EFFICIENCY:.0%} "
          f"{verdict}; {steady:.0%} in steady state (after each worker's first run)")
    if args.warm:
        print(f"as a later sweep in the same process: {out['warm_parallel_efficiency']:.0%} end to end, "
              f"{out['warm_steady_parallel_efficiency']:.0%} in steady state")
    print(f"CPU time per run with 2 workers vs 1: {1 / cpu_ratio:.2f}x (1.00 = running in parallel costs nothing "
          "extra per run)")
    print("cold: each setting in a fresh process; warm: in one process that has run a sweep before. runs/s: runs / "
          "wall time, start-up included; steady/s: after each worker's first run; s/run and cpu s/run: mean wall "
          "and CPU time inside a worker; overhead: wall time not explained by the runs; start-up: sweep() called "
          "to the first run beginning; end: last result to sweep() returning; load: 1-minute load average before "
          "the setting (other processes on a 2-core machine skew wall times)")
    if max(r["load_before"] for _, r in rows) > 0.5 * cores:
        print("warning: the machine was busy with other processes; wall-time rates and efficiency understate "
              "what an idle machine gives")
    if cores < 2:
        print("note: this machine has one core; 2 workers cannot run in parallel here")
    return status


if __name__ == "__main__":
    sys.exit(main())
