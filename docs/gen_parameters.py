"""Generate docs/parameters.md from the config schema in src/reflow/config/ (schema.py, events.py).

Run from the repository root::

    .venv/bin/python docs/gen_parameters.py > docs/parameters.md

Everything in the output comes from the code: field names, types, ranges and defaults from the pydantic models;
meanings and source tags from the field descriptions; source notes from the tagged comments that sit on or
directly above a field in config/schema.py or config/events.py; the default supplier list with each entry's
``source``. Fields that have no description in the schema get a short meaning from ``FALLBACK_MEANINGS`` below
(better: give them a description in the schema, which then wins). ``tests/test_docs.py`` fails when the
committed file differs from this output.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import io
import re
import sys
import tokenize
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from reflow import config as C
from reflow.config import events as config_events
from reflow.config import schema as config_schema
from reflow.domain import MATERIALS, REGIONS, SECTORS

__all__ = ["FALLBACK_MEANINGS", "SECTIONS", "render"]

# Introductions of the top-level tables; a table the schema gains later is documented with its class docstring.
SECTIONS: dict[str, str] = {
    "scenario": "Identity and calendar of a run (required).",
    "materials": "Reference prices and trade frictions, one table per material.",
    "china": "Chinese producers and China's domestic demand.",
    "manufacturers": "Manufacturers outside China: needs, stocks, purchasing, diversification, thrifting.",
    "investment": "Investment decisions of candidate non-Chinese projects.",
    "licensing": "The licensing authority's defaults (a licensing event can override some).",
    "light_ree": "La/Ce oxides as one aggregate ex-China market (docs/ODD.md 7.18). Optional: without the table "
                 "there is no La/Ce market (configs/quota_2010.toml has one); the fields without a default are "
                 "then required.",
}


def _tables() -> list[tuple[str, type[BaseModel], str]]:
    """The scenario's top-level tables in schema order: (name, model class, introduction)."""
    out = []
    for name, field in C.Scenario.model_fields.items():
        cls = field.annotation
        if typing.get_origin(cls) is list:  # `[[suppliers]]`, `[[policy]]`: entries by id, documented below
            continue
        # An optional table (`X | None`, e.g. light_ree) is documented as its class.
        cls = next((a for a in typing.get_args(cls) if isinstance(a, type) and issubclass(a, BaseModel)), cls)
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            out.append((name, cls, SECTIONS.get(name) or inspect.cleandoc(cls.__doc__ or "")))
    return out

EVENT_KINDS: tuple[type[BaseModel], ...] = typing.get_args(typing.get_args(C.PolicyEvent)[0])

# Meanings for fields the schema leaves without a description (keyed by class name, then field name).
FALLBACK_MEANINGS: dict[str, dict[str, str]] = {
    "SupplierConfig": {
        "id": "unique identifier, used in key paths: suppliers.<id>.<field>",
        "name": "display name",
        "region": "where the plant is (its origin in flows, tariffs and price floors)",
        "material": "what it produces",
        "source": "where the figures come from (free text with a tag)",
    },
    "_EventBase": {
        "kind": "which measure the event is (selects the fields below)",
        "source": "where the figures come from (free text with a tag)",
    },
    "LicensingEvent": {
        "materials": "controlled materials",
        "approval_by_sector": "cap on the approval probability by end-use sector (default: defence denied)",
        "review_working_days_median": "median review time for these materials and destinations while in force "
                                      "(default: `licensing.review_working_days_median`)",
        "return_probability": "share of reviews returned for more information, for these materials and destinations "
                              "while in force (default: `licensing.return_probability`)",
        "reviewer_capacity_per_week": "decisions the authority can make per week while in force "
                                      "(default: `licensing.reviewer_capacity_per_week`)",
    },
    "ExportQuotaEvent": {
        "tonnes_per_year": "cap on China's exports of each named material, as a yearly rate",
    },
    "ExportTaxEvent": {
        "rate": "export tax on Chinese exports of each named material, as a share of value",
    },
    "TariffEvent": {
        "importers": "regions that levy the tariff",
    },
    "PriceFloorEvent": {
        "regions": "regions whose producers get the floor",
        "materials": "materials the floor is for",
    },
    "EmbargoEvent": {
        "destinations": "destinations cut off",
    },
    "StockpileReleaseEvent": {
        "region": "market the stockpile is released into",
        "material": "material held",
        "tonnes": "size of the stockpile",
    },
    "InvestmentSupportEvent": {
        "regions": "regions whose projects get the support",
    },
}

