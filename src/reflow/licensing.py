"""Export licensing as a queue server (pure: numpy arrays and a passed-in Generator, no Mesa).

An application (one firm, one material, one order) waits for review; review times are drawn from a lognormal in
working days, capped at the statutory limit (or at the median, if that is longer) except for a share of overruns;
the authority decides at most `capacity` files a week, oldest first; a decision approves with the probability
policy sets for the destination, end use, listed status and material, returns the file for more information (it
re-enters review), or denies it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Decisions", "LicenceQueue", "approval_probability", "draw_review_weeks", "quota_licence_ask"]

WORKING_DAYS_PER_WEEK = 5.0

PENDING, APPROVED, DENIED = 0, 1, 2


def draw_review_weeks(
    rng: np.random.Generator,
    n: int,
    median_working_days: float | np.ndarray,
    sigma: float,
    limit_working_days: float,
    overrun_probability: float,
) -> np.ndarray:
    """Review times in whole weeks (>= 1).

    A lognormal draw is capped at the deadline the authority works to unless the file is one of the overruns,
    whose time is the deadline plus the same draw's distance from the median (reviews that overrun do so by a
    similar spread; ODD 7.8). The deadline is the legal limit, or the median where that is longer: an authority
    whose typical review already exceeds the limit is not working to it, and capping its reviews at the limit
    would make every median above the limit give the same waits.
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    wd = median_working_days * np.exp(sigma * rng.standard_normal(n))
    over = rng.random(n) < overrun_probability
    deadline = np.maximum(limit_working_days, median_working_days)
    wd = np.where(over, deadline + np.abs(wd - median_working_days), np.minimum(wd, deadline))
    return np.maximum(1, np.ceil(wd / WORKING_DAYS_PER_WEEK)).astype(np.int64)


def approval_probability(
    by_region_sector: np.ndarray, listed_rate: np.ndarray, region: np.ndarray, sector: np.ndarray,
    listed: np.ndarray,
) -> np.ndarray:
    """Approval probability of each application.

    Args:
        by_region_sector: (n_regions, n_sectors) probability for this material's control.
        listed_rate: (n_regions,) probability for listed entities and their >=50% affiliates.
        region, sector: (n,) destination and end-use indices.
        listed: (n,) bool.

    Returns:
        (n,) probabilities; a listed applicant gets the lower of its end-use rate and the listed rate.
    """
    p = by_region_sector[region, sector]
    return np.where(listed, np.minimum(p, listed_rate[region]), p)


@dataclass
class Decisions:
    """What the authority decided in one week (arrays aligned, one entry per decided application)."""

    material: np.ndarray
    region: np.ndarray
    applicant: np.ndarray
    tonnes: np.ndarray
    approved: np.ndarray  # bool
    wait_weeks: np.ndarray  # from first submission to decision
    returned: int  # files sent back for more information this week (not decisions)


