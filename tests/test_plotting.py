"""Figures of runs and ensembles (reflow.plotting) on synthetic result folders that follow docs/outputs.md.

The helpers here (`fake_timeseries`, `write_fake_run`, `write_fake_sweep`) are shared with
test_plotting_report.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MATERIALS = ["ndpr_oxide", "dy_oxide", "tb_oxide", "ndfeb_magnet"]
REGIONS = ["CN", "US", "EU", "JPKR", "AU", "CA", "HUB", "ROW"]
IMPORTERS = ["US", "EU", "JPKR", "ROW"]
BASE_PRICE = {"ndpr_oxide": 60.0, "dy_oxide": 250.0, "tb_oxide": 900.0, "ndfeb_magnet": 45.0}

POLICY = [
    {"id": "apr25", "kind": "licensing", "label": "April licensing (Dy, Tb)", "announce": "2025-04-04",
     "effective": "2025-04-04", "suspend": None, "resume": None, "lift": None,
     "items": ["dy_oxide", "tb_oxide"]},
    {"id": "oct25", "kind": "extraterritorial", "label": "October escalation", "announce": "2025-10-09",
     "effective": "2025-12-01", "suspend": "2025-11-10", "resume": None, "lift": None},
    {"id": "gl", "kind": "general_licence", "label": "General licences", "announce": None,
     "effective": "2026-01-05", "suspend": None, "resume": None, "lift": "2026-11-09"},
]


def fake_config(name: str = "controls_fake", weeks: int = 156, start: str = "2024-01-01") -> dict[str, Any]:
    return {"scenario": {"name": name, "description": f"Synthetic scenario {name} for tests.", "start": start,
                         "weeks": weeks, "seed": 1},
            "licensing": {"approval_rate": 0.6, "review_days": 45}, "policy": POLICY}


def fake_timeseries(weeks: int, seed: int, start: str = "2024-01-01", shock: float = 1.0) -> pd.DataFrame:
    """Every variable of the contract with plausible shapes: a price spike and shortages after April 2025."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=weeks, freq="W-MON")
    t = np.arange(weeks)
    ctrl = np.clip((dates - pd.Timestamp("2025-04-04")).days / 7.0, 0, None)
    pulse = np.where(ctrl > 0, np.exp(-((ctrl - 20) / 14.0) ** 2), 0.0) * shock
    rows: list[tuple] = []

    def add(var: str, values: np.ndarray, material=None, origin=None, region=None) -> None:
        rows.extend(zip(t, dates, [var] * weeks, [material] * weeks, [origin] * weeks, [region] * weeks,
                        np.asarray(values, dtype=float), strict=True))

    for m in MATERIALS:
        controlled = m in ("dy_oxide", "tb_oxide")
        spike = (1 + (8 if controlled else 0.6) * pulse) * (1 + 0.03 * rng.standard_normal(weeks))
        add("price_cn", BASE_PRICE[m] * (1 - 0.1 * pulse), m)
        add("alt_capacity", 500 + 40 * t + (300 if controlled else 0), m)
        add("alt_capacity_pipeline", 2000 + 100 * np.sin(t / 20), m)
        add("exports_cn_total", 100 * (1 - 0.7 * pulse), m)
        add("production_cn", 300 + rng.standard_normal(weeks), m)
        add("production_alt", 20 + 0.5 * t, m)
        add("stock_total", 1000 - 300 * pulse, m)
        add("consumption", 310 + rng.standard_normal(weeks), m)
        for r in REGIONS:
            add("demand", np.full(weeks, 10.0 if r in IMPORTERS else 0.0), m, region=r)
            if r not in IMPORTERS:
                continue
            add("price_ex_vwap", BASE_PRICE[m] * 1.1 * spike, m, region=r)
            add("price_ex_ask", BASE_PRICE[m] * 1.2 * spike * (1 + 0.5 * pulse), m, region=r)
            noise = 0.2 * rng.standard_normal(weeks)
            short = np.clip(6 * pulse - 1 + noise, 0, None) if controlled else 0 * t
            add("delivered", 10 - short, m, region=r)
            add("shortage", short, m, region=r)
            add("inventory_cover_weeks", 12 - 10 * pulse, m, region=r)
            apps = rng.poisson(5 * (ctrl > 0)) if controlled else np.zeros(weeks)
            add("licence_applications", apps, m, region=r)
            add("licence_approvals", np.floor(apps * 0.6), m, region=r)
            add("licence_denials", np.floor(apps * 0.2), m, region=r)
            add("licence_backlog", np.cumsum(apps) * 0.1, m, region=r)
            add("licence_mean_wait_days", np.where(ctrl > 0, 40 + 30 * pulse, 0), m, region=r)
            add("exports_cn", 6 * (1 - 0.7 * pulse), m, region=r)
            share = np.clip(0.1 + 0.002 * t + 0.2 * pulse, 0, 1)
            add("non_china_share", share, m, region=r)
            add("hhi", share**2 + (1 - share) ** 2, m, region=r)
            add("thrift_saving_share", 0.05 * pulse, m, region=r)
            for o, w in (("CN", 1 - share), ("AU", share * 0.6), ("US", share * 0.3), ("CA", share * 0.1)):
                add("flow", (10 - short) * w, m, origin=o, region=r)
    for r in IMPORTERS:
        add("production_lost_share", np.clip(0.2 * pulse + 0.01 * rng.standard_normal(weeks), 0, 1), region=r)
        add("output_plan", np.full(weeks, 100.0 if r == "US" else 50.0), region=r)
    df = pd.DataFrame(rows, columns=["week", "date", "variable", "material", "origin", "region", "value"])
    df["date"] = df["date"].dt.date
    return df


