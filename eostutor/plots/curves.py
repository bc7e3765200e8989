"""Per-step curves of runs (loss, sharpness, η·λ_max, step size, accuracy, layer gradients) and the dashboard."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from eostutor.plots.engine import (
    FONT,
    OKABE_ITO,
    REF_COLOR,
    _as_runs,
    _color,
    _finite,
    _legend_args,
    _mark_divergence,
    _new_ax,
    _run_label,
    _style,
    _Sync,
    find,  # noqa: F401  (used by the doctests)
)
from eostutor.record import Run
from eostutor.stepsizes import stability_threshold

__all__ = ["loss", "sharpness", "eta_sharpness", "step_size", "test_accuracy", "layer_grad_norms", "dashboard",
           "DASHBOARD_PANELS"]


def _settings_c(runs: Sequence[Run]) -> float:
    for r in runs:
        c = r.settings.rule_params.get("c")
        if isinstance(c, (int, float)) and math.isfinite(c):
            return float(c)
    return 1e-4


def _momentum_threshold(beta: float, nesterov: bool) -> tuple[float, str]:
    """η·λ above which heavy-ball / Nesterov GD is unstable on a quadratic, and its legend text."""
    level = stability_threshold(1.0, momentum=beta, nesterov=nesterov)
    if nesterov:
        return level, f"(2+2β)/(1+2β), Nesterov β = {beta:g}"
    return level, f"2(1+β), heavy ball β = {beta:g}"


def _floors(runs: Sequence[Run]) -> list[float]:
    out = []
    for r in runs:
        f = r.settings.sharpness_floor
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


def loss(runs, ax: Axes | None = None, *, title: str | None = "Training loss", legend=True) -> Axes:
    """Training loss f(w_k) against the step k, on a log scale.

    Args:
        runs: A Run or a list of Runs (overlaid).
        ax: Axes to draw into (default: a new figure). Drawing again into the same Axes updates it.
        title: Axes title (``None``: none).
        legend: ``True`` (every entry), ``"references"`` (reference lines only) or ``False``.

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
    ``run.settings.sharpness_floor`` where it is not 0.

    Args:
        runs: A Run or a list of Runs.
        ax: Axes to draw into (default: a new figure).
        title: Axes title.
        threshold: Draw the 2/η line(s).
        legend: ``True``, ``"references"`` or ``False`` (see :func:`loss`).

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
            beta = run.settings.momentum
            if beta > 0:
                factor, _ = _momentum_threshold(beta, run.settings.nesterov)
                sync.line(f"momentum:{i}", run.step, factor * thr / 2.0, color=_color(i), linestyle="-.",
                          linewidth=1.2, label=("(2+2β)/((1+2β)η)" if run.settings.nesterov else
                                                "2(1+β)/η"))
        _mark_divergence(sync, i, run, x, y)
    for j, floor in enumerate(_floors(runs)):
        sync.hline(f"floor:{j}", floor, color=REF_COLOR, linestyle=":", linewidth=2.0,
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

    On a quadratic GD is stable iff η·λ_max < 2. An NLS step whose double was rejected satisfies
    η·l(w, 2η) > 1 − c, with l the smoothness along the step; on a quadratic that is η·λ_max > 1 − c, and on
    the course's networks η·λ_max stayed above it (c is the Armijo constant, read from the run's rule,
    default 1e-4; see :class:`eostutor.stepsizes.NLS`). With momentum β the
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
    sync.hline("one_minus_c", 1.0 - c, color=REF_COLOR, linestyle=":", linewidth=1.8, label=f"1 − c (c = {c:g})")
    tops = [2.0]
    seen = []
    for r in runs:
        beta = r.settings.momentum
        key = (beta, r.settings.nesterov)
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
    ks = sorted({r.settings.num_classes for r in runs if r.settings.num_classes})
    for k in ks[:1]:
        sync.hline("K", float(k), color=REF_COLOR, linestyle=":", linewidth=1.8, label=f"η = K = {k}")
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
