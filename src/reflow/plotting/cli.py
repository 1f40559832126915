"""`reflow plot` and `reflow report`: registered into the main CLI by `reflow.cli.build_parser`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reflow.cli import positive_int

__all__ = ["register"]

_RESULTS_HELP = ("a run folder, a scenario folder holding runs over seeds (median and 5-95%% band), several "
                 "run/scenario folders (compared), or one sweep folder")


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


# --dpi: matplotlib fails on 0 or less only after the data is read
_dpi = positive_int("dots per inch, e.g. 200")


def _note(msg: str) -> None:
    print(f"note: {msg}", file=sys.stderr)


def _cmd_plot(args: argparse.Namespace) -> int:
    from reflow.plotting.api import plot

    written = plot(args.results, args.out, formats=_csv(args.format), period=args.period,
                   only=_csv(args.only) if args.only else None,
                   metrics=_csv(args.metric) if args.metric else None, dpi=args.dpi, note=_note,
                   workers=args.workers, force=args.force)
    if not written:
        print("no figures written")
        return 1
    folders = sorted({str(p.parent) for p in written})
    stems = sorted({p.stem for p in written})
    print(f"{len(stems)} figures ({len(written)} files) written to {', '.join(folders)}:")
    for stem in stems:
        print(f"  {stem}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from reflow.plotting.html_report import report

    # report() checks the resolution and refuses to overwrite before reading or drawing anything.
    written = report(args.results, args.out, pdf=args.pdf, period=args.period,
                     only=_csv(args.only) if args.only else None,
                     metrics=_csv(args.metric) if args.metric else None, dpi=args.dpi, note=_note,
                     workers=args.workers, force=args.force)
    for p in written:
        print(f"Report written to {p}")
    return 0


def _workers_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=None,
                   help="processes drawing figures at once (default: CPU count, at most 4; 1: one at a time)")


def register(subparsers: Any) -> None:
    """Add the `plot` and `report` subcommands to the `reflow` parser's subparsers."""
    p = subparsers.add_parser("plot", help="report-quality figures (PNG + SVG/PDF) of runs or a sweep",
                              description="Write report-quality figures of result folders.")
    p.add_argument("results", nargs="+", metavar="RESULT", help=_RESULTS_HELP)
    p.add_argument("--out", default=None,
                   help="output folder (default: RESULT/plots, or compare-<a>_vs_<b>/plots beside several)")
    p.add_argument("--format", default="png,svg", help="comma-separated: png, svg, pdf (default: png,svg)")
    p.add_argument("--dpi", type=_dpi, default=200, help="PNG resolution (default: 200)")
    p.add_argument("--period", default=None, metavar="START:END",
                   help="period of the trade-flow matrices, e.g. 2025-04-01:2026-03-31 (default: whole run)")
    p.add_argument("--only", default=None, metavar="NAMES",
                   help="comma-separated figures; runs: prices, shortages, inventories, licences, "
                        "supply_shares, capacity, flows; sweeps: heatmap, response, sobol, morris")
    p.add_argument("--metric", default=None, metavar="NAMES",
                   help="sweeps: comma-separated metrics, e.g. dy_oxide.peak_price_multiple,"
                        "overall.production_lost_share (default: the sweep's [outputs] metrics)")
    _workers_option(p)
    p.add_argument("--force", action="store_true", help="replace figure files that already exist in the output folder")
    p.set_defaults(func=_cmd_plot)

    p = subparsers.add_parser("report", help="one self-contained HTML report of runs, scenarios or a sweep",
                              description="Write one self-contained HTML report (figures embedded).")
    p.add_argument("results", nargs="+", metavar="RESULT", help=_RESULTS_HELP)
    p.add_argument("--out", default=None,
                   help="HTML file (default: RESULT/report.html, or compare-<a>_vs_<b>/report.html)")
    p.add_argument("--pdf", action="store_true", help="also write a PDF beside the HTML")
    p.add_argument("--period", default=None, metavar="START:END", help="period of the trade-flow matrices")
    p.add_argument("--only", default=None, metavar="NAMES", help="comma-separated figures (default: all)")
    p.add_argument("--metric", default=None, metavar="NAMES", help="sweeps: comma-separated metrics")
    p.add_argument("--dpi", type=_dpi, default=150,
                   help="resolution of the embedded figures (default: 150)")
    _workers_option(p)
    p.add_argument("--force", action="store_true", help="replace the HTML (and PDF) file if it exists")
    p.set_defaults(func=_cmd_report)
