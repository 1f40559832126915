"""Summary metrics at their edges (docs/outputs.md): censored recovery times, materials without demand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import reflow
from reflow.plotting.report_tables import _combine
from reflow.report_text import format_summary

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_a_price_still_high_at_the_end_is_not_recovered_and_its_time_is_censored() -> None:
    # 75 weeks of controls_2025 end in mid-2025, with Dy far above its 2024 level.
    s = reflow.run(CONFIGS / "controls_2025.toml", seed=1, out=None, overrides=["scenario.weeks=75"]).summary
    dy = s["materials"]["dy_oxide"]
    assert dy["peak_price_multiple"] > 1.25
    assert dy["recovered"] is False and dy["time_to_recover_weeks"] is None


def test_a_flat_run_has_recovered_at_once_and_a_material_nobody_uses_has_no_shortage_share() -> None:
    s = reflow.run(CONFIGS / "baseline.toml", seed=1, out=None,
                   overrides=["scenario.weeks=40", "manufacturers.bom.defence.dy_oxide=0",
                              "manufacturers.bom.magnet.dy_oxide=0"]).summary
    nd = s["materials"]["ndpr_oxide"]
    assert nd["recovered"] is True and nd["time_to_recover_weeks"] == 0
    dy = s["materials"]["dy_oxide"]
    assert dy["cumulative_shortage_share"] is None  # not a "no shortage" zero for a sweep to average
    assert dy["recovered"] is None  # no prices to recover
    assert dy["peak_price_multiple"] is None and dy["peak_price_region"] is None  # no peak, nor a region of one
    # The printed table says "not in run" only for a price that has not recovered, not for one that never rose.
    row = next(line for line in format_summary(s).splitlines() if line.startswith("dy_oxide"))
    assert "not in run" not in row and row.rstrip().endswith("-")
    late = reflow.run(CONFIGS / "controls_2025.toml", seed=1, out=None, overrides=["scenario.weeks=75"]).summary
    row = next(line for line in format_summary(late).splitlines() if line.startswith("dy_oxide"))
    assert row.rstrip().endswith("not in run")


def test_runs_that_never_recovered_count_as_longer_in_a_median_over_runs() -> None:
    # Of 10 runs 3 never recovered: the median is not that of the 7 that did (196), and the reader is told.
    text = _combine([165, 181, None, 246, 246, 196, 157, None, 209, None], "censored")
    assert text.startswith("209 (157 to not in run)")
    assert "not recovered by the end in 3 of 10 runs" in text
    assert _combine([None], "censored") == "not in run" and _combine([12], "censored") == "12"


def test_supply_shares_start_with_a_regions_first_delivery_and_are_not_made_up() -> None:
    """quota_2010's Australia and Canada receive nothing: they have no supply-share rows (a made-up 'all Chinese,
    fully concentrated' start would read as data), while every importing region has prices every week."""
    ts = reflow.run(CONFIGS / "quota_2010.toml", seed=1, out=None, overrides=["scenario.weeks=30"]).timeseries
    shares = ts[ts["variable"].isin(["non_china_share", "hhi"])]
    assert not shares["region"].isin(["AU", "CA"]).any()
    delivered = ts[(ts["variable"] == "delivered") & (ts["value"] > 0)]
    first = delivered.groupby(["material", "region"])["week"].min()
    for (m, r), w in first.items():
        rows = shares[(shares["material"] == m) & (shares["region"] == r)]
        assert rows["week"].min() == w  # from the first delivery on, every week
        assert len(rows) == 2 * (30 - w)
    prices = ts[ts["variable"] == "price_ex_vwap"]
    assert prices.groupby(["material", "region"]).size().eq(30).all()


