"""`reflow validate`: clear messages, exit code 2 and no traceback for bad configs; 0 for good ones."""

from __future__ import annotations

from pathlib import Path

from reflow.cli import main

GOOD = '''
[scenario]
name = "cli_unit"
start = 2025-01-06
weeks = 12

[licensing]
approval_rate = 0.8
'''

# The acceptance case of issue 2: a typo'd key, a string where a number belongs and an approval rate of 1.5.
BAD = '''
[scenario]
name = "cli_unit"
start = 2025-01-06
weeks = 12

[china]
base_utilization = 0.9
unit_cost_share = "high"

[licensing]
approval_rate = 1.5
'''


def _write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_valid_config_exits_zero_and_says_ok(tmp_path, capsys):
    p = _write(tmp_path, GOOD)
    assert main(["validate", str(p)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{p}: OK (scenario 'cli_unit', 2025-01-06 + 12 weeks, 0 policy events)")
    assert err == ""


def test_three_problems_give_three_lines_and_exit_code_2(tmp_path, capsys):
    p = _write(tmp_path, BAD)
    assert main(["validate", str(p)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    head, *problems = err.rstrip("\n").splitlines()
    assert head == f"error: {p}: invalid config"  # names the file once
    assert len(problems) == 3
    assert all(line.startswith("  ") for line in problems)
    by_key = {line.split()[0].rstrip(":"): line.strip() for line in problems}
    assert by_key["china.base_utilization"] == (
        "china.base_utilization: unknown key; did you mean 'base_utilisation'?")
    assert by_key["china.unit_cost_share"].startswith(
        "china.unit_cost_share = 'high': Input should be a valid number")
    assert by_key["licensing.approval_rate"].startswith(
        "licensing.approval_rate = 1.5: Input should be less than or equal to 1")


def test_missing_file_is_one_clear_line(tmp_path, capsys):
    missing = tmp_path / "absent.toml"
    assert main(["validate", str(missing)]) == 2
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        f"error: {missing}: config file not found (check the path; bundled scenarios are in configs/)"]


def test_broken_toml_is_one_clear_line(tmp_path, capsys):
    p = _write(tmp_path, "[scenario\nname = 1\n")
    assert main(["validate", str(p)]) == 2
    _, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert line.startswith(f"error: {p}: not valid TOML: ") and "line 1" in line


def test_set_overrides_are_validated_too(tmp_path, capsys):
    p = _write(tmp_path, GOOD)
    assert main(["validate", str(p), "--set", "licensing.approval_rate=0.3"]) == 0
    capsys.readouterr()
    assert main(["validate", str(p), "--set", "licensing.approval_rate=1.5"]) == 2
    _, err = capsys.readouterr()
    assert err.splitlines()[1].strip().startswith("licensing.approval_rate = 1.5:")
    assert main(["validate", str(p), "--set", "licensing.approval_rate"]) == 2
    _, err = capsys.readouterr()
    assert "expected KEY.PATH=VALUE" in err and "Traceback" not in err


SWEEP = '''
[sweep]
name = "cli_sweep"
base = "scenario.toml"
replicates = 2
root_seed = 1

[design]
method = "grid"

[[parameters]]
key = "licensing.approval_rate"
values = [0.2, 0.6]
'''


def test_a_sweep_file_is_validated_as_a_sweep_with_every_point(tmp_path, capsys):
    _write(tmp_path, GOOD)
    sweep = _write(tmp_path, SWEEP, "sweep.toml")
    assert main(["validate", str(sweep)]) == 0
    out, _ = capsys.readouterr()
    assert out.strip() == f"{sweep}: OK (sweep 'cli_sweep', grid design of 2 points, 4 runs, base scenario.toml)"
    # A value the scenario schema refuses is reported for the design point that makes it, before anything runs.
    bad = _write(tmp_path, SWEEP.replace("[0.2, 0.6]", "[0.2, 1.5]"), "bad_sweep.toml")
    assert main(["validate", str(bad)]) == 2
    _, err = capsys.readouterr()
    assert "licensing.approval_rate = 1.5" in err and "design point" in err and "Traceback" not in err
    # So is a key path the scenario does not have, and a missing base scenario.
    typo = _write(tmp_path, SWEEP.replace('key = "licensing.approval_rate"', 'key = "licensing.aproval_rate"'),
                  "typo_sweep.toml")
    assert main(["validate", str(typo)]) == 2
    _, err = capsys.readouterr()
    assert "aproval_rate" in err and "Traceback" not in err
    nobase = _write(tmp_path, SWEEP.replace('base = "scenario.toml"', 'base = "absent.toml"'), "nobase.toml")
    assert main(["validate", str(nobase)]) == 2
    _, err = capsys.readouterr()
    assert "absent.toml" in err and "not found" in err
    assert not any(p.is_dir() for p in tmp_path.iterdir()), "validating a sweep wrote a results folder"


def test_an_end_date_under_scenario_points_at_weeks_not_at_a_similar_spelling(tmp_path, capsys):
    """`end = 2026-01-01` was refused with "did you mean 'seed'" (the closest spelling); the horizon is `weeks`,
    counted from `start`, and the message says so, with the value that reaches the date given."""
    p = _write(tmp_path, GOOD.replace("weeks = 12", "end = 2026-01-05"))
    assert main(["validate", str(p)]) == 2
    problems = [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]
    assert "scenario.end: unknown key; the run's length is set by 'weeks', counted from 'start' (52 a year); "\
        "weeks = 53 runs from 2025-01-06 to the week of 2026-01-05" in problems
    assert not any("did you mean" in line for line in problems)
    for key, value in (("end_date", '"2025-12-31"'), ("until", "2026-01-01"), ("horizon", "104"), ("stop", "1")):
        p = _write(tmp_path, GOOD.replace("weeks = 12", f"weeks = 12\n{key} = {value}"))
        assert main(["validate", str(p)]) == 2
        (line,) = [ln.strip() for ln in capsys.readouterr().err.splitlines()[1:]]
        assert line.startswith(f"scenario.{key}: unknown key; the run's length is set by 'weeks'"), line


LATE = GOOD + '''
[[policy]]
id = "late"
kind = "licensing"
effective = 2025-06-02
materials = ["dy_oxide"]
approval_rate = 0.5

[[policy]]
id = "early_word"
kind = "licensing"
announce = 2025-03-10
effective = 2025-06-02
materials = ["tb_oxide"]
approval_rate = 0.5

[[policy]]
id = "late_word"
kind = "licensing"
announce = 2025-04-07
effective = 2025-05-05
materials = ["ndpr_oxide"]
approval_rate = 0.5

[[policy]]
id = "inside"
kind = "licensing"
effective = 2025-02-03
materials = ["tb_oxide"]
approval_rate = 0.5
'''


def test_a_policy_event_after_the_run_is_one_warning_from_validate_and_run_not_from_the_library(tmp_path, capsys):
    """A measure dated after the run's last week has no effect, and nothing said so. `validate` and `run` warn
    once per such event on stderr (not an error: a shortened run legitimately leaves later measures out); an
    event announced inside the run (it moves buyers before it takes effect) is not one; the library, which a
    sweep calls for every run, prints nothing."""
    import reflow

    p = _write(tmp_path, LATE)  # 12 weeks from 2025-01-06: the last week starts on 2025-03-24
    dated = (("late", "effective 2025-06-02"), ("late_word", "announced 2025-04-07"))
    expected = [f"warning: {p}: policy event '{ev}' ({when}) is after the run's last week (2025-03-24); it will "
                "have no effect" for ev, when in dated]
    assert main(["validate", str(p)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{p}: OK") and err.splitlines() == expected
    assert main(["run", str(p), "--out", str(tmp_path / "res"), "--no-figures", "-q"]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == expected and "Results written to" in out
    reflow.run(p, out=None, progress=False)
    assert capsys.readouterr().err == ""


RATED = GOOD + '''
[[policy]]
id = "controls"
kind = "licensing"
effective = 2025-01-13
materials = ["dy_oxide"]
approval_rate = 0.25
'''


def test_set_licensing_approval_rate_that_reaches_no_event_is_a_warning(tmp_path, capsys):
    """`--set licensing.approval_rate=0.4`, the example of the --set help, is only the rate of licensing events
    that set none of their own; every event of the bundled scenarios sets one, so the override changed nothing
    and nothing said so. `validate` and `run` now warn, naming an event to set instead; not when some event takes
    the default rate, nor for other overrides."""
    rated = _write(tmp_path, RATED)
    args = ["--set", "licensing.approval_rate=0.4"]
    assert main(["validate", str(rated), *args]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: --set licensing.approval_rate=0.4 changes nothing") and err.count("\n") == 1
    assert "--set policy.controls.approval_rate=" in err and str(rated) in err
    assert main(["run", str(rated), "--out", str(tmp_path / "res"), "--no-figures", "-q", *args]) == 0
    assert "warning: --set licensing.approval_rate=0.4 changes nothing" in capsys.readouterr().err

    assert main(["validate", str(_write(tmp_path, GOOD, "none.toml")), *args]) == 0  # no licensing event at all
    assert "has no licensing event" in capsys.readouterr().err

    default = _write(tmp_path, RATED.replace("approval_rate = 0.25\n", ""), "default.toml")
    assert main(["validate", str(default), *args]) == 0  # this event takes the default: the override acts
    assert main(["validate", str(rated), "--set", "policy.controls.approval_rate=0.4"]) == 0
    assert main(["validate", str(rated)]) == 0
    assert capsys.readouterr().err == ""


def test_a_scenario_name_too_long_for_a_folder_is_refused_up_front(tmp_path, capsys):
    """A 300-character scenario.name passed `validate`, and `reflow run` died making its results folder with a
    traceback (OSError: File name too long, the file system's 255 bytes)."""
    p = _write(tmp_path, GOOD.replace('name = "cli_unit"', f'name = "{"a" * 300}"'))
    assert main(["run", str(p), "--out", str(tmp_path / "res"), "--no-figures", "-q"]) == 2
    err = capsys.readouterr().err
    assert "scenario.name" in err and "at most 100 characters" in err and "Traceback" not in err
    assert not (tmp_path / "res").exists()
    assert main(["validate", str(_write(tmp_path, GOOD.replace("cli_unit", "a" * 100), "ok.toml"))]) == 0
