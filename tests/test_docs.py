"""The documentation is true to the code: docs/parameters.md is generated from the config schema and current."""

from __future__ import annotations

import importlib.util
import re
import typing
from pathlib import Path

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
