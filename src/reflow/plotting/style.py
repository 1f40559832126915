"""House style: palettes per region, origin, material and scenario; axis helpers; policy markers; saving.

Colours are the Okabe-Ito set (safe for the common colour-vision deficiencies). Because a minister's copy is
often a grayscale print, every series also differs by line style (and by hatch for areas), so no figure relies
on colour alone.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd

# No matplotlib.use("Agg"): reflow draws on the canvases of `render_figure`, never through pyplot, so it needs no
# display and no backend, and setting one would switch the caller's (a notebook's inline backend) too.

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "MATERIALS",
    "MATERIAL_LABELS",
    "REGIONS",
    "REGION_LABELS",
    "UNITS",
    "format_date_axis",
    "freeze_layout",
    "material_label",
    "material_style",
    "rc_params",
    "region_label",
    "region_style",
    "render_figure",
    "save_figure",
    "scenario_style",
    "set_log_price_axis",
    "shared_file_mode",
    "thousands",
]

# Okabe & Ito (2008), "Color Universal Design".
_OI = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#7F7F7F",
}

REGIONS: tuple[str, ...] = ("CN", "US", "EU", "JPKR", "AU", "CA", "HUB", "ROW")
REGION_LABELS: dict[str, str] = {
    "CN": "China",
    "US": "United States",
    "EU": "EU",
    "JPKR": "Japan/Korea",
    "AU": "Australia",
    "CA": "Canada",
    "HUB": "Third-country hub",
    "ROW": "Rest of world",
}
# The same mapping serves importing regions and producing origins, so "Australia" is one colour everywhere.
_REGION_STYLE: dict[str, dict[str, Any]] = {
    "CN": {"color": _OI["vermillion"], "linestyle": "-", "hatch": "", "marker": "o"},
    "US": {"color": _OI["blue"], "linestyle": "-", "hatch": "//", "marker": "s"},
    "EU": {"color": _OI["sky"], "linestyle": "--", "hatch": "\\\\", "marker": "^"},
    "JPKR": {"color": _OI["purple"], "linestyle": "-.", "hatch": "xx", "marker": "D"},
    "AU": {"color": _OI["orange"], "linestyle": ":", "hatch": "..", "marker": "v"},
    "CA": {"color": _OI["green"], "linestyle": (0, (5, 1, 1, 1, 1, 1)), "hatch": "--", "marker": "P"},
    # Okabe-Ito yellow is too faint for lines on white: the hub takes Paul Tol's olive instead.
    "HUB": {"color": "#999933", "linestyle": (0, (3, 1, 1, 1)), "hatch": "oo", "marker": "X"},
    "ROW": {"color": _OI["grey"], "linestyle": (0, (1, 1)), "hatch": "++", "marker": "*"},
}
_FALLBACK = [_OI["black"], _OI["blue"], _OI["orange"], _OI["green"], _OI["purple"], _OI["sky"]]
_FALLBACK_LS: list[Any] = ["-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1))]

MATERIALS: tuple[str, ...] = ("ndpr_oxide", "dy_oxide", "tb_oxide", "ndfeb_magnet")
MATERIAL_LABELS: dict[str, str] = {
    "ndpr_oxide": "NdPr oxide",
    "dy_oxide": "Dy oxide",
    "tb_oxide": "Tb oxide",
    "ndfeb_magnet": "NdFeB magnets",
    "light_ree": "La/Ce oxide (one market)",  # the aggregate La/Ce market of a [light_ree] scenario (price panels)
}
_MATERIAL_STYLE: dict[str, dict[str, Any]] = {
    "ndpr_oxide": {"color": _OI["blue"], "linestyle": "-", "hatch": ""},
    "dy_oxide": {"color": _OI["orange"], "linestyle": "--", "hatch": "//"},
    "tb_oxide": {"color": _OI["green"], "linestyle": "-.", "hatch": "xx"},
    "ndfeb_magnet": {"color": _OI["purple"], "linestyle": ":", "hatch": ".."},
}

# Market series on price charts: China's domestic price in China's colour, ex-China in neutral tones.
MARKET_STYLE: dict[str, dict[str, Any]] = {
    "price_cn": {"color": _OI["vermillion"], "linestyle": "-", "label": "China domestic"},
    "price_ex_vwap": {"color": _OI["black"], "linestyle": "-", "label": "Ex-China VWAP"},
    "price_ex_ask": {"color": _OI["blue"], "linestyle": "--", "label": "Ex-China marginal ask"},
}

UNITS: dict[str, str] = {
    "price_cn": "USD/kg",
    "price_ex_vwap": "USD/kg",
    "price_ex_ask": "USD/kg",
    "demand": "t/week",
    "delivered": "t/week",
    "shortage": "t/week",
    "inventory_cover_weeks": "weeks",
    "production_lost_share": "%",
    "licence_applications": "applications/week",
    "licence_approvals": "applications/week",
    "licence_denials": "applications/week",
    "licence_backlog": "applications",
    "licence_mean_wait_days": "calendar days",
    "exports_cn": "t/week",
    "flow": "t/week",
    "non_china_share": "%",
    "hhi": "index 0-1",
    "alt_capacity": "t/year",
    "alt_capacity_pipeline": "t/year",
    "exports_cn_total": "t/week",
    "production_cn": "t/week",
    "production_alt": "t/week",
    "stock_total": "t",
    "consumption": "t/week",
    "thrift_saving_share": "%",
}


def rc_params() -> dict[str, Any]:
    """Matplotlib settings for every reflow figure (use with `matplotlib.rc_context`)."""
    return {
        "figure.dpi": 100,
        "savefig.dpi": 200,
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.titleweight": "bold",
        # Titles sit at a fixed height above their panel (nothing is drawn above a panel: no ticks, labels or
        # offset texts there). Left to matplotlib, every draw measures every tick label to place each title.
        "axes.titley": 1.0,
        "axes.formatter.useoffset": False,
        "axes.labelsize": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#DDDDDD",
        "grid.linewidth": 0.6,
        "legend.fontsize": 8,
        "legend.frameon": False,
        "lines.linewidth": 1.6,
        "hatch.linewidth": 0.5,
        "hatch.color": "#333333",
        "svg.fonttype": "none",  # text stays text in SVG: searchable and editable by report designers
        "svg.hashsalt": "reflow",  # element ids from a fixed salt: a re-plot writes the same bytes
        "pdf.fonttype": 42,
    }


def region_label(code: str) -> str:
    """Readable name of a region code (unknown codes pass through)."""
    return REGION_LABELS.get(code, code)


def material_label(code: str) -> str:
    """Readable name of a material code (unknown codes pass through)."""
    return MATERIAL_LABELS.get(code, code.replace("_", " "))


def region_style(code: str) -> dict[str, Any]:
    """Colour, line style, hatch and marker of a region or origin; stable across figures."""
    if code in _REGION_STYLE:
        return dict(_REGION_STYLE[code])
    i = sum(map(ord, code)) % len(_FALLBACK)
    return {"color": _FALLBACK[i], "linestyle": _FALLBACK_LS[i], "hatch": "", "marker": "o"}


def material_style(code: str) -> dict[str, Any]:
    """Colour, line style and hatch of a material."""
    if code in _MATERIAL_STYLE:
        return dict(_MATERIAL_STYLE[code])
    i = sum(map(ord, code)) % len(_FALLBACK)
    return {"color": _FALLBACK[i], "linestyle": _FALLBACK_LS[i], "hatch": ""}


def scenario_style(index: int) -> dict[str, Any]:
    """Style of the index-th scenario in an overlay (colour and line style both change)."""
    # (no vermillion: it is China's colour in the run figures, where readers learn it first)
    colors = [_OI["black"], _OI["blue"], _OI["orange"], _OI["green"], _OI["purple"], _OI["sky"]]
    styles: list[Any] = ["-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1))]
    return {"color": colors[index % len(colors)], "linestyle": styles[index % len(styles)]}


def sort_codes(codes: Iterable[str], order: Sequence[str]) -> list[str]:
    """Codes in the canonical order, unknown ones after, alphabetically."""
    rank = {c: i for i, c in enumerate(order)}
    return sorted(set(codes), key=lambda c: (rank.get(c, len(rank)), c))


def format_date_axis(ax: Axes, start: Any = None, end: Any = None) -> None:
    """Calendar dates on the x axis, concise: the year at each January, month names between.

    Tick positions are computed once for the span (`start`..`end`, default the current x limits) and fixed:
    matplotlib's automatic date locators re-run a calendar rule at every layout pass, which made them the
    largest single cost of drawing a figure.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter

    if start is None or end is None:
        lo, hi = ax.get_xlim()
        start, end = mdates.num2date(lo), mdates.num2date(hi)
    start, end = pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None)
    years = max((end - start).days / 365.25, 1 / 12)
    if years > 5:  # whole years, as many as fit a panel: a label every year of a 50-year run ran together
        step = next((n for n in (1, 2, 5, 10, 20) if years / n <= 9), 50)
        months = 12 * step
        first = pd.Timestamp(year=start.year - start.year % step, month=1, day=1)
    else:
        months = 6 if years > 2.2 else 3 if years > 1.1 else 1
        first = pd.Timestamp(year=start.year, month=1, day=1)
    ticks = [t for t in pd.date_range(first, end, freq=f"{months}MS") if t >= start]
    ax.xaxis.set_major_locator(FixedLocator(mdates.date2num(ticks)))

    def label(x: float, _pos: Any) -> str:
        d = mdates.num2date(x)
        return f"{d.year}" if d.month == 1 else f"{d:%b}"

    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.xaxis.set_minor_locator(FixedLocator([]))


