"""What the sweep workers' fork server imports once (see `reflow.experiment.executors.START_METHODS`).

Workers forked from the server start with numpy, pandas, pydantic, Mesa and the model already imported, instead of
importing them again (~1 s a worker). Importing this module never fails: a module that cannot be imported here is
imported again by the run that needs it, which records the error as that run's.
"""

from __future__ import annotations

import importlib
import logging

__all__ = ["MODULES"]

#: Imported in this order; the model's own modules last.
MODULES = ("numpy", "pandas", "pydantic", "mesa", "reflow.config", "reflow.experiment.runner",
           "reflow.experiment.executors", "reflow.api", "reflow.model", "reflow.metrics")

for _name in MODULES:
    try:
        importlib.import_module(_name)
    except BaseException:  # reported by the run (or the worker) that needs it; the server must not die here
        logging.getLogger(__name__).debug("preloading %s failed", _name, exc_info=True)
