"""eostutor: watch gradient descent at the Edge of Stability.

This file only re-exports the public names; the code lives in one module per concept.
"""

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
from eostutor.record import Run

__version__ = "0.1.0"
