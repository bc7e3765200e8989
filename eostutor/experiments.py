"""The named headline experiments: fixed problems, rules and seeds that the CLI, notebooks and tests share.

Each experiment function trains (it never plots) and returns an :class:`Experiment`: the runs, the problem
and a JSON-friendly summary. ``python -m eostutor reproduce NAME`` renders and saves them;
``fast=True`` shrinks them for tests and for notebooks in fast mode.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from eostutor._validate import check_choice, check_int, check_positive
from eostutor.datasets import digits
from eostutor.problems import MLPProblem, Problem
from eostutor.record import Run
from eostutor.spectrum import EXACT_BATCH_DIM, exact_curvature
from eostutor.stepsizes import LineSearch, make_rule
from eostutor.training import train

__all__ = ["Experiment", "EXPERIMENTS", "reference_problem", "eos", "adaptive", "run_experiment",
           "FLATLAND_RULES", "flatland_rule", "flatland_label", "flatland_problem", "flatland_signature",
           "flatland", "json_ready", "BifurcationSweep", "bifurcation_sweep"]


@dataclass
class Experiment:
    """The outcome of a named experiment.

    Attributes:
        name: The experiment's name (a key of ``EXPERIMENTS``).
        description: One line on what it shows.
        problem: The problem the runs were trained on.
        runs: ``label -> Run``, in plotting order.
        summary: Headline numbers (JSON-friendly): one entry per run plus experiment-level facts.
        settings: The arguments the experiment was called with.
    """

    name: str
    description: str
    problem: Problem
    runs: dict[str, Run]
    summary: dict
    settings: dict = field(default_factory=dict)

    @property
    def run(self) -> Run:
        """The run of a single-run experiment (e.g. ``eos``); a ValueError when there are several."""
        if len(self.runs) != 1:
            raise ValueError(f"experiment {self.name!r} has {len(self.runs)} runs; pick one from .runs")
        return next(iter(self.runs.values()))

    def save(self, outdir) -> list[Path]:
        """Write each run (``<label>.npz``) and ``summary.json`` into ``outdir``; return the paths."""
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        paths = []
        for label, run in self.runs.items():
            paths.append(run.save(outdir / f"{_slug(label)}.npz"))
        summary_path = outdir / "summary.json"
        payload = {"experiment": self.name, "description": self.description, "problem": repr(self.problem),
                   "settings": self.settings, "summary": self.summary}
        summary_path.write_text(json.dumps(json_ready(payload), indent=2) + "\n")
        paths.append(summary_path)
        return paths

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}: {len(self.runs)} runs on {self.problem!r})"


def _slug(label: str) -> str:
    keep = [ch if ch.isalnum() or ch in "-_." else "_" for ch in label]
    return "".join(keep).strip("_") or "run"


def json_ready(value):
    """Nested dicts/lists with NumPy scalars and NaN made JSON-safe (NaN and inf become null).

    >>> json_ready({"loss": float("nan"), "steps": np.int64(3), "ok": np.bool_(True)})
    {'loss': None, 'steps': 3, 'ok': True}
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value


def reference_problem(n_train: int = 1000, dtype: torch.dtype = torch.float32) -> MLPProblem:
    """The course's reference network: a 2×32 tanh MLP on standardized digits, MSE over n·K outputs.

    With η = 2 its sharpness rises from about 0.6 to 2/η = 1 within a few hundred steps and then stays
    there: the Edge of Stability on a laptop.

    >>> reference_problem(n_train=100).dim
    3466
    """
    return MLPProblem(digits(n_train=n_train, dtype=dtype), hidden=(32, 32), activation="tanh", loss="mse",
                      dtype=dtype)


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
    """
    eta = check_positive("eta", eta)
    num_steps = check_int("num_steps", num_steps if num_steps is not None else (400 if fast else 2000), minimum=1)
    problem = reference_problem(dtype=dtype)
    run = train(problem, make_rule("constant", eta=eta), num_steps, seed=seed, sharpness_every=sharpness_every,
                progress=progress, label=f"GD, η = {eta:g}")
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

    The nonmonotone line searches keep η·λ_max above 1 − c, and above 2 most of the time, from the first
    steps; the loss is non-monotone by design.

    Args:
        fast: Fewer steps (for tests and fast notebooks).
        rules: Names of rules (see ``eostutor.stepsizes.RULES``).
        num_steps: Steps (default 500; 100 when ``fast``).
        seed: Initialisation seed (the same for every rule).
        sharpness_every: Measure λ_max every this many steps.
        dtype: float32 (default) or float64.
        progress: Show progress bars.
    """
    num_steps = check_int("num_steps", num_steps if num_steps is not None else (100 if fast else 500), minimum=1)
    problem = reference_problem(dtype=dtype)
    runs, summary = {}, {}
    for name in rules:
        rule = make_rule(name)
        run = train(problem, rule, num_steps, seed=seed, sharpness_every=sharpness_every, progress=progress)
        runs[run.label] = run
        summary[run.label] = run.summary()
    settings = {"fast": fast, "rules": list(rules), "num_steps": num_steps, "seed": seed,
                "sharpness_every": sharpness_every, "dtype": str(dtype)}
    return Experiment("adaptive", "adaptive step sizes: η·λ_max above 2 from the start, non-monotone loss",
                      problem, runs, summary, settings)


