"""reflow on both Mesa lines it supports (3.3 on Python 3.11, 3.5 on 3.12+): the Mesa API it relies on."""

from __future__ import annotations

import datetime as dt

import mesa
import numpy as np

from reflow.config import Scenario, validate
from reflow.model import ReflowModel


def _model(seed: int = 1) -> ReflowModel:
    return ReflowModel(validate({"scenario": {"name": "compat", "start": dt.date(2025, 1, 6), "weeks": 4}}),
                       rng=seed)


def test_the_model_keeps_its_configuration_out_of_mesas_scenario_attribute() -> None:
    """Mesa 3.5's `Model.scenario` is Mesa's own Scenario (a property that sets `scenario.model`): reflow's
    configuration lives in `model.config`, so the model builds on either Mesa."""
    m = _model()
    assert isinstance(m.config, Scenario)
    assert not isinstance(getattr(m, "scenario", None), Scenario)
    assert isinstance(m, mesa.Model) and len(m.agents) > 0


def test_the_seed_goes_through_rng_and_gives_the_same_run() -> None:
    a, b, c = _model(3), _model(3), _model(4)
    for m in (a, b, c):
        while m.running:
            m.step()
    same = np.array_equal(np.asarray(a.rec.data["stock_total"]), np.asarray(b.rec.data["stock_total"]))
    assert same and a.rng.random() == b.rng.random()
    assert not np.array_equal(a.pop.plan, c.pop.plan)  # firm sizes are drawn from the seed
