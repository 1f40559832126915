"""Shared fixtures for the test suite (keep minimal: add fixtures, never remove them)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

# The smallest raw config `reflow.config.validate` accepts: everything else takes its sourced default.
MINIMAL_RAW: dict[str, Any] = {"scenario": {"name": "unit", "start": "2025-01-06", "weeks": 10}}


@pytest.fixture
def minimal_raw() -> dict[str, Any]:
    """A fresh copy of the minimal raw config dict (safe to mutate)."""
    return copy.deepcopy(MINIMAL_RAW)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked slow unless asked for (`-m slow`, or REFLOW_SLOW=1 to run everything)."""
    import os

    if os.environ.get("REFLOW_SLOW") == "1" or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or REFLOW_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
