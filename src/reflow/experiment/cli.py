"""The ``reflow sweep`` and ``reflow analyze`` subcommands (registered by `reflow.cli`); thin: parse, call, print."""

from __future__ import annotations

import argparse
import math
import signal
import sys
from typing import Any

from reflow.cli import positive_int

__all__ = ["format_analysis", "register"]


def _positive_float(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be > 0")
    return v


# --rows 0 printed headers only, -1 all rows but the last and "... 2 more rows" under a table of one
_rows = positive_int("rows per table, e.g. 40")


def register(subparsers: Any) -> None:
    """Add ``sweep`` and ``analyze`` to the ``reflow`` command's subparsers."""
    p = subparsers.add_parser(
        "sweep", help="run (or resume) a parameter sweep",
        description="Run every run of a sweep config, in parallel, storing each result as it finishes. Re-running "
                    "the same command resumes: stored runs are skipped. See docs/sweeps.md.")
    p.add_argument("config", help="sweep TOML file (configs/sweeps/), or a sweep folder to resume")
    p.add_argument("--out", default=None, help="sweep folder (default: results/sweeps/<sweep.name>)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: all cores; 0: in this process, for debugging); "
                        "with --scheduler local, the LocalCluster size")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on an existing Dask cluster (tcp://host:8786), or 'local' for an embedded "
                        "Dask LocalCluster")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="fixed scenario override for every run (repeatable); part of the sweep's identity")
    p.add_argument("--retry-failed", action="store_true", help="run again the stored runs that failed")
    p.add_argument("--force", action="store_true", help="delete what --out holds and start over")
    p.add_argument("--max-attempts", type=int, default=3,
                   help="tries per run when its worker process dies (default: 3)")
    p.add_argument("--timeout", type=_positive_float, default=None, metavar="SECONDS",
                   help="kill a run that takes longer (local workers only; default: no limit)")
    p.add_argument("--runner", default=None, metavar="MODULE:FUNCTION",
                   help="run function instead of the model (for testing the machinery, e.g. "
                        "reflow.experiment.fakes:analytic)")
    p.add_argument("--allow-runner-change", action="store_true",
                   help="resume a folder whose stored runs another --runner made, mixing both in its results")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)

    p = subparsers.add_parser(
        "analyze", help="per-point means with 95%% CIs and Sobol/Morris indices of a sweep",
        description="Summarise a sweep folder: per-point means with confidence intervals across replicates, "
                    "Sobol' indices (sobol designs) or Morris mu*/sigma (morris designs). Tables are printed "
                    "and written to SWEEP_DIR/analysis/*.csv.")
    p.add_argument("sweep_dir", help="sweep folder (the --out of `reflow sweep`)")
    p.add_argument("--metric", action="append", default=[], metavar="NAME",
                   help="metric to analyse (repeatable; default: outputs.metrics of the sweep, else all)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level (default: 0.95)")
    p.add_argument("--rows", type=_rows, default=40, help="at most this many rows per printed table (default: 40)")
    p.add_argument("--reproduce", default=None, metavar="RUN_ID",
                   help="print the `reflow run` command that reproduces one run, and exit")
    p.set_defaults(func=_cmd_analyze)


def _terminate(signum: int, frame: Any) -> None:  # SIGTERM: stop like Ctrl-C (workers stopped, store intact)
    raise KeyboardInterrupt


