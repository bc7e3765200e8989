"""Pictures of the closed-form theory: GD's rate against η, momentum's stability region, the
self-stabilization map (notebooks 01 and 03).

They draw what :mod:`eostutor.experiments.theory` computes and never compute anything themselves. Same
conventions as the rest of :mod:`eostutor.plots`: data in, Axes out; gids ``"<plot>:<role>"``; the legend in a
strip above the Axes; a second call on the same Axes updates it; ``projector=True`` for larger text.
"""

from __future__ import annotations

import weakref

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from eostutor.plots.engine import (
    FONT,
    OKABE_ITO,
    REF_COLOR,
    RUN_COLORS,
    _color,
    _new_ax,
    _plain_number,
    _style,
    _Sync,
    figure,
    find,  # noqa: F401  (used by the doctests)
)
from eostutor.plots.landscape import SEQUENTIAL

__all__ = ["convergence_rate", "momentum_region", "self_stabilization", "self_stabilization_series",
           "self_stabilization_figure"]

# The colour bar of each Axes showing a momentum region (one, however often the plot is redrawn).
_COLORBARS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def convergence_rate(curve, ax: Axes | None = None, *,
                     title: str | None = "GD converges fastest at η* = 2/(λ_min + λ_max)", legend: bool = True,
                     projector: bool = False) -> Axes:
    """The contraction per step ρ(η) = max_λ |1 − ηλ| of GD on a quadratic against η, with each direction's
    factor |1 − ηλ| dotted, the rates measured on GD runs as dots, the fastest step size η* starred, ρ = 1 and
    2/λ_max dashed.

    Args:
        curve: A :class:`~eostutor.experiments.theory.RateCurve` (``eos.experiments.theory.rate_curve()``).
        ax: Axes to draw into (default: a new figure).
        title: Axes title.
        legend: Legend strip above the Axes.
        projector: Larger text at 150 dpi (a new figure only).

    Returns:
        The Axes. Artists: ``"rate:rate"`` (ydata = ``curve.rate``), ``"rate:factor:i"`` (one per eigenvalue),
        ``"rate:measured"`` (the runs' measured rates), ``"rate:best"``, ``"rate:one"``, ``"rate:edge"``.

    >>> from eostutor.experiments.theory import rate_curve
    >>> curve = rate_curve([1.0, 10.0], measure=[0.05])
    >>> find(convergence_rate(curve), "rate:measured").get_ydata().round(4).tolist()
    [0.95]
    """
    ax = _new_ax(ax, figsize=(7.6, 4.6), projector=projector)
    sync = _Sync(ax, "rate")
    lam = np.asarray(curve.eigenvalues, dtype=float)
    top = 1.6
    colors = [c for c in RUN_COLORS if c != OKABE_ITO["vermillion"]]  # vermillion marks the measured rates
    for i, value in enumerate(lam):
        which = " (sharpest)" if value == lam.max() else (" (flattest)" if value == lam.min() else "")
        sync.line(f"factor:{i}", curve.etas, np.minimum(curve.factors[:, i], top), color=colors[i % len(colors)],
                  linestyle=":", linewidth=2.0, label=f"|1 − ηλ|, λ = {_plain_number(value)}{which}")
    sync.line("rate", curve.etas, np.minimum(curve.rate, top), color="black", linewidth=2.4, zorder=3,
              label="ρ(η) = max |1 − ηλ|")
    sync.line("measured", curve.measured_etas, np.minimum(curve.measured, top), marker="o", markersize=7,
              linestyle="none", color=OKABE_ITO["vermillion"], markeredgecolor="black", markeredgewidth=0.6,
              zorder=5, label="measured on GD runs")
    sync.line("best", [curve.eta_best], [curve.rate_best], marker="*", markersize=17, linestyle="none",
              color=OKABE_ITO["yellow"], markeredgecolor="black", markeredgewidth=0.9, zorder=6,
              label="fastest: η* = 2/(λ_min + λ_max)")
    sync.hline("one", 1.0, color=REF_COLOR, linestyle="--", linewidth=1.3, zorder=2, label="ρ = 1 (above: diverges)")
    sync.vline("edge", curve.edge, color="black", linestyle="--", linewidth=1.3, zorder=2, label="η = 2/λ_max")
    sync.finish("above" if legend else None, ncol=3, relim=False)
    ax.set_xlim(0.0, float(np.max(curve.etas)))
    ax.set_ylim(0.0, min(top, 1.08 * max(float(np.max(curve.rate)), float(np.max(curve.measured)), 1.0)))
    _style(ax, "step size η", "contraction per step ρ(η)", title)
    return ax


