"""Pictures of tiny problems: iterates on the loss landscape, the self-stabilization plane, bifurcations."""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap

from eostutor.plots.engine import (
    FONT,
    OKABE_ITO,
    REF_COLOR,
    _as_runs,
    _color,
    _field,
    _finite,
    _legend_args,
    _mark_divergence,
    _mark_zero_floor,
    _new_ax,
    _on_floor,
    _run_label,
    _series,
    _style,
    _Sync,
    _varies,
    _zero_floor,
    find,
)
from eostutor.record import Run

__all__ = ["loss_grid", "trajectory", "valley_points", "phase_coordinates", "phase", "bifurcation", "iterates",
           "SEQUENTIAL"]


def _dark_part(name: str, stop: float) -> ListedColormap:
    import matplotlib

    base = matplotlib.colormaps[name]
    return ListedColormap(base(np.linspace(0.0, stop, 256)), name=f"{name}_dark")


# The colour bar of each Axes showing a valley (replaced when the landscape changes).
_COLORBARS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

#: A sequential colour map whose every colour has at least 3:1 contrast on white: cividis without its light
#: yellow end (dark blue = low, olive = high).
SEQUENTIAL = _dark_part("cividis", 0.6)


def loss_grid(problem, extent: Sequence[float], resolution: int = 120) -> tuple[np.ndarray, ...]:
    """F on a regular grid over ``extent`` (no training: only loss evaluations, vectorised when possible).

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


def valley_points(problem, extent: Sequence[float], resolution: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Grid points on the valley of minima of a 2-D problem, with the sharpness there (no training).

    A grid point is kept when f(w) − min f ≤ λ_max(w)·h², with h the grid spacing: by the quadratic model
    f ≈ min f + ½λ_max d², those are the points within about 1.4 h of the valley, a band two or three points
    wide along it. The sharpness is the exact top Hessian eigenvalue at each point
    (:func:`eostutor.spectrum.exact_curvature`).

    Returns:
        ``(points (n, 2), sharpness (n,))``.

    >>> from eostutor.problems import ScalarNet
    >>> pts, lam = valley_points(ScalarNet(depth=2), (0.5, 2.0, 0.5, 2.0), resolution=101)
    >>> bool(np.all(np.abs(pts[:, 0] * pts[:, 1] - 1) < 0.05)), bool(np.allclose(lam, (pts**2).sum(1), rtol=0.1))
    (True, True)
    """
    from eostutor.spectrum import exact_curvature

    if int(problem.dim) != 2:
        raise ValueError(f"valley_points needs a problem with dim 2, got dim={problem.dim}")
    X, Y, F = loss_grid(problem, extent, resolution)
    finite = np.isfinite(F)
    if not finite.any():
        return np.zeros((0, 2)), np.zeros(0)
    excess = F - np.min(F[finite])
    h = max(abs(extent[1] - extent[0]), abs(extent[3] - extent[2])) / (resolution - 1)
    # candidates first (cheap), then the exact test with each candidate's own curvature
    cand = finite & (excess <= np.quantile(excess[finite], 0.05))
    pts = np.stack([X[cand], Y[cand]], axis=1)
    lam = exact_curvature(problem, pts)[0][:, 0]
    keep = np.isfinite(lam) & (excess[cand] <= np.abs(lam) * h * h)
    return pts[keep], lam[keep]


