"""Bad input is one clear error (file, key and fix named), exit code 2, no traceback, and nothing lost.

Covers: run ids and --force that could reach outside the results root or delete user files; `--set` paths
into lists by id; `inf`/`nan` in numeric fields; unreadable or non-UTF-8 configs; bad --seed, --out and
--dpi; control characters in the saved config.toml; `validate` of several files; plot/report overwrites;
messages for a missing policy kind, a sweep file given to `run`, a folder given as a config, true/false for
a number.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import pytest

import reflow
from reflow.cli import main
from reflow.config import apply_overrides, dump_toml, load_raw, validate
from reflow.errors import ConfigError, ReflowError, UsageError
from reflow.experiment.sweep_config import load_sweep_config, parse_sweep_config
from reflow.plotting import plot
from test_plotting import write_fake_run

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

TINY = """\
[scenario]
name = "inputs"
start = 2025-01-06
weeks = 4
"""

TWO_EVENTS = """\
[scenario]
name = "inputs"
start = 2025-01-06
weeks = 4

[[policy]]
id = "{first}"
kind = "licensing"
effective = 2025-02-03
materials = ["dy_oxide"]
approval_rate = 0.9

[[policy]]
id = "{second}"
kind = "licensing"
effective = 2025-03-03
materials = ["tb_oxide"]
approval_rate = 0.8
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(TINY, encoding="utf-8")
    return p


def _run(config: Path, out: Path, *extra: str) -> list[str]:
    return ["run", str(config), "--out", str(out), "-q", "--no-figures", *extra]


def _files(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes (to show nothing was touched)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------- 1: run ids, --force


@pytest.mark.parametrize(("run_id", "why"), [
    ("{victim}", "is an absolute path"),
    ("a/b/c", "holds a path separator"),
    ("a\\b", "holds a path separator"),
    ("..", "names the folder itself or its parent"),
    (".", "names the folder itself or its parent"),
    (".hidden", "starts with '.'"),
    ("", "is empty"),
])
def test_run_id_that_is_not_a_plain_name_is_refused_and_deletes_nothing(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], run_id: str, why: str) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("precious")
    out = tmp_path / "out"
    code = main(_run(tiny, out, "--run-id", run_id.format(victim=victim), "--force"))
    err = capsys.readouterr().err
    assert code == 2
    assert f"--run-id {run_id.format(victim=victim)!r} {why}" in err and "plain folder name" in err
    assert "Traceback" not in err
    assert (victim / "data.txt").read_text() == "precious"
    assert not out.exists()  # refused before anything was simulated or written


