"""`extends = "base.toml"`: forward scenarios build on a base config without copying it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.config import load_config, load_raw, merge_raw
from reflow.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_merge_tables_and_id_keyed_lists() -> None:
    base = {"scenario": {"name": "a", "weeks": 10}, "policy": [{"id": "x", "approval_rate": 0.2},
                                                                {"id": "y", "approval_rate": 0.3}]}
    top = {"scenario": {"name": "b"}, "policy": [{"id": "y", "resume": "2026-01-01"}, {"id": "z"}]}
    out = merge_raw(base, top)
    assert out["scenario"] == {"name": "b", "weeks": 10}
    assert [p["id"] for p in out["policy"]] == ["x", "y", "z"]
    assert out["policy"][1] == {"id": "y", "approval_rate": 0.3, "resume": "2026-01-01"}
    assert base["policy"][1] == {"id": "y", "approval_rate": 0.3}  # the base is not modified


def test_forward_scenario_extends_controls_2025() -> None:
    base = load_config(CONFIGS / "controls_2025.toml")
    fwd = load_config(CONFIGS / "forward" / "suspension_lapses.toml")
    assert fwd.scenario.name == "fwd_suspension_lapses"
    assert fwd.scenario.start == base.scenario.start and fwd.scenario.weeks == base.scenario.weeks
    assert str(fwd.event("oct2025_extraterritorial").resume) == "2026-11-10"
    assert fwd.event("apr2025").approval_rate == base.event("apr2025").approval_rate
    assert {e.id for e in base.policy} < {e.id for e in fwd.policy}


def test_extends_errors_name_the_file(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    a.write_text('extends = "missing.toml"\n')
    with pytest.raises(ConfigError, match=r"a\.toml: extends = 'missing\.toml': no such file"):
        load_raw(a)
    a.write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(ConfigError, match="loop"):
        load_raw(a)
    a.write_text("extends = 3\n")
    with pytest.raises(ConfigError, match="expected the path of a base config"):
        load_raw(a)


# ------------------------------------------------------------------------- errors name the file that holds the key

BASE = """[scenario]
name = "base"
start = 2025-01-06
weeks = 10

[licensing]
approval_rate = 1.5
aproval_rate = 0.3

[[policy]]
id = "apr"
kind = "licensing"
materials = ["dy_oxide"]
effective = 2025-04-07

[[policy]]
id = "undated"
kind = "licensing"
materials = ["dy_oxide"]
"""

CHILD = """extends = "base.toml"

[scenario]
name = "child"
weeks = 2

[[policy]]
id = "apr"
suspend = 2025-01-06

