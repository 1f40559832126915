"""Sweep configs, designs (sizes and bounds) and seed derivation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reflow.errors import ConfigError
from reflow.experiment.designs import UNIT_PREFIX, build_design, design_size, to_values
from reflow.experiment.fakes import write_fake_sweep
from reflow.experiment.seeds import design_seed, run_seed
from reflow.experiment.sweep_config import ParameterSpec, load_sweep_config, parse_sweep_config
from reflow.experiment.sweeper import plan_runs

PARAMS = [
    {"key": "licensing.approval_rate", "low": 0.1, "high": 0.9},
    {"key": "licensing.review_working_days_median", "low": 10, "high": 90, "integer": True},
    {"key": "licensing.return_probability", "low": 0.01, "high": 0.5, "dist": "loguniform"},
    {"key": "licensing.overrun_probability", "values": [0.0, 0.1, 0.3]},
]


def _cfg(method: str, samples: int | None = None, **design):
    raw = {"sweep": {"name": "t", "base": "b.toml", "root_seed": 7},
           "design": {"method": method, **({"samples": samples} if samples else {}), **design},
           "parameters": PARAMS if method != "grid" else [
               {"key": "licensing.approval_rate", "low": 0.2, "high": 0.8, "steps": 4},
               {"key": "licensing.overrun_probability", "values": [0.0, 0.1, 0.3]}]}
    return parse_sweep_config(raw)


@pytest.mark.parametrize(("method", "samples", "extra", "expected"), [
    ("grid", None, {}, 12),
    ("lhs", 50, {}, 50),
    ("sobol", 16, {}, 16 * (4 + 2)),
    ("sobol", 16, {"second_order": True}, 16 * (2 * 4 + 2)),
    ("morris", 5, {"levels": 6}, 5 * (4 + 1)),  # 6: an even multiple of the 3 listed values (4 is refused)
])
def test_design_sizes_and_bounds(method, samples, extra, expected):
    cfg = _cfg(method, samples, **extra)
    d = build_design(cfg, design_seed(7))
    assert len(d) == expected
    if method != "grid":
        assert design_size(cfg.design, len(cfg.parameters)) == expected
    assert d["point_id"].tolist() == list(range(expected))
    for p in cfg.parameters:
        col = d[p.key]
        if p.values is not None:
            assert set(col) <= set(p.values)
        else:
            assert col.min() >= p.low and col.max() <= p.high
            if p.integer:
                assert all(float(v).is_integer() for v in col)
    if method in ("lhs", "sobol", "morris"):
        unit = d[[UNIT_PREFIX + p.key for p in cfg.parameters]].to_numpy()
        assert unit.min() >= 0.0 and unit.max() <= 1.0


def test_grid_is_full_factorial():
    d = build_design(_cfg("grid"), 0)
    assert sorted(d["licensing.approval_rate"].unique().tolist()) == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert len(d.drop_duplicates(["licensing.approval_rate", "licensing.overrun_probability"])) == 12


def test_lhs_stratifies_each_parameter():
    d = build_design(_cfg("lhs", 20), design_seed(3))
    u = d[UNIT_PREFIX + "licensing.approval_rate"].to_numpy()
    assert sorted(np.floor(u * 20).astype(int).tolist()) == list(range(20))  # one point per stratum


def test_designs_are_reproducible_from_the_root_seed():
    a = build_design(_cfg("sobol", 8), design_seed(11))
    b = build_design(_cfg("sobol", 8), design_seed(11))
    c = build_design(_cfg("sobol", 8), design_seed(12))
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_distributions_map_the_unit_interval():
    u = np.array([0.0, 0.5, 1.0])
    assert to_values(ParameterSpec(key="k", low=1, high=100, dist="loguniform"), u) == pytest.approx([1, 10, 100])
    assert to_values(ParameterSpec(key="k", values=["a", "b"]), u) == ["a", "b", "b"]
    assert to_values(ParameterSpec(key="k", low=1, high=3, integer=True), np.array([0, 0.34, 0.99])) == [1, 2, 3]
    tri = to_values(ParameterSpec(key="k", low=0, high=10, dist="triangular", mode=2), np.array([0.5]))
    assert 2 < tri[0] < 5


@pytest.mark.parametrize(("raw", "needle"), [
    ({"design": {"method": "sobol", "samples": 10}}, "not a power of 2"),
    ({"design": {"method": "lhs"}}, "design.samples"),
    ({"parameters": [{"key": "a", "low": 1, "high": 0}]}, r"low < high"),
    ({"parameters": [{"key": "a", "values": [1, "x"]}]}, "mixes types"),
    ({"parameters": [{"key": "a", "low": 0, "high": 1}]}, "without 'steps'"),
    ({"sweep": {"name": "t", "base": "b.toml", "replicats": 3}}, r"replicats: unknown key"),
    ({"parameters": [{"key": "a", "values": [1]}, {"key": "a", "values": [2]}]}, "declared twice"),
    # it printed the regular expression
    ({"sweep": {"name": "my sweep", "base": "b.toml"}},
     r"sweep.name = 'my sweep': not allowed; use letters, digits, '_', '-' and '\.' \(not only dots"),
])
def test_bad_sweep_configs_are_explained(raw, needle):
    base = {"sweep": {"name": "t", "base": "b.toml"}, "parameters": [{"key": "x", "values": [1, 2]}]}
    with pytest.raises(ConfigError, match=needle):
        parse_sweep_config({**base, **raw})


def test_load_sweep_config_checks_base_and_toml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_sweep_config(tmp_path / "missing.toml")
    (tmp_path / "s.toml").write_text('[sweep]\nname = "x"\nbase = "nope.toml"\n[[parameters]]\nkey = "a"\n'
                                     "values = [1]\n")
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_sweep_config(tmp_path / "s.toml")
    (tmp_path / "bad.toml").write_text("[sweep\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sweep_config(tmp_path / "bad.toml")


def test_from_csv_design(tmp_path):
    (tmp_path / "points.csv").write_text("licensing.approval_rate,licensing.overrun_probability\n0.3,0.1\n0.6,0.2\n")
    path = write_fake_sweep(tmp_path, '[sweep]\nname = "csv"\n[design]\nmethod = "from_csv"\npath = "points.csv"\n')
    cfg = load_sweep_config(path)
    d = build_design(cfg, 0)
    assert d["licensing.approval_rate"].tolist() == [0.3, 0.6]
    (tmp_path / "points.csv").write_text("licensing.approval_rate,licensing.overrun_probability\n0.3,\n")
    with pytest.raises(ConfigError, match="blank cells"):
        build_design(cfg, 0)
    # a repeated column was renamed by pandas and reported as "column 'licensing.approval_rate.1' ... is a value,
    # not a table"
    (tmp_path / "points.csv").write_text('licensing.approval_rate, "licensing.approval_rate"\n0.3,0.4\n')
    with pytest.raises(ConfigError, match=r"column\(s\) \['licensing.approval_rate'\] appear more than once"):
        build_design(cfg, 0)
    # the same from a spreadsheet's 'CSV UTF-8', which starts with a byte-order mark: pandas drops it, the header
    # check read it as part of the first column's name, and the repeat went through as 'licensing.approval_rate.1'
    (tmp_path / "points.csv").write_text('\ufefflicensing.approval_rate,licensing.approval_rate\n0.3,0.4\n',
                                         encoding="utf-8")
    with pytest.raises(ConfigError, match=r"column\(s\) \['licensing.approval_rate'\] appear more than once"):
        build_design(cfg, 0)
    (tmp_path / "points.csv").write_text('\ufefflicensing.approval_rate,licensing.overrun_probability\n0.3,0.1\n',
                                         encoding="utf-8")
    assert build_design(cfg, 0)["licensing.approval_rate"].tolist() == [0.3]  # a BOM alone is fine


# ----------------------------------------------------------------------------------------------- seeds


def test_run_seeds_are_pinned():
    """Seeds must not change between reflow versions: a stored sweep's runs must stay reproducible."""
    assert run_seed(42, 0) == 7993770517160411898
    assert run_seed(42, 1) == run_seed(42, 1)
    assert design_seed(42) == design_seed(42) < 2**32
    assert len({run_seed(42, r) for r in range(1000)}) == 1000
    assert all(0 <= run_seed(s, r) < 2**63 for s in (0, 1, 2**62) for r in (0, 5))


