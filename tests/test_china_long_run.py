"""China's own use against a price that lasts (`china.long_run_elasticity`, ODD 7.3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reflow.config import load_config
from reflow.domain import MAT, REG
from reflow.model import ReflowModel

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
Q2010 = CONFIGS / "quota_2010.toml"
NDPR = MAT["ndpr_oxide"]


def _run(path: Path, *sets: str, seed: int = 4) -> ReflowModel:
    m = ReflowModel(load_config(path, list(sets)), rng=seed)
    while m.running:
        m.step()
    return m


def _china_use(m: ReflowModel) -> np.ndarray:
    """(weeks, M) t China's domestic industry bought each week, from every origin."""
    return np.asarray(m.rec.data["flow"])[:, :, :, REG["CN"]].sum(axis=2)


def test_one_elasticity_given_twice_is_the_model_with_one() -> None:
    base = load_config(CONFIGS / "baseline.toml")
    same = f"china.long_run_elasticity={base.china.domestic_elasticity}"
    a = _run(CONFIGS / "baseline.toml", "scenario.weeks=80")
    b = _run(CONFIGS / "baseline.toml", "scenario.weeks=80", same)
    for var, x in a.rec.data.items():
        assert np.array_equal(x, b.rec.data[var], equal_nan=True), var


@pytest.fixture(scope="module")
def held() -> tuple[ReflowModel, ReflowModel]:
    """China's price held at its defended level from late 2011 (quota_2010, without its market growth so that
    only China's response differs), with one elasticity and with the calibrated long-run one."""
    china = load_config(Q2010).china
    assert china.long_run_elasticity is not None and china.long_run_elasticity > china.domestic_elasticity
    flat = "growth.rate_per_year=0"
    return _run(Q2010, flat, f"china.long_run_elasticity={china.domestic_elasticity}"), _run(Q2010, flat)


def test_china_buys_again_as_a_defended_price_lasts(held) -> None:
    one, lasting = held
    y2012, y2014 = slice(3 * 52, 4 * 52), slice(5 * 52, 6 * 52)
    use1, use2 = _china_use(one)[:, NDPR], _china_use(lasting)[:, NDPR]
    # The price is the defended one in both, so what differs is China's use of it: it recovers as the price
    # lasts with a smaller long-run response, and stays down with one elasticity.
    cn1, cn2 = one.rec.data["price_cn"][:, NDPR], lasting.rec.data["price_cn"][:, NDPR]
    assert np.median(cn2[y2014]) == pytest.approx(np.median(cn1[y2014]), rel=0.05)
    assert use2[y2014].sum() > 1.3 * use1[y2014].sum()
    assert use2[y2014].sum() > use2[y2012].sum()
    assert use1[y2014].sum() < 1.1 * use1[y2012].sum()