[[policy]]
id = "undated"
effective = 2025-05-05
"""


def _message(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value)


def _line(msg: str, start: str) -> str:
    return next(line for line in msg.splitlines() if line.strip().startswith(start))


def test_an_error_in_a_base_file_names_the_base_not_the_child(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(BASE)
    child = tmp_path / "child.toml"
    child.write_text(CHILD)
    msg = _message(child)
    base = str(tmp_path / "base.toml")
    assert msg.startswith(f"{child}: invalid config")
    assert _line(msg, "licensing.approval_rate = 1.5").endswith(
        f"(in {base}, which {child} extends; fix it there, or set it in {child})")
    assert _line(msg, "licensing.aproval_rate: unknown key").endswith(
        f"(in {base}, which {child} extends; fix it there)")
    # what the child sets is the child's, even in an entry that the base starts
    assert "scenario.weeks = 2:" in msg and base not in _line(msg, "scenario.weeks")
    assert _line(msg, "policy.apr:").endswith(f"(its keys are set in {child} and {base})")  # suspend before effective


def test_a_key_the_child_sets_is_the_childs_and_an_override_is_the_overrides(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(BASE.replace("aproval_rate = 0.3\n", ""))
    child = tmp_path / "child.toml"
    child.write_text(CHILD.replace("weeks = 2", "weeks = 10") + "\n[licensing]\napproval_rate = 1.2\n")
    line = _line(_message(child), "licensing.approval_rate")
    assert line.strip().startswith("licensing.approval_rate = 1.2:") and "base.toml" not in line
    line = _line(_message(child, ["licensing.approval_rate=1.1"]), "licensing.approval_rate")
    assert line.endswith("(from --set licensing.approval_rate=1.1, not the file)") and "base.toml" not in line


def test_a_missing_key_of_an_entry_names_the_file_of_the_entry(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(BASE.replace("approval_rate = 1.5", "approval_rate = 0.5"))
    child = tmp_path / "child.toml"
    child.write_text('extends = "base.toml"\n')
    line = _line(_message(child), "policy.undated.effective")
    assert line.endswith(f"(policy.undated is in {tmp_path / 'base.toml'}, which {child} extends)")


def test_a_chain_of_three_names_the_file_and_the_way_to_it(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "mid.toml").write_text('extends = "base.toml"\n[china]\nbase_utilisation = 7\n')
    top = tmp_path / "sub" / "top.toml"
    top.parent.mkdir()
    top.write_text('extends = "../mid.toml"\n[[policy]]\nid = "undated"\neffective = 2025-05-05\n')
    msg = _message(top)
    base, mid = tmp_path / "base.toml", tmp_path / "mid.toml"
    assert _line(msg, "licensing.approval_rate").endswith(
        f"(in {base}, which {top} extends through {mid}; fix it there, or set it in {top})")
    assert _line(msg, "china.base_utilisation = 7").endswith(f"(in {mid}, which {top} extends; fix it there, "
                                                             f"or set it in {top})")


def test_reflow_run_and_validate_name_the_base_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import reflow
    from reflow.cli import main

    (tmp_path / "base.toml").write_text(BASE.replace("aproval_rate = 0.3\n", ""))
    child = tmp_path / "child.toml"
    child.write_text(CHILD.replace("weeks = 2", "weeks = 10").replace("suspend = 2025-01-06", "label = 'x'"))
    with pytest.raises(ConfigError, match=rf"approval_rate = 1\.5: .*\(in {tmp_path / 'base.toml'}, which"):
        reflow.run(child, out=None)
    assert main(["validate", str(child)]) == 2
    assert f"(in {tmp_path / 'base.toml'}, which {child} extends" in capsys.readouterr().err


def test_an_override_that_names_an_entry_by_index_is_the_overrides_not_the_base_files(tmp_path: Path) -> None:
    # `--set policy.0.approval_rate=...` addresses the base's entry by position (as apply_overrides allows); the
    # error must name the override, not send the user to fix a base file that holds a valid value.
    (tmp_path / "base.toml").write_text(BASE.replace("approval_rate = 1.5\naproval_rate = 0.3\n", "")
                                        .replace('materials = ["dy_oxide"]\n\n', 'materials = ["dy_oxide"]\n'
                                                 'effective = 2025-04-07\n\n', 1))
    child = tmp_path / "child.toml"
    child.write_text('extends = "base.toml"\n[[policy]]\nid = "undated"\neffective = 2025-05-05\n')
    load_config(child)  # valid as it is
    for key in ("policy.0", "policy.-2", "policy.apr"):
        line = _line(_message(child, [f"{key}.approval_rate=1.1"]), "policy.apr.approval_rate = 1.1")
        assert line.endswith(f"(from --set {key}.approval_rate=1.1, not the file)"), line
        assert "base.toml" not in line


def test_a_base_file_is_named_even_when_the_working_folder_is_gone(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "base.toml").write_text(BASE)
    child = tmp_path / "child.toml"
    child.write_text(CHILD)

    def gone() -> Path:
        raise FileNotFoundError("the working folder was deleted")

    monkeypatch.setattr(Path, "cwd", staticmethod(gone))
    assert f"(in {tmp_path / 'base.toml'}, which" in _message(child)
