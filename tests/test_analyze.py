"""Sweep analysis: per-point confidence intervals, Sobol' indices on the Ishigami function, Morris screening."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reflow.errors import ReflowError
from reflow.experiment import analyze, sweep
from reflow.experiment.analysis import point_means, sobol_indices
from reflow.experiment.fakes import write_fake_sweep

FAKES = "reflow.experiment.fakes"

ISHIGAMI = """[sweep]
name = "ishigami"
root_seed = 3

[design]
method = "{method}"
samples = {samples}

[[parameters]]
key = "licensing.approval_rate"
low = 0.0
high = 1.0

[[parameters]]
key = "licensing.overrun_probability"
low = 0.0
high = 1.0

[[parameters]]
key = "licensing.return_probability"
low = 0.0
high = 1.0
"""
X1, X2, X3 = "licensing.approval_rate", "licensing.overrun_probability", "licensing.return_probability"


def test_point_means_and_confidence_intervals():
    runs = pd.DataFrame({
        "point_id": [0, 0, 0, 1, 1, 1, 2],
        "status": ["ok", "ok", "ok", "ok", "ok", "error", "ok"],
        "a": [0.1, 0.1, 0.1, 0.5, 0.5, 0.5, 0.9],
        "y": [1.0, 2.0, 3.0, 10.0, 12.0, np.nan, 7.0],
    })
    t = point_means(runs, ["a"], ["y"]).set_index("point_id")
    assert t.loc[0, "mean"] == 2.0 and t.loc[0, "n"] == 3 and t.loc[0, "n_failed"] == 0
    half = 1.0 / np.sqrt(3) * 4.302652729911275  # t(0.975, 2) * sd / sqrt(n), sd = 1
    assert t.loc[0, "ci_low"] == pytest.approx(2.0 - half) and t.loc[0, "ci_high"] == pytest.approx(2.0 + half)
    assert t.loc[1, "n"] == 2 and t.loc[1, "n_failed"] == 1 and t.loc[1, "mean"] == 11.0
    assert t.loc[2, "n"] == 1 and np.isnan(t.loc[2, "ci_low"])  # one replicate: no interval
    assert t.loc[2, "a"] == 0.9


def test_confidence_intervals_cover_the_true_mean(tmp_path):
    """y = 10 a + N(0, 1): about 95% of the per-point 95% intervals hold 10 a."""
    body = ("[sweep]\nname = \"cover\"\nreplicates = 8\nroot_seed = 1\nseeds = \"independent\"\n"
            "[[parameters]]\nkey = \"licensing.approval_rate\"\nlow = 0.0\nhigh = 1.0\nsteps = 100\n")
    cfg = write_fake_sweep(tmp_path, body)
    sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:noisy_linear")
    res = analyze(tmp_path / "out")
    p = res.points
    truth = 10 * p["licensing.approval_rate"]
    covered = ((p["ci_low"] <= truth) & (truth <= p["ci_high"])).mean()
    assert 0.88 <= covered <= 0.99
    assert (tmp_path / "out" / "analysis" / "points.csv").is_file()


def _ishigami_runs(design: pd.DataFrame) -> pd.DataFrame:
    from SALib.test_functions import Ishigami

    x = -np.pi + 2 * np.pi * design[[X1, X2, X3]].to_numpy()
    return pd.DataFrame({"point_id": design["point_id"], "status": "ok", "y": Ishigami.evaluate(x)})


def test_sobol_indices_match_the_analytic_ishigami_values():
    from reflow.experiment.designs import sobol_design
    from reflow.experiment.sweep_config import ParameterSpec

    d = sobol_design([ParameterSpec(key=k, low=0.0, high=1.0) for k in (X1, X2, X3)], 8192, seed=5)
    s = sobol_indices(d, _ishigami_runs(d), [X1, X2, X3], ["y"])[0].set_index("parameter")
    # analytic values: S1 = (0.314, 0.442, 0), ST = (0.558, 0.442, 0.244)
    assert s["S1"].to_numpy() == pytest.approx([0.314, 0.442, 0.0], abs=0.04)
    assert s["ST"].to_numpy() == pytest.approx([0.558, 0.442, 0.244], abs=0.04)
    assert list(s["ST"].sort_values(ascending=False).index) == [X1, X2, X3]
    assert (s["ST_conf"] > 0).all() and (s["ST_conf"] < 0.06).all()


def test_sobol_sweep_recovers_the_ishigami_ranking(tmp_path):
    """The whole path: a sobol sweep config, runs through the store, `reflow analyze`'s tables."""
    cfg = write_fake_sweep(tmp_path, ISHIGAMI.format(method="sobol", samples=256))
    res = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:ishigami")
    assert res.planned == 256 * 5
    s = analyze(tmp_path / "out").sobol.set_index("parameter")
    assert list(s["S1"].sort_values(ascending=False).index) == [X2, X1, X3]   # 0.44 > 0.31 > 0
    assert s.loc[X3, "S1"] == pytest.approx(0.0, abs=0.1)
    assert s.loc[X3, "ST"] < min(s.loc[X1, "ST"], s.loc[X2, "ST"])           # 0.24 < 0.44, 0.56
    assert s.loc[X3, "ST"] > 0.1                                              # x3 acts through x1
    assert pd.read_csv(tmp_path / "out" / "analysis" / "sobol.csv").shape == (3, 6)


