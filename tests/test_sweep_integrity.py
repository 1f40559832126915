"""Result integrity of sweeps: a changed base (or a file it extends) is never mixed into a folder, the folder is
self-sufficient, `[outputs]` names and `--runner` are checked before anything runs, and failed runs are loud.

Most tests use the cheap run functions of `reflow.experiment.fakes`; the reviewer's repro uses the model on the
bundled configs over a few weeks.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from pathlib import Path

import pandas as pd
import pytest

from reflow.api import flatten_summary
from reflow.cli import main
from reflow.config import load_raw
from reflow.errors import ConfigError, ReflowError
from reflow.experiment import load_runs, sweep
from reflow.experiment.sweep_config import config_fingerprint, load_sweep_config

FAKES = "reflow.experiment.fakes"
ROOT = Path(__file__).resolve().parents[1]

PARENT = """# parent scenario
[scenario]
name = "parent"
start = 2024-01-01
weeks = 8

[licensing]
approval_rate = 0.5
overrun_probability = 0.1
"""

CHILD = """extends = "../parent.toml"

[scenario]
name = "child"

[licensing]
return_probability = 0.2
"""

SWEEP = """[sweep]
name = "chain"
base = "../scenarios/child.toml"
replicates = {replicates}
root_seed = 5

[[parameters]]
key = "licensing.overrun_probability"
values = [0.1, 0.3]
"""


def _chain(tmp_path: Path, replicates: int = 2) -> Path:
    """parent.toml <- scenarios/child.toml (extends "../parent.toml") <- sweeps/s.toml; returns the sweep file."""
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "parent.toml").write_text(PARENT)
    (tmp_path / "scenarios" / "child.toml").write_text(CHILD)
    path = tmp_path / "sweeps" / "s.toml"
    path.write_text(SWEEP.format(replicates=replicates))
    return path


def _run(cfg: Path | str, out: Path, **kw: object):
    return sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic", **kw)


# ----------------------------------------------------------------------------------------------- extends chain


def test_an_edited_parent_refuses_the_resume_and_adds_no_runs(tmp_path):
    cfg = _chain(tmp_path)
    out = tmp_path / "out"
    assert _run(cfg, out).counts == {"ok": 4}
    parent = tmp_path / "parent.toml"
    parent.write_text(PARENT.replace("approval_rate = 0.5", "approval_rate = 0.9"))
    cfg.write_text(SWEEP.format(replicates=3))
    with pytest.raises(ReflowError, match=r"parent\.toml has changed") as err:
        _run(cfg, out)
    assert "--force" in str(err.value)
    assert len(load_runs(out)) == 4  # nothing of the other config got in
    # a comment or layout change in the parent is not a change of the scenario
    parent.write_text("# reworded\n" + PARENT)
    assert _run(cfg, out).ran == 2


def test_an_edited_child_or_set_override_is_still_refused(tmp_path):
    cfg = _chain(tmp_path)
    out = tmp_path / "out"
    _run(cfg, out)
    with pytest.raises(ReflowError, match=r'differs .*: sweep\.set\."scenario\.weeks": \(not set\) -> 9'):
        _run(cfg, out, overrides=["scenario.weeks=9"])
    (tmp_path / "scenarios" / "child.toml").write_text(CHILD.replace("0.2", "0.3"))
    with pytest.raises(ReflowError, match=r"child\.toml has changed"):
        _run(cfg, out)


def test_base_toml_is_the_merged_scenario_and_the_folder_resumes_anywhere(tmp_path):
    cfg = _chain(tmp_path)
    out = tmp_path / "out"
    _run(cfg, out)
    merged = load_raw(tmp_path / "scenarios" / "child.toml")
    text = (out / "base.toml").read_text()
    assert "extends =" not in text
    assert load_raw(out / "base.toml") == merged  # self-contained, same scenario
    manifest = json.loads((out / "manifest.json").read_text())
    assert [Path(f["path"]).name for f in manifest["base_files"]] == ["child.toml", "parent.toml"]
    assert manifest["base_file"].endswith("child.toml")
    # the folder alone is enough: move it and delete the files it was made from
    moved = tmp_path / "elsewhere" / "sweep"
    shutil.move(str(out), moved)
    for p in ("parent.toml", "scenarios", "sweeps"):
        shutil.rmtree(tmp_path / p) if (tmp_path / p).is_dir() else (tmp_path / p).unlink()
    res = _run(moved, None)
    assert res.path == moved and res.ran == 0 and res.counts == {"ok": 4}
    after = json.loads((moved / "manifest.json").read_text())
    assert after["base_file"] == manifest["base_file"]  # where it came from is still on record
    assert "child.toml" in (moved / "sweep.toml").read_text()


def test_a_sweep_from_a_folder_into_another_out_or_started_over_keeps_a_sweep_toml(tmp_path, capsys):
    """`reflow sweep FOLDER --out OTHER` wrote OTHER without a sweep.toml, and `reflow sweep FOLDER --force`
    deleted FOLDER's: either folder was then neither resumable nor analysable ('a folder without sweep.toml')."""
    cfg = _chain(tmp_path)
    out = tmp_path / "out"
    _run(cfg, out)
    original = (out / "sweep.toml").read_text()
    other = tmp_path / "other"
    assert _run(out, other).ran == 4
    for folder in (other, out):
        if folder == out:
            assert _run(out, None, force=True).ran == 4
        assert (folder / "sweep.toml").read_text() == original  # the base it was started from, child.toml
        assert "child.toml" in (folder / "base.toml").read_text().splitlines()[0]
        assert main(["analyze", str(folder)]) == 0
        assert _run(folder, None).ran == 0  # resumable from the folder ...
        assert _run(folder / "sweep.toml", folder).ran == 0  # ... and from its sweep.toml
    pd.testing.assert_frame_equal(load_runs(other).drop(columns=["wall_time_s", "cpu_time_s"]),
                                  load_runs(out).drop(columns=["wall_time_s", "cpu_time_s"]))


