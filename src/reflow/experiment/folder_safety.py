"""The checks that keep a sweep from writing over files it did not write: an `--out` holding the sweep's own input
files, or a folder that is not a sweep folder (which `--force` never clears).

Internals of `reflow.experiment.sweeper.sweep`; only one sweep writes to a folder at a time (`store.SweepStore.locked`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from reflow.errors import ResultExistsError
from reflow.experiment.folder import _BASE_TOML_HEAD, _FOLDER_FILES
from reflow.experiment.sweep_config import SWEEP_TOML_HEAD

if TYPE_CHECKING:
    from reflow.experiment.sweep_config import SweepConfig
    from reflow.experiment.sweep_inputs import _Base

__all__: list[str] = []  # the sweeper's internals, imported by name


#: How the TOML files a sweep writes into its folder start (`dump_sweep_toml`, `_base_toml` write these).
_HEADERS = {"sweep.toml": SWEEP_TOML_HEAD, "base.toml": _BASE_TOML_HEAD}


def _written_here(path: Path) -> bool:
    """True if `path` exists and is a file a sweep writes into its folder (its TOML files by their first line)."""
    if not path.is_file():
        return False
    head = _HEADERS.get(path.name)
    if head is None:
        return True
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline().startswith(head)
    except (OSError, UnicodeDecodeError):
        return False


def _refuse_inputs_in_out(out: Path, cfg: SweepConfig, base: _Base) -> None:
    """Refuse an `out` where the sweep would write over one of its own input files.

    `reflow sweep study/sweep.toml --out study`, with the base at study/base.toml, replaced both hand-written files
    (comments and all) with the resolved config and the merged base, without a word.
    """
    inputs = [Path(str(cfg.source)), *(Path(f["path"]) for f in base.files)]
    if cfg.design.method == "from_csv" and cfg.csv_path is not None:
        inputs.append(cfg.csv_path)
    written = {(out / name).resolve(): name for name in _FOLDER_FILES}
    # files a sweep wrote (an interrupted set-up's, resumed from the folder) are rewritten from what was read
    clash = [p for p in inputs if p.is_file() and p.resolve() in written and not _written_here(p.resolve())]
    if clash:
        raise ResultExistsError(
            f"--out {out}: the sweep would write its {' and '.join(written[p.resolve()] for p in clash)} over "
            f"{'its own input' if len(clash) == 1 else 'its own inputs'} {', '.join(str(p) for p in clash)} (a "
            f"sweep folder holds its own copies of the sweep file and the base scenario); choose another --out, "
            f"e.g. {out / 'results'} or results/sweeps/{cfg.sweep.name}")


def _refuse_foreign_folder(out: Path) -> tuple[list[str], bool]:
    """Refuse an `out` holding files no sweep wrote (a run, notes, a study's own sweep.toml): --force starts a
    sweep folder over, and never clears a folder that is not one.

    Returns:
        (the files in `out` but the lock, whether they are only what an interrupted set-up leaves: those can go).
    """
    leftovers = [p.name for p in out.iterdir() if p.name != ".lock"] if out.is_dir() else []
    setup_only = (set(leftovers) <= {"sweep.toml", "base.toml", "design.parquet"}
                  and all(_written_here(out / name) for name in leftovers))
    if leftovers and not setup_only and not _written_here(out / "sweep.toml"):
        raise ResultExistsError(f"{out} exists and is not a sweep folder ({', '.join(leftovers[:5])}); "
                                "choose another --out (--force only starts a sweep folder over)")
    return leftovers, setup_only
