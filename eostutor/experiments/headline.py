"""The headline experiments on the reference network: the Edge of Stability, and adaptive steps."""

from __future__ import annotations

import torch

from eostutor._validate import check_int, check_positive
from eostutor.experiments.base import Experiment, reference_problem, stop_if_interrupted
from eostutor.stepsizes import make_rule
from eostutor.training import train

__all__ = ["eos", "adaptive", "ADAPTIVE_RULES"]


def eos(*, fast: bool = False, eta: float = 2.0, num_steps: int | None = None, seed: int = 0,
        sharpness_every: int = 10, dtype: torch.dtype = torch.float32, progress: bool = False) -> Experiment:
    """Constant-η gradient descent on the reference MLP: progressive sharpening, then the Edge of Stability.

    Args:
        fast: Fewer steps (for tests and fast notebooks); the rise to 2/η is still visible.
        eta: The step size (2.0: the edge 2/η = 1 is reached after ~200 steps).
        num_steps: Steps (default 2,000; 400 when ``fast``).
        seed: Initialisation seed.
        sharpness_every: Measure λ_max every this many steps.
        dtype: float32 (default, fast) or float64.
        progress: Show a progress bar.

    Returns:
        An :class:`Experiment` with one run; its summary has ``first_step_at_edge`` and
        ``median_ratio_last_third`` (median of η·λ_max/2 over the last third: ≈ 1 at EoS).

    Raises:
        KeyboardInterrupt: On Ctrl-C, with the partial run as ``err.run``.
    """
    eta = check_positive("eta", eta)
    num_steps = check_int("num_steps", num_steps if num_steps is not None else (400 if fast else 2000), minimum=1)
    problem = reference_problem(dtype=dtype)
    run = stop_if_interrupted(train(problem, make_rule("constant", eta=eta), num_steps, seed=seed,
                                    sharpness_every=sharpness_every, progress=progress, label=f"GD, η = {eta:g}"))
    summary = {"GD": run.summary(), "two_over_eta": 2.0 / eta,
               "initial_sharpness": float(run.sharpness[0])}
    settings = {"fast": fast, "eta": eta, "num_steps": num_steps, "seed": seed,
                "sharpness_every": sharpness_every, "dtype": str(dtype)}
    return Experiment("eos", "constant-η GD on the reference MLP reaches and holds sharpness ≈ 2/η",
                      problem, {run.label: run}, summary, settings)


ADAPTIVE_RULES = ("nls", "ponls", "ls", "cdat", "adgd", "polyak")


def adaptive(*, fast: bool = False, rules=ADAPTIVE_RULES, num_steps: int | None = None, seed: int = 0,
             sharpness_every: int = 5, dtype: torch.dtype = torch.float32, progress: bool = False) -> Experiment:
    """Adaptive step sizes side by side on the reference MLP (NLS, PoNLS, LS, CDAT, AdGD, Polyak).

    NLS keeps η·λ_max above 2 at most measured steps from the first ones, and above 1 − c at all of them on
    this network (the guarantee is on the smoothness along the step, see :class:`eostutor.stepsizes.NLS`);
    the loss is non-monotone by design.

    Args:
        fast: Fewer steps (for tests and fast notebooks).
        rules: Names of rules (see ``eostutor.stepsizes.RULES``).
        num_steps: Steps (default 500; 100 when ``fast``).
        seed: Initialisation seed (the same for every rule).
        sharpness_every: Measure λ_max every this many steps.
        dtype: float32 (default) or float64.
        progress: Show progress bars.

    Raises:
        KeyboardInterrupt: On Ctrl-C: the experiment stops at the interrupted rule (its partial run is
            ``err.run``) instead of going on with the next one.
    """
    num_steps = check_int("num_steps", num_steps if num_steps is not None else (100 if fast else 500), minimum=1)
    problem = reference_problem(dtype=dtype)
    runs, summary = {}, {}
    for name in rules:
        rule = make_rule(name)
        run = stop_if_interrupted(train(problem, rule, num_steps, seed=seed, sharpness_every=sharpness_every,
                                        progress=progress))
        runs[run.label] = run
        summary[run.label] = run.summary()
    settings = {"fast": fast, "rules": list(rules), "num_steps": num_steps, "seed": seed,
                "sharpness_every": sharpness_every, "dtype": str(dtype)}
    return Experiment("adaptive", "adaptive step sizes: η·λ_max above 2 from the start, non-monotone loss",
                      problem, runs, summary, settings)
