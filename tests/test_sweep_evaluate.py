"""`reflow.evaluate` as a model function, EMA Workbench (when installed), and a sweep of the real model."""

from __future__ import annotations

import json
import shlex
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import reflow
from reflow.errors import ConfigError, UsageError
from reflow.experiment import evaluate, sweep
from reflow.experiment.fakes import write_fake_sweep

FAKES = "reflow.experiment.fakes"
ROOT = Path(__file__).resolve().parents[1]
REGIME = ROOT / "configs" / "sweeps" / "bases" / "licensing_regime.toml"


def test_evaluate_with_key_paths(tmp_path):
    base = write_fake_sweep(tmp_path, '[sweep]\nname = "x"\n').with_name("base.toml")
    out = evaluate(config=base, seed=3, runner=f"{FAKES}:analytic", licensing__approval_rate=0.4)
    same = evaluate(config=base, seed=3, runner=f"{FAKES}:analytic", **{"licensing.approval_rate": 0.4})
    assert out == same
    assert out["dy_oxide.peak_price_multiple"] == pytest.approx(1 + 3 * 0.6, abs=0.5)
    assert all(not isinstance(v, dict | list) for v in out.values())
    with pytest.raises(ConfigError, match="approval_rate"):
        evaluate(config=base, runner=f"{FAKES}:analytic", licensing__approval_rate=2.0)
    with pytest.raises(ConfigError, match="not found"):
        evaluate(config=tmp_path / "nope.toml", runner=f"{FAKES}:analytic")


def test_evaluate_reads_an_edited_base_of_the_extends_chain(tmp_path, monkeypatch):
    """A notebook edits the file its scenario extends between two calls: the second call runs the edited base,
    as a fresh process would (the loaded chain was cached by the top file's mtime alone, so it ran the old one).
    The same relative path in another working folder is that folder's file."""
    base = write_fake_sweep(tmp_path / "a", '[sweep]\nname = "x"\n').with_name("base.toml")
    base.write_text(base.read_text() + "[licensing]\napproval_rate = 0.9\n")
    child = base.with_name("child.toml")
    child.write_text('extends = "base.toml"\n[scenario]\nname = "child"\n')
    before = evaluate(config=child, seed=3, runner=f"{FAKES}:analytic")
    base.write_text(base.read_text().replace("approval_rate = 0.9", "approval_rate = 0.1"))
    after = evaluate(config=child, seed=3, runner=f"{FAKES}:analytic")
    assert after["dy_oxide.peak_price_multiple"] > before["dy_oxide.peak_price_multiple"] + 2  # 1 + 3 (1 - a)

    other = tmp_path / "b"
    write_fake_sweep(other, '[sweep]\nname = "x"\n')
    (other / "base.toml").write_text((other / "base.toml").read_text() + "[licensing]\napproval_rate = 0.9\n")
    (other / "child.toml").write_text(child.read_text())
    monkeypatch.chdir(tmp_path / "a")
    here = evaluate(config="child.toml", seed=3, runner=f"{FAKES}:analytic")
    monkeypatch.chdir(other)
    there = evaluate(config="child.toml", seed=3, runner=f"{FAKES}:analytic")
    assert here == after and there == before


@pytest.mark.parametrize("seed", [1.7, "3", True, -1])
def test_evaluate_refuses_a_seed_that_is_not_a_whole_number(tmp_path, seed):
    """As `reflow.run` does: 1.7 was run as seed 1 and "3" as 3, without a word."""
    base = write_fake_sweep(tmp_path, '[sweep]\nname = "x"\n').with_name("base.toml")
    with pytest.raises(UsageError, match="whole number"):
        evaluate(config=base, seed=seed, runner=f"{FAKES}:analytic")
    # a numpy integer (what EMA Workbench may pass) is the same seed as the int
    assert (evaluate(config=base, seed=np.int64(3), runner=f"{FAKES}:analytic")
            == evaluate(config=base, seed=3, runner=f"{FAKES}:analytic"))


