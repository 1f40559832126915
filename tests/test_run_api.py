"""`reflow.run` / `reflow run`: the output contract of docs/outputs.md, no silent overwrites, atomic writes."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import reflow
from reflow import api
from reflow.cli import main
from reflow.errors import ResultExistsError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DOC = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"
SHORT = ["scenario.weeks=40", "scenario.start=2025-02-03"]


def _documented_variables() -> set[str]:
    text = DOC.read_text()
    section = text.split("## `timeseries.parquet`")[1].split("## `summary.json`")[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)) - {"week", "date", "variable", "material",
                                                                          "origin", "region", "value"}


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> api.RunResult:
    out = tmp_path_factory.mktemp("runs")
    return reflow.run(CONFIGS / "controls_2025.toml", seed=3, overrides=SHORT, out=out, run_id="r1", figures=False)


def test_run_folder_holds_the_contract(short_run: api.RunResult) -> None:
    path = short_run.path
    assert path is not None and path.name == "r1" and path.parent.name == "controls_2025"
    names = {p.name for p in path.iterdir()}
    assert {"config.toml", "config.json", "manifest.json", "timeseries.parquet", "summary.json"} <= names
    assert not [n for n in names if n.startswith(".")]
    manifest = json.loads((path / "manifest.json").read_text())
    for key in ("reflow_version", "git_commit", "git_dirty", "git_dirty_paths", "git_dirty_count", "seed", "scenario",
                "config_file", "overrides", "started_at", "finished_at", "wall_time_s", "python", "mesa_version",
                "platform", "files"):
        assert key in manifest, key
    if manifest["git_commit"] is not None:  # in a checkout (not in an installed copy)
        assert manifest["git_dirty"] == (manifest["git_dirty_count"] > 0)
        assert len(manifest["git_dirty_paths"]) == min(manifest["git_dirty_count"], 20)
    assert manifest["seed"] == 3 and manifest["reflow_version"] == reflow.__version__
    # numpy's Generator streams may change between numpy versions (NEP 19): the run needs it to be reproduced
    import numpy as np

    assert manifest["numpy_version"] == np.__version__
    assert manifest["overrides"] == {"scenario.weeks": 40, "scenario.start": "2025-02-03"}
    # The manifest's checksums match the files (so a reader can tell a result is complete and untouched).
    import hashlib

    for name, digest in manifest["files"].items():
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == digest
    # The resolved config reproduces the run exactly, the seed included (it records the seed the run used).
    again = reflow.run(path / "config.toml", seed=3, out=None)
    pd.testing.assert_frame_equal(again.timeseries, short_run.timeseries)
    assert json.loads((path / "config.json").read_text())["scenario"]["seed"] == 3
    pd.testing.assert_frame_equal(reflow.run(path / "config.toml", out=None).timeseries, short_run.timeseries)


def test_a_copy_of_reflow_outside_its_checkout_claims_no_commit(tmp_path) -> None:
    """The package copied (untracked) into another git repository must not report that repository's commit."""
    import importlib.util
    import shutil
    import subprocess

    repo = tmp_path / "other"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "x.txt").write_text("x")
    subprocess.run(["git", "-C", str(repo), "add", "x.txt"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   check=True)
    pkg = repo / "reflow_copy"
    pkg.mkdir()
    src = Path(reflow.__file__).parent
    shutil.copy(src / "__init__.py", pkg / "__init__.py")
    shutil.copy(src / "provenance.py", pkg / "provenance.py")
    spec = importlib.util.spec_from_file_location("reflow_copy_provenance", pkg / "provenance.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.git_state() == (None, None)
    from reflow.provenance import git_state

    commit, _dirty = git_state()  # the real package, in its checkout (as in CI's clone)
    assert commit is None or len(commit) == 40


def test_timeseries_schema_and_variables(short_run: api.RunResult) -> None:
    table = pq.read_table(short_run.path / "timeseries.parquet")
    assert [(f.name, str(f.type)) for f in table.schema] == [
        ("week", "int64"), ("date", "date32[day]"), ("variable", "string"), ("material", "string"),
        ("origin", "string"), ("region", "string"), ("value", "double")]
    df = pd.read_parquet(short_run.path / "timeseries.parquet")
    # The La/Ce series are documented too, and written only by scenarios with a [light_ree] table.
    from reflow.recorder import LIGHT_DIMS

    assert set(LIGHT_DIMS) <= _documented_variables()
    assert set(df["variable"].unique()) == _documented_variables() - set(LIGHT_DIMS)
    assert df["week"].min() == 0 and df["week"].max() == 39
    assert not df.duplicated(["week", "variable", "material", "origin", "region"]).any()
    # Unused dimensions are null: origin only on flows, no material on production_lost_share.
    assert df.loc[df.variable != "flow", "origin"].isna().all()
    assert df.loc[df.variable == "flow", "origin"].notna().all()
    assert df.loc[df.variable == "production_lost_share", "material"].isna().all()
    assert df.loc[df.variable == "price_cn", "region"].isna().all()
    assert df["value"].notna().all()


def test_summary_has_documented_fields(short_run: api.RunResult) -> None:
    s = json.loads((short_run.path / "summary.json").read_text())
    assert s == json.loads(json.dumps(short_run.summary))
    assert set(s["materials"]) == {"ndpr_oxide", "dy_oxide", "tb_oxide", "ndfeb_magnet"}
    for m in s["materials"].values():
        assert {"peak_price_multiple", "peak_price_date", "peak_price_region", "peak_price_multiple_by_region",
                "weeks_in_shortage", "cumulative_shortage_share", "final_non_china_share",
                "time_to_recover_weeks"} <= set(m)
    assert {"production_lost_share", "production_lost_share_by_region", "first_production_loss_date",
            "approval_share", "mean_licence_wait_days", "licence_applications"} <= set(s["overall"])
    flat = api.flatten_summary(s)
    assert "dy_oxide.peak_price_multiple" in flat and "overall.approval_share" in flat
    assert all(not isinstance(v, dict | list) for v in flat.values())


def test_existing_run_is_not_overwritten_without_force(short_run: api.RunResult) -> None:
    out = short_run.path.parents[1]
    before = (short_run.path / "timeseries.parquet").read_bytes()
    with pytest.raises(ResultExistsError, match="--force"):
        reflow.run(CONFIGS / "controls_2025.toml", seed=4, overrides=SHORT, out=out, run_id="r1", figures=False)
    assert (short_run.path / "timeseries.parquet").read_bytes() == before
    forced = reflow.run(CONFIGS / "controls_2025.toml", seed=4, overrides=SHORT, out=out, run_id="r1",
                        figures=False, force=True)
    assert json.loads((forced.path / "manifest.json").read_text())["seed"] == 4
    assert not [p for p in out.joinpath("controls_2025").iterdir() if p.name.startswith(".")]


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "_write_parquet", boom)
    with pytest.raises(KeyboardInterrupt):
        reflow.run(CONFIGS / "baseline.toml", overrides=SHORT, out=tmp_path, run_id="x", figures=False)
    assert not (tmp_path / "baseline" / "x").exists()
    assert list((tmp_path / "baseline").iterdir()) == []


def test_a_command_whose_reader_goes_away_stops_quietly() -> None:
    # `reflow analyze DIR | head`: once head has its lines, the pipe closes; the command printed a traceback.
    import subprocess
    import sys

    script = ("import sys\nfrom reflow.cli import guarded\n"
              "sys.exit(guarded(lambda: [print('row ' * 200) for _ in range(5000)]))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"row row")
    proc.stdout.close()  # the reader goes away with ~4 MB still to print
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141  # the shell's code for a writer stopped by SIGPIPE
    assert err == ""  # no traceback, no "Exception ignored" at exit


def test_ctrl_c_while_the_command_line_is_being_built_is_one_line_not_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # The first ~0.1 s of `reflow ...` imports argparse and the subcommands' modules; a Ctrl-C there printed a
    # 30-line traceback, since only the command itself was guarded.
    from reflow import cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["run", "x.toml"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_same_seed_twice_gives_identical_parquet_values(tmp_path: Path) -> None:
    a = reflow.run(CONFIGS / "quota_2010.toml", seed=5, overrides=["scenario.weeks=60"], out=tmp_path, run_id="a",
                   figures=False)
    b = reflow.run(CONFIGS / "quota_2010.toml", seed=5, overrides=["scenario.weeks=60"], out=tmp_path, run_id="b",
                   figures=False)
    ta = pq.read_table(a.path / "timeseries.parquet")
    tb = pq.read_table(b.path / "timeseries.parquet")
    assert ta.equals(tb)


def test_cli_run_prints_summary_and_writes_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(CONFIGS / "controls_2025.toml"), "--seed", "2", "--out", str(tmp_path), "-q",
                 "--set", "scenario.weeks=30", "--set", "scenario.start=2025-03-03", "--run-id", "cli"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Scenario controls_2025" in out and "dy_oxide" in out and "Results written to" in out
    figs = sorted(p.name for p in (tmp_path / "controls_2025" / "cli" / "figures").glob("*.png"))
    assert len(figs) >= 4
    # Running it again without --force is refused with exit code 2 and the folder is kept.
    code = main(["run", str(CONFIGS / "controls_2025.toml"), "--out", str(tmp_path), "-q", "--no-figures",
                 "--set", "scenario.weeks=30", "--run-id", "cli"])
    assert code == 2
    assert "already exists" in capsys.readouterr().err


def test_run_figures_drawn_in_workers_started_before_the_run_equal_quick_figures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import reflow.plotting.quick as quick
    from reflow.plotting import quick_figures
    from reflow.plotting._parallel import _fork_workers

    started = []
    original = quick.quick_figure_pool
    monkeypatch.setattr(quick, "quick_figure_pool", lambda *a, **k: started.append(original(*a, **k)) or started[-1])
    res = reflow.run(CONFIGS / "controls_2025.toml", seed=5, overrides=SHORT, out=tmp_path, run_id="f")
    # (the workers start ahead where the process runs no other thread, as under pytest here, and drawing would
    # fork: not on macOS, not on one CPU)
    assert len(started) == 1 and (started[0] is not None) == (_fork_workers(len(quick.QUICK), None) is not None)
    assert res.path is not None and res.manifest is not None
    pngs = sorted((res.path / "figures").glob("*.png"))
    assert [p.name for p in pngs] == ["licences.png", "prices.png", "shortages.png", "supply_shares.png"]
    assert all(f"figures/{p.name}" in res.manifest["files"] for p in pngs)
    cfg = json.loads((res.path / "config.json").read_text())
    # the same figures as drawn here from the run in memory, byte for byte
    here = quick_figures(res.timeseries, cfg, tmp_path / "here", seed=5, workers=1)
    assert {p.name: p.read_bytes() for p in here} == {p.name: p.read_bytes() for p in pngs}


def test_run_draws_its_figures_itself_when_no_worker_can_be_started(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from reflow.plotting._parallel import WarmPool

    def no_fork(*_a: object, **_k: object) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")  # what fork() raises out of processes

    monkeypatch.setattr(WarmPool, "__init__", no_fork)
    res = reflow.run(CONFIGS / "baseline.toml", seed=1, overrides=SHORT, out=tmp_path, run_id="nf")
    assert res.path is not None
    assert len(list((res.path / "figures").glob("*.png"))) == 4


def test_run_with_other_threads_draws_its_figures_after_the_run(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import reflow.plotting.quick as quick

    def no_pool(*_a: object, **_k: object) -> None:
        raise AssertionError("workers forked ahead from a process with other threads")

    monkeypatch.setattr(quick, "quick_figure_pool", no_pool)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)  # as a notebook kernel's threads
    other.start()
    try:
        res = reflow.run(CONFIGS / "baseline.toml", seed=1, overrides=SHORT, out=tmp_path, run_id="t")
    finally:
        stop.set()
        other.join()
    assert res.path is not None and len(list((res.path / "figures").glob("*.png"))) == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="figures are drawn in this process without fork")
def test_reflow_run_leaves_matplotlib_to_its_figure_workers(tmp_path: Path) -> None:
    import subprocess
    import sys

    # The workers fork before the model runs and import matplotlib meanwhile; the run's own process never does.
    code = ("import sys, reflow; reflow.run(sys.argv[1], seed=1, overrides=sys.argv[3:], out=sys.argv[2], "
            "run_id='m'); print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(CONFIGS / "baseline.toml"), str(tmp_path), *SHORT],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert len(list((tmp_path / "baseline" / "m" / "figures").glob("*.png"))) == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="figures are drawn in this process without fork")
def test_a_figure_failing_in_a_worker_leaves_no_folder_behind(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import reflow.plotting.run_figures as rf

    # Patched before the run: the workers fork with it. One figure fails at once while another is still being
    # drawn; the run must not remove its temp folder until that one is done, or the figure re-creates it.
    licences = rf.RUN_FIGURES["licences"]

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("drawing failed")

    def slow(*args: object, **kwargs: object) -> object:
        time.sleep(1.0)
        return licences[0](*args, **kwargs)

    monkeypatch.setitem(rf.RUN_FIGURES, "prices", (boom, ""))
    monkeypatch.setitem(rf.RUN_FIGURES, "licences", (slow, ""))
    with pytest.raises(RuntimeError, match="drawing failed"):
        reflow.run(CONFIGS / "baseline.toml", overrides=SHORT, out=tmp_path, run_id="x")
    time.sleep(0.5)  # (were a worker still drawing, its figure would land here)
    assert list((tmp_path / "baseline").iterdir()) == []


def test_cli_run_bad_override_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(CONFIGS / "baseline.toml"), "--out", str(tmp_path), "--set",
                 "licensing.approval_rate=1.5"])
    err = capsys.readouterr().err
    assert code == 2
    assert "baseline.toml" in err and "licensing.approval_rate = 1.5" in err and "Traceback" not in err
    assert not (tmp_path / "baseline").exists()


def test_run_folder_is_as_readable_as_the_umask_allows(short_run: api.RunResult) -> None:
    # The folder was first made by mkdtemp (private, 0700); others on a shared machine read results as the
    # user's umask allows, as for any folder the user makes.
    mask = os.umask(0)
    os.umask(mask)
    assert short_run.path is not None
    assert stat.S_IMODE(short_run.path.stat().st_mode) == 0o777 & ~mask


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: reflow.run(3, out=None), r"config: expected a TOML path, a Scenario .* or a dict; got int"),
    (lambda c: reflow.run([str(c)], out=None), r"got list"),
    (lambda c: reflow.run(c, out=5), r"--out 5: expected a folder path .*; got int"),
    (lambda c: reflow.run(c, out=None, run_id=7), r"--run-id 7: .*; got int"),
    (lambda c: reflow.simulate(str(c), 1), r"simulate: expected a Scenario \(reflow.load_config.*; got str"),
    (lambda c: reflow.simulate({"scenario": {}}, 1), r"got dict"),
    (lambda c: reflow.load_config({"scenario": {}}), r"expected the path of a TOML file .*; got dict"),
], ids=["run-int", "run-list", "out-int", "run_id-int", "simulate-path", "simulate-dict", "load_config-dict"])
def test_arguments_of_the_wrong_type_are_usage_errors_before_any_work(call, message) -> None:
    """From a notebook, a path where a Scenario belongs (or the reverse) was a TypeError from pathlib or an
    AttributeError deep inside the model."""
    from reflow.errors import UsageError

    with pytest.raises(UsageError, match=message):
        call(CONFIGS / "baseline.toml")


