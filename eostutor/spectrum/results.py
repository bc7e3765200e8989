"""What the spectrum algorithms return: eigenvalues with the evidence of how good they are."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["SpectrumResult", "TraceResult", "SpectralDensity"]


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
    >>> from eostutor.spectrum import sharpness
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
