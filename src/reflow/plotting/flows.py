"""Trade-flow matrices: tonnes from each producing origin (rows) to each destination (columns), per period."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from reflow.plotting._frames import Series, flow_matrix, present_materials
from reflow.plotting.layout import config_dict, new_figure, no_data, scenario_caption
from reflow.plotting.style import MATERIALS, REGIONS, material_label, region_label, sort_codes

if TYPE_CHECKING:
    from reflow.config import Scenario

__all__ = ["flow_figure", "flow_matrix_figure", "parse_period", "period_text"]


def parse_period(period: str | tuple[Any, Any] | None) -> tuple[date | None, date | None]:
    """`"2025-04-01:2026-03-31"` (either side may be empty) to a pair of dates.

    Raises:
        ValueError: not START:END, or a side is not a date.
    """
    if period is None:
        return None, None
    if isinstance(period, str):
        if ":" not in period:
            raise ValueError(f"period {period!r} should look like START:END, e.g. 2025-04-01:2026-03-31")
        a, b = period.split(":", 1)
        period = (a.strip() or None, b.strip() or None)
    try:
        lo, hi = (pd.Timestamp(x).date() if x not in (None, "") else None for x in period)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"period {period!r}: {exc}; use dates like 2025-04-01:2026-03-31") from None
    if lo is not None and hi is not None and hi < lo:
        raise ValueError(f"period {period!r} ends before it starts")
    return lo, hi


def period_text(dates: pd.DatetimeIndex) -> str:
    """"07 Apr 2025 to 30 Mar 2026": the weeks a flow matrix covers (each week runs Monday to Sunday)."""
    if not len(dates):
        return "empty period"
    return f"{dates.min():%d %b %Y} to {dates.max() + pd.Timedelta(days=6):%d %b %Y}"


def _fmt_tonnes(v: float) -> str:
    if v >= 10_000:
        return f"{v / 1000:.0f}k"
    if v >= 1000:
        return f"{v / 1000:.1f}k"
    if v >= 10:
        return f"{v:.0f}"
    if v >= 0.05:
        return f"{v:.1f}"
    return "<0.1"


def _plain_log_ticks(axis: Any) -> None:
    """Decades labelled like the cells (1, 10, 100, 1k, 10k), unlabelled ticks at 2 and 5 between.

    Plainer than powers of ten, and without the default's eight minor ticks a decade (each a tick object to
    create and measure at every draw).
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"))
    axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
    axis.set_minor_formatter(NullFormatter())


def flow_matrix_figure(matrices: dict[str, pd.DataFrame], dates: pd.DatetimeIndex, caption: str,
                       unit: str = "Delivered in period (t)") -> Figure:
    """Origin x destination matrices, one panel per material, cells labelled with tonnes.

    Args:
        matrices: material -> origins (rows) x destinations (columns), in tonnes.
        dates: the weeks covered (for the title).
        caption: second title line.
        unit: colour-bar label.
    """
    materials = [m for m in sort_codes(matrices, MATERIALS) if not matrices[m].empty]
    nrows = max(1, (len(materials) + 1) // 2)
    fig, gs = new_figure(f"Trade flows by origin and destination, {period_text(dates)}",
                         caption + "; China's own market left out", nrows, 2, figsize=(10, 3.4 * nrows + 0.8))
    cmap = matplotlib.colormaps["cividis"]
    if not materials:
        ax = fig.add_subplot(gs[0, :])
        no_data(ax, "no trade flows in this period")
        ax.set_title("No flows")
        ax.set_xlabel("Destination")
        ax.set_ylabel("Origin")
        return fig
    for i, m in enumerate(materials):
        ax = fig.add_subplot(gs[i // 2, i % 2])
        mat = matrices[m]
        origins = sort_codes((str(o) for o in mat.index if mat.loc[o].sum() > 0), REGIONS)
        dests = sort_codes((str(d) for d in mat.columns if mat[d].sum() > 0), REGIONS)
        mat = mat.reindex(index=origins, columns=dests).fillna(0.0)
        values = mat.to_numpy(dtype=float)
        vmax = float(values.max()) if values.size else 0.0
        if vmax <= 0:
            no_data(ax, "no flows")
        else:
            positive = values[values > 0]
            norm = (LogNorm(vmin=max(positive.min(), vmax / 1e4), vmax=vmax) if vmax / positive.min() > 50
                    else Normalize(vmin=0, vmax=vmax))
            im = ax.imshow(np.ma.masked_less_equal(values, 0), cmap=cmap, norm=norm, aspect="auto")
            ax.set_facecolor("#F2F2F2")
            ax.grid(False)
            for (r, c), v in np.ndenumerate(values):
                if v > 0:
                    shade = cmap(norm(v))
                    lum = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2]
                    ax.text(c, r, _fmt_tonnes(v), ha="center", va="center", fontsize=7,
                            color="black" if lum > 0.5 else "white")
                elif not origins[r] == dests[c] == "CN":
                    # Nothing delivered reads "0": a blank grey cell looked like the China-to-China cell, which
                    # is left out (and stays blank), or like missing data (baseline's US Dy row).
                    ax.text(c, r, "0", ha="center", va="center", fontsize=7, color="#555555")
            # cells under a log scale's floor take its colour: the bar's arrow says so (their labels are exact)
            clipped = isinstance(norm, LogNorm) and positive.min() < norm.vmin
            cb = fig.colorbar(im, ax=ax, shrink=0.9, extend="min" if clipped else "neither")
            cb.set_label(unit)
            if isinstance(norm, LogNorm):
                _plain_log_ticks(cb.ax.yaxis)
        ax.set_xticks(range(len(dests)), [region_label(d) for d in dests], rotation=30, ha="right")
        ax.set_yticks(range(len(origins)), [region_label(o) for o in origins])
        ax.set_xlabel("Destination")
        ax.set_ylabel("Origin")
        ax.set_title(material_label(m))
    return fig


def flow_figure(ts: pd.DataFrame | Series, config: dict[str, Any] | Scenario, *, seed: Any = None,
                period: str | tuple[Any, Any] | None = None) -> Figure:
    """Trade flow matrices of one run: tonnes delivered from each origin (rows) to each destination (columns).

    Args:
        ts: the run's time series.
        config: the resolved config (config.json's dict, or a `Scenario`).
        seed: shown in the caption.
        period: `(start, end)` dates or `"START:END"`; default the whole run.
    """
    s = ts if isinstance(ts, Series) else Series(ts)
    lo, hi = parse_period(period)
    start = pd.Timestamp(lo) if lo is not None else None
    end = pd.Timestamp(hi) if hi is not None else None
    inside = s.dates
    if start is not None:
        inside = inside[inside >= start]
    if end is not None:
        inside = inside[inside <= end]
    matrices = {m: flow_matrix(s, m, start, end) for m in present_materials(s, "flow")}
    return flow_matrix_figure(matrices, inside, scenario_caption(config_dict(config), seed))
