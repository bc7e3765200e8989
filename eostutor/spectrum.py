"""Eigenvalues of the Hessian from Hessian-vector products: sharpness, top-k, trace, density.

The sharpness is the largest *algebraic* eigenvalue of the Hessian, λ_max(H). Every estimate here says how
good it is: the number of HVPs it used, whether it converged, and the residual ‖H y − θ y‖ of each
eigenpair (θ, y). For a symmetric H a residual r certifies that some eigenvalue of H lies within r of θ
(and, when θ is separated from the rest of the spectrum by a gap δ, within about r²/δ).

Methods:
    ``"exact"``: the dense Hessian and ``torch.linalg.eigh`` in float64 (small problems only).
    ``"lanczos"``: Lanczos with full reorthogonalization, in float64, stopped as soon as every wanted Ritz
        pair has ‖H y − θ y‖ ≤ tol·|θ|. The default for anything bigger than a toy. For k > 1 it is block
        Lanczos (block min(k, 16)): a Krylov method finds an eigenvalue at most block-size times, so
        multiplicities beyond the block are undercounted (``method="exact"`` when they matter).
    ``"power"``: power (subspace) iteration with the same residual stop; kept because it is the method
        the reader meets first, and slow on clustered top eigenvalues (the teaching point).
    ``"auto"``: ``"exact"`` for ``dim <= AUTO_EXACT_DIM`` (200; 1,000 for toys with closed-form Hessians),
    else ``"lanczos"``.

Also: :func:`hessian_trace` (Hutchinson), :func:`spectral_density` (stochastic Lanczos quadrature) and
:func:`segment_smoothness` (the local smoothness along the gradient step of Flatland's Figure 4).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from eostutor._validate import check_choice, check_in_range, check_int, check_positive
from eostutor.curvature import HessianOperator
from eostutor.problems import DENSE_HESSIAN_LIMIT, Problem

__all__ = [
    "EXACT_BATCH_DIM",
    "exact_curvature",
    "SpectrumResult",
    "TraceResult",
    "SpectralDensity",
    "SegmentSmoothness",
    "sharpness",
    "top_eigenvalues",
    "lanczos",
    "power_iteration",
    "hessian_trace",
    "spectral_density",
    "segment_smoothness",
    "METHODS",
    "WHICH",
    "AUTO_EXACT_DIM",
    "AUTO_EXACT_DIM_ANALYTIC",
    "EXACT_MAX_DIM",
]

METHODS = ("auto", "exact", "lanczos", "power")
WHICH = ("largest", "smallest", "both")
#: ``method="auto"`` uses the dense Hessian up to this many parameters, Lanczos above.
AUTO_EXACT_DIM = 200
#: ... and up to this many for problems with closed-form Hessians (the toys).
AUTO_EXACT_DIM_ANALYTIC = 1000
#: ``method="exact"`` refuses above this many parameters (a dense dim x dim Hessian and its eigh).
EXACT_MAX_DIM = DENSE_HESSIAN_LIMIT
#: Eigenvalues smaller than this fraction of the largest |θ| are certified against that fraction instead
#: of their own size: a relative test ‖Hy − θy‖ ≤ tol·|θ| can never pass for θ = 0.
_RELATIVE_FLOOR = 1e-6
#: Default Lanczos block size for k > 1 is min(k, BLOCK_CAP, dim): a block of p start vectors can find an
#: eigenvalue at most p times (k = 1, the sharpness, keeps the cheaper single-vector Lanczos).
_BLOCK_CAP = 16

_F64 = torch.float64


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------
@dataclass(repr=False)
class SpectrumResult:
    """Eigenvalues of the Hessian with the evidence of how good they are.

    Attributes:
        eigenvalues: Descending (largest algebraic first), a float64 NumPy array of length k
            (2k for ``which="both"``: the k largest then the k smallest).
        eigenvectors: ``(dim, k)`` float64 tensor of unit columns, in the same order.
        num_hvps: Hessian-vector products used (a dense Hessian costs ``dim``).
        converged: Whether every pair met ‖H y − θ y‖ ≤ tol·|θ|.
        residuals: ‖H y − θ y‖ for each pair (computed from the products, not estimated).
        method: ``"exact"``, ``"lanczos"`` or ``"power"``.
        tol: The relative tolerance asked for.

    >>> from eostutor.problems import Quadratic
    >>> res = sharpness(Quadratic([1.0, 4.0]), torch.zeros(2, dtype=torch.float64), method="exact")
    >>> res.value, res.converged
    (4.0, True)
    """

    eigenvalues: np.ndarray
    eigenvectors: torch.Tensor
    num_hvps: int
    converged: bool
    residuals: np.ndarray
    method: str
    tol: float

    @property
    def value(self) -> float:
        """The largest eigenvalue found (the sharpness for ``which="largest"``)."""
        return float(self.eigenvalues[0])

    @property
    def vector(self) -> torch.Tensor:
        """The eigenvector of ``value``."""
        return self.eigenvectors[:, 0]

    @property
    def relative_residuals(self) -> np.ndarray:
        """‖H y − θ y‖ / |θ| for each pair."""
        return self.residuals / np.maximum(np.abs(self.eigenvalues), np.finfo(np.float64).tiny)

    def __repr__(self) -> str:
        vals = ", ".join(f"{x:.5g}" for x in self.eigenvalues[:6])
        if len(self.eigenvalues) > 6:
            vals += f", … ({len(self.eigenvalues)} in all)"
        status = "converged" if self.converged else "NOT converged"
        rel = float(np.max(self.relative_residuals)) if len(self.residuals) else math.nan
        return (f"SpectrumResult({self.method}: λ=[{vals}], {self.num_hvps} HVPs, {status}, "
                f"max rel. residual {rel:.0e})")


@dataclass(repr=False)
class TraceResult:
    """A Hutchinson estimate of the Hessian trace.

    Attributes:
        estimate: Mean of zᵀHz over Rademacher vectors z (unbiased for tr H).
        std_error: Standard error of the mean (sample standard deviation / √num_samples).
        num_samples: Number of vectors z.
        num_hvps: HVPs used (= num_samples).
        samples: The individual zᵀHz values.
    """

    estimate: float
    std_error: float
    num_samples: int
    num_hvps: int
    samples: np.ndarray

    def __repr__(self) -> str:
        return (f"TraceResult(trace={self.estimate:.5g} ± {self.std_error:.2g}, "
                f"{self.num_samples} Rademacher samples, {self.num_hvps} HVPs)")


@dataclass(repr=False)
class SpectralDensity:
    """A smoothed eigenvalue density from stochastic Lanczos quadrature.

    The density is ρ(t) = Σᵢ weightsᵢ · N(t; nodesᵢ, sigma²): a Gaussian bump at each Ritz value, weighted
    by the squared first component of its Ritz vector and averaged over probes. The weights sum to 1, so
    ρ integrates to 1, and Σ weights·nodes estimates tr(H)/dim.

    Attributes:
        grid: Points t where the density is evaluated.
        density: ρ(t) on the grid.
        nodes: Ritz values of all probes (concatenated).
        weights: Their quadrature weights (sum to 1).
        sigma: Width of the Gaussian kernel.
        num_probes: Random start vectors used.
        num_hvps: HVPs used.
    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    num_probes: int
    num_hvps: int

    @property
    def mean(self) -> float:
        """Σ weights·nodes, an estimate of tr(H)/dim."""
        return float(np.sum(self.weights * self.nodes))

    def __repr__(self) -> str:
        return (f"SpectralDensity({self.num_probes} probes, {len(self.nodes)} nodes in "
                f"[{self.nodes.min():.4g}, {self.nodes.max():.4g}], sigma={self.sigma:.2g}, "
                f"{self.num_hvps} HVPs)")


