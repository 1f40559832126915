"""Executors: run sweep tasks somewhere and hand back results as they finish.

All executors share one interface, EMA Workbench style (sequential, multiprocessing, distributed evaluators are
swappable): ``executor.run(tasks)`` is an iterator of *batches* (lists) of `RunResult`, one batch per wake-up,
so the caller can persist everything that finished at once in one write. Every task yields exactly one result:
``ok`` or ``error`` from the run itself, ``crashed`` when its worker died more than ``max_attempts`` times, or
``timeout``.

- `InProcessExecutor`: runs in the calling process (``--workers 0``): for debugging; no fault isolation.
- `ProcessExecutor` (default): local worker processes, one task at a time each, fed through pipes; on Linux
  forked from a server process that has imported the model once (``forkserver``), elsewhere ``spawn``-ed.
  It is a small pool of our own rather than ``concurrent.futures.ProcessPoolExecutor`` because that pool breaks
  as a whole when one worker dies (every run in flight fails and nobody knows which run killed it). Here a dead
  worker costs only its own run, which is retried (bounded) on a fresh worker; a run over ``timeout`` seconds has
  its worker killed; workers ignore Ctrl-C, and exit when the sweep process dies (their pipe closes).
- `DaskExecutor`: an existing Dask cluster (``--scheduler tcp://host:8786``) or an embedded ``LocalCluster``
  (``--scheduler local``). Dask itself reschedules the tasks of a dead worker and gives up after
  ``distributed.scheduler.allowed-failures`` (``KilledWorker``); since it blames every task the dead worker
  held, each such run is tried alone at the end, up to ``SOLO_ATTEMPTS`` times (a worker the culprit killed may
  still be restarting, and take an innocent run down once), and recorded as ``crashed`` if it kills the worker
  every time. A run whose worker died after it finished but before its result was fetched counts the same.

`process_pool` gives code outside the sweep engine (the experiment scripts, tests) a plain
``concurrent.futures.ProcessPoolExecutor`` whose workers start the same way, never forked from the caller.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import numbers
import os
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from reflow.errors import ReflowError, UsageError, whole_number
from reflow.experiment.runner import RunResult, RunTask, execute, resolve_runner, worker_preload

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["DaskExecutor", "Executor", "InProcessExecutor", "ProcessExecutor", "make_executor", "process_pool"]

logger = logging.getLogger(__name__)

SOLO_ATTEMPTS = 2  # tries of a run Dask blamed for dead workers, alone on the cluster, before it counts as crashed


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
        try:
            for task in tasks:
                batch.append(execute(task))
                if time.monotonic() - last >= self.flush_s:
                    yield batch
                    batch, last = [], time.monotonic()
        except KeyboardInterrupt:
            # Ctrl-C lands in a run: hand back the runs finished before it (the caller stores them), then stop.
            if batch:
                yield batch
            raise
        if batch:
            yield batch


# ----------------------------------------------------------------------------------------------- local processes


def _worker_main(conn: Any, preload: Sequence[str] = (), env: dict[str, str] | None = None) -> None:
    """Loop of a local worker process: receive a task, send its result; exit on None or a closed pipe.

    Before the first task it imports what every run needs (`preload`: the run function's modules, for the model
    Mesa and the model itself; already loaded in a worker forked from the fork server), so that this happens while
    the parent prepares the sweep, not inside the first run (and --timeout does not count it). `env` is the
    parent's environment, for a worker forked from a server started earlier (a spawned one inherits it).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    if env is not None:
        _adopt_env(env)
    import pandas  # noqa: F401 - a worker that cannot import these cannot run anything: die on start-up

    import reflow.config  # noqa: F401

    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # the run imports it again and records the error as the run's
            logger.debug("preloading %s failed", name, exc_info=True)

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        try:
            with contextlib.suppress(Exception):  # import the run function now; a failure shows in execute()
                resolve_runner(task.runner)
            conn.send(("start", None))  # the time limit counts from here, not from the worker's start-up
            result = execute(task)
            conn.send(("done", result))
        except (BrokenPipeError, OSError):
            break
    # Everything is sent: skip the interpreter's teardown of numpy, pandas, Mesa... (~0.2 s the sweep would wait
    # for at its end); flush what the run function may have printed first.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


#: One BLAS/OpenMP thread per worker process (as Dask's nanny does): with one worker per core, multi-threaded
#: numpy in every worker oversubscribes the cores (measured: runs 2.6x slower with 2 workers on 2 cores).
#: Values the user has set are kept.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}