def test_independent_seeds_depend_on_values_not_order():
    a = run_seed(5, 2, {"x": 0.5, "y": "a"})
    assert a == run_seed(5, 2, {"y": "a", "x": 0.5})
    assert a != run_seed(5, 2, {"x": 0.6, "y": "a"})
    assert a != run_seed(5, 3, {"x": 0.5, "y": "a"})


@pytest.mark.parametrize("seeds", ["common", "independent"])
def test_seed_of_a_run_does_not_depend_on_sweep_order(seeds):
    """Reversing the parameter order, the value order and adding points leaves every run's seed unchanged."""

    def seeds_of(params, replicates):
        raw = {"sweep": {"name": "t", "base": "b.toml", "root_seed": 99, "replicates": replicates, "seeds": seeds},
               "parameters": params}
        cfg = parse_sweep_config(raw)
        design = build_design(cfg, design_seed(99))
        tasks = plan_runs(cfg, design, 99, {})
        return {(tuple(sorted(t.params.items())), t.replicate): t.seed for t in tasks}

    a = seeds_of([{"key": "a", "values": [1, 2]}, {"key": "b", "values": ["x", "y"]}], 3)
    b = seeds_of([{"key": "b", "values": ["y", "x"]}, {"key": "a", "values": [3, 2, 1]}], 4)
    assert a.items() <= b.items()
    assert len(set(a.values())) == (3 if seeds == "common" else 12)


