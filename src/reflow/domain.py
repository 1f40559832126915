"""Fixed vocabularies of the model: materials, regions, sectors, and their array indices; its weeks' calendar."""

from __future__ import annotations

import datetime as dt
from typing import Literal

__all__ = [
    "IMPORT_REGIONS",
    "MATERIALS",
    "OXIDES",
    "REGIONS",
    "SECTORS",
    "Material",
    "Region",
    "Sector",
    "week_monday",
]

Material = Literal["ndpr_oxide", "dy_oxide", "tb_oxide", "ndfeb_magnet"]
Region = Literal["CN", "US", "EU", "JPKR", "AU", "CA", "HUB", "ROW"]
Sector = Literal["automotive", "wind", "electronics", "defence", "magnet"]

MATERIALS: tuple[str, ...] = ("ndpr_oxide", "dy_oxide", "tb_oxide", "ndfeb_magnet")
OXIDES: tuple[str, ...] = ("ndpr_oxide", "dy_oxide", "tb_oxide")
REGIONS: tuple[str, ...] = ("CN", "US", "EU", "JPKR", "AU", "CA", "HUB", "ROW")
# Every region but China imports through a licensed channel; their markets are the "ex-China" markets.
IMPORT_REGIONS: tuple[str, ...] = REGIONS[1:]
# "magnet" is the non-Chinese magnet makers: they buy oxides and sell magnets.
SECTORS: tuple[str, ...] = ("automotive", "wind", "electronics", "defence", "magnet")

MAT = {m: i for i, m in enumerate(MATERIALS)}
REG = {r: i for i, r in enumerate(REGIONS)}
SEC = {s: i for i, s in enumerate(SECTORS)}
MAGNET = MAT["ndfeb_magnet"]
CN = REG["CN"]


def week_monday(day: dt.date) -> dt.date:
    """The Monday of `day`'s week: a run's weeks start on Mondays, so the schema snaps `scenario.start` to it.

    Here, with no import beyond the standard library, so that reports and plots reading a run's config use the
    schema's rule without loading pydantic.
    """
    return day - dt.timedelta(days=day.weekday())
