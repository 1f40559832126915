"""`reflow.evaluate(**params) -> dict`: one run as a plain model function, for EMA Workbench and other tools.

Keyword arguments are scenario overrides by key path. Key paths have dots, which are not Python identifiers, so
``licensing__approval_rate=0.4`` (double underscore) means ``licensing.approval_rate``; dotted names also work
through ``**{"licensing.approval_rate": 0.4}`` or EMA Workbench's ``variable_name``. Two names are reserved:
``config`` (the base scenario file) and ``seed``.

EMA Workbench (names must be identifiers, so map them with ``variable_name``)::

    from ema_workbench import Model, RealParameter, ScalarOutcome, perform_experiments
    model = Model("reflow", function=reflow.evaluate)
    model.uncertainties = [RealParameter("approval", 0.2, 1.0, variable_name="policy.apr2025.approval_rate")]
    model.constants = [Constant("config", "configs/controls_2025.toml"), Constant("seed", 1)]
    model.outcomes = [ScalarOutcome("dy_peak", variable_name="dy_oxide.peak_price_multiple")]
    experiments, outcomes = perform_experiments(model, 50)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reflow.config import Scenario

__all__ = ["DEFAULT_CONFIG", "evaluate", "key_path"]

#: Base scenario when no ``config`` is given (relative to the working directory, then to the source checkout);
#: the ``REFLOW_EVALUATE_CONFIG`` environment variable overrides it.
DEFAULT_CONFIG = "configs/controls_2025.toml"


def key_path(name: str) -> str:
    """The scenario key path of a keyword name (``licensing__approval_rate`` → ``licensing.approval_rate``)."""
    return name.replace("__", ".")


def _default_config() -> Path:
    env = os.environ.get("REFLOW_EVALUATE_CONFIG")
    if env:
        return Path(env)
    here = Path(DEFAULT_CONFIG)
    if here.is_file():
        return here
    checkout = Path(__file__).resolve().parents[3] / DEFAULT_CONFIG  # src/reflow/experiment -> repo root
    return checkout if checkout.is_file() else here


def evaluate(config: str | os.PathLike[str] | Scenario | None = None, seed: int | None = None, *,
             runner: str | None = None, **params: Any) -> dict[str, Any]:
    """Run the model once and return its summary metrics as a flat dict of scalars.

    Args:
        config: base scenario TOML (default: `DEFAULT_CONFIG`), or a `Scenario` (validated again, so attributes
            set on it after loading are checked).
        seed: random seed (default: the scenario's ``scenario.seed``).
        runner: run function ``"module:function"`` (default: the reflow model; tests use cheap fakes).
        **params: scenario overrides by key path (``__`` stands for ``.``).

    Returns:
        ``{"dy_oxide.peak_price_multiple": 3.1, "overall.approval_share": 0.55, ...}`` (as stored per sweep run).

    Raises:
        ConfigError: a missing file, an unknown key path or an invalid value.
        UsageError: a seed that is not a whole number >= 0 (before the run).
    """
    from reflow.api import check_seed, checked_scenario
    from reflow.config import OverrideSource, Scenario, apply_overrides, load_raw_traced, validate
    from reflow.experiment.runner import DEFAULT_RUNNER, resolve_runner, scalar_metrics

    overrides = {key_path(k): (v.item() if hasattr(v, "item") else v) for k, v in params.items()}
    # a bad key or value names the argument it came from (not `--set`, not the file)
    sources = {key_path(k): OverrideSource(f"the argument {k} of reflow.evaluate", "pass a value the key accepts")
               for k in params}
    if isinstance(config, Scenario):  # from a notebook; validated again, as reflow.run and reflow.simulate do
        scenario = checked_scenario(config, overrides, caller="reflow.evaluate", sources=sources)
    else:
        path = Path(config) if config is not None else _default_config()
        # Read on every call, not cached: a cache keyed by the file missed edits of the files it extends, and the
        # reading (~2 ms) is nothing beside a run. With the file of each key, so that an error names the file.
        raw, origins = load_raw_traced(path)
        scenario = validate(apply_overrides(raw, overrides, sources), source=str(path), overrides=overrides,
                            origins=origins, sources=sources)
    run_seed = check_seed(seed) if seed is not None else int(scenario.scenario.seed)
    metrics, _ = resolve_runner(runner or DEFAULT_RUNNER)(scenario, run_seed)
    return scalar_metrics(metrics)