@pytest.mark.parametrize("dist", ["uniform", "triangular", "truncnormal"])
def test_integer_parameters_with_fractional_bounds_stay_inside_them(dist):
    """low = 0.4, high = 3.6: every design gives whole numbers in 1..3, never 0 or 4 (rounding the sampled value,
    or the grid's end points, would step outside the range)."""
    from reflow.experiment.designs import grid_design

    extra = {"mode": 2.0} if dist == "triangular" else {"sd": 2.0} if dist == "truncnormal" else {}
    p = ParameterSpec(key="a", low=0.4, high=3.6, integer=True, dist=dist, **extra)
    vals = set(to_values(p, np.linspace(0.0, 1.0, 101)))
    assert vals <= {1, 2, 3} and {1, 3} <= vals
    g = ParameterSpec(key="a", low=0.4, high=3.6, integer=True, steps=2)
    assert set(grid_design([g])["a"]) <= {1, 2, 3}


def test_an_integer_range_without_a_whole_number_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs a whole number between"):
        ParameterSpec(key="a", low=0.2, high=0.8, integer=True)


def test_load_sweep_config_takes_overrides_as_reflow_sweep_does(tmp_path):
    """load_sweep_config(path, ["scenario.weeks=5"]), the form reflow.sweep and reflow.run take, failed with
    ValueError: dictionary update sequence element #0 has length 1; 2 is required."""
    path = write_fake_sweep(tmp_path, '[sweep]\nname = "x"\n[[parameters]]\nkey = "licensing.approval_rate"\n'
                                      'values = [0.2, 0.5]\n')
    by_mapping = load_sweep_config(path, {"scenario.weeks": 5})
    assert by_mapping.sweep.set == {"scenario.weeks": 5}
    for given in (["scenario.weeks=5"], "scenario.weeks=5"):
        assert load_sweep_config(path, given).sweep.set == by_mapping.sweep.set
