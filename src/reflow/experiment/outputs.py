"""The names a sweep's ``[outputs]`` may use, and the check of a sweep's lists against them.

Both lists are derived from the code rather than written out a second time here, so they cannot drift from what a
run produces:

- time-series variables: the recorder's variables (`reflow.recorder.DIMS`, and `LIGHT_DIMS` for scenarios with a
  ``[light_ree]`` table), as docs/outputs.md lists them;
- summary metrics: the flattened summary (`reflow.api.flatten_summary`) of `reflow.metrics.summarise` applied to a
  tiny synthetic time series holding every variable for every material and importing region. No model runs; it
  takes a few milliseconds, once per process.

The check applies to the model's run function only: another ``--runner`` produces its own metrics.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from reflow.errors import ConfigError

__all__ = ["HEADLINE_METRICS", "check_outputs", "numeric_metric_like", "summary_metrics", "text_metrics_named",
           "timeseries_variables"]

_LIGHT_PREFIX = "light_"  # La/Ce market series and summary keys exist only with a [light_ree] table

#: The metrics shown when a sweep names none: `reflow analyze` prints these of its ~60, `reflow plot` draws them.
HEADLINE_METRICS = ("dy_oxide.peak_price_multiple", "tb_oxide.peak_price_multiple",
                    "overall.production_lost_share", "overall.mean_licence_wait_days",
                    "dy_oxide.weeks_in_shortage", "overall.approval_share")


def timeseries_variables(light: bool = True) -> tuple[str, ...]:
    """Variables of a run's ``timeseries.parquet`` (with `light`, also those of the La/Ce market)."""
    from reflow.recorder import DIMS, LIGHT_DIMS

    return (*DIMS, *(LIGHT_DIMS if light else ()))


@functools.lru_cache(maxsize=1)
def summary_metrics() -> dict[str, bool]:
    """Every flattened summary metric a model run can produce, mapped to whether it is a number.

    Text metrics (dates such as ``dy_oxide.peak_price_date``, regions) are stored but `reflow analyze` reports
    numbers only. Per-region metrics are listed for every importing region; a run has those with demand.
    """
    import types

    import numpy as np
    import pandas as pd

    from reflow.api import flatten_summary
    from reflow.domain import IMPORT_REGIONS, MATERIALS, REGIONS
    from reflow.metrics import summarise
    from reflow.recorder import DIMS, LIGHT_DIMS

    weeks = 3
    rows: list[tuple[int, str, str | None, str | None, str | None]] = []
    for var, dims in {**DIMS, **LIGHT_DIMS}.items():
        mats: Sequence[str | None] = MATERIALS if "m" in dims else (None,)
        origins: Sequence[str | None] = REGIONS if "o" in dims else (None,)
        regions: Sequence[str | None] = IMPORT_REGIONS if "r" in dims else (None,)
        rows += [(w, var, m, o, r) for w in range(weeks) for m in mats for o in origins for r in regions]
    ts = pd.DataFrame(rows, columns=["week", "variable", "material", "origin", "region"])
    ts["date"] = pd.Timestamp("2025-01-06").date()
    # rising values: a price peak, some shortage and lost output, decisions, so that no key is left out
    ts["value"] = 0.5 + ts["week"].to_numpy(dtype=float)
    scenario = types.SimpleNamespace(scenario=types.SimpleNamespace(name="names"))
    with np.errstate(all="ignore"):
        flat = flatten_summary(summarise(ts, scenario, 0))
    return {k: not isinstance(v, str) for k, v in flat.items()}


def numeric_metric_like(name: str) -> str:
    """A number metric to suggest for the text metric `name` (its material's peak price, else lost production)."""
    like = f"{name.split('.', 1)[0]}.peak_price_multiple"
    return like if like in summary_metrics() else "overall.production_lost_share"


def text_metrics_named(names: Sequence[str]) -> str:
    """``x is a text metric (dates or regions)``, or ``x, y are text metrics (...)``: the start of a refusal of
    text metrics where numbers are needed (`reflow analyze`, `reflow plot --metric`)."""
    return f"{', '.join(names)} {'is a text metric' if len(names) == 1 else 'are text metrics'} (dates or regions)"


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def check_outputs(outputs: Any, source: str, base: Mapping[str, Any] | None = None) -> None:
    """Check ``outputs.metrics`` and ``outputs.timeseries_variables`` of a sweep against the known names.

    Args:
        outputs: the sweep's `OutputSpec`.
        source: the sweep file (for messages).
        base: the base scenario with the sweep's fixed overrides applied (raw dict), to tell whether it has the
            La/Ce market (``[light_ree]``) that the ``light_*`` names need; None skips that check.

    Raises:
        ConfigError: one message listing every unknown name with its key, a suggestion and where the names are.
    """
    light = base is None or bool(base.get("light_ree"))
    problems: list[str] = []
    metrics = summary_metrics()
    known_metrics = sorted(metrics)
    for i, name in enumerate(outputs.metrics):
        key = f"outputs.metrics[{i}] = {name!r}"
        if name not in metrics:
            problems.append(f"{key}: not a summary metric{_suggest(name, known_metrics)}")
        elif not metrics[name]:
            problems.append(f"{key}: a text metric (a date or a region); `reflow analyze` reports numbers, e.g. "
                            f"{numeric_metric_like(name)}")
        elif name.startswith(_LIGHT_PREFIX) and not light:
            problems.append(f"{key}: only scenarios with a [light_ree] table (the La/Ce market) have it; the base "
                            "scenario has none")
    all_vars = timeseries_variables(light=True)
    for i, name in enumerate(outputs.timeseries_variables):
        key = f"outputs.timeseries_variables[{i}] = {name!r}"
        if name not in all_vars:
            problems.append(f"{key}: not a time-series variable{_suggest(name, all_vars)}")
        elif name.startswith(_LIGHT_PREFIX) and not light:
            problems.append(f"{key}: only scenarios with a [light_ree] table (the La/Ce market) record it; the "
                            "base scenario has none")
    if problems:
        raise ConfigError(f"{source}: invalid [outputs]\n  " + "\n  ".join(problems)
                          + "\n  (metric names: the flattened keys of summary.json; variables: the `variable` "
                            "column of timeseries.parquet; both listed in docs/outputs.md)")
