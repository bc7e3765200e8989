"""Plots of recorded runs: every function takes data, draws into an Axes and returns it.

Plots never train and never touch global ``rcParams``: colours, font sizes and line styles are passed to
each artist. They take one :class:`~eostutor.record.Run` or a list of runs (overlaid, with a legend) and
``ax=None`` (a new figure) or an Axes to draw into.

**Calling a plot again on the same Axes updates it in place.** Every artist a plot makes carries a gid
``"<plot>:<role>:<run index>"`` (e.g. ``"loss:line:0"``, ``"sharpness:2/eta:0"``,
``"sharpness:floor"``); a second call finds those artists and sets their data instead of adding new
ones. The widgets rely on this (build the figure once, then ``line.set_data``), and tests use the gids
to check that the drawn data equal the run's (``find(ax, "loss:line:0").get_ydata()`` is ``run.loss``).

A run that diverged is drawn up to the step where it diverged and marked with an ✕ whose legend entry
reads "diverged at step k". Per-step plots take ``legend=True`` (all entries), ``"references"`` (only
reference lines such as 2/η, not the run names) or ``False``.

Symbols follow the course notebooks: η (step size), λ_max (sharpness: the top Hessian eigenvalue), 2/η (the
stability threshold of GD on a quadratic), η·λ_max, K (number of classes; 2/K is the sharpness floor of
MSE with a last-layer bias).

Palette: Okabe & Ito's colour-blind-safe eight colours (yellow left out: too light on white).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from eostutor.record import Run

__all__ = [
    "eigenvalue_snapshots",
    "OKABE_ITO",
    "RUN_COLORS",
    "FONT",
    "find",
    "loss",
    "sharpness",
    "eta_sharpness",
    "step_size",
    "test_accuracy",
    "layer_grad_norms",
    "dashboard",
    "DASHBOARD_PANELS",
    "trajectory",
    "loss_grid",
    "phase",
    "phase_coordinates",
    "bifurcation",
    "spectrum",
    "density",
    "segment_smoothness",
]

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
_REF = "#555555"  # reference lines (2, 1 - c, 2/K): a neutral grey that never competes with a run's colour

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
_STYLED: "weakref.WeakKeyDictionary[Axes, tuple]" = weakref.WeakKeyDictionary()


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
        gid = self.prefix + role
        self.touched.add(gid)
        ln = self.lines.get(gid)
        if ln is None:
            ln = self.ax.axhline(y, gid=gid, **style)
        else:
            ln.set_ydata([y, y])
            ln.update(style)
        return ln

    def vline(self, role: str, x: float, **style) -> Line2D:
        gid = self.prefix + role
        self.touched.add(gid)
        ln = self.lines.get(gid)
        if ln is None:
            ln = self.ax.axvline(x, gid=gid, **style)
        else:
            ln.set_xdata([x, x])
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
_LEGENDS: "weakref.WeakKeyDictionary[Axes, tuple]" = weakref.WeakKeyDictionary()


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


def _settings_c(runs: Sequence[Run]) -> float:
    for r in runs:
        c = r.settings.get("rule_params", {}).get("c")
        if isinstance(c, (int, float)) and math.isfinite(c):
            return float(c)
    return 1e-4


def _momentum_threshold(beta: float, nesterov: bool) -> tuple[float, str]:
    """η·λ above which heavy-ball / Nesterov GD is unstable on a quadratic."""
    if nesterov:
        return (2 + 2 * beta) / (1 + 2 * beta), f"(2+2β)/(1+2β), Nesterov β = {beta:g}"
    return 2 * (1 + beta), f"2(1+β), heavy ball β = {beta:g}"


def _floors(runs: Sequence[Run]) -> list[float]:
    out = []
    for r in runs:
        f = r.settings.get("sharpness_floor", 0.0)
        try:
            f = float(f)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f) and f > 0 and all(abs(f - g) > 1e-12 for g in out):
            out.append(f)
    return out


def _log_or_symlog(ax: Axes, values: np.ndarray) -> None:
    # Exact zeros (a toy reaching its minimum) are simply not drawn on a log axis; only negative losses
    # (a saddle's unbounded direction) need the symmetric log scale.
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() < 0:
        pos = np.abs(finite[finite != 0])
        ax.set_yscale("symlog", linthresh=float(max(pos.min(), 1e-12)) if pos.size else 1e-12)
    else:
        ax.set_yscale("log")


# --------------------------------------------------------------------------------------------------
# Per-step curves
# --------------------------------------------------------------------------------------------------
def loss(runs, ax: Axes | None = None, *, title: str | None = "Training loss", legend=True) -> Axes:
    """Training loss f(w_k) against the step k, on a log scale.

    Args:
        runs: A Run or a list of Runs (overlaid).
        ax: Axes to draw into (default: a new figure). Drawing again into the same Axes updates it.
        title: Axes title (``None``: none).

    Returns:
        The Axes. Artists: ``"loss:line:i"`` (ydata = ``run.loss``), ``"loss:diverged:i"``.

    >>> run = Run({"loss": np.array([1.0, 0.5, 0.25]), "eta": np.full(3, 0.1)})
    >>> ax = loss(run)
    >>> ax.get_yscale(), find(ax, "loss:line:0").get_ydata().tolist()
    ('log', [1.0, 0.5, 0.25])
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax)
    sync = _Sync(ax, "loss")
    values = []
    for i, run in enumerate(runs):
        y = _finite(run.loss)
        values.append(y)
        sync.line(f"line:{i}", run.step, y, color=_color(i), linewidth=1.6, label=_run_label(run))
        _mark_divergence(sync, i, run, run.step, y)
    sync.finish(*_legend_args(legend, runs, "upper right"))
    _log_or_symlog(ax, np.concatenate(values) if values else np.array([1.0]))
    _style(ax, "step k", "loss f(w_k)", title)
    return ax


def _two_over_eta(run: Run) -> np.ndarray:
    eta = _finite(run.eta)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 2.0 / eta
    out[~np.isfinite(out)] = np.nan
    return out


