"""Power (subspace) iteration: the method the reader meets first, and slow on clustered eigenvalues."""

from __future__ import annotations

import numpy as np
import torch

from eostutor.curvature import HessianOperator
from eostutor.spectrum._linalg import (
    RELATIVE_FLOOR,
    as_operator,
    orthonormalize,
    product,
    randn,
    result,
    start_block,
)
from eostutor.spectrum.krylov import check_solver_args
from eostutor.spectrum.results import SpectrumResult

__all__ = ["power_iteration"]


def _power_one_end(op: HessianOperator, k: int, sign: float, tol: float, v0, max_hvps: int,
                   gen: torch.Generator):
    """Subspace iteration for the k largest algebraic eigenvalues of sign·H.

    Power iteration converges to the eigenvalues largest in *magnitude*. If a converged Ritz value is
    negative, the magnitude-dominant set contains the most negative eigenvalue λ_min of sign·H (negatives
    are ordered by magnitude), so we shift: sign·H − λ_min·I is positive semidefinite and its dominant
    eigenvalues are the largest algebraic ones of sign·H (convergence is then slower, since the shift
    shrinks the relative gaps). After the shift the iteration restarts from the start block.
    Magnitude ties (λ and −λ both dominant) never settle without a shift: the budget runs out and the
    result says ``converged=False``; use Lanczos.
    """
    dim = op.dim
    start = start_block(v0, dim, gen)
    p = max(k, start.shape[1])
    if start.shape[1] < p:
        more = orthonormalize(randn(gen, dim, p - start.shape[1]), start.T, gen, threshold=1e-12)
        start = np.concatenate([start, more], axis=1)
    q = start
    shift, shifted = 0.0, False
    used = 0
    best = None
    seen = 0.0  # largest |θ| seen so far: the scale for the floor of the relative test
    is_converged = False
    while used + q.shape[1] <= max_hvps:
        hq = sign * product(op, q)
        used += q.shape[1]
        m = q.T @ hq
        theta, s = np.linalg.eigh(0.5 * (m + m.T))  # Rayleigh–Ritz on the block, ascending
        y_all, hy_all = q @ s, hq @ s
        res_all = np.linalg.norm(hy_all - y_all * theta, axis=0)
        idx = np.arange(theta.shape[0] - 1, theta.shape[0] - 1 - k, -1)
        best = (theta[idx], y_all[:, idx], res_all[idx])
        seen = max(seen, float(np.abs(theta).max()))
        ok_all = res_all <= tol * np.maximum(np.abs(theta), RELATIVE_FLOOR * seen)
        certified_negative = ok_all & (theta < 0)
        wants_negative = float(theta[idx].min()) < 0
        if ok_all[idx].all() and (shifted or not wants_negative):
            is_converged = True
            break
        if not shifted and wants_negative and certified_negative.any():
            # A certified negative Ritz value is (close to) λ_min of sign·H: shift by it from now on.
            shift = float(theta[certified_negative].min())
            shifted = True
            # Restart from the start block: the iteration so far has damped the components along the
            # eigenvalues near 0, which may be exactly the wanted ones (e.g. spectrum {0, -1, -2}).
            q = start
            continue
        q = orthonormalize(hy_all - shift * y_all, np.empty((0, dim)), gen, threshold=1e-300)
    if best is None:
        raise ValueError(f"max_hvps={max_hvps} is too small: power iteration needs at least {p} products")
    th, y, res = best
    return sign * th, y, res, used, is_converged


def _power(op: HessianOperator, k: int, which: str, tol: float, v0, max_hvps: int, seed: int) -> SpectrumResult:
    gen = torch.Generator().manual_seed(seed)
    low = min(k, op.dim - k)  # "both" never returns more than dim pairs
    if which == "both" and low > 0:
        budget = max_hvps // 2
        th1, y1, r1, n1, c1 = _power_one_end(op, k, 1.0, tol, v0, budget, gen)
        th2, y2, r2, n2, c2 = _power_one_end(op, low, -1.0, tol, v0, max_hvps - n1, gen)
        th, y, res = np.concatenate([th1, th2]), np.concatenate([y1, y2], axis=1), np.concatenate([r1, r2])
        return result("power", th, y, n1 + n2, c1 and c2, res, tol, op.device)
    sign = 1.0 if which == "largest" else -1.0
    th, y, res, used, conv = _power_one_end(op, k, sign, tol, v0, max_hvps, gen)
    return result("power", th, y, used, conv, res, tol, op.device)


def power_iteration(operator, k: int = 1, *, which: str = "largest", tol: float = 1e-3, v0=None,
                    max_hvps: int = 1000, seed: int = 0) -> SpectrumResult:
    """Extreme eigenvalues by power iteration (subspace iteration with Rayleigh–Ritz for k > 1).

    Each step multiplies the current block by H and re-orthonormalizes; the Rayleigh quotients are the
    estimates, and the stop is the same honest residual test as Lanczos: ‖H y − θ y‖ ≤ tol·|θ|. The error
    shrinks like (λ₂/λ₁)ⁿ, so clustered top eigenvalues (10 and 9.8: 0.98ⁿ) need hundreds of products
    where Lanczos needs tens. Power iteration finds the eigenvalue of largest *magnitude*; when that is
    negative it is λ_min, and the iteration continues on H − λ_min·I, whose dominant eigenvalue is the
    largest algebraic one of H (slower: the shift shrinks the relative gap). ``"smallest"`` runs the same
    on −H; ``"both"`` runs both ends (half the budget for the largest).

    Args:
        operator: A :class:`~eostutor.curvature.HessianOperator`, or a symmetric (dim, dim) matrix.
        k: Number of eigenvalues at each wanted end (block size; a wider ``v0`` block adds guard vectors).
        which: ``"largest"``, ``"smallest"`` or ``"both"``.
        tol: Relative residual to certify, in (0, 1).
        v0: Start vector (dim,) or block (dim, p); default seeded Gaussian.
        max_hvps: Budget of products.
        seed: Seed of the random start.

    Returns:
        A :class:`SpectrumResult` with ``method="power"``.

    >>> A = torch.diag(torch.tensor([1.0, 5.0, -2.0], dtype=torch.float64))
    >>> round(power_iteration(A, tol=1e-10).value, 8)
    5.0
    """
    op = as_operator(operator)
    k, tol, max_hvps, seed = check_solver_args(which, k, tol, max_hvps, seed, op.dim)
    return _power(op, k, which, tol, v0, max_hvps, seed)
