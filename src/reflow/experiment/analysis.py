"""Analysis of a sweep: per-point means with confidence intervals, Sobol' and Morris indices (SALib).

The math is pure functions over plain tables (`point_means`, `sobol_indices`, `morris_indices`); `analyze`
reads a sweep folder, applies them and writes ``analysis/points.csv``, ``analysis/sobol.csv`` (and
``sobol_s2.csv`` with second order) and ``analysis/morris.csv``.

Sensitivity indices need one response per design point: replicates are averaged first. The noise left in those
means is indistinguishable from a parameter's effect, and common seeds do not cancel it when a parameter changes
how a run consumes its random stream (as any influential one does in reflow's model), so `replicate_noise`
measures it and `analyze` reports its share of the variance the indices apportion. Indices are
computed on the unit hypercube coordinates the design was sampled in, so a Morris ``mu_star`` is the mean absolute
change of the metric when a parameter moves by a full range step, whatever its distribution.
"""

from __future__ import annotations

import difflib
import json
import logging
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reflow.errors import ConfigError, ReflowError, ResultReadError
from reflow.experiment.designs import UNIT_PREFIX, salib_problem
from reflow.experiment.store import BASE_COLUMNS, load_runs, write_text_atomic

__all__ = ["NOISE_WARN_SHARE", "SweepAnalysis", "analyze", "is_number_column", "metric_columns", "morris_indices",
           "point_means", "replicate_noise", "runs_stamp", "sobol_indices"]

logger = logging.getLogger(__name__)

#: Share of the variance of the point means above which `analyze` warns that replicate noise biases the indices.
NOISE_WARN_SHARE = 0.05
#: Sobol' indices are shares of variance; sampling error puts estimates a little outside 0-1, a design with too
#: few base samples far outside it. Past these bounds `analyze` warns and the bar charts cut their axis.
SOBOL_PLAUSIBLE = (-0.25, 1.25)


@dataclass
class SweepAnalysis:
    """The tables `analyze` produces (each also written to ``<sweep>/analysis/<name>.csv``)."""

    path: Path
    method: str
    parameters: list[str]
    metrics: list[str]
    points: pd.DataFrame
    sobol: pd.DataFrame | None = None
    sobol_s2: pd.DataFrame | None = None
    morris: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    noise: pd.DataFrame | None = None  # `replicate_noise` of the runs the indices use (sobol and morris designs)
    named: bool = True  # False: neither --metric nor `[outputs] metrics` named any, so `metrics` is every one


def is_number_column(values: pd.Series) -> bool:
    """True for a column of numbers (not booleans, dates or text): what a mean can be taken of."""
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def metric_columns(runs: pd.DataFrame, parameters: Sequence[str]) -> list[str]:
    """Numeric summary-metric columns of a runs table (not base columns nor parameters).

    A text metric of the model's summary (a date) that no run has is a column of nulls, which pandas reads as
    numbers: it is left out too (it would only ever be "no value, no mean").
    """
    from reflow.experiment.outputs import summary_metrics

    text = {name for name, number in summary_metrics().items() if not number}
    skip = set(BASE_COLUMNS) | set(parameters) | text
    return [c for c in runs.columns if c not in skip and is_number_column(runs[c])]


