"""Step sizes that depend on the step number only: constant GD and the Flatland paper's GD-warmup."""

from __future__ import annotations

import math

import torch  # noqa: F401  (used by the doctests)

from eostutor._validate import check_int, check_positive
from eostutor.stepsizes.base import EmptyState, Rule, StepContext, StepInfo, stability_threshold
from eostutor.stepsizes.registry import register

__all__ = ["Constant", "Warmup", "WarmupUB"]


@register
class Constant(Rule):
    """Gradient descent with a fixed step size eta.

    Args:
        eta: the step size (finite, > 0).

    Example:
        >>> rule = Constant(0.1)
        >>> ctx = StepContext.from_functions(lambda w: 0.5 * float(w @ w), lambda w: w,
        ...                                  torch.ones(1, dtype=torch.float64))
        >>> rule.update(ctx, rule.init())[0].eta
        0.1
    """

    name = "constant"
    label = "GD, η = {eta:g}"
    description = "fixed step size η"
    eta_param = "eta"
    supports_momentum = True
    _repr_always = ("eta",)

    def __init__(self, eta: float):
        self.eta = check_positive("eta", eta)

    def init(self) -> EmptyState:
        return EmptyState()

    def update(self, ctx: StepContext, state: EmptyState) -> tuple[StepInfo, EmptyState]:
        return StepInfo(eta=self.eta), state

    def stability_threshold(self, momentum: float = 0.0, nesterov: bool = False) -> float:
        """2/η, or the momentum edge (see :func:`eostutor.stepsizes.stability_threshold`).

        >>> Constant(0.5).stability_threshold(), Constant(0.5).stability_threshold(momentum=0.5)
        (4.0, 6.0)
        """
        return stability_threshold(self.eta, momentum, nesterov)


