"""Step-size rules (and the optimizers Adam and RMSProp), registered by name.

A rule is a small object that holds only hyperparameters; what changes during a run lives in an explicit,
immutable state (``info, state = rule.update(ctx, state)``, see :mod:`~eostutor.stepsizes.base`). A rule
receives the loss, the gradient, trial losses along -g (``ctx.loss_at``) and Hessian-vector products
(``ctx.hvp``) from the loop; it never computes sharpness itself.

Rules (Galli et al. 2026, and the classics they are compared with), by module:

* :mod:`~eostutor.stepsizes.schedules`: ``Constant``; ``Warmup`` / ``WarmupUB`` (the paper's GD-warmup).
* :mod:`~eostutor.stepsizes.linesearch`: ``NLS``, ``NLSUpperBounded`` (NLS-ub), ``PoNLS``, ``Armijo``
  (LS) and the two ablations of NLS-ub, all one mechanism (:func:`line_search`, :class:`LineSearch`).
* :mod:`~eostutor.stepsizes.adaptive`: ``CDAT``, ``Polyak``, ``AdGD``.
* :mod:`~eostutor.stepsizes.optimizers`: ``Adam``, ``RMSProp`` (their own update direction and a diagonal
  preconditioner P; stable while λ_max(P^{-1}H) is below their threshold).

:func:`register` adds a rule class to :data:`RULES`; :func:`make_rule` builds one by name;
:func:`stability_threshold` gives the sharpness above which a step size is unstable on a quadratic.
"""

# ruff: noqa: I001  (import order = registration order = the order of every menu: keep it by hand)
from eostutor.stepsizes.base import (
    ETA_MAX,
    ETA_MIN,
    SKIP_TOL,
    EmptyState,
    Rule,
    StepContext,
    StepInfo,
    rule_label,
    stability_threshold,
)
from eostutor.stepsizes.registry import RULES, eta_symbol, make_rule, register, rule_names
from eostutor.stepsizes.schedules import Constant, Warmup, WarmupUB
from eostutor.stepsizes.linesearch import (
    NLS,
    Armijo,
    LineSearch,
    LineSearchState,
    NLSCapOnly,
    NLSOnceOnly,
    NLSUpperBounded,
    PoNLS,
    SearchResult,
    line_search,
    sufficient_decrease,
)
from eostutor.stepsizes.adaptive import CDAT, AdGD, AdGDState, CDATState, Polyak
from eostutor.stepsizes.optimizers import Adam, AdamState, RMSProp, RMSPropState

__all__ = [
    "ETA_MAX", "ETA_MIN", "SKIP_TOL", "RULES", "register", "make_rule", "rule_names", "eta_symbol", "rule_label",
    "stability_threshold", "Rule", "StepContext", "StepInfo", "EmptyState", "Constant", "Warmup", "WarmupUB",
    "LineSearch", "LineSearchState", "SearchResult", "line_search", "sufficient_decrease", "NLS",
    "NLSUpperBounded", "PoNLS", "Armijo", "NLSCapOnly", "NLSOnceOnly", "CDAT", "CDATState", "Polyak", "AdGD",
    "AdGDState", "Adam", "AdamState", "RMSProp", "RMSPropState",
]