def point_means(runs: pd.DataFrame, parameters: Sequence[str], metrics: Sequence[str],
                confidence: float = 0.95) -> pd.DataFrame:
    """Mean of each metric at each design point across its replicates, with a t-based confidence interval.

    Args:
        runs: the runs table (failed runs are ignored; their count is in ``n_failed``).
        parameters: the parameter columns identifying a point.
        metrics: metric columns to summarise.
        confidence: confidence level of the interval (0.95: 95%).

    Returns:
        A tidy table, one row per (point, metric): ``point_id``, the parameters, ``metric``, ``n`` (replicates with
        a value), ``n_failed``, ``mean``, ``sd``, ``ci_low``, ``ci_high``. With n < 2 the interval is NaN.
    """
    from scipy import stats

    if runs.empty:
        return pd.DataFrame(columns=["point_id", *parameters, "metric", "n", "n_failed", "mean", "sd", "ci_low",
                                     "ci_high"])
    ok = runs["status"] == "ok"
    keys = ["point_id", *parameters]
    first = runs.groupby("point_id", sort=True)[list(parameters)].first() if parameters else None
    n_failed = (~ok).groupby(runs["point_id"]).sum()
    good = runs[ok]
    frames = []
    for m in metrics:
        g = pd.to_numeric(good[m], errors="coerce").groupby(good["point_id"])
        t = pd.DataFrame({"n": g.count(), "mean": g.mean(), "sd": g.std(ddof=1)})
        t = t.reindex(n_failed.index)
        t["n"] = t["n"].fillna(0).astype("int64")
        dof = (t["n"] - 1).where(t["n"] >= 2)
        q = stats.t.ppf(0.5 + confidence / 2, dof.to_numpy(dtype=float))
        half = q * t["sd"].to_numpy(dtype=float) / np.sqrt(t["n"].clip(lower=1).to_numpy(dtype=float))
        t["ci_low"] = t["mean"] - half
        t["ci_high"] = t["mean"] + half
        t["n_failed"] = n_failed.astype("int64")
        t["metric"] = m
        frames.append(t)
    if not frames:  # no metric to summarise (a runner that gave none)
        return pd.DataFrame(columns=["point_id", *parameters, "metric", "n", "n_failed", "mean", "sd", "ci_low",
                                     "ci_high"])
    out = pd.concat(frames).reset_index(names="point_id")
    if first is not None:
        out = out.merge(first.reset_index(), on="point_id", how="left")
    cols = [*keys, "metric", "n", "n_failed", "mean", "sd", "ci_low", "ci_high"]
    return out[cols].sort_values(["metric", "point_id"], kind="stable").reset_index(drop=True)


NOISE_COLUMNS = ["metric", "replicates", "points", "run_noise_var", "mean_noise_var", "point_means_var",
                 "noise_share", "estimator"]


def replicate_noise(runs: pd.DataFrame, metrics: Sequence[str], common_seeds: bool = True) -> pd.DataFrame:
    """How much of the variance of the per-point means is replicate noise rather than the parameters' effects.

    The noise variance of one run, s2, is estimated within design points. With common seeds, the part of a
    replicate's noise shared by every point shifts all point means alike and cancels in the indices, so it is
    taken out (the residual variance of a point x replicate two-way table, over the points with a value in every
    replicate); with independent seeds it is the pooled within-point variance. A point mean over n values carries
    s2 / n of it; ``noise_share`` is the average of that over the points divided by the variance of the point means
    across the design, clipped to [0, 1]. Jansen's total-order indices are inflated by about that share and
    first-order ones deflated by about that fraction of their value.

    Args:
        runs: the runs table (``point_id``, ``replicate``, ``status`` and the metric columns).
        metrics: metric columns.
        common_seeds: whether replicate r had the same seed at every point (``seeds = "common"``).

    Returns:
        One row per metric with a point of two or more values: ``metric, replicates`` (most values at a point),
        ``points``, ``run_noise_var`` (s2), ``mean_noise_var``, ``point_means_var``, ``noise_share``, ``estimator``.
    """
    ok = runs[runs["status"] == "ok"]
    rows = []
    for m in metrics:
        y = pd.to_numeric(ok[m], errors="coerce")
        keep = y.notna()
        y, pid, rep = y[keep], ok["point_id"][keep], ok["replicate"][keep]
        g = y.groupby(pid)
        n, means = g.count(), g.mean()
        if len(n) < 2 or n.max() < 2:
            continue
        dof = (n - 1).sum()
        s2 = float((g.var(ddof=1).fillna(0.0) * (n - 1)).sum() / dof)
        estimator = "within points"
        if common_seeds:
            wide = y.groupby([pid, rep]).mean().unstack()
            wide = wide.dropna()  # points with a value in every replicate: a balanced table
            p, r = wide.shape
            if p >= 2 and r >= 2:
                a = wide.to_numpy(dtype=float)
                resid = a - a.mean(axis=1, keepdims=True) - a.mean(axis=0, keepdims=True) + a.mean()
                s2 = float((resid**2).sum() / ((p - 1) * (r - 1)))
                estimator = "within points, less the part common to a replicate"
        mean_noise = s2 * float((1.0 / n).mean())
        total = float(means.var(ddof=1))
        share = min(max(mean_noise / total, 0.0), 1.0) if total > 0 else float("nan")
        rows.append({"metric": m, "replicates": int(n.max()), "points": len(n), "run_noise_var": s2,
                     "mean_noise_var": mean_noise, "point_means_var": total, "noise_share": share,
                     "estimator": estimator})
    return pd.DataFrame(rows, columns=NOISE_COLUMNS)


