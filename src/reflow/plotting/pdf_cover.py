"""The text pages that open a report's PDF: title, subtitle, and the report's scenario and headline sections.

The sections are the report's own HTML (paragraphs, headings, tables), laid out as monospaced text: tables with
aligned columns whose headers wrap, in a type size that fits the page's width, over as many pages as they take.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any

from matplotlib.figure import Figure

__all__ = ["cover_pages"]

PAGE = (11.69, 8.27)  # A4 landscape, inches
_LEFT, _TOP, _BOTTOM = 0.05, 0.84, 0.05  # figure fractions
_FONT, _MIN_FONT = 7.0, 4.0  # points
_CHAR_W = 0.65  # width of a monospaced character, in ems (0.6, and a margin for hinting)
_LINE_H = 1.45  # line height, in ems
_COVER_SECTIONS = ("scenario", "headline")
_CELL = 30  # characters of a table cell per line


class _Blocks(HTMLParser):
    """HTML as a list of blocks: ("h", heading), ("p", text) and ("table", rows of cell texts)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[str, Any]] = []
        self._text: list[str] = []
        self._rows: list[list[str]] | None = None
        self._header = False  # whether the table being read has a <thead>
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "table":
            self._flush()
            self._rows = []
            self._header = False
        elif tag == "thead":
            self._header = True
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th"):
            self._text = []
        elif tag in ("p", "h3", "li"):
            self._flush()
            self._in = "h" if tag == "h3" else "p"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._rows:
            self._rows[-1].append(" ".join("".join(self._text).split()))
            self._text = []
        elif tag == "table" and self._rows is not None:
            self.blocks.append(("table", ([r for r in self._rows if r], self._header)))
            self._rows = None
        elif tag in ("p", "h3", "li"):
            self._flush()

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._text).split())
        if text and self._rows is None:
            self.blocks.append((self._in or "p", text))
        self._text = []
        self._in = None


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, max(width, 1), break_long_words=True, break_on_hyphens=False) or [""]


def _table_lines(rows: Sequence[Sequence[str]], header: bool) -> list[str]:
    """Rows as aligned text: each column as wide as its widest value up to `_CELL` characters (longer values,
    such as the labels of configs told apart, wrap onto more lines, as headers do); a rule under the header."""
    ncol = max(len(r) for r in rows)
    rows = [list(r) + [""] * (ncol - len(r)) for r in rows]
    body = rows[1:] if header else rows
    widths = [min(max([len(r[i]) for r in body] + [1]), _CELL) for i in range(ncol)]
    if header:
        widths = [max(w, min(len(h), 12)) for w, h in zip(widths, rows[0], strict=True)]
    out: list[str] = []
    for k, row in enumerate(rows):
        cells = [_wrap(c, w) for c, w in zip(row, widths, strict=True)]
        for j in range(max(len(c) for c in cells)):
            out.append("  ".join((c[j] if j < len(c) else "").ljust(w)
                                 for c, w in zip(cells, widths, strict=True)).rstrip())
        if header and k == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def cover_pages(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> list[Figure]:
    """The cover of a report's PDF: its scenario and headline sections in full, over as many pages as needed.

    Args:
        title: the report's title.
        subtitle: the line under it.
        sections: the report's (anchor, heading, inner HTML) sections; those anchored "scenario" and "headline"
            are laid out.
    """
    width_pt = (1 - 2 * _LEFT) * PAGE[0] * 72
    pages: list[Figure] = []
    y = 0.0

    def new_page() -> Figure:
        nonlocal y
        fig = Figure(figsize=PAGE)
        if not pages:  # a comparison's title names every scenario: wrapped, not run off the page
            lines = _wrap(title, int(width_pt / (18 * _CHAR_W)))
            lines = lines[:3] + ([lines[3] + (" ..." if len(lines) > 4 else "")] if len(lines) > 3 else [])
            fig.text(_LEFT, 0.94, "\n".join(lines), fontsize=18, fontweight="bold", va="top", linespacing=1.15)
            drop = (len(lines) - 1) * 18 * 1.15 / 72 / PAGE[1]
            fig.text(_LEFT, 0.895 - drop, subtitle, fontsize=10, color="#444444", va="top")
            y = _TOP - drop
        else:
            head = _wrap(title, int(width_pt / (10 * _CHAR_W)) - 16)[0]
            fig.text(_LEFT, 0.95, f"{head}{' ...' if head != title else ''} (continued)", fontsize=10,
                     color="#444444", va="top")
            y = 0.91
        pages.append(fig)
        return fig

    fig = new_page()

    def put(lines: Sequence[str], size: float, **kw: Any) -> None:
        nonlocal y, fig
        step = size * _LINE_H / 72 / PAGE[1]
        for line in lines:
            if y - step < _BOTTOM:
                fig = new_page()
            fig.text(_LEFT, y, line, fontsize=size, va="top", **kw)
            y -= step

    for anchor, heading, inner in sections:
        if anchor not in _COVER_SECTIONS:
            continue
        put([heading], 12, fontweight="bold")
        y -= 0.01
        parser = _Blocks()
        parser.feed(inner)
        parser.close()
        for kind, content in parser.blocks:
            if kind == "table":
                if not content[0]:
                    continue
                lines = _table_lines(*content)
                widest = max((len(x) for x in lines), default=1)
                size = max(_MIN_FONT, min(_FONT, width_pt / (widest * _CHAR_W)))
                put(lines, size, family="monospace")
                y -= 0.012
            else:
                chars = int(width_pt / ((8 if kind == "h" else _FONT) * _CHAR_W))
                put(textwrap.wrap(content, chars) or [""], 8 if kind == "h" else _FONT,
                    fontweight="bold" if kind == "h" else "normal")
        y -= 0.02
    return pages
