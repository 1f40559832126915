"""The experiment scripts (experiments/*.py): provenance in every output folder, no overwriting, bad input refused.

Fast: argument checks and the shared provenance functions are called directly, and the scripts run in their quick
modes with tiny settings; every output goes under pytest's tmp_path, never results/ or docs/figures.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import calibrate_2010 as cal
import calibrate_light_2010 as light
import compare_forward as fwd
import seed1_2010 as s1
import validation_figures as vf

from reflow import __version__, provenance
from reflow.config import load_config, load_raw
from reflow.errors import ConfigError, UsageError
from reflow.experiment.sweep_config import resolved_base_sha256

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"calibrate_2010": cal, "calibrate_light_2010": light, "compare_forward": fwd, "validation_figures": vf,
           "seed1_2010": s1}


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def _only_folder(root: Path) -> Path:
    folders = [p for p in root.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def _resolved(folder: Path, name: str) -> Any:
    """The config `name` as the folder recorded it: its TOML read back, checked against its JSON."""
    entry = _manifest(folder)["resolved_configs"][name]
    cfg = load_config(folder / entry["toml"])
    assert json.loads((folder / entry["json"]).read_text()) == cfg.model_dump(mode="json")
    return cfg


# ------------------------------------------------------------------------------------------- shared provenance


def test_stamped_folders_are_never_reused_even_within_one_second(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Frozen:
            return cls(2026, 11, 30, 12, 0, 0, tzinfo=tz)

    monkeypatch.setattr(provenance, "dt", types.SimpleNamespace(datetime=Frozen, UTC=dt.UTC))
    earlier = tmp_path / "20261130T120000Z"
    earlier.mkdir()
    (earlier / "result.csv").write_text("kept")
    made = [provenance.new_stamped_folder(tmp_path) for _ in range(2)]
    assert [p.name for p in made] == ["20261130T120000Z-2", "20261130T120000Z-3"]
    assert all(p.is_dir() and not any(p.iterdir()) for p in made)
    assert (earlier / "result.csv").read_text() == "kept"


def test_a_stamped_folder_under_a_file_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError, match=r"--out .*cannot create"):
        provenance.new_stamped_folder(tmp_path / "f")


def test_the_manifest_records_the_extends_chain_the_resolved_config_and_the_run(tmp_path: Path) -> None:
    base, top = tmp_path / "base.toml", tmp_path / "sub" / "top.toml"
    top.parent.mkdir()
    base.write_text('[scenario]\nname = "b"\nweeks = 10\n')
    top.write_text('extends = "../base.toml"\n[scenario]\nweeks = 20\n')
    args = types.SimpleNamespace(out=tmp_path / "o", seeds=2)
    m = provenance.run_manifest(["--seeds", "2"], vars(args), {"scenario": top}, [1, 2],
                                overrides=["scenario.weeks=30"], script="x.py", note=float("nan"))
    c = m["configs"]["scenario"]
    assert [Path(e["path"]).resolve() for e in c["extends_chain"]] == [top.resolve(), base.resolve()]
    import hashlib

    assert c["extends_chain"][1]["sha256"] == hashlib.sha256(base.read_bytes()).hexdigest()
    assert c["resolved_sha256"] == resolved_base_sha256(load_raw(top))
    assert c["resolved_with_overrides_sha256"] != c["resolved_sha256"]
    assert m["argv"] == ["--seeds", "2"] and m["args"]["out"] == str(tmp_path / "o") and m["seeds"] == [1, 2]
    assert m["versions"]["reflow"] == __version__ and {"python", "numpy", "mesa"} <= set(m["versions"])
    assert "git_commit" in m and "git_dirty" in m and m["status"] == "running"
    # A change in the parent changes the resolved hash; a comment in the child changes only the child's file hash.
    base.write_text('[scenario]\nname = "b"\nweeks = 10\nseed = 3\n')
    assert provenance.config_provenance(top)["resolved_sha256"] != c["resolved_sha256"]
    before = provenance.config_provenance(top)
    top.write_text("# a comment\n" + top.read_text())
    after = provenance.config_provenance(top)
    assert after["resolved_sha256"] == before["resolved_sha256"]
    assert after["extends_chain"][0]["sha256"] != before["extends_chain"][0]["sha256"]
    # Written as strict JSON (NaN as null), end-of-run facts merged in.
    path = provenance.write_manifest(tmp_path, m, status="finished", evaluations=3)
    back = json.loads(path.read_text())
    assert back["note"] is None and back["evaluations"] == 3 and back["status"] == "finished" and back["finished_at"]


def test_the_resolved_configs_are_written_beside_the_manifest_and_read_back(tmp_path: Path) -> None:
    """An output folder keeps the content of every config it ran, not only its path and hash: the TOML alone
    gives the same validated scenario (overrides applied) even after the scenario file changes."""
    lapses = ROOT / "configs" / "forward" / "suspension_lapses.toml"
    a = load_config(lapses, ["scenario.weeks=20"])
    b = load_config(ROOT / "configs" / "baseline.toml")
    m = provenance.run_manifest([], {}, {"lapses": lapses}, [3, 4], overrides=["scenario.weeks=20"], script="x.py")
    added = provenance.write_configs(tmp_path, m, {"Lapses (20 wk)": a, "lapses 20 wk": b})
    assert added == m["resolved_configs"] == {
        "Lapses (20 wk)": {"toml": "configs/lapses_20_wk.toml", "json": "configs/lapses_20_wk.json"},
        "lapses 20 wk": {"toml": "configs/lapses_20_wk-2.toml", "json": "configs/lapses_20_wk-2.json"}}
    provenance.write_manifest(tmp_path, m)
    assert _resolved(tmp_path, "Lapses (20 wk)") == a and _resolved(tmp_path, "lapses 20 wk") == b
    head = (tmp_path / "configs" / "lapses_20_wk.toml").read_text().splitlines()[:3]
    assert "'Lapses (20 wk)' as x.py ran it" in head[1] and "reflow run lapses_20_wk.toml --seed S" in head[2]
    # A later call adds files; it never replaces one, and a name already recorded is a mistake.
    provenance.write_configs(tmp_path, m, {"lapses_20_wk": b})
    assert m["resolved_configs"]["lapses_20_wk"]["toml"] == "configs/lapses_20_wk-3.toml"
    with pytest.raises(ValueError, match="already recorded"):
        provenance.write_configs(tmp_path, m, {"lapses 20 wk": a})
    assert _resolved(tmp_path, "lapses 20 wk") == b


def test_a_missing_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not found"):
        provenance.config_provenance("/nonexistent.toml")


# ------------------------------------------------------------------------------------------- bad arguments


BAD_ARGS = [
    ("calibrate_light_2010", ["--seeds", "0"], "--seeds 0"),
    ("calibrate_light_2010", ["--seeds", "5"], "at least 20 seeds; use --quick"),
    ("calibrate_light_2010", ["--workers", "0"], "--workers 0"),
    ("calibrate_2010", ["--final-seeds", "0"], "--final-seeds 0"),
    ("calibrate_2010", ["--final-seeds", "5"], "at least 20 seeds; use --quick"),
    ("calibrate_2010", ["--workers", "0"], "--workers 0"),
    ("calibrate_2010", ["--search-seeds", "0"], "--search-seeds 0"),
    ("calibrate_2010", ["--fit-check", "dy_oxide.peak_multiple"], "--fit-check dy_oxide.peak_multiple: not a check"),
    ("compare_forward", ["--seeds", "0"], "--seeds 0"),
    ("compare_forward", ["--weeks", "0"], "--weeks 0"),
    ("compare_forward", ["--workers", "0"], "--workers 0"),
    ("validation_figures", ["--seeds", "0"], "--seeds 0"),
    ("validation_figures", ["--workers", "0"], "--workers 0"),
    ("validation_figures", ["--seeds", "4"], "give --figures DIR"),
    ("validation_figures", ["--config-2010", "/nonexistent.toml"], "/nonexistent.toml: no such file"),
    ("validation_figures", ["--config-2010", str(ROOT / "configs" / "baseline.toml")],
     "would replace the tracked figures"),
    ("validation_figures", ["--seeds", "1", "--figures", str(ROOT / "README.md" / "figs")], "cannot write there"),
    ("seed1_2010", ["--seed", "-1"], "--seed -1"),
    ("seed1_2010", ["--config", "/nonexistent.toml"], "/nonexistent.toml: no such file"),
    ("seed1_2010", ["--run", str(ROOT / "configs")], "no timeseries.parquet there"),
    ("seed1_2010", ["--run", str(ROOT / "configs"), "--seed", "2"], "leave out --config, --seed and --set"),
]


@pytest.mark.parametrize(("script", "argv", "message"), BAD_ARGS)
def test_bad_arguments_exit_2_with_a_message_and_create_nothing(script: str, argv: list[str], message: str,
                                                                 tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        SCRIPTS[script].main([*argv, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("script", "argv"), [
    ("calibrate_2010", ["--quick", "--evaluate-only"]),
    ("calibrate_light_2010", ["--quick"]),
    ("compare_forward", ["--seeds", "1", "--weeks", "5"]),
    ("validation_figures", ["--seeds", "1", "--only", "2010", "--figures", "{tmp}/figs"]),
])
def test_scripts_start_their_workers_as_the_sweep_engine_does(script: str, argv: list[str], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Never `fork` from the script's process (which may run threads: Python 3.12+ warns that the child may
    deadlock): the pool takes the engine's start method (fork server on Linux, else spawn; REFLOW_START_METHOD)."""
    import concurrent.futures

    from reflow.experiment.executors import default_start_method

    class Started(Exception):
        pass

    made: list[Any] = []

    def pool(self: Any, max_workers: int | None = None, mp_context: Any = None, *a: Any, **k: Any) -> None:
        made.append(mp_context)
        raise Started  # the runs themselves are tested above

    monkeypatch.setattr(concurrent.futures.ProcessPoolExecutor, "__init__", pool)
    with pytest.raises(Started):
        SCRIPTS[script].main([*(x.format(tmp=tmp_path) for x in argv), "--workers", "2", "--out", str(tmp_path)])
    assert len(made) == 1 and made[0] is not None
    assert made[0].get_start_method() == default_start_method() != "fork"


