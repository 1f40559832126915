"""Policy milestones on time axes: a vertical line each, with a short label or a number and a key.

When milestones are few and far apart, each line carries its own rotated label. When they crowd (the 2025
licensing episode has eight milestones in nine months of an eight-year run) or a label would be cut short,
lines carry numbers instead and the figure gets a key ("[3] 1 Sep 2025 – returns for more information"), so no
label overlaps another or the data.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import matplotlib.dates as mdates
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["PolicyMark", "before_start_note", "in_force_at_start", "mark_policy", "number_marks", "policy_key",
           "policy_marks"]

STAGES = ("announce", "effective", "suspend", "resume", "lift")
_STAGE_LINE = {"effective": "-", "announce": ":", "suspend": "--", "resume": "-", "lift": "--"}
LABEL_FONTSIZE = 6.5
# Room a rotated label needs across the axis, and the longest label that fits down a typical panel.
_LABEL_WIDTH_IN = 1.6 * LABEL_FONTSIZE / 72.0
_MAX_LABEL_CHARS = 40
# A label that starts with its measure's month ("Sep 2025: returns for more information", as the bundled configs
# name their measures).
_MONTH_PREFIX = re.compile(r"^([A-Z][a-z]{2,8}\.? \d{4}):\s*(\S.*)$")


@dataclass(frozen=True)
class PolicyMark:
    """One dated policy milestone drawn on time axes (`number` set when the figure uses a key).

    In a comparison of scenarios, `owners` names the scenarios that have the milestone when not all of them do
    (the key lists it under their names, a label without a key carries them), and `color` is the colour of the
    one scenario that has it, for its line.
    """

    when: date
    label: str
    stage: str  # announce | effective | suspend | resume | lift
    kind: str
    number: int | None = None
    owners: tuple[str, ...] = ()
    color: str | None = None

    @property
    def text(self) -> str:
        """The label as drawn beside its line: with its owners' names, if any."""
        return f"{self.label} [{', '.join(self.owners)}]" if self.owners else self.label


def _parse_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        return None


def _suffix(label: str, stage: str, announced_apart: bool) -> str:
    if stage == "announce":
        return "" if "announc" in label.lower() else ", announced"
    if stage == "effective":
        return ", in force" if announced_apart else ""
    return {"suspend": ", suspended", "resume": ", resumed", "lift": ", lifted"}[stage]


def _milestones(event: dict[str, Any]) -> dict[str, date | None]:
    """An event's dates by stage (None where it has none or an unreadable one)."""
    return {stage: _parse_date(event.get(stage)) for stage in STAGES}


def _event_label(event: dict[str, Any]) -> str:
    return str(event.get("label") or event.get("id") or event.get("kind") or "policy")


def _suspended_on(when: dict[str, date | None], day: date) -> bool:
    """Whether a measure with these milestone dates is suspended (and not yet resumed) on `day`."""
    suspend, resume = when["suspend"], when["resume"]
    return suspend is not None and suspend <= day and (resume is None or resume > day)


def policy_marks(config: dict[str, Any]) -> list[PolicyMark]:
    """The dated milestones of a resolved config's policy timeline, in date order.

    An announcement on the day the measure takes effect is drawn once; a measure suspended before its
    effective date (and not resumed by then) never takes effect, so its effective date is not drawn.
    """
    marks: list[PolicyMark] = []
    for event in config.get("policy") or []:
        if not isinstance(event, dict):
            continue
        label = _event_label(event)
        kind = str(event.get("kind") or "")
        when = _milestones(event)
        effective = when["effective"]
        announced_apart = when["announce"] is not None and when["announce"] != effective
        for stage in STAGES:
            d = when[stage]
            if d is None or (stage == "announce" and not announced_apart):
                continue
            if stage == "effective" and _suspended_on(when, d):
                continue
            marks.append(PolicyMark(d, label + _suffix(label, stage, announced_apart), stage, kind))
    marks.sort(key=lambda m: m.when)
    return marks


def in_force_at_start(config: dict[str, Any], start: Any) -> list[str]:
    """Labels of the measures already in force on the first day a figure shows (`start`): in force from before
    it, they have no milestone on the axis, so the figure would show their effect with no mark of its cause."""
    day = _parse_date(start)
    if day is None:
        return []
    out = []
    for event in config.get("policy") or []:
        if not isinstance(event, dict):
            continue
        when = _milestones(event)
        effective, lift = when["effective"], when["lift"]
        if effective is None or effective >= day or (lift is not None and lift <= day) or _suspended_on(when, day):
            continue
        out.append(_event_label(event))
    return out


def before_start_note(labels: Sequence[str]) -> str:
    """The caption's note on measures in force from before the start ('' for none)."""
    if not labels:
        return ""
    if len(labels) > 3:
        return f"; {len(labels)} measures in force from before the start (the report's policy timeline lists them)"
    return "; in force from before the start: " + ", ".join(labels)