def _noise_notes(noise: pd.DataFrame, method: str, levels: int, notes: list[str]) -> None:
    """One note per metric with its noise share; a warning where the share biases the indices noticeably."""
    for row in noise.itertuples(index=False):
        share, reps = float(row.noise_share), int(row.replicates)
        if not np.isfinite(share):
            continue
        text = (f"{row.metric}: replicate noise is {share:.1%} of the variance of the point means "
                f"({reps} replicates)")
        if share <= NOISE_WARN_SHARE:
            notes.append(text)
            continue
        if method == "sobol":
            effect = (f"every ST is inflated by about {share:.2f} and every S1 deflated by about {share:.0%} of "
                      "its value")
        else:
            # a step's noise is the difference of two point means; E|N(0, s)| = s * sqrt(2 / pi)
            step = levels / (2 * (levels - 1))
            floor = np.sqrt(2 / np.pi) * np.sqrt(2 * float(row.mean_noise_var)) / step
            effect = (f"a parameter without effect would still get mu_star ~ {floor:.3g}, and sigma is inflated "
                      "alike")
        need = int(np.ceil(reps * share * (1 - NOISE_WARN_SHARE) / (NOISE_WARN_SHARE * (1 - share)))) \
            if share < 1 else None
        more = f" (about {need} to bring it under {NOISE_WARN_SHARE:.0%})" if need else ""
        notes.append(f"warning: {text}, over {NOISE_WARN_SHARE:.0%}: {effect}; raise sweep.replicates{more}")


def _bootstrap_seed(seed: int) -> int:
    """A nonzero 32-bit seed for SALib's bootstrap (its sobol.analyze draws fresh entropy for seed 0)."""
    return int(seed) % (2**32 - 1) + 1


def _responses(design: pd.DataFrame, runs: pd.DataFrame, metric: str) -> np.ndarray:
    """Mean response per design point in design order (NaN where no replicate has a value)."""
    ok = runs[runs["status"] == "ok"]
    y = pd.to_numeric(ok[metric], errors="coerce").groupby(ok["point_id"]).mean()
    return y.reindex(design["point_id"].to_numpy()).to_numpy(dtype=float)


