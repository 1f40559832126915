"""The documentation is true to the code: docs/parameters.md is generated from the config schema and current."""

from __future__ import annotations

import importlib.util
import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from reflow import config as C

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "docs" / "parameters.md"
REGEN = ".venv/bin/python docs/gen_parameters.py > docs/parameters.md"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_parameters", ROOT / "docs" / "gen_parameters.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def doc() -> str:
    return PARAMS.read_text(encoding="utf-8")


def test_parameters_md_is_current(doc):
    fresh = _generator().render()
    assert doc == fresh, f"docs/parameters.md is out of date with src/reflow/config/; regenerate it: {REGEN}"


def _keys(model: type[BaseModel], prefix: str) -> list[str]:
    """Key paths of every field, walking nested sections (written independently of the generator)."""
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if typing.get_origin(ann) is list:  # `[[suppliers]]`: each entry's fields, addressed by its id
            (item,) = typing.get_args(ann)
            if isinstance(item, type) and issubclass(item, BaseModel):
                out += _keys(item, f"{prefix}{name}.<id>.")
                continue
        # An optional table (`Section | None`) is walked like a table.
        ann = next((a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)), ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _keys(ann, f"{prefix}{name}.")
        else:
            out.append(f"{prefix}{name}")
    return out


def _documented(doc: str, key: str) -> bool:
    # A row's key is `path` or `path.<placeholder>...` in backticks at the start of a table row.
    return re.search(r"^\| `" + re.escape(key) + r"(\.<[a-z]+>)*` \|", doc, re.M) is not None


def test_every_section_parameter_is_documented(doc):
    keys = _keys(C.Scenario, "")
    keys = [k for k in keys if k not in ("suppliers", "policy")]
    assert len(keys) > 50
    missing = [k for k in keys if not _documented(doc, k)]
    assert not missing, f"not in docs/parameters.md: {missing}; regenerate it: {REGEN}"


def test_every_supplier_field_and_default_supplier_is_documented(doc):
    missing = [f for f in C.SupplierConfig.model_fields if not _documented(doc, f"suppliers.<id>.{f}")]
    assert not missing
    for s in C.Scenario.model_fields["suppliers"].default_factory():
        assert f"| `{s.id}` |" in doc, f"default supplier {s.id} is not in docs/parameters.md"


def test_every_policy_kind_and_field_is_documented(doc):
    union = typing.get_args(typing.get_args(C.PolicyEvent)[0])
    sections = re.split(r"^### ", doc, flags=re.M)
    common = next(s for s in sections if s.startswith("Common fields"))
    base = set(C._EventBase.model_fields)
    for f in base:
        assert _documented(common, f"policy.<id>.{f}"), f"common event field {f} missing"
    for ev in union:
        kind = typing.get_args(ev.model_fields["kind"].annotation)[0]
        part = next((s for s in sections if s.startswith(f'`kind = "{kind}"`')), None)
        assert part is not None, f"policy kind {kind!r} has no section in docs/parameters.md"
        for f in set(ev.model_fields) - base - {"kind"}:
            assert _documented(part, f"policy.<id>.{f}"), f"{kind}.{f} missing from docs/parameters.md"


def test_defaults_come_from_the_schema(doc):
    """Spot check: a row shows the schema's default, so changing a default in config/schema.py changes the doc."""
    for key, value in (("china.base_utilisation", C.ChinaConfig().base_utilisation),
                       ("licensing.legal_limit_working_days", C.LicensingConfig().legal_limit_working_days)):
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{key}` |"))
        assert f"| `{value:g}` |" in row


def _parameter_rows(doc: str) -> list[list[str]]:
    """Cells of every parameter row (key, meaning, unit, type, default, source) in docs/parameters.md."""
    rows = []
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| `") and len(cells) == 6:  # not the default supplier list (13 columns)
            rows.append(cells)
    return rows


def test_every_source_tag_is_explained_in_the_tag_table(doc):
    table = doc.split("## Source tags", 1)[1].split("\n## ", 1)[0]
    explained = set(re.findall(r"^\| \*\*\[([^\]]+)\]\*\* \|", table, re.M))
    assert {"V", "V2", "D", "R", "calibrated"} <= explained
    used = set()
    for cells in _parameter_rows(doc):
        for group in re.findall(r"\[([^\]]+)\]", cells[-1]):
            used.update(group.split("/"))
    assert used, "no source tags found in the parameter rows"
    unexplained = used - explained
    assert not unexplained, f"source tags {sorted(unexplained)} are not in the 'Source tags' table of parameters.md"


def test_every_default_has_a_source_tag(doc):
    """A key with a default says where the default comes from: evidence, calibration, a recalled placeholder [R]
    or a neutral/structural [choice]. Only keys without one (required, unset or empty) may show no tag."""
    untagged = [cells[0] for cells in _parameter_rows(doc)
                if cells[-1] == "–" and cells[4] not in ("**required**", "`unset`", '`""`')]
    with_default = [cells for cells in _parameter_rows(doc) if cells[4] != "**required**"]
    assert len(with_default) > 100
    assert not untagged, (f"{len(untagged)} defaults have no source tag: {untagged}; tag them in the field's "
                          f"description or a tagged comment above it in src/reflow/config/, then {REGEN}")