def number_marks(marks: Sequence[PolicyMark], dates: pd.DatetimeIndex, panel_width_in: float = 4.2,
                 ) -> list[PolicyMark]:
    """Number the milestones when their labels would crowd a panel `panel_width_in` wide, else return them.

    Args:
        marks: milestones in date order.
        dates: the weeks the time axes show (milestones outside are dropped).
        panel_width_in: width of the narrowest time axis of the figure.
    """
    if len(dates):
        lo, hi = dates.min().date(), (dates.max() + pd.Timedelta(days=6)).date()
        marks = [m for m in marks if lo <= m.when <= hi]
    if not marks:
        return []
    span_days = max((dates.max() - dates.min()).days, 1) if len(dates) else 365
    min_gap_days = span_days * _LABEL_WIDTH_IN / panel_width_in
    whens = [m.when for m in marks]
    crowded = any((b - a).days < min_gap_days for a, b in pairwise(whens))
    too_long = any(len(m.text) > _MAX_LABEL_CHARS for m in marks)
    if not (crowded or too_long):
        return list(marks)
    return [replace(m, number=i) for i, m in enumerate(marks, start=1)]


def _key_item(m: PolicyMark) -> str:
    """"[6] 10 Nov 2025 – Sep 2025: returns for more information, lifted": the milestone's own date first, as the
    numbers run in date order. It came last, after the label, so a label naming its measure's month read as a
    second, different date ("[6] Sep 2025: returns ..., lifted, 10 Nov 2025"); a month prefix that only repeats
    the milestone's month is left out ("[1] 4 Apr 2025 – Dy/Tb/magnet licensing")."""
    label = m.label
    found = _MONTH_PREFIX.match(label)
    if found:
        try:
            month = pd.Timestamp(found.group(1).rstrip("."))
        except (ValueError, TypeError):
            month = None
        if month is not None and (month.year, month.month) == (m.when.year, m.when.month):
            label = found.group(2)
    return f"[{m.number}] {m.when.day} {m.when:%b %Y} – {label}"


def policy_key(marks: Sequence[PolicyMark], width: int = 170) -> str | None:
    """The key of numbered milestones, wrapped to lines of `width` characters (None if none is numbered).

    In a comparison where some milestones are only some scenarios', one paragraph per set of owners, the
    milestones of every scenario first: the names once per paragraph, not after every milestone.
    """
    by_owners: dict[tuple[str, ...], list[str]] = {}
    for m in sorted((m for m in marks if m.number is not None), key=lambda m: bool(m.owners)):  # (stable)
        by_owners.setdefault(m.owners, []).append(_key_item(m))
    if not by_owners:
        return None
    lines = []
    for owners, items in by_owners.items():
        if not owners:
            head = "Policy events:  " if len(by_owners) == 1 else "Policy events of every scenario:  "
        else:
            names = ", ".join(owners[:-1]) + " and " + owners[-1] if len(owners) > 1 else owners[0]
            head = f"{'Policy events of' if len(lines) == 0 else 'Of'} {names} only:  "
        lines += textwrap.wrap(head + ";  ".join(items), width=width, break_long_words=False,
                               break_on_hyphens=False)
    return "\n".join(lines)


def mark_policy(ax: Axes, marks: Sequence[PolicyMark], *, labels: bool = True,
                fontsize: float = LABEL_FONTSIZE) -> None:
    """Draw policy milestones on a time axis: a vertical line each and a short label or number.

    Labels of milestones too close to share the axis are merged ("A / B", or "3,4" for numbers);
    announcements get a dotted line.
    """
    if not marks:
        return
    lo, hi = ax.get_xlim()
    span = max(hi - lo, 1.0)
    visible = [m for m in marks if lo <= mdates.date2num(m.when) <= hi]
    for m in visible:  # a milestone of one compared scenario in that scenario's colour, a little bolder
        ax.axvline(mdates.date2num(m.when), color=m.color or "#444444", linewidth=0.8 if m.color is None else 1.1,
                   linestyle=_STAGE_LINE.get(m.stage, "-"), zorder=1.5, alpha=0.85)
    if not labels or not visible:
        return
    fig = ax.get_figure()
    pos = ax.get_position()
    width_in = max(pos.width * fig.get_figwidth(), 0.5)
    numbered = visible[0].number is not None
    # a number label is horizontal and about 1.2 digits per character wide; a rotated label one line high
    need_in = (0.6 * fontsize / 72.0) * 3 if numbered else 1.6 * fontsize / 72.0
    min_gap = span * need_in / width_in
    clusters: list[list[PolicyMark]] = []
    for m in visible:
        x = mdates.date2num(m.when)
        if clusters and x - mdates.date2num(clusters[-1][0].when) < min_gap:
            clusters[-1].append(m)
        else:
            clusters.append([m])
    box = {"boxstyle": "square,pad=0.1", "facecolor": "white", "alpha": 0.75, "edgecolor": "none"}
    for cluster in clusters:
        x = mdates.date2num(cluster[0].when)
        if numbered:
            nums = [m.number for m in cluster]
            text = f"{nums[0]}-{nums[-1]}" if len(nums) > 2 else ",".join(map(str, nums))
            ax.text(x, 0.995, text, transform=ax.get_xaxis_transform(), va="top", ha="left",
                    fontsize=fontsize, fontweight="bold", color="#222222", zorder=5, clip_on=False, bbox=box)
            continue
        named = [m for m in cluster if m.stage != "announce"] or cluster
        text = " / ".join(dict.fromkeys(m.text for m in named))
        height_in = max(pos.height * fig.get_figheight(), 0.5)
        max_chars = max(int(0.85 * height_in * 72.0 / (0.55 * fontsize)), 8)
        if len(text) > max_chars:
            text = text[: max_chars - 1].rstrip(" /") + "…"
        ax.text(x, 0.985, text + " ", transform=ax.get_xaxis_transform(), rotation=90, va="top", ha="right",
                fontsize=fontsize, color="#222222", zorder=5, clip_on=True, bbox=box)
