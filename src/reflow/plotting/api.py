"""`plot`: every report figure of a run, a scenario over seeds, several scenarios or a sweep, saved to files.

`figure_jobs` prepares the data once and returns one job per figure (name, drawing function, one-sentence
description): `plot` draws the jobs in parallel worker processes, `report` (via `iter_figures`) one at a time.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from reflow.errors import ReflowError, ResultExistsError, UsageError, whole_number
from reflow.plotting._parallel import fork_map
from reflow.plotting.load import ResultSet, open_results
from reflow.plotting.quick import DRAW_COST
from reflow.plotting.style import rc_params, save_figure

__all__ = [
    "FIGURE_FORMATS",
    "FigureItem",
    "FigureJob",
    "as_list",
    "check_dpi",
    "default_out",
    "draw_jobs",
    "ensure_folder",
    "figure_jobs",
    "iter_figures",
    "plot",
    "refuse_overwrite",
    "run_jobs",
]

FIGURE_FORMATS = ("png", "svg", "pdf")
RUN_NAMES = ("prices", "shortages", "inventories", "licences", "supply_shares", "capacity", "flows")
SWEEP_NAMES = ("heatmap", "response", "sobol", "morris")
_MAX_NAME = 120  # characters of a default compare-<a>_vs_<b> folder name after "compare-"
_SENSITIVITY_TEXT = {
    "sobol": "Sobol' indices: the share of each metric's variance due to each parameter alone (S1) and with "
             "its interactions (ST).",
    "morris": "Morris screening: the mean absolute elementary effect (mu*) of each parameter on each metric, "
              "and its spread (sigma), which signals interactions or non-linearity.",
}


@dataclass
class FigureJob:
    """One figure to draw: its file stem, a function that draws it, and a sentence for reports.

    `cost` is the relative drawing time, so that parallel drawing starts the slowest figures first.
    """

    name: str
    build: Callable[[], Figure]
    description: str
    cost: float = 1.0


@dataclass
class FigureItem:
    """One figure to save or embed."""

    name: str  # file stem, e.g. "prices" or "heatmap_dy_oxide.peak_price_multiple"
    figure: Figure
    description: str


def as_list(value: Any) -> Any:
    """One path or name (a str or a path) as a one-item list, else `value` as it is.

    So that ``plot("results/x", only="prices")`` means one folder and one figure, as a notebook writes it, not the
    letters of the string.
    """
    return [value] if isinstance(value, str | os.PathLike) else value


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def _check_names(only: Sequence[str] | None, known: Sequence[str], kind: str) -> set[str]:
    if not only:
        return set(known)
    bad = [n for n in only if n not in known]
    if bad:
        raise ReflowError(f"unknown figure(s) {', '.join(bad)} for a {kind}; choose from {', '.join(known)}")
    return set(only)


def _check_period(period: str | None) -> None:
    from reflow.plotting.flows import parse_period

    try:
        parse_period(period)
    except ValueError as exc:
        raise ReflowError(f"--period: {exc}") from None


def _check_period_overlaps(period: str, results: ResultSet, say: Callable[[str], None]) -> None:
    """Refuse a flow period outside every run: its matrices would all be empty; name the groups (scenarios
    compared) it misses, whose matrices will be.

    A matrix sums the weeks that start in the period (`flow_figure`), so a period starting in a run's last
    week, after that week's first day, is outside it too."""
    import pandas as pd

    from reflow.plotting.flows import parse_period

    lo, hi = parse_period(period)
    spans: dict[int, tuple[Any, Any]] = {}  # id(run): (first week's start, last week's start)
    for run in results.runs:
        start, end = run.summary.get("start"), run.summary.get("end")
        if start and end:
            spans[id(run)] = (pd.Timestamp(start).date(), pd.Timestamp(end).date())
    inside = {k for k, (a, b) in spans.items() if (lo is None or lo <= b) and (hi is None or hi >= a)}
    if inside:
        missed = [name for name, runs in results.groups.items()
                  if all(id(r) in spans and id(r) not in inside for r in runs)]
        if missed:
            say(f"--period {period} is outside the runs of {', '.join(missed)}: their flow matrices are empty")
    elif spans:
        first, last = min(a for a, _ in spans.values()), max(b for _, b in spans.values())
        raise ReflowError(f"--period {period}: outside the runs, which cover {first} to "
                          f"{last + pd.Timedelta(days=6)} in weeks starting {first} to {last}; give dates that "
                          "hold a week's start (START:END, either side may be left empty)")