def test_a_share_of_nothing_is_null_not_zero() -> None:
    """With no planned output, or no La/Ce use, the shares are null: a zero would read as 'nothing lost' and be
    averaged into a sweep's results as such."""
    from reflow.metrics import summarise

    r = reflow.run(CONFIGS / "quota_2010.toml", seed=1, out=None, overrides=["scenario.weeks=30"])
    ts = r.timeseries.copy()
    assert r.summary["overall"]["production_lost_share"] is not None
    assert r.summary["light_ree"]["cumulative_shortage_share"] is not None
    nothing = ts["variable"].isin(["output_plan", "light_consumption", "light_shortage"])
    ts.loc[nothing, "value"] = 0.0
    s = summarise(ts, r.config, r.seed)
    assert s["overall"]["production_lost_share"] is None
    assert s["overall"]["production_lost_share_by_region"] == {}
    assert s["overall"]["peak_production_lost_share"] is None
    assert s["overall"]["peak_production_lost_date"] is None
    assert s["light_ree"]["cumulative_shortage_share"] is None
    text = format_summary(s)
    assert "production lost (ex-China manufacturers): -" in text
    # no region with a plan: no "by region:" line with nothing after it
    assert "by region" not in text
    r.summary["overall"]["production_lost_share_by_region"] = {"US": 0.5, "EU": None}
    assert "\n  by region: US 50.00%\n" in format_summary(r.summary)


def test_the_printed_peak_price_says_what_it_is_a_multiple_of() -> None:
    """The footnote said "first-quarter mean", the report and figures "x baseline": one term, the run's first
    13 weeks (not the baseline scenario, nor a calendar quarter)."""
    s = reflow.run(CONFIGS / "baseline.toml", seed=1, out=None, overrides=["scenario.weeks=20"]).summary
    foot = format_summary(s).splitlines()[-1]
    assert foot.startswith("peak price = highest demand-weighted ex-China price / its mean over the run's first "
                           "13 weeks")
    assert "quarter" not in foot and "baseline" not in foot


def test_the_worst_four_weeks_are_not_diluted_by_the_rest_of_the_run() -> None:
    from reflow.metrics import worst_window_share

    planned = np.full(100, 10.0)
    lost = np.zeros(100)
    lost[40:44] = 5.0  # a month at half output in two years
    share, week = worst_window_share(lost, planned)
    assert share == 0.5 and week == 40
    assert lost.sum() / planned.sum() == 0.02  # what the whole-run share says
    lost[70] = 8.0  # one bad week alone is not a worse month
    assert worst_window_share(lost, planned) == (0.5, 40)
    assert worst_window_share(np.zeros(100), planned) == (0.0, None)  # nothing lost: no week to name
    assert worst_window_share(np.zeros(100), np.zeros(100)) == (None, None)  # nothing planned: no share
    assert worst_window_share(np.array([1.0, 0.0]), np.array([2.0, 2.0])) == (0.25, 0)  # shorter than a window


def test_a_runs_worst_month_is_at_least_its_whole_run_share_and_after_its_first_loss() -> None:
    s = reflow.run(CONFIGS / "controls_2025.toml", seed=1, out=None, overrides=["scenario.weeks=100"]).summary
    o = s["overall"]
    assert o["production_lost_share"] > 0
    assert 0 < o["production_lost_share"] < o["peak_production_lost_share"] <= 1
    assert o["first_production_loss_date"] <= o["peak_production_lost_date"]
    assert f"worst 4 weeks {o['peak_production_lost_share']:.2%}" in format_summary(s)


def test_a_price_that_never_spiked_has_no_peak_week_or_region_in_the_tables() -> None:
    # A flat baseline's highest week is noise of its first weeks; naming it read as an event. From 1.25x (what
    # also counts as recovered) the week and region are named.
    from reflow.plotting.report_tables import headline_rows
    from reflow.report_text import SPIKE_MULTIPLE

    flat = reflow.run(CONFIGS / "baseline.toml", seed=1, out=None, overrides=["scenario.weeks=40"]).summary
    nd = flat["materials"]["ndpr_oxide"]
    assert nd["peak_price_multiple"] < SPIKE_MULTIPLE and nd["peak_price_date"] is not None  # summary.json keeps it
    row = next(line for line in format_summary(flat).splitlines() if line.startswith("ndpr_oxide")).split()
    assert row[1:4] == [f"{nd['peak_price_multiple']:.2f}x", "-", "-"]
    spike = reflow.run(CONFIGS / "controls_2025.toml", seed=1, out=None, overrides=["scenario.weeks=100"]).summary
    dy = spike["materials"]["dy_oxide"]
    assert dy["peak_price_multiple"] >= SPIKE_MULTIPLE
    row = next(line for line in format_summary(spike).splitlines() if line.startswith("dy_oxide")).split()
    assert row[2:4] == [dy["peak_price_date"], dy["peak_price_region"]]

    class Run:  # what headline_rows reads of a run
        def __init__(self, summary: dict) -> None:
            self.summary = summary

    header, rows, _ = headline_rows({"flat": [Run(flat)], "spike": [Run(spike)]})
    week, region = header.index("Peak week"), header.index("Peak region")
    by = {(r[0], r[1]): r for r in rows}
    assert by["NdPr oxide", "flat"][week] == by["NdPr oxide", "flat"][region] == "–"
    assert by["Dy oxide", "spike"][week] != "–" and by["Dy oxide", "spike"][region] != "–"