@dataclass(repr=False)
class SegmentSmoothness:
    """Local smoothness along the gradient step (Flatland, Figure 4).

    Attributes:
        steps: The step sizes s (as given).
        smoothness: ‖∇f(w) − ∇f(w − s g)‖ / (s‖g‖) for each s (g = ∇f(w)).
        rayleigh: gᵀHg/‖g‖², the s → 0 limit of ``smoothness`` when the Hessian exists.
        grad_norm: ‖g‖.
        loss: f(w).
    """

    steps: np.ndarray
    smoothness: np.ndarray
    rayleigh: float
    grad_norm: float
    loss: float

    @property
    def segment_sup(self) -> np.ndarray:
        """l(w, s) = max of ``smoothness`` over the given steps ≤ s: the segment smoothness of the paper
        evaluated on this grid of steps (nondecreasing in s)."""
        order = np.argsort(self.steps, kind="stable")
        running = np.maximum.accumulate(self.smoothness[order])
        out = np.empty_like(running)
        out[order] = running
        return out

    def __repr__(self) -> str:
        return (f"SegmentSmoothness({len(self.steps)} steps in [{self.steps.min():.3g}, {self.steps.max():.3g}], "
                f"smoothness in [{np.nanmin(self.smoothness):.4g}, {np.nanmax(self.smoothness):.4g}], "
                f"rayleigh={self.rayleigh:.4g})")