def figure_jobs(results: ResultSet, *, period: str | None = None, only: Sequence[str] | None = None,
                metrics: Sequence[str] | None = None, note: Callable[[str], None] | None = None,
                ) -> list[FigureJob]:
    """The figures a result set calls for, with their data prepared and their drawing deferred.

    The data (the run's time series, the ensembles' quantiles, the sweep's runs table) is read and reduced
    here, once; each job then only draws. That lets `plot` draw jobs in parallel worker processes.

    Args:
        results: what `open_results` found.
        period: `START:END` of the trade-flow matrices (default: the whole run).
        only: figure names to make (default all); see `RUN_NAMES` and `SWEEP_NAMES`.
        metrics: sweep metrics to plot (default: the sweep's `[outputs] metrics` or the headline ones).
        note: called with a sentence for anything skipped (a missing analysis, interrupted runs).
    """
    say = note or (lambda _msg: None)
    _check_period(period)
    if results.skipped:
        say(f"left out {len(results.skipped)} interrupted run folder(s) without manifest.json: "
            + ", ".join(str(p) for p in results.skipped[:3]) + (" ..." if len(results.skipped) > 3 else ""))
    for n in results.notes:  # e.g. runs of one scenario with different configs, drawn as separate groups
        say(n)
    if results.kind == "sweep":
        return _sweep_jobs(results, only, metrics, say)
    if period is not None and (not only or "flows" in only):
        _check_period_overlaps(period, results, say)
    if results.kind == "run":
        return _run_jobs(results, period, only)
    return _ensemble_jobs(results, period, only)


def iter_figures(results: ResultSet, **kwargs: Any) -> Iterator[FigureItem]:
    """The figures of `figure_jobs`, drawn one by one (at most one in memory at a time)."""
    for job in figure_jobs(results, **kwargs):
        yield FigureItem(job.name, job.build(), job.description)


def _run_jobs(results: ResultSet, period: str | None, only: Sequence[str] | None) -> list[FigureJob]:
    from reflow.plotting._frames import Series
    from reflow.plotting.run_figures import RUN_FIGURES

    wanted = _check_names(only, RUN_NAMES, "run")
    run = results.runs[0]
    s = Series(run.timeseries())
    run.drop_cache()
    jobs = []
    for name, (fn, text) in RUN_FIGURES.items():
        if name in wanted:
            kwargs: dict[str, Any] = {"period": period} if name == "flows" else {}
            jobs.append(FigureJob(name, partial(fn, s, run.config, seed=run.seed, **kwargs), text,
                                  DRAW_COST.get(name, 1.0)))
    return jobs


def _ensemble_jobs(results: ResultSet, period: str | None, only: Sequence[str] | None) -> list[FigureJob]:
    from reflow.plotting.ensemble import summarise
    from reflow.plotting.ensemble_figures import BAND_TEXT, COMPARE_TEXT, ENSEMBLE_FIGURES, ensemble_flows

    wanted = _check_names(only, RUN_NAMES, "set of runs")
    groups = [summarise(runs, period, name=name, figures=wanted) for name, runs in results.groups.items()]
    band = BAND_TEXT if any(g.n > 1 for g in groups) else " Vertical lines mark policy milestones."
    jobs = [FigureJob(name, partial(fn, groups), (text if len(groups) == 1 else COMPARE_TEXT[name]) + band,
                      DRAW_COST.get(name, 1.0))
            for name, (fn, text) in ENSEMBLE_FIGURES.items() if name in wanted]
    if "flows" in wanted:
        for g in groups:
            stem = "flows" if len(groups) == 1 else f"flows_{_safe(g.name)}"
            jobs.append(FigureJob(stem, partial(ensemble_flows, g),
                                  f"{g.name}: tonnes delivered from each producing origin (rows) to each "
                                  "destination (columns) over the period named in the title"
                                  + (f", mean of {g.n} seeds." if g.n > 1 else "."), DRAW_COST["flows"]))
    return jobs


