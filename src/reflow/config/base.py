"""The schema's building blocks: bounded number types, and `_Base`, the model every config table derives from.

`_Base` refuses unknown keys, inf and nan, and true/false where a number is expected, and lets a per-key table
given in part keep the defaults of the keys it leaves out.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

# Finite only: TOML's `inf` passes a `gt=0` bound, and a run with an infinite price or tonnage finishes with
# meaningless numbers. (Every float of the schema is finite anyway: `_Base` sets allow_inf_nan=False.)
Frac = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Pos = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]

# The name of a results folder: safe characters, and not "." or ".." (or only dots), which would put the run
# beside or above the results root. (The Rust regex engine pydantic uses has no look-ahead, hence the form.)
FOLDER_NAME_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$"


def _merge_tables(default: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` over `default`, key by key at every level (tables of tables merge too)."""
    out = dict(default)
    for k, v in given.items():
        d = out.get(k)
        out[k] = _merge_tables(d, v) if isinstance(d, Mapping) and isinstance(v, Mapping) else v
    return out


def _admits(annotation: Any, kinds: tuple[type, ...]) -> bool:
    """Whether a type annotation mentions any of `kinds` (a model, bool) anywhere inside it."""
    if isinstance(annotation, type) and issubclass(annotation, kinds):
        return True
    return any(_admits(a, kinds) for a in typing.get_args(annotation) if not isinstance(a, str | int | float))


def _bool_paths(value: Any, path: str) -> list[str]:
    """``path = true`` for every dotted path under `path` that holds true/false (`path` itself if `value` does)."""
    if isinstance(value, bool):
        return [f"{path} = {'true' if value else 'false'}"]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _bool_paths(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in _bool_paths(v, f"{path}.{i}")]
    return []


class _Base(BaseModel):
    # allow_inf_nan=False: no field of a scenario means anything at infinity (an absent quota is an absent
    # entry, not `inf`), and TOML accepts `inf` and `nan` as floats.
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, data: Any) -> Any:
        """Refuse true/false where a number is expected: pydantic would read them as 1 and 0, so a slip like
        ``--set scenario.seed=true`` would pass. Nested models check their own fields. (A model validator: a
        field validator on every field is not allowed on the `kind` discriminator of policy events.)"""
        if not isinstance(data, Mapping):
            return data
        bad = [p for name, field in cls.model_fields.items()
               if name in data and not _admits(field.annotation, (bool, BaseModel))
               for p in _bool_paths(data[name], name)]
        if bad:
            raise PydanticCustomError("bool_for_number", "true/false where a number or text is expected: {paths}",
                                      {"paths": bad})
        return data

    @model_validator(mode="before")
    @classmethod
    def _keep_default_table_entries(cls, data: Any) -> Any:
        """A per-key table (a mapping field with a non-empty default, e.g. ``china.output_tpy`` or
        ``manufacturers.cover_target_weeks``) given in part keeps the defaults of the keys it leaves out, at every
        level, as ``--set`` on one key does; set an entry to 0 to drop it. The model reads some of these tables
        for every key, so a partial table would otherwise also fail later with a KeyError. The resolved values
        are in the validated scenario (and the run's resolved config)."""
        if not isinstance(data, Mapping):
            return data
        out: dict[str, Any] | None = None
        for name, field in cls.model_fields.items():
            given = data.get(name)
            if not isinstance(given, Mapping) or field.default_factory is None:
                continue
            default = field.default_factory()
            if isinstance(default, dict) and default:
                out = dict(data) if out is None else out
                out[name] = _merge_tables(default, given)
        return data if out is None else out