def test_a_scenario_changed_by_attribute_is_validated_again_before_it_runs(tmp_path: Path) -> None:
    """Pydantic does not check assignments: cfg.licensing.approval_rate = 7.0 ran (and cfg.scenario.weeks = 3,
    under the minimum of 4), and the run folder recorded a config.toml that `reflow run` refuses, so the
    result could not be reproduced from what it records."""
    from reflow.errors import ConfigError

    cfg = reflow.load_config(CONFIGS / "baseline.toml", overrides=SHORT)
    cfg.licensing.approval_rate = 7.0
    with pytest.raises(ConfigError, match=r"licensing\.approval_rate = 7\.0"):
        reflow.run(cfg, seed=1, out=tmp_path, run_id="bad", figures=False)
    assert not (tmp_path / "baseline").exists()

    cfg = reflow.load_config(CONFIGS / "baseline.toml", overrides=SHORT)
    cfg.scenario.weeks = 20  # a valid change runs, and its folder reproduces it
    res = reflow.run(cfg, seed=1, out=tmp_path, run_id="ok", figures=False)
    assert res.config.scenario.weeks == 20 and res.timeseries["week"].max() == 19
    assert res.path is not None and reflow.load_config(res.path / "config.toml") == res.config


def _evaluate_fake(cfg: Any) -> Any:
    return reflow.evaluate(config=cfg, seed=1, runner="reflow.experiment.fakes:analytic")


