"""Cheap run functions for testing and benchmarking the sweep machinery without the model.

Each has the run-function signature ``fn(scenario, seed) -> (metrics, timeseries)`` and reads a few licensing
fields of the scenario as its inputs (all in [0, 1]): ``licensing.approval_rate``, ``licensing.overrun_probability``
and ``licensing.return_probability``. Name one with ``reflow sweep --runner reflow.experiment.fakes:analytic``.

Environment variables (inherited by worker processes) tune the fakes used in fault tests:

- ``REFLOW_FAKE_SLEEP``: seconds each run sleeps (default 0).
- ``REFLOW_FAKE_MARKERS``: a folder; `crash_once` kills its worker the first time it sees a seed (it leaves a
  marker file there), so the retry succeeds.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from reflow.experiment.executors import Executor, InProcessExecutor

__all__ = ["StopAfter", "analytic", "crash_always", "crash_once", "failing", "hang", "interaction", "ishigami",
           "noisy_linear", "write_fake_sweep"]


def _inputs(scenario: Any) -> tuple[float, float, float]:
    lic = scenario.licensing
    return float(lic.approval_rate), float(lic.overrun_probability), float(lic.return_probability)


def _sleep() -> None:
    s = float(os.environ.get("REFLOW_FAKE_SLEEP", "0") or 0)
    if s > 0:
        time.sleep(s)


def _timeseries(seed: int, weeks: int, level: float) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    w = np.arange(weeks, dtype=np.int64)
    rows = []
    for var, mat, reg in (("price_ex_vwap", "dy_oxide", "US"), ("shortage", "dy_oxide", "EU"),
                          ("production_lost_share", None, "US"), ("licence_backlog", "dy_oxide", "US")):
        rows.append(pd.DataFrame({"week": w, "variable": var, "material": mat, "origin": None, "region": reg,
                                  "value": level + rng.normal(0, 0.1, weeks)}))
    return pd.concat(rows, ignore_index=True)


def analytic(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """A smooth response plus seed noise; metrics named like the real summary."""
    _sleep()
    a, o, r = _inputs(scenario)
    rng = np.random.default_rng(seed)
    peak = 1.0 + 3.0 * (1.0 - a) + 0.5 * o + rng.normal(0.0, 0.1)
    lost = max(0.0, 0.05 * (1 - a) + rng.normal(0, 0.002))
    # drawn after the older metrics' draws, so that adding them left those values as they were
    tb_peak = 1.0 + 2.0 * (1.0 - a) + 0.3 * o + rng.normal(0.0, 0.1)
    shortage = min(1.0, max(0.0, 0.2 * (1 - a) ** 2 + 0.02 * o + rng.normal(0.0, 0.002)))
    metrics = {
        "dy_oxide.peak_price_multiple": peak,
        "dy_oxide.weeks_in_shortage": round(40 * (1 - a)),
        "dy_oxide.cumulative_shortage_share": round(shortage, 5),
        "dy_oxide.peak_price_date": "2025-09-01",
        "tb_oxide.peak_price_multiple": tb_peak,
        "ndfeb_magnet.peak_price_multiple": 1.0 + 0.4 * (peak - 1.0),  # magnets pass on part of the oxide's rise
        "overall.production_lost_share": lost,
        # the worst 4 weeks: never below the whole run's share
        "overall.peak_production_lost_share": min(1.0, lost * (1.0 + 3.0 * (1.0 - a))),
        "overall.approval_share": a if a > 0 else None,
        "overall.mean_licence_wait_days": 30 + 20 * o + 10 * r,
    }
    return metrics, _timeseries(seed, int(scenario.scenario.weeks), peak)


def noisy_linear(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """y = 10 a + noise(sd 1): a known mean per point, for confidence-interval coverage tests."""
    a, _, _ = _inputs(scenario)
    rng = np.random.default_rng(seed)
    return {"y": 10.0 * a + rng.normal(0.0, 1.0)}, None


def ishigami(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """The Ishigami function (a = 7, b = 0.1) with x_i = -pi + 2 pi u_i, u_i the three licensing inputs.

    Known indices: S1 = (0.314, 0.442, 0), ST = (0.558, 0.442, 0.244); deterministic (the seed is unused).
    """
    u = _inputs(scenario)
    x1, x2, x3 = (-math.pi + 2 * math.pi * v for v in u)
    y = math.sin(x1) + 7.0 * math.sin(x2) ** 2 + 0.1 * x3**4 * math.sin(x1)
    return {"y": y}, None


def interaction(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """y = 4 u1 + u2 + 2 u1 u2 (u3 inert): a clear Morris ranking u1 > u2 > u3 = 0, with sigma(u3) = 0."""
    u1, u2, _ = _inputs(scenario)
    return {"y": 4.0 * u1 + u2 + 2.0 * u1 * u2}, None


def failing(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """Like `analytic`, but raises for approval rates below 0.3."""
    a, _, _ = _inputs(scenario)
    if a < 0.3:
        raise RuntimeError(f"model blew up at approval_rate={a}")
    return analytic(scenario, seed)


def crash_always(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """Kills its own process (like a segfault or the OOM killer) for approval rates below 0.3."""
    a, _, _ = _inputs(scenario)
    if a < 0.3:
        os._exit(137)
    return analytic(scenario, seed)


def crash_once(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """Kills its process the first time it runs a seed with approval rate below 0.3; succeeds on the retry."""
    a, o, r = _inputs(scenario)
    folder = os.environ.get("REFLOW_FAKE_MARKERS")
    if a < 0.3 and folder:
        marker = Path(folder) / f"{seed}-{a}-{o}-{r}.marker"
        if not marker.exists():
            marker.touch()
            os._exit(137)
    return analytic(scenario, seed)


def hang(scenario: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """Never returns for approval rates below 0.3 (for timeout tests)."""
    a, _, _ = _inputs(scenario)
    if a < 0.3:
        while True:
            time.sleep(1)
    return analytic(scenario, seed)


def write_fake_sweep(folder: str | os.PathLike[str], sweep: str, weeks: int = 8) -> Path:
    """Write a minimal base scenario and a sweep file into `folder`; return the sweep file's path.

    Args:
        folder: where to write ``base.toml`` and ``sweep.toml``.
        sweep: the sweep TOML body without ``base`` (``[sweep]`` needs ``name``; ``base = "base.toml"`` is
            added).
        weeks: horizon of the base scenario.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.toml").write_text(
        f'[scenario]\nname = "fake_base"\nstart = 2024-01-01\nweeks = {int(weeks)}\n', encoding="utf-8")
    body = sweep.replace("[sweep]\n", '[sweep]\nbase = "base.toml"\n', 1)
    path = folder / "sweep.toml"
    path.write_text(body, encoding="utf-8")
    return path


class StopAfter(Executor):
    """An executor that runs tasks here and raises KeyboardInterrupt after `n` results, like Ctrl-C mid-sweep."""

    description = "test"

    def __init__(self, n: int) -> None:
        self.n = n

    def run(self, tasks: Any) -> Any:
        for i, batch in enumerate(InProcessExecutor(flush_s=0).run(tasks)):
            if i == self.n:
                raise KeyboardInterrupt
            yield batch
