"""Seeds of sweep runs, derived from one root with `numpy.random.SeedSequence`.

A run's seed depends only on the root seed, its replicate number and (for independent seeds) its parameter
values: never on the run's position in the sweep, the design order, the number of workers or the order runs
finish in. So a run re-runs alone (``reflow run CONFIG --seed S --set ...``) and adding points to a sweep does not
change the seeds of the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["DESIGN_STREAM", "RUN_STREAM", "design_seed", "new_root_seed", "point_key", "run_seed"]

# Spawn-key tags keep the design sampler's stream apart from the runs' streams.
RUN_STREAM = 0
DESIGN_STREAM = 1


def new_root_seed() -> int:
    """A fresh root seed from OS entropy (recorded in the sweep folder so the sweep can be resumed)."""
    return int(np.random.SeedSequence().entropy) % (1 << 63)


def _to_int(ss: np.random.SeedSequence) -> int:
    # 63 bits: fits int64 columns, Mesa's rng=int, and `--seed` on the command line.
    lo, hi = ss.generate_state(2, dtype=np.uint32)
    return int((int(hi) << 32 | int(lo)) & ((1 << 63) - 1))


def point_key(params: Mapping[str, Any]) -> tuple[int, ...]:
    """Four 32-bit words identifying a point by its parameter values (order of keys does not matter)."""
    text = json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).digest()
    return tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))


def run_seed(root_seed: int, replicate: int, params: Mapping[str, Any] | None = None) -> int:
    """The seed of one run.

    Args:
        root_seed: the sweep's root seed.
        replicate: 0-based replicate number.
        params: the point's parameter values for independent seeds; None gives common random numbers
            (replicate r has the same seed at every point, which makes differences between points less noisy).

    Returns:
        A non-negative integer below 2**63.
    """
    key: tuple[int, ...] = (RUN_STREAM, int(replicate))
    if params is not None:
        key += point_key(params)
    return _to_int(np.random.SeedSequence(int(root_seed), spawn_key=key))


def design_seed(root_seed: int) -> int:
    """Seed of the design sampler (LHS, Sobol' scrambling, Morris trajectories)."""
    return _to_int(np.random.SeedSequence(int(root_seed), spawn_key=(DESIGN_STREAM,))) % (1 << 32)