@pytest.mark.parametrize("call", [
    lambda cfg: reflow.simulate(cfg, 1),
    lambda cfg: reflow.run(cfg, seed=1, out=None),
    _evaluate_fake,
], ids=["simulate", "run", "evaluate"])
@pytest.mark.parametrize(("key", "value", "shown"), [
    ("approval_rate", 7.0, r"licensing\.approval_rate = 7\.0"),
    ("approval_rate", None, r"licensing\.approval_rate = None"),  # was dropped: the default ran instead
    ("approval_rate", np.array([0.5]), r"licensing\.approval_rate"),  # was a PydanticSerializationError
], ids=["out-of-range", "None", "array"])
def test_every_entry_point_checks_a_scenario_changed_by_attribute(call, key, value, shown) -> None:
    """reflow.simulate ran a Scenario as it was: cfg.licensing.approval_rate = 7.0 ran to the end with nonsense
    approvals, and reflow.evaluate(config=cfg) was a TypeError from pathlib. Each now refuses it as reflow.run does,
    naming the key, what it accepts, and how to fix a Scenario."""
    from reflow.errors import ConfigError

    cfg = reflow.load_config(CONFIGS / "baseline.toml", overrides=SHORT)
    setattr(cfg.licensing, key, value)
    with pytest.raises(ConfigError, match=shown) as err:
        call(cfg)
    assert "after reflow.load_config" in str(err.value) and "overrides=" in str(err.value)


