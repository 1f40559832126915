"""Scaffolding shared by every reflow figure: title block, panel grid, time axes, legends, empty panels."""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from reflow.metrics import SHORTAGE_WEEK_THRESHOLD
from reflow.plotting.style import format_date_axis
from reflow.plotting.timeline import PolicyMark, mark_policy, number_marks, policy_key

__all__ = [
    "FAST_LAYOUT",
    "LEGAL_LIMIT_DAYS",
    "above_zero",
    "config_dict",
    "figure_legend",
    "finish_time_axis",
    "grid_axes",
    "grouped_legend",
    "legal_limit_line",
    "legend_columns",
    "new_figure",
    "no_data",
    "scenario_caption",
    "shortage_threshold_line",
    "time_marks",
]

# China's legal review limit is 45 working days, about 63 calendar days.
LEGAL_LIMIT_DAYS = 63

# Constrained layout costs about half of the drawing time; the quick-look figures written after every run use
# fixed margins instead so that `reflow run` stays fast.
FAST_LAYOUT: ContextVar[bool] = ContextVar("reflow_fast_layout", default=False)

_KEY_LINE_IN = 0.13  # height of one line of the policy key (7 pt text)
_CAPTION_CHARS_PER_IN = 14  # characters of the 8.5 pt caption per inch of figure width (DejaVu Sans, with margin)
_CAPTION_LINE_IN = 0.15  # height of one more caption line
_LEGEND_CHAR_PT, _LEGEND_ENTRY_PT = 4.4, 40.0  # an 8 pt legend entry: per character, and handle plus spacing


def config_dict(config: Any) -> dict[str, Any]:
    """The resolved config as the figures read it, config.json's dict, also from a `Scenario` (what
    `reflow.run` returns as ``result.config``)."""
    dump = getattr(config, "model_dump", None)
    return dump(mode="json") if callable(dump) else config


def scenario_caption(config: dict[str, Any], seed: Any = None) -> str:
    """"controls_2025, seed 1" style caption for figure titles.

    The seed comes from the caller (the run's manifest): the resolved config's `scenario.seed` is only the
    default a `--seed` overrides, so it is never shown in its place.
    """
    name = (config.get("scenario") or {}).get("name") or "scenario"
    return f"{name}, seed {seed}" if seed is not None else str(name)


def time_marks(marks: Sequence[PolicyMark], dates: pd.DatetimeIndex, ncols: int = 2) -> list[PolicyMark]:
    """Policy milestones for a figure of `ncols` panels across, numbered when labels would crowd."""
    return number_marks(marks, dates, panel_width_in=8.8 / ncols)


def new_figure(title: str, caption: str, nrows: int, ncols: int, *, figsize: tuple[float, float] = (10, 6.6),
               height_ratios: Sequence[float] | None = None, marks: Sequence[PolicyMark] = (),
               ) -> tuple[Figure, Any]:
    """A figure with a bold title, a one-line caption, the policy key if `marks` are numbered, and a grid.

    Returns:
        The figure and its GridSpec.
    """
    key = policy_key(marks)
    key_lines = key.count("\n") + 1 if key else 0
    key_h = key_lines * _KEY_LINE_IN + (0.08 if key else 0.0)
    w, h = figsize
    # A comparison's caption names every scenario (and a label of the keys that differ): on one line it ran off
    # both edges of the figure, so it wraps, and the key and the panels move down by the lines it adds.
    lines = textwrap.wrap(caption, int(w * _CAPTION_CHARS_PER_IN), break_long_words=False,
                          break_on_hyphens=False) or [caption]
    caption = "\n".join(lines)
    cap_h = (len(lines) - 1) * _CAPTION_LINE_IN
    h += key_h + cap_h
    if FAST_LAYOUT.get():
        fig = Figure(figsize=(w, h))
        # fixed margins in inches: y labels and region names on the left, colour-bar ticks on the right
        gs = fig.add_gridspec(nrows, ncols, height_ratios=height_ratios, left=1.15 / w, right=1 - 0.55 / w,
                              top=1 - (0.95 + key_h + cap_h) / h, bottom=0.75 / h, hspace=0.5, wspace=0.22)
    else:
        fig = Figure(figsize=(w, h), layout="constrained")
        gs = fig.add_gridspec(nrows, ncols, height_ratios=height_ratios)
    # Blank title lines reserve room for the caption and the key: layouts keep axes clear of the title.
    blank = 1 + int((key_h + cap_h) / 0.2 + 0.999)
    if FAST_LAYOUT.get():  # pinned under the top edge; constrained layout places (and makes room for) it
        fig.suptitle(title + "\n" * blank, fontsize=12, fontweight="bold", y=1 - 0.08 / h, va="top")
    else:
        fig.suptitle(title + "\n" * blank, fontsize=12, fontweight="bold")
    fig.text(0.5, 1 - 0.3 / h, caption, ha="center", va="top", fontsize=8.5, color="#444444")
    if key:
        fig.text(0.5, 1 - (0.5 + cap_h) / h, key, ha="center", va="top", fontsize=7, color="#222222",
                 linespacing=1.25)
    return fig, gs


