"""The named headline experiments: fixed problems, rules and seeds that the CLI, notebooks and tests share.

Each experiment function trains (it never plots) and returns an :class:`Experiment`: the runs, the problem
and a JSON-friendly summary. ``python -m eostutor reproduce NAME`` renders and saves them;
``fast=True`` shrinks them for tests and for notebooks in fast mode.
"""

from __future__ import annotations

from eostutor._validate import check_choice
from eostutor.experiments import armijo, flow  # noqa: F401  (gradient flow, the Armijo picture: notebooks 04-05)
from eostutor.experiments import theory as theory  # closed-form rates and maps: notebooks 01 and 03
from eostutor.experiments.base import Experiment, json_ready, reference_problem
from eostutor.experiments.flatland import (
    FLATLAND_RULES,
    FLATLAND_SEED,
    FLATLAND_SEEDS,
    flatland,
    flatland_problem,
    flatland_signature,
)
from eostutor.experiments.headline import ADAPTIVE_RULES, adaptive, eos
from eostutor.experiments.practice import adam, cross_entropy, cross_entropy_problem, sgd, threshold_ratio
from eostutor.experiments.sweeps import BifurcationSweep, bifurcation_sweep

__all__ = ["Experiment", "EXPERIMENTS", "reference_problem", "eos", "adaptive", "ADAPTIVE_RULES", "run_experiment",
           "FLATLAND_RULES", "FLATLAND_SEED", "FLATLAND_SEEDS", "flatland_problem", "flatland_signature", "flatland",
           "json_ready", "BifurcationSweep", "bifurcation_sweep", "adam", "sgd", "cross_entropy",
           "cross_entropy_problem", "threshold_ratio"]

EXPERIMENTS = {
    "eos": (eos, "constant-η GD on the reference MLP: sharpness rises to 2/η and stays there"),
    "adaptive": (adaptive, "NLS, PoNLS, LS, CDAT, AdGD and Polyak side by side on the reference MLP"),
    "flatland": (flatland, "NLS stuck at the 2/K sharpness floor (dead ReLUs, prior loss) vs NLS-ub escaping"),
    "adam": (adam, "full-batch Adam: the preconditioned sharpness λ_max(P⁻¹H) rises to 38/η and stays"),
    "sgd": (sgd, "mini-batch SGD: smaller batches end flatter; the batch sharpness sits near 2/η"),
}


def run_experiment(name: str, **kwargs) -> Experiment:
    """Run a named experiment (see ``EXPERIMENTS``).

    Raises:
        ValueError: For an unknown name.
    """
    check_choice("experiment", name, EXPERIMENTS)
    return EXPERIMENTS[name][0](**kwargs)
