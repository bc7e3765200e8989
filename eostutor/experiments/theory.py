"""The closed-form pictures behind notebooks 01 and 03, computed (never drawn) here.

* :func:`rate_curve`: how fast GD converges on a quadratic, against η. Each eigen-coordinate is multiplied by
  1 − ηλ per step, so the error shrinks by ρ(η) = max_λ |1 − ηλ| per step in the long run: fastest at
  η* = 2/(λ_min + λ_max), where ρ = (κ − 1)/(κ + 1) with κ = λ_max/λ_min the condition number. The curve
  comes with GD runs whose contraction is *measured* from their iterates.
* :func:`momentum_rate` and :func:`momentum_region`: the same for heavy-ball (and Nesterov) momentum. On one
  eigen-coordinate the iteration is linear in (w_k, m_k); its spectral radius is the rate, stable iff < 1:
  η·λ < 2(1 + β) for heavy ball (Goh, "Why Momentum Really Works", Distill 2017).
* :func:`self_stabilization`: the reduced dynamics of Damian, Nichani & Lee (2023) near the edge,
  x⁺ = −(1 + ηy)x, y⁺ = y + η(α − βx²/2), with x the displacement along the top eigenvector and
  y = λ_max − 2/η. With α > 0 (progressive sharpening) the orbit loops around the edge y = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eostutor._validate import check_finite, check_in_range, check_int, check_positive
from eostutor.problems import Quadratic
from eostutor.record import Run
from eostutor.training import train

__all__ = ["gd_rate", "measured_rate", "RateCurve", "rate_curve", "momentum_rate", "best_heavy_ball",
           "MomentumRegion", "momentum_region", "SelfStabilization", "self_stabilization"]


def _eigenvalues(eigenvalues) -> np.ndarray:
    lam = np.atleast_1d(np.asarray(eigenvalues, dtype=float))
    if lam.ndim != 1 or lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError(f"eigenvalues must be a non-empty list of positive finite numbers, got {eigenvalues!r}")
    return lam


# --------------------------------------------------------------------------------------------------
# Plain GD on a quadratic
# --------------------------------------------------------------------------------------------------
def gd_rate(eta, eigenvalues) -> np.ndarray:
    """The long-run contraction factor of GD per step, ρ(η) = max over λ of |1 − ηλ| (≥ 1: no convergence).

    Args:
        eta: One step size or an array of them.
        eigenvalues: The spectrum of A in f(w) = ½ wᵀAw (positive).

    Returns:
        ρ(η), with the shape of ``eta``.

    >>> gd_rate([0.05, 2 / 11, 0.25], [1.0, 10.0]).round(4).tolist()
    [0.95, 0.8182, 1.5]
    """
    lam = _eigenvalues(eigenvalues)
    eta = np.asarray(eta, dtype=float)
    return np.max(np.abs(1.0 - eta[..., None] * lam), axis=-1)


def measured_rate(run: Run) -> float:
    """The contraction per step of ‖w_k‖ measured on a recorded run: (‖w_n‖ / ‖w_m‖)^{1/(n − m)} over the
    second half of its finite iterates (the faster directions have died out by then).

    Needs ``run.params`` (recorded for problems with dim ≤ 10). A diverged run is measured up to the step where
    it stopped: its rate is above 1.

    >>> round(measured_rate(train(Quadratic([1.0, 10.0]), 0.05, 200, w0=[1.0, 1.0])), 6)
    0.95
    """
    if "params" not in run.arrays:
        raise ValueError(f"{run!r} has no recorded iterates: train a small problem (dim ≤ 10) or record_params=True")
    norms = np.linalg.norm(np.asarray(run.arrays["params"], dtype=float), axis=1)
    usable = np.isfinite(norms) & (norms > 0)
    last = int(np.argmin(usable)) - 1 if not usable.all() else len(norms) - 1  # the end of the leading usable part
    if last < 2:
        raise ValueError(f"{run!r} has fewer than 3 usable iterates")
    first = last // 2
    return float((norms[last] / norms[first]) ** (1.0 / (last - first)))


@dataclass(frozen=True)
class RateCurve:
    """GD's convergence rate on a quadratic against the step size (from :func:`rate_curve`).

    Attributes:
        eigenvalues: The spectrum of A.
        etas: Step sizes of the curve.
        rate: ρ(η) = max_λ |1 − ηλ| at each of ``etas``.
        factors: |1 − ηλ| per eigenvalue, shape (len(etas), len(eigenvalues)).
        eta_best: η* = 2/(λ_min + λ_max), the fastest step size.
        rate_best: ρ(η*) = (κ − 1)/(κ + 1).
        condition_number: κ = λ_max / λ_min.
        measured_etas: Step sizes of the GD runs.
        measured: The contraction per step measured on each run (:func:`measured_rate`).
    """

    eigenvalues: np.ndarray
    etas: np.ndarray
    rate: np.ndarray
    factors: np.ndarray
    eta_best: float
    rate_best: float
    condition_number: float
    measured_etas: np.ndarray
    measured: np.ndarray

    @property
    def edge(self) -> float:
        """2/λ_max: above it ρ > 1 and GD diverges."""
        return 2.0 / float(self.eigenvalues.max())

    def __repr__(self) -> str:
        return (f"RateCurve(eigenvalues={self.eigenvalues.tolist()}, κ = {self.condition_number:g}, "
                f"best η = {self.eta_best:.4g} with rate {self.rate_best:.4g}, {len(self.measured_etas)} GD runs)")


def rate_curve(eigenvalues: Sequence[float] = (1.0, 10.0), etas=None, measure=None, num_steps: int = 200
               ) -> RateCurve:
    """ρ(η) on a grid of step sizes, the best step size, and GD runs that measure the rate.

    Args:
        eigenvalues: The spectrum of A (positive).
        etas: The grid (default: 400 values from 0 to 1.25 · 2/λ_max).
        measure: Step sizes at which GD is run from w₀ = (1, …, 1) and its contraction measured
            (default: nine values across the grid, with η*).
        num_steps: Steps per run.

    Returns:
        A :class:`RateCurve`.

    >>> curve = rate_curve([1.0, 10.0], measure=[0.05, 0.1])
    >>> round(curve.eta_best, 4), round(curve.rate_best, 4), curve.measured.round(4).tolist()
    (0.1818, 0.8182, [0.95, 0.9])
    """
    lam = _eigenvalues(eigenvalues)
    num_steps = check_int("num_steps", num_steps, minimum=4)
    edge = 2.0 / lam.max()
    etas = np.linspace(0.0, 1.25 * edge, 401)[1:] if etas is None else np.asarray(etas, dtype=float)
    if etas.ndim != 1 or etas.size == 0 or not np.all(np.isfinite(etas) & (etas > 0)):
        raise ValueError("etas must be a non-empty list of positive step sizes")
    eta_best = 2.0 / (lam.min() + lam.max())
    kappa = float(lam.max() / lam.min())
    if measure is None:
        measure = sorted({*np.round(np.linspace(0.1, 1.15, 8) * edge, 6).tolist(), eta_best})
    measure = np.asarray(measure, dtype=float)
    problem = Quadratic(lam.tolist())
    measured = np.array([measured_rate(train(problem, float(eta), num_steps, w0=np.ones(lam.size).tolist()))
                         for eta in measure])
    return RateCurve(eigenvalues=lam, etas=etas, rate=gd_rate(etas, lam),
                     factors=np.abs(1.0 - etas[:, None] * lam), eta_best=float(eta_best),
                     rate_best=(kappa - 1.0) / (kappa + 1.0), condition_number=kappa, measured_etas=measure,
                     measured=measured)


# --------------------------------------------------------------------------------------------------
# Momentum
# --------------------------------------------------------------------------------------------------
def momentum_rate(eta_lambda, beta, nesterov: bool = False) -> np.ndarray:
    """The contraction per step of GD with momentum on one eigen-direction: the spectral radius of its
    iteration, as a function of η·λ and β (broadcast against each other).

    Heavy ball (m ← βm + ∇f, w ← w − ηm) on f = ½λw² is linear in (w, m); its characteristic polynomial is
    z² − (1 + β − ηλ)z + β. Nesterov (w ← w − η(∇f + βm)) gives z² − (1 + β)(1 − ηλ)z + β(1 − ηλ). The rate is
    the larger |root|: when the roots are complex it is √(their product), e.g. √β for heavy ball.

    >>> momentum_rate([0.5, 2.5, 3.0, 3.1], 0.5).round(4).tolist()   # heavy ball, β = 0.5: stable iff ηλ < 3
    [0.7071, 0.7071, 1.0, 1.1742]
    >>> float(momentum_rate(1.5, 0.5, nesterov=True).round(6))   # Nesterov's edge (2 + 2β)/(1 + 2β) = 1.5
    1.0
    """
    h = np.asarray(eta_lambda, dtype=float)
    b = np.asarray(beta, dtype=float)
    if nesterov:
        trace, det = (1.0 + b) * (1.0 - h), b * (1.0 - h)
    else:
        trace, det = 1.0 + b - h, b + 0.0 * h
    disc = np.sqrt((trace**2 - 4.0 * det).astype(complex))
    return np.maximum(np.abs((trace + disc) / 2.0), np.abs((trace - disc) / 2.0))


def best_heavy_ball(eigenvalues) -> tuple[float, float, float]:
    """The heavy-ball step size and momentum with the fastest rate on a quadratic, and that rate:
    η = (2/(√λ_max + √λ_min))², β = ((√κ − 1)/(√κ + 1))², rate √β = (√κ − 1)/(√κ + 1) (Goh 2017).

    >>> [round(v, 4) for v in best_heavy_ball([1.0, 10.0])]
    [0.2309, 0.2699, 0.5195]
    """
    lam = _eigenvalues(eigenvalues)
    lo, hi = math.sqrt(float(lam.min())), math.sqrt(float(lam.max()))
    rate = (hi - lo) / (hi + lo)
    return (2.0 / (hi + lo)) ** 2, rate**2, rate


@dataclass(frozen=True)
class MomentumRegion:
    """The rate of heavy-ball momentum over the (η·λ, β) plane (from :func:`momentum_region`).

    Attributes:
        eta_lambda: The η·λ grid (columns).
        betas: The β grid (rows).
        rate: Heavy ball's spectral radius, shape (len(betas), len(eta_lambda)); < 1 is stable.
        nesterov_rate: The same for Nesterov's momentum.
    """

    eta_lambda: np.ndarray
    betas: np.ndarray
    rate: np.ndarray
    nesterov_rate: np.ndarray

    @staticmethod
    def edge(beta, nesterov: bool = False):
        """The largest stable η·λ: 2(1 + β) for heavy ball, (2 + 2β)/(1 + 2β) for Nesterov."""
        beta = np.asarray(beta, dtype=float)
        return (2.0 + 2.0 * beta) / (1.0 + 2.0 * beta) if nesterov else 2.0 * (1.0 + beta)

    @staticmethod
    def ripple(beta) -> tuple[np.ndarray, np.ndarray]:
        """Where heavy ball's roots are complex (the iterates ripple, rate √β): (1 − √β)² < η·λ < (1 + √β)²."""
        root = np.sqrt(np.asarray(beta, dtype=float))
        return (1.0 - root) ** 2, (1.0 + root) ** 2

    def __repr__(self) -> str:
        return (f"MomentumRegion(η·λ from {self.eta_lambda[0]:g} to {self.eta_lambda[-1]:g}, β from "
                f"{self.betas[0]:g} to {self.betas[-1]:g}, {self.rate.size} points)")


