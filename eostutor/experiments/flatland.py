"""Flatland (Galli et al. 2026): NLS stuck at the 2/K sharpness floor, NLS-ub escaping."""

from __future__ import annotations

import math

import numpy as np
import torch

from eostutor._validate import check_choice, check_int
from eostutor.datasets import digits
from eostutor.experiments.base import Experiment, stop_if_interrupted
from eostutor.problems import MLPProblem
from eostutor.record import Run
from eostutor.spectrum import top_eigenvalues
from eostutor.stepsizes import RULES, make_rule
from eostutor.training import train

__all__ = ["FLATLAND_RULES", "FLATLAND_SEED", "FLATLAND_SEEDS", "flatland_problem", "flatland_signature",
           "flatland"]


#: The rules of the Flatland comparison (names in :data:`eostutor.stepsizes.RULES`): the paper's seven plus the
#: two ablations of NLS-ub's two changes.
FLATLAND_RULES = ("nls", "nls-ub", "ponls", "ls", "cdat", "warmup", "warmup-ub", "nls-cap-only",
                  "nls-once-only")


def flatland_signature(run: Run, *, floor: float | None = None, prior: float | None = None,
                       sharpness_tol: float = 0.05, loss_tol: float = 0.10, hidden_drop: float = 1e-3,
                       min_steps: int = 100) -> dict:
    """Detect Flatland in a run and measure it (the definition used by the search, experiment and tests).

    A *measured* step m (one where the sharpness S_m was estimated) is **flat** when all three hold:

    * sharpness at the floor: |S_m / (2/K) − 1| ≤ ``sharpness_tol`` (5%);
    * hidden gradients collapsed: ‖∇_hidden f(w_m)‖ < ``hidden_drop`` × ‖∇_hidden f(w_0)‖ (1e-3);
    * loss at the prior: |f(w_m) / ((K−1)/K²) − 1| ≤ ``loss_tol`` (10%).

    An *episode* is a maximal stretch of consecutive flat measured steps; it covers (number of measurements)
    × ``sharpness_every`` steps. The run **entered Flatland** when some episode covers ≥ ``min_steps`` steps.

    Args:
        run: A run of an MLP classifier with MSE loss, trained with ``sharpness_every > 0``.
        floor: 2/K (default: ``run.settings["sharpness_floor"]``).
        prior: (K−1)/K² (default: ``run.settings["prior_loss"]``).
        sharpness_tol: Relative distance of the sharpness from the floor.
        loss_tol: Relative distance of the loss from the prior loss.
        hidden_drop: Factor by which the hidden-layer gradient norm must have fallen.
        min_steps: Shortest episode that counts.

    Returns:
        A dict: ``flatland`` (bool), ``first_flat_step`` (start of the first qualifying episode or None),
        ``steps_in_flatland`` (steps covered by qualifying episodes), ``longest_episode`` (steps),
        ``steps_near_floor`` (steps within ``sharpness_tol`` of 2/K, whatever the other two conditions),
        ``plateau_loss`` (median loss over the qualifying episodes, NaN if none) and ``plateau_over_prior``,
        ``hidden_bias_ratio`` (median ‖∇_hidden f‖ / ‖∇_last bias f‖ over the episodes, else over the
        last 100 steps), ``initial_hidden_bias_ratio``, ``final_hidden_bias_ratio``, ``final_loss``,
        ``min_loss``, ``final_test_accuracy``, ``final_sharpness``, ``final_dead_fraction``, ``diverged``,
        ``diverged_at``, ``floor``, ``prior_loss``, ``sharpness_every``.

    Raises:
        ValueError: If the run has no sharpness measurements or the floor / prior loss are unknown.

    >>> import numpy as np
    >>> n = 300
    >>> s = np.full(n, np.nan); s[::10] = 0.2                  # sharpness at 2/K every 10 steps
    >>> run = Run({"loss": np.full(n, 0.09), "sharpness": s, "grad_norm_hidden": np.r_[1.0, np.zeros(n - 1)],
    ...            "grad_norm_last_bias": np.full(n, 0.1)},
    ...           {"sharpness_floor": 0.2, "prior_loss": 0.09, "sharpness_every": 10})
    >>> sig = flatland_signature(run)
    >>> sig["flatland"], sig["first_flat_step"], sig["steps_in_flatland"]
    (True, 10, 290)
    """
    a = run.arrays
    floor = float(run.settings.sharpness_floor if floor is None else floor)
    prior = float(run.settings.prior_loss if prior is None else prior)
    if not (math.isfinite(floor) and floor > 0 and math.isfinite(prior) and prior > 0):
        raise ValueError(f"flatland_signature needs the sharpness floor 2/K and the prior loss (K-1)/K^2 "
                         f"(MSE with a last-layer bias); got floor={floor!r}, prior={prior!r}")
    every = run.settings.sharpness_every
    sharp = np.asarray(a["sharpness"], dtype=float)
    measured = np.flatnonzero(np.isfinite(sharp))
    if measured.size == 0:
        raise ValueError("the run has no sharpness measurements: train it with sharpness_every > 0")
    if every <= 0:
        every = int(np.median(np.diff(measured))) if measured.size > 1 else 1
    loss = np.asarray(a["loss"], dtype=float)
    hidden = np.asarray(a["grad_norm_hidden"], dtype=float)
    bias = np.asarray(a["grad_norm_last_bias"], dtype=float)
    n = loss.size

    near = np.abs(sharp[measured] / floor - 1.0) <= sharpness_tol
    with np.errstate(invalid="ignore", divide="ignore"):
        dead = hidden[measured] < hidden_drop * hidden[0]
        at_prior = np.abs(loss[measured] / prior - 1.0) <= loss_tol
        ratio = hidden / bias
    flat = near & dead & at_prior

    episodes = []  # (first measured index, last measured index), consecutive flat measurements
    start = None
    for i, is_flat in enumerate(flat):
        if is_flat and start is None:
            start = i
        if start is not None and (not is_flat or i == flat.size - 1):
            end = i if is_flat else i - 1
            episodes.append((start, end))
            start = None
    lengths = [(e - s + 1) * every for s, e in episodes]
    good = [(s, e) for (s, e), length in zip(episodes, lengths) if length >= min_steps]
    in_flat = np.zeros(n, dtype=bool)
    for s, e in good:
        in_flat[measured[s]: min(measured[e] + every, n)] = True

    def median_or_nan(x):
        x = x[np.isfinite(x)]
        return float(np.median(x)) if x.size else math.nan

    acc = np.asarray(a["test_accuracy"], dtype=float)
    acc = acc[np.isfinite(acc)]
    dead_frac = np.asarray(a["dead_fraction"], dtype=float)
    dead_frac = dead_frac[np.isfinite(dead_frac)]
    finite_loss = loss[np.isfinite(loss)]
    final_loss = run.final_loss if math.isfinite(run.final_loss) else (
        float(finite_loss[-1]) if finite_loss.size else math.nan)
    plateau = median_or_nan(loss[in_flat]) if good else math.nan
    return {
        "flatland": bool(good),
        "first_flat_step": int(measured[good[0][0]]) if good else None,
        "steps_in_flatland": int(in_flat.sum()),
        "longest_episode": int(max(lengths, default=0)),
        "steps_near_floor": int(near.sum()) * every,
        "plateau_loss": plateau,
        "plateau_over_prior": plateau / prior if good else math.nan,
        "hidden_bias_ratio": median_or_nan(ratio[in_flat] if good else ratio[-100:]),
        "initial_hidden_bias_ratio": float(ratio[0]) if n else math.nan,
        "final_hidden_bias_ratio": float(ratio[-1]) if n else math.nan,
        "final_loss": final_loss,
        "min_loss": float(finite_loss.min()) if finite_loss.size else math.nan,
        "final_test_accuracy": float(acc[-1]) if acc.size else math.nan,
        "final_sharpness": float(sharp[measured[-1]]),
        "final_dead_fraction": float(dead_frac[-1]) if dead_frac.size else math.nan,
        "diverged": bool(run.diverged),
        "diverged_at": run.diverged_at,
        "floor": floor,
        "prior_loss": prior,
        "sharpness_every": every,
    }