def momentum_region(region, ax: Axes | None = None, *, spectra: dict | None = None,
                    title: str | None = "Heavy ball converges for η·λ < 2(1 + β): momentum widens GD's range",
                    legend: bool = True, projector: bool = False) -> Axes:
    """Heavy-ball momentum's rate over the (η·λ, β) plane: colour = contraction per step where it converges,
    grey where it diverges, with heavy ball's edge 2(1 + β), Nesterov's edge (2 + 2β)/(1 + 2β) and the
    ripple band (complex roots, rate √β) between dotted curves. β = 0 is plain GD (edge η·λ = 2).

    Args:
        region: A :class:`~eostutor.experiments.theory.MomentumRegion`.
        ax: Axes to draw into (default: a new figure).
        spectra: ``label -> (eta, beta, eigenvalues)``: a quadratic's spectrum under these settings, drawn as
            the points η·λ on the line β (joined), e.g. ``{"η = 0.25, β = 0.5": (0.25, 0.5, [1, 10])}``.
        title: Axes title.
        legend: Legend strip above the Axes.
        projector: Larger text at 150 dpi (a new figure only).

    Returns:
        The Axes. Artists: ``"momentum:rate"`` (the colour mesh), ``"momentum:diverges"``, ``"momentum:edge"``
        (xdata = 2(1 + β)), ``"momentum:nesterov"``, ``"momentum:ripple_low"``/``"momentum:ripple_high"``,
        ``"momentum:spectrum:i"``.

    >>> from eostutor.experiments.theory import momentum_region as region_of
    >>> ax = momentum_region(region_of(betas=[0.0, 0.5]))
    >>> find(ax, "momentum:edge").get_xdata().tolist()
    [2.0, 3.0]
    """
    ax = _new_ax(ax, figsize=(8.4, 4.8), projector=projector)
    sync = _Sync(ax, "momentum")
    h, b = np.asarray(region.eta_lambda, dtype=float), np.asarray(region.betas, dtype=float)
    rate = np.asarray(region.rate, dtype=float)
    mesh = ax.pcolormesh(h, b, np.ma.masked_where(rate >= 1.0, rate), cmap=SEQUENTIAL, vmin=0.0, vmax=1.0,
                         shading="nearest", zorder=0, rasterized=True)
    sync.add("rate", mesh)
    edge = region.edge(b)
    sync.add("diverges", ax.fill_betweenx(b, np.minimum(edge, h.max()), h.max(), facecolor="white",
                                          edgecolor="0.6", hatch="///", linewidth=0, zorder=0.5, label="diverges"))
    sync.line("edge", edge, b, color="black", linewidth=2.2, zorder=3, label="heavy ball's edge 2(1 + β)")
    sync.line("nesterov", region.edge(b, nesterov=True), b, color=OKABE_ITO["vermillion"], linestyle="--",
              linewidth=2.0, zorder=3, label="Nesterov's edge (2 + 2β)/(1 + 2β)")
    low, high = region.ripple(b)
    ripple = OKABE_ITO["reddish_purple"]
    sync.line("ripple_low", low, b, color=ripple, linestyle=":", linewidth=2.2, zorder=3,
              label="ripples between the dotted curves (rate √β)")
    sync.line("ripple_high", high, b, color=ripple, linestyle=":", linewidth=2.2, zorder=3)
    for i, (label, (eta, beta, eigenvalues)) in enumerate((spectra or {}).items()):
        points = float(eta) * np.sort(np.asarray(eigenvalues, dtype=float))
        color = ("#B37400", OKABE_ITO["bluish_green"], OKABE_ITO["blue"])[i % 3]  # not the edges' colours
        sync.line(f"spectrum:{i}", points, np.full(points.size, float(beta)), color=color, marker="o",
                  markersize=8, linewidth=2.4, markeredgecolor="white", markeredgewidth=1.2, zorder=5,
                  label=label)
    sync.finish("above" if legend else None, ncol=2, relim=False)
    if ax not in _COLORBARS:
        bar = _COLORBARS[ax] = ax.get_figure(root=True).colorbar(mesh, ax=ax, pad=0.02, fraction=0.06)
        bar.set_label("contraction per step (dark = fast)", fontsize=FONT["label"])
        bar.ax.tick_params(labelsize=FONT["tick"])
    else:
        _COLORBARS[ax].update_normal(mesh)
    ax.set_xlim(float(h.min()), float(h.max()))
    ax.set_ylim(float(b.min()), float(b.max()))
    _style(ax, "η·λ (step size × eigenvalue)", "momentum β", title)
    ax.grid(False)  # (after _style, which turns the grid on)
    return ax


def _orbits(orbits) -> list:
    out = list(orbits) if isinstance(orbits, (list, tuple)) else [orbits]
    if not out or not all(hasattr(o, "amplitude") and hasattr(o, "y") for o in out):
        raise ValueError("pass an orbit of eostutor.experiments.theory.self_stabilization (or a list of them)")
    return out


