"""Plots of what the step size does, next to its references (notebooks 04–05).

* :func:`flow_comparison`: GD with several step sizes against gradient flow, in time t = kη (Cohen et al.
  2021): the sharpness of each run follows the flow's until it reaches 2/η, and the distance to the flow
  jumps once the run is at its edge.
* :func:`armijo`: one line search at one step: the loss along −g, the acceptance lines of the monotone
  (Armijo) and the nonmonotone test, the quadratic model and the trials the search made.
* :func:`cycle`: a rule against a constant step on the same problem: loss, step sizes and one coordinate
  of the iterates (NLS locked in a two-step cycle on a quadratic).

Same conventions as the rest of :mod:`eostutor.plots`: data in, Axes out; gids ``"<plot>:<role>"``; legends in
a strip above the Axes (a figure's runs in one strip under its title); at most 900 px wide; a second call on
the same Axes updates it.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from eostutor.plots.curves import _figure_legend, loss, step_size
from eostutor.plots.engine import (
    OKABE_ITO,
    REF_COLOR,
    _as_runs,
    _color,
    _finite,
    _legend_args,
    _new_ax,
    _plain_number,
    _positive_limits,
    _style,
    _Sync,
    figure,
    find,  # noqa: F401  (used by the doctests)
)
from eostutor.plots.landscape import iterates

__all__ = ["flow_comparison", "armijo", "cycle"]

FLOW_COLOR = "#000000"


def _check_figure(fig: Figure | None, size, projector: bool, labels: list[str], ncols: int) -> list[Axes]:
    """The figure's Axes labelled ``labels`` (made on a new or cleared figure when they are not there)."""
    if fig is None:
        fig = figure(size, projector=projector)
    existing = {a.get_label(): a for a in fig.axes}
    if set(existing) != set(labels):
        fig.clear()
        made = fig.subplots(1, ncols, squeeze=False).ravel()
        for a, label in zip(made, labels):
            a.set_label(label)
        existing = {a.get_label(): a for a in made}
    return [existing[label] for label in labels]


