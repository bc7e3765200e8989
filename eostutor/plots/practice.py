"""Plots of Adam and mini-batch SGD runs at their own edges (notebook 08).

Each optimizer is stable on a quadratic while *its* curvature is below *its* threshold: λ_max(H) < 2/η for GD,
the preconditioned sharpness λ_max(P⁻¹H) < (2+2β₁)/((1−β₁)η) for Adam (38/η at β₁ = 0.9), and for mini-batch
SGD the batch sharpness E_B[g_Bᵀ H_B g_B / ‖g_B‖²] near 2/η. These plots draw that curvature with that
threshold, and say on the axis which one it is, so that Adam's run is never compared with 2/η.

Same conventions as the rest of :mod:`eostutor.plots`: data in, Axes out; gids ``"<plot>:<role>:<i>"``; the
legend in a strip above the Axes; a second call on the same Axes updates it.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from eostutor.plots.engine import (
    FONT,
    _as_runs,
    _color,
    _finite,
    _legend_args,
    _mark_divergence,
    _new_ax,
    _plain_number,
    _run_label,
    _series,
    _style,
    _Sync,
    figure,
    find,  # noqa: F401  (used by the doctests)
)
from eostutor.record import Run

__all__ = ["threshold_text", "curvature_name", "edge_ratio", "preconditioned_sharpness", "batch_sharpness",
           "adam_figure", "sgd_figure"]


def threshold_text(run: Run, short: bool = False) -> str:
    """How the run's stability threshold reads in a legend: ``"2/η"``, ``"(2+2β₁)/((1−β₁)η) = 38/η"`` (Adam,
    β₁ = 0.9; ``"38/η"`` with ``short``), ...

    >>> run = Run({"loss": np.ones(1)}, {"rule": "adam", "rule_params": {"eta": 0.001, "beta1": 0.9},
    ...                                  "stability_threshold": 38000.0,
    ...                                  "threshold_applies_to": "preconditioned_sharpness"})
    >>> threshold_text(run), threshold_text(run, short=True)
    ('(2+2β₁)/((1−β₁)η) = 38/η', '38/η')
    """
    s = run.settings
    eta = s.rule_params.get("eta")
    level = s.stability_threshold
    if level is None or not isinstance(eta, (int, float)) or not math.isfinite(level):
        return "threshold"
    factor = _plain_number(float(level) * float(eta))
    if short:
        return f"{factor}/η"
    if s.rule == "adam":
        return f"(2+2β₁)/((1−β₁)η) = {factor}/η"
    if s.momentum > 0:
        return f"{'(2+2β)/((1+2β)η)' if s.nesterov else '2(1+β)/η'} = {factor}/η"
    return "2/η"


def curvature_name(run: Run) -> str:
    """The curvature the run's threshold bounds: ``"λ_max"`` or ``"λ_max(P⁻¹H)"``."""
    return "λ_max(P⁻¹H)" if run.settings.threshold_applies_to == "preconditioned_sharpness" else "λ_max"


def _ratio(run: Run, values) -> np.ndarray:
    level = run.settings.stability_threshold
    if level is None or not math.isfinite(level) or level <= 0:
        return np.full(run.num_steps, np.nan)
    return _finite(values) / float(level)


def _ratios(sync: _Sync, runs, values_of, *, top_cap: float, label_of, linestyle="-",
            color_of=None) -> list[np.ndarray]:
    """Each run's ratio series (markers when sparse), values above ``top_cap`` marked ▲ at the top."""
    drawn = []
    off_label = f"above {top_cap:g} (drawn at the top)"
    for i, run in enumerate(runs):
        color = _color(i) if color_of is None else color_of(i)
        y = _ratio(run, values_of(run))
        m = np.isfinite(y)
        x, y = run.step[m], y[m]
        drawn.append(y)
        _series(sync, f"line:{i}", x, np.minimum(y, top_cap), color, label_of(run), linewidth=1.8,
                linestyle=linestyle, markers=m.sum() <= 60, zorder=3)
        above = y > top_cap
        if above.any():
            sync.line(f"off_scale:{i}", x[above], np.full(above.sum(), top_cap), linestyle="none", marker="^",
                      markersize=7, color=color, markeredgecolor="black", markeredgewidth=0.6, clip_on=False,
                      zorder=6, label=off_label)
            off_label = "_nolegend_"
        _mark_divergence(sync, i, run, x, np.minimum(y, top_cap))
    return drawn


