"""Figures of one run: prices, shortages, inventories, licences, supply shares, capacity, trade flows.

Every function takes the tidy time series (docs/outputs.md) and the resolved config (for dates, policy
markers and the title: config.json's dict, or the `Scenario` of `reflow.run`'s result) and returns a matplotlib
`Figure`; saving is left to the caller. Weekly series that are lumpy by nature (deliveries, decisions) are shown
as trailing averages, and the titles say so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reflow.metrics import in_shortage
from reflow.plotting._frames import (
    Series,
    approval_share,
    ex_china_weighted,
    hhi_from_shares,
    licence_wait,
    origin_shares,
    present_materials,
    rolling_mean,
    shortage_threshold,
    total,
)
from reflow.plotting._parallel import fork_map
from reflow.plotting.flows import flow_figure
from reflow.plotting.layout import (
    FAST_LAYOUT,
    above_zero,
    config_dict,
    figure_legend,
    finish_time_axis,
    grid_axes,
    grouped_legend,
    legal_limit_line,
    new_figure,
    no_data,
    scenario_caption,
    shortage_threshold_line,
    time_marks,
)
from reflow.plotting.quick import DRAW_COST, QUICK, draw_order, in_quick_order
from reflow.plotting.style import (
    MARKET_STYLE,
    REGIONS,
    material_label,
    material_style,
    rc_params,
    region_label,
    region_style,
    save_figure,
    set_log_price_axis,
    sort_codes,
    thousands,
    use_log_scale,
)
from reflow.plotting.timeline import before_start_note, in_force_at_start, policy_marks

if TYPE_CHECKING:
    from reflow.config import Scenario

__all__ = [
    "DRAW_COST",
    "QUICK",
    "RUN_FIGURES",
    "capacity_figure",
    "flow_figure",
    "inventory_figure",
    "licence_figure",
    "lost_heatmap",
    "price_figure",
    "quick_figures",
    "shortage_figure",
    "supply_share_figure",
]

# Decision lines: black and two colours no material uses, so the shared legend cannot be misread.
DECISION_STYLE = {"licence_applications": ("Applications", "#000000", "-"),
                  "licence_approvals": ("Approvals", "#56B4E9", "--"),
                  "licence_denials": ("Denials", "#D55E00", ":")}
LIGHT = "light_ree"  # the aggregate La/Ce market's panel
SHARE_WINDOW = 13  # weeks of deliveries behind each supply share (a quarter)
NOISY_WINDOW = 4  # weeks behind each shortage, licence flow and wait value


def _as_series(ts: pd.DataFrame | Series) -> Series:
    return ts if isinstance(ts, Series) else Series(ts)


def _start(title: str, config: dict[str, Any], seed: Any, s: Series, nrows: int, ncols: int = 2,
           **kwargs: Any) -> tuple[Figure, Any, list[Any]]:
    config = config_dict(config)
    marks = time_marks(policy_marks(config), s.dates, ncols)
    before = before_start_note(in_force_at_start(config, s.dates.min() if len(s.dates) else None))
    fig, gs = new_figure(title, scenario_caption(config, seed) + before, nrows, ncols, marks=marks, **kwargs)
    return fig, gs, marks


def price_figure(ts: pd.DataFrame | Series, config: dict[str, Any] | Scenario, *, seed: Any = None) -> Figure:
    """China domestic price against ex-China VWAP and marginal ask, one panel per material.

    The ex-China lines are demand-weighted over importing regions. A panel switches to a log scale when
    its prices span more than about six-fold, so a spike does not flatten everything else. A run with a La/Ce
    oxide market (docs/ODD.md 7.18) gets one more panel for it: its one ex-China price is what buyers paid.
    """
    s = _as_series(ts)
    materials = present_materials(s, "price_cn") or s.materials()
    light = s.has("light_price_ex")
    if light:
        materials = [*materials, LIGHT]
    nrows = max(1, (len(materials) + 1) // 2)
    fig, gs, marks = _start("Rare-earth prices: China domestic vs ex-China", config, seed, s, nrows,
                            figsize=(10, 3.2 * nrows + 0.8))
    axes = grid_axes(fig, gs, len(materials))
    cn = s.wide("price_cn", ["material"])
    for ax, m in zip(axes, materials, strict=True):
        if m == LIGHT:
            lines = {"price_cn": s.wide("light_price_cn", [])["value"],
                     "price_ex_vwap": s.wide("light_price_ex", [])["value"]}
        else:
            lines = {
                "price_cn": cn[m] if m in cn.columns else pd.Series(np.nan, index=s.dates),
                "price_ex_vwap": ex_china_weighted(s, "price_ex_vwap", m),
                "price_ex_ask": ex_china_weighted(s, "price_ex_ask", m),
            }
        allv: list[float] = []
        for var, y in lines.items():
            if y.notna().any():
                st = MARKET_STYLE[var]
                ax.plot(y.index, y.to_numpy(), color=st["color"], linestyle=st["linestyle"],
                        label=st["label"])
                allv.extend(y.dropna().tolist())
        log = bool(allv) and use_log_scale(allv)
        if not allv:
            no_data(ax, "no prices in this run")
        elif log:
            set_log_price_axis(ax, allv)
        else:
            ax.set_ylim(bottom=0)
            thousands(ax)
        ax.set_title(material_label(m) + (" (log scale)" if log else ""))
        ax.set_ylabel("Price (USD/kg)")
        finish_time_axis(ax, s.dates, marks)
    handles, labels = axes[0].get_legend_handles_labels() if axes else ([], [])
    figure_legend(fig, handles, labels)
    return fig


def _importers(s: Series, material: str | None = None) -> list[str]:
    """Importing regions (not China) with demand for the material (any material when None)."""
    demand = s.wide("demand")
    if demand.empty:
        return []
    cols = [c for c in demand.columns if (material is None or c[0] == material) and c[1] != "CN"
            and demand[c].fillna(0).gt(0).any()]
    return sort_codes({str(c[1]) for c in cols}, REGIONS)


def _stack_regions(ax: Any, frame: pd.DataFrame, regions: Sequence[str]) -> dict[str, Any]:
    """Stacked areas by region (canonical order, hatched for grayscale print); returns legend handles."""
    cols = [r for r in regions if r in frame.columns and frame[r].fillna(0).gt(0).any()]
    if not cols:
        return {}
    polys = ax.stackplot(frame.index, *[frame[r].fillna(0.0).to_numpy() for r in cols],
                         colors=[region_style(r)["color"] for r in cols],
                         hatch=[region_style(r)["hatch"] for r in cols], edgecolor="white", linewidth=0.3,
                         labels=[region_label(r) for r in cols])
    return {region_label(r): p for r, p in zip(cols, polys, strict=True)}


def lost_heatmap(fig: Figure, ax: Any, frame: pd.DataFrame, regions: Sequence[str]) -> bool:
    """Production lost (%) as a region x week heat strip: readable however spiky the weeks are.

    Args:
        fig: the figure (for the colour bar).
        ax: a date x axis.
        frame: dates down, regions across, values in %.
        regions: rows, top to bottom.

    Returns:
        Whether anything was lost at all (else the panel says so).
    """
    rows = [r for r in regions if r in frame.columns]
    data = frame.reindex(columns=rows).to_numpy(dtype=float).T if rows else np.zeros((0, len(frame)))
    if not rows or not np.nanmax(np.nan_to_num(data, nan=0.0), initial=0.0) > 0:
        ax.set_yticks([])
        no_data(ax, "no production lost")
        return False
    edges = frame.index.append(pd.DatetimeIndex([frame.index[-1] + pd.Timedelta(days=7)]))
    vmax = max(float(np.nanpercentile(data[data > 0], 99)), 1.0)
    mesh = ax.pcolormesh(edges, np.arange(len(rows) + 1), np.ma.masked_less(data, 0.05),
                         cmap=matplotlib.colormaps["Blues"], vmin=0, vmax=vmax, shading="flat")
    ax.set_yticks(np.arange(len(rows)) + 0.5, [region_label(r) for r in rows], fontsize=8)
    ax.set_ylim(len(rows), 0)
    ax.grid(False)
    # the colour bar sits just right of the strip, so the strip keeps the width of the panels above
    cax = ax.inset_axes((1.008, 0.0, 0.012, 1.0))
    cb = fig.colorbar(mesh, cax=cax, extend="max" if np.nanmax(data) > vmax else None)
    cb.set_label("Lost (% of planned output)", fontsize=8)  # (a bare "%" gave no base)
    cb.ax.tick_params(labelsize=7)
    return True


def shortage_figure(ts: pd.DataFrame | Series, config: dict[str, Any] | Scenario, *, seed: Any = None) -> Figure:
    """Shortage by importing region per material (stacked, 4-week average), and production lost by region."""
    s = _as_series(ts)
    materials = present_materials(s, "shortage") or s.materials()
    nrows = max(1, (len(materials) + 1) // 2)
    fig, gs, marks = _start(f"Shortages ({NOISY_WINDOW}-week average) and lost production by region", config,
                            seed, s, nrows + 1,
                            figsize=(10, 2.6 * nrows + 3.0), height_ratios=[1] * nrows + [1.0])
    axes = grid_axes(fig, gs, len(materials))
    short = s.wide("shortage")
    handles: dict[str, Any] = {}
    for ax, m in zip(axes, materials, strict=True):
        wide = short[m] if not short.empty and m in short.columns.get_level_values(0) else pd.DataFrame()
        smooth = wide.apply(lambda col: rolling_mean(col, NOISY_WINDOW)) if not wide.empty else wide
        got = _stack_regions(ax, smooth, _importers(s, m) or [c for c in wide.columns if c != "CN"])
        handles.update(got)
        if not got:
            no_data(ax, "no shortage in this run")
            ax.set_ylim(0, 1)
        else:
            weeks_short = in_shortage(total(s, "shortage", m, exclude_regions=("CN",)).to_numpy(),
                                      total(s, "demand", m, exclude_regions=("CN",)).to_numpy())
            shortage_threshold_line(ax, shortage_threshold(s, m, NOISY_WINDOW), bool(weeks_short.any()))
        ax.set_title(material_label(m))
        ax.set_ylabel("Shortage (t/week)")
        ax.set_ylim(bottom=0)
        thousands(ax)
        finish_time_axis(ax, s.dates, marks)
    ax = fig.add_subplot(gs[nrows, :])
    lost = s.wide("production_lost_share", ["region"]) * 100
    regions = _importers(s) or sort_codes((c for c in lost.columns if isinstance(c, str) and c != "CN"),
                                          REGIONS)
    lost_heatmap(fig, ax, lost, regions)
    ax.set_title("Production lost, share of planned output by region (darker = more lost)")
    ax.set_ylabel("Importing region")
    finish_time_axis(ax, s.dates, marks)
    order = sort_codes(handles, [region_label(r) for r in REGIONS])  # the stacking order, US first
    figure_legend(fig, [handles[k] for k in order], order)
    return fig


def inventory_figure(ts: pd.DataFrame | Series, config: dict[str, Any] | Scenario, *, seed: Any = None) -> Figure:
    """Manufacturers' stocks in weeks of cover, by importing region, one panel per material."""
    s = _as_series(ts)
    materials = present_materials(s, "inventory_cover_weeks") or s.materials()
    nrows = max(1, (len(materials) + 1) // 2)
    fig, gs, marks = _start("Inventories in weeks of cover", config, seed, s, nrows,
                            figsize=(10, 3.0 * nrows + 0.9))
    axes = grid_axes(fig, gs, len(materials))
    cover = s.wide("inventory_cover_weeks")
    for ax, m in zip(axes, materials, strict=True):
        wide = cover[m] if not cover.empty and m in cover.columns.get_level_values(0) else pd.DataFrame()
        regions = _importers(s, m) or [c for c in wide.columns if c != "CN"]  # no demand: no meaningful cover
        for r in sort_codes((c for c in regions if c in wide.columns), REGIONS):
            st = region_style(r)
            ax.plot(wide.index, wide[r].to_numpy(), color=st["color"], linestyle=st["linestyle"],
                    label=region_label(r))
        if not ax.lines:
            no_data(ax, "no inventory data")
        ax.set_title(material_label(m))
        ax.set_ylabel("Cover (weeks of need)")
        ax.set_ylim(bottom=0)
        finish_time_axis(ax, s.dates, marks)
    handles, labels = [], []
    for a in axes:
        h, lab = a.get_legend_handles_labels()
        handles += h
        labels += lab
    figure_legend(fig, handles, labels)
    return fig


def licence_figure(ts: pd.DataFrame | Series, config: dict[str, Any] | Scenario, *, seed: Any = None) -> Figure:
    """Licence applications, decisions, backlog, waiting times and approval share."""
    s = _as_series(ts)
    fig, gs, marks = _start("Chinese export licensing", config, seed, s, 2, figsize=(10, 6.8))
    ax_flow = fig.add_subplot(gs[0, 0])
    ax_back = fig.add_subplot(gs[0, 1])
    ax_wait = fig.add_subplot(gs[1, 0])
    ax_share = fig.add_subplot(gs[1, 1])
    styles = {var: DECISION_STYLE[var] for var in ("licence_applications", "licence_approvals",
                                                    "licence_denials")}
    for var, (label, color, ls) in styles.items():
        y = s.wide(var, [])
        if "value" in y and y["value"].notna().any():
            ax_flow.plot(y.index, rolling_mean(y["value"], NOISY_WINDOW).to_numpy(), color=color,
                         linestyle=ls, label=label)
    if not ax_flow.lines:
        no_data(ax_flow, "no licence applications")
    ax_flow.set_title(f"Applications and decisions, all items ({NOISY_WINDOW}-week average)")
    # approvals and denials are drawn here too: "Applications (per week)" left them without a unit
    ax_flow.set_ylabel("Applications or decisions (per week)")
    ax_flow.set_ylim(bottom=0)

    backlog = s.wide("licence_backlog", ["material"])
    applied = s.wide("licence_applications", ["material"])
    mats = [m for m in present_materials(s, "licence_applications") if applied[m].fillna(0).gt(0).any()]
    for m in mats:
        st = material_style(m)
        kw = {"color": st["color"], "linestyle": st["linestyle"], "label": material_label(m)}
        if m in backlog.columns:
            ax_back.plot(backlog.index, backlog[m].to_numpy(), **kw)
        mean = licence_wait(s, m, window=NOISY_WINDOW)
        if mean.notna().any():
            ax_wait.plot(mean.index, mean.to_numpy(), **kw)
        share = approval_share(s, m, window=NOISY_WINDOW)
        if share.notna().any():
            ax_share.plot(share.index, share.to_numpy(), **kw)
    for ax, text in ((ax_back, "no backlog"), (ax_wait, "no decisions"), (ax_share, "no decisions")):
        if not ax.lines:
            no_data(ax, text)
    ax_back.set_title("Backlog at end of week")
    ax_back.set_ylabel("Pending (applications)")
    ax_back.set_ylim(bottom=0)
    legal_limit_line(ax_wait)
    ax_wait.set_title(f"Mean wait for a decision ({NOISY_WINDOW}-week average)")
    ax_wait.set_ylabel("Wait (calendar days)")
    ax_wait.set_ylim(bottom=0)
    ax_share.set_title(f"Approval share ({NOISY_WINDOW}-week rolling)")
    ax_share.set_ylabel("Approved (% of decisions)")
    ax_share.set_ylim(0, 105)
    for ax in (ax_flow, ax_back, ax_wait, ax_share):
        finish_time_axis(ax, s.dates, marks)
    h1, l1 = ax_flow.get_legend_handles_labels()
    h2, l2 = (ax_back if ax_back.lines else ax_wait).get_legend_handles_labels()
    grouped_legend(fig, [("All items", h1, l1), ("Per material", h2, l2)])
    return fig


def supply_share_figure(ts: pd.DataFrame | Series, config: dict[str, Any] | Scenario, *, seed: Any = None) -> Figure:
    """Where ex-China buyers' material comes from (stacked shares by origin) and its concentration (HHI)."""
    s = _as_series(ts)
    materials = present_materials(s, "flow") or s.materials()
    nrows = max(1, (len(materials) + 1) // 2)
    fig, gs, marks = _start(f"Supply of buyers outside China by origin (share of the last {SHARE_WINDOW} "
                            "weeks' deliveries)", config, seed, s, nrows + 1,
                            figsize=(10, 2.6 * nrows + 3.0), height_ratios=[1] * nrows + [0.9])
    axes = grid_axes(fig, gs, len(materials))
    handles: dict[str, Any] = {}
    ax_hhi = fig.add_subplot(gs[nrows, :])
    for ax, m in zip(axes, materials, strict=True):
        shares = origin_shares(s, m, window=SHARE_WINDOW)
        if shares.empty or shares.shape[1] == 0:
            no_data(ax, "no deliveries")
        else:
            # weeks before the first delivery have no shares: blank, not a stack of 0% rising to 100% in week 1
            shares = shares.where(shares.sum(axis=1) > 0)
            polys = ax.stackplot(shares.index, *[shares[c].to_numpy() for c in shares.columns],
                                 labels=[region_label(c) for c in shares.columns],
                                 colors=[region_style(c)["color"] for c in shares.columns],
                                 hatch=[region_style(c)["hatch"] for c in shares.columns],
                                 edgecolor="white", linewidth=0.3, alpha=0.9)
            for p, c in zip(polys, shares.columns, strict=True):
                handles.setdefault(c, p)
            hhi = hhi_from_shares(shares)
            st = material_style(m)
            ax_hhi.plot(hhi.index, hhi.to_numpy(), color=st["color"], linestyle=st["linestyle"],
                        label=material_label(m))
        ax.set_title(material_label(m))
        ax.set_ylabel("Share of deliveries (%)")
        ax.set_ylim(0, 100)
        ax.margins(x=0)
        finish_time_axis(ax, s.dates, marks)
    if ax_hhi.lines:  # (a legend of nothing warns on stderr, e.g. after `reflow run` of a scenario without demand)
        ax_hhi.legend(loc="lower left", ncol=4, frameon=True, framealpha=0.85, edgecolor="none")
    else:
        no_data(ax_hhi, "no deliveries")
    ax_hhi.set_title("Concentration of origins (HHI of the shares above; 1 = a single origin)")
    ax_hhi.set_ylabel("HHI (0-1)")
    ax_hhi.set_ylim(0, 1.02)
    finish_time_axis(ax_hhi, s.dates, marks)
    order = sort_codes(handles, REGIONS)
    figure_legend(fig, [handles[c] for c in order], [f"Origin: {region_label(c)}" for c in order])
    return fig


def capacity_figure(ts: pd.DataFrame | Series, config: dict[str, Any] | Scenario, *, seed: Any = None) -> Figure:
    """Non-Chinese capacity in operation and under construction, one panel per material."""
    s = _as_series(ts)
    materials = present_materials(s, "alt_capacity") or s.materials()
    nrows = max(1, (len(materials) + 1) // 2)
    fig, gs, marks = _start("Capacity outside China", config, seed, s, nrows, figsize=(10, 3.0 * nrows + 0.9))
    axes = grid_axes(fig, gs, len(materials))
    op = s.wide("alt_capacity", ["material"])
    pipe = s.wide("alt_capacity_pipeline", ["material"])
    for ax, m in zip(axes, materials, strict=True):
        if m in op.columns:
            ax.fill_between(op.index, 0, op[m].to_numpy(), color="#0072B2", alpha=0.25, linewidth=0)
            ax.plot(op.index, op[m].to_numpy(), color="#0072B2", linestyle="-", label="In operation")
        if m in pipe.columns:
            ax.plot(pipe.index, pipe[m].to_numpy(), color="#E69F00", linestyle="--",
                    label="Under construction")
        if not ax.lines:
            no_data(ax, "no capacity data")
        elif not above_zero(ax):
            no_data(ax, "no capacity outside China")
        ax.set_title(material_label(m))
        ax.set_ylabel("Capacity (t/year)")
        ax.set_ylim(bottom=0)
        thousands(ax)
        finish_time_axis(ax, s.dates, marks)
    h, lab = axes[0].get_legend_handles_labels() if axes else ([], [])
    figure_legend(fig, h, lab)
    return fig


FigureFn = Callable[..., Figure]

# name -> (function, one sentence for reports and the gallery)
RUN_FIGURES: dict[str, tuple[FigureFn, str]] = {
    "prices": (price_figure, "Prices per material: China's domestic price against what buyers outside China "
               "pay on average (VWAP) and the marginal ask of their spot markets; vertical lines mark policy "
               "milestones."),
    "shortages": (shortage_figure, "Material importing regions needed but could not get (stacked by region), "
                  "and the share of planned manufacturing output each region lost as a result."),
    "inventories": (inventory_figure, "Manufacturers' stocks expressed as weeks of their current need; "
                    "a fall towards zero precedes lost production."),
    "licences": (licence_figure, "China's licensing queue: applications and decisions per week, the "
                 "backlog, the average wait against the 45-working-day limit, and the approval share."),
    "supply_shares": (supply_share_figure, "Where buyers outside China get their material, as shares of "
                      "deliveries by producing origin, and how concentrated that supply is (HHI)."),
    "capacity": (capacity_figure, "Non-Chinese capacity in operation and under construction."),
    "flows": (flow_figure, "Tonnes delivered from each producing origin (rows) to each destination (columns) "
              "over the period named in the title."),
}


def quick_figures(timeseries: pd.DataFrame, config: dict[str, Any] | Scenario, out_dir: Path, *,
                  seed: int | None = None, workers: int | None = None) -> list[Path]:
    """The quick-look PNGs `reflow run` writes into `<run>/figures/` (prices, shortages, licences, shares).

    Written atomically at a modest resolution with fixed margins, in parallel forked processes where
    available (as `plot` draws), so the call takes well under a second on two cores. (`reflow run` draws them
    with `reflow.plotting.quick.draw_quick_figures`, in workers it starts before simulating.)

    Args:
        timeseries: the run's tidy time series.
        config: the resolved scenario: config.json's dict, or a `Scenario`.
        out_dir: the folder to write into.
        seed: the run's seed, for the captions (left out when not given: the config's seed may not be it).
        workers: processes drawing at once (default: the CPU count, at most 4; 1 draws here).

    Returns:
        The PNG paths written, in the order of `QUICK`.
    """
    out_dir = Path(out_dir)
    s = Series(timeseries)
    order = draw_order()
    done = fork_map(lambda i: _draw_quick(order[i], s, config, out_dir, seed), len(order), workers)
    return in_quick_order(order, done)


def _draw_quick(name: str, s: Series, config: dict[str, Any], out_dir: Path, seed: int | None) -> list[Path]:
    token = FAST_LAYOUT.set(True)
    try:
        with matplotlib.rc_context(rc_params()):
            fig = RUN_FIGURES[name][0](s, config, seed=seed)
            return save_figure(fig, out_dir, name, formats=("png",), dpi=100)
    finally:
        FAST_LAYOUT.reset(token)


_SERIES_CACHE: dict[Path, Series] = {}  # in a pool's worker: the run it draws, read once for all its figures


def draw_quick_from(name: str, parquet: Path, config: dict[str, Any], out_dir: Path,
                    seed: int | None) -> list[Path]:
    """One quick-look figure of the run in `parquet` (the task `draw_quick_figures` sends its workers)."""
    if parquet not in _SERIES_CACHE:
        from reflow.plotting.load import read_timeseries

        _SERIES_CACHE.clear()
        _SERIES_CACHE[parquet] = Series(read_timeseries(parquet))
    return _draw_quick(name, _SERIES_CACHE[parquet], config, out_dir, seed)