def flow_comparison(comparison, fig: Figure | None = None, *,
                    title: str | None = "Gradient descent follows gradient flow until λ_max reaches 2/η",
                    log_distance: bool = True, projector: bool = False) -> tuple[Figure, dict[str, Axes]]:
    """GD runs against gradient flow in time t = kη: sharpness (left) and distance to the flow (right).

    Left: the flow's λ_max (black) and each run's λ_max at its measured steps, with its 2/η (dashed, in the
    run's colour); a ring marks where the run first reaches 2/η. Right: ‖w_k − w(kη)‖ / ‖w(kη) − w_0‖, the
    distance to the flow relative to the distance the flow has travelled, with the same moments dotted.

    Args:
        comparison: A :class:`eostutor.experiments.flow.FlowComparison` (or anything with ``flow`` and
            ``runs`` whose runs carry ``flow_distance`` and ``flow_travelled``).
        fig: Figure to draw into (updated in place when it already holds this plot).
        title: Figure title: say what it shows.
        log_distance: Distance on a log scale.
        projector: Larger text at 150 dpi (a new figure only).

    Returns:
        ``(figure, axes)``, axes ``{"sharpness": …, "distance": …}``. Artists: ``"flow_sharpness:flow"``,
        ``"flow_sharpness:line:i"`` (xdata = step·η), ``"flow_sharpness:2/eta:i"``, ``"flow_sharpness:edge:i"``,
        ``"flow_distance:line:i"``, ``"flow_distance:edge:i"``.
    """
    flow = comparison.flow
    runs = _as_runs(list(comparison.runs.values()))
    ax_s, ax_d = _check_figure(fig, (9.0, 3.9 if title else 3.5), projector,
                               ["flow_comparison:sharpness", "flow_comparison:distance"], 2)
    fig = ax_s.get_figure(root=True)
    s = _Sync(ax_s, "flow_sharpness")
    d = _Sync(ax_d, "flow_distance")
    m = np.isfinite(flow.sharpness)
    s.line("flow", flow.time[m], flow.sharpness[m], color=FLOW_COLOR, linewidth=2.6, zorder=2, label=flow.label)
    top = [float(np.nanmax(flow.sharpness))]
    drawn = []
    for i, run in enumerate(runs):  # the runs first, the reference lines after: the legend reads that way
        eta = float(np.nanmedian(_finite(run.eta)))
        meas = run.measured
        t = run.step[meas] * eta
        s.line(f"line:{i}", t, run.sharpness[meas], color=_color(i), linewidth=1.6, marker="o", markersize=3.2,
               zorder=3, label=run.label)
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = _finite(run.arrays["flow_distance"]) / _finite(run.arrays["flow_travelled"])
        ok = np.isfinite(dist) & (run.step > 0)
        d.line(f"line:{i}", run.step[ok] * eta, dist[ok], color=_color(i), linewidth=1.6, marker="o",
               markersize=3.0, zorder=3, label=run.label)
        drawn.append((eta, t, run.sharpness[meas]))
    for i, (eta, t, sharp) in enumerate(drawn):
        edge = 2.0 / eta
        s.line(f"2/eta:{i}", [0.0, float(flow.time[-1])], [edge, edge], color=_color(i), linestyle="--",
               linewidth=1.2, alpha=0.9, zorder=1, label="2/η of each run (dashed)" if i == 0 else "_nolegend_")
        reached = np.flatnonzero(sharp >= edge)
        if reached.size:
            k = int(reached[0])
            s.line(f"edge:{i}", [t[k]], [sharp[k]], linestyle="none", marker="o", markersize=11,
                   markerfacecolor="none", markeredgecolor=_color(i), markeredgewidth=1.8, zorder=5,
                   label="λ_max reaches 2/η" if i == 0 else "_nolegend_")
            d.vline(f"edge:{i}", float(t[k]), color=_color(i), linestyle=":", linewidth=1.4, zorder=1,
                    label="the same moment (dotted)" if i == 0 else "_nolegend_")
        top += [edge, float(np.nanmax(sharp))]
    s.finish(None)
    d.finish(None)
    ax_s.set_ylim(0.0, 1.1 * max(top))
    ax_s.set_xlim(0.0, float(flow.time[-1]))
    ax_d.set_xlim(0.0, float(flow.time[-1]))
    if log_distance:
        ax_d.set_yscale("log")
        _positive_limits(ax_d)
    _style(ax_s, "time t = kη", "sharpness λ_max", None)
    _style(ax_d, "time t = kη", "‖w_k − w(kη)‖ / ‖w(kη) − w_0‖", None)
    _figure_legend(fig, [ax_s, ax_d], title, runs, ncols=4)
    return fig, {"sharpness": ax_s, "distance": ax_d}