def trajectory(problem, runs, ax: Axes | None = None, *, extent: Sequence[float] | None = None,
               resolution: int = 120, levels: int = 18, title: str | None = "Iterates on the loss landscape",
               markers: bool = True, valley: bool = False, projector: bool = False) -> Axes:
    """Iterates w_0, w_1, … of each run over the loss landscape of a 1-D or 2-D problem.

    For dim 2: filled contours of log f (linear levels if f takes values ≤ 0), each run's path, its start
    (circle) and its end (square). With ``valley=True`` the landscape is drawn in grey and the valley of
    minima is coloured by its sharpness (:func:`valley_points`), with a colour bar on which each run's 2/η is
    marked: where a run ends on the valley, read its sharpness off the bar.
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
        valley: Colour the valley of minima by sharpness (dim 2; problems whose minima form a curve).
        projector: Larger text and lines at 150 dpi (a new figure only).

    Returns:
        The Axes. Artists: ``"trajectory:path:i"`` (xdata = ``run.params[:, 0]``), ``"trajectory:start:i"``,
        ``"trajectory:end:i"``, ``"trajectory:surface…"`` (contours or the 1-D curve), ``"trajectory:valley"``.

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
    if valley and dim != 2:
        raise ValueError("valley=True needs a problem with dim 2")
    ax = _new_ax(ax, figsize=(7.2, 4.8) if valley else (6.4, 4.8), projector=projector)
    if extent is None:
        extent = _auto_extent(runs, dim)
    extent = [float(e) for e in extent]
    sync = _Sync(ax, "trajectory")
    key = f"surface:{problem!r}:{','.join(f'{e:.6g}' for e in extent)}:{resolution}:{levels}:{valley}"
    # The landscape is computed once per (problem, extent): redrawing a run only moves its path.
    if sync.prefix + key in sync.lines or sync.prefix + key in sync.others:
        sync.touched.add(sync.prefix + key)
        if sync.prefix + "valley" in sync.others:
            sync.touched.add(sync.prefix + "valley")
    elif dim == 2:
        X, Y, F = loss_grid(problem, extent, resolution)
        finite = F[np.isfinite(F)]
        if finite.size and finite.min() >= 0:
            # log levels, floored at 1e-4 of the range: the valley of minima is one band, not 10 thin rings
            Z = np.log10(np.maximum(F, max(1e-12, 1e-4 * float(finite.max()))))
        else:
            Z = F
        sync.add(key, ax.contourf(X, Y, Z, levels=levels, cmap="Greys" if valley else "cividis",
                                  alpha=0.3 if valley else 0.55, zorder=0))
        if valley:
            old_bar = _COLORBARS.pop(ax, None)
            if old_bar is not None:  # a new landscape on the same Axes: one colour bar, not two
                old_bar.remove()
            pts, lam = valley_points(problem, extent, max(resolution, 300))
            sc = ax.scatter(pts[:, 0], pts[:, 1], c=lam, cmap=SEQUENTIAL, s=7, linewidths=0, zorder=1,
                            label="minima, coloured by their sharpness")
            sync.add("valley", sc)
            bar = _COLORBARS[ax] = ax.get_figure(root=True).colorbar(sc, ax=ax, pad=0.02, fraction=0.06)
            bar.set_label("sharpness λ_max of the minimum", fontsize=FONT["label"])
            bar.ax.tick_params(labelsize=FONT["tick"])
            marks = {}  # each constant-η run's 2/η on the bar: a line and a tick "2/η" in the run's colour
            for i, run in enumerate(runs):
                eta = _finite(run.eta)
                if np.isfinite(eta).any() and not _varies(eta):
                    level = 2.0 / float(np.nanmedian(eta))
                    if lam.size and lam.min() <= level <= lam.max():
                        bar.ax.axhline(level, color=_color(i), linewidth=2.5)
                        marks[level] = _color(i)
            if marks:
                span = float(lam.max() - lam.min()) or 1.0
                ticks = [t for t in bar.get_ticks() if lam.min() <= t <= lam.max()
                         and all(abs(t - m) > 0.08 * span for m in marks)]
                ticks = sorted(ticks + list(marks))
                bar.set_ticks(ticks, labels=[f"2/η = {t:.3g}" if t in marks else f"{t:g}" for t in ticks])
                for label in bar.ax.get_yticklabels():
                    for level, color in marks.items():
                        if label.get_text() == f"2/η = {level:.3g}":
                            label.set_color(color)
    else:
        x, f = loss_grid(problem, extent, max(resolution, 200))
        sync.line(key, x, f, color=REF_COLOR, linewidth=2.0, zorder=1, label="f(w)")
    multi = len(runs) > 1
    for i, run in enumerate(runs):
        p = _params(run)
        ok = np.all(np.isfinite(p), axis=1)
        p = np.where(ok[:, None], p, np.nan)
        style = dict(color=_color(i), linewidth=1.1, alpha=0.9, zorder=3,
                     marker="o" if markers else "", markersize=2.5, label=_run_label(run) if multi else "iterates w_k")
        last = np.flatnonzero(ok)[-1] if ok.any() else None
        if dim == 2:
            sync.line(f"path:{i}", p[:, 0], p[:, 1], **style)
            sync.line(f"start:{i}", p[:1, 0], p[:1, 1], marker="o", markersize=9, linestyle="none",
                      color="white", markeredgecolor="black", markeredgewidth=1.4, zorder=4,
                      label="start w_0" if i == 0 else "_nolegend_")
            inside = ((p[:, 0] >= extent[0]) & (p[:, 0] <= extent[1]) & (p[:, 1] >= extent[2])
                      & (p[:, 1] <= extent[3]))
            if last is not None and not run.diverged:
                sync.line(f"end:{i}", p[last:last + 1, 0], p[last:last + 1, 1], marker="s", markersize=9,
                          linestyle="none", color=_color(i), markeredgecolor="black", markeredgewidth=1.2,
                          zorder=5, label="end of each run" if i == 0 else "_nolegend_")
            # a diverging path leaves the box: mark the last iterate still inside it
            _mark_divergence(sync, i, run, p[:, 0], np.where(inside, p[:, 1], np.nan))
        else:
            fvals = np.array([run.loss[k] if k < run.num_steps else run.final_loss for k in range(len(p))], float)
            sync.line(f"path:{i}", p[:, 0], _finite(fvals), **style)
            sync.line(f"start:{i}", p[:1, 0], _finite(fvals[:1]), marker="o", markersize=9, linestyle="none",
                      color=_color(i), markeredgecolor="black", zorder=4,
                      label="start w_0" if i == 0 else "_nolegend_")
            _mark_divergence(sync, i, run, p[:, 0], _finite(fvals))
    sync.finish("above", relim=False)
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
      the valley; the pair's mean is the sharpness of the orbit, as in the reduced dynamics). Steps whose
      λ_max(w_{k+1}) was not measured are left out (such as the last one), unless no step has a pair, in
      which case λ_max(w_k) is used.

    Needs ``run.params`` and ``run.eigenvector`` (recorded for dim ≤ 10 when ``sharpness_every > 0``).

    Returns:
        ``(steps, x, y)`` arrays over the usable measured steps.

    >>> u = np.tile([1.0, 0.0], (3, 1))
    >>> params = np.array([[0.1, 0.0], [-0.1, 0.0], [0.1, 0.0], [-0.1, 0.0]])
    >>> run = Run({"loss": np.ones(3), "eta": np.full(3, 0.5), "sharpness": np.array([4.0, 4.1, 3.9]),
    ...            "params": params, "eigenvector": u})
    >>> steps, x, y = phase_coordinates(run)   # the last step has no measured partner: left out
    >>> x.round(3).tolist(), y.round(3).tolist()
    ([0.1, 0.1], [0.05, 0.0])
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
    paired = np.isfinite(nxt)
    pair = np.where(paired, 0.5 * (s[k] + nxt), s[k])
    y = pair - 2.0 / run.eta[k]
    if paired.any() and not paired.all():
        # mixing pair means with one-sided values would jump by the whole period-2 swing: keep the pairs
        return run.step[k][paired], x[paired], y[paired]
    return run.step[k], x, y


def phase(run: Run, ax: Axes | None = None, *, title: str | None = "Self-stabilization plane",
          projector: bool = False) -> Axes:
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
    [0.05, 0.0]
    """
    if isinstance(run, (list, tuple)):
        if len(run) != 1:
            raise ValueError("phase draws one run; pass a single Run")
        run = run[0]
    run = _as_runs(run)[0]
    ax = _new_ax(ax, figsize=(6.4, 4.8), projector=projector)
    steps, x, y = phase_coordinates(run)
    sync = _Sync(ax, "phase")
    sync.hline("edge", 0.0, color="black", linestyle="--", linewidth=1.3, label="λ_max = 2/η")
    sync.vline("axis", 0.0, color=REF_COLOR, linestyle=":", linewidth=1.0)
    sync.line("path", x, y, color=REF_COLOR, linewidth=0.7, alpha=0.6, zorder=2, label="_nolegend_")
    # light = early, dark = late, and every colour readable on white (no pale yellow start)
    pts = ax.scatter(x, y, c=steps, cmap=SEQUENTIAL.reversed(), s=14, zorder=3, label="(x_k, y_k), dark = late")
    sync.add("points", pts)
    sync.line("start", x[:1], y[:1], marker="o", markersize=9, linestyle="none", color=OKABE_ITO["vermillion"],
              markeredgecolor="black", zorder=4, label=f"step {int(steps[0])}")
    sync.line("end", x[-1:], y[-1:], marker="s", markersize=8, linestyle="none", color=OKABE_ITO["blue"],
              markeredgecolor="black", zorder=4, label=f"step {int(steps[-1])}")
    sync.finish("above")
    _style(ax, "oscillation along top eigenvector (−1)^k x_k", "λ_max − 2/η", title)
    return ax


