"""The course's pictures from fixed-seed runs.

``render_gallery(outdir)`` trains a few fixed-seed runs and saves one PNG per plot of
:mod:`eostutor.plots`, so the README (and GitHub readers, who cannot run widgets) can show what the course
looks like; ``python -m eostutor figures OUTDIR`` calls it.

The computations behind some pictures live upstream: :func:`eostutor.spectrum.exact_curvature`,
:func:`eostutor.training.with_exact_sharpness` and :func:`eostutor.experiments.bifurcation_sweep`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from eostutor._io import atomic_path
from eostutor.experiments import bifurcation_sweep
from eostutor.training import train, with_exact_sharpness

__all__ = ["render_gallery"]

# --------------------------------------------------------------------------------------------------
# The gallery
# --------------------------------------------------------------------------------------------------
def _save(fig, outdir: Path, name: str, written: list[Path], dpi: int = 90) -> None:
    path = outdir / f"{name}.png"
    with atomic_path(path) as tmp:  # an interrupted run never leaves a truncated PNG
        fig.savefig(tmp, dpi=dpi, format="png")
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
    w_k = net.check_params(nls.params[k], "w")
    seg = segment_smoothness(net, w_k, np.geomspace(1e-3, 10, 30 if fast else 50))
    lam = float(nls.sharpness[k]) if np.isfinite(nls.sharpness[k]) else top_eigenvalues(net, w_k, 1).value
    ax = plots.segment_smoothness(seg, eta=float(nls.eta[k]), sharpness=lam, floor=net.sharpness_floor,
                                  title=f"Smoothness along −g at NLS iterate k = {k}")
    save(ax.figure, "segment_smoothness")
    dens = spectral_density(net, net.check_params(gd.final_params, "w"), num_probes=2 if fast else 5,
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
