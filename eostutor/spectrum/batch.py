"""Batch sharpness: the curvature a mini-batch step sees along its own gradient.

For SGD with batch size b, Andreyev & Beneventano (2024, "Edge of Stochastic Stability") measure

    batch sharpness = E_B [ g_Bᵀ H_B g_B / ‖g_B‖² ],

the curvature of the mini-batch loss f_B along its own gradient g_B, averaged over random batches B of
size b at the same point w. It is the quantity that SGD drives to 2/η (the *edge of stochastic
stability*), while the full-batch λ_max stays below 2/η, the further below the smaller the batch.
Each batch costs one mini-batch gradient and one mini-batch Hessian-vector product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eostutor._validate import check_int
from eostutor.curvature import HessianOperator

__all__ = ["BatchSharpness", "batch_sharpness", "check_batch_size"]


def check_batch_size(problem, batch_size) -> int:
    """``batch_size`` as an int if ``problem`` has training examples and 1 ≤ batch_size ≤ their number.

    Raises:
        ValueError: Naming the value and the allowed range (or saying that the problem has no data).

    >>> from eostutor.datasets import gaussian_clusters
    >>> from eostutor.problems import LinearClassifier, Quadratic
    >>> check_batch_size(LinearClassifier(gaussian_clusters(num_classes=3, n_train=30, n_test=6)), 8)
    8
    >>> try:
    ...     check_batch_size(Quadratic([1.0]), 8)
    ... except ValueError as err:
    ...     print(err)
    batch_size=8 needs a problem with training examples to sample from; Quadratic(eigenvalues=[1.0]) has none
    """
    n = problem.num_train
    if n is None:
        raise ValueError(f"batch_size={batch_size!r} needs a problem with training examples to sample from; "
                         f"{problem!r} has none")
    return check_int("batch_size", batch_size, minimum=1, maximum=n)


@dataclass(repr=False)
class BatchSharpness:
    """The batch sharpness at one point, with how good the estimate is.

    Attributes:
        value: The mean of the per-batch curvatures g_Bᵀ H_B g_B / ‖g_B‖².
        samples: The per-batch curvatures.
        batch_size: b.
        num_hvps: Hessian-vector products used (one per batch).
    """

    value: float
    samples: np.ndarray
    batch_size: int
    num_hvps: int

    @property
    def standard_error(self) -> float:
        """Standard error of the mean over the sampled batches (NaN for one batch)."""
        s = self.samples[np.isfinite(self.samples)]
        return float(np.std(s, ddof=1) / math.sqrt(s.size)) if s.size > 1 else math.nan

    def __repr__(self) -> str:
        return (f"BatchSharpness({self.value:.5g} ± {self.standard_error:.2g}, batch size {self.batch_size}, "
                f"{len(self.samples)} batches)")


def batch_sharpness(problem, w, batch_size: int, *, num_batches: int = 16, seed: int = 0) -> BatchSharpness:
    """E_B[g_Bᵀ H_B g_B / ‖g_B‖²] over ``num_batches`` random batches of ``batch_size`` examples at w.

    Each batch is drawn without replacement from the training examples; the batches are seeded by ``seed``
    alone (the training loop passes one derived from its seed and the step), so measuring never changes
    which batches training uses. A batch whose gradient is exactly zero is left out of the mean.

    Args:
        problem: A problem with training examples (``problem.on_batch``).
        w: The point.
        batch_size: b, 1 ≤ b ≤ number of training examples.
        num_batches: How many batches to average (≥ 1).
        seed: Seed of the batches.

    Returns:
        A :class:`BatchSharpness`.

    >>> from eostutor.datasets import gaussian_clusters
    >>> from eostutor.problems import LinearClassifier
    >>> p = LinearClassifier(gaussian_clusters(num_classes=3, dim=2, n_train=30, n_test=6))
    >>> full = batch_sharpness(p, p.init(0), 30, num_batches=2)   # b = n: the full-batch curvature along g
    >>> g = p.grad(p.init(0))
    >>> bool(np.isclose(full.value, float(g @ (HessianOperator(p, p.init(0)) @ g)) / float(g @ g)))
    True
    """
    b = check_batch_size(problem, batch_size)
    num_batches = check_int("num_batches", num_batches, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    w = problem.check_params(w, "w")
    rng = np.random.default_rng(seed)
    n = problem.num_train
    samples = np.full(num_batches, np.nan)
    for i in range(num_batches):
        op = HessianOperator(problem.on_batch(rng.choice(n, size=b, replace=False)), w)
        samples[i] = op.rayleigh(op.grad)  # NaN for a zero batch gradient
    ok = samples[np.isfinite(samples)]
    return BatchSharpness(float(ok.mean()) if ok.size else math.nan, samples, b, num_batches)