def _pick_by(sweep: Any, x: str) -> str | None:
    """A second parameter with a handful of values, drawn as separate response curves."""
    for p in sweep.parameters:
        if p != x:
            levels = sweep.runs([p])[p].nunique()
            if 2 <= levels <= 5:
                return p
    return None


def _sweep_jobs(results: ResultSet, only: Sequence[str] | None, metrics: Sequence[str] | None,
                say: Callable[[str], None]) -> list[FigureJob]:
    from reflow.experiment.analysis import is_number_column
    from reflow.experiment.outputs import numeric_metric_like, text_metrics_named
    from reflow.plotting.sweep_figures import (
        default_metrics,
        metric_label,
        sensitivity_figure,
        sensitivity_table,
        sweep_heatmap,
        sweep_response,
    )

    sweep = results.sweep
    assert sweep is not None
    wanted = _check_names(only, SWEEP_NAMES, "sweep")
    chosen = list(dict.fromkeys(metrics)) if metrics else default_metrics(sweep)  # a name given twice: once
    unknown = [m for m in chosen if m not in sweep.columns]
    if unknown:
        hints = [f"{m}: did you mean {close[0]!r}?" for m in unknown
                 if (close := difflib.get_close_matches(m, sweep.metrics, n=1, cutoff=0.6))]
        raise ReflowError(f"{sweep.path}: no metric(s) {', '.join(unknown)} in the runs table"
                          f"{' (' + '; '.join(hints) + ')' if hints else ''}; available: "
                          f"{', '.join(sweep.metrics[:12])}{' ...' if len(sweep.metrics) > 12 else ''}")
    runs = sweep.runs()  # read the table once, before any worker process starts
    stale = sweep.analysis_stale()
    if stale:
        say(stale)
    text = [m for m in chosen if not is_number_column(runs[m])]
    if text and metrics:  # a date or a region: no mean to draw (a heatmap of it said "no finished runs with ...")
        raise ReflowError(f"--metric: {text_metrics_named(text)} in {sweep.path}; sweep figures draw means of "
                          f"numbers: give a number metric, e.g. {numeric_metric_like(text[0])}")
    chosen = [m for m in chosen if m not in text]  # picked by default: the numbers among them
    params = sweep.parameters
    if not chosen:
        if len(runs) and not (runs["status"] == "ok").any():
            say(f"{sweep.path}: every one of its {len(runs)} stored runs failed, so no metric has a value; no "
                f"sweep figures (their messages are in {sweep.path / 'errors.log'})")
        else:
            say(f"{sweep.path}: the runs table holds no summary metrics yet; no sweep figures")
        return []
    if not params:
        say(f"{sweep.path}: no varied parameters found in sweep.toml or the runs table; no sweep figures")
        return []
    jobs = []
    if "heatmap" in wanted:
        if len(params) >= 2:
            x, y = params[0], params[1]
            jobs += [FigureJob(f"heatmap_{_safe(m)}", partial(sweep_heatmap, sweep, m, x, y),
                               f"{metric_label(m)}: mean over replicates for each combination of {x} and "
                               f"{y}.")
                     for m in chosen]
        else:
            say("one varied parameter: no heatmap (it needs two)")
    if "response" in wanted:
        for x in params[:4]:
            by = _pick_by(sweep, x)
            jobs.append(FigureJob(f"response_{_safe(x)}", partial(sweep_response, sweep, chosen, x, by),
                                  f"How the headline metrics respond to {x}: mean across runs with a 95% "
                                  "confidence band" + (f", one curve per value of {by}." if by else ".")))
    for method in ("sobol", "morris"):
        if method in wanted and sensitivity_table(sweep, method, chosen) is not None:
            jobs.append(FigureJob(method, partial(sensitivity_figure, sweep, method, chosen),
                                  _SENSITIVITY_TEXT[method]))
        elif method in wanted and sweep.design_method == method:
            # analyzed or not, the estimators gave nothing (an unfinished sweep, too few samples, constant
            # metrics): the other figures are still drawn, and the analysis notes say why
            say(f"no {method} figure: the analysis of {sweep.path} has no {method} indices for "
                f"{', '.join(chosen)}; `reflow analyze {sweep.path}` prints why (its notes)")
        elif method in wanted and only:
            say(f"no {method} indices for this sweep (run `reflow analyze` or use a {method} design)")
    return jobs