def test_a_relative_sweep_folder_resumes(tmp_path, monkeypatch):
    cfg = _chain(tmp_path)
    _run(cfg, tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    assert _run("out", None).ran == 0


def _make_legacy(out: Path, sweep_file: Path) -> None:
    """Turn a folder into what versions before the resolved fingerprint wrote: a byte copy of the base file and
    a fingerprint of its bytes, without `fingerprint_scheme`."""
    manifest = json.loads((out / "manifest.json").read_text())
    cfg = load_sweep_config(sweep_file)
    cfg = cfg.model_copy(update={"sweep": cfg.sweep.model_copy(update={"root_seed": manifest["root_seed"]})})
    raw = cfg.base_path.read_bytes()
    manifest["fingerprint"] = config_fingerprint(cfg, hashlib.sha256(raw).hexdigest())
    for key in ("fingerprint_scheme", "base_files", "base_resolved_sha256"):
        manifest.pop(key, None)
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "base.toml").write_bytes(raw)


def test_an_old_folder_without_extends_still_resumes_and_is_upgraded(tmp_path):
    cfg = _chain(tmp_path)
    plain = tmp_path / "plain.toml"
    plain.write_text(PARENT)
    cfg.write_text(SWEEP.format(replicates=2).replace("../scenarios/child.toml", "../plain.toml"))
    out = tmp_path / "out"
    _run(cfg, out)
    _make_legacy(out, cfg)
    cfg.write_text(SWEEP.format(replicates=3).replace("../scenarios/child.toml", "../plain.toml"))
    assert _run(cfg, out).ran == 2
    assert json.loads((out / "manifest.json").read_text())["fingerprint_scheme"] == 2
    assert _run(out, None).ran == 0  # and from the folder
    # the old check still refuses a changed base
    plain.write_text(PARENT.replace("0.5", "0.6"))
    with pytest.raises(ReflowError, match="different sweep"):
        _run(cfg, out)


def test_an_old_folder_whose_base_extends_is_refused_with_a_clear_message(tmp_path, capsys):
    cfg = _chain(tmp_path)
    out = tmp_path / "out"
    _run(cfg, out)
    _make_legacy(out, cfg)
    with pytest.raises(ReflowError, match="older reflow") as err:
        _run(cfg, out)
    assert "parent.toml" in str(err.value) and "another --out" in str(err.value)
    with pytest.raises(ReflowError, match="older reflow"):
        _run(out, None)  # from the folder: its base.toml still extends a path relative to the original
    assert len(load_runs(out)) == 4
    # --reproduce points at the original base (the copy's `extends` does not resolve from the folder)
    assert main(["analyze", str(out), "--reproduce", "p000000-r0000"]) == 0
    captured = capsys.readouterr()
    assert str(tmp_path / "scenarios" / "child.toml") in captured.out and "older reflow" in captured.err