#: How local workers start: ``forkserver`` forks them from a server process that has imported numpy, pandas,
#: Mesa and the model once (`reflow.experiment._preload`), so a worker is ready in milliseconds instead of the ~1 s
#: a fresh interpreter takes (POSIX only; Linux by default); ``spawn`` starts each as a fresh interpreter.
#: ``REFLOW_START_METHOD=spawn`` (or ``ProcessExecutor(start_method=...)``) overrides the default.
START_METHODS = ("forkserver", "spawn")


def default_start_method() -> str:
    """``forkserver`` on Linux, ``spawn`` elsewhere (macOS and Windows), unless ``REFLOW_START_METHOD`` says."""
    chosen = os.environ.get("REFLOW_START_METHOD", "").strip().lower()
    if chosen in START_METHODS and chosen in multiprocessing.get_all_start_methods():
        return chosen
    if sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return "spawn"


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    added = {k: v for k, v in WORKER_ENV.items() if k not in os.environ}
    os.environ.update(added)  # a spawned child (and the fork server) starts with the parent's environment
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _worker_env() -> dict[str, str]:
    return {**{k: v for k, v in WORKER_ENV.items() if k not in os.environ}, **os.environ}


def _adopt_env(env: Mapping[str, str]) -> None:
    """Make this (worker) process's environment `env`: the parent's, as `_worker_env` took it."""
    for k in set(os.environ) - set(env):
        del os.environ[k]
    os.environ.update(env)


def _source_stamp() -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of reflow's source files (~1 ms): the code the fork server has loaded."""
    import reflow

    root = os.path.dirname(os.path.abspath(reflow.__file__))
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                with contextlib.suppress(OSError):
                    st = os.stat(path)
                    out.append((path, st.st_size, st.st_mtime_ns))
    return tuple(out)


_server: dict[str, Any] = {"pid": None, "stamp": None}  # the fork server as we last started or saw it


def _forkserver_context(check_sources: bool = True) -> Any:
    """The ``forkserver`` context with its server running, started with the model preloaded.

    The server is started once per process and reused by later sweeps (their workers start in milliseconds). If
    reflow's source files changed since it imported them (a model edited between two sweeps in a notebook), it is
    restarted (`check_sources`: at the start of a sweep, not for a worker replaced mid-sweep), so a sweep never
    runs older code than spawned workers would.
    """
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    server = getattr(forkserver, "_forkserver", None)
    stamp = _source_stamp() if check_sources or _server["stamp"] is None else _server["stamp"]
    if _server["stamp"] is not None and _server["stamp"] != stamp and _server["pid"] is not None:
        stop = getattr(server, "_stop", None)
        if stop is None or multiprocessing.active_children():
            raise RuntimeError("reflow's sources changed since the fork server loaded them, and it cannot be "
                               "restarted now")
        stop()
        _server.update(pid=None, stamp=None)
    ctx.set_forkserver_preload(["reflow.experiment._preload"])  # used when the server (re)starts
    with _worker_environment():  # the server's environment: one BLAS thread, inherited by its workers
        forkserver.ensure_running()
    pid = getattr(server, "_forkserver_pid", None)
    if pid != _server["pid"] or _server["stamp"] is None:  # a new server: it loads the sources as they are now
        _server.update(pid=pid, stamp=stamp)
    return ctx


class _SpawnProcess(multiprocessing.context.SpawnProcess):
    """A spawned pool worker, born with `WORKER_ENV` in its environment (before it imports numpy), as `_Worker`."""

    def start(self) -> None:
        with _worker_environment():
            super().start()


