"""The course's pictures from fixed-seed runs, and the small computations behind them.

``render_gallery(outdir)`` trains a few fixed-seed runs and saves one PNG per plot of
:mod:`eostutor.plots`, so the README (and GitHub readers, who cannot run widgets) can show what the course
looks like; ``python -m eostutor figures OUTDIR`` calls it.

It also holds the computations that feed plots but are not plots (plots never train):

* :func:`exact_curvature`: the exact top Hessian eigenpair at many iterates of a tiny problem in one
  batched call (``torch.func.vmap`` of the Hessian, then a batched ``eigh``).
* :func:`with_exact_sharpness`: a run of a tiny problem with ``sharpness``, ``eta_sharpness``,
  ``top_eigenvalues`` and ``eigenvector`` filled in at every step from its recorded iterates.
* :func:`bifurcation_sweep`: long-run iterates of constant-η GD over a grid of η (for
  :func:`eostutor.plots.bifurcation`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from eostutor._validate import check_int
from eostutor.problems import Problem
from eostutor.record import Run
from eostutor.training import train

__all__ = ["exact_curvature", "with_exact_sharpness", "BifurcationSweep", "bifurcation_sweep", "render_gallery"]

#: Largest dim for which the batched exact curvature is used (a dim x dim Hessian per iterate).
EXACT_DIM = 10


def _batched_hessian(objective, w: torch.Tensor) -> torch.Tensor:
    """Hessians of ``objective`` at the rows of ``w``: (n, dim, dim).

    ``vmap`` evaluates f at every row; as the rows are independent, the gradient of Σ f is the per-row
    gradient, and differentiating its column j again gives row j of every Hessian (dim backward passes).
    Plain autograd on purpose: ``torch.func.hessian`` would first import torch._dynamo (~2 s, once).
    """
    w = w.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        f = torch.func.vmap(objective)(w)
        (g,) = torch.autograd.grad(f.sum(), w, create_graph=True)
        if not g.requires_grad:  # the gradient does not depend on w: the Hessian is zero
            return torch.zeros(w.shape[0], w.shape[1], w.shape[1], dtype=w.dtype, device=w.device)
        rows = [torch.autograd.grad(g[:, j].sum(), w, retain_graph=True, allow_unused=True)[0]
                for j in range(w.shape[1])]
    rows = [torch.zeros_like(w) if r is None else r for r in rows]
    return torch.stack(rows, dim=1).detach()


def exact_curvature(problem: Problem, params, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k Hessian eigenvalues and top eigenvectors at many points of a tiny problem, batched.

    One batched Hessian (``vmap`` of the objective, then dim backward passes) and one batched ``eigh``:
    about 5 ms for 1,000 points of a 2-D toy, against ~0.5 ms per point for a separate solve at each.
    Problems whose objective cannot be vmapped fall back to ``problem.hessian`` point by point.

    Args:
        problem: A problem with ``dim <= 10``.
        params: Points, an array ``(n, dim)``; rows with NaN/inf give NaN.
        k: Number of top eigenvalues (1 ≤ k ≤ dim).

    Returns:
        ``(eigenvalues (n, k) descending, eigenvectors (n, dim))`` (the top eigenvector of each point).

    >>> from eostutor.problems import Quadratic
    >>> vals, vecs = exact_curvature(Quadratic([1.0, 10.0]), np.zeros((3, 2)))
    >>> vals[:, 0].tolist(), np.abs(vecs[0]).tolist()
    ([10.0, 10.0, 10.0], [0.0, 1.0])
    """
    if problem.dim > EXACT_DIM:
        raise ValueError(f"exact_curvature is for problems with dim <= {EXACT_DIM}, got dim={problem.dim}; "
                         "use eostutor.spectrum.sharpness instead")
    k = check_int("k", k, minimum=1, maximum=problem.dim)
    p = np.asarray(params, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != problem.dim:
        raise ValueError(f"params must have shape (n, {problem.dim}), got {p.shape}")
    ok = np.all(np.isfinite(p), axis=1)
    vals = np.full((len(p), k), np.nan)
    vecs = np.full((len(p), problem.dim), np.nan)
    if not ok.any():
        return vals, vecs
    w = torch.as_tensor(p[ok], dtype=problem.dtype, device=problem.device)
    try:
        hess = _batched_hessian(problem.objective, w)
    except Exception:  # objective not vmappable: the problem's own Hessian, one point at a time
        hess = torch.stack([problem.hessian(wi) for wi in w])
    hess = 0.5 * (hess + hess.transpose(-1, -2)).to(torch.float64)
    good = torch.isfinite(hess).flatten(1).all(dim=1)  # iterates of a diverging run can overflow
    idx = np.flatnonzero(ok)[good.cpu().numpy()]
    if idx.size:
        ev, evec = torch.linalg.eigh(hess[good])
        vals[idx] = ev.flip(-1)[:, :k].cpu().numpy()
        vecs[idx] = evec[:, :, -1].cpu().numpy()
    return vals, vecs


def with_exact_sharpness(problem: Problem, run: Run, k: int = 1) -> Run:
    """A copy of ``run`` with the exact sharpness at every step, from its recorded iterates.

    Fills ``sharpness``, ``eta_sharpness``, ``top_eigenvalues`` (steps x k) and ``eigenvector`` (steps x
    dim) and records ``sharpness_method = "exact (batched, after the run)"`` in the settings. The numbers
    equal what ``train(..., sharpness_every=1, sharpness_method="exact")`` measures, at a fraction of the
    cost (see :func:`exact_curvature`). ``sharpness_hvps`` stays NaN: no HVP is used.

    >>> from eostutor.problems import Quadratic
    >>> run = with_exact_sharpness(Quadratic([1.0, 10.0]), train(Quadratic([1.0, 10.0]), 0.1, 5))
    >>> run.sharpness.tolist(), run.eta_sharpness.round(6).tolist()[:2]
    ([10.0, 10.0, 10.0, 10.0, 10.0], [1.0, 1.0])
    """
    if "params" not in run.arrays:
        raise ValueError(f"{run!r} has no recorded iterates: train with record_params=True")
    n = run.num_steps
    vals, vecs = exact_curvature(problem, run.arrays["params"][:n], k)
    arrays = dict(run.arrays)
    arrays["sharpness"] = vals[:, 0].copy()
    arrays["eta_sharpness"] = run.eta * vals[:, 0]
    arrays["top_eigenvalues"] = vals
    arrays["eigenvector"] = vecs
    settings = dict(run.settings, sharpness_every=1, sharpness_method="exact (batched, after the run)", top_k=k)
    return Run(arrays, settings, final_params=run.final_params, final_loss=run.final_loss, diverged=run.diverged,
               diverged_at=run.diverged_at, interrupted=run.interrupted, wall_time=run.wall_time, label=run.label)


@dataclass
class BifurcationSweep:
    """Long-run behaviour of constant-η GD over a grid of step sizes (for :func:`eostutor.plots.bifurcation`).

    Attributes:
        etas: The step sizes, shape (n,).
        params: The last ``keep_last`` iterates of each run, shape (n, keep_last, dim) (NaN if diverged).
        loss: f at those iterates, shape (n, keep_last).
        sharpness: Exact λ_max at those iterates, shape (n, keep_last).
        diverged: Whether each run diverged, shape (n,).
        diverged_at: The step it diverged at (-1 if it did not), shape (n,).
        num_steps: Steps per run.
        problem: ``repr`` of the problem.
        wall_time: Seconds for the whole sweep.
    """

    etas: np.ndarray
    params: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray
    num_steps: int
    problem: str
    wall_time: float = 0.0

    def __repr__(self) -> str:
        return (f"BifurcationSweep({len(self.etas)} step sizes in [{self.etas.min():.3g}, {self.etas.max():.3g}] "
                f"on {self.problem}, {self.num_steps} steps, {int(self.diverged.sum())} diverged)")


def bifurcation_sweep(problem: Problem, etas, num_steps: int = 400, keep_last: int = 60, w0=None, *,
                      seed: int = 0, callback=None, should_stop=None) -> BifurcationSweep:
    """Train constant-η GD once per η (the one loop, :func:`eostutor.training.train`) and keep the tail.

    Args:
        problem: A tiny problem (dim ≤ 10: the sharpness of the kept iterates is computed exactly).
        etas: Step sizes (positive numbers).
        num_steps: Steps per run.
        keep_last: How many final iterates to keep per run (≤ num_steps + 1).
        w0: Common starting point (default ``problem.init(seed)``).
        seed: Seed of the default starting point.
        callback: Called as ``callback(i, n)`` after each η (progress bars).
        should_stop: Polled between step sizes; True ends the sweep early (the remaining rows stay NaN).

    Returns:
        A :class:`BifurcationSweep`.

    >>> from eostutor.problems import Quadratic
    >>> sw = bifurcation_sweep(Quadratic([1.0, 10.0]), [0.1, 0.3], num_steps=200, keep_last=5)
    >>> sw.diverged.tolist(), float(sw.sharpness[0, -1])
    ([False, True], 10.0)
    """
    etas = np.asarray(etas, dtype=np.float64).ravel()
    if etas.size == 0 or not np.all(np.isfinite(etas)) or np.any(etas <= 0):
        raise ValueError(f"etas must be a non-empty list of positive numbers, got {etas!r}")
    num_steps = check_int("num_steps", num_steps, minimum=1)
    keep_last = check_int("keep_last", keep_last, minimum=1, maximum=num_steps + 1)
    if problem.dim > EXACT_DIM:
        raise ValueError(f"bifurcation_sweep is for tiny problems (dim <= {EXACT_DIM}), got dim={problem.dim}")
    w0 = problem.init(seed) if w0 is None else torch.as_tensor(w0, dtype=problem.dtype)
    n, d = etas.size, problem.dim
    params = np.full((n, keep_last, d), np.nan)
    loss = np.full((n, keep_last), np.nan)
    sharp = np.full((n, keep_last), np.nan)
    diverged = np.zeros(n, dtype=bool)
    diverged_at = np.full(n, -1, dtype=np.int64)
    start = time.perf_counter()
    for i, eta in enumerate(etas):
        if should_stop is not None and should_stop():
            break
        run = train(problem, float(eta), num_steps, w0=w0, record_params=True)
        if run.diverged:
            diverged[i], diverged_at[i] = True, run.diverged_at
        else:
            tail = run.arrays["params"][-keep_last:]
            params[i] = tail
            vals, _ = exact_curvature(problem, tail)
            sharp[i] = vals[:, 0]
            losses = np.append(run.loss, run.final_loss)
            loss[i] = losses[-keep_last:]
        if callback is not None:
            callback(i + 1, n)
    return BifurcationSweep(etas, params, loss, sharp, diverged, diverged_at, num_steps, repr(problem),
                            time.perf_counter() - start)


# --------------------------------------------------------------------------------------------------
# The gallery
# --------------------------------------------------------------------------------------------------
def _save(fig, outdir: Path, name: str, written: list[Path], dpi: int = 90) -> None:
    path = outdir / f"{name}.png"
    fig.savefig(path, dpi=dpi)
    import matplotlib.pyplot as plt

    plt.close(fig)
    written.append(path)


def render_gallery(outdir, fast: bool = False) -> list[Path]:
    """Train fixed-seed runs and save one PNG per plot of :mod:`eostutor.plots` into ``outdir``.

    Args:
        outdir: Output folder (created if needed).
        fast: Fewer and shorter runs (a few seconds instead of about a minute); same pictures, coarser.

    Returns:
        The paths written, in a fixed order.
    """
    import matplotlib.pyplot as plt

    from eostutor import plots
    from eostutor.datasets import digits, gaussian_clusters
    from eostutor.problems import Minimalist, MLPProblem, Quadratic
    from eostutor.spectrum import segment_smoothness, spectral_density, top_eigenvalues
    from eostutor.stepsizes import make_rule

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    scale = 0.25 if fast else 1.0
    n_train = 150 if fast else 500  # digits used by the network pictures
    dpi = 60 if fast else 90

    def save(fig, name):
        _save(fig, outdir, name, written, dpi)

    def steps(n: int) -> int:
        return max(20, int(n * scale))

    # 1. A quadratic: converge, oscillate, diverge (2/λ_max = 0.2).
    quad = Quadratic([1.0, 10.0])
    runs = [train(quad, eta, 80, seed=1, label=f"GD, η = {eta:g}") for eta in (0.05, 0.15, 0.19, 0.23)]
    runs = [with_exact_sharpness(quad, r) for r in runs]
    ax = plots.loss(runs, title="Quadratic, λ_max = 10: stable iff η < 2/λ_max = 0.2")
    save(ax.figure, "loss_quadratic")
    ax = plots.trajectory(quad, runs[1:3], extent=(-0.9, 0.9, -0.75, 0.75),
                          title="GD on ½wᵀAw: zig-zag along the sharp axis")
    save(ax.figure, "trajectory_quadratic")

    # 2. The minimalist example: drift along the valley until λ_max ≈ 2/η; the self-stabilization cycle.
    mini = Minimalist()
    w0 = torch.tensor([2.0, 0.45], dtype=torch.float64)
    mini_runs = [with_exact_sharpness(mini, train(mini, eta, steps(600), w0=w0, label=f"GD, η = {eta:g}"))
                 for eta in (0.25, 0.4)]
    ax = plots.trajectory(mini, mini_runs, extent=(1.0, 2.6, 0.2, 1.05), markers=False,
                          title="Minimalist example: drift to flatter minima")
    save(ax.figure, "trajectory_minimalist")
    ax = plots.sharpness(mini_runs, title="Minimalist example: λ_max falls to 2/η")
    save(ax.figure, "sharpness_minimalist")
    ax = plots.phase(mini_runs[0], title="Self-stabilization, minimalist example, η = 0.25")
    save(ax.figure, "phase_minimalist")
    sweep = bifurcation_sweep(mini, np.linspace(0.05, 0.7, 30 if fast else 140), steps(400), 60 if not fast else 30,
                              w0)
    ax = plots.bifurcation(sweep, title="Minimalist example, w₀ = (2, 0.45)")
    save(ax.figure, "bifurcation_minimalist")

    # 3. A network at the Edge of Stability, and adaptive steps on it.
    net = MLPProblem(digits(n_train=n_train, dtype=torch.float32), hidden=(32, 32), activation="tanh", loss="mse",
                     dtype=torch.float32)
    gd = train(net, 2.0, steps(400), sharpness_every=10, label="GD, η = 2")
    fig, _ = plots.dashboard(gd, title=f"2×32 tanh MLP on {n_train} digits, MSE: progressive sharpening, then EoS")
    save(fig, "dashboard_eos")
    nls = train(net, make_rule("nls"), steps(200), sharpness_every=5, record_params=True, label="NLS")
    cdat = train(net, make_rule("cdat"), steps(200), sharpness_every=5, label="CDAT")
    gd_short = train(net, 2.0, steps(200), sharpness_every=5, label="GD, η = 2")
    adaptive = [gd_short, nls, cdat]
    fig, _ = plots.dashboard(adaptive, title="Adaptive steps on the same MLP: η·λ_max above 2 from the start")
    save(fig, "dashboard_adaptive")
    save(plots.eta_sharpness(adaptive).figure, "eta_sharpness")
    save(plots.step_size(adaptive).figure, "step_size")

    # Figure 4 of the paper: smoothness along the GD segment at one NLS iterate.
    k = min(nls.num_steps - 1, steps(200) // 2)
    w_k = torch.as_tensor(nls.params[k], dtype=net.dtype)
    seg = segment_smoothness(net, w_k, np.geomspace(1e-3, 10, 30 if fast else 50))
    lam = float(nls.sharpness[k]) if np.isfinite(nls.sharpness[k]) else top_eigenvalues(net, w_k, 1).value
    ax = plots.segment_smoothness(seg, eta=float(nls.eta[k]), sharpness=lam, floor=net.sharpness_floor,
                                  title=f"Smoothness along −g at NLS iterate k = {k}")
    save(ax.figure, "segment_smoothness")
    dens = spectral_density(net, torch.as_tensor(gd.final_params, dtype=net.dtype), num_probes=2 if fast else 5,
                            lanczos_steps=40 if fast else 80)
    ax = plots.density(dens, title="Hessian spectral density at the end of the GD run")
    save(ax.figure, "density")

    # 4. Flatland: the shipped experiment's featured seed, NLS stuck at the 2/K floor vs NLS-ub (η < K).
    from eostutor.experiments import flatland

    exp = flatland(fast=True, rules=("nls", "nls-ub"), seeds=())
    flat = [exp.runs["NLS"], exp.runs["NLS-ub"]]
    fig, _ = plots.dashboard(flat, panels=["loss", "sharpness", "step_size", "eta_sharpness", "test_accuracy",
                                           "layer_grad_norms"],
                             title="Flatland net (4×16 ReLU, digits in [0, 1]), featured seed: NLS vs NLS-ub (η < K)")
    save(fig, "flatland")
    save(plots.test_accuracy(flat).figure, "test_accuracy")
    save(plots.layer_grad_norms(flat).figure, "layer_grad_norms")

    # 5. Exact vs Lanczos top-k eigenvalues over training on a small network (dim 99).
    small = MLPProblem(gaussian_clusters(num_classes=3, dim=4, n_train=90, n_test=30), hidden=(12,),
                       activation="tanh", loss="mse")
    spec = [train(small, 0.1, steps(400), sharpness_every=10, top_k=4, sharpness_method=m, label=m)
            for m in ("exact", "lanczos")]
    ax = plots.spectrum(spec, title=f"Top-4 Hessian eigenvalues, small MLP (dim {small.dim})")
    save(ax.figure, "spectrum")
    plt.close("all")
    return written
