"""Extreme eigenvalues from a growing subspace: Rayleigh–Ritz, then expansion by the residuals.

One mechanism serves the cold solve, the warm-started tracking and the quadrature of the spectral
density. A :class:`Subspace` holds an orthonormal basis V (full reorthogonalization, two passes), the
products W = H V and the projected matrix T = VᵀHV. :func:`solve` starts it from a block (random, or
vectors from an earlier measurement), takes the Ritz pairs (θ, y = V s) of T, and until every wanted pair
has a relative residual ‖H y − θ y‖ ≤ tol·|θ| (computed exactly from the stored products), adds the
residuals of the pairs that are not there yet. From one start vector this is Lanczos (the residual of the
top Ritz vector spans the same Krylov space as the next Lanczos vector); from a block it is block
Lanczos; from a few previous eigenvectors it is the thick-restarted, warm-started Lanczos that tracks the
sharpness along a run (:mod:`eostutor.spectrum.tracking`).
"""

from __future__ import annotations

import numpy as np
import torch

from eostutor._validate import check_choice, check_int
from eostutor.curvature import HessianOperator
from eostutor.spectrum._linalg import (
    as_operator,
    check_tol,
    converged,
    num_wanted,
    orthonormalize,
    product,
    result,
    start_block,
    wanted,
)
from eostutor.spectrum.results import SpectrumResult

__all__ = ["lanczos", "solve", "Subspace", "WHICH", "BLOCK_CAP"]

WHICH = ("largest", "smallest", "both")
#: Default block size for k > 1 is min(k, BLOCK_CAP, dim): a block of p start vectors can find an
#: eigenvalue at most p times (k = 1, the sharpness, keeps the cheaper single-vector start).
BLOCK_CAP = 16