def _ratio_limits(ax: Axes, drawn, top_cap: float) -> None:
    y = np.concatenate(drawn) if drawn else np.array([])
    y = y[np.isfinite(y)]
    top = min(max(1.25, float(y.max()) * 1.08 if y.size else 1.25), top_cap)
    ax.set_ylim(0.0, top)


def edge_ratio(runs, ax: Axes | None = None, *, title: str | None = "Each optimizer at its own edge", legend=True,
               top: float = 2.0, projector: bool = False, _labels=None) -> Axes:
    """The curvature each run's rule is stable against, divided by its threshold: λ_max/(2/η) for GD and SGD,
    λ_max(P⁻¹H)/((2+2β₁)/((1−β₁)η)) for Adam, λ_max(P⁻¹H)/(2/η) for RMSProp. At 1 a run is at its own edge.

    Args:
        runs: A Run or a list of Runs (with sharpness, or preconditioned sharpness, measurements).
        ax: Axes to draw into (default: a new figure).
        title: Axes title.
        legend: ``True``, ``"references"`` or ``False``.
        top: Ratios above this are drawn at the top as ▲ (the first Adam step with β₁ = 0 starts far above).
        projector: Larger text at 150 dpi (a new figure only).

    Returns:
        The Axes. Artists: ``"edge_ratio:line:i"`` (ydata = the ratio at the measured steps, capped at
        ``top``), ``"edge_ratio:one"``, ``"edge_ratio:off_scale:i"``.

    >>> run = Run({"loss": np.ones(2), "sharpness": np.array([5.0, 10.0])},
    ...           {"rule": "constant", "rule_params": {"eta": 0.1}, "stability_threshold": 20.0})
    >>> find(edge_ratio(run), "edge_ratio:line:0").get_ydata().tolist()
    [0.25, 0.5]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax, projector=projector)
    sync = _Sync(ax, "edge_ratio")
    multi = len(runs) > 1
    drawn = _ratios(sync, runs, lambda run: run.threshold_curvature, top_cap=top,
                    label_of=_labels or (lambda r: f"{_run_label(r)}: {curvature_name(r)} / ({threshold_text(r, True)})"
                                         if multi else f"{curvature_name(r)} / ({threshold_text(r)})"))
    sync.hline("one", 1.0, color="black", linestyle="--", linewidth=1.4, zorder=2, label="1: at its own edge")
    sync.finish(*_legend_args(legend, runs if multi else []), ncol=2 if multi else 4)
    _ratio_limits(ax, drawn, top)
    _style(ax, "step k", "curvature / its threshold", title)
    return ax


def preconditioned_sharpness(runs, ax: Axes | None = None, *,
                             title: str | None = "Preconditioned sharpness λ_max(P⁻¹H)", threshold: bool = True,
                             legend=True, projector: bool = False) -> Axes:
    """λ_max(P⁻¹H) = λ_max(P^{-1/2} H P^{-1/2}) of Adam or RMSProp runs at the measured steps, with each run's
    threshold ((2+2β₁)/((1−β₁)η) for Adam: 38/η at β₁ = 0.9; 2/η for RMSProp) dashed.

    Args:
        runs: A Run or a list of Runs of preconditioned rules.
        ax: Axes to draw into (default: a new figure).
        title: Axes title.
        threshold: Draw the thresholds.
        legend: ``True``, ``"references"`` or ``False``.
        projector: Larger text at 150 dpi (a new figure only).

    Returns:
        The Axes. Artists: ``"preconditioned:line:i"`` (ydata = ``run.preconditioned_sharpness`` at the
        measured steps), ``"preconditioned:threshold:i"``.

    Raises:
        ValueError: If no run has a preconditioned sharpness (a GD run: plot its sharpness instead).

    >>> run = Run({"loss": np.ones(2), "preconditioned_sharpness": np.array([1e4, 3e4])},
    ...           {"rule": "adam", "rule_params": {"eta": 0.001, "beta1": 0.9}, "stability_threshold": 38000.0,
    ...            "threshold_applies_to": "preconditioned_sharpness"})
    >>> ax = preconditioned_sharpness(run)
    >>> find(ax, "preconditioned:threshold:0").get_label()
    '(2+2β₁)/((1−β₁)η) = 38/η = 38000'
    """
    runs = _as_runs(runs)
    if not any(np.isfinite(r.preconditioned_sharpness).any() for r in runs):
        raise ValueError("no run has a preconditioned sharpness: train Adam or RMSProp with sharpness_every > 0 "
                         "(for GD, plot eostutor.plots.sharpness)")
    ax = _new_ax(ax, projector=projector)
    sync = _Sync(ax, "preconditioned")
    multi = len(runs) > 1
    values, seen = [], []
    for i, run in enumerate(runs):
        m = np.isfinite(run.preconditioned_sharpness)
        x, y = run.step[m], run.preconditioned_sharpness[m]
        values.append(y)
        _series(sync, f"line:{i}", x, y, _color(i), _run_label(run) if multi else "λ_max(P⁻¹H)", linewidth=1.8,
                markers=m.sum() <= 60, zorder=3)
        _mark_divergence(sync, i, run, x, y)
        level = run.settings.stability_threshold
        if threshold and level is not None and math.isfinite(level):
            text = f"{threshold_text(run)} = {_plain_number(level)}"
            repeated = any(abs(level - s) <= 1e-9 * level for s in seen)
            sync.hline(f"threshold:{i}", level, color=_color(i) if multi else "black", linestyle="--",
                       linewidth=1.5, zorder=2, label="_nolegend_" if repeated else text)
            seen.append(level)
            values.append(np.array([level]))
    sync.finish(*_legend_args(legend, runs))
    y = np.concatenate(values)
    y = y[np.isfinite(y)]
    if y.size:
        ax.set_ylim(0.0, 1.12 * float(y.max()))
    _style(ax, "step k", "λ_max(P⁻¹H), P = √v̂ + ε", title)
    return ax


def batch_sharpness(runs, ax: Axes | None = None, *, title: str | None = "Batch sharpness", full: bool = False,
                    legend=True, top: float = 2.0, projector: bool = False, _labels=None, _colors=None) -> Axes:
    """The batch sharpness E_B[g_Bᵀ H_B g_B / ‖g_B‖²] of mini-batch runs in units of 2/η (at 1: the edge of
    stochastic stability); with ``full=True`` also the full-batch λ_max/(2/η), dotted, in the same colour.

    Args:
        runs: Mini-batch runs (``batch_size`` set, trained with ``sharpness_every > 0``).
        ax: Axes to draw into (default: a new figure).
        title: Axes title.
        full: Also draw the full-batch λ_max / (2/η).
        legend: ``True``, ``"references"`` or ``False``.
        top: Ratios above this are drawn at the top as ▲.
        projector: Larger text at 150 dpi (a new figure only).

    Returns:
        The Axes. Artists: ``"batch_sharpness:line:i"`` (ydata = ``run.batch_sharpness`` / threshold at the
        measured steps), ``"batch_sharpness:one"`` and with ``full`` ``"batch_sharpness_full:line:i"``.

    >>> run = Run({"loss": np.ones(2), "batch_sharpness": np.array([0.5, 0.6])},
    ...           {"rule": "constant", "rule_params": {"eta": 2.0}, "stability_threshold": 1.0, "batch_size": 8})
    >>> find(batch_sharpness(run), "batch_sharpness:line:0").get_ydata().tolist()
    [0.5, 0.6]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax, projector=projector)
    sync = _Sync(ax, "batch_sharpness")
    drawn = _ratios(sync, runs, lambda r: r.batch_sharpness, top_cap=top, color_of=_colors,
                    label_of=_labels or (lambda r: f"{_run_label(r)}: batch sharpness"))
    if full:
        full_sync = _Sync(ax, "batch_sharpness_full")
        drawn += _ratios(full_sync, runs, lambda r: r.sharpness, top_cap=top, linestyle=":", color_of=_colors,
                         label_of=lambda r: f"{_run_label(r)}: full-batch λ_max")
        full_sync.finish(None, relim=False)
    sync.hline("one", 1.0, color="black", linestyle="--", linewidth=1.4, zorder=2, label="1: at 2/η")
    sync.finish(*_legend_args(legend, runs), ncol=2)
    _ratio_limits(ax, drawn, top)
    _style(ax, "step k", "curvature / (2/η)", title)
    return ax


