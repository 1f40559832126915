"""Figures of several runs: one scenario over seeds (median line, shaded 5-95% band) or several scenarios
overlaid (one colour and line style per scenario). They take `Ensemble`s from `reflow.plotting.ensemble`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from reflow.plotting.ensemble import ALL, EX_CHINA, Ensemble
from reflow.plotting.flows import flow_matrix_figure
from reflow.plotting.layout import (
    above_zero,
    figure_legend,
    finish_time_axis,
    grid_axes,
    grouped_legend,
    legal_limit_line,
    legend_columns,
    new_figure,
    no_data,
    shortage_threshold_line,
    time_marks,
)
from reflow.plotting.run_figures import DECISION_STYLE, lost_heatmap
from reflow.plotting.style import (
    MARKET_STYLE,
    MATERIALS,
    REGIONS,
    material_label,
    material_style,
    region_label,
    region_style,
    scenario_style,
    set_log_price_axis,
    sort_codes,
    thousands,
    use_log_scale,
)
from reflow.plotting.timeline import PolicyMark, before_start_note, in_force_at_start, policy_marks

__all__ = ["BAND_TEXT", "COMPARE_TEXT", "ENSEMBLE_FIGURES", "ensemble_flows", "merged_marks"]


def _band(ax: Any, st: pd.DataFrame | None, *, color: str, linestyle: Any, label: str, n: int,
          linewidth: float | None = None, alpha: float = 0.18) -> bool:
    """Median line with a shaded 5-95% band (no band for a single run). Returns whether anything was drawn."""
    if st is None or not st["q50"].notna().any():
        return False
    if n > 1:
        ax.fill_between(st.index, st["q05"].to_numpy(), st["q95"].to_numpy(), color=color, alpha=alpha,
                        linewidth=0)
    ax.plot(st.index, st["q50"].to_numpy(), color=color, linestyle=linestyle, label=label,
            linewidth=linewidth)
    return True


def _caption(groups: Sequence[Ensemble]) -> str:
    if len(groups) == 1:
        g = groups[0]
        if g.n == 1:
            return f"{g.name}, seed {g.seeds[0]}"
        return f"{g.name}: median of {g.n} seeds, shaded 5-95% range"
    parts = ", ".join(f"{g.name} ({g.n} seed{'s' if g.n != 1 else ''})" for g in groups)
    return f"{parts}: median across seeds, shaded 5-95% range"


def merged_marks(groups: Sequence[Ensemble]) -> tuple[list[PolicyMark], str | None]:
    """Policy milestones of every scenario compared.

    A milestone of only one of the scenarios is drawn in that scenario's colour (`PolicyMark.color`).

    Returns:
        The milestones, and which scenarios they belong to when that is the same subset for all of them
        ("controls_2025", for a comparison with a baseline without measures; None otherwise). When owners
        differ from one milestone to the next, each milestone that not every scenario has names its owners
        instead (`PolicyMark.owners`: the key lists it under them, a label carries them).
    """
    colors = {g.name: scenario_style(i)["color"] for i, g in enumerate(groups)}
    per = [{(m.when, m.label): m for m in policy_marks(g.config)} for g in groups]
    # Same-day milestones keep their timeline order (as in a single scenario's figures), not the labels' order.
    keys = sorted(dict.fromkeys(k for d in per for k in d), key=lambda k: k[0])
    owners = {k: tuple(g.name for g, d in zip(groups, per, strict=True) if k in d) for k in keys}
    common = set(owners.values())
    shared = next(iter(common)) if len(common) == 1 else None
    out = []
    for k in keys:
        m = next(d[k] for d in per if k in d)
        tag = shared is None and len(owners[k]) < len(groups)
        color = colors[owners[k][0]] if len(owners[k]) == 1 < len(groups) else None
        out.append(replace(m, owners=owners[k] if tag else (), color=color))
    note = ", ".join(shared) if shared is not None and len(shared) < len(groups) else None
    return out, note


def _dates(groups: Sequence[Ensemble]) -> pd.DatetimeIndex:
    out = pd.DatetimeIndex([])
    for g in groups:
        out = out.union(g.dates)
    return out


_LEGEND_LINE_CHARS = 90  # longer scenario labels are wrapped in the legend (about 5.5 in of 8 pt text)


class _Fig:
    """Title block, grid, dates and (numbered) policy marks of one ensemble figure."""

    def __init__(self, groups: Sequence[Ensemble], title: str, nrows: int, ncols: int = 2,
                 caption: str | None = None, **kwargs: Any) -> None:
        self.groups = groups
        self.one = len(groups) == 1
        self.dates = _dates(groups)
        raw, owners = (policy_marks(groups[0].config), None) if self.one else merged_marks(groups)
        self.marks = time_marks(raw, self.dates, ncols)
        caption = (caption or _caption(groups)) + (f"; policy events of {owners} only" if owners and raw else "")
        first = self.dates.min() if len(self.dates) else None
        before = {g.name: in_force_at_start(g.config, first) for g in groups}
        labels = list(dict.fromkeys(x for ls in before.values() for x in ls))
        if not self.one:  # a measure only some of the scenarios have is tagged with their names, as marks are
            labels = [x if all(x in ls for ls in before.values())
                      else f"{x} [{', '.join(n for n, ls in before.items() if x in ls)}]" for x in labels]
        caption += before_start_note(labels)
        self.fig, self.gs = new_figure(title, caption, nrows, ncols, marks=self.marks, **kwargs)

    def finish(self, ax: Any) -> None:
        finish_time_axis(ax, self.dates, self.marks)

    def legend(self, axes: Sequence[Any]) -> Figure:
        handles, labels = [], []
        for a in axes:
            h, lab = a.get_legend_handles_labels()
            handles += h
            labels += lab
        # a label of the keys that differ can be longer than the figure is wide: wrapped, as the caption is
        labels = [textwrap.fill(x, _LEGEND_LINE_CHARS, break_long_words=False, break_on_hyphens=False)
                  for x in labels]
        figure_legend(self.fig, handles, labels, ncol=legend_columns(labels, self.fig.get_figwidth()))
        return self.fig


def _panels(groups: Sequence[Ensemble], figure: str, skip: Sequence[str] = ()) -> list[str]:
    found: set[str] = set()
    for g in groups:
        found.update(p for p in g.panels(figure) if p not in skip)
    return sort_codes(found, MATERIALS)


def _rows(n: int) -> int:
    return max(1, (n + 1) // 2)


def _scenario_bands(ax: Any, groups: Sequence[Ensemble], figure: str, panel: str, line: str) -> None:
    for i, g in enumerate(groups):
        sty = scenario_style(i)
        _band(ax, g.get(figure, panel, line), color=sty["color"], linestyle=sty["linestyle"], label=g.name,
              n=g.n)


def ensemble_prices(groups: Sequence[Ensemble]) -> Figure:
    """Prices per material: China domestic, ex-China VWAP and ask (one scenario), or VWAP per scenario."""
    panels = _panels(groups, "prices")
    one = len(groups) == 1
    f = _Fig(groups, "Rare-earth prices: China domestic vs ex-China" if one
             else "Ex-China price paid (VWAP) by scenario", _rows(len(panels)),
             figsize=(10, 3.2 * _rows(len(panels)) + 0.8))
    axes = grid_axes(f.fig, f.gs, len(panels))
    for ax, m in zip(axes, panels, strict=True):
        values: list[float] = []
        for i, g in enumerate(groups):
            for var in ("price_cn", "price_ex_vwap", "price_ex_ask") if one else ("price_ex_vwap",):
                st = g.get("prices", m, var)
                sty = MARKET_STYLE[var] if one else {**scenario_style(i), "label": g.name}
                if _band(ax, st, color=sty["color"], linestyle=sty["linestyle"], label=sty["label"], n=g.n):
                    values += [*st["q05"].dropna(), *st["q95"].dropna()]
        log = bool(values) and use_log_scale(values)
        if not values:
            no_data(ax, "no prices")
        elif log:
            set_log_price_axis(ax, values)
        else:
            ax.set_ylim(bottom=0)
            thousands(ax)
        ax.set_title(material_label(m) + (" (log scale)" if log else ""))
        ax.set_ylabel("Price (USD/kg)")
        f.finish(ax)
    return f.legend(axes[:1])


def _any_week_short(g: Ensemble, material: str) -> bool:
    """Whether any run's summary counts a week in shortage of `material` (True when a summary cannot say)."""
    if len(g.summaries) < g.n:
        return True
    for summary in g.summaries:
        mats = summary.get("materials") if isinstance(summary, dict) else None
        entry = mats.get(material) if isinstance(mats, dict) else None
        weeks = entry.get("weeks_in_shortage") if isinstance(entry, dict) else None
        if not isinstance(weeks, int | float) or weeks > 0:
            return True
    return False