def sharpness(runs, ax: Axes | None = None, *, title: str | None = "Sharpness", threshold: bool = True,
              legend=True) -> Axes:
    """Sharpness λ_max at the measured steps, the threshold 2/η_k (dashed) and the 2/K floor (dotted).

    For a constant step the 2/η line is flat; for adaptive rules it follows each step's η_k. With momentum
    β > 0 the quadratic threshold 2(1+β)/η (or Nesterov's) is drawn too (dash-dot). The floor is
    ``run.settings["sharpness_floor"]`` where it is not 0.

    Args:
        runs: A Run or a list of Runs.
        ax: Axes to draw into (default: a new figure).
        title: Axes title.
        threshold: Draw the 2/η line(s).

    Returns:
        The Axes. Artists: ``"sharpness:line:i"`` (the measured λ_max), ``"sharpness:2/eta:i"`` (ydata =
        ``2 / run.eta``), ``"sharpness:momentum:i"``, ``"sharpness:floor:j"``, ``"sharpness:diverged:i"``.

    >>> run = Run({"loss": np.ones(3), "eta": np.full(3, 0.1), "sharpness": np.array([5.0, np.nan, 19.0])})
    >>> ax = sharpness(run)
    >>> find(ax, "sharpness:2/eta:0").get_ydata().tolist()
    [20.0, 20.0, 20.0]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax)
    sync = _Sync(ax, "sharpness")
    multi = len(runs) > 1
    tops, sharp_all, thr_all = [], [], []
    for i, run in enumerate(runs):
        m = np.isfinite(run.sharpness)
        x, y = run.step[m], run.sharpness[m]
        sharp_all.append(y)
        few = m.sum() <= 60
        sync.line(f"line:{i}", x, y, color=_color(i), linewidth=1.8, marker="o" if few else "",
                  markersize=4, label=_run_label(run) if multi else "λ_max (sharpness)")
        if threshold:
            thr = _two_over_eta(run)
            thr_all.append(thr)
            # An adaptive η makes 2/η_k jump every step: draw it lighter so the measured λ_max stays readable.
            varying = np.nanmax(thr) > 1.001 * np.nanmin(thr) if np.isfinite(thr).any() else False
            sync.line(f"2/eta:{i}", run.step, thr, color=_color(i), linestyle="--",
                      linewidth=0.9 if varying else 1.4, alpha=0.45 if varying else 0.9,
                      label="2/η" if i == 0 else "_nolegend_")
            beta = float(run.settings.get("momentum", 0.0) or 0.0)
            if beta > 0:
                factor, _ = _momentum_threshold(beta, bool(run.settings.get("nesterov", False)))
                sync.line(f"momentum:{i}", run.step, factor * thr / 2.0, color=_color(i), linestyle="-.",
                          linewidth=1.2, label=("(2+2β)/((1+2β)η)" if run.settings.get("nesterov") else
                                                "2(1+β)/η"))
        _mark_divergence(sync, i, run, x, y)
    for j, floor in enumerate(_floors(runs)):
        sync.hline(f"floor:{j}", floor, color=_REF, linestyle=":", linewidth=2.0,
                   label=f"2/K floor = {floor:.3g}")
        tops.append(floor)
    sync.finish(*_legend_args(legend, runs, "upper right"), ncol=2)
    # y-limits from the sharpness itself, not from 2/η spikes of adaptive rules (2/1e-6 would flatten all)
    sharp = np.concatenate(sharp_all) if sharp_all else np.array([])
    sharp = sharp[np.isfinite(sharp)]
    thr = np.concatenate(thr_all) if thr_all else np.array([])
    thr = thr[np.isfinite(thr)]
    hi = []
    if sharp.size:
        hi.append(sharp.max())
    if thr.size:
        med = float(np.median(thr))
        hi.append(min(med, 3 * sharp.max()) if sharp.size else med)
    hi += tops
    if hi:
        top = 1.4 * max(hi)  # headroom for the legend
        bottom = min(0.0, float(sharp.min()) * 1.1) if sharp.size else 0.0
        if top > bottom:
            ax.set_ylim(bottom, top)
    _style(ax, "step k", "sharpness λ_max", title)
    return ax


def eta_sharpness(runs, ax: Axes | None = None, *, title: str | None = "η·λ_max", legend=True) -> Axes:
    """The product η_k·λ_max at the measured steps, with reference lines at 2 and 1 − c.

    On a quadratic GD is stable iff η·λ_max < 2. The line searches' accepted steps satisfy η·λ_max ≥ 1 − c
    (Galli et al. 2026; c is the Armijo constant, read from the run's rule, default 1e-4). With momentum β the
    threshold moves to 2(1+β) (heavy ball) or (2+2β)/(1+2β) (Nesterov), drawn when β > 0.

    Returns:
        The Axes. Artists: ``"eta_sharpness:line:i"`` (ydata = ``run.eta_sharpness`` at measured steps),
        ``"eta_sharpness:two"``, ``"eta_sharpness:one_minus_c"``, ``"eta_sharpness:momentum:j"``.

    >>> run = Run({"loss": np.ones(2), "eta": np.full(2, 0.1), "eta_sharpness": np.array([1.5, 2.1])})
    >>> list(find(eta_sharpness(run), "eta_sharpness:two").get_ydata())
    [2.0, 2.0]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax)
    sync = _Sync(ax, "eta_sharpness")
    multi = len(runs) > 1
    vals = []
    for i, run in enumerate(runs):
        m = np.isfinite(run.eta_sharpness)
        x, y = run.step[m], run.eta_sharpness[m]
        vals.append(y)
        sync.line(f"line:{i}", x, y, color=_color(i), linewidth=1.6, marker="o" if m.sum() <= 60 else "",
                  markersize=4, label=_run_label(run) if multi else "η·λ_max")
        _mark_divergence(sync, i, run, x, y)
    c = _settings_c(runs)
    sync.hline("two", 2.0, color="black", linestyle="--", linewidth=1.5, label="2 (stability edge)")
    sync.hline("one_minus_c", 1.0 - c, color=_REF, linestyle=":", linewidth=1.8, label=f"1 − c (c = {c:g})")
    tops = [2.0]
    seen = []
    for r in runs:
        beta = float(r.settings.get("momentum", 0.0) or 0.0)
        key = (beta, bool(r.settings.get("nesterov", False)))
        if beta > 0 and key not in seen:
            seen.append(key)
            level, text = _momentum_threshold(*key)
            sync.hline(f"momentum:{len(seen) - 1}", level, color=OKABE_ITO["reddish_purple"], linestyle="-.",
                       linewidth=1.5, label=text)
            tops.append(level)
    sync.finish(*_legend_args(legend, runs, "lower right"))
    y = np.concatenate(vals) if vals else np.array([])
    y = y[np.isfinite(y)]
    top = max(max(tops) * 1.3, float(y.max()) * 1.08 if y.size else 0.0)
    bottom = min(0.0, float(y.min()) * 1.08) if y.size else 0.0
    ax.set_ylim(bottom, top)
    _style(ax, "step k", "η·λ_max", title)
    return ax