_TAG = r"(?:V2-weak|V2|V|D|R|calibrated|choice)"
# A tag may carry a note after a colon or a space, as DOMAIN.md writes them: "[V2: FT]", "[D from ...]".
TAG_RE = re.compile(rf"\[({_TAG}(?:/{_TAG})*)(?:[:\s][^\]]*)?\]")

_VOCAB = {tuple(MATERIALS): "material", tuple(REGIONS): "region", tuple(SECTORS): "sector"}


# --------------------------------------------------------------------------------------------- source notes


def _comment_map(source: str) -> dict[int, str]:
    """Line number -> text of the comment on that line."""
    out: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _tagged(text: str) -> bool:
    return bool(TAG_RE.search(text))


class _Notes:
    """Tagged comments of config/schema.py and config/events.py, attached to the fields they document.

    A comment inside a field's statement belongs to that field. A comment block directly above a field belongs to
    it and to the one-line fields that follow it without a gap (``ndpr_oxide``, ``dy_oxide``, ``tb_oxide`` under
    one comment). A field whose default factory is a module function also gets the tagged comments in it.
    """

    def __init__(self) -> None:
        self.notes: dict[tuple[str, str], list[str]] = {}
        for module in (config_schema, config_events):
            source = inspect.getsource(module)
            self.lines = source.splitlines()
            self.comments = _comment_map(source)
            self.tree = ast.parse(source)
            self.functions = {n.name: n for n in self.tree.body if isinstance(n, ast.FunctionDef)}
            for node in self.tree.body:
                if isinstance(node, ast.ClassDef):
                    self._class(node)

    def _block_above(self, lineno: int) -> str:
        block: list[str] = []
        i = lineno - 1
        while i >= 1 and self.lines[i - 1].strip().startswith("#"):
            block.insert(0, self.comments.get(i, ""))
            i -= 1
        return " ".join(block)

    def _inside(self, first: int, last: int) -> list[str]:
        """Comment blocks (consecutive comment lines joined) between two lines, inclusive."""
        blocks: list[str] = []
        prev = -2
        for ln in range(first, last + 1):
            if ln in self.comments and self.lines[ln - 1].strip().startswith("#"):
                if ln == prev + 1:
                    blocks[-1] += " " + self.comments[ln]
                else:
                    blocks.append(self.comments[ln])
                prev = ln
        return blocks

    def _class(self, cls: ast.ClassDef) -> None:
        carry: str | None = None
        prev_end = -1
        for st in cls.body:
            if not (isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)):
                carry, prev_end = None, -1
                continue
            above = self._block_above(st.lineno)
            if above:
                carry = above if _tagged(above) else None
            elif st.lineno != prev_end + 1 or (st.end_lineno or st.lineno) != st.lineno:
                carry = None  # the block only runs on over adjacent one-line fields
            notes = [carry] if carry else []
            notes += [b for b in self._inside(st.lineno, st.end_lineno or st.lineno) if _tagged(b)]
            fn = self._factory_function(st.value)
            if fn is not None:
                notes += [b for b in self._inside(fn.lineno, fn.end_lineno or fn.lineno) if _tagged(b)]
            if notes:
                self.notes[(cls.name, st.target.id)] = notes
            if (st.end_lineno or st.lineno) != st.lineno:
                carry = None
            prev_end = st.end_lineno or st.lineno

    def _factory_function(self, value: ast.expr | None) -> ast.FunctionDef | None:
        if not isinstance(value, ast.Call):
            return None
        for kw in value.keywords:
            if kw.arg == "default_factory" and isinstance(kw.value, ast.Name):
                return self.functions.get(kw.value.id)
        return None

    def get(self, cls: type, name: str) -> list[str]:
        for klass in cls.__mro__:
            found = self.notes.get((klass.__name__, name))
            if found:
                return found
        return []