def default_out(paths: Sequence[str | Path], results: ResultSet, leaf: str) -> Path:
    """Where `plot`/`report` write by default: `<folder>/<leaf>` for one folder, else beside the folders.

    Several folders go to `compare-<a>_vs_<b>/`, named by their scenarios (the first three, then how many more);
    a comparison within one scenario by its groups' labels. A name too long for a file system is cut, with a
    hash of the whole so that two comparisons still get folders of their own.
    """
    if len(paths) == 1:
        return Path(paths[0]) / leaf
    parents = {Path(p).resolve().parent for p in paths}
    base = parents.pop() if len(parents) == 1 else Path.cwd()
    # the labels of configs drawn as separate groups are long, and the first three of them left later scenarios
    # out of the name: scenario names say what was compared
    scenarios = list(dict.fromkeys(runs[0].scenario for runs in results.groups.values() if runs))
    parts = scenarios if len(scenarios) > 1 else list(results.groups)
    names = "_vs_".join(_safe(n) for n in parts[:3]) or "comparison"
    if len(parts) > 3:
        names += f"_and_{len(parts) - 3}_more"
    if len(names) > _MAX_NAME:  # file names are at most 255 bytes; leave room for a run's hidden temp names
        digest = hashlib.sha1("\n".join(parts).encode()).hexdigest()[:10]
        names = f"{names[:_MAX_NAME - 11]}_{digest}"
    return base / f"compare-{names}" / leaf


def plot(paths: str | Path | Sequence[str | Path], out: str | Path | None = None, *,
         formats: str | Sequence[str] = ("png", "svg"), period: str | None = None,
         only: str | Sequence[str] | None = None, metrics: str | Sequence[str] | None = None, dpi: int = 200,
         note: Callable[[str], None] | None = None, workers: int | None = None, force: bool = False,
         ) -> list[Path]:
    """Write report-quality figures of result folders.

    Args:
        paths: a run folder, a scenario folder (its runs become an ensemble), several run/scenario folders
            (scenarios compared), or one sweep folder.
        out: output folder (default: `<folder>/plots`, or `compare-<a>_vs_<b>/plots` beside several folders).
        formats: any of png (at `dpi`), svg and pdf.
        period: `START:END` of the trade-flow matrices.
        only: figure names (run: prices, shortages, inventories, licences, supply_shares, capacity, flows;
            sweep: heatmap, response, sobol, morris).
        metrics: sweep metrics (flattened summary names such as `dy_oxide.peak_price_multiple`).
        dpi: PNG resolution (dots per inch, > 0).
        note: called with a sentence for anything left out.
        workers: processes drawing figures at once (default: the CPU count, at most 4; 1 draws here).
        force: replace figure files that already exist in the output folder.

    Returns:
        The files written.

    Raises:
        ResultReadError: a folder is missing, incomplete or corrupt.
        ResultExistsError: a figure file exists and `force` is False (nothing is written then).
        ReflowError: an unknown figure, format or metric, a malformed period, or a dpi of 0 or less.
    """
    paths, formats, only, metrics = as_list(paths), as_list(formats), as_list(only), as_list(metrics)
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad or not formats:
        raise ReflowError(f"unknown format(s) {', '.join(bad) or '(none)'}; "
                          f"choose from {', '.join(FIGURE_FORMATS)}")
    check_dpi(dpi)
    results = open_results(paths)
    target = Path(out).expanduser() if out is not None else default_out(paths, results, "plots")
    jobs = figure_jobs(results, period=period, only=only, metrics=metrics, note=note)
    if target.is_dir():
        refuse_overwrite([target / f"{job.name}.{fmt}" for job in jobs for fmt in formats], force)
    ensure_folder(target)
    return draw_jobs(jobs, target, tuple(formats), dpi, workers)


