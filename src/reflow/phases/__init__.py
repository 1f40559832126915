"""The phases of the model's week, as mixins of `reflow.model.ReflowModel`: each module holds one part of the
weekly market (docs/ODD.md, "Process overview and scheduling"); `ReflowModel.step` calls them in order."""

from reflow.phases.exports import ChinaExports
from reflow.phases.light import LightMarket
from reflow.phases.offtakes import OfftakesAndRelationships
from reflow.phases.record import WeekRecord
from reflow.phases.spot import SpotMarkets

__all__ = ["ChinaExports", "LightMarket", "OfftakesAndRelationships", "SpotMarkets", "WeekRecord"]