def test_simulate_runs_a_valid_change_as_if_it_were_loaded() -> None:
    """A valid attribute change runs, and gives what the same change made at loading gives (same seed)."""
    cfg = reflow.load_config(CONFIGS / "controls_2025.toml", overrides=SHORT)
    cfg.licensing.approval_rate = 0.3
    loaded = reflow.load_config(CONFIGS / "controls_2025.toml", overrides=[*SHORT, "licensing.approval_rate=0.3"])
    pd.testing.assert_frame_equal(reflow.simulate(cfg, 2).timeseries, reflow.simulate(loaded, 2).timeseries)
    assert reflow.evaluate(config=cfg, seed=2, runner="reflow.experiment.fakes:analytic") == reflow.evaluate(
        config=loaded, seed=2, runner="reflow.experiment.fakes:analytic")


def test_no_optional_config_field_defaults_to_anything_but_none() -> None:
    """`api.checked_scenario` validates a Scenario's dump with its None values kept, while a run folder's
    config.toml leaves them out (TOML has no null); the two read back the same only while every field that may be
    None defaults to None."""
    import types
    import typing

    from pydantic import BaseModel

    from reflow.config import PolicyEvent, Scenario

    def models(ann: Any) -> list[type[BaseModel]]:
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return [ann]
        return [m for a in typing.get_args(ann) for m in models(a)]

    seen: set[type[BaseModel]] = set()
    todo = [Scenario, *models(PolicyEvent)]
    bad = []
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for name, f in m.model_fields.items():
            args = typing.get_args(f.annotation)
            if (type(None) in args or f.annotation is types.NoneType) and not f.is_required():
                default = f.get_default(call_default_factory=True)
                if default is not None:
                    bad.append(f"{m.__name__}.{name} = {default!r}")
            todo += models(f.annotation)
    assert len(seen) > 20  # the walk reached the nested tables and every policy event kind
    assert bad == []


