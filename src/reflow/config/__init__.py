"""Scenario configuration: the schema, its defaults (with sources), TOML loading, overrides and validation.

A config is data. It is validated here, once; everything downstream receives a typed `Scenario` and trusts it.
Defaults come from ``../shared/DOMAIN.md`` (tags [V] primary, [V2] trade press quoting a primary, [D] derived,
[R] recalled/placeholder); ``docs/parameters.md`` lists every field with unit and source.

The package re-exports its public API; each module has one job:

- `schema`: the pydantic models of each config section, their defaults and sources; `Scenario`.
- `loading`: TOML reading, `extends` chains and their merge; `load_config` (load, override, validate).
- `origins`: which file of an `extends` chain set each key (`KeyOrigins`), for messages.
- `overrides`: ``--set KEY.PATH=VALUE`` parsing and application.
- `errors`: `validate`, and messages that name each problem's key, file (or override) and fix.
- `dump`: `dump_toml`, the resolved config as TOML.
"""

from __future__ import annotations

# ruff: noqa: F401 -- `__all__` is the API as before the split; the other names imported here (the models,
# helpers, `ConfigError`) stay importable as `from reflow.config import X`, as they were.
from reflow.config.dump import dump_toml
from reflow.config.errors import validate
from reflow.config.loading import load_config, load_raw, load_raw_traced, merge_raw, read_toml
from reflow.config.origins import KeyOrigins, KeyPath
from reflow.config.overrides import OverrideSource, apply_overrides, parse_set_args
from reflow.config.schema import (
    FOLDER_NAME_PATTERN,
    POLICY_KINDS,
    SECTOR_LIST,
    ChinaConfig,
    EmbargoEvent,
    EnforcementEvent,
    ExportQuotaEvent,
    ExportTaxEvent,
    ExtraterritorialEvent,
    Frac,
    GeneralLicenceEvent,
    GrowthConfig,
    InvestmentConfig,
    InvestmentSupportEvent,
    LicensingConfig,
    LicensingEvent,
    LightREEConfig,
    ManufacturerConfig,
    MaterialConfig,
    Materials,
    NonNeg,
    PolicyEvent,
    Pos,
    PriceDefenceEvent,
    PriceFloorEvent,
    ProductionCapEvent,
    QuotaLicencePriceEvent,
    Scenario,
    ScenarioSection,
    StockpileReleaseEvent,
    SupplierConfig,
    TariffEvent,
    TransshipmentConfig,
    _EventBase,
)
from reflow.errors import ConfigError

__all__ = [
    "KeyOrigins",
    "OverrideSource",
    "Scenario",
    "apply_overrides",
    "dump_toml",
    "load_config",
    "load_raw",
    "load_raw_traced",
    "merge_raw",
    "parse_set_args",
    "validate",
]
