"""Validation and its messages: a raw config becomes a `Scenario`, or one ConfigError listing every problem.

Each problem names its key (policy and supplier entries by id), what is wrong and the fix (a close key name,
the allowed keys or values, what the field expects), and where the key came from: a ``--set`` or a sweep's
parameter rather than the file, or the file of the `extends` chain that sets it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from reflow.config.base import FOLDER_NAME_PATTERN
from reflow.config.events import POLICY_KINDS
from reflow.config.origins import KeyOrigins, KeyPath
from reflow.config.overrides import OverrideSource
from reflow.config.schema import Scenario, ScenarioSection
from reflow.domain import week_monday
from reflow.errors import ConfigError


def _loc_str(loc: Sequence[Any], raw: Mapping[str, Any]) -> str:
    parts: list[str] = []
    node: Any = raw
    for seg in loc:
        if isinstance(seg, int) and isinstance(node, list):
            item = node[seg] if seg < len(node) else None
            ident = item.get("id") if isinstance(item, dict) else None
            parts.append(f"{ident}" if ident else str(seg))
            node = item
        elif isinstance(node, dict) and seg in node:
            parts.append(str(seg))
            node = node[seg]
        elif isinstance(node, dict) and isinstance(node.get("kind"), str) and seg == node.get("kind"):
            continue  # the discriminated-union tag pydantic inserts into the location
        else:
            parts.append(str(seg))
            node = None
    return ".".join(parts)


def _siblings(loc: Sequence[Any], raw: Mapping[str, Any]) -> list[str]:
    """Allowed field names next to an unknown key, found by walking the schema along `loc`."""
    parent = _parent_model(loc, raw)
    if isinstance(parent, type) and issubclass(parent, BaseModel):
        return list(parent.model_fields)
    import typing

    if typing.get_origin(parent) is dict:
        key_t = typing.get_args(parent)[0]
        if typing.get_origin(key_t) is Literal:
            return list(typing.get_args(key_t))
    return []


def _describe(loc: Sequence[Any], raw: Mapping[str, Any]) -> str:
    """The schema's description of the field at `loc` (what is expected), or ''."""
    parent = _parent_model(loc, raw)
    if loc and isinstance(parent, type) and issubclass(parent, BaseModel):
        field = parent.model_fields.get(str(loc[-1]))
        if field is not None and field.description:
            return field.description
    return ""


def _parent_model(loc: Sequence[Any], raw: Mapping[str, Any]) -> Any:
    """The schema type that holds the last element of `loc`."""
    import typing

    model: Any = Scenario
    node: Any = raw
    for seg in loc[:-1]:
        origin = typing.get_origin(model)
        if isinstance(node, dict) and isinstance(node.get("kind"), str) and seg == node["kind"]:
            continue
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(seg))
            if field is None:
                return None
            model = field.annotation
            node = node.get(seg) if isinstance(node, dict) else None
        elif origin in (list, dict):
            model = typing.get_args(model)[-1]
            node = node[seg] if isinstance(node, list) and isinstance(seg, int) and seg < len(node) else (
                node.get(seg) if isinstance(node, dict) else None)
        else:
            return None
        # unwrap Optional / Annotated / discriminated unions
        for _ in range(4):
            o = typing.get_origin(model)
            if o is typing.Annotated:
                model = typing.get_args(model)[0]
            elif o in (typing.Union, __import__("types").UnionType):
                args = [a for a in typing.get_args(model) if a is not type(None)]
                kind = node.get("kind") if isinstance(node, dict) else None
                pick = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)
                        and "kind" in a.model_fields and kind in typing.get_args(a.model_fields["kind"].annotation)]
                model = pick[0] if pick else args[0]
            else:
                break
    return model


_PATTERN_WORDS = {
    FOLDER_NAME_PATTERN: "letters, digits, '_', '-' and '.' (not only dots: the name is a folder)",
    r"^[A-Za-z0-9_]+$": "letters, digits and '_'",
}


def pattern_message(err: Mapping[str, Any]) -> str:
    """A pydantic `string_pattern_mismatch` error in words: which characters to use, not the regular expression."""
    return "not allowed; use " + _PATTERN_WORDS.get(err.get("ctx", {}).get("pattern", ""), "other characters")


def _as_date(v: Any) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        return None


