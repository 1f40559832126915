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