# ---------------------------------------------------------------------------------------------------
# Operators and argument checks
# ---------------------------------------------------------------------------------------------------
class _Counted:
    """A float64 view of any symmetric operator that counts the vectors it multiplies."""

    def __init__(self, operator):
        if isinstance(operator, np.ndarray):
            operator = torch.as_tensor(operator)
        shape = getattr(operator, "shape", None)
        if shape is None or len(shape) != 2 or shape[0] != shape[1] or not hasattr(operator, "__matmul__"):
            raise ValueError(
                "operator must be a HessianOperator or a square matrix (torch or NumPy) supporting @, "
                f"got {type(operator).__name__} with shape {None if shape is None else tuple(shape)}"
            )
        self.operator = operator
        self.dim = int(shape[0])
        self.dtype = getattr(operator, "dtype", _F64)
        if not isinstance(self.dtype, torch.dtype):
            self.dtype = _F64
        self.device = getattr(operator, "device", torch.device("cpu"))
        if not isinstance(self.device, torch.device):
            self.device = torch.device("cpu")
        self.count = 0

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.count += 1 if v.ndim == 1 else v.shape[1]
        x = v.to(dtype=self.dtype, device=self.device)
        if x.ndim == 2 and x.shape[1] == 1:  # one column: the plain product, not the batched (vmap) path
            out = (self.operator @ x[:, 0]).unsqueeze(1)
        else:
            out = self.operator @ x
        out = out.to(device="cpu", dtype=_F64)
        if not bool(torch.isfinite(out).all()):
            raise ValueError("the Hessian at w is not finite (a product H @ v has NaN or inf entries); "
                             "e.g. HolderPower with nu < 1 at a zero coordinate")
        return out


def _operator_for(problem: Problem, w, operator) -> HessianOperator:
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be an eostutor Problem, got {type(problem).__name__}")
    if operator is not None:
        if not isinstance(operator, HessianOperator):
            raise ValueError(f"operator must be a HessianOperator built at w, got {type(operator).__name__}")
        if operator.dim != problem.dim:
            raise ValueError(f"operator has dim={operator.dim} but the problem has dim={problem.dim}")
        if w is not None:
            _check_w(problem, w)
        return operator
    if w is None:
        raise ValueError("w must be a parameter vector (or pass operator=HessianOperator(problem, w))")
    return HessianOperator(problem, _check_w(problem, w))


def _check_w(problem: Problem, w) -> torch.Tensor:
    w = problem._check_vector(w, "w")
    if not bool(torch.isfinite(w).all()):
        raise ValueError(f"w must be finite; got {int((~torch.isfinite(w)).sum())} NaN or inf entries")
    return w


#: Relative size of the seeded random component mixed into every warm start (see _start_block).
WARM_START_NOISE = 0.1


def _check_tol(tol) -> float:
    return check_in_range("tol", tol, 0.0, 1.0, low_inclusive=False, high_inclusive=False)


def _start_block(v0, dim: int, gen: torch.Generator, columns: int = 1) -> torch.Tensor:
    """An orthonormal (dim, p) float64 start block: v0 (vector or block) or seeded Gaussian columns.

    ``columns`` (<= dim) columns from a seeded Gaussian when v0 is None; a v0 of fewer columns is padded
    with seeded random columns orthogonal to it (a wider v0 is kept whole).
    """
    columns = min(columns, dim)
    if v0 is None:
        block = torch.randn(dim, columns, generator=gen, dtype=_F64)
    else:
        if not isinstance(v0, torch.Tensor):
            try:
                v0 = torch.as_tensor(np.asarray(v0, dtype=np.float64))
            except (TypeError, ValueError):
                raise ValueError(f"v0 must be a tensor of shape ({dim},) or ({dim}, m), "
                                 f"got {type(v0).__name__}") from None
        if not ((v0.ndim == 1 and v0.shape[0] == dim) or (v0.ndim == 2 and v0.shape[0] == dim
                                                          and 1 <= v0.shape[1] <= dim)):
            raise ValueError(f"v0 must have shape ({dim},) or ({dim}, m) with 1 <= m <= {dim}, "
                             f"got {tuple(v0.shape)}")
        block = v0.detach().to(device="cpu", dtype=_F64).reshape(dim, -1).clone()
        if not bool(torch.isfinite(block).all()):
            raise ValueError("v0 must be finite; got NaN or inf entries")
        if float(block.norm()) == 0.0:
            raise ValueError("v0 must be nonzero")
        # A warm start that is an exact eigenvector of a lower eigenvalue (the top two swapped since the last
        # step; on toys with a diagonal Hessian this happens exactly) spans an invariant subspace: Lanczos
        # would certify the wrong eigenvalue and power iteration would never leave it. A seeded random
        # component of 10% keeps every direction in play at the cost of a product or two.
        block = block / block.norm(dim=0, keepdim=True).clamp_min(1e-300)
        noise = torch.randn(dim, block.shape[1], generator=gen, dtype=_F64)
        block = block + WARM_START_NOISE * noise / noise.norm(dim=0, keepdim=True)
    # Columns (nearly) dependent on earlier ones are replaced by random directions.
    q, _ = _orthonormalize(block, torch.empty(dim, 0, dtype=_F64), gen, threshold=1e-12 * float(block.norm()))
    if q.shape[1] < columns:  # a warm start narrower than the block: pad with random directions
        extra = torch.randn(dim, columns - q.shape[1], generator=gen, dtype=_F64)
        more, _ = _orthonormalize(extra, q, gen, threshold=1e-12 * float(extra.norm()))
        q = torch.cat([q, more], dim=1)
    return q


