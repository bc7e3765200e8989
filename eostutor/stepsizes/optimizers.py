"""Rules with their own update direction: Adam and RMSProp, the optimizers practitioners use.

Both divide the step by a diagonal *preconditioner* P built from a running average of squared gradients,
so their stability is not governed by the sharpness λ_max(H) but by the **preconditioned sharpness**
λ_max(P^{-1}H) = λ_max(P^{-1/2} H P^{-1/2}) with P frozen at the current step (Cohen et al. 2022,
"Adaptive Gradient Methods at the Edge of Stability"). On a quadratic with P held fixed:

* RMSProp, w ← w − η P^{-1} g, is GD on the preconditioned problem: stable iff λ_max(P^{-1}H) < 2/η.
* Adam's first moment m ← β₁m + (1 − β₁)g is momentum in its exponential-moving-average form:
  w ← w − η P^{-1} m is stable iff λ_max(P^{-1}H) < (2 + 2β₁)/((1 − β₁)η), which is 38/η for β₁ = 0.9.

Each rule returns its update direction and its preconditioner in :class:`StepInfo`, and the training loop
measures λ_max(P^{-1/2} H P^{-1/2}) with that P (``run.preconditioned_sharpness``). The arithmetic is that of
``torch.optim.Adam`` and ``torch.optim.RMSprop`` (the tests compare the iterates in float64).

A note on P for Adam: we use P = √v̂ + ε, the denominator of the update (v̂ the bias-corrected second
moment), and the direction m̂/P with the bias-corrected first moment m̂. Cohen et al. fold Adam's first-moment
bias correction into P instead, P' = (1 − β₁^t)(√v̂ + ε); the two differ by the factor 1 − β₁^t, which is
within 1% of 1 after 44 steps (β₁ = 0.9): only the first few dozen steps read differently.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from eostutor._validate import check_in_range, check_positive
from eostutor.stepsizes.base import Rule, StepContext, StepInfo
from eostutor.stepsizes.registry import register

__all__ = ["Adam", "AdamState", "RMSProp", "RMSPropState"]


def _check_beta(name: str, value) -> float:
    return check_in_range(name, value, 0.0, 1.0, high_inclusive=False)


class AdamState(NamedTuple):
    """State of :class:`Adam`: the step count t and the first and second moments (``None`` before the
    first step, when their shape is not known yet).
    """

    step: int = 0
    m: torch.Tensor | None = None
    v: torch.Tensor | None = None


@register
class Adam(Rule):
    """Adam (Kingma & Ba 2015), as ``torch.optim.Adam``: moments of the gradient, bias-corrected.

    With g = ∇f(w_k) and t = k + 1::

        m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²
        m̂ = m / (1 − β₁^t)             v̂ = v / (1 − β₂^t)
        P = √v̂ + ε                     w ← w − η m̂ / P

    Its stability threshold is on the preconditioned sharpness λ_max(P^{-1}H): (2 + 2β₁)/((1 − β₁)η), 38/η
    for β₁ = 0.9 (Cohen et al. 2022); full-batch Adam trains *at* that edge, as GD trains at 2/η.

    Args:
        eta: The step size η (> 0).
        beta1: First-moment decay β₁ in [0, 1) (Adam's own momentum; the loop's ``momentum=`` is refused).
        beta2: Second-moment decay β₂ in [0, 1).
        eps: ε > 0, added to √v̂.

    Example (the first step moves every coordinate by η, whatever the size of its gradient):
        >>> rule = Adam(0.1)
        >>> ctx = StepContext.from_functions(lambda w: float(w @ w), lambda w: 2 * w,
        ...                                  torch.tensor([1.0, -100.0], dtype=torch.float64))
        >>> info, state = rule.update(ctx, rule.init())
        >>> (info.eta * info.direction).round(decimals=6).tolist(), state.step, round(rule.stability_threshold(), 6)
        ([0.1, -0.1], 1, 380.0)
    """

    name = "adam"
    label = "Adam, η = {eta:g}"
    description = "Adam: η·m̂/(√v̂ + ε); stable while λ_max(P⁻¹H) < (2+2β₁)/((1−β₁)η)"
    eta_param = "eta"
    preconditioned = True
    _repr_always = ("eta",)

    def __init__(self, eta: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.eta = check_positive("eta", eta)
        self.beta1 = _check_beta("beta1", beta1)
        self.beta2 = _check_beta("beta2", beta2)
        self.eps = check_positive("eps", eps)

    def init(self) -> AdamState:
        return AdamState()

    def update(self, ctx: StepContext, state: AdamState) -> tuple[StepInfo, AdamState]:
        g = ctx.grad
        t = state.step + 1
        m = (1 - self.beta1) * g if state.m is None else self.beta1 * state.m + (1 - self.beta1) * g
        v = (1 - self.beta2) * g * g if state.v is None else self.beta2 * state.v + (1 - self.beta2) * g * g
        # torch.optim.Adam's order of operations (√v / √(1 − β₂^t), then + ε; m / P, then / (1 − β₁^t))
        p = v.sqrt() / math.sqrt(1 - self.beta2**t) + self.eps
        direction = (m / p) / (1 - self.beta1**t)
        return StepInfo(eta=self.eta, direction=direction, preconditioner=p), AdamState(t, m, v)

    def stability_threshold(self, momentum: float = 0.0, nesterov: bool = False) -> float:
        """(2 + 2β₁)/((1 − β₁)η): the edge of λ_max(P^{-1}H) (38/η for β₁ = 0.9)."""
        return (2.0 + 2.0 * self.beta1) / ((1.0 - self.beta1) * self.eta)


class RMSPropState(NamedTuple):
    """State of :class:`RMSProp`: the running average of squared gradients (``None`` before the first step)."""

    v: torch.Tensor | None = None


@register
class RMSProp(Rule):
    """RMSProp (Tieleman & Hinton 2012), as ``torch.optim.RMSprop`` (no momentum, not centered)::

        v ← β₂ v + (1 − β₂) g²         P = √v + ε          w ← w − η g / P

    That is GD preconditioned by P (Adam with β₁ = 0 and no bias correction): stable while the
    preconditioned sharpness λ_max(P^{-1}H) < 2/η.

    Args:
        eta: The step size η (> 0).
        beta2: Decay β₂ of the average in [0, 1) (PyTorch's ``alpha``, default 0.99).
        eps: ε > 0, added to √v.

    Example:
        >>> rule = RMSProp(0.01)
        >>> ctx = StepContext.from_functions(lambda w: float(w @ w), lambda w: 2 * w,
        ...                                  torch.tensor([1.0], dtype=torch.float64))
        >>> info, _ = rule.update(ctx, rule.init())
        >>> round(float(info.direction[0]), 4), rule.stability_threshold()
        (10.0, 200.0)
    """

    name = "rmsprop"
    label = "RMSProp, η = {eta:g}"
    description = "RMSProp: η·g/(√v + ε); stable while λ_max(P⁻¹H) < 2/η"
    eta_param = "eta"
    preconditioned = True
    _repr_always = ("eta",)

    def __init__(self, eta: float = 1e-3, beta2: float = 0.99, eps: float = 1e-8):
        self.eta = check_positive("eta", eta)
        self.beta2 = _check_beta("beta2", beta2)
        self.eps = check_positive("eps", eps)

    def init(self) -> RMSPropState:
        return RMSPropState()

    def update(self, ctx: StepContext, state: RMSPropState) -> tuple[StepInfo, RMSPropState]:
        g = ctx.grad
        v = (1 - self.beta2) * g * g if state.v is None else self.beta2 * state.v + (1 - self.beta2) * g * g
        p = v.sqrt() + self.eps
        return StepInfo(eta=self.eta, direction=g / p, preconditioner=p), RMSPropState(v)

    def stability_threshold(self, momentum: float = 0.0, nesterov: bool = False) -> float:
        """2/η: the edge of λ_max(P^{-1}H)."""
        return 2.0 / self.eta
