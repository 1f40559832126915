"""One sweep run, as executed inside a worker (a local process or a Dask worker).

`execute(task)` is the only thing an executor calls. It is a pure, module-level function of plain data: the task
carries the base scenario as a dict (so remote workers need no access to the sweep's files), the overrides of the
run and its seed. It never raises for a failing run: the error comes back in the result, with its traceback, and
the sweep goes on (Mesa's ``batch_run`` hangs instead).

The function that actually simulates is named by a ``"module:function"`` string (`RunTask.runner`) with the
signature ``fn(scenario, seed) -> (metrics, timeseries)``: a flat dict of scalar metrics and an optional tidy time
series frame. The default, `simulate_run`, calls `reflow.api.simulate`; tests and benchmarks of the machinery use
the cheap functions in `reflow.experiment.fakes`.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_RUNNER",
    "RunResult",
    "RunTask",
    "TimeseriesSpec",
    "downsample_timeseries",
    "execute",
    "resolve_runner",
    "scalar_metrics",
    "simulate_run",
    "worker_preload",
]

logger = logging.getLogger(__name__)

#: The run function used unless a sweep names another one.
DEFAULT_RUNNER = "reflow.experiment.runner:simulate_run"

_TS_KEYS = ["variable", "material", "origin", "region"]

#: Modules a run function imports on its first call, beyond its own module: a worker process imports them as it
#: starts (in parallel with the sweep's preparation) instead of inside its first run.
RUNNER_IMPORTS: dict[str, tuple[str, ...]] = {DEFAULT_RUNNER: ("reflow.api", "reflow.model", "reflow.metrics")}


def worker_preload(runner: str) -> tuple[str, ...]:
    """The modules a worker imports before its first run of `runner` (``"module:function"``)."""
    module = runner.partition(":")[0]
    return (*((module,) if module else ()), *RUNNER_IMPORTS.get(runner, ()))


@dataclass(frozen=True)
class TimeseriesSpec:
    """How a run's weekly time series is down-sampled before it is stored."""

    every_weeks: int = 4
    agg: str = "mean"
    variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs to execute one run (plain, picklable data)."""

    run_id: str
    point_id: int
    replicate: int
    seed: int
    params: dict[str, Any]
    overrides: dict[str, Any]
    base: dict[str, Any] = field(repr=False)
    runner: str = DEFAULT_RUNNER
    timeseries: TimeseriesSpec | None = None


@dataclass
class RunResult:
    """What a worker sends back: status, metrics and (optionally) the down-sampled time series."""

    run_id: str
    status: str  # ok | error | crashed | timeout
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    wall_time_s: float = 0.0
    cpu_time_s: float | None = None  # CPU seconds of the worker process for the run (None if unknown)
    timeseries: Any = None  # pandas.DataFrame | None
    attempts: int = 1


def resolve_runner(spec: str) -> Callable[..., Any]:
    """Import ``"package.module:function"``."""
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"runner {spec!r}: expected 'package.module:function'")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"runner {spec!r} is not callable")
    return obj


def _scalar(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else (None if math.isnan(v) else v)
    item = getattr(v, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _scalar(item())
        except (TypeError, ValueError):
            pass
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return json.dumps(v, sort_keys=True, default=str)


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics as plain Python scalars (numpy → Python, dates → ISO text, NaN → None, containers → JSON)."""
    return {str(k): _scalar(v) for k, v in metrics.items()}


def simulate_run(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """The default run function: `reflow.api.simulate`, with its summary flattened to scalars."""
    from reflow import api

    out = api.simulate(scenario, seed)
    return api.flatten_summary(out.summary), out.timeseries


def downsample_timeseries(df: Any, spec: TimeseriesSpec) -> Any:
    """Aggregate a tidy weekly time series into blocks of `spec.every_weeks` weeks.

    Args:
        df: tidy frame with ``week``, ``variable``, ``material``, ``origin``, ``region``, ``value`` (docs/outputs.md).
        spec: block length, aggregation (``mean`` or ``last``) and variables to keep (empty: all).

    Returns:
        The same columns (``week`` is the first week of each block; ``date`` its date when present).
    """
    import pandas as pd

    if df is None or len(df) == 0:
        return None
    if spec.variables:
        df = df[df["variable"].isin(list(spec.variables))]
    keys = [k for k in _TS_KEYS if k in df.columns]
    block = (df["week"].to_numpy() // spec.every_weeks) * spec.every_weeks
    work = df.assign(week=block)
    if spec.agg == "last":
        work = work.sort_values("week", kind="stable")
    agg: dict[str, str] = {"value": spec.agg}
    if "date" in work.columns:
        agg["date"] = "first"
    out = work.groupby(["week", *keys], dropna=False, sort=True).agg(agg).reset_index()
    cols = ["week", *(["date"] if "date" in out.columns else []), *keys, "value"]
    out = out[cols]
    for k in keys:
        out[k] = out[k].astype("string")
    out["value"] = out["value"].astype("float64")
    return pd.DataFrame(out).reset_index(drop=True)


def execute(task: RunTask) -> RunResult:
    """Run one task; never raises for a failing run (the error is in the result)."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        from reflow.config import apply_overrides, validate

        fn = resolve_runner(task.runner)
        scenario = validate(apply_overrides(task.base, task.overrides), source=f"run {task.run_id}")
        metrics, ts = fn(scenario, task.seed)
        row = scalar_metrics(metrics)
        small = None
        if task.timeseries is not None and ts is not None:
            small = downsample_timeseries(ts, task.timeseries)
            if small is not None:
                small.insert(0, "run_id", task.run_id)
        return RunResult(task.run_id, "ok", row, wall_time_s=time.perf_counter() - t0,
                         cpu_time_s=time.process_time() - c0, timeseries=small)
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}".strip()
        return RunResult(task.run_id, "error", error=msg[:2000], traceback=traceback.format_exc(),
                         wall_time_s=time.perf_counter() - t0, cpu_time_s=time.process_time() - c0)