def test_ema_workbench_runs_reflow_evaluate(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ema = pytest.importorskip("ema_workbench")
    from functools import partial

    base = write_fake_sweep(tmp_path, '[sweep]\nname = "x"\n').with_name("base.toml")
    model = ema.Model("reflow", function=partial(evaluate, runner=f"{FAKES}:analytic"))
    model.uncertainties = [ema.RealParameter("approval", 0.1, 0.9, variable_name="licensing.approval_rate"),
                           ema.RealParameter("overrun", 0.0, 0.5, variable_name="licensing.overrun_probability")]
    model.constants = [ema.Constant("config", str(base)), ema.Constant("seed", 1)]
    model.outcomes = [ema.ScalarOutcome("peak", variable_name="dy_oxide.peak_price_multiple"),
                      ema.ScalarOutcome("lost", variable_name="overall.production_lost_share")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ema.SequentialEvaluator(model) as evaluator:
            experiments, outcomes = evaluator.perform_experiments(scenarios=8)
    assert len(experiments) == 8 and outcomes["peak"].shape == (8,)
    approval = experiments["approval"].to_numpy()
    # the fake's peak falls with the approval rate
    assert pd.Series(outcomes["peak"]).corr(pd.Series(approval)) < -0.9


# ----------------------------------------------------------------------------------------------- real model


def _real_model_available() -> bool:
    try:
        from reflow import api  # noqa: F401
        from reflow.model import ReflowModel  # noqa: F401
    except ImportError:
        return False
    return REGIME.is_file()


needs_model = pytest.mark.skipif(not _real_model_available(), reason="the simulation core is not there yet")


@needs_model
def test_evaluate_runs_the_model():
    out = reflow.evaluate(config=str(REGIME), seed=2, scenario__weeks=60, policy__controls__approval_rate=0.5)
    assert out["overall.approval_share"] is None or 0 <= out["overall.approval_share"] <= 1
    assert out["dy_oxide.peak_price_multiple"] > 0


@needs_model
def test_real_sweep_runs_are_reproducible_alone(tmp_path):
    """A few real runs through local workers; each one equals `reflow run` with its recorded seed and overrides."""
    from reflow import api
    from reflow.cli import main
    from reflow.experiment.sweeper import reproduce_command

    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(f"""[sweep]
name = "e2e"
base = "{REGIME.as_posix()}"
replicates = 2
root_seed = 11

[sweep.set]
"scenario.weeks" = 60

[[parameters]]
key = "policy.controls.approval_rate"
values = [0.2, 0.8]

[outputs]
timeseries = true
timeseries_every_weeks = 13
timeseries_variables = ["price_ex_vwap"]
""")
    res = sweep(sweep_file, out=tmp_path / "out", workers=2, progress=False)
    assert res.planned == 4
    runs = res.runs
    assert set(runs["status"]) == {"ok"}, runs["error"].dropna().tolist()
    assert "dy_oxide.peak_price_multiple" in runs.columns and "overall.approval_share" in runs.columns
    ts = pd.read_parquet(tmp_path / "out" / "timeseries")
    assert set(ts["variable"]) == {"price_ex_vwap"} and ts["week"].max() <= 60
    row = runs.iloc[-1]
    # the command `reflow analyze --reproduce RUN_ID` prints, run as printed
    cmd = reproduce_command(row.to_dict(), tmp_path / "out" / "base.toml")
    args = shlex.split(cmd)
    assert args[:2] == ["reflow", "run"]
    assert main([*args[1:], "--out", str(tmp_path / "rerun"), "--run-id", "x", "--no-figures", "-q"]) == 0
    summary = json.loads(next((tmp_path / "rerun").glob("*/x/summary.json")).read_text())
    flat = api.flatten_summary(summary)
    for k, v in flat.items():
        stored = row[k]
        if v is None:
            assert pd.isna(stored), k
        elif isinstance(v, float):
            assert stored == pytest.approx(v, rel=1e-12, abs=1e-12), k
        else:
            assert stored == v, k
