"""Sensitivity analysis of sweeps: replicate noise in the indices, Morris levels of listed values, unfinished and
shrunk sweeps, reproducible intervals, and the bundled sensitivity sweep's parameters."""

from __future__ import annotations

import collections
import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reflow.errors import ConfigError
from reflow.experiment import analyze, sweep
from reflow.experiment.analysis import replicate_noise, sobol_indices
from reflow.experiment.designs import morris_design, sobol_design
from reflow.experiment.fakes import StopAfter, write_fake_sweep
from reflow.experiment.sweep_config import ParameterSpec
from reflow.experiment.sweeper import check_sweep

FAKES = "reflow.experiment.fakes"
ROOT = Path(__file__).resolve().parents[1]
X1, X2, X3 = "licensing.approval_rate", "licensing.overrun_probability", "licensing.return_probability"


def _sobol_sweep(replicates: int, seeds: str = "independent", samples: int = 128, root_seed: int = 3,
                 a_high: float = 1.0) -> str:
    """A Sobol' sweep of the three fake inputs; `noisy_linear` gives y = 10 a + N(0, 1) (o and r inert)."""
    return (f'[sweep]\nname = "noise"\nreplicates = {replicates}\nroot_seed = {root_seed}\nseeds = "{seeds}"\n'
            f'[design]\nmethod = "sobol"\nsamples = {samples}\n'
            f'[[parameters]]\nkey = "{X1}"\nlow = 0.0\nhigh = {a_high}\n'
            f'[[parameters]]\nkey = "{X2}"\nlow = 0.0\nhigh = 1.0\n'
            f'[[parameters]]\nkey = "{X3}"\nlow = 0.0\nhigh = 1.0\n')


def _run(tmp_path: Path, body: str, name: str = "out", runner: str = "noisy_linear", executor=None) -> Path:
    cfg = write_fake_sweep(tmp_path / f"cfg_{name}", body)
    sweep(cfg, out=tmp_path / name, workers=0, progress=False, runner=f"{FAKES}:{runner}", executor=executor)
    return tmp_path / name


# ------------------------------------------------------------------------------------------- replicate noise


def test_replicate_noise_recovers_a_known_noise_and_leaves_out_noise_common_to_a_replicate():
    rng = np.random.default_rng(1)
    points, reps, sd = 200, 4, 0.5
    x = rng.uniform(size=points)
    pid = np.repeat(np.arange(points), reps)
    rep = np.tile(np.arange(reps), points)
    shared = rng.normal(0, 3.0, reps)  # one draw per replicate, the same at every point: shifts all means alike
    y = 4 * x[pid] + shared[rep] + rng.normal(0, sd, len(pid))
    runs = pd.DataFrame({"point_id": pid, "replicate": rep, "status": "ok", "y": y})
    common = replicate_noise(runs, ["y"], common_seeds=True).iloc[0]
    assert common["run_noise_var"] == pytest.approx(sd**2, rel=0.15)
    means = pd.Series(y).groupby(pid).mean()
    assert common["noise_share"] == pytest.approx(sd**2 / reps / means.var(), rel=0.15)
    # with independent seeds nothing is assumed shared: the replicate draws count as noise
    indep = replicate_noise(runs, ["y"], common_seeds=False).iloc[0]
    assert indep["run_noise_var"] > 10 * sd**2 and indep["noise_share"] > 0.5


def test_noise_inflates_total_indices_and_analyze_warns_with_its_share(tmp_path):
    """y = 10 a + N(0, 1), a in [0, 0.3], 2 replicates: noise is 0.5 / (0.75 + 0.5) = 40% of the point means'
    variance, and the inert o and r get Jansen STs of about that share."""
    out = _run(tmp_path, _sobol_sweep(2, a_high=0.3, samples=256))
    a = analyze(out)
    noise = json.loads((out / "analysis" / "notes.json").read_text())["noise"]["y"]
    assert noise["replicates"] == 2
    assert noise["noise_share"] == pytest.approx(0.4, abs=0.06)
    s = a.sobol.set_index("parameter")
    for inert in (X2, X3):
        assert s.loc[inert, "ST"] == pytest.approx(noise["noise_share"], abs=0.1)
    warning = next(n for n in a.notes if n.startswith("warning: y: replicate noise"))
    assert "ST is inflated by about 0.4" in warning and "raise sweep.replicates" in warning

    from reflow.experiment.cli import format_analysis

    assert "note: warning: y: replicate noise" in format_analysis(a)  # what `reflow analyze` prints


