"""The contract between the training loop and a step-size rule, and the base class every rule extends.

A rule is a small object that holds only hyperparameters; everything that changes during a run lives in an
explicit, immutable state (the optax pattern)::

    state = rule.init()
    for k in range(num_steps):
        info, state = rule.update(ctx, state)   # ctx: a StepContext built by the loop at w_k
        w = w - info.eta * (ctx.grad if info.direction is None else info.direction)

Most rules only choose η_k and the loop steps along −g. A rule with its own update direction (Adam,
RMSProp: :mod:`eostutor.stepsizes.optimizers`) also returns ``info.direction`` and the diagonal
preconditioner P it divided by (``info.preconditioner``), so that the loop can measure the sharpness that
governs its stability, λ_max(P^{-1/2} H P^{-1/2}).

A rule class also says how people find and label it: its registry ``name``, a legend ``label``, a one-line
``description`` and ``eta_param``, the constructor argument that the widgets' η slider and the command
line's ``--eta`` drive (see :mod:`eostutor.stepsizes.registry`).
"""

from __future__ import annotations

import inspect
import math
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import torch

from eostutor._validate import check_in_range, check_positive

__all__ = ["ETA_MIN", "ETA_MAX", "SKIP_TOL", "StepContext", "StepInfo", "EmptyState", "Rule", "rule_label",
           "stability_threshold"]

#: Smallest step the line searches start from, and their fallback when no trial step is accepted.
ETA_MIN = 1e-6
#: Largest step any rule returns (the paper clips to [1e-6, 1e4]); also the CDAT / Polyak / AdGD guard.
ETA_MAX = 1e4
#: The line searches skip the search when ||g|| < SKIP_TOL or 0 <= f < SKIP_TOL (as in the paper's code).
SKIP_TOL = 1e-8

