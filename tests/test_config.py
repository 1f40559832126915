"""Unit tests of config validation (`reflow.config`): clear errors, overrides and the TOML round trip."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path

import pytest

from reflow.config import (
    Scenario,
    apply_overrides,
    dump_toml,
    key_paths,
    load_config,
    load_raw,
    parse_set_args,
    validate,
)
from reflow.domain import MATERIALS
from reflow.errors import ConfigError, ReflowError

SRC = "configs/mine.toml"  # the source name validate() must repeat in every message

LICENSING_EVENT = {"id": "apr", "kind": "licensing", "materials": ["dy_oxide"], "approval_rate": 0.5,
                   "effective": "2025-04-04"}


def _error(raw: dict, source: str = SRC) -> str:
    with pytest.raises(ConfigError) as info:
        validate(raw, source=source)
    return str(info.value)


def _problems(msg: str) -> list[str]:
    """The problem lines of a validation message (one per line after the header)."""
    head, *lines = msg.splitlines()
    assert head == f"{SRC}: invalid config"
    return [line.strip() for line in lines]


# ----------------------------------------------------------------------------------------- valid configs


def test_minimal_config_fills_defaults(minimal_raw):
    sc = validate(minimal_raw)
    assert isinstance(sc, Scenario)
    assert sc.scenario.start == dt.date(2025, 1, 6)
    assert sc.scenario.end == dt.date(2025, 1, 6) + dt.timedelta(weeks=9)
    assert sc.licensing.approval_rate == 1.0 and sc.policy == []
    assert sc.suppliers  # the sourced default suppliers


def test_start_snaps_back_to_its_monday(minimal_raw):
    minimal_raw["scenario"]["start"] = "2025-01-09"  # a Thursday
    assert validate(minimal_raw).scenario.start == dt.date(2025, 1, 6)


def test_event_announce_defaults_to_effective(minimal_raw):
    sc = validate({**minimal_raw, "policy": [LICENSING_EVENT]})
    assert sc.event("apr").announce == sc.event("apr").effective == dt.date(2025, 4, 4)


def test_config_error_is_a_user_error_with_exit_code_2():
    assert issubclass(ConfigError, ReflowError) and ConfigError.exit_code == 2


# ----------------------------------------------------------------------------------------- clear errors


@pytest.mark.parametrize(
    ("section", "typo", "right"),
    [
        ("licensing", "aproval_rate", "approval_rate"),
        ("china", "base_utilization", "base_utilisation"),
        ("scenario", "wekks", "weeks"),
    ],
)
def test_typo_key_gets_did_you_mean(minimal_raw, section, typo, right):
    minimal_raw.setdefault(section, {})[typo] = 0.5
    (line,) = _problems(_error(minimal_raw))
    assert line == f"{section}.{typo}: unknown key; did you mean '{right}'?"


def test_typo_top_level_section_gets_did_you_mean(minimal_raw):
    minimal_raw["licencing"] = {"approval_rate": 0.5}
    (line,) = _problems(_error(minimal_raw))
    assert line == "licencing: unknown key; did you mean 'licensing'?"


@pytest.mark.parametrize(
    ("table", "typo", "right"),
    [
        ({"china": {"output_tpy": {"dy_oxid": 5}}}, "china.output_tpy.dy_oxid", "dy_oxide"),
        ({"manufacturers": {"demand_tpy": {"USA": {"wind": 3}}}}, "manufacturers.demand_tpy.USA", "US"),
        ({"manufacturers": {"demand_tpy": {"US": {"defense": 3}}}}, "manufacturers.demand_tpy.US.defense",
         "defence"),
    ],
)
def test_typo_in_a_material_region_or_sector_key_gets_did_you_mean(minimal_raw, table, typo, right):
    (line,) = _problems(_error({**minimal_raw, **table}))
    assert line == f"{typo}: unknown key; did you mean '{right}'?"


def test_misspelt_choice_value_lists_the_choices_and_a_hint(minimal_raw):
    minimal_raw["suppliers"] = [{"id": "x", "region": "AU", "material": "dy_oxide", "capacity_tpy": 1,
                                 "cost": 3, "status": "comitted", "start": "2026-01-01"}]
    (line,) = _problems(_error(minimal_raw))
    assert line.startswith("suppliers.x.status = 'comitted': Input should be 'operating', 'committed' or")
    assert line.endswith("; did you mean 'committed'?")


def test_string_where_a_number_belongs(minimal_raw):
    minimal_raw["licensing"] = {"review_sigma": "wide"}
    minimal_raw["scenario"]["weeks"] = "ten"
    lines = _problems(_error(minimal_raw))
    assert len(lines) == 2
    sigma = next(x for x in lines if x.startswith("licensing.review_sigma"))
    assert sigma.startswith("licensing.review_sigma = 'wide': Input should be a valid number")
    assert "(expected: lognormal dispersion of review times" in sigma
    weeks = next(x for x in lines if x.startswith("scenario.weeks"))
    assert weeks.startswith("scenario.weeks = 'ten': Input should be a valid integer")
    assert "horizon in weeks" in weeks


def test_approval_rate_above_one(minimal_raw):
    minimal_raw["licensing"] = {"approval_rate": 1.5}
    (line,) = _problems(_error(minimal_raw))
    assert line.startswith("licensing.approval_rate = 1.5: Input should be less than or equal to 1")
    assert "(expected: approval probability" in line


def test_event_approval_rate_above_one_names_the_event_by_id(minimal_raw):
    minimal_raw["policy"] = [{**LICENSING_EVENT, "approval_rate": 1.5}]
    (line,) = _problems(_error(minimal_raw))
    assert line.startswith("policy.apr.approval_rate = 1.5: Input should be less than or equal to 1")


def test_negative_china_output(minimal_raw):
    minimal_raw["china"] = {"output_tpy": {"dy_oxide": -5}}
    (line,) = _problems(_error(minimal_raw))
    assert line == "china.output_tpy.dy_oxide = -5: Input should be greater than or equal to 0"


def test_negative_supplier_capacity_names_the_supplier_by_id(minimal_raw):
    minimal_raw["suppliers"] = [{"id": "lynas", "region": "AU", "material": "ndpr_oxide",
                                 "capacity_tpy": -100, "cost": 42}]
    (line,) = _problems(_error(minimal_raw))
    assert line.startswith("suppliers.lynas.capacity_tpy = -100: Input should be greater than or equal to 0")
    assert "(expected: t/yr nameplate capacity)" in line


@pytest.mark.parametrize(
    ("dates", "says"),
    [
        ({"lift": "2025-03-01"}, "lift (2025-03-01) is not after effective (2025-04-04)"),
        ({"announce": "2025-05-01"}, "announce (2025-05-01) is after effective (2025-04-04)"),
        ({"suspend": "2025-06-01", "resume": "2025-05-01"},
         "resume (2025-05-01) is not after suspend (2025-06-01)"),
        ({"resume": "2025-05-01"}, "'resume' needs a 'suspend' date before it"),
    ],
)
def test_events_out_of_order(minimal_raw, dates, says):
    minimal_raw["policy"] = [{**LICENSING_EVENT, **dates}]
    (line,) = _problems(_error(minimal_raw))
    assert line.startswith(f"policy.apr: {says}")
    assert "dict" not in line  # the dates are the bad values, not the table's Python type


def test_unknown_policy_kind(minimal_raw):
    minimal_raw["policy"] = [{**LICENSING_EVENT, "kind": "licencing"}]
    (line,) = _problems(_error(minimal_raw))
    assert line.startswith("policy.apr: unknown policy kind 'licencing'; expected one of")
    assert "'licensing'" in line and "'export_quota'" in line


def test_cross_field_duplicate_ids(minimal_raw):
    minimal_raw["policy"] = [LICENSING_EVENT, {**LICENSING_EVENT, "effective": "2025-06-01"}]
    (line,) = _problems(_error(minimal_raw))
    assert "two policy entries have id 'apr'" in line


def test_every_problem_is_listed_once(minimal_raw):
    minimal_raw["licensing"] = {"aproval_rate": 0.5, "overrun_probability": 2.0}
    minimal_raw["china"] = {"output_tpy": {"tb_oxide": -1}}
    lines = _problems(_error(minimal_raw))
    assert len(lines) == 3
    assert {x.split(" ")[0].rstrip(":") for x in lines} == {
        "licensing.aproval_rate", "licensing.overrun_probability", "china.output_tpy.tb_oxide"}


def test_missing_required_key(minimal_raw):
    del minimal_raw["scenario"]["weeks"]
    (line,) = _problems(_error(minimal_raw))
    assert line == "scenario.weeks: required key is missing; add it"


# ----------------------------------------------------------------------------------------- files


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


MINIMAL_TOML = '[scenario]\nname = "unit"\nstart = 2025-01-06\nweeks = 10\n'


def test_load_config_reads_a_file(tmp_path):
    sc = load_config(_write(tmp_path, MINIMAL_TOML + "\n[licensing]\napproval_rate = 0.4\n"))
    assert sc.scenario.name == "unit" and sc.licensing.approval_rate == 0.4


def test_missing_file_names_it(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(info.value) == (
        f"{missing}: config file not found (check the path; bundled scenarios are in configs/)")


def test_broken_toml_names_the_file_and_the_position(tmp_path):
    p = _write(tmp_path, '[scenario\nname = "x"\n')
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: not valid TOML: ")
    assert "line 1" in msg


def test_file_errors_name_the_file(tmp_path):
    p = _write(tmp_path, MINIMAL_TOML + "\n[licensing]\napproval_rate = 1.5\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    head, line = str(info.value).splitlines()
    assert head == f"{p}: invalid config"
    assert line.strip().startswith("licensing.approval_rate = 1.5:")


# ----------------------------------------------------------------------------------------- --set overrides


def test_parse_set_args_reads_toml_values_and_bare_words():
    got = parse_set_args(["licensing.approval_rate=0.4", "scenario.name=test", 'scenario.description="a = b"',
                          "x.y=[1, 2]", "scenario.start=2025-02-03", "scenario.weeks = 52", "flag=true"])
    assert got == {
        "licensing.approval_rate": 0.4,
        "scenario.name": "test",
        "scenario.description": "a = b",
        "x.y": [1, 2],
        "scenario.start": dt.date(2025, 2, 3),
        "scenario.weeks": 52,
        "flag": True,
    }
    assert parse_set_args(None) == {}
    assert parse_set_args({"a.b": 1}) == {"a.b": 1}


@pytest.mark.parametrize("bad", ["noequals", "=3", " =3"])
def test_parse_set_args_rejects_items_without_a_key(bad):
    with pytest.raises(ConfigError, match=r"expected KEY\.PATH=VALUE"):
        parse_set_args([bad])


def test_overrides_given_as_one_string_are_one_override_and_other_items_are_refused(tmp_path):
    """From Python, overrides="scenario.weeks=20" was read letter by letter ("--set 's': expected KEY.PATH=VALUE")
    and [("scenario.weeks", 20)] failed inside with AttributeError: 'tuple' object has no attribute 'partition'."""
    path = tmp_path / "s.toml"
    path.write_text('[scenario]\nname = "s"\nstart = 2025-01-06\nweeks = 10\n')
    assert load_config(path, overrides="scenario.weeks=20").scenario.weeks == 20
    assert parse_set_args("a.b=0.4") == {"a.b": 0.4}
    for bad in ([("scenario.weeks", 20)], ["scenario.weeks=20", 20]):
        with pytest.raises(ConfigError, match=r"KEY\.PATH=VALUE.*mapping"):
            load_config(path, overrides=bad)


def test_apply_overrides_sets_dotted_paths_and_list_items_by_id_or_index(minimal_raw):
    raw = {**minimal_raw, "policy": [LICENSING_EVENT, {**LICENSING_EVENT, "id": "jun"}]}
    out = apply_overrides(raw, {
        "licensing.approval_rate": 0.4,  # a section the file does not have yet
        "scenario.weeks": 20,
        "policy.jun.approval_rate": 0.9,
        "policy.0.effective": "2025-04-07",
        "china.output_tpy.dy_oxide": 3000,
    })
    # A table the file does not spell out starts from the schema's defaults: only the named key changes.
    assert out["licensing"]["approval_rate"] == 0.4
    assert out["licensing"]["review_working_days_median"] == 28.0
    assert out["scenario"]["weeks"] == 20
    assert out["policy"][1]["approval_rate"] == 0.9 and out["policy"][0]["approval_rate"] == 0.5
    assert out["policy"][0]["effective"] == "2025-04-07"
    assert out["china"]["output_tpy"]["dy_oxide"] == 3000
    assert out["china"]["output_tpy"]["ndpr_oxide"] == 106_000
    # The input is not modified.
    assert "licensing" not in raw and raw["scenario"]["weeks"] == 10
    assert raw["policy"][1]["approval_rate"] == 0.5
    sc = validate(out)
    assert sc.licensing.approval_rate == 0.4 and sc.event("jun").approval_rate == 0.9
    assert sc.china.output_tpy["dy_oxide"] == 3000


def test_partial_per_material_tables_keep_the_defaults_for_the_other_materials(minimal_raw):
    # The model reads output_tpy and wtp_cap_multiple for every material: naming one must not drop the others.
    default = validate(minimal_raw)
    minimal_raw["china"] = {"output_tpy": {"dy_oxide": 3000}}
    minimal_raw["manufacturers"] = {"wtp_cap_multiple": {"tb_oxide": 30}}
    sc = validate(minimal_raw)
    assert sc.china.output_tpy == {**default.china.output_tpy, "dy_oxide": 3000}
    assert sc.manufacturers.wtp_cap_multiple == {**default.manufacturers.wtp_cap_multiple, "tb_oxide": 30}
    assert set(sc.china.output_tpy) == set(MATERIALS)
    # Errors inside a partial table still point at the bad entry.
    minimal_raw["china"] = {"output_tpy": {"dy_oxide": -1}}
    (line,) = _problems(_error(minimal_raw))
    assert line.startswith("china.output_tpy.dy_oxide = -1:")


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("policy.aprl.approval_rate",
         "--set policy.aprl.approval_rate: no entry with id 'aprl'; did you mean 'apr'?"),
        ("policy.3.approval_rate",
         "--set policy.3.approval_rate: no entry with id '3', and index 3 is out of range (the list has 1 "
         "entries); ids are ['apr']"),
        ("scenario.weeks.x", "--set scenario.weeks.x: 'scenario.weeks' is a value, not a table"),
        ("suppliers.lynas.cost",
         "--set suppliers.lynas.cost: no entry with id 'lynas'; did you mean 'lynas_ndpr'?"),
    ],
)
def test_bad_override_paths_error_clearly(minimal_raw, path, says):
    raw = {**minimal_raw, "policy": [LICENSING_EVENT]}
    with pytest.raises(ConfigError) as info:
        apply_overrides(raw, {path: 1})
    assert str(info.value) == says


def test_override_of_an_unknown_key_is_caught_by_validation(minimal_raw):
    out = apply_overrides(minimal_raw, parse_set_args(["licensing.aproval_rate=0.4"]))
    (line,) = _problems(_error(out))
    assert line == "licensing.aproval_rate: unknown key; did you mean 'approval_rate'?"


def test_load_config_applies_set_overrides(tmp_path):
    p = _write(tmp_path, MINIMAL_TOML)
    sc = load_config(p, ["licensing.approval_rate=0.25", "scenario.name=other"])
    assert sc.licensing.approval_rate == 0.25 and sc.scenario.name == "other"
    with pytest.raises(ConfigError) as info:
        load_config(p, ["licensing.approval_rate=1.5"])
    assert "licensing.approval_rate = 1.5" in str(info.value)


def test_key_paths_are_the_paths_set_overrides_read():
    """Each path `key_paths` gives (policy events and suppliers by id) sets that one value and no other."""
    cfg = load_config("configs/controls_2025.toml").model_dump(mode="json")
    flat = key_paths(cfg)
    assert any(k.startswith("policy.") and not k.split(".")[1].isdigit() for k in flat)
    assert any(k.startswith("suppliers.") and not k.split(".")[1].isdigit() for k in flat)
    numeric = [k for k, v in flat.items() if isinstance(v, float) and not isinstance(v, bool)]
    assert len(numeric) > 50
    for path in numeric[::7]:
        changed = key_paths(apply_overrides(cfg, {path: flat[path] + 1.5}))
        assert {k for k in flat if changed[k] != flat[k]} == {path}


def test_key_paths_keep_empty_tables_and_number_entries_without_unique_ids():
    data = {"a": {}, "b": [{"id": "x", "v": 1}, {"id": "x", "v": 2}], "c": [1, 2], "d": [{"v": 3}], "e": []}
    assert key_paths(data) == {"a": {}, "b.0.id": "x", "b.0.v": 1, "b.1.id": "x", "b.1.v": 2, "c": [1, 2],
                               "d.0.v": 3, "e": []}


def test_toml_key_paths_read_back_as_the_same_tables():
    """The toml spelling quotes a key that holds a dot, so each `path = value` line parses to the nested table."""
    data = {"sweep": {"name": "s", "set": {"scenario.weeks": 9, "policy.apr.rate": 0.5}, "empty": {}},
            "outputs": {"metrics": ["a.b", "c"], "every": 4}}
    flat = key_paths(data, spelling="toml")
    assert 'sweep.set."scenario.weeks"' in flat and "outputs.metrics" in flat
    text = "\n".join(f"{k} = {json.dumps(v)}" for k, v in flat.items())
    assert tomllib.loads(text) == {k: ({kk: vv for kk, vv in v.items() if vv != {}}) for k, v in data.items()}


# ----------------------------------------------------------------------------------------- dump_toml


def _round_trip(sc: Scenario) -> Scenario:
    text = dump_toml(sc.model_dump())
    return validate(tomllib.loads(text), source="round-trip")


def test_dump_toml_round_trips_the_defaults(minimal_raw):
    sc = validate(minimal_raw)
    assert _round_trip(sc) == sc


def test_dump_toml_round_trips_a_rich_scenario(minimal_raw):
    raw = {
        **minimal_raw,
        "scenario": {**minimal_raw["scenario"], "description": 'quotes " and \\ and\nnewlines'},
        "china": {"domestic_demand_tpy": {"ndpr_oxide": 96000, "dy_oxide": 3000, "tb_oxide": 500,
                                          "ndfeb_magnet": 240000}},
        "suppliers": [
            {"id": "lynas", "region": "AU", "material": "ndpr_oxide", "capacity_tpy": 7200, "cost": 42},
            {"id": "proj", "region": "CA", "material": "dy_oxide", "capacity_tpy": 600, "cost": 230,
             "status": "committed", "start": "2027-01-01", "source": "20250101"},  # a date-like plain string
        ],
        "policy": [
            {**LICENSING_EVENT, "announce": "2025-04-01", "suspend": "2025-11-10", "label": "2025W011",
             "approval_by_region": {"US": 0.1}},
            {"id": "q", "kind": "export_quota", "effective": "2026-01-01",
             "tonnes_per_year": {"dy_oxide": 1000}},
            {"id": "gl", "kind": "general_licence", "effective": "2025-12-01", "validity_weeks": 52},
        ],
    }
    sc = validate(raw)
    back = _round_trip(sc)
    assert back == sc
    assert back.suppliers[1].source == "20250101" and back.event("apr").label == "2025W011"
    assert back.event("apr").suspend == dt.date(2025, 11, 10)
    assert back.scenario.description == 'quotes " and \\ and\nnewlines'


def test_dump_toml_writes_dates_as_toml_dates(minimal_raw):
    data = tomllib.loads(dump_toml(validate(minimal_raw).model_dump()))
    assert data["scenario"]["start"] == dt.date(2025, 1, 6)


def test_override_of_one_key_keeps_the_other_defaults_of_its_table(minimal_raw):
    """--set on one entry of a per-sector/per-region table must not silently drop the other entries."""
    from reflow.config import validate

    raw = apply_overrides(minimal_raw, {"manufacturers.cover_target_weeks.automotive": 3,
                                        "manufacturers.demand_tpy.US.automotive": 100,
                                        "suppliers.mp_ndpr.capacity_tpy": 5000})
    sc = validate(raw)
    default = validate(minimal_raw)
    assert sc.manufacturers.cover_target_weeks["automotive"] == 3
    assert sc.manufacturers.cover_target_weeks["defence"] == default.manufacturers.cover_target_weeks["defence"]
    assert sc.manufacturers.demand_tpy["US"]["automotive"] == 100
    assert sc.manufacturers.demand_tpy["EU"] == default.manufacturers.demand_tpy["EU"]
    assert [s.id for s in sc.suppliers] == [s.id for s in default.suppliers]
    assert next(s for s in sc.suppliers if s.id == "mp_ndpr").capacity_tpy == 5000


def test_partial_tables_in_a_config_file_keep_the_schema_defaults(tmp_path, minimal_raw):
    """A file that gives only some keys of a per-key table (or of one row of a table of tables) keeps the defaults
    for the rest, as --set on those keys does; the resolved values are in the scenario and the run's config."""
    import json

    import reflow

    default = validate(minimal_raw)
    path = tmp_path / "partial.toml"
    path.write_text(
        '[scenario]\nname = "partial"\nstart = 2025-01-06\nweeks = 4\n\n'
        "[manufacturers]\ncover_target_weeks = { automotive = 3.0 }\nlisted_share = { automotive = 0.1 }\n"
        "demand_tpy = { US = { automotive = 100.0 }, "
        "AU = { automotive = 0, wind = 0, electronics = 0, defence = 0 } }\n"
        "\n[manufacturers.bom.magnet]\ndy_oxide = 0.03\n\n"
        '[[policy]]\nid = "lic"\nkind = "licensing"\neffective = 2025-01-06\nmaterials = ["dy_oxide"]\n'
        "approval_by_sector = { automotive = 0.5 }\n")
    sc = load_config(path)
    d = default.manufacturers
    assert sc.manufacturers.cover_target_weeks == {**d.cover_target_weeks, "automotive": 3.0}
    assert sc.manufacturers.listed_share == {**d.listed_share, "automotive": 0.1}  # defence stays 0.5
    assert sc.manufacturers.demand_tpy["US"] == {**d.demand_tpy["US"], "automotive": 100.0}
    assert sc.manufacturers.demand_tpy["EU"] == d.demand_tpy["EU"]
    assert sum(sc.manufacturers.demand_tpy["AU"].values()) == 0.0  # a row can still be zeroed
    assert sc.manufacturers.bom["magnet"] == {**d.bom["magnet"], "dy_oxide": 0.03}
    assert sc.manufacturers.bom["automotive"] == d.bom["automotive"]
    assert sc.event("lic").approval_by_sector == {"defence": 0.0, "automotive": 0.5}  # defence still denied
    # The same as --set on the keys, starting from the defaults.
    via_set = load_config(tmp_path / "partial.toml", ["manufacturers.cover_target_weeks.wind=12"])
    assert via_set.manufacturers.cover_target_weeks == {**d.cover_target_weeks, "automotive": 3.0, "wind": 12.0}
    # A run records the resolved tables.
    res = reflow.run(path, seed=1, out=tmp_path / "results")
    resolved = json.loads((res.path / "config.json").read_text())
    assert resolved["manufacturers"]["cover_target_weeks"]["defence"] == d.cover_target_weeks["defence"]
    assert resolved["manufacturers"]["demand_tpy"]["US"]["wind"] == d.demand_tpy["US"]["wind"]
    assert "defence = 0.5" in (res.path / "config.toml").read_text()


