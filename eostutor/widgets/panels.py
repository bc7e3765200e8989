"""Live panels drawn in the browser (bqplot): the kernel sends the data, the page draws it.

A slider move then costs the kernel the run and a few arrays on the wire, not a rendered image: with
matplotlib through ipympl every change was rendered to a PNG in the kernel (about 100 ms for a full
render here). Static figures, the gallery and the notebooks' still pictures stay matplotlib
(:mod:`eostutor.plots`); the two share one palette and one set of words.

A :class:`Panel` is one small figure with an x and a y scale (linear or log), two labelled axes and a
title. Marks are created by *role* the first time and updated in place afterwards (``panel.line("loss",
x, y, ...)`` twice moves the same line), like the gids of :mod:`eostutor.plots`. The scales follow the
data in the browser unless limits are set.
"""

from __future__ import annotations

import io
import math
from contextlib import contextmanager

import numpy as np

from eostutor.plots.engine import OKABE_ITO, REF_COLOR, RUN_COLORS

__all__ = ["Panel", "legend_html", "png_of", "landscape_png", "RUN_COLORS", "OKABE_ITO", "REF_COLOR", "LINE_STYLES"]

#: bqplot's names for the line styles of :mod:`eostutor.plots`.
LINE_STYLES = {"-": "solid", "--": "dashed", ":": "dotted", "-.": "dash_dotted"}
#: Where a value ≤ 0 is drawn on a log axis (a toy reaching its minimum exactly): far below any panel's
#: bottom, so the line leaves the panel there instead of stopping.
LOG_FLOOR = 1e-300
_TRANSPARENT_PNG = None
_LANDSCAPES: dict = {}  # (problem repr, extent, resolution) -> PNG bytes: a landscape is drawn once


def _bq():
    import bqplot

    return bqplot


def _widgets():
    import ipywidgets

    return ipywidgets


def png_of(rgba: np.ndarray) -> bytes:
    """PNG bytes of an RGBA (or RGB) uint8 image array."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(rgba).save(buf, format="png")
    return buf.getvalue()


def _transparent_png() -> bytes:
    global _TRANSPARENT_PNG
    if _TRANSPARENT_PNG is None:
        _TRANSPARENT_PNG = png_of(np.zeros((2, 2, 4), dtype=np.uint8))
    return _TRANSPARENT_PNG


def landscape_png(problem, extent, resolution: int = 160, levels: int = 18) -> bytes:
    r"""The loss landscape of a 2-D problem over ``extent = (x0, x1, y0, y1)`` as a PNG: bands of log f
    (linear f where f takes values ≤ 0) in the cividis colour map, lightened so paths on top stay readable.
    The same picture as :func:`eostutor.plots.trajectory`'s background; computed once per problem and box.

    >>> from eostutor.problems import Quadratic
    >>> landscape_png(Quadratic([1.0, 10.0]), (-1, 1, -1, 1), resolution=20)[:4]
    b'\x89PNG'
    """
    from matplotlib import colormaps

    from eostutor.plots import loss_grid

    extent = tuple(float(e) for e in extent)
    key = (repr(problem), extent, resolution, levels)
    if key in _LANDSCAPES:
        return _LANDSCAPES[key]
    _, _, F = loss_grid(problem, extent, resolution)
    ok = np.isfinite(F)
    if ok.any() and F[ok].min() >= 0:
        # log levels floored at 1e-4 of the range: the valley of minima is one band, not ten thin rings
        Z = np.log10(np.maximum(F, max(1e-12, 1e-4 * float(F[ok].max()))))
    else:
        Z = F
    lo, hi = (float(Z[ok].min()), float(Z[ok].max())) if ok.any() else (0.0, 1.0)
    bands = np.floor((Z - lo) / max(hi - lo, 1e-300) * levels).clip(0, levels - 1) / max(levels - 1, 1)
    rgba = colormaps["cividis"](np.where(ok, bands, 1.0))
    rgb = 1.0 - 0.55 * (1.0 - rgba[..., :3])  # 55 % over white, like the static figures' alpha
    img = (np.flipud(rgb) * 255).round().astype(np.uint8)  # row 0 is the top of the picture
    png = png_of(img)
    if len(_LANDSCAPES) > 32:
        _LANDSCAPES.clear()
    _LANDSCAPES[key] = png
    return png


def finite(y, log: bool = False) -> np.ndarray:
    """A float copy with non-finite entries as NaN (drawn as gaps); on a log axis values ≤ 0 are drawn at
    :data:`LOG_FLOOR` (positive values are left as they are).
    """
    y = np.array(y, dtype=float, copy=True)
    y[~np.isfinite(y)] = np.nan
    if log:
        y[y <= 0] = LOG_FLOOR
    return y


def nice_ticks(lo: float, hi: float, log: bool = False, n: int = 5) -> np.ndarray:
    """At most about ``n`` round tick values inside [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten,
    or whole decades on a log axis (1, 2, 5 times a decade when the range spans less than two).

    >>> nice_ticks(0.0, 1000.0).tolist(), nice_ticks(1e-14, 30.0, log=True).tolist()
    ([0.0, 200.0, 400.0, 600.0, 800.0, 1000.0], [1e-12, 1e-08, 0.0001, 1.0])
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([])
    if log and lo > 0:
        a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        decades = [d for d in range(a, b + 1) if lo <= 10.0**d <= hi * (1 + 1e-12)]
        if len(decades) >= 2:
            step = math.ceil(len(decades) / n)
            return np.array([10.0**d for d in decades if d % step == 0])
        cand = [float(f"{m * 10.0**d:.1g}") for d in range(a - 1, b + 1) for m in (1, 2, 5) if lo <= m * 10.0**d <= hi]
        if len(cand) >= 2:
            return np.array(cand[:: max(1, math.ceil(len(cand) / n))])
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    values = np.arange(start, hi + 1e-9 * step, step)
    return np.round(values / step) * step + 0.0  # 0.30000000000000004 -> 0.3, -0.0 -> 0.0


def _js_number(v: float) -> str:
    """How JavaScript writes a number (the key under which bqplot looks up a tick label)."""
    v = float(v)
    if v == int(v) and abs(v) < 1e21:
        return str(int(v))
    if 1e-6 <= abs(v) < 1e21:
        return np.format_float_positional(v, trim="-")
    mantissa, exp = repr(v).split("e")
    return f"{mantissa}e{int(exp):+d}".replace("e+-", "e-").replace("e+", "e+" if int(exp) > 0 else "e")


def _log_label(v: float) -> str:
    """0.001, 0.5, 1, 20, 1000 as they are; smaller or larger powers as 1e-6, 1e+4 -> 1e4."""
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:g}"
    mantissa, exp = f"{v:.0e}".split("e")
    return f"{mantissa}e{int(exp)}"


