"""Loading: read a TOML file, follow its `extends` chain and merge it; `load_config` (load, override, validate).

A file may start from another (``extends``): tables merge key by key, `policy` and `suppliers` entries by id.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reflow.config.errors import validate
from reflow.config.origins import KeyOrigins, KeyPath
from reflow.config.overrides import apply_overrides, parse_set_args
from reflow.config.schema import Scenario
from reflow.errors import ConfigError, UsageError


def read_toml(path: Path, what: str, hint: str) -> dict[str, Any]:
    """Parse a TOML file; a missing, unreadable, non-UTF-8 or malformed file is a ConfigError naming it.

    Args:
        path: the file.
        what: what the file should be, for messages ("config file", "sweep file").
        hint: where such files are, for the not-found message ("bundled scenarios are in configs/").
    """
    if path.is_dir():
        raise ConfigError(f"{path}: a folder, not a {what}; give the path of a TOML file ({hint})")
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found (check the path; {hint})")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); TOML files "
                          "must be UTF-8: save it as UTF-8 in your editor") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}); check that the file is readable "
                          "by you") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _shown(path: Path) -> str:
    """A base file as messages name it: relative to the working folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):  # outside it, or the working folder itself was deleted
        return str(path)


def load_raw(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Parse a TOML file into a plain dict (not validated). Raises ConfigError for a missing or broken file.

    A file may start from another with ``extends = "other.toml"`` (a path relative to the file): tables are
    merged key by key, ``policy`` and ``suppliers`` entries with the same ``id`` are merged and new ones are
    appended, and any other value in the file replaces the base's. Forward scenarios use it to add events to
    ``controls_2025.toml`` without copying it. A validation error names the file that sets the offending key:
    one from the base "in controls_2025.toml, which forward/x.toml extends", one the file sets (over the base's
    value, too) the file itself.
    """
    return _load(_file_path(path), _seen, None, str(path))


def load_raw_traced(path: str | Path) -> tuple[dict[str, Any], KeyOrigins]:
    """`load_raw`, and which file of the `extends` chain set each key (give it to `validate` as `origins`)."""
    origins = KeyOrigins()
    return _load(_file_path(path), (), origins, str(path)), origins


def _file_path(path: Any) -> Path:
    """`path` as a Path; anything but a str or a path is a UsageError (a dict or a Scenario from a notebook)."""
    if not isinstance(path, str | os.PathLike):
        raise UsageError(f"config: expected the path of a TOML file (a str or a Path); got {type(path).__name__}")
    return Path(path)


def _load(p: Path, seen: tuple[Path, ...], origins: KeyOrigins | None, shown: str) -> dict[str, Any]:
    raw = read_toml(p, "config file", "bundled scenarios are in configs/")
    base_ref = raw.pop("extends", None)
    if origins is not None:
        origins.chain.append(shown)
    if base_ref is None:
        if origins is not None:
            origins.set_by((), raw, shown)
        return raw
    if not isinstance(base_ref, str):
        raise ConfigError(f"{p}: extends = {base_ref!r}: expected the path of a base config, e.g. "
                          'extends = "../controls_2025.toml"')
    base_path = (p.parent / base_ref).resolve()
    if base_path in seen or base_path == p.resolve():
        raise ConfigError(f"{p}: extends = {base_ref!r}: configs extend each other in a loop")
    if not base_path.is_file():
        what = "a folder, not a file" if base_path.is_dir() else "no such file"
        raise ConfigError(f"{p}: extends = {base_ref!r}: {what} ({base_path}); give the path of a TOML file, "
                          f"relative to {p}")
    base = _load(base_path, (*seen, p.resolve()), origins, _shown(base_path))
    return _merge(base, raw, (), origins, shown)


def merge_raw(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge config dicts: tables key by key, id-keyed lists (policy, suppliers) by id, anything else replaced."""
    return _merge(base, top, (), None, "")


def _merge(base: Mapping[str, Any], top: Mapping[str, Any], path: KeyPath, origins: KeyOrigins | None,
           file: str) -> dict[str, Any]:
    """`merge_raw`, recording in `origins` (if given) that `file` (the top) set each key it gives."""
    import copy

    out = copy.deepcopy(dict(base))
    for k, v in top.items():
        b = out.get(k)
        here = (*path, k)
        if isinstance(b, dict) and isinstance(v, dict):
            out[k] = _merge(b, v, here, origins, file)
        elif k in ("policy", "suppliers") and isinstance(b, list) and isinstance(v, list):
            merged = list(b)
            ids = [it.get("id") if isinstance(it, dict) else None for it in merged]
            for it in v:
                i = it.get("id") if isinstance(it, dict) else None
                if i is not None and i in ids:
                    j = ids.index(i)
                    merged[j] = _merge(merged[j], it, (*here, j), origins, file)
                else:
                    merged.append(copy.deepcopy(it))
                    ids.append(i)
                    if origins is not None:
                        origins.set_by((*here, len(merged) - 1), it, file)
            out[k] = merged
        else:
            out[k] = copy.deepcopy(v)
            if origins is not None:
                origins.set_by(here, v, file)
    return out


def load_config(path: str | Path, overrides: Sequence[str] | Mapping[str, Any] | None = None) -> Scenario:
    """Load, override and validate a scenario file.

    Args:
        path: TOML scenario file.
        overrides: ``["key.path=value", ...]`` (as from ``--set``) or a ``{"key.path": value}`` mapping.

    Returns:
        The validated scenario with every default filled in.

    Raises:
        ConfigError: a missing or invalid file or override. UsageError: `path` is not a str or a path.
    """
    sets = parse_set_args(overrides)
    raw, origins = load_raw_traced(path)
    return validate(apply_overrides(raw, sets), source=str(path), overrides=sets, origins=origins)