def _orthonormalize(block: torch.Tensor, basis: torch.Tensor, gen: torch.Generator,
                    threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Gram–Schmidt of ``block``'s columns against ``basis`` and each other (two passes each).

    Returns (Q, B) with block ≈ basis·(…) + Q B and B upper triangular. A column that has (almost) nothing
    left (norm ≤ threshold, e.g. when the Krylov space became invariant) gets B[i, i] = 0 and is replaced
    by a random unit vector orthogonal to everything so far: the iteration then explores a new direction
    instead of dividing round-off by round-off.
    """
    dim, p = block.shape
    q = torch.empty(dim, p, dtype=_F64)
    b = torch.zeros(p, p, dtype=_F64)
    for i in range(p):
        x = block[:, i].clone()
        for _ in range(2):  # "twice is enough" (Kahan, Parlett)
            if basis.shape[1]:
                x -= basis @ (basis.T @ x)
            if i:
                c = q[:, :i].T @ x
                b[:i, i] += c
                x -= q[:, :i] @ c
        nrm = float(x.norm())
        if nrm > threshold:
            q[:, i] = x / nrm
            b[i, i] = nrm
            continue
        if basis.shape[1] + i >= dim:  # nothing left to explore
            return q[:, :i], b[:i, :]
        z = torch.randn(dim, generator=gen, dtype=_F64)
        for _ in range(2):
            if basis.shape[1]:
                z -= basis @ (basis.T @ z)
            if i:
                z -= q[:, :i] @ (q[:, :i].T @ z)
        q[:, i] = z / z.norm()
    return q, b


def _wanted(theta, k: int, which: str) -> np.ndarray:
    """Indices of the wanted Ritz values (theta ascending), returned in descending order of value."""
    m = theta.shape[0]
    top = list(range(m - 1, max(m - k, 0) - 1, -1))
    bottom = list(range(min(k, m) - 1, -1, -1))
    if which == "largest":
        idx = top
    elif which == "smallest":
        idx = bottom
    else:
        idx = sorted(set(top) | set(bottom), reverse=True)
    return np.array(idx, dtype=np.int64)


def _num_wanted(k: int, which: str, dim: int) -> int:
    return min(2 * k, dim) if which == "both" else k


def _rel_ok(residuals, theta, all_theta, tol: float) -> bool:
    """Every residual ≤ tol·max(|θ|, 1e-6·max|all θ|) (NumPy arrays or tensors)."""
    residuals, theta, all_theta = (np.asarray(x) for x in (residuals, theta, all_theta))
    scale = np.maximum(np.abs(theta), _RELATIVE_FLOOR * np.abs(all_theta).max())
    return bool(np.all(residuals <= tol * scale))


def _result(method, theta, vectors, num_hvps, converged, residuals, tol, device) -> SpectrumResult:
    order = torch.argsort(theta, descending=True)
    return SpectrumResult(
        eigenvalues=theta[order].cpu().numpy().astype(np.float64),
        eigenvectors=vectors[:, order].to(device=device, dtype=_F64),
        num_hvps=int(num_hvps),
        converged=bool(converged),
        residuals=residuals[order].cpu().numpy().astype(np.float64),
        method=method,
        tol=float(tol),
    )


# ---------------------------------------------------------------------------------------------------
# Lanczos
# ---------------------------------------------------------------------------------------------------
@dataclass
class _KrylovState:
    m: int                    # basis size
    V: torch.Tensor           # (dim, m) orthonormal basis
    W: torch.Tensor           # (dim, m) = H V (the products, kept for true residuals)
    T: torch.Tensor           # (m, m) projected matrix VᵀHV (block tridiagonal)
    B: torch.Tensor           # (p', p) coupling to the next block: R_last = Q_next B
    p: int                    # size of the last block
    exhausted: bool           # the basis spans the whole space (m == dim): Ritz pairs are exact


def _krylov(matmul: _Counted, start: torch.Tensor, max_cols: int, gen: torch.Generator
            ) -> Iterator[_KrylovState]:
    """Block Lanczos with full reorthogonalization; yields the state after each block of products.

    With a single start vector this is the classical Lanczos process: T is tridiagonal and the residual
    of a Ritz pair (θ, V s) is |β_m s_m|. In general H V = V T + Q_next B E_lastᵀ, so
    ‖H y − θ y‖ = ‖B s_last‖ for y = V s (s_last: the last block of s).
    """
    dim = matmul.dim
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
        hq = matmul(q)
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
            q, b = _orthonormalize(r, basis_t.T, gen, threshold=threshold)
        yield _KrylovState(m, Vt[:m].T, Wt[:m].T, T[:m, :m], b, p, False)


def _default_block_size(k: int, dim: int) -> int:
    return 1 if k == 1 else min(k, _BLOCK_CAP, dim)


def _lanczos(matmul: _Counted, k: int, which: str, tol: float, v0, max_hvps: int, seed: int,
             block_size: int | None = None) -> SpectrumResult:
    dim = matmul.dim
    gen = torch.Generator().manual_seed(seed)
    if block_size is None:
        block_size = _default_block_size(k, dim)
    start = _start_block(v0, dim, gen, columns=block_size)
    need = _num_wanted(k, which, dim)
    # Check from one Ritz value more than wanted (from iteration 2 on for the sharpness). A warm start
    # that is nearly an eigenvector of a lower eigenvalue (the top two swapped since the last step) has a
    # small residual after one product; the second product reveals the larger Ritz value.
    first_check = min(need + 1, dim)
    count0 = matmul.count
    best = None
    for st in _krylov(matmul, start, max_hvps, gen):
        if st.m < need:
            continue
        if st.m < first_check and st.m < max_hvps:
            continue
        # The small projected problem in NumPy: less call overhead than torch for a 20 x 20 matrix.
        theta, s = np.linalg.eigh(st.T.numpy())
        idx = _wanted(theta, k, which)
        th, sw = theta[idx], s[:, idx]
        if st.exhausted:
            cheap = np.zeros(len(idx))
        else:
            cheap = np.linalg.norm(st.B.numpy() @ sw[st.m - st.p:], axis=0)
        th, sw = torch.from_numpy(th.copy()), torch.from_numpy(sw.copy())
        best = (st, th, sw)
        if not _rel_ok(cheap, th, theta, tol):
            continue
        # The cheap residual says "done": confirm with the true residual from the stored products.
        y, hy = st.V @ sw, st.W @ sw
        true = (hy - y * th).norm(dim=0)
        if _rel_ok(true, th, theta, tol):
            return _result("lanczos", th, y, matmul.count - count0, True, true, tol, matmul.device)
    if best is None:  # max_hvps too small to hold the wanted number of Ritz pairs
        raise ValueError(f"max_hvps={max_hvps} is too small: Lanczos needs at least {need} products "
                         f"for {need} eigenvalues")
    st, th, sw = best
    y, hy = st.V @ sw, st.W @ sw
    true = (hy - y * th).norm(dim=0)
    theta_all = torch.linalg.eigvalsh(st.T)
    return _result("lanczos", th, y, matmul.count - count0, _rel_ok(true, th, theta_all, tol), true, tol,
                   matmul.device)


# ---------------------------------------------------------------------------------------------------
# Power (subspace) iteration
# ---------------------------------------------------------------------------------------------------
def _power_one_end(matmul: _Counted, k: int, sign: float, tol: float, v0, max_hvps: int,
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
    dim = matmul.dim
    start = _start_block(v0, dim, gen)
    p = max(k, start.shape[1])
    if start.shape[1] < p:
        extra = torch.randn(dim, p - start.shape[1], generator=gen, dtype=_F64)
        more, _ = _orthonormalize(extra, start, gen, threshold=1e-12)
        start = torch.cat([start, more], dim=1)
    q = start
    shift, shifted = 0.0, False
    used = 0
    best = None
    seen = 0.0  # largest |θ| seen so far: the scale for the floor of the relative test
    converged = False
    while used + q.shape[1] <= max_hvps:
        hq = sign * matmul(q)
        used += q.shape[1]
        m = q.T @ hq
        theta, s = torch.linalg.eigh(0.5 * (m + m.T))  # Rayleigh–Ritz on the block, ascending
        y_all, hy_all = q @ s, hq @ s
        res_all = (hy_all - y_all * theta).norm(dim=0)
        idx = torch.arange(theta.shape[0] - 1, theta.shape[0] - 1 - k, -1)
        best = (theta[idx], y_all[:, idx], res_all[idx])
        seen = max(seen, float(theta.abs().max()))
        ok_all = res_all <= tol * torch.clamp(theta.abs(), min=_RELATIVE_FLOOR * seen)
        certified_negative = ok_all & (theta < 0)
        wants_negative = float(theta[idx].min()) < 0
        if bool(ok_all[idx].all()) and (shifted or not wants_negative):
            converged = True
            break
        if not shifted and wants_negative and bool(certified_negative.any()):
            # A certified negative Ritz value is (close to) λ_min of sign·H: shift by it from now on.
            shift = float(theta[certified_negative].min())
            shifted = True
            # Restart from the start block: the iteration so far has damped the components along the
            # eigenvalues near 0, which may be exactly the wanted ones (e.g. spectrum {0, -1, -2}).
            q = start
            continue
        q, _ = _orthonormalize(hy_all - shift * y_all, torch.empty(dim, 0, dtype=_F64), gen,
                               threshold=1e-300)
    if best is None:
        raise ValueError(f"max_hvps={max_hvps} is too small: power iteration needs at least {p} products")
    th, y, res = best
    return sign * th, y, res, used, converged


def _power(matmul: _Counted, k: int, which: str, tol: float, v0, max_hvps: int, seed: int) -> SpectrumResult:
    gen = torch.Generator().manual_seed(seed)
    low = min(k, matmul.dim - k)  # "both" never returns more than dim pairs
    if which == "both" and low > 0:
        budget = max_hvps // 2
        th1, y1, r1, n1, c1 = _power_one_end(matmul, k, 1.0, tol, v0, budget, gen)
        th2, y2, r2, n2, c2 = _power_one_end(matmul, low, -1.0, tol, v0, max_hvps - n1, gen)
        th, y, res = torch.cat([th1, th2]), torch.cat([y1, y2], dim=1), torch.cat([r1, r2])
        return _result("power", th, y, n1 + n2, c1 and c2, res, tol, matmul.device)
    sign = 1.0 if which == "largest" else -1.0
    th, y, res, used, conv = _power_one_end(matmul, k, sign, tol, v0, max_hvps, gen)
    return _result("power", th, y, used, conv, res, tol, matmul.device)
# ---------------------------------------------------------------------------------------------------
# Public solvers
# ---------------------------------------------------------------------------------------------------
def _check_solver_args(which, k, tol, max_hvps, seed, dim):
    check_choice("which", which, WHICH)
    k = check_int("k", k, minimum=1, maximum=dim)
    tol = _check_tol(tol)
    max_hvps = check_int("max_hvps", max_hvps, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    return k, tol, max_hvps, seed


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
    matmul = _Counted(operator)
    k, tol, max_hvps, seed = _check_solver_args(which, k, tol, max_hvps, seed, matmul.dim)
    if block_size is not None:
        block_size = check_int("block_size", block_size, minimum=1, maximum=matmul.dim)
    return _lanczos(matmul, k, which, tol, v0, max_hvps, seed, block_size)


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
    matmul = _Counted(operator)
    k, tol, max_hvps, seed = _check_solver_args(which, k, tol, max_hvps, seed, matmul.dim)
    return _power(matmul, k, which, tol, v0, max_hvps, seed)


def _exact(op: HessianOperator, k: int, which: str, tol: float) -> SpectrumResult:
    dim = op.dim
    if dim > EXACT_MAX_DIM:
        raise ValueError(f"method='exact' refused: dim={dim} > {EXACT_MAX_DIM} (a dense {dim}x{dim} Hessian "
                         "and its eigendecomposition); use method='lanczos' instead")
    before = op.num_hvps
    h = op.dense(max_dim=EXACT_MAX_DIM).to(device="cpu", dtype=_F64)
    if not bool(torch.isfinite(h).all()):
        raise ValueError("the Hessian at w is not finite (NaN or inf entries); "
                         "e.g. HolderPower with nu < 1 at a zero coordinate")
    theta, s = torch.linalg.eigh(h)
    idx = torch.from_numpy(_wanted(theta, k, which))
    th, y = theta[idx], s[:, idx]
    res = (h @ y - y * th).norm(dim=0)
    return _result("exact", th, y, op.num_hvps - before, True, res, tol, op.device)


def top_eigenvalues(problem: Problem, w: torch.Tensor | None, k: int, *, which: str = "largest",
                    method: str = "auto", tol: float = 1e-3, v0=None, max_hvps: int | None = None,
                    seed: int = 0, operator: HessianOperator | None = None,
                    block_size: int | None = None) -> SpectrumResult:
    """The k largest (or smallest, or both) eigenvalues of the Hessian of ``problem`` at ``w``.

    Negative eigenvalues matter: in Flatland the spectrum comes in ± pairs around a saddle, which
    ``which="both"`` shows.

    Multiplicities: Lanczos finds an eigenvalue of multiplicity m at most ``block_size`` times (default
    min(k, 16, dim) for k > 1; 1 for k = 1, where it does not matter; power iteration's block is k). The
    residuals certify each reported pair but cannot reveal copies the Krylov space never saw. When
    multiplicities matter and the problem is small, use ``method="exact"`` (e.g. Flatland's cluster at 2/K
    has multiplicity K); otherwise pass a ``block_size`` at least the largest multiplicity wanted.

    Args:
        problem: Any :class:`~eostutor.problems.Problem`.
        w: The point (may be ``None`` when ``operator`` is given).
        k: How many at each wanted end, 1 <= k <= dim.
        which: ``"largest"`` (algebraic), ``"smallest"`` or ``"both"`` (k largest and k smallest).
        method: ``"auto"`` (exact for dim <= 200, or <= 1000 for toys with closed-form Hessians; else
            Lanczos), ``"exact"``, ``"lanczos"``, ``"power"``.
        tol: Relative residual ‖H y − θ y‖ / |θ| to certify, in (0, 1).
        v0: Warm start: a previous eigenvector (dim,) or a block (dim, p). Ignored by ``"exact"``. For
            k > 1 pass the previous ``res.eigenvectors``: block Lanczos from them certified the top 5 of the
            benchmark network along GD in about 12 products per step, against about 70 cold (block start,
            block size 5). A v0 narrower
            than the block is padded with random columns.
        max_hvps: Budget of products (default max(200, 40k) for Lanczos, 5x that for power).
        seed: Seed of the random start vector.
        operator: A :class:`~eostutor.curvature.HessianOperator` already built at w (saves a gradient).
        block_size: Lanczos start block width, 1 <= block_size <= dim (``None``: 1 for k = 1, else
            min(k, 16, dim)); see :func:`lanczos`. Ignored by ``"exact"`` and ``"power"`` (whose block
            is k, or v0's width if larger).

    Returns:
        A :class:`SpectrumResult`, eigenvalues in descending order.

    >>> from eostutor.problems import Quadratic
    >>> res = top_eigenvalues(Quadratic([-3.0, 1.0, 2.0]), torch.zeros(3, dtype=torch.float64), 1, which="both")
    >>> res.eigenvalues.round(6).tolist()
    [2.0, -3.0]
    """
    check_choice("method", method, METHODS)
    check_choice("which", which, WHICH)
    op = _operator_for(problem, w, operator)
    k = check_int("k", k, minimum=1, maximum=op.dim)
    tol = _check_tol(tol)
    seed = check_int("seed", seed, minimum=0)
    if block_size is not None:
        block_size = check_int("block_size", block_size, minimum=1, maximum=op.dim)
    if method == "auto":
        # Toys have closed-form Hessians, often with exact eigenvectors that a warm start can lock onto
        # (see sharpness): their dense eigendecomposition is cheap and certain up to a larger size.
        limit = AUTO_EXACT_DIM_ANALYTIC if getattr(problem, "analytic", False) else AUTO_EXACT_DIM
        method = "exact" if op.dim <= limit else "lanczos"
    if max_hvps is None:
        max_hvps = max(200, 40 * k) * (5 if method == "power" else 1)
    if method == "exact":
        check_int("max_hvps", max_hvps, minimum=1)
        return _exact(op, k, which, tol)
    if method == "lanczos":
        return lanczos(op, k, which=which, tol=tol, v0=v0, max_hvps=max_hvps, seed=seed, block_size=block_size)
    return power_iteration(op, k, which=which, tol=tol, v0=v0, max_hvps=max_hvps, seed=seed)


def sharpness(problem: Problem, w: torch.Tensor | None, *, method: str = "auto", tol: float = 1e-3, v0=None,
              max_hvps: int = 200, seed: int = 0, operator: HessianOperator | None = None) -> SpectrumResult:
    """The sharpness λ_max(H(w)), the largest *algebraic* eigenvalue of the Hessian, with its certificate.

    GD with step size eta is stable on the local quadratic model iff eta·sharpness < 2; at the Edge of
    Stability the sharpness hovers at 2/eta. The training loop calls this every step warm-started from
    the previous top eigenvector (``v0=res.vector``), which typically certifies in a handful of HVPs.

    What the certificate says: θ lies within the residual of *some* eigenvalue. That it is the largest one
    rests on the Krylov space having seen the top eigenvector. A random start sees it with probability 1;
    a warm start is mixed with 10% seeded noise for that reason, but if the top two eigenvalues swap and
    the old vector is (nearly) an exact eigenvector, a few products may still certify the second one.
    Dense ``method="exact"`` (the default for toys up to 1,000 parameters) has no such caveat.

    Args:
        problem: Any :class:`~eostutor.problems.Problem`.
        w: The point (may be ``None`` when ``operator`` is given).
        method: ``"auto"`` (exact for dim <= 200, or <= 1000 for toys with closed-form Hessians; else
            Lanczos), ``"exact"``, ``"lanczos"``, ``"power"``.
        tol: Relative residual to certify, in (0, 1); the eigenvalue error is at most the residual
            (and typically about residual²/gap).
        v0: Warm start (dim,) or (dim, p).
        max_hvps: Budget of products (power iteration typically needs far more than Lanczos).
        seed: Seed of the random start vector.
        operator: A :class:`~eostutor.curvature.HessianOperator` already built at w.

    Returns:
        A :class:`SpectrumResult`; ``.value`` is the sharpness, ``.vector`` its eigenvector.

    >>> from eostutor.problems import Quadratic
    >>> q = Quadratic([1.0, 10.0, -20.0], rotate=0)
    >>> res = sharpness(q, torch.zeros(3, dtype=torch.float64), method="lanczos", tol=1e-8)
    >>> round(res.value, 6), res.converged
    (10.0, True)
    """
    return top_eigenvalues(problem, w, 1, which="largest", method=method, tol=tol, v0=v0, max_hvps=max_hvps,
                           seed=seed, operator=operator)


# ---------------------------------------------------------------------------------------------------
# Exact spectra at many points of a tiny problem
# ---------------------------------------------------------------------------------------------------
#: Largest dim for which exact_curvature builds batched dense Hessians (a dim x dim Hessian per iterate).
EXACT_BATCH_DIM = 10


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
    if problem.dim > EXACT_BATCH_DIM:
        raise ValueError(f"exact_curvature is for problems with dim <= {EXACT_BATCH_DIM}, got dim={problem.dim}; "
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



# ---------------------------------------------------------------------------------------------------
# Trace, density, segment smoothness
# ---------------------------------------------------------------------------------------------------
def _rademacher(dim: int, m: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, (dim, m), generator=gen).to(_F64) * 2.0 - 1.0


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
    op = _operator_for(problem, w, operator)
    matmul = _Counted(op)
    gen = torch.Generator().manual_seed(seed)
    samples = []
    block = 16  # batched products: fewer Python round trips, same numbers
    for start in range(0, num_samples, block):
        z = _rademacher(op.dim, min(block, num_samples - start), gen)
        samples.append((z * matmul(z)).sum(dim=0))
    values = torch.cat(samples).numpy()
    return TraceResult(
        estimate=float(values.mean()),
        std_error=float(values.std(ddof=1) / math.sqrt(num_samples)),
        num_samples=num_samples,
        num_hvps=matmul.count,
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
    op = _operator_for(problem, w, operator)
    matmul = _Counted(op)
    gen = torch.Generator().manual_seed(seed)
    nodes, weights = [], []
    for _ in range(num_probes):
        q = _rademacher(op.dim, 1, gen)
        q /= q.norm()
        st = None
        for st in _krylov(matmul, q, lanczos_steps, gen):
            if not st.exhausted and float(st.B.abs().max()) == 0.0:
                break  # invariant subspace: the quadrature is exact already
        theta, s = torch.linalg.eigh(st.T)
        nodes.append(theta.numpy())
        weights.append((s[0] ** 2).numpy() / num_probes)
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
                           num_probes=num_probes, num_hvps=matmul.count)


def segment_smoothness(problem: Problem, w: torch.Tensor, steps: Sequence[float] | np.ndarray) -> SegmentSmoothness:
    """The local smoothness along the gradient step, ‖∇f(w) − ∇f(w − s g)‖ / (s‖g‖), for each s in ``steps``.

    This is the quantity of Flatland's Figure 4 (plotted log–log against s): on a quadratic ½wᵀAw it is
    ‖A g‖/‖g‖ for every s; where curvature grows away from w (the quartic) it grows with s. Its running
    maximum over s ≤ eta is the segment smoothness l(w, eta) (``.segment_sup``); a step is "large" when
    eta > 2 / l(w, eta). Costs one gradient per step size plus one HVP (for the Rayleigh quotient
    gᵀHg/‖g‖², the s → 0 limit). At a stationary point (g = 0) the ratios are NaN.

    Args:
        problem: Any :class:`~eostutor.problems.Problem`.
        w: The point.
        steps: Positive step sizes s (a 1-D sequence).

    Returns:
        A :class:`SegmentSmoothness`.

    >>> from eostutor.problems import Quadratic
    >>> seg = segment_smoothness(Quadratic([1.0, 3.0]), torch.tensor([1.0, 0.0], dtype=torch.float64), [0.1, 10.0])
    >>> seg.smoothness.round(12).tolist(), seg.rayleigh
    ([1.0, 1.0], 1.0)
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be an eostutor Problem, got {type(problem).__name__}")
    w = _check_w(problem, w)
    try:
        steps_np = np.asarray(steps, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"steps must be a 1-D sequence of positive numbers, got {steps!r}") from None
    steps_np = np.atleast_1d(steps_np)
    if steps_np.ndim != 1 or steps_np.size == 0 or not np.all(np.isfinite(steps_np)) or np.any(steps_np <= 0):
        raise ValueError(f"steps must be a non-empty 1-D sequence of finite numbers > 0, got {steps!r}")
    local = problem.hvp_at(w)
    g = local.grad
    g64 = g.to(_F64)
    gnorm = float(g64.norm())
    if gnorm == 0.0:
        nan = np.full(steps_np.shape, np.nan)
        return SegmentSmoothness(steps_np, nan, math.nan, 0.0, float(local.loss))
    rayleigh = float(g64 @ local.hvp(g).to(_F64)) / gnorm**2
    out = np.empty_like(steps_np)
    for i, s in enumerate(steps_np):
        g_s = problem.grad(w - float(s) * g).to(_F64)
        out[i] = float((g64 - g_s).norm()) / (float(s) * gnorm)
    return SegmentSmoothness(steps_np, out, rayleigh, gnorm, float(local.loss))
