"""The thin agents are read-only views of their fleet's arrays (ODD 2): every attribute read through to a fleet
shows the fleet's entry as it is now, cannot be assigned on the agent, and documents itself (help() tells the
unit)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from reflow.agents import AltSupplier, ChineseProducer, Manufacturer
from reflow.config import load_config
from reflow.domain import MATERIALS
from reflow.model import ReflowModel

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# Attributes that show one entry of the fleet array of the same name (arrays that are not properties).
PLAIN = {
    ChineseProducer: ("material", "capacity", "cost", "stock", "output"),
    AltSupplier: ("material", "region", "nameplate", "cost", "online", "stock", "output"),
}


@pytest.fixture(scope="module")
def model() -> ReflowModel:
    m = ReflowModel(load_config(CONFIGS / "controls_2025.toml"), rng=1)
    for _ in range(3):
        m.step()
    return m


def _agents(model: ReflowModel, cls: type) -> list:
    return {ChineseProducer: model.producers, AltSupplier: model.suppliers,
            Manufacturer: [a for a in model.agents if isinstance(a, Manufacturer)]}[cls]


@pytest.mark.parametrize("cls", [ChineseProducer, AltSupplier])
def test_agent_attributes_follow_the_fleet(model, cls) -> None:
    for agent in _agents(model, cls)[:4]:
        for name in PLAIN[cls]:
            arr = getattr(agent.fleet, name)
            assert getattr(agent, name) == arr[agent.index]
            before = arr[agent.index]
            arr[agent.index] = before + 1  # a change to the fleet is what the agent shows next
            assert getattr(agent, name) == before + 1
            arr[agent.index] = before


def test_manufacturer_rows_are_dicts_by_material(model) -> None:
    f = _agents(model, Manufacturer)[0]
    pop = f.population
    assert f.stock == {m: pop.stock[f.index, i] for i, m in enumerate(MATERIALS)}
    assert f.non_china_share == {m: pop.nc_share[f.index, i] for i, m in enumerate(MATERIALS)}
    assert isinstance(f.region, str) and isinstance(f.sector, str)


@pytest.mark.parametrize("cls", [ChineseProducer, AltSupplier, Manufacturer])
def test_view_attributes_are_read_only_and_documented(model, cls) -> None:
    agent = _agents(model, cls)[0]
    names = [n for n, v in vars(cls).items() if not n.startswith("_") and not callable(v)]
    assert "stock" in names
    for name in names:
        assert inspect.getdoc(getattr(cls, name)), f"{cls.__name__}.{name} has no docstring"
        before = getattr(agent, name)
        with pytest.raises(AttributeError):
            setattr(agent, name, before)
        # (an instance cannot shadow the view: the fleet's value still shows)
        assert getattr(agent, name) == before
