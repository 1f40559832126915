"""Figures of a sweep: a metric over two parameters (heatmap), response curves with confidence bands over one
parameter, and Sobol'/Morris sensitivity bars.

Only the runs table is read (one row per run, only the columns a figure needs): no time series, so a sweep of
thousands of runs plots in seconds and in little memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reflow.domain import MATERIALS, REGIONS
from reflow.errors import ResultReadError
from reflow.experiment.outputs import HEADLINE_METRICS
from reflow.plotting.layout import new_figure, no_data
from reflow.plotting.style import material_label, region_label, scenario_style
from reflow.report_text import MULTIPLE_UNIT

if TYPE_CHECKING:
    from reflow.plotting.load import SweepResult

__all__ = [
    "default_metrics",
    "metric_label",
    "sensitivity_figure",
    "sensitivity_table",
    "sweep_heatmap",
    "sweep_response",
]

FAILED_STATUSES = frozenset({"error", "failed", "crashed", "timeout"})
_METRIC_TEXT: dict[str, tuple[str, str, float]] = {  # last key segment -> (words, unit, scale)
    "peak_price_multiple": ("peak ex-China price", MULTIPLE_UNIT, 1.0),
    "peak_price_multiple_by_region": ("peak ex-China price", MULTIPLE_UNIT, 1.0),
    "production_lost_share_by_region": ("production lost", "% of planned output", 100.0),
    "weeks_in_shortage": ("weeks in shortage", "weeks", 1.0),
    "cumulative_shortage_share": ("cumulative shortage", "% of demand", 100.0),
    "final_non_china_share": ("non-Chinese share at the end", "% of deliveries", 100.0),
    "time_to_recover_weeks": ("time to recover", "weeks", 1.0),
    "recovered": ("recovered by the end", "% of runs", 100.0),  # a run's true/false, averaged over runs
    "production_lost_share": ("production lost", "% of planned output", 100.0),
    "peak_production_lost_share": ("production lost in the worst 4 weeks", "% of planned output", 100.0),
    "approval_share": ("approval share", "% of decisions", 100.0),
    "mean_licence_wait_days": ("mean licence wait", "calendar days", 1.0),  # (a review is in working days)
    "licence_applications": ("licence applications", "applications", 1.0),
}
# Large-sample t quantiles are close enough for >= 30 replicates; scipy gives the exact ones below that.
_Z95 = 1.959964


def metric_label(metric: str, with_unit: bool = True) -> str:
    """`dy_oxide.peak_price_multiple` -> `Dy oxide: peak ex-China price (x first 13 weeks)`."""
    words, unit, _ = metric_text(metric)
    return f"{words} ({unit})" if with_unit and unit else words


def metric_text(metric: str) -> tuple[str, str, float]:
    """(words, unit, scale) of a flattened summary metric; shares are shown in % (scale 100)."""
    parts = metric.split(".")
    head = "overall" if parts[0] == "overall" else material_label(parts[0])
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] in _METRIC_TEXT:
            words, unit, scale = _METRIC_TEXT[parts[i]]
            tail = ", ".join(region_label(t) for t in parts[i + 1:])  # the region of `..._by_region.US`
            name = words + (f" in {tail}" if tail else "")
            return (name[0].upper() + name[1:] if head == "overall" else f"{head}: {name}"), unit, scale
    return metric, "", 1.0


def default_metrics(sweep: SweepResult, limit: int = 4) -> list[str]:
    """The metrics the sweep asked for (`[outputs] metrics`), else well-known headline metrics it holds."""
    outputs = sweep.spec.get("outputs") if isinstance(sweep.spec.get("outputs"), dict) else {}
    asked = [m for m in (outputs or {}).get("metrics", []) if m in sweep.columns]
    found = asked or [m for m in HEADLINE_METRICS if m in sweep.columns] or sweep.metrics
    return list(dict.fromkeys(found))[:limit]


def _ok_runs(sweep: SweepResult, columns: Sequence[str]) -> tuple[pd.DataFrame, int]:
    missing = [c for c in columns if c not in sweep.columns]
    if missing:
        raise ResultReadError(f"{sweep.path}: the runs table has no column(s) {', '.join(missing)}; "
                              f"parameters: {', '.join(sweep.parameters) or 'none'}; "
                              f"metrics: {', '.join(sweep.metrics[:8]) or 'none'}")
    df = sweep.runs([*columns, "status"])
    failed = df["status"].isin(FAILED_STATUSES)
    return df[~failed], int(failed.sum())


def _failed_only(sweep: SweepResult, keys: Sequence[str]) -> pd.DataFrame:
    """The combinations of `keys` (design values, not bins) whose every run failed: no mean, but part of the
    design, so a figure shows them as failed rather than leaving them off its axes."""
    df = sweep.runs([*keys, "status"])
    ok = ~df["status"].isin(FAILED_STATUSES)
    combos = df.assign(_ok=ok).groupby(list(keys), observed=True, dropna=False)["_ok"].any()
    return combos[~combos].reset_index()[list(keys)]


def _t95(n: np.ndarray) -> np.ndarray:
    from scipy.stats import t

    n = np.asarray(n, dtype=float)
    out = np.full(n.shape, np.nan)
    ok = n >= 2
    out[ok] = t.ppf(0.975, n[ok] - 1)
    return out


_MAX_LEVELS = 12  # distinct values of a parameter drawn as they are (a grid); more are binned if numbers


def _many_values(values: pd.Series) -> bool:
    """Whether a parameter has more distinct values than a figure's axis shows one by one (`_binned`)."""
    return values.nunique() > _MAX_LEVELS


