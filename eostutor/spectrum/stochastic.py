"""Stochastic estimates from Hessian-vector products: Hutchinson's trace and the spectral density."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from eostutor._validate import check_int, check_positive
from eostutor.curvature import HessianOperator
from eostutor.problems import Problem
from eostutor.spectrum._linalg import _F64, product
from eostutor.spectrum.krylov import tridiagonal
from eostutor.spectrum.results import SpectralDensity, TraceResult
from eostutor.spectrum.solve import operator_for

__all__ = ["hessian_trace", "spectral_density"]


def _rademacher(dim: int, m: int, gen: torch.Generator) -> np.ndarray:
    return torch.randint(0, 2, (dim, m), generator=gen).to(_F64).numpy() * 2.0 - 1.0


def hessian_trace(problem: Problem, w: torch.Tensor | None, *, num_samples: int = 100, seed: int = 0,
                  operator: HessianOperator | None = None) -> TraceResult:
    """Hutchinson's estimate tr(H) ≈ mean of zᵀHz over random ±1 vectors z (Rademacher).

    Unbiased; its standard error shrinks like 1/√num_samples (the Flatland paper tracks the trace as a
    second measure of flatness besides λ_max).

    Args:
        problem: Any :class:`~eostutor.problems.Problem`.
        w: The point (may be ``None`` when ``operator`` is given).
        num_samples: Number of vectors z (>= 2, for a standard error).
        seed: Seed of the vectors.
        operator: A HessianOperator already built at w.

    Returns:
        A :class:`TraceResult` (estimate, std_error, num_hvps, samples).

    >>> from eostutor.problems import Quadratic
    >>> res = hessian_trace(Quadratic([1.0, 2.0, 3.0]), torch.zeros(3, dtype=torch.float64), num_samples=10)
    >>> res.estimate, res.std_error  # diagonal H: zᵀHz = tr H for every ±1 vector
    (6.0, 0.0)
    """
    num_samples = check_int("num_samples", num_samples, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    op = operator_for(problem, w, operator)
    before = op.num_hvps
    gen = torch.Generator().manual_seed(seed)
    samples = []
    block = 16  # the probes in blocks (same numbers as one at a time)
    for start in range(0, num_samples, block):
        z = _rademacher(op.dim, min(block, num_samples - start), gen)
        samples.append((z * product(op, z)).sum(axis=0))
    values = np.concatenate(samples)
    return TraceResult(
        estimate=float(values.mean()),
        std_error=float(values.std(ddof=1) / math.sqrt(num_samples)),
        num_samples=num_samples,
        num_hvps=op.num_hvps - before,
        samples=values,
    )


def spectral_density(problem: Problem, w: torch.Tensor | None, *, num_probes: int = 5, lanczos_steps: int = 80,
                     grid: Sequence[float] | np.ndarray | None = None, sigma: float | None = None, seed: int = 0,
                     operator: HessianOperator | None = None) -> SpectralDensity:
    """The Hessian's eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    For each random unit probe q, ``lanczos_steps`` Lanczos steps give a tridiagonal T with eigenpairs
    (θⱼ, sⱼ); qᵀ g(H) q ≈ Σⱼ sⱼ[0]² g(θⱼ) for smooth g, and averaging over probes estimates
    tr g(H) / dim. With g a Gaussian kernel this is a smoothed histogram of the spectrum.

    Args:
        problem: Any :class:`~eostutor.problems.Problem`.
        w: The point (may be ``None`` when ``operator`` is given).
        num_probes: Random probes (Rademacher, normalized) to average.
        lanczos_steps: Lanczos steps per probe (capped at dim; stops early if the Krylov space is
            exhausted).
        grid: Where to evaluate the density (default 1000 points covering the nodes ± 5 sigma).
        sigma: Kernel width (default 1% of the range of the nodes).
        seed: Seed of the probes.
        operator: A HessianOperator already built at w.

    Returns:
        A :class:`SpectralDensity`; ``density`` integrates to ~1 over the default grid.

    >>> from eostutor.problems import Quadratic
    >>> d = spectral_density(Quadratic([1.0, 2.0, 3.0, 4.0]), torch.zeros(4, dtype=torch.float64))
    >>> round(d.mean, 6)  # tr(H)/dim
    2.5
    """
    num_probes = check_int("num_probes", num_probes, minimum=1)
    lanczos_steps = check_int("lanczos_steps", lanczos_steps, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    if sigma is not None:
        sigma = check_positive("sigma", sigma)
    op = operator_for(problem, w, operator)
    before = op.num_hvps
    gen = torch.Generator().manual_seed(seed)
    nodes, weights = [], []
    for _ in range(num_probes):
        q = _rademacher(op.dim, 1, gen)
        q /= np.linalg.norm(q)
        theta, s = np.linalg.eigh(tridiagonal(op, q, lanczos_steps, gen))
        nodes.append(theta)
        weights.append(s[0] ** 2 / num_probes)
    nodes_np, weights_np = np.concatenate(nodes), np.concatenate(weights)
    weights_np /= weights_np.sum()  # exactly 1 (it is 1 up to round-off)
    lo, hi = float(nodes_np.min()), float(nodes_np.max())
    if sigma is None:
        sigma = 0.01 * (hi - lo) if hi > lo else 0.01 * max(abs(hi), 1.0)
    if grid is None:
        grid_np = np.linspace(lo - 5 * sigma, hi + 5 * sigma, 1000)
    else:
        grid_np = np.asarray(grid, dtype=np.float64)
        if grid_np.ndim != 1 or grid_np.size < 2 or not np.all(np.isfinite(grid_np)):
            raise ValueError(f"grid must be a 1-D array of at least 2 finite numbers, got shape {grid_np.shape}")
    z = (grid_np[:, None] - nodes_np[None, :]) / sigma
    density = (np.exp(-0.5 * z**2) / (sigma * math.sqrt(2 * math.pi))) @ weights_np
    return SpectralDensity(grid=grid_np, density=density, nodes=nodes_np, weights=weights_np, sigma=float(sigma),
                           num_probes=num_probes, num_hvps=op.num_hvps - before)
