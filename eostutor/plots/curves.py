"""Per-step curves of runs (loss, sharpness, η·λ_max, step size, accuracy, layer gradients), the dashboard and
small multiples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from eostutor.plots.engine import (
    _LEGEND_HEIGHT,
    _LEGENDS,
    FLOOR_COLOR,
    FONT,
    OKABE_ITO,
    REF_COLOR,
    _as_runs,
    _color,
    _finite,
    _legend_args,
    _legend_key,
    _mark_divergence,
    _mark_zero_floor,
    _new_ax,
    _on_floor,
    _positive_limits,
    _renderer,
    _row_major,
    _run_label,
    _series,
    _style,
    _Sync,
    _thin,
    _varies,
    _wrap,
    _zero_floor,
    figure,
    find,  # noqa: F401  (used by the doctests)
)
from eostutor.record import Run
from eostutor.stepsizes import RULES, LineSearch, Warmup, stability_threshold

__all__ = ["loss", "sharpness", "eta_sharpness", "step_size", "test_accuracy", "layer_grad_norms", "dashboard",
           "small_multiples", "DASHBOARD_PANELS"]


# --------------------------------------------------------------------------------------------------
# Which reference lines mean something for a run
# --------------------------------------------------------------------------------------------------
def _rule_class(run: Run):
    return RULES.get(run.settings.rule)


def _is_line_search(run: Run) -> bool:
    cls = _rule_class(run)
    return cls is not None and issubclass(cls, LineSearch)


def _floor_matters(run: Run) -> bool:
    """The 2/K floor (and η = K) bound the rules that reach it: line searches and the warm-ups to about K."""
    cls = _rule_class(run)
    floor = run.settings.sharpness_floor
    relevant = cls is not None and (issubclass(cls, (LineSearch, Warmup)) or cls.needs_num_classes)
    return relevant and isinstance(floor, (int, float)) and math.isfinite(floor) and floor > 0


def _floors(runs: Sequence[Run], show: bool | None = None) -> list[float]:
    """The distinct 2/K floors to draw: of the runs the floor bounds (``show=None``), all (True), none."""
    if show is False:
        return []
    out = []
    for r in runs:
        if show is None and not _floor_matters(r):
            continue
        try:
            f = float(r.settings.sharpness_floor)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f) and f > 0 and all(abs(f - g) > 1e-12 for g in out):
            out.append(f)
    return out


def _settings_c(runs: Sequence[Run]) -> float | None:
    """The Armijo constant c of the line-search runs (None: no line search, so no 1 − c line)."""
    for r in runs:
        if not _is_line_search(r):
            continue
        c = r.settings.rule_params.get("c", 1e-4)
        if isinstance(c, (int, float)) and math.isfinite(c):
            return float(c)
    return None


def _momentum_threshold(beta: float, nesterov: bool) -> tuple[float, str]:
    """η·λ above which heavy-ball / Nesterov GD is unstable on a quadratic, and its legend text."""
    level = stability_threshold(1.0, momentum=beta, nesterov=nesterov)
    if nesterov:
        return level, f"(2+2β)/(1+2β), Nesterov β = {beta:g}"
    return level, f"2(1+β), heavy ball β = {beta:g}"


def _prior_loss(run: Run) -> float | None:
    k = run.settings.num_classes
    return (k - 1) / k**2 if k else None


def _sits_at_prior(run: Run) -> bool:
    """Whether the loss spends at least a tenth of the run (and 20 steps) within 5% of (K−1)/K²."""
    prior = _prior_loss(run)
    if prior is None:
        return False
    loss = _finite(run.loss)
    near = np.abs(loss / prior - 1) < 0.05
    return int(near.sum()) >= max(20, len(loss) // 10)


# --------------------------------------------------------------------------------------------------
# The per-step plots
# --------------------------------------------------------------------------------------------------
def _log_or_symlog(ax: Axes, values: np.ndarray) -> None:
    # Only negative losses (a saddle's unbounded direction) need the symmetric log scale; exact zeros go on
    # the marked floor of the log axis.
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() < 0:
        pos = np.abs(finite[finite != 0])
        ax.set_yscale("symlog", linthresh=float(max(pos.min(), 1e-12)) if pos.size else 1e-12)
    else:
        ax.set_yscale("log")


def loss(runs, ax: Axes | None = None, *, title: str | None = "Training loss", legend=True,
         prior: bool | None = None, projector: bool = False) -> Axes:
    """Training loss f(w_k) against the step k, on a log scale.

    Exact zeros (a toy reaching its minimum) are drawn on a grey band at the bottom of the axis, with a tick
    labelled 0. A series that goes up and down at most steps is drawn as dots (a line would be a solid block).

    Args:
        runs: A Run or a list of Runs (overlaid).
        ax: Axes to draw into (default: a new figure). Drawing again into the same Axes updates it.
        title: Axes title (``None``: none).
        legend: ``True`` (every entry), ``"references"`` (reference lines only) or ``False``.
        prior: Draw the loss (K−1)/K² of predicting the class prior: ``None`` when a run sits there for a
            tenth of its steps (Flatland), ``True`` always for classifiers, ``False`` never.
        projector: Larger text and lines at 150 dpi (a new figure only).

    Returns:
        The Axes. Artists: ``"loss:line:i"`` (ydata = ``run.loss``; exact zeros at the floor),
        ``"loss:diverged:i"``, ``"loss:prior"``, ``"loss:zero_band"``.

    >>> run = Run({"loss": np.array([1.0, 0.5, 0.25]), "eta": np.full(3, 0.1)})
    >>> ax = loss(run)
    >>> ax.get_yscale(), find(ax, "loss:line:0").get_ydata().tolist()
    ('log', [1.0, 0.5, 0.25])
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax, projector=projector)
    sync = _Sync(ax, "loss")
    values = [_finite(r.loss) for r in runs]
    floor = _zero_floor(values)
    for i, run in enumerate(runs):
        y = _on_floor(run.loss, floor)
        _series(sync, f"line:{i}", run.step, y, _color(i), _run_label(run))
        _mark_divergence(sync, i, run, run.step, y)
    priors = sorted({p for r in runs if (prior is True or (prior is None and _sits_at_prior(r)))
                     and (p := _prior_loss(r)) is not None})
    if prior is not False and priors:
        k = next(r.settings.num_classes for r in runs if _prior_loss(r) == priors[0])
        sync.hline("prior", priors[0], color=FLOOR_COLOR, linestyle=(0, (5, 2)), linewidth=1.6, zorder=4,
                   label=f"(K−1)/K² = {priors[0]:.2g}: predicts the class prior (K = {k})")
    _mark_zero_floor(sync, floor)
    sync.finish(*_legend_args(legend, runs))
    _log_or_symlog(ax, np.concatenate(values) if values else np.array([1.0]))
    _positive_limits(ax)
    _style(ax, "step k", "loss f(w_k)", title)
    return ax