def step_size(runs, ax: Axes | None = None, *, title: str | None = "Step size", threshold: bool = True,
              legend=True) -> Axes:
    """The accepted step size η_k (log scale), with 2/λ_max (the stability limit) and η = K marked.

    ``2/λ_max`` (dashed, at the measured steps) is the step above which GD leaves the quadratic's stable
    range; ``η = K`` (dotted, when the run has K classes) is where 2/η reaches the Flatland floor 2/K.

    Returns:
        The Axes. Artists: ``"step_size:line:i"`` (ydata = ``run.eta``), ``"step_size:2/sharpness:i"``,
        ``"step_size:K"``.

    >>> run = Run({"loss": np.ones(3), "eta": np.array([0.1, 0.2, 0.4])})
    >>> find(step_size(run), "step_size:line:0").get_ydata().tolist()
    [0.1, 0.2, 0.4]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax)
    sync = _Sync(ax, "step_size")
    multi = len(runs) > 1
    for i, run in enumerate(runs):
        y = _finite(run.eta)
        sync.line(f"line:{i}", run.step, y, color=_color(i), linewidth=1.6,
                  label=_run_label(run) if multi else "η_k")
        m = np.isfinite(run.sharpness) & (run.sharpness > 0)
        if threshold and m.any():
            sync.line(f"2/sharpness:{i}", run.step[m], 2.0 / run.sharpness[m], color=_color(i), linestyle="--",
                      linewidth=1.2, alpha=0.8, label="2/λ_max" if i == 0 else "_nolegend_")
        _mark_divergence(sync, i, run, run.step, y)
    ks = sorted({int(r.settings["num_classes"]) for r in runs if r.settings.get("num_classes")})
    for k in ks[:1]:
        sync.hline("K", float(k), color=_REF, linestyle=":", linewidth=1.8, label=f"η = K = {k}")
    sync.finish(*_legend_args(legend, runs, "lower right"))
    ax.set_yscale("log")
    _style(ax, "step k", "step size η_k", title)
    return ax


def test_accuracy(runs, ax: Axes | None = None, *, title: str | None = "Test accuracy", train: bool = False,
                  legend=True) -> Axes:
    """Held-out accuracy at the evaluated steps (and, with ``train=True``, training accuracy dashed).

    Returns:
        The Axes. Artists: ``"test_accuracy:line:i"`` (ydata = ``run.test_accuracy`` where evaluated),
        ``"test_accuracy:train:i"``.

    >>> run = Run({"loss": np.ones(3), "test_accuracy": np.array([0.1, np.nan, 0.8])})
    >>> find(test_accuracy(run), "test_accuracy:line:0").get_ydata().tolist()
    [0.1, 0.8]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax)
    sync = _Sync(ax, "test_accuracy")
    for i, run in enumerate(runs):
        m = np.isfinite(run.test_accuracy)
        sync.line(f"line:{i}", run.step[m], run.test_accuracy[m], color=_color(i), linewidth=1.8,
                  marker="o" if m.sum() <= 60 else "", markersize=4, label=_run_label(run))
        if train:
            mt = np.isfinite(run.train_accuracy)
            sync.line(f"train:{i}", run.step[mt], run.train_accuracy[mt], color=_color(i), linestyle="--",
                      linewidth=1.3, label="train accuracy" if i == 0 else "_nolegend_")
        _mark_divergence(sync, i, run, run.step[m], run.test_accuracy[m])
    sync.finish(*_legend_args(legend, runs, "lower right"))
    ax.set_ylim(-0.02, 1.02)
    _style(ax, "step k", "test accuracy", title)
    return ax


