"""Report-quality figures and HTML reports from run, scenario and sweep folders.

Public entry points: `quick_figures` (called by `reflow run`), `plot` and `report` (the CLI's `reflow plot`
and `reflow report`), and the figure functions in `run_figures`, `flows`, `ensemble_figures` and
`sweep_figures`. Reading result folders is `load`; house style (palettes, saving) is `style`; policy markers
are `timeline`; the shared title block and axes helpers are `layout`. See docs/figures.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["plot", "quick_figures", "report"]


def __getattr__(name: str) -> Any:
    # Lazy: importing matplotlib costs ~0.3 s and `reflow --help` should not pay it.
    if name == "quick_figures":
        from reflow.plotting.run_figures import quick_figures

        return quick_figures
    if name == "plot":
        from reflow.plotting.api import plot

        return plot
    if name == "report":
        from reflow.plotting.html_report import report

        return report
    raise AttributeError(f"module 'reflow.plotting' has no attribute {name!r}")
