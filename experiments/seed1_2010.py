"""The seed-1 dollar and tonne figures that docs/validation.md quotes for the 2010-11 quota crisis.

    python experiments/seed1_2010.py                        # runs configs/quota_2010.toml, seed 1 (seconds)
    python experiments/seed1_2010.py --run results/quota_2010/seed1-<stamp>   # reads a run folder instead
    python experiments/seed1_2010.py --seed 2 --set policy.export_duties.rate.ndpr_oxide=0.25 --out /tmp/s1

docs/validation.md (summary, section 1.5 and the "now" column of item 3's table) illustrates the 20-seed fit of
section 1.4 with figures of one run, seed 1 of `configs/quota_2010.toml`: China's and Japan's prices in USD/kg in
given months, China's official and unofficial exports in tonnes, non-Chinese NdPr output and China's magnet
exports. This script computes each of them from one run's tidy time series (docs/outputs.md), with its definition
written down (`FIGURES`); each was pinned by reproducing the figures the document quoted on the code they were
measured on (commit 8bae6f9, 1 December 2026, and 85d03f8 for December 2012's NdPr price in Japan, ~92).

Definitions shared by the figures, those of the fitted metrics (`reflow.validation`'s calendar functions, which
this script calls): a month's price is the mean of the run's weekly values whose week starts (a Monday) in that
month (`month_mean`, `monthly_means`); a year's tonnage is the sum of the weekly values whose week starts in that
calendar year, NaN if the run has no week in it (`year_total`); a multiple of 2009 is over the mean of 2009's weekly
values (`year_mean`); a range of months is the months from the first to the last, inclusive (`period`). "ex-China"
is `reflow.validation.ex_china_price`, the ``price_ex_vwap`` of the importing regions weighted by their ``demand``;
"Japan" is the region ``JPKR`` (Japan and Korea) alone (`weekly_total` of that region). The medians and bands over
20 seeds that the document quotes beside these figures come from experiments/validation_figures.py, not from here.

Output: a new folder `<--out>/<UTC stamp>/` (never an existing one): `manifest.json` (written before the run:
arguments, seed, the scenario file with the sha256 of each file of its `extends` chain and of the resolved config,
or the run folder read and its own manifest; versions, git commit and dirty flag; completed at the end),
`configs/scenario.toml` and `.json` (the resolved config run, as `reflow run` writes `config.toml`; not with
`--run`), `figures.csv` (key, where the document quotes it, value, the value as the document would show it,
definition) and `figures.md`, the same as a table, which is printed too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CONFIG = ROOT / "configs" / "quota_2010.toml"
SEED = 1
OXIDES3 = ("ndpr_oxide", "dy_oxide", "tb_oxide")
SHORT = {"ndpr_oxide": "NdPr", "dy_oxide": "Dy", "tb_oxide": "Tb", "ndfeb_magnet": "magnets", "light_ree": "La/Ce"}
JAPAN = "JPKR"
LIGHT = {"exports_cn_total": "light_exports_cn", "exports_cn_unofficial": "light_exports_cn_unofficial"}
# History's ranges the document sets December 2012's prices in Japan against [V2] (DOMAIN.md section 4).
HISTORY_DEC_2012 = {"ndpr_oxide": (75.0, 80.0), "dy_oxide": (600.0, 630.0)}


class Run:
    """One run's tidy time series, read through `reflow.validation`'s calendar (`month_mean`, `monthly_means`,
    `year_total`, `year_mean`, `period`) and series (`weekly_total`, `light_series`, `ex_china_price`)."""

    def __init__(self, ts: pd.DataFrame) -> None:
        from reflow import validation as v

        self.v = v
        self.ts = v.prepare(ts)  # once, not in every series read below

    def year_sum(self, variable: str, material: str, year: int) -> float:
        """Tonnes in calendar `year` (`year_total`: NaN if the run has no week in it); for ``light_ree`` the La/Ce
        market's series (`LIGHT`)."""
        s = (self.v.light_series(self.ts, LIGHT[variable]) if material == "light_ree"
             else self.v.weekly_total(self.ts, variable, material))
        return self.v.year_total(s, year)

    def cn_price(self, material: str, month: str) -> float:
        return self.v.month_mean(self.v.weekly_total(self.ts, "price_cn", material), month)

    def cn_multiple(self, material: str, month: str) -> float:
        s = self.v.weekly_total(self.ts, "price_cn", material)
        return self.v.month_mean(s, month) / self.v.year_mean(s, 2009)

    def ex_price(self, material: str, month: str) -> float:
        return self.v.month_mean(self.v.ex_china_price(self.ts, material), month)

    def japan_weekly(self, material: str) -> pd.Series:
        return self.v.weekly_total(self.ts, "price_ex_vwap", material, JAPAN)

    def japan_price(self, material: str, month: str) -> float:
        return self.v.month_mean(self.japan_weekly(material), month)

    def level_end_2012(self, material: str) -> float:
        return self.v.price_level(self.ts, material, dt.date(2012, 12, 1), dt.date(2012, 12, 31))