def adam_figure(run: Run, *, title: str | None = None, projector: bool = False) -> tuple[Figure, dict[str, Axes]]:
    """One Adam run in two panels: the training loss, and λ_max(P⁻¹H) with its threshold (one point: the
    preconditioned sharpness climbs to (2+2β₁)/((1−β₁)η) and stays while the loss keeps falling).

    Returns:
        ``(figure, {"loss": Axes, "preconditioned": Axes})``; 900 px wide.
    """
    from eostutor.plots.curves import loss

    if not isinstance(run, Run):
        raise ValueError(f"adam_figure takes one Run, got {type(run).__name__}")
    fig = figure((9.0, 3.9 + (0.4 if title else 0.0)), projector=projector)
    ax_loss, ax_pre = fig.subplots(1, 2)
    loss(run, ax=ax_loss, title="Training loss", legend=False)
    preconditioned_sharpness(run, ax=ax_pre, title="λ_max(P⁻¹H) and its threshold")
    if title is not None:
        fig.suptitle(title, fontsize=FONT["title"] + 1)
    return fig, {"loss": ax_loss, "preconditioned": ax_pre}


def sgd_figure(runs, *, title: str | None = None, projector: bool = False) -> tuple[Figure, dict[str, Axes]]:
    """SGD at several batch sizes (and full-batch GD) in two panels on one scale: the full-batch λ_max/(2/η),
    lower the smaller the batch, and the batch sharpness/(2/η) of the mini-batch runs.

    Returns:
        ``(figure, {"full": Axes, "batch": Axes})``; 900 px wide.
    """
    runs = _as_runs(runs)
    mini = [r for r in runs if r.settings.batch_size is not None]
    if not mini:
        raise ValueError("sgd_figure needs at least one mini-batch run (train with batch_size=...)")
    fig = figure((9.0, 4.3 + (0.4 if title else 0.0)), projector=projector)
    ax_full, ax_batch = fig.subplots(1, 2, sharey=True)
    edge_ratio(runs, ax=ax_full, title="Full-batch λ_max / (2/η)", _labels=_run_label)
    # the same colour for the same run in both panels
    batch_sharpness(mini, ax=ax_batch, title="Batch sharpness / (2/η)", _labels=_run_label,
                    _colors=lambda i: _color(runs.index(mini[i])))
    ax_full.set_ylabel("curvature / (2/η)", fontsize=FONT["label"])
    ax_batch.set_ylabel("")
    lo, hi = min(ax_full.get_ylim()[0], ax_batch.get_ylim()[0]), max(ax_full.get_ylim()[1], ax_batch.get_ylim()[1])
    ax_full.set_ylim(lo, hi)
    if title is not None:
        fig.suptitle(title, fontsize=FONT["title"] + 1)
    for a in (ax_full, ax_batch):
        a.tick_params(labelleft=True)
    return fig, {"full": ax_full, "batch": ax_batch}