# --------------------------------------------------------------------------------------------- types, units


def _unwrap(ann: Any) -> tuple[Any, list[Any], bool]:
    """(bare type, constraint objects, optional?) of an annotation."""
    cons: list[Any] = []
    optional = False
    for _ in range(6):
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(ann)
            for e in extra:
                cons += list(e.metadata) if isinstance(e, FieldInfo) else [e]
            ann = base
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(ann))
            if len(args) != 1:
                break
            ann = args[0]
        else:
            break
    return ann, cons, optional


def _vocab(ann: Any) -> str | None:
    if typing.get_origin(ann) is typing.Literal:
        return _VOCAB.get(tuple(typing.get_args(ann)))
    return None


def _range(cons: list[Any]) -> str:
    lo = hi = ""
    for c in cons:
        if hasattr(c, "ge"):
            lo = f"≥ {_num(c.ge)}"
        elif hasattr(c, "gt"):
            lo = f"> {_num(c.gt)}"
        elif hasattr(c, "le"):
            hi = f"≤ {_num(c.le)}"
        elif hasattr(c, "lt"):
            hi = f"< {_num(c.lt)}"
        elif hasattr(c, "min_length"):
            lo = f"at least {c.min_length} item"
    if lo.startswith("≥") and hi.startswith("≤"):
        return f"{lo[2:]} – {hi[2:]}"
    return ", ".join(x for x in (lo, hi) if x)


def _describe_type(ann: Any) -> tuple[str, str, list[str], list[Any]]:
    """(type text, key-path suffix, dict key vocabularies, constraints of the leaf value)."""
    ann, cons, optional = _unwrap(ann)
    origin = typing.get_origin(ann)
    suffix = ""
    keys: list[str] = []
    while origin is dict:
        k, ann = typing.get_args(ann)
        name = _vocab(k) or "key"
        keys.append(name)
        suffix += f".<{name}>"
        ann, cons, _ = _unwrap(ann)
        origin = typing.get_origin(ann)
    if origin is list:
        (item,) = typing.get_args(ann)
        item, cons_i, _ = _unwrap(item)
        voc = _vocab(item)
        text = f"list of {voc}s" if voc else "list"
        cons = cons + cons_i
    elif origin is typing.Literal:
        voc = _vocab(ann)
        text = voc if voc else "one of " + ", ".join(f"`{a}`" for a in typing.get_args(ann))
    elif ann is bool:
        text = "boolean"
    elif ann is int:
        text = "integer"
    elif ann is float:
        text = "number"
    elif ann is dt.date:
        text = "date"
    elif ann is str:
        text = "text"
    else:
        text = getattr(ann, "__name__", str(ann))
    if keys:
        text = "table by " + " then ".join(keys) + f" of {text}s"
    if optional:
        text += " or unset"
    return text, suffix, keys, cons


_UNIT_PREFIXES = ("USD/kg", "t/yr", "million USD", "per year")


def _unit(name: str, desc: str, type_text: str, cons: list[Any]) -> str:
    """A unit from the description's first words, else from the field's name (the schema's naming habit)."""
    for u in _UNIT_PREFIXES:
        if desc.startswith(u):
            return "1/yr" if u == "per year" else u
    is_frac = _range(cons) == "0 – 1"
    rules: tuple[tuple[bool, str], ...] = (
        (type_text.startswith("date"), "date"),
        (name == "seed", "–"),
        (name.endswith("_tpy") or name == "tonnes_per_year", "t/yr"),
        (name == "tonnes", "t"),
        (name.endswith("_musd"), "million USD"),
        ("working_days" in name, "working days"),
        (name.endswith("_per_week"), "applications/week"),
        (name.endswith("_per_year"), "share/yr"),
        (name.endswith("_weeks") or name == "weeks", "weeks"),
        (name.endswith("_years"), "years"),
        (name.endswith("_sigma"), "σ of ln"),
        ("elasticity" in name or name.endswith("_response"), "elasticity"),
        ("multiple" in name, "× reference price"),
        ("convexity" in name, "exponent"),
        ("premium" in name, "share of price"),
        (name in ("price", "cost", "reference_price") or name.endswith("_cost"), "USD/kg"),
        (name == "bom", "t/t"),
        (name == "co_product_per_ndpr", "t per t of NdPr oxide"),
        (name == "china_price_link", "elasticity"),
        (name.endswith("_factor") or name.endswith("_limit"), "multiplier"),
        ("probability" in name or "approval" in name, "probability"),
        (is_frac, "share"),
        (name == "rate", "share of value"),
        (type_text == "integer", "count"),
    )
    for cond, unit in rules:
        if cond:
            return unit
    return "–"