def check_solver_args(which, k, tol, max_hvps, seed, dim):
    check_choice("which", which, WHICH)
    k = check_int("k", k, minimum=1, maximum=dim)
    tol = check_tol(tol)
    max_hvps = check_int("max_hvps", max_hvps, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    return k, tol, max_hvps, seed


class Subspace:
    """An orthonormal basis V, the products W = H V and the projected matrix T = VᵀHV, grown by blocks.

    Float64 NumPy; vectors are stored as rows (each contiguous) in buffers that grow by doubling: a warm
    start that certifies in 3 products should not allocate 200 vectors.

    Args:
        op: The operator (products are counted by it).
        gen: Generator for the random directions that replace dependent columns.
    """

    def __init__(self, op: HessianOperator, gen: torch.Generator):
        self.op, self.gen, self.dim = op, gen, op.dim
        self.m = 0
        self._Vt = np.empty((0, self.dim))
        self._Wt = np.empty((0, self.dim))
        self._T = np.zeros((0, 0))
        self.scale = 0.0  # largest |entry| of T so far: the size of H, for relative thresholds

    @property
    def Vt(self) -> np.ndarray:
        """The basis as rows, ``(m, dim)``."""
        return self._Vt[: self.m]

    @property
    def Wt(self) -> np.ndarray:
        """The products H V as rows, ``(m, dim)``."""
        return self._Wt[: self.m]

    @property
    def T(self) -> np.ndarray:
        """VᵀHV, ``(m, m)``."""
        return self._T[: self.m, : self.m]

    def _grow(self, need: int) -> None:
        cap = min(max(2 * len(self._Vt), need, 32), self.dim)
        Vt, Wt, T = np.empty((cap, self.dim)), np.empty((cap, self.dim)), np.zeros((cap, cap))
        Vt[: self.m], Wt[: self.m], T[: self.m, : self.m] = self.Vt, self.Wt, self.T
        self._Vt, self._Wt, self._T = Vt, Wt, T

    def extend(self, block: np.ndarray, *, replace_dependent: bool = True) -> int:
        """Orthonormalize ``block`` (dim, p) against the basis, multiply the new columns, and add them.

        A column with (almost) nothing left becomes a random direction orthogonal to everything (or is
        dropped when ``replace_dependent`` is False). Returns the number of columns added (0 when the basis
        spans the whole space).
        """
        room = self.dim - self.m
        if room <= 0 or block.shape[1] == 0:
            return 0
        block = np.asarray(block, dtype=np.float64)[:, :room]
        # Relative to the size of H (invariant subspaces leave only round-off), or of the first block.
        threshold = 1e-10 * (self.scale if self.scale > 0 else max(float(np.abs(block).max()), 1e-300))
        q = orthonormalize(block, self.Vt, self.gen, threshold, replace=replace_dependent)
        p = q.shape[1]
        if p == 0:
            return 0
        if self.m + p > len(self._Vt):
            self._grow(self.m + p)
        hq = product(self.op, q)
        m = self.m
        self._Vt[m : m + p] = q.T
        self._Wt[m : m + p] = hq.T
        c = self._Vt[: m + p] @ hq  # VᵀH q: the new columns of T (and, by symmetry, rows)
        self._T[: m + p, m : m + p] = c
        self._T[m : m + p, :m] = c[:m].T
        self._T[m : m + p, m : m + p] = 0.5 * (c[m:] + c[m:].T)
        self.m = m + p
        self.scale = max(self.scale, float(np.abs(c).max()))
        return p

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Ritz values (ascending) and the coordinates S of the Ritz vectors (V S) in the basis."""
        return np.linalg.eigh(self.T)

    def vectors(self, s: np.ndarray) -> np.ndarray:
        """The Ritz vectors V S, ``(dim, columns of S)``."""
        return self.Vt.T @ s

    def residuals(self, theta: np.ndarray, s: np.ndarray) -> np.ndarray:
        """H y − θ y for the Ritz pairs (θ, V s), from the stored products (no product)."""
        return self.Wt.T @ s - (self.Vt.T @ s) * theta


def solve(op: HessianOperator, start: np.ndarray, k: int, which: str, tol: float, max_hvps: int,
          gen: torch.Generator, *, block_size: int = 1, keep: int = 0, min_dim: int = 0
          ) -> tuple[SpectrumResult, np.ndarray]:
    """Rayleigh–Ritz on a subspace grown from ``start`` (dim, p) by the residuals of the wanted pairs.

    Args:
        op: The operator.
        start: The start block (any columns; orthonormalized here).
        k: Wanted pairs at each end.
        which: "largest", "smallest" or "both".
        tol: Relative residual to certify each wanted pair.
        max_hvps: Budget of products.
        gen: Generator of the random directions.
        block_size: At most this many residuals are added per expansion.
        keep: Also return the top ``keep`` Ritz vectors (for a warm start of the next measurement).
        min_dim: Certify nothing before the subspace has this many vectors (a cold start: see
            :data:`COLD_MIN_DIM`).

    Returns:
        The result, and the top ``keep`` Ritz vectors (dim, keep) (empty when keep = 0).
    """
    dim = op.dim
    need = num_wanted(k, which, dim)
    sub = Subspace(op, gen)
    before = op.num_hvps
    sub.extend(np.asarray(start)[:, : max(1, min(max_hvps, start.shape[1]))])
    while True:
        if block_size == 1 and sub.m < min(min_dim, dim) - 1 and op.num_hvps - before < max_hvps:
            # Nothing can be certified yet: grow by H times the last vector (plain Lanczos; the top Ritz
            # residual lies in the same Krylov space) without computing Ritz pairs and residuals.
            if sub.extend(sub.Wt[-1:].T) > 0:
                continue  # (an invariant subspace adds nothing: fall through to Rayleigh–Ritz)
        theta, s = sub.ritz()
        idx = wanted(theta, k, which)
        r = sub.residuals(theta[idx], s[:, idx])
        norms = np.linalg.norm(r, axis=0)
        ok = converged(norms, theta[idx], theta, tol)
        # Check from one Ritz value more than wanted: a warm start that is an eigenvector of a lower
        # eigenvalue has a small residual at once, and the next direction reveals the larger Ritz value.
        ready = sub.m >= min(max(need + 1, min_dim), dim)
        used = op.num_hvps - before
        exhausted = sub.m >= dim
        if (ready and ok.all()) or exhausted or used >= max_hvps:
            break
        todo = [j for j in np.argsort(-norms) if not ok[j] or not ready][:block_size]
        if sub.extend(r[:, todo][:, : max_hvps - used]) == 0:
            break
    if len(idx) < need and not exhausted:
        raise ValueError(f"max_hvps={max_hvps} is too small: {need} eigenvalues need at least {need} products")
    res = result("lanczos", theta[idx], sub.vectors(s[:, idx]), op.num_hvps - before, ok.all() or exhausted,
                 np.zeros(len(idx)) if exhausted else norms, tol, op.device)
    top = np.arange(len(theta) - 1, max(len(theta) - 1 - keep, -1), -1)
    return res, sub.vectors(s[:, top])


#: A cold (random) start certifies nothing before its subspace has this many vectors. The residual test
#: proves that θ is near *an* eigenvalue; from a random start the top eigenvector's component grows only as
#: a Chebyshev polynomial of the relative gap, so with close top eigenvalues a short Krylov space can
#: certify the second one. Measured deep in the Edge of Stability on the reference MLP (GD, η = 2, steps
#: 1000/1200/1400; λ₁ − λ₂ = 3%, 1.5%, 2.2%): without this floor 4, 1 and 0 of 200 random starts certified
#: λ₂ at tol 1e-3 (errors up to 3.2%); with 20, 0 of 600, for 20.6–22.9 products on average (SciPy's
#: eigsh, whose ARPACK keeps a 20-vector basis, takes 22).
COLD_MIN_DIM = 20


def _default_block_size(k: int, dim: int) -> int:
    return 1 if k == 1 else min(k, BLOCK_CAP, dim)


def lanczos(operator, k: int = 1, *, which: str = "largest", tol: float = 1e-3, v0=None,
            max_hvps: int = 200, seed: int = 0, block_size: int | None = None) -> SpectrumResult:
    """Extreme eigenvalues of a symmetric operator by Lanczos with full reorthogonalization.

    The arithmetic is float64 whatever the operator's dtype (products are cast). After every product the
    Ritz values of the projected matrix T = VᵀHV are computed (a tiny ``eigh``) and the iteration stops as
    soon as every wanted Ritz pair (θ, y) has ‖H y − θ y‖ ≤ tol·|θ|, computed exactly from the stored
    products H V (no extra product). (A cold single-vector start skips that work while its basis is
    shorter than :data:`COLD_MIN_DIM`, where nothing may be certified yet: it grows by H times its last
    vector, plain Lanczos, which spans the same space as the top Ritz residual.) Started from a good guess
    ``v0`` (e.g. eigenvectors from the previous training step) the first few products already nearly
    certify it.

    For k > 1 it starts from a block of p = ``block_size`` vectors and adds up to p residuals at a time.

    Multiplicities: a Krylov method finds an eigenvalue of multiplicity m at most p times (p = the block
    size). In exact arithmetic a single start vector sees each eigenspace in one direction only, so
    single-vector Lanczos reports a repeated eigenvalue once, and the residual test cannot notice the
    missing copies: every reported pair is a true eigenpair, but they need not be the top k *counted with
    multiplicity*. The default block size min(k, 16, dim) for k > 1 covers multiplicities up to that
    size; for larger clusters (Flatland's cluster at 2/K has multiplicity K) pass a larger ``block_size``
    or, on small problems, use the dense ``method="exact"`` of :func:`top_eigenvalues`.

    Args:
        operator: A :class:`~eostutor.curvature.HessianOperator`, or a symmetric (dim, dim) torch/NumPy
            matrix.
        k: Number of eigenvalues at each wanted end (1 <= k <= dim).
        which: ``"largest"`` (algebraic), ``"smallest"`` or ``"both"`` (k of each).
        tol: Relative residual to certify, in (0, 1). Eigenvalues below 1e-6·max|θ| are measured
            against that floor instead (a relative test never passes at θ = 0).
        v0: Start vector (dim,) or block (dim, m), used as given; default seeded Gaussian. A v0 with fewer
            than ``block_size`` columns is padded with seeded random columns; a wider one is kept whole.
        max_hvps: Budget of products (the basis holds at most this many float64 vectors of length dim).
        seed: Seed of the random start (and of any restart direction).
        block_size: Start vectors, 1 <= block_size <= dim; ``None`` means 1 for k = 1 (the sharpness:
            single-vector Lanczos, cheapest) and min(k, 16, dim) for k > 1. An eigenvalue is found at
            most ``block_size`` times (or v0's column count, if larger).

    Returns:
        A :class:`SpectrumResult`. The residual certifies that an eigenvalue of H lies within it of each
        θ; it does not prove that θ is the *largest*. From a random start the top eigenvector is found
        because the Krylov space amplifies it, which takes more products the closer the top eigenvalues
        are; so a cold start certifies nothing before its subspace has :data:`COLD_MIN_DIM` vectors (0
        wrong in 600 measured starts deep in the Edge of Stability, against 5 without), and a block must be
        at least as wide as the multiplicity of each wanted eigenvalue. A ``v0`` that is an eigenvector of
        a lower eigenvalue can certify that one: a warm start should carry the neighbouring eigenvectors
        too, as the sharpness tracker does.

    >>> A = torch.diag(torch.tensor([1.0, 2.0, 3.0, 10.0], dtype=torch.float64))
    >>> res = lanczos(A, tol=1e-8)
    >>> round(res.value, 8), res.converged
    (10.0, True)
    """
    op = as_operator(operator)
    k, tol, max_hvps, seed = check_solver_args(which, k, tol, max_hvps, seed, op.dim)
    if block_size is None:
        block_size = _default_block_size(k, op.dim)
    block_size = check_int("block_size", block_size, minimum=1, maximum=op.dim)
    gen = torch.Generator().manual_seed(seed)
    start = start_block(v0, op.dim, gen, columns=block_size)
    return solve(op, start, k, which, tol, max_hvps, gen, block_size=block_size,
                 min_dim=COLD_MIN_DIM if v0 is None else 0)[0]


def tridiagonal(op: HessianOperator, q: np.ndarray, steps: int, gen: torch.Generator) -> np.ndarray:
    """The Lanczos matrix T (steps x steps, or smaller if the Krylov space closes) of ``op`` from the unit
    vector ``q``: the basis grows by H times its last vector (for stochastic Lanczos quadrature).
    """
    sub = Subspace(op, gen)
    sub.extend(np.asarray(q, dtype=np.float64).reshape(-1, 1))
    while sub.m < min(steps, op.dim):
        if sub.extend(sub.Wt[-1:].T, replace_dependent=False) == 0:
            break  # an invariant subspace: the quadrature is exact already
    return sub.T
