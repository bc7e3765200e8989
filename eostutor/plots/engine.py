"""The shared machinery of every plot: palette, fonts and sizes, in-place artist updates (gids), legends
outside the data, plain-number log axes with a marked floor for exact zeros.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from eostutor.record import Run

__all__ = ["OKABE_ITO", "RUN_COLORS", "FONT", "REF_COLOR", "SCREEN_DPI", "PROJECTOR_DPI", "MAX_WIDTH_PX",
           "contrast_on_white", "find", "figure"]

#: Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
#: Colours of overlaid runs, in order: Okabe & Ito's hues, each with at least 3:1 contrast on white (WCAG's
#: minimum for graphics). Their orange and sky blue (2.3:1) are darkened to #B37400 and #2A86C2, yellow
#: (1.3:1) is left out.
RUN_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#B37400", "#000000", "#2A86C2")
REF_COLOR = "#555555"  # reference lines (2, 1 - c, 2/K): a neutral grey that never competes with a run's colour
FLOOR_COLOR = "#7A3E9D"  # the 2/K floor and η = K: a dark purple (contrast 7:1), distinct from every run colour

#: Font sizes (points) given to each artist. In projector mode the figure keeps its pixel size at a higher
#: resolution, so the same point sizes come out 1.5 times larger on the screen.
FONT = {"label": 12, "tick": 10.5, "title": 13, "legend": 10, "text": 11}

#: Resolution of every figure a plot creates (dots per inch): explicit, so the pixel size does not depend on
#: the backend's default.
SCREEN_DPI = 100
#: Resolution in projector mode (larger text and lines for the same pixel width).
PROJECTOR_DPI = 150
#: Widest default figure in pixels: it fits a notebook's output area on a 1366 px laptop screen (≈ 930 px
#: in JupyterLab with the file browser open).
MAX_WIDTH_PX = 900


def contrast_on_white(color) -> float:
    """WCAG 2 contrast ratio of a colour against white (1 to 21; graphics need at least 3).

    >>> round(contrast_on_white("#000000"), 1), round(contrast_on_white("#F0E442"), 1)
    (21.0, 1.3)
    """
    from matplotlib.colors import to_rgb

    lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in to_rgb(color)]
    luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return 1.05 / (luminance + 0.05)


# --------------------------------------------------------------------------------------------------
# Figures: explicit size and resolution, never the global rcParams
# --------------------------------------------------------------------------------------------------
def figure(figsize=(6.4, 4.2), *, projector: bool = False) -> Figure:
    """A new figure with constrained layout, sized in *screen inches* (100 px each).

    On screen it is ``figsize`` × 100 px (shrunk to :data:`MAX_WIDTH_PX` if wider). With ``projector=True``
    it is drawn at :data:`PROJECTOR_DPI`: up to 1.5 times as many pixels, still at most :data:`MAX_WIDTH_PX`
    wide, so text and lines come out larger. Global ``rcParams`` are never touched.

    >>> fig = figure((6.4, 4.2))
    >>> [round(v) for v in fig.get_size_inches() * fig.dpi]
    [640, 420]
    >>> fig = figure((9.0, 6.0), projector=True)
    >>> [round(v) for v in fig.get_size_inches() * fig.dpi], fig.dpi
    ([900, 600], 150)
    """
    w, h = (float(v) for v in figsize)
    if not (w > 0 and h > 0):
        raise ValueError(f"figsize must be two positive numbers, got {figsize!r}")
    dpi = PROJECTOR_DPI if projector else SCREEN_DPI
    scale = min(1.0, MAX_WIDTH_PX / (w * dpi))
    return plt.figure(figsize=(w * scale, h * scale), dpi=dpi, layout="constrained")


# --------------------------------------------------------------------------------------------------
# Shared machinery: runs, axes, in-place artist updates
# --------------------------------------------------------------------------------------------------
def _as_runs(runs) -> list[Run]:
    if isinstance(runs, Run):
        return [runs]
    if runs is None:
        raise ValueError("runs must be a Run or a non-empty list of Runs, got None")
    try:
        out = list(runs)
    except TypeError:
        raise ValueError(f"runs must be a Run or a non-empty list of Runs, got {type(runs).__name__}") from None
    if not out:
        raise ValueError("runs must be a Run or a non-empty list of Runs, got an empty list")
    for r in out:
        if not isinstance(r, Run):
            raise ValueError(f"runs must contain only Run objects, got {type(r).__name__}")
    return out


def _new_ax(ax: Axes | None, figsize=(6.4, 4.2), projector: bool = False) -> Axes:
    if ax is None:
        return figure(figsize, projector=projector).subplots()
    if not isinstance(ax, Axes):
        raise ValueError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


# Axes already styled, with the texts they were given: restyling an unchanged Axes (tick_params touches every
# tick) is skipped, which keeps live redraws cheap.
_STYLED: weakref.WeakKeyDictionary[Axes, tuple] = weakref.WeakKeyDictionary()
# Height (points) of the legend strip above each Axes: the title sits above it.
_LEGEND_HEIGHT: weakref.WeakKeyDictionary[Axes, float] = weakref.WeakKeyDictionary()
# Log axes (matplotlib Axis objects) with exact zeros drawn at a floor value, and that value.
_ZERO_FLOOR: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _style(ax: Axes, xlabel: str, ylabel: str, title: str | None = None) -> None:
    pad = 6.0 + _LEGEND_HEIGHT.get(ax, 0.0)
    key = (xlabel, ylabel, title, pad)
    if not (_STYLED.get(ax) == key and ax.get_xlabel() == xlabel and ax.get_ylabel() == ylabel):
        ax.set_xlabel(xlabel, fontsize=FONT["label"])
        ax.set_ylabel(ylabel, fontsize=FONT["label"])
        if title is not None:
            ax.set_title(title, fontsize=FONT["title"], pad=pad)
            fig = ax.get_figure(root=True)
            box = ax.get_position()  # centred on the Axes (before layout): about as wide as the Axes
            _wrap(ax.title, min(box.width, 0.98, 2 * min(box.x0 + box.width / 2, 1 - box.x0 - box.width / 2))
                  * fig.bbox.width)
        ax.tick_params(labelsize=FONT["tick"])
        ax.grid(True, which="major", alpha=0.25, linewidth=0.8)
        _STYLED[ax] = key
    _tick_formats(ax)


def _wrap(text, max_px: float) -> None:
    """Break a title into lines no wider than ``max_px`` (constrained layout never shortens a title)."""
    import textwrap

    full = " ".join(text.get_text().split())
    renderer = _renderer(text.get_figure(root=True))
    text.set_text(full)
    if not full or text.get_window_extent(renderer).width <= max_px:
        return
    for width in range(len(full) - 1, 10, -1):
        text.set_text(textwrap.fill(full, width))
        if text.get_window_extent(renderer).width <= max_px:
            return


def _tick_formats(ax: Axes) -> None:
    """Plain-number labels on log axes (with the zero floor's "0"), no offset on linear ones.

    Runs after every draw call: ``set_yscale`` resets the formatters even when the scale is unchanged.
    """
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            floor = _ZERO_FLOOR.get(axis)
            major = axis.get_major_locator()
            if not isinstance(axis.get_major_formatter(), _PlainLogFormatter):
                axis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
                axis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1.2, 0.5)))
            if floor is not None and not (isinstance(major, _FloorLocator) and major.floor == floor):
                axis.set_major_locator(_FloorLocator(ticker.LogLocator(), floor))
                axis.set_minor_locator(_FloorLocator(ticker.LogLocator(subs="auto"), floor, minor=True))
            elif floor is None and isinstance(major, _FloorLocator):
                axis.set_major_locator(ticker.LogLocator())
                axis.set_minor_locator(ticker.LogLocator(subs="auto"))
        elif scale == "symlog":
            if not isinstance(axis.get_major_formatter(), ticker.FuncFormatter):
                axis.set_major_formatter(ticker.FuncFormatter(lambda v, pos=None: _plain_number(v)))
        elif scale == "linear":
            fmt = axis.get_major_formatter()
            if isinstance(fmt, ticker.ScalarFormatter) and fmt.get_useOffset():
                fmt.set_useOffset(False)  # "0.25", never "+2.5e-1" in a corner


def find(ax: Axes, gid: str):
    """The artist drawn by a plot with this gid (lines, collections, texts, patches), or ``None``.

    >>> from eostutor.plots import loss
    >>> ax = loss(Run({"loss": np.array([1.0, 0.5])}))
    >>> find(ax, "loss:line:0").get_ydata().tolist()
    [1.0, 0.5]
    """
    for artist in (*ax.lines, *ax.collections, *ax.texts, *ax.patches):
        if artist.get_gid() == gid:
            return artist
    return None


class _Sync:
    """Create-or-update the artists of one plot on one Axes; remove the plot's artists not touched.

    Every artist of a plot has a gid starting with ``"<plot>:"``. Lines are updated with ``set_data``;
    collections (scatter, fills, contours), patches and texts are replaced, which is still cheap at these sizes.
    """

    def __init__(self, ax: Axes, plot: str):
        self.ax = ax
        self.prefix = plot + ":"
        self.lines = {ln.get_gid(): ln for ln in ax.lines if str(ln.get_gid()).startswith(self.prefix)}
        self.others = {a.get_gid(): a for a in (*ax.collections, *ax.texts, *ax.patches)
                       if str(a.get_gid()).startswith(self.prefix)}
        self.touched: set[str] = set()

    def line(self, role: str, x, y, **style) -> Line2D:
        gid = self.prefix + role
        self.touched.add(gid)
        ln = self.lines.get(gid)
        if ln is None:
            (ln,) = self.ax.plot(x, y, gid=gid, **style)
            self.lines[gid] = ln
        else:
            ln.set_data(x, y)
            ln.update(style)
        return ln

    def hline(self, role: str, y: float, **style) -> Line2D:
        return self._axis_line(role, y, horizontal=True, **style)

    def vline(self, role: str, x: float, **style) -> Line2D:
        return self._axis_line(role, x, horizontal=False, **style)

    def _axis_line(self, role: str, value: float, horizontal: bool, **style) -> Line2D:
        gid = self.prefix + role
        self.touched.add(gid)
        ln = self.lines.get(gid)
        if ln is None:
            make = self.ax.axhline if horizontal else self.ax.axvline
            ln = make(value, gid=gid, **style)
            self.lines[gid] = ln
            return ln
        (ln.set_ydata if horizontal else ln.set_xdata)([value, value])
        ln.update(style)
        return ln

    def add(self, role: str, artist):
        """Register a freshly made non-line artist, replacing any older one with the same role."""
        gid = self.prefix + role
        old = self.others.get(gid)
        if old is not None and old is not artist:
            old.remove()
        artist.set_gid(gid)
        self.others[gid] = artist
        self.touched.add(gid)
        return artist

    def finish(self, legend_loc: str | None = "above", hide: Iterable[str] = (), *, relim: bool = True,
               ncol: int = 4) -> None:
        """Remove untouched artists, rescale, and (re)build the legend without the labels in ``hide``.

        The legend always sits outside the data, in a strip above the Axes (``legend_loc`` only says
        whether there is one: ``None`` for none).
        """
        for gid, artist in list(self.lines.items()) + list(self.others.items()):
            if gid not in self.touched:
                artist.remove()
                self.lines.pop(gid, None)
                self.others.pop(gid, None)
        if relim:
            # A redraw recomputes the limits from the new data, even if they were set by hand in between.
            self.ax.set_autoscale_on(True)
            self.ax.relim(visible_only=True)
            self.ax.autoscale_view()
        _legend(self.ax, legend_loc, set(hide), ncol)


# Legend contents last built per Axes: rebuilding a legend costs a few ms, so skip it when nothing changed.
_LEGENDS: weakref.WeakKeyDictionary[Axes, tuple] = weakref.WeakKeyDictionary()


def _renderer(fig: Figure):
    canvas = fig.canvas
    return canvas.get_renderer() if hasattr(canvas, "get_renderer") else fig._get_renderer()


def _row_major(items: list, ncols: int) -> list:
    """Reorder so that a legend, which fills its columns top to bottom, reads left to right.

    >>> _row_major([1, 2, 3, 4, 5], 2)
    [1, 3, 5, 2, 4]
    """
    nrows = math.ceil(len(items) / ncols)
    grid = [items[r * ncols:(r + 1) * ncols] for r in range(nrows)]
    return [row[c] for c in range(ncols) for row in grid if c < len(row)]


def _legend_key(handle):
    """A legend key that can be seen: a series drawn as small dots gets a bigger dot in the legend."""
    from matplotlib.collections import PathCollection

    if isinstance(handle, PathCollection):
        values = handle.get_array()
        if values is not None and len(values):  # colour-mapped: the colour of its middle point
            color = handle.to_rgba(np.sort(np.asarray(values, dtype=float))[len(values) // 2])
        elif len(handle.get_facecolor()):
            color = handle.get_facecolor()[0]
        else:
            return handle
        return Line2D([], [], color=color, marker="o", linestyle="none", markersize=5)
    if isinstance(handle, Line2D) and handle.get_linestyle() in ("None", "none", "", " ") \
            and handle.get_marker() == "o" and handle.get_markersize() < 4:
        return Line2D([], [], color=handle.get_color(), marker="o", linestyle="none", markersize=5,
                      alpha=max(0.6, handle.get_alpha() or 1.0))
    return handle


def _legend(ax: Axes, loc: str | None, hide: set[str], ncol: int = 4) -> None:
    """A frameless legend strip just above the Axes (never over the data), as many columns as fit."""
    old = ax.get_legend()
    handles, labels = ax.get_legend_handles_labels()
    pairs = [(h, lab) for h, lab in zip(handles, labels) if lab not in hide]
    key = (loc is not None, ncol, tuple(lab for _, lab in pairs), tuple(id(h) for h, _ in pairs))
    if old is not None and _LEGENDS.get(ax) == key:
        return
    if old is not None:
        old.remove()
    _LEGENDS.pop(ax, None)
    _LEGEND_HEIGHT.pop(ax, None)
    if loc is None or not pairs:
        return
    fig = ax.get_figure(root=True)
    renderer = _renderer(fig)
    box = ax.get_window_extent(renderer)
    # anchored at the Axes' left edge, the strip may run on to the figure's right edge
    width = max(box.width, fig.bbox.width - box.x0 - 8)
    leg = None
    for n in range(min(ncol, len(pairs)), 0, -1):
        if leg is not None:
            leg.remove()
        order = _row_major(pairs, n)
        leg = ax.legend([_legend_key(h) for h, _ in order], [lab for _, lab in order], loc="lower left",
                        bbox_to_anchor=(0.0, 1.0), borderaxespad=0.3, frameon=False, fontsize=FONT["legend"],
                        ncols=n, handlelength=1.8, handletextpad=0.5, columnspacing=1.2, borderpad=0.2,
                        labelspacing=0.3)
        if leg.get_window_extent(renderer).width <= width:
            break
    _LEGENDS[ax] = key
    # the plot's _style() call that follows puts the title above this strip
    _LEGEND_HEIGHT[ax] = leg.get_window_extent(renderer).height * 72.0 / fig.dpi


def _legend_args(legend, runs: Sequence[Run], loc: str = "above") -> tuple[str | None, set[str]]:
    """Legend on or off and labels to hide for ``legend=True | "references" | False``."""
    if legend is True or legend == "all":
        return loc, set()
    if legend is False or legend is None or legend == "none":
        return None, set()
    if legend == "references":
        return loc, {_run_label(r) for r in runs}
    raise ValueError(f"legend must be True, False or 'references', got {legend!r}")


def _color(i: int) -> str:
    return RUN_COLORS[i % len(RUN_COLORS)]


def _finite(y) -> np.ndarray:
    """Float copy of y with ±inf turned into NaN (matplotlib breaks lines at NaN, chokes on inf)."""
    y = np.asarray(y, dtype=float).copy()
    y[~np.isfinite(y)] = np.nan
    return y


def _run_label(run: Run) -> str:
    label = run.label
    if run.interrupted and not run.diverged:
        label += " (stopped early)"
    return label


def _mark_divergence(sync: _Sync, i: int, run: Run, x, y) -> None:
    """An ✕ at the last finite point of a diverged run; its legend entry says where it diverged."""
    if not run.diverged:
        return
    y = np.asarray(y, dtype=float)
    ok = np.flatnonzero(np.isfinite(y))
    if ok.size == 0:
        return
    j = ok[-1]
    sync.line(f"diverged:{i}", [np.asarray(x)[j]], [y[j]], marker="X", markersize=11, linestyle="none",
              color=_color(i), markeredgecolor="black", markeredgewidth=0.8, zorder=5,
              label=f"diverged at step {run.diverged_at}")


def _field(result, *names, required: bool = True):
    for n in names:
        if isinstance(result, dict) and n in result:
            return result[n]
        if hasattr(result, n):
            return getattr(result, n)
    if required:
        raise ValueError(f"{type(result).__name__} has none of the fields {', '.join(names)}")
    return None


# --------------------------------------------------------------------------------------------------
# Series that change every step: dots instead of a line per step
# --------------------------------------------------------------------------------------------------
def _zigzags(y, min_points: int = 150) -> bool:
    """Whether a series flips direction at most of its steps (a line through it would be a solid block).

    >>> _zigzags(np.tile([8.0, 16.0], 100)), _zigzags(np.linspace(1, 2, 200))
    (True, False)
    """
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    if y.size < min_points:
        return False
    d = np.diff(y)
    d = d[d != 0]
    if d.size < min_points // 2:
        return False
    flips = np.mean(np.sign(d[1:]) != np.sign(d[:-1]))
    return bool(flips > 0.5 and np.mean(np.diff(y) != 0) > 0.3)


def _varies(y, rtol: float = 1e-3) -> bool:
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    return bool(y.size and np.max(y) > (1 + rtol) * np.min(y))


def _thin(x, y, n: int = 400):
    """At most ``n`` points, evenly spaced in index (dots of a per-step series stay a light band)."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) <= n:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, n).round().astype(int))
    return x[idx], y[idx]


def _series(sync: _Sync, role: str, x, y, color: str, label: str, *, linewidth: float = 1.6,
            linestyle="-", markers: bool = False, zorder: float = 2.5, **style) -> Line2D:
    """A per-step series: a line, or small dots when it flips direction at most steps."""
    if _zigzags(y):
        return sync.line(role, x, y, color=color, linestyle="none", marker="o", markersize=2.2,
                         markeredgewidth=0, alpha=0.8, label=label, zorder=zorder, **style)
    if np.isfinite(np.asarray(y, dtype=float)).sum() > 400:
        linewidth *= 0.7  # a long noisy line: thinner, so it reads as a band with structure, not a block
    return sync.line(role, x, y, color=color, linestyle=linestyle, linewidth=linewidth,
                     marker="o" if markers else "", markersize=4, alpha=1.0, label=label, zorder=zorder, **style)


# --------------------------------------------------------------------------------------------------
# Log axes: plain-number ticks, exact zeros on a marked floor
# --------------------------------------------------------------------------------------------------
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _plain_number(x: float) -> str:
    """A tick label: plain digits from 0.001 to 99,999, powers of ten with unicode exponents beyond.

    >>> [_plain_number(v) for v in (0.001, 0.2, 2.0, 10.0, 0.202, 1e-6, 3e-5, 1e5)]
    ['0.001', '0.2', '2', '10', '0.202', '10⁻⁶', '3×10⁻⁵', '10⁵']
    """
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else ""
    sign = "−" if x < 0 else ""
    x = abs(x)
    if 1e-3 <= x < 1e5:
        text = np.format_float_positional(float(f"{x:.3g}"), trim="-")
        return sign + text
    exponent = math.floor(math.log10(x) + 1e-9)
    coeff = x / 10.0**exponent
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    if abs(coeff - round(coeff)) < 1e-6 and round(coeff) == 1:
        return sign + power
    return f"{sign}{coeff:.2g}×{power}"


class _PlainLogFormatter(ticker.LogFormatter):
    """matplotlib's choice of which log ticks to label, with :func:`_plain_number` labels ("0" at a zero floor)."""

    def __call__(self, x, pos=None):
        floor = _ZERO_FLOOR.get(self.axis) if self.axis is not None else None
        if floor is not None and math.isclose(x, floor, rel_tol=1e-9):
            return "0"
        return super().__call__(x, pos)

    def _num_to_string(self, x, vmin, vmax):
        return _plain_number(x)


class _FloorLocator(ticker.Locator):
    """A log locator with a tick at the zero floor and none inside the band around it."""

    def __init__(self, base: ticker.Locator, floor: float, minor: bool = False):
        self.base, self.floor, self.minor = base, float(floor), minor

    def set_axis(self, axis):
        super().set_axis(axis)
        self.base.set_axis(axis)

    def __call__(self):
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin, vmax):
        ticks = [t for t in self.base.tick_values(vmin, vmax) if t > self.floor * 10**0.6]
        return np.asarray(ticks if self.minor else [self.floor, *ticks])