def _weeks_instead(value: Any, raw: Mapping[str, Any]) -> str:
    """The fix for an end date (or length) under [scenario]: the horizon is `weeks`, and for a date, which value."""
    fix = "the run's length is set by 'weeks', counted from 'start' (52 a year)"
    scenario = raw.get("scenario")
    start = _as_date(scenario.get("start")) if isinstance(scenario, Mapping) else None
    end = _as_date(value)
    if start is not None and end is not None and end >= start:
        monday = week_monday(start)  # where the schema snaps the start to
        fix += f"; weeks = {(end - monday).days // 7 + 1} runs from {monday} to the week of {end}"
    return fix


# Keys written for a setting the schema names otherwise, and the fix: the closest spelling would point at an
# unrelated setting ("end" -> "seed").
_KEY_INSTEAD: dict[tuple[type[BaseModel], str], Callable[[Any, Mapping[str, Any]], str]] = {
    (ScenarioSection, key): _weeks_instead
    for key in ("end", "end_date", "stop", "stop_date", "until", "finish", "horizon", "duration", "years")
}


def _explain(err: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    loc = tuple(err.get("loc", ()))
    where = _loc_str(loc, raw) or "(top level)"
    etype = err.get("type", "")
    value = err.get("input")
    msg = err.get("msg", "")
    if etype == "extra_forbidden":
        parent = _parent_model(loc, raw)
        instead = _KEY_INSTEAD.get((parent, str(loc[-1]))) if isinstance(parent, type) else None
        if instead is not None:
            return f"{where}: unknown key; {instead(value, raw)}"
        names = _siblings(loc, raw)
        hint = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.5) if names else []
        fix = f"did you mean '{hint[0]}'?" if hint else (
            f"allowed keys here: {', '.join(names)}" if names else "remove it")
        return f"{where}: unknown key; {fix}"
    if etype == "missing":
        return f"{where}: required key is missing; add it"
    if etype == "bool_for_number":
        return "\n  ".join(f"{where}.{p}: true/false where a number (or text) is expected; give a value of the "
                            "field's type, e.g. 1 rather than true" for p in err.get("ctx", {}).get("paths", []))
    if etype == "union_tag_not_found":
        return f"{where}: a policy event needs a 'kind'; add kind = one of {', '.join(POLICY_KINDS)}"
    if etype == "union_tag_invalid":
        return (f"{where}: unknown policy kind {err.get('ctx', {}).get('tag')!r}; expected one of "
                f"{err.get('ctx', {}).get('expected_tags')}")
    if etype == "enum" or etype == "literal_error":
        # Hint from the allowed literals themselves (not the sibling field names).
        names = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        hint = difflib.get_close_matches(str(value), names, n=1) if names else []
        if loc and loc[-1] == "[key]":  # an unknown key of a table keyed by material / region / sector
            where = _loc_str(loc[:-1], raw)
            fix = f"did you mean '{hint[0]}'?" if hint else f"allowed keys here: {', '.join(names)}"
            return f"{where}: unknown key; {fix}"
        return f"{where} = {value!r}: {msg}" + (f"; did you mean '{hint[0]}'?" if hint else "")
    msg = msg.removeprefix("Value error, ")
    if etype == "finite_number":
        msg = "inf and nan have no meaning here; give a finite number"
    elif etype == "string_pattern_mismatch":
        msg = pattern_message(err)
    if isinstance(value, dict | list):  # a cross-field check on a whole table: the message names the values
        return f"{where}: {msg}"
    desc = _describe(loc, raw)
    return f"{where} = {value!r}: {msg}" + (f" (expected: {desc})" if desc else "")


def validate(raw: Mapping[str, Any], source: str = "<config>", overrides: Mapping[str, Any] | None = None,
             origins: KeyOrigins | None = None, sources: Mapping[str, OverrideSource] | None = None) -> Scenario:
    """Validate a raw config dict into a `Scenario`; raise one ConfigError listing every problem.

    `overrides` (the ``{"key.path": value}`` applied to `raw`) lets a problem that comes from one of them say so,
    rather than point at the file, which does not hold the key: as ``--set KEY=VALUE``, or as its `sources` entry
    says (a sweep's parameter entry); `origins` (from `load_raw_traced`) lets a problem with a key that a file of
    the `extends` chain sets name that file rather than `source`."""
    if "sweep" in raw and "scenario" not in raw:
        raise ConfigError(f"{source}: this is a sweep file (it has a [sweep] table), not a scenario; run it with "
                          f"`reflow sweep {source}`")
    try:
        return Scenario.model_validate(dict(raw))
    except ValidationError as exc:
        lines = [_explain(e, raw) + (_from_override(e, raw, overrides, sources)
                                     or _from_file(e, raw, origins, source)) for e in exc.errors()]
        raise ConfigError(f"{source}: invalid config\n  " + "\n  ".join(lines)) from None


