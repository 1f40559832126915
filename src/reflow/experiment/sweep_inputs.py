"""What a sweep reads before it runs: its config (from a sweep file, a `SweepConfig` or a sweep folder, with `--set`
overrides) and its base scenario merged from the `extends` chain, with the files it came from.

Internals of `reflow.experiment.sweeper.sweep` and `check_sweep`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow.errors import ConfigError, ReflowError
from reflow.experiment.sweep_config import (
    SweepConfig,
    load_sweep_config,
    refuse_varied_set,
    resolved_base_sha256,
)
from reflow.provenance import extends_files

if TYPE_CHECKING:
    from reflow.config import KeyOrigins

__all__: list[str] = []  # the sweeper's internals, imported by name


def _load_cfg(config: str | Path | SweepConfig, overrides: Mapping[str, Any] | Sequence[str] | None,
              out: str | Path | None) -> tuple[SweepConfig, Path, Path | None, str | None]:
    """The sweep, its folder, and, if it was given as a sweep folder (`reflow sweep OUT_DIR`), that folder and the
    base its sweep was first started from (`_folder_cfg`)."""
    from reflow.config import parse_set_args

    sets = parse_set_args(overrides)
    if isinstance(config, SweepConfig):
        cfg = config
        if sets:
            refuse_varied_set(cfg.to_dict(), sets, str(cfg.source))
            cfg = cfg.model_copy(update={"sweep": cfg.sweep.model_copy(update={"set": {**cfg.sweep.set, **sets}})})
            cfg = cfg.with_cli_set(sets)
    else:
        path = Path(config)
        if path.is_dir():  # `reflow sweep OUT_DIR`: resume a sweep folder from its own resolved config and base
            cfg, started = _folder_cfg(path, sets)
            return cfg, Path(out).expanduser() if out is not None else path, path, started
        cfg = load_sweep_config(path, sets)
    return cfg, Path(out).expanduser() if out is not None else Path("results") / "sweeps" / cfg.sweep.name, None, None


def _folder_cfg(path: Path, sets: Mapping[str, Any]) -> tuple[SweepConfig, str | None]:
    """The sweep of a sweep folder, starting from the folder's own base.toml, and the base file its sweep.toml
    names (where the sweep was started from; None unless an absolute path), for the files a sweep from the folder
    writes elsewhere.

    The folder is self-sufficient: that base file need not exist any more, e.g. on another machine.
    """
    import tomllib

    from reflow.experiment.sweep_config import parse_sweep_config

    spec = path / "sweep.toml"
    if not spec.is_file():
        raise ConfigError(f"{path}: a folder without sweep.toml; give a sweep TOML file or a sweep folder")
    try:
        raw = tomllib.loads(spec.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{spec}: cannot read this sweep folder's config ({exc}); resume with the sweep file "
                          "instead (reflow sweep SWEEP.toml --out FOLDER)") from None
    refuse_varied_set(raw, sets, str(path))
    section = raw.get("sweep")
    started = None
    if isinstance(section, dict):
        first = section.get("base")
        started = first if isinstance(first, str) and Path(first).is_absolute() else None
        section["base"] = str((path / "base.toml").resolve())
        if sets:
            section["set"] = {**(section.get("set") or {}), **sets}
    cfg = parse_sweep_config(raw, source=str(spec)).with_cli_set(sets)
    if not cfg.base_path.is_file():
        raise ConfigError(f"{cfg.base_path}: the sweep folder's base scenario is missing; resume with the sweep file "
                          "instead (reflow sweep SWEEP.toml --out FOLDER)")
    return cfg, started


@dataclass(frozen=True)
class _Base:
    """A sweep's base scenario: merged from its `extends` chain, with the files it came from."""

    raw: dict[str, Any]  # merged, without `extends`: what every run starts from
    sha256: str  # `resolved_base_sha256(raw)`: what the fingerprint holds
    file_sha256: str  # the base file's bytes (scheme 1 fingerprints; provenance)
    files: list[dict[str, str]]  # the chain, base file first: {"path", "sha256"} of each
    origins: KeyOrigins | None = field(default=None, compare=False)  # the file of each key, for messages

    @property
    def extends(self) -> bool:
        """True when the base file extends others."""
        return len(self.files) > 1


def _load_base(cfg: SweepConfig, out: Path, from_folder: bool) -> _Base:
    """Read the base scenario (the whole `extends` chain) and fingerprint its merged content."""
    import tomllib

    from reflow.config import load_raw_traced

    path = cfg.base_path
    if from_folder and path.is_file():
        try:
            ref = tomllib.loads(path.read_text(encoding="utf-8")).get("extends")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            ref = None  # load_raw says what is wrong with it
        if ref is not None:  # only folders written before base.toml was made self-contained have this
            raise ReflowError(
                f"{path}: extends = {ref!r}: this sweep folder was written by an older reflow, whose base.toml "
                "kept the base scenario's `extends` and did not record the content of the files it extends, so "
                f"it cannot be resumed from the folder. The stored runs stay readable (`reflow analyze {out}`); "
                "to go on, run the sweep file again into another --out (or with --force to replace these runs)")
    raw, origins = load_raw_traced(path)
    files = extends_files(path.resolve())  # absolute: resumes compare them by path
    return _Base(raw=raw, sha256=resolved_base_sha256(raw), file_sha256=files[0]["sha256"], files=files,
                 origins=origins)


def _as_started(cfg: SweepConfig, base: str | None) -> SweepConfig:
    """`cfg` with the base path it was started from (a sweep from a folder reads the folder's base.toml)."""
    if base is None:
        return cfg
    return cfg.model_copy(update={"sweep": cfg.sweep.model_copy(update={"base": base})})


def _with_root(cfg: SweepConfig, root: int) -> SweepConfig:
    return cfg.model_copy(update={"sweep": cfg.sweep.model_copy(update={"root_seed": int(root)})})