def test_results_keep_pointing_at_their_folder_after_the_working_folder_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a relative out= a result's path was relative to the working folder of the call: after a notebook's
    os.chdir, result.path named nothing (or another folder) and a sweep's result.runs failed with 'no such
    sweep folder'."""
    from reflow.experiment import sweep
    from reflow.experiment.fakes import write_fake_sweep

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    res = reflow.run(CONFIGS / "baseline.toml", seed=1, overrides=SHORT, out="results", run_id="r",
                     figures=False)
    cfg = write_fake_sweep(tmp_path / "a", '[sweep]\nname = "x"\n[[parameters]]\nkey = '
                                           '"licensing.approval_rate"\nvalues = [0.2, 0.5]\n')
    swept = sweep(cfg, out="sweep", workers=0, progress=False, runner="reflow.experiment.fakes:analytic")
    monkeypatch.chdir(tmp_path / "b")
    assert res.path == tmp_path / "a" / "results" / "baseline" / "r" and (res.path / "manifest.json").is_file()
    assert swept.path == tmp_path / "a" / "sweep" and len(swept.runs) == 2


def test_the_figure_functions_take_the_config_of_a_run_result(tmp_path: Path) -> None:
    """price_figure(result.timeseries, result.config) from a notebook failed with AttributeError: 'Scenario'
    object has no attribute 'get' (they read config.json's dict, which load_run gives); the same figure now."""
    from reflow.plotting import quick_figures
    from reflow.plotting.flows import flow_figure
    from reflow.plotting.run_figures import price_figure

    res = reflow.run(CONFIGS / "controls_2025.toml", seed=2, overrides=SHORT, out=None)
    as_json = res.config.model_dump(mode="json")

    def texts(fig: Any) -> list[str]:
        return sorted(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text())

    assert texts(price_figure(res.timeseries, res.config, seed=2)) == texts(
        price_figure(res.timeseries, as_json, seed=2))
    assert texts(flow_figure(res.timeseries, res.config, seed=2)) == texts(flow_figure(res.timeseries, as_json, seed=2))
    written = quick_figures(res.timeseries, res.config, tmp_path, seed=2, workers=1)
    assert len(written) == 4 and all(p.stat().st_size > 0 for p in written)