@register
class Warmup(Rule):
    """GD-warmup (Flatland paper): eta grows geometrically to a peak, is held there, then drops.

    The schedule is a function of the step number only. As in the authors' code the step size is raised
    *before* each step, so the first step is already ``eta0 * factor``::

        eta_k = eta0 * factor**(k + 1)    while that is below the peak
        eta_k = peak                      for the next ``hold`` steps (from the first k where it is not)
        eta_k = final                     afterwards
        eta_k = min(eta_k, cap)           if a cap is given

    With the defaults and K classes this is the paper's GD-warmup: from 0.01, x1.25 per step up to 1.25 K,
    held 2 steps, then 0.9 K. ``peak`` and ``final`` default to 1.25 K and 0.9 K; K comes from
    ``num_classes`` if given here, otherwise from ``ctx.num_classes`` at each update. If neither is known
    (and peak/final are not both given), the first update raises ``ValueError``.

    Args:
        eta0: the step size before the first raise (> 0); the first step is ``eta0 * factor``.
        factor: growth factor per step (> 1).
        peak: the largest step size, or None for 1.25 K.
        hold: number of steps held at the peak (integer >= 0).
        final: the step size after the hold, or None for 0.9 K.
        cap: optional upper bound applied to every step, or None.
        num_classes: K, or None to take it from the context.

    Example:
        >>> rule = Warmup.paper(num_classes=10)
        >>> [round(rule.schedule(k), 4) for k in (0, 1, 2, 31, 32, 33)]
        [0.0125, 0.0156, 0.0195, 12.5, 12.5, 9.0]
    """

    name = "warmup"
    label = "GD-warmup"
    description = "GD-warmup: from 0.01, x1.25 per step to 1.25 K, hold 2 steps, then 0.9 K"
    eta_param = "peak"
    supports_momentum = True
    needs_num_classes = True  # the final step 0.9 K
    _peak_per_class = 1.25
    _final_per_class = 0.9
    _final_is_peak = False  # WarmupUB: final defaults to the peak

    def __init__(
        self,
        eta0: float = 0.01,
        factor: float = 1.25,
        peak: float | None = None,
        hold: int = 2,
        final: float | None = None,
        cap: float | None = None,
        num_classes: int | None = None,
    ):
        self.eta0 = check_positive("eta0", eta0)
        factor = check_positive("factor", factor)
        if factor <= 1.0:
            raise ValueError(f"factor must be a finite number > 1, got {factor!r}")
        self.factor = factor
        self.peak = None if peak is None else check_positive("peak", peak)
        self.hold = check_int("hold", hold, minimum=0)
        self.final = None if final is None else check_positive("final", final)
        self.cap = None if cap is None else check_positive("cap", cap)
        self.num_classes = None if num_classes is None else check_int("num_classes", num_classes, minimum=1)

    @classmethod
    def default_eta(cls, num_classes: int | None = None) -> float | None:
        return None if num_classes is None else cls._peak_per_class * num_classes

    @classmethod
    def paper(cls, num_classes: int | None = None) -> Warmup:
        """The paper's GD-warmup: 0.01 x1.25 per step up to 1.25 K, held 2 steps, then 0.9 K.

        Example:
            >>> Warmup.paper(10).schedule(100)
            9.0
        """
        return Warmup(num_classes=num_classes)

    @classmethod
    def paper_ub(cls, num_classes: int | None = None) -> WarmupUB:
        """The paper's GD-warmup-ub: 0.01 x1.25 per step up to 0.9 K, then held at 0.9 K.

        Example:
            >>> Warmup.paper_ub(10).schedule(100)
            9.0
        """
        return WarmupUB(num_classes=num_classes)

    def _levels(self, num_classes: int | None) -> tuple[float, float]:
        k = self.num_classes if self.num_classes is not None else num_classes
        needs_k = self.peak is None or (self.final is None and not self._final_is_peak)
        if needs_k and k is None:
            raise ValueError(
                f"{type(self).__name__} needs the number of classes K for its default peak/final step "
                "sizes: pass num_classes=K (or explicit peak= and final=), or train a problem whose "
                "num_classes is set"
            )
        peak = self.peak if self.peak is not None else self._peak_per_class * k
        if self.final is not None:
            final = self.final
        else:
            final = peak if self._final_is_peak else self._final_per_class * k
        return peak, final

    def _raises_to_peak(self, peak: float) -> int:
        """The smallest j >= 0 with eta0 * factor**j >= peak."""
        if self.eta0 >= peak:
            return 0
        j = max(math.ceil(math.log(peak / self.eta0) / math.log(self.factor)), 0)
        # guard against rounding in the logarithms
        while j > 0 and self.eta0 * self.factor ** (j - 1) >= peak:
            j -= 1
        while self.eta0 * self.factor**j < peak:
            j += 1
        return j

    def schedule(self, step: int, num_classes: int | None = None) -> float:
        """Return eta at step ``step`` (K from the constructor, else from ``num_classes``).

        Args:
            step: the step number k >= 0.
            num_classes: K, used only if the rule was built without it.

        Returns:
            The step size eta_k.

        Example:
            >>> Warmup(peak=1.0, final=0.5, eta0=0.25, factor=2.0, hold=1).schedule(1)
            1.0
        """
        step = check_int("step", step, minimum=0)
        peak, final = self._levels(num_classes)
        raised = step + 1  # raised once before every step, the first included
        j_star = self._raises_to_peak(peak)
        if raised < j_star:
            eta = self.eta0 * self.factor**raised
        elif raised < j_star + self.hold:
            eta = peak
        else:
            eta = final
        if self.cap is not None:
            eta = min(eta, self.cap)
        return float(eta)

    def init(self) -> EmptyState:
        return EmptyState()

    def update(self, ctx: StepContext, state: EmptyState) -> tuple[StepInfo, EmptyState]:
        return StepInfo(eta=self.schedule(ctx.step, ctx.num_classes)), state


@register
class WarmupUB(Warmup):
    """GD-warmup-ub: like :class:`Warmup` but the peak defaults to 0.9 K and the final step to the peak.

    So eta grows from 0.01 by x1.25 per step up to 0.9 K and stays there: eta < K always, which keeps the
    Edge-of-Stability sharpness 2/eta above the Flatland floor 2/K (Galli et al. 2026).

    Args:
        eta0: the step size before the first raise (> 0).
        factor: growth factor per step (> 1).
        peak: the largest step size, or None for 0.9 K.
        hold: steps held at the peak before ``final`` (irrelevant when final is the peak).
        final: the step size after the hold, or None for the peak.
        cap: optional upper bound applied to every step, or None.
        num_classes: K, or None to take it from the context.

    Example:
        >>> rule = WarmupUB(num_classes=10)
        >>> max(rule.schedule(k) for k in range(200))
        9.0
    """

    name = "warmup-ub"
    label = "GD-warmup-ub"
    description = "GD-warmup-ub: from 0.01, x1.25 per step to 0.9 K, then hold (η < K)"
    needs_num_classes = False  # with the peak given (the η control), the final step is the peak
    _peak_per_class = 0.9
    _final_is_peak = True