def momentum_region(eta_lambda=None, betas=None) -> MomentumRegion:
    """Heavy ball's (and Nesterov's) rate on a grid of η·λ and β.

    Args:
        eta_lambda: The η·λ values (default: 451 values from 0 to 4.5).
        betas: The β values in [0, 1) (default: 199 values from 0 to 0.99).

    >>> region = momentum_region()
    >>> region.rate.shape, float(region.rate[0, 100].round(6))   # β = 0, η·λ = 1: one step to the minimum
    ((199, 451), 0.0)
    """
    h = np.linspace(0.0, 4.5, 451) if eta_lambda is None else np.asarray(eta_lambda, dtype=float)
    b = np.linspace(0.0, 0.99, 199) if betas is None else np.asarray(betas, dtype=float)
    if h.ndim != 1 or b.ndim != 1 or not h.size or not b.size or not np.all(np.isfinite(h)) \
            or np.any((b < 0) | (b >= 1)):
        raise ValueError("eta_lambda must be finite numbers and betas numbers in [0, 1)")
    return MomentumRegion(eta_lambda=h, betas=b, rate=momentum_rate(h[None, :], b[:, None]),
                          nesterov_rate=momentum_rate(h[None, :], b[:, None], nesterov=True))


# --------------------------------------------------------------------------------------------------
# Self-stabilization (Damian, Nichani & Lee 2023)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SelfStabilization:
    """An orbit of the reduced self-stabilization map (from :func:`self_stabilization`).

    Attributes:
        eta, alpha, beta: The map's parameters (α: progressive-sharpening rate; β = ‖∇λ_max‖²).
        steps: 0, 1, …, n.
        x: Displacement along the top eigenvector (its sign flips at most steps).
        y: λ_max − 2/η, the sharpness excess.
        diverged: Whether the orbit left the floating-point range (it is cut there).
    """

    eta: float
    alpha: float
    beta: float
    steps: np.ndarray
    x: np.ndarray
    y: np.ndarray
    diverged: bool = False

    @property
    def amplitude(self) -> np.ndarray:
        """(−1)^k x_k: the oscillation without its every-step sign flip."""
        return self.x * np.where(self.steps % 2 == 0, 1.0, -1.0)

    @property
    def equilibrium(self) -> tuple[float, float]:
        """(x*, 0) with x* = √(2α/β): the oscillation whose push on the sharpness cancels the sharpening."""
        return math.sqrt(2.0 * self.alpha / self.beta), 0.0

    def peaks(self) -> np.ndarray:
        """Steps at which y has a local maximum above 0: one per loop around the edge."""
        y = self.y
        k = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > 0)) + 1
        return self.steps[k]

    def label(self) -> str:
        """A legend text: ``"α = 0.0002"`` (``"α = 0 (no sharpening)"``)."""
        return "α = 0 (no sharpening)" if self.alpha == 0 else f"α = {self.alpha:g}"

    def __repr__(self) -> str:
        end = "diverged" if self.diverged else f"{len(self.peaks())} loops"
        return (f"SelfStabilization(η = {self.eta:g}, α = {self.alpha:g}, β = {self.beta:g}, "
                f"{len(self.steps) - 1} steps, {end})")


