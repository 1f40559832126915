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
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["WarmPool", "default_workers", "fork_map", "in_worker"]

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


def _fork_workers(n_tasks: int, workers: int | None) -> int | None:
    """How many processes to fork for `n_tasks`, or None to work in this process (one worker, no safe `fork`,
    already in a worker)."""
    n = default_workers(n_tasks, workers)
    forkable = sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods()
    return None if n == 1 or _IN_WORKER or not forkable else n


def fork_map(task: Callable[[int], Any], n_tasks: int, workers: int | None = None) -> list[Any]:
    """`[task(i) for i in range(n_tasks)]`, spread over forked processes when that helps and is possible.

    Args:
        task: the work for one index; its result must pickle. Exceptions propagate to the caller.
        n_tasks: how many indices.
        workers: processes at once (default: the CPU count up to 4; 1 runs here).
    """
    global _TASK
    n = _fork_workers(n_tasks, workers)
    if n is None:
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


def _warm(modules: tuple[str, ...], one_at_a_time: Any, parent: int) -> None:
    global _IN_WORKER
    _IN_WORKER = True
    import importlib
    import signal
    import threading

    # Ctrl-C at a terminal reaches the whole process group: the caller handles it and closes the pool (a worker
    # interrupted in its import or its wait would only print a traceback of its own).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker waits for tasks for as long as the caller simulates; if the caller dies (killed, out of memory)
    # nothing would tell it to stop.
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    with one_at_a_time:
        for name in modules:
            importlib.import_module(name)


def _exit_with(parent: int) -> None:
    import time

    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


class WarmPool:
    """Worker processes forked now, importing `modules` while the caller goes on with other work.

    `reflow run` starts one before simulating, so that matplotlib's import (about a third of a second) overlaps
    the simulation instead of following it. Unlike `fork_map`'s workers these are forked before the work
    exists: tasks and their arguments travel by pickle, so `map` takes a module-level function and small
    arguments (a file path rather than a data frame).
    """

    def __init__(self, workers: int, modules: Sequence[str]) -> None:
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("fork")
        # The workers import one after the other: together they would take the caller's core too (on two cores,
        # a run slowed by as much as the import saved); in turn they keep to the core the caller leaves free.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # as in fork_map
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_warm,
                                             initargs=(tuple(modules), ctx.Lock(), os.getpid()))
            try:
                self._pool.submit(int)  # forking "fork" pools start every worker at the first task: now
            except BaseException:  # e.g. out of processes after forking some: stop those
                # (shutdown alone leaves them waiting for tasks when the pool's manager thread never started,
                # and the interpreter's exit then waits for them forever; private: no public way to reach them)
                forked = list((getattr(self._pool, "_processes", None) or {}).values())
                self._pool.shutdown(wait=False, cancel_futures=True)
                for p in forked:
                    p.terminate()
                    p.join()
                raise

    @classmethod
    def start(cls, n_tasks: int, modules: Sequence[str], workers: int | None = None) -> WarmPool | None:
        """A pool for `n_tasks`, or None where `fork_map` would not fork (one worker, no `fork`, in a worker)."""
        n = _fork_workers(n_tasks, workers)
        return None if n is None else cls(n, modules)

    def map(self, fn: str, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        """`[fn(*a) for a in args]` in the workers; exceptions propagate (a dead worker: BrokenProcessPool).

        `fn` is named as ``"module:function"`` and looked up in the worker, so that the caller need not import
        its module (the point of the pool is that the workers do). On an exception (or Ctrl-C) the pool is
        closed first, so that, as with `fork_map`, no task is still running when the caller cleans up after it
        (a figure written into a folder the caller has just removed).
        """
        try:
            return list(self._pool.map(_call_named, [(fn, a) for a in args]))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop the workers once their current task is done (forked workers exit without interpreter shutdown)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _call_named(item: tuple[str, tuple[Any, ...]]) -> Any:
    import importlib

    target, args = item
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(*args)