def set_log_price_axis(ax: Axes, values: Iterable[float] = ()) -> None:
    """Log y axis with plain-number tick labels (1, 2, 5 per decade, more when the range is narrow).

    With `values`, the axis runs from a round number just below their minimum to just above their maximum,
    so the low end, where prices sit most of the time, carries a labelled tick too.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    arr = np.asarray([v for v in values if np.isfinite(v) and v > 0], dtype=float)
    subs: tuple[float, ...] = (1.0, 2.0, 5.0)
    if arr.size:
        lo, hi = _round_down(arr.min() * 0.97), float(arr.max()) * 1.08
        ax.set_ylim(lo, hi)
        if hi / lo < 30:  # under one and a half decades: 1-2-5 leaves too few labels
            subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    # Whole numbers from 1,000 (with separators); below, as many digits as the tick has (1.5 is not "2").
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1000 else f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _round_down(v: float) -> float:
    """The largest 1, 1.5, 2, 3, 5 or 7 times a power of ten not above v."""
    exp = np.floor(np.log10(v))
    base = 10.0**exp
    for m in (7.0, 5.0, 3.0, 2.0, 1.5, 1.0):
        if m * base <= v:
            return float(m * base)
    return float(base)


def thousands(ax: Axes) -> None:
    """Value-axis tick labels with thousands separators (20,000 rather than 20000)."""
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"))


def use_log_scale(values: Iterable[float], threshold: float = 6.0) -> bool:
    """True when a positive series spans more than `threshold` times, so spikes would flatten the rest."""
    arr = np.asarray([v for v in values if np.isfinite(v) and v > 0], dtype=float)
    if arr.size < 2:
        return False
    lo = np.percentile(arr, 5)
    return bool(lo > 0 and arr.max() / lo > threshold)


def shared_file_mode() -> int:
    """0o666 less the process umask: the mode `open()` would give a new file (mkstemp gives 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


# Each format is written by its backend's canvas directly: `Figure.savefig` (`print_figure`) draws a figure
# that has a layout engine once more before the draw that writes the file, even after the layout is frozen.
_CANVASES = {"png": ("matplotlib.backends.backend_agg", "FigureCanvasAgg"),
             "svg": ("matplotlib.backends.backend_svg", "FigureCanvasSVG"),
             "pdf": ("matplotlib.backends.backend_pdf", "FigureCanvasPdf")}
# Reproducible bytes across re-plots: no creation date in SVG and PDF.
_METADATA: dict[str, dict[str, Any]] = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}
# PNGs are written as RGB (figures are opaque, the alpha channel would be 255 everywhere) at zlib level 3:
# against matplotlib's RGBA at level 6, a third less time compressing and 4% smaller files.
PNG_COMPRESS_LEVEL = 3


