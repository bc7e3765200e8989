"""The sharpness along a run: each measurement warm-started from a subspace of earlier eigenvectors.

A :class:`SharpnessTracker` measures λ_max (or the top k eigenvalues) at successive points of a training
run. Each measurement starts the subspace solver (:func:`eostutor.spectrum.krylov.solve`) from the top
k + 2 Ritz vectors of an earlier measurement, so along a slowly moving trajectory it certifies in a few
products, and the top eigenvalue changing places with one of the next two (common at the Edge of
Stability, where the top eigenvalues crowd) is caught at the measurement where it happens: the new top
eigenvector is then in the start subspace.

Which earlier measurement: the most recent one at the same step parity. Gradient descent at the Edge of
Stability oscillates with period two across the valley, and so does the Hessian: on the reference MLP
deep in EoS the previous step's top eigenvector has a relative residual of 3e-2 at the new point, the one
from two steps back 1e-3. Measuring every step, the tracker therefore warm-starts from two steps back, with
the top eigenvector extrapolated linearly from four steps back.

What is certified, precisely: every reported value θ has a relative residual ‖Hy − θy‖ ≤ tol·θ, so an
eigenvalue of H lies within tol·θ of it. That it is the *largest* is by design, not proved: the first
measurement starts from a random vector (which has a component along every eigenvector) and, like every
cold start, builds :data:`~eostutor.spectrum.krylov.COLD_MIN_DIM` vectors before it certifies; each later
one contains the previous top k + 2 eigenvectors, so a new top eigenvalue is found as long as it was
among the top k + 2 at the previous measurement. The tests check it on a constructed crossing and against
cold solves over 2,000 steps of Edge-of-Stability training.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from eostutor.curvature import HessianOperator
from eostutor.spectrum._linalg import start_block
from eostutor.spectrum.krylov import COLD_MIN_DIM, _default_block_size, solve
from eostutor.spectrum.results import SpectrumResult
from eostutor.spectrum.solve import resolve_method, top_eigenvalues

__all__ = ["SharpnessTracker"]


class SharpnessTracker:
    """Measures λ_max (or the top k eigenvalues) at successive points of a run, warm-started.

    Args:
        problem: The problem.
        top_k: How many top eigenvalues.
        method: ``"auto"``, ``"exact"``, ``"lanczos"`` or ``"power"`` (see :func:`top_eigenvalues`);
            the subspace tracking above is Lanczos'; ``"exact"`` needs no warm start and ``"power"`` is
            warm-started from the previous eigenvectors.
        tol: Relative residual each estimate is certified to.
        seed: Seed of the random start of the first measurement (later ones add ``step``).
        max_hvps: Budget of products per measurement.

    >>> from eostutor.problems import Quadratic
    >>> q = Quadratic([1.0, 10.0])
    >>> SharpnessTracker(q).measure(HessianOperator(q, torch.ones(2, dtype=torch.float64)), step=0).value
    10.0
    """

    def __init__(self, problem, top_k: int = 1, method: str = "auto", tol: float = 1e-3, seed: int = 0,
                 max_hvps: int = 400):
        self.problem = problem
        self.top_k = top_k
        self.method = method
        self.tol = tol
        self.seed = seed
        self.max_hvps = max_hvps
        self.width = top_k + 2  # eigenvectors carried from one measurement to the next
        self._history: deque[tuple[int, np.ndarray]] = deque(maxlen=4)

    def start(self, step: int) -> np.ndarray | None:
        """The warm-start subspace for a measurement at ``step``.

        The carried eigenvectors of the latest measurement at the same step parity (else the latest one),
        the top one extrapolated linearly from the measurement before at that parity; ``None`` before the
        first measurement.
        """
        if not self._history:
            return None
        same = [vectors for s, vectors in self._history if (step - s) % 2 == 0]
        if not same:
            return self._history[-1][1]
        block = same[-1].copy()
        if len(same) >= 2:  # v + (v − v_before): no extra product, and about 5% fewer deep in EoS
            a, b = same[-1][:, 0], same[-2][:, 0]
            overlap = float(a @ b)
            if abs(overlap) > 0.9:  # the same eigenvector, up to its sign
                u = 2 * a - (b if overlap > 0 else -b)
                block[:, 0] = u / np.linalg.norm(u)
        return block

    def measure(self, op: HessianOperator, step: int) -> SpectrumResult:
        """The top eigenvalues at the operator's point (raises ``ValueError`` for a non-finite Hessian)."""
        method = resolve_method(self.problem, self.method, op.dim)
        seed = self.seed + step
        start = self.start(step)
        if method != "lanczos":
            v0 = None if start is None or method == "exact" else start[:, : self.top_k]
            res = top_eigenvalues(self.problem, None, self.top_k, method=method, tol=self.tol, v0=v0, seed=seed,
                                  operator=op)
            self._history.append((step, res.eigenvectors[:, : self.top_k].cpu().numpy()))
            return res
        gen = torch.Generator().manual_seed(seed)
        cold = start is None
        if cold:  # the first measurement: a random start, with the cold-start floor of lanczos()
            start = start_block(None, op.dim, gen, columns=_default_block_size(self.top_k, op.dim))
        # (a warm start goes to the solver as it is: its first step orthonormalizes the block, replacing a
        # dependent column by a random direction)
        res, vectors = solve(op, start, self.top_k, "largest", self.tol, self.max_hvps, gen,
                             block_size=_default_block_size(self.top_k, op.dim), keep=self.width,
                             min_dim=COLD_MIN_DIM if cold else 0)
        self._history.append((step, vectors))
        return res

    @staticmethod
    def relative_residual(res: SpectrumResult) -> float:
        """The largest residual of a result relative to its top eigenvalue."""
        return float(np.max(res.residuals) / max(abs(res.value), 1e-300))