def self_stabilization(orbits, ax: Axes | None = None, *,
                       title: str | None = "The self-stabilization map loops around the edge λ_max = 2/η",
                       legend: bool = True, projector: bool = False) -> Axes:
    """The plane of Damian et al.'s reduced map: the oscillation (−1)^k x_k against y = λ_max − 2/η, one
    curve per orbit, its start circled; for α > 0 the equilibrium (√(2α/β), 0) marked +.

    Args:
        orbits: One :class:`~eostutor.experiments.theory.SelfStabilization` or a list of them.
        ax: Axes to draw into (default: a new figure).
        title: Axes title.
        legend: Legend strip above the Axes: ``True``, ``False`` or ``"markers"`` (only the start and the
            equilibrium, when another panel names the orbits).
        projector: Larger text at 150 dpi (a new figure only).

    Returns:
        The Axes. Artists: ``"selfstab:path:i"`` (xdata = ``orbit.amplitude``, ydata = ``orbit.y``),
        ``"selfstab:start:i"``, ``"selfstab:equilibrium:i"``, ``"selfstab:edge"``.

    >>> from eostutor.experiments.theory import self_stabilization as orbit_of
    >>> ax = self_stabilization(orbit_of(num_steps=3))
    >>> find(ax, "selfstab:path:0").get_ydata().round(6).tolist()
    [0.0, 0.000396, 0.000792, 0.001188]
    """
    orbits = _orbits(orbits)
    ax = _new_ax(ax, figsize=(6.4, 4.6), projector=projector)
    sync = _Sync(ax, "selfstab")
    sync.hline("edge", 0.0, color="black", linestyle="--", linewidth=1.3, zorder=2, label="y = 0: λ_max = 2/η")
    for i, orbit in enumerate(orbits):
        color = _color(i)
        sync.line(f"path:{i}", orbit.amplitude, orbit.y, color=color, linewidth=1.5, zorder=3, label=orbit.label())
        sync.line(f"start:{i}", orbit.amplitude[:1], orbit.y[:1], marker="o", markersize=9, linestyle="none",
                  color="white", markeredgecolor="black", zorder=5, label="start" if i == 0 else "_nolegend_")
        if orbit.alpha > 0:
            x_eq, y_eq = orbit.equilibrium
            sync.line(f"equilibrium:{i}", [x_eq], [y_eq], marker="P", markersize=11, linestyle="none",
                      color=color, markeredgecolor="white", zorder=6,
                      label="equilibrium (√(2α/β), 0)" if len(orbits) == 1 else f"equilibrium, {orbit.label()}")
    hide = {"y = 0: λ_max = 2/η", *(o.label() for o in orbits)} if legend == "markers" else set()
    sync.finish("above" if legend else None, hide=hide, ncol=2)
    _style(ax, "oscillation (−1)^k x_k", "y = λ_max − 2/η", title)
    return ax


def self_stabilization_series(orbits, ax: Axes | None = None, *,
                              title: str | None = "Sharpness excess y_k = λ_max − 2/η", legend: bool = True,
                              projector: bool = False) -> Axes:
    """y_k = λ_max − 2/η of each orbit against the step k, with the edge y = 0 dashed.

    Returns:
        The Axes. Artists: ``"selfstab_y:line:i"`` (ydata = ``orbit.y``), ``"selfstab_y:edge"``.

    >>> from eostutor.experiments.theory import self_stabilization as orbit_of
    >>> find(self_stabilization_series(orbit_of(num_steps=2)), "selfstab_y:line:0").get_xdata().tolist()
    [0, 1, 2]
    """
    orbits = _orbits(orbits)
    ax = _new_ax(ax, figsize=(6.4, 4.2), projector=projector)
    sync = _Sync(ax, "selfstab_y")
    sync.hline("edge", 0.0, color="black", linestyle="--", linewidth=1.3, zorder=2, label="y = 0: λ_max = 2/η")
    for i, orbit in enumerate(orbits):
        sync.line(f"line:{i}", orbit.steps, orbit.y, color=_color(i), linewidth=1.6, zorder=3, label=orbit.label())
    sync.finish("above" if legend else None, ncol=2)
    _style(ax, "step k", "y_k = λ_max − 2/η", title)
    return ax


def self_stabilization_figure(orbits, *, title: str | None = None, projector: bool = False
                              ) -> tuple[Figure, dict[str, Axes]]:
    """The map's orbits in time (left: y_k against k) and in the plane (right: (−1)^k x_k against y_k).

    Returns:
        ``(fig, {"series": Axes, "plane": Axes})``.
    """
    orbits = _orbits(orbits)
    fig = figure((9.0, 4.4), projector=projector)
    left, right = fig.subplots(1, 2)
    self_stabilization_series(orbits, left, title="In time", legend=True)
    self_stabilization(orbits, right, title="In the plane", legend="markers")
    if title:
        fig.suptitle(title, fontsize=FONT["title"])
    return fig, {"series": left, "plane": right}