def render_figure(fig: Figure, target: Any, fmt: str, dpi: float = 200) -> None:
    """Write `fig` as `fmt` (png, svg or pdf) to `target`, drawing it exactly once.

    A figure with a layout engine (constrained layout) is laid out within that draw, at the output's
    resolution, and its layout is then frozen: later calls (other formats) draw it as it is, without laying
    it out again.

    Args:
        fig: the figure.
        target: a path, a binary file object, or for pdf a `PdfPages` (the figure becomes its next page).
        fmt: png, svg or pdf.
        dpi: resolution of the PNG, and of any raster parts (images, meshes) embedded in SVG or PDF.
    """
    import importlib

    if fmt not in _CANVASES:
        raise ValueError(f"unknown figure format {fmt!r}; choose from {', '.join(_CANVASES)}")
    module, name = _CANVASES[fmt]
    canvas_class = getattr(importlib.import_module(module), name)
    old_canvas, old_dpi = fig.canvas, fig.dpi
    canvas = canvas_class(fig)  # becomes fig.canvas
    try:
        fig.set_dpi(dpi)
        if fmt == "png":
            canvas.draw()
            _write_png(canvas.buffer_rgba(), target, dpi)
        else:
            getattr(canvas, f"print_{fmt}")(target, metadata=_METADATA[fmt])
    finally:
        _keep_layout(fig)
        fig.set_dpi(old_dpi)  # the SVG and PDF printers leave it at 72
        fig.set_canvas(old_canvas)