def finish_time_axis(ax: Any, dates: pd.DatetimeIndex, marks: Sequence[PolicyMark], *,
                     labels: bool = True) -> None:
    """Calendar x axis clipped to the run, with policy milestones marked."""
    if len(dates):
        ax.set_xlim(dates.min(), dates.max())
        format_date_axis(ax, dates.min(), dates.max())
    else:
        format_date_axis(ax)
    mark_policy(ax, marks, labels=labels)


def above_zero(ax: Any) -> bool:
    """Whether any line or filled area (a 5-95% band) drawn on `ax` rises above zero: lines along the axis itself
    read as an empty panel, which should say why.

    The band counts: a median of zero with shortages in a few seeds is not "no shortage".
    """
    if any(np.nanmax(line.get_ydata(), initial=0) > 0 for line in ax.lines):
        return True
    return any(np.nanmax(p.vertices[:, 1], initial=0) > 0
               for c in ax.collections if isinstance(c, PolyCollection) for p in c.get_paths())


def no_data(ax: Any, text: str, y: float = 0.45) -> None:
    """Say so on the panel: an empty panel reads as a bug, a labelled one as a finding (`y`: height in the axes)."""
    ax.text(0.5, y, text, transform=ax.transAxes, ha="center", va="center", fontsize=8.5, color="#444444",
            zorder=6, bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#BBBBBB"})


def legal_limit_line(ax: Any) -> None:
    """The 45-working-day legal review limit as a labelled line (label on the left, clear of policy marks)."""
    ax.axhline(LEGAL_LIMIT_DAYS, color="#666666", linestyle=(0, (4, 2)), linewidth=1)
    # room above the line for its label, under the policy marks at the top of the axis (call after the data)
    ax.set_ylim(top=max(ax.get_ylim()[1], LEGAL_LIMIT_DAYS * 1.2))
    ax.annotate("legal limit: 45 working days", (0.01, LEGAL_LIMIT_DAYS), xycoords=("axes fraction", "data"),
                ha="left", va="bottom", fontsize=7, color="#444444")


def shortage_threshold_line(ax: Any, threshold: pd.Series | None, any_week_short: bool) -> None:
    """The level of shortage above which the summary counts a week "in shortage", as a labelled line (call after
    the data).

    Where no week rose above it, the panel says so and is scaled to show the line: scaled to its own data, a
    shortage of a few kilograms a week fills the panel as a crisis would.

    Args:
        ax: a shortage panel (t/week over dates).
        threshold: `SHORTAGE_WEEK_THRESHOLD` of ex-China demand, t/week by date (None or all NaN: no line).
        any_week_short: whether any week was in shortage (`reflow.metrics.in_shortage`; over seeds, in any run).
    """
    if threshold is None or not threshold.notna().any() or not threshold.max() > 0:
        return
    ax.plot(threshold.index, threshold.to_numpy(), color="#666666", linestyle=(0, (4, 2)), linewidth=0.9,
            zorder=4)
    if not any_week_short:
        ax.set_ylim(0, threshold.max() * 1.6)
        no_data(ax, f"no week in shortage (over {SHORTAGE_WEEK_THRESHOLD:.0%} of demand)", y=0.82)  # above the line
    # labelled at the right end, clear of the line there: the policy marks crowd the left, where controls begin
    known = threshold.dropna()
    tail = known.iloc[int(len(known) * 0.8):]
    ax.annotate(f"{SHORTAGE_WEEK_THRESHOLD:.0%} of demand", (0.99, float(tail.max())),
                xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=7, color="#444444")


def figure_legend(fig: Figure, handles: list[Any], labels: list[str], ncol: int | None = None) -> None:
    """One legend for the whole figure, below the panels (duplicates by label dropped)."""
    uniq = dict(zip(labels, handles, strict=True))
    if uniq:
        loc = "lower center" if fig.get_layout_engine() is None else "outside lower center"
        fig.legend(list(uniq.values()), list(uniq.keys()), loc=loc, ncol=ncol or min(len(uniq), 6))


def legend_columns(labels: Sequence[str], width_in: float, most: int = 6) -> int:
    """Columns of a figure legend whose entries fit across `width_in` inches, at most `most`.

    Scenario labels of a comparison can be long (`controls_2025 [approval_rate=0.4, weeks=60]`): three of them on
    one row ran off both edges of the figure. A label's widest line counts (labels may be wrapped).
    """
    uniq = list(dict.fromkeys(labels))
    for ncol in range(min(len(uniq), most), 1, -1):
        # as matplotlib splits them: the first len % ncol columns take one entry more
        sizes = [len(uniq) // ncol + (i < len(uniq) % ncol) for i in range(ncol)]
        starts = np.cumsum([0, *sizes])
        cols = [uniq[a:b] for a, b in itertools.pairwise(starts)]
        need = sum(max(len(line) for x in c for line in x.split("\n")) * _LEGEND_CHAR_PT + _LEGEND_ENTRY_PT
                   for c in cols if c) / 72
        if need <= width_in * 0.95:
            return ncol
    return 1


def grouped_legend(fig: Figure, groups: Sequence[tuple[str, list[Any], list[str]]]) -> None:
    """One legend below the panels with a row per group, headed by its name ("All items:", "Per material:").

    For figures whose panels draw different kinds of line: the licensing figure's one row of "Applications,
    Approvals, Denials, Dy oxide, Tb oxide, NdFeB magnets" left a reader to guess that the first three belong
    to one panel and the materials to the other three (and Denials beside Dy oxide, vermillion and orange).
    """
    from matplotlib.lines import Line2D

    rows = [(title, dict(zip(labels, handles, strict=True))) for title, handles, labels in groups]
    rows = [(title, uniq) for title, uniq in rows if uniq]
    if len(rows) < 2:  # one kind of line: no heading needed
        figure_legend(fig, [h for _t, u in rows for h in u.values()], [lab for _t, u in rows for lab in u])
        return
    ncol = 1 + max(len(u) for _t, u in rows)
    cells = []
    for title, uniq in rows:
        row = [(Line2D([], [], linestyle="none"), f"{title}:"), *((h, lab) for lab, h in uniq.items())]
        cells.append(row + [(Line2D([], [], linestyle="none"), "")] * (ncol - len(row)))
    # a legend fills its columns top to bottom: column-major order puts each group on a row of its own
    order = [cells[r][c] for c in range(ncol) for r in range(len(cells))]
    loc = "lower center" if fig.get_layout_engine() is None else "outside lower center"
    legend = fig.legend([h for h, _ in order], [lab for _, lab in order], loc=loc, ncol=ncol,
                        handlelength=2.0, columnspacing=1.2)
    heads = {f"{title}:" for title, _u in rows}
    for text in legend.get_texts():
        if text.get_text() in heads:
            text.set_fontweight("bold")


def grid_axes(fig: Figure, gs: Any, n: int, ncols: int = 2, share: Any = None) -> list[Any]:
    """`n` panels filled row by row into the grid, sharing the x axis."""
    axes = []
    for i in range(n):
        ax = fig.add_subplot(gs[i // ncols, i % ncols], sharex=share)
        axes.append(ax)
    return axes