def armijo(picture, ax: Axes | None = None, *, title: str | None = "One line search along −g",
           legend=True, monotone: bool = True, projector: bool = False) -> Axes:
    """The loss along −g at one step, the acceptance line(s), the quadratic model and the trials.

    A trial η is accepted when the loss curve is on or under the acceptance line R − cη‖g‖²: the nonmonotone
    line starts at R (above f when the loss has been falling), the monotone Armijo line at f. The quadratic
    model f − η‖g‖² + ½η²·gᵀHg returns to f at η = 2/a (the model's own edge, dotted).

    Args:
        picture: An :class:`eostutor.experiments.armijo.ArmijoPicture`.
        ax: Axes to draw into (default: a new figure).
        title: Axes title.
        legend: ``True`` or ``False``.
        monotone: Also draw the monotone (Armijo, R = f) line when R > f.
        projector: Larger text at 150 dpi (a new figure only).

    Returns:
        The Axes. Artists: ``"armijo:loss"`` (ydata = ``picture.loss``), ``"armijo:model"``, ``"armijo:line"``
        (the nonmonotone line, or the monotone one when R = f), ``"armijo:monotone"``, ``"armijo:edge"``,
        ``"armijo:passed"``, ``"armijo:failed"``, ``"armijo:accepted"``.

    >>> from eostutor.experiments.armijo import armijo_picture
    >>> from eostutor.problems import Quadratic
    >>> ax = armijo(armijo_picture(Quadratic([1.0]), [1.0], eta_start=0.5))
    >>> find(ax, "armijo:accepted").get_xdata().tolist(), find(ax, "armijo:failed").get_xdata().tolist()
    ([1.0], [2.0])
    """
    ax = _new_ax(ax, (8.0, 4.4), projector=projector)
    sync = _Sync(ax, "armijo")
    eta = picture.eta
    nonmonotone = picture.reference > picture.f * (1 + 1e-12)
    sync.line("loss", eta, picture.loss, color=_color(0), linewidth=2.2, zorder=3, label="loss along −g: f(w_k − ηg_k)")
    sync.line("model", eta, picture.model, color=REF_COLOR, linestyle="--", linewidth=1.3, zorder=2,
              label="quadratic model")
    if nonmonotone:
        sync.line("line", eta, picture.line(), color=OKABE_ITO["vermillion"], linewidth=1.8, zorder=2,
                  label="NLS line R_k − cη‖g_k‖²")
        if monotone:
            sync.line("monotone", eta, picture.line(picture.f), color=OKABE_ITO["bluish_green"], linestyle="-.",
                      linewidth=1.6, zorder=2, label="Armijo (LS) line f_k − cη‖g_k‖²")
    else:
        sync.line("line", eta, picture.line(), color=OKABE_ITO["bluish_green"], linestyle="-.", linewidth=1.6,
                  zorder=2, label="Armijo line f_k − cη‖g_k‖²")
    if np.isfinite(picture.monotone_limit) and picture.monotone_limit <= eta[-1]:
        sync.vline("edge", 2.0 / picture.curvature, color=REF_COLOR, linestyle=":", linewidth=1.3, zorder=1,
                   label=f"2/a = {2.0 / picture.curvature:.3g}: model back at f_k")
    trials = np.array([(t[0], t[1]) for t in picture.trials], dtype=float).reshape(-1, 2)
    passed = np.array([bool(t[2]) for t in picture.trials], dtype=bool)
    if passed.any():
        sync.line("passed", trials[passed, 0], trials[passed, 1], linestyle="none", marker="o", markersize=7,
                  color="black", markeredgecolor="black", markeredgewidth=0.6, zorder=5,
                  label="trial passed")
    if (~passed).any():
        sync.line("failed", trials[~passed, 0], trials[~passed, 1], linestyle="none", marker="X", markersize=9,
                  color=OKABE_ITO["vermillion"], markeredgecolor="black", markeredgewidth=0.6, zorder=5,
                  label="trial failed")
    accepted = picture.eta_accepted
    value = float(np.interp(accepted, eta, picture.loss)) if passed.any() else np.nan
    for e, v, ok in picture.trials:
        if ok and e == accepted:
            value = v
    sync.line("accepted", [accepted], [value], linestyle="none", marker="o", markersize=15, markerfacecolor="none",
              markeredgecolor="black", markeredgewidth=1.6, zorder=6, label=f"accepted η = {accepted:.3g}")
    sync.finish(*_legend_args(legend, []), ncol=3, relim=False)
    # y-range: the region where the decision is made (f to R and the curve's dip), not the curve's far climb
    low = float(min(np.nanmin(picture.loss), np.nanmin(picture.model)))
    high = float(max(picture.reference, picture.f, np.nanmax(trials[:, 1]) if trials.size else picture.f))
    pad = 0.12 * (high - low + 1e-12)
    ax.set_xlim(0.0, float(eta[-1]))
    ax.set_ylim(low - pad, high + pad)
    _style(ax, "trial step size η", "loss", title)
    return ax


