"""The fake run function `analytic` responds to the levers the bundled sweeps vary, so a fake sweep over them
shows a response (docs/sweeps.md, "Trying a study design"); unknown keys are still accepted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reflow.config import load_config, validate
from reflow.config.loading import load_raw
from reflow.experiment import analyze, sweep
from reflow.experiment.fakes import analytic, licensing_levers

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "sweeps" / "bases" / "licensing_regime.toml"
FAKE = "reflow.experiment.fakes:analytic"


def _sweep_file(tmp_path: Path, params: str, replicates: int = 4) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(f'[sweep]\nname = "fake"\nbase = "{BASE.as_posix()}"\nreplicates = {replicates}\n'
                    f'root_seed = 3\n\n[sweep.set]\n"scenario.weeks" = 104\n\n{params}', encoding="utf-8")
    return path


def _means(out: Path, metric: str, key: str) -> list[float]:
    points = analyze(out, [metric]).points
    return points[points["metric"] == metric].sort_values(key)["mean"].tolist()


def test_a_fake_sweep_over_the_approval_rate_responds_monotonically(tmp_path):
    cfg = _sweep_file(tmp_path, '[[parameters]]\nkey = "policy.controls.approval_rate"\n'
                                'values = [0.1, 0.3, 0.5, 0.7, 0.9]\n')
    sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=FAKE)
    key = "policy.controls.approval_rate"
    for metric in ("dy_oxide.peak_price_multiple", "dy_oxide.cumulative_shortage_share",
                   "overall.production_lost_share", "tb_oxide.peak_price_multiple"):
        means = _means(tmp_path / "out", metric, key)
        assert len(means) == 5
        assert all(np.diff(means) < 0), (metric, means)  # more approvals: less shortage, lower prices
    approval = _means(tmp_path / "out", "overall.approval_share", key)
    assert np.allclose(approval, [0.1, 0.3, 0.5, 0.7, 0.9])


def test_longer_reviews_mean_longer_waits_and_more_stress(tmp_path):
    cfg = _sweep_file(tmp_path, '[[parameters]]\nkey = "policy.controls.review_working_days_median"\n'
                                'values = [15, 30, 45, 60]\n', replicates=2)
    sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=FAKE)
    key = "policy.controls.review_working_days_median"
    for metric in ("overall.mean_licence_wait_days", "dy_oxide.peak_price_multiple",
                   "overall.peak_production_lost_share"):
        assert all(np.diff(_means(tmp_path / "out", metric, key)) > 0), metric


def test_a_control_in_force_for_fewer_weeks_stresses_less():
    raw = load_raw(BASE)
    stress = []
    for effective in ("2025-01-06", "2025-04-04", "2025-10-06", "2028-06-05"):  # the last after the run's end
        raw["policy"][0]["effective"] = effective
        stress.append(licensing_levers(validate(raw)).stress)
    assert all(np.diff(stress) < 0) and stress[-1] == 0.0


def test_more_buyer_cover_means_less_shortage_and_higher_bid_caps_higher_peaks():
    raw = load_raw(BASE)

    def run(**manufacturers: object) -> dict:
        return analytic(validate({**raw, "manufacturers": manufacturers}), 11)[0]

    low, high = run(cover_target_weeks={"magnet": 8.0}), run(cover_target_weeks={"magnet": 32.0})
    assert low["dy_oxide.cumulative_shortage_share"] > high["dy_oxide.cumulative_shortage_share"]
    assert low["overall.production_lost_share"] > high["overall.production_lost_share"]
    low, high = run(wtp_cap_multiple={"dy_oxide": 10.0}), run(wtp_cap_multiple={"dy_oxide": 40.0})
    assert low["dy_oxide.peak_price_multiple"] < high["dy_oxide.peak_price_multiple"]
    low, high = run(wtp_convexity=1.0), run(wtp_convexity=4.0)
    assert low["tb_oxide.peak_price_multiple"] < high["tb_oxide.peak_price_multiple"]


def test_same_seed_same_numbers_and_unknown_keys_are_ignored(tmp_path):
    scenario = load_config(BASE)
    assert analytic(scenario, 5)[0] == analytic(scenario, 5)[0]
    assert analytic(scenario, 5)[0] != analytic(scenario, 6)[0]
    # a key the fake does not read: every run is fine and the response is flat (same seed at every point)
    cfg = _sweep_file(tmp_path, '[[parameters]]\nkey = "manufacturers.thrift_cap"\nvalues = [0.1, 0.3]\n',
                      replicates=2)
    res = sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=FAKE)
    assert res.counts == {"ok": 4}
    runs = res.runs
    for _, rep in runs.groupby("replicate"):
        assert rep["dy_oxide.peak_price_multiple"].nunique() == 1


@pytest.mark.parametrize("sweep_file", sorted((ROOT / "configs" / "sweeps").glob("*.toml")))
def test_every_bundled_sweep_parameter_moves_the_fake(sweep_file):
    """Each parameter a bundled sweep varies changes some metric of `analytic` between its range's ends."""
    from reflow.config import apply_overrides
    from reflow.experiment.sweep_config import load_sweep_config

    cfg = load_sweep_config(sweep_file)
    raw = load_raw(cfg.base_path)
    for p in cfg.parameters:
        if p.key == "manufacturers.front_load_weeks":  # acts only between a control's announcement and effect
            continue
        ends = (p.values[0], p.values[-1]) if p.values else (p.low, p.high)
        m = [analytic(validate(apply_overrides(raw, {p.key: v})), 1)[0] for v in ends]
        assert m[0] != m[1], p.key