def ensemble_shortages(groups: Sequence[Ensemble]) -> Figure:
    """Ex-China shortage per material (4-week average) and production lost (by region, or per scenario)."""
    panels = _panels(groups, "shortages", skip=("lost",))
    nrows = _rows(len(panels))
    f = _Fig(groups, "Shortages of all importing regions (4-week average) and lost production"
             + ("" if len(groups) == 1 else ", by scenario"), nrows + 1,
             figsize=(10, 2.6 * nrows + 3.0), height_ratios=[1] * nrows + [1.0])
    axes = grid_axes(f.fig, f.gs, len(panels))
    for ax, m in zip(axes, panels, strict=True):
        if f.one:
            g = groups[0]
            _band(ax, g.get("shortages", m, EX_CHINA), color="#000000", linestyle="-",
                  label="all importing regions", n=g.n)
        else:
            _scenario_bands(ax, groups, "shortages", m, EX_CHINA)
        if not above_zero(ax):
            # Say over what (the median alone once said so when seeds were short), and give the empty panel the
            # run figure's 0-1 scale: an all-zero line leaves matplotlib's 0-0.05 t/week, as if something small
            # had been drawn.
            single = f.one and groups[0].n == 1
            no_data(ax, "no shortage in this run" if single else "no shortage in any run")
            ax.set_ylim(0, 1)
        elif f.one:  # (scenarios compared may differ in demand: no one line for all)
            g = groups[0]
            level = g.get("shortages", m, "threshold")
            shortage_threshold_line(ax, None if level is None else level["q50"], _any_week_short(g, m))
        ax.set_title(material_label(m))
        ax.set_ylabel("Shortage (t/week)")
        ax.set_ylim(bottom=0)
        thousands(ax)
        f.finish(ax)
    ax = f.fig.add_subplot(f.gs[nrows, :])
    if f.one:
        g = groups[0]
        regions = sort_codes((r for r in g.lines("shortages", "lost") if r != EX_CHINA), REGIONS)
        frame = pd.DataFrame({r: g.get("shortages", "lost", r)["q50"] for r in regions}, index=g.dates)
        lost_heatmap(f.fig, ax, frame, regions)
        ax.set_title("Production lost, share of planned output by region, median across seeds (darker = more "
                     "lost)")
        ax.set_ylabel("Importing region")
        f.finish(ax)
        return f.legend(axes[:1])  # the median line and its band
    _scenario_bands(ax, groups, "shortages", "lost", EX_CHINA)
    if not ax.lines:
        no_data(ax, "no production lost")
    ax.set_title("Production lost, all importing regions (share of planned output, 4-week average)")
    ax.set_ylabel("Production lost (%)")
    ax.set_ylim(bottom=0)
    f.finish(ax)
    return f.legend([ax])