def _from_override(err: Mapping[str, Any], raw: Mapping[str, Any], overrides: Mapping[str, Any] | None,
                   sources: Mapping[str, OverrideSource] | None = None) -> str:
    """Where the override that set the error's key (or a table around it) came from: ' (from --set KEY=VALUE, not
    the file)', or its `sources` entry with the value and the fix; '' for a key no override set."""
    if not overrides:
        return ""
    where = _loc_str(tuple(err.get("loc", ())), raw)
    for key, value in overrides.items():
        at = _override_loc(key, raw)  # a list entry named by index, as the location names it (by id)
        if where == at or where.startswith(at + "."):
            src = sources.get(key) if sources else None
            if src is None:
                return f" (from --set {key}={value}, not the file)"
            return f" (from {src.what}, value {value!r}" + (f"; {src.fix})" if src.fix else ")")
    return ""


def _override_loc(key: str, raw: Mapping[str, Any]) -> str:
    """An override's key path spelled as `_loc_str` spells an error's: a list entry by its id, not its index."""
    node: Any = raw
    parts = key.split(".")
    for j, seg in enumerate(parts):
        if isinstance(node, list):
            item = next((it for it in node if isinstance(it, dict) and it.get("id") == seg), None)
            if item is None and seg.lstrip("-").isdigit() and -len(node) <= int(seg) < len(node):
                item = node[int(seg)]
                ident = item.get("id") if isinstance(item, dict) else None
                parts[j] = str(ident) if ident else str(int(seg) % len(node))
            node = item
        else:
            node = node.get(seg) if isinstance(node, dict) else None
    return ".".join(parts)


def _raw_path(loc: Sequence[Any], raw: Mapping[str, Any]) -> KeyPath:
    """The key path in `raw` of an error location (without the tags pydantic adds: policy kinds, '[key]')."""
    out: list[str | int] = []
    node: Any = raw
    for seg in loc:
        if seg == "[key]":
            continue
        if isinstance(node, dict) and isinstance(node.get("kind"), str) and seg == node["kind"] and seg not in node:
            continue
        out.append(seg)
        if isinstance(node, list) and isinstance(seg, int) and seg < len(node):
            node = node[seg]
        elif isinstance(node, dict):
            node = node.get(seg)
        else:
            node = None
    return tuple(out)


def _from_file(err: Mapping[str, Any], raw: Mapping[str, Any], origins: KeyOrigins | None, source: str) -> str:
    """Which file of the `extends` chain holds the key of an error, when that is not `source` (or '')."""
    if origins is None:
        return ""
    path = _raw_path(tuple(err.get("loc", ())), raw)
    if not path:
        return ""  # a check of the whole scenario
    paths = [path]
    if err.get("type") == "bool_for_number":  # the model's location, and the true/false values inside it
        paths = [(*path, *(int(x) if x.isdigit() else x for x in p.split(" = ")[0].split(".")))
                 for p in err.get("ctx", {}).get("paths", [])] or paths
    files: set[str] = set()
    for p in paths:
        files |= origins.under(p)
    missing = not files
    if missing:  # a required key no file gives: name the file of the entry that lacks it, if that is one file
        files = origins.under(path[:-1]) if len(path) > 1 else set()
        if len(files) != 1:
            return ""
    if len(files) > 1:
        named = [f for f in origins.chain if f in files]
        return f" (its keys are set in {' and '.join(named)})"
    (file,) = files
    where = origins.describe(file, source)
    if not where:
        return ""
    if missing:
        return f" ({_loc_str(path[:-1], raw)} is {where})"
    if err.get("type") == "extra_forbidden":
        return f" ({where}; fix it there)"
    top = origins.chain[0]
    fix = f"fix it there, or set it in {top}" if top == source else "fix it there"
    return f" ({where}; {fix})"
