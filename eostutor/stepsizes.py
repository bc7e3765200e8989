"""Step-size rules for full-batch gradient descent.

A rule is a small object that holds only hyperparameters; everything that changes during a run lives in an
explicit, immutable state (the optax pattern)::

    state = rule.init()
    for k in range(num_steps):
        info, state = rule.update(ctx, state)   # ctx: a StepContext built by the loop at w_k
        w = w - info.eta * ctx.grad

so one rule object can drive several runs. A rule receives the loss, the gradient, trial losses along -g
(``ctx.loss_at``) and Hessian-vector products (``ctx.hvp``) from the loop; it never computes sharpness
itself.

Rules (Galli et al. 2026, and the classics they are compared with):

* ``Constant``: a fixed eta.
* ``Warmup`` / ``WarmupUB``: the paper's GD-warmup schedules (a function of the step number only).
* ``NLS``, ``NLSUpperBounded`` (NLS-ub), ``PoNLS``, ``Armijo`` (LS): one shared backtracking mechanism
  (:func:`line_search`) with a choice of reference value (Zhang-Hager, Grippo, monotone), forward-doubling
  policy and cap; the general form is :class:`LineSearch`.
* ``CDAT``: eta = sigma ||g||^2 / |g^T H g| (one HVP per step).
* ``Polyak``: eta = (f - f*) / ||g||^2.
* ``AdGD``: Malitsky & Mishchenko's adaptive step from local smoothness, no line search.

Use :func:`make_rule` (or the :data:`RULES` registry) to build a rule by name, and
:func:`stability_threshold` for the sharpness above which a step size is unstable on a quadratic.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from eostutor._validate import check_choice, check_in_range, check_int, check_positive

__all__ = [
    "ETA_MAX",
    "ETA_MIN",
    "RULES",
    "LABELS",
    "rule_label",
    "SKIP_TOL",
    "AdGD",
    "AdGDState",
    "Armijo",
    "CDAT",
    "CDATState",
    "Constant",
    "EmptyState",
    "LineSearch",
    "LineSearchState",
    "NLS",
    "NLSUpperBounded",
    "Polyak",
    "PoNLS",
    "Rule",
    "SearchResult",
    "StepContext",
    "StepInfo",
    "Warmup",
    "WarmupUB",
    "line_search",
    "make_rule",
    "stability_threshold",
    "sufficient_decrease",
]

#: Smallest step the line searches start from, and their fallback when no trial step is accepted.
ETA_MIN = 1e-6
#: Largest step any rule returns (the paper clips to [1e-6, 1e4]); also the CDAT / Polyak / AdGD guard.
ETA_MAX = 1e4
#: The line searches skip the search when ||g|| < SKIP_TOL or 0 <= f < SKIP_TOL (as in the paper's code).
SKIP_TOL = 1e-8

REFERENCES = ("zhang-hager", "grippo", "monotone")
DOUBLINGS = ("unlimited", "once", "none")


# --------------------------------------------------------------------------------------------------
# The contract: what the loop gives a rule, what a rule gives back
# --------------------------------------------------------------------------------------------------


@dataclass
class StepContext:
    """What the training loop hands a rule at step k (the rule must not modify the tensors).

    Attributes:
        step: k, 0-based.
        params: w_k, a flat 1-D tensor.
        loss: f(w_k).
        grad: g_k = grad f(w_k), 1-D.
        grad_norm_sq: ||g_k||^2.
        loss_at: eta -> f(w_k - eta * g_k); the loop counts the calls.
        hvp: v -> H(w_k) v; the loop counts the calls.
        num_classes: K for classifiers (NLS-ub's default cap, the warmup schedules), else None.

    Example (f(w) = w^2 / 2 at w = 1):
        >>> ctx = StepContext.from_functions(lambda w: 0.5 * float(w @ w), lambda w: w,
        ...                                  torch.tensor([1.0], dtype=torch.float64))
        >>> ctx.loss, ctx.grad_norm_sq, ctx.loss_at(0.5)
        (0.5, 1.0, 0.125)
    """

    step: int
    params: torch.Tensor
    loss: float
    grad: torch.Tensor
    grad_norm_sq: float
    loss_at: Callable[[float], float]
    hvp: Callable[[torch.Tensor], torch.Tensor]
    num_classes: int | None = None

    @classmethod
    def from_functions(
        cls,
        loss: Callable[[torch.Tensor], float],
        grad: Callable[[torch.Tensor], torch.Tensor],
        params: torch.Tensor,
        *,
        step: int = 0,
        hvp: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        num_classes: int | None = None,
    ) -> StepContext:
        """Build a context from plain functions (handy for trying a rule by hand).

        Args:
            loss: w -> f(w) (a float).
            grad: w -> grad f(w) (a 1-D tensor).
            params: the current point w_k.
            step: the step number k.
            hvp: (w, v) -> H(w) v, or None (then ``ctx.hvp`` raises ``ValueError``).
            num_classes: K, or None.

        Returns:
            A StepContext at ``params``.

        Example:
            >>> w = torch.tensor([2.0], dtype=torch.float64)
            >>> StepContext.from_functions(lambda w: float(w @ w), lambda w: 2 * w, w).grad_norm_sq
            16.0
        """
        w = params.detach()
        g = grad(w).detach()

        def loss_at(eta: float) -> float:
            return float(loss(w - eta * g))

        def hvp_at(v: torch.Tensor) -> torch.Tensor:
            if hvp is None:
                raise ValueError("this StepContext was built without an hvp function")
            return hvp(w, v)

        return cls(
            step=step,
            params=w,
            loss=float(loss(w)),
            grad=g,
            grad_norm_sq=float(g @ g),
            loss_at=loss_at,
            hvp=hvp_at,
            num_classes=num_classes,
        )


@dataclass
class StepInfo:
    """What a rule reports for one step.

    Attributes:
        eta: the accepted step size (the loop applies w <- w - eta * g).
        backtracks: number of rejected trial step sizes (line searches only).
        trial_loss: f(w_k - eta g_k) if the rule evaluated it at the accepted eta (the loop may reuse it
            instead of evaluating the loss again), else NaN.
        reference: the (nonmonotone) reference value R_k used in the sufficient-decrease test, else NaN.
        note: empty for an ordinary step; otherwise a short reason why the step is special ("skipped",
            "clipped to eta_max", "no step accepted"), for logs and teaching.

    Example:
        >>> StepInfo(eta=0.1)
        StepInfo(eta=0.1, backtracks=0, trial_loss=nan, reference=nan, note='')
    """

    eta: float
    backtracks: int = 0
    trial_loss: float = math.nan
    reference: float = math.nan
    note: str = ""


class EmptyState(NamedTuple):
    """The state of rules that need none (Constant, Warmup, Polyak).

    Example:
        >>> EmptyState()
        EmptyState()
    """


class Rule:
    """Base class of step-size rules: hyperparameters in the object, everything else in the state.

    Subclasses set ``name`` (the id used by :func:`make_rule`), the flags ``needs_hvp`` and
    ``supports_momentum``, and implement ``init`` and ``update``. Every constructor argument is stored as an
    attribute of the same name, which gives ``params()`` and ``__repr__`` for free.

    Example:
        >>> rule = Constant(0.1)
        >>> rule.params(), rule.needs_hvp, rule.supports_momentum
        ({'eta': 0.1}, False, True)
    """

    name: str = "rule"
    needs_hvp: bool = False
    supports_momentum: bool = False
    #: constructor arguments always shown by __repr__ (the others only when they differ from the default)
    _repr_always: tuple[str, ...] = ()

    def init(self) -> Any:
        """Return the initial state (a small immutable NamedTuple)."""
        raise NotImplementedError

    def update(self, ctx: StepContext, state: Any) -> tuple[StepInfo, Any]:
        """Return the step at ``ctx`` and the new state; ``state`` itself is never modified."""
        raise NotImplementedError

    @classmethod
    def _signature(cls) -> list[inspect.Parameter]:
        params = inspect.signature(cls.__init__).parameters.values()
        return [p for p in params if p.name != "self"]

    def params(self) -> dict[str, Any]:
        """Return the constructor arguments as a JSON-serialisable dict; ``type(rule)(**params)`` rebuilds it.

        Example:
            >>> NLS().params()["delta"]
            0.5
        """
        return {p.name: getattr(self, p.name) for p in self._signature()}

    def __repr__(self) -> str:
        parts = []
        for p in self._signature():
            value = getattr(self, p.name)
            if p.name in self._repr_always or p.default is inspect.Parameter.empty or value != p.default:
                parts.append(f"{p.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params() == other.params()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.params().items()))))


# --------------------------------------------------------------------------------------------------
# Fixed schedules
# --------------------------------------------------------------------------------------------------


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
    supports_momentum = True
    _repr_always = ("eta",)

    def __init__(self, eta: float):
        self.eta = check_positive("eta", eta)

    def init(self) -> EmptyState:
        return EmptyState()

    def update(self, ctx: StepContext, state: EmptyState) -> tuple[StepInfo, EmptyState]:
        return StepInfo(eta=self.eta), state


class Warmup(Rule):
    """GD-warmup (Flatland paper): eta grows geometrically to a peak, is held there, then drops.

    The schedule is a function of the step number only::

        eta_k = eta_start * factor**k     for k < k*   (k*: the first step where this reaches the peak)
        eta_k = peak                      for k* <= k < k* + hold
        eta_k = final                     afterwards
        eta_k = min(eta_k, cap)           if a cap is given

    With the defaults and K classes this is the paper's GD-warmup: from 0.01, x1.25 per step up to 1.25 K,
    held 2 steps, then 0.9 K. ``peak`` and ``final`` default to 1.25 K and 0.9 K; K comes from
    ``num_classes`` if given here, otherwise from ``ctx.num_classes`` at each update. If neither is known
    (and peak/final are not both given), the first update raises ``ValueError``.

    Args:
        eta_start: eta_0 (> 0).
        factor: growth factor per step (> 1).
        peak: the largest step size, or None for 1.25 K.
        hold: number of steps held at the peak (integer >= 0).
        final: the step size after the hold, or None for 0.9 K.
        cap: optional upper bound applied to every step, or None.
        num_classes: K, or None to take it from the context.

    Example:
        >>> rule = Warmup.paper(num_classes=10)
        >>> [round(rule.schedule(k), 4) for k in (0, 1, 2, 32, 33, 34)]
        [0.01, 0.0125, 0.0156, 12.5, 12.5, 9.0]
    """

    name = "warmup"
    supports_momentum = True
    _peak_per_class = 1.25
    _final_per_class = 0.9
    _final_is_peak = False  # WarmupUB: final defaults to the peak

    def __init__(
        self,
        eta_start: float = 0.01,
        factor: float = 1.25,
        peak: float | None = None,
        hold: int = 2,
        final: float | None = None,
        cap: float | None = None,
        num_classes: int | None = None,
    ):
        self.eta_start = check_positive("eta_start", eta_start)
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

    def _steps_to_peak(self, peak: float) -> int:
        if self.eta_start >= peak:
            return 0
        k = max(math.ceil(math.log(peak / self.eta_start) / math.log(self.factor)), 0)
        # guard against rounding in the logarithms: k* is the first k with eta_start * factor**k >= peak
        while k > 0 and self.eta_start * self.factor ** (k - 1) >= peak:
            k -= 1
        while self.eta_start * self.factor**k < peak:
            k += 1
        return k

    def schedule(self, step: int, num_classes: int | None = None) -> float:
        """Return eta at step ``step`` (K from the constructor, else from ``num_classes``).

        Args:
            step: the step number k >= 0.
            num_classes: K, used only if the rule was built without it.

        Returns:
            The step size eta_k.

        Example:
            >>> Warmup(peak=1.0, final=0.5, eta_start=0.25, factor=2.0, hold=1).schedule(2)
            1.0
        """
        step = check_int("step", step, minimum=0)
        peak, final = self._levels(num_classes)
        k_star = self._steps_to_peak(peak)
        if step < k_star:
            eta = self.eta_start * self.factor**step
        elif step < k_star + self.hold:
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


class WarmupUB(Warmup):
    """GD-warmup-ub: like :class:`Warmup` but the peak defaults to 0.9 K and the final step to the peak.

    So eta grows from 0.01 by x1.25 per step up to 0.9 K and stays there: eta < K always, which keeps the
    Edge-of-Stability sharpness 2/eta above the Flatland floor 2/K (Galli et al. 2026).

    Args:
        eta_start: eta_0 (> 0).
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
    _peak_per_class = 0.9
    _final_is_peak = True


# --------------------------------------------------------------------------------------------------
# Line searches: one shared mechanism
# --------------------------------------------------------------------------------------------------


def sufficient_decrease(
    trial_loss: float, reference: float, eta: float, grad_norm_sq: float, c: float
) -> bool:
    """The (nonmonotone) Armijo condition f(w - eta g) <= R - c eta ||g||^2 (False for a non-finite loss).

    Args:
        trial_loss: f(w - eta g).
        reference: R (f(w) for the monotone Armijo test).
        eta: the trial step size.
        grad_norm_sq: ||g||^2.
        c: the sufficient-decrease constant.

    Returns:
        Whether the condition holds.

    Example:
        >>> sufficient_decrease(0.0, 0.5, 1.0, 1.0, 1e-4), sufficient_decrease(0.5, 0.5, 2.0, 1.0, 1e-4)
        (True, False)
    """
    return math.isfinite(trial_loss) and trial_loss <= reference - c * eta * grad_norm_sq


class SearchResult(NamedTuple):
    """Outcome of :func:`line_search`.

    Attributes:
        eta: the accepted step (``eta_fallback`` if nothing was accepted).
        backtracks: number of rejected trial step sizes.
        trial_loss: f(w - eta g) at the accepted eta (NaN if nothing was accepted).
        accepted: False when every trial failed and the fallback is returned.
    """

    eta: float
    backtracks: int
    trial_loss: float
    accepted: bool


def line_search(
    loss_at: Callable[[float], float],
    grad_norm_sq: float,
    reference: float,
    eta_start: float,
    *,
    c: float = 1e-4,
    delta: float = 0.5,
    doubling: str = "unlimited",
    cap: float = math.inf,
    eta_max: float = ETA_MAX,
    max_trials: int = 100,
    eta_fallback: float = ETA_MIN,
) -> SearchResult:
    """Backtracking with optional forward doubling: the mechanism behind NLS, NLS-ub, PoNLS and LS.

    Test eta_start against ``f(w - eta g) <= reference - c eta ||g||^2``. If it fails, backtrack
    eta <- delta eta (at most ``max_trials`` trial steps in all, the start included, as in the authors'
    ``for e in range(100)`` loop) until it holds; if nothing is accepted return ``eta_fallback``. If the
    start holds at once, grow eta <- eta / delta while the condition still holds: without limit
    (``"unlimited"``, so eta / delta violates it: an "equality-type" step), at most one doubling
    (``"once"``) or never (``"none"``). Doubling is tried only while eta / delta < cap and
    eta / delta <= eta_max.

    Args:
        loss_at: eta -> f(w - eta g).
        grad_norm_sq: ||g||^2.
        reference: R_k (f_k for the monotone Armijo test).
        eta_start: the first trial step.
        c: sufficient-decrease constant in (0, 1).
        delta: backtracking factor in (0, 1).
        doubling: "unlimited" | "once" | "none".
        cap: doubling never reaches cap (so the result stays < cap if eta_start < cap).
        eta_max: doubling never exceeds eta_max.
        max_trials: most trial steps in the backtracking phase.
        eta_fallback: the step returned when nothing is accepted.

    Returns:
        A :class:`SearchResult`.

    Example (f(w) = w^2 / 2 at w = 1: eta = 1 reaches 0; eta = 2 returns to f = 0.5 and is rejected):
        >>> line_search(lambda eta: 0.5 * (1 - eta) ** 2, 1.0, 0.5, 1.0)
        SearchResult(eta=1.0, backtracks=1, trial_loss=0.0, accepted=True)
    """
    check_choice("doubling", doubling, DOUBLINGS)

    def ok(trial: float, eta: float) -> bool:
        return sufficient_decrease(trial, reference, eta, grad_norm_sq, c)

    eta = float(eta_start)
    trial = float(loss_at(eta))
    if ok(trial, eta):
        backtracks = 0
        max_doublings = {"unlimited": math.inf, "once": 1, "none": 0}[doubling]
        num_doublings = 0
        while num_doublings < max_doublings:
            candidate = eta / delta
            if not (candidate < cap and candidate <= eta_max):
                break
            num_doublings += 1
            candidate_loss = float(loss_at(candidate))
            if not ok(candidate_loss, candidate):
                backtracks = 1  # the doubled step was rejected: back to eta
                break
            eta, trial = candidate, candidate_loss
        return SearchResult(eta, backtracks, trial, True)
    for rejected in range(1, max_trials):
        eta *= delta
        trial = float(loss_at(eta))
        if ok(trial, eta):
            return SearchResult(eta, rejected, trial, True)
    return SearchResult(float(eta_fallback), max_trials, math.nan, False)


class LineSearchState(NamedTuple):
    """State of the line-search rules.

    Attributes:
        eta: the last accepted step (NLS / NLS-ub / LS start from it), eta_{-1} = eta0 initially.
        q: Zhang-Hager Q_k (Q_{-1} = 0).
        c_ref: Zhang-Hager C_k, with xi = 1 the running mean of f_0..f_k.
        history: the last ``memory`` losses (Grippo reference).
    """

    eta: float
    q: float = 0.0
    c_ref: float = 0.0
    history: tuple[float, ...] = ()


class LineSearch(Rule):
    """Backtracking line search with a nonmonotone reference: the general form of NLS, NLS-ub, PoNLS, LS.

    At step k (Galli et al. 2026, from the authors' public code):

    1. Update the reference R_k: ``"zhang-hager"``: Q <- xi Q + 1, C <- (xi Q_old C + f_k) / Q,
       R_k = max(C_k, f_k) (xi = 1: C_k is the running mean of f_0..f_k); ``"grippo"``: R_k = max of the last
       ``memory`` losses; ``"monotone"``: R_k = f_k (classical Armijo).
    2. Skip when ||g|| < skip_tol or 0 <= f_k < skip_tol (nothing left to decrease). As in the authors'
       code, a skipped step is *not taken*: it reports eta = 0 with a ``note`` saying why, and the
       state keeps the last accepted eta for later steps. (Taking the step with the stale eta instead
       would break the monotone guarantee of LS: on a quadratic at f < 1e-8 it makes the loss rise.)
       A non-finite f or ||g||^2 is skipped the same way, without touching the state.
    3. Start from the previous accepted eta (``start="previous"``) or from the Polyak-type guess
       f_k / (polyak_scale ||g||^2 + 1e-8) (``start="polyak"``), clipped to [eta_min, eta_max] and below
       ``cap``, and run :func:`line_search` with the chosen doubling policy.

    Args:
        c: sufficient-decrease constant in (0, 1).
        delta: backtracking factor in (0, 1); doubling multiplies by 1 / delta.
        eta0: eta_{-1}, the first start (> 0).
        reference: "zhang-hager" | "grippo" | "monotone".
        memory: M for the Grippo reference (integer >= 1).
        xi: Zhang-Hager nonmonotonicity in [0, 1] (0: monotone, 1: running mean).
        doubling: "unlimited" | "once" | "none".
        cap: doubling only while eta / delta < cap (None: no cap).
        start: "previous" | "polyak".
        polyak_scale: the 0.1 in the Polyak-type start.
        eta_min: lower clip of the start; also the fallback step when nothing is accepted.
        eta_max: upper clip of the start and of doubling.
        max_trials: most trial steps while backtracking (the start included).
        skip_tol: threshold of the skip test (0 disables it).

    Example:
        >>> rule = LineSearch(reference="grippo", memory=5, doubling="once")
        >>> rule
        LineSearch(c=0.0001, delta=0.5, eta0=1.0, reference='grippo', memory=5, doubling='once')
    """

    name = "linesearch"
    _repr_always = ("c", "delta", "eta0")
    _cap_from_classes = False  # NLS-ub: cap=None means cap = K

    def __init__(
        self,
        c: float = 1e-4,
        delta: float = 0.5,
        eta0: float = 1.0,
        *,
        reference: str = "zhang-hager",
        memory: int = 10,
        xi: float = 1.0,
        doubling: str = "unlimited",
        cap: float | None = None,
        start: str = "previous",
        polyak_scale: float = 0.1,
        eta_min: float = ETA_MIN,
        eta_max: float = ETA_MAX,
        max_trials: int = 100,
        skip_tol: float = SKIP_TOL,
    ):
        self.c = check_in_range("c", c, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        self.delta = check_in_range("delta", delta, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        self.eta0 = check_positive("eta0", eta0)
        self.reference = check_choice("reference", reference, REFERENCES)
        self.memory = check_int("memory", memory, minimum=1)
        self.xi = check_in_range("xi", xi, 0.0, 1.0)
        self.doubling = check_choice("doubling", doubling, DOUBLINGS)
        self.start = check_choice("start", start, ("previous", "polyak"))
        self.polyak_scale = check_positive("polyak_scale", polyak_scale)
        self.eta_min = check_positive("eta_min", eta_min)
        self.eta_max = check_positive("eta_max", eta_max)
        if self.eta_max <= self.eta_min:
            raise ValueError(f"eta_max must be > eta_min={self.eta_min!r}, got {eta_max!r}")
        self.cap = None if cap is None else self._check_cap(cap)
        self.max_trials = check_int("max_trials", max_trials, minimum=1)
        self.skip_tol = check_in_range("skip_tol", skip_tol, 0.0, math.inf, high_inclusive=False)

    def _check_cap(self, cap: Any) -> float:
        cap = check_positive("cap", cap)
        if cap <= self.eta_min:
            raise ValueError(f"cap must be > eta_min={self.eta_min!r} (the fallback step), got {cap!r}")
        return cap

    def init(self) -> LineSearchState:
        return LineSearchState(eta=self.eta0)

    def _resolve_cap(self, ctx: StepContext) -> float:
        if self.cap is not None:
            return self.cap
        if not self._cap_from_classes:
            return math.inf
        if ctx.num_classes is None:
            raise ValueError(
                f"{type(self).__name__} needs a cap: pass cap=... or train a problem whose num_classes K "
                "is set (the default cap is K)"
            )
        return self._check_cap(ctx.num_classes)

    def _reference(self, state: LineSearchState, loss: float) -> tuple[float, LineSearchState]:
        if self.reference == "zhang-hager":
            q = self.xi * state.q + 1.0
            c_ref = (self.xi * state.q * state.c_ref + loss) / q
            return max(c_ref, loss), state._replace(q=q, c_ref=c_ref)
        if self.reference == "grippo":
            history = (*state.history, loss)[-self.memory :]
            return max(history), state._replace(history=history)
        return loss, state

    def _below_cap(self, eta: float, cap: float) -> float:
        # eta_k < cap always: a start at or above the cap (e.g. eta0 = 1 with K = 1) is cut by delta
        while eta >= cap:
            eta *= self.delta
        return eta

    def _start(self, ctx: StepContext, state: LineSearchState, cap: float) -> float:
        if self.start == "polyak":
            eta = ctx.loss / (self.polyak_scale * ctx.grad_norm_sq + 1e-8)
        else:
            eta = state.eta
        eta = min(max(eta, self.eta_min), self.eta_max)
        return self._below_cap(eta, cap)

    def update(self, ctx: StepContext, state: LineSearchState) -> tuple[StepInfo, LineSearchState]:
        loss, grad_norm_sq = float(ctx.loss), float(ctx.grad_norm_sq)
        cap = self._resolve_cap(ctx)
        if not (math.isfinite(loss) and math.isfinite(grad_norm_sq)):
            return StepInfo(eta=0.0, note="skipped: non-finite loss or gradient, no step"), state
        reference, state = self._reference(state, loss)
        if math.sqrt(grad_norm_sq) < self.skip_tol or 0.0 <= loss < self.skip_tol:
            note = f"skipped: ||g|| or f below {self.skip_tol:g}, no step"
            return StepInfo(eta=0.0, reference=reference, note=note), state
        result = line_search(
            ctx.loss_at,
            grad_norm_sq,
            reference,
            self._start(ctx, state, cap),
            c=self.c,
            delta=self.delta,
            doubling=self.doubling,
            cap=cap,
            eta_max=self.eta_max,
            max_trials=self.max_trials,
            eta_fallback=self.eta_min,
        )
        note = "" if result.accepted else f"no step accepted in {self.max_trials} trials; eta = eta_min"
        info = StepInfo(
            eta=result.eta,
            backtracks=result.backtracks,
            trial_loss=result.trial_loss,
            reference=reference,
            note=note,
        )
        return info, state._replace(eta=result.eta)


class NLS(LineSearch):
    """Nonmonotone line search (the Flatland paper's NLS): the largest eta_{k-1} 2^j passing the test.

    Zhang-Hager reference R_k = max(C_k, f_k) (xi = 1: C_k is the running mean of the losses), start from
    the previous eta, backtrack by delta if needed, otherwise double while the condition holds, so the
    accepted step sits within a factor delta of where the condition is tight ("equality-type"). That is
    why eta * lambda_max stays >= 2 delta (1 - c) = 1 - c, and above 2 most of the time (Galli et al. 2026).

    Args:
        c: sufficient-decrease constant in (0, 1).
        delta: backtracking factor in (0, 1).
        eta0: eta_{-1} (> 0).
        reference: "zhang-hager" (paper) | "grippo" | "monotone".
        memory: M for the Grippo reference.
        xi: Zhang-Hager nonmonotonicity in [0, 1].
        eta_min: start clip and fallback step.
        eta_max: start clip and doubling limit.
        max_trials: most trial steps while backtracking.
        skip_tol: skip threshold on ||g|| and f (0 disables).

    Example (f(w) = w^2 / 2 at w = 1: eta = 1 lands on the minimum, eta = 2 is rejected):
        >>> rule = NLS()
        >>> ctx = StepContext.from_functions(lambda w: 0.5 * float(w @ w), lambda w: w,
        ...                                  torch.ones(1, dtype=torch.float64))
        >>> info, state = rule.update(ctx, rule.init())
        >>> info.eta, info.backtracks, info.reference
        (1.0, 1, 0.5)
        >>> rule
        NLS(c=0.0001, delta=0.5, eta0=1.0)
    """

    name = "nls"

    def __init__(
        self,
        c: float = 1e-4,
        delta: float = 0.5,
        eta0: float = 1.0,
        *,
        reference: str = "zhang-hager",
        memory: int = 10,
        xi: float = 1.0,
        eta_min: float = ETA_MIN,
        eta_max: float = ETA_MAX,
        max_trials: int = 100,
        skip_tol: float = SKIP_TOL,
    ):
        super().__init__(
            c, delta, eta0, reference=reference, memory=memory, xi=xi, doubling="unlimited",
            eta_min=eta_min, eta_max=eta_max, max_trials=max_trials, skip_tol=skip_tol,
        )  # fmt: skip


class NLSUpperBounded(LineSearch):
    """NLS-ub: NLS with at most one doubling per step, and only while eta / delta < cap, so eta_k < cap.

    The cap defaults to K (``ctx.num_classes``): with eta < K the Edge-of-Stability sharpness 2/eta stays
    above the Flatland floor 2/K (Galli et al. 2026). Without a cap and without K the first update
    raises ``ValueError``.

    Args:
        c: sufficient-decrease constant in (0, 1).
        delta: backtracking factor in (0, 1).
        eta0: eta_{-1} (> 0; cut by delta below the cap if needed).
        cap: the bound on eta, or None for K.
        reference: "zhang-hager" (paper) | "grippo" | "monotone".
        memory: M for the Grippo reference.
        xi: Zhang-Hager nonmonotonicity in [0, 1].
        eta_min: start clip and fallback step.
        eta_max: start clip and doubling limit.
        max_trials: most trial steps while backtracking.
        skip_tol: skip threshold on ||g|| and f (0 disables).

    Example:
        >>> NLSUpperBounded(cap=10)
        NLSUpperBounded(c=0.0001, delta=0.5, eta0=1.0, cap=10.0)
    """

    name = "nls-ub"
    _cap_from_classes = True

    def __init__(
        self,
        c: float = 1e-4,
        delta: float = 0.5,
        eta0: float = 1.0,
        *,
        cap: float | None = None,
        reference: str = "zhang-hager",
        memory: int = 10,
        xi: float = 1.0,
        eta_min: float = ETA_MIN,
        eta_max: float = ETA_MAX,
        max_trials: int = 100,
        skip_tol: float = SKIP_TOL,
    ):
        super().__init__(
            c, delta, eta0, reference=reference, memory=memory, xi=xi, doubling="once", cap=cap,
            eta_min=eta_min, eta_max=eta_max, max_trials=max_trials, skip_tol=skip_tol,
        )  # fmt: skip


class Armijo(LineSearch):
    """LS: monotone Armijo backtracking (R_k = f_k) with the same forward doubling as NLS.

    Every accepted step decreases the loss: f(w - eta g) <= f(w) - c eta ||g||^2.

    Args:
        c: sufficient-decrease constant in (0, 1).
        delta: backtracking factor in (0, 1).
        eta0: eta_{-1} (> 0).
        eta_min: start clip and fallback step.
        eta_max: start clip and doubling limit.
        max_trials: most trial steps while backtracking.
        skip_tol: skip threshold on ||g|| and f (0 disables).

    Example:
        >>> Armijo(c=0.1)
        Armijo(c=0.1, delta=0.5, eta0=1.0)
    """

    name = "ls"

    def __init__(
        self,
        c: float = 1e-4,
        delta: float = 0.5,
        eta0: float = 1.0,
        *,
        eta_min: float = ETA_MIN,
        eta_max: float = ETA_MAX,
        max_trials: int = 100,
        skip_tol: float = SKIP_TOL,
    ):
        super().__init__(
            c, delta, eta0, reference="monotone", doubling="unlimited",
            eta_min=eta_min, eta_max=eta_max, max_trials=max_trials, skip_tol=skip_tol,
        )  # fmt: skip


class PoNLS(LineSearch):
    """PoNLS: each step starts from the Polyak-type guess f / (0.1 ||g||^2 + 1e-8), then backtracks only.

    The guess is clipped to [eta_min, eta_max]; the reference is Zhang-Hager (as in NLS); there is no
    forward doubling. (The authors' PoNoS optimizer also has a "save backtracks" reset; it is not part of
    the method as used in the Flatland paper and is not implemented.)

    Args:
        c: sufficient-decrease constant in (0, 1).
        delta: backtracking factor in (0, 1).
        polyak_scale: the 0.1 in the guess.
        reference: "zhang-hager" (paper) | "grippo" | "monotone".
        memory: M for the Grippo reference.
        xi: Zhang-Hager nonmonotonicity in [0, 1].
        eta_min: guess clip and fallback step.
        eta_max: guess clip.
        max_trials: most trial steps while backtracking.
        skip_tol: skip threshold on ||g|| and f (0 disables).

    Example (f = 1, ||g||^2 = 1: the guess is 1 / 0.1 = 10, which this made-up loss accepts):
        >>> ctx = StepContext(step=0, params=torch.zeros(1), loss=1.0, grad=torch.ones(1), grad_norm_sq=1.0,
        ...                   loss_at=lambda eta: 0.0, hvp=lambda v: v)
        >>> rule = PoNLS()
        >>> round(rule.update(ctx, rule.init())[0].eta, 3)
        10.0
    """

    name = "ponls"
    _repr_always = ("c", "delta")

    def __init__(
        self,
        c: float = 1e-4,
        delta: float = 0.5,
        *,
        polyak_scale: float = 0.1,
        reference: str = "zhang-hager",
        memory: int = 10,
        xi: float = 1.0,
        eta_min: float = ETA_MIN,
        eta_max: float = ETA_MAX,
        max_trials: int = 100,
        skip_tol: float = SKIP_TOL,
    ):
        super().__init__(
            c, delta, reference=reference, memory=memory, xi=xi, doubling="none", start="polyak",
            polyak_scale=polyak_scale, eta_min=eta_min, eta_max=eta_max, max_trials=max_trials,
            skip_tol=skip_tol,
        )  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Curvature- and gap-based steps
# --------------------------------------------------------------------------------------------------


class CDATState(NamedTuple):
    """State of :class:`CDAT`: how many steps were clipped to eta_max so far."""

    num_clipped: int = 0


class CDAT(Rule):
    """CDAT (Roulet et al. 2024): eta = sigma ||g||^2 / |g^T H g|, one HVP per step.

    g^T H g / ||g||^2 is the curvature along the gradient, so eta times it equals sigma: with sigma = 2.06 the
    step sits just past the edge of stability (2) along -g.

    Guard: when |g^T H g| is ~0 or not finite the formula explodes. That really happens in Flatland: the
    hidden-layer gradients die and g^T H g -> 0 along the surviving directions. The step is then clipped
    to ``eta_max``, the ``note`` says so and ``state.num_clipped`` counts it.

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


# --------------------------------------------------------------------------------------------------
# Registry and helpers
# --------------------------------------------------------------------------------------------------

RULES: dict[str, tuple[type[Rule], str]] = {
    "constant": (Constant, "fixed step size eta"),
    "warmup": (Warmup, "GD-warmup: 0.01 x1.25 per step to 1.25 K, hold 2 steps, then 0.9 K"),
    "warmup-ub": (WarmupUB, "GD-warmup-ub: 0.01 x1.25 per step to 0.9 K, then hold (eta < K)"),
    "ls": (Armijo, "monotone Armijo line search with forward doubling"),
    "nls": (NLS, "nonmonotone (Zhang-Hager) line search, largest eta_prev * 2^j accepted"),
    "nls-ub": (NLSUpperBounded, "NLS with one doubling per step and eta < cap (default K)"),
    "ponls": (PoNLS, "nonmonotone line search started from a Polyak-type guess, backtracking only"),
    "cdat": (CDAT, "eta = sigma ||g||^2 / |g^T H g| (one HVP per step), sigma = 2.06"),
    "polyak": (Polyak, "Polyak step eta = (f - f*) / ||g||^2"),
    "adgd": (AdGD, "Malitsky-Mishchenko adaptive GD from local smoothness, no line search"),
}


#: Short names used in plot legends (the paper's names).
LABELS: dict[str, str] = {
    "constant": "GD", "warmup": "GD-warmup", "warmup-ub": "GD-warmup-ub", "ls": "LS", "nls": "NLS",
    "nls-ub": "NLS-ub", "ponls": "PoNLS", "cdat": "CDAT", "polyak": "Polyak", "adgd": "AdGD",
}


def rule_label(rule: Rule) -> str:
    """A short legend label: the paper's name plus the arguments that differ from the defaults.

    Example:
        >>> rule_label(Constant(0.5)), rule_label(NLS()), rule_label(NLSUpperBounded(cap=5))
        ('GD, η = 0.5', 'NLS', 'NLS-ub (cap=5.0)')
    """
    base = LABELS.get(rule.name, type(rule).__name__)
    if isinstance(rule, Constant):
        return f"{base}, η = {rule.eta:g}"
    changed = [f"{p.name}={getattr(rule, p.name)!r}" for p in rule._signature()
               if p.default is not inspect.Parameter.empty and getattr(rule, p.name) != p.default]
    return f"{base} ({', '.join(changed)})" if changed else base


def make_rule(name: str, **kwargs: Any) -> Rule:
    """Build a registered rule by name.

    Args:
        name: one of :data:`RULES` ("constant", "warmup", "warmup-ub", "ls", "nls", "nls-ub", "ponls",
            "cdat", "polyak", "adgd").
        **kwargs: constructor arguments of that rule.

    Returns:
        The rule.

    Raises:
        ValueError: for an unknown name, unknown or missing arguments (naming them), or invalid values.

    Example:
        >>> make_rule("nls-ub", cap=10)
        NLSUpperBounded(c=0.0001, delta=0.5, eta0=1.0, cap=10.0)
    """
    check_choice("rule", name, RULES)
    cls = RULES[name][0]
    signature = cls._signature()
    valid = [p.name for p in signature]
    unknown = [key for key in kwargs if key not in valid]
    if unknown:
        raise ValueError(
            f"unknown argument(s) for rule {name!r}: {', '.join(unknown)}; "
            f"valid arguments: {', '.join(valid)}"
        )
    missing = [p.name for p in signature if p.default is inspect.Parameter.empty and p.name not in kwargs]
    if missing:
        raise ValueError(f"rule {name!r} needs argument(s): {', '.join(missing)}")
    return cls(**kwargs)


def stability_threshold(eta: float, momentum: float = 0.0, nesterov: bool = False) -> float:
    """The sharpness above which GD with step eta is unstable on a quadratic (see notebook 01).

    2/eta for plain GD, 2(1 + beta)/eta with heavy-ball momentum beta, (2 + 2 beta)/((1 + 2 beta) eta) with
    Nesterov momentum.

    Args:
        eta: the step size (> 0).
        momentum: beta in [0, 1).
        nesterov: Nesterov instead of heavy-ball momentum.

    Returns:
        The threshold on lambda_max.

    Example:
        >>> stability_threshold(0.1), stability_threshold(0.1, momentum=0.5)
        (20.0, 30.0)
    """
    eta = check_positive("eta", eta)
    beta = check_in_range("momentum", momentum, 0.0, 1.0, high_inclusive=False)
    if nesterov:
        return (2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * eta)
    return 2.0 * (1.0 + beta) / eta