def _two_over_eta(run: Run, factor: float = 2.0) -> np.ndarray:
    eta = _finite(run.eta)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = factor / eta
    out[~np.isfinite(out)] = np.nan
    return out


def sharpness(runs, ax: Axes | None = None, *, title: str | None = "Sharpness", threshold: bool = True,
              legend=True, floor: bool | None = None, edge: bool = False, projector: bool = False) -> Axes:
    """Sharpness λ_max at the measured steps, the threshold 2/η and, where it matters, the 2/K floor.

    For a constant step 2/η is a dashed line. For a step that changes, 2/η_k is drawn as light dots (a line
    per step would hatch the panel) and the y-limits follow λ_max, not the dots. With momentum β > 0 the
    quadratic threshold 2(1+β)/η (or Nesterov's) is drawn instead of 2/η (dash-dot).

    Args:
        runs: A Run or a list of Runs.
        ax: Axes to draw into (default: a new figure).
        title: Axes title.
        threshold: Draw the 2/η line(s) or dots.
        legend: ``True``, ``"references"`` or ``False`` (see :func:`loss`).
        floor: The 2/K floor (dotted): ``None`` for the rules it bounds (line searches, warm-ups to ≈ K),
            ``True`` for every classifier, ``False`` never.
        edge: Annotate the first step where λ_max reaches 0.95 × 2/η and its largest overshoot (one run with a
            constant step).
        projector: Larger text and lines at 150 dpi (a new figure only).

    Returns:
        The Axes. Artists: ``"sharpness:line:i"`` (the measured λ_max), ``"sharpness:2/eta:i"`` (a dashed line
        with ydata = ``2 / run.eta``, or dots at thinned steps when η changes), ``"sharpness:momentum:i"``,
        ``"sharpness:floor:j"``, ``"sharpness:diverged:i"``, ``"sharpness:edge"``, ``"sharpness:overshoot"``.

    >>> run = Run({"loss": np.ones(3), "eta": np.full(3, 0.1), "sharpness": np.array([5.0, np.nan, 19.0])})
    >>> ax = sharpness(run)
    >>> find(ax, "sharpness:2/eta:0").get_ydata().tolist()
    [20.0, 20.0, 20.0]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax, projector=projector)
    sync = _Sync(ax, "sharpness")
    multi = len(runs) > 1
    sharp_all, levels, dots_all = [], [], []
    drawn_levels: list[float] = []
    for i, run in enumerate(runs):
        m = np.isfinite(run.sharpness)
        x, y = run.step[m], run.sharpness[m]
        sharp_all.append(y)
        own_edge = run.settings.threshold_applies_to != "sharpness"  # Adam, RMSProp: the edge bounds λ_max(P⁻¹H)
        text = "λ_max of H (its edge bounds λ_max(P⁻¹H): plots.practice)" if own_edge else "λ_max (sharpness)"
        _series(sync, f"line:{i}", x, y, _color(i), _run_label(run) if multi else text,
                linewidth=1.8, markers=m.sum() <= 60, zorder=3)
        _mark_divergence(sync, i, run, x, y)
        if not threshold or own_edge:  # 2/η says nothing about a preconditioned rule's λ_max(H)
            continue
        beta = run.settings.momentum
        factor, text = (2.0, "2/η") if beta <= 0 else (
            _momentum_threshold(beta, run.settings.nesterov)[0],
            "(2+2β)/((1+2β)η)" if run.settings.nesterov else "2(1+β)/η")
        thr = _two_over_eta(run, factor)
        color = _color(i) if multi else "black"
        if _varies(thr):
            tx, ty = _thin(run.step[np.isfinite(thr)], thr[np.isfinite(thr)])
            sync.line(f"2/eta:{i}", tx, ty, color=_color(i), linestyle="none", marker="o", markersize=2.4,
                      markeredgewidth=0, alpha=0.35, zorder=1,
                      label=f"{text}_k (light dots)" if i == 0 else "_nolegend_")
            dots_all.append(ty)
        elif np.isfinite(thr).any():
            level = float(np.nanmedian(thr))
            levels.append(level)
            if beta > 0:  # the plain 2/η too, for reference (the momentum edge is the one that counts)
                sync.line(f"2/eta:{i}", run.step, _two_over_eta(run), color=color, linestyle="--",
                          linewidth=1.0, alpha=0.6, zorder=2,
                          label=f"2/η = {float(np.nanmedian(_two_over_eta(run))):.3g}")
                levels.append(float(np.nanmedian(_two_over_eta(run))))
                sync.line(f"momentum:{i}", run.step, thr, color=color, linestyle="-.", linewidth=1.5, zorder=2,
                          label=f"{text} = {level:.3g}")
            else:
                seen = any(abs(level - d) <= 1e-9 * level for d in drawn_levels)
                sync.line(f"2/eta:{i}", run.step, thr, color=color, linestyle="--", linewidth=1.5, zorder=2,
                          label="_nolegend_" if seen else f"2/η = {level:.3g}")
                drawn_levels.append(level)
    tops = []
    for j, fl in enumerate(_floors(runs, floor)):
        sync.hline(f"floor:{j}", fl, color=FLOOR_COLOR, linestyle=":", linewidth=2.0, zorder=2,
                   label=f"2/K = {fl:.3g}: floor of λ_max")
        tops.append(fl)
    if edge:
        _annotate_edge(sync, runs[0])
    sync.finish(*_legend_args(legend, runs))
    # y-limits from λ_max and the constant thresholds, not from 2/η_k dots (2/1e-6 would flatten all)
    sharp = np.concatenate(sharp_all) if sharp_all else np.array([])
    sharp = sharp[np.isfinite(sharp)]
    hi = ([float(sharp.max())] if sharp.size else []) + levels + tops
    if dots_all:
        dots = np.concatenate(dots_all)
        med = float(np.median(dots))
        hi.append(min(med, 3 * float(sharp.max())) if sharp.size else med)
    if hi:
        top = 1.12 * max(hi)
        bottom = min(0.0, float(sharp.min()) * 1.1) if sharp.size else 0.0
        if top > bottom:
            ax.set_ylim(bottom, top)
    _style(ax, "step k", "sharpness λ_max", title)
    return ax


def _edge_events(run: Run) -> dict | None:
    """The first step with λ_max ≥ 0.95 × 2/η, the largest overshoot of λ_max after it (its step and its
    ratio to 2/η) and the largest one-step rise of the loss around that overshoot. ``None`` when the step
    size changes or the run never reaches the edge.
    """
    eta = _finite(run.eta)
    if not (np.isfinite(eta).any() and not _varies(eta)):
        return None
    edge = 2.0 / float(np.nanmedian(eta))
    first = run.summary().get("first_step_at_edge")
    if first is None or not math.isfinite(first):
        return None
    m = np.isfinite(run.sharpness) & (run.step >= first)
    if not m.any():
        return None
    k = int(np.flatnonzero(m)[np.argmax(run.sharpness[m])])
    loss = _finite(run.loss)
    lo, hi = max(1, k - 20), min(len(loss) - 1, k + 60)
    rise = loss[lo:hi + 1] / loss[lo - 1:hi]
    spike = None
    if np.isfinite(rise).any():  # the largest one-step rise, then the top of that spike
        start = lo + int(np.nanargmax(rise))
        top = loss[start:min(len(loss), start + 10)]
        spike = start + int(np.nanargmax(top))
    return {"first": int(first), "overshoot": int(run.step[k]), "ratio": float(run.sharpness[k]) / edge,
            "value": float(run.sharpness[k]), "spike": None if spike is None else int(run.step[spike]),
            "spike_loss": None if spike is None else float(loss[spike])}


def _annotate_edge(sync: _Sync, run: Run) -> None:
    """Mark where λ_max first reaches 0.95 × 2/η and its largest overshoot above 2/η after that."""
    ev = _edge_events(run)
    if ev is None:
        return
    sync.vline("edge", ev["first"], color=REF_COLOR, linestyle=":", linewidth=1.2, zorder=1,
               label=f"λ_max reaches 2/η: step {ev['first']}")
    sync.line("overshoot", [ev["overshoot"]], [ev["value"]], linestyle="none", marker="o", markersize=10,
              markerfacecolor="none", markeredgecolor=OKABE_ITO["vermillion"], markeredgewidth=1.8, zorder=5,
              label=f"largest overshoot: {ev['ratio']:.2f} × 2/η (step {ev['overshoot']})")


def eta_sharpness(runs, ax: Axes | None = None, *, title: str | None = "η·λ_max", legend=True,
                  projector: bool = False) -> Axes:
    """The product η_k·λ_max at the measured steps, with the stability edge 2 and, for line searches, 1 − c.

    On a quadratic GD is stable iff η·λ_max < 2. An NLS step whose double was rejected satisfies
    η·l(w, 2η) > 1 − c, with l the smoothness along the step; on a quadratic that is η·λ_max > 1 − c, and on
    the course's networks η·λ_max stayed above it (c is the Armijo constant, read from the run's rule; see
    :class:`eostutor.stepsizes.NLS`). With momentum β the threshold moves to 2(1+β) (heavy ball) or
    (2+2β)/(1+2β) (Nesterov), drawn when β > 0. The y-axis shows at most 4 × the edge (the question is
    whether η·λ_max is above or below it): values beyond are marked ▲ at the top, so one spike (a Polyak step
    of 170) does not flatten the panel.

    Returns:
        The Axes. Artists: ``"eta_sharpness:line:i"`` (ydata = ``run.eta_sharpness`` at measured steps),
        ``"eta_sharpness:two"``, ``"eta_sharpness:one_minus_c"``, ``"eta_sharpness:momentum:j"``,
        ``"eta_sharpness:off_scale:i"`` (▲ at the top for values beyond it).

    >>> run = Run({"loss": np.ones(2), "eta": np.full(2, 0.1), "eta_sharpness": np.array([1.5, 2.1])})
    >>> list(find(eta_sharpness(run), "eta_sharpness:two").get_ydata())
    [2.0, 2.0]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax, projector=projector)
    sync = _Sync(ax, "eta_sharpness")
    multi = len(runs) > 1
    vals, marks = [], []
    for i, run in enumerate(runs):
        m = np.isfinite(run.eta_sharpness)
        x, y = run.step[m], run.eta_sharpness[m]
        vals.append(y)
        _series(sync, f"line:{i}", x, y, _color(i), _run_label(run) if multi else "η·λ_max",
                markers=m.sum() <= 60, zorder=3)
        marks.append((i, run, x, y))
    if any(r.settings.threshold_applies_to == "sharpness" for r in runs):  # not Adam's, RMSProp's edge
        sync.hline("two", 2.0, color="black", linestyle="--", linewidth=1.5, zorder=2, label="2: stability edge")
    c = _settings_c(runs)
    if c is not None:
        sync.hline("one_minus_c", 1.0 - c, color=REF_COLOR, linestyle=":", linewidth=1.8, zorder=2,
                   label=f"1 − c (c = {c:g})")
    tops = [2.0]
    seen = []
    for r in runs:
        beta = r.settings.momentum
        key = (beta, r.settings.nesterov)
        if beta > 0 and key not in seen:
            seen.append(key)
            level, text = _momentum_threshold(*key)
            sync.hline(f"momentum:{len(seen) - 1}", level, color=OKABE_ITO["reddish_purple"], linestyle="-.",
                       linewidth=1.5, zorder=2, label=text)
            tops.append(level)
    y = np.concatenate(vals) if vals else np.array([])
    y = y[np.isfinite(y)]
    # The panel's question is "above or below the edge": it shows up to 4 × the edge, and marks what is
    # beyond with ▲ at the top (one Polyak step of 170 would otherwise flatten everything else).
    top = min(max(max(tops) * 1.3, float(y.max()) * 1.08 if y.size else 0.0), 4.0 * max(tops))
    off_label = f"beyond {top:.3g} (drawn at the top)"
    for i, run, x, yi in marks:
        above = yi > top
        if above.any():
            sync.line(f"off_scale:{i}", x[above], np.full(above.sum(), top), linestyle="none", marker="^",
                      markersize=7, color=_color(i), markeredgecolor="black", markeredgewidth=0.6, clip_on=False,
                      zorder=6, label=off_label)
            off_label = "_nolegend_"
        # a diverged run's ✕ at the top edge when its value is off the panel
        _mark_divergence(sync, i, run, x, np.minimum(yi, top))
    sync.finish(*_legend_args(legend, runs))
    bottom = min(0.0, float(y.min()) * 1.08) if y.size else 0.0
    ax.set_ylim(bottom, top)
    _style(ax, "step k", "η·λ_max", title)
    return ax