def test_sobol_warns_when_too_few_samples_give_estimates_far_outside_0_1():
    from reflow.experiment.designs import sobol_design
    from reflow.experiment.sweep_config import ParameterSpec

    params = [ParameterSpec(key=k, low=0.0, high=1.0) for k in (X1, X2, X3)]
    notes: list[str] = []
    big = sobol_design(params, 8192, seed=5)
    sobol_indices(big, _ishigami_runs(big), [X1, X2, X3], ["y"], notes=notes)
    assert not notes  # enough samples: every estimate near its analytic value, inside 0-1
    tiny = sobol_design(params, 4, seed=5)
    first, _ = sobol_indices(tiny, _ishigami_runs(tiny), [X1, X2, X3], ["y"], notes=notes)
    est = first[["S1", "ST"]].to_numpy()
    assert est.min() < -0.25 or est.max() > 1.25  # the premise: four base samples give nonsense
    assert len(notes) == 1 and notes[0].startswith("warning: y: Sobol' estimates from ")
    assert "4 base samples are too few" in notes[0] and "raise [design] samples" in notes[0]


def test_sobol_warning_names_the_range_of_the_estimates():
    from reflow.experiment.analysis import _implausible_note

    notes: list[str] = []
    _implausible_note("y", np.array([0.3, 0.5]), np.array([1.3, 2.0]), 8, notes)  # every estimate above 0
    _implausible_note("z", np.array([np.nan, np.nan]), np.array([np.nan, np.nan]), 8, notes)  # none: no word
    assert notes == ["warning: y: Sobol' estimates from 0.3 to 2, beyond -0.25 to 1.25 where sampling error alone "
                     "rarely puts a share of variance: 8 base samples are too few for stable indices; raise "
                     "[design] samples"]


def test_sobol_second_order_and_skipped_metrics():
    rng = np.random.default_rng(0)
    from reflow.experiment.designs import sobol_design
    from reflow.experiment.sweep_config import ParameterSpec

    params = [ParameterSpec(key=k, low=0.0, high=1.0) for k in ("a", "b", "c")]
    d = sobol_design(params, 256, seed=1, second_order=True)
    runs = pd.DataFrame({"point_id": d["point_id"], "status": "ok",
                         "y": d["a"] * d["b"] + 0.01 * rng.normal(size=len(d)), "flat": 1.0,
                         "holes": np.where(d["point_id"] == 5, np.nan, d["c"])})
    notes: list[str] = []
    first, second = sobol_indices(d, runs, ["a", "b", "c"], ["y", "flat", "holes"], second_order=True, notes=notes)
    assert set(first["metric"]) == {"y", "holes"}
    s2 = second[second["metric"] == "y"].set_index(["parameter_1", "parameter_2"])["S2"]
    assert s2.loc[("a", "b")] > 0.1 > abs(s2.loc[("a", "c")])
    assert any("flat: skipped, constant" in n for n in notes)
    # a failed point costs its base sample only: "holes" = c is still fully explained by c
    assert any("holes: 1 of 256 base samples dropped" in n for n in notes)
    holes = first[first["metric"] == "holes"].set_index("parameter")
    assert holes.loc["c", "S1"] == pytest.approx(1.0, abs=0.1) and holes.loc["a", "ST"] == pytest.approx(0, abs=0.05)