def self_stabilization(eta: float = 2.0, alpha: float = 2e-4, beta: float = 1.0, x0: float = 2e-3,
                       y0: float = 0.0, num_steps: int = 1200) -> SelfStabilization:
    """Iterate Damian et al.'s reduced map x⁺ = −(1 + ηy)x, y⁺ = y + η(α − βx²/2).

    When y > 0 (sharpness above 2/η) |x| grows by the factor |1 + ηy| per step; x² then pulls y down by
    ηβx²/2 per step; once y < 0, |x| shrinks, and the sharpening α raises y again. With α = 0 (as on the toy
    problems of notebook 03) the orbit makes one arc and ends below the edge; with α > 0 it loops around
    the equilibrium (√(2α/β), 0). This map is the cubic Taylor model, valid while x is small; its loops
    slowly widen (each is a little larger than the last).

    Args:
        eta: The step size η (> 0).
        alpha: The sharpening rate α (≥ 0).
        beta: β = ‖∇λ_max‖² (> 0).
        x0: Starting displacement.
        y0: Starting sharpness excess λ_max − 2/η.
        num_steps: Number of steps.

    Returns:
        A :class:`SelfStabilization` (cut at the last finite step if the orbit overflows).

    >>> orbit = self_stabilization(alpha=0.0, x0=0.1, y0=0.05, num_steps=400)
    >>> bool(orbit.y[-1] < 0 and abs(orbit.x[-1]) < 1e-3)   # one arc: y falls below 0, the oscillation dies
    True
    """
    eta = check_positive("eta", eta)
    alpha = check_in_range("alpha", alpha, 0.0, math.inf)
    beta = check_positive("beta", beta)
    x0, y0 = check_finite("x0", x0), check_finite("y0", y0)
    num_steps = check_int("num_steps", num_steps, minimum=1, maximum=10_000_000)
    x = np.empty(num_steps + 1)
    y = np.empty(num_steps + 1)
    x[0], y[0] = x0, y0
    n = num_steps
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(num_steps):
            x[k + 1] = -(1.0 + eta * y[k]) * x[k]
            y[k + 1] = y[k] + eta * (alpha - 0.5 * beta * x[k] ** 2)
            if not (math.isfinite(x[k + 1]) and math.isfinite(y[k + 1])):
                n = k
                break
    return SelfStabilization(eta=eta, alpha=alpha, beta=beta, steps=np.arange(n + 1), x=x[: n + 1].copy(),
                             y=y[: n + 1].copy(), diverged=n < num_steps)

