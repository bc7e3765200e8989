"""eostutor: watch gradient descent at the Edge of Stability.

This file only re-exports the public names; the code lives in one module per concept. The heavy
front-end modules (``plots``, ``widgets``, ``gallery``, ``exercises``) load on first use, so
``import eostutor`` stays light.

>>> import eostutor as eos
>>> q = eos.Quadratic([1.0, 10.0])
>>> eos.train(q, 0.21, 1000).diverged   # η > 2/λ_max = 0.2
True
"""

from eostutor import course, curvature, datasets, experiments, problems, spectrum, stepsizes
from eostutor._version import __version__
from eostutor.curvature import HessianOperator, hessian, hvp, segment_smoothness
from eostutor.datasets import Dataset, digits, gaussian_clusters, make_dataset, teacher_student, two_moons
from eostutor.problems import (
    HolderPower,
    LinearClassifier,
    Minimalist,
    MLPProblem,
    Problem,
    Quadratic,
    Quartic,
    ScalarNet,
    make_problem,
)
from eostutor.record import Run, RunSettings
from eostutor.spectrum import hessian_trace, sharpness, spectral_density, top_eigenvalues
from eostutor.stepsizes import (
    CDAT,
    NLS,
    Adam,
    AdGD,
    Armijo,
    Constant,
    NLSUpperBounded,
    Polyak,
    PoNLS,
    RMSProp,
    Warmup,
    WarmupUB,
    make_rule,
    register,
    stability_threshold,
)
from eostutor.training import train

__all__ = [
    "__version__", "course", "curvature", "datasets", "experiments", "problems", "spectrum", "stepsizes",
    "plots", "widgets", "gallery", "exercises",
    "HessianOperator", "hvp", "hessian", "segment_smoothness", "Dataset", "digits", "gaussian_clusters", "make_dataset",
    "teacher_student", "two_moons", "HolderPower", "LinearClassifier", "Minimalist", "MLPProblem", "Problem",
    "Quadratic", "Quartic", "ScalarNet", "make_problem", "Run", "RunSettings", "hessian_trace", "sharpness",
    "spectral_density", "top_eigenvalues", "CDAT", "NLS", "Adam", "AdGD", "Armijo", "Constant", "NLSUpperBounded",
    "Polyak", "PoNLS", "RMSProp", "Warmup", "WarmupUB", "make_rule", "register", "stability_threshold", "train",
]

_LAZY = ("plots", "widgets", "gallery", "exercises")


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"eostutor.{name}")
    raise AttributeError(f"module 'eostutor' has no attribute {name!r}")