def test_morris_screens_out_the_inert_parameter(tmp_path):
    body = ISHIGAMI.format(method="morris", samples=20).replace("samples = 20", "samples = 20\nlevels = 4")
    cfg = write_fake_sweep(tmp_path, body + '\n[outputs]\nmetrics = ["y"]\n')
    res = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:interaction")
    assert res.planned == 20 * 4
    m = analyze(tmp_path / "out").morris.set_index("parameter")
    # y = 4 u1 + u2 + 2 u1 u2: effects of u1 are 4 + 2 u2 (mean 5), of u2 1 + 2 u1 (mean 2), of u3 zero
    assert m.loc[X1, "mu_star"] == pytest.approx(5.0, abs=0.5)
    assert m.loc[X2, "mu_star"] == pytest.approx(2.0, abs=0.5)
    assert m.loc[X3, "mu_star"] == pytest.approx(0.0, abs=1e-9) and m.loc[X3, "sigma"] == pytest.approx(0.0)
    assert m.loc[X1, "sigma"] > 0  # the interaction shows as spread of the effects


def test_analyze_a_partial_sweep_says_so(tmp_path):
    from reflow.experiment.executors import Executor, InProcessExecutor

    class StopAfter(Executor):
        description = "test"

        def run(self, tasks):
            for i, batch in enumerate(InProcessExecutor(flush_s=0).run(tasks)):
                if i == 12:
                    raise KeyboardInterrupt
                yield batch

    cfg = write_fake_sweep(tmp_path, ISHIGAMI.format(method="sobol", samples=8))
    with pytest.raises(KeyboardInterrupt):
        sweep(cfg, out=tmp_path / "out", progress=False, runner=f"{FAKES}:ishigami", executor=StopAfter())
    a = analyze(tmp_path / "out")
    assert any("12 of 40 runs are stored" in n for n in a.notes)
    # no replicate is stored at every point yet: no indices (an empty table replaces any stale one), and why
    assert any("indices not computed: no replicate is stored at every design point" in n for n in a.notes)
    assert a.sobol is not None and a.sobol.empty


def test_a_corrupt_design_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from reflow.errors import ResultReadError
    from reflow.experiment.analysis import analyze

    (tmp_path / "sweep.toml").write_text('[sweep]\nname = "x"\n')
    (tmp_path / "design.parquet").write_bytes(b"not parquet")
    with pytest.raises(ResultReadError, match=r"design\.parquet could not be read"):
        analyze(tmp_path, write=False)


FAILING = """[sweep]
name = "failing"
replicates = 2
root_seed = 1

[design]
method = "{method}"
samples = 4

[[parameters]]
key = "licensing.approval_rate"
{values}

[[parameters]]
key = "licensing.return_probability"
values = [0.1, 0.3]
"""


def test_analyze_names_the_points_whose_runs_failed(tmp_path):
    """The failing fake raises below an approval rate of 0.3: points 0-1 lose every run, the others none."""
    body = FAILING.format(method="grid", values="values = [0.2, 0.5, 0.8]")
    cfg = write_fake_sweep(tmp_path, body + '\n[outputs]\nmetrics = ["dy_oxide.peak_price_multiple"]\n')
    sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:failing")
    a = analyze(tmp_path / "out")
    note = next(n for n in a.notes if "failed runs" in n)
    assert "4 failed runs at 2 of 6 design points" in note and "no successful run" in note
    assert "point_id 0, 1)" in note and "--retry-failed" in note and "errors.log" in note
    p = a.points.set_index("point_id")
    assert (p.loc[[0, 1], "n"] == 0).all() and (p.loc[[0, 1], "n_failed"] == 2).all()


@pytest.mark.parametrize("method", ["grid", "sobol"])
def test_analyze_of_a_sweep_whose_every_run_failed_says_so(tmp_path, method):
    """With no successful run the runs table has no metric columns: analyze crashed (a pandas traceback) or said
    the sweep's own outputs.metrics were 'not in the sweep's results' with an empty list to choose from."""
    body = FAILING.format(method=method, values="low = 0.05\nhigh = 0.25" if method == "sobol" else
                          "values = [0.1, 0.2]")
    cfg = write_fake_sweep(tmp_path, body + '\n[outputs]\nmetrics = ["dy_oxide.peak_price_multiple"]\n')
    sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:failing")
    a = analyze(tmp_path / "out")
    assert any(n.startswith("every one of the") and "errors.log" in n for n in a.notes), a.notes
    assert set(a.points["metric"]) == {"dy_oxide.peak_price_multiple"} and (a.points["n"] == 0).all()
    assert (a.points["n_failed"] == 2).all()
    if method == "sobol":
        assert a.sobol.empty


