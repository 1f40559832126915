"""`report`: one self-contained HTML file (figures embedded as data URIs, no network) and optionally a PDF.

Sections: the scenario and its description, the policy timeline, the headline numbers, the figures with a
sentence each, the resolved configuration and the provenance (version, commit, seeds, timings).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import shlex
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

from reflow.errors import ReflowError
from reflow.plotting.api import (
    FigureJob,
    as_list,
    check_dpi,
    default_out,
    ensure_folder,
    figure_jobs,
    refuse_overwrite,
    run_jobs,
)
from reflow.plotting.load import ResultSet, RunResult, SweepResult, open_results
from reflow.plotting.pdf_cover import cover_pages
from reflow.plotting.report_tables import fmt_value, headline_rows, policy_rows, short
from reflow.plotting.style import rc_params, render_figure, shared_file_mode
from reflow.report_text import MULTIPLE_BASIS, MULTIPLE_UNIT, SPIKE_MULTIPLE

__all__ = ["render_html", "report"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1.2em;color:#222;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #0072B2;padding-bottom:.2em;margin-top:2em}
.meta{color:#555;margin-top:0}table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.num{text-align:right;white-space:nowrap}
figure{margin:1.5em 0;page-break-inside:avoid}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#444;font-size:.92em;margin-top:.3em}pre{background:#f7f7f7;padding:.8em;overflow:auto;
font-size:.82em;max-height:40em}nav a{margin-right:1em}.note{color:#8a4b00}
@media print{nav{display:none}pre{max-height:none}}
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _kv_table(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(short(v))}</td></tr>" for k, v in pairs
                   if v not in (None, "", [], {}))
    return f"<table><tbody>{rows}</tbody></table>"


def render_html(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """A complete HTML document from (anchor, heading, inner HTML) sections."""
    nav = "".join(f'<a href="#{a}">{html.escape(h)}</a>' for a, h, _ in sections)
    body = "".join(f'<section id="{a}"><h2>{html.escape(h)}</h2>{inner}</section>\n'
                   for a, h, inner in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{html.escape(title)}</h1><p class=\"meta\">{html.escape(subtitle)}</p>"
            f"<nav>{nav}</nav></header>\n{body}\n</body>\n</html>\n")


def _png_data_uri(_job: FigureJob, fig: Any, *, dpi: int) -> str:
    buf = io.BytesIO()
    render_figure(fig, buf, "png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# Said once in words where the unit label is terse: the multiple is over the run's own start, not over the
# `baseline` scenario a report often compares with.
_MULTIPLE_WORDS = (f"Peak ex-China price ({MULTIPLE_UNIT}): the highest weekly demand-weighted ex-China "
                   f"price divided by {MULTIPLE_BASIS}, whatever the scenario (not a comparison with the baseline "
                   "scenario).")


def _run_sections(results: ResultSet) -> tuple[str, str, list[tuple[str, str, str]]]:
    groups = results.groups
    first = results.runs[0]
    names = list(groups)
    n_runs = len(results.runs)
    if results.kind == "run":
        title = f"reflow: {first.scenario}, seed {first.seed}"
    elif results.kind == "ensemble":
        title = f"reflow: {first.scenario}, {n_runs} seeds"
    else:
        title = "reflow: " + " vs ".join(names)
    sections = []
    scen = []
    for name, runs in groups.items():
        cfg = runs[0].config
        sc = cfg.get("scenario") or {}
        desc = str(sc.get("description") or "").strip() or "(no description in the config)"
        seeds = ", ".join(str(r.seed) for r in runs)
        facts = _kv_table([("Scenario", name), ("Start", sc.get("start")),
                           ("Weeks simulated", sc.get("weeks")), ("Runs", len(runs)), ("Seeds", seeds)])
        scen.append(f"<h3>{html.escape(name)}</h3><p>{html.escape(desc)}</p>{facts}")
    if results.skipped:
        scen.append(f'<p class="note">Left out {len(results.skipped)} interrupted run folder(s) without '
                    "manifest.json.</p>")
    # how the runs were grouped (configs told apart, a seed run twice counted once): the reader of the file
    # never saw the command's stderr
    scen += [f'<p class="note">Note: {html.escape(n)}.</p>' for n in results.notes]
    sections.append(("scenario", "Scenario" + ("s" if len(groups) > 1 else ""), "".join(scen)))

    pol = []
    hdr = ["Id", "Kind", "Label", "Announced", "Effective", "Suspended", "Resumed", "Lifted", "Settings"]
    for name, runs in groups.items():
        rows = policy_rows(runs[0].config)
        head = f"<h3>{html.escape(name)}</h3>" if len(groups) > 1 else ""
        empty = "<p>No policy events (a baseline without measures).</p>"
        pol.append(head + (_table(hdr, rows) if rows else empty))
    sections.append(("policy", "Policy timeline", "".join(pol)))

    header, rows, overall = headline_rows(groups)
    how = ("" if n_runs == 1 else "<p>Each cell: median across seeds, with the 5-95% range in brackets.</p>")
    how += (f"<p>{_MULTIPLE_WORDS} Peak week and region are named for a peak of {SPIKE_MULTIPLE:g}x or more (a "
            "price that never rose that far has no spike to date).</p>")
    inner = (how + "<h3>By material</h3>" + _table(header, rows)
             + "<h3>Overall</h3>" + _table(["Metric", *names], overall))
    sections.append(("headline", "Headline numbers", inner))
    return title, _subtitle(results), sections


def _subtitle(results: ResultSet) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    kind = {"run": "one run", "ensemble": "one scenario over several seeds", "overlay": "scenarios compared",
            "sweep": "parameter sweep"}[results.kind]
    return f"Report of {kind}, generated {now}."


_PROV_ALWAYS = ("Seed", "Started", "Wall time", "Folder")  # per run even when all runs agree


def _commit(m: dict[str, Any]) -> str:
    """The commit with the state of the tree: "(clean)" said so, where a bare hash left the reader to guess."""
    commit = str(m.get("git_commit") or "–")[:12]
    if commit == "–" or m.get("git_dirty") is None:
        return commit
    if not m.get("git_dirty"):
        return f"{commit} (clean)"
    n = m.get("git_dirty_count")
    return f"{commit} (dirty: {n} file{'s' if n != 1 else ''} changed)" if isinstance(n, int) else f"{commit} (dirty)"


def _rerun(m: dict[str, Any], seed: Any) -> str:
    """The command that re-runs a run, from its manifest (its config file and overrides)."""
    cfg = m.get("config_file")
    if not cfg:
        return "–"
    ov = m.get("overrides") or {}
    pairs = ([f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in ov.items()] if isinstance(ov, dict)
             else [str(o) for o in ov])  # (manifests store the parsed `--set` values by key)
    sets = "".join(f" --set {shlex.quote(p)}" for p in pairs)
    return f"reflow run {shlex.quote(str(cfg))} --seed {seed}{sets}"


def _provenance_run(results: ResultSet) -> str:
    """What made the runs. Values every run shares are given once above the table (a 20-seed report repeated
    the version, commit, environment and config file on every row, 23 rows to find the one that differs); the
    table keeps what differs, and each run's seed, start, wall time and folder."""
    rows: list[dict[str, str]] = []
    for r in results.runs:
        m = r.manifest
        rows.append({"Scenario": r.scenario, "Seed": str(r.seed), "reflow": str(m.get("reflow_version", "–")),
                     "Commit": _commit(m), "Started": str(m.get("started_at", "–")),
                     "Wall time": fmt_value(m.get("wall_time_s"), "float") + " s",
                     "Config file": str(m.get("config_file") or "–"), "Overrides": short(m.get("overrides") or "–"),
                     "Environment": f"Python {m.get('python', '?')}, Mesa {m.get('mesa_version', '?')}, "
                                    f"{m.get('platform', '?')}",
                     "Re-run with": _rerun(m, r.seed), "Folder": str(r.path)})
    if len(rows) == 1:
        return _kv_table(list(rows[0].items()))
    columns = list(rows[0])
    common = [c for c in columns if c not in _PROV_ALWAYS and c != "Re-run with"
              and len({row[c] for row in rows}) == 1]
    shown = [c for c in columns if c not in common]
    intro = (f"<p>Common to all {len(rows)} runs:</p>" + _kv_table([(c, rows[0][c]) for c in common])
             if common else "")
    return intro + _table(shown, [[row[c] for c in shown] for row in rows])


