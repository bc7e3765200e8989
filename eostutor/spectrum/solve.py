"""The Hessian's extreme eigenvalues of a problem at a point: ``top_eigenvalues``, ``sharpness`` and exact
spectra of tiny problems at many points.
"""

from __future__ import annotations

import numpy as np
import torch

from eostutor._validate import check_choice, check_int
from eostutor.curvature import EXACT_BATCH_DIM, HessianOperator, hessians_at
from eostutor.problems import DENSE_HESSIAN_LIMIT, Problem
from eostutor.spectrum._linalg import _F64, check_tol, result, wanted
from eostutor.spectrum.krylov import WHICH, lanczos
from eostutor.spectrum.power import power_iteration
from eostutor.spectrum.results import SpectrumResult

__all__ = ["METHODS", "AUTO_EXACT_DIM", "AUTO_EXACT_DIM_CLOSED_FORM", "EXACT_MAX_DIM", "operator_for", "resolve_method",
           "top_eigenvalues", "sharpness", "exact_curvature"]

METHODS = ("auto", "exact", "lanczos", "power")
#: ``method="auto"`` uses the dense Hessian up to this many parameters, Lanczos above.
AUTO_EXACT_DIM = 200
#: ... and up to this many for problems with closed-form Hessians (the toys).
AUTO_EXACT_DIM_CLOSED_FORM = 1000
#: ``method="exact"`` refuses above this many parameters (a dense dim x dim Hessian and its eigh).
EXACT_MAX_DIM = DENSE_HESSIAN_LIMIT


def resolve_method(problem: Problem, method: str, dim: int) -> str:
    """``"auto"`` made concrete: the dense Hessian up to ``AUTO_EXACT_DIM`` parameters (1,000 for toys with
    closed-form Hessians, whose dense eigendecomposition is cheap and certain), Lanczos above.
    """
    check_choice("method", method, METHODS)
    if method != "auto":
        return method
    limit = AUTO_EXACT_DIM_CLOSED_FORM if problem.closed_form else AUTO_EXACT_DIM
    return "exact" if dim <= limit else "lanczos"


def operator_for(problem: Problem, w, operator) -> HessianOperator:
    """The operator at w: the one given (checked against the problem), or a new one."""
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be an eostutor Problem, got {type(problem).__name__}")
    if operator is not None:
        if not isinstance(operator, HessianOperator):
            raise ValueError(f"operator must be a HessianOperator built at w, got {type(operator).__name__}")
        if operator.dim != problem.dim:
            raise ValueError(f"operator has dim={operator.dim} but the problem has dim={problem.dim}")
        if w is not None:
            problem.check_params(w, "w")
        return operator
    if w is None:
        raise ValueError("w must be a parameter vector (or pass operator=HessianOperator(problem, w))")
    return HessianOperator(problem, w)


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
    idx = torch.from_numpy(wanted(theta, k, which))
    th, y = theta[idx], s[:, idx]
    res = (h @ y - y * th).norm(dim=0)
    return result("exact", th, y, op.num_hvps - before, True, res, tol, op.device)


def top_eigenvalues(problem: Problem, w: torch.Tensor | None, k: int, *, which: str = "largest",
                    method: str = "auto", tol: float = 1e-3, v0=None, max_hvps: int | None = None,
                    seed: int = 0, operator: HessianOperator | None = None,
                    block_size: int | None = None) -> SpectrumResult:
    """The k largest (or smallest, or both) eigenvalues of the Hessian of ``problem`` at ``w``.

    Negative eigenvalues matter: at a saddle they are the way out, and ``which="both"`` shows them (the
    smooth tanh construction of notebook 06 has ± pairs; the course's dead-ReLU Flatland point has none:
    its spectrum is 2/K K times and 0, a flat, non-strict minimum).

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
    op = operator_for(problem, w, operator)
    k = check_int("k", k, minimum=1, maximum=op.dim)
    tol = check_tol(tol)
    seed = check_int("seed", seed, minimum=0)
    if block_size is not None:
        block_size = check_int("block_size", block_size, minimum=1, maximum=op.dim)
    method = resolve_method(problem, method, op.dim)
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


def exact_curvature(problem: Problem, params, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k Hessian eigenvalues and top eigenvectors at many points of a tiny problem, batched.

    One batched Hessian (:func:`eostutor.curvature.hessians_at`) and one batched ``eigh``: about 5 ms for
    1,000 points of a 2-D toy, against ~0.5 ms per point for a separate solve at each.

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
    w = torch.as_tensor(np.array(p[ok]), dtype=problem.dtype, device=problem.device)
    hess = hessians_at(problem, w)
    hess = 0.5 * (hess + hess.transpose(-1, -2)).to(torch.float64)
    good = torch.isfinite(hess).flatten(1).all(dim=1)  # iterates of a diverging run can overflow
    idx = np.flatnonzero(ok)[good.cpu().numpy()]
    if idx.size:
        ev, evec = torch.linalg.eigh(hess[good])
        vals[idx] = ev.flip(-1)[:, :k].cpu().numpy()
        vecs[idx] = evec[:, :, -1].cpu().numpy()
    return vals, vecs
