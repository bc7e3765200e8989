"""Optimization problems on a flat parameter vector: toys with exact spectra and small networks.

Every problem follows one protocol, documented in :mod:`eostutor.problems.base` and defined on
:class:`Problem`: ``dim``, ``init(seed)``, ``objective(w)``, ``loss``, ``grad``, ``loss_and_grad``,
``closed_form_hessian``, ``check_params``, ``sharpness_floor``, ``num_classes``, ``prior_loss``,
``has_data``, ``evaluate``, ``layer_grad_norms``, ``dead_fraction``, and for mini-batches ``num_train``
and ``on_batch(indices)``. Curvature (``hvp``, ``hessian``,
the operator) lives in :mod:`eostutor.curvature`. Toys (:mod:`~eostutor.problems.toys`) compute their
derivatives from formulas; models on data (:mod:`~eostutor.problems.networks`) use autograd on
``objective``.
"""

from __future__ import annotations

from eostutor._validate import check_choice
from eostutor.problems.base import DENSE_HESSIAN_LIMIT, TINY_DIM, Problem
from eostutor.problems.networks import BatchProblem, LinearClassifier, MLPProblem
from eostutor.problems.toys import HolderPower, Minimalist, Quadratic, Quartic, ScalarNet

__all__ = ["Problem", "Quadratic", "Quartic", "HolderPower", "ScalarNet", "Minimalist", "LinearClassifier",
           "MLPProblem", "BatchProblem", "PROBLEMS", "make_problem", "DENSE_HESSIAN_LIMIT", "TINY_DIM"]

PROBLEMS = {
    "quadratic": (Quadratic, "½ wᵀAw with a chosen spectrum: exact 2/λ_max threshold"),
    "quartic": (Quartic, "Σ w⁴/4: locally but not globally smooth"),
    "holder": (HolderPower, "Σ |w|^(1+ν)/(1+ν): Hölder gradient, unbounded Hessian at 0"),
    "scalar-net": (ScalarNet, "½(w₁⋯w_d − y)²: a depth-d scalar linear network"),
    "minimalist": (Minimalist, "¼(x²y² − 1)²: Zhu et al.'s minimalist Edge-of-Stability example"),
    "linear": (LinearClassifier, "linear classifier with bias and K-class MSE: exact 2/K floor"),
    "mlp": (MLPProblem, "fully connected network on a dataset (MSE over n·K outputs or CE)"),
}


def make_problem(name: str, **kwargs) -> Problem:
    """Build a problem by name (see ``PROBLEMS``); data problems take ``dataset=`` (a name or Dataset).

    >>> make_problem("quadratic", eigenvalues=[2.0, 4.0]).sharpness
    4.0
    """
    check_choice("problem", name, PROBLEMS)
    cls = PROBLEMS[name][0]
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"bad arguments for problem {name!r}: {err}") from None
