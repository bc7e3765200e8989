"""Pictures of Hessian spectra: top eigenvalues over training, densities, snapshots, segment smoothness."""

from __future__ import annotations

import math
from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from eostutor.plots.curves import _floors
from eostutor.plots.engine import (
    FLOOR_COLOR,
    OKABE_ITO,
    REF_COLOR,
    RUN_COLORS,
    _as_runs,
    _color,
    _field,
    _legend_args,
    _mark_divergence,
    _new_ax,
    _positive_limits,
    _style,
    _Sync,
    _varies,
    find,  # noqa: F401  (used by the doctests)
)
from eostutor.record import Run

__all__ = ["spectrum", "density", "segment_smoothness", "eigenvalue_snapshots"]


_SPECTRUM_STYLES = (
    dict(linestyle="-", linewidth=2.4, alpha=0.55, marker=""),
    dict(linestyle="none", marker="o", markersize=4.5, markerfacecolor="none", markeredgewidth=1.2),
    dict(linestyle="--", linewidth=1.4, marker=""),
    dict(linestyle=":", linewidth=1.6, marker=""),
)


def spectrum(runs, ax: Axes | None = None, *, title: str | None = "Top Hessian eigenvalues", legend=True,
             threshold: bool = True, floor: bool | None = None, projector: bool = False) -> Axes:
    """Top-k Hessian eigenvalues over training (``run.top_eigenvalues``), one style per run.

    Overlay an exact run and a Lanczos run of the same training to compare them side by side: the first
    run is drawn as thick pale lines, the second as hollow markers on top, and each legend entry gives
    the method and the total number of Hessian-vector products it used. Colour = eigenvalue index. With
    ``threshold`` the first run's 2/η is drawn (dashed) when its step is constant and the eigenvalues come
    within a factor 1.5 of it; ``floor`` draws the 2/K floor as :func:`~eostutor.plots.sharpness` does.

    Returns:
        The Axes. Artists: ``"spectrum:eig{j}:{i}"`` (eigenvalue j of run i), ``"spectrum:2/eta"``,
        ``"spectrum:floor:j"``.

    >>> run = Run({"loss": np.ones(2), "top_eigenvalues": np.array([[5.0, 1.0], [6.0, 2.0]]),
    ...            "sharpness_hvps": np.array([10, 12])}, {"sharpness_method": "lanczos"})
    >>> find(spectrum(run), "spectrum:eig1:0").get_ydata().tolist()
    [1.0, 2.0]
    """
    runs = _as_runs(runs)
    ax = _new_ax(ax, projector=projector)
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
        method = run.settings.sharpness_method
        name = f"{run.label}: " if len(runs) > 1 and run.label not in ("run", method) else ""
        for j in range(ev.shape[1]):
            sync.line(f"eig{j}:{i}", run.step[m], ev[m, j], color=colors[j % len(colors)], **style,
                      label=f"{name}{method}, {hvps:,} HVPs" if j == 0 else "_nolegend_")
        _mark_divergence(sync, i, run, run.step[m], ev[m, 0])
    eta = np.asarray(runs[0].eta, dtype=float)
    eta = eta[np.isfinite(eta) & (eta > 0)]
    top = max((np.nanmax(np.asarray(r.arrays.get("top_eigenvalues", np.nan), dtype=float), initial=-np.inf)
               for r in runs), default=-np.inf)
    if threshold and eta.size and not _varies(eta):
        level = 2.0 / float(np.median(eta))
        if level <= 1.5 * top:  # only where the eigenvalues come near it: a far-away line squashes the data
            sync.hline("2/eta", level, color="black", linestyle="--", linewidth=1.2, zorder=1,
                       label=f"2/η = {level:.3g}")
    for j, fl in enumerate(_floors(runs, floor)):
        sync.hline(f"floor:{j}", fl, color=FLOOR_COLOR, linestyle=":", linewidth=2.0, label=f"2/K = {fl:.3g}")
    sync.finish(*_legend_args(legend, runs), ncol=2)
    _style(ax, "step k", "eigenvalue λ_j of the Hessian", title)
    return ax