#: The shipped setting: chosen by experiments/flatland_search.py (see experiments/results/flatland_search.md).
FLATLAND_SEED = 1
FLATLAND_SEEDS = (0, 1, 2, 3, 4)


def flatland_problem(*, n_train: int = 500, dtype: torch.dtype = torch.float64) -> MLPProblem:
    """The Flatland network: a 4 × 16 ReLU MLP on 500 digits with pixels scaled to [0, 1] (not
    standardized), MSE averaged over n·K outputs, so the sharpness floor is 2/K = 0.2 and the
    predict-the-prior loss (K−1)/K² = 0.09.

    Deep, narrow ReLU nets on unstandardized inputs are where one oversized step can kill a whole hidden
    layer; experiments/flatland_search.py compares this setting with five others
    (experiments/results/flatland_search.md).

    Args:
        n_train: Training images (the other 1,297 are the test set).
        dtype: float64 (default) or float32.

    Returns:
        The problem.

    >>> p = flatland_problem(n_train=100)
    >>> p.sharpness_floor, round(p.prior_loss, 4)
    (0.2, 0.09)
    """
    return MLPProblem(digits(n_train=n_train, scale="unit", dtype=dtype), hidden=(16, 16, 16, 16),
                      activation="relu", loss="mse", dtype=dtype)