def layer_grad_norms(runs, ax: Axes | None = None, *, title: str | None = "Layer gradient norms",
                     legend=True) -> Axes:
    """Gradient norm of the hidden layers (solid) vs the last-layer bias (dashed), log scale.

    In Flatland the hidden-layer gradients collapse while the last bias still learns (Galli et al. 2026).

    Returns:
        The Axes. Artists: ``"layer_grad_norms:hidden:i"`` (ydata = ``run.grad_norm_hidden``),
        ``"layer_grad_norms:last_bias:i"``.

    >>> run = Run({"loss": np.ones(2), "grad_norm_hidden": np.array([1.0, 1e-3]),
    ...            "grad_norm_last_bias": np.array([0.1, 0.1])})
    >>> find(layer_grad_norms(run), "layer_grad_norms:hidden:0").get_ydata().tolist()
    [1.0, 0.001]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax)
    sync = _Sync(ax, "layer_grad_norms")
    multi = len(runs) > 1
    for i, run in enumerate(runs):
        lab = f"{run.label}: " if multi else ""
        h = _finite(run.grad_norm_hidden)
        b = _finite(run.grad_norm_last_bias)
        sync.line(f"hidden:{i}", run.step, h, color=_color(i), linewidth=1.6, label=lab + "hidden layers")
        sync.line(f"last_bias:{i}", run.step, b, color=_color(i), linestyle="--", linewidth=1.6,
                  label=lab + "last-layer bias")
        _mark_divergence(sync, i, run, run.step, h)
    sync.finish(*_legend_args(legend, runs, "lower left"))
    ax.set_yscale("log")
    _style(ax, "step k", "gradient norm ‖∇f‖", title)
    return ax


test_accuracy.__test__ = False  # a plot, not a pytest test (its name starts with "test_")

#: Panel name -> plot function used by :func:`dashboard`.
DASHBOARD_PANELS = {
    "loss": loss,
    "sharpness": sharpness,
    "eta_sharpness": eta_sharpness,
    "step_size": step_size,
    "test_accuracy": test_accuracy,
    "layer_grad_norms": layer_grad_norms,
}


def _has_network_data(runs: Sequence[Run]) -> tuple[bool, bool]:
    acc = any(np.isfinite(r.test_accuracy).any() for r in runs)
    layers = any(np.isfinite(r.grad_norm_hidden).any() for r in runs)
    return acc, layers


def dashboard(runs, fig: Figure | None = None, *, panels: Sequence[str] | None = None,
              ncols: int | None = None, title: str | None = None) -> tuple[Figure, dict[str, Axes]]:
    """The paper's Figure-1 panel set in one figure: loss, sharpness with 2/η, η·λ_max and step size,
    plus test accuracy and layer gradient norms when the runs have them (networks).

    Args:
        runs: A Run or a list of Runs (overlaid in every panel).
        fig: Figure to draw into. If it already holds a dashboard with the same panels (from an earlier
            call), the panels are updated in place; otherwise it is cleared first.
        panels: Names from ``DASHBOARD_PANELS`` (default: chosen from the data).
        ncols: Panels per row (default 2 for up to 4 panels, else 3).
        title: Figure title.

    Returns:
        ``(figure, axes)`` with ``axes`` a dict panel name -> Axes.

    >>> run = Run({"loss": np.array([1.0, 0.5]), "eta": np.full(2, 0.1), "sharpness": np.array([10.0, 15.0])})
    >>> fig, axes = dashboard(run)
    >>> sorted(axes)
    ['eta_sharpness', 'loss', 'sharpness', 'step_size']
    """
    runs = _as_runs(runs)
    if panels is None:
        acc, layers = _has_network_data(runs)
        panels = ["loss", "sharpness", "eta_sharpness", "step_size"]
        panels += ["test_accuracy"] if acc else []
        panels += ["layer_grad_norms"] if layers else []
    panels = list(panels)
    for p in panels:
        if p not in DASHBOARD_PANELS:
            raise ValueError(f"unknown panel {p!r}; choose from: {', '.join(DASHBOARD_PANELS)}")
    if not panels:
        raise ValueError("panels must name at least one panel")
    if ncols is None:
        ncols = 2 if len(panels) <= 4 else 3
    ncols = max(1, min(int(ncols), len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    if fig is None:
        fig = plt.figure(figsize=(5.2 * ncols, 3.7 * nrows), layout="constrained")
    existing = {a.get_label(): a for a in fig.axes}
    if set(existing) != {f"dashboard:{p}" for p in panels}:
        fig.clear()
        axs = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
        existing = {}
        for idx, a in enumerate(axs.ravel()):
            if idx < len(panels):
                a.set_label(f"dashboard:{panels[idx]}")
                existing[a.get_label()] = a
            else:
                a.remove()
    axes = {p: existing[f"dashboard:{p}"] for p in panels}
    for p, a in axes.items():
        # Several runs: only the loss panel names them; the other panels keep their reference lines' entries.
        DASHBOARD_PANELS[p](runs, ax=a, legend=True if (len(runs) == 1 or p in ("loss", "layer_grad_norms"))
                            else "references")
    visible = list(axes.values())
    for a in visible:
        spec = a.get_subplotspec()
        below = [b for b in visible if b.get_subplotspec().colspan == spec.colspan
                 and b.get_subplotspec().rowspan.start > spec.rowspan.start]
        if below:
            a.set_xlabel("")
        else:
            a.tick_params(labelbottom=True)
    if title is not None:
        fig.suptitle(title, fontsize=FONT["title"] + 1)
    return fig, axes


# --------------------------------------------------------------------------------------------------
# 1-D and 2-D toys: trajectories, phase plane, bifurcation
# --------------------------------------------------------------------------------------------------
def loss_grid(problem, extent: Sequence[float], resolution: int = 120) -> tuple[np.ndarray, ...]:
    """f on a regular grid over ``extent`` (no training: only loss evaluations, vectorised when possible).

    Args:
        problem: A problem with ``dim`` 1 or 2.
        extent: ``(xmin, xmax)`` for dim 1, ``(xmin, xmax, ymin, ymax)`` for dim 2.
        resolution: Grid points per axis.

    Returns:
        ``(x, f)`` for dim 1; ``(X, Y, F)`` (meshgrids) for dim 2.

    >>> from eostutor.problems import Quadratic
    >>> X, Y, F = loss_grid(Quadratic([1.0, 10.0]), (-1, 1, -1, 1), resolution=3)
    >>> float(F[1, 1]), float(F[2, 2])   # f(0, 0) and f(1, 1) = (1 + 10) / 2
    (0.0, 5.5)
    """
    dim = int(problem.dim)
    if dim not in (1, 2):
        raise ValueError(f"loss_grid needs a problem with dim 1 or 2, got dim={dim}")
    extent = [float(e) for e in extent]
    if len(extent) != 2 * dim or not all(math.isfinite(e) for e in extent):
        raise ValueError(f"extent must be {2 * dim} finite numbers for dim={dim}, got {extent}")
    axes = [np.linspace(extent[2 * d], extent[2 * d + 1], resolution) for d in range(dim)]
    if dim == 1:
        pts = axes[0][:, None]
    else:
        X, Y = np.meshgrid(axes[0], axes[1])
        pts = np.stack([X.ravel(), Y.ravel()], axis=1)
    w = torch.as_tensor(pts, dtype=problem.dtype, device=problem.device)
    try:
        with torch.no_grad():
            vals = torch.func.vmap(problem.objective)(w).detach().cpu().numpy().astype(float)
        if vals.shape != (len(pts),):
            raise RuntimeError("objective is not a scalar per point")
    except Exception:  # objective not vmappable: one loss call per grid point (slower, same numbers)
        vals = np.array([problem.loss(wi) for wi in w])
    if dim == 1:
        return axes[0], vals
    return X, Y, vals.reshape(X.shape)


def _params(run: Run) -> np.ndarray:
    if "params" not in run.arrays:
        raise ValueError(f"{run!r} has no recorded iterates: train with record_params=True (default for dim <= 10)")
    return np.asarray(run.arrays["params"], dtype=float)


def _auto_extent(runs: Sequence[Run], dim: int) -> list[float]:
    pts = np.concatenate([_params(r) for r in runs], axis=0)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if pts.size == 0:
        return [-1.0, 1.0] * dim
    # Diverging iterates would stretch the box to 1e30: keep the box to a few times the starting scale.
    scale = 4.0 * max(1.0, float(np.max(np.abs(np.concatenate([_params(r)[:1] for r in runs])))))
    pts = pts[np.all(np.abs(pts) <= scale, axis=1)]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.maximum(hi - lo, 0.2 * max(1.0, float(np.abs(pts).max())))
    lo, hi = lo - 0.15 * span, hi + 0.15 * span
    return [v for d in range(dim) for v in (float(lo[d]), float(hi[d]))]


def trajectory(problem, runs, ax: Axes | None = None, *, extent: Sequence[float] | None = None,
               resolution: int = 120, levels: int = 18, title: str | None = "Iterates on the loss landscape",
               markers: bool = True) -> Axes:
    """Iterates w_0, w_1, … of each run over the loss landscape of a 1-D or 2-D problem.

    For dim 2: filled contours of log f (linear levels if f takes values ≤ 0) and each run's path.
    For dim 1: the curve f(w) and the iterates (w_k, f(w_k)) joined in order (a zig-zag at the edge).
    The contours are computed once per (problem, extent) and kept when the Axes is redrawn.

    Args:
        problem: The problem the runs were trained on (dim 1 or 2).
        runs: A Run or a list of Runs with recorded iterates (``run.params``).
        ax: Axes to draw into.
        extent: Plot box ``(xmin, xmax[, ymin, ymax])``; default from the iterates (diverging iterates
            are left out of the box, so the path leaves the picture).
        resolution: Grid points per axis for the contours.
        levels: Number of contour levels.
        title: Axes title.
        markers: Draw a dot at each iterate (turn off for very long runs).

    Returns:
        The Axes. Artists: ``"trajectory:path:i"`` (xdata = ``run.params[:, 0]``), ``"trajectory:start:i"``,
        ``"trajectory:surface"`` (contours or the 1-D curve).

    >>> from eostutor.problems import Quadratic
    >>> run = Run({"loss": np.ones(2), "params": np.array([[1.0, 1.0], [0.9, -0.5], [0.8, 0.25]])})
    >>> ax = trajectory(Quadratic([1.0, 10.0]), run)
    >>> find(ax, "trajectory:path:0").get_xdata().tolist()
    [1.0, 0.9, 0.8]
    """
    runs = _as_runs(runs)
    dim = int(problem.dim)
    if dim not in (1, 2):
        raise ValueError(f"trajectory needs a problem with dim 1 or 2, got dim={dim}; plot loss() instead")
    ax = _new_ax(ax, figsize=(5.6, 4.8))
    if extent is None:
        extent = _auto_extent(runs, dim)
    extent = [float(e) for e in extent]
    sync = _Sync(ax, "trajectory")
    key = f"surface:{problem!r}:{','.join(f'{e:.6g}' for e in extent)}:{resolution}:{levels}"
    # The landscape is computed once per (problem, extent): redrawing a run only moves its path.
    if sync.prefix + key in sync.lines or sync.prefix + key in sync.others:
        sync.touched.add(sync.prefix + key)
    elif dim == 2:
        X, Y, F = loss_grid(problem, extent, resolution)
        finite = F[np.isfinite(F)]
        if finite.size and finite.min() >= 0:
            # log levels, floored at 1e-4 of the range: the valley of minima is one band, not 10 thin rings
            Z = np.log10(np.maximum(F, max(1e-12, 1e-4 * float(finite.max()))))
        else:
            Z = F
        sync.add(key, ax.contourf(X, Y, Z, levels=levels, cmap="cividis", alpha=0.55, zorder=0))
    else:
        x, f = loss_grid(problem, extent, max(resolution, 200))
        sync.line(key, x, f, color=_REF, linewidth=2.0, zorder=1, label="f(w)")
    multi = len(runs) > 1
    for i, run in enumerate(runs):
        p = _params(run)
        ok = np.all(np.isfinite(p), axis=1)
        p = np.where(ok[:, None], p, np.nan)
        style = dict(color=_color(i), linewidth=1.1, alpha=0.9, zorder=3,
                     marker="o" if markers else "", markersize=2.5, label=_run_label(run) if multi else "iterates w_k")
        if dim == 2:
            sync.line(f"path:{i}", p[:, 0], p[:, 1], **style)
            sync.line(f"start:{i}", p[:1, 0], p[:1, 1], marker="o", markersize=9, linestyle="none",
                      color=_color(i), markeredgecolor="black", zorder=4,
                      label="start w_0" if i == 0 else "_nolegend_")
            # a diverging path leaves the box: mark the last iterate still inside it
            inside = ((p[:, 0] >= extent[0]) & (p[:, 0] <= extent[1]) & (p[:, 1] >= extent[2])
                      & (p[:, 1] <= extent[3]))
            _mark_divergence(sync, i, run, p[:, 0], np.where(inside, p[:, 1], np.nan))
        else:
            fvals = np.array([run.loss[k] if k < run.num_steps else run.final_loss for k in range(len(p))], float)
            sync.line(f"path:{i}", p[:, 0], _finite(fvals), **style)
            sync.line(f"start:{i}", p[:1, 0], _finite(fvals[:1]), marker="o", markersize=9, linestyle="none",
                      color=_color(i), markeredgecolor="black", zorder=4,
                      label="start w_0" if i == 0 else "_nolegend_")
            _mark_divergence(sync, i, run, p[:, 0], _finite(fvals))
    sync.finish("upper right", relim=False)
    if dim == 2:
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        _style(ax, "w₁", "w₂", title)
    else:
        ax.set_xlim(extent[0], extent[1])
        f = find(ax, sync.prefix + key).get_ydata()
        lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
        ax.set_ylim(min(0.0, lo) - 0.05 * (hi - lo + 1e-12), hi + 0.05 * (hi - lo + 1e-12))
        _style(ax, "w", "f(w)", title)
    return ax


def phase_coordinates(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates of the self-stabilization plane (Damian et al. 2023) from a recorded run.

    At each measured step k with top eigenvector u_k (sign-aligned with the previous one, since an
    eigen-solver may return ±u):

    * x_k = u_kᵀ (w_k − w̄_k) with w̄_k = (w_k + w_{k+1})/2 the midpoint of consecutive iterates, i.e.
      x_k = u_kᵀ(w_k − w_{k+1})/2: the half-amplitude of the period-2 oscillation along u. Near the edge
      the reduced dynamics x⁺ = −(1 + ηy)x flip its sign every step, so we return the demodulated
      displacement (−1)^k x_k, whose magnitude grows when y > 0 and shrinks when y < 0.
    * y_k = ½(λ_max(w_k) + λ_max(w_{k+1})) − 2/η_k, the sharpness excess over the stability threshold of
      the same pair of iterates (on a period-2 orbit the sharpness alternates between the two sides of
      the valley; the pair's mean is the sharpness of the orbit, as in the reduced dynamics). Where
      λ_max(w_{k+1}) was not measured, λ_max(w_k) is used.

    Needs ``run.params`` and ``run.eigenvector`` (recorded for dim ≤ 10 when ``sharpness_every > 0``).

    Returns:
        ``(steps, x, y)`` arrays over the usable measured steps.

    >>> u = np.tile([1.0, 0.0], (3, 1))
    >>> params = np.array([[0.1, 0.0], [-0.1, 0.0], [0.1, 0.0], [-0.1, 0.0]])
    >>> run = Run({"loss": np.ones(3), "eta": np.full(3, 0.5), "sharpness": np.array([4.0, 4.1, 3.9]),
    ...            "params": params, "eigenvector": u})
    >>> steps, x, y = phase_coordinates(run)
    >>> x.round(3).tolist(), y.round(3).tolist()
    ([0.1, 0.1, 0.1], [0.05, 0.0, -0.1])
    """
    p = _params(run)
    if "eigenvector" not in run.arrays:
        raise ValueError(f"{run!r} has no recorded eigenvectors: train a small problem with sharpness_every > 0")
    u = np.asarray(run.arrays["eigenvector"], dtype=float)
    n = min(run.num_steps, len(p) - 1, len(u))
    k = np.flatnonzero(np.isfinite(run.sharpness[:n]) & np.all(np.isfinite(u[:n]), axis=1)
                       & np.isfinite(run.eta[:n]) & np.all(np.isfinite(p[1:n + 1]), axis=1))
    if k.size == 0:
        raise ValueError(f"{run!r} has no measured steps with an eigenvector: train with sharpness_every > 0")
    uk = u[k].copy()
    for j in range(1, len(uk)):  # continuity of the eigenvector's sign
        if uk[j] @ uk[j - 1] < 0:
            uk[j] = -uk[j]
    x = 0.5 * np.einsum("ij,ij->i", uk, p[k] - p[k + 1]) * np.where(k % 2 == 0, 1.0, -1.0)
    s = run.sharpness
    nxt = np.where(k + 1 < len(s), s[np.minimum(k + 1, len(s) - 1)], np.nan)
    pair = np.where(np.isfinite(nxt), 0.5 * (s[k] + nxt), s[k])
    y = pair - 2.0 / run.eta[k]
    return run.step[k], x, y


