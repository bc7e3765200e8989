"""What :class:`~eostutor.widgets.OptimizerExplorer` computes, with no GUI: an optimizer's settings in, a run
out, and the numbers that say whether the run sits at its own edge.

The optimizers of notebook 08 on the course's reference network: gradient descent (full-batch, or SGD with a
batch size), Adam (η, β₁) and RMSProp (η). Each is stable on a quadratic while *its* curvature is below *its*
threshold: λ_max < 2/η for GD, λ_max(P⁻¹H) < (2+2β₁)/((1−β₁)η) for Adam and < 2/η for RMSProp; for SGD the
batch sharpness is the one that settles near 2/η.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eostutor._validate import check_choice, check_in_range, check_int, check_positive
from eostutor.experiments import reference_problem, threshold_ratio
from eostutor.problems import Problem
from eostutor.record import Run
from eostutor.spectrum.batch import check_batch_size
from eostutor.stepsizes import Adam, Constant, RMSProp, Rule
from eostutor.training import train

__all__ = ["OPTIMIZERS", "OptimizerSettings", "OptimizerModel"]

#: Optimizer menu entry -> (label, default η, η range of the slider).
OPTIMIZERS = {
    "gd": ("GD / SGD", 3.0, (0.1, 20.0)),
    "adam": ("Adam", 5e-3, (1e-4, 0.1)),
    "rmsprop": ("RMSProp", 1e-3, (1e-4, 0.1)),
}


@dataclass(frozen=True)
class OptimizerSettings:
    """Everything a run of the explorer depends on.

    Attributes:
        optimizer: ``"gd"``, ``"adam"`` or ``"rmsprop"`` (keys of :data:`OPTIMIZERS`).
        eta: The step size η.
        batch_size: ``None`` for full-batch steps, else the mini-batch size b.
        beta1: Adam's β₁ (ignored by the others).
        num_steps: Steps.
        seed: Initialisation (and mini-batch) seed.
    """

    optimizer: str = "adam"
    eta: float = 5e-3
    batch_size: int | None = None
    beta1: float = 0.9
    num_steps: int = 600
    seed: int = 0


class OptimizerModel:
    """Settings -> a :class:`~eostutor.record.Run` on one network, with the curvature that matters measured.

    Args:
        problem: The network (default: the course's reference network,
            :func:`eostutor.experiments.reference_problem`, 1,000 digits, float32).
        measurements: About this many sharpness measurements per run (λ_max, and λ_max(P⁻¹H) or the batch
            sharpness where they apply).
        batch_sharpness_batches: Batches averaged in each batch-sharpness estimate.

    >>> model = OptimizerModel()
    >>> model.rule(OptimizerSettings("adam", eta=0.002, beta1=0.5)), model.threshold(OptimizerSettings("gd", eta=2.0))
    (Adam(eta=0.002, beta1=0.5), 1.0)
    """

    def __init__(self, problem: Problem | None = None, *, measurements: int = 30, batch_sharpness_batches: int = 8):
        self.problem = reference_problem() if problem is None else problem
        if not isinstance(self.problem, Problem):
            raise ValueError(f"problem must be an eostutor Problem, got {type(self.problem).__name__}")
        self.measurements = check_int("measurements", measurements, minimum=1)
        self.batch_sharpness_batches = check_int("batch_sharpness_batches", batch_sharpness_batches, minimum=1)

    def rule(self, settings: OptimizerSettings) -> Rule:
        """The rule of these settings (β₁ only for Adam)."""
        name = check_choice("optimizer", settings.optimizer, OPTIMIZERS)
        eta = check_positive("eta", settings.eta)
        if name == "adam":
            return Adam(eta, beta1=check_in_range("beta1", settings.beta1, 0.0, 1.0, high_inclusive=False))
        return RMSProp(eta) if name == "rmsprop" else Constant(eta)

    def threshold(self, settings: OptimizerSettings) -> float:
        """The rule's stability threshold (on λ_max for GD and SGD, on λ_max(P⁻¹H) for Adam and RMSProp)."""
        return float(self.rule(settings).stability_threshold())

    def sharpness_every(self, num_steps: int) -> int:
        """The measurement interval for a run of ``num_steps``."""
        return max(1, int(num_steps) // self.measurements)

    def train(self, settings: OptimizerSettings, *, callback=None, callback_every: int = 10,
              should_stop=None) -> Run:
        """Train with these settings (the one loop: :func:`eostutor.training.train`).

        Raises:
            ValueError: For a bad optimizer, η, β₁, batch size (0, negative, non-integer or larger than the
                data set), number of steps or seed, naming the value.
        """
        rule = self.rule(settings)
        num_steps = check_int("num_steps", settings.num_steps, minimum=1, maximum=100_000)
        batch = None if settings.batch_size is None else check_batch_size(self.problem, settings.batch_size)
        return train(self.problem, rule, num_steps, seed=check_int("seed", settings.seed, minimum=0),
                     batch_size=batch, batch_sharpness_batches=self.batch_sharpness_batches,
                     sharpness_every=self.sharpness_every(num_steps), callback=callback,
                     callback_every=callback_every, should_stop=should_stop)

    @staticmethod
    def verdict(run: Run) -> str:
        """One line on where the run sits relative to its own edge (plain text).

        >>> run = Run({"loss": np.ones(3), "sharpness": np.array([0.5, 1.0, 1.01])},
        ...           {"rule": "constant", "rule_params": {"eta": 2.0}, "stability_threshold": 1.0})
        >>> OptimizerModel.verdict(run)
        'λ_max / its threshold over the last third: 1.01 (at the edge)'
        """
        r = threshold_ratio(run)
        third = np.isfinite(r) & (run.step >= (2 * run.num_steps) // 3)
        if not third.any():
            return "no measurement in the last third yet"
        value = float(np.median(r[third]))
        where = "at the edge" if 0.9 <= value <= 1.15 else ("below the edge" if value < 0.9 else "above the edge")
        name = "λ_max(P⁻¹H)" if run.settings.threshold_applies_to == "preconditioned_sharpness" else "λ_max"
        text = f"{name} / its threshold over the last third: {value:.3g} ({where})"
        b = run.batch_sharpness[third & np.isfinite(run.batch_sharpness)]
        level = run.settings.stability_threshold
        if b.size and name == "λ_max" and level is not None and math.isfinite(level):
            text += f"; batch sharpness / threshold: {float(np.median(b)) / level:.3g}"
        return text
