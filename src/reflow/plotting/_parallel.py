"""Map over indices in forked worker processes: the work is copied by the fork, only results are pickled.

Plotting is CPU-bound matplotlib and pandas work on data already in memory, so forking after the data is
prepared is the cheapest way to use several cores. Platforms without `fork` (Windows, and macOS where it is
unsafe) run the work in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["WarmPool", "default_workers", "fork_map", "in_worker"]

_TASK: Callable[[int], Any] | None = None
_IN_WORKER = False
# The workers find their task in `_TASK` as the fork copied it: one map at a time per process, or a thread's
# workers could fork with another thread's task, or with none (two threads of a notebook drawing at once).
_ONE_MAP = threading.Lock()


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
    with _ONE_MAP:
        _TASK = task
        try:
            return _map_forked(n, n_tasks)
        finally:
            _TASK = None


def _map_forked(n: int, n_tasks: int) -> list[Any]:
    """`fork_map`'s work once `_TASK` is set: fork `n` workers and collect their results in order."""
    from concurrent.futures import ProcessPoolExecutor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: "fork with threads"; workers compute
        ctx = multiprocessing.get_context("fork")
        pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_start_worker,
                                   initargs=(os.getpid(),))
        try:
            with _ctrl_c_held():  # the first task forks every worker
                futures = [pool.submit(_call, i) for i in range(n_tasks)]
            return [f.result() for f in futures]
        finally:
            _close(pool)


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold SIGINT back from this thread while it forks workers; the caller gets it (KeyboardInterrupt) after.

    A Ctrl-C at a terminal signals the whole process group. A worker that took it broke the pool: interrupted
    while sending a result, it left half of it in the pipe the workers share, and the pool's manager thread
    waited for the rest forever; interrupted while waiting for tasks, it died with a traceback, and the manager
    thread, finding it dead after the caller had cancelled the futures, failed (Python 3.11) without stopping
    the other workers, which the interpreter's exit then waited for forever. Blocked in the forking thread,
    the signal is blocked in each child from its first instruction until `_start_worker` ignores it.
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _start_worker(parent: int) -> None:
    """In each worker, first: ignore Ctrl-C (the caller handles it and closes the pool), exit with `parent`."""
    global _IN_WORKER
    _IN_WORKER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending SIGINT was discarded just now
    # A worker waits for tasks for as long as the caller works; if the caller dies (killed, out of memory)
    # nothing would tell it to stop (the workers hold the task pipe open themselves).
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _close(pool: Any) -> None:
    """Shut `pool` down once its running tasks are done, and stop any worker still there after.

    Workers remain when the pool's manager thread never started (the caller interrupted or out of processes
    while forking them) or ended without stopping them; they would wait for tasks forever, and the
    interpreter's exit for them. (Private attribute: there is no public way to reach the workers.)
    """
    forked = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=True, cancel_futures=True)
    for p in forked:
        if p.is_alive():
            p.terminate()
            p.join()


def _warm(modules: tuple[str, ...], one_at_a_time: Any, parent: int) -> None:
    import importlib

    _start_worker(parent)
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
                with _ctrl_c_held():
                    self._pool.submit(int)  # forking "fork" pools start every worker at the first task: now
            except BaseException:  # e.g. out of processes after forking some: stop those
                _close(self._pool)
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
        _close(self._pool)


def _call_named(item: tuple[str, tuple[Any, ...]]) -> Any:
    import importlib

    target, args = item
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(*args)
