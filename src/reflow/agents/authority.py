"""The licensing authority (MOFCOM): receives applications, reviews them as a queue server, decides."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from reflow.licensing import Decisions, LicenceQueue, approval_probability, draw_review_weeks

if TYPE_CHECKING:
    from reflow.model import ReflowModel
    from reflow.policy import PolicyState

__all__ = ["LicensingAuthority"]


class LicensingAuthority(Agent):
    """Reviews export-licence applications under the policy in force.

    Attributes:
        queue: the pending applications.
    """

    def __init__(self, model: ReflowModel) -> None:
        super().__init__(model)
        self.queue = LicenceQueue()

    def _review_params(self, policy: PolicyState, material: np.ndarray,
                       region: np.ndarray) -> tuple[np.ndarray, float]:
        cfg = self.model.config.licensing
        med = policy.review_median[material, region]
        return np.where(np.isnan(med), cfg.review_working_days_median, med), cfg.review_sigma

    def receive(self, week: int, policy: PolicyState, material: np.ndarray, region: np.ndarray,
                sector: np.ndarray, applicant: np.ndarray, listed: np.ndarray, tonnes: np.ndarray) -> None:
        """Log new applications and draw how long each review will take."""
        n = len(tonnes)
        if n == 0:
            return
        cfg = self.model.config.licensing
        med, sigma = self._review_params(policy, material, region)
        weeks = draw_review_weeks(self.model.rng, n, med, sigma, cfg.legal_limit_working_days,
                                  cfg.overrun_probability)
        self.queue.submit(material, region, sector, applicant, listed, tonnes, week, weeks)

    def review(self, week: int, policy: PolicyState) -> Decisions:
        """Decide the files whose review is complete this week."""
        q = self.queue
        cfg = self.model.config.licensing
        # One lookup for every file: the (material, region) pair indexes the rows of the flattened tables.
        nm, nr, ns = policy.approval.shape
        cell = q.view("material").astype(np.int64) * nr + q.view("region")
        prob = approval_probability(policy.approval.reshape(nm * nr, ns), policy.listed_approval.reshape(-1), cell,
                                    q.view("sector").astype(np.int64), q.view("listed"))
        # No licence is granted for a destination under embargo: such files are denied (nothing could ship).
        prob = np.where(policy.embargo.reshape(-1)[cell], 0.0, prob)
        # Each file is returned with the probability the control on its material and destination sets, else the
        # general one.
        ret = policy.return_probability.reshape(-1)[cell]
        ret_p = np.where(np.isnan(ret), cfg.return_probability, ret)
        capacity = policy.reviewer_capacity or cfg.reviewer_capacity_per_week
        redo = np.full(len(q), 2, dtype=np.int64)
        return q.review(week, capacity, prob, ret_p, self.model.rng, redo)