def _japan_peak_2011(r: Run) -> tuple[float, str]:
    """Japan's highest monthly NdPr price in 2011, and its month."""
    m = r.v.period(r.v.monthly_means(r.japan_weekly("ndpr_oxide")), "2011-01-01", "2011-12-31")
    return float(m.max()), m.idxmax().strftime("%Y-%m")


def _japan_range(r: Run, start: str, end: str) -> tuple[float, float]:
    """Japan's lowest and highest monthly NdPr price from month `start` to month `end` ("YYYY-MM-01")."""
    m = r.v.period(r.v.monthly_means(r.japan_weekly("ndpr_oxide")), start, end)
    return float(m.min()), float(m.max())


@dataclass(frozen=True)
class Figure:
    """One figure the document quotes: where, what, how shown, how defined, and how computed from a `Run`."""

    key: str
    where: str
    label: str
    fmt: str  # format of the value as the document shows it ("~{:,.0f}", "{:.1f}x", ...)
    definition: str
    compute: Callable[[Run], float]


def _figures() -> list[Figure]:
    out: list[Figure] = []
    add = out.append
    right, summ = "1.5 Right", "summary, 1.5 Right, 1.5 item 2, item 3's table"
    for m in OXIDES3:
        add(Figure(f"{m}.cn_price_2011_09", right, f"China's {SHORT[m]} oxide price, Sep 2011 (USD/kg)", "~{:,.0f}",
                   "price_cn, mean of the weeks of September 2011",
                   lambda r, m=m: r.cn_price(m, "2011-09")))
    for month, label in (("2011-09", "Sep 2011"), ("2012-03", "Mar 2012")):
        for m in OXIDES3:
            add(Figure(f"{m}.cn_multiple_{month.replace('-', '_')}", right,
                       f"China's {SHORT[m]} oxide price, {label}, x 2009", "{:.1f}x",
                       f"price_cn, mean of the weeks of {label}, over the mean of 2009's weeks",
                       lambda r, m=m, month=month: r.cn_multiple(m, month)))
    add(Figure("ndpr_oxide.ex_price_2011_09", right, "ex-China NdPr oxide price, Sep 2011 (USD/kg)", "~{:,.0f}",
               "reflow.validation.ex_china_price (price_ex_vwap of the importing regions weighted by demand), mean "
               "of the weeks of September 2011",
               lambda r: r.ex_price("ndpr_oxide", "2011-09")))
    add(Figure("ndpr_oxide.ex_peak_month", right, "ex-China NdPr oxide price: its highest month (YYYY.MM)",
               "{:.2f}", "month of the highest monthly ex-China price (reflow.validation.price_peak), as year.month",
               lambda r: _as_yyyymm(r.v.price_peak(r.ts, "ndpr_oxide")["date"])))
    for year in (2012, 2013):
        for m in ("ndpr_oxide", "dy_oxide"):
            add(Figure(f"{m}.japan_price_{year}_12", summ, f"Japan's {SHORT[m]} oxide price, Dec {year} (USD/kg)",
                       "~{:,.0f}", f"price_ex_vwap of region JPKR, mean of the weeks of December {year}",
                       lambda r, m=m, year=year: r.japan_price(m, f"{year}-12")))
    for m, (lo, hi) in HISTORY_DEC_2012.items():
        add(Figure(f"{m}.japan_2012_12_over_history", "summary, 1.5 Right",
                   f"Japan's {SHORT[m]} price, Dec 2012, over history's {lo:g}-{hi:g} USD/kg (lowest-highest)",
                   "{:.2f}", "Japan's December 2012 price over the middle of history's range (the lower and upper "
                   "ends give the range of the excess)",
                   lambda r, m=m, lo=lo, hi=hi: r.japan_price(m, "2012-12") / ((lo + hi) / 2)))
    for m in ("ndpr_oxide", "dy_oxide"):
        add(Figure(f"{m}.level_end_2012", "1.5 item 2", f"ex-China {SHORT[m]} oxide price, Dec 2012, x 2009 (seed 1)",
                   "{:.1f}x", "reflow.validation.price_level over December 2012 (the check of section 1.4, on seed 1)",
                   lambda r, m=m: r.level_end_2012(m)))
    for m in (*OXIDES3, "light_ree"):
        add(Figure(f"{m}.official_2011", "1.5 Right, item 6", f"China's official {SHORT[m]} exports, 2011 (t)",
                   "{:,.0f} t", "exports_cn_total (La/Ce: light_exports_cn), all destinations, weeks of 2011",
                   lambda r, m=m: r.year_sum("exports_cn_total", m, 2011)))
        add(Figure(f"{m}.unofficial_2011", "1.5 Right, item 6", f"China's unofficial {SHORT[m]} exports, 2011 (t)",
                   "{:,.0f} t", "exports_cn_unofficial (La/Ce: light_exports_cn_unofficial), all destinations, "
                   "weeks of 2011",
                   lambda r, m=m: r.year_sum("exports_cn_unofficial", m, 2011)))
    for var, word in (("exports_cn_unofficial", "unofficial"), ("exports_cn_total", "official")):
        for which, fn in (("min", min), ("max", max)):
            add(Figure(f"dy_oxide.{word}_2012_14_{which}", "1.5 item 6",
                       f"China's {word} Dy exports, {'lowest' if which == 'min' else 'highest'} year of 2012-14 (t)",
                       "{:,.0f} t", f"{var}, all destinations, per calendar year; the {which} over 2012-2014",
                       lambda r, var=var, fn=fn: fn(r.year_sum(var, "dy_oxide", y) for y in (2012, 2013, 2014))))
    for year in (2013, 2014, 2015):
        add(Figure(f"ndpr_oxide.alt_output_{year}", "1.5 Right, item 3's table",
                   f"non-Chinese NdPr oxide output, {year} (t)", "{:,.0f} t",
                   f"production_alt, weeks of {year}",
                   lambda r, year=year: r.year_sum("production_alt", "ndpr_oxide", year)))
    for year in (2011, 2012, 2013, 2014):
        add(Figure(f"ndfeb_magnet.exports_{year}", "1.5 Right, item 7", f"China's magnet exports, {year} (kt)",
                   "{:.1f} kt", f"exports_cn_total of ndfeb_magnet, weeks of {year}, in kt",
                   lambda r, year=year: r.year_sum("exports_cn_total", "ndfeb_magnet", year) / 1000.0))
    add(Figure("ndpr_oxide.japan_peak_2011", "1.5 item 5", "Japan's NdPr price, highest month of 2011 (USD/kg)",
               "~{:,.0f}", "price_ex_vwap of JPKR, monthly means; the highest in 2011",
               lambda r: _japan_peak_2011(r)[0]))
    add(Figure("ndpr_oxide.japan_peak_2011_month", "1.5 item 5", "... its month (YYYY.MM)", "{:.2f}",
               "the month of that highest monthly price, as year.month",
               lambda r: _as_yyyymm(pd.Timestamp(_japan_peak_2011(r)[1] + "-01"))))
    for start, end, label in (("2011-10-01", "2012-01-01", ("oct2011_jan2012", "Oct 2011-Jan 2012")),
                              ("2011-07-01", "2011-08-01", ("jul_aug2011", "Jul-Aug 2011"))):
        for i, which in enumerate(("lowest", "highest")):
            key = f"ndpr_oxide.japan_{label[0]}_{which[:-3]}"
            add(Figure(key, "1.5 item 5", f"Japan's NdPr price, {which} month of {label[1]} (USD/kg)", "{:,.0f}",
                       f"price_ex_vwap of JPKR, monthly means over {label[1]}",
                       lambda r, i=i, start=start, end=end: _japan_range(r, start, end)[i]))
            add(Figure(f"{key}_of_peak", "1.5 item 5", f"... over the highest month of 2011 ({which})", "{:.2f}",
                       "that monthly price over Japan's highest monthly NdPr price of 2011",
                       lambda r, i=i, start=start, end=end: _japan_range(r, start, end)[i] / _japan_peak_2011(r)[0]))
    return out