def test_analyze_of_a_text_metric_is_a_clear_error(tmp_path, capsys):
    """`reflow analyze --metric dy_oxide.peak_price_date` (a date) crashed: 'No objects to concatenate'."""
    from reflow.cli import main

    body = FAILING.format(method="grid", values="values = [0.5, 0.8]")
    sweep(write_fake_sweep(tmp_path, body), out=tmp_path / "out", workers=0, progress=False,
          runner=f"{FAKES}:analytic")
    code = main(["analyze", str(tmp_path / "out"), "--metric", "dy_oxide.peak_price_date"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "--metric: dy_oxide.peak_price_date is a text metric" in err and "dy_oxide.peak_price_multiple" in err
    # a number column that is not a summary metric is analysed when asked for by name (it crashed: no metric left)
    wall = analyze(tmp_path / "out", ["wall_time_s"]).points
    assert set(wall["metric"]) == {"wall_time_s"} and (wall["n"] == 2).all()


def test_a_sobol_design_too_small_for_the_estimator_says_to_raise_samples(tmp_path):
    body = ISHIGAMI.format(method="sobol", samples=1)
    cfg = write_fake_sweep(tmp_path, body + '\n[outputs]\nmetrics = ["y"]\n')
    sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:ishigami")
    notes = analyze(tmp_path / "out").notes
    # it said "only 1 of 1 base samples are complete", as if runs had failed
    assert any("the design has 1 base samples and the estimator needs at least 2 (raise [design] samples)" in n
               for n in notes), notes


def test_a_metric_without_a_value_is_noted(tmp_path):
    """A metric the summary leaves empty (no licence application, no shortage) showed as '-' beside n = 2 (the
    largest n over the metrics), with no word on why."""
    body = FAILING.format(method="grid", values="values = [0.0, 0.5]")
    cfg = write_fake_sweep(tmp_path, body)
    sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=f"{FAKES}:analytic")
    # analytic leaves overall.approval_share empty at an approval rate of 0 (points 0 and 1)
    notes = analyze(tmp_path / "out", ["dy_oxide.peak_price_multiple", "overall.approval_share"]).notes
    assert "overall.approval_share: no value in the successful runs of 2 point(s) (point_id 0, 1): no mean there" \
        in notes
    assert not any(n.startswith("dy_oxide.") for n in notes)
    cfg.write_text(cfg.read_text().replace("values = [0.0, 0.5]", "values = [0.0]"))
    sweep(cfg, out=tmp_path / "zero", workers=0, progress=False, runner=f"{FAKES}:analytic")
    notes = analyze(tmp_path / "zero", ["overall.approval_share"]).notes
    assert any(n.startswith("overall.approval_share: no successful run has a value") for n in notes)


def test_a_metric_named_twice_is_analysed_once(tmp_path):
    """`--metric m --metric m` gave two columns of m and every row of points.csv twice."""
    body = FAILING.format(method="grid", values="values = [0.5, 0.8]")
    sweep(write_fake_sweep(tmp_path, body), out=tmp_path / "out", workers=0, progress=False,
          runner=f"{FAKES}:analytic")
    a = analyze(tmp_path / "out", ["dy_oxide.peak_price_multiple"] * 2)
    assert a.metrics == ["dy_oxide.peak_price_multiple"] and len(a.points) == 4
    assert not pd.read_csv(tmp_path / "out" / "analysis" / "points.csv").duplicated().any()


def _table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith(("note:", "sweep ", "tables "))]