def phase(run: Run, ax: Axes | None = None, *, title: str | None = "Self-stabilization plane") -> Axes:
    """The self-stabilization plane: oscillation along the top eigenvector vs sharpness − 2/η.

    See :func:`phase_coordinates` for the definitions. Points are coloured by step (light → dark); the
    horizontal line y = 0 is λ_max = 2/η. Above it the oscillation grows, and the growing oscillation
    pushes the sharpness back down: the orbit circles the edge.

    Returns:
        The Axes. Artists: ``"phase:path"`` (xdata, ydata = :func:`phase_coordinates`), ``"phase:points"``,
        ``"phase:edge"``, ``"phase:start"``.

    >>> u = np.tile([1.0, 0.0], (3, 1))
    >>> params = np.array([[0.1, 0.0], [-0.1, 0.0], [0.1, 0.0], [-0.1, 0.0]])
    >>> run = Run({"loss": np.ones(3), "eta": np.full(3, 0.5), "sharpness": np.array([4.0, 4.1, 3.9]),
    ...            "params": params, "eigenvector": u})
    >>> find(phase(run), "phase:path").get_ydata().round(3).tolist()
    [0.05, 0.0, -0.1]
    """
    if isinstance(run, (list, tuple)):
        if len(run) != 1:
            raise ValueError("phase draws one run; pass a single Run")
        run = run[0]
    run = _as_runs(run)[0]
    ax = _new_ax(ax, figsize=(5.6, 4.6))
    steps, x, y = phase_coordinates(run)
    sync = _Sync(ax, "phase")
    sync.hline("edge", 0.0, color="black", linestyle="--", linewidth=1.3, label="λ_max = 2/η")
    sync.vline("axis", 0.0, color=_REF, linestyle=":", linewidth=1.0)
    sync.line("path", x, y, color=_REF, linewidth=0.7, alpha=0.6, zorder=2, label="_nolegend_")
    pts = ax.scatter(x, y, c=steps, cmap="cividis_r", s=14, zorder=3, label="(x_k, y_k), dark = late")
    sync.add("points", pts)
    sync.line("start", x[:1], y[:1], marker="o", markersize=9, linestyle="none", color=OKABE_ITO["vermillion"],
              markeredgecolor="black", zorder=4, label=f"step {int(steps[0])}")
    sync.line("end", x[-1:], y[-1:], marker="s", markersize=8, linestyle="none", color=OKABE_ITO["blue"],
              markeredgecolor="black", zorder=4, label=f"step {int(steps[-1])}")
    sync.finish("upper right")
    _style(ax, "oscillation along top eigenvector (−1)^k x_k", "λ_max − 2/η", title)
    return ax