@pytest.mark.parametrize(("script", "argv", "message"), [
    ("calibrate_2010", ["--config", "/nonexistent.toml"], "/nonexistent.toml: config file not found"),
    ("calibrate_2010", ["--set", "china.nope=3"], "china.nope: unknown key"),
    ("compare_forward", ["--set", "growth.rate_per_year=0.9"], "growth.rate_per_year = 0.9"),
    ("calibrate_light_2010", ["--config", "/nonexistent.toml"], "/nonexistent.toml: config file not found"),
    ("calibrate_light_2010", ["--config", str(ROOT / "configs" / "controls_2025.toml")], "no [light_ree] table"),
    ("seed1_2010", ["--set", "china.nope=3"], "china.nope: unknown key"),
])
def test_a_bad_config_is_one_error_line_and_no_folder(script: str, argv: list[str], message: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert SCRIPTS[script].main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_quick_calibration_seeds_are_allowed_only_with_quick(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """--quick may use fewer than 20 seeds; the manifest is written before the search starts."""
    seen: dict[str, Any] = {}

    def fake(args: Any, folder: Path, *rest: Any) -> int:
        seen.update(vars(args), manifest=_manifest(folder))
        return 0

    monkeypatch.setattr(cal, "_calibrate", fake)
    assert cal.main(["--quick", "--out", str(tmp_path)]) == 0
    assert {k: seen[k] for k in cal.QUICK} == cal.QUICK
    m = seen["manifest"]
    assert m["status"] == "running" and m["seeds"]["final"] == [1, 2, 3, 4]
    assert m["args"]["screen"] == cal.QUICK["screen"] and m["configs"]["scenario"]["resolved_sha256"]


def test_calibrate_2010_quick_help_tells_what_quick_sets(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cal.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    q = cal.QUICK
    for phrase in (f"{q['screen']} screen points", f"{q['nm_evals']} NM evals", f"{q['nm_dims']} most influential",
                   f"{q['refine']} points refined", f"{q['final_seeds']} final seeds"):
        assert phrase in text


# ------------------------------------------------------------------------------------------- the scripts run


def test_compare_forward_summarises_a_metric_that_is_none_in_every_run() -> None:
    runs = pd.DataFrame({"scenario": ["a", "a"], "overall.approval_share": [None, None],
                         "dy_oxide.peak_price_multiple": [1.0, 2.0]})
    table = fwd._table(runs)
    assert table.loc["a", "overall.approval_share"] == "-"
    assert table.loc["a", "dy_oxide.peak_price_multiple"].startswith("1.5 [")


def test_compare_forward_short_run_writes_runs_manifest_and_table(tmp_path: Path) -> None:
    assert fwd.main(["--seeds", "1", "--weeks", "20", "--workers", "1", "--out", str(tmp_path)]) == 0
    folder = _only_folder(tmp_path)
    runs = pd.read_csv(folder / "runs.csv")
    assert len(runs) == len(fwd.SCENARIOS)
    m = _manifest(folder)
    assert m["status"] == "finished" and m["runs"] == len(fwd.SCENARIOS) and m["seeds"] == [0]
    lapses = m["configs"]["suspension lapses"]
    assert len(lapses["extends_chain"]) == 2 and lapses["overrides"] == {"scenario.weeks": 20}
    assert "comparison.png" in m["files"] and (folder / "comparison.csv").is_file()
    assert set(m["resolved_configs"]) == set(fwd.SCENARIOS)
    for label, path in fwd.SCENARIOS.items():
        assert _resolved(folder, label) == load_config(path, ["scenario.weeks=20"])


def test_seed1_2010_reads_a_run_folder_as_it_computes_a_run(tmp_path: Path) -> None:
    """The seed-1 figures of docs/validation.md: every one computed, the same from a run folder (`--run`, e.g. a
    run made on an older commit) as from the script's own run, with the provenance of each."""
    import reflow

    res = reflow.run(ROOT / "configs" / "quota_2010.toml", seed=1, out=tmp_path / "runs", figures=False)
    assert s1.main(["--run", str(res.path), "--out", str(tmp_path / "read")]) == 0
    folder = _only_folder(tmp_path / "read")
    got = pd.read_csv(folder / "figures.csv")
    assert list(got["key"]) == [f.key for f in s1.FIGURES] and got["value"].notna().all()
    direct = s1.figures(res.timeseries)
    assert got["value"].tolist() == pytest.approx(direct["value"].tolist(), rel=1e-12)
    m = _manifest(folder)
    assert m["status"] == "finished" and m["run_manifest"]["seed"] == 1 and m["seeds"] == [1]
    assert "figures.md" in m["files"] and (folder / "figures.md").read_text().startswith("| key |")
    # Two of the definitions against reflow.validation's, which the 20-seed tables use.
    from reflow import validation as v

    vals = v.metrics_2010(res.timeseries, v.quota_in_force(res.config))
    row = got.set_index("key")["value"]
    assert row["ndpr_oxide.level_end_2012"] == pytest.approx(vals["ndpr_oxide.level_end_2012"])
    off = sum(row[f"{m}.official_2011"] for m in ("ndpr_oxide", "dy_oxide", "tb_oxide", "light_ree"))
    un = sum(row[f"{m}.unofficial_2011"] for m in ("ndpr_oxide", "dy_oxide", "tb_oxide", "light_ree"))
    assert un / off == pytest.approx(vals["unofficial_vs_official_2011"])


def test_calibrate_light_leaves_its_manifest_when_the_runs_crash(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    class Crash:
        def __init__(self, *a: Any) -> None:
            raise RuntimeError("worker pool failed")

    monkeypatch.setattr(light, "process_pool", Crash)
    with pytest.raises(RuntimeError, match="worker pool failed"):
        light.main(["--quick", "--out", str(tmp_path)])
    folder = _only_folder(tmp_path)
    m = _manifest(folder)
    assert m["status"] == "running" and m["seeds"] == [1, 2, 3, 4] and m["args"]["quick"] is True
    assert m["configs"]["scenario"]["extends_chain"][0]["sha256"]
    assert _resolved(folder, "scenario") == load_config(light.CONFIG)  # written before the runs too


def test_calibrate_light_quick_run_records_its_provenance(tmp_path: Path) -> None:
    assert light.main(["--quick", "--workers", "2", "--out", str(tmp_path)]) == 0
    folder = _only_folder(tmp_path)
    m = _manifest(folder)
    search = pd.read_csv(folder / "search.csv")
    assert m["status"] == "finished" and m["evaluations"] == len(search) and m["lhs_seed"] == light.LHS_SEED
    assert m["objective"] == pytest.approx(search["objective"].min())
    assert all((folder / f).is_file() for f in m["files"])
    assert list(m["resolved_configs"]) == ["scenario"] and _resolved(folder, "scenario") == load_config(light.CONFIG)


def test_calibrate_2010_evaluate_only_quick_run(tmp_path: Path) -> None:
    what_if = "china.domestic_elasticity=-0.5"
    assert cal.main(["--quick", "--evaluate-only", "--set", what_if, "--workers", "2", "--out", str(tmp_path)]) == 0
    folder = _only_folder(tmp_path)
    m = _manifest(folder)
    assert m["status"] == "finished" and m["seeds"] == {"final": [1, 2, 3, 4]}
    assert all((folder / f).is_file() for f in m["files"])
    cfg = _resolved(folder, "scenario")  # the config the runs ran: --set applied
    assert cfg == load_config(cal.CONFIG, [what_if]) and cfg.china.domestic_elasticity == -0.5
    assert list(m["resolved_configs"]) == ["scenario"]  # no search, so no calibrated point


@pytest.mark.slow
def test_calibrate_2010_quick_search_records_how_far_it_got(tmp_path: Path) -> None:
    assert cal.main(["--quick", "--workers", "2", "--out", str(tmp_path)]) == 0
    folder = _only_folder(tmp_path)
    m = _manifest(folder)
    search = pd.read_csv(folder / "search.csv")
    assert m["screened_points"] == int((search["phase"] == "screen").sum()) and m["evaluations"] == len(search)
    best = json.loads((folder / "best.json").read_text())
    assert best["config"] == str(cal.CONFIG)
    assert _resolved(folder, "scenario") == load_config(cal.CONFIG)
    calibrated = _resolved(folder, "calibrated").model_dump()
    assert all(cal._at(calibrated, k) == pytest.approx(v) for k, v in best["params"].items())


def test_validation_figures_quick_look_goes_where_it_is_told(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer than 20 seeds with --figures: the PNGs go there, docs/figures is untouched, the manifest says so."""
    tracked = {p: p.stat().st_mtime_ns for p in vf.FIGURES.glob("*.png")}
    # Only the variants the figures and tables name, to keep the test fast.
    keep = ("as happened", "no suspension", "no October escalation")
    monkeypatch.setattr(vf, "VARIANTS_2025", {k: v for k, v in vf.VARIANTS_2025.items() if k in keep})
    figs = tmp_path / "figs"
    assert vf.main(["--seeds", "1", "--workers", "2", "--figures", str(figs), "--out", str(tmp_path / "out")]) == 0
    folder = _only_folder(tmp_path / "out")
    m = _manifest(folder)
    pngs = sorted(str(p) for p in figs.glob("*.png"))
    assert m["status"] == "finished" and m["figures"]["dir"] == str(figs) and m["figures"]["seeds"] == 1
    assert sorted(m["figures"]["written"]) == pngs and len(pngs) == 7
    assert sorted(Path(p).stem for p in pngs) == sorted(n for names in vf.FIGURE_NAMES.values() for n in names)
    assert set(m["resolved_configs"]) == {"2010", *(f"2025 {k}" for k in vf.VARIANTS_2025)}
    assert _resolved(folder, "2010") == load_config(vf.Q2010)
    oct2025 = {e.id: e for e in _resolved(folder, "2025 no suspension").policy}["oct2025_extraterritorial"]
    assert str(oct2025.suspend) == vf.NEVER
    assert set(m["configs"]) == {"2010", "2025"} and "2010-calibrated mechanisms" in m["variants_2025"]
    table = pd.read_csv(folder / "table_2025.csv", index_col=0)
    assert list(table.columns) == [*keep, "2010-calibrated mechanisms"]
    assert all((folder / f).is_file() for f in m["files"]) and "table_2025.csv" in m["files"]
    prose = pd.read_csv(folder / "prose_2010.csv")  # the 2010 figures the prose quotes, one row per seed
    assert list(prose.columns) == [*(k for k, _ in vf.PROSE_2010), "seed"] and prose["seed"].tolist() == [1]
    assert prose.drop(columns="seed").notna().all(axis=None) and "### 2010 figures quoted in the prose" in (
        folder / "tables.md").read_text()
    assert {p: p.stat().st_mtime_ns for p in vf.FIGURES.glob("*.png")} == tracked


def test_validation_figures_never_silently_replaces_figures_git_does_not_hold(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    figs = tmp_path / "figs"
    figs.mkdir()
    earlier = figs / "validation_2010_prices.png"
    earlier.write_bytes(b"an earlier quick look")
    argv = ["--seeds", "1", "--only", "2010", "--figures", str(figs), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        vf.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"--figures {figs}: would replace validation_2010_prices.png" in err and "--force" in err
    assert earlier.read_bytes() == b"an earlier quick look" and not (tmp_path / "out").exists()
    # A figure of the other episode is not in the way; --force lets the run go on (stopped here as it starts).

    class Started(Exception):
        pass

    def started(*a: Any, **k: Any) -> Path:
        raise Started

    monkeypatch.setattr(provenance, "new_stamped_folder", started)
    with pytest.raises(Started):
        vf.main([*argv[:3], "2025", *argv[4:]])
    with pytest.raises(Started):
        vf.main([*argv, "--force"])


def test_not_in_git_names_the_files_git_holds_no_copy_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # tmp_path itself is in no checkout
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo, check=True,
                       capture_output=True)

    git("init", "-q")
    (repo / ".gitignore").write_text("ignored.png\n")
    for name in ("kept.png", "changed.png"):
        (repo / name).write_bytes(b"committed")
    git("add", ".")
    git("commit", "-qm", "figures")
    (repo / "changed.png").write_bytes(b"redrawn")
    for name in ("new.png", "ignored.png"):
        (repo / name).write_bytes(b"never committed")
    files = [repo / n for n in ("kept.png", "changed.png", "new.png", "ignored.png")]
    assert vf.not_in_git(files) == files[1:]
    plain = tmp_path / "plain.png"
    plain.write_bytes(b"x")
    assert vf.not_in_git([plain]) == [plain] and vf.not_in_git([]) == []


def test_prose_2010_of_a_what_if_that_ends_early_gives_nan_for_the_years_it_misses() -> None:
    import reflow

    # quota_2010 cut at the end of 2012: 2013-15 output and the 2014 thrift share are unknown, not 0 t or an error
    res = reflow.run(vf.Q2010, seed=1, overrides=["scenario.weeks=208"], out=None)
    assert str(res.timeseries["date"].max()) < "2013-01-01"
    got = vf.prose_2010(res.timeseries, {})
    assert all(np.isnan(got[f"alt_ndpr_{y}"]) for y in (2013, 2014, 2015))
    assert np.isnan(got["light.thrift_end_2014"])
    assert got["light.official_2011"] > 0 and np.isfinite(got["ndpr_oxide.cn_sep2011"])


def test_official_ndpr_2012_counts_the_weeks_starting_in_each_month() -> None:
    # 100 t a week on every Monday of 2012; 200 t more in the week of 30 July (allowance banked, shipped at once)
    weeks = pd.date_range("2012-01-02", "2012-12-31", freq="7D")
    w = pd.Series(100.0, index=weeks)
    w[pd.Timestamp("2012-07-30")] += 200.0
    got = vf.official_ndpr_2012(w)
    assert got["ndpr_oxide.official_2012_07"] == 700.0  # five weeks start in July 2012
    assert got["ndpr_oxide.official_2012_top_month"] == 700.0 and got["ndpr_oxide.official_2012_top_month_of"] == 7
    assert got["ndpr_oxide.official_2012_top_month_per_day"] == pytest.approx(140.0 * 31 / 7)
    flat = vf.official_ndpr_2012(pd.Series(100.0, index=weeks))  # a five-week month wins on weeks alone
    assert flat["ndpr_oxide.official_2012_top_month"] == 500.0 and flat["ndpr_oxide.official_2012_top_month_of"] == 1
    assert flat["ndpr_oxide.official_2012_top_month_per_day"] == pytest.approx(100.0 * 31 / 7)
    missed = vf.official_ndpr_2012(w[w.index.year > 2012])
    assert all(np.isnan(v) for v in missed.values())