def write_fake_run(folder: Path, seed: int = 1, name: str = "controls_fake", weeks: int = 156,
                   shock: float = 1.0) -> Path:
    """A run folder exactly as `reflow run` writes it (docs/outputs.md)."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = fake_config(name, weeks)
    ts = fake_timeseries(weeks, seed, shock=shock)
    schema = pa.schema([("week", pa.int64()), ("date", pa.date32()), ("variable", pa.string()),
                        ("material", pa.string()), ("origin", pa.string()), ("region", pa.string()),
                        ("value", pa.float64())])
    table = pa.Table.from_pandas(ts, schema=schema, preserve_index=False)
    pq.write_table(table, folder / "timeseries.parquet")
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "config.toml").write_text(f'[scenario]\nname = "{name}"\n')
    mats = {m: {"peak_price_multiple": 9.0 * shock if m in ("dy_oxide", "tb_oxide") else 1.5,
                "peak_price_date": "2025-08-25", "peak_price_region": "US",
                "peak_price_multiple_by_region": {"US": 9.0, "EU": 8.5},
                "weeks_in_shortage": 20 + seed, "cumulative_shortage_share": 0.05,
                "final_non_china_share": 0.4, "time_to_recover_weeks": 30} for m in MATERIALS}
    summary = {"scenario": name, "seed": seed, "start": "2024-01-01", "end": "2026-12-21", "weeks": weeks,
               "materials": mats,
               "overall": {"production_lost_share": 0.01 * shock,
                           "production_lost_share_by_region": {"US": 0.02},
                           "first_production_loss_date": "2025-06-02", "approval_share": 0.6,
                           "mean_licence_wait_days": 41.0 + seed, "licence_applications": 1234}}
    (folder / "summary.json").write_text(json.dumps(summary))
    manifest = {"reflow_version": "0.1.0", "git_commit": "abc1234", "git_dirty": False, "seed": seed,
                "scenario": name, "config_file": "configs/fake.toml", "overrides": [],
                "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:05Z",
                "wall_time_s": 5.0,
                "python": "3.11", "mesa_version": "3.3.1", "platform": "linux", "files": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def write_fake_sweep(folder: Path, analysed: bool = True) -> Path:
    """A sweep folder: two parameters on a grid, three replicates, one failed run."""
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    rid = 0
    for pid, (a, d) in enumerate((a, d) for a in (0.2, 0.4, 0.6, 0.8) for d in (20, 45, 90)):
        for rep in range(3):
            peak = 1 + 8 * (1 - a) * d / 45 + rng.normal(0, 0.3)
            lost = 0.05 * (1 - a) * d / 90 + abs(rng.normal(0, 0.002))
            status = "failed" if rid == 5 else "ok"
            rows.append({"run_id": f"r{rid:04d}", "point_id": pid, "replicate": rep, "seed": 1000 + rid,
                         "status": status, "error": "boom" if status == "failed" else None,
                         "wall_time_s": 1.0,
                         "licensing.approval_rate": a, "licensing.review_days": d,
                         "dy_oxide.peak_price_multiple": np.nan if status == "failed" else peak,
                         "overall.production_lost_share": np.nan if status == "failed" else lost,
                         "overall.mean_licence_wait_days": d * 1.2,
                         "overall.licence_applications": 5000 + 10 * rid, "dy_oxide.recovered": rid % 3 > 0})
            rid += 1
    df = pd.DataFrame(rows)
    df.iloc[:20].to_parquet(folder / "runs" / "part-00000.parquet", index=False)
    df.iloc[20:].to_parquet(folder / "runs" / "part-00001.parquet", index=False)
    (folder / "sweep.toml").write_text(
        'name = "approval_delay_fake"\nbase = "configs/controls_2025.toml"\ndesign = "grid"\nreplicates = 3\n'
        '[parameters]\n"licensing.approval_rate" = [0.2, 0.4, 0.6, 0.8]\n'
        '"licensing.review_days" = [20, 45, 90]\n')
    (folder / "manifest.json").write_text(json.dumps({"reflow_version": "0.1.0", "git_commit": "abc1234",
                                                      "root_seed": 42}))
    if analysed:
        (folder / "analysis").mkdir(exist_ok=True)
        sob = []
        for met in ("dy_oxide.peak_price_multiple", "overall.production_lost_share"):
            for p, s1, st in (("licensing.approval_rate", 0.55, 0.62), ("licensing.review_days", 0.30, 0.41)):
                sob.append({"metric": met, "parameter": p, "S1": s1, "S1_conf": 0.05, "ST": st,
                            "ST_conf": 0.06})
        pd.DataFrame(sob).to_csv(folder / "analysis" / "sobol.csv", index=False)
        mor = [{"metric": s["metric"], "parameter": s["parameter"], "mu_star": s["S1"] * 3,
                "mu_star_conf": 0.1, "sigma": s["ST"]} for s in sob]
        pd.DataFrame(mor).to_csv(folder / "analysis" / "morris.csv", index=False)
    return folder


# ------------------------------------------------------------------------------------------------ tests


import matplotlib  # noqa: E402
import matplotlib.dates as mdates  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection, QuadMesh  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from reflow.plotting import quick_figures  # noqa: E402
from reflow.plotting._frames import Series, origin_shares  # noqa: E402
from reflow.plotting.ensemble import EX_CHINA, summarise  # noqa: E402
from reflow.plotting.ensemble_figures import ENSEMBLE_FIGURES, ensemble_flows, merged_marks  # noqa: E402
from reflow.plotting.flows import flow_figure  # noqa: E402
from reflow.plotting.layout import LEGAL_LIMIT_DAYS  # noqa: E402
from reflow.plotting.load import load_run  # noqa: E402
from reflow.plotting.run_figures import RUN_FIGURES, price_figure, shortage_figure  # noqa: E402
from reflow.plotting.style import freeze_layout, rc_params, render_figure, save_figure, scenario_style  # noqa: E402
from reflow.plotting.timeline import PolicyMark, number_marks, policy_key, policy_marks  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WEEKS = 104  # two years: long enough for the April 2025 shock and its recovery


@pytest.fixture(scope="module")
def series() -> Series:
    return Series(fake_timeseries(WEEKS, seed=1))


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return fake_config(weeks=WEEKS)


def _panels(fig: Figure) -> list[Any]:
    """Data axes (colour bars left out)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _texts(fig: Figure) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts]
    return out


def _legend_labels(fig: Figure) -> list[str]:
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    for ax in fig.axes:
        if ax.get_legend() is not None:
            labels += [t.get_text() for t in ax.get_legend().get_texts()]
    return labels


