"""Which runs `reflow plot` / `reflow report` pool into one median and band: runs of one scenario name AND one
resolved config (apart from the seed). Runs of one name with different configs are separate, labelled groups.

Run folders are synthetic (helpers in test_plotting.py) with their config.json edited the way `--set` would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reflow.errors import ReflowError
from reflow.plotting import plot, report
from reflow.plotting.api import default_out, iter_figures
from reflow.plotting.ensemble import summarise
from reflow.plotting.load import differing_keys, load_run, open_results, variant_labels
from test_plotting import write_fake_run

WEEKS = 40


def _run(folder: Path, seed: int, **changes: Any) -> Path:
    """A fake run whose config.json has `changes` applied (``{"scenario.weeks": 60}``), as an override would."""
    write_fake_run(folder, seed=seed, weeks=WEEKS)
    cfg = json.loads((folder / "config.json").read_text())
    for path, value in changes.items():
        node = cfg
        *head, last = path.split(".")
        for seg in head:
            node = node.setdefault(seg, {})
        node[last] = value
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """One scenario folder: two seeds of the config, one run with another approval rate, one with more weeks."""
    scen = tmp_path / "controls_fake"
    _run(scen / "seed1", 1)
    _run(scen / "seed2", 2)
    _run(scen / "rate", 3, **{"licensing.approval_rate": 0.4})
    _run(scen / "longer", 4, **{"scenario.weeks": 60})
    return scen


def test_runs_of_one_name_with_different_configs_are_not_pooled(mixed: Path) -> None:
    rs = open_results([mixed])
    assert rs.kind == "overlay"
    groups = {label: sorted(r.path.name for r in runs) for label, runs in rs.groups.items()}
    assert groups == {
        "controls_fake [approval_rate=0.6, weeks=40]": ["seed1", "seed2"],
        "controls_fake [approval_rate=0.4, weeks=40]": ["rate"],
        "controls_fake [approval_rate=0.6, weeks=60]": ["longer"],
    }
    assert len(rs.notes) == 1
    note = rs.notes[0]
    assert "3 different configs" in note and "licensing.approval_rate, scenario.weeks" in note


def test_seed_and_description_do_not_split_a_scenario(tmp_path: Path) -> None:
    scen = tmp_path / "controls_fake"
    _run(scen / "a", 1)
    _run(scen / "b", 2, **{"scenario.seed": 7, "scenario.description": "reworded"})
    rs = open_results([scen])
    assert rs.kind == "ensemble" and list(rs.groups) == ["controls_fake"] and not rs.notes
    assert [r.seed for r in rs.groups["controls_fake"]] == [1, 2]


def test_same_config_from_two_folders_is_pooled_and_a_different_one_is_not(tmp_path: Path) -> None:
    _run(tmp_path / "a" / "controls_fake" / "s1", 1)
    _run(tmp_path / "b" / "controls_fake" / "s2", 2)
    rs = open_results([tmp_path / "a" / "controls_fake", tmp_path / "b" / "controls_fake"])
    assert list(rs.groups) == ["controls_fake"] and len(rs.groups["controls_fake"]) == 2
    _run(tmp_path / "c" / "controls_fake" / "s3", 3, **{"licensing.review_days": 30})
    rs = open_results([tmp_path / "a" / "controls_fake", tmp_path / "c" / "controls_fake"])
    assert list(rs.groups) == ["controls_fake [review_days=45]", "controls_fake [review_days=30]"]


def test_summarise_refuses_runs_of_different_configs(mixed: Path) -> None:
    runs = [load_run(p) for p in sorted(mixed.iterdir())]
    with pytest.raises(ReflowError, match=r"licensing\.approval_rate, scenario\.weeks"):
        summarise(runs)


def test_the_figures_show_each_config_as_its_own_line(mixed: Path) -> None:
    figs = list(iter_figures(open_results([mixed]), only=["shortages"]))
    assert len(figs) == 1
    fig = figs[0].figure
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    labels += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    for label in ("controls_fake [approval_rate=0.4, weeks=40]", "controls_fake [approval_rate=0.6, weeks=60]"):
        assert any(label in t for t in labels), labels


def test_plot_and_report_of_a_mixed_folder(mixed: Path, tmp_path: Path) -> None:
    said: list[str] = []
    written = plot([mixed], tmp_path / "plots", formats=("png",), only=["prices"], dpi=30, workers=1,
                   note=said.append)
    assert [p.name for p in written] == ["prices.png"]
    assert any("approval_rate" in n for n in said), said  # the reader is told the runs were not pooled
    out = tmp_path / "r.html"
    report([mixed], out, only=["prices"], dpi=30, workers=1)
    html = out.read_text()
    assert "controls_fake [approval_rate=0.4, weeks=40]" in html


def test_labels_name_what_differs_and_stay_distinct() -> None:
    base = {"scenario": {"name": "x", "weeks": 10, "seed": 1},
            "policy": [{"id": "apr", "approval_rate": 0.2}, {"id": "jun", "approval_rate": 0.6}]}

    def variant(apr: float, jun: float, note: str = "") -> dict[str, Any]:
        return {**base, "policy": [{"id": "apr", "approval_rate": apr}, {"id": "jun", "approval_rate": jun}],
                "notes": {"text": note}}

    configs = [variant(0.2, 0.6), variant(0.3, 0.6), variant(0.2, 0.9)]
    assert differing_keys(configs) == ["policy.apr.approval_rate", "policy.jun.approval_rate"]
    assert variant_labels("x", configs) == ["x [apr.approval_rate=0.2, jun.approval_rate=0.6]",
                                            "x [apr.approval_rate=0.3, jun.approval_rate=0.6]",
                                            "x [apr.approval_rate=0.2, jun.approval_rate=0.9]"]
    long = [variant(0.2, 0.6, "a" * 40 + "1"), variant(0.2, 0.6, "a" * 40 + "2")]
    labels = variant_labels("x", long)
    assert len(set(labels)) == 2 and all(label.startswith("x [text=aaaa") for label in labels)


def test_a_seed_run_twice_counts_once(tmp_path: Path) -> None:
    """`reflow run` twice without --run-id leaves two folders of one config and seed: the same simulation, which
    pooled as two seeds narrowed the band and called one seed two ("2 seeds", seeds "1, 1")."""
    scen = tmp_path / "controls_fake"
    _run(scen / "seed1-early", 1)
    later = _run(scen / "seed1-late", 1)
    manifest = json.loads((later / "manifest.json").read_text())
    (later / "manifest.json").write_text(json.dumps({**manifest, "finished_at": "2026-02-01T00:00:00Z"}))
    _run(scen / "seed2", 2)
    rs = open_results([scen])
    assert rs.kind == "ensemble"
    assert [(r.seed, r.path.name) for r in rs.groups["controls_fake"]] == [(1, "seed1-late"), (2, "seed2")]
    (note,) = rs.notes
    assert "seed 1" in note and str(later) in note and str(scen / "seed1-early") in note
    out = tmp_path / "r.html"
    report([scen], out, only=["prices"], dpi=30, workers=1)
    html = out.read_text()
    assert "controls_fake, 2 seeds" in html and "seed1-early" in html  # the file says which run was left out


def test_one_seed_of_two_configs_is_two_groups_not_a_duplicate(tmp_path: Path) -> None:
    scen = tmp_path / "controls_fake"
    _run(scen / "a", 1)
    _run(scen / "b", 1, **{"licensing.approval_rate": 0.4})
    rs = open_results([scen])
    assert rs.kind == "overlay" and [len(runs) for runs in rs.groups.values()] == [1, 1]
    assert not any("same config and seed" in n for n in rs.notes)


def test_labels_show_the_keys_that_tell_the_configs_apart_and_number_every_collision() -> None:
    """Five configs differing in eleven keys were labelled by the alphabetically first three, which three of
    them shared: 'x [..] #1', 'x [..] #2' and the third the same label unnumbered."""
    def config(rate: float = 0.25, n: int = 4, us: float = 5400.0) -> dict[str, Any]:
        return {"scenario": {"name": "x", "weeks": 10},
                "licensing": {"approval_rate": rate},
                "manufacturers": {"per_region_sector": n,
                                  "demand_tpy": {"US": {"automotive": us, "defence": us / 15, "wind": us / 4}}}}

    configs = [config(), config(rate=0.0), config(rate=1.0), config(n=1), config(us=0.0)]
    labels = variant_labels("x", configs)
    assert len(set(labels)) == 5 and not any("#" in label for label in labels), labels
    assert all("per_region_sector=" in label and "approval_rate=" in label for label in labels), labels
    # when the labels shown cannot tell all apart, every one that collides is numbered
    same = variant_labels("x", configs, max_keys=1)
    collided = [label for label in same if "#" in label]
    assert len(set(same)) == 5 and len(collided) >= 2
    numbers: dict[str, list[int]] = {}
    for label in collided:
        base, k = label.rsplit(" #", 1)
        numbers.setdefault(base, []).append(int(k))
    # each label shared by several configs numbered #1..#k, never a number on a label no other config has
    assert all(len(ks) >= 2 and sorted(ks) == list(range(1, len(ks) + 1)) for ks in numbers.values()), same
    assert all(label + " #" not in " ".join(same) for label in same if "#" not in label)


def test_default_compare_folder_names_every_scenario_and_stays_a_valid_name(mixed: Path, tmp_path: Path) -> None:
    """`reflow report results/controls_2025 results/baseline`, with runs of two configs in the first folder (the
    README's `--set` run), wrote to `compare-<label 1>_vs_<label 2>_vs_<label 3>/` without `baseline`, and with
    labels of long key paths the name grew past the file system's 255 bytes: a traceback (OSError) instead of
    figures."""
    other = tmp_path / "mild_fake"
    write_fake_run(other / "seed1", seed=1, name="mild_fake", weeks=WEEKS)
    paths = [mixed, other]
    out = default_out(paths, open_results(paths), "plots")
    assert out == tmp_path / "compare-controls_fake_vs_mild_fake" / "plots"

    scen = tmp_path / "long" / "controls_fake"
    keys = [f"licensing.a_rather_long_parameter_name_number_{i}" for i in range(4)]
    for v in (0.3, 0.35, 0.45):
        _run(scen / f"rate{v}", 1, **{k: v for k in keys})
    paths = sorted(scen.iterdir())
    out = default_out(paths, open_results(paths), "plots")
    assert len(out.parent.name.encode()) <= 255 and out.parent.name.startswith("compare-controls_fake")
    plot(paths, formats=("png",), only=["capacity"], dpi=30, workers=1)  # raised OSError: File name too long
    assert (out / "capacity.png").is_file()
    # two comparisons of the same scenario's configs still get folders of their own
    other_out = default_out(paths[:2], open_results(paths[:2]), "plots")
    assert other_out != default_out(paths[1:], open_results(paths[1:]), "plots")


def _outside(fig: Any) -> list[str]:
    """Texts (title, caption, key, legend entries) that a drawn figure cuts off at its left or right edge."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    width = fig.bbox.width
    texts = list(fig.texts) + [t for legend in fig.legends for t in legend.get_texts()]
    cut = [t.get_text()[:40] for t in texts
           if (bb := t.get_window_extent(renderer)).x0 < -1 or bb.x1 > width + 1]
    return cut + [f"legend {b.x0:.0f}-{b.x1:.0f} of {width:.0f}" for legend in fig.legends
                  if (b := legend.get_window_extent(renderer)).x0 < -1 or b.x1 > width + 1]


@pytest.mark.parametrize("case", ["forward", "variants"])
def test_a_comparison_keeps_its_caption_and_legend_inside_the_figure(tmp_path: Path, case: str) -> None:
    """The caption of a comparison names every scenario on one line, and the legend put every scenario on one
    row: comparing the four forward scenarios with controls_2025 cut the caption off at both edges, and three
    configs of one scenario (labels naming the keys that differ) cut off the caption and the legend."""
    import matplotlib

    from reflow.plotting.style import rc_params

    if case == "forward":
        paths = []
        for name in ("fwd_suspension_lapses", "fwd_suspension_extended", "fwd_defence_embargo",
                     "fwd_diversification_push", "controls_2025"):
            write_fake_run(tmp_path / name / "seed1", seed=1, name=name, weeks=WEEKS)
            paths.append(tmp_path / name)
    else:
        scen = tmp_path / "controls_fake"
        keys = [f"licensing.a_rather_long_parameter_name_number_{i}" for i in range(4)]
        for v in (0.3, 0.35, 0.45):
            _run(scen / f"rate{v}", 1, **{k: v for k in keys})
        paths = [scen]
    with matplotlib.rc_context(rc_params()):  # as plot() and report() draw
        figs = list(iter_figures(open_results(paths), only=["prices", "licences"]))
        assert len(figs) == 2
        for item in figs:
            assert _outside(item.figure) == [], item.name