def test_force_never_replaces_a_folder_that_is_not_a_run(tiny: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "out" / "inputs" / "mine"
    mine.mkdir(parents=True)
    (mine / "data.txt").write_text("precious")
    code = main(_run(tiny, tmp_path / "out", "--run-id", "mine", "--force"))
    err = capsys.readouterr().err
    assert code == 2
    assert str(mine) in err and "--force only replaces a reflow run folder" in err
    assert _files(tmp_path / "out") == {"inputs/mine/data.txt": b"precious"}


def test_force_replaces_a_run_folder(tiny: Path, tmp_path: Path) -> None:
    first = reflow.run(tiny, seed=1, out=tmp_path, run_id="r", figures=False)
    second = reflow.run(tiny, seed=2, out=tmp_path, run_id="r", figures=False, force=True)
    assert first.path == second.path
    assert '"seed": 2' in (second.path / "manifest.json").read_text()


def test_a_non_run_folder_appearing_during_the_run_is_kept_and_so_is_the_result(
        tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reflow import api

    target = tmp_path / "inputs" / "late"
    real = api.simulate

    def simulate_then_someone_writes_there(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real(*args, **kwargs)
        target.mkdir(parents=True)
        (target / "notes.txt").write_text("mine")
        return out

    monkeypatch.setattr(api, "simulate", simulate_then_someone_writes_there)
    with pytest.raises(ReflowError, match="not a reflow run folder") as info:
        reflow.run(tiny, seed=1, out=tmp_path, run_id="late", figures=False, force=True)
    assert (target / "notes.txt").read_text() == "mine"
    kept = Path(str(info.value).split("the new result is kept in ")[1])
    assert (kept / "manifest.json").is_file()  # the finished run is not thrown away


@pytest.mark.parametrize("name", [".", "..", "...", "a/b", ""])
def test_scenario_name_cannot_leave_the_results_root(minimal_raw: dict, name: str) -> None:
    minimal_raw["scenario"]["name"] = name
    with pytest.raises(ConfigError, match=r"scenario\.name") as info:
        validate(minimal_raw, source="s.toml")
    assert "not only dots" in str(info.value) or name == ""


@pytest.mark.parametrize("name", ["a.b", "v1.2", "x_y-z", ".a"])
def test_scenario_names_with_dots_still_work(minimal_raw: dict, name: str) -> None:
    minimal_raw["scenario"]["name"] = name
    assert validate(minimal_raw).scenario.name == name


@pytest.mark.parametrize("name", [".", ".."])
def test_sweep_name_cannot_be_dots(name: str) -> None:
    raw = {"sweep": {"name": name, "base": "base.toml"},
           "parameters": [{"key": "licensing.approval_rate", "values": [0.5, 1.0]}]}
    with pytest.raises(ConfigError, match=r"sweep\.name"):
        parse_sweep_config(raw, source="sw.toml")


# --------------------------------------------------------------------------------- 2: --set into lists by id


def test_set_with_an_all_digit_id_edits_the_event_with_that_id(tmp_path: Path) -> None:
    raw = tomllib.loads(TWO_EVENTS.format(first="1", second="0"))
    cfg = validate(apply_overrides(raw, {"policy.1.approval_rate": 0.5}))
    assert cfg.event("1").approval_rate == 0.5  # the event with id "1" (at index 0) ...
    assert cfg.event("0").approval_rate == 0.8  # ... not the one at index 1


def test_set_falls_back_to_an_index_when_no_id_matches() -> None:
    raw = tomllib.loads(TWO_EVENTS.format(first="apr", second="jun"))
    cfg = validate(apply_overrides(raw, {"policy.1.approval_rate": 0.5, "policy.-2.label": "first"}))
    assert cfg.event("jun").approval_rate == 0.5
    assert cfg.event("apr").label == "first"


def test_set_help_says_how_list_entries_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "by its id" in " ".join(capsys.readouterr().out.split())


# ----------------------------------------------------------------------------------------- 3: inf and nan


@pytest.mark.parametrize("key", [
    "materials.ndpr_oxide.reference_price",
    "china.output_tpy.ndpr_oxide",
    "china.stock_target_weeks",
    "manufacturers.demand_tpy.US.wind",
    "manufacturers.wtp_cap_multiple.dy_oxide",
    "suppliers.lynas_ndpr.capacity_tpy",
])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers_are_refused(minimal_raw: dict, key: str, value: float) -> None:
    with pytest.raises(ConfigError) as info:
        validate(apply_overrides(minimal_raw, {key: value}), source="s.toml")
    text = str(info.value)
    assert text.startswith("s.toml: invalid config") and key in text
    assert "finite number" in text or "greater than" in text or "less than" in text


def test_cli_run_with_inf_exits_2_and_writes_nothing(tiny: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_run(tiny, tmp_path / "out", "--set", "china.stock_target_weeks=inf"))
    err = capsys.readouterr().err
    assert code == 2 and "china.stock_target_weeks = inf" in err and "finite number" in err
    assert not (tmp_path / "out").exists()


def test_a_quota_on_some_materials_is_still_valid(minimal_raw: dict) -> None:
    # Materials a quota leaves out are unlimited (infinite inside the model), not an `inf` in the config.
    minimal_raw["policy"] = [{"id": "q", "kind": "export_quota", "effective": "2025-02-03",
                              "tonnes_per_year": {"dy_oxide": 1000.0}}]
    assert validate(minimal_raw).event("q").tonnes_per_year == {"dy_oxide": 1000.0}


# ------------------------------------------------------------------------- 4: unreadable input, bad options


def test_non_utf8_config_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "f.toml"
    bad.write_bytes(b"\xff\xfe")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: not UTF-8 text" in err and "save it as UTF-8" in err and "Traceback" not in err


def test_non_utf8_sweep_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "sw.toml"
    bad.write_bytes(b'[sweep]\nname = "\xe9"\n')
    with pytest.raises(ConfigError, match=r"sw\.toml: not UTF-8 text"):
        load_sweep_config(bad)


def test_unreadable_config_is_a_clear_error(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chmod 000 does not stop root (tests may run as root), so the OS error is raised for the file directly.
    real = Path.read_bytes

    def denied(self: Path) -> bytes:
        if self == tiny:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ConfigError, match=r"tiny\.toml: cannot be read \(Permission denied\); check"):
        load_raw(tiny)


def test_negative_seed_is_refused_before_running(tiny: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_run(tiny, tmp_path / "out", "--seed", "-1"))
    err = capsys.readouterr().err
    assert code == 2 and "--seed -1: a seed is a whole number >= 0" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(UsageError):
        reflow.run(tiny, seed=-1, out=None)


def test_out_that_is_a_file_is_refused_before_running(tiny: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from reflow import api

    afile = tmp_path / "afile"
    afile.write_text("keep")
    monkeypatch.setattr(api, "simulate", lambda *a, **k: pytest.fail("simulated before checking --out"))
    code = main(_run(tiny, afile))
    err = capsys.readouterr().err
    assert code == 2 and f"--out: {afile} is a file, not a folder" in err
    assert afile.read_text() == "keep"


@pytest.fixture
def fake_run(tmp_path: Path) -> Path:
    return write_fake_run(tmp_path / "res" / "scen" / "seed1", weeks=20)


@pytest.mark.parametrize("command", ["plot", "report"])
@pytest.mark.parametrize("dpi", ["0", "-3"])
def test_dpi_must_be_positive(fake_run: Path, capsys: pytest.CaptureFixture[str], command: str, dpi: str) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, str(fake_run), "--dpi", dpi])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --dpi: '{dpi}' is not a whole number > 0" in err and "Traceback" not in err
    assert not (fake_run / "plots").exists() and not (fake_run / "report.html").exists()


def test_plot_api_refuses_dpi_0(fake_run: Path) -> None:
    with pytest.raises(UsageError, match="--dpi 0"):
        plot([fake_run], dpi=0)


# ----------------------------------------------------------------------------- 5: the saved config.toml


def test_dump_toml_round_trips_control_characters_quotes_and_unicode() -> None:
    text = "a\rb\u0001c\u007f\"q\" back\\slash\ttab\nline\bbs\fff é 中"
    data = {"scenario": {"description": text}, "odd keys": {"k é": 1, '"quoted"': 2, "tab\tkey": 3}}
    assert tomllib.loads(dump_toml(data)) == data


def test_a_runs_config_toml_validates_after_a_control_character_in_set(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_run(tiny, tmp_path, "--run-id", "cr", "--set", r'scenario.description="a\rb\u0001c"')) == 0
    saved = tmp_path / "inputs" / "cr" / "config.toml"
    capsys.readouterr()
    assert main(["validate", str(saved)]) == 0, capsys.readouterr().err
    assert reflow.load_config(saved).scenario.description == "a\rb\u0001c"


# ----------------------------------------------------------------------------- 6: validate several files


def test_validate_checks_every_file_and_fails_at_the_end(tiny: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace("weeks = 4", "weeks = 1"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[scenario\n")
    assert main(["validate", str(bad), str(tiny), str(broken)]) == 2
    out, err = capsys.readouterr()
    assert out.strip() == f"{tiny}: OK (scenario 'inputs', 2025-01-06 + 4 weeks, 0 policy events)"
    assert f"error: {bad}: invalid config" in err and "scenario.weeks = 1" in err
    assert f"error: {broken}: not valid TOML" in err
    assert err.rstrip().endswith("error: 2 of 3 files are invalid")


# ------------------------------------------------------------------------------ 7: plot / report overwrite


def test_plot_refuses_to_overwrite_figures_without_force(fake_run: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    plots = fake_run / "plots"
    plots.mkdir()
    (plots / "prices.png").write_bytes(b"mine")
    args = ["plot", str(fake_run), "--only", "prices", "--format", "png,svg"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{plots / 'prices.png'} already exists; use --force" in err
    assert _files(plots) == {"prices.png": b"mine"}  # nothing written, not even the svg
    assert main([*args, "--force"]) == 0
    assert (plots / "prices.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_into_a_folder_with_other_files_is_fine(fake_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "figs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["plot", str(fake_run), "--only", "prices", "--format", "png", "--out", str(out)]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "prices.png").is_file()


@pytest.mark.parametrize("default_out", [False, True])
def test_report_refuses_to_overwrite_without_force(fake_run: Path, tmp_path: Path, default_out: bool,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    html = fake_run / "report.html" if default_out else tmp_path / "existing.html"
    html.write_text("mine")
    args = ["report", str(fake_run), "--only", "prices"] + ([] if default_out else ["--out", str(html)])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{html} already exists; use --force to replace it" in err
    assert html.read_text() == "mine"
    assert main([*args, "--force"]) == 0
    assert html.read_text().lstrip().lower().startswith("<!doctype html")


def test_report_pdf_is_not_overwritten_either(fake_run: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    pdf = tmp_path / "r.pdf"
    pdf.write_text("mine")
    assert main(["report", str(fake_run), "--only", "prices", "--out", str(tmp_path / "r.html"), "--pdf"]) == 2
    assert f"{pdf} already exists" in capsys.readouterr().err
    assert pdf.read_text() == "mine" and not (tmp_path / "r.html").exists()


# ------------------------------------------------------------------------------------------- 8: messages


def test_policy_without_kind_lists_the_kinds(minimal_raw: dict) -> None:
    minimal_raw["policy"] = [{"id": "apr", "effective": "2025-02-03", "materials": ["dy_oxide"]}]
    with pytest.raises(ConfigError) as info:
        validate(minimal_raw, source="s.toml")
    text = str(info.value)
    assert "policy.apr: a policy event needs a 'kind'; add kind = one of licensing, general_licence" in text
    assert "enforcement" in text and "Unable to extract tag" not in text


def test_run_of_a_sweep_file_says_to_use_reflow_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = CONFIGS / "sweeps" / "approval_delay.toml"
    assert main(_run(sweep, tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"{sweep}: this is a sweep file" in err and f"reflow sweep {sweep}" in err
    assert not any(tmp_path.iterdir())


def test_a_folder_given_as_config_says_it_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: a folder, not a config file; give the path of a TOML file" in err
    assert "not found" not in err


@pytest.mark.parametrize(("key", "value"), [
    ("scenario.seed", "true"),
    ("licensing.approval_rate", "false"),
    ("manufacturers.demand_tpy.US.wind", "true"),
])
def test_true_false_is_not_a_number(tiny: Path, capsys: pytest.CaptureFixture[str], key: str, value: str) -> None:
    assert main(["validate", str(tiny), "--set", f"{key}={value}"]) == 2
    err = capsys.readouterr().err
    assert f"{key} = {value}: true/false where a number" in err and "e.g. 1 rather than true" in err


def test_report_api_refuses_to_overwrite_and_a_bad_resolution(fake_run: Path, tmp_path: Path) -> None:
    from reflow.errors import ResultExistsError, UsageError
    from reflow.plotting.html_report import report

    html = tmp_path / "mine.html"
    html.write_text("mine")
    with pytest.raises(ResultExistsError):
        report([fake_run], html, only=["prices"], workers=1)
    assert html.read_text() == "mine"
    with pytest.raises(UsageError):
        report([fake_run], tmp_path / "new.html", only=["prices"], dpi=0, workers=1)
    assert report([fake_run], html, only=["prices"], workers=1, force=True)[0] == html


@pytest.mark.parametrize("patch, words", [
    ({"policy": [{"id": "e", "kind": "embargo", "effective": "2025-03-03", "materials": ["dy_oxide"],
                  "destinations": ["CN", "US"]}]}, "policy 'e' (embargo) lists 'CN'"),
    ({"policy": [{"id": "l", "kind": "licensing", "effective": "2025-03-03", "materials": ["dy_oxide"],
                  "destinations": ["CN"]}]}, "policy 'l' (licensing) lists 'CN'"),
    ({"policy": [{"id": "s", "kind": "stockpile_release", "effective": "2025-03-03", "region": "CN",
                  "material": "dy_oxide", "tonnes": 100.0}]}, "policy 's' releases a stockpile into 'CN'"),
    ({"suppliers": [{"id": "x", "name": "X", "region": "CN", "material": "dy_oxide", "capacity_tpy": 10.0,
                     "cost": 100.0}]}, "suppliers 'x' is in 'CN'"),
])
def test_china_as_an_importing_region_is_refused(patch: dict, words: str) -> None:
    import datetime as dt

    from reflow.config import validate
    from reflow.errors import ConfigError

    raw = {"scenario": {"name": "t", "start": dt.date(2025, 1, 6), "weeks": 20}, **patch}
    with pytest.raises(ConfigError, match=re.escape(words)):
        validate(raw)


def test_a_licence_valid_for_less_than_a_week_is_refused() -> None:
    # Open licences decay by 1/validity a week: below one week they would turn negative.
    import datetime as dt

    from reflow.config import validate
    from reflow.errors import ConfigError

    raw = {"scenario": {"name": "t", "start": dt.date(2025, 1, 6), "weeks": 20},
           "licensing": {"licence_validity_weeks": 0.5}}
    with pytest.raises(ConfigError, match=r"licensing\.licence_validity_weeks = 0\.5"):
        validate(raw)


@pytest.mark.parametrize("scenario", ["baseline.toml", "forward/defence_embargo.toml"])  # (the second extends)
def test_sweep_of_a_scenario_file_says_to_use_reflow_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         scenario: str) -> None:
    path = CONFIGS / scenario
    assert main(["sweep", str(path), "--out", str(tmp_path / "s"), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: this is a scenario file" in err and f"reflow run {path}" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_analyze_of_a_run_folder_or_a_missing_one_says_what_it_takes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    (run / "timeseries.parquet").write_bytes(b"")
    assert main(["analyze", str(run)]) == 2
    assert f"{run} is a run folder, not a sweep" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "nope")]) == 2
    assert f"{tmp_path / 'nope'} does not exist" in capsys.readouterr().err