# --------------------------------------------------------------------------------------------------
# Flatland (Galli et al. 2026): NLS stuck at the 2/K sharpness floor, NLS-ub escaping
# --------------------------------------------------------------------------------------------------

#: The rules of the Flatland comparison: the paper's seven plus two ablations of NLS-ub's two changes.
FLATLAND_RULES = ("nls", "nls-ub", "ponls", "ls", "cdat", "warmup", "warmup-ub", "nls-cap-only",
                  "nls-once-only")

_FLATLAND_LABELS = {
    "nls": "NLS", "nls-ub": "NLS-ub", "ponls": "PoNLS", "ls": "LS", "cdat": "CDAT", "warmup": "GD-warmup",
    "warmup-ub": "GD-warmup-ub", "nls-cap-only": "NLS (cap only)", "nls-once-only": "NLS (one doubling only)",
}


def flatland_rule(name: str, num_classes: int):
    """A rule of the Flatland comparison by name, with the paper's constants.

    Besides the registered rules (``"nls"``, ``"nls-ub"``, ``"ponls"``, ``"ls"``, ``"cdat"``, ``"warmup"``,
    ``"warmup-ub"``) this builds the two ablations of NLS-ub, which differs from NLS in two ways:
    ``"nls-cap-only"`` keeps NLS's unlimited forward doubling but caps η < K; ``"nls-once-only"`` doubles
    at most once per step but has no cap.

    Args:
        name: One of :data:`FLATLAND_RULES`.
        num_classes: K (the cap of the ``"nls-cap-only"`` ablation).

    Returns:
        A step-size rule.

    >>> flatland_rule("nls-cap-only", 10)
    LineSearch(c=0.0001, delta=0.5, eta0=1.0, cap=10.0)
    """
    check_choice("rule", name, FLATLAND_RULES)
    num_classes = check_int("num_classes", num_classes, minimum=2)
    if name == "nls-cap-only":
        return LineSearch(doubling="unlimited", cap=float(num_classes))
    if name == "nls-once-only":
        return LineSearch(doubling="once")
    return make_rule(name)


def flatland_label(name: str) -> str:
    """Legend text of a Flatland rule name (e.g. ``"warmup-ub"`` -> ``"GD-warmup-ub"``).

    >>> flatland_label("nls-ub")
    'NLS-ub'
    """
    check_choice("rule", name, FLATLAND_RULES)
    return _FLATLAND_LABELS[name]


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
    floor = float(run.settings.get("sharpness_floor", math.nan) if floor is None else floor)
    prior = float(run.settings.get("prior_loss", math.nan) if prior is None else prior)
    if not (math.isfinite(floor) and floor > 0 and math.isfinite(prior) and prior > 0):
        raise ValueError(f"flatland_signature needs the sharpness floor 2/K and the prior loss (K-1)/K^2 "
                         f"(MSE with a last-layer bias); got floor={floor!r}, prior={prior!r}")
    every = int(run.settings.get("sharpness_every", 0) or 0)
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
    from eostutor.spectrum import top_eigenvalues  # spectrum is upstream of training; imported lazily

    out = {"steps": [], "eigenvalues": [], "converged": [], "num_hvps": []}
    params = run.arrays["params"]
    for step in steps:
        if step >= len(params) or not np.isfinite(params[step]).all():
            continue
        w = torch.as_tensor(params[step], dtype=problem.dtype, device=problem.device)
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
            label = flatland_label(name) if featured else f"{flatland_label(name)}, seed {s}"
            snapshots = featured and name in ("nls", "nls-ub") and bool(eig_steps)
            run = train(problem, flatland_rule(name, problem.num_classes), num_steps, seed=s,
                        sharpness_every=sharpness_every, sharpness_tol=1e-2, record_params=snapshots,
                        progress=progress, label=label)
            sig = flatland_signature(run)
            if snapshots:
                eig = _eigen_snapshots(problem, run, eig_steps, eig_k, s)
                for key in ("params", "eigenvector"):  # the iterates were kept only for the snapshots
                    run.arrays.pop(key, None)
                run.arrays["eig_steps"] = np.asarray(eig["steps"], dtype=np.int64)
                run.arrays["eig_values"] = np.asarray(eig["eigenvalues"], dtype=float).reshape(len(eig["steps"]), -1)
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
        summary_rules[flatland_label(name)] = entry
    summary = {
        "featured_seed": seed,
        "featured": [flatland_label(r) for r in rules],
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
    w0 = problem.init(seed) if w0 is None else torch.as_tensor(w0, dtype=problem.dtype)
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
        run = train(problem, float(eta), num_steps, w0=w0, record_params=True)
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


EXPERIMENTS = {
    "eos": (eos, "constant-η GD on the reference MLP: sharpness rises to 2/η and stays there"),
    "adaptive": (adaptive, "NLS, PoNLS, LS, CDAT, AdGD and Polyak side by side on the reference MLP"),
    "flatland": (flatland, "NLS stuck at the 2/K sharpness floor (dead ReLUs, prior loss) vs NLS-ub escaping"),
}


def run_experiment(name: str, **kwargs) -> Experiment:
    """Run a named experiment (see ``EXPERIMENTS``).

    Raises:
        ValueError: For an unknown name.
    """
    check_choice("experiment", name, EXPERIMENTS)
    return EXPERIMENTS[name][0](**kwargs)
