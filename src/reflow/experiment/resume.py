"""Resuming a sweep folder: refuse one that holds another sweep, and say what differs (the files of the base
scenario that changed, the keys of the sweep, a design CSV), including folders of older fingerprint schemes.

Internals of `reflow.experiment.sweeper.sweep`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow.errors import ReflowError
from reflow.experiment.sweep_config import FINGERPRINT_SCHEME, config_fingerprint

if TYPE_CHECKING:
    from reflow.experiment.sweep_config import SweepConfig
    from reflow.experiment.sweep_inputs import _Base

__all__: list[str] = []  # the sweeper's internals, imported by name


def _check_same_sweep(out: Path, cfg: SweepConfig, manifest: Mapping[str, Any], fp: str, base: _Base) -> None:
    """Refuse to resume a folder that holds another sweep (or one whose identity cannot be checked).

    Folders written before the fingerprint covered the files a base extends (no ``fingerprint_scheme`` in their
    manifest) are checked the old way, which is exact for a base that extends nothing.
    """
    scheme = manifest.get("fingerprint_scheme", 1)
    if scheme == FINGERPRINT_SCHEME:
        if fp == manifest.get("fingerprint"):
            return
    elif scheme == 1:
        if config_fingerprint(cfg, base.file_sha256) == manifest.get("fingerprint"):
            if not base.extends:
                return
            raise ReflowError(
                f"{out} was written by an older reflow, which did not record the content of the files its base "
                f"scenario {cfg.base_path} extends ({', '.join(f['path'] for f in base.files[1:])}), so it "
                "cannot tell whether the stored runs used their current content. The stored runs stay readable "
                f"(`reflow analyze {out}`); to go on, choose another --out (or --force to delete them and start "
                "over)")
    else:
        raise ReflowError(f"{out / 'manifest.json'}: fingerprint_scheme = {scheme!r} is newer than this reflow "
                          "knows; resume it with the reflow version that wrote it (manifest.json: reflow_version)")
    raise ReflowError(f"{out} holds a different sweep than {cfg.source}: {_what_changed(out, cfg, manifest, base)}; "
                      "choose another --out, or --force to delete its runs and start over")


def _what_changed(out: Path, cfg: SweepConfig, manifest: Mapping[str, Any], base: _Base) -> str:
    """Which files changed since the folder was written, when its manifest says (else the candidates), and which
    keys of the sweep differ from the folder's sweep.toml (its resolved config, `[sweep.set]` with the --set
    overrides)."""
    before = {f.get("path"): f.get("sha256") for f in manifest.get("base_files") or [] if isinstance(f, dict)}
    changed = [f["path"] for f in base.files if f["path"] in before and before[f["path"]] != f["sha256"]]
    keys = _changed_keys(out, cfg)
    listed = f": {'; '.join(keys)}" if keys else ""
    if changed:
        return (f"the base scenario changed since the sweep started ({', '.join(changed)} "
                f"{'has' if len(changed) == 1 else 'have'} changed)"
                + (f"; and the sweep differs from the folder's sweep.toml (before -> now){listed}" if keys else ""))
    if keys:
        return ("the sweep (its file, or --set, which adds to [sweep.set]) differs from the folder's sweep.toml "
                f"(before -> now){listed}")
    unchanged_base = bool(before) and all(before.get(f["path"]) == f["sha256"] for f in base.files)
    if cfg.design.method == "from_csv":  # the fingerprint holds the design CSV's content, not its path
        csv = cfg.csv_path
        if csv is None or not csv.is_file():
            return (f"its design CSV {csv} (design.path) is missing, so the design cannot be checked against the "
                    "one the stored runs used; put the file back")
        if unchanged_base and (out / "sweep.toml").is_file():  # config and base the same: the CSV's content
            return f"the design CSV {csv} (design.path) has changed since the sweep started"
    if unchanged_base:
        return "the sweep config or the --set overrides differ (the base scenario is unchanged)"
    return "the sweep config, the base scenario (or a file it extends) or the --set overrides differ"


def _changed_keys(out: Path, cfg: SweepConfig) -> list[str]:
    """The keys in which `cfg` differs from the folder's sweep.toml, as `key: folder -> now` (none if unreadable)."""
    import tomllib

    from reflow.experiment.sweep_config import identity_changes, parse_sweep_config

    try:
        raw = tomllib.loads((out / "sweep.toml").read_text(encoding="utf-8"))
        stored = parse_sweep_config(raw, source=str(out / "sweep.toml"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ReflowError):
        return []  # the generic message then
    return identity_changes(stored, cfg)