def ensemble_inventories(groups: Sequence[Ensemble]) -> Figure:
    """Weeks of cover per material: demand-weighted over importing regions (band), by region (medians)."""
    panels = _panels(groups, "inventories")
    nrows = _rows(len(panels))
    f = _Fig(groups, "Inventories in weeks of cover", nrows, figsize=(10, 3.0 * nrows + 0.9))
    axes = grid_axes(f.fig, f.gs, len(panels))
    for ax, m in zip(axes, panels, strict=True):
        if f.one:
            g = groups[0]
            for r in sort_codes((x for x in g.lines("inventories", m) if x != EX_CHINA), REGIONS):
                sty = region_style(r)
                _band(ax, g.get("inventories", m, r), color=sty["color"], linestyle=sty["linestyle"],
                      label=region_label(r), n=1, linewidth=0.9)
            _band(ax, g.get("inventories", m, EX_CHINA), color="#000000", linestyle="-",
                  label="All importing regions (demand-weighted, 5-95% band)", n=g.n, linewidth=2.0)
        else:
            _scenario_bands(ax, groups, "inventories", m, EX_CHINA)
        if not ax.lines:
            no_data(ax, "no inventory data")
        ax.set_title(material_label(m) + ("" if f.one else " (importing regions, demand-weighted)"))
        ax.set_ylabel("Cover (weeks of need)")
        ax.set_ylim(bottom=0)
        f.finish(ax)
    return f.legend(axes)