def _cmd_sweep(args: argparse.Namespace) -> int:
    from reflow.experiment.executors import make_executor
    from reflow.experiment.runner import DEFAULT_RUNNER

    runner = args.runner or DEFAULT_RUNNER
    if args.runner:  # a wrong one is one error (exit code 2) before any worker starts, not N failed runs
        from reflow.experiment.sweeper import check_runner

        check_runner(runner)
    previous = signal.signal(signal.SIGTERM, _terminate)
    executor = None
    try:
        if not args.scheduler:
            # Local workers start before this process imports pandas, pyarrow and the sweep machinery (~0.7 s), so
            # that their own start-up runs meanwhile on the other cores.
            executor = make_executor(args.workers, max_attempts=args.max_attempts, timeout=args.timeout)
            start = getattr(executor, "start", None)
            if start is not None:
                start(runner)
        from reflow.experiment.sweeper import sweep

        result = sweep(args.config, out=args.out, workers=args.workers, scheduler=args.scheduler,
                       overrides=args.set, progress=not args.quiet, retry_failed=args.retry_failed,
                       force=args.force, max_attempts=args.max_attempts, timeout=args.timeout,
                       runner=runner, executor=executor, allow_runner_change=args.allow_runner_change)
    except KeyboardInterrupt:
        print("sweep interrupted: finished runs are stored; run the same command again to resume",
              file=sys.stderr)
        raise
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            close()
        signal.signal(signal.SIGTERM, previous)
    print(result)
    print(f"analyse with: reflow analyze {result.path}")
    if result.failed:
        # Exit code 1: the sweep ran, its folder is usable, but some runs have no metrics. A plain re-run skips
        # them (a failure is usually deterministic: same seed, same error); after a fix, --retry-failed redoes them.
        failed = ", ".join(f"{n} {s}" for s, n in sorted(result.counts.items()) if s != "ok")
        print(f"{result.failed} of {result.planned} runs failed ({failed}): messages in the `status` and `error` "
              f"columns of {result.path / 'runs'}, tracebacks in {result.path / 'errors.log'}. After fixing the "
              "cause, run the same command with --retry-failed to run them again.", file=sys.stderr)
        return 1
    return 0


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _table(df: Any, max_rows: int) -> str:
    shown = df.head(max_rows)
    cols = list(shown.columns)
    cells = [[_fmt(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    widths = [max(len(str(c)), *(len(r[i]) for r in cells)) if cells else len(str(c)) for i, c in enumerate(cols)]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    if len(df) > max_rows:
        lines.append(f"... {len(df) - max_rows} more rows")
    return "\n".join(lines)


#: Metrics printed at most when a sweep names none: beyond, the headline ones (the rest are in the files).
_UNNAMED_SHOWN = 12


def _shown_metrics(res: Any) -> list[str]:
    """The metrics to print: all those analysed, unless none was named and they are many (the model's ~60)."""
    from reflow.experiment.outputs import HEADLINE_METRICS

    if res.named or len(res.metrics) <= _UNNAMED_SHOWN:
        return list(res.metrics)
    return [m for m in HEADLINE_METRICS if m in res.metrics] or list(res.metrics[:_UNNAMED_SHOWN])


def _points_text(res: Any, metrics: list[str], pct: str, max_rows: int, width: int) -> list[str]:
    """The per-point means: one table with a column per metric if it fits in `width`, else a table per metric."""
    pts = res.points[res.points["metric"].isin(metrics)].copy()
    pts["value"] = [f"{_fmt(m)} [{_fmt(lo)}, {_fmt(hi)}]" for m, lo, hi in
                    zip(pts["mean"], pts["ci_low"], pts["ci_high"], strict=True)]
    index = ["point_id", *res.parameters]
    table = pts.pivot_table(index=index, columns="metric", values="value", aggfunc="first", sort=True)
    table = table[[m for m in metrics if m in table.columns]]
    n = pts.groupby("point_id")[["n", "n_failed"]].max()
    wide = _table(table.reset_index().merge(n.reset_index(), on="point_id"), max_rows)
    head = f"\nPer-point mean [{pct} CI] across replicates (n = runs with a value)"
    if max(map(len, wide.splitlines())) <= width:
        return [f"{head}:", wide]
    column = f"mean [{pct} CI]"
    blocks = {m: pts[pts["metric"] == m].sort_values("point_id").rename(columns={"value": column}) for m in metrics}
    params = list(res.parameters)
    first = next(iter(blocks.values()))
    while params and len(_table(first[["point_id", *params, column, "n", "n_failed"]], 1).split("\n", 1)[0]) > width:
        params.pop()  # many parameters: the last ones go (every point's values are in the files)
    left_out = len(res.parameters) - len(params)
    out = [f"{head}, one table per metric"
           + (f" ({left_out} of {len(res.parameters)} parameters left out to fit the width: each point's values "
              "are in analysis/points.csv and design.parquet)" if left_out else "") + ":"]
    for metric, block in blocks.items():
        out += [f"\n{metric}", _table(block[["point_id", *params, column, "n", "n_failed"]], max_rows)]
    return out


def _about(note: str, metrics: list[str]) -> str | None:
    """The metric a note is about (notes on one metric start with its name), else None."""
    head = note.removeprefix("warning: ").split(": ", 1)[0]
    return head if head in metrics else None


def format_analysis(res: Any, max_rows: int = 40, width: int | None = None) -> str:
    """A `SweepAnalysis` as text tables (what ``reflow analyze`` prints).

    Args:
        res: the analysis.
        max_rows: at most this many rows per table.
        width: the line length to fit (default: the terminal's); the per-point means of several metrics are one
            table with a column per metric when it fits, else one table per metric.
    """
    import shutil

    width = width or shutil.get_terminal_size((120, 24)).columns
    pct = "95%"
    out = [f"sweep {res.path} ({res.method} design; runs: "
           + ", ".join(f"{n} {s}" for s, n in sorted(res.counts.items())) + ")"]
    shown = _shown_metrics(res)
    pts = res.points
    if len(pts):
        level = pts.attrs.get("confidence")
        pct = f"{level:.0%}" if level else pct
        out += _points_text(res, shown, pct, max_rows, width)

    def only_shown(df: Any) -> Any:
        return df[df["metric"].isin(shown)]

    if res.sobol is not None and len(res.sobol):
        out.append("\nSobol' indices (S1 first order, ST total; *_conf = CI half-width):")
        out.append(_table(only_shown(res.sobol).sort_values(["metric", "ST"], ascending=[True, False]), max_rows))
    if res.sobol_s2 is not None and len(res.sobol_s2):
        out.append("\nSecond-order Sobol' indices:")
        out.append(_table(only_shown(res.sobol_s2), max_rows))
    if res.morris is not None and len(res.morris):
        out.append("\nMorris screening (mu_star: mean |elementary effect| per full-range step):")
        out.append(_table(only_shown(res.morris).sort_values(["metric", "mu_star"], ascending=[True, False]),
                          max_rows))
    hidden = [m for m in res.metrics if m not in shown]
    about_hidden = [n for n in res.notes if _about(n, hidden)]
    out += [f"note: {note}" for note in res.notes if note not in about_hidden]
    if hidden:
        from reflow.experiment.outputs import HEADLINE_METRICS

        more = f" (and {len(about_hidden)} notes on them, in analysis/notes.json)" if about_hidden else ""
        which = "headline metrics" if set(shown) <= set(HEADLINE_METRICS) else "metrics"  # a runner's own names
        out.append(f"note: printed {len(shown)} {which} of the {len(res.metrics)} analysed, as the sweep "
                   f"names none in [outputs] metrics; the tables written below hold all of them{more}. Print others "
                   "with --metric NAME (repeatable), or name them in the sweep file's [outputs] metrics")
    out.append(f"\ntables written to {res.path / 'analysis'}/")
    return "\n".join(out)


def _cmd_analyze(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reflow.errors import ReflowError
    from reflow.experiment.analysis import analyze

    if args.reproduce:
        from reflow.experiment.store import load_runs
        from reflow.experiment.sweeper import reproduce_command

        runs = load_runs(args.sweep_dir)
        row = runs[runs["run_id"] == args.reproduce]
        if row.empty:
            raise ReflowError(f"{args.sweep_dir}: no stored run '{args.reproduce}' (ids look like "
                              f"{runs['run_id'].iloc[0] if len(runs) else 'p000000-r0000'})")
        print(reproduce_command(row.iloc[0].to_dict(), _reproducible_base(Path(args.sweep_dir))))
        _note_other_runners(Path(args.sweep_dir), row.iloc[0].get("runner"))
        return 0
    if not 0 < args.confidence < 1:
        raise ReflowError(f"--confidence {args.confidence}: must be between 0 and 1 (e.g. 0.95)")
    res = analyze(args.sweep_dir, metrics=args.metric or None, confidence=args.confidence)
    res.points.attrs["confidence"] = args.confidence
    print(format_analysis(res, args.rows))
    return 0


def _note_other_runners(folder: Any, runner: Any = None) -> None:
    """Say so when the run (its `runner`, from the runs table), or else the sweep's runs (as the manifest lists
    them), was made by another run function than the model `reflow run` runs."""
    import json

    from reflow.experiment.runner import DEFAULT_RUNNER
    from reflow.experiment.runner_checks import recorded_runners

    if isinstance(runner, str) and runner:
        if runner == DEFAULT_RUNNER:
            return
        what = f"this run was made by --runner {runner}, not by the model"
    else:  # not recorded in the table (a folder of an older reflow): what the folder's runs were made by
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        others = [r for r in recorded_runners(manifest) if r != DEFAULT_RUNNER] if isinstance(manifest, dict) else []
        if not others:
            return
        what = f"this sweep's runs were made by --runner {', '.join(others)}, not (only) by the model"
    print(f"note: {what}: the command runs the model, so it reproduces the run's scenario and seed but not its "
          "numbers; the run function is called as fn(reflow.config.load_config(BASE, SETS), SEED)", file=sys.stderr)


def _reproducible_base(folder: Any) -> Any:
    """The scenario file a `reflow run` of one of the sweep's runs starts from.

    The folder's base.toml is self-contained. In folders written by older versions it is a byte copy of the base,
    whose `extends` is relative to the original file: then the original file if it is still there, with a note
    that it reproduces the run only if it and the files it extends are unchanged.
    """
    import json
    import tomllib
    from pathlib import Path

    base = Path(folder) / "base.toml"
    try:
        extends = tomllib.loads(base.read_text(encoding="utf-8")).get("extends")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return base
    if extends is None:
        return base
    try:
        original = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8")).get("base_file")
    except (OSError, ValueError):
        original = None
    if original and Path(original).is_file() and Path(original).resolve() != base.resolve():
        print(f"note: {base} (written by an older reflow) extends {extends!r} relative to the original base; the "
              f"command uses that original, {original}, which reproduces the run only if it and the files it "
              "extends are unchanged since the sweep ran", file=sys.stderr)
        return original
    print(f"note: {base} (written by an older reflow) extends {extends!r}, a path relative to its original "
          "location, which the folder does not record; the command works only where that path leads to the "
          "unchanged file the sweep used", file=sys.stderr)
    return base
