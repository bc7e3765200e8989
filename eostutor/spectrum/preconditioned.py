"""The sharpness that governs a preconditioned optimizer (Adam, RMSProp): λ_max(P^{-1/2} H P^{-1/2}).

An optimizer that steps along P^{-1}g (P a positive diagonal) is, with P frozen, gradient descent on the
problem in the coordinates u = P^{1/2}w, whose Hessian is P^{-1/2} H P^{-1/2}: the same eigenvalues as P^{-1}H,
but symmetric, so Lanczos and its residual certificate apply unchanged. :class:`PreconditionedOperator`
is that matrix on top of the one :class:`~eostutor.curvature.HessianOperator` at w (every product is one
Hessian-vector product, counted by both), so the sharpness tracker, the dense eigendecomposition of small
problems and the SciPy view all work on it as they do on H.

>>> from eostutor.problems import Quadratic
>>> q = Quadratic([1.0, 10.0])
>>> w = torch.ones(2, dtype=torch.float64)
>>> preconditioned_sharpness(q, w, torch.tensor([1.0, 5.0], dtype=torch.float64)).value   # max(1/1, 10/5)
2.0
"""

from __future__ import annotations

import torch

from eostutor.curvature import HessianOperator
from eostutor.spectrum.results import SpectrumResult
from eostutor.spectrum.solve import operator_for, top_eigenvalues

__all__ = ["PreconditionedOperator", "preconditioned_sharpness"]


class PreconditionedOperator(HessianOperator):
    """P^{-1/2} H P^{-1/2} for a positive diagonal P, applied through the Hessian operator ``op`` at w.

    It is a :class:`~eostutor.curvature.HessianOperator` (``shape``, ``@``, ``apply``, ``dense``,
    ``to_scipy``, ``num_hvps``, ``loss``/``grad`` of the point), so every eigen-solver accepts it.

    Args:
        op: The Hessian operator at w (its products are counted there too).
        diag: The diagonal of P, a 1-D tensor of ``op.dim`` finite positive entries (Adam's √v̂ + ε).

    >>> H = HessianOperator.from_matrix(torch.tensor([[4.0, 2.0], [2.0, 9.0]], dtype=torch.float64))
    >>> A = PreconditionedOperator(H, torch.tensor([4.0, 9.0], dtype=torch.float64))
    >>> A.dense().tolist(), H.num_hvps
    ([[1.0, 0.3333333333333333], [0.3333333333333333, 1.0]], 2)
    """

    def __init__(self, op: HessianOperator, diag):
        if not isinstance(op, HessianOperator):
            raise ValueError(f"op must be a HessianOperator, got {type(op).__name__}")
        if not isinstance(diag, torch.Tensor):
            diag = torch.as_tensor(diag, dtype=torch.float64)
        if diag.ndim != 1 or diag.shape[0] != op.dim:
            raise ValueError(f"the preconditioner must be a diagonal of shape ({op.dim},), got {tuple(diag.shape)}")
        d = diag.detach().to(dtype=op.dtype, device=op.device)
        if not bool(torch.isfinite(d).all()) or not bool((d > 0).all()):
            raise ValueError("the preconditioner's diagonal must be finite and > 0 everywhere "
                             f"(smallest entry {float(d.min()):.3g})")
        # not HessianOperator.__init__: the graph (or closed form) is op's; only products are overridden
        self.base, self.problem, self.dim = op, op.problem, op.dim
        self.dtype, self.device = op.dtype, op.device
        self.loss, self.grad = op.loss, op.grad
        self.num_hvps = 0
        self._closed, self._graph = None, None
        self._scale = d.rsqrt().reshape(-1, 1)  # P^{-1/2}

    def apply(self, v: torch.Tensor) -> torch.Tensor:
        """P^{-1/2} H P^{-1/2} v for a block ``(dim, m)``: m Hessian-vector products."""
        self.num_hvps += v.shape[1]
        return self._scale * self.base.apply(self._scale * v)

    def __repr__(self) -> str:
        return f"PreconditionedOperator({self.base!r}, num_hvps={self.num_hvps})"


def preconditioned_sharpness(problem, w, diag, *, method: str = "auto", tol: float = 1e-3, v0=None,
                             max_hvps: int = 200, seed: int = 0,
                             operator: HessianOperator | None = None) -> SpectrumResult:
    """λ_max(P^{-1}H(w)) = λ_max(P^{-1/2} H P^{-1/2}) for a diagonal P, with its certificate.

    An optimizer stepping along η P^{-1}g is stable on the local quadratic model while this is below its
    threshold (2/η for RMSProp, (2 + 2β₁)/((1 − β₁)η) for Adam). The eigenvector is in the coordinates
    P^{1/2}w.

    Args:
        problem: Any problem.
        w: The point (may be ``None`` when ``operator`` is given).
        diag: The diagonal of P (positive, length ``problem.dim``).
        method: ``"auto"``, ``"exact"``, ``"lanczos"`` or ``"power"`` (as :func:`~eostutor.spectrum.sharpness`).
        tol: Relative residual to certify.
        v0: Warm start.
        max_hvps: Budget of products.
        seed: Seed of the random start.
        operator: A Hessian operator already built at w.

    Returns:
        A :class:`SpectrumResult`; ``.value`` is the preconditioned sharpness.
    """
    op = PreconditionedOperator(operator_for(problem, w, operator), diag)
    return top_eigenvalues(problem, None, 1, method=method, tol=tol, v0=v0, max_hvps=max_hvps, seed=seed,
                           operator=op)
