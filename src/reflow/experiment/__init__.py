"""Experiments: sweep configs, designs, seeds, executors, the result store and sensitivity analysis.

Knows nothing about agents: a run is `reflow.api.simulate` behind a ``fn(scenario, seed)`` function.
The public entry points are `sweep` (run or resume a sweep), `analyze` (per-point means with confidence
intervals, Sobol and Morris indices), `load_runs` (the stored table) and `evaluate` (one run as a model
function for EMA Workbench and other tools). Imports are lazy so that ``import reflow.experiment`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from reflow.experiment.evaluate import evaluate  # light: the model is imported on the first call

__all__ = ["analyze", "evaluate", "load_runs", "load_sweep_config", "sweep"]

# Modules are named apart from the functions they hold (`sweeper.sweep`, `analysis.analyze`) so that importing
# a submodule never shadows a function of the package.
_WHERE = {
    "sweep": "reflow.experiment.sweeper",
    "analyze": "reflow.experiment.analysis",
    "load_runs": "reflow.experiment.store",
    "load_sweep_config": "reflow.experiment.sweep_config",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'reflow.experiment' has no attribute {name!r}")
