"""Step sizes from curvature or the optimality gap, without a line search: CDAT, Polyak, AdGD."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from eostutor._validate import check_positive
from eostutor.stepsizes.base import ETA_MAX, EmptyState, Rule, StepContext, StepInfo
from eostutor.stepsizes.registry import register

__all__ = ["CDAT", "CDATState", "Polyak", "AdGD", "AdGDState"]


class CDATState(NamedTuple):
    """State of :class:`CDAT`: how many steps were clipped to eta_max so far."""

    num_clipped: int = 0


@register
class CDAT(Rule):
    """CDAT (Roulet et al. 2024): eta = sigma ||g||^2 / |g^T H g|, one HVP per step.

    g^T H g / ||g||^2 is the curvature along the gradient, so eta times it equals sigma: with sigma = 2.06 the
    step sits just past the edge of stability (2) along -g.

    In Flatland (dead hidden layers, only the output bias learning) the gradient lives in the bias block,
    whose Hessian is exactly (2/K)·I: g^T H g / ||g||^2 = 2/K, so CDAT settles at eta = sigma K / 2 (10.3 for
    K = 10, never clipped) and eta · 2/K = sigma = 2.06 > 2 makes that bias-only quadratic diverge slowly:
    CDAT does not stall in Flatland, it is thrown out of it.

    Guard: when |g^T H g| is ~0 or not finite (a locally linear loss) the formula has no finite value; the
    step is then clipped to ``eta_max``, the ``note`` says so and ``state.num_clipped`` counts it.

    Args:
        sigma: target eta * (g^T H g / ||g||^2) (> 0).
        eta_max: the largest step (> 0).

    Example (f(w) = 2 w^2, curvature 4: eta = 2.06 / 4):
        >>> ctx = StepContext.from_functions(lambda w: 2 * float(w @ w), lambda w: 4 * w,
        ...     torch.ones(1, dtype=torch.float64), hvp=lambda w, v: 4 * v)
        >>> rule = CDAT()
        >>> rule.update(ctx, rule.init())[0].eta
        0.515
    """

    name = "cdat"
    label = "CDAT"
    description = "η = σ‖g‖²/|gᵀHg| (one HVP per step), σ = 2.06"
    needs_hvp = True
    _repr_always = ("sigma",)

    def __init__(self, sigma: float = 2.06, eta_max: float = ETA_MAX):
        self.sigma = check_positive("sigma", sigma)
        self.eta_max = check_positive("eta_max", eta_max)

    def init(self) -> CDATState:
        return CDATState()

    def update(self, ctx: StepContext, state: CDATState) -> tuple[StepInfo, CDATState]:
        grad_norm_sq = float(ctx.grad_norm_sq)
        curvature = float(torch.dot(ctx.grad, ctx.hvp(ctx.grad)))  # g^T H g
        # the step is finite and <= eta_max exactly when |g^T H g| * eta_max > sigma ||g||^2
        if math.isfinite(curvature) and math.isfinite(grad_norm_sq) and (
            abs(curvature) * self.eta_max > self.sigma * grad_norm_sq
        ):
            return StepInfo(eta=self.sigma * grad_norm_sq / abs(curvature)), state
        note = f"clipped to eta_max: |g^T H g| = {abs(curvature):.3g} is ~0 or not finite"
        return StepInfo(eta=self.eta_max, note=note), state._replace(num_clipped=state.num_clipped + 1)


@register
class Polyak(Rule):
    """Polyak step eta = (f - f*) / ||g||^2, clipped to [0, eta_max].

    A loss at or below f* gives eta = 0 (nothing to gain); ||g|| = 0 gives eta_max (with a ``note``).

    Args:
        f_star: the optimal value f* (or a guess; 0 for interpolating models).
        eta_max: the largest step (> 0).

    Example (f = 2 w^2 at w = 1: f = 2, g = 4, eta = 2 / 16):
        >>> ctx = StepContext.from_functions(lambda w: 2 * float(w @ w), lambda w: 4 * w,
        ...                                  torch.ones(1, dtype=torch.float64))
        >>> rule = Polyak()
        >>> rule.update(ctx, rule.init())[0].eta
        0.125
    """

    name = "polyak"
    label = "Polyak"
    description = "Polyak step η = (f − f*)/‖g‖²"
    _repr_always = ("f_star",)

    def __init__(self, f_star: float = 0.0, eta_max: float = ETA_MAX):
        try:
            self.f_star = float(f_star)
        except (TypeError, ValueError):
            raise ValueError(f"f_star must be a finite number, got {f_star!r}") from None
        if not math.isfinite(self.f_star):
            raise ValueError(f"f_star must be a finite number, got {f_star!r}")
        self.eta_max = check_positive("eta_max", eta_max)

    def init(self) -> EmptyState:
        return EmptyState()

    def update(self, ctx: StepContext, state: EmptyState) -> tuple[StepInfo, EmptyState]:
        gap = max(float(ctx.loss) - self.f_star, 0.0)
        grad_norm_sq = float(ctx.grad_norm_sq)
        if gap == 0.0:
            return StepInfo(eta=0.0, note="f <= f_star: no step"), state
        if math.isfinite(gap) and math.isfinite(grad_norm_sq) and gap < self.eta_max * grad_norm_sq:
            return StepInfo(eta=gap / grad_norm_sq), state
        return StepInfo(eta=self.eta_max, note="clipped to eta_max: ||g||^2 ~ 0 or not finite"), state


class AdGDState(NamedTuple):
    """State of :class:`AdGD`: the last eta and theta, and the previous point and gradient (clones)."""

    eta: float
    theta: float
    prev_params: torch.Tensor | None = None
    prev_grad: torch.Tensor | None = None


@register
class AdGD(Rule):
    """AdGD (Malitsky & Mishchenko, ICML 2020, Algorithm 1): a local-smoothness step without line search.

    eta_k = min(sqrt(1 + theta_{k-1}) eta_{k-1}, ||w_k - w_{k-1}|| / (2 ||g_k - g_{k-1}||)),
    theta_k = eta_k / eta_{k-1}.

    Initialisation as in Algorithm 1: the first step (k = 0) uses eta0 (the "lambda_0 > 0"; the authors'
    code uses 1e-6) and theta_0 = +inf, so at k = 1 only the local-smoothness estimate counts. (The
    authors' code sets lambda_0 = 1 after the first step and theta_0 = 1e9; Algorithm 1 is followed here.)
    If g_k = g_{k-1} (locally linear) the estimate is +inf; every step is clipped to ``eta_max`` (with a
    ``note``). The state holds clones of the previous point and gradient.

    Args:
        eta0: the first step (> 0).
        eta_max: the largest step (> 0).

    Example (f(w) = w^2 / 2 from w = 1: g = w, so ||dw|| / (2 ||dg||) = 1/2 at step 1):
        >>> rule = AdGD()
        >>> f, grad = (lambda w: 0.5 * float(w @ w)), (lambda w: w)
        >>> w = torch.ones(1, dtype=torch.float64)
        >>> info, state = rule.update(StepContext.from_functions(f, grad, w), rule.init())
        >>> w = w - info.eta * w
        >>> rule.update(StepContext.from_functions(f, grad, w, step=1), state)[0].eta
        0.5
    """

    name = "adgd"
    label = "AdGD"
    description = "Malitsky-Mishchenko adaptive GD from local smoothness, no line search"
    eta_param = "eta0"
    _repr_always = ("eta0",)

    def __init__(self, eta0: float = 1e-6, eta_max: float = ETA_MAX):
        self.eta0 = check_positive("eta0", eta0)
        self.eta_max = check_positive("eta_max", eta_max)

    def init(self) -> AdGDState:
        return AdGDState(eta=self.eta0, theta=math.inf)

    def update(self, ctx: StepContext, state: AdGDState) -> tuple[StepInfo, AdGDState]:
        w, g = ctx.params.detach(), ctx.grad.detach()
        if not bool(torch.isfinite(g).all()):
            return StepInfo(eta=state.eta, note="skipped: non-finite gradient"), state
        note = ""
        if state.prev_params is None:
            eta, theta = self.eta0, math.inf
        else:
            growth = math.sqrt(1.0 + state.theta) * state.eta  # +inf while theta_0 = +inf
            dw = float(torch.linalg.vector_norm(w - state.prev_params))
            dg = float(torch.linalg.vector_norm(g - state.prev_grad))
            local = dw / (2.0 * dg) if dg > 0.0 and dw > 0.0 else math.inf
            eta = min(growth, local)
            if not eta <= self.eta_max:
                eta, note = self.eta_max, "clipped to eta_max: no curvature seen between the last two points"
            theta = eta / state.eta
        new_state = AdGDState(eta=eta, theta=theta, prev_params=w.clone(), prev_grad=g.clone())
        return StepInfo(eta=eta, note=note), new_state
