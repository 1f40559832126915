"""Which quick-look figures `reflow run` writes, and workers to draw them started before the run.

This module imports no matplotlib, so that `reflow run` can fork the drawing workers before it simulates and
let them import it meanwhile; the drawing itself is `reflow.plotting.run_figures.quick_figures`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reflow.plotting._parallel import WarmPool

__all__ = ["DRAW_COST", "QUICK", "draw_order", "draw_quick_figures", "in_quick_order", "quick_figure_pool"]

QUICK = ("prices", "shortages", "licences", "supply_shares")
# Drawing time relative to a one-line-per-series figure (measured on a controls_2025 run): the flow matrices'
# cell labels and colour bars, the stacked areas and heat strip below them. Parallel drawing starts these first.
DRAW_COST = {"flows": 1.7, "shortages": 1.5, "supply_shares": 1.3}


def draw_order() -> list[str]:
    """The quick-look figures costliest first, the order parallel drawing starts them in."""
    return sorted(QUICK, key=lambda name: -DRAW_COST.get(name, 1.0))


def in_quick_order(order: list[str], done: list[list[Path]]) -> list[Path]:
    """The files each figure of `order` wrote (`done`), listed in the order of `QUICK`."""
    written = dict(zip(order, done, strict=True))
    return [p for name in QUICK for p in written[name]]


def quick_figure_pool(workers: int | None = None) -> WarmPool | None:
    """Workers for `quick_figures`, forked now, importing matplotlib and the figure code while the caller works.

    None where drawing would not fork (one worker, no `fork`: see `WarmPool.start`) or the workers cannot be
    started (out of processes or memory): the figures are then drawn in the caller's process. Close it when done.
    """
    try:
        return WarmPool.start(len(QUICK), ("reflow.plotting.run_figures", "reflow.plotting.load",
                                           "pyarrow.parquet"), workers)
    except OSError:
        return None


def draw_quick_figures(pool: WarmPool, parquet: Path, config: dict[str, Any], out_dir: Path,
                       seed: int | None = None) -> list[Path]:
    """`quick_figures` of the run in `parquet`, drawn in `pool`'s workers (which read the file themselves).

    Returns:
        The PNG paths written, in the order of `QUICK`.
    """
    from concurrent.futures.process import BrokenProcessPool

    order = draw_order()
    out_dir = Path(out_dir)
    tasks = [(name, Path(parquet), config, out_dir, seed) for name in order]
    try:
        done = pool.map("reflow.plotting.run_figures:draw_quick_from", tasks)
    except BrokenProcessPool:  # a worker was killed (out of memory, a signal): draw here instead
        from reflow.plotting.load import read_timeseries
        from reflow.plotting.run_figures import quick_figures

        # a worker stopped while writing leaves its temporary file (style.save_figure's ".<name>-*.png")
        for name in QUICK:
            for stray in out_dir.glob(f".{name}-*.png"):
                stray.unlink(missing_ok=True)
        return quick_figures(read_timeseries(Path(parquet)), config, out_dir, seed=seed, workers=1)
    return in_quick_order(order, done)
