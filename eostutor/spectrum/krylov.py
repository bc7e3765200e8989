"""Lanczos with full reorthogonalization (block Lanczos for k > 1), stopped by a certified residual."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from eostutor._validate import check_choice, check_int
from eostutor.curvature import HessianOperator
from eostutor.spectrum._linalg import (
    _F64,
    as_operator,
    check_tol,
    num_wanted,
    orthonormalize,
    product,
    rel_ok,
    result,
    start_block,
    wanted,
)
from eostutor.spectrum.results import SpectrumResult

__all__ = ["lanczos", "krylov", "WHICH", "BLOCK_CAP"]

WHICH = ("largest", "smallest", "both")
#: Default Lanczos block size for k > 1 is min(k, BLOCK_CAP, dim): a block of p start vectors can find an
#: eigenvalue at most p times (k = 1, the sharpness, keeps the cheaper single-vector Lanczos).
BLOCK_CAP = 16


def check_solver_args(which, k, tol, max_hvps, seed, dim):
    check_choice("which", which, WHICH)
    k = check_int("k", k, minimum=1, maximum=dim)
    tol = check_tol(tol)
    max_hvps = check_int("max_hvps", max_hvps, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    return k, tol, max_hvps, seed


@dataclass
class _KrylovState:
    m: int                    # basis size
    V: torch.Tensor           # (dim, m) orthonormal basis
    W: torch.Tensor           # (dim, m) = H V (the products, kept for true residuals)
    T: torch.Tensor           # (m, m) projected matrix VᵀHV (block tridiagonal)
    B: torch.Tensor           # (p', p) coupling to the next block: R_last = Q_next B
    p: int                    # size of the last block
    exhausted: bool           # the basis spans the whole space (m == dim): Ritz pairs are exact


def krylov(op: HessianOperator, start: torch.Tensor, max_cols: int, gen: torch.Generator
            ) -> Iterator[_KrylovState]:
    """Block Lanczos with full reorthogonalization; yields the state after each block of products.

    With a single start vector this is the classical Lanczos process: T is tridiagonal and the residual
    of a Ritz pair (θ, V s) is |β_m s_m|. In general H V = V T + Q_next B E_lastᵀ, so
    ‖H y − θ y‖ = ‖B s_last‖ for y = V s (s_last: the last block of s).
    """
    dim = op.dim
    max_cols = min(max_cols, dim)
    # Basis and products stored as rows: each vector contiguous, so the reorthogonalization reads
    # memory in order (a column slice of a (dim, max_cols) matrix would stride through it). The buffers
    # grow by doubling: a warm start that certifies in 3 products should not allocate 200 vectors.
    cap = min(max_cols, max(32, start.shape[1]))
    Vt = torch.empty(cap, dim, dtype=_F64)
    Wt = torch.empty(cap, dim, dtype=_F64)
    T = torch.zeros(cap, cap, dtype=_F64)
    q = start[:, : max_cols]
    m = 0
    scale = 0.0
    while q.shape[1] and m < max_cols:
        p = min(q.shape[1], max_cols - m)
        q = q[:, :p]
        if m + p > cap:
            cap = min(max_cols, max(2 * cap, m + p))
            Vt = torch.cat([Vt[:m], torch.empty(cap - m, dim, dtype=_F64)])
            Wt = torch.cat([Wt[:m], torch.empty(cap - m, dim, dtype=_F64)])
            T_new = torch.zeros(cap, cap, dtype=_F64)
            T_new[:m, :m] = T[:m, :m]
            T = T_new
        hq = product(op, q)
        Vt[m:m + p] = q.T
        Wt[m:m + p] = hq.T
        basis_t = Vt[:m + p]
        # Full reorthogonalization, two passes; the coefficients of both passes form the new columns of T.
        c = basis_t @ hq
        r = hq - basis_t.T @ c
        c2 = basis_t @ r
        r -= basis_t.T @ c2
        c += c2
        T[:m + p, m:m + p] = c
        T[m:m + p, :m] = c[:m].T
        T[m:m + p, m:m + p] = 0.5 * (c[m:] + c[m:].T)
        m += p
        scale = max(scale, float(c.abs().max()))
        if m >= dim:
            yield _KrylovState(m, Vt[:m].T, Wt[:m].T, T[:m, :m], torch.zeros(0, p, dtype=_F64), p, True)
            return
        # An invariant subspace leaves only round-off in r: threshold relative to the size of H.
        threshold = 1e-10 * max(scale, 1e-300)
        nrm = float(r.norm()) if p == 1 else 0.0
        if p == 1 and nrm > threshold:  # the common case, without the general block machinery
            q, b = r / nrm, torch.full((1, 1), nrm, dtype=_F64)
        else:
            q, b = orthonormalize(r, basis_t.T, gen, threshold=threshold)
        yield _KrylovState(m, Vt[:m].T, Wt[:m].T, T[:m, :m], b, p, False)


def _default_block_size(k: int, dim: int) -> int:
    return 1 if k == 1 else min(k, BLOCK_CAP, dim)


def _lanczos(op: HessianOperator, k: int, which: str, tol: float, v0, max_hvps: int, seed: int,
             block_size: int | None = None) -> SpectrumResult:
    dim = op.dim
    gen = torch.Generator().manual_seed(seed)
    if block_size is None:
        block_size = _default_block_size(k, dim)
    start = start_block(v0, dim, gen, columns=block_size)
    need = num_wanted(k, which, dim)
    # Check from one Ritz value more than wanted (from iteration 2 on for the sharpness). A warm start
    # that is nearly an eigenvector of a lower eigenvalue (the top two swapped since the last step) has a
    # small residual after one product; the second product reveals the larger Ritz value.
    first_check = min(need + 1, dim)
    count0 = op.num_hvps
    best = None
    for st in krylov(op, start, max_hvps, gen):
        if st.m < need:
            continue
        if st.m < first_check and st.m < max_hvps:
            continue
        # The small projected problem in NumPy: less call overhead than torch for a 20 x 20 matrix.
        theta, s = np.linalg.eigh(st.T.numpy())
        idx = wanted(theta, k, which)
        th, sw = theta[idx], s[:, idx]
        if st.exhausted:
            cheap = np.zeros(len(idx))
        else:
            cheap = np.linalg.norm(st.B.numpy() @ sw[st.m - st.p:], axis=0)
        th, sw = torch.from_numpy(th.copy()), torch.from_numpy(sw.copy())
        best = (st, th, sw)
        if not rel_ok(cheap, th, theta, tol):
            continue
        # The cheap residual says "done": confirm with the true residual from the stored products.
        y, hy = st.V @ sw, st.W @ sw
        true = (hy - y * th).norm(dim=0)
        if rel_ok(true, th, theta, tol):
            return result("lanczos", th, y, op.num_hvps - count0, True, true, tol, op.device)
    if best is None:  # max_hvps too small to hold the wanted number of Ritz pairs
        raise ValueError(f"max_hvps={max_hvps} is too small: Lanczos needs at least {need} products "
                         f"for {need} eigenvalues")
    st, th, sw = best
    y, hy = st.V @ sw, st.W @ sw
    true = (hy - y * th).norm(dim=0)
    theta_all = torch.linalg.eigvalsh(st.T)
    return result("lanczos", th, y, op.num_hvps - count0, rel_ok(true, th, theta_all, tol), true, tol,
                   op.device)


def lanczos(operator, k: int = 1, *, which: str = "largest", tol: float = 1e-3, v0=None,
            max_hvps: int = 200, seed: int = 0, block_size: int | None = None) -> SpectrumResult:
    """Extreme eigenvalues of a symmetric operator by Lanczos with full reorthogonalization.

    The arithmetic is float64 whatever the operator's dtype (products are cast). After every product the
    Ritz values of the projected tridiagonal matrix T are computed (a tiny ``eigh``) and the iteration
    stops as soon as every wanted Ritz pair (θ, y) has ‖H y − θ y‖ ≤ tol·|θ|. That residual costs nothing:
    it equals |β_m s_m| (the last off-diagonal of T times the last component of the Ritz vector of T), and
    before stopping it is confirmed from the stored products H V. Starting from a good guess ``v0`` (e.g.
    the top eigenvector at the previous training step) the first few products already nearly certify it.

    For k > 1 it runs *block* Lanczos from p = ``block_size`` start vectors (p products per step).

    Multiplicities: a Krylov method finds an eigenvalue of multiplicity m at most p times (p = the block
    size). In exact arithmetic a single start vector sees each eigenspace in one direction only, so
    single-vector Lanczos reports a repeated eigenvalue once (or a few times, by accident of round-off
    and restarts), and the residual test cannot notice the missing copies: every reported pair is a true
    eigenpair, but they need not be the top k *counted with multiplicity*. The default block size
    min(k, 16, dim) for k > 1 covers multiplicities up to that size; for larger clusters (Flatland's
    cluster at 2/K has multiplicity K) pass a larger ``block_size`` or, on small problems, use the dense
    ``method="exact"`` of :func:`top_eigenvalues`.

    Args:
        operator: A :class:`~eostutor.curvature.HessianOperator`, or a symmetric (dim, dim) torch/NumPy
            matrix.
        k: Number of eigenvalues at each wanted end (1 <= k <= dim).
        which: ``"largest"`` (algebraic), ``"smallest"`` or ``"both"`` (k of each).
        tol: Relative residual to certify, in (0, 1). Eigenvalues below 1e-6·max|θ| are measured
            against that floor instead (a relative test never passes at θ = 0).
        v0: Start vector (dim,) or block (dim, m); default seeded Gaussian. A v0 with fewer than
            ``block_size`` columns is padded with seeded random columns; a wider one is kept whole.
        max_hvps: Budget of products (the basis holds at most this many float64 vectors of length dim).
        seed: Seed of the random start (and of any restart direction).
        block_size: Start vectors, 1 <= block_size <= dim; ``None`` means 1 for k = 1 (the sharpness:
            single-vector Lanczos, cheapest) and min(k, 16, dim) for k > 1. An eigenvalue is found at
            most ``block_size`` times (or v0's column count, if larger).

    Returns:
        A :class:`SpectrumResult`. The residual certifies that an eigenvalue of H lies within it of each
        θ; that the θ found are the *extreme* ones holds with high probability from a random start, and
        needs a start that is not orthogonal to the wanted eigenvectors, and a block at least as wide
        as the multiplicity of each wanted eigenvalue.

    >>> A = torch.diag(torch.tensor([1.0, 2.0, 3.0, 10.0], dtype=torch.float64))
    >>> res = lanczos(A, tol=1e-8)
    >>> round(res.value, 8), res.converged
    (10.0, True)
    """
    op = as_operator(operator)
    k, tol, max_hvps, seed = check_solver_args(which, k, tol, max_hvps, seed, op.dim)
    if block_size is not None:
        block_size = check_int("block_size", block_size, minimum=1, maximum=op.dim)
    return _lanczos(op, k, which, tol, v0, max_hvps, seed, block_size)