def test_a_starting_non_china_share_above_its_cap_is_a_clear_error(minimal_raw):
    """The diversification target starts at the initial share and never exceeds the cap, so a start above the cap
    would leave the cap meaningless; the error names both keys and the fix."""
    raw = dict(minimal_raw)
    raw["manufacturers"] = {"non_china_share_max": 0.2}  # the default starting shares include JPKR's 0.35
    with pytest.raises(ConfigError) as e:
        validate(raw)
    msg = str(e.value)
    assert "non_china_share_initial" in msg and "non_china_share_max" in msg and "JPKR" in msg
    assert "raise the cap or lower those shares" in msg
    raw["manufacturers"] = {"non_china_share_max": 0.35}
    validate(raw)  # at the cap is fine


def test_an_error_in_a_set_override_says_it_comes_from_the_override_not_the_file():
    path = Path(__file__).resolve().parents[1] / "configs" / "controls_2025.toml"
    with pytest.raises(ConfigError) as e:
        load_config(path, overrides=["policy.jun2025.aproval_rate=0.4"])
    msg = str(e.value)
    assert "did you mean 'approval_rate'" in msg
    assert "(from --set policy.jun2025.aproval_rate=0.4, not the file)" in msg
    with pytest.raises(ConfigError) as e:  # a bad value too, and through the API that `reflow run` calls
        import reflow
        reflow.run(path, seed=1, out=None, overrides=["licensing.approval_rate=1.5"])
    assert "(from --set licensing.approval_rate=1.5, not the file)" in str(e.value)
    # a whole event replaced by its id: one value is refused, naming the key to set instead; a table keeps the id,
    # so that what is wrong with it is the override's, not controls_2025.toml's ("policy.0 = 0.3 ... fix it there")
    with pytest.raises(ConfigError) as e:
        load_config(path, overrides=["policy.apr2025=0.3"])
    assert str(e.value) == ("--set policy.apr2025 = 0.3: 'policy.apr2025' is a whole entry (a table of settings), "
                            "not one value; set one of its keys, e.g. policy.apr2025.approval_rate")
    with pytest.raises(ConfigError) as e:
        load_config(path, overrides=["policy.apr2025={approval_rate=0.3}"])
    assert "policy.apr2025: a policy event needs a 'kind'" in str(e.value)
    assert "(from --set policy.apr2025=" in str(e.value) and "controls_2025.toml" not in str(e.value).split("\n")[1]
    raw = load_raw(path)
    raw["scenario"]["weks"] = 3  # an error in the file itself names no override
    with pytest.raises(ConfigError) as e:
        validate(raw, source=str(path), overrides={"licensing.approval_rate": 0.4})
    assert "from --set" not in str(e.value)


@pytest.mark.parametrize(("kind", "field"), [("licensing", "destinations"), ("general_licence", "destinations"),
                                             ("general_licence", "sectors"), ("general_licence", "materials")])
def test_an_event_with_an_empty_list_of_what_it_covers_is_a_clear_error(minimal_raw, kind, field):
    """An empty list would control nothing (while an announced licensing event still flagged every region for
    stocking up): the error names the key."""
    raw = dict(minimal_raw)
    ev = {"id": "ev", "kind": kind, "effective": "2025-04-07", field: []}
    if kind == "licensing":
        ev.setdefault("materials", ["dy_oxide"])
    raw["policy"] = [ev]
    with pytest.raises(ConfigError, match=rf"policy\.ev\.{field}"):
        validate(raw)