def test_reviewer_repro_bundled_forward_scenario(tmp_path, capsys):
    """configs/forward/defence_embargo.toml extends ../controls_2025.toml: editing the parent's apr2025 approval
    rate and adding a replicate is refused; the folder's base.toml reproduces a run with `reflow run`."""
    (tmp_path / "forward").mkdir()
    shutil.copy(ROOT / "configs" / "controls_2025.toml", tmp_path / "controls_2025.toml")
    shutil.copy(ROOT / "configs" / "forward" / "defence_embargo.toml", tmp_path / "forward")
    body = """[sweep]
name = "tiny"
base = "forward/defence_embargo.toml"
replicates = {r}
root_seed = 7

[sweep.set]
"scenario.weeks" = 12

[[parameters]]
key = "policy.civil_open_defence_closed.approval_rate"
values = [0.5, 0.9]
"""
    spec = tmp_path / "tiny.toml"
    spec.write_text(body.format(r=2))
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "0", "-q"]) == 0
    parent = tmp_path / "controls_2025.toml"
    text = parent.read_text()
    assert "approval_rate = 0.25\n" in text
    parent.write_text(text.replace("approval_rate = 0.25\n", "approval_rate = 0.05\n", 1))
    spec.write_text(body.format(r=3))
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "0", "-q"]) == 2
    assert "controls_2025.toml has changed" in capsys.readouterr().err
    assert len(load_runs(out)) == 4
    # resuming from the folder works (its base.toml is self-contained) ...
    assert main(["sweep", str(out), "--workers", "0", "-q"]) == 0
    capsys.readouterr()
    # ... and the printed command reproduces a stored run exactly
    assert main(["analyze", str(out), "--reproduce", "p000001-r0001"]) == 0
    args = shlex.split(capsys.readouterr().out.strip())
    assert args[2] == str(out / "base.toml")
    assert main([*args[1:], "--out", str(tmp_path / "rerun"), "--run-id", "x", "--no-figures", "-q"]) == 0
    summary = json.loads(next((tmp_path / "rerun").glob("*/x/summary.json")).read_text())
    row = load_runs(out).set_index("run_id").loc["p000001-r0001"]
    for k, v in flatten_summary(summary).items():
        if v is None:
            assert pd.isna(row[k]), k
        elif isinstance(v, float):
            assert row[k] == pytest.approx(v, rel=1e-12, abs=1e-12), k
        else:
            assert row[k] == v, k


# ----------------------------------------------------------------------------------------------- [outputs]

OUTPUTS_SWEEP = """[sweep]
name = "outs"
base = "{base}"
replicates = 1
root_seed = 1

[sweep.set]
"scenario.weeks" = 8

[[parameters]]
key = "policy.controls.approval_rate"
values = [0.3, 0.7]

[outputs]
timeseries = true
{outputs}
"""
REGIME = ROOT / "configs" / "sweeps" / "bases" / "licensing_regime.toml"


def _outputs_sweep(tmp_path: Path, outputs: str, base: Path = REGIME) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(OUTPUTS_SWEEP.format(base=base.as_posix(), outputs=outputs))
    return path


@pytest.mark.parametrize(("outputs", "key", "hint"), [
    ('timeseries_variables = ["price_exx"]', "outputs.timeseries_variables[0] = 'price_exx'", "'price_ex_"),
    ('metrics = ["overall.approval_share", "dy_oxide.peak_price_multipl"]',
     "outputs.metrics[1] = 'dy_oxide.peak_price_multipl'", "did you mean 'dy_oxide.peak_price_multiple'"),
    ('metrics = ["dy_oxide.peak_price_date"]', "outputs.metrics[0] = 'dy_oxide.peak_price_date'", "text metric"),
    ('metrics = ["light_ree.spread_at_peak"]', "light_ree.spread_at_peak", "[light_ree]"),
])
def test_misspelt_outputs_fail_validate_and_sweep_before_anything_runs(tmp_path, capsys, outputs, key, hint):
    spec = _outputs_sweep(tmp_path, outputs)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert str(spec) in err and key in err and hint in err and "Traceback" not in err
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="invalid \\[outputs\\]"):
        sweep(spec, out=out, workers=0, progress=False)
    assert not out.exists()


