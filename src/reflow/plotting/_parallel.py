"""Map over indices in forked worker processes: the work is copied by the fork, only results are pickled.

Plotting is CPU-bound matplotlib and pandas work on data already in memory, so forking after the data is
prepared is the cheapest way to use several cores. Platforms without `fork` (Windows, and macOS where it is
unsafe) run the work in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["default_workers", "fork_map", "in_worker"]

_TASK: Callable[[int], Any] | None = None
_IN_WORKER = False


def default_workers(n_tasks: int, workers: int | None = None) -> int:
    """Processes for `n_tasks`: `workers` if given, else the CPU count up to 4; never more than tasks."""
    n = workers if workers is not None else min(os.cpu_count() or 1, 4)
    return max(1, min(n, n_tasks))


def in_worker() -> bool:
    """True inside a worker of `fork_map` (where libraries should not start thread pools of their own)."""
    return _IN_WORKER


def _call(i: int) -> Any:
    global _IN_WORKER
    _IN_WORKER = True
    assert _TASK is not None
    return _TASK(i)


def fork_map(task: Callable[[int], Any], n_tasks: int, workers: int | None = None) -> list[Any]:
    """`[task(i) for i in range(n_tasks)]`, spread over forked processes when that helps and is possible.

    Args:
        task: the work for one index; its result must pickle. Exceptions propagate to the caller.
        n_tasks: how many indices.
        workers: processes at once (default: the CPU count up to 4; 1 runs here).
    """
    global _TASK
    n = default_workers(n_tasks, workers)
    forkable = sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods()
    if n == 1 or _IN_WORKER or not forkable:
        return [task(i) for i in range(n_tasks)]
    from concurrent.futures import ProcessPoolExecutor

    _TASK = task
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: "fork with threads"; workers compute
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
                return list(pool.map(_call, range(n_tasks)))
    finally:
        _TASK = None
