"""Licensing and shipments from China: files withdrawn when no longer needed, applications, the
authority's decisions, licences called off, direct orders under general licences, and customs holds
(phases 1, 3 and 4 of the week; docs/ODD.md 7.8, 7.11, 7.12)."""

from __future__ import annotations

import numpy as np

from reflow.domain import CN
from reflow.phases.common import NM, NR, RESALE_ABOVE, add_at
from reflow.policy import PolicyState


class ChinaExports:
    """Licensing and shipments from China: methods of `ReflowModel` (mixed in), working on its state."""

    def _withdraw_unneeded(self, pol: PolicyState, covered: np.ndarray, in_scope: np.ndarray) -> None:
        """Withdraw pending files for purchases that no longer need a licence: the item is no longer controlled,
        a general licence now covers the firm, or the control no longer reaches its purchases. The firm then
        buys that material without review (and counts nothing as pending, so it does not order twice)."""
        q = self.authority.queue
        if len(q) == 0:
            return
        m, f = q.view("material").astype(np.int64), q.view("applicant")
        still = pol.controlled[m, q.view("region").astype(np.int64)] & ~covered[f, m] & in_scope[f, m]
        q.withdraw(~still)

    def _general_licence_cover(self, pol: PolicyState) -> np.ndarray:
        pop = self.pop
        share = pol.general_licence[:, pop.region, pop.sector].T  # (F, M)
        return pop.large[:, None] & (pop.gl_draw[:, None] < share) & ~pop.listed[:, None]

    def _et_draw(self) -> np.ndarray:
        """(makers, regions) uniform draws: a maker holds the extraterritorial licence for a destination while
        the rule's approval rate is above its draw (drawn once, when the rule first binds, so scenarios without
        it keep their random stream and a higher approval rate licenses a superset)."""
        if self._et_u is None:
            self._et_u = self.rng.random((len(self._mk), NR))
        return self._et_u

    def _pipeline(self, need: np.ndarray) -> np.ndarray:
        """(F, M) tonnes awaiting a licence that a firm counts on (credit x the approval rate it has seen).

        Only files due for a decision before the firm's stock runs out count: a licence that can only come
        after the line has stopped does not keep it running, so the firm still bids at the spot market.
        """
        weeks_left = np.where(need > 0, self.pop.stock / np.maximum(need, 1e-12), 1e9)
        due_by = self.week + np.floor(np.minimum(weeks_left, 1e9))
        pend = self.authority.queue.pending_tonnes(self.pop.n, NM, due_by)
        pa = self.perceived_approval[:, self.pop.region].T
        pipe = pend * pa * self.config.manufacturers.pending_credit + self.licensed
        return pipe + self.in_customs if self._holds else pipe

    def _licensing(self, w: int, pol: PolicyState, need: np.ndarray, target: np.ndarray,
                   needs_licence: np.ndarray) -> None:
        pop, rec = self.pop, self.rec
        mc = self.config.manufacturers
        interval = mc.order_interval_weeks
        q = self.authority.queue
        if needs_licence.any():
            due = (self._firm_phase == w % interval)[:, None] & needs_licence
            pending = self.authority.queue.pending_tonnes(self.pop.n, NM)
            # Order-up-to on the inventory position: stock plus licences approved and not yet called off, plus
            # what is applied for, counted at the approval rate the firm has seen; the position should cover the
            # target plus need over the review period and the expected wait. Denials are expected, so a firm
            # applies for more than it hopes to get (what comes through beyond its need is not called off).
            pa = np.maximum(self.perceived_approval[:, pop.region].T, 0.25)
            lead = self.expected_wait[:, pop.region].T
            position = pop.stock + self.licensed + pending * pa + self.contract_rate * (interval + lead)
            if self._holds:
                position = position + self.in_customs
            want = target + need * (interval + lead) - position
            apply_t = np.where(due & (want > 0.05 * need), want / np.maximum(pa, 0.5), 0.0)
            f, m = np.nonzero(apply_t)
            if len(f):
                self.authority.receive(w, pol, m, pop.region[f], pop.sector[f], f, pop.listed[f], apply_t[f, m])
                add_at(rec["licence_applications"][w], (m, pop.region[f]), 1.0)
        if len(q):
            self._decide(w, pol)
        if self._has_licences:
            # A licence permits an export, it does not oblige the buyer to take it: a firm calls off approved
            # tonnes up to its order-up-to level once the wait is over (its target plus its need until its next
            # order), never to a stock it would itself resell; the rest stays open and lapses gradually.
            level = np.minimum(target + need * interval, RESALE_ABOVE * target)
            held = pop.stock + self.in_customs if self._holds else pop.stock
            call = np.minimum(self.licensed, np.maximum(0.0, level - held))
            self.licensed -= call
            self.licensed *= 1.0 - 1.0 / self.config.licensing.licence_validity_weeks
            f, m = np.nonzero(call > 0)
            self._ship_from_china(pol, m, f, call[f, m])
            self._has_licences = bool(self.licensed.max() > 1e-9)

    def _decide(self, w: int, pol: PolicyState) -> None:
        """The authority decides the due files; approved tonnes become open licences of their applicants."""
        rec = self.rec
        dec = self.authority.review(w, pol)
        if len(dec.tonnes) == 0:
            return
        ok = dec.approved
        add_at(rec["licence_approvals"][w], (dec.material[ok], dec.region[ok]), 1.0)
        add_at(rec["licence_denials"][w], (dec.material[~ok], dec.region[~ok]), 1.0)
        n_dec = np.zeros((NM, NR))
        wait = np.zeros((NM, NR))
        add_at(n_dec, (dec.material, dec.region), 1.0)
        add_at(wait, (dec.material, dec.region), dec.wait_weeks * 7.0)
        has = n_dec > 0
        rec["licence_mean_wait_days"][w][has] = wait[has] / n_dec[has]
        # Firms learn the approval rate they face from the decisions they see.
        n_ok = np.zeros((NM, NR))
        add_at(n_ok, (dec.material[ok], dec.region[ok]), 1.0)
        self.perceived_approval[has] += 0.3 * (n_ok[has] / n_dec[has] - self.perceived_approval[has])
        self.expected_wait[has] += 0.3 * (wait[has] / n_dec[has] / 7.0 - self.expected_wait[has])
        add_at(self._unmet_cn, (dec.applicant[~ok], dec.material[~ok]), dec.tonnes[~ok])
        add_at(self.licensed, (dec.applicant[ok], dec.material[ok]), dec.tonnes[ok])
        self._has_licences = self._has_licences or bool(ok.any())

    def _ship_from_china(self, pol: PolicyState, mat: np.ndarray, firms: np.ndarray, tonnes: np.ndarray) -> None:
        """Ship ordered tonnes (material `mat` to each firm) from Chinese producers' stock, within the export
        quota and any embargo. A material's orders share its producers' stock pro rata, in the order given."""
        if len(firms) == 0:
            return
        prod = self.prod
        reg = self.pop.region[firms]
        ordered = tonnes
        tonnes = np.where(pol.embargo[mat, reg], 0.0, tonnes)
        total = np.bincount(mat, weights=tonnes, minlength=NM)
        go = (np.bincount(mat, minlength=NM) > 0) & (total > 1e-12)  # materials that ship anything
        stock = prod.by_material(prod.stock).sum(axis=1)
        if self._cn_ship_room is None:
            # Licensed and direct shipments together take at most 90% of the stock producers hold at the week's
            # first shipment, not 90% at each of the week's calls.
            self._cn_ship_room = 0.9 * stock
        avail = np.minimum(self._cn_ship_room, self.quota_bank)
        ratio = np.minimum(1.0, avail / np.where(go, total, 1.0))
        ships = go[mat]
        sent = np.where(ships, tonnes * ratio[mat], 0.0)
        shipped = np.bincount(mat, weights=sent, minlength=NM)
        self._cn_ship_room = np.maximum(0.0, self._cn_ship_room - shipped)
        pm = prod.material
        prod.stock -= np.where(go[pm], prod.stock / np.maximum(stock, 1e-12)[pm] * shipped[pm], 0.0)
        self.quota_bank = np.where(go & np.isfinite(self.quota_bank), self.quota_bank - shipped, self.quota_bank)
        # A licence is scarce: the exporter sells at the destination's expected spot price when that is above
        # export parity (the licence rent: Japanese buyers paid ~15 USD/kg for quota licences in 2010 [V2]).
        f, m, r, t = firms[ships], mat[ships], reg[ships], sent[ships]
        price = np.maximum(self._export_parity(pol, m, r) * self._floor_lift(pol)[m], self.p_ex_exp[m, r])
        if self._holds:
            # Shipments of controlled items wait at customs; they are exported (and counted) when released.
            h = pol.customs_hold[m, r]
            held = h > 0
            if held.any():
                at = ((self.week + h[held]) % len(self._customs_t), f[held], m[held])
                add_at(self._customs_t, at, t[held])
                add_at(self._customs_v, at, t[held] * price[held])
                self.in_customs = self._customs_t.sum(axis=0)
                go = ~held
                f, m, r, t, price = f[go], m[go], r[go], t[go], price[go]
        self._deliver(f, m, t, price, CN)
        add_at(self.rec["exports_cn"][self.week], (m, r), t)
        add_at(self._unmet_cn, (firms, mat), ordered - sent)

    def _clear_customs(self) -> None:
        """Release the shipments whose customs hold ends this week: they leave China (counted as exports this
        week, the customs statistics' convention) and are delivered at the price agreed when they shipped."""
        slot = self.week % len(self._customs_t)
        t = self._customs_t[slot]
        f, m = np.nonzero(t > 0)
        if len(f) == 0:
            return
        tonnes = t[f, m]
        self._deliver(f, m, tonnes, self._customs_v[slot][f, m] / tonnes, CN)
        add_at(self.rec["exports_cn"][self.week], (m, self.pop.region[f]), tonnes)
        t[:] = 0.0
        self._customs_v[slot] = 0.0
        self.in_customs = self._customs_t.sum(axis=0)

    def _direct_orders(self, pol: PolicyState, target: np.ndarray, covered: np.ndarray,
                       pipeline: np.ndarray) -> None:
        """Firms under a general licence order their gap straight from China, without a per-shipment review."""
        if not covered.any():
            return
        gap = np.where(covered, np.maximum(0.0, target - self.pop.stock - pipeline), 0.0)
        f, m = np.nonzero(gap > 1e-9)
        self._ship_from_china(pol, m, f, gap[f, m])
