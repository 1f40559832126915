"""Long-term offtake contracts between alternative suppliers and manufacturers (a pure struct of arrays)."""

from __future__ import annotations

import numpy as np

__all__ = ["OfftakeBook", "staggered_ends"]

_GOLDEN = (5**0.5 - 1) / 2  # the most evenly spread fractional sequence i * g mod 1 (a Weyl sequence)


class OfftakeBook:
    """Live contracts: supplier, buyer, material, t/week, USD/kg, last week."""

    def __init__(self) -> None:
        self.supplier = np.zeros(0, np.int64)
        self.buyer = np.zeros(0, np.int64)
        self.material = np.zeros(0, np.int64)
        self.volume = np.zeros(0)
        self.price = np.zeros(0)
        self.end = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.volume)

    def add(self, supplier: np.ndarray, buyer: np.ndarray, material: np.ndarray, volume: np.ndarray,
            price: np.ndarray, end: np.ndarray) -> None:
        """Sign new contracts."""
        keep = volume > 1e-9
        self.supplier = np.concatenate([self.supplier, supplier[keep]])
        self.buyer = np.concatenate([self.buyer, buyer[keep]])
        self.material = np.concatenate([self.material, material[keep]])
        self.volume = np.concatenate([self.volume, volume[keep]])
        self.price = np.concatenate([self.price, price[keep]])
        self.end = np.concatenate([self.end, end[keep]])

    def expire(self, week: int) -> None:
        """Drop contracts whose term has ended before `week` (`end` is a contract's last week of delivery)."""
        keep = self.end >= week
        if not keep.all():
            for f in ("supplier", "buyer", "material", "volume", "price", "end"):
                setattr(self, f, getattr(self, f)[keep])

    def cancel(self, suppliers: np.ndarray) -> int:
        """Drop every contract with these suppliers (their project failed); returns how many were dropped."""
        drop = np.isin(self.supplier, suppliers)
        if drop.any():
            for f in ("supplier", "buyer", "material", "volume", "price", "end"):
                setattr(self, f, getattr(self, f)[~drop])
        return int(drop.sum())

    def committed(self, n_suppliers: int) -> np.ndarray:
        """(n_suppliers,) t/week each supplier owes."""
        return np.bincount(self.supplier, weights=self.volume, minlength=n_suppliers)

    def held(self, n_buyers: int, n_materials: int) -> np.ndarray:
        """(n_buyers, n_materials) t/week each buyer is due."""
        out = np.zeros((n_buyers, n_materials))
        np.add.at(out, (self.buyer, self.material), self.volume)
        return out

    def deliveries(self, available: np.ndarray) -> np.ndarray:
        """t delivered on each contract this week, pro rata when a supplier has less than it owes.

        Args:
            available: (n_suppliers,) t each supplier can deliver.
        """
        owed = self.committed(len(available))
        ratio = np.where(owed > 0, np.minimum(1.0, available / np.where(owed > 0, owed, 1.0)), 0.0)
        return self.volume * ratio[self.supplier]


def staggered_ends(n: int, term: int, step: int = 1) -> np.ndarray:
    """(n,) weeks from now at which n buyers' running contracts end: spread evenly over the next `term` weeks,
    on multiples of `step` (the contracting rounds' interval, so that a contract ends in a round that renews it).

    A book signed over the `term` weeks before the start, at a steady rate, has remaining terms spread evenly
    over the term. Buyer i's share is ``i * g mod 1`` with g the golden ratio's fraction: evenly spread for any n
    and for any run of consecutive buyers (a region's or a sector's firms are consecutive), and drawn from no
    random stream.
    """
    if n < 0 or term < 1 or step < 1:
        raise ValueError(f"staggered_ends: need n >= 0, term >= 1, step >= 1 (got n={n}, term={term}, step={step})")
    slots = max(1, round(term / step))
    frac = (np.arange(n) * _GOLDEN) % 1.0
    return step * (1 + np.floor(frac * slots).astype(np.int64))