def _config_text(run: RunResult) -> tuple[str, str]:
    """(what is shown, the text): the run's config.toml, or its config.json when the folder has no TOML."""
    path = run.path / "config.toml"
    if path.is_file():
        return "config.toml", path.read_text(encoding="utf-8", errors="replace")
    # Named for what it is: under a "config.toml" heading the JSON read as a file the folder does not hold.
    return "config.json (the folder has no config.toml)", json.dumps(run.config, indent=2)


def _sweep_sections(results: ResultSet, metrics: Sequence[str] | None = None,
                    ) -> tuple[str, str, list[tuple[str, str, str]], str]:
    from reflow.plotting.sweep_figures import metric_label, metric_text

    sweep = results.sweep
    assert sweep is not None
    base = _read_base(sweep)
    block = sweep.spec.get("sweep") if isinstance(sweep.spec.get("sweep"), dict) else sweep.spec
    desc = str(block.get("description") or "").strip()
    base_sc = base.get("scenario") or {}
    sections = []
    runs = sweep.runs()
    status = runs["status"].value_counts().to_dict() if "status" in runs else {}
    params = sweep.parameters
    prow = []
    for p in params:
        col = runs[p] if p in runs else pd.Series(dtype=float)
        vals = col.dropna().unique()
        numeric = pd.api.types.is_numeric_dtype(col)
        rng = (f"{np.min(vals):.4g} to {np.max(vals):.4g}" if numeric and len(vals) else
               ", ".join(map(str, vals[:8])))
        prow.append([p, str(len(vals)), rng])
    intro = (f"<p>{html.escape(desc)}</p>" if desc else "") + _kv_table([
        ("Sweep", sweep.name), ("Base scenario", base_sc.get("name") or sweep.manifest.get("base_file")),
        ("Base description", base_sc.get("description")), ("Design", sweep.design_method),
        ("Runs stored", len(runs)), ("Status", ", ".join(f"{k}: {v}" for k, v in status.items()))])
    intro += "<h3>Varied parameters</h3>" + _table(["Parameter", "Values", "Range"], prow)
    sections.append(("scenario", "Sweep", intro))
    pol = policy_rows(base, params)
    hdr = ["Id", "Kind", "Label", "Announced", "Effective", "Suspended", "Resumed", "Lifted", "Settings"]
    sections.append(("policy", "Policy timeline of the base scenario",
                     _table(hdr, pol) if pol else
                     "<p>No policy events in the base scenario (or no base.toml).</p>"))
    ok = runs[~runs["status"].isin({"error", "failed", "crashed", "timeout"})] if "status" in runs else runs
    mrows = []
    for m in sweep.metrics:
        if "_by_region." in m:  # regional detail stays in the runs table; the headline is per material
            continue
        if m not in ok or not pd.api.types.is_numeric_dtype(ok[m]):
            continue
        _w, _u, scale = metric_text(m)
        v = pd.to_numeric(ok[m], errors="coerce").dropna() * scale
        if v.empty:
            continue
        q = v.quantile([0.05, 0.5, 0.95])
        mrows.append([metric_label(m), _num(v.mean()), _num(q.iloc[1]),
                      f"{_num(q.iloc[0])} to {_num(q.iloc[2])}", str(len(v))])
    sections.append(("headline", "Headline numbers across runs",
                     f"<p>Spread of each summary metric over all finished runs of the sweep. {_MULTIPLE_WORDS} "
                     "A time to recover "
                     f"counts only the runs whose price was back under {SPIKE_MULTIPLE:g}x by the end (their share "
                     "is the material's 'recovered' row): the others' times are longer than the run.</p>"
                     + _table(["Metric", "Mean", "Median", "5-95% range", "Runs"], mrows)))
    notes = analysis_notes(sweep, metrics)
    if notes:
        sections.append(("analysis", "Analysis notes",
                         "<p>What <code>reflow analyze</code> says about the sweep: replicate noise against the "
                         "parameters' effects, indices that cannot be trusted, metrics left out.</p><ul>"
                         + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"))
    config = (sweep.spec_text or "") + ("\n# ---- base scenario (base.toml) ----\n" + base["_text"]
                                        if base.get("_text") else "")
    return f"reflow sweep: {sweep.name}", _subtitle(results), sections, config


def analysis_notes(sweep: SweepResult, metrics: Sequence[str] | None = None) -> list[str]:
    """The notes of `reflow analyze`: from ``analysis/notes.json`` when it was run, else (or when that file is
    unreadable or not `analyze`'s shape) computed for Sobol' and Morris designs (whose figures rest on them); none
    for other designs. `metrics`: those the figures show (default `default_metrics`), when computed."""
    stale = sweep.analysis_stale()
    notes = sweep.analysis_record.get("notes") if sweep.analysis_record is not None and not stale else None
    if isinstance(notes, list):
        return [str(n) for n in notes]
    # stale: the stored notes describe runs the sweep has since added to; the notes of the runs as they are
    if not stale and sweep.design_method not in ("sobol", "morris"):
        return []
    from reflow.plotting.sweep_figures import computed_analysis, default_metrics

    result = computed_analysis(sweep, list(metrics or default_metrics(sweep)))
    computed = list(result.notes) if result is not None else []  # (the figures say what could not be computed)
    return [stale, *computed] if stale else computed


def _num(x: float) -> str:
    """Three significant figures, but whole numbers with thousands separators from 1,000 up (not 5.47e+03)."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _read_base(sweep: SweepResult) -> dict[str, Any]:
    path = sweep.path / "base.toml"
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {"_text": text}
    data["_text"] = text
    return data


def _provenance_sweep(sweep: SweepResult) -> str:
    m = sweep.manifest
    keys = ("reflow_version", "git_commit", "git_dirty", "root_seed", "design", "points", "replicates",
            "runs_planned", "status", "counts", "started_at", "updated_at", "config_file", "base_file",
            "base_sha256", "python", "mesa_version", "platform")
    return _kv_table([(k, m.get(k)) for k in keys] + [("Folder", str(sweep.path))])


def report(paths: str | Path | Sequence[str | Path], out: str | Path | None = None, *, pdf: bool = False,
           period: str | None = None, only: str | Sequence[str] | None = None,
           metrics: str | Sequence[str] | None = None,
           dpi: int = 150, note: Callable[[str], None] | None = None, workers: int | None = None,
           force: bool = False) -> list[Path]:
    """Write one self-contained HTML report (and optionally a PDF beside it) of result folders.

    Args:
        paths: a run, a scenario folder, several of them (compared) or one sweep folder.
        out: the HTML file (default `<folder>/report.html`, or `compare-<a>_vs_<b>/report.html`).
        pdf: also write the same name with `.pdf`: a cover page with the headline numbers, then the figures.
        period: `START:END` of the trade-flow matrices.
        only: figure names to include (default all; see `reflow.plotting.api.plot`).
        metrics: sweep metrics to plot.
        dpi: resolution of the embedded PNGs.
        note: called with a sentence for anything left out.
        workers: processes drawing figures at once (`reflow.plotting.api.run_jobs`; a PDF is drawn here).
        force: replace the HTML (and PDF) file if it exists (otherwise `ResultExistsError`, before any work).

    Returns:
        The files written (HTML first).
    """
    paths, only, metrics = as_list(paths), as_list(only), as_list(metrics)
    check_dpi(dpi)
    results = open_results(paths)
    target = Path(out).expanduser() if out is not None else default_out(paths, results, "report.html")
    refuse_overwrite([target, target.with_suffix(".pdf")] if pdf else [target], force)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ReflowError(f"{target}: the report is an HTML file; give a name ending in .html")
    if target.is_dir():
        raise ReflowError(f"{target} is a folder; give --out a file name ending in .html")
    ensure_folder(target.parent)
    if results.kind == "sweep":
        assert results.sweep is not None
        title, subtitle, sections, config_text = _sweep_sections(results, metrics)
        provenance = _provenance_sweep(results.sweep)
    else:
        title, subtitle, sections = _run_sections(results)
        config_text = ""
        provenance = _provenance_run(results)
    jobs = figure_jobs(results, period=period, only=only, metrics=metrics, note=note)
    figures_html = []
    pdf_pages = None
    if pdf:
        from matplotlib.backends.backend_pdf import PdfPages

        pdf_path = target.with_suffix(".pdf")
        pdf_path.parent.mkdir(parents=True, exist_ok=True)
        fd, pdf_tmp = tempfile.mkstemp(prefix=f".{pdf_path.stem}-", suffix=".pdf", dir=pdf_path.parent)
        os.close(fd)
        pdf_pages = PdfPages(pdf_tmp, metadata={"Title": title, "Creator": "reflow"})
    try:
        if pdf_pages is None:
            uris = run_jobs(jobs, partial(_png_data_uri, dpi=dpi), workers)
        else:  # the PDF pages need the figures here: draw them one by one
            uris = []
            with matplotlib.rc_context(rc_params()):
                for page in cover_pages(title, subtitle, sections):
                    render_figure(page, pdf_pages, "pdf")
                for job in jobs:
                    fig = job.build()
                    uris.append(_png_data_uri(job, fig, dpi=dpi))
                    render_figure(fig, pdf_pages, "pdf")
        for job, uri in zip(jobs, uris, strict=True):
            name, text = html.escape(job.name), html.escape(job.description)
            figures_html.append(f'<figure id="fig-{name}"><img alt="{name}: {text}" src="{uri}">'
                                f"<figcaption>{text}</figcaption></figure>\n")
        if pdf_pages is not None:
            pdf_pages.close()
            os.chmod(pdf_tmp, shared_file_mode())
            os.replace(pdf_tmp, pdf_path)
            pdf_pages = None
    finally:
        if pdf_pages is not None:
            pdf_pages.close()
            Path(pdf_tmp).unlink(missing_ok=True)
    sections.append(("figures", "Figures", "".join(figures_html) or "<p>No figures.</p>"))
    if results.kind == "sweep":
        cfg_html = (f"<details open><summary>sweep.toml and base.toml</summary>"
                    f"<pre>{html.escape(config_text)}</pre></details>")
    else:
        shown = [(name, *_config_text(runs[0])) for name, runs in results.groups.items()]
        cfg_html = "".join(
            f"<details{' open' if i == 0 else ''}><summary>{html.escape(name)}: {html.escape(what)} (resolved, "
            f"every default filled in)</summary><pre>{html.escape(text)}</pre></details>"
            for i, (name, what, text) in enumerate(shown))
    sections.append(("config", "Resolved configuration", cfg_html))
    sections.append(("provenance", "Provenance", provenance))
    text = render_html(title, subtitle, sections)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReflowError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return [target] + ([target.with_suffix(".pdf")] if pdf else [])
