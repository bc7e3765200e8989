"""Shared pieces of the eigen-solvers: products in float64, start blocks, Gram–Schmidt, the residual test.

The solvers' own arithmetic is float64 NumPy (per-operation overhead matters more than flops for these
small, sequential steps: NumPy's is about a third of torch's); only the products go through torch.
"""

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


def as_operator(operator) -> HessianOperator:
    """A HessianOperator as it is; a square matrix (torch or NumPy) wrapped as one."""
    if isinstance(operator, HessianOperator):
        return operator
    return HessianOperator.from_matrix(operator)


def product(op: HessianOperator, v: np.ndarray) -> np.ndarray:
    """H @ v for a float64 block (dim, p), as a float64 NumPy block (counted by the operator); a non-finite
    product is an error.
    """
    out = op.apply(torch.from_numpy(v).to(dtype=op.dtype, device=op.device)).to(device="cpu", dtype=_F64)
    out = out.numpy()
    if not np.isfinite(out).all():
        raise ValueError("the Hessian at w is not finite (a product H @ v has NaN or inf entries); "
                         "e.g. HolderPower with nu < 1 at a zero coordinate")
    return out


def check_tol(tol) -> float:
    return check_in_range("tol", tol, 0.0, 1.0, low_inclusive=False, high_inclusive=False)


def randn(gen: torch.Generator, *shape: int) -> np.ndarray:
    """Seeded standard normal numbers (torch's generator, so every solver shares one seeding scheme)."""
    return torch.randn(*shape, generator=gen, dtype=_F64).numpy()


def start_block(v0, dim: int, gen: torch.Generator, columns: int = 1) -> np.ndarray:
    """An orthonormal (dim, p) float64 start block: v0 (vector or block, used as given) or seeded Gaussian
    columns.

    ``columns`` (<= dim) columns from a seeded Gaussian when v0 is None; a v0 of fewer columns is padded
    with seeded random columns orthogonal to it (a wider v0 is kept whole).
    """
    columns = min(columns, dim)
    if v0 is None:
        block = randn(gen, dim, columns)
    else:
        v0 = as_tensor("v0", v0, dim, columns=True)
        if v0.ndim == 2 and not 1 <= v0.shape[1] <= dim:
            raise ValueError(f"v0 must have shape ({dim},) or ({dim}, m) with 1 <= m <= {dim}, got {tuple(v0.shape)}")
        block = v0.detach().to(device="cpu", dtype=_F64).reshape(dim, -1).numpy().copy()
        if not np.isfinite(block).all():
            raise ValueError("v0 must be finite; got NaN or inf entries")
        if float(np.linalg.norm(block)) == 0.0:
            raise ValueError("v0 must be nonzero")
    # Columns (nearly) dependent on earlier ones are replaced by random directions.
    q = orthonormalize(block, np.empty((0, dim)), gen, threshold=1e-12 * float(np.linalg.norm(block)))
    if q.shape[1] < columns:  # a warm start narrower than the block: pad with random directions
        extra = randn(gen, dim, columns - q.shape[1])
        more = orthonormalize(extra, q.T, gen, threshold=1e-12 * float(np.linalg.norm(extra)))
        q = np.concatenate([q, more], axis=1)
    return q


def orthonormalize(block: np.ndarray, basis_rows: np.ndarray, gen: torch.Generator, threshold: float,
                   *, replace: bool = True) -> np.ndarray:
    """Gram–Schmidt of ``block``'s columns (dim, p) against an orthonormal basis (given as rows, (m, dim))
    and each other.

    The block is projected against the basis at once; a second pass follows when the first removed most of
    a column (the DGKS test; "twice is enough", Kahan and Parlett): a Ritz residual is orthogonal to the
    basis up to round-off, so one pass usually suffices. A column with (almost) nothing left (norm ≤
    threshold, e.g. when the Krylov space became invariant) is replaced by a random unit vector orthogonal
    to everything so far (or dropped, with ``replace=False``): the iteration then explores a new direction
    instead of dividing round-off by round-off.

    Returns:
        The orthonormal columns (dim, p'), p' ≤ p.
    """
    dim, p = block.shape
    m = basis_rows.shape[0]
    if p == 1:  # the common case (one new direction, every Lanczos step): vector arithmetic, no loop
        v = np.array(block[:, 0], dtype=np.float64)
        before = float(v @ v)
        if m:
            v -= (basis_rows @ v) @ basis_rows
            after = float(v @ v)
            if after < 0.49 * before:  # the norm fell below 0.7 of what it was: a second pass
                v -= (basis_rows @ v) @ basis_rows
                after = float(v @ v)
        else:
            after = before
        nrm = float(np.sqrt(after))
        if nrm > threshold:
            return (v / nrm)[:, None]
    x = np.array(block, dtype=np.float64)
    if m:
        before = np.linalg.norm(x, axis=0)
        x -= basis_rows.T @ (basis_rows @ x)
        if (np.linalg.norm(x, axis=0) < 0.7 * before).any():
            x -= basis_rows.T @ (basis_rows @ x)
    out = []
    for i in range(p):
        xi = x[:, i]
        for _ in range(2):
            for q in out:
                xi = xi - q * (q @ xi)
        nrm = float(np.linalg.norm(xi))
        if nrm > threshold:
            out.append(xi / nrm)
            continue
        if not replace:
            continue
        if m + len(out) >= dim:  # nothing left to explore
            break
        z = randn(gen, dim)
        for _ in range(2):
            if m:
                z -= basis_rows.T @ (basis_rows @ z)
            for q in out:
                z -= q * (q @ z)
        out.append(z / np.linalg.norm(z))
    return np.stack(out, axis=1) if out else np.empty((dim, 0))


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


def converged(residuals, theta, all_theta, tol: float) -> np.ndarray:
    """Per pair: residual ≤ tol·max(|θ|, 1e-6·max|all θ|) (a relative test never passes at θ = 0)."""
    residuals, theta, all_theta = (np.asarray(x, dtype=np.float64) for x in (residuals, theta, all_theta))
    floor = RELATIVE_FLOOR * float(np.abs(all_theta).max()) if all_theta.size else 0.0
    return residuals <= tol * np.maximum(np.abs(theta), floor)


def result(method, theta, vectors, num_hvps, is_converged, residuals, tol, device) -> SpectrumResult:
    """A SpectrumResult with the pairs in descending order (NumPy or torch inputs)."""
    theta = np.asarray(theta, dtype=np.float64)
    order = np.argsort(-theta, kind="stable")
    vectors = torch.as_tensor(np.ascontiguousarray(np.asarray(vectors, dtype=np.float64)[:, order]))
    return SpectrumResult(
        eigenvalues=theta[order],
        eigenvectors=vectors.to(device=device),
        num_hvps=int(num_hvps),
        converged=bool(is_converged),
        residuals=np.asarray(residuals, dtype=np.float64)[order],
        method=method,
        tol=float(tol),
    )