def _binned(values: pd.Series, bins: int = 8) -> pd.Series:
    """The values themselves when there are few distinct ones (a grid), else the mean of quantile bins."""
    if not _many_values(values) or not pd.api.types.is_numeric_dtype(values):
        return values
    codes = pd.qcut(values, q=bins, duplicates="drop")
    return values.groupby(codes, observed=True).transform("mean")


# Sweep parameters in words and units (docs/parameters.md), by the key's last known segment; a key not listed
# here is shown as it is written in the sweep file.
_PARAM_TEXT: dict[str, tuple[str, str]] = {
    "approval_rate": ("licence approval rate", "share of applications, 0-1"),
    "listed_approval_rate": ("approval rate of listed entities", "share of applications, 0-1"),
    "review_working_days_median": ("median licence review time", "working days"),
    "return_probability": ("files returned for more information", "share of decisions, 0-1"),
    "front_load_weeks": ("front-loading ahead of a control", "weeks of cover"),
    "cover_target_weeks": ("stock cover target", "weeks of need"),
    "wtp_convexity": ("steepness of bids as cover falls", "exponent"),
    "wtp_cap_multiple": ("highest bid", "x reference price"),
    "diversify_disruption_weight": ("pull of disruption towards non-Chinese supply", "weight"),
    "maker_relationship_share": ("makers' output under supply relationships", "share, 0-1"),
    "bom": ("input per tonne of output", "t/t"),
}


def param_text(key: str) -> tuple[str, str]:
    """(words, unit) of a sweep parameter: `policy.controls.approval_rate` -> ('Licence approval rate', 'share
    of applications, 0-1'); `manufacturers.cover_target_weeks.magnet` names its sector too; (key, '') if unknown.
    """
    parts = key.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in _PARAM_TEXT:
            words, unit = _PARAM_TEXT[parts[i]]
            tail = [material_label(t) if t in MATERIALS else region_label(t) if t in REGIONS else t
                    for t in parts[i + 1:]]
            name = ", ".join([words, *tail])
            return name[0].upper() + name[1:], unit
    return key, ""


def param_label(key: str, *, with_key: bool = True) -> str:
    """An axis label: the parameter in words with its unit, and (`with_key`) the key path a sweep file sets."""
    words, unit = param_text(key)
    if words == key:
        return key
    text = f"{words} ({unit})" if unit else words
    return f"{text}\n{key}" if with_key else text


def _legend_title(key: str) -> str:
    text = param_label(key, with_key=False)
    return f"{text}, {key} (mean, 95% CI)" if text != key else f"{key} (mean, 95% CI)"


def _short_key(key: str) -> str:
    """A parameter for titles: its words (`licence approval rate`), or the key's last segment if unknown."""
    words, _ = param_text(key)
    return words[0].lower() + words[1:] if words != key else key.rsplit(".", 1)[-1]


