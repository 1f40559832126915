"""A bad key path or value in a sweep names what in the sweep file made it: the `[[parameters]]` entry (position,
key, value and the fix), the `[sweep.set]` key or the design CSV's column, not the `--set KEY=VALUE` of a command
line that was never typed; a problem in the base scenario names the file of its `extends` chain that holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.errors import ConfigError
from reflow.experiment import evaluate, sweep
from reflow.experiment.sweep_config import load_sweep_config
from reflow.experiment.sweeper import check_sweep

FAKES = "reflow.experiment.fakes"

BASE = """[scenario]
name = "base"
start = 2025-01-06
weeks = 8

[[policy]]
id = "apr"
kind = "licensing"
materials = ["dy_oxide"]
effective = 2025-02-03
approval_rate = 0.5
"""

SWEEP = """[sweep]
name = "errs"
base = "base.toml"
root_seed = 1

[sweep.set]
"scenario.weeks" = 6

[[parameters]]
key = "licensing.review_working_days_median"
values = [20, 40]

[[parameters]]
key = "policy.apr.approval_rate"
values = [0.5, 1.5]
"""


def _write(tmp_path: Path, sweep_text: str = SWEEP, base: str = BASE) -> Path:
    (tmp_path / "base.toml").write_text(base)
    path = tmp_path / "sweep.toml"
    path.write_text(sweep_text)
    return path


def _error(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        check_sweep(path, overrides=overrides)
    return str(info.value)


def test_a_bad_value_names_the_parameter_entry_its_value_and_the_fix(tmp_path: Path) -> None:
    path = _write(tmp_path)
    msg = _error(path)
    assert (f'policy.apr.approval_rate = 1.5: Input should be less than or equal to 1 (expected: probability an '
            f'application is approved (default: licensing.approval_rate)) (from the 2nd [[parameters]] entry of '
            f'{path} (key = "policy.apr.approval_rate"), value 1.5; change its values to ones the key accepts)'
            ) in msg
    assert "--set" not in msg


def test_a_range_says_to_narrow_it(tmp_path: Path) -> None:
    text = SWEEP.replace("values = [0.5, 1.5]", "low = 0.5\nhigh = 1.5\nsteps = 3")
    msg = _error(_write(tmp_path, text))
    assert ('(from the 2nd [[parameters]] entry of ' in msg and 'value 1.5; narrow its range (low, high) to values '
            'the key accepts)' in msg)


def test_a_bad_key_path_names_the_parameter_entry_once(tmp_path: Path) -> None:
    path = _write(tmp_path, SWEEP.replace('"policy.apr.approval_rate"', '"policy.aprl.approval_rate"'))
    msg = _error(path)
    line = f'the 2nd [[parameters]] entry of {path} (key = "policy.aprl.approval_rate"): no entry with id \'aprl\''
    assert line in msg and msg.count(line) == 1  # the same at every point: said once
    assert "--set" not in msg


def test_sweep_set_is_named_as_in_the_file_and_a_command_line_set_as_set(tmp_path: Path) -> None:
    path = _write(tmp_path, SWEEP.replace('"scenario.weeks" = 6', '"scenario.weeks" = 2')
                  .replace("[0.5, 1.5]", "[0.5, 0.6]"))
    assert f'(from [sweep.set] "scenario.weeks" of {path}, value 2; change it there)' in _error(path)
    msg = _error(path, ["scenario.weeks=3"])
    assert "(from --set scenario.weeks=3, not the file)" in msg and "[sweep.set]" not in msg


def test_a_design_csv_column_is_named(tmp_path: Path) -> None:
    text = ('[sweep]\nname = "csv"\nbase = "base.toml"\nroot_seed = 1\n[design]\nmethod = "from_csv"\n'
            'path = "points.csv"\n')
    path = _write(tmp_path, text)
    (tmp_path / "points.csv").write_text("policy.apr.approval_rate\n0.5\n1.5\n")
    msg = _error(path)
    assert (f"(from column 'policy.apr.approval_rate' of the design CSV {tmp_path / 'points.csv'} (design.path of "
            f"{path}), value 1.5; change the values in that column)") in msg


def test_sweep_refuses_before_writing_and_names_the_entry(tmp_path: Path) -> None:
    path = _write(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"from the 2nd \[\[parameters\]\] entry of .*sweep\.toml"):
        sweep(path, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    assert not out.exists()  # nothing written: not even the folder and lock it took
    out.mkdir()
    with pytest.raises(ConfigError):
        sweep(path, out=out, workers=0, progress=False, runner=f"{FAKES}:analytic")
    assert out.is_dir()  # a folder it did not make stays


def test_a_problem_in_the_base_names_the_file_that_holds_it(tmp_path: Path) -> None:
    (tmp_path / "parent.toml").write_text(BASE.replace("[[policy]]", "[china]\nbase_utilisation = 7\n\n[[policy]]"))
    (tmp_path / "child.toml").write_text('extends = "parent.toml"\n[scenario]\nname = "child"\n')
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.replace('base = "base.toml"', 'base = "child.toml"').replace("[0.5, 1.5]", "[0.5, 0.6]"))
    msg = _error(path)
    assert (f"china.base_utilisation = 7: Input should be less than or equal to 1 (expected: share of capacity "
            f"used at reference prices [R]) (in {tmp_path / 'parent.toml'}, which {tmp_path / 'child.toml'} "
            "extends; fix it there)") in msg


def test_a_bad_parameter_entry_is_named_by_its_key(tmp_path: Path) -> None:
    path = _write(tmp_path, SWEEP.replace("values = [0.5, 1.5]", "low = 0.9\nhigh = 0.1\nsteps = 3"))
    with pytest.raises(ConfigError) as info:
        load_sweep_config(path)
    assert ('parameters.1 (the 2nd [[parameters]] entry, key = "policy.apr.approval_rate"): need finite low < high'
            in str(info.value))


def test_evaluate_names_the_argument(tmp_path: Path) -> None:
    base = _write(tmp_path).with_name("base.toml")
    with pytest.raises(ConfigError) as info:
        evaluate(config=base, runner=f"{FAKES}:analytic", policy__apr__approval_rate=1.5)
    assert "(from the argument policy__apr__approval_rate of reflow.evaluate, value 1.5; pass a value the key " \
           "accepts)" in str(info.value)
    with pytest.raises(ConfigError, match=r"^the argument policy__aprl__approval_rate of reflow\.evaluate: no entry"):
        evaluate(config=base, runner=f"{FAKES}:analytic", policy__aprl__approval_rate=0.5)


def test_a_parameter_that_names_an_entry_by_index_is_named(tmp_path: Path) -> None:
    # key = "policy.0.approval_rate" reaches the same entry as "policy.apr.approval_rate"; its bad value is the
    # parameter entry's, not the base file's (which says 0.5).
    path = _write(tmp_path, SWEEP.replace('"policy.apr.approval_rate"', '"policy.0.approval_rate"'))
    msg = _error(path)
    assert (f'(from the 2nd [[parameters]] entry of {path} (key = "policy.0.approval_rate"), value 1.5; change its '
            f'values to ones the key accepts)') in msg
    assert "base.toml" not in msg.split("invalid config", 1)[1]


def test_dates_are_listed_as_in_a_scenario_file_and_a_date_range_is_refused(tmp_path: Path) -> None:
    """`values = [2025-02-03, 2025-03-03]` (unquoted, as scenario files write dates) was refused with eight lines
    per value ('Input should be a valid boolean / integer / number / string')."""
    import json

    text = SWEEP.replace('"policy.apr.approval_rate"\nvalues = [0.5, 1.5]',
                         '"policy.apr.effective"\nvalues = [2025-02-03, 2025-03-03]')
    path = _write(tmp_path, text)
    res = sweep(path, out=tmp_path / "out", workers=0, progress=False)
    assert res.counts == {"ok": 4}
    used = {json.loads(o)["policy.apr.effective"] for o in res.runs["overrides"]}
    assert used == {"2025-02-03", "2025-03-03"}
    ranged = text.replace("values = [2025-02-03, 2025-03-03]", "low = 2025-02-03\nhigh = 2025-03-03\nsteps = 2")
    with pytest.raises(ConfigError) as info:
        load_sweep_config(_write(tmp_path, ranged))
    msg = str(info.value)
    assert 'key = "policy.apr.effective"' in msg and "a range of dates cannot be sampled" in msg
    assert 'values = ["2025-02-03", ...]' in msg and "valid boolean" not in msg


def test_a_command_line_set_of_a_varied_key_is_named_as_set(tmp_path: Path) -> None:
    """It said the key was 'both varied and fixed in [sweep.set]', a table the file did not have."""
    from reflow.experiment.sweep_inputs import _load_cfg

    path = _write(tmp_path)
    msg = _error(path, ["policy.apr.approval_rate=0.5"])
    assert msg.startswith("--set policy.apr.approval_rate=0.5: ") and "[sweep.set]" not in msg
    assert 'varies the 2nd [[parameters]] entry (key = "policy.apr.approval_rate")' in msg
    assert "leave it out of --set" in msg
    with pytest.raises(ConfigError, match=r"^--set policy\.apr\.approval_rate=0\.5: "):  # a SweepConfig
        _load_cfg(load_sweep_config(path), ["policy.apr.approval_rate=0.5"], None)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("timeout", 0, r"--timeout 0: .*> 0"),
    ("timeout", -1.0, r"--timeout -1.0: .*> 0"),
    ("timeout", "5", r"--timeout '5': .*> 0"),
    ("workers", "2", r"--workers '2': .*whole number"),
    ("workers", 1.5, r"--workers 1.5: .*whole number"),
    ("max_attempts", "3", r"--max-attempts '3': .*whole number"),
])
def test_sweep_options_from_python_are_checked_as_on_the_command_line(tmp_path: Path, option: str, value: object,
                                                                         message: str) -> None:
    """`reflow sweep --timeout 0` is refused by the CLI, but reflow.sweep(timeout=0) stored every run as a
    'timeout' failure in the folder; a str for workers or max_attempts was a TypeError from a comparison."""
    from reflow.errors import UsageError
    from reflow.experiment.fakes import write_fake_sweep

    cfg = write_fake_sweep(tmp_path, '[sweep]\nname = "x"\n[[parameters]]\nkey = "licensing.approval_rate"\n'
                                     'values = [0.2, 0.5]\n')
    kwargs = {"workers": 1, option: value}
    with pytest.raises(UsageError, match=message):
        sweep(cfg, out=tmp_path / "out", progress=False, runner="reflow.experiment.fakes:analytic", **kwargs)
    assert not (tmp_path / "out").exists()


def test_a_scenario_or_a_number_given_to_sweep_is_a_clear_error_before_any_work(tmp_path: Path) -> None:
    """reflow.sweep(scenario) and out=<a number> failed with a TypeError about os.fspath from deep inside."""
    import reflow
    from reflow.errors import UsageError
    from reflow.experiment.fakes import write_fake_sweep

    scenario = reflow.load_config(Path(__file__).parents[1] / "configs" / "baseline.toml")
    with pytest.raises(UsageError, match=r"got Scenario \(a sweep varies a base scenario"):
        sweep(scenario, progress=False)  # type: ignore[arg-type]
    cfg = write_fake_sweep(tmp_path, '[sweep]\nname = "x"\n[[parameters]]\nkey = "licensing.approval_rate"\n'
                                     'values = [0.2, 0.5]\n')
    with pytest.raises(UsageError, match="out= is a folder"):
        sweep(cfg, out=3, progress=False, runner="reflow.experiment.fakes:analytic")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.toml", "sweep.toml"]  # nothing written
