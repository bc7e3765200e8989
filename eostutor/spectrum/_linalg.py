"""Shared pieces of the eigen-solvers: products in float64, start blocks, Gram–Schmidt, the residual test."""

from __future__ import annotations

import numpy as np
import torch

from eostutor._validate import as_tensor, check_in_range
from eostutor.curvature import HessianOperator
from eostutor.spectrum.results import SpectrumResult

_F64 = torch.float64
#: Eigenvalues smaller than this fraction of the largest |θ| are certified against that fraction instead
#: of their own size: a relative test ‖Hy − θy‖ ≤ tol·|θ| can never pass for θ = 0.
RELATIVE_FLOOR = 1e-6
#: Relative size of the seeded random component mixed into every warm start (see start_block).
WARM_START_NOISE = 0.1


def as_operator(operator) -> HessianOperator:
    """A HessianOperator as it is; a square matrix (torch or NumPy) wrapped as one."""
    if isinstance(operator, HessianOperator):
        return operator
    return HessianOperator.from_matrix(operator)


def product(op: HessianOperator, v: torch.Tensor) -> torch.Tensor:
    """H @ v in float64 on the CPU (counted by the operator); a non-finite product is an error."""
    out = (op @ v.to(dtype=op.dtype, device=op.device)).to(device="cpu", dtype=_F64)
    if not bool(torch.isfinite(out).all()):
        raise ValueError("the Hessian at w is not finite (a product H @ v has NaN or inf entries); "
                         "e.g. HolderPower with nu < 1 at a zero coordinate")
    return out


def check_tol(tol) -> float:
    return check_in_range("tol", tol, 0.0, 1.0, low_inclusive=False, high_inclusive=False)


def start_block(v0, dim: int, gen: torch.Generator, columns: int = 1) -> torch.Tensor:
    """An orthonormal (dim, p) float64 start block: v0 (vector or block) or seeded Gaussian columns.

    ``columns`` (<= dim) columns from a seeded Gaussian when v0 is None; a v0 of fewer columns is padded
    with seeded random columns orthogonal to it (a wider v0 is kept whole).
    """
    columns = min(columns, dim)
    if v0 is None:
        block = torch.randn(dim, columns, generator=gen, dtype=_F64)
    else:
        v0 = as_tensor("v0", v0, dim, columns=True)
        if v0.ndim == 2 and not 1 <= v0.shape[1] <= dim:
            raise ValueError(f"v0 must have shape ({dim},) or ({dim}, m) with 1 <= m <= {dim}, got {tuple(v0.shape)}")
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
    q, _ = orthonormalize(block, torch.empty(dim, 0, dtype=_F64), gen, threshold=1e-12 * float(block.norm()))
    if q.shape[1] < columns:  # a warm start narrower than the block: pad with random directions
        extra = torch.randn(dim, columns - q.shape[1], generator=gen, dtype=_F64)
        more, _ = orthonormalize(extra, q, gen, threshold=1e-12 * float(extra.norm()))
        q = torch.cat([q, more], dim=1)
    return q


def orthonormalize(block: torch.Tensor, basis: torch.Tensor, gen: torch.Generator,
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


def wanted(theta, k: int, which: str) -> np.ndarray:
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


def num_wanted(k: int, which: str, dim: int) -> int:
    return min(2 * k, dim) if which == "both" else k


def rel_ok(residuals, theta, all_theta, tol: float) -> bool:
    """Every residual ≤ tol·max(|θ|, 1e-6·max|all θ|) (NumPy arrays or tensors)."""
    residuals, theta, all_theta = (np.asarray(x) for x in (residuals, theta, all_theta))
    scale = np.maximum(np.abs(theta), RELATIVE_FLOOR * np.abs(all_theta).max())
    return bool(np.all(residuals <= tol * scale))


def result(method, theta, vectors, num_hvps, converged, residuals, tol, device) -> SpectrumResult:
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