def ensemble_licences(groups: Sequence[Ensemble]) -> Figure:
    """Applications and decisions, backlog, mean wait and approval share."""
    f = _Fig(groups, "Chinese export licensing" + ("" if len(groups) == 1 else " by scenario"), 2,
             figsize=(10, 6.8))
    ax_flow = f.fig.add_subplot(f.gs[0, 0])
    ax_back = f.fig.add_subplot(f.gs[0, 1])
    ax_wait = f.fig.add_subplot(f.gs[1, 0])
    ax_share = f.fig.add_subplot(f.gs[1, 1])
    if f.one:
        g = groups[0]
        for var, (label, color, ls) in DECISION_STYLE.items():
            line = var.removeprefix("licence_")
            _band(ax_flow, g.get("licences", "flow", line), color=color, linestyle=ls, label=label, n=g.n)
        for ax, panel in ((ax_back, "backlog"), (ax_wait, "wait"), (ax_share, "share")):
            for m in sort_codes((x for x in g.lines("licences", panel) if x != ALL), MATERIALS):
                st = material_style(m)
                _band(ax, g.get("licences", panel, m), color=st["color"], linestyle=st["linestyle"],
                      label=material_label(m), n=g.n)
        ax_flow.set_title("Applications and decisions, all items (4-week average)")
    else:
        _scenario_bands(ax_flow, groups, "licences", "flow", "applications")
        for ax, panel in ((ax_back, "backlog"), (ax_wait, "wait"), (ax_share, "share")):
            _scenario_bands(ax, groups, "licences", panel, ALL)
        ax_flow.set_title("Applications, all items (4-week average)")
    for ax, text in ((ax_flow, "no licence applications"), (ax_back, "no backlog"), (ax_wait, "no decisions"),
                     (ax_share, "no decisions")):
        if not ax.lines:
            no_data(ax, text)
    # one scenario draws approvals and denials too
    ax_flow.set_ylabel("Applications or decisions (per week)" if f.one else "Applications (per week)")
    ax_back.set_title("Backlog at end of week")
    ax_back.set_ylabel("Pending (applications)")
    legal_limit_line(ax_wait)
    ax_wait.set_title("Mean wait for a decision (4-week average)")
    ax_wait.set_ylabel("Wait (calendar days)")
    ax_share.set_title("Approval share (4-week rolling)")
    ax_share.set_ylabel("Approved (% of decisions)")
    for ax in (ax_flow, ax_back, ax_wait):
        ax.set_ylim(bottom=0)
    ax_share.set_ylim(0, 105)
    for ax in (ax_flow, ax_back, ax_wait, ax_share):
        f.finish(ax)
    if f.one:  # decisions on one panel, materials on the others: a row each
        h1, l1 = ax_flow.get_legend_handles_labels()
        h2, l2 = ax_back.get_legend_handles_labels()
        grouped_legend(f.fig, [("All items", h1, l1), ("Per material", h2, l2)])
        return f.fig
    return f.legend([ax_back])