def _common_prefix(keys: Sequence[str]) -> tuple[str, list[str]]:
    """The dotted prefix all key paths share (`manufacturers.`) and the keys without it; ('', keys) if none."""
    parts = [k.split(".") for k in keys]
    n = 0
    while parts and all(len(p) > n + 1 and p[n] == parts[0][n] for p in parts):
        n += 1
    if n == 0 or len(keys) < 2:
        return "", list(keys)
    return ".".join(parts[0][:n]) + ".", [".".join(p[n:]) for p in parts]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _cell_decimals(values: np.ndarray) -> int:
    """Decimals giving the grid's largest value three significant figures, the same for every cell (cells read
    "4.51" beside "4" and "3.9" with three significant figures each)."""
    top = float(np.nanmax(np.abs(values), initial=0.0))
    if not np.isfinite(top) or top == 0 or top >= 1000:
        return 0
    return int(min(4, max(0, 2 - np.floor(np.log10(top)))))


def _cell_text(v: float, decimals: int) -> str:
    return f"{v:,.{decimals}f}"


def sweep_heatmap(sweep: SweepResult, metric: str, x: str, y: str) -> Figure:
    """Mean of a metric over two parameters (continuous designs are binned), cells labelled with the value."""
    df, failed = _ok_runs(sweep, [x, y, metric])
    words, unit, scale = metric_text(metric)
    df = df.assign(_x=_binned(df[x]), _y=_binned(df[y]),
                   _v=pd.to_numeric(df[metric], errors="coerce") * scale)
    grid = df.pivot_table(index="_y", columns="_x", values="_v", aggfunc="mean")
    binned_axes = _many_values(df[x]) or _many_values(df[y])  # bin means are not design values
    lost = _failed_only(sweep, [x, y]) if failed and not binned_axes else pd.DataFrame(columns=[x, y])
    if len(lost):  # cells whose runs all failed stay on the axes, marked, rather than vanishing
        grid = grid.reindex(index=sorted({*grid.index, *lost[y]}), columns=sorted({*grid.columns, *lost[x]}))
    grid = grid.sort_index().sort_index(axis=1)
    counts = df.pivot_table(index="_y", columns="_x", values="_v", aggfunc="count").to_numpy(dtype=float)
    counts = counts[np.isfinite(counts) & (counts > 0)]  # a sparse binned design leaves cells empty (NaN)
    binned = any(not df[p].equals(df[b]) for p, b in ((x, "_x"), (y, "_y")))
    if not counts.size:  # no run has a value: the axis says so
        per_cell = ""
    elif counts.min() == counts.max():  # a binned cell's runs are different points, not replicates of one
        n = int(counts.max())
        per_cell = f"mean over {n} {'run' if binned else 'replicate'}{'s' if n != 1 else ''} per cell, "
    else:
        per_cell = f"mean over {int(counts.min())}-{int(counts.max())} runs per cell, "
    caption = (f"sweep {sweep.name}: {per_cell}{len(df)} runs"
               + (f", {failed} failed runs left out" if failed else "")
               + (f"; {len(lost)} cell(s) marked 'failed' have no successful run" if len(lost) else ""))
    fig, gs = new_figure(metric_label(metric), caption, 1, 1, figsize=(7.5, 5.6))
    ax = fig.add_subplot(gs[0, 0])
    if grid.empty or not np.isfinite(grid.to_numpy(dtype=float)).any():
        no_data(ax, f"no successful run has a value of {metric}")
    else:
        cmap = matplotlib.colormaps["cividis"]
        data = np.ma.masked_invalid(grid.to_numpy(dtype=float))
        im = ax.imshow(data, cmap=cmap, origin="lower", aspect="auto")
        ax.grid(False)
        lo, hi = float(data.min()), float(data.max())
        decimals = _cell_decimals(grid.to_numpy(dtype=float))
        lost_cells = {(grid.index.get_loc(b), grid.columns.get_loc(a)) for a, b in zip(lost[x], lost[y], strict=True)}
        for r, c in lost_cells:
            ax.text(c, r, "failed", ha="center", va="center", fontsize=8, color="0.35", style="italic")
        for (r, c), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if np.isfinite(v):
                shade = cmap((v - lo) / (hi - lo) if hi > lo else 0.5)
                lum = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2]
                ax.text(c, r, _cell_text(v, decimals), ha="center", va="center", fontsize=8,
                        color="black" if lum > 0.5 else "white")
        cb = fig.colorbar(im, ax=ax, shrink=0.9)
        cb.set_label(f"{words} ({unit})" if unit else words)
        ax.set_xticks(range(grid.shape[1]), [_fmt(v) for v in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [_fmt(v) for v in grid.index])
    ax.set_xlabel(param_label(x) + (" (bin means)" if _many_values(df[x]) else ""))
    ax.set_ylabel(param_label(y) + (" (bin means)" if _many_values(df[y]) else ""))
    ax.set_title(f"by {_short_key(x)} (across) and {_short_key(y)} (up)")
    return fig


def response_table(df: pd.DataFrame, metric: str, x: str, by: str | None = None, scale: float = 1.0,
                   ) -> pd.DataFrame:
    """Mean, 95% confidence interval and count of a metric per value of `x` (and of `by`)."""
    keys = ["_x"] + (["_by"] if by else [])
    d = df.assign(_x=_binned(df[x]), _v=pd.to_numeric(df[metric], errors="coerce") * scale)
    if by:
        d = d.assign(_by=d[by])
    g = d.dropna(subset=["_v"]).groupby(keys, observed=True)["_v"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    half = _t95(out["count"].to_numpy()) * out["std"].to_numpy() / np.sqrt(out["count"].clip(lower=1))
    return out.assign(lo=out["mean"] - half, hi=out["mean"] + half)


def sweep_response(sweep: SweepResult, metrics: Sequence[str], x: str, by: str | None = None) -> Figure:
    """Response curves: the mean of each metric over one parameter with its 95% confidence band.

    Args:
        sweep: the sweep.
        metrics: one panel each (up to six).
        x: the parameter on the x axis.
        by: a second parameter with a few values drawn as separate lines; otherwise the curve averages over
            every other parameter.
    """
    metrics = list(metrics)[:6]
    df, failed = _ok_runs(sweep, [x, *metrics, *([by] if by else [])])
    ncols = 2 if len(metrics) > 1 else 1
    nrows = max(1, (len(metrics) + ncols - 1) // ncols)
    per = df.groupby(_binned(df[x]) if by is None else [_binned(df[x]), df[by]], observed=True).size()
    reps = int(per.median()) if len(per) else 0
    others = [p for p in sweep.parameters if p not in (x, by)]
    lost = _failed_only(sweep, [x]) if failed and not _many_values(df[x]) else pd.DataFrame(columns=[x])
    caption = (f"sweep {sweep.name}: mean and 95% confidence interval over runs"
               + (f" (about {reps} per point)" if reps else "")
               + (f", averaged over {', '.join(others)}" if others else "")
               + (f"; {failed} failed runs left out" if failed else "")
               + (f"; no successful run at {_short_key(x)} = {', '.join(_fmt(v) for v in sorted(lost[x]))}"
                  if len(lost) else ""))
    fig, gs = new_figure(f"Response to {_short_key(x)}", caption, nrows, ncols,
                         figsize=(10 if ncols == 2 else 6.5, 3.3 * nrows + 1.0))
    axes = []
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(gs[i // ncols, i % ncols])
        axes.append(ax)
        words, unit, scale = metric_text(metric)
        table = response_table(df, metric, x, by, scale)
        groups = [(None, table)] if by is None else list(table.groupby("_by", sort=True))
        for j, (level, t) in enumerate(groups):
            t = t.sort_values("_x")
            st = scenario_style(j)
            label = "mean, 95% CI" if level is None else _fmt(level)
            numeric = pd.api.types.is_numeric_dtype(t["_x"])
            xs = t["_x"].to_numpy() if numeric else np.arange(len(t))
            ax.fill_between(xs, t["lo"].to_numpy(), t["hi"].to_numpy(), color=st["color"], alpha=0.18,
                            linewidth=0)
            ax.plot(xs, t["mean"].to_numpy(), color=st["color"], linestyle=st["linestyle"],
                    marker="os^Dv"[j % 5], markersize=3.5, label=label)
            if not numeric:
                ax.set_xticks(xs, [str(v) for v in t["_x"]])
        if not ax.lines:
            no_data(ax, f"no successful run has a value of {metric}")
        # The title names the metric; the axis gives its unit (the metric and unit together, e.g. "Production
        # lost in the worst 4 weeks (% of planned output)", ran past the panel's height into the one above).
        ax.set_title(words[0].upper() + words[1:])
        ax.set_ylabel(unit or words)
        ax.set_xlabel(param_label(x))
    handles, labels = axes[0].get_legend_handles_labels() if axes else ([], [])
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6),
                   title=_legend_title(by) if by else None)
    return fig


# ------------------------------------------------------------------------------------------- sensitivity

_PARAM_COLS = ("parameter", "name", "names", "param", "input")
_METRIC_COLS = ("metric", "output", "outcome", "response")


def _normalise_indices(df: pd.DataFrame) -> pd.DataFrame:
    pcol = next((c for c in _PARAM_COLS if c in df.columns), None)
    if pcol is None:
        raise ResultReadError(f"sensitivity table has no parameter column (one of {', '.join(_PARAM_COLS)})")
    mcol = next((c for c in _METRIC_COLS if c in df.columns), None)
    out = df.rename(columns={pcol: "parameter"})
    return out.assign(metric="metric") if mcol is None else out.rename(columns={mcol: "metric"})


def sensitivity_table(sweep: SweepResult, method: str, metrics: Sequence[str] | None = None,
                      ) -> pd.DataFrame | None:
    """Sobol' (`S1`, `ST` and their `_conf`) or Morris (`mu_star`, `mu_star_conf`, `sigma`) indices.

    Read from `analysis/<method>.csv` when `reflow analyze` has written it; otherwise computed here with SALib
    when the sweep used that design (per-point means over replicates); None when neither is possible, or when
    the analysis computed none (the header-only table `reflow analyze` writes when it skipped every metric).
    """
    stored = sweep.analysis(method)
    if stored is not None:
        table = _normalise_indices(stored)
        return table if not table.empty else None
    if sweep.design_method != method:
        return None
    return _compute_indices(sweep, method, list(metrics or default_metrics(sweep)))


def computed_analysis(sweep: SweepResult, metrics: Sequence[str] | None) -> Any:
    """`reflow analyze` of the sweep (a `SweepAnalysis`: the same replicate filtering, checks and notes) without
    writing anything, or None where it cannot be computed."""
    if not (sweep.path / "design.parquet").is_file():
        return None
    from reflow.errors import ConfigError
    from reflow.experiment.analysis import analyze

    try:
        return analyze(sweep.path, list(metrics or []) or None, write=False)
    except ConfigError:
        return None  # metrics the sweep does not have: the caller says there is nothing to draw
    except (ValueError, RuntimeError, IndexError, KeyError):
        return None  # the point count does not fit the estimator (an incomplete or hand-edited design)


def _compute_indices(sweep: SweepResult, method: str, metrics: list[str]) -> pd.DataFrame | None:
    """Indices as `reflow analyze` computes them, without writing."""
    result = computed_analysis(sweep, metrics)
    if result is None:
        return None
    table = result.sobol if method == "sobol" else result.morris
    return table if table is not None and not table.empty else None


def _limit_share_axis(ax: Any, t: pd.DataFrame) -> bool:
    """Cut the axis at `SOBOL_PLAUSIBLE` if an estimate lies beyond it, so that the credible bars stay readable;
    True if it was cut."""
    from reflow.experiment.analysis import SOBOL_PLAUSIBLE, implausible_sobol_range

    if implausible_sobol_range(*(t[c] for c in ("S1", "ST") if c in t)) is None:
        return False
    ax.set_xlim(max(ax.get_xlim()[0], SOBOL_PLAUSIBLE[0]), min(max(ax.get_xlim()[1], 1.05), SOBOL_PLAUSIBLE[1]))
    ax.set_xlabel("Share of variance (0-1; axis cut)")
    return True


def sensitivity_figure(sweep: SweepResult, method: str, metrics: Sequence[str] | None = None) -> Figure:
    """Bars of Sobol' indices (first-order and total) or Morris mu* per parameter, one panel per metric."""
    table = sensitivity_table(sweep, method, metrics)
    if table is None or table.empty:
        raise ResultReadError(f"{sweep.path}: no {method} indices (run `reflow analyze {sweep.path}` or "
                              f"use a {method} design)")
    wanted = list(metrics) if metrics else list(dict.fromkeys(table["metric"]))
    wanted = [m for m in wanted if m in set(table["metric"])][:6] or list(dict.fromkeys(table["metric"]))[:6]
    ncols = 2 if len(wanted) > 1 else 1
    nrows = (len(wanted) + ncols - 1) // ncols
    params = list(dict.fromkeys(table["parameter"]))
    prefix, names = _common_prefix(params)
    # In words where the parameter is known, above the key (after the shared prefix) the sweep file sets.
    words = [param_text(p)[0] for p in params]
    tick_names = [f"{w}\n{n}" if w != p else n for p, w, n in zip(params, words, names, strict=True)]
    title = "Sobol' sensitivity indices" if method == "sobol" else "Morris elementary effects"
    caption = (f"sweep {sweep.name}: " + ("share of output variance explained by each parameter, first-order "
               "(alone) and total (with interactions); bars show 95% confidence" if method == "sobol" else
               "mean absolute effect mu* (bar, with 95% confidence) and its spread sigma (marker)"))
    panel_height = max(2.6, 0.45 * len(params) + 1.4)
    fig, gs = new_figure(title, caption, nrows, ncols,
                         figsize=(10 if ncols == 2 else 6.5, panel_height * nrows + 1.0))
    axes = []
    cut = False
    for i, metric in enumerate(wanted):
        ax = fig.add_subplot(gs[i // ncols, i % ncols])
        axes.append(ax)
        t = table[table["metric"] == metric].set_index("parameter").reindex(params)
        ypos = np.arange(len(params))
        if method == "sobol":
            h = 0.38
            for off, col, color, hatch, label in ((-h / 2, "S1", "#0072B2", "", "first-order (S1)"),
                                                  (h / 2, "ST", "#E69F00", "//", "total (ST)")):
                if col in t:
                    err = t[f"{col}_conf"].to_numpy() if f"{col}_conf" in t else None
                    ax.barh(ypos + off, t[col].to_numpy(), height=h, xerr=err, color=color, hatch=hatch,
                            edgecolor="#333333", linewidth=0.4, label=label, capsize=2)
            ax.set_xlabel("Share of variance (0-1)")
            ax.set_xlim(left=min(0.0, float(np.nanmin(t.get("S1", pd.Series([0.0])).to_numpy())) - 0.05))
            cut = _limit_share_axis(ax, t) or cut
        else:
            # Elementary effects are differences of the metric, so they take its display scale (shares in %).
            _, unit, k = metric_text(metric)
            err = k * t["mu_star_conf"].to_numpy() if "mu_star_conf" in t else None
            ax.barh(ypos, k * t["mu_star"].to_numpy(), height=0.6, xerr=err, color="#0072B2",
                    edgecolor="#333333", linewidth=0.4, label="mu* (mean |effect|)", capsize=2)
            if "sigma" in t:
                ax.plot(k * t["sigma"].to_numpy(), ypos, linestyle="none", marker="D", color="#D55E00",
                        markersize=4, label="sigma (spread of effects)")
            # The panel's title names the metric; the axis says what is measured, in the metric's unit.
            ax.set_xlabel("mu*" + (f" ({unit})" if unit else ""))
            ax.set_xlim(left=0)
        # Every panel lists the same parameters in the same order: naming them in the first column only leaves
        # the second its width (full key paths are long, and clipped the second column's titles before).
        ax.set_yticks(ypos, tick_names if i % ncols == 0 else [])
        if i % ncols == 0 and prefix:
            ax.set_ylabel(f"{prefix}<parameter>")
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.set_title(metric_label(metric, False))
    handles, labels = axes[0].get_legend_handles_labels() if axes else ([], [])
    if handles:
        from reflow.experiment.analysis import SOBOL_PLAUSIBLE

        title = (f"Estimates past a cut axis lie beyond {SOBOL_PLAUSIBLE[0]:g} to {SOBOL_PLAUSIBLE[1]:g}: too few "
                 "samples for stable indices (raise [design] samples)" if cut else None)
        fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), title=title,
                   title_fontsize=8.5)
    return fig