class Panel:
    """One live figure: scales, axes, a title, and marks addressed by role.

    Args:
        title: The title (one short line).
        xlabel, ylabel: Axis labels.
        xlog, ylog: Log scales.
        width, height: Size in pixels.
        xlim, ylim: Fixed limits (``None`` ends follow the data).
        yformat: A d3 format for the y tick labels (default: plain numbers).
    """

    def __init__(self, title: str = "", xlabel: str = "", ylabel: str = "", *, xlog: bool = False,
                 ylog: bool = False, width: int = 300, height: int = 230, xlim=(None, None), ylim=(None, None),
                 yformat: str | None = None, xformat: str | None = None):
        bq, w = _bq(), _widgets()
        self.xlog, self.ylog = xlog, ylog
        self.xs = (bq.LogScale if xlog else bq.LinearScale)(min=xlim[0], max=xlim[1])
        self.ys = (bq.LogScale if ylog else bq.LinearScale)(min=ylim[0], max=ylim[1])
        style = {"font-size": "11px"}
        # Tick values are chosen here (nice numbers, decades on log axes) and shown as plain numbers.
        self.xaxis = bq.Axis(scale=self.xs, label=xlabel, grid_lines="solid", grid_color="#e8e8e8",
                             tick_format=xformat or "~g", tick_style=style, label_offset="30px")
        self.yaxis = bq.Axis(scale=self.ys, label=ylabel, side="left", grid_lines="solid", grid_color="#e8e8e8",
                             tick_format=yformat or "~g", tick_style=style, label_offset="42px")
        self.figure = bq.Figure(
            marks=[], axes=[self.xaxis, self.yaxis], title=title, animation_duration=0,
            fig_margin={"top": 28, "bottom": 40, "left": 56, "right": 18}, padding_x=0.0, padding_y=0.0,
            title_style={"font-size": "13px"},
            layout=w.Layout(width=f"{width}px", height=f"{height}px", overflow="hidden"))
        self.marks: dict[str, object] = {}
        self.xlim = self.ylim = None
        self.set_limits(x=None if None in xlim else xlim, y=None if None in ylim else ylim)
        self._touched: set[str] | None = None

    def __repr__(self) -> str:
        return f"Panel({self.figure.title!r}, marks={sorted(self.marks)})"

    # -- frames ---------------------------------------------------------------------------------------
    @contextmanager
    def frame(self, keep: tuple[str, ...] = ("cursor", "landscape", "click", "surface")):
        """Redraw: marks whose role is not drawn inside the block are hidden at its end (a pin removed,
        a run that no longer diverges), except roles starting with one of ``keep``.
        """
        self._touched = set()
        try:
            yield self
        finally:
            touched, self._touched = self._touched, None
            self.hide(*[r for r in self.marks if r not in touched and not r.startswith(keep)])

    def _touch(self, role: str) -> None:
        if self._touched is not None:
            self._touched.add(role)

    # -- marks ---------------------------------------------------------------------------------------
    def _mark(self, role: str, kind: str, x, y, **traits):
        """Create the mark of ``role`` (bqplot ``kind``: "Lines" or "Scatter") or update it in place: its
        data, and only the traits that changed (each change is a message to the page).
        """
        self._touch(role)
        mark = self.marks.get(role)
        if mark is None:
            mark = getattr(_bq(), kind)(x=x, y=y, scales={"x": self.xs, "y": self.ys}, **traits)
            self.marks[role] = mark
            self.figure.marks = [*self.figure.marks, mark]
            return mark
        with mark.hold_sync():
            mark.x, mark.y = x, y
            for name, value in traits.items():
                if getattr(mark, name) != value:
                    setattr(mark, name, value)
            mark.visible = True
        return mark

    def line(self, role: str, x, y, *, color: str = RUN_COLORS[0], width: float = 1.6, style: str = "-",
             opacity: float = 1.0):
        """Create or update the line of ``role`` (on a log axis values ≤ 0 leave the panel; gaps at NaN)."""
        return self._mark(role, "Lines", np.asarray(x, dtype=float), finite(y, self.ylog), colors=[color],
                          stroke_width=width, line_style=LINE_STYLES.get(style, style), opacities=[opacity])

    def hline(self, role: str, y: float, xspan, **style):
        """A horizontal reference line at ``y`` over ``xspan = (x0, x1)``."""
        return self.line(role, list(xspan), [y, y], **style)

    def vline(self, role: str, x: float, yspan, **style):
        """A vertical line at ``x`` over ``yspan = (y0, y1)``."""
        return self.line(role, [x, x], list(yspan), **style)

    def points(self, role: str, x, y, *, color: str = RUN_COLORS[0], size: int = 40, marker: str = "circle",
               stroke: str | None = "black", opacity: float = 1.0):
        """Create or update the scatter of ``role`` (markers: circle, cross (a bold +: diverged here), square,
        diamond, triangle-up).
        """
        return self._mark(role, "Scatter", np.atleast_1d(np.asarray(x, dtype=float)),
                          finite(np.atleast_1d(y), self.ylog), colors=[color], default_size=size, marker=marker,
                          stroke=stroke, opacities=[opacity])

    def image(self, role: str, png: bytes, extent, on_click=None):
        """An image (e.g. a loss landscape) over ``extent = (x0, x1, y0, y1)``; ``on_click(x, y)`` receives
        clicks in data coordinates.
        """
        self._touch(role)
        mark = self.marks.get(role)
        if mark is None:
            img = _widgets().Image(value=png, format="png")
            mark = _bq().Image(image=img, x=list(extent[:2]), y=list(extent[2:]),
                               scales={"x": self.xs, "y": self.ys}, pixelated=False)
            if on_click is not None:
                def handler(_mark, event):
                    data = event.get("data") or {}
                    if "click_x" in data and "click_y" in data:
                        on_click(float(data["click_x"]), float(data["click_y"]))

                mark.on_element_click(handler)
                mark.on_background_click(handler)
            self.marks[role] = mark
            self.figure.marks = [mark, *self.figure.marks]  # behind everything else
            return mark
        with mark.hold_sync():
            mark.image.value = png
            mark.x, mark.y = list(extent[:2]), list(extent[2:])
        return mark

    def click_catcher(self, extent, on_click) -> None:
        """A transparent image over ``extent`` that reports clicks in data coordinates."""
        self.image("click", _transparent_png(), extent, on_click)

    def hide(self, *roles: str) -> None:
        """Hide marks (they keep their data; the next update shows them again)."""
        for role in roles:
            mark = self.marks.get(role)
            if mark is not None:
                mark.visible = False

    def set_limits(self, x=None, y=None) -> None:
        """Fix the x and y limits (``None`` for an axis leaves it as it is)."""
        for axis, scale, lim, log, ax in (("x", self.xs, x, self.xlog, self.xaxis),
                                          ("y", self.ys, y, self.ylog, self.yaxis)):
            if lim is None:
                continue
            lo, hi = float(lim[0]), float(lim[1])
            with scale.hold_sync():
                scale.min, scale.max = lo, hi
            ticks = nice_ticks(lo, hi, log)
            with ax.hold_sync():
                ax.tick_values = ticks
                if log:  # 0.001 and 1e-6, never 0.00001 or 1e+0
                    ax.tick_labels = {_js_number(v): _log_label(v) for v in ticks}
            setattr(self, f"{axis}lim", (lo, hi))

    def fit_y(self, values, *, decades: float = 12.0, pad: float = 0.06, keep: float = 0.5,
              slack: float = 0.04) -> tuple[float, float] | None:
        """Set the y-limits to cover ``values`` (a list of arrays), sticking to the previous limits when
        the new ones nearly fit inside them and are not much narrower.

        Small changes of the data (a slider nudged) then leave the axis still instead of jittering; a big
        change (a drag across the edge) re-fits it. On a log axis the range is at most ``decades``
        decades below the top (exact zeros and 1e-30 losses fall off the bottom of the panel). All
        computed in the axis' own scale (log10 for log axes).

        >>> p = Panel(ylog=False)
        >>> p.fit_y([[0.0, 10.0]]); p.fit_y([[0.0, 9.0]])        # nearly the same: the axis stays
        (-0.6, 10.6)
        (-0.6, 10.6)
        >>> p.fit_y([[0.0, 1.0]])                               # much narrower: re-fitted
        (-0.06, 1.06)
        """
        parts = [np.asarray(v, dtype=float).ravel() for v in values]
        v = np.concatenate(parts) if parts else np.array([])
        v = v[np.isfinite(v)]
        if self.ylog:
            v = v[v > 0]
        if v.size == 0:
            return self.ylim
        if self.ylog:
            hi = math.log10(float(v.max()))
            lo = max(math.log10(float(v.min())), hi - decades)
        else:
            lo, hi = float(v.min()), float(v.max())
        span = hi - lo
        if span <= 1e-12 * max(1.0, abs(hi)):
            span = 1.0 if self.ylog else max(abs(hi), 1.0) * 0.2
            lo, hi = lo - span / 2, hi + span / 2
        lo, hi = lo - pad * span, hi + pad * span
        if self.ylim is not None:
            prev = [math.log10(b) for b in self.ylim] if self.ylog else list(self.ylim)
            p_span = prev[1] - prev[0]
            if lo >= prev[0] - slack * p_span and hi <= prev[1] + slack * p_span and hi - lo >= keep * p_span:
                return self.ylim
        lim = (10.0**lo, 10.0**hi) if self.ylog else (lo, hi)
        self.set_limits(y=lim)
        return self.ylim

    def cursor(self, x: float | None, *, color: str = "#555555") -> None:
        """A vertical cursor line at step ``x`` across the panel (``None`` hides it)."""
        if x is None or self.ylim is None:
            self.hide("cursor")
            return
        self.vline("cursor", float(x), self.ylim, color=color, width=1.2, style="-", opacity=0.8)

    def set_ylog(self, log: bool) -> None:
        """Switch the y axis between linear and log, moving every mark to the new scale."""
        if bool(log) == self.ylog:
            return
        bq = _bq()
        self.ylog = bool(log)
        self.ys = (bq.LogScale if log else bq.LinearScale)()
        self.ylim = None
        for mark in self.marks.values():
            scales = dict(mark.scales)
            scales["y"] = self.ys
            mark.scales = scales
        self.yaxis.scale = self.ys
        self.yaxis.tick_format = ".0e" if log else "~g"

    def set_title(self, title: str) -> None:
        if self.figure.title != title:
            self.figure.title = title


def swatch(color: str, style: str = "-", marker: str | None = None) -> str:
    """An inline SVG line (or marker) of a legend entry."""
    dash = {"-": "", "--": 'stroke-dasharray="6,3"', ":": 'stroke-dasharray="2,3"',
            "-.": 'stroke-dasharray="6,3,2,3"'}.get(style, "")
    if marker:
        return (f'<svg width="22" height="12"><circle cx="11" cy="6" r="4" fill="{color}" stroke="black" '
                f'stroke-width="0.8"/></svg>')
    return (f'<svg width="26" height="12"><line x1="1" y1="6" x2="25" y2="6" stroke="{color}" stroke-width="2.2" '
            f"{dash}/></svg>")


def legend_html(entries) -> str:
    """A legend strip outside the plots: ``entries`` are (label, color, style[, marker])."""
    import html

    parts = []
    for entry in entries:
        label, color, style = entry[:3]
        marker = entry[3] if len(entry) > 3 else None
        parts.append(f'<span style="white-space:nowrap; margin-right:14px">{swatch(color, style, marker)} '
                     f"{html.escape(label)}</span>")
    return f'<div style="font-size:12.5px; line-height:20px">{"".join(parts)}</div>'