def step_size(runs, ax: Axes | None = None, *, title: str | None = "Step size", threshold: bool = True,
              legend=True, floor: bool | None = None, projector: bool = False) -> Axes:
    """The accepted step size η_k (log scale), with 2/λ_max (the stability limit) and, where it matters, η = K.

    ``2/λ_max`` (dashed, at the measured steps) is the step above which GD leaves the quadratic's stable
    range; ``η = K`` (dotted, for the rules the 2/K floor bounds) is where 2/η reaches the floor 2/K. A step
    that changes at most steps (NLS alternating 8 and 16) is drawn as dots.

    Returns:
        The Axes. Artists: ``"step_size:line:i"`` (ydata = ``run.eta``), ``"step_size:2/sharpness:i"``,
        ``"step_size:K"``.

    >>> run = Run({"loss": np.ones(3), "eta": np.array([0.1, 0.2, 0.4])})
    >>> find(step_size(run), "step_size:line:0").get_ydata().tolist()
    [0.1, 0.2, 0.4]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax, projector=projector)
    sync = _Sync(ax, "step_size")
    multi = len(runs) > 1
    for i, run in enumerate(runs):
        y = _finite(run.eta)
        y[y <= 0] = np.nan  # a skipped step (η = 0) has no place on a log axis
        _series(sync, f"line:{i}", run.step, y, _color(i), _run_label(run) if multi else "η_k", zorder=3)
        m = np.isfinite(run.sharpness) & (run.sharpness > 0)
        if threshold and m.any():
            sync.line(f"2/sharpness:{i}", run.step[m], 2.0 / run.sharpness[m], color=_color(i) if multi else "black",
                      linestyle="--", linewidth=1.2, alpha=0.8, zorder=2,
                      label="2/λ_max: stable below" if i == 0 else "_nolegend_")
        _mark_divergence(sync, i, run, run.step, y)
    ks = sorted({r.settings.num_classes for r in runs if r.settings.num_classes
                 and (floor is True or (floor is None and _floor_matters(r)))}) if floor is not False else []
    for k in ks[:1]:
        sync.hline("K", float(k), color=FLOOR_COLOR, linestyle=":", linewidth=2.0, zorder=2,
                   label=f"η = K = {k}: 2/η at the floor")
    sync.finish(*_legend_args(legend, runs))
    ax.set_yscale("log")
    _positive_limits(ax)
    _style(ax, "step k", "step size η_k", title)
    return ax


def test_accuracy(runs, ax: Axes | None = None, *, title: str | None = "Test accuracy", train: bool = False,
                  legend=True, projector: bool = False) -> Axes:
    """Held-out accuracy at the evaluated steps (and, with ``train=True``, training accuracy dashed).

    Returns:
        The Axes. Artists: ``"test_accuracy:line:i"`` (ydata = ``run.test_accuracy`` where evaluated),
        ``"test_accuracy:train:i"``.

    >>> run = Run({"loss": np.ones(3), "test_accuracy": np.array([0.1, np.nan, 0.8])})
    >>> find(test_accuracy(run), "test_accuracy:line:0").get_ydata().tolist()
    [0.1, 0.8]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax, projector=projector)
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
    sync.finish(*_legend_args(legend, runs))
    ax.set_ylim(-0.02, 1.02)
    _style(ax, "step k", "test accuracy", title)
    return ax


