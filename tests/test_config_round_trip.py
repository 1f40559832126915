"""`dump_toml` writes what it is given: a date (from its type) as a TOML date, any text as a TOML string, however
much it looks like a date. So a run folder's config.toml and a sweep folder's base.toml and sweep.toml read back
as the scenario (and sweep) they were written from.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reflow
from reflow.config import Scenario, dump_toml, load_config, load_raw, validate
from reflow.experiment import sweep
from reflow.experiment.sweep_config import load_sweep_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SCENARIOS = sorted(p for p in CONFIGS.rglob("*.toml") if p.parent.name != "sweeps")  # sweeps/bases/ included
DATE_LIKE = ["2024-01-01", "2025-06-30", "1999-12-31T23:59:59", "2024-01-01 10:00:00", "07:30:00",
             "2024-01-01T00:00:00Z", "2024-02-30"]

# ------------------------------------------------------------------------------------------------ property


_text = st.one_of(st.text(max_size=12), st.sampled_from(DATE_LIKE), st.dates().map(str),
                  st.datetimes().map(dt.datetime.isoformat), st.times().map(dt.time.isoformat))
_scalar = st.one_of(
    _text,
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30))])),
    st.times(),
)
_key = st.one_of(st.text(max_size=6), st.sampled_from(["start", "2024-01-01", "a.b", "id"]))
_data = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(_key, inner, max_size=3)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_key, _data, max_size=5))
def test_dump_toml_reads_back_as_the_same_values_and_types(data: dict[str, Any]) -> None:
    back = tomllib.loads(dump_toml(data))
    assert back == data
    assert _types(back) == _types(data)  # == alone would not tell 1 from 1.0 or True


def _types(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _types(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_types(x) for x in v]
    return type(v).__name__


@settings(max_examples=60, deadline=None)
@given(description=_text, label=_text, source=_text, start=st.dates(dt.date(1990, 1, 1), dt.date(2090, 1, 1)))
def test_a_scenario_with_any_text_round_trips(description: str, label: str, source: str, start: dt.date) -> None:
    raw = {"scenario": {"name": "prop", "description": description, "start": start, "weeks": 10},
           "policy": [{"id": "p", "kind": "licensing", "materials": ["dy_oxide"], "effective": start, "label": label,
                       "source": source}]}
    sc = validate(raw)
    back = validate(tomllib.loads(dump_toml(sc.model_dump(exclude_none=True))))
    assert back == sc


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_bundled_scenario_round_trips(path: Path) -> None:
    sc = load_config(path)
    assert validate(tomllib.loads(dump_toml(sc.model_dump(exclude_none=True)))) == sc
    raw = load_raw(path)  # what a sweep folder's base.toml is written from
    assert tomllib.loads(dump_toml(raw)) == raw


def test_dump_toml_writes_text_as_text_and_dates_as_dates() -> None:
    text = dump_toml({"scenario": {"description": "2024-01-01", "start": dt.date(2024, 1, 1)}})
    assert 'description = "2024-01-01"' in text and "start = 2024-01-01\n" in text


# ------------------------------------------------------------------------------------------------ run folders


def test_a_run_folders_config_toml_keeps_a_date_like_description(tmp_path: Path) -> None:
    raw = {"scenario": {"name": "datelike", "description": "2024-01-01", "start": dt.date(2025, 1, 6),
                        "weeks": 4}}
    res = reflow.run(raw, seed=2, out=tmp_path, run_id="r", figures=False)
    assert res.path is not None
    again = load_config(res.path / "config.toml")
    assert again.scenario.description == "2024-01-01"
    assert again == res.config.model_copy(update={"scenario": res.config.scenario.model_copy(update={"seed": 2})})


# ------------------------------------------------------------------------------------------------ sweep folders

BASE = """[scenario]
name = "fake_base"
description = "2024-01-01"
start = 2024-01-01
weeks = 8
"""

SWEEP = """[sweep]
name = "dates"
base = "base.toml"
root_seed = 3

[[parameters]]
key = "scenario.start"
values = ["2024-01-01", "2024-03-04"]
"""


def test_a_sweep_folder_keeps_text_as_text_and_resumes_from_itself(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "sweep.toml").write_text(SWEEP)
    out = tmp_path / "out"
    first = sweep(tmp_path / "sweep.toml", out=out, workers=0, progress=False,
                  runner="reflow.experiment.fakes:analytic")
    assert first.counts == {"ok": 2}
    base = load_raw(out / "base.toml")
    assert base["scenario"]["description"] == "2024-01-01" and base["scenario"]["start"] == dt.date(2024, 1, 1)
    assert load_sweep_config(out / "sweep.toml").parameters[0].values == ["2024-01-01", "2024-03-04"]
    again = sweep(out, workers=0, progress=False, runner="reflow.experiment.fakes:analytic")
    assert again.ran == 0 and again.counts == {"ok": 2}
    assert isinstance(validate(base), Scenario)