def check_dpi(dpi: Any) -> None:
    """Refuse a resolution matplotlib cannot draw at (0, negative, not a whole number), before any work.

    Raises:
        UsageError: `dpi` is not a whole number > 0.
    """
    value = whole_number(dpi)
    if value is None or value <= 0:
        raise UsageError(f"--dpi {dpi!r}: the resolution is a whole number of dots per inch > 0, e.g. --dpi 200")


def refuse_overwrite(files: Sequence[Path], force: bool) -> None:
    """Refuse to replace existing output files unless `force` (results are never overwritten silently).

    Raises:
        ResultExistsError: some of `files` exist and `force` is False; the message names them.
    """
    existing = [p for p in files if p.exists() and not p.is_dir()]  # a folder there: the writer says why not
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3
                                                            else "")
        one = len(existing) == 1
        raise ResultExistsError(f"{shown} already exist{'s' if one else ''}; use --force to replace "
                                f"{'it' if one else 'them'} or --out to write elsewhere")


def run_jobs(jobs: Sequence[FigureJob], finish: Callable[[FigureJob, Figure], Any],
             workers: int | None = None) -> list[Any]:
    """Draw each job and pass its figure to `finish`, in parallel forked processes where available.

    The costliest jobs start first, so that no worker is left drawing a slow figure while the others idle.

    Args:
        jobs: the figures to draw.
        finish: what to do with a drawn figure (save it, render it to bytes); its result must pickle.
        workers: processes at once (default: the CPU count, at most 4; 1 draws here, one figure at a time).

    Returns:
        `finish`'s results, in job order.
    """
    jobs = list(jobs)
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].cost)

    def one(k: int) -> Any:
        job = jobs[order[k]]
        with matplotlib.rc_context(rc_params()):
            return finish(job, job.build())

    done = fork_map(one, len(jobs), workers)
    results: list[Any] = [None] * len(jobs)
    for k, i in enumerate(order):
        results[i] = done[k]
    return results


def draw_jobs(jobs: Sequence[FigureJob], target: Path, formats: tuple[str, ...], dpi: int,
              workers: int | None = None) -> list[Path]:
    """Draw and save figure jobs as `<target>/<name>.<format>`.

    Returns:
        The files written, in job order.
    """
    return [p for paths in run_jobs(jobs, partial(_save, target=target, formats=formats, dpi=dpi), workers)
            for p in paths]


def _save(job: FigureJob, fig: Figure, *, target: Path, formats: tuple[str, ...], dpi: int) -> list[Path]:
    try:
        return save_figure(fig, target, job.name, formats=formats, dpi=dpi)
    except OSError as exc:
        raise ReflowError(f"cannot write {job.name} into {target}: {exc.strerror or exc}") from exc


def ensure_folder(path: Path) -> None:
    """Create an output folder, or say clearly why it cannot be (a file of that name, no permission).

    Raises:
        ReflowError: the folder cannot be created.
    """
    if path.exists() and not path.is_dir():
        raise ReflowError(f"{path} is a file; give --out a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReflowError(f"cannot create {path}: {exc.strerror or exc}") from exc