def layer_grad_norms(runs, ax: Axes | None = None, *, title: str | None = "Layer gradient norms",
                     legend=True, projector: bool = False) -> Axes:
    """Gradient norm of the hidden layers (solid) vs the last-layer bias (dashed), log scale.

    In Flatland the hidden-layer gradients collapse while the last bias still learns (Galli et al. 2026); a
    gradient of exactly 0 is drawn on the grey band at the bottom of the axis (tick 0), not dropped.

    Returns:
        The Axes. Artists: ``"layer_grad_norms:hidden:i"`` (ydata = ``run.grad_norm_hidden``, exact zeros at
        the floor), ``"layer_grad_norms:last_bias:i"``, ``"layer_grad_norms:zero_band"``.

    >>> run = Run({"loss": np.ones(2), "grad_norm_hidden": np.array([1.0, 1e-3]),
    ...            "grad_norm_last_bias": np.array([0.1, 0.1])})
    >>> find(layer_grad_norms(run), "layer_grad_norms:hidden:0").get_ydata().tolist()
    [1.0, 0.001]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax, projector=projector)
    sync = _Sync(ax, "layer_grad_norms")
    multi = len(runs) > 1
    floor = _zero_floor([r.grad_norm_hidden for r in runs] + [r.grad_norm_last_bias for r in runs])
    for i, run in enumerate(runs):
        h = _on_floor(run.grad_norm_hidden, floor)
        b = _on_floor(run.grad_norm_last_bias, floor)
        _series(sync, f"hidden:{i}", run.step, h, _color(i), _run_label(run) if multi else "hidden layers",
                zorder=3)
        _series(sync, f"last_bias:{i}", run.step, b, _color(i), "_nolegend_" if multi else "last-layer bias",
                linestyle="--", zorder=3)
        _mark_divergence(sync, i, run, run.step, h)
    if multi:  # colours name the runs; a key for the two line styles
        sync.line("key:hidden", [], [], color=REF_COLOR, linewidth=1.6, label="hidden layers (solid)")
        sync.line("key:last_bias", [], [], color=REF_COLOR, linewidth=1.6, linestyle="--",
                  label="last-layer bias (dashed)")
    _mark_zero_floor(sync, floor)
    sync.finish(*_legend_args(legend, runs))
    ax.set_yscale("log")
    _positive_limits(ax)
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


def _check_panels(panels) -> list[str]:
    panels = list(panels)
    for p in panels:
        if p not in DASHBOARD_PANELS:
            raise ValueError(f"unknown panel {p!r}; choose from: {', '.join(DASHBOARD_PANELS)}")
    if not panels:
        raise ValueError("panels must name at least one panel")
    return panels


#: Legend labels that only repeat a panel's title (one run: the panel says what its line is).
_GENERIC_LABELS = {"λ_max (sharpness)", "η·λ_max", "η_k"}


def _figure_legend(fig: Figure, axes: Sequence[Axes], title: str | None, runs: Sequence[Run] = (),
                   ncols: int = 4) -> None:
    """The title and one legend strip for the whole figure (every panel's entries, each label once).

    The title is the legend's own title, so the strip sits right under it; constrained layout keeps both off
    the panels. The panels keep no legend of their own. A run's entry is a line in its colour.
    """
    for leg in list(fig.legends):
        leg.remove()
    if fig._suptitle is not None:
        fig._suptitle.remove()
        fig._suptitle = None
    names = {_run_label(r): i for i, r in enumerate(runs)}
    entries: dict[str, object] = {}
    for a in axes:
        handles, labels = a.get_legend_handles_labels()
        for h, lab in zip(handles, labels):
            if lab in entries or lab in _GENERIC_LABELS:
                continue
            entries[lab] = Line2D([], [], color=_color(names[lab]), linewidth=2.2) if lab in names else _legend_key(h)
        if a.get_legend() is not None:
            a.get_legend().remove()
        _LEGEND_HEIGHT.pop(a, None)
        _LEGENDS.pop(a, None)
    if not entries:
        if title is not None:
            _wrap(fig.suptitle(title, fontsize=FONT["title"] + 1), 0.98 * fig.bbox.width)
        return
    renderer = _renderer(fig)
    width = fig.bbox.width
    for n in range(min(ncols, len(entries)), 0, -1):
        order = _row_major(list(entries.items()), n)
        leg = fig.legend([h for _, h in order], [lab for lab, _ in order], loc="outside upper center", ncols=n,
                         frameon=False, fontsize=FONT["legend"], handlelength=1.8, columnspacing=1.4,
                         labelspacing=0.3)
        if leg.get_window_extent(renderer).width <= 0.98 * width or n == 1:
            break
        leg.remove()
    if title is not None:  # set after the columns are chosen: a long title is wrapped, not a reason for one column
        leg.set_title(title, prop={"size": FONT["title"] + 1})
        _wrap(leg.get_title(), 0.98 * width)


def _window(ax: Axes, steps: tuple[float, float]) -> None:
    """Show only the steps in ``steps``; the y-limits follow the data inside (lines only, not reference lines)."""
    lo, hi = float(steps[0]), float(steps[1])
    ax.set_xlim(lo, hi)
    vals = []
    for ln in ax.lines:
        if any(part in str(ln.get_gid()) for part in ("2/eta", "2/sharpness")):
            continue  # 2/η_k of a ramp or 2/λ_max can be far off the data: the limits follow the data
        x, y = (np.asarray(v, dtype=float) for v in ln.get_data())
        if x.size < 2 or (x.size == 2 and x[0] == 0 and x[1] == 1 and ln.get_transform() is not ax.transData):
            continue  # axhline/axvline: axes-fraction x
        inside = (x >= lo) & (x <= hi) & np.isfinite(y)
        vals.append(y[inside])
    y = np.concatenate(vals) if vals else np.array([])
    if ax.get_yscale() == "log":
        y = y[y > 0]
    if y.size:
        if ax.get_yscale() == "log":
            ax.set_ylim(y.min() / 1.15, y.max() * 1.15)
        else:
            pad = 0.08 * (y.max() - y.min() + 1e-12)
            ax.set_ylim(y.min() - pad, y.max() + pad)


def dashboard(runs, fig: Figure | None = None, *, panels: Sequence[str] | None = None,
              ncols: int | None = None, title: str | None = None, steps: tuple[float, float] | None = None,
              edge: bool = False, projector: bool = False) -> tuple[Figure, dict[str, Axes]]:
    """Several per-step panels of the same runs in one figure (the paper's Figure 1 has loss, sharpness with
    2/η, η·λ_max and the step size), at most 900 px wide.

    The runs are named once, in a legend strip under the title; each panel's reference lines are named in a
    strip above that panel. Default panels: loss, sharpness, η·λ_max and step size, plus test accuracy and
    layer gradient norms when the runs have them (networks); pass ``panels`` to make the figure's one point.

    Args:
        runs: A Run or a list of Runs (overlaid in every panel).
        fig: Figure to draw into. If it already holds a dashboard with the same panels (from an earlier
            call), the panels are updated in place; otherwise it is cleared first.
        panels: Names from ``DASHBOARD_PANELS`` (default: chosen from the data).
        ncols: Panels per row (default: one row for up to 3 panels, 2 × 2 for 4, else 3 per row).
        title: Figure title: say what the figure shows.
        steps: ``(first, last)``: show only these steps (a zoom); the y-limits follow the data inside.
        edge: Annotate, in the sharpness panel, the step where λ_max reaches 2/η and its largest overshoot
            (and the same step in the other panels).
        projector: Larger text and lines at 150 dpi (a new figure only).

    Returns:
        ``(figure, axes)`` with ``axes`` a dict panel name -> Axes.

    >>> run = Run({"loss": np.array([1.0, 0.5]), "eta": np.full(2, 0.1), "sharpness": np.array([10.0, 15.0])})
    >>> fig, axes = dashboard(run)
    >>> sorted(axes), round(fig.get_size_inches()[0] * fig.dpi)
    (['eta_sharpness', 'loss', 'sharpness', 'step_size'], 900)
    """
    runs = _as_runs(runs)
    if panels is None:
        acc, layers = _has_network_data(runs)
        panels = ["loss", "sharpness", "eta_sharpness", "step_size"]
        panels += ["test_accuracy"] if acc else []
        panels += ["layer_grad_norms"] if layers else []
    panels = _check_panels(panels)
    if ncols is None:
        ncols = 2 if len(panels) == 4 else min(3, len(panels))
    ncols = max(1, min(int(ncols), len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    if fig is None:
        row = {1: 3.6, 2: 3.0, 3: 2.7}.get(ncols, 2.6)
        fig = figure((9.0, row * nrows + (0.5 if title else 0.0) + (0.35 if len(runs) > 1 else 0.0)),
                     projector=projector)
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
        kwargs = {"edge": edge} if p == "sharpness" else {}
        DASHBOARD_PANELS[p](runs, ax=a, legend=False, **kwargs)
    ev = _edge_events(runs[0]) if edge else None
    if ev is not None:  # the same step in every panel; the loss spike that goes with the overshoot
        for p, a in axes.items():
            if p == "sharpness":
                continue
            sync = _Sync(a, p + "_edge")
            sync.vline("edge", ev["first"], color=REF_COLOR, linestyle=":", linewidth=1.2, zorder=1)
            if p == "loss" and ev["spike"] is not None:
                sync.line("spike", [ev["spike"]], [ev["spike_loss"]], linestyle="none", marker="o", markersize=10,
                          markerfacecolor="none", markeredgecolor=OKABE_ITO["vermillion"], markeredgewidth=1.8,
                          zorder=5, label=f"loss spike at the overshoot (step {ev['spike']})")
    if steps is not None:
        for a in axes.values():
            _window(a, steps)
    visible = list(axes.values())
    for a in visible:
        spec = a.get_subplotspec()
        below = [b for b in visible if b.get_subplotspec().colspan == spec.colspan
                 and b.get_subplotspec().rowspan.start > spec.rowspan.start]
        if below:
            a.set_xlabel("")
        else:
            a.tick_params(labelbottom=True)
    _figure_legend(fig, visible, title, runs)
    return fig, axes


def small_multiples(runs, panel: str = "eta_sharpness", *, ncols: int = 3, title: str | None = None,
                    sharey: bool = True, projector: bool = False) -> tuple[Figure, dict[str, Axes]]:
    """One small panel per run, all with the same axes: compare many runs without a 12-entry legend.

    Each panel is the ``panel`` plot (a name from ``DASHBOARD_PANELS``) of one run, titled with the run's
    label; the reference lines are named once, under the figure title. With ``sharey`` every panel gets the
    union of the y-ranges the plot chose for each run, so each run's own outliers stay clipped the way its
    plot clips them (η·λ_max stops near its 98th percentile).

    Returns:
        ``(figure, axes)`` with ``axes`` a dict run label -> Axes.

    >>> runs = [Run({"loss": np.ones(3), "eta": np.full(3, 0.1), "eta_sharpness": np.array([1.0, 1.5, v])},
    ...             label=f"run {v:g}") for v in (2.1, 1.9)]
    >>> fig, axes = small_multiples(runs, "eta_sharpness")
    >>> list(axes), axes["run 2.1"].get_ylim() == axes["run 1.9"].get_ylim()
    (['run 2.1', 'run 1.9'], True)
    """
    runs = _as_runs(runs)
    (panel,) = _check_panels([panel])
    ncols = max(1, min(int(ncols), len(runs)))
    nrows = math.ceil(len(runs) / ncols)
    fig = figure((9.0, 2.5 * nrows + (0.5 if title else 0.0) + 0.4), projector=projector)
    axs = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=False)
    axes: dict[str, Axes] = {}
    for idx, a in enumerate(axs.ravel()):
        if idx >= len(runs):
            a.remove()
            continue
        run = runs[idx]
        label = _run_label(run)
        if run.diverged:
            label += f" (diverged at step {run.diverged_at})"
        DASHBOARD_PANELS[panel](run, ax=a, title=label, legend=False)
        axes[_run_label(run)] = a
        if idx + ncols < len(runs):
            a.set_xlabel("")
        if idx % ncols:
            a.set_ylabel("")
    if sharey and axes:
        lims = [a.get_ylim() for a in axes.values()]
        lo, hi = min(v[0] for v in lims), max(v[1] for v in lims)
        for a in axes.values():
            a.set_ylim(lo, hi)
    for a in axes.values():  # each panel's title names its run: no run entries in the strip
        for ln in a.lines:
            if ln.get_label() in {_run_label(r) for r in runs} or ln.get_label().startswith("diverged at"):
                ln.set_label("_nolegend_")
    _figure_legend(fig, list(axes.values()), title)
    return fig, axes