def test_small_noise_is_noted_without_a_warning(tmp_path):
    # full range: Var(10 a) = 8.3, 8 replicates: noise share 0.125 / 8.46 = 1.5%
    a = analyze(_run(tmp_path, _sobol_sweep(8, samples=32)))
    share = a.noise.set_index("metric").loc["y", "noise_share"]
    assert share == pytest.approx(0.0148, abs=0.006)
    assert any(n.startswith("y: replicate noise is 1.") for n in a.notes)
    assert not any(n.startswith("warning") for n in a.notes)


def test_noise_common_to_every_point_cancels_and_is_not_counted(tmp_path):
    """noisy_linear's noise depends on the seed only: with common seeds it is the same at every point of a
    replicate, so it cancels in the indices (the inert inputs' STs are 0) and no warning is given."""
    a = analyze(_run(tmp_path, _sobol_sweep(2, seeds="common", a_high=0.3, samples=64)))
    assert a.noise.set_index("metric").loc["y", "noise_share"] == pytest.approx(0.0, abs=1e-9)
    s = a.sobol.set_index("parameter")
    assert s.loc[X2, "ST"] == pytest.approx(0.0, abs=1e-9)
    assert not any(n.startswith("warning") for n in a.notes)


def test_one_replicate_says_noise_cannot_be_separated(tmp_path):
    a = analyze(_run(tmp_path, _sobol_sweep(1, samples=16)))
    assert any("noise cannot be separated from the parameters' effects" in n for n in a.notes)
    assert json.loads((tmp_path / "out" / "analysis" / "notes.json").read_text())["noise"] == {}


def test_morris_noise_warning_gives_the_mu_star_floor(tmp_path):
    body = _sobol_sweep(2, a_high=0.3).replace('method = "sobol"\nsamples = 128', 'method = "morris"\nsamples = 40')
    a = analyze(_run(tmp_path, body))
    warning = next(n for n in a.notes if n.startswith("warning: y"))
    floor = float(warning.split("mu_star ~ ")[1].split(",")[0])
    # an inert input's effects are pure noise: their mean absolute value is the floor the warning gives
    m = a.morris.set_index("parameter")
    assert m.loc[X2, "mu_star"] == pytest.approx(floor, rel=0.35)


# ------------------------------------------------------------------------ the bundled sensitivity sweep


def test_every_parameter_of_the_bundled_sensitivity_sweep_acts_in_its_base():
    """Each parameter's range ends give different metrics in the sweep's base (front-loading gave identical ones:
    the base's control is announced and effective the same day)."""
    from reflow import evaluate

    path = ROOT / "configs" / "sweeps" / "sensitivity.toml"
    spec = tomllib.loads(path.read_text(encoding="utf-8"))
    base = path.parent / spec["sweep"]["base"]
    metrics = spec["outputs"]["metrics"]
    keys = [p["key"] for p in spec["parameters"]]
    assert "manufacturers.front_load_weeks" not in keys
    for p in spec["parameters"]:
        lo = evaluate(config=base, seed=1, **{p["key"]: p["low"]})
        hi = evaluate(config=base, seed=1, **{p["key"]: p["high"]})
        assert any(lo[m] != hi[m] for m in metrics), f"{p['key']} has no effect in {base.name}"


def test_bundled_sensitivity_sweep_averages_replicates():
    cfg, points, runs = check_sweep(ROOT / "configs" / "sweeps" / "sensitivity.toml")
    assert cfg.sweep.replicates >= 8 and runs == points * cfg.sweep.replicates <= 5000


# ------------------------------------------------------------------------------------------ Morris levels


