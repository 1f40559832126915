"""Executors: run sweep tasks somewhere and hand back results as they finish.

All executors share one interface, EMA Workbench style (sequential, multiprocessing, distributed evaluators are
swappable): ``executor.run(tasks)`` is an iterator of *batches* (lists) of `RunResult`, one batch per wake-up,
so the caller can persist everything that finished at once in one write. Every task yields exactly one result:
``ok`` or ``error`` from the run itself, ``crashed`` when its worker died more than ``max_attempts`` times, or
``timeout``.

- `InProcessExecutor`: runs in the calling process (``--workers 0``): for debugging; no fault isolation.
- `ProcessExecutor` (default): ``spawn``-ed local worker processes, one task at a time each, fed through pipes.
  It is a small pool of our own rather than ``concurrent.futures.ProcessPoolExecutor`` because that pool breaks
  as a whole when one worker dies (every run in flight fails and nobody knows which run killed it). Here a dead
  worker costs only its own run, which is retried (bounded) on a fresh worker; a run over ``timeout`` seconds has
  its worker killed; workers ignore Ctrl-C, and exit when the sweep process dies (their pipe closes).
- `DaskExecutor`: an existing Dask cluster (``--scheduler tcp://host:8786``) or an embedded ``LocalCluster``
  (``--scheduler local``). Dask itself reschedules the tasks of a dead worker and gives up after
  ``distributed.scheduler.allowed-failures`` (``KilledWorker``); since it blames every task the dead worker
  held, each such run is tried once more alone at the end, and recorded as ``crashed`` if it kills that worker
  too.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from multiprocessing.connection import wait
from typing import Any

from reflow.errors import ReflowError
from reflow.experiment.runner import RunResult, RunTask, execute, resolve_runner

__all__ = ["DaskExecutor", "Executor", "InProcessExecutor", "ProcessExecutor", "make_executor"]

logger = logging.getLogger(__name__)


class Executor:
    """Base class: ``run(tasks)`` yields batches of results; ``workers`` is the parallelism."""

    workers: int = 1
    description: str = ""

    def run(self, tasks: Sequence[RunTask]) -> Iterator[list[RunResult]]:  # pragma: no cover - interface
        raise NotImplementedError


class InProcessExecutor(Executor):
    """Runs tasks one after another in this process.

    Results are handed back at least every `flush_s` seconds (a kill loses at most that much work), so that very
    cheap runs are not dominated by one store write each.
    """

    description = "this process (no workers)"

    def __init__(self, flush_s: float = 0.25) -> None:
        self.flush_s = flush_s

    def run(self, tasks: Sequence[RunTask]) -> Iterator[list[RunResult]]:
        batch: list[RunResult] = []
        last = time.monotonic()
        for task in tasks:
            batch.append(execute(task))
            if time.monotonic() - last >= self.flush_s:
                yield batch
                batch, last = [], time.monotonic()
        if batch:
            yield batch


# ----------------------------------------------------------------------------------------------- local processes


def _worker_main(conn: Any) -> None:
    """Loop of a local worker process: receive a task, send its result; exit on None or a closed pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    import pandas  # noqa: F401 - warm up: every run needs these, and --timeout should not count their import

    import reflow.config  # noqa: F401

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            with contextlib.suppress(Exception):  # import the run function now; a failure shows in execute()
                resolve_runner(task.runner)
            conn.send(("start", None))  # the time limit counts from here, not from the worker's start-up
            result = execute(task)
            conn.send(("done", result))
        except (BrokenPipeError, OSError):
            return


#: One BLAS/OpenMP thread per worker process (as Dask's nanny does): with one worker per core, multi-threaded
#: numpy in every worker oversubscribes the cores (measured: runs 2.6x slower with 2 workers on 2 cores).
#: Values the user has set are kept.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    added = {k: v for k, v in WORKER_ENV.items() if k not in os.environ}
    os.environ.update(added)  # a spawned child starts with the parent's environment
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


class _Worker:
    def __init__(self, ctx: Any) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.conn = parent
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True, name="reflow-sweep-worker")
        with _worker_environment():
            self.proc.start()
        child.close()
        self.task: RunTask | None = None
        self.started: float | None = None  # when the worker began the current task

    def assign(self, task: RunTask) -> None:
        self.task = task
        self.started = None
        self.conn.send(task)

    def receive(self) -> RunResult | None:
        """Read what the worker sent; the task's result once it is done."""
        while self.conn.poll():
            kind, payload = self.conn.recv()
            if kind == "start":
                self.started = time.monotonic()
            else:
                return payload
        return None

    def stop(self, kill: bool = False) -> None:
        if kill:
            if self.proc.is_alive():
                self.proc.kill()
        else:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.proc.join(timeout=0 if kill else 2.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5.0)
        self.conn.close()