def _field(result, *names, required: bool = True):
    for n in names:
        if isinstance(result, dict) and n in result:
            return result[n]
        if hasattr(result, n):
            return getattr(result, n)
    if required:
        raise ValueError(f"{type(result).__name__} has none of the fields {', '.join(names)}")
    return None


def bifurcation(sweep, ax: Axes | None = None, *, quantity: str = "sharpness", eta: float | None = None,
                title: str | None = "Long-run behaviour against η") -> Axes:
    """Bifurcation diagram: the last iterates of GD for each step size η of a precomputed sweep.

    Plots never train: compute the sweep with :func:`eostutor.experiments.bifurcation_sweep` (any object with
    ``etas`` (n,), the chosen quantity as an (n, keep_last) array, and ``diverged`` (n,) works).

    Args:
        sweep: The sweep result.
        quantity: ``"sharpness"`` (with the curve 2/η), ``"loss"`` (log scale), or ``"w1"``/``"w2"``
            (a coordinate of the iterates).
        eta: Mark this step size with a vertical line (the explorer's selected run).
        title: Axes title.

    Returns:
        The Axes. Artists: ``"bifurcation:points"`` (a scatter), ``"bifurcation:2/eta"``,
        ``"bifurcation:diverged"`` (✕ at the bottom for diverged η), ``"bifurcation:selected"``.

    >>> from types import SimpleNamespace
    >>> sweep = SimpleNamespace(etas=np.array([0.1, 0.2]), sharpness=np.array([[8.0, 8.0], [np.nan, np.nan]]),
    ...                         diverged=np.array([False, True]))
    >>> line = find(bifurcation(sweep), "bifurcation:2/eta")
    >>> round(float(line.get_ydata()[0]), 6), round(float(line.get_ydata()[-1]), 6)
    (20.0, 10.0)
    """
    etas = np.asarray(_field(sweep, "etas"), dtype=float)
    if quantity in ("w1", "w2"):
        params = np.asarray(_field(sweep, "params"), dtype=float)
        vals = params[..., 0 if quantity == "w1" else 1]
    elif quantity in ("sharpness", "loss"):
        vals = np.asarray(_field(sweep, quantity), dtype=float)
    else:
        raise ValueError(f"unknown quantity {quantity!r}; choose one of: 'sharpness', 'loss', 'w1', 'w2'")
    if vals.ndim == 1:
        vals = vals[:, None]
    if vals.shape[0] != etas.shape[0]:
        raise ValueError(f"sweep {quantity} has {vals.shape[0]} rows for {etas.shape[0]} step sizes")
    diverged = _field(sweep, "diverged", required=False)
    diverged = np.zeros(len(etas), bool) if diverged is None else np.asarray(diverged, dtype=bool)
    ax = _new_ax(ax, figsize=(6.4, 4.4))
    sync = _Sync(ax, "bifurcation")
    ex = np.repeat(etas, vals.shape[1])
    ey = vals.ravel()
    ok = np.isfinite(ey)
    pts = ax.scatter(ex[ok], ey[ok], s=3, color=OKABE_ITO["blue"], alpha=0.5, linewidths=0, zorder=3,
                     label=f"last {vals.shape[1]} iterates")
    sync.add("points", pts)
    if quantity == "sharpness":
        grid = np.geomspace(etas.min(), etas.max(), 200) if etas.min() > 0 else etas
        sync.line("2/eta", grid, 2.0 / grid, color="black", linestyle="--", linewidth=1.5, label="2/η")
    if quantity == "loss":
        ax.set_yscale("log")
    if diverged.any():
        trans = ax.get_xaxis_transform()
        sync.line("diverged", etas[diverged], np.full(diverged.sum(), 0.03), marker="X", markersize=8,
                  linestyle="none", color=OKABE_ITO["vermillion"], markeredgecolor="black", transform=trans,
                  label="diverged")
    if eta is not None:
        sync.vline("selected", float(eta), color=OKABE_ITO["vermillion"], linewidth=1.8,
                   label=f"selected η = {float(eta):.3g}")
    sync.finish("upper right", relim=False)
    if ok.any():
        lo, hi = float(np.min(ey[ok])), float(np.max(ey[ok]))
        if quantity == "sharpness":
            hi = max(hi, 2.0 / etas.max())
            ax.set_ylim(min(0.0, lo), 1.1 * hi)
        elif quantity != "loss":
            pad = 0.08 * (hi - lo + 1e-12)
            ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlim(etas.min(), etas.max())
    ylabels = {"sharpness": "sharpness λ_max", "loss": "loss f(w)", "w1": "w₁", "w2": "w₂"}
    _style(ax, "step size η", ylabels[quantity], title)
    return ax


