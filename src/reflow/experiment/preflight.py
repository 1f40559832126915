"""Checks a sweep makes before anything runs or is written: every design point's scenario (one clear error, not N
failed runs) and the `[outputs]` names the model produces.

Internals of `reflow.experiment.sweeper.sweep` and `check_sweep`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reflow.errors import ConfigError
from reflow.experiment.runner import DEFAULT_RUNNER, RunTask

if TYPE_CHECKING:
    from reflow.config import KeyOrigins, OverrideSource
    from reflow.experiment.sweep_config import SweepConfig

__all__: list[str] = []  # the sweeper's internals, imported by name


def _check_points(tasks: Sequence[RunTask], limit: int = 300, source: str = "",
                  origins: KeyOrigins | None = None, sources: Mapping[str, OverrideSource] | None = None) -> None:
    """Validate design points' scenarios before anything runs (one clear error, not N failed runs).

    Up to `limit` points are all checked; in bigger designs, the points holding each parameter's smallest and
    largest value and `limit` evenly spaced others (a bad value almost always sits at the end of a range).
    A problem names where it comes from: `sources` (`SweepConfig.override_sources`) the `[[parameters]]` entry
    or `[sweep.set]` key of an override, `origins` (of the base's keys) the file of the base scenario.
    """
    from reflow.config import apply_overrides, validate

    points = list({t.point_id: t for t in tasks}.values())
    if len(points) > limit:
        keep = {round(i * (len(points) - 1) / (limit - 1)) for i in range(limit)}
        for key in points[0].params:
            try:
                ranked = sorted(range(len(points)), key=lambda i: points[i].params[key])
            except TypeError:
                continue
            keep.update((ranked[0], ranked[-1]))
        points = [points[i] for i in sorted(keep)]
    bad: list[str] = []
    failed = 0
    for t in points:
        try:
            validate(apply_overrides(t.base, t.overrides, sources), source=f"design point {t.point_id} {t.params}",
                     overrides=t.overrides, origins=origins, sources=sources)
        except ConfigError as exc:
            if str(exc) not in bad:  # a bad key path is the same message at every point
                bad.append(str(exc))
            failed += 1
            if failed >= 3:
                break
    if bad:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}the sweep makes invalid scenarios (check parameter ranges and key paths):\n"
                          + "\n".join(bad))


def _check_outputs(cfg: SweepConfig, base_raw: Mapping[str, Any], runner: str) -> None:
    """Check the `[outputs]` names the model produces (another runner produces its own names)."""
    if runner != DEFAULT_RUNNER:
        return
    from reflow.config import apply_overrides
    from reflow.experiment.outputs import check_outputs

    # whether runs have the La/Ce market (light_* names) is known from the base and fixed overrides, unless a
    # parameter may add it; a bad override key is reported with the design points' check
    scenario: Mapping[str, Any] | None = None
    if not any(p.key.startswith("light_ree") for p in cfg.parameters):
        with contextlib.suppress(ConfigError):
            scenario = apply_overrides(dict(base_raw), cfg.sweep.set)
    check_outputs(cfg.outputs, str(cfg.source), scenario)