class ProcessExecutor(Executor):
    """Local ``spawn`` worker processes with per-run fault isolation.

    Args:
        workers: number of worker processes (default: all cores).
        max_attempts: tries per run when its worker dies (the run is then recorded as ``crashed``).
        timeout: seconds a run may take before its worker is killed (None: no limit).
    """

    def __init__(self, workers: int | None = None, max_attempts: int = 3, timeout: float | None = None) -> None:
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.max_attempts = max(1, int(max_attempts))
        self.timeout = timeout
        self.description = f"{self.workers} local worker process{'es' if self.workers != 1 else ''}"

    def run(self, tasks: Sequence[RunTask]) -> Iterator[list[RunResult]]:
        ctx = multiprocessing.get_context("spawn")
        queue: deque[RunTask] = deque(tasks)
        attempts: dict[str, int] = {}
        startup_deaths = 0  # consecutive workers that died before starting a run
        pool = [_Worker(ctx) for _ in range(min(self.workers, len(queue)))]
        try:
            while queue or any(w.task is not None for w in pool):
                for w in pool:
                    if w.task is None and queue:
                        w.assign(queue.popleft())
                busy = [w for w in pool if w.task is not None]
                wait_s = None
                running = [w.started for w in busy if w.started is not None]
                if self.timeout is not None and running:
                    wait_s = max(0.0, min(running) + self.timeout - time.monotonic()) + 0.01
                wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=wait_s)
                batch: list[RunResult] = []
                for i, w in enumerate(pool):
                    task = w.task
                    if task is None:
                        continue
                    result: RunResult | None = None
                    dead = False
                    try:
                        result = w.receive()
                        if w.started is not None:
                            startup_deaths = 0
                        if result is None and not w.proc.is_alive():
                            dead = True
                    except (EOFError, OSError):
                        dead = True
                    if result is not None:
                        result.attempts = attempts.get(task.run_id, 0) + 1
                        batch.append(result)
                        w.task = None
                        continue
                    timed_out = (not dead and self.timeout is not None and w.started is not None
                                 and time.monotonic() - w.started > self.timeout)
                    if not (dead or timed_out):
                        continue
                    w.stop(kill=True)
                    if dead and w.started is None:  # died before starting the run: the worker cannot start
                        startup_deaths += 1
                        if startup_deaths > 2 * len(pool) + 1:
                            raise ReflowError(
                                f"sweep worker processes die on start-up (exit code {w.proc.exitcode}); see the "
                                "messages above; try --workers 0 to run in this process and see the error")
                        queue.appendleft(task)
                        pool[i] = _Worker(ctx)
                        continue
                    pool[i] = _Worker(ctx)
                    n = attempts[task.run_id] = attempts.get(task.run_id, 0) + 1
                    if timed_out:
                        batch.append(RunResult(task.run_id, "timeout", attempts=n,
                                               error=f"run exceeded the time limit of {self.timeout:g} s",
                                               wall_time_s=self.timeout))
                    elif n < self.max_attempts:
                        logger.warning("worker running %s died (exit code %s); retrying (attempt %d of %d)",
                                       task.run_id, w.proc.exitcode, n + 1, self.max_attempts)
                        queue.appendleft(task)
                    else:
                        batch.append(RunResult(
                            task.run_id, "crashed", attempts=n,
                            error=f"worker process died {n} times running this run (last exit code "
                                  f"{w.proc.exitcode}): a crash in native code or the OOM killer?"))
                if batch:
                    yield batch
        finally:
            for w in pool:
                w.stop(kill=w.task is not None)


# ----------------------------------------------------------------------------------------------- dask


