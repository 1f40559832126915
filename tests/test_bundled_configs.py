"""Every bundled scenario and sweep file is valid as shipped (the checks `reflow validate` runs), so a change to the
schema or to a default cannot leave a config in configs/ that fails only when someone runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.config import load_config
from reflow.experiment.sweeper import check_sweep

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SCENARIOS = sorted(p for p in CONFIGS.rglob("*.toml") if p.parent.name != "sweeps")
SWEEPS = sorted((CONFIGS / "sweeps").glob("*.toml"))


def test_there_are_bundled_configs_to_check() -> None:
    assert len(SCENARIOS) >= 4 and len(SWEEPS) >= 3


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_bundled_scenario_is_valid(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.scenario.weeks > 0 and cfg.scenario.name


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_bundled_sweep_and_all_its_points_are_valid(path: Path) -> None:
    cfg, points, runs = check_sweep(path)
    assert points >= 2 and runs == points * cfg.sweep.replicates
    assert cfg.base_path.is_file()