def cycle(runs, fig: Figure | None = None, *, coordinate: int = 1, title: str | None = None,
          loss_floor: float = 1e-20, log_steps: bool = True, projector: bool = False) -> tuple[Figure, dict[str, Axes]]:
    """Rules side by side on a small problem: loss (all runs), step sizes (all runs) and one coordinate of
    the iterates of the first run (symmetric log scale: a two-step cycle shows as two rows of dots).

    Args:
        runs: Runs of the same problem with their iterates recorded (``record_params``), the rule of
            interest first.
        fig: Figure to draw into (updated in place when it already holds this plot).
        coordinate: The coordinate of w shown in the third panel (1: the sharp direction of
            ``Quadratic([1, 10])``).
        title: Figure title.
        loss_floor: The loss panel ends here; a run whose loss goes below it is marked ▼ where it leaves the
            panel (its legend entry gives the step), so that 10⁻³⁰⁰ does not squash everything else.
        log_steps: Steps on a log axis (from step 1): events whose spacing doubles come out evenly spaced.
        projector: Larger text at 150 dpi (a new figure only).

    Returns:
        ``(figure, axes)``, axes ``{"loss": …, "step_size": …, "iterates": …}``. Artists: those of
        :func:`eostutor.plots.loss`, :func:`~eostutor.plots.step_size` and :func:`~eostutor.plots.iterates`,
        plus ``"cycle_loss:below:i"``.

    >>> from eostutor.problems import Quadratic
    >>> from eostutor.training import train
    >>> q = Quadratic([1.0, 10.0])
    >>> fig, axes = cycle([train(q, 0.125, 50, record_params=True), train(q, 0.19, 50, record_params=True)])
    >>> round(fig.get_size_inches()[0] * fig.dpi), sorted(axes)
    (900, ['iterates', 'loss', 'step_size'])
    """
    runs = _as_runs(runs)
    if "params" not in runs[0].arrays:
        raise ValueError("cycle needs the iterates of the first run: train it with record_params=True")
    axes = _check_figure(fig, (9.0, 3.6 if title else 3.2), projector,
                         ["cycle:loss", "cycle:step_size", "cycle:iterates"], 3)
    fig = axes[0].get_figure(root=True)
    loss(runs, ax=axes[0], title=None, legend=False)
    sync = _Sync(axes[0], "cycle_loss")
    lows = []
    for i, run in enumerate(runs):
        y = _finite(run.loss)
        below = np.flatnonzero(y < loss_floor)
        if below.size:
            k = int(below[0])
            sync.line(f"below:{i}", [max(k, 1)], [loss_floor], linestyle="none", marker="v", markersize=9,
                      color=_color(i), markeredgecolor="black", markeredgewidth=0.6, clip_on=False, zorder=6,
                      label=f"{run.label}: below {_plain_number(loss_floor)} from step {k}")
        lows.append(np.nanmin(y[y >= loss_floor]) if (y >= loss_floor).any() else loss_floor)
    sync.finish(None, relim=False)
    highs = [np.nanmax(_finite(r.loss)) for r in runs]
    axes[0].set_ylim(max(loss_floor, min(lows) / 3), 3 * max(highs))
    step_size(runs, ax=axes[1], title=None, legend=False, threshold=False)
    axes[1].set_yscale("linear")
    eta_top = max(np.nanmax(_finite(r.eta)) for r in runs)
    axes[1].set_ylim(0.0, 1.15 * eta_top)
    iterates(runs[0], ax=axes[2], coordinate=coordinate, title=None, legend=False)
    axes[2].set_ylabel(f"w_k[{coordinate}] of {runs[0].label}")
    if log_steps:
        last = max(r.num_steps for r in runs)
        for a in axes:
            a.set_xscale("log")
            a.set_xlim(1, last)
    for a, (xl, yl) in zip(axes, [("step k", "loss f(w_k)"), ("step k", "step size η_k"),
                                   ("step k", axes[2].get_ylabel())]):
        _style(a, xl, yl, None)
    _figure_legend(fig, axes, title, runs)
    return fig, dict(zip(("loss", "step_size", "iterates"), axes))


