"""Median, band and mean over seeds count every run, also runs where a trace is absent (docs/figures.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from reflow.plotting.ensemble import summarise
from reflow.plotting.load import load_run
from test_plotting import write_fake_run


def test_an_origin_missing_from_one_seed_counts_as_zero_and_shares_still_add_up(tmp_path: Path) -> None:
    # Regression: an origin's mean share was averaged over the seeds where it delivered only, so the stacked
    # means passed 100% (controls_2025: US Dy in 4 of 6 seeds, 106% in April 2027).
    a = write_fake_run(tmp_path / "scen" / "seed1", seed=1, weeks=40)
    b = write_fake_run(tmp_path / "scen" / "seed2", seed=2, weeks=40)
    ts = pq.read_table(b / "timeseries.parquet")
    df = ts.to_pandas()
    pq.write_table(ts.from_pandas(df[~((df["variable"] == "flow") & (df["origin"] == "US"))], schema=ts.schema,
                                  preserve_index=False), b / "timeseries.parquet")
    ens = summarise([load_run(a), load_run(b)], workers=1)
    shares = {k[2]: v["mean"] for k, v in ens.stats.items()
              if k[0] == "supply_shares" and k[1] == "dy_oxide" and k[2] != "NONCN"}
    assert "US" in shares
    total = pd.concat(shares, axis=1).sum(axis=1).dropna()
    np.testing.assert_allclose(total[total > 0], 100.0, rtol=1e-9)
    us_one = summarise([load_run(a)], workers=1).stats["supply_shares", "dy_oxide", "US"]["mean"]
    np.testing.assert_allclose(shares["US"].dropna(), us_one.dropna() / 2, rtol=1e-9)  # (x + 0) / 2


def test_row_quantiles_equal_numpys_nanquantile_bit_for_bit() -> None:
    import warnings

    from reflow.plotting.ensemble import nanquantile_rows

    rng = np.random.default_rng(0)
    qs = [0.05, 0.5, 0.95]
    for _ in range(100):
        n, m = int(rng.integers(1, 60)), int(rng.integers(1, 25))
        a = rng.normal(size=(n, m)) * 10.0 ** rng.integers(-3, 4)
        if rng.random() < 0.3:
            a = np.round(a, 1)  # ties
        a[rng.random((n, m)) < rng.random()] = np.nan  # rows with 0..m values, some all NaN
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
            expected = np.nanquantile(a, qs, axis=1)
        got = nanquantile_rows(a, qs)
        assert got.shape == (3, n)
        assert np.array_equal(got, expected, equal_nan=True)
    assert np.isnan(nanquantile_rows(np.full((2, 3), np.nan), qs)).all()
