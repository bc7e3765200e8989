"""Backtracking line searches: one mechanism (:func:`line_search`) behind NLS, NLS-ub, PoNLS, LS and the
ablations of NLS-ub.

:class:`LineSearch` is the general form, with a choice of reference value (Zhang-Hager, Grippo, monotone),
forward-doubling policy, cap and start. Each named rule is LineSearch with some of those choices fixed
(``_fixed``); its constructor takes the remaining arguments, with the same defaults.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import torch  # noqa: F401  (used by the doctests)

from eostutor._validate import check_choice, check_in_range, check_int, check_positive
from eostutor.stepsizes.base import ETA_MAX, ETA_MIN, SKIP_TOL, Rule, StepContext, StepInfo
from eostutor.stepsizes.registry import register

__all__ = ["REFERENCES", "DOUBLINGS", "sufficient_decrease", "SearchResult", "line_search", "LineSearchState",
           "LineSearch", "NLS", "NLSUpperBounded", "Armijo", "PoNLS", "NLSCapOnly", "NLSOnceOnly"]

REFERENCES = ("zhang-hager", "grippo", "monotone")
DOUBLINGS = ("unlimited", "once", "none")


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

    Compared with the authors' code, step for step on the same networks NLS, NLS-ub, PoNLS and LS give the
    same step sizes; three details differ on purpose: the forward doubling itself stops at ``eta_max``
    (1e4), so a step is never tried beyond it; LS skips a step by the same rule as the nonmonotone searches
    (||g|| or f below ``skip_tol``); and on a skipped step the reference R_k still takes in f_k.

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
    label = "line search"
    description = "backtracking line search with a chosen reference, doubling policy, cap and start"
    eta_param = "eta0"
    _repr_always = ("c", "delta", "eta0")
    _cap_from_classes = False  # NLS-ub: cap=None means cap = K
    #: Arguments a named line search fixes (they leave its signature; see __init_subclass__).
    _fixed: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs):
        """A subclass that sets ``_fixed`` gets LineSearch's constructor without those arguments."""
        super().__init_subclass__(**kwargs)
        fixed = cls.__dict__.get("_fixed")
        if not fixed:
            return
        full = inspect.signature(LineSearch.__init__)
        signature = full.replace(parameters=[p for p in full.parameters.values() if p.name not in fixed])

        def __init__(self, *args, **kw):
            try:
                bound = signature.bind(self, *args, **kw)
            except TypeError as err:
                raise ValueError(f"{type(self).__name__}: {err}") from None
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            del arguments["self"]
            LineSearch.__init__(self, **arguments, **type(self)._all_fixed())

        __init__.__signature__ = signature
        __init__.__doc__ = f"{cls.__name__}: LineSearch with {', '.join(f'{k}={v!r}' for k, v in fixed.items())}."
        cls.__init__ = __init__

    @classmethod
    def default_eta(cls, num_classes: int | None = None) -> float | None:
        if cls.eta_param == "cap" and cls._cap_from_classes:
            return None if num_classes is None else float(num_classes)
        return super().default_eta(num_classes)

    @classmethod
    def _all_fixed(cls) -> dict[str, Any]:
        return {k: v for klass in reversed(cls.__mro__) for k, v in klass.__dict__.get("_fixed", {}).items()}

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




@register
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
    label = "LS"
    description = "monotone Armijo line search with forward doubling"
    _fixed = {"reference": "monotone", "memory": 10, "xi": 1.0, "doubling": "unlimited", "cap": None,
              "start": "previous", "polyak_scale": 0.1}


