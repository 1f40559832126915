"""`reflow plot` / `reflow report` and the sweep figures: files written, HTML reports, and clear errors.

Result folders are synthetic and follow docs/outputs.md and the sweep store layout (helpers in
test_plotting.py), except one small real run when the model is in the checkout.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import xml.etree.ElementTree as ET
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reflow.cli import main
from reflow.errors import ReflowError, ResultReadError
from reflow.plotting import plot, report
from reflow.plotting.api import iter_figures
from reflow.plotting.load import load_sweep, open_results
from reflow.plotting.sweep_figures import sensitivity_table, sweep_heatmap, sweep_response
from test_plotting import write_fake_run, write_fake_sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WEEKS = 78


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    for seed in (1, 2):
        write_fake_run(root / "controls_fake" / f"seed{seed}", seed=seed, weeks=WEEKS)
        write_fake_run(root / "mild_fake" / f"seed{seed}", seed=seed, name="mild_fake", weeks=WEEKS,
                       shock=0.3)
    write_fake_sweep(root / "sweep")
    return root


def _png_dpi(data: bytes) -> float:
    """Resolution from a PNG's pHYs chunk (pixels per metre -> dots per inch)."""
    i = data.index(b"pHYs")
    ppm_x, _ppm_y, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    assert unit == 1
    return ppm_x * 0.0254


def test_plot_run_writes_png_svg_pdf(results: Path) -> None:
    run = results / "controls_fake" / "seed1"
    paths = plot([run], formats=("png", "svg", "pdf"), only=["prices"])
    assert sorted(p.name for p in paths) == ["prices.pdf", "prices.png", "prices.svg"]
    assert all(p.parent == run / "plots" for p in paths)  # beside the run, never inside figures/ (hashed)
    png = (run / "plots" / "prices.png").read_bytes()
    assert png[:8] == PNG_MAGIC and round(_png_dpi(png)) == 200
    root = ET.parse(run / "plots" / "prices.svg").getroot()
    assert root.tag.endswith("svg")
    assert "Rare-earth prices" in ET.tostring(root, encoding="unicode")  # text stays text (searchable)
    assert (run / "plots" / "prices.pdf").read_bytes()[:5] == b"%PDF-"


def test_plot_and_report_take_one_folder_and_one_name_without_a_list(results: Path, tmp_path: Path) -> None:
    """As a notebook writes them: plot("results/x") read the string letter by letter ("c does not exist"), a
    Path was "not iterable", and only="prices" was the unknown figures p, r, i, c, e, s."""
    run = results / "controls_fake" / "seed1"
    written = plot(str(run), tmp_path / "a", formats="png", only="prices")
    assert [p.relative_to(tmp_path).as_posix() for p in written] == ["a/prices.png"]
    assert [p.name for p in plot(run, tmp_path / "b", formats=["png"], only=["prices"])] == ["prices.png"]
    assert [p.parent for p in plot(run, formats="png", only="prices", force=True)] == [run / "plots"]
    html = report(str(run), tmp_path / "r.html", only="prices")
    assert html == [tmp_path / "r.html"] and html[0].read_text(encoding="utf-8").count("<img") == 1
    sweep = results / "sweep"
    [metric] = plot(sweep, tmp_path / "s", formats="png", only="heatmap",
                    metrics="dy_oxide.peak_price_multiple")
    assert metric.name.startswith("heatmap") and "dy_oxide.peak_price_multiple" in metric.name


def _names(paths: list[Path], **kwargs: Any) -> list[str]:
    """Names of the figures `plot` would write (built, not rendered)."""
    return [item.name for item in iter_figures(open_results(paths), **kwargs)]


def test_plot_scenario_folder_is_an_ensemble_and_two_are_an_overlay(results: Path) -> None:
    assert open_results([results / "controls_fake"]).kind == "ensemble"
    assert _names([results / "controls_fake"], only=["capacity", "flows"]) == ["capacity", "flows"]
    both = [results / "controls_fake", results / "mild_fake"]
    assert open_results(both).kind == "overlay"
    assert _names(both, only=["flows"]) == ["flows_controls_fake", "flows_mild_fake"]
    paths = plot(both, formats=("png",), only=["capacity"], dpi=40)
    assert [p.name for p in paths] == ["capacity.png"]
    assert paths[0].parent == results / "compare-controls_fake_vs_mild_fake" / "plots"


def test_sweep_figures_never_read_time_series(results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import reflow.experiment.store as store
    import reflow.plotting.load as load

    def boom(*_a: Any, **_k: Any) -> None:
        raise AssertionError("a sweep plot read time series")

    monkeypatch.setattr(load, "read_timeseries", boom)
    monkeypatch.setattr(store, "load_timeseries", boom)
    assert _names([results / "sweep"]) == [
        "heatmap_dy_oxide.peak_price_multiple", "heatmap_overall.production_lost_share",
        "heatmap_overall.mean_licence_wait_days", "response_licensing.approval_rate",
        "response_licensing.review_days", "sobol", "morris"]
    paths = plot([results / "sweep"], results / "sweep_plots", formats=("png",), dpi=40, only=["morris"])
    assert [p.name for p in paths] == ["morris.png"] and paths[0].read_bytes()[:8] == PNG_MAGIC


def test_sweep_heatmap_cells_are_replicate_means_without_failed_runs(results: Path) -> None:
    sweep = load_sweep(results / "sweep")
    assert sweep.parameters == ["licensing.approval_rate", "licensing.review_days"]
    fig = sweep_heatmap(sweep, "dy_oxide.peak_price_multiple", "licensing.approval_rate",
                        "licensing.review_days")
    runs = pd.concat([pd.read_parquet(p) for p in sorted((results / "sweep" / "runs").glob("*.parquet"))])
    ok = runs[runs["status"] == "ok"]
    cell = ok[(ok["licensing.approval_rate"] == 0.2) & (ok["licensing.review_days"] == 90)]
    ax = fig.axes[0]
    texts = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text() for t in ax.texts}
    # x = approval 0.2 (column 0), y = 90 days (row 2, origin at the bottom)
    assert texts[0, 2] == f"{cell['dy_oxide.peak_price_multiple'].mean():.1f}"  # the largest cell, 10-100
    assert len(texts) == 12
    # Every cell with the same decimals, three significant figures on the largest (approval_delay's cells read
    # "4.51" beside "4" and "3.9").
    assert {len(t.split(".")[1]) if "." in t else 0 for t in texts.values()} == {1}
    from reflow.plotting.sweep_figures import _cell_decimals

    assert [_cell_decimals(np.array(v)) for v in ([0.295, 0.167], [8.17, 4.0], [25.4, 0.479], [5475.0], [0.0])] == [
        3, 2, 1, 0, 0]
    assert "1 failed runs left out" in " ".join(t.get_text() for t in fig.texts)
    # a parameter in words and unit, above the key the sweep file sets; a key without words is shown as it is
    assert ax.get_xlabel() == "Licence approval rate (share of applications, 0-1)\nlicensing.approval_rate"
    assert ax.get_ylabel() == "licensing.review_days"
    assert ax.get_title() == "by licence approval rate (across) and review_days (up)"
    assert "x first 13 weeks" in fig.axes[1].get_ylabel()  # the colour bar carries the unit


def test_sweep_response_has_ci_band_per_curve(results: Path) -> None:
    sweep = load_sweep(results / "sweep")
    fig = sweep_response(sweep, ["overall.production_lost_share"], "licensing.approval_rate",
                         by="licensing.review_days")
    ax = fig.axes[0]
    labels = [ln.get_label() for ln in ax.lines]
    assert labels == ["20", "45", "90"]
    assert fig.legends[0].get_title().get_text() == "licensing.review_days (mean, 95% CI)"
    assert fig.texts[0].get_text().strip() == "Response to licence approval rate"
    assert ax.get_xlabel() == "Licence approval rate (share of applications, 0-1)\nlicensing.approval_rate"
    assert len(ax.collections) == 3  # one confidence band per curve
    assert ax.get_title() == "Production lost" and ax.get_ylabel() == "% of planned output"
    y90 = ax.lines[2].get_ydata()
    assert y90[0] > y90[-1]  # more approvals, less production lost
    assert [t.get_text() for t in fig.legends[0].get_texts()] == labels