def test_known_outputs_pass_and_light_names_need_the_la_ce_market(tmp_path, capsys):
    spec = _outputs_sweep(tmp_path, 'metrics = ["dy_oxide.peak_price_multiple_by_region.US", '
                                    '"overall.production_lost_share"]\n'
                                    'timeseries_variables = ["price_ex_vwap", "flow"]')
    assert main(["validate", str(spec)]) == 0
    light = tmp_path / "light"
    light.mkdir()
    spec = _outputs_sweep(light, 'metrics = ["light_ree.peak_price_multiple"]\n'
                                 'timeseries_variables = ["light_price_ex"]', base=ROOT / "configs" / "quota_2010.toml")
    spec.write_text(spec.read_text().replace("policy.controls.approval_rate", "licensing.approval_rate"))
    assert main(["validate", str(spec)]) == 0, capsys.readouterr().err


def test_the_name_lists_match_what_a_model_run_produces():
    """The lists are derived from the code; a real run (with the La/Ce market) has no name outside them, and its
    text metrics are the ones marked as text."""
    from reflow import api
    from reflow.config import load_config
    from reflow.experiment.outputs import summary_metrics, timeseries_variables

    out = api.simulate(load_config(ROOT / "configs" / "quota_2010.toml", ["scenario.weeks=12"]), 1)
    flat = api.flatten_summary(out.summary)
    known = summary_metrics()
    assert set(flat) <= set(known)
    assert all(known[k] == (not isinstance(v, str)) for k, v in flat.items() if v is not None)
    assert set(out.timeseries["variable"].unique()) <= set(timeseries_variables())


def test_a_custom_runner_keeps_its_own_metric_names(tmp_path):
    from reflow.experiment.fakes import write_fake_sweep

    cfg = write_fake_sweep(tmp_path, '[sweep]\nname = "y"\n\n[[parameters]]\nkey = "licensing.approval_rate"\n'
                                     'values = [0.2, 0.8]\n\n[outputs]\nmetrics = ["y"]\n')
    res = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:noisy_linear")
    assert res.counts == {"ok": 2}


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "sweeps").glob("*.toml")), ids=lambda p: p.stem)
def test_the_fake_runner_has_every_output_a_bundled_sweep_asks_for(path: Path):
    """`fakes:analytic` lacked dy_oxide.cumulative_shortage_share and overall.peak_production_lost_share, which
    approval_delay.toml asks for, so it could not stand in for the model there (analyze refused the names)."""
    from reflow.config import load_config
    from reflow.experiment.fakes import analytic
    from reflow.experiment.outputs import summary_metrics, timeseries_variables

    cfg = load_sweep_config(path)
    scenario = load_config(cfg.base_path, [f"{k}={json.dumps(v, default=str)}" for k, v in cfg.sweep.set.items()])
    known = summary_metrics()
    for approval in (0.2, 0.9):
        scenario.licensing.approval_rate = approval
        metrics, ts = analytic(scenario, 7)
        assert set(cfg.outputs.metrics) <= set(metrics), sorted(set(cfg.outputs.metrics) - set(metrics))
        assert all(isinstance(metrics[m], float | int) for m in cfg.outputs.metrics)
        # named and typed like the real summary's metrics
        assert set(metrics) <= set(known), sorted(set(metrics) - set(known))
        assert all(known[k] == (not isinstance(v, str)) for k, v in metrics.items() if v is not None)
        assert set(cfg.outputs.timeseries_variables) <= set(ts["variable"])
        assert set(ts["variable"]) <= set(timeseries_variables())
        shares = [k for k in metrics if k.endswith("_share")]
        assert all(0 <= metrics[k] <= 1 for k in shares if metrics[k] is not None)
        assert metrics["overall.peak_production_lost_share"] >= metrics["overall.production_lost_share"]


# ----------------------------------------------------------------------------------------------- runner, failures

FAIL_SWEEP = """[sweep]
name = "fails"
replicates = 2
root_seed = 3

[[parameters]]
key = "licensing.approval_rate"
values = [0.1, 0.2]
"""