def ensemble_supply_shares(groups: Sequence[Ensemble]) -> Figure:
    """Origin shares of ex-China deliveries (mean, stacked) and HHI; non-Chinese share per scenario."""
    panels = _panels(groups, "supply_shares", skip=("hhi",))
    nrows = _rows(len(panels))
    if len(groups) > 1:
        f = _Fig(groups, "Non-Chinese share of deliveries to buyers outside China (last 13 weeks)", nrows,
                 figsize=(10, 3.0 * nrows + 0.9))
        axes = grid_axes(f.fig, f.gs, len(panels))
        for ax, m in zip(axes, panels, strict=True):
            _scenario_bands(ax, groups, "supply_shares", m, "NONCN")
            if not ax.lines:
                no_data(ax, "no deliveries")
            ax.set_title(material_label(m))
            ax.set_ylabel("Non-Chinese origin (%)")
            ax.set_ylim(0, 100)
            f.finish(ax)
        return f.legend(axes[:1])
    g = groups[0]
    f = _Fig(groups, "Supply of buyers outside China by origin (share of the last 13 weeks' deliveries"
             + (", mean of seeds)" if g.n > 1 else ")"), nrows + 1, figsize=(10, 2.6 * nrows + 3.0),
             height_ratios=[1] * nrows + [0.9],
             # stacked shares are means (medians would not add up to 100%); only the HHI has a median and band
             caption=(f"{g.name}: shares are the mean of {g.n} seeds; HHI the median, shaded 5-95% range"
                      if g.n > 1 else None))
    axes = grid_axes(f.fig, f.gs, len(panels))
    handles: dict[str, Any] = {}
    for ax, m in zip(axes, panels, strict=True):
        origins = sort_codes((o for o in g.lines("supply_shares", m) if o != "NONCN"), REGIONS)
        if not origins:
            no_data(ax, "no deliveries")
        else:
            ys = [g.get("supply_shares", m, o)["mean"].fillna(0.0).to_numpy() for o in origins]
            polys = ax.stackplot(g.dates, *ys, labels=[region_label(o) for o in origins],
                                 colors=[region_style(o)["color"] for o in origins],
                                 hatch=[region_style(o)["hatch"] for o in origins],
                                 edgecolor="white", linewidth=0.3, alpha=0.9)
            for p, o in zip(polys, origins, strict=True):
                handles.setdefault(o, p)
        ax.set_title(material_label(m))
        ax.set_ylabel("Share of deliveries (%)")
        ax.set_ylim(0, 100)
        ax.margins(x=0)
        f.finish(ax)
    ax = f.fig.add_subplot(f.gs[nrows, :])
    for m in sort_codes(g.lines("supply_shares", "hhi"), MATERIALS):
        st = material_style(m)
        _band(ax, g.get("supply_shares", "hhi", m), color=st["color"], linestyle=st["linestyle"],
              label=material_label(m), n=g.n)
    if ax.lines:  # (a legend of nothing warns on stderr)
        ax.legend(loc="lower left", ncol=4, frameon=True, framealpha=0.85, edgecolor="none")
    else:
        no_data(ax, "no deliveries")
    ax.set_title("Concentration of origins (HHI; 1 = a single origin)")
    ax.set_ylabel("HHI (0-1)")
    ax.set_ylim(0, 1.02)
    f.finish(ax)
    order = sort_codes(handles, REGIONS)
    figure_legend(f.fig, [handles[o] for o in order], [f"Origin: {region_label(o)}" for o in order])
    return f.fig