def test_morris_bars_keep_every_label_inside_the_figure_and_shares_in_percent(results: Path) -> None:
    from reflow.plotting.style import render_figure
    from reflow.plotting.sweep_figures import sensitivity_figure

    sweep = load_sweep(results / "sweep")
    fig = sensitivity_figure(sweep, "morris", ["dy_oxide.peak_price_multiple", "overall.production_lost_share"])
    render_figure(fig, io.BytesIO(), "png", dpi=fig.dpi)  # window extents below are at the figure's dpi
    left, right = fig.axes[:2]
    # The parameters share "licensing.": it labels the axis once, each bar gets the rest; the second column,
    # which lists the same parameters, is not labelled again.
    assert [t.get_text() for t in left.get_yticklabels()] == ["Licence approval rate\napproval_rate", "review_days"]
    assert left.get_ylabel() == "licensing.<parameter>"
    assert [t.get_text() for t in right.get_yticklabels()] == ["", ""]
    # Production lost is a share shown in % (mu* 0.55 and 0.30 in the analysis table, scaled like the metric).
    assert right.get_xlabel() == "mu* (% of planned output)"
    assert sorted(round(b.get_width(), 6) for b in right.patches) == [0.9 * 100, 1.65 * 100]
    box = fig.bbox
    for ax in (left, right):
        lo, hi = ax.get_xlim()
        ticks = [t for t, x in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True) if lo <= x <= hi]
        for text in (ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_yticklabels(), *ticks):
            if text.get_text():
                ext = text.get_window_extent()
                assert box.x0 - 1 <= ext.x0 and ext.x1 <= box.x1 + 1, f"{text.get_text()!r} runs off the figure"


def _sobol_sweep(folder: Path, samples: int, noise: float = 0.0) -> Path:
    """A Sobol' sweep folder (design and runs, no analysis) whose Dy peak follows the approval rate."""
    from SALib.sample import sobol as sobol_sample

    names = ["licensing.approval_rate", "licensing.review_days"]
    problem = {"num_vars": 2, "names": names, "bounds": [[0, 1]] * 2}
    unit = sobol_sample.sample(problem, samples, calc_second_order=False, seed=1)
    peak = 1 + 8 * unit[:, 0] + 0.5 * unit[:, 1] + noise * np.random.default_rng(3).normal(size=len(unit))
    design = pd.DataFrame({"point_id": np.arange(len(unit)), names[0]: unit[:, 0],
                           names[1]: 10 + 80 * unit[:, 1], f"unit:{names[0]}": unit[:, 0],
                           f"unit:{names[1]}": unit[:, 1]})
    (folder / "runs").mkdir(parents=True)
    design.to_parquet(folder / "design.parquet", index=False)
    runs = design[["point_id", *names]].assign(
        run_id=[f"r{i}" for i in range(len(design))], replicate=0, seed=0, status="ok", error=None,
        wall_time_s=1.0, **{"dy_oxide.peak_price_multiple": peak})
    runs.to_parquet(folder / "runs" / "part-0.parquet", index=False)
    (folder / "sweep.toml").write_text('[sweep]\nname = "s"\nbase = "b.toml"\n[design]\nmethod = "sobol"\n'
                                       '[[parameters]]\nkey = "licensing.approval_rate"\nlow = 0\nhigh = 1\n'
                                       '[[parameters]]\nkey = "licensing.review_days"\nlow = 10\nhigh = 90\n')
    return folder