def test_an_unknown_runner_is_one_error_and_writes_nothing(tmp_path, capsys):
    from reflow.experiment.fakes import write_fake_sweep

    cfg = write_fake_sweep(tmp_path, FAIL_SWEEP)
    out = tmp_path / "out"
    for runner in ("nope:fn", f"{FAKES}:nope", FAKES):
        assert main(["sweep", str(cfg), "--out", str(out), "--workers", "0", "-q", "--runner", runner]) == 2
        err = capsys.readouterr().err
        assert f"--runner {runner!r}" in err and "Traceback" not in err
        assert not out.exists()
    with pytest.raises(ConfigError, match="--runner 'nope:fn'"):
        sweep(cfg, out=out, workers=0, progress=False, runner="nope:fn")
    assert not out.exists()


def test_failed_runs_give_exit_code_1_until_retried(tmp_path, capsys):
    from reflow.experiment.fakes import write_fake_sweep

    cfg = write_fake_sweep(tmp_path, FAIL_SWEEP)
    out = tmp_path / "out"
    argv = ["sweep", str(cfg), "--out", str(out), "--workers", "0", "-q"]
    assert main([*argv, "--runner", f"{FAKES}:failing"]) == 1  # every run fails
    err = capsys.readouterr().err
    assert "4 of 4 runs failed (4 error)" in err and str(out / "errors.log") in err and "--retry-failed" in err
    # a plain re-run does not retry them (same seed, same error), and still says so with exit code 1
    assert main([*argv, "--runner", f"{FAKES}:failing"]) == 1
    assert "nothing left to run" in capsys.readouterr().out
    assert set(load_runs(out)["status"]) == {"error"}
    # after the fix, --retry-failed redoes exactly them
    assert main([*argv, "--runner", f"{FAKES}:analytic", "--retry-failed"]) == 0
    runs = load_runs(out)
    assert set(runs["status"]) == {"ok"} and len(runs) == 4
    assert not pd.isna(runs["dy_oxide.peak_price_multiple"]).any()


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_resuming_with_another_runner_is_refused_unless_asked_for(tmp_path, capsys):
    """A resume with another --runner ran the rest of the sweep with it: one result set of two run functions,
    told apart only by manifest.json's sessions."""
    from reflow.experiment.fakes import StopAfter, write_fake_sweep

    cfg = write_fake_sweep(tmp_path, FAIL_SWEEP.replace("0.1, 0.2", "0.5, 0.8"))
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        sweep(cfg, out=out, progress=False, runner=f"{FAKES}:analytic", executor=StopAfter(1))
    before = (load_runs(out), _manifest(out), (out / "sweep.toml").read_text())
    # a new description does not change the sweep: the resume goes on to the runner's check
    cfg.write_text(cfg.read_text().replace('name = "fails"', 'name = "fails"\ndescription = "edited"'))
    argv = ["sweep", str(cfg), "--out", str(out), "--workers", "0", "-q"]
    for other in ([], ["--runner", f"{FAKES}:noisy_linear"]):
        assert main([*argv, *other]) == 2
        err = capsys.readouterr().err
        assert f"its 1 stored runs were made by --runner {FAKES}:analytic" in err, err
        assert f"give --runner {FAKES}:analytic" in err and "--allow-runner-change" in err and "--out" in err
        pd.testing.assert_frame_equal(load_runs(out), before[0])  # nothing run, nothing dropped
        assert _manifest(out) == before[1] and (out / "sweep.toml").read_text() == before[2]
    assert main([*argv, "--runner", f"{FAKES}:analytic"]) == 0  # as before: resumes
    assert _manifest(out)["runners"] == [f"{FAKES}:analytic"]
    # a complete folder: nothing would be mixed, so another runner is no reason to refuse
    assert main([*argv, "--runner", f"{FAKES}:noisy_linear"]) == 0 and "nothing left to run" in capsys.readouterr().out


