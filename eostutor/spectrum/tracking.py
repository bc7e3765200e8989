"""The sharpness along a trajectory: warm-started estimates at a sequence of nearby points."""

from __future__ import annotations

import numpy as np

from eostutor.curvature import HessianOperator
from eostutor.spectrum.results import SpectrumResult
from eostutor.spectrum.solve import top_eigenvalues

__all__ = ["SharpnessTracker"]


class SharpnessTracker:
    """Measures λ_max (or the top k eigenvalues) at successive points of a run, warm-started.

    Each measurement starts from the eigenvectors of the previous one, so along a slowly moving trajectory
    it certifies in a few products.

    Args:
        problem: The problem.
        top_k: How many top eigenvalues.
        method: ``"auto"``, ``"exact"``, ``"lanczos"`` or ``"power"`` (see :func:`top_eigenvalues`).
        tol: Relative residual each estimate is certified to.

    >>> import torch
    >>> from eostutor.problems import Quadratic
    >>> q = Quadratic([1.0, 10.0])
    >>> tracker = SharpnessTracker(q)
    >>> tracker.measure(HessianOperator(q, torch.ones(2, dtype=torch.float64)), seed=0).value
    10.0
    """

    def __init__(self, problem, top_k: int = 1, method: str = "auto", tol: float = 1e-3):
        self.problem = problem
        self.top_k = top_k
        self.method = method
        self.tol = tol
        self._previous = None

    def measure(self, op: HessianOperator, seed: int) -> SpectrumResult:
        """The top eigenvalues at the operator's point (raises ``ValueError`` for a non-finite Hessian)."""
        res = top_eigenvalues(self.problem, None, self.top_k, method=self.method, tol=self.tol, v0=self._previous,
                              seed=seed, operator=op)
        self._previous = res.eigenvectors[:, : self.top_k] if self.top_k > 1 else res.vector
        return res

    @staticmethod
    def relative_residual(res: SpectrumResult) -> float:
        """The largest residual of a result relative to its top eigenvalue."""
        return float(np.max(res.residuals) / max(abs(res.value), 1e-300))