class DaskExecutor(Executor):
    """Runs tasks on a Dask cluster.

    Args:
        address: scheduler address (``tcp://host:8786``); ``None`` or ``"local"`` starts a ``LocalCluster`` of
            `workers` single-threaded worker processes for the duration of the sweep.
        workers: LocalCluster size (default: all cores); ignored for an existing cluster.
        timeout: seconds to wait for the scheduler to answer.
    """

    def __init__(self, address: str | None = None, workers: int | None = None, timeout: float = 20.0) -> None:
        self.address = None if address in (None, "", "local") else address
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.connect_timeout = timeout
        self.description = (f"Dask cluster at {self.address}" if self.address
                            else f"Dask LocalCluster of {self.workers} worker process(es)")

    def _connect(self) -> tuple[Any, Any]:
        from distributed import Client, LocalCluster

        if self.address is None:
            cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0")
            return Client(cluster), cluster
        try:
            client = Client(self.address, timeout=f"{self.connect_timeout}s")
        except (OSError, TimeoutError) as exc:
            raise ReflowError(f"--scheduler {self.address}: cannot reach a Dask scheduler there ({exc}); start one "
                              "with `dask scheduler` and workers with `dask worker ADDRESS`") from None
        return client, None

    @staticmethod
    def _outcome(fut: Any, task: RunTask) -> RunResult | None:
        """The result of a finished future; None when Dask gave up because workers died (KilledWorker)."""
        from distributed.scheduler import KilledWorker

        if fut.status == "finished":
            return fut.result()
        if fut.status == "cancelled":  # we did not cancel it: the client lost the scheduler
            raise ReflowError(f"Dask cancelled run {task.run_id} (lost the scheduler?); the finished runs are "
                              "stored: re-run the same command to resume")
        exc = fut.exception()
        if isinstance(exc, KilledWorker):
            return None
        if isinstance(exc, ImportError):
            raise ReflowError(f"the Dask workers cannot import reflow ({exc}); install reflow in the workers' "
                              "environment") from None
        return RunResult(task.run_id, "crashed", error=f"{type(exc).__name__}: {exc}"[:2000])

    def run(self, tasks: Sequence[RunTask]) -> Iterator[list[RunResult]]:
        import distributed
        from distributed import as_completed

        client, cluster = self._connect()
        pending: dict[str, tuple[Any, RunTask]] = {}
        try:
            nthreads = sum(client.nthreads().values())
            if self.address is not None:
                self.workers = max(1, nthreads)
                self.description = f"Dask cluster at {self.address} ({nthreads} threads)"
            window = max(4, 2 * max(1, nthreads))
            todo = iter(tasks)
            token = uuid.uuid4().hex[:8]
            ac = as_completed()

            def submit(n: int) -> None:
                for task in todo:
                    fut = client.submit(execute, task, key=f"reflow-run-{token}-{task.run_id}", pure=False)
                    pending[fut.key] = (fut, task)
                    ac.add(fut)
                    n -= 1
                    if n <= 0:
                        return

            submit(window)
            suspects: list[RunTask] = []
            for futures in ac.batches():
                batch: list[RunResult] = []
                for fut in futures:
                    _, task = pending.pop(fut.key)
                    result = self._outcome(fut, task)
                    if result is None:  # a worker died holding it: maybe its fault, maybe a neighbour's
                        suspects.append(task)
                    else:
                        batch.append(result)
                    fut.release()
                submit(len(futures))
                if batch:
                    yield batch
            # Dask blames every task a dying worker held. Run each suspect once more, alone on the cluster:
            # the run that kills its worker again is the culprit (recorded as crashed), the others finish.
            for task in suspects:
                fut = client.submit(execute, task, key=f"reflow-retry-{token}-{task.run_id}", pure=False)
                pending[fut.key] = (fut, task)
                distributed.wait(fut)
                pending.pop(fut.key)
                result = self._outcome(fut, task)
                fut.release()
                yield [result or RunResult(task.run_id, "crashed", attempts=2,
                                           error="Dask workers died running this run, also when it ran alone "
                                                 "(KilledWorker): a crash in native code or the OOM killer?")]
        finally:
            try:
                if pending:
                    client.cancel([f for f, _ in pending.values()], force=True)
            except Exception:
                logger.debug("cancelling Dask futures failed", exc_info=True)
            client.close()
            if cluster is not None:
                cluster.close()


def make_executor(workers: int | None = None, scheduler: str | None = None, max_attempts: int = 3,
                  timeout: float | None = None) -> Executor:
    """The executor for the CLI's ``--workers`` / ``--scheduler`` options.

    Args:
        workers: local worker processes (None: all cores; 0: run in this process).
        scheduler: a Dask scheduler address, or ``"local"`` for an embedded LocalCluster.
        max_attempts: tries per run when a local worker dies.
        timeout: per-run time limit in seconds (local processes only).
    """
    if scheduler:
        return DaskExecutor(scheduler, workers)
    if workers is not None and workers < 0:
        raise ReflowError(f"--workers {workers}: must be 0 (this process) or more")
    if workers == 0:
        return InProcessExecutor()
    return ProcessExecutor(workers, max_attempts=max_attempts, timeout=timeout)