def test_analyze_of_a_sweep_naming_no_metric_prints_the_headline_ones_in_the_terminal(tmp_path, capsys,
                                                                                      monkeypatch):
    """A sweep of the model without `[outputs] metrics` printed all ~60 metrics as one table 2500 characters
    wide. It prints the headline metrics, a table each when side by side they would not fit, and says where the
    rest are; the written files keep every metric. A date metric no run had is not taken for a number."""
    from pathlib import Path

    from reflow.cli import main
    from reflow.experiment.outputs import HEADLINE_METRICS

    base = Path(__file__).resolve().parents[1] / "configs" / "sweeps" / "bases" / "licensing_regime.toml"
    spec = tmp_path / "all.toml"
    spec.write_text(f'[sweep]\nname = "all"\nbase = "{base}"\nroot_seed = 1\n[sweep.set]\n"scenario.weeks" = 8\n'
                    '[[parameters]]\nkey = "policy.controls.approval_rate"\nvalues = [0.2, 0.8]\n')
    out = tmp_path / "out"
    sweep(spec, out=out, workers=0, progress=False)
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["analyze", str(out)]) == 0
    text = capsys.readouterr().out
    res = analyze(out, write=False)
    assert len(res.metrics) > 40 and not res.named
    assert "overall.first_production_loss_date" not in res.metrics  # a date, null in these short runs
    assert max(map(len, _table_lines(text))) <= 100
    headers = [line for line in text.splitlines() if line in res.metrics]  # one table per metric
    assert headers == [m for m in HEADLINE_METRICS if m in res.metrics] and len(headers) >= 4
    assert f"printed {len(headers)} headline metrics of the {len(res.metrics)} analysed" in text
    assert set(pd.read_csv(out / "analysis" / "points.csv")["metric"]) == set(res.metrics)
    assert main(["analyze", str(out), "--reproduce", "p000000-r0000"]) == 0
    assert "runner" not in capsys.readouterr().err  # the model's runs: the command reproduces them
    # metrics named: each of them printed; side by side when that fits
    named = ["dy_oxide.peak_price_multiple", "dy_oxide.cumulative_shortage_share", "overall.licence_applications"]
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["analyze", str(out), *(a for m in named for a in ("--metric", m))]) == 0
    text = capsys.readouterr().out
    assert "headline metrics" not in text and not any(line in named for line in text.splitlines())
    assert all(m in _table_lines(text)[1] for m in named)  # the header row of one table
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["analyze", str(out), *(a for m in named for a in ("--metric", m))]) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line in named] == named


def test_the_headline_metrics_are_numbers_of_the_models_summary():
    from reflow.experiment.outputs import HEADLINE_METRICS, summary_metrics

    assert all(summary_metrics()[m] for m in HEADLINE_METRICS)  # numbers of the model's summary


def test_analyze_output_of_a_sweep_of_many_parameters_fits_the_width():
    """With 30 parameters each table of one metric was still ~900 characters wide (a column per parameter)."""
    from pathlib import Path

    from reflow.experiment.analysis import SweepAnalysis
    from reflow.experiment.cli import format_analysis

    rng = np.random.default_rng(0)
    params = [f"manufacturers.parameter_with_a_long_name_{i:02d}" for i in range(30)]
    runs = pd.DataFrame({"point_id": np.repeat(np.arange(5), 2), "replicate": np.tile([0, 1], 5), "status": "ok",
                         **{p: np.repeat(rng.random(5), 2) for p in params},
                         "a.y": rng.random(10), "b.y": rng.random(10)})
    res = SweepAnalysis(path=Path("s"), method="lhs", parameters=params, metrics=["a.y", "b.y"],
                        points=point_means(runs, params, ["a.y", "b.y"]))
    text = format_analysis(res, width=100)
    assert max(len(line) for line in text.splitlines() if not line.startswith("Per-point")) <= 100
    assert "parameters left out to fit the width" in text and "analysis/points.csv" in text
    header = text.splitlines()[text.splitlines().index("a.y") + 1].split()
    assert header[:2] == ["point_id", params[0]] and header[-3:] == ["CI]", "n", "n_failed"]
    assert "left out" not in format_analysis(res, width=2000)  # room for them all: one table, every parameter


