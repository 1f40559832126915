"""Unit tests of the policy timeline (`reflow.policy`), built from events validated by `reflow.config`."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from reflow.config import validate
from reflow.domain import MAT, MATERIALS, REG, SEC
from reflow.policy import PolicyTimeline

D = dt.date.fromisoformat
DY, TB, NDPR, MAG = MAT["dy_oxide"], MAT["tb_oxide"], MAT["ndpr_oxide"], MAT["ndfeb_magnet"]
CN, US, EU, JPKR = REG["CN"], REG["US"], REG["EU"], REG["JPKR"]
AUTO, DEF, MAGNET = SEC["automotive"], SEC["defence"], SEC["magnet"]

APRIL = {
    "id": "apr2025", "kind": "licensing", "materials": ["dy_oxide", "tb_oxide"],
    "announce": "2025-04-01", "effective": "2025-04-04",
    "approval_rate": 0.3, "approval_by_region": {"US": 0.1}, "listed_approval_rate": 0.05,
    "review_working_days_median": 40, "return_probability": 0.2, "reviewer_capacity_per_week": 300,
}
JUNE = {
    "id": "jun2025", "kind": "licensing", "materials": ["dy_oxide", "tb_oxide"],
    "effective": "2025-06-15", "approval_rate": 0.7, "review_working_days_median": 25,
}


@pytest.fixture
def timeline(minimal_raw):
    """Build a PolicyTimeline from raw event dicts, validated as a real scenario would be."""

    def build(*events: dict, default_approval: float = 1.0) -> PolicyTimeline:
        sc = validate({**minimal_raw, "policy": list(events)}, source="test")
        return PolicyTimeline(list(sc.policy), default_approval=default_approval)

    return build


def test_no_events_means_nothing_controlled_and_the_default_approval(timeline):
    st = timeline(default_approval=0.8).state(D("2025-05-01"))
    assert not st.controlled.any() and not st.announced.any() and not st.embargo.any()
    np.testing.assert_allclose(st.approval, 0.8)
    assert np.all(np.isinf(st.quota_tpy))
    assert not st.export_tax.any() and not st.tariff.any() and not st.general_licence.any()
    assert st.active_ids == ()


def test_licensing_is_announced_then_in_force(timeline):
    tl = timeline(APRIL, default_approval=0.9)
    before = tl.state(D("2025-03-31"))
    assert not before.announced.any() and not before.controlled.any()
    ann = tl.state(D("2025-04-02"))
    assert ann.announced[DY, US] and ann.announced[TB, EU]
    assert not ann.announced[NDPR].any() and not ann.announced[:, CN].any()
    assert not ann.controlled.any()
    np.testing.assert_allclose(ann.approval, 0.9)

    st = tl.state(D("2025-04-04"))  # the effective day itself
    assert st.active_ids == ("apr2025",)
    assert not st.announced.any()
    assert st.controlled[DY, US] and st.controlled[TB, JPKR]
    assert not st.controlled[NDPR].any() and not st.controlled[MAG].any()
    assert not st.controlled[:, CN].any()  # default destinations are the importing regions
    assert st.approval[DY, US, AUTO] == pytest.approx(0.1)  # per-region rate
    assert st.approval[DY, EU, AUTO] == pytest.approx(0.3)  # general rate
    assert st.approval[DY, EU, DEF] == 0.0  # defence end use denied by default
    assert st.approval[NDPR, EU, AUTO] == pytest.approx(0.9)  # uncontrolled: the default
    assert st.listed_approval[TB, EU] == pytest.approx(0.05)
    assert (st.review_median[DY, 1:] == 40).all() and np.isnan(st.review_median[NDPR]).all()
    assert np.isnan(st.review_median[DY, CN])  # China is no destination
    np.testing.assert_allclose(st.return_probability[TB, 1:], 0.2)
    assert st.reviewer_capacity == 300


def test_a_later_easing_replaces_earlier_approval_rates_whatever_the_file_order(timeline):
    for events in ((APRIL, JUNE), (JUNE, APRIL)):
        tl = timeline(*events)
        assert tl.state(D("2025-05-01")).approval[DY, EU, AUTO] == pytest.approx(0.3)
        st = tl.state(D("2025-07-01"))
        assert set(st.active_ids) == {"apr2025", "jun2025"}
        assert st.approval[DY, EU, AUTO] == pytest.approx(0.7)
        assert st.approval[TB, US, AUTO] == pytest.approx(0.7)  # June sets no US rate: its general rate
        assert st.approval[DY, EU, DEF] == 0.0
        assert (st.review_median[DY, 1:] == 25).all()
        assert st.reviewer_capacity == 300  # June leaves the capacity as April set it


def test_an_event_for_some_destinations_sets_review_times_and_returns_for_those_only(timeline):
    # Regression: review times and return rates were kept per material, so a later US-only event with a 5-day
    # review also sped up every other destination's files, still under April's terms (EU's mean wait fell from
    # 64 to 20 days in a run).
    us_only = {"id": "us", "kind": "licensing", "materials": ["dy_oxide"], "destinations": ["US"],
               "effective": "2025-06-02", "review_working_days_median": 5, "return_probability": 0.0}
    for events in ((APRIL, us_only), (us_only, APRIL)):
        st = timeline(*events).state(D("2025-07-01"))
        assert st.review_median[DY, US] == 5 and st.return_probability[DY, US] == 0.0
        assert st.review_median[DY, EU] == 40 and st.return_probability[DY, EU] == pytest.approx(0.2)
        assert st.review_median[TB, US] == 40  # the US event does not list Tb


def test_suspension_resumption_and_lift(timeline):
    ev = {**APRIL, "suspend": "2025-11-10", "resume": "2026-11-10", "lift": "2027-06-01"}
    tl = timeline(ev)
    assert tl.state(D("2025-11-09")).controlled[DY, US]
    suspended = tl.state(D("2025-12-01"))
    assert not suspended.controlled.any() and suspended.active_ids == ()
    assert suspended.approval[DY, US, AUTO] == pytest.approx(1.0)
    assert tl.state(D("2026-11-10")).controlled[DY, US]  # back in force on the resume day
    assert tl.state(D("2027-05-31")).controlled[DY, US]
    lifted = tl.state(D("2027-06-01"))
    assert not lifted.controlled.any() and lifted.active_ids == ()


def test_a_suspension_without_resume_lasts(timeline):
    tl = timeline({**APRIL, "suspend": "2025-11-10"})
    assert not tl.state(D("2030-01-01")).controlled.any()


def test_suspended_before_taking_effect_is_no_longer_announced(timeline):
    tl = timeline({**APRIL, "announce": "2025-03-01", "suspend": "2025-03-15"})
    assert tl.state(D("2025-03-10")).announced[DY, US]
    assert not tl.state(D("2025-03-20")).announced.any()


def test_an_announcement_resumed_before_taking_effect_is_announced_again(timeline):
    # ODD 7.1: announced when announce <= d < effective and not suspended, suspended = suspend <= d < resume.
    tl = timeline({**APRIL, "announce": "2025-03-01", "suspend": "2025-03-15", "resume": "2025-03-25"})
    assert not tl.state(D("2025-03-20")).announced.any()
    assert tl.state(D("2025-03-30")).announced[DY, US]
    assert tl.state(D("2025-04-10")).controlled[DY, US] and not tl.state(D("2025-04-10")).announced.any()


def test_only_a_tighter_export_quota_is_announced(timeline):
    # Buyers stock up ahead of a cut, not ahead of a larger quota replacing a smaller one (quota_2010's 2011 quota).
    small = {"id": "small", "kind": "export_quota", "effective": "2025-01-06", "lift": "2025-07-07",
             "tonnes_per_year": {"dy_oxide": 100.0, "tb_oxide": 100.0}}
    larger = {"id": "larger", "kind": "export_quota", "announce": "2025-06-02", "effective": "2025-07-07",
              "tonnes_per_year": {"dy_oxide": 300.0, "tb_oxide": 50.0}}
    st = timeline(small, larger).state(D("2025-06-16"))
    assert not st.announced[DY].any() and st.announced[TB, US]
    assert not timeline(small).state(D("2025-06-16")).announced.any()


def test_only_a_tighter_licensing_control_is_announced(timeline):
    # Buyers stock up ahead of a control, not ahead of an easing of one already in force (a higher approval rate
    # coming is no more reason to stock up than a larger quota), nor ahead of an embargo already in force.
    apr = {"id": "apr", "kind": "licensing", "materials": ["dy_oxide", "tb_oxide"], "effective": "2025-04-07",
           "approval_rate": 0.3}
    ease = {"id": "ease", "kind": "licensing", "materials": ["dy_oxide", "tb_oxide"], "announce": "2025-06-02",
            "effective": "2025-07-07", "approval_rate": 0.9}
    st = timeline(apr, ease).state(D("2025-06-16"))
    assert st.controlled[DY, US] and not st.announced.any()
    # A tighter rate, a control reaching more of a sector, or a new destination or material is announced.
    tighter = {**ease, "approval_rate": 0.1}
    assert timeline(apr, tighter).state(D("2025-06-16")).announced[DY, US]
    narrow = {**apr, "coverage_by_sector": {"automotive": 0.5}}
    wider = {**ease, "approval_rate": 0.3}
    st = timeline(narrow, wider).state(D("2025-06-16"))
    assert st.announced[DY, US] and st.announced[TB, EU]
    more = {**ease, "materials": ["dy_oxide", "ndfeb_magnet"]}
    st = timeline(apr, more).state(D("2025-06-16"))
    assert st.announced[MAG, US] and not st.announced[DY].any()
    emb = {"id": "emb", "kind": "embargo", "materials": ["dy_oxide"], "destinations": ["US"],
           "effective": "2025-04-07"}
    emb2 = {**emb, "id": "emb2", "destinations": ["US", "EU"], "announce": "2025-06-02", "effective": "2025-07-07"}
    st = timeline(emb, emb2).state(D("2025-06-16"))
    assert st.announced[DY, EU] and not st.announced[DY, US]


def test_general_licence_covers_its_sectors_until_it_expires(timeline):
    gl = {"id": "gl", "kind": "general_licence", "materials": ["ndfeb_magnet"], "destinations": ["US", "EU"],
          "effective": "2025-12-01", "coverage": 0.6, "validity_weeks": 4}
    tl = timeline(gl)
    assert not tl.state(D("2025-11-30")).general_licence.any()
    st = tl.state(D("2025-12-15"))
    assert st.general_licence[MAG, US, AUTO] == pytest.approx(0.6)
    assert st.general_licence[MAG, EU, MAGNET] == pytest.approx(0.6)
    assert st.general_licence[MAG, US, DEF] == 0.0  # defence is not a default sector
    assert st.general_licence[MAG, JPKR].sum() == 0.0 and st.general_licence[DY].sum() == 0.0
    assert tl.state(D("2025-12-28")).general_licence[MAG, US, AUTO] == pytest.approx(0.6)
    expired = tl.state(D("2025-12-29"))  # 4 weeks after 1 December
    assert not expired.general_licence.any() and expired.active_ids == ()


def test_export_quota_and_tax_set_per_material_arrays(timeline):
    quota = {"id": "q", "kind": "export_quota", "announce": "2010-06-01", "effective": "2010-07-01",
             "lift": "2015-01-01", "tonnes_per_year": {"dy_oxide": 1000, "ndpr_oxide": 20000}}
    tax = {"id": "tax", "kind": "export_tax", "effective": "2010-07-01", "rate": {"ndpr_oxide": 0.25}}
    tl = timeline(quota, tax)
    ann = tl.state(D("2010-06-15"))
    assert ann.announced[DY, 1:].all() and ann.announced[NDPR, 1:].all() and not ann.announced[TB].any()
    assert np.all(np.isinf(ann.quota_tpy))
    st = tl.state(D("2012-01-01"))
    assert st.quota_tpy[DY] == 1000 and st.quota_tpy[NDPR] == 20000
    assert np.isinf(st.quota_tpy[TB]) and np.isinf(st.quota_tpy[MAG])
    assert st.export_tax[NDPR] == pytest.approx(0.25) and st.export_tax[DY] == 0.0
    after = tl.state(D("2015-01-01"))
    assert np.all(np.isinf(after.quota_tpy))
    assert after.export_tax[NDPR] == pytest.approx(0.25)  # the tax was not lifted


def test_production_cap_sets_china_output_caps_while_in_force(timeline):
    cap = {"id": "pq", "kind": "production_cap", "effective": "2011-01-03", "lift": "2012-01-02",
           "tonnes_per_year": {"dy_oxide": 1300, "ndpr_oxide": 16000}}
    tl = timeline(cap)
    assert np.all(np.isinf(tl.state(D("2010-12-31")).production_cap_tpy))
    st = tl.state(D("2011-06-01"))
    assert st.production_cap_tpy[DY] == 1300 and st.production_cap_tpy[NDPR] == 16000
    assert np.isinf(st.production_cap_tpy[TB]) and np.isinf(st.production_cap_tpy[MAG])
    assert not st.controlled.any()  # a cap on output is not an export control
    assert np.all(np.isinf(tl.state(D("2012-01-02")).production_cap_tpy))


def test_embargo_blocks_its_destinations_only(timeline):
    emb = {"id": "jp2010", "kind": "embargo", "destinations": ["JPKR"], "announce": "2010-09-20",
           "effective": "2010-09-21", "lift": "2010-11-20"}
    tl = timeline(emb)
    ann = tl.state(D("2010-09-20"))
    assert ann.announced[:, JPKR].all() and ann.announced.sum() == len(MATERIALS)
    st = tl.state(D("2010-10-01"))
    assert st.embargo[:, JPKR].all()
    assert st.embargo.sum() == len(MATERIALS)
    assert not tl.state(D("2010-11-20")).embargo.any()


def test_tariff_is_set_by_material_importer_and_origin(timeline):
    tar = {"id": "t", "kind": "tariff", "importers": ["US"], "materials": ["ndfeb_magnet"], "rate": 0.25,
           "effective": "2025-01-01"}
    st = timeline(tar).state(D("2025-02-01"))
    assert st.tariff[MAG, US, CN] == pytest.approx(0.25)
    assert st.tariff.sum() == pytest.approx(0.25)  # nowhere else: not other importers, origins or materials


def test_extraterritorial_rule_sets_threshold_and_approval(timeline):
    et = {"id": "et", "kind": "extraterritorial", "announce": "2025-10-09", "effective": "2025-12-01",
          "threshold": 0.001, "approval_rate": 0.4}
    tl = timeline(et)
    ann = tl.state(D("2025-11-01"))
    # Announced, it changes nothing: it does not restrict China's exports, so buyers do not stock up on them.
    assert not ann.announced.any() and not ann.extraterritorial.any()
    st = tl.state(D("2025-12-01"))
    assert st.extraterritorial[MAG] and st.extraterritorial.sum() == 1
    assert st.et_threshold == pytest.approx(0.001) and st.et_approval == pytest.approx(0.4)


def test_price_floor_stockpile_and_investment_support(timeline):
    floor = {"id": "pf", "kind": "price_floor", "regions": ["US"], "materials": ["ndpr_oxide"], "price": 110,
             "effective": "2025-07-10"}
    rel = {"id": "sp", "kind": "stockpile_release", "region": "JPKR", "material": "dy_oxide", "tonnes": 52,
           "weeks": 26, "effective": "2025-07-07"}
    inv = {"id": "inv", "kind": "investment_support", "regions": ["EU"], "capex_grant_share": 0.3,
           "lead_time_factor": 0.5, "effective": "2025-07-01"}
    tl = timeline(floor, rel, inv)
    st = tl.state(D("2025-08-01"))
    assert st.price_floor[NDPR, US] == 110 and st.price_floor.sum() == 110
    assert st.releases == {"sp": pytest.approx(2.0)}
    assert st.capex_grant[EU] == pytest.approx(0.3) and st.capex_grant.sum() == pytest.approx(0.3)
    assert st.lead_time_factor[EU] == pytest.approx(0.5) and st.lead_time_factor[US] == 1.0
    # The release ends after its 26 weeks; the floor and the support stay.
    later = tl.state(D("2026-01-05"))
    assert later.releases == {}
    assert later.price_floor[NDPR, US] == 110 and later.capex_grant[EU] == pytest.approx(0.3)


def test_state_is_consistent_over_a_weekly_sweep(timeline):
    tl = timeline(APRIL, JUNE, {**APRIL, "id": "oct", "effective": "2025-10-09", "announce": "2025-10-09",
                                "materials": ["ndfeb_magnet"], "approval_rate": 0.5})
    day = D("2025-01-06")
    for _ in range(60):
        st = tl.state(day)
        # Controlled cells are exactly those of the events in force, and approvals stay probabilities.
        expect = np.zeros_like(st.controlled)
        for ev in tl.events:
            if ev.id in st.active_ids:
                for m in ev.materials:
                    expect[MAT[m], [REG[r] for r in ev.destinations]] = True
        np.testing.assert_array_equal(st.controlled, expect)
        assert np.all((st.approval >= 0) & (st.approval <= 1))
        day += dt.timedelta(weeks=1)


def test_licensing_event_without_a_rate_takes_the_scenario_default(minimal_raw):
    raw = {**minimal_raw, "licensing": {"approval_rate": 0.35},
           "policy": [{"id": "lic", "kind": "licensing", "effective": "2025-01-06", "materials": ["dy_oxide"]}]}
    sc = validate(raw)
    st = PolicyTimeline(sc.policy, sc.licensing.approval_rate).state(dt.date(2025, 2, 3))
    assert st.approval[MAT["dy_oxide"], REG["US"], SEC["automotive"]] == 0.35
    assert st.approval[MAT["dy_oxide"], REG["US"], SEC["defence"]] == 0.0  # the event's default by sector


def test_controls_2025_returns_follow_the_scenario_rate_after_the_special_channel():
    # September's higher return rate was reported for Sep-Oct only; from the November special channel the
    # scenario's licensing.return_probability applies again, so --set and sweeps of it reach 2026 onwards
    # (an event that restated the default would have overridden them to the end).
    from pathlib import Path

    from reflow.config import load_config

    path = Path(__file__).resolve().parents[1] / "configs" / "controls_2025.toml"
    sc = load_config(path, ["licensing.return_probability=0.4"])
    tl = PolicyTimeline(list(sc.policy), default_approval=sc.licensing.approval_rate)

    def returns(day: str) -> float:
        ret = tl.state(D(day)).return_probability[DY, EU]
        return float(sc.licensing.return_probability if np.isnan(ret) else ret)

    assert returns("2025-10-06") == 0.3
    assert returns("2025-11-10") == returns("2026-06-01") == returns("2031-01-06") == 0.4
