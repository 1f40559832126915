"""Unit tests of the licensing queue (`reflow.licensing`): review times, the queue server, approval odds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from reflow.licensing import LicenceQueue, approval_probability, draw_review_weeks

LIMIT = 45.0  # statutory limit, working days: ceil(45 / 5) = 9 weeks


# ----------------------------------------------------------------------------------------- review times


def test_review_weeks_are_at_least_one_and_capped_at_the_limit_without_overruns():
    rng = np.random.default_rng(1)
    w = draw_review_weeks(rng, 5000, 28.0, sigma=1.5, limit_working_days=LIMIT, overrun_probability=0.0)
    assert w.dtype.kind == "i" and w.shape == (5000,)
    assert w.min() >= 1
    assert w.max() == math.ceil(LIMIT / 5)  # the wide spread reaches the cap, and never passes it
    tiny = draw_review_weeks(rng, 200, 0.5, sigma=0.3, limit_working_days=LIMIT, overrun_probability=0.0)
    np.testing.assert_array_equal(tiny, 1)  # half a working day still takes a week


def test_review_weeks_without_spread_are_the_median_rounded_up_to_weeks():
    w = draw_review_weeks(np.random.default_rng(0), 10, 28.0, sigma=0.0, limit_working_days=LIMIT,
                          overrun_probability=0.0)
    np.testing.assert_array_equal(w, 6)  # 28 working days = 5.6 weeks


def test_overruns_exceed_the_legal_limit():
    rng = np.random.default_rng(2)
    for limit in (45.0, 44.0):
        w = draw_review_weeks(rng, 2000, 28.0, sigma=0.35, limit_working_days=limit, overrun_probability=1.0)
        assert np.all(w * 5 > limit)
    w = draw_review_weeks(rng, 2000, 28.0, sigma=0.35, limit_working_days=LIMIT, overrun_probability=1.0)
    assert np.all(w > math.ceil(LIMIT / 5))


def test_overrun_share_matches_the_probability():
    # With a small spread no capped review reaches the limit, so the files above 9 weeks are the overruns.
    rng = np.random.default_rng(3)
    w = draw_review_weeks(rng, 20_000, 20.0, sigma=0.1, limit_working_days=LIMIT, overrun_probability=0.3)
    assert np.mean(w > 9) == pytest.approx(0.3, abs=0.02)


def test_a_median_above_the_legal_limit_is_the_median_of_the_reviews_and_waits_grow_with_it():
    # Capping every review at the limit made each median above it give the same waits (a sweep of the median
    # flattened past 45 working days); the authority's deadline is now the longer of the limit and its median.
    means = []
    for med in (30.0, 45.0, 60.0, 75.0, 90.0):
        w = draw_review_weeks(np.random.default_rng(4), 20_000, med, sigma=0.35, limit_working_days=LIMIT,
                              overrun_probability=0.0)
        k = med / 5  # the median in weeks (a whole number here): half the reviews take at most k weeks
        assert np.mean(w <= k) > 0.48 and np.mean(w <= k - 1) < 0.47, med  # (sampling noise ~0.004)
        means.append(draw_review_weeks(np.random.default_rng(4), 20_000, med, sigma=0.35, limit_working_days=LIMIT,
                                       overrun_probability=0.1).mean())
    assert all(b > a + 1.0 for a, b in itertools.pairwise(means)), means  # over a week more per 15 working days
    # Below the limit nothing changes: a median of 30 is capped at 45 as before.
    w = draw_review_weeks(np.random.default_rng(5), 20_000, 30.0, sigma=1.0, limit_working_days=LIMIT,
                          overrun_probability=0.0)
    assert w.max() == math.ceil(LIMIT / 5)


def test_review_weeks_accept_per_file_medians():
    med = np.array([5.0, 20.0, 40.0])
    w = draw_review_weeks(np.random.default_rng(0), 3, med, sigma=0.0, limit_working_days=LIMIT,
                          overrun_probability=0.0)
    np.testing.assert_array_equal(w, [1, 4, 8])


def test_review_weeks_are_reproducible_under_a_seed_and_differ_across_seeds():
    def draw(seed: int) -> np.ndarray:
        return draw_review_weeks(np.random.default_rng(seed), 500, 28.0, 0.35, LIMIT, 0.1)

    np.testing.assert_array_equal(draw(7), draw(7))
    assert not np.array_equal(draw(7), draw(8))


def test_no_review_times_for_no_files():
    w = draw_review_weeks(np.random.default_rng(0), 0, 28.0, 0.35, LIMIT, 0.1)
    assert w.shape == (0,)


# ----------------------------------------------------------------------------------------- the queue


def _submit(q: LicenceQueue, n: int, week: int, review: int, *, applicant0: int = 0, material: int = 0,
            region: int = 1, tonnes: float = 1.0, listed: bool = False) -> None:
    q.submit(
        material=np.full(n, material),
        region=np.full(n, region),
        sector=np.zeros(n, int),
        applicant=np.arange(applicant0, applicant0 + n),
        listed=np.full(n, listed),
        tonnes=np.full(n, tonnes),
        week=week,
        review_weeks=np.full(n, review),
    )


def _review(q: LicenceQueue, week: int, *, capacity: int = 10**6, p: float = 1.0, ret: float = 0.0,
            seed: int = 0, redo_weeks: np.ndarray | None = None):
    return q.review(week, capacity, np.full(len(q), p), ret, np.random.default_rng(seed), redo_weeks)


def test_nothing_is_decided_before_its_review_is_complete():
    q = LicenceQueue()
    _submit(q, 3, week=0, review=4)
    for week in range(4):
        d = _review(q, week)
        assert len(d.tonnes) == 0 and d.returned == 0
        assert len(q) == 3
    d = _review(q, 4)
    assert len(d.tonnes) == 3 and d.approved.all()
    np.testing.assert_array_equal(d.wait_weeks, 4.0)
    assert len(q) == 0


def test_capacity_limits_decisions_and_oldest_go_first():
    q = LicenceQueue()
    _submit(q, 3, week=3, review=0, applicant0=100)  # newer files, first in the arrays
    _submit(q, 2, week=1, review=1, applicant0=200)  # older files, ready at week 2
    d = _review(q, 3, capacity=3)
    assert len(d.tonnes) == 3
    # Both week-1 files, then the first of the week-3 batch.
    assert sorted(d.applicant.tolist()) == [100, 200, 201]
    np.testing.assert_array_equal(np.sort(d.wait_weeks), [0.0, 2.0, 2.0])
    assert sorted(q.view("applicant").tolist()) == [101, 102]
    d = _review(q, 3, capacity=3)
    assert sorted(d.applicant.tolist()) == [101, 102] and len(q) == 0


def test_approval_probability_zero_denies_all_and_one_approves_all():
    q = LicenceQueue()
    _submit(q, 50, week=0, review=1)
    d = _review(q, 1, p=0.0)
    assert len(d.approved) == 50 and not d.approved.any()
    _submit(q, 50, week=0, review=1)
    d = _review(q, 1, p=1.0, ret=0.0)
    assert len(d.approved) == 50 and d.approved.all()


def test_approval_share_follows_the_probability():
    q = LicenceQueue()
    _submit(q, 4000, week=0, review=1)
    d = _review(q, 1, p=0.3, seed=5)
    assert d.approved.mean() == pytest.approx(0.3, abs=0.03)


def test_per_file_probabilities_are_applied_to_the_right_files():
    q = LicenceQueue()
    _submit(q, 6, week=0, review=1)
    prob = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    d = q.review(1, 100, prob, 0.0, np.random.default_rng(0))
    approved = dict(zip(d.applicant.tolist(), d.approved.tolist(), strict=True))
    assert approved == {0: True, 1: False, 2: True, 3: False, 4: True, 5: False}


def test_returned_files_stay_pending_and_come_back_later():
    q = LicenceQueue()
    _submit(q, 5, week=0, review=2, tonnes=3.0)
    d = _review(q, 2, ret=1.0)
    assert d.returned == 5 and len(d.tonnes) == 0
    assert len(q) == 5
    np.testing.assert_array_equal(q.view("ready"), 4)  # default: two more weeks
    assert len(_review(q, 3, ret=0.0).tonnes) == 0
    d = _review(q, 4, ret=0.0)
    assert len(d.tonnes) == 5
    np.testing.assert_array_equal(d.wait_weeks, 4.0)  # counted from the first submission
    assert len(q) == 0


def test_returns_use_per_file_redo_weeks_and_count_against_capacity():
    q = LicenceQueue()
    _submit(q, 4, week=0, review=1)
    d = _review(q, 1, capacity=2, ret=1.0, redo_weeks=np.array([5, 6, 7, 8]))
    assert d.returned == 2  # only two files were read this week
    np.testing.assert_array_equal(q.view("ready"), [6, 7, 1, 1])


def test_pending_tonnes_and_backlog_sum_the_queue():
    q = LicenceQueue()
    q.submit(material=np.array([0, 0, 2, 3]), region=np.array([1, 2, 1, 1]), sector=np.zeros(4, int),
             applicant=np.array([0, 0, 1, 2]), listed=np.zeros(4, bool),
             tonnes=np.array([1.5, 2.5, 4.0, 8.0]), week=0, review_weeks=np.full(4, 3))
    pt = q.pending_tonnes(n_applicants=3, n_materials=4)
    assert pt.shape == (3, 4)
    assert pt[0, 0] == pytest.approx(4.0)
    assert pt[1, 2] == pytest.approx(4.0)
    assert pt[2, 3] == pytest.approx(8.0)
    assert pt.sum() == pytest.approx(16.0)
    bl = q.backlog(n_materials=4, n_regions=8)
    assert bl.shape == (4, 8)
    assert bl[0, 1] == 1 and bl[0, 2] == 1 and bl[2, 1] == 1 and bl[3, 1] == 1
    assert bl.sum() == len(q) == 4


def test_decided_files_leave_the_sums():
    q = LicenceQueue()
    _submit(q, 3, week=0, review=1, tonnes=2.0)
    _submit(q, 2, week=0, review=5, tonnes=7.0, applicant0=3)
    _review(q, 1)
    assert q.pending_tonnes(5, 4).sum() == pytest.approx(14.0)
    assert q.backlog(4, 8).sum() == 2


def test_withdraw_drops_masked_files_and_keeps_the_rest_aligned():
    q = LicenceQueue()
    q.submit(material=np.array([0, 1, 2, 3]), region=np.array([1, 2, 3, 4]), sector=np.zeros(4, int),
             applicant=np.array([10, 11, 12, 13]), listed=np.zeros(4, bool),
             tonnes=np.array([1.0, 2.0, 3.0, 4.0]), week=0, review_weeks=np.array([1, 2, 3, 4]))
    assert q.withdraw(q.view("material") == 1) == 1
    assert q.withdraw(np.zeros(len(q), bool)) == 0
    assert len(q) == 3
    np.testing.assert_array_equal(q.view("applicant"), [10, 12, 13])
    np.testing.assert_array_equal(q.view("tonnes"), [1.0, 3.0, 4.0])
    np.testing.assert_array_equal(q.view("ready"), [1, 3, 4])
    np.testing.assert_array_equal(q.view("region"), [1, 3, 4])


def test_queue_grows_past_its_initial_capacity_without_losing_files():
    q = LicenceQueue(capacity=2)
    for week in range(5):
        _submit(q, 3, week=week, review=10, applicant0=3 * week, tonnes=float(week + 1))
    assert len(q) == 15
    np.testing.assert_array_equal(q.view("applicant"), np.arange(15))
    np.testing.assert_array_equal(q.view("submitted"), np.repeat(np.arange(5), 3))
    assert q.pending_tonnes(15, 4).sum() == pytest.approx(3 * (1 + 2 + 3 + 4 + 5))


# ----------------------------------------------------------------------------------------- approval odds


def test_listed_applicants_get_the_lower_of_their_rate_and_the_listed_rate():
    by = np.array([[0.9, 0.5], [0.6, 0.2]])  # (regions, sectors)
    listed_rate = np.array([0.1, 0.4])
    region = np.array([0, 0, 1, 1, 1])
    sector = np.array([0, 1, 0, 1, 0])
    listed = np.array([False, True, True, True, False])
    p = approval_probability(by, listed_rate, region, sector, listed)
    np.testing.assert_allclose(p, [0.9, 0.1, 0.4, 0.2, 0.6])


def test_per_file_return_probabilities_are_applied_to_the_right_files():
    q = LicenceQueue()
    _submit(q, 10, week=0, review=1, material=0)
    _submit(q, 10, week=0, review=1, applicant0=10, material=1)
    ret = np.where(q.view("material") == 1, 1.0, 0.0)
    dec = q.review(1, 10**6, np.ones(len(q)), ret, np.random.default_rng(0))
    assert (dec.material == 0).all() and len(dec.material) == 10
    assert dec.returned == 10 and len(q) == 10 and (q.view("material") == 1).all()