def _eigen_snapshots(problem: MLPProblem, run: Run, steps, k: int, seed: int) -> dict:
    """Top-k and bottom-k Hessian eigenvalues at chosen iterates (needs ``run.params``)."""
    out = {"steps": [], "eigenvalues": [], "converged": [], "num_hvps": []}
    params = run.arrays["params"]
    for step in steps:
        if step >= len(params) or not np.isfinite(params[step]).all():
            continue
        w = problem.check_params(params[step], "w")
        res = top_eigenvalues(problem, w, k, which="both", tol=1e-3, seed=seed)
        out["steps"].append(int(step))
        out["eigenvalues"].append(np.asarray(res.eigenvalues, dtype=float))
        out["converged"].append(bool(res.converged))
        out["num_hvps"].append(int(res.num_hvps))
    return out


def flatland(*, fast: bool = False, seed: int = FLATLAND_SEED, seeds=None, rules=None,
             num_steps: int | None = None, sharpness_every: int | None = None, eig_steps=None, eig_k: int = 10,
             dtype: torch.dtype = torch.float64, progress: bool = False) -> Experiment:
    """Flatland on a laptop: NLS drives the sharpness to its floor 2/K and stalls; NLS-ub escapes.

    On :func:`flatland_problem` with the featured seed, NLS's first large steps kill the last hidden
    ReLU layer within ~30 iterations: the hidden-layer gradients become exactly zero, only the output bias
    still learns, the top K eigenvalues sit at 2/K and the loss stays at (K−1)/K² = 0.09 with test accuracy
    ≈ 0.1 for the rest of the run. NLS-ub (η < K, one doubling per step), from the *same* initialisation,
    keeps the sharpness above 2/K, its hidden layers alive, and trains to ≥ 0.95 test accuracy.

    This is seed-dependent at this scale: NLS falls in for only some seeds (our search found about
    3 in 20), so the summary reports "k of n seeds" per rule over ``seeds``; the featured seed is one that
    falls in. See experiments/results/flatland_search.md for the search behind this setting.

    Args:
        fast: NLS and NLS-ub on the featured seed only, eigenvalue snapshots at three iterations (about 5 s
            on an idle laptop core; the full default runs 45 runs, about 2–3 min).
        seed: The featured seed (its runs are labelled by rule name alone, e.g. ``"NLS"``).
        seeds: Seeds over which "k of n seeds showed Flatland" is counted (the featured seed is always
            included); default ``FLATLAND_SEEDS`` (0–4), only the featured seed when ``fast``.
        rules: Rule names from :data:`FLATLAND_RULES` (default all nine: the paper's seven and two ablations
            of NLS-ub; ``("nls", "nls-ub")`` when ``fast``).
        num_steps: Steps per run (default 1,000).
        sharpness_every: Measure λ_max every this many steps (default 10).
        eig_steps: Iterations at which the featured NLS and NLS-ub runs get their top and bottom ``eig_k``
            Hessian eigenvalues (default (0, 30, 200, num_steps); (0, 30, num_steps) when ``fast``).
        eig_k: How many eigenvalues at each end.
        dtype: float64 (default) or float32.
        progress: Show progress bars.

    Returns:
        An :class:`Experiment`. ``runs``: the featured seed's runs first (labels ``"NLS"``, ``"NLS-ub"``,
        ...), then the other seeds' (``"NLS, seed 3"``); ``summary["featured"]`` lists the featured labels.
        Featured NLS / NLS-ub runs carry ``eig_steps`` (m,) and ``eig_values`` (m, 2·eig_k, descending)
        arrays. ``summary["rules"][label]`` holds the featured run's :func:`flatland_signature` plus
        ``seeds_flatland`` ("k of n"), ``flatland_seeds``, ``mean_final_test_accuracy`` and
        ``median_final_loss`` over all seeds, and the eigenvalue snapshots.

    Raises:
        KeyboardInterrupt: On Ctrl-C: the experiment stops at the interrupted run (its partial run is
            ``err.run``) instead of going on with the next rule or seed.
    """
    seed = check_int("seed", seed, minimum=0)
    if rules is None:
        rules = ("nls", "nls-ub") if fast else FLATLAND_RULES
    rules = tuple(check_choice("rule", r, FLATLAND_RULES) for r in rules)
    if not rules:
        raise ValueError("rules must name at least one rule of FLATLAND_RULES")
    if seeds is None:
        seeds = (seed,) if fast else FLATLAND_SEEDS
    seeds = [seed] + sorted({check_int("seed", s, minimum=0) for s in seeds} - {seed})
    num_steps = check_int("num_steps", num_steps if num_steps is not None else 1000, minimum=100)
    sharpness_every = check_int("sharpness_every", sharpness_every if sharpness_every is not None else 10,
                                minimum=1)
    if eig_steps is None:
        eig_steps = (0, 30, num_steps) if fast else (0, 30, 200, num_steps)
    eig_steps = [check_int("eig step", s, minimum=0, maximum=num_steps) for s in eig_steps]
    eig_k = check_int("eig_k", eig_k, minimum=1)

    problem = flatland_problem(dtype=dtype)
    runs, per_rule = {}, {}
    for s in seeds:
        for name in rules:
            featured = s == seed
            label = RULES[name].label if featured else f"{RULES[name].label}, seed {s}"
            snapshots = featured and name in ("nls", "nls-ub") and bool(eig_steps)
            run = stop_if_interrupted(train(problem, make_rule(name), num_steps, seed=s,
                                            sharpness_every=sharpness_every, sharpness_tol=1e-2,
                                            record_params=snapshots, progress=progress, label=label))
            sig = flatland_signature(run)
            if snapshots:
                eig = _eigen_snapshots(problem, run, eig_steps, eig_k, s)
                run = run.replace(  # the iterates were kept only for the snapshots
                    drop=("params", "eigenvector"),
                    arrays={"eig_steps": np.asarray(eig["steps"], dtype=np.int64),
                            "eig_values": np.asarray(eig["eigenvalues"], dtype=float).reshape(len(eig["steps"]), -1)})
                sig["eigenvalues"] = {str(st): ev.tolist() for st, ev in zip(eig["steps"], eig["eigenvalues"])}
                sig["eigenvalues_converged"] = eig["converged"]
            runs[label] = run
            per_rule.setdefault(name, {})[s] = sig

    summary_rules = {}
    for name in rules:
        by_seed = per_rule[name]
        flat = sorted(s for s in seeds if by_seed[s]["flatland"])
        finals = [by_seed[s]["final_loss"] for s in seeds]
        accs = [by_seed[s]["final_test_accuracy"] for s in seeds]
        entry = dict(by_seed[seed])
        entry.update({
            "seed": seed,
            "seeds_flatland": f"{len(flat)} of {len(seeds)}",
            "flatland_seeds": flat,
            "num_seeds": len(seeds),
            "median_final_loss": float(np.nanmedian(finals)),
            "mean_final_test_accuracy": float(np.nanmean(accs)),
            "per_seed": {str(s): {k: by_seed[s][k] for k in ("flatland", "steps_in_flatland", "steps_near_floor",
                                                           "final_loss", "final_test_accuracy")}
                         for s in seeds},
        })
        summary_rules[RULES[name].label] = entry
    summary = {
        "featured_seed": seed,
        "featured": [RULES[r].label for r in rules],
        "seeds": seeds,
        "num_classes": problem.num_classes,
        "sharpness_floor": problem.sharpness_floor,
        "prior_loss": problem.prior_loss,
        "detector": {"sharpness_tol": 0.05, "loss_tol": 0.10, "hidden_drop": 1e-3, "min_steps": 100},
        "rules": summary_rules,
    }
    settings = {"fast": fast, "seed": seed, "seeds": seeds, "rules": list(rules), "num_steps": num_steps,
                "sharpness_every": sharpness_every, "sharpness_tol": 1e-2, "eig_steps": eig_steps, "eig_k": eig_k,
                "dtype": str(dtype)}
    return Experiment("flatland", "NLS falls to the 2/K sharpness floor and stalls at the prior loss; "
                      "NLS-ub (η < K) escapes", problem, runs, summary, settings)
