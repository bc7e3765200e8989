"""The Armijo picture: the loss along −g at one step, the acceptance lines and the quadratic model (notebook 05).

A line search looks at one curve, φ(η) = f(w − ηg), and accepts a trial η when φ(η) lies on or under a
straight line through (0, R): the *acceptance line* R − cη‖g‖², with R = f(w) for the monotone Armijo test
and R = R_k ≥ f(w) (the Zhang–Hager reference) for the nonmonotone one. Near η = 0 the curve follows its
quadratic model f − η‖g‖² + ½η²·gᵀHg, which comes back to f at η = 2/a, a = gᵀHg/‖g‖²: the quadratic
model's own edge. :func:`armijo_picture` evaluates all of it, and replays the line search of
:mod:`eostutor.stepsizes` on the same curve, keeping every trial it made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eostutor._validate import check_in_range, check_int, check_positive
from eostutor.curvature import hvp
from eostutor.problems import Problem
from eostutor.stepsizes.linesearch import DOUBLINGS, line_search, sufficient_decrease

__all__ = ["ArmijoPicture", "armijo_picture"]


@dataclass(frozen=True)
class ArmijoPicture:
    """The loss along −g at one point, with what a line search compares it with.

    Attributes:
        eta: Trial step sizes of the curve (ascending, from 0).
        loss: φ(η) = f(w − ηg) at each.
        model: The quadratic model f − η‖g‖² + ½η²·gᵀHg at each.
        f: f(w).
        reference: R, the reference of the nonmonotone test (f itself for the monotone one).
        grad_norm_sq: ‖g‖².
        curvature: a = gᵀHg / ‖g‖², the curvature along −g.
        c: The sufficient-decrease constant.
        trials: The line search's trials in the order it made them: ``(η, φ(η), passed)``.
        eta_accepted: The step it accepted.
    """

    eta: np.ndarray
    loss: np.ndarray
    model: np.ndarray
    f: float
    reference: float
    grad_norm_sq: float
    curvature: float
    c: float
    trials: tuple
    eta_accepted: float

    def line(self, reference: float | None = None) -> np.ndarray:
        """The acceptance line R − cη‖g‖² on :attr:`eta` (R = :attr:`reference` by default; pass
        :attr:`f` for the monotone Armijo line).
        """
        r = self.reference if reference is None else float(reference)
        return r - self.c * self.eta * self.grad_norm_sq

    def accepts(self, reference: float | None = None) -> np.ndarray:
        """Which η of the curve pass the test against R (:func:`eostutor.stepsizes.sufficient_decrease`)."""
        r = self.reference if reference is None else float(reference)
        return np.array([sufficient_decrease(float(v), r, float(e), self.grad_norm_sq, self.c)
                         for e, v in zip(self.eta, self.loss)])

    @property
    def monotone_limit(self) -> float:
        """The largest η the monotone test accepts on the quadratic model: 2(1 − c)/a."""
        return 2.0 * (1.0 - self.c) / self.curvature if self.curvature > 0 else math.inf

    def __repr__(self) -> str:
        return (f"ArmijoPicture(f = {self.f:.4g}, R = {self.reference:.4g}, a = gᵀHg/‖g‖² = {self.curvature:.4g}, "
                f"accepted η = {self.eta_accepted:g} after {len(self.trials)} trials)")


def armijo_picture(problem: Problem, w, *, reference: float | None = None, eta_start: float = 1.0,
                   c: float = 1e-4, delta: float = 0.5, doubling: str = "unlimited", cap: float = math.inf,
                   eta_max: float | None = None, num: int = 201) -> ArmijoPicture:
    """Evaluate the Armijo picture at ``w`` and replay the line search from ``eta_start``.

    Args:
        problem: Any problem.
        w: The point w_k.
        reference: R_k (default f(w): the monotone test).
        eta_start: The line search's first trial (NLS: the previous accepted step η_{k−1}).
        c: Sufficient-decrease constant.
        delta: Backtracking factor (doubling multiplies by 1/δ).
        doubling: ``"unlimited"`` (NLS, LS), ``"once"`` (NLS-ub) or ``"none"``.
        cap: Doubling only while η/δ < cap.
        eta_max: Right end of the curve (default 1.25 × the largest trial, and at least 1.25 × 2/a).
        num: Points on the curve.

    Returns:
        An :class:`ArmijoPicture`.

    On f(w) = ½w² at w = 1 (a = 1): the monotone test passes exactly for η ≤ 2(1 − c); NLS's doubling from
    0.5 accepts 1 and rejects 2:

    >>> from eostutor.problems import Quadratic
    >>> pic = armijo_picture(Quadratic([1.0]), [1.0], eta_start=0.5)
    >>> pic.eta_accepted, [t[0] for t in pic.trials], round(pic.monotone_limit, 4)
    (1.0, [0.5, 1.0, 2.0], 1.9998)
    """
    c = check_in_range("c", c, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    eta_start = check_positive("eta_start", eta_start)
    num = check_int("num", num, minimum=3)
    if doubling not in DOUBLINGS:
        raise ValueError(f"doubling must be one of {', '.join(DOUBLINGS)}, got {doubling!r}")
    w = problem.check_params(w, "w")
    f, g = problem.loss_and_grad(w)
    f = float(f)
    gg = float(g @ g)
    if not (gg > 0 and math.isfinite(gg)):
        raise ValueError("the gradient is zero (or not finite) at w: there is no line to search along")
    a = float(g @ hvp(problem, w, g)) / gg
    ref = f if reference is None else float(reference)

    def along(eta: float) -> float:
        return float(problem.loss(w - eta * g))

    trials: list[tuple[float, float, bool]] = []

    def recorded(eta: float) -> float:
        value = along(eta)
        trials.append((float(eta), value, sufficient_decrease(value, ref, eta, gg, c)))
        return value

    result = line_search(recorded, gg, ref, eta_start, c=c, delta=delta, doubling=doubling, cap=cap)
    if eta_max is None:
        eta_max = 1.25 * max([t[0] for t in trials] + ([2.0 / a] if a > 0 else []))
    eta_max = check_positive("eta_max", eta_max)
    grid = np.linspace(0.0, eta_max, num)
    loss = np.array([along(float(e)) for e in grid])
    model = f - grid * gg + 0.5 * grid**2 * gg * a
    return ArmijoPicture(eta=grid, loss=loss, model=model, f=f, reference=ref, grad_norm_sq=gg, curvature=a, c=c,
                         trials=tuple(trials), eta_accepted=float(result.eta))