# --------------------------------------------------------------------------------------------- values


def _num(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _value(v: Any) -> str:
    if v is None:
        return "unset"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    return _num(v)


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()
    return field.default


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _tags(texts: list[str]) -> str:
    seen: list[str] = []
    for t in texts:
        for tag in TAG_RE.findall(t):
            if tag not in seen:
                seen.append(tag)
    return " ".join(f"[{t}]" for t in seen) if seen else "–"


def _keeps_defaults(field: FieldInfo) -> bool:
    """Whether a partial table keeps the defaults of the keys it leaves out (config._Base merges every mapping
    field whose default is a non-empty table)."""
    if field.default_factory is None:
        return False
    default = field.default_factory()
    return isinstance(default, dict) and bool(default)


# --------------------------------------------------------------------------------------------- tables


HEAD = "| key | meaning | unit | type; range | default | source |\n|---|---|---|---|---|---|"


class _Table:
    """Rows of one section's table, the default matrices to print below it, and its source notes."""

    def __init__(self) -> None:
        self.rows: list[str] = []
        self.matrices: list[tuple[str, dict]] = []
        self.notes: list[tuple[str, str]] = []

    def add_fields(self, cls: type[BaseModel], prefix: str, notes: _Notes, skip: tuple[str, ...] = (),
                   defaults: dict[str, Any] | None = None, extra_notes: dict[str, list[str]] | None = None) -> None:
        """One row per field of `cls` (defaults and notes may be given for fields whose default lives elsewhere)."""
        for name, field in cls.model_fields.items():
            if name not in skip:
                more = (extra_notes or {}).get(name, [])
                self._field(cls, name, field, prefix, notes.get(cls, name) + more, defaults)

    def _field(self, cls: type[BaseModel], name: str, field: FieldInfo, prefix: str, src_notes: list[str],
               defaults: dict[str, Any] | None) -> None:
        type_text, suffix, keys, cons = _describe_type(field.annotation)
        cons = list(field.metadata) + cons
        desc = field.description or _fallback(cls, name)
        key = f"{prefix}.{name}{suffix}"
        dflt = defaults[name] if defaults is not None and name in defaults else _default(field)
        if dflt is PydanticUndefined:
            shown = "**required**"
        elif isinstance(dflt, dict) and dflt and all(isinstance(v, dict) for v in dflt.values()):
            self.matrices.append((key, dflt))
            shown = "table below"
        else:
            shown = f"`{_value(dflt)}`"
        extra = []
        if keys and _keeps_defaults(field):
            nested = any(isinstance(v, dict) for v in field.default_factory().values())
            extra.append("A partial table keeps the defaults for the keys it does not name"
                         + (", at every level (set an entry to 0 to drop it)." if nested else "."))
        bare = _unwrap(field.annotation)[0]
        if typing.get_origin(bare) is typing.Literal and not _vocab(bare):
            extra.append("One of " + ", ".join(f"`{a}`" for a in typing.get_args(bare)) + ".")
        if desc and extra and not desc.endswith("."):
            desc += "."
        meaning = " ".join([desc or "(no description in the schema)", *extra])
        rng = _range(cons)
        type_note = type_text if not rng else f"{type_text}; {rng}"
        self.rows.append(f"| `{key}` | {_cell(meaning)} | {_unit(name, desc, type_text, cons)} | {_cell(type_note)} "
                         f"| {_cell(shown)} | {_tags([desc, *src_notes])} |")
        self.notes += [(key, n) for n in src_notes]

    def lines(self, title: str, intro: str) -> list[str]:
        out = [f"## {title}", "", intro, "", HEAD, *self.rows, ""]
        for key, table in self.matrices:
            out += _matrix(key, table)
        if self.notes:
            out += ["Source notes (comments in `src/reflow/config/schema.py`):", ""]
            grouped: dict[str, list[str]] = {}
            for k, n in self.notes:
                grouped.setdefault(n, []).append(f"`{k}`")
            out += [f"- {', '.join(keys)}: {_cell(n)}" for n, keys in grouped.items()]
            out.append("")
        return out


def _fallback(cls: type, name: str) -> str:
    for klass in cls.__mro__:
        text = FALLBACK_MEANINGS.get(klass.__name__, {}).get(name)
        if text:
            return text
    return ""


def _matrix(key: str, table: dict[str, dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in table.values():
        for c in row:
            if c not in cols:
                cols.append(c)
    out = [f"Default of `{key}` (rows: first key, columns: second key; empty = not set):", "",
           "| | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for r, row in table.items():
        out.append(f"| {r} | " + " | ".join(_num(row[c]) if c in row else "" for c in cols) + " |")
    return [*out, ""]


TAG_ROWS = (
    ("[V]", "seen verbatim in a stored primary or near-primary source (USGS text, MOFCOM text, company release, "
            "a law-firm note reproducing the rule)"),
    ("[V2]", "seen verbatim in a stored secondary source (newswire reprint, trade press) that attributes it to a "
             "named primary (Reuters, GAC customs data, Argus, SMM, IEA...); good enough for calibration, cite the "
             "primary in a paper"),
    ("[D]", "derived arithmetically from [V]/[V2] numbers"),
    ("[R]", "recalled, not found in a stored source: a placeholder to be checked"),
    ("[V2-weak]", "a [V2] figure from a weak secondary source"),
    ("[calibrated]", "tuned against the model's own behaviour (calibration), not measured; recalibration may "
                     "change it"),
    ("[choice]", "a neutral or structural default, not a measured quantity: a measure that is off or empty unless "
                 "an event sets it (a grant of 0, a multiplier of 1, no hold), every item of a list (all importing "
                 "regions, all four materials), the default seed, or the model's numerical resolution (agents per "
                 "cell, bid tiers); the meaning gives the reason"),
)

PREAMBLE = """\
# Parameters

<!-- Generated by docs/gen_parameters.py from the schema in src/reflow/config/. Do not edit by hand: run
     `.venv/bin/python docs/gen_parameters.py > docs/parameters.md` (tests/test_docs.py checks it is current). -->

Every key a scenario file can set, with its meaning, unit, allowed range, default and the source of the default.
A key path is what `--set` takes (`reflow run configs/baseline.toml --set manufacturers.front_load_weeks=8`); in
a TOML file the same key is `front_load_weeks = 8` under `[manufacturers]`. Entries of `[[suppliers]]` and
`[[policy]]` are addressed by id: `--set policy.apr2025.approval_rate=0.4`. Placeholders: `<material>` is one of
`ndpr_oxide`, `dy_oxide`, `tb_oxide`, `ndfeb_magnet`; `<region>` one of `CN`, `US`, `EU`, `JPKR`, `AU`, `CA`,
`HUB`, `ROW`; `<sector>` one of `automotive`, `wind`, `electronics`, `defence`, `magnet` (the non-Chinese magnet
makers); `<id>` the `id` of a supplier or policy event. How each parameter enters the model is in
[ODD.md](ODD.md).

## Source tags

A default carries the tag of its evidence (the tags of the project's domain notes, DOMAIN.md section 0):

| tag | meaning |
|---|---|
{tag_rows}
| – | no tag: a key without a default (**required**) or whose default is `unset` or empty (`""`); every other \
default carries a tag (tests/test_docs.py checks it) |

Tags joined by `/` (`[R/D]`, `[V2/calibrated]`) mean the value mixes both; a tag may name its source after a
colon (`[V2: FT]`). The source column lists the tags in
the field's description and in the comments on it in `src/reflow/config/schema.py` (policy events:
`events.py`); where a description cites evidence for the mechanism as well as for the value (`[V2]` then `[R]`),
both appear, and the meaning says which is which.
"""


def _file_keys() -> list[str]:
    """Keys the loader reads before validation (``extends``), documented from `reflow.config.load_raw`."""
    doc = inspect.getdoc(C.load_raw) or ""
    paras = [" ".join(p.split()) for p in doc.split("\n\n")]
    text = next((p for p in paras if "extends" in p), None)
    if text is None:
        return []
    text = text.replace("``", "`")
    return ["## File-level keys", "", "Read by the loader before validation (`reflow.config.load_raw`).", "",
            "| key | meaning |", "|---|---|", f"| `extends` | {_cell(text)} |", ""]


def render() -> str:
    """The whole of docs/parameters.md."""
    notes = _Notes()
    out = [PREAMBLE.format(tag_rows="\n".join(f"| **{t}** | {m} |" for t, m in TAG_ROWS))]
    out += _file_keys()
    for name, cls, intro in _tables():
        t = _Table()
        if cls is C.Materials:
            # One table per material; the comment on `materials.<m>` sources that material's reference price.
            for m, field in C.Materials.model_fields.items():
                dflt = _default(field)
                t.add_fields(C.MaterialConfig, f"materials.{m}", notes,
                             defaults={f: getattr(dflt, f) for f in C.MaterialConfig.model_fields},
                             extra_notes={"reference_price": notes.get(C.Materials, m)})
        else:
            t.add_fields(cls, name, notes)
        out += t.lines(f"`[{name}]`", intro)

    # Suppliers: the fields, then the default list.
    t = _Table()
    t.add_fields(C.SupplierConfig, "suppliers.<id>", notes)
    out += t.lines("`[[suppliers]]`", "Non-Chinese producers and projects, one `[[suppliers]]` table each. A "
                   "scenario that lists any supplier replaces the whole default list below.")
    out += ["Default supplier list:", "",
            "| id | name | region | material | status | capacity t/yr | cost USD/kg | start | ramp weeks | "
            "lead time years | capex million USD | failure probability | source |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in C.Scenario.model_fields["suppliers"].default_factory():
        cand = s.status == "candidate"
        cells = [f"`{s.id}`", _cell(s.name), s.region, s.material, s.status, _num(s.capacity_tpy), _num(s.cost),
                 s.start.isoformat() if s.start else "", _num(s.ramp_weeks),
                 _num(s.lead_time_years) if cand else "", _num(s.capex_musd) if cand else "",
                 _num(s.failure_probability), _cell(s.source)]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "Lead time and capex are used for candidates only (committed projects have a `start` date).", ""]

    # Policy events.
    out += ["## `[[policy]]` events", "",
            "A scenario's policy is a list of dated events, one `[[policy]]` table each, told apart by `kind`. "
            "Every event has the common fields; each kind adds its own. An event is announced from `announce` to "
            "`effective`, in force from `effective` until `lift`, and not in force between `suspend` and "
            "`resume`. Where two events of one kind cover the same item, the one that took effect last wins.", ""]
    t = _Table()
    t.add_fields(C._EventBase, "policy.<id>", notes)
    out += ["### Common fields", "", HEAD, *t.rows, ""]
    base = tuple(C._EventBase.model_fields)
    for ev in EVENT_KINDS:
        kind = typing.get_args(ev.model_fields["kind"].annotation)[0]
        t = _Table()
        t.add_fields(ev, "policy.<id>", notes, skip=(*base, "kind"))
        out += [f'### `kind = "{kind}"`', "", inspect.cleandoc(ev.__doc__ or ""), "", HEAD, *t.rows, ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