def test_morris_gives_each_listed_value_an_equal_share_and_joins_every_pair():
    ps = [ParameterSpec(key="cat", values=["a", "b", "c"]), ParameterSpec(key="k", low=1, high=3, integer=True),
          ParameterSpec(key="x", low=0, high=1)]
    trajectories = 3000
    d = morris_design(ps, trajectories, 6, seed=1)
    for key, values in (("cat", ["a", "b", "c"]), ("k", [1, 2, 3])):
        shares = d[key].value_counts(normalize=True)
        assert sorted(shares.index) == values
        assert shares.to_numpy() == pytest.approx([1 / 3] * 3, abs=0.02)
    steps = collections.Counter()
    block = len(ps) + 1
    cat, unit = d["cat"].to_numpy(), d["unit:cat"].to_numpy()
    for t in range(trajectories):
        for i in range(t * block, (t + 1) * block - 1):
            if unit[i] != unit[i + 1]:
                steps[tuple(sorted((cat[i], cat[i + 1])))] += 1
    assert set(steps) == {("a", "b"), ("a", "c"), ("b", "c")}  # no step stays within one value
    # Sobol' designs are unchanged: equal shares by inverse CDF
    s = sobol_design(ps, 1024, seed=1)["cat"].value_counts(normalize=True)
    assert s.to_numpy() == pytest.approx([1 / 3] * 3, abs=0.01)


@pytest.mark.parametrize(("levels", "values", "fix"), [
    (4, '["a", "b", "c"]', "design.levels = 6"),
    (3, '["a", "b", "c"]', "design.levels = 6"),   # odd: SALib's trajectories leave the level grid
    (6, '["a", "b", "c", "d"]', "design.levels = 8"),
])
def test_morris_levels_that_cannot_share_out_listed_values_are_refused(tmp_path, levels, values, fix):
    body = (f'[sweep]\nname = "m"\n[design]\nmethod = "morris"\nsamples = 4\nlevels = {levels}\n'
            f'[[parameters]]\nkey = "{X1}"\nvalues = {values}\n[[parameters]]\nkey = "{X2}"\nlow = 0.0\nhigh = 1.0\n')
    path = write_fake_sweep(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        check_sweep(path)
    msg = str(err.value)
    assert str(path) in msg and f"design.levels = {levels}" in msg and X1 in msg and fix in msg


def test_wide_integer_ranges_still_span_the_range_in_morris():
    d = morris_design([ParameterSpec(key="n", low=10, high=90, integer=True),
                       ParameterSpec(key="x", low=0, high=1)], 50, 4, seed=2)
    assert d["n"].min() == 10 and d["n"].max() == 90


# --------------------------------------------------------------------------- unfinished and shrunk sweeps



def test_unfinished_sweep_uses_only_the_replicates_complete_at_every_point(tmp_path):
    body = _sobol_sweep(2, samples=16)  # 80 points; runs go replicate by replicate
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, body, "part", executor=StopAfter(80 + 30))
    part = analyze(tmp_path / "part")
    assert any("indices use the 1 of 2 replicates stored at every design point" in n for n in part.notes)
    one = analyze(_run(tmp_path, _sobol_sweep(1, samples=16), "one"))  # replicate 0 alone, same seeds
    pd.testing.assert_frame_equal(part.sobol, one.sobol)


def test_lowering_replicates_leaves_the_extra_ones_out(tmp_path):
    out = _run(tmp_path, _sobol_sweep(3, samples=16), "shrunk")
    _run(tmp_path, _sobol_sweep(2, samples=16), "shrunk")  # resumes: nothing left to run
    shrunk = analyze(out)
    assert any("80 stored runs of replicates 2 and above are left out" in n for n in shrunk.notes)
    assert (shrunk.points["n"] == 2).all()
    fresh = analyze(_run(tmp_path, _sobol_sweep(2, samples=16), "fresh"))
    pd.testing.assert_frame_equal(shrunk.sobol, fresh.sobol)
    pd.testing.assert_frame_equal(shrunk.noise, fresh.noise)


# -------------------------------------------------------------------------------- reproducible intervals


def test_sobol_intervals_are_reproducible_with_root_seed_zero(tmp_path):
    out = _run(tmp_path, _sobol_sweep(1, samples=32, root_seed=0), runner="ishigami")
    first = analyze(out).sobol
    again = analyze(out).sobol
    pd.testing.assert_frame_equal(first, again)
    assert (first["S1_conf"] > 0).all()
    # the pure function too, with seed 0
    d = sobol_design([ParameterSpec(key=k, low=0.0, high=1.0) for k in "abc"], 64, seed=1)
    runs = pd.DataFrame({"point_id": d["point_id"], "status": "ok", "y": d["a"] + d["b"] ** 2})
    confs = [sobol_indices(d, runs, ["a", "b", "c"], ["y"], seed=0)[0]["ST_conf"].to_numpy() for _ in range(2)]
    assert np.array_equal(confs[0], confs[1])