class _SpawnContext(multiprocessing.context.SpawnContext):
    Process = _SpawnProcess


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A ``concurrent.futures.ProcessPoolExecutor`` of `workers` processes that start as the sweep workers do.

    Its context is `default_start_method`'s (``REFLOW_START_METHOD`` honoured): on Linux the workers are forked from
    the fork server, which has imported numpy, pandas, Mesa and the model once, so they are ready in milliseconds;
    elsewhere, or if the server cannot start, they are spawned. They are never forked from the calling process,
    which may run threads (Python 3.12+ warns that such a fork may deadlock the child). Each worker takes the
    caller's environment as it is now, with one BLAS thread unless the caller set otherwise (`WORKER_ENV`).

    For scripts whose tasks are plain functions of plain data: the tasks' functions must be importable in the
    workers (module-level; the workers get the caller's ``sys.path`` and, when it is a script, re-import it as
    ``__mp_main__``, so its top level must be guarded by ``if __name__ == "__main__"``). Unlike `ProcessExecutor`,
    a worker that dies breaks the whole pool.
    """
    from concurrent.futures import ProcessPoolExecutor

    ctx: Any = None
    if default_start_method() == "forkserver":
        try:
            ctx = _forkserver_context()
        except Exception as exc:  # a server that died on start-up, a platform without it...
            logger.warning("worker processes cannot start from the fork server (%s: %s); spawning them instead",
                           type(exc).__name__, exc)
    if ctx is None:
        ctx = _SpawnContext()
    return ProcessPoolExecutor(max_workers=max(1, int(workers)), mp_context=ctx, initializer=_adopt_env,
                               initargs=(_worker_env(),))


class _Worker:
    def __init__(self, ctx: Any, preload: Sequence[str] = (), env: dict[str, str] | None = None) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.conn = parent
        self.proc = ctx.Process(target=_worker_main, args=(child, tuple(preload), env), daemon=True,
                                name="reflow-sweep-worker")
        try:
            with _worker_environment():
                self.proc.start()
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self.task: RunTask | None = None
        self.started: float | None = None  # when the worker began the current task

    def assign(self, task: RunTask) -> None:
        self.task = task
        self.started = None
        with contextlib.suppress(OSError):  # it died already: the sweep loop sees it dead, the task goes back
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

    def signal_stop(self, kill: bool = False) -> None:
        """Ask the worker to exit (or kill it); `join` waits for it."""
        if kill:
            if self.proc.is_alive():
                self.proc.kill()
        else:
            with contextlib.suppress(OSError):
                self.conn.send(None)

    def join(self, timeout: float = 2.0) -> None:
        self.proc.join(timeout=timeout)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5.0)
        self.conn.close()

    def stop(self, kill: bool = False) -> None:
        self.signal_stop(kill)
        self.join(timeout=0 if kill else 2.0)


def _stop_all(workers: Sequence[_Worker], kill: bool = False) -> None:
    """Stop workers together: all are told first, then waited for (an idle worker exits in milliseconds).

    Workers running a task are killed, and all of them if `kill` (e.g. workers never used, perhaps still starting).
    """
    for w in workers:
        w.signal_stop(kill=kill or w.task is not None)
    for w in workers:
        w.join()


class ProcessExecutor(Executor):
    """Local worker processes with per-run fault isolation.

    Args:
        workers: number of worker processes (default: all cores).
        max_attempts: tries per run when its worker dies (the run is then recorded as ``crashed``).
        timeout: seconds a run may take before its worker is killed (None: no limit).
        start_method: ``"forkserver"`` or ``"spawn"`` (default: `default_start_method`). If the fork server
            cannot start workers, the executor falls back to ``spawn``.

    `start` gets the workers going ahead of `run` (``sweep()`` calls it first thing, so that their start-up overlaps
    with its own preparation): it starts the fork server, or spawns the workers. `run` stops its workers when it
    ends; `close` stops workers started but never used.
    """

    def __init__(self, workers: int | None = None, max_attempts: int = 3, timeout: float | None = None,
                 start_method: str | None = None) -> None:
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.max_attempts = max(1, int(max_attempts))
        self.timeout = timeout
        self.start_method = start_method or default_start_method()
        if self.start_method not in START_METHODS:
            raise ValueError(f"start_method {self.start_method!r}: expected one of {', '.join(START_METHODS)}")
        self._cap: int | None = None  # `limit` for the current sweep
        self._pool: list[_Worker] = []  # spawned ahead of run()
        self._preload: tuple[str, ...] = ()
        self._server_checked = False  # start() has (re)started the fork server for this sweep
        self._describe()

    def _size(self) -> int:
        return min(self.workers, self._cap) if self._cap else self.workers

    def _describe(self) -> None:
        n = self._size()
        self.description = f"{n} local worker process{'es' if n != 1 else ''}"

    def _fallback(self, exc: BaseException) -> None:
        logger.warning("sweep workers cannot start from the fork server (%s: %s); spawning them instead",
                       type(exc).__name__, exc)
        self.start_method = "spawn"

    def _new_worker(self, first: bool = False) -> _Worker:
        """A started worker; `first`: the first of a sweep (the fork server's sources are checked)."""
        if self.start_method == "forkserver":
            try:
                ctx = _forkserver_context(check_sources=first and not self._server_checked)
                return _Worker(ctx, self._preload, _worker_env())  # waits until the server has imported all
            except Exception as exc:  # a server that died on start-up, a platform without it...
                self._fallback(exc)
        return _Worker(multiprocessing.get_context("spawn"), self._preload)

    def start(self, runner: str | None = None) -> None:
        """Get the workers going now (idempotent); `runner` names the run function, whose modules they import.

        With ``forkserver``, this starts the server (if it is not running) and returns at once: the server imports
        while the caller goes on, and `run` forks the workers from it. With ``spawn``, it spawns the workers.
        """
        if runner is not None:
            self._preload = worker_preload(runner)
        if self.start_method == "forkserver":
            if not self._server_checked:
                try:
                    _forkserver_context(check_sources=True)
                    self._server_checked = True
                except Exception as exc:
                    self._fallback(exc)
            if self.start_method == "forkserver":
                return
        while len(self._pool) < self._size():
            self._pool.append(self._new_worker())

    def limit(self, workers: int) -> None:
        """Use at most `workers` processes until the next `run` ends (e.g. no more than a sweep has runs left);
        stops any surplus `start` spawned."""
        self._cap = max(1, int(workers))
        self._describe()
        n = self._size()
        surplus, self._pool = self._pool[n:], self._pool[:n]
        _stop_all(surplus, kill=True)

    def _reset(self) -> None:
        self._server_checked = False
        self._cap = None
        self._describe()

    def close(self) -> None:
        """Stop workers that `start` spawned and `run` has not used."""
        pool, self._pool = self._pool, []
        self._reset()
        _stop_all(pool, kill=True)

    def run(self, tasks: Sequence[RunTask]) -> Iterator[list[RunResult]]:
        queue: deque[RunTask] = deque(tasks)
        attempts: dict[str, int] = {}
        startup_deaths = 0  # consecutive workers that died before starting a run
        if queue and not self._preload:
            self._preload = worker_preload(queue[0].runner)
        size = min(self._size(), len(queue))
        pool, surplus = self._pool[:size], self._pool[size:]
        self._pool = []
        _stop_all(surplus, kill=True)
        pool += [self._new_worker(first=not pool and i == 0) for i in range(size - len(pool))]
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
                                "messages above; try --workers 0 to run in this process and see the error (from a "
                                "Python script, the call to sweep must be under `if __name__ == \"__main__\":`, "
                                "since workers import the script)")
                        queue.appendleft(task)
                        pool[i] = self._new_worker()
                        continue
                    pool[i] = self._new_worker()
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
            self._reset()
            _stop_all(pool)


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
            try:
                return fut.result()
            except KilledWorker:  # finished, but its worker died before the result was fetched, and the
                return None       # recomputation Dask then started was lost to dying workers too
        if fut.status == "cancelled":  # we did not cancel it: the client lost the scheduler
            raise ReflowError(f"Dask cancelled run {task.run_id} (lost the scheduler?); the finished runs are "
                              "stored: re-run the same command to resume")
        exc = fut.exception()
        if exc is None or isinstance(exc, KilledWorker):  # None: "lost", its result died with its worker
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
            # Twice: a worker the culprit killed may still be restarting (a loaded machine misses heartbeats)
            # and take an innocent run down with it once.
            for task in suspects:
                result = None
                for attempt in range(SOLO_ATTEMPTS):
                    fut = client.submit(execute, task, key=f"reflow-retry{attempt}-{token}-{task.run_id}",
                                        pure=False)
                    pending[fut.key] = (fut, task)
                    distributed.wait(fut)
                    pending.pop(fut.key)
                    result = self._outcome(fut, task)
                    fut.release()
                    if result is not None:
                        break
                yield [result or RunResult(task.run_id, "crashed", attempts=1 + SOLO_ATTEMPTS,
                                           error="Dask workers died running this run, also when it ran alone "
                                                 f"({SOLO_ATTEMPTS} times; KilledWorker): a crash in native code "
                                                 "or the OOM killer?")]
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
    # The CLI's argparse types check these; from Python a str or a float got as far as a comparison (TypeError),
    # and a timeout of 0 or less stored every run as a 'timeout' failure.
    for option, value in (("--workers", workers), ("--max-attempts", max_attempts)):
        if value is not None and whole_number(value) is None:
            raise UsageError(f"{option} {value!r}: expected a whole number, e.g. {option} 2")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
                                or not timeout > 0):
        raise UsageError(f"--timeout {timeout!r}: a time limit per run is a number of seconds > 0, e.g. --timeout "
                         "600 (None: no limit)")
    if scheduler:
        return DaskExecutor(scheduler, workers)
    if workers is not None and workers < 0:
        raise ReflowError(f"--workers {workers}: must be 0 (this process) or more")
    if max_attempts < 1:  # it was taken as 1 without a word
        raise UsageError(f"--max-attempts {max_attempts}: must be 1 or more (tries per run when its worker dies; "
                         "1: no retry)")
    if workers == 0:
        return InProcessExecutor()
    return ProcessExecutor(workers, max_attempts=max_attempts, timeout=timeout)
