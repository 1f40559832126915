"""Scenario configuration: the schema, its defaults (with sources), TOML loading, overrides and validation.

A config is data. It is validated here, once; everything downstream receives a typed `Scenario` and trusts it.
Defaults come from ``../shared/DOMAIN.md`` (tags [V] primary, [V2] trade press quoting a primary, [D] derived,
[R] recalled/placeholder); ``docs/parameters.md`` lists every field with unit and source.

The package re-exports its public API; each module has one job:

- `schema`: the pydantic models of each config section, their defaults and sources; `Scenario`.
- `events`: the models of the policy events (one per `kind`) and their union, `PolicyEvent`.
- `base`: the schema's number types and `_Base`, the model every table derives from.
- `loading`: TOML reading, `extends` chains and their merge; `load_config` (load, override, validate).
- `origins`: which file of an `extends` chain set each key (`KeyOrigins`), for messages.
- `overrides`: key paths: ``--set KEY.PATH=VALUE`` parsing and application, and `key_paths` (a config flattened).
- `errors`: `validate`, and messages that name each problem's key, file (or override) and fix.
- `dump`: `dump_toml`, the resolved config as TOML.
"""

from __future__ import annotations

# ruff: noqa: F401 -- `__all__` is the API as before the split; the other names imported here (the models,
# helpers, `ConfigError`) stay importable as `from reflow.config import X`, as they were.
from reflow.config.base import FOLDER_NAME_PATTERN, Frac, NonNeg, Pos
from reflow.config.dump import dump_toml
from reflow.config.errors import validate
from reflow.config.events import (
    POLICY_KINDS,
    EmbargoEvent,
    EnforcementEvent,
    ExportQuotaEvent,
    ExportTaxEvent,
    ExtraterritorialEvent,
    GeneralLicenceEvent,
    InvestmentSupportEvent,
    LicensingEvent,
    PolicyEvent,
    PriceDefenceEvent,
    PriceFloorEvent,
    ProductionCapEvent,
    QuotaLicencePriceEvent,
    StockpileReleaseEvent,
    TariffEvent,
    _EventBase,
)
from reflow.config.loading import load_config, load_raw, load_raw_traced, merge_raw, read_toml
from reflow.config.origins import KeyOrigins, KeyPath
from reflow.config.overrides import OverrideSource, apply_overrides, key_paths, parse_set_args
from reflow.config.schema import (
    SECTOR_LIST,
    ChinaConfig,
    GrowthConfig,
    InvestmentConfig,
    LicensingConfig,
    LightREEConfig,
    ManufacturerConfig,
    MaterialConfig,
    Materials,
    Scenario,
    ScenarioSection,
    SupplierConfig,
    TransshipmentConfig,
)
from reflow.errors import ConfigError

__all__ = [
    "KeyOrigins",
    "OverrideSource",
    "Scenario",
    "apply_overrides",
    "dump_toml",
    "key_paths",
    "load_config",
    "load_raw",
    "load_raw_traced",
    "merge_raw",
    "parse_set_args",
    "validate",
]