def test_summary_frames_of_several_runs_stay_apart_and_a_home_folder_out_is_expanded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # out="~/results" made a folder literally named "~" in the working folder; the summary frames of two runs,
    # concatenated, could not be told apart (no scenario or seed column).
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    runs = [reflow.run(CONFIGS / "baseline.toml", seed=s, overrides=SHORT, out="~/results", run_id=f"s{s}",
                       figures=False) for s in (1, 2)]
    assert [r.path for r in runs] == [home / "results" / "baseline" / f"s{s}" for s in (1, 2)]
    assert list(work.iterdir()) == []
    frame = pd.concat([r.summary_frame for r in runs], ignore_index=True)
    assert frame[["scenario", "seed"]].values.tolist() == [["baseline", 1], ["baseline", 2]]
    assert frame.loc[0, "dy_oxide.peak_price_multiple"] == runs[0].summary["materials"]["dy_oxide"][
        "peak_price_multiple"]


def test_a_run_records_the_files_its_config_extends_with_their_hashes(tmp_path: Path) -> None:
    # The manifest named only the file given; a scenario extending controls_2025.toml did not say which
    # controls_2025.toml (sweeps and experiment scripts record the chain, a run did not).
    import hashlib
    import shutil

    for name in ("controls_2025.toml", "forward/suspension_lapses.toml"):
        (tmp_path / "cfg" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CONFIGS / name, tmp_path / "cfg" / name)
    top = tmp_path / "cfg" / "forward" / "suspension_lapses.toml"
    res = reflow.run(top, overrides=SHORT, out=tmp_path / "out", run_id="a", figures=False)
    files = json.loads((res.path / "manifest.json").read_text())["config_files"]
    expect = [top, tmp_path / "cfg" / "controls_2025.toml"]
    assert [f["path"] for f in files] == [str(p.resolve()) for p in expect]
    assert [f["sha256"] for f in files] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in expect]
    cfg = reflow.load_config(top)
    kept = reflow.run(cfg, overrides=SHORT, out=tmp_path / "out", run_id="b", figures=False)
    assert json.loads((kept.path / "manifest.json").read_text())["config_files"] is None  # from Python
