"""A matplotlib figure shown inside a widget and redrawn cheaply (blitting), with or without ipympl."""

from __future__ import annotations

import io
import math

import matplotlib
from matplotlib.figure import Figure

__all__ = ["LiveFigure", "sticky_limits", "interactive_backend"]


def _widgets():
    import ipywidgets

    return ipywidgets


def interactive_backend() -> bool:
    """Whether the figure canvas is an ipywidget (ipympl, i.e. ``%matplotlib widget``/``ipympl``)."""
    backend = matplotlib.get_backend().lower()
    return "ipympl" in backend or backend in ("widget", "module://ipympl.backend_nbagg")


class LiveFigure:
    """A figure shown inside a widget: the ipympl canvas when available, else a PNG in an Image widget.

    Redraws are *blitted*: a full render happens only when something in the background changed (axis
    limits or scales, titles, labels, legend entries, collections such as contours, the figure size);
    otherwise the cached background is restored and only the lines are drawn on top of it (so a line may
    pass over a legend box until the next full render). The layout is
    computed once (constrained layout at the first draw) and then frozen: re-running the layout engine at
    every redraw costs more than drawing the lines.

    Args:
        figsize: Figure size in inches.
        dpi: Resolution (the PNG fallback uses it too).
        interactive: Force the ipympl path (True) or the PNG path (False); default: from the backend.

    Attributes:
        figure: The Figure.
        view: The widget to put in a layout (the ipympl canvas or an ``ipywidgets.Image``).
        full_draws, blits: How many redraws were full renders and how many were blits.
    """

    def __init__(self, figsize=(12, 6.5), dpi: int = 80, interactive: bool | None = None):
        w = _widgets()
        self.interactive = interactive_backend() if interactive is None else bool(interactive)
        if self.interactive:
            import matplotlib.pyplot as plt

            with plt.ioff():
                self.figure = plt.figure(figsize=figsize, dpi=dpi, layout="constrained")
            canvas = self.figure.canvas
            for attr, value in (("header_visible", False), ("footer_visible", False), ("resizable", False),
                                ("toolbar_position", "left")):
                if hasattr(canvas, attr):
                    setattr(canvas, attr, value)
            # ipympl 0.10 bug: until the browser view reports "initialized", send_binary replaces the PNG it
            # is given by raw RGBA bytes (to keep a data-URL snapshot); our first draw happens before the
            # view exists, the browser cannot decode those bytes and the canvas stays 0x0 px (seen in the
            # browser test). Notebooks are committed without outputs, so the snapshot is not needed.
            if hasattr(canvas, "syncing_data_url"):
                canvas.syncing_data_url = False
            self.view = canvas
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            self.figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
            FigureCanvasAgg(self.figure)
            self.view = w.Image(format="png", layout=w.Layout(width="auto", max_width="100%"))
        # We decide when to draw: no automatic redraw of a stale figure by pyplot's interactive mode
        # (it would render everything again after each set_data).
        self.figure.stale_callback = None
        self.dpi = dpi
        self._frozen = False
        self._background = None
        self._signature = None
        self.full_draws = 0
        self.blits = 0

    def relayout(self) -> None:
        """Recompute the layout at the next draw (after axes were added or removed)."""
        self.figure.set_layout_engine("constrained")
        self._frozen = False
        self._background = None

    def _dynamic(self) -> list:
        out = []
        for ax in self.figure.axes:
            if not ax.get_visible():
                continue
            out.extend(ax.lines)
        return out

    def _state(self) -> tuple:
        """Everything that, when changed, needs a full render rather than a blit."""
        parts = [tuple(self.figure.get_size_inches()), self.figure.dpi]
        for ax in self.figure.axes:
            parts.append((id(ax), ax.get_visible(), ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(),
                          ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), ax.get_position().bounds,
                          tuple(id(c) for c in ax.collections), tuple(t.get_text() for t in ax.texts),
                          _legend_state(ax)))
        return tuple(parts)

    def render(self) -> None:
        """Fully render the figure in the kernel (what ipympl does when the browser asks for the image)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg.draw(self.figure.canvas)

    def draw(self, full: bool = False) -> None:
        """Show the current state of the artists (blitting when only lines and legends changed)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = self.figure.canvas
        dynamic = self._dynamic()
        state = self._state()
        if full or self._background is None or state != self._signature:
            if not self._frozen:
                FigureCanvasAgg.draw(canvas)  # constrained layout runs here, once
                self.figure.set_layout_engine("none")
                self._frozen = True
                dynamic, state = self._dynamic(), self._state()
            for a in dynamic:
                a.set_animated(True)
            try:
                FigureCanvasAgg.draw(canvas)  # the background: everything but lines and legends
            finally:
                for a in dynamic:
                    a.set_animated(False)  # so a full redraw (zoom, resize) still shows them
            self._background = canvas.copy_from_bbox(self.figure.bbox)
            self._signature = state
            self.full_draws += 1
        else:
            canvas.restore_region(self._background)
            self.blits += 1
        for a in dynamic:
            a.axes.draw_artist(a) if a.axes is not None else a.draw(canvas.get_renderer())
        self._publish()

    def _publish(self) -> None:
        canvas = self.figure.canvas
        if self.interactive:
            canvas.blit(self.figure.bbox)  # ipympl sends the changed pixels to the browser
            return
        from PIL import Image as PILImage

        width, height = canvas.get_width_height(physical=True)
        img = PILImage.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        img.save(buf, format="png", compress_level=1)  # fast; the size does not matter in a notebook
        self.view.value = buf.getvalue()


def _legend_state(ax) -> tuple:
    leg = ax.get_legend()
    if leg is None:
        return ()
    return (leg.get_visible(), tuple(t.get_text() for t in leg.get_texts()))


def sticky_limits(ax, previous: tuple | None, axis: str = "y", keep: float = 0.5, slack: float = 0.05) -> None:
    """Keep an axis' previous limits when the new ones (nearly) fit inside them and are not much narrower.

    Small changes of the data (moving η a little) then leave the axes, ticks and labels unchanged, so the
    figure can be blitted instead of fully re-rendered. ``keep`` is the smallest fraction of the previous
    span (in the axis' scale: log for log axes) the new span may have; ``slack`` is how far (as a fraction
    of the previous span) the new limits may stick out: the autoscale margins absorb that much.

    >>> import matplotlib.figure
    >>> ax = matplotlib.figure.Figure().subplots()
    >>> ax.set_ylim(0.0, 9.0)
    (0.0, 9.0)
    >>> sticky_limits(ax, (0.0, 10.0)); tuple(float(v) for v in ax.get_ylim())
    (0.0, 10.0)
    """
    if previous is None:
        return
    get = ax.get_ylim if axis == "y" else ax.get_xlim
    set_ = ax.set_ylim if axis == "y" else ax.set_xlim
    scale = ax.get_yscale() if axis == "y" else ax.get_xscale()
    new = get()

    def t(v):
        return math.log10(v) if scale == "log" else v

    try:
        lo0, hi0, lo1, hi1 = t(previous[0]), t(previous[1]), t(new[0]), t(new[1])
    except ValueError:
        return
    span = hi0 - lo0
    if not (math.isfinite(span) and span > 0):
        return
    if lo1 >= lo0 - slack * span and hi1 <= hi0 + slack * span and (hi1 - lo1) >= keep * span:
        set_(*previous)
