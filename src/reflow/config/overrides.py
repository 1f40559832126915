"""Overrides: ``--set KEY.PATH=VALUE`` (and a sweep's parameters) parsed and applied to a raw config.

A key path names tables by key and `policy` / `suppliers` entries by id (or index); a path into a table the file
leaves out starts from the schema's default for it.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel

from reflow.config.schema import Scenario
from reflow.errors import ConfigError


def parse_set_args(items: str | Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """Turn ``["a.b=0.4", "c=\"x\""]`` into ``{"a.b": 0.4, "c": "x"}``; values are read as TOML values.

    A bare word that is not valid TOML (``--set scenario.name=test``) is taken as a string. One string is one
    override (``overrides="scenario.weeks=20"`` from Python), not a sequence of letters.

    Raises:
        ConfigError: an item is not a ``KEY.PATH=VALUE`` string.
    """
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    if isinstance(items, str):
        items = [items]
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"override {item!r}: expected a KEY.PATH=VALUE string, e.g. "
                              "'licensing.approval_rate=0.4', or give the overrides as a {key path: value} mapping")
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. --set licensing.approval_rate=0.4")
        try:
            out[key] = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = text.strip()
    return out


def key_paths(data: Mapping[str, Any], spelling: Literal["set", "toml"] = "set") -> dict[str, Any]:
    """Nested tables as ``{key path: value}``, each path spelled for where it is shown.

    Args:
        data: a config as plain data (tables as dicts).
        spelling: ``"set"``, as ``--set`` and `apply_overrides` read a path: a list of tables (policy events,
            suppliers) by each entry's id, or by index when ids are missing or repeated; an empty table kept
            as the value ``{}`` (present but empty is not absent). ``"toml"``, as a TOML dotted key: a key
            containing a dot quoted (``sweep.set."scenario.weeks"``), lists as values, an empty table nothing.

    Returns:
        Every leaf by its path, in the order of `data`; lists other than lists of tables are leaves.
    """
    out: dict[str, Any] = {}
    by_id = spelling == "set"

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, Mapping):
            if not value and prefix and by_id:
                out[prefix] = {}
            for k, v in value.items():
                name = f'"{k}"' if not by_id and "." in str(k) else str(k)
                walk(v, f"{prefix}.{name}" if prefix else name)
        elif by_id and isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            ids = [v.get("id") for v in value]
            named = all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids)
            for i, v in enumerate(value):
                walk(v, f"{prefix}.{ids[i] if named else i}")
        else:
            out[prefix] = value

    walk(data, "")
    return out


def _find_item(seq: list[Any], seg: str, label: str) -> int:
    """The position in a policy or supplier list that a key-path segment names: the entry with that id, else,
    for a whole number, the entry at that index (0-based; negative from the end).

    Ids come first so that ``policy.1.rate`` edits the event with id "1", as the config spells it, rather than
    the second event; an index is only a fallback for entries without a matching id.
    """
    ids = [it.get("id") if isinstance(it, dict) else None for it in seq]
    if seg in ids:
        return ids.index(seg)
    known = [x for x in ids if x]
    if seg.lstrip("-").isdigit():
        i = int(seg)
        if not -len(seq) <= i < len(seq):
            raise ConfigError(f"{label}: no entry with id '{seg}', and index {i} is out of range (the list "
                              f"has {len(seq)} entries); ids are {known}")
        return i
    hint = difflib.get_close_matches(seg, known, n=1)
    extra = f"; did you mean '{hint[0]}'?" if hint else f"; ids are {known}"
    raise ConfigError(f"{label}: no entry with id '{seg}'{extra}")


class OverrideSource(NamedTuple):
    """Where an override came from, for messages; an override without one is named ``--set KEY=VALUE``."""

    what: str  #: e.g. 'the 2nd [[parameters]] entry of sweep.toml (key = "licensing.approval_rate")'
    fix: str = ""  #: what to change there, e.g. "change its values to ones the key accepts"


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any] | None,
                    sources: Mapping[str, OverrideSource] | None = None) -> dict[str, Any]:
    """Return a copy of `raw` with dotted key paths set (``policy.apr2025.approval_rate``: by id or index).

    A path into a table or list the file does not spell out starts from the schema's default for it, so
    ``manufacturers.cover_target_weeks.automotive=3`` changes one sector and keeps the others' defaults, and
    ``suppliers.mp_ndpr.capacity_tpy=5000`` edits the default supplier list. Validation then checks the result.
    A key path that does not fit the config is a ConfigError naming the override: by its `sources` entry (e.g.
    a sweep's parameter), else as ``--set KEY``.
    """
    import copy

    out = copy.deepcopy(raw)
    for path, value in (overrides or {}).items():
        label = sources[path].what if sources and path in sources else f"--set {path}"
        segs = path.split(".")
        node: Any = out
        node_is_root_path = True  # every segment so far was a table key (schema defaults apply)
        for j, seg in enumerate(segs):
            last = j == len(segs) - 1
            if isinstance(node, list):
                node_is_root_path = False
                idx = _find_item(node, seg, label)
                if last:
                    node[idx] = _whole_entry(node[idx], value, path, label)
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[seg] = value
                else:
                    if seg not in node:
                        default = _schema_default(segs[: j + 1]) if node_is_root_path else None
                        if default is None and seg == "policy":
                            raise ConfigError(f"{label}: the config has no '{seg}' list to index into")
                        node[seg] = default if isinstance(default, dict | list) else {}
                    node = node[seg]
            else:
                raise ConfigError(f"{label}: '{'.'.join(segs[:j])}' is a value, not a table")
    return out


def _whole_entry(old: Any, value: Any, path: str, label: str) -> Any:
    """A policy or supplier entry replaced as a whole (``--set policy.apr2025={...}``): a table, which keeps the
    id the key path named it by, so that a problem with it is traced to the override, not to the file."""
    if not isinstance(value, Mapping):
        key = "approval_rate" if path.startswith("policy.") else "capacity_tpy"
        raise ConfigError(f"{label} = {value!r}: '{path}' is a whole entry (a table of settings), not one value; "
                          f"set one of its keys, e.g. {path}.{key}")
    if isinstance(old, dict) and "id" in old and "id" not in value:
        return {"id": old["id"], **value}
    return value


def _schema_default(segs: Sequence[str]) -> Any:
    """The schema's default at a key path, as plain JSON-like data (None where there is none)."""
    import copy

    from pydantic_core import PydanticUndefined

    field = Scenario.model_fields.get(segs[0])
    if field is None:
        return None
    val = field.get_default(call_default_factory=True)
    if val is PydanticUndefined or val is None:
        return None

    def plain(v: Any) -> Any:
        if isinstance(v, BaseModel):
            return v.model_dump(mode="json", exclude_none=True)
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    val = plain(val)
    for seg in segs[1:]:
        if isinstance(val, dict) and seg in val:
            val = val[seg]
        else:
            return None
    return copy.deepcopy(val)