# --------------------------------------------------------------------------------------------------
# Spectra
# --------------------------------------------------------------------------------------------------
_SPECTRUM_STYLES = (
    dict(linestyle="-", linewidth=2.4, alpha=0.55, marker=""),
    dict(linestyle="none", marker="o", markersize=4.5, markerfacecolor="none", markeredgewidth=1.2),
    dict(linestyle="--", linewidth=1.4, marker=""),
    dict(linestyle=":", linewidth=1.6, marker=""),
)


def spectrum(runs, ax: Axes | None = None, *, title: str | None = "Top Hessian eigenvalues", legend=True) -> Axes:
    """Top-k Hessian eigenvalues over training (``run.top_eigenvalues``), one style per run.

    Overlay an exact run and a Lanczos run of the same training to compare them side by side: the first
    run is drawn as thick pale lines, the second as hollow markers on top, and each legend entry gives
    the method and the total number of Hessian-vector products it used. Colour = eigenvalue index.

    Returns:
        The Axes. Artists: ``"spectrum:eig{j}:{i}"`` (eigenvalue j of run i), ``"spectrum:floor:j"``.

    >>> run = Run({"loss": np.ones(2), "top_eigenvalues": np.array([[5.0, 1.0], [6.0, 2.0]]),
    ...            "sharpness_hvps": np.array([10, 12])}, {"sharpness_method": "lanczos"})
    >>> find(spectrum(run), "spectrum:eig1:0").get_ydata().tolist()
    [1.0, 2.0]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax)
    sync = _Sync(ax, "spectrum")
    kmax = max(np.atleast_2d(r.arrays.get("top_eigenvalues", np.full((r.num_steps, 1), np.nan))).shape[1]
               for r in runs)
    cmap = plt.get_cmap("cividis")
    colors = list(RUN_COLORS) if kmax <= len(RUN_COLORS) else [cmap(t) for t in np.linspace(0, 0.9, kmax)]
    for i, run in enumerate(runs):
        ev = run.arrays.get("top_eigenvalues")
        if ev is None:
            raise ValueError(f"{run!r} has no top_eigenvalues: train with sharpness_every > 0")
        ev = np.asarray(ev, dtype=float)
        if ev.ndim == 1:
            ev = ev[:, None]
        m = np.any(np.isfinite(ev), axis=1)
        style = _SPECTRUM_STYLES[i % len(_SPECTRUM_STYLES)]
        hvps = int(np.nansum(run.sharpness_hvps))
        method = run.settings.get("sharpness_method", "?")
        name = f"{run.label}: " if len(runs) > 1 and run.label not in ("run", method) else ""
        for j in range(ev.shape[1]):
            sync.line(f"eig{j}:{i}", run.step[m], ev[m, j], color=colors[j % len(colors)], **style,
                      label=f"{name}{method}, {hvps:,} HVPs" if j == 0 else "_nolegend_")
        _mark_divergence(sync, i, run, run.step[m], ev[m, 0])
    for j, floor in enumerate(_floors(runs)):
        sync.hline(f"floor:{j}", floor, color=_REF, linestyle=":", linewidth=2.0, label=f"2/K = {floor:.3g}")
    sync.finish(*_legend_args(legend, runs, "upper right"))
    _style(ax, "step k", "eigenvalue λ_j of the Hessian", title)
    return ax


def density(result, ax: Axes | None = None, *, eigenvalues: Iterable[float] | None = None, logy: bool = True,
            title: str | None = "Hessian spectral density") -> Axes:
    """A spectral density estimate (``spectrum.spectral_density``: ``grid`` and ``density``).

    Args:
        result: The density result (attributes or keys ``grid`` and ``density``; a ``(grid, density)`` pair
            also works).
        ax: Axes to draw into.
        eigenvalues: Exact eigenvalues to show as a rug under the curve (small problems).
        logy: Log scale on the density axis (the outliers are tiny next to the bulk).
        title: Axes title.

    Returns:
        The Axes. Artists: ``"density:curve"`` (xdata = grid, ydata = density), ``"density:fill"``,
        ``"density:rug"``.

    >>> ax = density((np.linspace(-1, 1, 5), np.array([0.1, 0.5, 1.0, 0.5, 0.1])), logy=False)
    >>> find(ax, "density:curve").get_ydata().tolist()
    [0.1, 0.5, 1.0, 0.5, 0.1]
    """
    if isinstance(result, tuple) and len(result) == 2:
        grid, dens = result
    else:
        grid, dens = _field(result, "grid"), _field(result, "density")
    grid = np.asarray(grid, dtype=float)
    dens = np.asarray(dens, dtype=float)
    if grid.shape != dens.shape:
        raise ValueError(f"grid and density must have the same shape, got {grid.shape} and {dens.shape}")
    ax = _new_ax(ax)
    sync = _Sync(ax, "density")
    sync.line("curve", grid, dens, color=OKABE_ITO["blue"], linewidth=1.8, label="density estimate")
    floor = max(float(np.nanmax(dens)) * 1e-7, 1e-300) if logy else 0.0
    sync.add("fill", ax.fill_between(grid, np.maximum(dens, floor), floor, color=OKABE_ITO["sky_blue"],
                                     alpha=0.35, linewidth=0))
    if eigenvalues is not None:
        ev = np.asarray(list(eigenvalues), dtype=float)
        trans = ax.get_xaxis_transform()
        sync.line("rug", np.repeat(ev, 3), np.tile([0.0, 0.06, np.nan], len(ev)), color=OKABE_ITO["vermillion"],
                  linewidth=1.2, transform=trans, label="exact eigenvalues")
    sync.finish("upper right")
    if logy:
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
    _style(ax, "eigenvalue λ", "density", title)
    return ax


def segment_smoothness(result, ax: Axes | None = None, eta: float | None = None, sharpness: float | None = None,
                       floor: float | None = None, *, title: str | None = "Smoothness along the GD segment"
                       ) -> Axes:
    """The paper's Figure 4: ‖∇f(w) − ∇f(w − s g)‖ / (s‖g‖) against s, log–log.

    Also drawn: its running maximum (the segment smoothness l(w, s) = sup over 0 < s' ≤ s), the guides
    1/s and 2/s (a step s is "large" once l(w, s) ≥ 1/s, and beyond the local descent-lemma guarantee once
    l(w, s) > 2/s), the accepted step η_k (vertical), λ_max and the 2/K floor (horizontal), and the
    curvature along g, gᵀHg/‖g‖², when the result has it.

    Args:
        result: From ``spectrum.segment_smoothness`` (fields ``steps`` and ``smoothness``; also accepted:
            ``s``/``ratios``, and ``rayleigh`` for gᵀHg/‖g‖²), or a dict with those keys.
        ax: Axes to draw into.
        eta: The accepted step η_k at this iterate.
        sharpness: λ_max at this iterate.
        floor: The sharpness floor 2/K (skipped when ``None`` or 0).
        title: Axes title.

    Returns:
        The Axes. Artists: ``"segment_smoothness:curve"`` (xdata = steps, ydata = the ratios),
        ``"segment_smoothness:sup"``, ``"segment_smoothness:eta"``, ``"segment_smoothness:sharpness"``,
        ``"segment_smoothness:floor"``, ``"segment_smoothness:1/s"``, ``"segment_smoothness:2/s"``.

    >>> res = {"steps": np.array([0.01, 0.1, 1.0]), "smoothness": np.array([2.0, 2.0, 3.0])}
    >>> ax = segment_smoothness(res, eta=0.5, sharpness=4.0)
    >>> list(find(ax, "segment_smoothness:eta").get_xdata())
    [0.5, 0.5]
    """
    s = np.asarray(_field(result, "steps", "s", "etas"), dtype=float)
    r = np.asarray(_field(result, "smoothness", "ratios", "ratio", "values"), dtype=float)
    if s.shape != r.shape or s.ndim != 1:
        raise ValueError(f"steps and smoothness must be 1-D of the same length, got {s.shape} and {r.shape}")
    rayleigh = _field(result, "rayleigh", "curvature_along_g", required=False)
    ax = _new_ax(ax)
    sync = _Sync(ax, "segment_smoothness")
    order = np.argsort(s)
    s, r = s[order], r[order]
    sup = np.fmax.accumulate(np.where(np.isfinite(r), r, np.nan))
    sync.line("curve", s, r, color=OKABE_ITO["blue"], linewidth=2.0, marker="o", markersize=3,
              label="‖∇f(w) − ∇f(w − s g)‖ / (s‖g‖)")
    sync.line("sup", s, sup, color=OKABE_ITO["blue"], linestyle="--", linewidth=1.2, alpha=0.7,
              label="l(w, s) = running sup")
    sync.line("1/s", s, 1.0 / s, color=_REF, linestyle=":", linewidth=1.2, label="1/s and 2/s")
    sync.line("2/s", s, 2.0 / s, color=_REF, linestyle=":", linewidth=1.2, label="_nolegend_")
    if rayleigh is not None and np.isfinite(float(np.asarray(rayleigh).ravel()[0])):
        sync.hline("rayleigh", float(np.asarray(rayleigh).ravel()[0]), color=OKABE_ITO["bluish_green"],
                   linestyle="-.", linewidth=1.4, label="gᵀHg/‖g‖²")
    if sharpness is not None and math.isfinite(float(sharpness)):
        sync.hline("sharpness", float(sharpness), color="black", linestyle="--", linewidth=1.5,
                   label=f"λ_max = {float(sharpness):.3g}")
    if floor is not None and math.isfinite(float(floor)) and float(floor) > 0:
        sync.hline("floor", float(floor), color=_REF, linestyle=(0, (1, 1)), linewidth=2.0,
                   label=f"2/K = {float(floor):.3g}")
    if eta is not None and math.isfinite(float(eta)):
        sync.vline("eta", float(eta), color=OKABE_ITO["vermillion"], linewidth=2.0,
                   label=f"accepted η_k = {float(eta):.3g}")
    sync.finish("lower left", relim=False)
    ax.set_xscale("log")
    ax.set_yscale("log")
    vals = [v for v in (*r[np.isfinite(r) & (r > 0)], sharpness, floor) if v is not None and v > 0 and
            math.isfinite(v)]
    if vals:
        # room below the curve for the legend (the 1/s guides pass through the upper left)
        ax.set_ylim(min(vals) / 15.0, max(vals) * 3.0)
    ax.set_xlim(s.min(), s.max())
    _style(ax, "step along −g: s", "smoothness ratio", title)
    return ax


def eigenvalue_snapshots(run: Run, ax: Axes | None = None, *, title: str | None = None) -> Axes:
    """The top and bottom Hessian eigenvalues at a few chosen iterations (``run.eig_steps``/``eig_values``,
    recorded by the Flatland experiment), negative ones included.

    Each snapshot is one marker series against the eigenvalue's rank (largest first); the y axis is
    symmetric-log so that eigenvalues of 0 and small negative ones stay visible next to the 2/K floor.

    Returns:
        The Axes. Artists: ``"snapshots:step{k}"`` per snapshot, ``"snapshots:floor"``.

    >>> run = Run({"loss": np.ones(3), "eig_steps": np.array([0, 2]),
    ...            "eig_values": np.array([[0.5, 0.1, -0.1], [0.2, 0.0, 0.0]])}, {"sharpness_floor": 0.2})
    >>> find(eigenvalue_snapshots(run), "snapshots:step2").get_ydata().tolist()
    [0.2, 0.0, 0.0]
    """
    if not isinstance(run, Run) or "eig_values" not in run.arrays:
        raise ValueError("eigenvalue_snapshots needs a Run with eig_steps and eig_values "
                         "(e.g. a featured run of eostutor.experiments.flatland)")
    ax = _new_ax(ax)
    sync = _Sync(ax, "snapshots")
    steps = np.asarray(run.arrays["eig_steps"]).astype(int)
    values = np.atleast_2d(np.asarray(run.arrays["eig_values"], dtype=float))
    rank = np.arange(1, values.shape[1] + 1)
    markers = "os^Dv<>"
    for j, (k, vals) in enumerate(zip(steps, values)):
        sync.line(f"step{k}", rank, vals, color=_color(j), marker=markers[j % len(markers)], linestyle="none",
                  markersize=6, label=f"step {k}")
    floor = float(run.settings.get("sharpness_floor", 0.0) or 0.0)
    if floor > 0:
        sync.hline("floor", floor, color="0.25", linestyle=":", linewidth=1.6, label=f"2/K = {floor:g}")
    finite = values[np.isfinite(values)]
    small = np.abs(finite[finite != 0]).min() if np.any(finite != 0) else 1e-3
    sync.hline("zero", 0.0, color="0.6", linewidth=0.8)
    sync.finish("upper right")
    ax.set_yscale("symlog", linthresh=max(min(small, 1e-2), 1e-6))
    _style(ax, "eigenvalue rank (largest first)", "Hessian eigenvalue",
           title if title is not None else f"{run.label}: top and bottom eigenvalues")
    return ax