class LicenceQueue:
    """Pending applications, held as a struct of arrays that grows geometrically."""

    _FIELDS = ("material", "region", "sector", "applicant", "listed", "tonnes", "submitted", "ready")

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.material = np.zeros(capacity, np.int16)
        self.region = np.zeros(capacity, np.int16)
        self.sector = np.zeros(capacity, np.int16)
        self.applicant = np.zeros(capacity, np.int64)
        self.listed = np.zeros(capacity, bool)
        self.tonnes = np.zeros(capacity, float)
        self.submitted = np.zeros(capacity, np.int64)
        self.ready = np.zeros(capacity, np.int64)

    def __len__(self) -> int:
        return self.n

    def _grow(self, need: int) -> None:
        cap = len(self.tonnes)
        if self.n + need <= cap:
            return
        new = max(2 * cap, self.n + need)
        for f in self._FIELDS:
            arr = getattr(self, f)
            grown = np.zeros(new, arr.dtype)
            grown[: self.n] = arr[: self.n]
            setattr(self, f, grown)

    def submit(self, material: np.ndarray, region: np.ndarray, sector: np.ndarray, applicant: np.ndarray,
               listed: np.ndarray, tonnes: np.ndarray, week: int, review_weeks: np.ndarray) -> None:
        """Add applications submitted in `week` whose reviews take `review_weeks`."""
        k = len(tonnes)
        if k == 0:
            return
        self._grow(k)
        s = slice(self.n, self.n + k)
        self.material[s], self.region[s], self.sector[s] = material, region, sector
        self.applicant[s], self.listed[s], self.tonnes[s] = applicant, listed, tonnes
        self.submitted[s] = week
        self.ready[s] = week + review_weeks
        self.n += k

    def pending_tonnes(self, n_applicants: int, n_materials: int,
                       due_by: np.ndarray | None = None) -> np.ndarray:
        """(n_applicants, n_materials) tonnes awaiting a decision (summed in queue order).

        With `due_by` ((n_applicants, n_materials) weeks), only files whose review is due by then count.
        """
        app, mat, tonnes = self.view("applicant"), self.view("material"), self.view("tonnes")
        if due_by is not None:
            keep = self.view("ready") <= due_by[app, mat]
            app, mat, tonnes = app[keep], mat[keep], tonnes[keep]
        cell = app * n_materials + mat
        return np.bincount(cell, weights=tonnes,
                           minlength=n_applicants * n_materials).reshape(n_applicants, n_materials)

    def backlog(self, n_materials: int, n_regions: int) -> np.ndarray:
        """(n_materials, n_regions) count of pending applications."""
        cell = self.view("material").astype(np.int64) * n_regions + self.view("region")
        return np.bincount(cell, minlength=n_materials * n_regions).reshape(n_materials, n_regions).astype(float)

    def review(
        self,
        week: int,
        capacity: int,
        prob: np.ndarray,
        return_probability: float | np.ndarray,
        rng: np.random.Generator,
        redo_weeks: np.ndarray | None = None,
    ) -> Decisions:
        """Decide the files whose review is complete, oldest first, up to `capacity`.

        Args:
            week: current week.
            capacity: most decisions this week (returns count against it: the reviewer read the file).
            prob: (len(self),) approval probability of each pending file.
            return_probability: chance a reviewed file is sent back for more information: one for every file,
                or (len(self),) one per pending file (it depends on the file's material and destination).
            rng: the model's generator.
            redo_weeks: (len(self),) extra review weeks for a returned file (default 2).

        Returns:
            The decisions; decided files leave the queue, returned files get a new ready week.
        """
        n = self.n
        due = np.flatnonzero(self.ready[:n] <= week)
        if len(due) > capacity:
            # Oldest submissions first; ties by position keep it deterministic.
            order = np.lexsort((due, self.submitted[due]))
            due = due[order[:capacity]]
        u_return = rng.random(len(due))
        u_approve = rng.random(len(due))
        ret_p = np.asarray(return_probability, float)
        back = u_return < (ret_p[due] if ret_p.ndim else ret_p)
        ret_idx = due[back]
        if len(ret_idx):
            extra = 2 if redo_weeks is None else redo_weeks[ret_idx]
            self.ready[ret_idx] = week + extra
        dec = due[~back]
        approved = u_approve[~back] < prob[dec]
        out = Decisions(
            material=self.material[dec].astype(np.int64),
            region=self.region[dec].astype(np.int64),
            applicant=self.applicant[dec].copy(),
            tonnes=self.tonnes[dec].copy(),
            approved=approved,
            wait_weeks=(week - self.submitted[dec]).astype(float),
            returned=int(back.sum()),
        )
        keep = np.ones(n, bool)
        keep[dec] = False
        self._compact(keep)
        return out

    def withdraw(self, mask: np.ndarray) -> int:
        """Drop pending files (e.g. when a control is lifted and the order ships freely). Returns how many."""
        k = int(mask[: self.n].sum())
        if k:
            self._compact(~mask[: self.n])
        return k

    def _compact(self, keep: np.ndarray) -> None:
        m = int(keep.sum())
        if m == self.n:
            return
        for f in self._FIELDS:
            arr = getattr(self, f)
            arr[:m] = arr[: self.n][keep]
        self.n = m

    def view(self, field: str) -> np.ndarray:
        """The live part of one field."""
        return getattr(self, field)[: self.n]


def quota_licence_ask(cost: np.ndarray, expected_price: np.ndarray, rent_share: float,
                      scarcity: np.ndarray) -> np.ndarray:
    """An official exporter's ask under an export quota: its delivered cost plus the price of the quota licence.

    A licence is worth the rent it earns, the gap between the price buyers abroad are expected to pay and the
    exporter's delivered cost; the ask carries the share ``rent_share * scarcity`` of it (scarcity: the share of
    the week's open demand the banked quota cannot serve, 0 without a quota). So the ask lies between the cost
    and the expected price, and a licence is worth nothing when the cost is already at or above that price.

    Args:
        cost: delivered cost of each offer (USD/kg): the exporter's ask with freight, duty and tariff.
        expected_price: expected ex-China price in the destination (USD/kg), same shape.
        rent_share: share of the rent licence holders capture, 0-1.
        scarcity: quota scarcity of each offer's material, 0-1, same shape.
    """
    return cost + rent_share * scarcity * np.maximum(0.0, expected_price - cost)

