"""Run the forward scenarios over seeds and write a comparison table and figure.

    python experiments/compare_forward.py                 # 10 seeds each, all cores, results/forward/<stamp>/
    python experiments/compare_forward.py --seeds 3 --weeks 200 --out /tmp/fwd
    python experiments/compare_forward.py --set growth.rate_per_year=0.054   # all of them in a growing market

Each scenario is `configs/controls_2025.toml` plus the events of one file in `configs/forward/`
(experiments/README.md says why each one is worth asking about). The table holds, per scenario, the median and
5-95% range over seeds of the headline metrics; the figure shows the median demand-weighted ex-China Dy and magnet
price and the production lost over time.

Output: a new folder `<--out>/<UTC stamp>/` (never an existing one): `manifest.json` (written before the runs:
arguments, seeds, the scenario files with the sha256 of each file of their `extends` chain and of the resolved
config, reflow/Python/numpy/Mesa versions, git commit and dirty flag; completed at the end), `configs/<scenario>.toml`
and `.json` (each scenario's resolved config, `--weeks` and `--set` applied, as `reflow run` writes `config.toml`),
`runs.csv` (one row per run, written as soon as the runs are done), `comparison.md` / `.csv` and `comparison.png`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


SCENARIOS = {
    "controls_2025 (as is)": ROOT / "configs" / "controls_2025.toml",
    "suspension lapses": ROOT / "configs" / "forward" / "suspension_lapses.toml",
    "suspension extended": ROOT / "configs" / "forward" / "suspension_extended.toml",
    "defence-only embargo": ROOT / "configs" / "forward" / "defence_embargo.toml",
    "diversification push": ROOT / "configs" / "forward" / "diversification_push.toml",
}
METRICS = [
    "dy_oxide.peak_price_multiple", "tb_oxide.peak_price_multiple", "ndfeb_magnet.peak_price_multiple",
    "dy_oxide.cumulative_shortage_share", "ndfeb_magnet.cumulative_shortage_share",
    "dy_oxide.final_non_china_share", "ndfeb_magnet.final_non_china_share",
    "overall.production_lost_share", "overall.approval_share", "overall.mean_licence_wait_days",
]
SERIES = ["price_ex_vwap", "demand", "production_lost_share", "output_plan"]


def _one(args: tuple[str, str, int, list[str]]) -> tuple[str, int, dict, pd.DataFrame]:
    label, path, seed, overrides = args
    import reflow

    res = reflow.run(path, seed=seed, overrides=overrides, out=None)
    ts = res.timeseries
    ts = ts[ts["variable"].isin(SERIES)]
    return label, seed, reflow.flatten_summary(res.summary), ts


def _weekly(ts: pd.DataFrame) -> pd.DataFrame:
    """Per week: demand-weighted ex-China price multiple (Dy, magnets) and plan-weighted production lost."""
    out = {}
    for m in ("dy_oxide", "ndfeb_magnet"):
        p = ts[(ts.variable == "price_ex_vwap") & (ts.material == m)].pivot_table(index="date", columns="region",
                                                                                 values="value")
        d = ts[(ts.variable == "demand") & (ts.material == m)].pivot_table(index="date", columns="region",
                                                                          values="value")
        w = (p * d).sum(axis=1) / d.sum(axis=1)
        out[m] = w / w.iloc[:13].mean()
    lost = ts[ts.variable == "production_lost_share"].pivot_table(index="date", columns="region", values="value")
    plan = ts[ts.variable == "output_plan"].pivot_table(index="date", columns="region", values="value")
    out["production_lost"] = (lost * plan).sum(axis=1) / plan.sum(axis=1)
    return pd.DataFrame(out)


def check_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad arguments (`ap.error`: message, exit 2) before anything is created."""
    if args.seeds < 1:
        ap.error(f"--seeds {args.seeds}: give at least 1 seed per scenario (10 by default)")
    if args.weeks is not None and args.weeks < 1:
        ap.error(f"--weeks {args.weeks}: give a horizon of at least 1 week, or leave it out for the full one")
    if args.workers < 1:
        ap.error(f"--workers {args.workers}: give at least 1 worker process")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; 2 on bad input (the message names the argument or file and the fix)."""
    from reflow.cli import guarded

    return guarded(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10, help="seeds per scenario, 0..N-1 (>= 1)")
    ap.add_argument("--weeks", type=int, default=None, help="shorten the horizon (>= 1; for a quick look)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "forward")
    ap.add_argument("--set", dest="fixed", action="append", default=[], metavar="KEY=VALUE",
                    help="override applied to every scenario (e.g. growth.rate_per_year=0.054); repeatable")
    args = ap.parse_args(argv)
    check_args(ap, args)
    from reflow.config import load_config
    from reflow.experiment.executors import process_pool
    from reflow.provenance import new_stamped_folder, run_manifest, write_configs, write_manifest

    overrides = ([f"scenario.weeks={args.weeks}"] if args.weeks is not None else []) + list(args.fixed)
    # A broken scenario file fails here, before any folder or run.
    resolved = {label: load_config(path, overrides) for label, path in SCENARIOS.items()}
    seeds = list(range(args.seeds))
    manifest = run_manifest(argv, args, SCENARIOS, seeds, overrides=overrides, script=__file__)
    folder = new_stamped_folder(args.out)  # a new folder per call: earlier comparisons are never overwritten
    write_configs(folder, manifest, resolved)  # configs/<scenario>.toml and .json: what the runs ran
    write_manifest(folder, manifest)  # before the runs, so that a crash still says what was being run
    tasks = [(label, str(path), seed, overrides) for label, path in SCENARIOS.items() for seed in seeds]
    rows, weekly = [], {}
    with process_pool(args.workers) as pool:  # started as the sweep workers are: never forked from here
        for i, (label, seed, flat, ts) in enumerate(pool.map(_one, tasks), 1):
            rows.append({"scenario": label, "seed": seed, **flat})
            weekly.setdefault(label, []).append(_weekly(ts))
            print(f"\r{i}/{len(tasks)} runs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    runs = pd.DataFrame(rows)
    runs.to_csv(folder / "runs.csv", index=False)  # the runs are kept before anything summarises them
    write_manifest(folder, manifest, runs=len(rows), files=["runs.csv"])
    table = _table(runs)
    (folder / "comparison.md").write_text(table.to_markdown() + "\n" if _has_tabulate() else table.to_string())
    table.to_csv(folder / "comparison.csv")
    _figure(weekly, folder / "comparison.png")
    write_manifest(folder, manifest, status="finished",
                   files=["runs.csv", "comparison.md", "comparison.csv", "comparison.png"])
    print(table.to_string())
    print(f"\nwritten to {folder}")
    return 0


def _table(runs: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in METRICS if c in runs.columns]
    # A metric that is None in every run (no licence decided in a short run: approval_share) is an object
    # column, which quantile refuses: as numbers it is all NaN and shows as "-".
    runs = runs.assign(**{c: pd.to_numeric(runs[c], errors="coerce") for c in cols})
    g = runs.groupby("scenario", sort=False)[cols]
    med, lo, hi = g.median(), g.quantile(0.05), g.quantile(0.95)
    out = pd.DataFrame(index=med.index)
    for c in cols:
        out[c] = [f"{m:.3g} [{a:.3g}, {b:.3g}]" if np.isfinite(m) else "-"
                  for m, a, b in zip(med[c], lo[c], hi[c], strict=True)]
    return out


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(weekly: dict[str, list[pd.DataFrame]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reflow.plotting.style import format_date_axis, scenario_style, set_log_price_axis

    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    titles = {"dy_oxide": "Dy oxide, ex-China price (x first quarter)",
              "ndfeb_magnet": "NdFeB magnets, ex-China price (x first quarter)",
              "production_lost": "Production lost, ex-China manufacturers (share of plan)"}
    seen: dict[str, list[float]] = {col: [] for col in titles}
    for i, (label, frames) in enumerate(weekly.items()):
        stack = pd.concat(frames, keys=range(len(frames)))
        style = scenario_style(i)  # the project's colour-blind-safe overlay styles (colour and line style)
        for ax, col in zip(axes, titles, strict=True):
            s = stack[col].unstack(0)
            med = s.median(axis=1)
            lo, hi = s.quantile(0.05, axis=1), s.quantile(0.95, axis=1)
            seen[col] += [float(lo.min()), float(hi.max())]
            ax.plot(pd.to_datetime(med.index), med.values, label=label, lw=1.4, **style)
            ax.fill_between(pd.to_datetime(med.index), lo, hi, color=style["color"], alpha=0.10, lw=0)
    for ax, title in zip(axes, titles.values(), strict=True):
        ax.set_title(title, loc="left", fontsize=10)
        ax.grid(alpha=0.3)
    set_log_price_axis(axes[0], seen["dy_oxide"])
    set_log_price_axis(axes[1], seen["ndfeb_magnet"])
    axes[2].yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    format_date_axis(axes[2])
    axes[0].legend(fontsize=8, ncol=2)
    fig.suptitle("Forward scenarios: median over seeds, 5-95% band", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
