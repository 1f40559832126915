"""Running sweeps: the store, resume, failing / crashing / hanging runs, interrupts and the CLI.

These use the cheap run functions in `reflow.experiment.fakes`, so they test the machinery, not the model.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reflow.cli import main
from reflow.errors import ReflowError, ResultExistsError, ResultReadError
from reflow.experiment import load_runs, sweep
from reflow.experiment.executors import START_METHODS, ProcessExecutor
from reflow.experiment.fakes import StopAfter, write_fake_sweep
from reflow.experiment.store import SweepStore

FAKES = "reflow.experiment.fakes"

GRID = """[sweep]
name = "grid"
replicates = 3
root_seed = 42

[[parameters]]
key = "licensing.approval_rate"
values = [0.2, 0.5, 0.8]

[[parameters]]
key = "licensing.overrun_probability"
low = 0.0
high = 0.4
steps = 3
"""

TIMESERIES = """
[outputs]
timeseries = true
timeseries_every_weeks = 4
"""


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["wall_time_s", "cpu_time_s"]).sort_values("run_id").reset_index(drop=True)


def test_sweep_stores_one_row_per_run(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID + TIMESERIES, weeks=10)
    res = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    assert res.planned == 27 and res.ran == 27 and res.counts == {"ok": 27}
    runs = pd.read_parquet(tmp_path / "out" / "runs")  # the one line of pandas analysts use
    assert len(runs) == 27 and runs["run_id"].is_unique
    assert {"run_id", "point_id", "replicate", "seed", "status", "error", "wall_time_s", "overrides",
            "licensing.approval_rate", "licensing.overrun_probability",
            "dy_oxide.peak_price_multiple", "overall.approval_share"} <= set(runs.columns)
    assert runs["seed"].dtype == "int64"
    # common random numbers: one seed per replicate, shared by every point
    assert runs.groupby("replicate")["seed"].nunique().eq(1).all()
    assert runs["seed"].nunique() == 3
    row = runs[runs["run_id"] == "p000004-r0001"].iloc[0]
    assert json.loads(row["overrides"]) == {"licensing.approval_rate": 0.5, "licensing.overrun_probability": 0.2}
    ts = pd.read_parquet(tmp_path / "out" / "timeseries")
    assert set(ts["run_id"]) == set(runs["run_id"])
    assert sorted(ts["week"].unique()) == [0, 4, 8]  # 10 weekly values down-sampled to 4-week blocks
    for name in ("sweep.toml", "manifest.json", "design.parquet", "base.toml"):
        assert (tmp_path / "out" / name).is_file()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["root_seed"] == 42
    assert manifest["counts"] == {"ok": 27}


def test_results_do_not_depend_on_the_executor(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    a = sweep(cfg, out=tmp_path / "a", workers=0, progress=False, runner=f"{FAKES}:analytic")
    b = sweep(cfg, out=tmp_path / "b", workers=2, progress=False, runner=f"{FAKES}:analytic")
    pd.testing.assert_frame_equal(_comparable(a.runs), _comparable(b.runs))



def test_interrupted_sweep_resumes_exactly_the_rest(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID + TIMESERIES, weeks=8)
    with pytest.raises(KeyboardInterrupt):
        sweep(cfg, out=tmp_path / "out", progress=False, runner=f"{FAKES}:analytic", executor=StopAfter(10))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert len(load_runs(tmp_path / "out")) == 10
    res = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    assert res.done_before == 10 and res.ran == 17
    # each session records the code it ran (a resume may run other code than the runs stored before it)
    sessions = json.loads((tmp_path / "out" / "manifest.json").read_text())["sessions"]
    assert len(sessions) == 2 and all({"git_commit", "git_dirty", "reflow_version"} <= set(x) for x in sessions)
    assert all(x["numpy_version"] == np.__version__ for x in sessions)  # its random streams (NEP 19)
    full = sweep(cfg, out=tmp_path / "full", workers=0, progress=False, runner=f"{FAKES}:analytic")
    pd.testing.assert_frame_equal(_comparable(res.runs), _comparable(full.runs))
    ts = pd.read_parquet(tmp_path / "out" / "timeseries")
    assert len(ts) == len(pd.read_parquet(tmp_path / "full" / "timeseries"))
    again = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    assert again.ran == 0 and len(again.runs) == 27


def test_failing_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    res = sweep(cfg, out=tmp_path / "out", workers=2, progress=False, runner=f"{FAKES}:failing")
    runs = res.runs
    bad = runs[runs["licensing.approval_rate"] == 0.2]
    assert (bad["status"] == "error").all() and len(bad) == 9
    assert bad["error"].str.contains("RuntimeError: model blew up").all()
    assert bad["dy_oxide.peak_price_multiple"].isna().all()
    assert (runs.loc[runs["licensing.approval_rate"] > 0.2, "status"] == "ok").all()
    log = (tmp_path / "out" / "errors.log").read_text()
    assert "Traceback" in log and "p000000-r0000" in log
    # resuming does not re-run failures unless asked; --retry-failed does
    assert sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:failing").ran == 0
    # `analytic` is `failing` fixed; another run function, so mixing their runs must be asked for
    fixed = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic",
                  retry_failed=True, allow_runner_change=True)
    assert fixed.ran == 9 and fixed.counts == {"ok": 27}
    assert len(fixed.runs) == 27 and fixed.runs["run_id"].is_unique


def test_a_killed_worker_is_replaced_and_its_run_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("REFLOW_FAKE_MARKERS", str(tmp_path))
    cfg = write_fake_sweep(tmp_path, GRID.replace("replicates = 3", "replicates = 1"), weeks=8)
    res = sweep(cfg, out=tmp_path / "out", workers=2, progress=False, runner=f"{FAKES}:crash_once")
    assert res.counts == {"ok": 9}
    assert len(list(tmp_path.glob("*-0.2-*.marker"))) == 3  # each of those runs killed its worker once


def test_a_run_that_always_kills_its_worker_is_given_up_on(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID.replace("replicates = 3", "replicates = 1"), weeks=8)
    res = sweep(cfg, out=tmp_path / "out", workers=2, progress=False, runner=f"{FAKES}:crash_always",
                max_attempts=2)
    runs = res.runs
    crashed = runs[runs["status"] == "crashed"]
    assert sorted(crashed["licensing.approval_rate"].unique()) == [0.2] and len(crashed) == 3
    assert crashed["error"].str.contains("died 2 times").all()
    assert (runs[runs["licensing.approval_rate"] > 0.2]["status"] == "ok").all()


def test_workers_that_cannot_start_stop_the_sweep(tmp_path, monkeypatch):
    """A broken worker environment is one clear error, not every run crashing (or workers respawning forever)."""
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pandas.py").write_text("raise SystemExit(3)\n")  # workers import pandas before their first run
    monkeypatch.syspath_prepend(str(broken))  # spawned workers start with the parent's sys.path
    with pytest.raises(ReflowError, match="die on start-up"):
        sweep(cfg, out=tmp_path / "out", progress=False, runner=f"{FAKES}:analytic",
              executor=ProcessExecutor(2, start_method="spawn"))
    assert len(load_runs(tmp_path / "out")) == 0


@pytest.mark.parametrize("method", START_METHODS)
def test_workers_that_die_before_their_first_run_stop_the_sweep(tmp_path, monkeypatch, method):
    """Also workers forked from the fork server (which has pandas loaded already): the run function's module,
    imported as a worker starts, kills it."""
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    # importable here (the sweep checks --runner before it starts), fatal in every worker process
    (tmp_path / "doomed_runner.py").write_text(
        "import multiprocessing\n"
        "if multiprocessing.parent_process() is not None:\n    raise SystemExit(3)\n"
        "from reflow.experiment.fakes import analytic as run\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ReflowError, match="die on start-up"):
        sweep(cfg, out=tmp_path / "out", progress=False, runner="doomed_runner:run",
              executor=ProcessExecutor(2, start_method=method))
    assert len(load_runs(tmp_path / "out")) == 0


def test_fork_server_failure_falls_back_to_spawn(tmp_path, monkeypatch):
    from reflow.experiment import executors

    def broken(check_sources=True):
        raise EOFError("the fork server died")

    monkeypatch.setattr(executors, "_forkserver_context", broken)
    cfg = write_fake_sweep(tmp_path, GRID.replace("replicates = 3", "replicates = 1"), weeks=8)
    ex = ProcessExecutor(2, start_method="forkserver")
    res = sweep(cfg, out=tmp_path / "out", progress=False, runner=f"{FAKES}:analytic", executor=ex)
    assert res.counts == {"ok": 9} and ex.start_method == "spawn"


@pytest.mark.skipif("forkserver" not in START_METHODS or sys.platform != "linux", reason="fork server: Linux")
def test_fork_server_is_reused_and_restarted_when_sources_change(tmp_path, monkeypatch):
    """Workers of a later sweep fork from the same server, unless reflow's sources changed since it loaded them
    (then it is restarted: a sweep never runs older code than spawned workers would). The parent's environment
    reaches forked workers as it is now, not as it was when the server started."""
    from reflow.experiment import executors

    cfg = write_fake_sweep(tmp_path, GRID.replace("replicates = 3", "replicates = 1"), weeks=8)

    def run(name):
        return sweep(cfg, out=tmp_path / name, progress=False, runner=f"{FAKES}:analytic",
                     executor=ProcessExecutor(2, start_method="forkserver"))

    stamp = executors._source_stamp()
    monkeypatch.setattr(executors, "_source_stamp", lambda: stamp)  # nobody else's edits restart it meanwhile
    assert run("a").counts == {"ok": 9}
    first = executors._server["pid"]
    assert first is not None
    assert run("b").counts == {"ok": 9} and executors._server["pid"] == first
    monkeypatch.setattr(executors, "_source_stamp", lambda: (*stamp, ("edited.py", 1, 1)))
    monkeypatch.setenv("REFLOW_FAKE_MARKERS", str(tmp_path))  # crash_once leaves its markers there
    res = sweep(cfg, out=tmp_path / "c", progress=False, runner=f"{FAKES}:crash_once",
                executor=ProcessExecutor(2, start_method="forkserver"))
    assert res.counts == {"ok": 9} and len(list(tmp_path.glob("*.marker"))) == 3
    assert executors._server["pid"] not in (None, first)


def _what_a_pool_worker_sees(_: int) -> tuple[bool, str | None, str | None]:
    return "_reflow_caller_only" in sys.modules, os.environ.get("REFLOW_TEST_POOL"), os.environ.get("OMP_NUM_THREADS")


@pytest.mark.parametrize("method", START_METHODS)
def test_process_pool_workers_start_as_sweep_workers_never_forked_from_the_caller(monkeypatch, method):
    """The experiment scripts' pools (`process_pool`) take the start method the sweep engine takes
    (REFLOW_START_METHOD honoured): a worker forked from the caller would have the caller's modules, and on Python
    3.12+ forking a process that runs threads warns that the child may deadlock. Workers get the caller's
    environment as it is when the pool is made, with one BLAS thread."""
    import types
    import warnings

    from reflow.experiment.executors import process_pool

    monkeypatch.setenv("REFLOW_START_METHOD", method)
    monkeypatch.setitem(sys.modules, "_reflow_caller_only", types.ModuleType("_reflow_caller_only"))
    monkeypatch.setenv("REFLOW_TEST_POOL", "set after the fork server started")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with process_pool(2) as pool:
            seen = set(pool.map(_what_a_pool_worker_sees, range(4)))
    assert seen == {(False, "set after the fork server started", "1")}
    assert not [w for w in caught if "fork()" in str(w.message)]
    assert os.environ.get("OMP_NUM_THREADS") is None  # the caller's own environment is left as it was


@pytest.mark.parametrize("method", START_METHODS)
def test_workers_started_early_are_stopped_when_the_sweep_fails_to_start(tmp_path, method):
    """sweep() gets its workers going before it reads the config; a sweep that stops there leaves no process."""
    import multiprocessing

    cfg = write_fake_sweep(tmp_path, GRID.replace("values = [0.2, 0.5, 0.8]", "values = [0.2, 1.5]"))
    with pytest.raises(ReflowError, match="invalid scenarios"):
        sweep(cfg, out=tmp_path / "out", progress=False, runner=f"{FAKES}:analytic",
              executor=ProcessExecutor(2, start_method=method))
    assert not [c for c in multiprocessing.active_children() if c.name == "reflow-sweep-worker"]


def test_no_more_workers_than_runs_left(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    with pytest.raises(KeyboardInterrupt):
        sweep(cfg, out=tmp_path / "out", progress=False, runner=f"{FAKES}:analytic", executor=StopAfter(26))
    ex = ProcessExecutor(2)
    res = sweep(cfg, out=tmp_path / "out", progress=False, runner=f"{FAKES}:analytic", executor=ex)
    assert res.ran == 1 and res.engine == "1 local worker process"
    assert ex.description == "2 local worker processes"  # for this sweep only: the executor can be reused


def test_a_hanging_run_times_out(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID.replace("replicates = 3", "replicates = 1")
                           .replace("values = [0.2, 0.5, 0.8]", "values = [0.2, 0.8]")
                           .replace("steps = 3", "steps = 2"), weeks=8)
    t0 = time.monotonic()
    res = sweep(cfg, out=tmp_path / "out", workers=2, progress=False, runner=f"{FAKES}:hang", timeout=3.0)
    assert time.monotonic() - t0 < 30
    assert res.counts == {"timeout": 2, "ok": 2}


def test_resume_refuses_a_changed_sweep_and_extends_replicates(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    first = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    cfg.write_text(cfg.read_text().replace("values = [0.2, 0.5, 0.8]", "values = [0.2, 0.5, 0.9]"))
    with pytest.raises(ReflowError, match="different sweep"):
        sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    with pytest.raises(ReflowError, match="different sweep"):
        sweep(tmp_path / "sweep.toml", out=tmp_path / "out", workers=0, progress=False,
              overrides={"scenario.weeks": 9}, runner=f"{FAKES}:analytic")
    cfg.write_text(cfg.read_text().replace("0.9]", "0.8]").replace("replicates = 3", "replicates = 5"))
    more = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    assert more.ran == 18 and len(more.runs) == 45
    old = first.runs.set_index("run_id")["seed"]
    assert (more.runs.set_index("run_id")["seed"].loc[old.index] == old).all()
    # a sweep folder resumes from itself
    assert sweep(tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic").ran == 0


@pytest.mark.parametrize(("edit", "sets", "named"), [
    (("values = [0.2, 0.5, 0.8]", "values = [0.2, 0.5, 0.9]"), {},
     '[[parameters]] key = "licensing.approval_rate": values [0.2, 0.5, 0.8] -> [0.2, 0.5, 0.9]'),
    (("root_seed = 42", "root_seed = 43"), {}, "sweep.root_seed: 42 -> 43"),
    (("[[parameters]]", '[[parameters]]\nkey = "licensing.return_probability"\nvalues = [0.1]\n\n[[parameters]]'),
     {}, '[[parameters]] key = "licensing.return_probability": (not set) -> values = [0.1]'),
    (("", ""), {"scenario.weeks": 9}, 'sweep.set."scenario.weeks": (not set) -> 9'),
])
def test_resume_refusal_names_what_differs_and_keeps_the_runs(tmp_path, edit, sets, named):
    """It said only 'the sweep config or the --set overrides differ', leaving the user to diff the files."""
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    first = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    cfg.write_text(cfg.read_text().replace(*edit, 1))
    with pytest.raises(ReflowError, match="different sweep") as info:
        sweep(cfg, out=tmp_path / "out", workers=0, progress=False, overrides=sets, runner=f"{FAKES}:analytic")
    assert "differs from the folder's sweep.toml (before -> now): " + named in str(info.value)
    assert "--force" in str(info.value)
    pd.testing.assert_frame_equal(_comparable(load_runs(tmp_path / "out")), _comparable(first.runs))


def test_out_folder_safety(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.docx").write_text("precious")
    with pytest.raises(ResultExistsError, match="not a sweep folder"):
        sweep(cfg, out=tmp_path / "busy", workers=0, progress=False, runner=f"{FAKES}:analytic")
    # --force starts a sweep over; it never clears a folder that is not a sweep's (a run folder, someone's notes)
    (tmp_path / "busy" / "analysis").mkdir()
    (tmp_path / "busy" / "analysis" / "notes.txt").write_text("mine")
    (tmp_path / "busy" / "manifest.json").write_text('{"seed": 1}')
    with pytest.raises(ResultExistsError, match="not a sweep folder"):
        sweep(cfg, out=tmp_path / "busy", workers=0, progress=False, runner=f"{FAKES}:analytic", force=True)
    assert (tmp_path / "busy" / "analysis" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "busy" / "manifest.json").read_text() == '{"seed": 1}'
    assert (tmp_path / "busy" / "thesis.docx").read_text() == "precious"
    with SweepStore(tmp_path / "out").locked(), pytest.raises(ReflowError, match="another `reflow sweep`"):
        sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    res = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic", force=True)
    assert res.ran == 27


@pytest.mark.parametrize("force", [False, True])
def test_an_out_holding_the_sweeps_own_files_is_refused_and_they_are_kept(tmp_path, capsys, force):
    """`reflow sweep study/sweep.toml --out study` (the base at study/base.toml) replaced both hand-written files
    with the resolved config and the merged base, comments and all, without a word."""
    cfg = write_fake_sweep(tmp_path, "# why this sweep\n" + GRID, weeks=8)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    argv = ["sweep", str(cfg), "--out", str(tmp_path), "--workers", "0", "-q", "--runner", f"{FAKES}:analytic",
            *(["--force"] if force else [])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "would write its sweep.toml and base.toml over its own inputs" in err and "choose another --out" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no .lock either
    # the sweep file alone in --out (its base elsewhere) is refused too
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "sweep.toml").write_text(cfg.read_text().replace('"base.toml"', '"../base.toml"'))
    with pytest.raises(ResultExistsError, match=r"its sweep\.toml over its own input"):
        sweep(tmp_path / "study" / "sweep.toml", out=tmp_path / "study", workers=0, progress=False,
              runner=f"{FAKES}:analytic", force=force)
    # a sweep folder's own sweep.toml, given back to it, resumes (or starts over) as before
    out = tmp_path / "out"
    sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    again = sweep(out / "sweep.toml", out=out, workers=0, progress=False, runner=f"{FAKES}:analytic", force=force)
    assert again.ran == (27 if force else 0)


def test_a_folder_that_is_not_a_sweep_folder_is_refused_and_left_as_it_was(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(ResultExistsError, match="is not a sweep folder"):
            sweep(cfg, out=busy, workers=0, progress=False, runner=f"{FAKES}:analytic", force=force)
        assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]  # no .lock left in it (8c539dc)


def test_a_folder_with_a_sweep_toml_of_its_own_is_not_taken_for_a_sweep_folder(tmp_path):
    """--out a study folder holding its own sweep.toml: alone, it was taken for the leftovers of an interrupted
    set-up and deleted without a word; beside other files, the folder was 'an incomplete sweep folder (use
    --force)', and --force deleted it and the folder's analysis/ directory."""
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    study = tmp_path / "study"
    (study / "analysis").mkdir(parents=True)
    (study / "sweep.toml").write_text("# another study\n[sweep]\nname = 'other'\n")
    (study / "analysis" / "fig.txt").write_text("mine")
    for contents in ("sweep.toml and analysis/", "sweep.toml alone"):
        for force in (False, True):
            with pytest.raises(ResultExistsError, match="is not a sweep folder"):
                sweep(cfg, out=study, workers=0, progress=False, runner=f"{FAKES}:analytic", force=force)
            assert (study / "sweep.toml").read_text().startswith("# another study"), contents
            assert not (study / ".lock").exists()  # a refused folder is left as it was, with no lock file in it
        if (study / "analysis").exists():
            assert (study / "analysis" / "fig.txt").read_text() == "mine"
            shutil.rmtree(study / "analysis")
    # what an interrupted set-up leaves (its own sweep.toml, base.toml and design.parquet) still just goes
    out = tmp_path / "out"
    sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    for name in ("manifest.json", "errors.log"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "runs")
    shutil.rmtree(out / "timeseries", ignore_errors=True)
    assert sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic").ran == 27
    (out / "manifest.json").unlink()  # ... also when the sweep is given as that folder
    shutil.rmtree(out / "runs")
    assert sweep(out, workers=0, progress=False, runner=f"{FAKES}:analytic").ran == 27
    assert sweep(out, workers=0, progress=False, runner=f"{FAKES}:analytic").ran == 0  # and resumes from it
    # and a sweep folder that lost its manifest is one that --force starts over
    (out / "manifest.json").unlink()
    with pytest.raises(ResultExistsError, match="incomplete sweep folder"):
        sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    assert sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic", force=True).ran == 27


@pytest.mark.parametrize("out", ["notes.txt", "notes.txt/sweep"])
def test_an_out_that_is_a_file_is_a_usage_error_and_the_file_is_kept(tmp_path, capsys, out):
    """--out naming a file (or a path through one) was a FileExistsError traceback with exit code 1."""
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    (tmp_path / "notes.txt").write_text("mine")
    code = main(["sweep", str(cfg), "--out", str(tmp_path / out), "--workers", "0", "-q",
                 "--runner", f"{FAKES}:analytic"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"{tmp_path / 'notes.txt'} is a file, not a folder; give --out a folder" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("damage", ["no design", "bad manifest"])
def test_a_damaged_sweep_folder_is_a_clear_error_and_force_starts_it_over(tmp_path, damage):
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    out = tmp_path / "out"
    sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    if damage == "no design":
        (out / "design.parquet").unlink()
        name = "design.parquet"
    else:
        (out / "manifest.json").write_text("{bad")
        name = "manifest.json"
    with pytest.raises(ResultReadError, match=rf"{name}.*use --force to start the sweep over"):
        sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    with pytest.raises(ResultReadError):  # resumed from the folder itself, too
        sweep(out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    assert sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic", force=True).ran == 27


def test_invalid_points_fail_before_anything_runs(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID.replace("values = [0.2, 0.5, 0.8]", "values = [0.2, 1.5]"))
    with pytest.raises(ReflowError, match=r"licensing\.approval_rate = 1\.5"):
        sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    assert not (tmp_path / "out" / "runs").exists() and not (tmp_path / "out" / "sweep.toml").exists()
    cfg.write_text(cfg.read_text().replace("1.5]", "0.9]"))  # fixed: the same --out just works
    assert sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic").ran == 18


# ----------------------------------------------------------------------------------------------- CLI


def test_cli_sweep_and_analyze(tmp_path, capsys):
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    out = tmp_path / "out"
    # some runs failed: exit code 1, saying how many and where the errors are
    assert main(["sweep", str(cfg), "--out", str(out), "--workers", "0", "-q",
                 "--runner", f"{FAKES}:failing"]) == 1
    captured = capsys.readouterr()
    assert "27 of 27 runs stored (9 error, 18 ok)" in captured.out
    assert "9 of 27 runs failed" in captured.err and "errors.log" in captured.err
    assert main(["analyze", str(out), "--metric", "dy_oxide.peak_price_multiple"]) == 0
    text = capsys.readouterr().out
    assert "Per-point mean [95% CI]" in text and "licensing.approval_rate" in text
    assert (out / "analysis" / "points.csv").is_file()
    assert main(["analyze", str(out), "--reproduce", "p000004-r0001"]) == 0
    cmd = capsys.readouterr().out.strip()
    assert cmd.startswith("reflow run ") and "--set licensing.approval_rate=0.5" in cmd
    assert main(["analyze", str(out), "--metric", "nope"]) == 2
    assert "not in the sweep's results" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert main(["analyze", str(tmp_path / "nowhere")]) == 2


def _children(pid: int) -> list[int]:
    """Every descendant (workers forked from the fork server are the sweep's grandchildren)."""
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    kids = [int(x) for x in out.split()]
    return kids + [g for k in kids for g in _children(k)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _stored_rows(out: Path) -> int:
    try:
        return len(load_runs(out))
    except Exception:  # the folder may not exist yet
        return 0


def test_kill_9_mid_sweep_then_resume(tmp_path):
    """The acceptance scenario: kill -9 a sweep process half way, re-run, compare with an uninterrupted sweep."""
    body = GRID.replace("replicates = 3", "replicates = 8") + TIMESERIES
    cfg = write_fake_sweep(tmp_path, body, weeks=8)
    out = tmp_path / "out"
    env = {**os.environ, "REFLOW_FAKE_SLEEP": "0.05"}
    cmd = [sys.executable, "-m", "reflow.cli", "sweep", str(cfg), "--out", str(out), "--workers", "2", "-q",
           "--runner", f"{FAKES}:analytic"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and _stored_rows(out) < 15:
            workers = _children(proc.pid) or workers
            time.sleep(0.05)
        workers = [w for w in (_children(proc.pid) or workers)]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    stored = _stored_rows(out)
    assert 15 <= stored < 72, "the sweep should have been killed half way"
    # orphaned workers notice that the sweep is gone and exit by themselves
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "72 of 72 runs stored" in done.stdout
    resumed = load_runs(out)
    assert len(resumed) == 72 and resumed["run_id"].is_unique
    full = sweep(cfg, out=tmp_path / "full", workers=0, progress=False, runner=f"{FAKES}:analytic")
    pd.testing.assert_frame_equal(_comparable(resumed), _comparable(full.runs))
    ts = pd.read_parquet(out / "timeseries")
    assert ts.groupby("run_id").size().eq(4 * 2).all()  # 4 series x 2 blocks, no duplicates
    assert set(ts["run_id"]) == set(resumed["run_id"])


def test_ctrl_c_stops_cleanly(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID.replace("replicates = 3", "replicates = 6"), weeks=8)
    out = tmp_path / "out"
    env = {**os.environ, "REFLOW_FAKE_SLEEP": "0.2"}  # ~5 s of runs: a loaded machine still interrupts it mid-way
    cmd = [sys.executable, "-m", "reflow.cli", "sweep", str(cfg), "--out", str(out), "--workers", "2", "-q",
           "--runner", f"{FAKES}:analytic"]
    # The child starts with Ctrl-C at its default, as from a terminal: it inherits the test process's disposition,
    # and in a full run that was at times SIG_IGN (its /proc status showed SIGINT ignored; something in the test
    # process had it ignored for a moment, as C's system() does while it waits), so the signal was lost.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.monotonic()
    deadline = t0 + 60
    while time.monotonic() < deadline and _stored_rows(out) < 5:
        time.sleep(0.05)
    rows, waited, running = _stored_rows(out), time.monotonic() - t0, proc.poll() is None
    try:  # the child's signal masks (Linux): is SIGINT blocked, ignored or caught?
        masks = [ln for ln in Path(f"/proc/{proc.pid}/status").read_text().splitlines() if ln.startswith("Sig")]
    except OSError:
        masks = []
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    # If it fails again, say what the signal met.
    assert proc.returncode == 130, (f"exit {proc.returncode} after SIGINT at {rows} stored runs, {waited:.1f} s in, "
                                    f"sweep still running then: {running}; {masks}; stderr: {err!r}")
    assert "run the same command again to resume" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert 5 <= len(load_runs(out)) < 54


def test_ctrl_c_in_a_run_hands_back_the_runs_finished_before_it(monkeypatch):
    """In-process runs are handed back in batches; Ctrl-C landing in a run must not lose the batch finished
    before it (the sweep stores what it is handed)."""
    import reflow.experiment.executors as exe

    calls = {"n": 0}

    def execute(task):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return task

    monkeypatch.setattr(exe, "execute", execute)
    got: list = []
    with pytest.raises(KeyboardInterrupt):
        for batch in exe.InProcessExecutor(flush_s=3600).run(list(range(10))):
            got.extend(batch)
    assert got == [0, 1, 2, 3]


@pytest.mark.parametrize("attempts", ["0", "-2"])
def test_max_attempts_below_one_is_refused_before_anything_is_written(tmp_path, capsys, attempts):
    """It was taken as 1 without a word (a run whose worker died was never retried)."""
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    code = main(["sweep", str(cfg), "--out", str(tmp_path / "out"), "--max-attempts", attempts, "-q",
                 "--runner", f"{FAKES}:analytic"])
    assert code == 2 and f"--max-attempts {attempts}: must be 1 or more" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_resuming_a_from_csv_sweep_names_its_changed_or_missing_csv(tmp_path):
    """Both were refused as 'the sweep config or the --set overrides differ', when neither did."""
    cfg = write_fake_sweep(tmp_path, '[sweep]\nname = "csv"\nroot_seed = 1\n[design]\nmethod = "from_csv"\n'
                                     'path = "points.csv"\n', weeks=8)
    csv = tmp_path / "points.csv"
    csv.write_text("licensing.approval_rate\n0.2\n0.4\n")
    first = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    csv.write_text("licensing.approval_rate\n0.2\n0.6\n")
    with pytest.raises(ReflowError, match=f"the design CSV {csv} \\(design.path\\) has changed since the sweep"):
        sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    csv.unlink()
    for again in (cfg, tmp_path / "out"):  # the sweep file, or the folder
        with pytest.raises(ReflowError, match=f"its design CSV {csv} \\(design.path\\) is missing"):
            sweep(again, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    pd.testing.assert_frame_equal(_comparable(load_runs(tmp_path / "out")), _comparable(first.runs))


def test_a_torn_part_is_an_error_whose_advice_works(tmp_path):
    """It said 'move it away and re-run the sweep': moving it is not needed, and where to is not said."""
    from reflow.experiment import analyze

    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    out = tmp_path / "out"
    first = sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    part = next((out / "runs").glob("part-*.parquet"))
    (out / "runs" / "part-9999999999999-torn00.parquet").write_bytes(part.read_bytes()[:300])
    with pytest.raises(ResultReadError) as info:
        analyze(out)
    assert f"resume the sweep (`reflow sweep {out}`), which sets it aside" in str(info.value)
    assert sweep(out, workers=0, progress=False, runner=f"{FAKES}:analytic").ran == 0  # as advised
    pd.testing.assert_frame_equal(_comparable(load_runs(out)), _comparable(first.runs))
    assert len(analyze(out).points)


def test_an_interruption_during_the_final_merge_still_records_the_session(tmp_path, monkeypatch):
    """Ctrl-C while the finished sweep merged its parts skipped the manifest update: it said status "running",
    counts {} and a session that ran 0 runs, though every run was stored (the next session kept that record)."""
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    out = tmp_path / "out"
    merge = SweepStore.compact

    def interrupted(self, drop_run_ids=()):
        raise KeyboardInterrupt

    monkeypatch.setattr(SweepStore, "compact", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["counts"] == {"ok": 27}
    assert [(s["status"], s["ran"]) for s in manifest["sessions"]] == [("interrupted", 27)]
    monkeypatch.setattr(SweepStore, "compact", merge)
    res = sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")  # merges, runs nothing
    assert res.ran == 0 and res.counts == {"ok": 27} and len(list((out / "runs").glob("part-*"))) == 1
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_a_home_folder_out_is_expanded(tmp_path, monkeypatch):
    """out="~/sweeps/x" made a folder literally named "~" in the working folder."""
    cfg = write_fake_sweep(tmp_path / "in", GRID, weeks=8)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    res = sweep(cfg, out="~/sweeps/x", workers=0, progress=False, runner=f"{FAKES}:analytic")
    assert res.path == tmp_path / "home" / "sweeps" / "x" and (res.path / "manifest.json").is_file()
    assert not (tmp_path / "~").exists()