def _write_png(rgba: Any, target: Any, dpi: float) -> None:
    from PIL import Image, PngImagePlugin

    height, width = rgba.shape[:2]
    image = Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1).convert("RGB")
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/")
    image.save(target, format="png", dpi=(dpi, dpi), pnginfo=info, compress_level=PNG_COMPRESS_LEVEL)


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, shared_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def freeze_layout(fig: Figure) -> None:
    """Run the figure's layout engine once and keep the result, so later draws do not redo it.

    `render_figure` needs no such call: it lays the figure out within its own draw and keeps that layout.
    """
    if fig.get_layout_engine() is not None:
        fig.draw_without_rendering()
        _keep_layout(fig)


def _keep_layout(fig: Figure) -> None:
    """Switch the layout engine off after a draw has run it: later draws keep the axes where they are."""
    if fig.get_layout_engine() is not None:
        fig.set_layout_engine("none")


def save_figure(fig: Figure, out_dir: Path, name: str, formats: Sequence[str] = ("png", "svg"),
                dpi: int = 200, tight: bool = False) -> list[Path]:
    """Write a figure as `<out_dir>/<name>.<fmt>` for each format, atomically (temp name, then rename).

    The figure is drawn once per format: a figure with a layout engine (constrained layout) is laid out in
    the first draw, and that layout serves every format. `tight` crops to the drawn content instead (through
    `Figure.savefig`, which draws twice per format; for figures without a layout engine).

    Returns:
        The paths written, in the order of `formats`.
    """
    written = []
    for fmt in formats:
        path = Path(out_dir) / f"{name}.{fmt}"
        if tight:
            kwargs: dict[str, Any] = {"format": fmt, "dpi": dpi, "bbox_inches": "tight"}
            if fmt in _METADATA:
                kwargs["metadata"] = _METADATA[fmt]
            _atomic_write(path, partial(fig.savefig, **kwargs))
        else:
            _atomic_write(path, partial(render_figure, fig, fmt=fmt, dpi=dpi))
        written.append(path)
    return written