def test_analyses_of_one_sweep_at_once_do_not_fail_or_mix_their_files(tmp_path):
    """Two `reflow analyze` of one sweep at once (a loop over metrics run in parallel) shared one temporary name
    per file: one renamed the other's half-written table into place, then failed (FileNotFoundError, with a
    traceback). Threads race the same way as processes (3 of 20 failed here)."""
    import threading

    body = FAILING.format(method="grid", values="values = [0.4, 0.6, 0.8]")
    out = tmp_path / "out"
    sweep(write_fake_sweep(tmp_path, body), out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    metrics = ["dy_oxide.peak_price_multiple", "tb_oxide.peak_price_multiple", "overall.production_lost_share",
               "overall.mean_licence_wait_days"]
    errors: list[str] = []

    def one(metric: str) -> None:
        try:
            analyze(out, [metric])
        except Exception as exc:  # any failure is the finding
            errors.append(repr(exc))

    for _ in range(5):
        threads = [threading.Thread(target=one, args=(m,)) for m in metrics]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert pd.read_csv(out / "analysis" / "points.csv")["metric"].nunique() == 1  # one analysis's, whole
    assert not list((out / "analysis").glob("*.tmp"))


def test_analyze_into_a_folder_it_cannot_write_says_so(tmp_path):
    body = FAILING.format(method="grid", values="values = [0.4, 0.6]")
    out = tmp_path / "out"
    sweep(write_fake_sweep(tmp_path, body), out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    (out / "analysis").write_text("not a folder")
    with pytest.raises(ReflowError, match="cannot write the analysis tables"):
        analyze(out)
    assert analyze(out, write=False).metrics  # reading it still works


@pytest.mark.parametrize("rows", ["0", "-1", "x"])
def test_analyze_rows_must_be_a_positive_number(tmp_path, capsys, rows):
    """`--rows -1` printed a table of one point without its row, over '... 2 more rows'."""
    from reflow.cli import main

    body = FAILING.format(method="grid", values="values = [0.5]")
    sweep(write_fake_sweep(tmp_path, body), out=tmp_path / "out", workers=0, progress=False,
          runner=f"{FAKES}:analytic")
    with pytest.raises(SystemExit) as info:
        main(["analyze", str(tmp_path / "out"), "--rows", rows])
    assert info.value.code == 2
    assert f"argument --rows: '{rows}' is not a whole number > 0" in capsys.readouterr().err
    assert not (tmp_path / "out" / "analysis").exists()


def test_many_metrics_of_a_runner_without_headline_names_are_cut_to_the_first_ones():
    from pathlib import Path

    from reflow.experiment.analysis import SweepAnalysis
    from reflow.experiment.cli import format_analysis

    metrics = [f"m{i:02d}" for i in range(20)]
    runs = pd.DataFrame({"point_id": [0, 0, 1, 1], "replicate": [0, 1, 0, 1], "status": "ok", "p": [1, 1, 2, 2],
                         **{m: np.arange(4.0) for m in metrics}})
    res = SweepAnalysis(path=Path("s"), method="grid", parameters=["p"], metrics=metrics,
                        points=point_means(runs, ["p"], metrics), named=False)
    text = format_analysis(res, width=80)
    assert [line for line in text.splitlines() if line in metrics] == metrics[:12]
    assert "printed 12 metrics of the 20 analysed" in text
    res.named = True  # named (--metric, [outputs] metrics): every one printed
    assert [line for line in format_analysis(res, width=80).splitlines() if line in metrics] == metrics


def _expand(menu: str) -> set[str]:
    """The names `a.{x, y.{US, EU}}` stands for (the brace notation of an unknown metric's refusal)."""
    out: set[str] = set()
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(menu + ","):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(menu[start:i].strip())
            start = i + 1
    for part in filter(None, parts):
        if "{" in part:
            head, inner = part.split("{", 1)
            out |= {head + name for name in _expand(inner[:-1])}
        else:
            out.add(part)
    return out


def test_an_unknown_metric_is_refused_with_every_metric_on_short_lines(tmp_path, capsys):
    """The refusal listed a model sweep's ~70 metrics on one line of ~2,500 characters."""
    from reflow.cli import main
    from reflow.experiment.analysis import _metric_menu
    from reflow.experiment.outputs import summary_metrics

    body = FAILING.format(method="grid", values="values = [0.5, 0.8]")
    sweep(write_fake_sweep(tmp_path, body), out=tmp_path / "out", workers=0, progress=False,
          runner=f"{FAKES}:analytic")
    assert main(["analyze", str(tmp_path / "out"), "--metric", "dy_oxide.peak_price_multiplex"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'dy_oxide.peak_price_multiple'?" in err and "Traceback" not in err

    model = [m for m, number in summary_metrics().items() if number]  # the real model's, as a model sweep has
    menu = _metric_menu(model)
    lines = menu.strip().splitlines()
    assert len(model) > 12 and max(map(len, lines)) < 250
    assert set().union(*(_expand(line) for line in lines)) == set(model)
    assert _metric_menu(model[:3]) == ", ".join(model[:3])  # a few stay on the line


def test_analyze_takes_one_metric_without_a_list(tmp_path):
    """analyze(out, metrics="dy_oxide.peak_price_multiple") asked for the metrics 'd', 'y', '_', ... (a notebook's
    one metric is a string); it is the same analysis as with a one-item list."""
    body = FAILING.format(method="grid", values="values = [0.5, 0.8]")
    sweep(write_fake_sweep(tmp_path, body), out=tmp_path / "out", workers=0, progress=False,
          runner=f"{FAKES}:analytic")
    one = analyze(tmp_path / "out", "dy_oxide.peak_price_multiple", write=False)
    pd.testing.assert_frame_equal(one.points, analyze(tmp_path / "out", ["dy_oxide.peak_price_multiple"],
                                                      write=False).points)
    assert set(one.points["metric"]) == {"dy_oxide.peak_price_multiple"}
