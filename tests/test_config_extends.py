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
