"""reflow: an agent-based simulation of rare-earth trade under export licensing (built on Mesa)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate", "flatten_summary", "load_config", "run", "simulate", "sweep"]


def __getattr__(name: str):
    # Lazy so that `import reflow` stays cheap (Mesa and pandas take ~1 s to import).
    if name == "load_config":
        from reflow.config import load_config

        return load_config
    if name in {"run", "simulate", "flatten_summary", "evaluate"}:
        from reflow import api

        return getattr(api, name)
    if name == "sweep":
        from reflow.experiment import sweep

        return sweep
    raise AttributeError(f"module 'reflow' has no attribute {name!r}")
