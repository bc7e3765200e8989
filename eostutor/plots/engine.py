"""The shared machinery of every plot: palette and fonts, in-place artist updates (gids), legends, styles."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from eostutor.record import Run

__all__ = ["OKABE_ITO", "RUN_COLORS", "FONT", "REF_COLOR", "find"]

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
#: Colours of overlaid runs, in order.
RUN_COLORS = tuple(OKABE_ITO[c] for c in ("blue", "vermillion", "bluish_green", "reddish_purple", "orange",
                                          "sky_blue", "black"))
REF_COLOR = "#555555"  # reference lines (2, 1 - c, 2/K): a neutral grey that never competes with a run's colour

#: Font sizes (points) given to each artist: readable on a projector at the default figure sizes.
FONT = {"label": 13, "tick": 11, "title": 14, "legend": 10.5, "text": 12}


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


def _new_ax(ax: Axes | None, figsize=(6.4, 4.2)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    elif not isinstance(ax, Axes):
        raise ValueError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


# Axes already styled, with the texts they were given: restyling an unchanged Axes (tick_params touches every
# tick) is skipped, which keeps live redraws cheap.
_STYLED: weakref.WeakKeyDictionary[Axes, tuple] = weakref.WeakKeyDictionary()


def _style(ax: Axes, xlabel: str, ylabel: str, title: str | None = None) -> None:
    key = (xlabel, ylabel, title)
    if _STYLED.get(ax) == key and ax.get_xlabel() == xlabel and ax.get_ylabel() == ylabel:
        return
    ax.set_xlabel(xlabel, fontsize=FONT["label"])
    ax.set_ylabel(ylabel, fontsize=FONT["label"])
    if title is not None:
        ax.set_title(title, fontsize=FONT["title"])
    ax.tick_params(labelsize=FONT["tick"])
    ax.grid(True, which="major", alpha=0.25, linewidth=0.8)
    _STYLED[ax] = key


def find(ax: Axes, gid: str):
    """The artist drawn by a plot with this gid (lines and collections), or ``None``.

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
    collections (scatter, fills, contours) are replaced, which is still cheap at these sizes.
    """

    def __init__(self, ax: Axes, plot: str):
        self.ax = ax
        self.prefix = plot + ":"
        self.lines = {ln.get_gid(): ln for ln in ax.lines if str(ln.get_gid()).startswith(self.prefix)}
        self.others = {a.get_gid(): a for a in (*ax.collections, *ax.texts)
                       if str(a.get_gid()).startswith(self.prefix)}
        self.touched: set[str] = set()

    def line(self, role: str, x, y, **style) -> Line2D:
        gid = self.prefix + role
        self.touched.add(gid)
        ln = self.lines.get(gid)
        if ln is None:
            (ln,) = self.ax.plot(x, y, gid=gid, **style)
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
            return make(value, gid=gid, **style)
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

    def finish(self, legend_loc: str | None = "upper right", hide: Iterable[str] = (), *, relim: bool = True,
               ncol: int = 1) -> None:
        """Remove untouched artists, rescale, and (re)build the legend without the labels in ``hide``."""
        for gid, artist in list(self.lines.items()) + list(self.others.items()):
            if gid not in self.touched:
                artist.remove()
        if relim:
            # A redraw recomputes the limits from the new data, even if they were set by hand in between.
            self.ax.set_autoscale_on(True)
            self.ax.relim(visible_only=True)
            self.ax.autoscale_view()
        _legend(self.ax, legend_loc, set(hide), ncol)


# Legend contents last built per Axes: rebuilding a legend costs a few ms, so skip it when nothing changed.
_LEGENDS: weakref.WeakKeyDictionary[Axes, tuple] = weakref.WeakKeyDictionary()


def _legend(ax: Axes, loc: str | None, hide: set[str], ncol: int = 1) -> None:
    # A fixed location: loc="best" scans every data point at each draw, far too slow for live widgets.
    old = ax.get_legend()
    if loc is None:
        if old is not None:
            old.remove()
        _LEGENDS.pop(ax, None)
        return
    handles, labels = ax.get_legend_handles_labels()
    pairs = [(h, lab) for h, lab in zip(handles, labels) if lab not in hide]
    key = (loc, ncol, tuple(lab for _, lab in pairs), tuple(id(h) for h, _ in pairs))
    if old is not None and _LEGENDS.get(ax) == key:
        return
    if not pairs:
        if old is not None:
            old.remove()
        _LEGENDS.pop(ax, None)
        return
    ax.legend([h for h, _ in pairs], [lab for _, lab in pairs], loc=loc, fontsize=FONT["legend"], framealpha=0.85,
              ncol=min(ncol, len(pairs)))
    _LEGENDS[ax] = key


def _legend_args(legend, runs: Sequence[Run], loc: str) -> tuple[str | None, set[str]]:
    """Legend location and labels to hide for ``legend=True | "references" | False``."""
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