def ensemble_capacity(groups: Sequence[Ensemble]) -> Figure:
    """Non-Chinese capacity in operation and under construction (in operation only when comparing)."""
    panels = _panels(groups, "capacity")
    nrows = _rows(len(panels))
    f = _Fig(groups, "Capacity outside China" + ("" if len(groups) == 1 else ", in operation"), nrows,
             figsize=(10, 3.0 * nrows + 0.9))
    axes = grid_axes(f.fig, f.gs, len(panels))
    for ax, m in zip(axes, panels, strict=True):
        if f.one:
            g = groups[0]
            _band(ax, g.get("capacity", m, "operating"), color="#0072B2", linestyle="-", label="In operation",
                  n=g.n)
            _band(ax, g.get("capacity", m, "pipeline"), color="#E69F00", linestyle="--",
                  label="Under construction", n=g.n)
        else:
            _scenario_bands(ax, groups, "capacity", m, "operating")
        if not ax.lines:
            no_data(ax, "no capacity data")
        elif not above_zero(ax):  # lines along the axis itself read as an empty panel
            no_data(ax, "no capacity outside China")
        ax.set_title(material_label(m))
        ax.set_ylabel("Capacity (t/year)")
        ax.set_ylim(bottom=0)
        thousands(ax)
        f.finish(ax)
    return f.legend(axes[:1])


def ensemble_flows(group: Ensemble) -> Figure:
    """Mean origin x destination tonnes over the group's runs."""
    caption = f"{group.name}: mean of {group.n} seeds" if group.n > 1 else _caption([group])
    return flow_matrix_figure(group.flows, group.flow_dates, caption,
                              unit="Delivered in period (t)" + (", mean of seeds" if group.n > 1 else ""))


EnsembleFn = Callable[[Sequence[Ensemble]], Figure]

# name -> (function, one sentence for reports); flows are drawn per scenario by `ensemble_flows`.
# The sentence each figure gets in a report: for one scenario over seeds, and for scenarios compared (which draw
# other panels: one line per scenario). One sentence per case: a report of one scenario used to say what the
# comparison shows too ("when comparing: ...").
ENSEMBLE_FIGURES: dict[str, tuple[EnsembleFn, str]] = {
    "prices": (ensemble_prices, "Prices per material: China's domestic price, the ex-China volume-weighted price "
               "(VWAP) and the ex-China marginal ask."),
    "shortages": (ensemble_shortages, "Material importing regions needed but could not get (all regions "
                  "together), and each region's share of planned output lost (median across seeds)."),
    "inventories": (ensemble_inventories, "Manufacturers' stocks in weeks of their current need, per importing "
                    "region and demand-weighted over all of them."),
    "licences": (ensemble_licences, "China's licensing queue: applications and decisions, backlog, mean wait "
                 "against the 45-working-day limit, and the approval share."),
    "supply_shares": (ensemble_supply_shares, "Where buyers outside China get their material: shares of "
                      "deliveries by producing origin (mean over seeds) and the concentration of supply (HHI)."),
    "capacity": (ensemble_capacity, "Non-Chinese capacity in operation and under construction."),
}
COMPARE_TEXT: dict[str, str] = {
    "prices": "The ex-China price paid (VWAP) per material, one line per scenario.",
    "shortages": "Material all importing regions needed but could not get, and the share of their planned "
                 "output lost, one line per scenario.",
    "inventories": "Manufacturers' stocks in weeks of their current need, demand-weighted over the importing "
                   "regions, one line per scenario.",
    "licences": "China's licensing queue per scenario: applications, backlog, mean wait against the "
                "45-working-day limit, and the approval share.",
    "supply_shares": "The non-Chinese share of deliveries to buyers outside China, one line per scenario.",
    "capacity": "Non-Chinese capacity in operation, one line per scenario.",
}
BAND_TEXT = " Lines are medians across seeds, shading the 5-95% range; vertical lines mark policy milestones."