def test_a_price_that_never_spiked_has_no_recovery_time_in_the_tables() -> None:
    """NdPr's flat price (1.01x) showed "0" weeks from peak until back under 1.25x, in the report and the printed
    summary, which reads as a spike over at once; it never spiked. Beside runs that did, its 0 still counts."""
    from types import SimpleNamespace

    from reflow.plotting.report_tables import NEVER_SPIKED, headline_rows
    from reflow.report_text import SPIKE_MULTIPLE

    def block(multiple: float, ttr: int | None) -> dict:
        return {"peak_price_multiple": multiple, "peak_price_date": "2025-06-02", "peak_price_region": "US",
                "weeks_in_shortage": 0, "cumulative_shortage_share": 0.0, "final_non_china_share": 0.5,
                "time_to_recover_weeks": ttr, "recovered": ttr is not None}

    flat, spike = block(1.01, 0), block(3.0, 12)
    assert SPIKE_MULTIPLE > 1.01
    header, _, _ = headline_rows({"s": [SimpleNamespace(summary={"materials": {"ndpr_oxide": flat}})]})
    col = next(i for i, h in enumerate(header) if h.startswith("Weeks from peak"))

    def cell(*blocks: dict) -> str:
        return headline_rows({"s": [SimpleNamespace(summary={"materials": {"m": b}}) for b in blocks]})[1][0][col]

    assert cell(flat) == cell(flat, flat) == NEVER_SPIKED
    assert cell(spike) == "12"
    assert cell(flat, spike, spike).startswith("12 (0 to 12)")
    summary = {"scenario": "s", "seed": 1, "start": "2024-01-01", "end": "2024-12-30", "weeks": 53,
               "materials": {"ndpr_oxide": flat, "dy_oxide": spike},
               "overall": {"production_lost_share": 0.0, "production_lost_share_by_region": {},
                           "licence_applications": 0, "approval_share": None, "mean_licence_wait_days": None}}
    rows = {line.split()[0]: line.split() for line in format_summary(summary).splitlines()[3:5]}
    assert rows["ndpr_oxide"][-1] == "-" and rows["dy_oxide"][-1] == "12"


def test_the_report_says_not_in_run_only_for_a_price_that_has_not_recovered() -> None:
    """A material without prices (nobody buys it: `recovered` null) has nothing to recover; the report said "not
    in run" for it, as for a price still high at the end (the printed summary says "-"). Over runs, those without
    prices are left out rather than counted as never recovered."""
    from types import SimpleNamespace

    from reflow.plotting.report_tables import headline_rows

    def run(**dy: object) -> SimpleNamespace:
        return SimpleNamespace(summary={"materials": {"dy_oxide": {"peak_price_multiple": None, **dy}}})

    no_price = run(time_to_recover_weeks=None, recovered=None)
    high = run(time_to_recover_weeks=None, recovered=False)
    header, _, _ = headline_rows({"s": [no_price]})
    col = next(i for i, h in enumerate(header) if h.startswith("Weeks from peak"))

    def cell(runs: list[SimpleNamespace]) -> str:
        return headline_rows({"s": runs})[1][0][col]

    assert cell([no_price]) == "–"
    assert cell([high]) == "not in run"
    assert cell([no_price, no_price]) == "–"
    assert cell([no_price, run(time_to_recover_weeks=5, recovered=True)]) == "5"
    # a summary.json written before `recovered` existed: a null time is still "not recovered"
    assert cell([run(time_to_recover_weeks=None)]) == "not in run"