@register
class NLS(LineSearch):
    """Nonmonotone line search (the Flatland paper's NLS): the largest eta_{k-1} 2^j passing the test.

    Zhang-Hager reference R_k = max(C_k, f_k) (xi = 1: C_k is the running mean of the losses), start from
    the previous eta, backtrack by delta if needed, otherwise double while the condition holds, so the
    accepted step sits within a factor delta of where the condition is tight ("equality-type").

    What that guarantees: whenever the step 2 eta_k was tried and rejected (backtracking from it, or the
    doubling that failed), f(w - 2 eta_k g) > R_k - 2 c eta_k ||g||^2 >= f(w) - 2 c eta_k ||g||^2, and the
    integral form of the mean value theorem turns this into eta_k * l(w_k, 2 eta_k) > 1 - c, where
    l(w, s) = sup over 0 < s' <= s of ||grad f(w) - grad f(w - s' g)|| / (s' ||g||) is the curvature *along
    the segment* (notebook 02). On a quadratic l <= lambda_max, so there eta_k * lambda_max > 1 - c exactly;
    on a network lambda_max at w_k need not bound l (f(x) = x + 10 relu(-x)^2 at x = 1 accepts eta = 1
    with lambda_max = 0), but on the course's networks eta_k * lambda_max stayed above 1.48 (reference MLP,
    seeds 0-2, 500 steps; 1.60 on the Flatland network) and above 2 at 98% of the measured steps. NLS-ub,
    whose cap stops the doubling, has no such bound: 0.88 on the Flatland network.

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
    label = "NLS"
    description = "nonmonotone (Zhang-Hager) line search, largest η_prev·2^j accepted"
    _fixed = {"doubling": "unlimited", "cap": None, "start": "previous", "polyak_scale": 0.1}


@register
class NLSUpperBounded(LineSearch):
    """NLS-ub: NLS with at most one doubling per step, and only while eta / delta < cap, so eta_k < cap.

    The cap defaults to K (``ctx.num_classes``): with eta < K the Edge-of-Stability sharpness 2/eta stays
    above the Flatland floor 2/K (Galli et al. 2026). Without a cap and without K the first update
    raises ``ValueError``.

    Args: those of :class:`NLS` (``eta0`` is cut by delta below the cap if needed), plus
        cap: the bound on eta, or None for K.

    Example:
        >>> NLSUpperBounded(cap=10)
        NLSUpperBounded(c=0.0001, delta=0.5, eta0=1.0, cap=10.0)
    """

    name = "nls-ub"
    label = "NLS-ub"
    description = "NLS with one doubling per step and η < cap (default K)"
    eta_param = "cap"
    _cap_from_classes = True
    _fixed = {"doubling": "once", "start": "previous", "polyak_scale": 0.1}


@register
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
    label = "PoNLS"
    description = "nonmonotone line search started from a Polyak-type guess, backtracking only"
    eta_param = None
    _repr_always = ("c", "delta")
    _fixed = {"eta0": 1.0, "doubling": "none", "cap": None, "start": "polyak"}


@register
class NLSCapOnly(LineSearch):
    """Ablation of NLS-ub: NLS's unlimited forward doubling, but with NLS-ub's cap eta < K.

    NLS-ub differs from NLS in two ways (the cap and one doubling per step); this keeps only the cap.

    Args: as :class:`NLSUpperBounded` (``cap`` None means K).

    Example:
        >>> NLSCapOnly(cap=10.0)
        NLSCapOnly(c=0.0001, delta=0.5, eta0=1.0, cap=10.0)
    """

    name = "nls-cap-only"
    label = "NLS (cap only)"
    description = "ablation of NLS-ub: unlimited doubling, η < cap (default K)"
    eta_param = "cap"
    _cap_from_classes = True
    _fixed = {"doubling": "unlimited", "start": "previous", "polyak_scale": 0.1}


@register
class NLSOnceOnly(LineSearch):
    """Ablation of NLS-ub: at most one forward doubling per step, but no cap.

    Args: as :class:`NLS`.

    Example:
        >>> NLSOnceOnly()
        NLSOnceOnly(c=0.0001, delta=0.5, eta0=1.0)
    """

    name = "nls-once-only"
    label = "NLS (one doubling only)"
    description = "ablation of NLS-ub: one doubling per step, no cap"
    _fixed = {"doubling": "once", "cap": None, "start": "previous", "polyak_scale": 0.1}
