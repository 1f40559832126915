"""The forward scenarios (configs/forward/) change only what they are about (experiments/README.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from reflow.config import load_config
from reflow.policy import PolicyTimeline

ROOT = Path(__file__).resolve().parents[1]
FORWARD = sorted((ROOT / "configs" / "forward").glob("*.toml"))


def _coverage(path: Path, day: dt.date) -> np.ndarray:
    sc = load_config(path)
    return PolicyTimeline(list(sc.policy), default_approval=sc.licensing.approval_rate).state(day).coverage


@pytest.mark.parametrize("path", FORWARD, ids=lambda p: p.stem)
def test_forward_scenarios_keep_the_2025_scope_of_the_controls(path: Path) -> None:
    # A licensing event that takes over from the 2025 ones replaces their scope as well (ODD 7.1); none of the
    # forward scenarios is about widening the control to every purchase (No. 18 reaches Dy/Tb-containing grades).
    base = _coverage(ROOT / "configs" / "controls_2025.toml", dt.date(2026, 6, 1))
    for day in (dt.date(2026, 6, 1), dt.date(2027, 1, 4), dt.date(2029, 1, 1)):
        np.testing.assert_array_equal(_coverage(path, day), base, err_msg=f"{path.name} on {day}")