def test_sensitivity_indices_are_computed_when_not_analysed(tmp_path: Path) -> None:
    from reflow.plotting.sweep_figures import sensitivity_figure

    names = ["licensing.approval_rate", "licensing.review_days"]
    sweep = load_sweep(_sobol_sweep(tmp_path / "sobol_sweep", 64))
    assert sweep.design_method == "sobol" and sweep.analysis("sobol") is None
    table = sensitivity_table(sweep, "sobol", ["dy_oxide.peak_price_multiple"]).set_index("parameter")
    assert table.loc[names[0], "S1"] > 0.8 > table.loc[names[1], "S1"]
    assert sensitivity_table(sweep, "morris") is None  # not a Morris design and no analysis/morris.csv
    # Parameters in words above their key; indices inside 0-1 keep the whole axis and need no warning.
    fig = sensitivity_figure(sweep, "sobol", ["dy_oxide.peak_price_multiple"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Licence approval rate\napproval_rate", "review_days"]
    assert ax.get_xlabel() == "Share of variance (0-1)" and fig.legends[0].get_title().get_text() == ""
    assert ax.get_xlim()[1] >= table["ST"].max()


def test_sweep_report_carries_the_analysis_notes(tmp_path: Path) -> None:
    import json

    from reflow.plotting.html_report import analysis_notes

    folder = _sobol_sweep(tmp_path / "tiny", 4, noise=20.0)
    notes = analysis_notes(load_sweep(folder))  # not analysed: computed, as the Sobol' bars are
    assert any("too few for stable indices" in n for n in notes)
    assert any(n.startswith("one replicate per point") for n in notes)
    out = tmp_path / "r.html"
    report([folder], out, only=["sobol"])
    text = out.read_text()
    assert "<h2" in text and "Analysis notes" in text and "too few for stable indices" in text
    # once `reflow analyze` has written its notes, those are the ones shown
    (folder / "analysis").mkdir()
    (folder / "analysis" / "notes.json").write_text(json.dumps({"confidence": 0.95, "notes": ["stored note"]}))
    assert analysis_notes(load_sweep(folder)) == ["stored note"]
    # a notes.json that is not analyze's (null or text for notes, not JSON) is passed over, not a crash or letters
    for broken in ('{"notes": null}', '{"notes": "stored note"}', "[1, 2]", "{not json"):
        (folder / "analysis" / "notes.json").write_text(broken)
        assert analysis_notes(load_sweep(folder)) == notes, broken
    # a grid design nobody analysed has none to show
    assert analysis_notes(load_sweep(write_fake_sweep(tmp_path / "grid", analysed=False))) == []


def test_sweep_report_notes_are_about_the_metrics_it_draws(tmp_path: Path) -> None:
    from reflow.plotting.html_report import analysis_notes

    folder = _sobol_sweep(tmp_path / "two", 4, noise=20.0)
    runs = pd.read_parquet(folder / "runs" / "part-0.parquet")
    runs.assign(**{"tb_oxide.peak_price_multiple": runs["dy_oxide.peak_price_multiple"] * 2}).to_parquet(
        folder / "runs" / "part-0.parquet", index=False)
    assert any(n.startswith("warning: tb_oxide.") for n in analysis_notes(load_sweep(folder)))  # both by default
    dy_only = analysis_notes(load_sweep(folder), ["dy_oxide.peak_price_multiple"])
    assert any(n.startswith("warning: dy_oxide.") for n in dy_only) and not any("tb_oxide" in n for n in dy_only)
    out = tmp_path / "r.html"
    report([folder], out, only=["sobol"], metrics=["dy_oxide.peak_price_multiple"])  # as --metric
    assert "warning: dy_oxide." in out.read_text() and "tb_oxide" not in out.read_text()


def test_sobol_bars_cut_the_axis_and_say_why_when_estimates_are_far_outside_0_1(tmp_path: Path) -> None:
    from reflow.plotting.sweep_figures import sensitivity_figure

    # Four base samples and a metric that is mostly noise: the estimates are meaningless, some far outside 0-1.
    sweep = load_sweep(_sobol_sweep(tmp_path / "tiny", 4, noise=20.0))
    table = sensitivity_table(sweep, "sobol", ["dy_oxide.peak_price_multiple"])
    est = table[["S1", "ST"]].to_numpy()
    assert est.max() > 1.25 or est.min() < -0.25  # the premise: an estimate past the cut
    fig = sensitivity_figure(sweep, "sobol", ["dy_oxide.peak_price_multiple"])
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert -0.25 <= lo <= 0 and 1 <= hi <= 1.25
    assert ax.get_xlabel() == "Share of variance (0-1; axis cut)"
    assert "too few samples" in fig.legends[0].get_title().get_text()


def _lhs_sweep(folder: Path, n: int, seed: int, noise: float = 0.0) -> Path:
    """An LHS-like sweep folder of `n` runs (runs table and sweep.toml) whose Dy peak falls with approvals."""
    rng = np.random.default_rng(seed)
    a, d = rng.uniform(0.1, 0.9, n), rng.uniform(10, 120, n)
    peak = 1 + 8 * (1 - a) * d / 45 + (rng.normal(0, noise, n) if noise else 0.0)
    runs = pd.DataFrame({"run_id": [f"r{i:04d}" for i in range(n)], "point_id": np.arange(n), "replicate": 0,
                         "seed": np.arange(n), "status": "ok", "error": None, "wall_time_s": 1.0,
                         "licensing.approval_rate": a, "licensing.review_days": d,
                         "dy_oxide.peak_price_multiple": peak})
    (folder / "runs").mkdir(parents=True)
    runs.to_parquet(folder / "runs" / "part-0.parquet", index=False)
    (folder / "sweep.toml").write_text(
        f'[sweep]\nname = "{folder.name}"\nbase = "b.toml"\n[design]\nmethod = "lhs"\n'
        '[[parameters]]\nkey = "licensing.approval_rate"\nlow = 0.1\nhigh = 0.9\n'
        '[[parameters]]\nkey = "licensing.review_days"\nlow = 10\nhigh = 120\n')
    return folder


def test_large_sweep_plots_from_its_runs_table_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import reflow.experiment.store as store
    import reflow.plotting.load as load

    def boom(*_a: Any, **_k: Any) -> None:
        raise AssertionError("a sweep plot read time series")

    monkeypatch.setattr(load, "read_timeseries", boom)
    monkeypatch.setattr(store, "load_timeseries", boom)
    _lhs_sweep(tmp_path / "big", 1000, seed=0, noise=0.3)
    paths = plot([tmp_path / "big"], formats=("png",), only=["heatmap"])  # 1,000 runs: one table, no series
    assert [p.name for p in paths] == ["heatmap_dy_oxide.peak_price_multiple.png"]
    fig = sweep_heatmap(load_sweep(tmp_path / "big"), "dy_oxide.peak_price_multiple",
                        "licensing.approval_rate", "licensing.review_days")
    assert fig.axes[0].get_xlabel().endswith("\nlicensing.approval_rate (bin means)")  # continuous: binned
    assert len(fig.axes[0].texts) == 64
    assert re.search(r"mean over \d+-\d+ runs per cell, 1,?000 runs", fig.texts[1].get_text())


def test_small_continuous_sweep_heatmap_leaves_empty_cells_blank(tmp_path: Path) -> None:
    # Regression: 20 LHS points in 8 x 8 bins leave most cells empty; their NaN count crashed `reflow report`
    # ("cannot convert float NaN to integer") on a small Sobol' sweep.
    _lhs_sweep(tmp_path / "small", 20, seed=1)
    fig = sweep_heatmap(load_sweep(tmp_path / "small"), "dy_oxide.peak_price_multiple",
                        "licensing.approval_rate", "licensing.review_days")
    labelled = len(fig.axes[0].texts)
    assert 0 < labelled < 64  # one label per cell holding a run, none for the empty ones
    # (its 20 points fall in 20 cells) the runs of a binned cell are different points, not replicates of one
    assert "mean over 1 run per cell, 20 runs" in fig.texts[1].get_text()
    # no value anywhere: no per-cell count (it read "mean over 0 replicates per cell")
    part = tmp_path / "small" / "runs" / "part-0.parquet"
    pd.read_parquet(part).assign(**{"dy_oxide.peak_price_multiple": np.nan}).to_parquet(part, index=False)
    fig = sweep_heatmap(load_sweep(tmp_path / "small"), "dy_oxide.peak_price_multiple",
                        "licensing.approval_rate", "licensing.review_days")
    assert fig.texts[1].get_text().startswith("sweep small: 20 runs")


# ------------------------------------------------------------------------------------------------ report


class _Checker(HTMLParser):
    """Collects tags, attributes and text; fails on closing tags that do not match."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.imgs: list[dict[str, str]] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.imgs.append(a)
        for key in ("href", "src"):
            if key in a:
                self.links.append(a[key])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check_html(path: Path) -> _Checker:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    c = _Checker()
    c.feed(text)
    c.close()
    assert not c.errors, c.errors[:3]
    assert not c.stack, f"unclosed tags: {c.stack}"
    for link in c.links:  # self-contained: no network needed to open it
        assert link.startswith(("data:", "#")), link
    for img in c.imgs:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix) and img["alt"]
        assert base64.b64decode(img["src"][len(prefix):])[:8] == PNG_MAGIC
    return c


def test_report_of_a_run_shows_scenario_policy_headline_config_provenance(results: Path) -> None:
    run = results / "controls_fake" / "seed1"
    paths = report([run], dpi=30, only=["prices"])
    assert paths == [run / "report.html"]
    c = _check_html(paths[0])
    text = " ".join(c.text)
    assert "Synthetic scenario controls_fake for tests." in text  # the description
    assert "April licensing (Dy, Tb)" in text and "04 Apr 2025" in text  # the policy timeline
    assert "items: dy_oxide, tb_oxide" in text  # kind-specific settings
    assert "9.00x" in text and "1.0%" in text  # headline numbers (peak multiple, production lost)
    assert "abc1234" in text and "configs/fake.toml" in text  # provenance
    assert 'name = "controls_fake"' in text  # the resolved config
    assert len(c.imgs) == 1


def test_report_names_the_config_file_it_shows(results: Path, tmp_path: Path) -> None:
    """A run folder without config.toml had its config.json shown under a "config.toml" heading."""
    import shutil

    run = tmp_path / "controls_fake" / "seed1"
    shutil.copytree(results / "controls_fake" / "seed1", run)
    summary = re.compile(r"<summary>(.*?)</summary>\s*<pre>(.*?)</pre>", re.S)
    (head, body), = summary.findall(report([run], tmp_path / "a.html", dpi=30, only=["prices"])[0].read_text(
        encoding="utf-8"))
    assert head.startswith("controls_fake: config.toml") and 'name = &quot;controls_fake&quot;' in body
    (run / "config.toml").unlink()
    (head, body), = summary.findall(report([run], tmp_path / "b.html", dpi=30, only=["prices"])[0].read_text(
        encoding="utf-8"))
    assert head.startswith("controls_fake: config.json (the folder has no config.toml)")
    assert "config.toml (" not in head and body.lstrip().startswith("{")


def test_report_pdf_beside_the_html(results: Path, tmp_path: Path) -> None:
    paths = report([results / "controls_fake" / "seed2"], tmp_path / "r.html", pdf=True, only=["capacity"],
                   dpi=30)
    assert [p.name for p in paths] == ["r.html", "r.pdf"]
    pdf = paths[1].read_bytes()
    assert pdf[:5] == b"%PDF-" and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 2


def test_report_of_an_ensemble_shows_median_and_range(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "ens.html"
    report([results / "controls_fake"], out, dpi=30, only=["prices"])
    c = _check_html(out)
    text = " ".join(c.text)
    assert "median across seeds" in text
    assert "42.5 (42.0 to 43.0)" in text  # mean wait of 42 and 43 days: median (5% to 95%)
    assert "9.00x" in text and "9.00x (" not in text  # every seed agrees: one number, no range
    assert "Seeds" in text and "1, 2" in text


def test_runs_are_ordered_by_seed_and_scenarios_as_given(tmp_path: Path) -> None:
    for seed in (10, 2, 1):
        write_fake_run(tmp_path / "b_scen" / f"seed{seed}", seed=seed, name="b_scen", weeks=10)
    write_fake_run(tmp_path / "a_scen" / "seed1", name="a_scen", weeks=10)
    rs = open_results([tmp_path / "b_scen", tmp_path / "a_scen"])
    assert list(rs.groups) == ["b_scen", "a_scen"]
    assert [r.seed for r in rs.groups["b_scen"]] == [1, 2, 10]


def test_a_period_outside_one_compared_scenario_is_noted(tmp_path: Path) -> None:
    import json

    from reflow.plotting.api import figure_jobs

    write_fake_run(tmp_path / "late" / "seed1", name="late", weeks=10)
    write_fake_run(tmp_path / "early" / "seed1", name="early", weeks=10)
    summary = tmp_path / "early" / "seed1" / "summary.json"  # (the period check reads the runs' dates there)
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "start": "2010-01-04", "end": "2012-12-24"}))
    rs = open_results([tmp_path / "late", tmp_path / "early"])
    said: list[str] = []
    figure_jobs(rs, period="2025-01-01:2025-12-31", only=["flows"], note=said.append)
    assert said == ["--period 2025-01-01:2025-12-31 is outside the runs of early: their flow matrices are empty"]
    said.clear()
    figure_jobs(rs, period="2012-01-01:2025-12-31", only=["flows"], note=said.append)  # both: nothing to say
    assert said == []
    with pytest.raises(ReflowError, match="cover 2010-01-04 to 2026-12-27"):
        figure_jobs(rs, period="2030-01-01:", only=["flows"])


def test_report_of_a_sweep(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep.html"
    report([results / "sweep"], out, dpi=30, only=["heatmap", "sobol"])
    c = _check_html(out)
    text = " ".join(c.text)
    assert [i["alt"].split(":")[0] for i in c.imgs] == [
        "heatmap_dy_oxide.peak_price_multiple", "heatmap_overall.production_lost_share",
        "heatmap_overall.mean_licence_wait_days", "sobol"]
    assert "licensing.approval_rate" in text and "0.2 to 0.8" in text  # parameter table with ranges
    assert "failed: 1" in text and "ok: 35" in text
    assert '"licensing.review_days" = [20, 45, 90]' in text  # sweep.toml in the config section
    # headline rows read as numbers and words, not 5.18e+03 and a bare key
    words = " ".join(text.split())
    assert re.search(r"Licence applications \(applications\) 5,\d{3} 5,\d{3} 5,\d{3} to 5,\d{3} 35", words)
    assert "e+0" not in words
    assert re.search(r"Dy oxide: recovered by the end \(% of runs\) 6\d\.\d 100 0 to 100 35", words)
    assert "dy_oxide.recovered" not in words


def test_report_refuses_a_non_html_name(results: Path, tmp_path: Path) -> None:
    with pytest.raises(ReflowError, match=r"\.html"):
        report([results / "controls_fake" / "seed1"], tmp_path / "report.txt")


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_plot_prints_what_it_wrote(results: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plot", str(results / "controls_fake" / "seed2"), "--out", str(tmp_path), "--only",
                 "capacity", "--format", "png"])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 figures (1 files) written to" in out and "capacity" in out
    assert (tmp_path / "capacity.png").read_bytes()[:8] == PNG_MAGIC


def _broken_run(tmp_path: Path, damage: str) -> Path:
    run = write_fake_run(tmp_path / "scen" / "seed1", weeks=20)
    if damage == "parquet":
        (run / "timeseries.parquet").write_bytes(b"PAR1 this is not parquet")
    elif damage == "json":
        (run / "summary.json").write_text("{not json")
    elif damage == "manifest":
        (run / "manifest.json").unlink()
    elif damage == "columns":
        pd.DataFrame({"week": [0], "value": [1.0]}).to_parquet(run / "timeseries.parquet")
    elif damage == "config":
        (run / "config.json").unlink()
    return run


@pytest.mark.parametrize(("damage", "message"), [
    ("parquet", "could not be read as Parquet"),
    ("json", "summary.json is not valid JSON"),
    ("manifest", "has no manifest.json: the run was interrupted"),
    ("columns", "lacks column(s) date, variable, material, origin, region"),
    ("config", "config.json is missing"),
])
def test_cli_broken_run_folder_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  damage: str, message: str) -> None:
    run = _broken_run(tmp_path, damage)
    code = main(["plot", str(run), "--only", "prices", "--format", "png"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("args", "message"), [
    (["plot", "{missing}"], "does not exist"),
    (["plot", "{run}", "--only", "pricez"], "unknown figure(s) pricez"),
    (["plot", "{run}", "--format", "gif"], "unknown format(s) gif"),
    (["plot", "{run}", "--period", "2025"], "--period"),
    (["plot", "{run}", "--period", "2040-01-01:2041-01-01"], "outside the runs, which cover 2024-01-01 to"),
    (["report", "{run}", "--period", ":2023-06-30", "--out", "{empty}/r.html"], "give dates that hold a week"),
    # inside the last week (21-27 Dec 2026) but after its start: no week starts in it, the matrices were empty
    (["plot", "{run}", "--period", "2026-12-23:", "--only", "flows"], "weeks starting 2024-01-01 to 2026-12-21"),
    (["plot", "{run}", "{sweep}"], "plot a sweep on its own"),
    (["plot", "{sweep}", "--metric", "dy_oxide.nope"], "no metric(s) dy_oxide.nope"),
    # a typo got the runs table's first 12 columns (every one of them NdPr's): now the name meant
    (["plot", "{sweep}", "--metric", "dy.peak_price_multiple"], "did you mean 'dy_oxide.peak_price_multiple'?"),
    (["report", "{empty}"], "is not a run folder"),
    (["plot", "{run}/summary.json"], "is a file"),
    (["plot", "{run}", "--only", "capacity", "--out", "{file}"], "is a file; give --out a folder"),
    (["report", "{run}", "--out", "{empty}"], "give a name ending in .html"),
])
def test_cli_user_errors_exit_2(results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                args: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    paths = {"file": str(tmp_path / "file"), "missing": str(tmp_path / "nope"),
             "run": str(results / "controls_fake" / "seed1"), "sweep": str(results / "sweep"),
             "empty": str(tmp_path / "empty")}
    code = main([a.format(**paths) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_a_folder_of_sweeps_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression: the sweeps' manifest.json made them look like runs: "<sweep>/config.json is missing".
    write_fake_sweep(tmp_path / "sweeps" / "a")
    write_fake_sweep(tmp_path / "sweeps" / "b")
    for sweep in ("a", "b"):
        (tmp_path / "sweeps" / sweep / "manifest.json").write_text("{}")
    assert main(["plot", str(tmp_path / "sweeps"), "--format", "png"]) == 2
    err = capsys.readouterr().err
    assert "holds sweep folders (a, b), not runs; give one sweep folder at a time" in err and "Traceback" not in err


def test_interrupted_runs_in_a_scenario_folder_are_left_out_with_a_note(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_fake_run(tmp_path / "scen" / "seed1", weeks=20)
    write_fake_run(tmp_path / "scen" / "seed2", weeks=20, seed=2)
    (tmp_path / "scen" / "seed2" / "manifest.json").unlink()
    assert open_results([tmp_path / "scen"]).kind == "run"
    code = main(["plot", str(tmp_path / "scen"), "--only", "capacity", "--format", "png"])
    captured = capsys.readouterr()
    assert code == 0
    assert "left out 1 interrupted run folder(s)" in captured.err


def test_a_run_without_its_time_series_in_a_scenario_folder_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A finished run (manifest written) whose timeseries.parquet is gone is not left out unsaid: the set of runs
    would silently be smaller than the reader is told."""
    for seed in (1, 2, 3):
        write_fake_run(tmp_path / "scen" / f"seed{seed}", weeks=20, seed=seed)
    (tmp_path / "scen" / "seed2" / "timeseries.parquet").unlink()
    code = main(["report", str(tmp_path / "scen"), "--out", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 2 and "seed2" in err and "timeseries.parquet" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_corrupt_sweep_store_is_a_clear_error(tmp_path: Path) -> None:
    folder = write_fake_sweep(tmp_path / "sw", analysed=False)
    (folder / "runs" / "part-00001.parquet").write_bytes(b"garbage")
    with pytest.raises(ResultReadError, match="Parquet"):
        plot([folder], formats=("png",))


def _real_or_fake_run(tmp_path: Path) -> Path:
    """A short run of configs/controls_2025.toml when the model is in this checkout, else a synthetic one."""
    try:
        from reflow import api

        api.run(str(Path(__file__).resolve().parents[1] / "configs" / "controls_2025.toml"), seed=3,
                overrides=["scenario.weeks=30", "scenario.start=2025-02-03"], out=str(tmp_path),
                run_id="r", figures=False, progress=False)
        return tmp_path / "controls_2025" / "r"
    except (ImportError, AttributeError, TypeError, FileNotFoundError):  # the model layer is not here
        return write_fake_run(tmp_path / "controls_fake" / "r", weeks=90)


def test_every_figure_of_a_small_run_is_embedded_and_not_blank(tmp_path: Path) -> None:
    from matplotlib.image import imread

    from reflow.plotting._frames import Series
    from reflow.plotting.run_figures import RUN_FIGURES
    from test_plotting import _legend_labels, _panels

    folder = _real_or_fake_run(tmp_path)
    run = open_results([folder]).runs[0]
    s = Series(run.timeseries())
    for name, (fn, _text) in RUN_FIGURES.items():  # the matplotlib objects: title, labels, legend
        fig = fn(s, run.config, seed=run.seed)
        assert fig._suptitle.get_text().strip(), name
        for ax in _panels(fig):
            assert ax.get_title() and ax.get_ylabel(), f"{name}: {ax.get_title()!r}"
        assert _legend_labels(fig) or name == "flows", name
    c = _check_html(report([folder], dpi=30)[0])  # the report draws every figure
    assert [i["alt"].split(":")[0] for i in c.imgs] == list(RUN_FIGURES)
    for img in c.imgs:
        pixels = imread(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1])), format="png")
        ink = float((pixels[..., :3].min(axis=2) < 0.92).mean())
        assert ink > 0.03, f"{img['alt'].split(':')[0]} is (nearly) blank"
    text = " ".join(c.text)
    if run.scenario == "controls_2025":
        assert "Apr 2025: Dy/Tb/magnet licensing" in text
        assert f"{run.summary['materials']['dy_oxide']['peak_price_multiple']:.2f}x" in text


def test_fork_map_keeps_order_and_passes_errors_on() -> None:
    from reflow.plotting._parallel import fork_map

    data = [3, 1, 2, 5]
    assert fork_map(lambda i: data[i] * 10, len(data), workers=2) == [30, 10, 20, 50]

    def bad(i: int) -> int:
        if i == 2:
            raise ReflowError("figure 2 failed")
        return i

    with pytest.raises(ReflowError, match="figure 2 failed"):
        fork_map(bad, 4, workers=2)


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork")
def test_fork_map_in_two_threads_gives_each_its_own_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads of a notebook drawing at once (two `reflow.run(..., out=...)` in a thread pool): the task
    was a module global, so a thread's workers could fork with the other thread's task (its figures drawn
    twice, this run's none) or with none at all. Here thread A is held between setting its task and forking
    until B has had its turn (or for 2 s when B has to wait for A)."""
    import multiprocessing
    import threading

    from reflow.plotting import _parallel

    a_ready, b_done = threading.Event(), threading.Event()
    real = multiprocessing.get_context

    def slow_for_a(method: str | None = None) -> Any:
        if threading.current_thread().name == "A" and not a_ready.is_set():
            a_ready.set()
            b_done.wait(2)
        return real(method)

    monkeypatch.setattr(_parallel.multiprocessing, "get_context", slow_for_a)
    got: dict[str, Any] = {}

    def draw(tag: str) -> None:
        if tag == "B":
            a_ready.wait(10)
        try:
            got[tag] = _parallel.fork_map(lambda i: (tag, i), 2, workers=2)
        except Exception as exc:  # the test checks what each thread got, an error too
            got[tag] = exc
        finally:
            if tag == "B":
                b_done.set()

    threads = [threading.Thread(target=draw, args=(t,), name=t) for t in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert got == {"A": [("A", 0), ("A", 1)], "B": [("B", 0), ("B", 1)]}


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork")
def test_warm_pool_imports_first_then_maps_named_functions_in_order_and_passes_errors_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from reflow.plotting._parallel import WarmPool

    # A module that notes each process importing it; the workers import it on starting, before any task.
    (tmp_path / "noted_import.py").write_text(f"import os\nopen({str(tmp_path / 'imported')!r}, 'a').write("
                                              "f'{os.getpid()}\\n')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    pool = WarmPool.start(4, ["fractions", "noted_import"], workers=2)
    assert pool is not None
    try:
        # the tasks name functions as "module:function"
        assert pool.map("sys:getrecursionlimit", [()] * 3) == [sys.getrecursionlimit()] * 3
        assert pool.map("fractions:Fraction", [(1, 3), (2, 4), (5, 1)]) == [Fraction(1, 3), Fraction(1, 2), 5]
        with pytest.raises(ValueError, match="invalid literal"):
            pool.map("builtins:int", [("7",), ("seven",)])
    finally:
        pool.close()
    imported_by = (tmp_path / "imported").read_text().split()
    assert len(set(imported_by)) == 2 and "noted_import" not in sys.modules  # both workers, not the caller
    assert WarmPool.start(4, [], workers=1) is None  # one worker draws in the caller's process: no pool


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork")
def test_warm_pool_stops_the_workers_it_forked_when_a_later_fork_fails() -> None:
    import subprocess
    import sys

    # Out of processes after forking the first worker: the first must not be left waiting for tasks (the
    # interpreter's exit waited for it forever, so `reflow run` drew its figures and then hung).
    code = ("import multiprocessing as mp; from multiprocessing.context import ForkProcess\n"
            "from reflow.plotting._parallel import WarmPool\n"
            "start, n = ForkProcess.start, []\n"
            "def failing(self):\n"
            "    n.append(1)\n"
            "    if len(n) == 2:\n"
            "        raise BlockingIOError(11, 'Resource temporarily unavailable')\n"
            "    return start(self)\n"
            "ForkProcess.start = failing\n"
            "try:\n    WarmPool(2, ['fractions'])\n"
            "except OSError:\n    print('refused', len(n), len(mp.active_children()), flush=True)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["refused", "2", "0"], done.stderr


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork")
def test_quick_figures_drawn_here_when_a_pool_worker_was_killed(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import multiprocessing
    import os
    import signal

    import reflow.plotting.run_figures as rf
    from reflow.plotting.quick import draw_quick_figures, quick_figure_pool

    run = write_fake_run(tmp_path / "run", seed=2)
    pool = quick_figure_pool(workers=2)
    assert pool is not None
    drawn_here: list[int] = []
    original = rf.quick_figures
    # (patched after the fork: only figures drawn in this process are counted)
    monkeypatch.setattr(rf, "quick_figures", lambda *a, **k: drawn_here.append(1) or original(*a, **k))
    # what a worker stopped in the middle of writing a figure leaves behind (save_figure's temporary file)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / ".prices-x1y2.png").write_bytes(b"half a PNG")
    try:
        victim = multiprocessing.active_children()[0]
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        paths = draw_quick_figures(pool, run / "timeseries.parquet", json.loads((run / "config.json").read_text()),
                                   tmp_path / "figures", seed=2)
    finally:
        pool.close()
    assert [p.name for p in paths] == ["prices.png", "shortages.png", "licences.png", "supply_shares.png"]
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in paths)
    assert drawn_here == [1]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(p.name for p in paths)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_warm_pool_workers_exit_when_their_caller_is_killed(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    # The caller is killed while its workers wait (as when the model's process runs out of memory mid-run).
    code = ("import multiprocessing as mp, os, signal; from reflow.plotting._parallel import WarmPool; "
            "pool = WarmPool.start(2, ['fractions'], workers=2); pool.map('builtins:int', [()] * 2); "
            "print(*[p.pid for p in mp.active_children()], flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    with open(tmp_path / "pids", "w") as out:
        subprocess.run([sys.executable, "-c", code], stdout=out, stderr=subprocess.DEVNULL, timeout=60)
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 2
    try:
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "the workers outlived their caller"
    finally:
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork")
def test_ctrl_c_while_warm_pool_workers_import_prints_only_the_callers_message(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "slow_import.py").write_text("import time\ntime.sleep(0.6)\n")
    code = ("import sys, time; from reflow.plotting._parallel import WarmPool\n"
            "pool = WarmPool.start(2, ['slow_import'], workers=2)\n"
            "print('ready', flush=True)\n"
            "try:\n    time.sleep(30)\n"
            "except KeyboardInterrupt:\n    pool.close(); print('interrupted', file=sys.stderr)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    # A terminal's Ctrl-C goes to the whole process group: the caller and its workers.
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)  # the first worker is importing, the second waits for it
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and err.strip() == "interrupted"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_at_a_terminal_during_fork_map_waits_for_the_running_task_and_stops_every_worker(
        tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    # Task 0 runs until the test lets it finish; task 1 is done at once, so its worker waits for tasks. A
    # worker interrupted there printed a traceback of its own and died, and the pool's manager thread, finding
    # it dead after the caller had cancelled the futures, failed (InvalidStateError) without stopping the other
    # worker, which the interpreter's exit then waited for forever; a worker interrupted while sending a
    # result left half of it in the pipe, where the manager thread waited for the rest forever.
    go = tmp_path / "go"
    code = ("import os, sys, time; from reflow.plotting._parallel import fork_map\n"
            "def task(i):\n"
            "    os.write(1, b'%d\\n' % os.getpid())  # one write: the workers' lines do not mix\n"
            f"    while i == 0 and not os.path.exists({str(go)!r}):\n"
            "        time.sleep(0.05)\n"
            "    return i\n"
            "try:\n    fork_map(task, 2, workers=2)\n"
            "except KeyboardInterrupt:\n    print('interrupted', file=sys.stderr)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout is not None
        pids = [int(proc.stdout.readline()) for _ in range(2)]
        time.sleep(0.5)  # task 1's worker is back waiting for tasks
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the caller and its workers
        time.sleep(0.2)
        go.touch()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert err.strip() == "interrupted"
    assert not any(_alive(p) for p in pids)


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork")
def test_fork_map_interrupted_between_forking_its_workers_stops_the_first() -> None:
    import subprocess
    import sys

    # A notebook's interrupt reaches the caller only, at any point: here after the first worker is forked and
    # before the pool's manager thread exists. That worker waited for tasks forever, and the exit for it.
    code = ("import multiprocessing as mp, sys; from multiprocessing.context import ForkProcess\n"
            "from reflow.plotting._parallel import fork_map\n"
            "start, n = ForkProcess.start, []\n"
            "def interrupted(self):\n"
            "    n.append(1)\n"
            "    if len(n) == 2:\n"
            "        raise KeyboardInterrupt\n"
            "    return start(self)\n"
            "ForkProcess.start = interrupted\n"
            "try:\n    fork_map(abs, 4, workers=2)\n"
            "except KeyboardInterrupt:\n    print('interrupted', len(n), len(mp.active_children()), flush=True)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.split() == ["interrupted", "2", "0"], done.stderr


def test_run_jobs_starts_the_costliest_and_returns_in_job_order() -> None:
    from matplotlib.figure import Figure

    from reflow.plotting.api import FigureJob, run_jobs

    built: list[str] = []

    def build(name: str) -> Figure:
        built.append(name)
        fig = Figure()
        fig.suptitle(name)
        return fig

    jobs = [FigureJob(n, lambda n=n: build(n), "", cost) for n, cost in (("a", 1), ("b", 3), ("c", 1), ("d", 2))]
    assert run_jobs(jobs, lambda job, fig: (job.name, fig.get_suptitle()), workers=1) == [
        ("a", "a"), ("b", "b"), ("c", "c"), ("d", "d")]
    assert built == ["b", "d", "a", "c"]


def test_the_report_headline_shows_the_la_ce_market_when_the_runs_have_one() -> None:
    """summary.json's La/Ce block (scenarios with a [light_ree] table) is part of the report's headline numbers,
    as `reflow run` prints it; without one, no La/Ce rows."""
    from types import SimpleNamespace

    from reflow.plotting.report_tables import headline_rows

    light = {"peak_price_multiple": 22.2, "peak_price_date": "2011-08-22", "spread_at_peak": 4.99,
             "max_quota_rent_usd_per_kg": 85.8, "cumulative_shortage_share": 0.0004}
    base = {"materials": {}, "overall": {"production_lost_share": 0.0, "licence_applications": 0}}
    with_light = {"s": [SimpleNamespace(summary={**base, "light_ree": light})]}
    _, _, overall = headline_rows(with_light)
    rows = {r[0]: r[1] for r in overall}
    assert rows["La/Ce oxide: peak ex-China price (x first 13 weeks)"].startswith("22.2")
    assert rows["La/Ce oxide: ex-China / China price at the peak (x)"] == "5.0"
    assert rows["La/Ce oxide: largest quota licence rent (USD/kg)"].startswith("85")
    _, _, overall = headline_rows({"s": [SimpleNamespace(summary=base)]})
    assert not any(r[0].startswith("La/Ce") for r in overall)


def test_price_multiples_have_one_unit_that_does_not_read_as_the_baseline_scenario(results: Path,
                                                                                   tmp_path: Path) -> None:
    """The multiples were labelled "x baseline", read as "relative to the baseline scenario" (a bundled scenario
    that reports compare controls_2025 with). They are over the run's own first 13 weeks: the summary, the
    headline table, the sweep figures and the report say so in one term, and the report once in words."""
    from types import SimpleNamespace

    from reflow.metrics import BASE_WEEKS
    from reflow.plotting.report_tables import headline_rows
    from reflow.plotting.sweep_figures import metric_label
    from reflow.report_text import MULTIPLE_UNIT

    assert f"x first {BASE_WEEKS} weeks" == MULTIPLE_UNIT
    light = {"peak_price_multiple": 2.0}
    header, _, overall = headline_rows({"s": [SimpleNamespace(summary={"materials": {}, "overall": {},
                                                                        "light_ree": light})]})
    labels = [*header, *(r[0] for r in overall), metric_label("dy_oxide.peak_price_multiple"),
              metric_label("dy_oxide.peak_price_multiple_by_region.US")]
    priced = [t for t in labels if "peak ex-china price" in t.lower()]
    assert len(priced) == 4 and all(t.endswith(f"({MULTIPLE_UNIT})") for t in priced)
    assert not any("baseline" in t for t in labels)
    run = results / "controls_fake" / "seed1"
    text = " ".join(_check_html(report([run], tmp_path / "r.html", dpi=30, only=["prices"])[0]).text)
    assert (f"the highest weekly demand-weighted ex-China price divided by its mean over the run's first "
            f"{BASE_WEEKS} weeks") in text


def test_headline_percentages_never_round_a_loss_to_zero() -> None:
    """controls_2025 seed 1 lost 0.035% of planned output: the report said "0.0%" beside a first week with
    production lost, and "0.0%" cumulative shortage beside 3 weeks in shortage. Small shares keep two
    significant figures; only exactly nothing is "0%"."""
    from types import SimpleNamespace

    from reflow.plotting.report_tables import fmt_value, headline_rows

    assert fmt_value(0.00035, "pct") == "0.035%"
    assert fmt_value(0.00122, "pct") == "0.12%"
    assert fmt_value(0.0, "pct") == "0%"
    assert fmt_value(2e-8, "pct") == "<0.001%"
    assert fmt_value(0.2958, "pct") == "29.6%"
    summary = {"materials": {"ndfeb_magnet": {"weeks_in_shortage": 3, "cumulative_shortage_share": 0.00023}},
               "overall": {"production_lost_share": 0.00035, "first_production_loss_date": "2025-06-02"}}
    _, rows, overall = headline_rows({"s": [SimpleNamespace(summary=summary)]})
    assert rows[0][5] == "0.023%"
    assert {r[0]: r[1] for r in overall}[
        "Production lost, all ex-China manufacturers (% of planned output)"] == "0.035%"
    runs = [SimpleNamespace(summary={"overall": {"production_lost_share": v}}) for v in (0.0, 0.0003, 0.001)]
    _, _, overall = headline_rows({"s": runs})
    assert overall[0][1] == "0.03% (0.003% to 0.093%)"  # 5-95% quantiles of 0, 0.03, 0.1


def test_report_captions_describe_the_figure_drawn_one_scenario_or_compared(results: Path) -> None:
    """A report of one scenario over seeds said what the comparison would show too ("With one scenario: ...;
    when comparing: ..."): each case now gets its own sentence, naming what its panels draw."""
    from reflow.plotting.api import figure_jobs

    one = {j.name: j.description for j in figure_jobs(open_results([results / "controls_fake"]))}
    both = {j.name: j.description for j in figure_jobs(open_results([results / "controls_fake",
                                                                     results / "mild_fake"]))}
    for texts in (one, both):
        assert not any("when comparing" in t.lower() or "with one scenario" in t.lower() for t in texts.values())
    assert "marginal ask" in one["prices"] and "one line per scenario" not in one["prices"]
    assert "one line per scenario" in both["prices"] and "marginal ask" not in both["prices"]
    assert "under construction" in one["capacity"] and "under construction" not in both["capacity"]
    assert "(and under construction)" not in one["capacity"]
    assert "origin" in one["supply_shares"] and "non-Chinese share" in both["supply_shares"]
    assert all("medians across seeds" in t for k, t in {**one, **both}.items() if not k.startswith("flows"))


def test_sweep_report_marks_policy_settings_the_sweep_varies(tmp_path: Path) -> None:
    """The approval_delay report's policy timeline showed the base scenario's 'approval_rate: 0.25' and
    'review_working_days_median: 32.0' as the measure's settings, though every run used the sweep's values."""
    from reflow.plotting.report_tables import policy_rows

    base = {"policy": [{"id": "controls", "kind": "licensing", "effective": "2025-04-04", "approval_rate": 0.25,
                        "review_working_days_median": 32.0, "materials": ["dy_oxide"]}]}
    rows = policy_rows(base, ["policy.controls.approval_rate", "policy.0.review_working_days_median",
                              "china.base_utilisation"])
    settings = rows[0][-1]
    assert "approval_rate: 0.25 (base value; varied by the sweep)" in settings
    assert "review_working_days_median: 32.0 (base value; varied by the sweep)" in settings
    assert "materials: dy_oxide;" in settings or settings.endswith("materials: dy_oxide")
    assert "varied" not in policy_rows(base)[0][-1]

    sweep = write_fake_sweep(tmp_path / "sw", analysed=False)
    for part in (sweep / "runs").glob("*.parquet"):
        pd.read_parquet(part).rename(columns={"licensing.approval_rate": "policy.controls.approval_rate"}
                                     ).to_parquet(part, index=False)
    (sweep / "sweep.toml").write_text(
        'name = "s"\nbase = "b.toml"\ndesign = "grid"\nreplicates = 3\n[parameters]\n'
        '"policy.controls.approval_rate" = [0.2, 0.4, 0.6, 0.8]\n"licensing.review_days" = [20, 45, 90]\n')
    (sweep / "base.toml").write_text('[scenario]\nname = "b"\n[[policy]]\nid = "controls"\nkind = "licensing"\n'
                                     'effective = 2025-04-04\napproval_rate = 0.25\n')
    out = report([sweep], tmp_path / "s.html", only=["heatmap"], dpi=30)[0]
    assert "approval_rate: 0.25 (base value; varied by the sweep)" in " ".join(_check_html(out).text)


def test_sweep_response_axis_labels_fit_beside_their_panels(results: Path) -> None:
    """approval_delay's response figure labelled each y axis with metric and unit: "Production lost in the worst 4
    weeks (% of planned output)" ran past its panel's height into the panel above. The title names the metric,
    the axis its unit, and every y label is no taller than its panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    sweep = load_sweep(results / "sweep")
    metrics = ["dy_oxide.peak_price_multiple", "overall.production_lost_share", "overall.mean_licence_wait_days",
               "overall.licence_applications"]
    fig = sweep_response(sweep, metrics, "licensing.approval_rate", by="licensing.review_days")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    assert [ax.get_ylabel() for ax in fig.axes] == ["x first 13 weeks", "% of planned output", "calendar days",
                                                  "applications"]
    for ax in fig.axes:
        assert ax.yaxis.label.get_window_extent(renderer).height <= ax.get_window_extent(renderer).height


def test_headline_peak_region_is_named_as_in_the_figures() -> None:
    """The report's 'Peak region' column showed summary.json's codes (HUB, AU, ROW) where every figure names the
    regions ("Third-country hub", "Australia")."""
    from types import SimpleNamespace

    from reflow.plotting.report_tables import headline_rows

    runs = [SimpleNamespace(summary={"materials": {"dy_oxide": {"peak_price_multiple": 5.0, "peak_price_region": r}}})
            for r in ("HUB", "HUB", "AU")]
    header, rows, _ = headline_rows({"s": runs})
    assert rows[0][header.index("Peak region")] == "Third-country hub (2 of 3)"
    _, rows, _ = headline_rows({"s": runs[2:]})
    assert rows[0][header.index("Peak region")] == "Australia"
    assert "Weeks from peak until price back under 1.25x" in header  # what recovers, from when


def test_headline_says_when_a_metric_is_not_in_the_runs_summary() -> None:
    """controls_2025 runs made before the worst-4-weeks metric existed showed "–" for it, which reads as no
    production lost; "–" stays for a recorded null (no licence decisions in a baseline)."""
    from types import SimpleNamespace

    from reflow.plotting.report_tables import NOT_RECORDED, headline_rows

    old = SimpleNamespace(summary={"materials": {"dy_oxide": {"weeks_in_shortage": 3}},
                                   "overall": {"production_lost_share": 0.01, "mean_licence_wait_days": None}})
    header, rows, overall = headline_rows({"s": [old, old]})
    cells = {r[0]: r[1] for r in overall}
    assert cells["Production lost in the worst 4 weeks (% of planned output)"] == NOT_RECORDED
    assert cells["Mean wait for a licence decision (calendar days)"] == "–"
    assert cells["Production lost, all ex-China manufacturers (% of planned output)"] == "1.0%"
    assert rows[0][header.index("Peak region")] == NOT_RECORDED
    assert rows[0][header.index("Weeks in shortage")] == "3"
    new = SimpleNamespace(summary={"overall": {"peak_production_lost_share": 0.02}})
    _, _, overall = headline_rows({"s": [old, new]})  # one run has it: its value, the other's missing
    assert {r[0]: r[1] for r in overall}["Production lost in the worst 4 weeks (% of planned output)"].startswith(
        "2.0%")


def test_sweep_parameters_are_named_in_words_with_units() -> None:
    from reflow.plotting.sweep_figures import param_label

    assert param_label("policy.controls.review_working_days_median") == (
        "Median licence review time (working days)\npolicy.controls.review_working_days_median")
    assert param_label("manufacturers.wtp_cap_multiple.dy_oxide", with_key=False) == (
        "Highest bid, Dy oxide (x reference price)")
    assert param_label("manufacturers.cover_target_weeks.magnet", with_key=False) == (
        "Stock cover target, magnet (weeks of need)")
    assert param_label("china.some_new_knob") == "china.some_new_knob"  # unknown: the key as written


def test_licence_waits_say_calendar_days_where_reviews_are_in_working_days() -> None:
    """A sweep over the review time in working days plotted the mean wait in bare "days", as did the report's
    headline table: beside a 60-working-day review, an 82-day wait read as a wait longer than the review."""
    from types import SimpleNamespace

    from reflow.plotting.report_tables import headline_rows
    from reflow.plotting.sweep_figures import metric_label, param_label

    assert metric_label("overall.mean_licence_wait_days") == "Mean licence wait (calendar days)"
    assert "(working days)" in param_label("policy.controls.review_working_days_median")
    _, _, overall = headline_rows({"s": [SimpleNamespace(summary={"overall": {"mean_licence_wait_days": 50.0}})]})
    assert [r[0] for r in overall if "wait" in r[0]] == ["Mean wait for a licence decision (calendar days)"]


def test_plot_and_report_of_an_analysed_sweep_without_indices_draw_the_rest_and_say_why(tmp_path: Path) -> None:
    """`reflow analyze` of an interrupted Sobol' sweep writes an empty sobol.csv (no replicate is complete at every
    point); `plot` and `report` then failed as a whole ("no sobol indices (run `reflow analyze` ...)")."""
    from reflow.experiment import analyze, sweep
    from reflow.experiment.fakes import StopAfter
    from reflow.experiment.fakes import write_fake_sweep as write_sweep_file

    path = write_sweep_file(tmp_path, '[sweep]\nname = "cut"\nroot_seed = 2\n[design]\nmethod = "sobol"\n'
                                      'samples = 4\n[[parameters]]\nkey = "licensing.approval_rate"\nlow = 0.1\n'
                                      'high = 0.9\n[[parameters]]\nkey = "licensing.return_probability"\n'
                                      'low = 0.0\nhigh = 0.4\n[outputs]\nmetrics = ["dy_oxide.peak_price_multiple"]\n')
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        sweep(path, out=out, executor=StopAfter(5), progress=False, runner="reflow.experiment.fakes:analytic")
    assert analyze(out).sobol.empty and (out / "analysis" / "sobol.csv").is_file()
    said: list[str] = []
    paths = plot([out], formats=("png",), dpi=30, note=said.append)
    assert {p.stem for p in paths} >= {"heatmap_dy_oxide.peak_price_multiple", "response_licensing.approval_rate"}
    assert "sobol" not in {p.stem for p in paths}
    assert any("no sobol figure" in s and "reflow analyze" in s for s in said), said
    html = tmp_path / "r.html"
    report([out], html, dpi=30)
    assert "indices not computed" in html.read_text()  # the analysis note says why there are no bars


def test_sweep_figures_of_a_text_metric_or_of_runs_that_all_failed_say_why(tmp_path: Path, capsys) -> None:
    """`--metric dy_oxide.peak_price_date` drew a heatmap saying 'no finished runs with dy_oxide.peak_price_date'
    (all had one: a date); a sweep whose runs all failed said its table held 'no summary metrics yet'."""
    from reflow.experiment import sweep
    from reflow.experiment.fakes import write_fake_sweep as write_sweep_file

    body = ('[sweep]\nname = "f"\nroot_seed = 1\n[[parameters]]\nkey = "licensing.approval_rate"\n'
            'values = [{a}]\n[[parameters]]\nkey = "licensing.return_probability"\nvalues = [0.1, 0.3]\n')
    ok = tmp_path / "ok"
    sweep(write_sweep_file(tmp_path / "a", body.format(a="0.5, 0.8")), out=ok, workers=0, progress=False,
          runner="reflow.experiment.fakes:analytic")
    code = main(["plot", str(ok), "--metric", "dy_oxide.peak_price_date,dy_oxide.peak_price_multiple"])
    err = capsys.readouterr().err
    assert code == 2 and "dy_oxide.peak_price_date is a text metric" in err and not (ok / "plots").exists()
    assert [p.stem for p in plot([ok], formats=("png",), only=["heatmap"], metrics=["wall_time_s"])] == [
        "heatmap_wall_time_s"]  # a number column of the runs table, not a summary metric: drawn as before
    failed = tmp_path / "failed"
    sweep(write_sweep_file(tmp_path / "b", body.format(a="0.1, 0.2")), out=failed, workers=0, progress=False,
          runner="reflow.experiment.fakes:failing")
    said: list[str] = []
    assert plot([failed], formats=("png",), note=said.append) == []
    assert any("every one of its 4 stored runs failed" in s and "errors.log" in s for s in said), said


def test_sweep_figures_keep_design_values_whose_runs_all_failed_and_mark_them(tmp_path: Path) -> None:
    """A heatmap dropped the columns of approval rates whose runs all failed (its axis began at 0.5, as if the
    sweep had not covered 0.1-0.2) and the response curves began there without a word."""
    from matplotlib.text import Text

    from reflow.experiment import sweep
    from reflow.experiment.fakes import write_fake_sweep as write_sweep_file

    body = ('[sweep]\nname = "f"\nreplicates = 2\nroot_seed = 1\n[[parameters]]\nkey = "licensing.approval_rate"\n'
            'values = [0.1, 0.5, 0.9]\n[[parameters]]\nkey = "licensing.return_probability"\nvalues = [0.1, 0.3]\n')
    out = tmp_path / "out"
    sweep(write_sweep_file(tmp_path, body), out=out, workers=0, progress=False,
          runner="reflow.experiment.fakes:failing")  # raises below an approval rate of 0.3
    s = load_sweep(out)
    x, y = "licensing.approval_rate", "licensing.return_probability"
    fig = sweep_heatmap(s, "dy_oxide.peak_price_multiple", x, y)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1", "0.5", "0.9"]
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert texts.count("failed") == 2 and any("2 cell(s) marked 'failed'" in t for t in texts)
    fig = sweep_response(s, ["dy_oxide.peak_price_multiple"], x)
    # (the caption wraps: on one line it ran 243 px past each edge of the figure)
    assert any("no successful run at licence approval rate = 0.1" in " ".join(t.get_text().split())
               for t in fig.findobj(Text))


def test_an_analysis_written_before_the_sweep_finished_is_not_taken_for_current(tmp_path: Path) -> None:
    """`reflow analyze` of an interrupted sweep, then the resume that finishes it: plot and report kept reading the
    old analysis/ (no Sobol' bars, 'indices not computed', '14 of 64 runs are stored')."""
    from reflow.experiment import analyze, sweep
    from reflow.experiment.fakes import StopAfter
    from reflow.experiment.fakes import write_fake_sweep as write_sweep_file
    from reflow.plotting.html_report import analysis_notes

    path = write_sweep_file(tmp_path, '[sweep]\nname = "late"\nreplicates = 2\nroot_seed = 2\n[design]\n'
                                      'method = "sobol"\nsamples = 8\n[[parameters]]\nkey = "licensing.approval_rate"\n'
                                      'low = 0.1\nhigh = 0.9\n[[parameters]]\nkey = "licensing.return_probability"\n'
                                      'low = 0.0\nhigh = 0.4\n[outputs]\nmetrics = ["dy_oxide.peak_price_multiple"]\n')
    out = tmp_path / "out"
    runner = "reflow.experiment.fakes:analytic"
    with pytest.raises(KeyboardInterrupt):
        sweep(path, out=out, executor=StopAfter(10), progress=False, runner=runner)
    assert analyze(out).sobol.empty
    sweep(path, out=out, workers=0, progress=False, runner=runner)  # finishes it
    said: list[str] = []
    paths = plot([out], formats=("png",), dpi=30, only=["sobol"], note=said.append)
    assert [p.stem for p in paths] == ["sobol"]
    assert any("was written when the sweep held 10 ok runs; it now holds 64 ok" in s for s in said), said
    notes = analysis_notes(load_sweep(out))
    assert "it now holds 64 ok" in notes[0] and not any("runs are stored" in n for n in notes)
    analyze(out)  # brought up to date: its files are used again, without the note
    assert not any("was written when" in n for n in analysis_notes(load_sweep(out)))
    assert load_sweep(out).analysis("sobol") is not None


def test_the_pdf_cover_holds_every_headline_number_within_its_pages(tmp_path: Path) -> None:
    """The cover page cut every line at 170 characters and stopped after 28 lines a section: a comparison's
    headline table lost its last columns (weeks to recover) and the licence rows, without a word."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from reflow.plotting.html_report import _run_sections
    from reflow.plotting.pdf_cover import cover_pages
    from reflow.plotting.report_tables import headline_rows

    names = [f"scenario_with_a_long_name_{i}" for i in range(5)]
    for i, name in enumerate(names):
        for seed in (1, 2):
            write_fake_run(tmp_path / name / f"seed{seed}", seed=seed, name=name, weeks=20, shock=1 + i / 10)
    results = open_results([tmp_path / n for n in names])
    title, subtitle, sections = _run_sections(results)
    pages = cover_pages(title, subtitle, sections)
    assert len(pages) >= 2  # five scenarios' headline tables take more than a page
    words = " ".join(t.get_text() for p in pages for t in p.texts).split()
    text = " ".join(words)  # a value may wrap onto a second line of its cell
    header, rows, overall = headline_rows(results.groups)
    for cell in [c for r in rows + overall for c in r] + header:
        assert all(w in words for w in cell.split()), cell
    assert "Licence applications" in text and "1,234" in text
    for page in pages:  # and nothing runs off a page
        canvas = FigureCanvasAgg(page)
        renderer = canvas.get_renderer()
        box = page.bbox
        for t in page.texts:
            ext = t.get_window_extent(renderer)
            assert box.x0 <= ext.x0 and ext.x1 <= box.x1 + 1 and box.y0 <= ext.y0, t.get_text()[:60]


def test_report_provenance_gives_what_all_runs_share_once_and_how_to_rerun_each() -> None:
    """A 20-seed report's provenance repeated version, commit, config file and environment on each of its rows,
    and a clean tree showed a bare hash (as if the state were unknown); the reader had no command to re-run."""
    from types import SimpleNamespace

    from reflow.plotting.html_report import _provenance_run

    def run(seed: int, dirty: bool = False, overrides: dict | None = None) -> SimpleNamespace:
        m = {"reflow_version": "0.1.0", "git_commit": "abc1234def567890", "git_dirty": dirty,
             "git_dirty_count": 2 if dirty else 0, "config_file": "configs/controls_2025.toml",
             "overrides": overrides or {}, "started_at": f"2026-01-01T00:00:0{seed}Z", "wall_time_s": 5.0,
             "python": "3.11", "mesa_version": "3.3.1", "platform": "linux"}
        return SimpleNamespace(scenario="controls_2025", seed=seed, manifest=m, path=Path(f"results/c/seed{seed}"))

    text = _provenance_run(SimpleNamespace(runs=[run(1), run(2), run(3)]))
    common, table = text.split("<table", 2)[1:]
    assert "Common to all 3 runs" in text
    assert "abc1234def56 (clean)" in common and "Python 3.11, Mesa 3.3.1, linux" in common
    assert "Environment" not in table and "abc1234" not in table and "<th>Seed</th>" in table
    assert table.count("reflow run configs/controls_2025.toml --seed") == 3
    mixed = _provenance_run(SimpleNamespace(runs=[run(1), run(2, dirty=True, overrides={"licensing.approval_rate":
                                                                                          0.4})]))
    assert "(dirty: 2 files changed)" in mixed.split("<table")[-1]  # differs: per run
    assert "--seed 2 --set licensing.approval_rate=0.4" in mixed
    one = _provenance_run(SimpleNamespace(runs=[run(1)]))
    assert "Common to all" not in one and "reflow run configs/controls_2025.toml --seed 1" in one