def test_a_runner_change_asked_for_mixes_and_is_recorded(tmp_path):
    from reflow.experiment.fakes import StopAfter, write_fake_sweep

    cfg = write_fake_sweep(tmp_path, FAIL_SWEEP.replace("0.1, 0.2", "0.5, 0.8"))
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        sweep(cfg, out=out, progress=False, runner=f"{FAKES}:analytic", executor=StopAfter(1))
    res = sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:noisy_linear", allow_runner_change=True)
    assert res.ran == 3 and res.counts == {"ok": 4}
    manifest = _manifest(out)
    assert manifest["runners"] == [f"{FAKES}:analytic", f"{FAKES}:noisy_linear"]
    assert [s["runner"] for s in manifest["sessions"]] == [f"{FAKES}:analytic", f"{FAKES}:noisy_linear"]
    assert res.runs["y"].notna().sum() == 3  # noisy_linear's metric, in the runs it made


def test_reproduce_says_when_the_runs_were_not_made_by_the_model(tmp_path, capsys):
    """`--reproduce` printed a `reflow run` command (the model) for runs another --runner made, as if it gave
    their numbers."""
    from reflow.experiment.fakes import write_fake_sweep

    out = tmp_path / "out"
    _run(write_fake_sweep(tmp_path, FAIL_SWEEP.replace("0.1, 0.2", "0.5, 0.8")), out)
    assert main(["analyze", str(out), "--reproduce", "p000000-r0000"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("reflow run ")
    assert f"made by --runner {FAKES}:analytic" in captured.err and "not its numbers" in captured.err


def test_a_folder_without_a_runners_list_takes_them_from_its_sessions(tmp_path):
    """Folders written before manifest.json listed `runners`; a session killed while running (status "running",
    ran 0) may have stored runs too."""
    from reflow.experiment.fakes import StopAfter, write_fake_sweep

    cfg = write_fake_sweep(tmp_path, FAIL_SWEEP.replace("0.1, 0.2", "0.5, 0.8"))
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        sweep(cfg, out=out, progress=False, runner=f"{FAKES}:analytic", executor=StopAfter(1))
    manifest = _manifest(out)
    del manifest["runners"]
    manifest["sessions"][-1].update({"status": "running", "ran": 0})  # as a `kill -9` leaves it
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReflowError, match=f"made by --runner {FAKES}:analytic"):
        sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:noisy_linear")
    assert sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic").ran == 3
    # the killed session is recorded as such (it said "running" for ever), and its runner is still known
    manifest = _manifest(out)
    assert [s["status"] for s in manifest["sessions"]] == ["killed", "complete"]
    assert manifest["runners"] == [f"{FAKES}:analytic"]


def test_retrying_failed_runs_with_another_runner_is_refused_only_if_runs_of_the_old_one_stay(tmp_path, capsys):
    from reflow.experiment.fakes import write_fake_sweep

    cfg = write_fake_sweep(tmp_path, FAIL_SWEEP.replace("0.1, 0.2", "0.1, 0.8"))  # fails at 0.1 only
    out = tmp_path / "out"
    argv = ["sweep", str(cfg), "--out", str(out), "--workers", "0", "-q", "--retry-failed"]
    assert main([*argv, "--runner", f"{FAKES}:failing"]) == 1
    capsys.readouterr()
    assert main([*argv, "--runner", f"{FAKES}:analytic"]) == 2  # the 2 ok runs of `failing` would stay
    assert "its 2 stored runs were made by --runner" in capsys.readouterr().err
    assert load_runs(out)["status"].value_counts().to_dict() == {"ok": 2, "error": 2}  # the failed ones kept
    assert main([*argv, "--runner", f"{FAKES}:analytic", "--allow-runner-change"]) == 0
    assert set(load_runs(out)["status"]) == {"ok"}


def test_analyze_names_the_sweep_file_and_key_for_an_unknown_metric(tmp_path, capsys):
    from reflow.experiment.fakes import write_fake_sweep

    cfg = write_fake_sweep(tmp_path, FAIL_SWEEP.replace("0.1, 0.2", "0.5, 0.8")
                           + '\n[outputs]\nmetrics = ["dy_oxide.peak_price_multipl"]\n')
    out = tmp_path / "out"
    _run(cfg, out)  # a custom runner: its names are not checked up front
    assert main(["analyze", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"outputs.metrics of {out / 'sweep.toml'}" in err and "did you mean 'dy_oxide.peak_price_multiple'" in err


def test_the_runs_table_says_which_runner_made_each_run_and_analyze_warns_when_they_mix(tmp_path, capsys):
    """A resume with --allow-runner-change mixed two run functions in one runs table, which could not tell which
    run came from which (only manifest.json listed the set), and `reflow analyze` averaged them without a word."""
    from reflow.experiment.analysis import analyze
    from reflow.experiment.fakes import StopAfter, write_fake_sweep

    cfg = write_fake_sweep(tmp_path, FAIL_SWEEP.replace("0.1, 0.2", "0.5, 0.8"))
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        sweep(cfg, out=out, progress=False, runner=f"{FAKES}:analytic", executor=StopAfter(1))
    assert set(load_runs(out)["runner"]) == {f"{FAKES}:analytic"}
    assert not any("run functions" in n for n in analyze(out, ["dy_oxide.peak_price_multiple"]).notes)
    sweep(cfg, out=out, workers=0, progress=False, runner=f"{FAKES}:noisy_linear", allow_runner_change=True)
    runs = load_runs(out)
    assert runs["runner"].value_counts().to_dict() == {f"{FAKES}:analytic": 1, f"{FAKES}:noisy_linear": 3}
    # each run's metrics are its runner's: analytic's runs have no `y`, noisy_linear's no peak price
    assert runs.loc[runs["runner"] == f"{FAKES}:noisy_linear", "y"].notna().all()
    assert runs.loc[runs["runner"] == f"{FAKES}:analytic", "y"].isna().all()
    warned = [n for n in analyze(out, ["y"]).notes if "run functions" in n]
    assert len(warned) == 1 and warned[0].startswith("warning: the 4 runs analysed were made by 2 run functions")
    assert f"{FAKES}:analytic: 1" in warned[0] and f"{FAKES}:noisy_linear: 3" in warned[0]
    assert main(["analyze", str(out), "--metric", "y"]) == 0
    assert "made by 2 run functions" in capsys.readouterr().out
    # --reproduce names the run function of the run asked for
    made_by_noisy = runs.loc[runs["runner"] == f"{FAKES}:noisy_linear", "run_id"].iloc[0]
    assert main(["analyze", str(out), "--reproduce", made_by_noisy]) == 0
    assert f"this run was made by --runner {FAKES}:noisy_linear" in capsys.readouterr().err


def _drop_runner_column(out: Path) -> None:
    """Make `out` look like a folder of a reflow that did not record each run's runner."""
    import pyarrow.parquet as pq

    for part in (out / "runs").glob("part-*.parquet"):
        table = pq.read_table(part)
        pq.write_table(table.drop(["runner"]), part)


def test_folders_without_the_runner_column_stay_readable(tmp_path, capsys):
    from reflow.experiment.analysis import analyze
    from reflow.experiment.fakes import write_fake_sweep

    cfg = write_fake_sweep(tmp_path, FAIL_SWEEP.replace("0.1, 0.2", "0.5, 0.8"))
    out = tmp_path / "out"
    _run(cfg, out)
    _drop_runner_column(out)
    assert "runner" not in pd.read_parquet(out / "runs").columns
    # one run function in the manifest: every run was made by it
    runs = load_runs(out)
    assert set(runs["runner"]) == {f"{FAKES}:analytic"} and len(runs) == 4
    assert not any("run functions" in n for n in analyze(out, ["dy_oxide.peak_price_multiple"]).notes)
    assert main(["plot", str(out), "--format", "png"]) == 0
    # several in the manifest (a mix stored by an older reflow): the runs cannot be attributed, analyze warns
    manifest = _manifest(out)
    manifest["runners"] = [f"{FAKES}:analytic", f"{FAKES}:noisy_linear"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert load_runs(out)["runner"].isna().all()
    warned = [n for n in analyze(out, ["dy_oxide.peak_price_multiple"]).notes if "run functions" in n]
    assert len(warned) == 1 and "not recorded: 4" in warned[0] and f"{FAKES}:noisy_linear" in warned[0]
    # resuming it (one more replicate) adds parts with the column; the old rows stay unattributed
    cfg.write_text(cfg.read_text().replace("replicates = 2", "replicates = 3"))
    _run(cfg, out)  # analytic is among the manifest's runners: no refusal
    runs = load_runs(out)
    assert runs["runner"].isna().sum() == 4 and (runs["runner"] == f"{FAKES}:analytic").sum() == 2
    capsys.readouterr()
