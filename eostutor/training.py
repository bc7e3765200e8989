"""The one training loop: full-batch gradient descent with any step-size rule.

``train`` runs a rule from :mod:`eostutor.stepsizes` on a problem from :mod:`eostutor.problems`,
measures what the lessons need (sharpness by warm-started Lanczos, η·λ_max, held-out accuracy,
layer-wise gradient norms, dead ReLUs) and returns a :class:`~eostutor.record.Run`. A run that blows up
is recorded (``diverged``, ``diverged_at``), never raised; Ctrl-C returns the partial run.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from eostutor._validate import check_choice, check_in_range, check_int, check_positive
from eostutor.curvature import HessianOperator
from eostutor.problems import Problem
from eostutor.record import PER_STEP_FIELDS, Run
from eostutor.spectrum import exact_curvature
from eostutor.spectrum import sharpness as estimate_sharpness
from eostutor.spectrum import top_eigenvalues
from eostutor.stepsizes import Constant, Rule, StepContext, rule_label

__all__ = ["train", "with_exact_sharpness", "SHARPNESS_METHODS"]

SHARPNESS_METHODS = ("auto", "exact", "lanczos", "power")

#: Runs on problems with at most this many parameters keep every iterate (for trajectory plots).
SMALL_DIM = 10


def _versions() -> dict:
    from eostutor import __version__

    return {"eostutor": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def train(
    problem: Problem,
    rule: Rule | float,
    num_steps: int,
    *,
    w0: torch.Tensor | None = None,
    seed: int = 0,
    sharpness_every: int = 0,
    sharpness_tol: float = 1e-3,
    sharpness_method: str = "auto",
    top_k: int = 1,
    evaluate_every: int | None = None,
    momentum: float = 0.0,
    nesterov: bool = False,
    callback: Callable[[Run], None] | None = None,
    callback_every: int = 10,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = False,
    record_params: bool | None = None,
    divergence_factor: float = 1e8,
    label: str | None = None,
) -> Run:
    """Run full-batch gradient descent w_{k+1} = w_k − η_k ∇f(w_k) and record everything.

    Args:
        problem: Any problem of :mod:`eostutor.problems`.
        rule: A step-size rule (:mod:`eostutor.stepsizes`) or a number (a constant step size η).
        num_steps: Number of steps (≥ 1).
        w0: Starting parameters (default ``problem.init(seed)``).
        seed: Seed of the initialisation and of the eigen-solver's random start.
        sharpness_every: Measure the sharpness λ_max every this many steps (0: never). Each estimate is
            warm-started from the previous top eigenvector and certified to ``sharpness_tol``.
        sharpness_tol: Relative Ritz-residual tolerance of each estimate.
        sharpness_method: ``"auto"``, ``"exact"``, ``"lanczos"`` or ``"power"``.
        top_k: How many top eigenvalues to track (≥ 1) at the measured steps.
        evaluate_every: Held-out metrics and dead-unit fraction every this many steps (default:
            ``sharpness_every`` if set, else 10). Only for problems with data.
        momentum: Heavy-ball (or Nesterov) coefficient β in [0, 1); only with rules that support it
            (constant and warm-up schedules).
        nesterov: Use Nesterov's momentum instead of heavy ball.
        callback: Called as ``callback(run_so_far)`` every ``callback_every`` steps and at the end
            unless interrupted (for live plots).
        callback_every: See ``callback``.
        should_stop: Polled every step; returning True ends the run early, marked ``interrupted``
            (a widget uses this so the newest slider value wins).
        progress: Show a tqdm progress bar.
        record_params: Keep every iterate in ``run.params`` (default: only when ``dim <= 10``).
        divergence_factor: The run is marked diverged when the loss is not finite or exceeds this
            factor times max(initial loss, 1) (or the parameter norm grows by this factor); > 1.
        label: Legend text for plots.

    Returns:
        A :class:`~eostutor.record.Run`.

    >>> from eostutor.problems import Quadratic
    >>> q = Quadratic([1.0, 10.0])
    >>> train(q, 0.19, 200).final_loss < 1e-8     # η < 2/λ_max = 0.2: converges
    True
    >>> train(q, 0.21, 2000).diverged             # η > 2/λ_max: diverges, recorded, not raised
    True
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be an eostutor Problem, got {type(problem).__name__}")
    if isinstance(rule, bool) or not isinstance(rule, Rule):
        if isinstance(rule, (int, float, np.floating, np.integer)) and not isinstance(rule, bool):
            rule = Constant(check_positive("eta", rule))
        else:
            raise ValueError(f"rule must be a step-size rule or a positive number, got {rule!r}")
    num_steps = check_int("num_steps", num_steps, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    sharpness_every = check_int("sharpness_every", sharpness_every, minimum=0)
    sharpness_tol = check_in_range("sharpness_tol", sharpness_tol, 0.0, 1.0, low_inclusive=False,
                                   high_inclusive=False)
    check_choice("sharpness_method", sharpness_method, SHARPNESS_METHODS)
    top_k = check_int("top_k", top_k, minimum=1, maximum=problem.dim)
    if evaluate_every is None:
        evaluate_every = sharpness_every if sharpness_every > 0 else 10
    evaluate_every = check_int("evaluate_every", evaluate_every, minimum=1)
    momentum = check_in_range("momentum", momentum, 0.0, 1.0, high_inclusive=False)
    if momentum > 0 and not rule.supports_momentum:
        raise ValueError(
            f"momentum={momentum} is only available with a constant or warm-up step size, not {rule!r}"
        )
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0")
    callback_every = check_int("callback_every", callback_every, minimum=1)
    divergence_factor = check_positive("divergence_factor", divergence_factor)
    if divergence_factor <= 1:
        raise ValueError(f"divergence_factor must be > 1, got {divergence_factor!r}")
    for name, flag in (("nesterov", nesterov), ("progress", progress)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    if record_params is not None and not isinstance(record_params, (bool, np.bool_)):
        raise ValueError(f"record_params must be True, False or None, got {record_params!r}")
    for name, fn in (("callback", callback), ("should_stop", should_stop)):
        if fn is not None and not callable(fn):
            raise ValueError(f"{name} must be a function or None, got {fn!r}")
    if record_params is None:
        record_params = problem.dim <= SMALL_DIM

    w = problem.init(seed) if w0 is None else problem._check_vector(w0, "w0").clone()
    if not torch.isfinite(w).all():
        raise ValueError("w0 must be finite")
    w0_norm = float(w.norm())
    has_data = problem.has_data
    layers = getattr(problem, "layer_grad_norms", None) if has_data else None

    arrays = {name: np.full(num_steps, np.nan) for name in PER_STEP_FIELDS}
    arrays["step"] = np.arange(num_steps, dtype=np.int64)
    arrays["top_eigenvalues"] = np.full((num_steps, top_k), np.nan)
    params_hist = np.full((num_steps + 1, problem.dim), np.nan) if record_params else None
    eigvec_hist = np.full((num_steps, problem.dim), np.nan) if record_params else None

    settings = {
        "problem": repr(problem),
        "problem_name": getattr(problem, "name", type(problem).__name__),
        "dim": problem.dim,
        "dtype": str(problem.dtype).replace("torch.", ""),
        "rule": rule.name,
        "rule_label": rule_label(rule),
        "rule_repr": repr(rule),
        "rule_params": rule.params(),
        "num_steps": num_steps,
        "seed": seed,
        "w0_given": w0 is not None,
        "sharpness_every": sharpness_every,
        "sharpness_tol": sharpness_tol,
        "sharpness_method": sharpness_method,
        "top_k": top_k,
        "evaluate_every": evaluate_every,
        "momentum": momentum,
        "nesterov": bool(nesterov),
        "sharpness_floor": float(problem.sharpness_floor),
        "num_classes": problem.num_classes,
        "prior_loss": float(getattr(problem, "prior_loss", math.nan)),
        "versions": _versions(),
    }

    state = rule.init()
    buf = torch.zeros_like(w)  # momentum buffer
    v_prev = None  # previous top eigenvector(s): the warm start
    f0 = None
    diverged, diverged_at, interrupted = False, None, False
    done = 0
    start = time.perf_counter()

    def snapshot(n_done: int, final_params, final_loss) -> Run:
        arr = {k: v[:n_done] for k, v in arrays.items()}
        if params_hist is not None:
            arr["params"] = params_hist[: n_done + 1]
            arr["eigenvector"] = eigvec_hist[:n_done]
        return Run(arr, settings, final_params=final_params, final_loss=final_loss, diverged=diverged,
                   diverged_at=diverged_at, interrupted=interrupted,
                   wall_time=time.perf_counter() - start, label=label)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=num_steps, desc=repr(rule), leave=False)

    try:
        for k in range(num_steps):
            if should_stop is not None and should_stop():
                interrupted = True
                break
            if params_hist is not None:
                params_hist[k] = w.detach().cpu().numpy()
            measure = sharpness_every > 0 and k % sharpness_every == 0
            # One autograd graph per step when curvature is needed: the gradient and all HVPs share it.
            local = problem.hvp_at(w) if (measure or rule.needs_hvp) else None
            if local is not None:
                loss, g = local.loss, local.grad
            else:
                loss, g = problem.loss_and_grad(w)
            counts = {"loss": 0, "hvp": 0}
            arrays["grad_evals"][k] = 1
            arrays["loss"][k] = loss
            if f0 is None:
                f0 = loss
            grad_norm = float(g.norm())
            arrays["grad_norm"][k] = grad_norm
            # Relative to the initial loss, but never below divergence_factor itself: a run started next to a
            # minimum (f0 ≈ 0) that settles at the edge is not a divergence.
            if not (math.isfinite(loss) and math.isfinite(grad_norm)) or abs(loss) > divergence_factor * max(
                abs(f0), 1.0
            ):
                diverged, diverged_at = True, k
                done = k + 1
                break

            if layers is not None:
                norms = layers(g)
                arrays["grad_norm_hidden"][k] = norms["hidden"]
                arrays["grad_norm_last_bias"][k] = norms["last_bias"]
            if has_data and (k % evaluate_every == 0 or k == num_steps - 1):
                metrics = problem.evaluate(w)
                arrays["test_loss"][k] = metrics["test_loss"]
                arrays["test_accuracy"][k] = metrics["test_accuracy"]
                arrays["train_accuracy"][k] = metrics["train_accuracy"]
                arrays["dead_fraction"][k] = problem.dead_fraction(w)

            if measure:
                op = HessianOperator.from_local(local)
                if top_k == 1:
                    res = estimate_sharpness(problem, w, method=sharpness_method, tol=sharpness_tol,
                                             v0=v_prev, seed=seed + k, operator=op)
                else:
                    res = top_eigenvalues(problem, w, top_k, method=sharpness_method, tol=sharpness_tol,
                                          v0=v_prev, seed=seed + k, operator=op)
                arrays["sharpness"][k] = res.value
                arrays["top_eigenvalues"][k, : len(res.eigenvalues)] = res.eigenvalues[:top_k]
                arrays["sharpness_hvps"][k] = res.num_hvps
                arrays["sharpness_residual"][k] = float(np.max(res.residuals) / max(abs(res.value), 1e-300))
                v_prev = res.eigenvectors[:, :top_k] if top_k > 1 else res.vector
                if eigvec_hist is not None:
                    eigvec_hist[k] = res.vector.detach().cpu().numpy()

            def loss_at(eta: float, _w=w, _g=g) -> float:
                counts["loss"] += 1
                return problem.loss(_w - eta * _g)

            def hvp(v: torch.Tensor, _w=w) -> torch.Tensor:
                nonlocal local
                counts["hvp"] += 1
                if local is None:
                    local = problem.hvp_at(_w)
                return local.hvp(v)

            ctx = StepContext(step=k, params=w, loss=loss, grad=g, grad_norm_sq=grad_norm**2,
                              loss_at=loss_at, hvp=hvp, num_classes=problem.num_classes)
            info, state = rule.update(ctx, state)
            eta = float(info.eta)
            arrays["eta"][k] = eta
            arrays["backtracks"][k] = info.backtracks
            arrays["reference"][k] = getattr(info, "reference", math.nan)
            arrays["loss_evals"][k] = 1 + counts["loss"]
            arrays["hvps"][k] = counts["hvp"] + (arrays["sharpness_hvps"][k] if measure else 0)
            if measure:
                arrays["eta_sharpness"][k] = eta * arrays["sharpness"][k]

            if momentum > 0:
                buf = momentum * buf + g
                direction = g + momentum * buf if nesterov else buf
            else:
                direction = g
            w = w - eta * direction
            done = k + 1
            if bar is not None:
                bar.update(1)
            w_norm = float(w.norm())  # NaN or inf if any entry is: no separate isfinite pass
            if not math.isfinite(w_norm) or w_norm > divergence_factor * max(w0_norm, 1.0):
                diverged, diverged_at = True, k + 1
                break
            if callback is not None and done % callback_every == 0 and done < num_steps:
                callback(snapshot(done, None, math.nan))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()

    if interrupted:
        done = int(np.sum(np.isfinite(arrays["eta"]))) if not diverged else done
    if params_hist is not None and not diverged and done < num_steps + 1:
        params_hist[done] = w.detach().cpu().numpy()
    final_loss = math.nan
    if not diverged:
        final_loss = problem.loss(w)
        if not math.isfinite(final_loss) or abs(final_loss) > divergence_factor * max(abs(f0 or 0.0), 1.0):
            diverged, diverged_at = True, done
            final_loss = math.nan
    run = snapshot(done, w.detach().cpu().numpy(), final_loss)
    if callback is not None and not interrupted:  # an interrupted run's owner has moved on
        callback(run)
    return run


def with_exact_sharpness(problem: Problem, run: Run, k: int = 1) -> Run:
    """A copy of ``run`` with the exact sharpness at every step, from its recorded iterates.

    Fills ``sharpness``, ``eta_sharpness``, ``top_eigenvalues`` (steps x k) and ``eigenvector`` (steps x
    dim) and records ``sharpness_method = "exact (batched, after the run)"`` in the settings. The numbers
    equal what ``train(..., sharpness_every=1, sharpness_method="exact")`` measures, at a fraction of the
    cost (see :func:`exact_curvature`). ``sharpness_hvps`` stays NaN: no HVP is used.

    >>> from eostutor.problems import Quadratic
    >>> run = with_exact_sharpness(Quadratic([1.0, 10.0]), train(Quadratic([1.0, 10.0]), 0.1, 5))
    >>> run.sharpness.tolist(), run.eta_sharpness.round(6).tolist()[:2]
    ([10.0, 10.0, 10.0, 10.0, 10.0], [1.0, 1.0])
    """
    if "params" not in run.arrays:
        raise ValueError(f"{run!r} has no recorded iterates: train with record_params=True")
    n = run.num_steps
    vals, vecs = exact_curvature(problem, run.arrays["params"][:n], k)
    arrays = dict(run.arrays)
    arrays["sharpness"] = vals[:, 0].copy()
    arrays["eta_sharpness"] = run.eta * vals[:, 0]
    arrays["top_eigenvalues"] = vals
    arrays["eigenvector"] = vecs
    settings = dict(run.settings, sharpness_every=1, sharpness_method="exact (batched, after the run)", top_k=k)
    return Run(arrays, settings, final_params=run.final_params, final_loss=run.final_loss, diverged=run.diverged,
               diverged_at=run.diverged_at, interrupted=run.interrupted, wall_time=run.wall_time, label=run.label)