def _complete_blocks(y: np.ndarray, block: int, metric: str, what: str, notes: list[str]) -> np.ndarray | None:
    """Rows of the design blocks (Saltelli base samples, Morris trajectories) where every point has a value.

    The estimators need whole blocks; a block with a failed point is dropped (with a note), which keeps the
    estimate valid as long as failures do not depend on the inputs. None when fewer than half the blocks (or
    than 2) are left, or the metric is constant.
    """
    n_blocks = len(y) // block
    ok = ~np.isnan(y[: n_blocks * block]).reshape(n_blocks, block).any(axis=1)
    if not ok.all():
        notes.append(f"{metric}: {int((~ok).sum())} of {n_blocks} {what} dropped, they hold design points with "
                     "no value (no successful run: re-run failed ones with `reflow sweep ... --retry-failed`; or "
                     "runs in which the metric is empty)")
    if ok.sum() < max(2, (n_blocks + 1) // 2):
        if ok.all():  # nothing failed: the design itself is too small for the estimator
            notes.append(f"{metric}: skipped, the design has {n_blocks} {what} and the estimator needs at least 2 "
                         "(raise [design] samples)")
        else:
            notes.append(f"{metric}: skipped, only {int(ok.sum())} of {n_blocks} {what} are complete")
        return None
    rows = np.repeat(ok, block)
    if np.nanstd(y[: n_blocks * block][rows]) == 0:
        notes.append(f"{metric}: skipped, constant over the design (no variance to apportion)")
        return None
    return np.flatnonzero(rows)


def sobol_indices(design: pd.DataFrame, runs: pd.DataFrame, parameters: Sequence[str], metrics: Sequence[str],
                  second_order: bool = False, confidence: float = 0.95, seed: int = 0,
                  notes: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """First- and total-order Sobol' indices (SALib, Saltelli/Jansen estimators) with bootstrap intervals.

    Args:
        design: the design table of a ``sobol`` sweep, in sample order.
        runs: its runs table.
        parameters: parameter columns, in design order.
        metrics: metric columns.
        second_order: whether the design was sampled with second-order indices.
        confidence: level of the bootstrap confidence intervals.
        seed: seed of the bootstrap (any int >= 0; equal seeds give equal intervals).
        notes: list that collects messages about skipped metrics.

    Returns:
        ``(first_total, second)``: a table with ``metric, parameter, S1, S1_conf, ST, ST_conf`` (``*_conf`` is
        the half-width of the interval) and, with `second_order`, one with ``metric, parameter_1, parameter_2,
        S2, S2_conf``.
    """
    from SALib.analyze import sobol

    notes = notes if notes is not None else []
    problem = salib_problem(list(parameters))
    rows, rows2 = [], []
    block = 2 * len(parameters) + 2 if second_order else len(parameters) + 2
    for m in metrics:
        y = _responses(design, runs, m)
        keep = _complete_blocks(y, block, m, "base samples", notes)
        if keep is None:
            continue
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            res = sobol.analyze(problem, y[keep], calc_second_order=second_order, conf_level=confidence,
                                seed=_bootstrap_seed(seed))
        for i, p in enumerate(parameters):
            rows.append({"metric": m, "parameter": p, "S1": res["S1"][i], "S1_conf": res["S1_conf"][i],
                         "ST": res["ST"][i], "ST_conf": res["ST_conf"][i]})
        _implausible_note(m, res["S1"], res["ST"], len(y[keep]) // block, notes)
        if second_order:
            for i, p in enumerate(parameters):
                for j in range(i + 1, len(parameters)):
                    rows2.append({"metric": m, "parameter_1": p, "parameter_2": parameters[j],
                                  "S2": res["S2"][i, j], "S2_conf": res["S2_conf"][i, j]})
    cols = ["metric", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    first = pd.DataFrame(rows, columns=cols)
    second = pd.DataFrame(rows2, columns=["metric", "parameter_1", "parameter_2", "S2", "S2_conf"]) \
        if second_order else None
    return first, second


def implausible_sobol_range(*estimates: Any) -> tuple[float, float] | None:
    """(lowest, highest) of the finite Sobol' estimates given (S1s, STs) when they reach past `SOBOL_PLAUSIBLE`,
    else None: the one rule behind `analyze`'s warning and the bar charts' cut axis."""
    est = np.concatenate([np.asarray(e, float).ravel() for e in estimates]) if estimates else np.zeros(0)
    est = est[np.isfinite(est)]
    if not est.size:
        return None
    lo, hi = float(est.min()), float(est.max())
    return (lo, hi) if lo < SOBOL_PLAUSIBLE[0] or hi > SOBOL_PLAUSIBLE[1] else None


def _implausible_note(metric: str, s1: np.ndarray, st: np.ndarray, samples: int, notes: list[str]) -> None:
    span = implausible_sobol_range(s1, st)
    if span is not None:
        (lo, hi), (a, b) = span, SOBOL_PLAUSIBLE
        notes.append(f"warning: {metric}: Sobol' estimates from {lo:.3g} to {hi:.3g}, beyond {a:g} to {b:g} where "
                     f"sampling error alone rarely puts a share of variance: {samples} base samples are too few for "
                     "stable indices; raise [design] samples")


def morris_indices(design: pd.DataFrame, runs: pd.DataFrame, parameters: Sequence[str], metrics: Sequence[str],
                   levels: int = 4, confidence: float = 0.95, seed: int = 0,
                   notes: list[str] | None = None) -> pd.DataFrame:
    """Morris elementary-effects screening (SALib): ``mu``, ``mu_star``, ``sigma`` and ``mu_star_conf``.

    Args:
        design: the design table of a ``morris`` sweep (with its ``unit:<key>`` coordinates), in sample order.
        runs: its runs table.
        parameters: parameter columns, in design order.
        metrics: metric columns.
        levels: the design's grid levels.
        confidence: level of the bootstrap interval of ``mu_star``.
        seed: seed of the bootstrap (any int >= 0; equal seeds give equal intervals).
        notes: list that collects messages about skipped metrics.
    """
    from SALib.analyze import morris

    notes = notes if notes is not None else []
    problem = salib_problem(list(parameters))
    x = design[[UNIT_PREFIX + p for p in parameters]].to_numpy(dtype=float)
    rows = []
    for m in metrics:
        y = _responses(design, runs, m)
        keep = _complete_blocks(y, len(parameters) + 1, m, "trajectories", notes)
        if keep is None:
            continue
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            res = morris.analyze(problem, x[keep], y[keep], conf_level=confidence, num_levels=levels,
                                 seed=_bootstrap_seed(seed))
        for i, p in enumerate(parameters):
            rows.append({"metric": m, "parameter": p, "mu": res["mu"][i], "mu_star": res["mu_star"][i],
                         "sigma": res["sigma"][i], "mu_star_conf": res["mu_star_conf"][i]})
    return pd.DataFrame(rows, columns=["metric", "parameter", "mu", "mu_star", "sigma", "mu_star_conf"])


def _read_sweep(path: Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    if not path.exists():
        raise ResultReadError(f"{path} does not exist; give the folder `reflow sweep CONFIG --out FOLDER` wrote")
    if (path / "manifest.json").is_file() and (path / "timeseries.parquet").is_file():
        raise ResultReadError(f"{path} is a run folder, not a sweep: `reflow analyze` takes a sweep's folder "
                              "(`reflow plot` and `reflow report` take runs)")
    if not (path / "sweep.toml").is_file() or not (path / "design.parquet").is_file():
        raise ResultReadError(f"{path}: not a sweep folder (no sweep.toml / design.parquet); run "
                              f"`reflow sweep CONFIG --out {path}` first")
    try:
        spec = tomllib.loads((path / "sweep.toml").read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ResultReadError(f"{path / 'sweep.toml'}: not valid TOML ({exc})") from None
    try:
        design = pd.read_parquet(path / "design.parquet")
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        raise ResultReadError(f"{path / 'design.parquet'} could not be read ({exc}); the sweep folder is corrupt: "
                              "re-run the sweep into a new --out") from exc
    return spec, design, load_runs(path)


def analyze(path: str | Path, metrics: str | Sequence[str] | None = None, confidence: float = 0.95,
            write: bool = True) -> SweepAnalysis:
    """Analyse a sweep folder: per-point means and CIs always; Sobol' or Morris indices for those designs.

    Only replicates below the sweep's current ``replicates`` count (runs stored when it had more are left out,
    with a note). Indices use the replicates stored at every design point: all of them once the sweep is
    finished; on an unfinished sweep the complete ones, or none (indices skipped), with a note either way, so
    every point's mean is over the same replicates. With two or more replicates the replicate noise left in the
    point means is measured (`replicate_noise`) and noted per metric, with a warning above `NOISE_WARN_SHARE`.

    Args:
        path: the sweep folder.
        metrics: metrics to analyse, one name or several (default: ``outputs.metrics`` of the sweep, or every
            numeric metric).
        confidence: confidence level of all intervals.
        write: write the tables to ``<path>/analysis/*.csv`` and the notes (with the noise estimates) to
            ``analysis/notes.json``.

    Returns:
        A `SweepAnalysis`; metrics that are constant or missing at some point are skipped with a note.
    """
    from reflow.experiment.sweeper import parameter_columns

    path = Path(path)
    if isinstance(metrics, str):  # one metric, not its letters
        metrics = [metrics]
    spec, design, runs = _read_sweep(path)
    seen = runs_stamp(runs)
    params = parameter_columns(design)
    method = str(spec.get("design", {}).get("method", "grid"))
    available = metric_columns(runs, params)
    declared = list(spec.get("outputs", {}).get("metrics", []))
    wanted = list(dict.fromkeys(metrics)) if metrics else declared or available  # a name given twice: once
    # with no successful run the table has no metric columns at all: nothing is wrong with the names asked for
    any_ok = bool(len(runs)) and bool((runs["status"] == "ok").any())
    if any_ok:
        # say where the names came from: --metric, or outputs.metrics of the sweep (whose fix is in that file)
        _refuse_metrics(runs, wanted, available, "--metric" if metrics else f"outputs.metrics of {path / 'sweep.toml'}")
    # (a number column asked for by name is analysed even if it is not a summary metric: wall_time_s, say)
    wanted = [m for m in wanted if m in runs.columns or not any_ok]
    # metrics no run produced (every run failed) are columns without a value, so the tables say n = 0 per point
    runs = runs.assign(**{m: np.nan for m in wanted if m not in runs.columns})
    notes: list[str] = []
    section = spec.get("sweep", {})
    replicates = int(section.get("replicates", 1))
    extra = runs["replicate"] >= replicates
    if extra.any():
        # left by an earlier run of the sweep with more replicates: the sweep as it stands does not have them
        notes.append(f"{int(extra.sum())} stored runs of replicates {replicates} and above are left out: the sweep "
                     f"now has replicates = {replicates} (raise it again to use them)")
        runs = runs[~extra].reset_index(drop=True)
    _runner_notes(runs, path, notes)
    planned = len(design) * replicates
    result = SweepAnalysis(path=path, method=method, parameters=params, metrics=wanted,
                           points=point_means(runs, params, wanted, confidence), notes=notes,
                           counts=runs_stamp(runs), named=bool(metrics or declared))
    if len(runs) < planned:
        notes.append(f"{len(runs)} of {planned} runs are stored; re-run `reflow sweep` to finish the rest")
    _failure_notes(runs, path, notes)
    if any_ok:
        _empty_metric_notes(runs, wanted, notes)
    if method in ("sobol", "morris") and len(runs):
        index_runs = _complete_replicates(runs, design, replicates, notes)
        seed = int(section.get("root_seed", 0))
        levels = int(spec.get("design", {}).get("levels", 4))
        second = bool(spec.get("design", {}).get("second_order", False))
        if index_runs is None:
            empty = pd.DataFrame(columns=["metric"])
            if method == "sobol":  # empty tables replace any stale ones of an earlier analysis
                result.sobol, result.sobol_s2 = sobol_indices(design, empty, params, [], second)
            else:
                result.morris = morris_indices(design, empty, params, [], levels)
        else:
            if method == "sobol":
                result.sobol, result.sobol_s2 = sobol_indices(design, index_runs, params, wanted, second,
                                                              confidence, seed, notes)
            else:
                result.morris = morris_indices(design, index_runs, params, wanted, levels, confidence, seed,
                                               notes)
            common = str(section.get("seeds", "common")) == "common"
            result.noise = replicate_noise(index_runs, wanted, common_seeds=common)
            if index_runs["replicate"].nunique() < 2:
                notes.append("one replicate per point: the model's noise cannot be separated from the parameters' "
                             "effects, and it inflates every ST (deflates S1; inflates Morris mu_star) by its "
                             "share of the variance, which is unknown here; use replicates >= 2 to measure it")
            else:
                _noise_notes(result.noise, method, levels, notes)
    if write:
        tables = {"points": result.points, "sobol": result.sobol, "sobol_s2": result.sobol_s2,
                  "morris": result.morris}
        files = {f"{name}.csv": df.to_csv(index=False) for name, df in tables.items() if df is not None}
        noise = {} if result.noise is None else {
            r["metric"]: {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                          for k, v in r.items() if k != "metric"}
            for r in result.noise.to_dict("records")}
        files["notes.json"] = json.dumps({"confidence": confidence, "notes": notes, "noise": noise, "runs": seen},
                                         indent=2) + "\n"
        _write_analysis(path / "analysis", files)
    return result


def _write_analysis(folder: Path, files: dict[str, str]) -> None:
    """Write an analysis's files, each atomically, and all of them while holding the folder's lock.

    Two `reflow analyze` of one sweep at once (a loop over metrics run in parallel, say) shared one temporary
    name per file: one renamed the other's half-written file into place and then failed with a traceback. With
    the lock, the files in the folder are always those of one analysis (the last one's).
    """
    try:
        folder.mkdir(exist_ok=True)
        with open(folder / ".lock", "a", encoding="utf-8") as lock:
            try:
                import fcntl

                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released on close; the writes take milliseconds
            except ImportError:  # not POSIX: no advisory locks (each file is still written atomically)
                pass
            for name, text in files.items():
                write_text_atomic(folder / name, text)
    except OSError as exc:
        raise ReflowError(f"{folder}: cannot write the analysis tables ({exc.strerror or exc}); the sweep "
                              "folder must be writable (copy it, or use reflow.experiment.analyze(..., "
                              "write=False) from Python)") from None


def _refuse_metrics(runs: pd.DataFrame, wanted: Sequence[str], available: Sequence[str], where: str) -> None:
    """Refuse metrics that are not columns of the runs table, or are text (dates, regions): no mean to take.

    Args:
        runs: the runs table (with at least one successful run, so that every metric has its column).
        wanted: the metrics asked for.
        available: the number metrics there are (for the message).
        where: where the names came from (``--metric``, or the sweep's ``outputs.metrics``).
    """
    missing = [m for m in wanted if m not in runs.columns]
    if missing:
        close = {m: difflib.get_close_matches(m, available, n=1) for m in missing}
        hints = "; ".join(f"{m!r}: did you mean {c[0]!r}?" for m, c in close.items() if c)
        raise ConfigError(f"{where}: metric(s) {missing} are not in the sweep's results"
                          + (f" ({hints})" if hints else "")
                          + f"; give metrics from: {_metric_menu(available)} (or --metric NAME to choose)")
    text = [m for m in wanted if not is_number_column(runs[m])]
    if text:
        from reflow.experiment.outputs import numeric_metric_like, text_metrics_named

        raise ConfigError(f"{where}: {text_metrics_named(text)}: `reflow analyze` reports means of numbers; give a "
                          f"number metric, e.g. {numeric_metric_like(text[0])} (the text values are in the runs "
                          "table: reflow.experiment.load_runs)")


def _metric_menu(available: Sequence[str]) -> str:
    """The metrics to choose from: inline when few; else one line per material (or `overall`), names that share
    a stem braced (a model sweep has ~70, which as one comma-separated line ran to ~2,500 characters)."""
    if len(available) <= 12:
        return ", ".join(available)
    lines: dict[str, list[str]] = {}
    for m in available:
        lines.setdefault(m.partition(".")[0], []).append(m)
    return "".join(f"\n  {_braced(names)}" for names in lines.values())


def _braced(names: Sequence[str]) -> str:
    """``a.{x, y.{US, EU}}`` for ``a.x, a.y.US, a.y.EU``: names grouped by their first part, recursively."""
    groups: dict[str, list[str]] = {}
    for n in names:
        head, dot, tail = n.partition(".")
        groups.setdefault(head, []).append(tail if dot else "")
    parts = []
    for head, tails in groups.items():
        rest = [t for t in tails if t]
        if not rest:
            parts.append(head)
        elif len(rest) == 1 and len(tails) == 1:
            parts.append(f"{head}.{rest[0]}")
        else:
            parts.append(f"{head}.{{{_braced(rest)}}}" + (f", {head}" if len(rest) < len(tails) else ""))
    return ", ".join(parts)


def runs_stamp(runs: pd.DataFrame) -> dict[str, int]:
    """The runs an analysis saw, by status (``notes.json`` keeps it): once the sweep stores more runs (a resume,
    `--retry-failed`), the stamp differs and the analysis files are out of date."""
    counts = runs["status"].value_counts() if len(runs) else pd.Series(dtype="int64")
    return {str(k): int(v) for k, v in sorted(counts.items())}


def _point_ids(ids: Sequence[int], most: int = 10) -> str:
    """Design points named in a note: the first `most` ids, then "..."."""
    return ", ".join(str(p) for p in ids[:most]) + (" ..." if len(ids) > most else "")


def _failure_notes(runs: pd.DataFrame, path: Path, notes: list[str]) -> None:
    """Say which design points lost runs: their means are over fewer replicates, or missing."""
    failed = runs["status"] != "ok" if len(runs) else pd.Series(dtype=bool)
    if not failed.any():
        return
    where = (f"messages in the `error` column and {path / 'errors.log'}; after fixing the cause, `reflow sweep "
             "... --retry-failed` runs them again")
    if failed.all():
        notes.append(f"every one of the {len(runs)} stored runs failed: no metric has a value; {where}")
        return
    per_point = failed.groupby(runs["point_id"]).agg(["sum", "size"])
    hit = per_point[per_point["sum"] > 0]
    empty = [int(p) for p in hit.index[hit["sum"] == hit["size"]]]
    parts = []
    if len(hit) > len(empty):
        parts.append(f"{len(hit) - len(empty)} point(s) lost some replicates, so their means are over fewer runs (n "
                     "and n_failed in points.csv)")
    if empty:
        parts.append(f"{len(empty)} point(s) have no successful run, so no mean (point_id {_point_ids(empty)})")
    notes.append(f"{int(failed.sum())} failed runs at {len(hit)} of {len(per_point)} design points: "
                 + "; ".join(parts) + f"; {where}")


def _runner_notes(runs: pd.DataFrame, path: Path, notes: list[str]) -> None:
    """A warning when the runs analysed were made by more than one run function (a resume with
    ``--allow-runner-change``): every mean and index then mixes them."""
    from reflow.experiment.runner_checks import recorded_runners

    made = (runs["runner"] if "runner" in runs.columns else pd.Series(index=runs.index, dtype=object)).dropna()
    counts = made.astype(str).value_counts(sort=False)
    unknown = len(runs) - len(made)
    listed: list[str] = []
    if unknown:  # runs stored before the table said which run function made each: the manifest knows the set
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = None
        listed = recorded_runners(manifest) if isinstance(manifest, dict) else []
    runners = list(dict.fromkeys([*counts.index, *listed]))
    if len(runners) < 2:
        return
    parts = [f"{r}: {int(counts.get(r, 0))}" for r in runners if counts.get(r, 0)]
    if unknown:
        parts.append(f"not recorded: {unknown} (stored by an older reflow; manifest.json lists "
                     f"{', '.join(listed) if listed else 'no runners'})")
    notes.append(f"warning: the {len(runs)} runs analysed were made by {len(runners)} run functions "
                 f"({'; '.join(parts)}), so every mean and index mixes their numbers (the sweep was resumed with "
                 "--allow-runner-change); the runs table's `runner` column says which made each run. To analyse "
                 "one alone, run the sweep with it into another --out")


def _empty_metric_notes(runs: pd.DataFrame, metrics: Sequence[str], notes: list[str]) -> None:
    """Say which metrics have no value in any successful run, or none at some points with successful runs (the
    printed table's `n` column is the largest over the metrics, so it does not show this)."""
    ok = runs[runs["status"] == "ok"]
    for m in metrics:
        has = pd.to_numeric(ok[m], errors="coerce").notna().groupby(ok["point_id"]).any()
        if has.all():
            continue
        if not has.any():
            notes.append(f"{m}: no successful run has a value (the summary leaves it empty when what it measures "
                         "did not happen in the run, e.g. no shortage or no licence application): no mean")
            continue
        empty = [int(p) for p in has.index[~has]]
        notes.append(f"{m}: no value in the successful runs of {len(empty)} point(s) (point_id "
                     f"{_point_ids(empty)}): no mean there")


def _complete_replicates(runs: pd.DataFrame, design: pd.DataFrame, replicates: int,
                         notes: list[str]) -> pd.DataFrame | None:
    """The runs of the replicates stored at every design point (None, with a note, when there is none).

    A point averaged over fewer replicates than the others carries more noise (and, with common seeds, other
    seeds), which the estimators would read as an effect of the parameters.
    """
    n_points = design["point_id"].nunique()
    per_rep = runs.groupby("replicate")["point_id"].nunique()
    complete = sorted(int(r) for r, n in per_rep.items() if n >= n_points)
    if len(complete) == replicates:
        return runs
    if not complete:
        notes.append("indices not computed: no replicate is stored at every design point yet (they need the same "
                     "replicates at every point); re-run `reflow sweep` to finish the sweep")
        return None
    notes.append(f"indices use the {len(complete)} of {replicates} replicates stored at every design point "
                 "(the others are unfinished); re-run `reflow sweep` to finish the sweep")
    return runs[runs["replicate"].isin(complete)].reset_index(drop=True)