# --------------------------------------------------------------------------------------------- ODD schedule

ODD = ROOT / "docs" / "ODD.md"
# Queries `ReflowModel.step` makes that are not phases of their own (the ODD describes them inside a phase).
STEP_HELPERS = {"date_of", "_general_licence_cover", "_pipeline", "need", "target_stock"}


def _step_calls() -> list[str]:
    """The methods `ReflowModel.step` calls on the model, its timeline and its population, in source order."""
    import ast
    import inspect
    import textwrap

    from reflow.model import ReflowModel

    tree = ast.parse(textwrap.dedent(inspect.getsource(ReflowModel.step)))
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if owner in ("self", "pop", "self.pop", "self.timeline"):
                calls.append((node.lineno, node.col_offset, node.func.attr))
    return list(dict.fromkeys(name for *_, name in sorted(calls)))


def _odd_schedule_names() -> list[str]:
    """The function names in backticks in ODD section 3's numbered list of phases, in the order they appear."""
    text = ODD.read_text(encoding="utf-8")
    section = text.split("## 3. Process overview and scheduling", 1)[1].split("\n## ", 1)[0]
    phases = section[section.index("\n1. "):section.index("\nBefore the first step")]
    names = [t.rsplit(".", 1)[-1] for t in re.findall(r"`([A-Za-z_][\w.]*)`", phases)]
    return list(dict.fromkeys(names))


def test_odd_schedule_names_every_phase_of_step_in_its_order():
    """ODD section 3 lists the phases of `ReflowModel.step` in the order the code runs them: a phase added to
    or moved in `step` without the ODD following fails here."""
    code = [c for c in _step_calls() if c not in STEP_HELPERS]
    assert len(code) > 10
    doc = _odd_schedule_names()
    missing = [c for c in code if c not in doc]
    assert not missing, f"ReflowModel.step calls {missing}, which docs/ODD.md section 3 does not name"
    in_doc_order = [n for n in doc if n in code]
    assert in_doc_order == code, f"docs/ODD.md section 3 names the phases in the order {in_doc_order}; " \
                                 f"ReflowModel.step runs {code}"


# --------------------------------------------------------------------------------------------- outputs.md

OUTPUTS = ROOT / "docs" / "outputs.md"
DIM_WORDS = {"material": "m", "origin": "o", "region": "r", "–": ""}


def _outputs_section(title: str) -> str:
    return OUTPUTS.read_text(encoding="utf-8").split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_outputs_md_lists_every_recorded_variable_with_its_dimensions():
    """The variable tables of docs/outputs.md are the recorder's variables, no more and no fewer, each with the
    dimensions it is recorded over."""
    from reflow.recorder import DIMS, LIGHT_DIMS

    section = _outputs_section("`timeseries.parquet`")
    columns = {"week", "date", "variable", "material", "origin", "region", "value"}
    doc = {}
    for name, dims in re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", section, re.M):
        if name not in columns:
            doc[name] = "".join(DIM_WORDS[w.strip()] for w in dims.split(","))
    code = {**DIMS, **LIGHT_DIMS}
    assert set(doc) == set(code), (f"docs/outputs.md lists {sorted(set(doc) - set(code))} that the recorder does "
                                   f"not record and misses {sorted(set(code) - set(doc))}")
    wrong = {v: (doc[v], code[v]) for v in code if doc[v] != code[v]}
    assert not wrong, f"dimensions in docs/outputs.md differ from reflow.recorder (doc, code): {wrong}"


def test_outputs_md_lists_every_summary_key():
    """The summary.json keys docs/outputs.md shows are the ones `summarise` writes (a [light_ree] scenario too)."""
    import reflow
    from reflow.domain import MATERIALS, REGIONS

    section = _outputs_section("`summary.json`")
    example = section.split("```json", 1)[1].split("```", 1)[0]
    doc = set(re.findall(r'"([a-z_A-Z]+)":', example)) - set(MATERIALS) - set(REGIONS)
    light_prose = section.split('adds a `"light_ree"` block', 1)[1].split("\n\n", 1)[0]
    doc_light = set(re.findall(r"`([a-z_]+)`", light_prose))
    cfg = reflow.load_config(ROOT / "configs" / "quota_2010.toml", overrides=["scenario.weeks=20"])
    s = reflow.run(cfg, seed=1, out=None).summary
    code = ({k for k in s if k != "light_ree"} | {k for m in s["materials"].values() for k in m}
            | set(s["overall"]))
    assert doc == code, (f"summary.json keys: docs/outputs.md shows {sorted(doc - code)} that summarise does not "
                         f"write and misses {sorted(code - doc)}")
    assert doc_light == set(s["light_ree"]), f"light_ree block: doc {sorted(doc_light)}, code {sorted(s['light_ree'])}"


