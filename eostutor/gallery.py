"""The course's pictures from fixed-seed runs.

``render_gallery(outdir)`` trains a few fixed-seed runs and saves one PNG per plot of
:mod:`eostutor.plots`, so the README (and GitHub readers, who cannot run widgets) can show what the course
looks like; ``python -m eostutor figures OUTDIR`` calls it. Each picture makes one point: its title says it,
and :data:`CAPTIONS` states it in a sentence, which is also the picture's alt text in the notebooks and its
``Description`` in the PNG metadata. Every picture is at most 900 px wide (the notebook output area on a
laptop).

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

__all__ = ["render_gallery", "CAPTIONS"]

# --------------------------------------------------------------------------------------------------
# The gallery
# --------------------------------------------------------------------------------------------------
#: The finding of each picture, in one sentence (the notebooks use it as the picture's alt text).
CAPTIONS = {
    "loss_quadratic": "GD on a quadratic with λ_max = 10: η = 0.05, 0.15 and 0.19 converge, and η = 0.23, above "
                      "2/λ_max = 0.2, diverges",
    "trajectory_quadratic": "GD on the quadratic with η = 0.15 and 0.19: the path zig-zags across the sharp axis "
                            "and still converges",
    "trajectory_minimalist": "GD on the minimalist example with η = 0.25 and 0.4: the bouncing carries the iterates "
                             "along the valley of minima to a flatter minimum, whose sharpness is about 2/η",
    "sharpness_minimalist": "The same two runs: while GD bounces, λ_max alternates between the two sides of the "
                            "valley; it settles just below 2/η",
    "phase_minimalist": "Self-stabilization on the minimalist example: above λ_max = 2/η the oscillation grows "
                        "and the sharpness falls; below it the oscillation dies out",
    "bifurcation_minimalist": "Bifurcation diagram of GD on the minimalist example: the final sharpness follows 2/η "
                              "up to η = 1/2, then period-2 and period-4 orbits, chaos, and divergence",
    "dashboard_eos": "GD with η = 2 on a 2×32 tanh MLP with 500 digits: λ_max rises to 2/η, overshoots once (the "
                     "loss spikes), then stays at 2/η while the loss keeps falling; η·λ_max hovers at 2",
    "dashboard_adaptive": "GD with η = 2, NLS and CDAT on the same MLP: the adaptive rules put η·λ_max above 2 from "
                          "the first steps and keep λ_max low, while GD's sharpness climbs towards 2/η",
    "eta_sharpness": "η·λ_max of GD (η = 2), NLS and CDAT: GD climbs slowly towards 2, the adaptive rules are above "
                     "2 from the first steps",
    "step_size": "The step sizes of the same runs: NLS and CDAT step beyond 2/λ_max (dashed), GD's η = 2 stays "
                 "below it",
    "segment_smoothness": "The smoothness ratio against s at one iterate of NLS on a network: the accepted step "
                          "η_k lies where the running sup l(w, s) reaches the 2/s guide",
    "density": "Hessian spectral density at the end of the GD run: a bulk near 0 and a few outliers up to λ_max",
    "flatland": "NLS and NLS-ub on the Flatland network, featured seed: NLS stuck at the 2/K floor and the prior "
                "loss with dead hidden gradients, NLS-ub training to 96% test accuracy",
    "test_accuracy": "Test accuracy on the Flatland network: NLS stays at chance (0.1), NLS-ub reaches about 0.96",
    "layer_grad_norms": "Layer gradient norms on the Flatland network: NLS's hidden-layer gradient drops to exactly 0 "
                        "within ~40 steps while its last-layer bias still learns; NLS-ub's stay alive",
    "spectrum": "Top-4 Hessian eigenvalues of a small MLP during GD, exact and by Lanczos: the two agree, for far "
                "fewer Hessian-vector products",
    "adam_edge": "Full-batch Adam (η = 0.002) on the 2×32 tanh MLP with 1,000 digits: the preconditioned sharpness "
                 "λ_max(P⁻¹H) climbs to 38/η and hovers there while the loss keeps falling",
}


def _save(fig, outdir: Path, name: str, written: list[Path]) -> None:
    import matplotlib.pyplot as plt

    path = outdir / f"{name}.png"
    with atomic_path(path) as tmp:  # an interrupted run never leaves a truncated PNG
        # at the figure's own resolution (at most 900 px wide); the finding as the PNG's description
        fig.savefig(tmp, format="png", metadata={"Title": name, "Description": CAPTIONS[name]})
    plt.close(fig)
    written.append(path)


def render_gallery(outdir, fast: bool = False) -> list[Path]:
    """Train fixed-seed runs and save one PNG per plot of :mod:`eostutor.plots` into ``outdir``.

    Args:
        outdir: Output folder (created if needed).
        fast: Fewer and shorter runs (a few seconds instead of about a minute); same pictures, coarser.

    Returns:
        The paths written, in a fixed order (one per entry of :data:`CAPTIONS`).
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

    def save(fig, name):
        _save(fig, outdir, name, written)

    def steps(n: int) -> int:
        return max(20, int(n * scale))

    # 1. A quadratic: converge, oscillate, diverge (2/λ_max = 0.2).
    quad = Quadratic([1.0, 10.0])
    runs = [train(quad, eta, 80, seed=1, label=f"GD, η = {eta:g}") for eta in (0.05, 0.15, 0.19, 0.23)]
    runs = [with_exact_sharpness(quad, r) for r in runs]
    ax = plots.loss(runs, title="Quadratic, λ_max = 10: GD converges iff η < 0.2")
    save(ax.figure, "loss_quadratic")
    ax = plots.trajectory(quad, runs[1:3], extent=(-0.9, 0.9, -0.75, 0.75),
                          title="η = 0.15 and 0.19: a zig-zag across the sharp axis that still converges")
    save(ax.figure, "trajectory_quadratic")

    # 2. The minimalist example: drift along the valley until λ_max ≈ 2/η; the self-stabilization cycle.
    mini = Minimalist()
    w0 = torch.tensor([2.0, 0.45], dtype=torch.float64)
    mini_runs = [with_exact_sharpness(mini, train(mini, eta, steps(600), w0=w0, label=f"GD, η = {eta:g}"))
                 for eta in (0.25, 0.4)]
    ax = plots.trajectory(mini, mini_runs, extent=(1.0, 2.6, 0.2, 1.05), markers=False, valley=True,
                          title="Minimalist example: GD drifts along the valley to a minimum with λ_max ≈ 2/η")
    save(ax.figure, "trajectory_minimalist")
    ax = plots.sharpness(mini_runs, title="Minimalist example: λ_max settles just below 2/η")
    save(ax.figure, "sharpness_minimalist")
    ax = plots.phase(mini_runs[0], title="Self-stabilization (η = 0.25): the oscillation grows above 2/η and "
                                         "dies out below it")
    save(ax.figure, "phase_minimalist")
    sweep = bifurcation_sweep(mini, np.linspace(0.05, 0.7, 30 if fast else 140), steps(400), 60 if not fast else 30,
                              w0)
    ax = plots.bifurcation(sweep, title="Minimalist example: λ_max follows 2/η up to η = 1/2, then period doubling "
                                        "and chaos")
    save(ax.figure, "bifurcation_minimalist")

    # 3. A network at the Edge of Stability, and adaptive steps on it.
    net = MLPProblem(digits(n_train=n_train, dtype=torch.float32), hidden=(32, 32), activation="tanh", loss="mse",
                     dtype=torch.float32)
    gd = train(net, 2.0, steps(400), sharpness_every=10, label="GD, η = 2")
    fig, _ = plots.dashboard(gd, panels=["loss", "sharpness", "eta_sharpness"], edge=True,
                             title=f"GD with η = 2 on a 2×32 tanh MLP ({n_train} digits): λ_max rises to 2/η and "
                                   "stays there while the loss keeps falling")
    save(fig, "dashboard_eos")
    nls = train(net, make_rule("nls"), steps(200), sharpness_every=5, record_params=True, label="NLS")
    cdat = train(net, make_rule("cdat"), steps(200), sharpness_every=5, label="CDAT")
    gd_short = train(net, 2.0, steps(200), sharpness_every=5, label="GD, η = 2")
    adaptive = [gd_short, nls, cdat]
    fig, _ = plots.dashboard(adaptive, panels=["loss", "sharpness", "eta_sharpness"],
                             title="Adaptive steps on the same MLP: η·λ_max above 2 from the first steps")
    save(fig, "dashboard_adaptive")
    save(plots.eta_sharpness(adaptive, title="η·λ_max: the adaptive rules are above 2 from the start").figure,
         "eta_sharpness")
    save(plots.step_size(adaptive, title="Step sizes: NLS and CDAT step beyond 2/λ_max, GD stays below").figure,
         "step_size")

    # Figure 4 of the paper: smoothness along the GD segment at one NLS iterate.
    k = min(nls.num_steps - 1, steps(200) // 2)
    w_k = net.check_params(nls.params[k], "w")
    seg = segment_smoothness(net, w_k, np.geomspace(1e-3, 10, 30 if fast else 50))
    lam = float(nls.sharpness[k]) if np.isfinite(nls.sharpness[k]) else top_eigenvalues(net, w_k, 1).value
    ax = plots.segment_smoothness(seg, eta=float(nls.eta[k]), sharpness=lam, floor=net.sharpness_floor,
                                  title=f"NLS iterate k = {k}: the accepted η_k sits where l(w, s) meets 2/s")
    save(ax.figure, "segment_smoothness")
    dens = spectral_density(net, net.check_params(gd.final_params, "w"), num_probes=2 if fast else 5,
                            lanczos_steps=40 if fast else 80)
    ax = plots.density(dens, title="Hessian spectral density at the end of the GD run")
    save(ax.figure, "density")

    # 4. Flatland: the shipped experiment's featured seed, NLS stuck at the 2/K floor vs NLS-ub (η < K).
    from eostutor.experiments import flatland

    exp = flatland(fast=True, rules=("nls", "nls-ub"), seeds=())
    flat = [exp.runs["NLS"], exp.runs["NLS-ub"]]
    fig, _ = plots.dashboard(flat, panels=["loss", "sharpness", "layer_grad_norms", "test_accuracy"],
                             title="Flatland net (4×16 ReLU), featured seed: NLS sinks to the 2/K floor and stalls; "
                                   "NLS-ub (η < K) trains")
    save(fig, "flatland")
    save(plots.test_accuracy(flat, title="Test accuracy: NLS stays at chance, NLS-ub learns").figure,
         "test_accuracy")
    save(plots.layer_grad_norms(flat, title="NLS's hidden-layer gradient drops to exactly 0").figure,
         "layer_grad_norms")

    # 5. Exact vs Lanczos top-k eigenvalues over training on a small network (dim 99).
    small = MLPProblem(gaussian_clusters(num_classes=3, dim=4, n_train=90, n_test=30), hidden=(12,),
                       activation="tanh", loss="mse")
    spec = [train(small, 0.1, steps(400), sharpness_every=10, top_k=4, sharpness_method=m, label=m)
            for m in ("exact", "lanczos")]
    ax = plots.spectrum(spec, title=f"Top-4 Hessian eigenvalues, MLP of dim {small.dim}: exact and Lanczos agree")
    save(ax.figure, "spectrum")

    # 6. Adam at its own edge (notebook 08): λ_max(P⁻¹H) at (2+2β₁)/((1−β₁)η), not at 2/η.
    from eostutor.experiments import adam

    exp = adam(fast=fast, seeds=(0,), beta1s=(0.9,))  # fast: η = 0.005, 600 steps (the edge comes sooner)
    fig, _ = plots.practice.adam_figure(exp.runs[exp.summary["featured"][0]],
                                        title=f"Full-batch Adam, η = {exp.settings['eta']:g}: λ_max(P⁻¹H) climbs to "
                                              "38/η and stays while the loss keeps falling")
    save(fig, "adam_edge")
    plt.close("all")
    return written
