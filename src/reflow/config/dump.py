"""TOML output: `dump_toml` writes plain config data (a resolved scenario) as TOML text that reads back the same."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any


def dump_toml(data: Mapping[str, Any]) -> str:
    """Serialise plain data to TOML text: the run folder's ``config.toml``, a sweep folder's ``base.toml``.

    Give Python values, as from ``Scenario.model_dump()`` or `load_raw`: a `datetime.date`, `datetime.datetime`
    or `datetime.time` becomes a TOML date, date-time or time, and every `str` a TOML string, whatever it looks
    like, so that a text such as ``description = "2024-01-01"`` reads back as the same text. (JSON-mode data,
    ``model_dump(mode="json")``, has turned its dates into text: they are written as strings, which a scenario
    still validates to the same dates, but other readers see text.)
    """
    lines: list[str] = []

    def val(v: Any) -> str:
        if v is None:
            raise TypeError("None has no TOML form; drop the key")
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v) if not (isinstance(v, float) and v != v) else "nan"
        if isinstance(v, str):
            return _toml_string(v)
        if isinstance(v, dt.datetime):  # before date: a datetime is a date too
            return v.isoformat()  # RFC 3339, with the offset when it has one (TOML's offset or local date-time)
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, dt.time):
            if v.tzinfo is not None:
                raise TypeError(f"{v!r}: TOML has no time of day with an offset")
            return v.isoformat()
        if isinstance(v, list | tuple):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_key(k)} = {val(x)}" for k, x in v.items() if x is not None) + " }"
        raise TypeError(type(v))

    def table(prefix: str, d: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict) and not _is_table_list(v)}
        if prefix:
            lines.append(f"\n[{prefix}]")
        for k, v in scalars.items():
            if v is not None:
                lines.append(f"{_key(k)} = {val(v)}")
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{_key(k)}" if prefix else _key(k), v)
        for k, v in d.items():
            if _is_table_list(v):
                for item in v:
                    lines.append(f"\n[[{prefix + '.' if prefix else ''}{_key(k)}]]")
                    for ik, iv in item.items():
                        if iv is not None:
                            lines.append(f"{_key(ik)} = {val(iv)}")

    table("", data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _key(k: str) -> str:
    # Bare keys are ASCII letters, digits, '_' and '-' only (str.isalnum would also pass 'é').
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_string(k)


_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and every control character escaped, so any text round-trips
    (TOML forbids raw control characters such as CR or U+0001 in strings)."""
    return '"' + re.sub(r'["\\\x00-\x1f\x7f]',
                        lambda m: _TOML_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text) + '"'


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)