#: How a constructor argument is written in a legend label.
PARAM_SYMBOLS = {"eta": "η", "eta0": "η₀", "cap": "cap", "peak": "peak", "final": "final", "sigma": "σ",
                 "delta": "δ", "beta1": "β₁", "beta2": "β₂", "eps": "ε", "f_star": "f*",
                 "num_classes": "K"}


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

        return cls(step=step, params=w, loss=float(loss(w)), grad=g, grad_norm_sq=float(g @ g), loss_at=loss_at,
                   hvp=hvp_at, num_classes=num_classes)


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
        direction: the update direction d_k when it is not the gradient (the loop then applies
            w <- w - eta * d_k), else None. Adam's is m̂/(√v̂ + ε).
        preconditioner: the positive diagonal P_k (a 1-D tensor) of a preconditioned rule, d_k = P_k^{-1}(...),
            else None; the loop measures λ_max(P^{-1/2} H P^{-1/2}) with it.

    Example:
        >>> StepInfo(eta=0.1)
        StepInfo(eta=0.1, backtracks=0, trial_loss=nan, reference=nan, note='')
    """

    eta: float
    backtracks: int = 0
    trial_loss: float = math.nan
    reference: float = math.nan
    note: str = ""
    # tensors: left out of repr and ==, which compare the scalar facts of a step
    direction: torch.Tensor | None = field(default=None, repr=False, compare=False)
    preconditioner: torch.Tensor | None = field(default=None, repr=False, compare=False)


class EmptyState(NamedTuple):
    """The state of rules that need none (Constant, Warmup, Polyak).

    Example:
        >>> EmptyState()
        EmptyState()
    """


class Rule:
    """Base class of step-size rules: hyperparameters in the object, everything else in the state.

    A subclass sets the class attributes below and implements ``init`` and ``update``; registering it
    (``@eostutor.stepsizes.register``) makes it available by name everywhere: :func:`make_rule`, the
    command line, the widgets' menus and every plot legend. Every constructor argument is stored as an
    attribute of the same name, which gives ``params()`` and ``__repr__`` for free.

    Class attributes:
        name: The registry id (lower case, e.g. ``"nls-ub"``).
        label: The legend text; may name constructor arguments as format fields (``"GD, η = {eta:g}"``).
            Arguments that differ from their defaults and are not in the label are appended.
        description: One line for ``python -m eostutor list`` and the widgets' help.
        eta_param: The constructor argument the η slider and ``--eta`` set (``None``: the rule chooses
            every step itself and the slider is unused).
        needs_hvp: The rule calls ``ctx.hvp`` (the loop then builds the curvature operator every step).
        supports_momentum: The loop may add heavy-ball or Nesterov momentum to this rule's steps.
        needs_num_classes: With default arguments (and the η parameter given) the rule needs K from the
            problem, so the widgets offer it only on classifiers.
        preconditioned: The rule divides by a diagonal preconditioner P and reports it
            (``StepInfo.preconditioner``); its :meth:`stability_threshold` bounds λ_max(P^{-1}H), not λ_max(H).

    Example:
        >>> from eostutor.stepsizes import Constant
        >>> rule = Constant(0.1)
        >>> rule.params(), rule.needs_hvp, rule.supports_momentum, rule_label(rule)
        ({'eta': 0.1}, False, True, 'GD, η = 0.1')
    """

    name: ClassVar[str] = "rule"
    label: ClassVar[str] = "rule"
    description: ClassVar[str] = ""
    eta_param: ClassVar[str | None] = None
    needs_hvp: ClassVar[bool] = False
    supports_momentum: ClassVar[bool] = False
    needs_num_classes: ClassVar[bool] = False
    preconditioned: ClassVar[bool] = False
    #: constructor arguments always shown by __repr__ (the others only when they differ from the default)
    _repr_always: ClassVar[tuple[str, ...]] = ()

    def init(self) -> Any:
        """Return the initial state (a small immutable NamedTuple)."""
        raise NotImplementedError

    def update(self, ctx: StepContext, state: Any) -> tuple[StepInfo, Any]:
        """Return the step at ``ctx`` and the new state; ``state`` itself is never modified."""
        raise NotImplementedError

    def stability_threshold(self, momentum: float = 0.0, nesterov: bool = False) -> float | None:
        """The level above which this rule's steps are unstable on a quadratic: a bound on λ_max(H), or on
        λ_max(P^{-1}H) for a ``preconditioned`` rule. ``None`` for rules whose step size changes every
        step (the line searches, CDAT, ...): no single level applies.

        Args:
            momentum: The loop's heavy-ball (or Nesterov) β, for rules that support it.
            nesterov: Nesterov instead of heavy ball.
        """
        return None

    @classmethod
    def default_eta(cls, num_classes: int | None = None) -> float | None:
        """The value the η control starts at for this rule: the default of ``eta_param`` (rules whose
        default follows from K, like NLS-ub's cap, override this); ``None`` when there is none.
        """
        if cls.eta_param is None:
            return None
        default = {p.name: p.default for p in cls._signature()}.get(cls.eta_param, inspect.Parameter.empty)
        return None if default is inspect.Parameter.empty or default is None else float(default)

    @classmethod
    def _signature(cls) -> list[inspect.Parameter]:
        params = inspect.signature(cls.__init__).parameters.values()
        return [p for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def params(self) -> dict[str, Any]:
        """Return the constructor arguments as a JSON-serialisable dict; ``type(rule)(**params)`` rebuilds it.

        Example:
            >>> from eostutor.stepsizes import NLS
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


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def rule_label(rule: Rule) -> str:
    """The legend label of a rule: its class ``label`` filled in with its arguments, plus the arguments
    that differ from their defaults and are not in the label.

    Example:
        >>> from eostutor.stepsizes import NLS, Constant, NLSUpperBounded
        >>> rule_label(Constant(0.5)), rule_label(NLS()), rule_label(NLS(eta0=0.3)), rule_label(NLSUpperBounded(cap=5))
        ('GD, η = 0.5', 'NLS', 'NLS, η₀ = 0.3', 'NLS-ub, cap = 5')
    """
    params = rule.params()
    text = rule.label.format(**params)
    named = {field for _, field, _, _ in string.Formatter().parse(rule.label) if field}
    changed = [f"{PARAM_SYMBOLS.get(p.name, p.name)} = {_show(params[p.name])}" for p in rule._signature()
               if p.name not in named and p.default is not inspect.Parameter.empty and params[p.name] != p.default]
    return ", ".join([text, *changed])


def stability_threshold(eta: float | Rule, momentum: float = 0.0, nesterov: bool = False) -> float:
    """The sharpness above which GD with step eta is unstable on a quadratic (see notebook 01).

    2/eta for plain GD, 2(1 + beta)/eta with heavy-ball momentum beta, (2 + 2 beta)/((1 + 2 beta) eta) with
    Nesterov momentum. Given a rule instead of a number, the rule's own threshold
    (:meth:`Rule.stability_threshold`): for Adam (2 + 2 beta1)/((1 - beta1) eta) = 38/eta at beta1 = 0.9,
    for RMSProp 2/eta, both bounds on the *preconditioned* sharpness λ_max(P^{-1}H).

    Args:
        eta: the step size (> 0), or a rule with a fixed step size.
        momentum: beta in [0, 1).
        nesterov: Nesterov instead of heavy-ball momentum.

    Returns:
        The threshold on lambda_max (on lambda_max(P^{-1}H) for a preconditioned rule).

    Raises:
        ValueError: For a bad eta or momentum, or a rule whose step size changes every step.

    Example:
        >>> stability_threshold(0.1), stability_threshold(0.1, momentum=0.5)
        (20.0, 30.0)
    """
    if isinstance(eta, Rule):
        level = eta.stability_threshold(momentum, nesterov)
        if level is None:
            raise ValueError(f"{eta!r} chooses a new step size every step: it has no single stability threshold")
        return level
    eta = check_positive("eta", eta)
    beta = check_in_range("momentum", momentum, 0.0, 1.0, high_inclusive=False)
    if nesterov:
        return (2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * eta)
    return 2.0 * (1.0 + beta) / eta
