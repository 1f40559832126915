"""The model's agents: Chinese producers and domestic industry, the licensing authority, manufacturers,
alternative suppliers and strategic stockpiles."""

from reflow.agents.authority import LicensingAuthority
from reflow.agents.china import ChinaDomesticIndustry, ChineseProducer, ProducerFleet
from reflow.agents.manufacturers import Manufacturer, ManufacturerPopulation
from reflow.agents.suppliers import AltSupplier, StrategicStockpile, SupplierFleet

__all__ = [
    "AltSupplier",
    "ChinaDomesticIndustry",
    "ChineseProducer",
    "LicensingAuthority",
    "Manufacturer",
    "ManufacturerPopulation",
    "ProducerFleet",
    "StrategicStockpile",
    "SupplierFleet",
]