def density(result, ax: Axes | None = None, *, eigenvalues: Iterable[float] | None = None, logy: bool = True,
            title: str | None = "Hessian spectral density", projector: bool = False) -> Axes:
    """A spectral density estimate (``spectrum.spectral_density``: ``grid`` and ``density``).

    Args:
        result: The density result (attributes or keys ``grid`` and ``density``; a ``(grid, density)`` pair
            also works).
        ax: Axes to draw into.
        eigenvalues: Exact eigenvalues to show as a rug under the curve (small problems).
        logy: Log scale on the density axis (the outliers are tiny next to the bulk).
        title: Axes title.
        projector: Larger text and lines at 150 dpi (a new figure only).

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
    ax = _new_ax(ax, projector=projector)
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
    sync.finish("above")
    if logy:
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
        _positive_limits(ax)
    _style(ax, "eigenvalue λ", "density", title)
    return ax


def segment_smoothness(result, ax: Axes | None = None, eta: float | None = None, sharpness: float | None = None,
                       floor: float | None = None, *, title: str | None = "Smoothness along the GD segment",
                       projector: bool = False) -> Axes:
    """The paper's Figure 4: ‖∇f(w) − ∇f(w − s g)‖ / (s‖g‖) against s, log–log.

    Also drawn: its running maximum (the segment smoothness l(w, s) = sup over 0 < s' ≤ s), the guides
    1/s and 2/s (a step s is "large" once l(w, s) ≥ 1/s, and beyond the local descent-lemma guarantee once
    l(w, s) > 2/s), the accepted step η_k (vertical), λ_max and the 2/K floor (horizontal), and the
    curvature along g, gᵀHg/‖g‖², when the result has it.

    Several results (a dict label -> result) are overlaid, one colour each (their ratio curves and running
    sups; λ_max and gᵀHg/‖g‖² are then left out): e.g. two starting points, to compare the ratio at s = η
    with the 2/s guide, which passes through 2/η there.

    Args:
        result: From ``segment_smoothness`` (fields ``step_sizes`` and ``smoothness``; also accepted:
            ``s``/``ratios``, and ``rayleigh`` for gᵀHg/‖g‖²), a dict with those keys, or a dict
            label -> such results.
        ax: Axes to draw into.
        eta: The accepted step η_k at this iterate.
        sharpness: λ_max at this iterate.
        floor: The sharpness floor 2/K (skipped when ``None`` or 0).
        title: Axes title.
        projector: Larger text and lines at 150 dpi (a new figure only).

    Returns:
        The Axes. Artists: ``"segment_smoothness:curve"`` (xdata = steps, ydata = the ratios; ``curve:j`` for
        the j-th of several results), ``"segment_smoothness:sup"`` (``sup:j``), ``"segment_smoothness:eta"``,
        ``"segment_smoothness:sharpness"``, ``"segment_smoothness:floor"``, ``"segment_smoothness:1/s"``,
        ``"segment_smoothness:2/s"``.

    >>> res = {"step_sizes": np.array([0.01, 0.1, 1.0]), "smoothness": np.array([2.0, 2.0, 3.0])}
    >>> ax = segment_smoothness(res, eta=0.5, sharpness=4.0)
    >>> list(find(ax, "segment_smoothness:eta").get_xdata())
    [0.5, 0.5]
    """
    keys = ("step_sizes", "steps", "s", "smoothness", "ratios", "ratio", "values")
    many = isinstance(result, dict) and bool(result) and not any(k in result for k in keys)
    results = list(result.items()) if many else [(None, result)]
    ax = _new_ax(ax, projector=projector)
    sync = _Sync(ax, "segment_smoothness")
    all_s, all_r = [], []
    rayleigh = None
    for j, (label, res) in enumerate(results):
        s = np.asarray(_field(res, "step_sizes", "steps", "s"), dtype=float)
        r = np.asarray(_field(res, "smoothness", "ratios", "ratio", "values"), dtype=float)
        if s.shape != r.shape or s.ndim != 1:
            raise ValueError(f"step_sizes and smoothness must be 1-D of the same length, got {s.shape} and {r.shape}")
        order = np.argsort(s)
        s, r = s[order], r[order]
        all_s.append(s)
        all_r.append(r)
        sup = np.fmax.accumulate(np.where(np.isfinite(r), r, np.nan))
        suffix = f":{j}" if many else ""
        color = _color(j) if many else OKABE_ITO["blue"]
        name = f"{label}: " if many else ""
        sync.line("curve" + suffix, s, r, color=color, linewidth=2.0, marker="o", markersize=3,
                  label=f"{name}ratio r(w, s)" if many else "‖∇f(w) − ∇f(w − s g)‖ / (s‖g‖)")
        sync.line("sup" + suffix, s, sup, color=color, linestyle="--", linewidth=1.2, alpha=0.7,
                  label=f"{name}running sup l(w, s)" if many else "l(w, s) = running sup")
        if not many:
            rayleigh = _field(res, "rayleigh", "curvature_along_g", required=False)
    s = np.concatenate(all_s)
    r = np.concatenate(all_r)
    grid = np.geomspace(s.min(), s.max(), 100)
    sync.line("1/s", grid, 1.0 / grid, color=REF_COLOR, linestyle=":", linewidth=1.2, label="1/s and 2/s")
    sync.line("2/s", grid, 2.0 / grid, color=REF_COLOR, linestyle=":", linewidth=1.2, label="_nolegend_")
    if rayleigh is not None and np.isfinite(float(np.asarray(rayleigh).ravel()[0])):
        sync.hline("rayleigh", float(np.asarray(rayleigh).ravel()[0]), color=OKABE_ITO["bluish_green"],
                   linestyle="-.", linewidth=1.4, label="gᵀHg/‖g‖²")
    if not many and sharpness is not None and math.isfinite(float(sharpness)):
        sync.hline("sharpness", float(sharpness), color="black", linestyle="--", linewidth=1.5,
                   label=f"λ_max = {float(sharpness):.3g}")
    if floor is not None and math.isfinite(float(floor)) and float(floor) > 0:
        sync.hline("floor", float(floor), color=FLOOR_COLOR, linestyle=(0, (1, 1)), linewidth=2.0,
                   label=f"2/K = {float(floor):.3g}")
    if eta is not None and math.isfinite(float(eta)):
        eta = float(eta)
        sync.vline("eta", eta, color="black" if many else OKABE_ITO["vermillion"], linewidth=1.6 if many else 2.0,
                   zorder=1, label=f"accepted η_k = {eta:.3g}" if not many else f"s = η = {eta:.3g}")
        if many:  # where each ratio curve crosses s = η, against 2/η (the 2/s guide there)
            sync.line("2/eta", [eta], [2.0 / eta], linestyle="none", marker="D", markersize=7, color="black",
                      zorder=6, label=f"2/η = {2.0 / eta:.3g}")
            for j, (sj, rj) in enumerate(zip(all_s, all_r)):
                ok = np.isfinite(rj) & (rj > 0)
                if sj[ok].min() <= eta <= sj[ok].max():
                    at = float(np.exp(np.interp(np.log(eta), np.log(sj[ok]), np.log(rj[ok]))))
                    sync.line(f"at_eta:{j}", [eta], [at], linestyle="none", marker="o", markersize=8,
                              color=_color(j), markeredgecolor="black", zorder=6, label="_nolegend_")
    sync.finish("above", relim=False, ncol=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    vals = [v for v in (*r[np.isfinite(r) & (r > 0)], sharpness, floor) if v is not None and v > 0 and
            math.isfinite(v)]
    if vals:
        ax.set_ylim(min(vals) / 4.0, max(vals) * 3.0)
    ax.set_xlim(s.min(), s.max())
    _style(ax, "step along −g: s", "smoothness ratio", title)
    return ax


def eigenvalue_snapshots(run: Run, ax: Axes | None = None, *, title: str | None = None,
                         projector: bool = False) -> Axes:
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
    ax = _new_ax(ax, projector=projector)
    sync = _Sync(ax, "snapshots")
    steps = np.asarray(run.arrays["eig_steps"]).astype(int)
    values = np.atleast_2d(np.asarray(run.arrays["eig_values"], dtype=float))
    rank = np.arange(1, values.shape[1] + 1)
    markers = "os^Dv<>"
    for j, (k, vals) in enumerate(zip(steps, values)):
        sync.line(f"step{k}", rank, vals, color=_color(j), marker=markers[j % len(markers)], linestyle="none",
                  markersize=6, label=f"step {k}")
    floor = run.settings.sharpness_floor
    if floor > 0:
        sync.hline("floor", floor, color=FLOOR_COLOR, linestyle=":", linewidth=1.6, label=f"2/K = {floor:g}")
    finite = values[np.isfinite(values)]
    small = np.abs(finite[finite != 0]).min() if np.any(finite != 0) else 1e-3
    sync.hline("zero", 0.0, color="0.6", linewidth=0.8)
    sync.finish("above")
    ax.set_yscale("symlog", linthresh=max(min(small, 1e-2), 1e-6))
    _style(ax, "eigenvalue rank (largest first)", "Hessian eigenvalue",
           title if title is not None else f"{run.label}: top and bottom eigenvalues")
    return ax