def _zero_floor(values: Iterable[np.ndarray]) -> float | None:
    """Where exact zeros go on a log axis: one decade below the smallest positive value (None: no zeros)."""
    vals = [np.asarray(v, dtype=float) for v in values]
    vals = np.concatenate([v[np.isfinite(v)] for v in vals]) if vals else np.array([])
    if vals.size == 0 or not np.any(vals == 0):
        return None
    pos = vals[vals > 0]
    smallest = float(pos.min()) if pos.size else 1.0
    return 10.0 ** (math.floor(math.log10(smallest)) - 1)


def _on_floor(y, floor: float | None) -> np.ndarray:
    y = _finite(y)
    if floor is not None:
        y[y == 0] = floor
    return y


def _mark_zero_floor(sync: _Sync, floor: float | None) -> None:
    """Exact zeros on a log y axis: a grey band at the bottom where they are drawn, a tick "0", a legend entry.

    Call before ``finish`` (the band gets its legend entry and, through autoscaling, the y-limits); the
    plot's ``_style`` call puts the tick at the floor.
    """
    ax = sync.ax
    if floor is None:
        _ZERO_FLOOR.pop(ax.yaxis, None)
        return
    _ZERO_FLOOR[ax.yaxis] = floor
    low, edge = floor / 10**0.5, floor * 10**0.5
    sync.add("zero_band", ax.axhspan(low, edge, color="0.88", linewidth=0, zorder=0,
                                     label="exactly 0 (drawn at the bottom)"))


def _positive_limits(ax: Axes) -> None:
    """A log axis never keeps a limit ≤ 0 (left over from a linear scale, or from a run with no data)."""
    for get, put, scale in ((ax.get_xlim, ax.set_xlim, ax.get_xscale()), (ax.get_ylim, ax.set_ylim, ax.get_yscale())):
        if scale != "log":
            continue
        lo, hi = get()
        if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
            data = [a for ln in ax.lines for a in np.atleast_1d(ln.get_ydata() if put is ax.set_ylim
                                                                 else ln.get_xdata()).astype(float)]
            data = np.asarray(data, dtype=float)
            data = data[np.isfinite(data) & (data > 0)]
            if data.size:
                put(float(data.min()) / 2, float(data.max()) * 2)
            else:
                put(0.1, 10.0)
