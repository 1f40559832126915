"""China's own use against a price that lasts (`china.long_run_elasticity`) and materials whose users answer with an
elasticity of their own (`china.elasticity_by_material`), ODD 7.3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reflow.config import load_config
from reflow.domain import MAT, REG
from reflow.model import ReflowModel

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
Q2010 = CONFIGS / "quota_2010.toml"
NDPR, TB = MAT["ndpr_oxide"], MAT["tb_oxide"]


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
    # The price is the defended one in both, so what differs is China's use of it: with a smaller long-run
    # response it comes back from the spike's trough and holds there as the price lasts; with one elasticity it
    # stays down and sinks further as the memory of the spike fades. (How soon it comes back depends on the
    # calibrated memory: in the fits of 2026-12-01 it is back by early 2012, in earlier fits it rose through 2014.
    # The trough is the lowest week of 2011-12: since China's spike has history's size, 2011 as a whole is no longer
    # far below 2014.)
    cn1, cn2 = one.rec.data["price_cn"][:, NDPR], lasting.rec.data["price_cn"][:, NDPR]
    assert np.median(cn2[y2014]) == pytest.approx(np.median(cn1[y2014]), rel=0.05)
    assert use2[y2014].sum() > 1.3 * use1[y2014].sum()
    spike = slice(2 * 52, 4 * 52)
    assert use2[y2014].mean() > 1.2 * use2[spike].min()
    assert use2[y2014].sum() >= 0.99 * use2[y2012].sum()
    assert use1[y2014].sum() < use1[y2012].sum()


def test_a_material_given_the_shared_elasticity_is_the_model_without_the_table() -> None:
    base = load_config(CONFIGS / "baseline.toml")
    a = _run(CONFIGS / "baseline.toml", "scenario.weeks=80")
    b = _run(CONFIGS / "baseline.toml", "scenario.weeks=80",
             f"china.elasticity_by_material.tb_oxide={base.china.domestic_elasticity}")
    for var, x in a.rec.data.items():
        assert np.array_equal(x, b.rec.data[var], equal_nan=True), var


def test_a_material_with_its_own_elasticity_uses_it_for_a_spike_and_a_lasting_price() -> None:
    china = load_config(Q2010).china
    m = ReflowModel(load_config(Q2010, ["china.elasticity_by_material={tb_oxide = -1.4}"]), rng=1)
    dom = m.domestic
    assert dom.elasticity[TB] == -1.4 and dom.elasticity[NDPR] == china.domestic_elasticity
    # The stepped bid curve: demand at or above x times the reference price is D * x ** elasticity.
    mkt, q, p = dom.bid_curves()
    for mat, e in ((TB, -1.4), (NDPR, china.domestic_elasticity)):
        at = (mkt == mat) & (p >= 2.0 * m.p_ref[mat] - 1e-9)
        assert q[at].sum() == pytest.approx(dom.demand_week[mat] * (p[at].min() / m.p_ref[mat]) ** e, rel=1e-9)
    # ... and no separate long-run response for it, where NdPr keeps the scenario's long-run elasticity.
    assert m._lr_gap[TB] == 0.0
    assert m._lr_gap[NDPR] == pytest.approx(china.long_run_elasticity - china.domestic_elasticity)


def test_more_elastic_users_see_a_smaller_spike_in_china() -> None:
    """quota_2010's 2011 production cap: the more China's Tb users cut back, the less China's Tb price rises.

    The smuggling channel is shut here: with it open, a lower price in China widens the profit abroad, more Tb
    leaks out of China's stock and China's price is pushed back up, so the comparison would mix two responses."""
    peaks = []
    for e in (-0.6, -0.9, -1.3):
        m = _run(Q2010, f"china.elasticity_by_material={{tb_oxide = {e}}}", "transshipment.max_share=0", seed=1)
        cn = m.rec.data["price_cn"][:, TB]
        peaks.append(cn[104:170].max() / cn[:52].mean())
    assert peaks[0] > peaks[1] > peaks[2] > 1.0