def _json_examples(section: str) -> list[Any]:
    """The ```json blocks of a docs section, parsed: `//` comments dropped, an object written `{...}` (its keys
    elided) read as ``{"...": None}``, and a lone `"key": {...}` block without braces around it wrapped in some."""
    out = []
    for block in re.findall(r"```json\n(.*?)```", section, re.S):
        text = re.sub(r"\s//[^\n]*", "", block).replace("{...}", '{"...": null}').strip()
        out.append(json.loads(text if text.startswith("{") else "{" + text + "}"))
    return out


def _key_drift(doc: Any, real: Any, where: str = "") -> list[str]:
    """Where the keys of a docs example differ from those of the real output (values are not compared). An
    object written `{...}` in the docs elides its keys, so only that it exists is checked."""
    if isinstance(doc, dict) and isinstance(real, dict):
        shown = set(doc) - {"..."}
        problems = [f"{where}{k}: in the docs, not in the output" for k in sorted(shown - set(real))]
        if "..." not in doc:
            problems += [f"{where}{k}: in the output, not in the docs" for k in sorted(set(real) - shown)]
        for k in sorted(shown & set(real)):
            problems += _key_drift(doc[k], real[k], f"{where}{k}.")
        return problems
    if isinstance(doc, list) and isinstance(real, list):
        return [p for i, (d, r) in enumerate(zip(doc, real, strict=False)) for p in _key_drift(d, r, f"{where}{i}.")]
    if None not in (doc, real) and isinstance(doc, dict | list) != isinstance(real, dict | list):
        return [f"{where.rstrip('.')}: {type(doc).__name__} in the docs, {type(real).__name__} in the output"]
    return []


@pytest.fixture(scope="module")
def documented_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of the command docs/outputs.md's examples come from."""
    from reflow.cli import main

    out = tmp_path_factory.mktemp("docs_run")
    assert main(["run", str(ROOT / "configs" / "controls_2025.toml"), "--seed", "1", "--out", str(out),
                 "--run-id", "r", "-q"]) == 0
    return out / "controls_2025" / "r"


def test_outputs_md_examples_have_the_keys_a_real_run_writes(documented_run: Path):
    """The examples of docs/outputs.md were written by hand and drifted from what a run writes (the values too:
    a Dy peak of 3.1x where a run gives ~4.3x); they are now excerpts of real runs, and their keys, at every
    level, are those of the files `reflow run configs/controls_2025.toml --seed 1` writes (keys, not values: the
    values move with the model)."""
    import reflow

    (manifest,) = _json_examples(_outputs_section("A run folder"))
    summary, light = _json_examples(_outputs_section("`summary.json`"))
    real_manifest = json.loads((documented_run / "manifest.json").read_text(encoding="utf-8"))
    real_summary = json.loads((documented_run / "summary.json").read_text(encoding="utf-8"))
    cfg = reflow.load_config(ROOT / "configs" / "quota_2010.toml", overrides=["scenario.weeks=20"])
    real_light = {"light_ree": reflow.run(cfg, seed=1, out=None).summary["light_ree"]}
    drift = {"manifest.json": _key_drift(manifest, real_manifest), "summary.json": _key_drift(summary, real_summary),
             "summary.json (light_ree)": _key_drift(light, real_light)}
    assert not any(drift.values()), f"docs/outputs.md's examples differ from a real run's files: {drift}"
    # and the file table names every key of the manifest
    row = next(line for line in _outputs_section("A run folder").splitlines() if line.startswith("| `manifest.json`"))
    named = set(re.findall(r"`([a-z_0-9]+)`", row))
    assert set(real_manifest) <= named, f"manifest.json keys missing from its table row: {set(real_manifest) - named}"


# --------------------------------------------------------------------------------------------- README

def test_readme_scenario_table_is_the_bundled_scenarios():
    """The README's table of bundled scenarios has one row per scenario file in configs/ (sweeps apart), with the
    period each one simulates."""
    import datetime as dt

    import reflow

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {f: (a, b) for f, a, b in re.findall(r"^\| `(configs/[\w/]+\.toml)` \| (\d{4})–(\d{4}) \|", readme, re.M)}
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.toml")
             if "sweeps" not in p.relative_to(ROOT / "configs").parts}
    assert set(rows) == files, (f"README.md's scenario table lists {sorted(set(rows) - files)} that configs/ does "
                                f"not hold and misses {sorted(files - set(rows))}")
    for f, (first, last) in rows.items():
        sc = reflow.load_config(ROOT / f).scenario
        end = sc.start + dt.timedelta(weeks=sc.weeks - 1)
        assert (int(first), int(last)) == (sc.start.year, end.year), f"README.md: {f} runs {sc.start.year}–{end.year}"