def _as_yyyymm(ts: pd.Timestamp) -> float:
    return ts.year + ts.month / 100.0


FIGURES = _figures()


def figures(ts: pd.DataFrame) -> pd.DataFrame:
    """Every figure of `FIGURES` from one run's tidy time series: key, where, label, value, shown, definition."""
    r = Run(ts)
    rows = []
    for f in FIGURES:
        value = float(f.compute(r))
        rows.append({"key": f.key, "where": f.where, "label": f.label, "value": value,
                     "shown": f.fmt.format(value) if pd.notna(value) else "-", "definition": f.definition})
    return pd.DataFrame(rows)


def check_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad arguments (`ap.error`: message, exit 2) before anything is created."""
    if args.run is not None:
        if args.config is not None or args.seed is not None or args.fixed:
            ap.error("--run reads a finished run: leave out --config, --seed and --set (they say what to run)")
        if not (args.run / "timeseries.parquet").is_file():
            ap.error(f"--run {args.run}: no timeseries.parquet there; give a run folder written by `reflow run` "
                     "(e.g. results/quota_2010/seed1-<stamp>)")
        return
    if args.seed is not None and args.seed < 0:
        ap.error(f"--seed {args.seed}: give a whole number >= 0 (1 is the document's)")
    if args.config is not None and not args.config.is_file():
        ap.error(f"--config {args.config}: no such file; give the path of a scenario TOML (default "
                 f"{CONFIG.relative_to(ROOT)})")


def main(argv: list[str] | None = None) -> int:
    """Compute and print the figures; 2 on bad input (the message names the argument or file and the fix)."""
    from reflow.cli import guarded

    return guarded(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=None, help=f"scenario TOML (default {CONFIG.relative_to(ROOT)})")
    ap.add_argument("--seed", type=int, default=None, help=f"the run's seed (default {SEED}, the document's)")
    ap.add_argument("--set", dest="fixed", action="append", default=[], metavar="KEY=VALUE",
                    help="override applied to the config before the run (a what-if); repeatable")
    ap.add_argument("--run", type=Path, default=None, help="read this run folder (reflow run's output) instead of "
                    "running; e.g. a run made on an older commit")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "seed1_2010")
    args = ap.parse_args(argv)
    check_args(ap, args)
    import reflow
    from reflow.config import load_config
    from reflow.provenance import new_stamped_folder, run_manifest, write_configs, write_manifest

    if args.run is not None:
        # The run folder's own record of what made it (commit, config hash, seed), kept beside ours.
        run_man = args.run / "manifest.json"
        made_by = json.loads(run_man.read_text()) if run_man.is_file() else None
        manifest = run_manifest(argv, args, {}, [made_by.get("seed")] if made_by else [], script=__file__,
                                run_folder=str(args.run.resolve()), run_manifest=made_by)
        folder = new_stamped_folder(args.out)
        write_manifest(folder, manifest)
        ts = pd.read_parquet(args.run / "timeseries.parquet")
    else:
        config, seed = args.config or CONFIG, SEED if args.seed is None else args.seed
        scenario = load_config(config, args.fixed)  # a broken file or --set fails here, before any folder
        manifest = run_manifest(argv, args, {"scenario": config}, [seed], overrides=args.fixed, script=__file__)
        folder = new_stamped_folder(args.out)  # a new folder per call: earlier results are never overwritten
        write_configs(folder, manifest, {"scenario": scenario})
        write_manifest(folder, manifest)  # before the run, so that a crash still says what was being run
        ts = reflow.run(scenario, seed=seed, out=None).timeseries
    table = figures(ts)
    table.to_csv(folder / "figures.csv", index=False)
    shown = table[["key", "where", "label", "shown", "definition"]]
    (folder / "figures.md").write_text(_markdown(shown))
    write_manifest(folder, manifest, status="finished", files=["figures.csv", "figures.md"])
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 70, "display.width", 250):
        print(table[["key", "where", "shown", "value"]].to_string(index=False))
    print(f"\ndefinitions in {folder / 'figures.md'}\nwritten to {folder}")
    return 0


def _markdown(df: pd.DataFrame) -> str:
    """A pipe table (without the optional tabulate package)."""
    def cell(x: Any) -> str:
        return str(x).replace("|", "/")

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