def bifurcation(sweep, ax: Axes | None = None, *, quantity: str = "sharpness", eta: float | None = None,
                title: str | None = "Long-run behaviour against η", projector: bool = False) -> Axes:
    """Bifurcation diagram: the last iterates of GD for each step size η of a precomputed sweep.

    Plots never train: compute the sweep with :func:`eostutor.experiments.bifurcation_sweep` (any object with
    ``etas`` (n,), the chosen quantity as an (n, keep_last) array, and ``diverged`` (n,) works).

    Args:
        sweep: The sweep result.
        ax: Axes to draw into (default: a new figure).
        quantity: ``"sharpness"`` (with the curve 2/η), ``"loss"`` (log scale), or ``"w1"``/``"w2"``
            (a coordinate of the iterates).
        eta: Mark this step size with a vertical line (the explorer's selected run).
        title: Axes title.
        projector: Larger text and lines at 150 dpi (a new figure only).

    Drawing another quantity into the same Axes switches its scale (log for the loss, linear otherwise) and
    its limits; a loss of exactly 0 goes on the marked floor of the log axis.

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
    ax = _new_ax(ax, figsize=(6.4, 4.4), projector=projector)
    sync = _Sync(ax, "bifurcation")
    ex = np.repeat(etas, vals.shape[1])
    ey = vals.ravel()
    floor = _zero_floor([ey]) if quantity == "loss" else None
    if quantity == "loss":
        ey = _on_floor(ey, floor)
    ok = np.isfinite(ey) & ((ey > 0) if quantity == "loss" else True)
    pts = ax.scatter(ex[ok], ey[ok], s=3, color=OKABE_ITO["blue"], alpha=0.5, linewidths=0, zorder=3,
                     label=f"last {vals.shape[1]} iterates")
    sync.add("points", pts)
    if quantity == "sharpness":
        grid = np.geomspace(etas.min(), etas.max(), 200) if etas.min() > 0 else etas
        sync.line("2/eta", grid, 2.0 / grid, color="black", linestyle="--", linewidth=1.5, label="2/η")
    if diverged.any():
        trans = ax.get_xaxis_transform()
        sync.line("diverged", etas[diverged], np.full(diverged.sum(), 0.03), marker="X", markersize=8,
                  linestyle="none", color=OKABE_ITO["vermillion"], markeredgecolor="black", transform=trans,
                  clip_on=False, label="diverged")
    if eta is not None:
        sync.vline("selected", float(eta), color=OKABE_ITO["vermillion"], linewidth=1.8,
                   label=f"selected η = {float(eta):.3g}")
    if quantity == "loss":
        _mark_zero_floor(sync, floor)
    sync.finish("above", relim=False)
    # the scale and the limits belong to the quantity: switching quantities must not keep the old ones
    ax.set_yscale("log" if quantity == "loss" else "linear")
    if ok.any():
        lo, hi = float(np.min(ey[ok])), float(np.max(ey[ok]))
        if quantity == "sharpness":
            hi = max(hi, 2.0 / etas.max())
            ax.set_ylim(min(0.0, lo), 1.1 * hi)
        elif quantity == "loss":
            bottom = floor / 10**0.5 if floor is not None else lo / 2
            ax.set_ylim(bottom, hi * 2 if hi > bottom else bottom * 10)
        else:
            pad = 0.08 * (hi - lo + 1e-12)
            ax.set_ylim(lo - pad, hi + pad)
    elif quantity == "loss":
        ax.set_ylim(0.1, 10.0)
    else:
        ax.set_ylim(0.0, 1.0)
    pad = 0.015 * (etas.max() - etas.min()) if etas.size > 1 else 0.01 * abs(etas.max())
    ax.set_xlim(etas.min() - pad, etas.max() + pad)
    ylabels = {"sharpness": "sharpness λ_max", "loss": "loss f(w)", "w1": "w₁", "w2": "w₂"}
    _style(ax, "step size η", ylabels[quantity], title)
    return ax


def iterates(runs, ax: Axes | None = None, *, coordinate: int = 0, title: str | None = "Iterates",
             legend=True, projector: bool = False) -> Axes:
    """A coordinate of the iterates, w_k[coordinate], against the step k (symmetric log scale).

    The symmetric log axis keeps both the approach from w_0 ≈ 1 and a tiny two-cycle ±0.0025 around 0 in
    view; a coordinate that flips sign at most steps is drawn as dots (two rows of dots for a two-cycle).

    Returns:
        The Axes. Artists: ``"iterates:line:i"`` (ydata = ``run.params[:, coordinate]``).

    >>> run = Run({"loss": np.ones(3), "params": np.array([[1.0], [-0.5], [0.25], [-0.125]])})
    >>> find(iterates(run), "iterates:line:0").get_ydata().tolist()
    [1.0, -0.5, 0.25, -0.125]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax, projector=projector)
    sync = _Sync(ax, "iterates")
    values = []
    for i, run in enumerate(runs):
        p = _params(run)
        if not 0 <= coordinate < p.shape[1]:
            raise ValueError(f"coordinate must be in [0, {p.shape[1] - 1}], got {coordinate}")
        y = _finite(p[:, coordinate])
        values.append(y)
        _series(sync, f"line:{i}", np.arange(len(y)), y, _color(i), _run_label(run), zorder=3)
        _mark_divergence(sync, i, run, np.arange(len(y)), y)
    sync.hline("zero", 0.0, color=REF_COLOR, linewidth=0.8, zorder=1)
    sync.finish(*_legend_args(legend, runs))
    vals = np.concatenate(values) if values else np.array([1.0])
    nonzero = np.abs(vals[np.isfinite(vals) & (vals != 0)])
    linthresh = float(10 ** np.floor(np.log10(nonzero.min()))) if nonzero.size else 1e-3
    ax.set_yscale("symlog", linthresh=linthresh, linscale=0.5)
    name = "w" if p.shape[1] == 1 else f"w[{coordinate}]"
    _style(ax, "step k", f"iterate {name}_k", title)
    return ax