def _ink_share(fig: Figure) -> float:
    """Share of pixels that are not white, from a small rendering (a blank figure gives ~0)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    freeze_layout(fig)
    fig.set_dpi(30)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())[..., :3]
    return float((rgba.min(axis=2) < 235).mean())


def _vlines_at(ax: Any) -> set[pd.Timestamp]:
    """Dates of the vertical policy lines on a time axis."""
    out = set()
    for line in ax.lines:
        x = np.asarray(line.get_xdata(), dtype=float)
        if x.size == 2 and x[0] == x[1] and tuple(line.get_ydata()) == (0, 1):
            out.add(pd.Timestamp(mdates.num2date(x[0])).tz_localize(None).normalize())
    return out


@pytest.mark.parametrize("name", list(RUN_FIGURES))
def test_every_run_figure_has_title_labels_legend_and_ink(name: str, series: Series, config: dict) -> None:
    fn = RUN_FIGURES[name][0]
    with matplotlib.rc_context(rc_params()):
        fig = fn(series, config, seed=1)
    assert any(t.startswith("controls_fake, seed 1") for t in _texts(fig))
    assert fig._suptitle is not None and fig._suptitle.get_text().strip()
    panels = _panels(fig)
    assert panels
    for ax in panels:
        assert ax.get_title(), f"{name}: a panel without a title"
        assert ax.get_ylabel(), f"{name}: panel '{ax.get_title()}' has no y label"
        heat = any(isinstance(c, QuadMesh) for c in ax.collections)  # the unit is on its colour bar
        assert "(" in ax.get_ylabel() or heat or name == "flows", f"{name}: no unit in {ax.get_ylabel()!r}"
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert all("(" in b.get_ylabel() for b in bars), f"{name}: a colour bar without a unit"
    if name == "flows":  # a matrix: labelled axes and a colour bar with the unit instead of a legend
        assert all(ax.get_xlabel() == "Destination" for ax in panels)
        assert bars and all("(t)" in b.get_ylabel() for b in bars)
    else:
        assert _legend_labels(fig), f"{name}: no legend"
        for ax in panels:  # real dates on every time axis, clipped to the run
            lo, hi = (mdates.num2date(v).date() for v in ax.get_xlim())
            assert lo.isoformat() == "2024-01-01" and hi.year == 2025
    # rendering (non-blank pixels) is checked on a real run in test_plotting_report.py, where the report
    # draws every figure anyway


def test_price_figure_uses_log_scale_only_for_spiking_materials(series: Series, config: dict) -> None:
    fig = price_figure(series, config, seed=1)
    by_title = {ax.get_title(): ax for ax in _panels(fig)}
    assert by_title["Dy oxide (log scale)"].get_yscale() == "log"  # spikes nine-fold
    assert by_title["Tb oxide (log scale)"].get_yscale() == "log"
    assert by_title["NdPr oxide"].get_yscale() == "linear"  # +60% only
    for ax in by_title.values():
        labels = [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
        assert labels == ["China domestic", "Ex-China VWAP", "Ex-China marginal ask"]
    # the log axis starts at a round number just below the lowest price, so the low end is labelled
    lo, _hi = by_title["Dy oxide (log scale)"].get_ylim()
    assert 100 <= lo <= 250


def test_price_figure_adds_the_la_ce_market_when_a_run_has_one() -> None:
    """quota_2010 has a La/Ce oxide market (ODD 7.18): the price figure gets a panel with its two prices, on
    the same time axis and with the same policy marks; other runs do not."""
    import reflow

    res = reflow.run(Path(__file__).resolve().parents[1] / "configs" / "quota_2010.toml", seed=1, out=None,
                     overrides=["scenario.weeks=120"])
    cfg = json.loads(res.config.model_dump_json())
    fig = price_figure(res.timeseries, cfg, seed=1)
    panels = {ax.get_title().replace(" (log scale)", ""): ax for ax in _panels(fig)}
    assert "La/Ce oxide (one market)" in panels
    ax = panels["La/Ce oxide (one market)"]
    labels = [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
    assert labels == ["China domestic", "Ex-China VWAP"]
    ex = next(line for line in ax.lines if line.get_label() == "Ex-China VWAP").get_ydata()
    assert np.nanmax(ex) > 2 * np.nanmin(ex)  # the H2-2010 squeeze shows
    assert pd.Timestamp("2010-07-12") in _vlines_at(ax)
    assert ax.get_ylabel() == "Price (USD/kg)"
    # Over seeds, the ensemble keeps the same two La/Ce lines (the traces its price figure draws).
    from reflow.plotting.ensemble import reduce_run

    traces, _ = reduce_run(Series(res.timeseries), figures=["prices"])
    assert {k[2] for k in traces if k[1] == "light_ree"} == {"price_cn", "price_ex_vwap"}


def test_policy_events_are_marked_on_every_time_axis(series: Series, config: dict) -> None:
    fig = shortage_figure(series, config, seed=1)
    expected = {pd.Timestamp("2025-04-04"), pd.Timestamp("2025-10-09"), pd.Timestamp("2025-11-10")}
    for ax in _panels(fig):
        assert expected <= _vlines_at(ax), ax.get_title()
    # the escalation was suspended before its effective date: no line on 1 Dec 2025
    assert all(pd.Timestamp("2025-12-01") not in _vlines_at(ax) for ax in _panels(fig))


def test_policy_marks_from_config() -> None:
    marks = policy_marks(fake_config())
    labels = [(m.when.isoformat(), m.label) for m in marks]
    assert labels == [
        ("2025-04-04", "April licensing (Dy, Tb)"),  # announced on the day it took effect: drawn once
        ("2025-10-09", "October escalation, announced"),
        ("2025-11-10", "October escalation, suspended"),
        ("2026-01-05", "General licences"),
        ("2026-11-09", "General licences, lifted"),
    ]


def test_crowded_marks_are_numbered_with_a_key() -> None:
    marks = policy_marks(fake_config())
    short = pd.date_range("2025-01-06", periods=40, freq="W-MON")
    assert all(m.number is None for m in number_marks(marks, short))  # 9 months: room for labels
    long = pd.date_range("2013-01-07", periods=700, freq="W-MON")  # to May 2026: Oct and Nov 2025 collide
    numbered = number_marks(marks, long)
    assert [m.number for m in numbered] == [1, 2, 3, 4]  # the lifting in Nov 2026 is past the axis
    key = policy_key(numbered)
    assert key is not None and "[2] 9 Oct 2025 – October escalation, announced" in key
    assert policy_key(number_marks(marks, short)) is None


def test_the_policy_key_gives_each_milestones_date_first_and_once() -> None:
    """The key read "[6] Sep 2025: returns for more information, lifted, 10 Nov 2025": two dates, the one that
    matters last. Now the milestone's date leads (the numbers run in date order), and a label's month prefix
    that only repeats it is dropped; one naming another month stays, as the name of the measure."""
    marks = [PolicyMark(dt.date(2025, 4, 4), "Apr 2025: Dy/Tb/magnet licensing", "effective", "licensing", number=1),
             PolicyMark(dt.date(2025, 11, 10), "Sep 2025: returns for more information, lifted", "lift", "licensing",
                        number=2),
             PolicyMark(dt.date(2025, 10, 1), "DoD NdPr floor", "effective", "price_floor", number=3)]
    key = policy_key(marks)
    assert key is not None
    items = [item.strip() for item in key.split(":  ", 1)[1].split(";  ")]
    assert items == ["[1] 4 Apr 2025 – Dy/Tb/magnet licensing",
                     "[2] 10 Nov 2025 – Sep 2025: returns for more information, lifted",
                     "[3] 1 Oct 2025 – DoD NdPr floor"]


def test_shortage_panels_mark_the_level_of_a_week_in_shortage_and_say_when_no_week_reached_it(
        config: dict) -> None:
    # controls_2025's Tb oxide: a few kilograms short in one month, scaled to its own data, filled the panel as a
    # crisis would, while the summary counted no week in shortage (over 1% of ex-China demand).
    ts = fake_timeseries(WEEKS, seed=1)
    real = shortage_figure(Series(ts), config, seed=1)
    dy = {ax.get_title(): ax for ax in _panels(real)}["Dy oxide"]
    texts = [t.get_text() for t in dy.texts]
    assert "1% of demand" in texts and not any(t.startswith("no week in shortage") for t in texts)
    threshold = 0.01 * 10.0 * len(IMPORTERS)  # fake demand: 10 t/week in each importing region
    assert any(np.allclose(line.get_ydata(), threshold) for line in dy.lines)
    tiny = ts.copy()
    tiny.loc[tiny["variable"] == "shortage", "value"] *= 1e-4  # the same pulse, far under 1% of demand
    dy = {ax.get_title(): ax for ax in _panels(shortage_figure(Series(tiny), config, seed=1))}["Dy oxide"]
    assert "no week in shortage (over 1% of demand)" in [t.get_text() for t in dy.texts]
    assert dy.get_ylim()[1] == pytest.approx(1.6 * threshold)  # scaled to show the line, not the grams
    assert len([c for c in dy.collections if isinstance(c, PolyCollection)]) == len(IMPORTERS)  # still drawn


def test_shortage_figure_stacks_regions_and_draws_lost_production_heat_strip(series: Series,
                                                                             config: dict) -> None:
    fig = shortage_figure(series, config, seed=1)
    by_title = {ax.get_title(): ax for ax in _panels(fig)}
    assert "4-week average" in fig._suptitle.get_text()
    dy = by_title["Dy oxide"]
    assert len([c for c in dy.collections if isinstance(c, PolyCollection)]) == len(IMPORTERS)
    ndpr = by_title["NdPr oxide"]
    assert "no shortage in this run" in [t.get_text() for t in ndpr.texts]
    lost = next(ax for t, ax in by_title.items() if t.startswith("Production lost"))
    mesh = next(c for c in lost.collections if isinstance(c, QuadMesh))
    assert mesh.get_array().shape == (len(IMPORTERS), WEEKS)
    assert [t.get_text() for t in lost.get_yticklabels()] == ["United States", "EU", "Japan/Korea",
                                                              "Rest of world"]
    assert set(_legend_labels(fig)) == {"United States", "EU", "Japan/Korea", "Rest of world"}


def test_lost_production_strips_say_what_the_percentages_are_of(series: Series, config: dict,
                                                                 groups: list[Any]) -> None:
    """The strip's colour bar read "Lost (%)" and the 20-seed figure's title named no base: % of what?"""
    for fig in (shortage_figure(series, config, seed=1), ENSEMBLE_FIGURES["shortages"][0](groups[:1])):
        strip = next(ax for ax in _panels(fig) if ax.get_title().startswith("Production lost"))
        assert "share of planned output" in strip.get_title()
        bars = [ax for ax in strip.child_axes if ax.get_ylabel().startswith("Lost")]  # (its inset colour bar)
        assert [ax.get_ylabel() for ax in bars] == ["Lost (% of planned output)"]


def test_licence_figure_panels_and_legal_limit(series: Series, config: dict) -> None:
    fig = RUN_FIGURES["licences"][0](series, config)
    titles = [ax.get_title() for ax in _panels(fig)]
    assert len(titles) == 4 and titles[3].startswith("Approval share")
    wait = _panels(fig)[2]
    assert any(tuple(line.get_ydata()) == (LEGAL_LIMIT_DAYS, LEGAL_LIMIT_DAYS) for line in wait.lines)
    assert {"Applications", "Approvals", "Denials", "Dy oxide", "Tb oxide"} <= set(_legend_labels(fig))
    # the panel draws approvals and denials too, and its axis says so (it read "Applications (per week)")
    assert _panels(fig)[0].get_ylabel() == "Applications or decisions (per week)"
    # NdPr and magnets need no licence in this run: no lines for them
    assert "NdPr oxide" not in _legend_labels(fig)


def _legend_rows(fig: Figure) -> list[list[str]]:
    """The figure legend's entries row by row (a legend fills its columns top to bottom), blanks left out."""
    (legend,) = fig.legends
    texts = [t.get_text() for t in legend.get_texts()]
    ncol = legend._ncols
    nrows = -(-len(texts) // ncol)
    return [[texts[c * nrows + r] for c in range(ncol) if c * nrows + r < len(texts) and texts[c * nrows + r]]
            for r in range(nrows)]


def test_licence_legend_says_which_lines_are_decisions_and_which_are_materials(
        series: Series, config: dict, groups: list[Any]) -> None:
    """One row of "Applications, Approvals, Denials, Dy oxide, Tb oxide" left the reader to work out that the
    first three are the top-left panel's (all items) and the materials the other panels' lines: a headed row
    each."""
    for fig in (RUN_FIGURES["licences"][0](series, config), ENSEMBLE_FIGURES["licences"][0](groups[:1])):
        rows = _legend_rows(fig)
        assert rows[0] == ["All items:", "Applications", "Approvals", "Denials"]
        assert rows[1][0] == "Per material:" and {"Dy oxide", "Tb oxide"} <= set(rows[1][1:])
        assert len(rows) == 2
    compare = ENSEMBLE_FIGURES["licences"][0](groups)  # scenarios: one kind of line, no headings
    assert not any(t.endswith(":") for t in _legend_labels(compare))


def test_supply_shares_stack_to_100_percent_by_origin(series: Series, config: dict) -> None:
    shares = origin_shares(series, "dy_oxide", window=13)
    assert list(shares.columns) == ["CN", "US", "AU", "CA"]
    assert np.allclose(shares.sum(axis=1), 100.0)
    fig = RUN_FIGURES["supply_shares"][0](series, config)
    dy = next(ax for ax in _panels(fig) if ax.get_title().startswith("Dy oxide"))
    assert len([c for c in dy.collections if isinstance(c, PolyCollection)]) == 4
    assert {"Origin: China", "Origin: Australia"} <= set(_legend_labels(fig))


def test_flow_figure_period_and_empty_period(series: Series, config: dict) -> None:
    fig = flow_figure(series, config, period="2025-04-01:2025-06-30")
    assert "07 Apr 2025 to 06 Jul 2025" in fig._suptitle.get_text()
    dy = next(ax for ax in _panels(fig) if ax.get_title() == "Dy oxide")
    assert [t.get_text() for t in dy.get_yticklabels()] == ["China", "United States", "Australia", "Canada"]
    cells = [t.get_text() for t in dy.texts]
    assert len(cells) == 4 * len(IMPORTERS) and all(c for c in cells)
    empty = flow_figure(series, config, period="2030-01-01:2030-12-31")
    assert "empty period" in empty._suptitle.get_text()
    assert any("no flows" in t for t in _texts(empty))
    with pytest.raises(ValueError, match="START:END"):
        flow_figure(series, config, period="2025-04-01")


def test_figures_say_when_data_is_missing(config: dict) -> None:
    ts = fake_timeseries(52, seed=2)
    ts = ts[~ts["variable"].str.startswith("licence_")]
    fig = RUN_FIGURES["licences"][0](ts, config)
    texts = _texts(fig)
    assert "no licence applications" in texts and "no backlog" in texts and "no decisions" in texts
    # no seed given: the caption names the scenario only (the config's seed is a default --seed overrides)
    assert "controls_fake" in texts and not any("seed" in t for t in texts)


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Every `Figure.draw` call from here on, as the figure drawn (a full draw: layout, artists, text)."""
    calls: list[Figure] = []
    original = Figure.draw

    def counting(self: Figure, renderer: Any) -> Any:
        calls.append(self)
        return original(self, renderer)

    monkeypatch.setattr(Figure, "draw", counting)
    return calls


@pytest.mark.parametrize("workers", [1, 2])
def test_quick_figures_write_the_four_pngs_drawing_each_once(tmp_path: Path, draws: list[Figure],
                                                            workers: int) -> None:
    ts = fake_timeseries(156, seed=3)
    paths = quick_figures(ts, fake_config(), tmp_path / "figures", seed=3, workers=workers)
    assert [p.name for p in paths] == ["prices.png", "shortages.png", "licences.png", "supply_shares.png"]
    for p in paths:
        assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 20_000
        assert oct(p.stat().st_mode & 0o777) != oct(0o600)  # shareable, not mkstemp's private mode
    assert not list((tmp_path / "figures").glob(".*"))  # no temporary files left behind
    if workers == 1:  # (with 2 the figures are drawn in forked processes, where this count cannot see them)
        assert len(draws) == 4 and len(set(map(id, draws))) == 4  # each figure drawn once, for its PNG


@pytest.mark.parametrize("formats", [("png", "svg"), ("png", "svg", "pdf"), ("svg", "png")])
def test_saving_draws_a_figure_once_per_format(series: Series, config: dict, tmp_path: Path,
                                               draws: list[Figure], formats: tuple[str, ...]) -> None:
    with matplotlib.rc_context(rc_params()):
        fig = price_figure(series, config, seed=1)
        assert fig.get_layout_engine() is not None  # constrained layout, to be run once for all formats
        paths = save_figure(fig, tmp_path, "prices", formats=formats)
    assert [p.name for p in paths] == [f"prices.{f}" for f in formats]
    assert len(draws) == len(formats) and all(f is fig for f in draws)
    # the layout ran within the first draw: every panel sits below the title block and inside the figure
    title_bottom = fig._suptitle.get_window_extent().transformed(fig.transFigure.inverted()).y0
    for ax in _panels(fig):
        box = ax.get_position()
        assert 0 < box.x0 < box.x1 < 1 and 0 < box.y0 < box.y1 < title_bottom
    assert not list(tmp_path.glob(".*"))


def test_saved_files_are_reproducible_and_png_has_its_resolution(series: Series, config: dict,
                                                                 tmp_path: Path) -> None:
    from PIL import Image

    with matplotlib.rc_context(rc_params()):
        for out in ("a", "b"):
            save_figure(price_figure(series, config, seed=1), tmp_path / out, "prices", ("png", "svg", "pdf"),
                        dpi=120)
    for fmt in ("png", "svg", "pdf"):  # no creation dates: a re-plot gives the same bytes
        assert (tmp_path / "a" / f"prices.{fmt}").read_bytes() == (tmp_path / "b" / f"prices.{fmt}").read_bytes()
    with Image.open(tmp_path / "a" / "prices.png") as im:
        assert im.size == (1200, round(120 * fig_height(tmp_path / "a" / "prices.svg")))
        assert round(im.info["dpi"][0]) == 120
        assert np.asarray(im.convert("L")).min() < 50  # drawn, not blank


def fig_height(svg: Path) -> float:
    """Height in inches of an SVG written by matplotlib (in points)."""
    import xml.etree.ElementTree as ET

    return float(ET.parse(svg).getroot().get("height", "0pt").removesuffix("pt")) / 72


def test_render_figure_to_a_file_object_and_unknown_format(series: Series, config: dict) -> None:
    import io

    with matplotlib.rc_context(rc_params()):
        fig = price_figure(series, config, seed=1)
        buf = io.BytesIO()
        render_figure(fig, buf, "png", dpi=30)
        assert buf.getvalue()[:8] == PNG_MAGIC
        with pytest.raises(ValueError, match="unknown figure format"):
            render_figure(fig, io.BytesIO(), "gif")
        assert fig.dpi == 100  # the figure's own resolution is left as it was


# ------------------------------------------------------------------------------------ ensembles, overlays


@pytest.fixture(scope="module")
def scenario_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    for seed in (1, 2, 3):
        write_fake_run(root / "controls_fake" / f"seed{seed}", seed=seed, weeks=WEEKS)
        write_fake_run(root / "mild_fake" / f"seed{seed}", seed=seed, name="mild_fake", weeks=WEEKS,
                       shock=0.3)
    return {"controls_fake": root / "controls_fake", "mild_fake": root / "mild_fake"}


def test_summarise_quantiles_and_mean_flows(scenario_folders: dict[str, Path]) -> None:
    runs = [load_run(p) for p in sorted(scenario_folders["controls_fake"].iterdir())]
    g = summarise(runs, period="2025-01-01:2025-12-31")
    assert all(not r._cache for r in runs)  # each run's time series is dropped once it is reduced
    assert g.n == 3 and g.seeds == [1, 2, 3]
    st = g.get("prices", "dy_oxide", "price_ex_vwap")
    assert st is not None and len(st) == WEEKS
    assert (st["q05"] <= st["q50"] + 1e-9).all() and (st["q50"] <= st["q95"] + 1e-9).all()
    assert (st["q95"] - st["q05"]).max() > 0  # the seeds differ
    # the flow matrix is the mean of the runs' matrices
    from reflow.plotting._frames import flow_matrix

    singles = [flow_matrix(Series(r.timeseries()), "dy_oxide", pd.Timestamp("2025-01-01"),
                           pd.Timestamp("2025-12-31")) for r in runs]
    assert np.allclose(g.flows["dy_oxide"].to_numpy(), sum(m.to_numpy() for m in singles) / 3)


@pytest.fixture(scope="module")
def groups(scenario_folders: dict[str, Path]) -> list[Any]:
    return [summarise([load_run(p) for p in sorted(folder.iterdir())], name=name)
            for name, folder in scenario_folders.items()]


def test_ensemble_figures_draw_median_and_band(groups: list[Any]) -> None:
    g = groups[0]
    fig = ENSEMBLE_FIGURES["prices"][0]([g])
    assert "controls_fake: median of 3 seeds, shaded 5-95% range" in _texts(fig)
    dy = next(ax for ax in _panels(fig) if ax.get_title().startswith("Dy oxide"))
    assert len([c for c in dy.collections if isinstance(c, PolyCollection)]) == 3  # one band per line
    assert [ln.get_label() for ln in dy.lines if not ln.get_label().startswith("_")] == [
        "China domestic", "Ex-China VWAP", "Ex-China marginal ask"]
    for name, (fn, _text) in ENSEMBLE_FIGURES.items():
        fig = fn([g])
        assert all(ax.get_title() and ax.get_ylabel() for ax in _panels(fig)), name
        assert _legend_labels(fig) or name == "shortages", name
    assert "mean of 3 seeds" in " ".join(_texts(ensemble_flows(g)))
    licences = ENSEMBLE_FIGURES["licences"][0]
    assert _panels(licences([g]))[0].get_ylabel() == "Applications or decisions (per week)"
    assert _panels(licences(groups))[0].get_ylabel() == "Applications (per week)"  # compared: applications only


def test_overlay_compares_scenarios_in_one_legend(groups: list[Any]) -> None:
    import copy

    fig = ENSEMBLE_FIGURES["shortages"][0](groups)
    assert _legend_labels(fig) == ["controls_fake", "mild_fake"]
    dy = next(ax for ax in _panels(fig) if ax.get_title().startswith("Dy oxide"))
    peaks = [max(line.get_ydata()) for line in dy.lines if not line.get_label().startswith("_")]
    assert peaks[0] > 2 * peaks[1]  # the milder shock shows as a smaller shortage
    # events only one scenario has name it (and take its colour); events of both do neither
    fewer = copy.copy(groups[1])
    fewer.config = {**fewer.config, "policy": fewer.config["policy"][:1]}
    marks, owners = merged_marks([groups[0], fewer])
    by_label = {m.label: m for m in marks}
    assert by_label["April licensing (Dy, Tb)"].owners == () and by_label["April licensing (Dy, Tb)"].color is None
    assert by_label["General licences"].owners == ("controls_fake",)
    assert by_label["General licences"].text == "General licences [controls_fake]"
    assert by_label["General licences"].color == scenario_style(0)["color"]
    assert owners is None
    # against a baseline without measures: one note instead of a tag on every event
    none = copy.copy(groups[1])
    none.config = {**none.config, "policy": []}
    marks, owners = merged_marks([none, groups[0]])
    assert owners == "controls_fake" and not any("[" in m.text for m in marks)
    assert {m.color for m in marks} == {scenario_style(1)["color"]}
    marks, owners = merged_marks([groups[0], none])
    fig = ENSEMBLE_FIGURES["prices"][0]([groups[0], none])
    assert any(t.endswith("policy events of controls_fake only") for t in _texts(fig))


def test_a_comparison_shows_whose_policy_events_are_whose(groups: list[Any]) -> None:
    """Milestones of every scenario compared were drawn alike across the shared axis, those of one scenario only
    told apart by its name after each of them in the key: they are drawn in its colour, and the key lists them
    under its name once (readable in grayscale too)."""
    import copy

    mild = copy.copy(groups[1])
    mild.config = {**mild.config, "policy": [*mild.config["policy"][:1], {
        "id": "floor", "kind": "price_floor", "label": "Price floor", "effective": "2025-02-03"}]}
    fig = ENSEMBLE_FIGURES["prices"][0]([groups[0], mild])
    key = next(t for t in _texts(fig) if "[1]" in t)
    assert key.startswith("Policy events of every scenario:  [")
    assert "Of controls_fake only:" in key and "Of mild_fake only:" in key
    assert "[controls_fake]" not in key and "[mild_fake]" not in key
    of_mild = key.split("Of mild_fake only:")[1].split("Of ")[0]
    assert "3 Feb 2025 – Price floor" in of_mild and "General licences" not in of_mild
    ax = _panels(fig)[0]
    vertical = {ln.get_xdata()[0]: ln.get_color() for ln in ax.lines if len(set(ln.get_xdata())) == 1}
    dates = {mdates.num2date(x).date(): c for x, c in vertical.items()}
    assert dates[dt.date(2025, 2, 3)] == scenario_style(1)["color"]  # mild_fake's
    assert dates[dt.date(2025, 10, 9)] == scenario_style(0)["color"]  # controls_fake's October escalation
    assert dates[dt.date(2025, 4, 4)] == "#444444"  # both scenarios'


def test_ensemble_says_no_shortage_only_when_no_seed_has_one(tmp_path: Path) -> None:
    # Regression: the label looked at the median alone, so a panel whose band showed a few seeds short said
    # "no shortage" (controls_2025's Tb oxide, 20 seeds).
    for seed, shock in ((1, 0.0), (2, 0.0), (3, 1.0)):
        write_fake_run(tmp_path / f"seed{seed}", seed=seed, weeks=WEEKS, shock=shock)
    g = summarise([load_run(p) for p in sorted(tmp_path.iterdir())], name="one_seed_short")
    assert (g.get("shortages", "dy_oxide", EX_CHINA)["q50"] == 0).all()
    fig = ENSEMBLE_FIGURES["shortages"][0]([g])
    panel = {ax.get_title(): [t.get_text() for t in ax.texts] for ax in _panels(fig)}
    assert not any(t.startswith("no shortage") for t in panel["Dy oxide"])
    assert "no shortage in any run" in panel["NdPr oxide"]  # not licensed in the fake runs: nobody is short
    # An empty panel gets the run figure's 0-1 scale, not the 0-0.05 t/week matplotlib leaves for an all-zero line
    # (controls_2025's NdPr panel over 20 seeds looked as if something small had been drawn).
    assert {ax.get_title(): ax.get_ylim() for ax in _panels(fig)}["NdPr oxide"] == (0, 1)


def test_ensemble_shortage_panels_say_when_no_run_had_a_week_in_shortage(tmp_path: Path) -> None:
    # controls_2025's Tb oxide over 20 seeds: one seed a few kilograms short for a month drew a 5-95% band on a
    # 0-0.0003 t/week axis, an empty-looking panel, while every run's summary counted no week in shortage.
    for seed in (1, 2, 3):
        write_fake_run(tmp_path / f"seed{seed}", seed=seed, weeks=WEEKS, shock=0.25)  # short, a little
    runs = sorted(tmp_path.iterdir())
    threshold = 0.01 * 10.0 * len(IMPORTERS)

    def dy_panel() -> Any:
        g = summarise([load_run(p) for p in runs], name="slight")
        assert g.get("shortages", "dy_oxide", EX_CHINA)["q95"].max() > 0
        fig = ENSEMBLE_FIGURES["shortages"][0]([g])
        return {ax.get_title(): ax for ax in _panels(fig)}["Dy oxide"]

    ax = dy_panel()  # the fake summaries count weeks in shortage: the line, no note
    assert "1% of demand" in [t.get_text() for t in ax.texts]
    assert not any(t.get_text().startswith("no week in shortage") for t in ax.texts)
    assert any(np.allclose(line.get_ydata()[3:], threshold) for line in ax.lines)  # (after the 4-week warm-up)
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        summary["materials"]["dy_oxide"]["weeks_in_shortage"] = 0
        (run / "summary.json").write_text(json.dumps(summary))
    ax = dy_panel()
    assert "no week in shortage (over 1% of demand)" in [t.get_text() for t in ax.texts]
    assert ax.get_ylim()[1] == pytest.approx(1.6 * threshold)


def test_ensemble_supply_shares_say_the_stacked_shares_are_means(groups: list[Any]) -> None:
    # Regression: the caption said "median of 3 seeds, shaded 5-95% range" above stacked areas that are means.
    texts = _texts(ENSEMBLE_FIGURES["supply_shares"][0]([groups[0]]))
    assert "controls_fake: shares are the mean of 3 seeds; HHI the median, shaded 5-95% range" in texts
    assert not any("median of 3 seeds" in t for t in texts)


def test_compared_scenarios_number_same_day_events_in_timeline_order(groups: list[Any]) -> None:
    # Regression: a comparison sorted same-day milestones by label, so its key numbered them otherwise than the
    # scenario's own figures did (controls_2025's two 10 Nov 2025 events swapped places against its baseline).
    import copy

    from reflow.plotting.timeline import policy_marks

    same_day = copy.copy(groups[0])
    same_day.config = {**same_day.config, "policy": [
        {"id": "z", "kind": "licensing", "label": "Zeta measure", "effective": "2025-11-10"},
        {"id": "a", "kind": "licensing", "label": "Alpha measure", "effective": "2025-11-10"},
        {"id": "m", "kind": "licensing", "label": "Mid measure", "effective": "2025-06-01"}]}
    none = copy.copy(groups[1])
    none.config = {**none.config, "policy": []}
    own = [m.label for m in policy_marks(same_day.config)]
    assert own == ["Mid measure", "Zeta measure", "Alpha measure"]
    assert [m.label for m in merged_marks([same_day, none])[0]] == own
    assert [m.label for m in merged_marks([none, same_day])[0]] == own


@pytest.mark.parametrize(("values", "must_show"), [((0.9, 4.0), "1.5"), ((40.0, 600.0), "150"),
                                                    ((800.0, 20_000.0), "1,000")])
def test_log_price_axis_labels_each_tick_with_its_own_value(values: tuple[float, float], must_show: str) -> None:
    # Regression: ticks under 10 were formatted as whole numbers, so 1.5 read "2" beside the real 2.
    import matplotlib.pyplot as plt

    from reflow.plotting.style import set_log_price_axis

    fig, ax = plt.subplots()
    try:
        ax.plot([0, 1], values)
        set_log_price_axis(ax, values)
        fig.canvas.draw()
        lo, hi = ax.get_ylim()
        labels = [t.get_text() for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi and t.get_text()]
        assert must_show in labels
        assert len(labels) == len(set(labels)), labels
    finally:
        plt.close(fig)


def test_the_non_chinese_share_is_blank_until_something_is_delivered(tmp_path: Path) -> None:
    """In weeks before any delivery there is no share to show: the comparison's non-Chinese line is blank there,
    not 100%, and from the first delivery on it is 100 minus China's share."""
    folders = [write_fake_run(tmp_path / f"seed{s}", seed=s, weeks=60) for s in (1, 2, 3)]
    for f in folders:  # nothing delivered anywhere in the first five weeks
        ts = pq.read_table(f / "timeseries.parquet").to_pandas()
        ts = ts[~((ts["variable"] == "flow") & (ts["week"] < 5))]
        pq.write_table(pa.Table.from_pandas(ts, preserve_index=False), f / "timeseries.parquet")
    g = summarise([load_run(f) for f in folders], name="late")
    m = next(k[1] for k in g.stats if k[0] == "supply_shares" and k[2] == "NONCN")
    noncn = g.get("supply_shares", m, "NONCN")["q50"]
    cn = g.get("supply_shares", m, "CN")["q50"]
    assert noncn.iloc[:5].isna().all()
    later = noncn.iloc[5:]
    assert later.notna().all() and ((later >= 0) & (later <= 100)).all()
    np.testing.assert_allclose(later.to_numpy(), 100.0 - cn.iloc[5:].to_numpy(), atol=1e-9)


def test_flow_matrix_labels_zero_cells_and_leaves_china_to_china_blank() -> None:
    """baseline's Dy matrix showed the United States row as blank grey cells beside one labelled cell: nothing
    delivered looked like the China-to-China cell (left out) or like missing data. Zero cells read "0"."""
    from reflow.plotting.flows import flow_matrix_figure

    mat = pd.DataFrame({"CN": [0.0, 240.0], "US": [54.0, 14.0], "EU": [236.0, 0.0]}, index=["CN", "AU"])
    mat.loc["US"] = [0.0, 14.0, 0.0]
    fig = flow_matrix_figure({"dy_oxide": mat}, pd.date_range("2024-01-01", periods=4, freq="7D"), "baseline")
    ax = fig.axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    at = {(rows[r], cols[c]): text for (r, c), text in cells.items()}
    assert ("China", "China") not in at  # left out, blank
    assert at["United States", "EU"] == "0" and at["United States", "China"] == "0"
    assert at["Australia", "China"] == "240"
    assert len(at) == len(rows) * len(cols) - 1


def test_supply_shares_without_deliveries_say_so_and_warn_of_nothing(tmp_path: Path, config: dict) -> None:
    """A run nothing is delivered in (a scenario without demand) drew its HHI panel's legend of no lines, and
    matplotlib's 'No artists with labels found' warning reached the stderr of `reflow run`, plot and report."""
    import warnings

    folders = [write_fake_run(tmp_path / f"seed{s}", seed=s, weeks=20) for s in (1, 2)]
    for f in folders:
        ts = pq.read_table(f / "timeseries.parquet").to_pandas()
        pq.write_table(pa.Table.from_pandas(ts[ts["variable"] != "flow"], preserve_index=False),
                       f / "timeseries.parquet")
    runs = [load_run(f) for f in folders]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = RUN_FIGURES["supply_shares"][0](runs[0].timeseries(), config, seed=1)
        both = ENSEMBLE_FIGURES["supply_shares"][0]([summarise(runs, name="none")])
    for fig in (one, both):
        assert "no deliveries" in _texts(fig)


@pytest.mark.parametrize("weeks", [417, 1000, 2600])
def test_date_axis_labels_fit_a_panel_however_long_the_run(weeks: int) -> None:
    """A 2600-week run (the longest allowed) labelled every second year: 25 labels ran into one another."""
    import itertools

    from reflow.plotting.style import format_date_axis

    start = pd.Timestamp("2024-01-01")
    end = start + pd.Timedelta(weeks=weeks - 1)
    fig = Figure()
    ax = fig.add_subplot()
    ax.set_xlim(start, end)
    format_date_axis(ax, start, end)
    ticks = [mdates.num2date(x) for x in ax.xaxis.get_major_locator()()]
    labels = [ax.xaxis.get_major_formatter()(x) for x in ax.xaxis.get_major_locator()()]
    assert 4 <= len(ticks) <= 10, labels
    assert all(t.month == 1 for t in ticks) and labels == [str(t.year) for t in ticks]
    steps = {b.year - a.year for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1  # evenly spaced years
    if weeks == 417:  # an 8-year run keeps a label every year
        assert steps == {1}


def test_measures_in_force_from_before_the_start_are_named_in_the_caption(tmp_path: Path) -> None:
    """A run starting after a control took effect showed its price spike with no policy mark at all (the mark
    is off the axis); the caption names what is in force from the first day, and not what ended before it."""
    from reflow.plotting.report_tables import policy_rows

    config = fake_config(weeks=30)
    config["policy"] = [
        {"id": "old", "kind": "licensing", "label": "Old control", "effective": "2023-06-05"},
        {"id": "gone", "kind": "embargo", "label": "Lifted embargo", "effective": "2023-01-02", "lift": "2023-09-04"},
        {"id": "paused", "kind": "licensing", "label": "Paused rule", "effective": "2023-03-06",
         "suspend": "2023-11-06"},
        {"id": "later", "kind": "licensing", "label": "Later control", "effective": "2027-01-04"},
    ]
    ts = fake_timeseries(30, seed=1)  # 2024-01-01 on
    run_caption = [t for t in _texts(RUN_FIGURES["prices"][0](ts, config, seed=1)) if t.startswith("controls_fake")]
    assert run_caption == ["controls_fake, seed 1; in force from before the start: Old control"]
    folder = tmp_path / "scen" / "seed1"
    write_fake_run(folder, weeks=30)
    (folder / "config.json").write_text(json.dumps(config))
    g = summarise([load_run(folder)], name="scen")
    assert any(t.endswith("in force from before the start: Old control")
               for t in _texts(ENSEMBLE_FIGURES["prices"][0]([g])))
    # the report's policy timeline says which dates fall outside the run (30 weeks from 2024-01-01)
    rows = {r[0]: r for r in policy_rows(config)}
    assert rows["old"][4] == "05 Jun 2023 (before the run)"
    assert rows["later"][4] == "04 Jan 2027 (after the run)"
    assert rows["paused"][5] == "06 Nov 2023 (before the run)"


def test_policy_timeline_marks_dates_outside_the_weeks_the_schema_simulates() -> None:
    """A start on a Thursday runs from its Monday (the schema snaps it): the policy table counts the run's weeks
    from there, by the schema's rule, so a measure from the Tuesday before that Thursday is inside the run."""
    from reflow.config.schema import ScenarioSection
    from reflow.plotting.report_tables import policy_rows

    config = fake_config(weeks=4, start="2024-01-04")
    snapped = ScenarioSection.model_validate(config["scenario"])
    assert snapped.start == dt.date(2024, 1, 1) and snapped.end == dt.date(2024, 1, 22)
    config["policy"] = [{"id": i, "kind": "licensing", "effective": day} for i, day in
                        (("monday", "2024-01-01"), ("sunday_before", "2023-12-31"), ("last_sunday", "2024-01-28"),
                         ("monday_after", "2024-01-29"))]
    rows = {r[0]: r[4] for r in policy_rows(config)}
    assert rows == {"monday": "01 Jan 2024", "sunday_before": "31 Dec 2023 (before the run)",
                    "last_sunday": "28 Jan 2024", "monday_after": "29 Jan 2024 (after the run)"}


def test_run_supply_shares_are_blank_until_something_is_delivered(config: dict) -> None:
    """Before the first delivery a run's stacked shares were 0% for every origin, drawn as a wedge rising to 100%
    (a 4-week run's Dy panel was a quarter wedge); they are blank there, as in the figures over seeds."""
    ts = fake_timeseries(30, seed=1)
    ts = ts[~((ts["variable"] == "flow") & (ts["week"] < 5))]
    fig = RUN_FIGURES["supply_shares"][0](ts, config, seed=1)
    first = pd.Timestamp(sorted(ts["date"].unique())[5])
    stacks = [c for ax in _panels(fig) for c in ax.collections if isinstance(c, PolyCollection)]
    assert stacks
    for c in stacks:
        xs = np.concatenate([p.vertices[:, 0] for p in c.get_paths()])
        assert mdates.num2date(xs.min()).replace(tzinfo=None) >= first


def test_capacity_panels_say_so_when_there_is_none(tmp_path: Path, config: dict) -> None:
    """A scenario without alternative suppliers (suppliers = []) drew capacity lines along the axis itself, on
    a 0-0.05 t/year scale: an empty-looking figure without a word."""
    ts = fake_timeseries(20, seed=1)
    ts.loc[ts["variable"].isin(["alt_capacity", "alt_capacity_pipeline"]), "value"] = 0.0
    folder = write_fake_run(tmp_path / "seed1", weeks=20)
    pq.write_table(pa.Table.from_pandas(ts, preserve_index=False), folder / "timeseries.parquet")
    g = summarise([load_run(folder)], name="none")
    for fig in (RUN_FIGURES["capacity"][0](ts, config, seed=1), ENSEMBLE_FIGURES["capacity"][0]([g])):
        assert _texts(fig).count("no capacity outside China") == len(_panels(fig))
    assert "no capacity outside China" not in _texts(RUN_FIGURES["capacity"][0](fake_timeseries(20, seed=1),
                                                                                 config, seed=1))


def test_drawing_leaves_the_callers_matplotlib_backend_alone(tmp_path: Path) -> None:
    """A notebook's backend (inline, a GUI one) stays what it was after reflow draws: importing the plotting
    code set Agg, so the user's own pyplot figures stopped showing after a `reflow.run(..., out=...)` or a
    `plot(...)`. reflow draws through explicit canvases and needs no backend. In a fresh process, where nothing
    has imported reflow's plotting yet."""
    import os
    import subprocess
    import sys

    import reflow

    run = write_fake_run(tmp_path / "run", weeks=60)
    script = f"""
import matplotlib
matplotlib.use("pdf")
import matplotlib.pyplot as plt
fig = plt.figure()
from reflow.plotting import plot, quick_figures
written = plot([{str(run)!r}], {str(tmp_path / "plots")!r}, formats=("png",), only=["prices"], workers=1)
assert [p.name for p in written] == ["prices.png"], written
print(matplotlib.get_backend(), plt.get_fignums())
"""
    src = str(Path(reflow.__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": src, "MPLBACKEND": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["pdf", "[1]"]


def test_a_run_s_time_series_changed_by_the_caller_leaves_the_run_as_read(tmp_path: Path) -> None:
    """load_run(...).timeseries() handed out the frame it caches: a notebook converting the values
    (ts["value"] = ts["value"] * 1000) changed what the run held, and every later figure of it."""
    run = load_run(write_fake_run(tmp_path / "run", weeks=30))
    original = run.timeseries()["value"].to_numpy().copy()
    for variables in (None, ["price_cn"]):
        ts = run.timeseries(variables)
        ts["value"] = ts["value"] * 1000
        ts["extra"] = 1
    assert np.array_equal(run.timeseries()["value"].to_numpy(), original)
    assert "extra" not in run.timeseries().columns and "extra" not in run.timeseries(["price_cn"]).columns


def test_load_run_of_a_sweep_folder_says_it_is_a_sweep(tmp_path: Path) -> None:
    """load_run on a sweep folder (it has a manifest.json too) said 'config.json is missing; the result folder is
    incomplete (re-run it)', which sends the user to re-run a complete sweep."""
    from reflow.errors import ResultReadError

    sweep = write_fake_sweep(tmp_path / "sweep")
    with pytest.raises(ResultReadError, match=r"is a sweep folder, not a run") as err:
        load_run(sweep)
    assert "re-run" not in str(err.value)


def test_a_sweep_folder_that_declares_no_parameters_takes_no_bookkeeping_column_for_one(tmp_path: Path) -> None:
    """Without declared parameters, every column that is not a metric or one of the runs table's own columns is
    taken for a parameter: the table's newer columns (cpu time, the runner of each run) were missing from the
    plotting layer's own copy of that list, so they became parameters of every such sweep's figures."""
    from reflow.plotting.load import load_sweep

    folder = write_fake_sweep(tmp_path / "sweep", analysed=False)
    for part in sorted((folder / "runs").glob("*.parquet")):
        df = pd.read_parquet(part)
        df.insert(7, "cpu_time_s", 0.9)
        df.insert(8, "overrides", "{}")
        df.insert(9, "runner", "reflow.experiment.runner:simulate_run")
        df.to_parquet(part, index=False)
    (folder / "sweep.toml").write_text('name = "undeclared"\nbase = "configs/controls_2025.toml"\n')
    sweep = load_sweep(folder)
    assert sweep.parameters == ["licensing.approval_rate", "licensing.review_days"]
    assert not {"cpu_time_s", "overrides", "runner"} & set(sweep.metrics)
