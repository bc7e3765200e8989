"""Sweeps over the step size: the bifurcation diagram of a tiny problem."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from eostutor._validate import check_int
from eostutor.curvature import EXACT_BATCH_DIM
from eostutor.experiments.base import stop_if_interrupted
from eostutor.problems import Problem
from eostutor.spectrum import exact_curvature
from eostutor.training import train

__all__ = ["BifurcationSweep", "bifurcation_sweep"]


@dataclass
class BifurcationSweep:
    """Long-run behaviour of constant-η GD over a grid of step sizes (for :func:`eostutor.plots.bifurcation`).

    Attributes:
        etas: The step sizes, shape (n,).
        params: The last ``keep_last`` iterates of each run, shape (n, keep_last, dim) (NaN if diverged).
        loss: f at those iterates, shape (n, keep_last).
        sharpness: Exact λ_max at those iterates, shape (n, keep_last).
        diverged: Whether each run diverged, shape (n,).
        diverged_at: The step it diverged at (-1 if it did not), shape (n,).
        num_steps: Steps per run.
        problem: ``repr`` of the problem.
        wall_time: Seconds for the whole sweep.
    """

    etas: np.ndarray
    params: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray
    num_steps: int
    problem: str
    wall_time: float = 0.0

    def __repr__(self) -> str:
        return (f"BifurcationSweep({len(self.etas)} step sizes in [{self.etas.min():.3g}, {self.etas.max():.3g}] "
                f"on {self.problem}, {self.num_steps} steps, {int(self.diverged.sum())} diverged)")


def bifurcation_sweep(problem: Problem, etas, num_steps: int = 400, keep_last: int = 60, w0=None, *,
                      seed: int = 0, callback=None, should_stop=None) -> BifurcationSweep:
    """Train constant-η GD once per η (the one loop, :func:`eostutor.training.train`) and keep the tail.

    Args:
        problem: A tiny problem (dim ≤ 10: the sharpness of the kept iterates is computed exactly).
        etas: Step sizes (positive numbers).
        num_steps: Steps per run.
        keep_last: How many final iterates to keep per run (≤ num_steps + 1).
        w0: Common starting point (default ``problem.init(seed)``).
        seed: Seed of the default starting point.
        callback: Called as ``callback(i, n)`` after each η (progress bars).
        should_stop: Polled between step sizes; True ends the sweep early (the remaining rows stay NaN).

    Returns:
        A :class:`BifurcationSweep`.

    Raises:
        KeyboardInterrupt: On Ctrl-C (the sweep stops at that η).

    >>> from eostutor.problems import Quadratic
    >>> sw = bifurcation_sweep(Quadratic([1.0, 10.0]), [0.1, 0.3], num_steps=200, keep_last=5)
    >>> sw.diverged.tolist(), float(sw.sharpness[0, -1])
    ([False, True], 10.0)
    """
    etas = np.asarray(etas, dtype=np.float64).ravel()
    if etas.size == 0 or not np.all(np.isfinite(etas)) or np.any(etas <= 0):
        raise ValueError(f"etas must be a non-empty list of positive numbers, got {etas!r}")
    num_steps = check_int("num_steps", num_steps, minimum=1)
    keep_last = check_int("keep_last", keep_last, minimum=1, maximum=num_steps + 1)
    if problem.dim > EXACT_BATCH_DIM:
        raise ValueError(f"bifurcation_sweep is for tiny problems (dim <= {EXACT_BATCH_DIM}), got dim={problem.dim}")
    w0 = problem.init(seed) if w0 is None else problem.check_params(w0, "w0")
    n, d = etas.size, problem.dim
    params = np.full((n, keep_last, d), np.nan)
    loss = np.full((n, keep_last), np.nan)
    sharp = np.full((n, keep_last), np.nan)
    diverged = np.zeros(n, dtype=bool)
    diverged_at = np.full(n, -1, dtype=np.int64)
    start = time.perf_counter()
    for i, eta in enumerate(etas):
        if should_stop is not None and should_stop():
            break
        # Ctrl-C: stop the sweep rather than go on with the next η.
        run = stop_if_interrupted(train(problem, float(eta), num_steps, w0=w0, record_params=True))
        if run.diverged:
            diverged[i], diverged_at[i] = True, run.diverged_at
        else:
            tail = run.arrays["params"][-keep_last:]
            params[i] = tail
            vals, _ = exact_curvature(problem, tail)
            sharp[i] = vals[:, 0]
            losses = np.append(run.loss, run.final_loss)
            loss[i] = losses[-keep_last:]
        if callback is not None:
            callback(i + 1, n)
    return BifurcationSweep(etas, params, loss, sharp, diverged, diverged_at, num_steps, repr(problem),
                            time.perf_counter() - start)
