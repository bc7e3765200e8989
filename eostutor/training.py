"""The one training loop: gradient descent with any step-size rule, full-batch or on mini-batches.

``train`` runs a rule from :mod:`eostutor.stepsizes` on a problem (anything with the protocol of
:class:`eostutor.problems.Problem`), measures what the lessons need (sharpness by a warm-started
:class:`~eostutor.spectrum.tracking.SharpnessTracker`, η·λ_max, held-out accuracy, layer-wise gradient
norms, dead ReLUs; for Adam and RMSProp the preconditioned sharpness, for mini-batch runs the batch
sharpness) through a :class:`Recorder`, and returns a :class:`~eostutor.record.Run`. A run that blows up is
recorded (``diverged``, ``diverged_at``), never raised; Ctrl-C returns the partial run.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from eostutor import spectrum
from eostutor._validate import check_choice, check_in_range, check_int, check_positive
from eostutor._version import __version__
from eostutor.curvature import HessianOperator
from eostutor.problems import TINY_DIM, Problem
from eostutor.record import PER_STEP_FIELDS, Run, RunSettings
from eostutor.spectrum.batch import check_batch_size
from eostutor.spectrum.preconditioned import PreconditionedOperator
from eostutor.stepsizes import Constant, Rule, StepContext, StepInfo, rule_label

__all__ = ["train", "with_exact_sharpness", "Recorder", "MiniBatches", "SHARPNESS_METHODS", "MAX_STEPS"]

SHARPNESS_METHODS = spectrum.METHODS
#: The most steps one run may take (its per-step arrays are allocated up front).
MAX_STEPS = 10_000_000


def train(
    problem: Problem,
    rule: Rule | float,
    num_steps: int,
    *,
    w0=None,
    seed: int = 0,
    batch_size: int | None = None,
    batch_sharpness_batches: int = 16,
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
    """Run gradient descent w_{k+1} = w_k − η_k ∇f(w_k) and record everything.

    The step uses the full-batch gradient, or with ``batch_size`` the gradient of a mini-batch (SGD); a
    rule with its own direction (Adam, RMSProp) steps along that instead of −∇f.

    Args:
        problem: Any problem of :mod:`eostutor.problems`.
        rule: A step-size rule (:mod:`eostutor.stepsizes`) or a number (a constant step size η).
        num_steps: Number of steps (1 to ``MAX_STEPS``).
        w0: Starting parameters (default ``problem.init(seed)``).
        seed: Seed of the initialisation, of the mini-batches and of the eigen-solver's random start.
        batch_size: ``None`` (full batch) or b, 1 ≤ b ≤ the number of training examples: each step uses the
            loss and gradient of b examples (``problem.on_batch``), drawn without replacement within an
            epoch (a seeded shuffle per epoch, cut into batches of b; the last n mod b examples of an epoch
            are left out). ``run.loss`` stays the *full-batch* loss f(w_k) at every step (one forward pass);
            ``run.batch_loss`` is the loss of the step's batch and ``run.grad_norm`` the norm of its gradient.
        batch_sharpness_batches: For mini-batch runs, the batches averaged in the batch sharpness
            E_B[g_Bᵀ H_B g_B / ‖g_B‖²] measured at the sharpness steps (0: not measured).
        sharpness_every: Measure the sharpness λ_max every this many steps (0: never). Each estimate is
            warm-started from the previous top eigenvector and certified to ``sharpness_tol``; it is the
            full-batch Hessian's, also in mini-batch runs. For rules with a preconditioner (Adam, RMSProp)
            the preconditioned sharpness λ_max(P^{-1/2} H P^{-1/2}) is measured at the same steps, with P
            frozen at that step, warm-started and certified the same way.
        sharpness_tol: Relative Ritz-residual tolerance of each estimate.
        sharpness_method: ``"auto"``, ``"exact"``, ``"lanczos"`` or ``"power"``.
        top_k: How many top eigenvalues to track (≥ 1) at the measured steps.
        evaluate_every: Held-out metrics and dead-unit fraction every this many steps (default:
            ``sharpness_every`` if set, else 10). Only for problems with data.
        momentum: Heavy-ball (or Nesterov) coefficient β in [0, 1); only with rules that support it
            (constant and warm-up schedules; Adam has its own, ``beta1``).
        nesterov: Use Nesterov's momentum instead of heavy ball.
        callback: Called as ``callback(run_so_far)`` every ``callback_every`` steps and at the end unless
            interrupted (for live plots); it receives a copy, never the loop's own buffers.
        callback_every: See ``callback``.
        should_stop: Polled every step; returning True ends the run early, marked ``interrupted``
            (a widget uses this so the newest slider value wins).
        progress: Show a tqdm progress bar.
        record_params: Keep every iterate in ``run.params`` (default: only when ``dim <= 10``).
        divergence_factor: The run is marked diverged when the loss is not finite or exceeds this
            factor times max(initial loss, 1) (or the parameter norm grows by this factor); > 1.
        label: Legend text for plots (default: the rule's label, plus the momentum).

    Returns:
        A :class:`~eostutor.record.Run`.

    Raises:
        ValueError: For invalid arguments, or a rule that returns a negative or non-finite step size.
        Exception: An exception raised by ``callback`` or ``should_stop`` is re-raised with the partial run
            attached as ``err.run``.

    >>> from eostutor.problems import Quadratic
    >>> q = Quadratic([1.0, 10.0])
    >>> train(q, 0.19, 200).final_loss < 1e-8     # η < 2/λ_max = 0.2: converges
    True
    >>> train(q, 0.21, 2000).diverged             # η > 2/λ_max: diverges, recorded, not raised
    True
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be an eostutor Problem, got {type(problem).__name__}")
    rule = _as_rule(rule)
    num_steps = check_int("num_steps", num_steps, minimum=1, maximum=MAX_STEPS)
    seed = check_int("seed", seed, minimum=0, maximum=2**63 - 1)
    sharpness_every = check_int("sharpness_every", sharpness_every, minimum=0)
    momentum = check_in_range("momentum", momentum, 0.0, 1.0, high_inclusive=False)
    _check_momentum(rule, momentum, nesterov)
    if batch_size is not None:
        batch_size = check_batch_size(problem, batch_size)
    batches = None if batch_size is None else MiniBatches(problem.num_train, batch_size, seed)
    batch_sharpness_batches = check_int("batch_sharpness_batches", batch_sharpness_batches, minimum=0)
    for name, fn in (("callback", callback), ("should_stop", should_stop)):
        if fn is not None and not callable(fn):
            raise ValueError(f"{name} must be a function or None, got {fn!r}")
    callback_every = check_int("callback_every", callback_every, minimum=1)
    if not isinstance(progress, (bool, np.bool_)):
        raise ValueError(f"progress must be True or False, got {progress!r}")
    tracker = spectrum.SharpnessTracker(
        problem, check_int("top_k", top_k, minimum=1, maximum=problem.dim),
        check_choice("sharpness_method", sharpness_method, SHARPNESS_METHODS),
        check_in_range("sharpness_tol", sharpness_tol, 0.0, 1.0, low_inclusive=False, high_inclusive=False),
        seed=seed)
    if not sharpness_every:
        tracker = None
    w = problem.init(seed) if w0 is None else problem.check_params(w0, "w0").clone()
    if not bool(torch.isfinite(w).all()):
        raise ValueError("w0 must be finite")
    record = Recorder(problem, rule, num_steps, w, seed=seed, w0_given=w0 is not None, tracker=tracker,
                      sharpness_every=sharpness_every, evaluate_every=evaluate_every, momentum=momentum,
                      nesterov=bool(nesterov), record_params=record_params,
                      divergence_factor=divergence_factor, label=label, batches=batches,
                      batch_sharpness_batches=batch_sharpness_batches)

    state, buf = rule.init(), torch.zeros_like(w)
    bar = _progress_bar(progress, num_steps, rule)
    try:
        for k in range(num_steps):
            if should_stop is not None and should_stop():
                record.interrupted = True
                break
            measure = tracker is not None and k % sharpness_every == 0
            at = _evaluate(problem, w, None if batches is None else batches.next(), measure, rule.needs_hvp)
            if not record.begin_step(k, w, at.loss, at.grad, at.batch_loss):
                break  # diverged: recorded
            if measure:
                record.measure(k, at.full_op)
            ctx, counts = _context(at.target, k, w, at.step_loss, at.grad, at.op)
            info, state = rule.update(ctx, state)
            record.end_step(k, _checked_step(info, rule, k, w), counts)
            if measure:
                record.measure_more(k, at.full_op, w, info)  # preconditioned and batch sharpness
            direction = at.grad if info.direction is None else info.direction
            w, buf = _gd_step(w, direction, info.eta, buf, momentum, nesterov)
            if bar is not None:
                bar.update(1)
            if not record.check_params(k, w):
                break  # diverged: recorded
            if callback is not None and (k + 1) % callback_every == 0 and k + 1 < num_steps:
                callback(record.snapshot())
    except KeyboardInterrupt:
        record.interrupted = True
    except Exception as err:
        err.run = record.finish()  # the partial run is not lost with the exception
        raise
    finally:
        if bar is not None:
            bar.close()
    run = record.finish()
    if callback is not None and not run.interrupted:  # an interrupted run's owner has moved on
        try:
            callback(run)
        except Exception as err:
            err.run = run
            raise
    return run


def _as_rule(rule) -> Rule:
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, (int, float, np.floating, np.integer)) and not isinstance(rule, (bool, np.bool_)):
        return Constant(check_positive("eta", rule))
    raise ValueError(f"rule must be a step-size rule or a positive number, got {rule!r}")


def _check_momentum(rule: Rule, momentum: float, nesterov) -> None:
    if not isinstance(nesterov, (bool, np.bool_)):
        raise ValueError(f"nesterov must be True or False, got {nesterov!r}")
    if momentum > 0 and "beta1" in rule.params():
        raise ValueError(f"momentum={momentum} is not allowed with {rule!r}: it has its own momentum, beta1 = "
                         f"{rule.params()['beta1']:g} (set beta1 in [0, 1) instead, and momentum=0)")
    if momentum > 0 and not rule.supports_momentum:
        raise ValueError(f"momentum={momentum} is only available with a constant or warm-up step size, not {rule!r}")
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0")


def _progress_bar(progress: bool, num_steps: int, rule: Rule):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=num_steps, desc=repr(rule), leave=False)


class MiniBatches:
    """Seeded mini-batches: a shuffle of the n training examples per epoch, cut into batches of b.

    Sampling is without replacement within an epoch; when fewer than b examples are left, a new epoch
    starts (the n mod b left over are not used in that epoch). The shuffles come from their own stream
    of ``seed``, so they do not depend on (or change) the initialisation or the eigen-solvers.

    >>> batches = MiniBatches(5, 2, seed=0)
    >>> first, second, third = batches.next(), batches.next(), batches.next()
    >>> len(set(first) | set(second)), len(third), batches.epoch
    (4, 2, 2)
    """

    def __init__(self, num_examples: int, batch_size: int, seed: int):
        self.num_examples = check_int("num_examples", num_examples, minimum=1)
        self.batch_size = check_int("batch_size", batch_size, minimum=1, maximum=self.num_examples)
        self.rng = np.random.default_rng((check_int("seed", seed, minimum=0), 0xBA7C4))
        self.order, self.pos, self.epoch = np.empty(0, dtype=np.int64), 0, 0

    def next(self) -> np.ndarray:
        """The indices of the next batch."""
        if self.pos + self.batch_size > len(self.order):
            self.order, self.pos, self.epoch = self.rng.permutation(self.num_examples), 0, self.epoch + 1
        batch = self.order[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return batch


class _Point(NamedTuple):
    """What the loop evaluated at w_k: the full-batch loss it records, and the loss and gradient the step
    descends (the same, or those of a mini-batch), with their curvature operators when needed.
    """

    loss: float
    grad: torch.Tensor
    target: Problem  # the problem whose loss the step descends (the full problem or a batch of it)
    step_loss: float
    op: HessianOperator | None  # curvature of ``target`` at w, for rules that need HVPs
    full_op: HessianOperator | None  # curvature of the full problem at w, at measured steps
    batch_loss: float


def _evaluate(problem: Problem, w, batch, measure: bool, needs_hvp: bool) -> _Point:
    # One graph per step when curvature is needed: the gradient and all HVPs share it.
    if batch is None:
        op = HessianOperator(problem, w) if (measure or needs_hvp) else None
        loss, g = (op.loss, op.grad) if op is not None else problem.loss_and_grad(w)
        return _Point(loss, g, problem, loss, op, op, math.nan)
    target = problem.on_batch(batch)
    op = HessianOperator(target, w) if needs_hvp else None
    step_loss, g = (op.loss, op.grad) if op is not None else target.loss_and_grad(w)
    full_op = HessianOperator(problem, w) if measure else None
    loss = full_op.loss if full_op is not None else problem.loss(w)  # the full-batch loss, for the record
    return _Point(loss, g, target, step_loss, op, full_op, step_loss)


def _context(problem: Problem, k: int, w, loss: float, g, op: HessianOperator | None):
    """The rule's view of step k, with counted trial losses and HVPs (the operator built on demand)."""
    counts = {"loss": 0, "hvp": 0}
    holder = [op]

    def loss_at(eta: float) -> float:
        counts["loss"] += 1
        return problem.loss(w - eta * g)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        counts["hvp"] += 1
        if holder[0] is None:
            holder[0] = HessianOperator(problem, w)
        return holder[0] @ v

    ctx = StepContext(step=k, params=w, loss=loss, grad=g, grad_norm_sq=float(g @ g), loss_at=loss_at, hvp=hvp,
                      num_classes=problem.num_classes)
    return ctx, counts


def _checked_step(info: StepInfo, rule: Rule, k: int, w) -> StepInfo:
    eta = info.eta
    if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta >= 0):
        raise ValueError(f"{rule!r} returned the step size eta={eta!r} at step {k}; a rule must return a finite "
                         "eta >= 0 (a negative one would be gradient ascent)")
    for name in ("direction", "preconditioner"):
        value = getattr(info, name)
        if value is not None and (not isinstance(value, torch.Tensor) or value.shape != w.shape):
            raise ValueError(f"{rule!r} returned a {name} of shape {tuple(getattr(value, 'shape', ()))} at step "
                             f"{k}; it must be a tensor shaped like the parameters, {tuple(w.shape)}")
    return info


def _gd_step(w, d, eta: float, buf, momentum: float, nesterov: bool):
    """The step w − η·d (d: the gradient, or a rule's own direction), with heavy-ball or Nesterov momentum."""
    if momentum > 0:
        buf = momentum * buf + d
        direction = d + momentum * buf if nesterov else buf
    else:
        direction = d
    return w - eta * direction, buf


class Recorder:
    """The bookkeeping of one run: per-step arrays, divergence checks, settings, snapshots and the Run.

    ``train`` calls ``begin_step`` (loss and gradient at w_k, metrics; False when the run diverged),
    ``measure`` (curvature), ``end_step`` (the rule's step), ``measure_more`` (the curvature that needs the
    step: preconditioned sharpness, batch sharpness) and ``check_params`` (the new iterate), then
    ``finish``. ``snapshot`` is a copy of the run so far.
    """

    def __init__(self, problem: Problem, rule: Rule, num_steps: int, w0: torch.Tensor, *, seed: int,
                 w0_given: bool, tracker, sharpness_every: int, evaluate_every: int | None, momentum: float,
                 nesterov: bool, record_params: bool | None, divergence_factor: float, label: str | None,
                 batches: MiniBatches | None = None, batch_sharpness_batches: int = 0):
        if evaluate_every is None:
            evaluate_every = sharpness_every if sharpness_every > 0 else 10
        self.evaluate_every = check_int("evaluate_every", evaluate_every, minimum=1)
        factor = check_positive("divergence_factor", divergence_factor)
        if factor <= 1:
            raise ValueError(f"divergence_factor must be > 1, got {divergence_factor!r}")
        if record_params is not None and not isinstance(record_params, (bool, np.bool_)):
            raise ValueError(f"record_params must be True, False or None, got {record_params!r}")
        self.problem, self.tracker, self.factor, self.label = problem, tracker, factor, label
        self.num_steps, self.seed = num_steps, seed
        self.batch_size = None if batches is None else batches.batch_size
        self.batch_sharpness_batches = batch_sharpness_batches if batches is not None else 0
        self.preconditioned_tracker = None  # made at the first preconditioner a rule reports
        threshold = rule.stability_threshold(momentum, nesterov)
        n, dim = num_steps, problem.dim
        self.arrays = {name: np.full(n, np.nan) for name in PER_STEP_FIELDS}
        self.arrays["step"] = np.arange(n, dtype=np.int64)
        keep = dim <= TINY_DIM if record_params is None else bool(record_params)
        if tracker is not None:
            self.arrays["top_eigenvalues"] = np.full((n, tracker.top_k), np.nan)
            if keep:
                self.arrays["eigenvector"] = np.full((n, dim), np.nan)
        if keep:
            self.arrays["params"] = np.full((n + 1, dim), np.nan)
        self.settings = RunSettings(
            problem=repr(problem), problem_name=getattr(problem, "name", type(problem).__name__), dim=dim,
            dtype=str(problem.dtype).replace("torch.", ""), rule=rule.name, rule_label=rule_label(rule),
            rule_repr=repr(rule), rule_params=rule.params(), num_steps=n, seed=seed, w0_given=w0_given,
            sharpness_every=sharpness_every, sharpness_tol=tracker.tol if tracker else 1e-3,
            sharpness_method=tracker.method if tracker else "auto", top_k=tracker.top_k if tracker else 1,
            evaluate_every=self.evaluate_every, momentum=momentum, nesterov=nesterov,
            sharpness_floor=float(problem.sharpness_floor), num_classes=problem.num_classes,
            prior_loss=float(problem.prior_loss), batch_size=self.batch_size,
            batch_sharpness_batches=self.batch_sharpness_batches if tracker else 0,
            stability_threshold=None if threshold is None else float(threshold),
            threshold_applies_to="preconditioned_sharpness" if rule.preconditioned else "sharpness",
            versions={"eostutor": __version__, "torch": torch.__version__, "numpy": np.__version__,
                      "python": platform.python_version()})
        self.w, self.w0_norm = w0, float(w0.norm())
        self.f0: float | None = None
        self.done = 0
        self.diverged, self.diverged_at, self.interrupted = False, None, False
        self.notes: list[str] = []
        self.start = time.perf_counter()

    def begin_step(self, k: int, w, loss: float, g, batch_loss: float = math.nan) -> bool:
        """Record the loss, gradient and metrics at w_k; False (and the run marked diverged) on a blow-up."""
        a = self.arrays
        self.w = w
        if "params" in a and k == 0:  # later iterates are written when accepted (check_params)
            a["params"][0] = w.detach().cpu().numpy()
        a["loss"][k], a["grad_evals"][k], a["batch_loss"][k] = loss, 1, batch_loss
        if self.f0 is None:
            self.f0 = loss
        grad_norm = float(g.norm())
        a["grad_norm"][k] = grad_norm
        # Relative to the initial loss, but never below divergence_factor itself: a run started next to a
        # minimum (f0 ≈ 0) that settles at the edge is not a divergence.
        if not (math.isfinite(loss) and math.isfinite(grad_norm)) or abs(loss) > self._loss_limit():
            self.diverged, self.diverged_at, self.done = True, k, k + 1
            return False
        norms = self.problem.layer_grad_norms(g)
        a["grad_norm_hidden"][k] = norms.get("hidden", math.nan)
        a["grad_norm_last_bias"][k] = norms.get("last_bias", math.nan)
        if self.problem.has_data and (k % self.evaluate_every == 0 or k == self.num_steps - 1):
            metrics = self.problem.evaluate(w)
            for name in ("test_loss", "test_accuracy", "train_accuracy"):
                a[name][k] = metrics[name]
            a["dead_fraction"][k] = self.problem.dead_fraction(w)
        return True

    def measure(self, k: int, op: HessianOperator) -> None:
        """The tracked eigenvalues at w_k; a non-finite Hessian is recorded as NaN with a note."""
        try:
            res = self.tracker.measure(op, k)
        except ValueError as err:
            if "not finite" not in str(err):
                raise
            self.notes.append(f"step {k}: sharpness not measured ({err})")
            return
        a = self.arrays
        a["sharpness"][k] = res.value
        a["top_eigenvalues"][k, : len(res.eigenvalues)] = res.eigenvalues[: self.tracker.top_k]
        a["sharpness_hvps"][k] = res.num_hvps
        a["sharpness_residual"][k] = self.tracker.relative_residual(res)
        if "eigenvector" in a:
            a["eigenvector"][k] = res.vector.detach().cpu().numpy()

    def measure_more(self, k: int, op: HessianOperator, w, info: StepInfo) -> None:
        """At a measured step, after the rule: λ_max(P^{-1/2} H P^{-1/2}) with the preconditioner P the rule
        reported (if any), and the batch sharpness of a mini-batch run; their products are added to ``hvps``.
        """
        a = self.arrays
        if info.preconditioner is not None:
            if self.preconditioned_tracker is None:
                self.preconditioned_tracker = spectrum.SharpnessTracker(
                    self.problem, 1, self.tracker.method, self.tracker.tol, seed=self.tracker.seed)
            try:
                res = self.preconditioned_tracker.measure(PreconditionedOperator(op, info.preconditioner), k)
            except ValueError as err:  # a non-finite Hessian, or a preconditioner with zero or NaN entries
                self.notes.append(f"step {k}: preconditioned sharpness not measured ({err})")
            else:
                a["preconditioned_sharpness"][k] = res.value
                a["preconditioned_residual"][k] = self.preconditioned_tracker.relative_residual(res)
                a["hvps"][k] += res.num_hvps
        if self.batch_sharpness_batches:
            # the batches drawn for measuring come from a stream of their own: training's are unchanged
            seed = int(np.random.SeedSequence((self.seed, 0x5A3B, k)).generate_state(1)[0])
            est = spectrum.batch_sharpness(self.problem, w, self.batch_size, num_batches=self.batch_sharpness_batches,
                                           seed=seed)
            a["batch_sharpness"][k] = est.value
            a["hvps"][k] += est.num_hvps

    def end_step(self, k: int, info: StepInfo, counts: dict) -> None:
        """Record the rule's step η_k and what it cost."""
        a = self.arrays
        a["eta"][k], a["backtracks"][k], a["reference"][k] = info.eta, info.backtracks, info.reference
        a["loss_evals"][k] = 1 + counts["loss"]
        measured = a["sharpness_hvps"][k]
        a["hvps"][k] = counts["hvp"] + (measured if math.isfinite(measured) else 0)
        a["eta_sharpness"][k] = info.eta * a["sharpness"][k]

    def check_params(self, k: int, w) -> bool:
        """Accept w_{k+1}: step k is complete. False (the run marked diverged at step k + 1) on a blow-up."""
        self.w, self.done = w, k + 1
        w_norm = float(w.norm())  # NaN or inf if any entry is: no separate isfinite pass
        if not math.isfinite(w_norm) or w_norm > self.factor * max(self.w0_norm, 1.0):
            self.diverged, self.diverged_at = True, k + 1
            return False
        if "params" in self.arrays:  # so a snapshot taken now holds the iterate it stopped at
            self.arrays["params"][k + 1] = w.detach().cpu().numpy()
        return True

    def _loss_limit(self) -> float:
        return self.factor * max(abs(self.f0 or 0.0), 1.0)

    def snapshot(self, final_params=None, final_loss: float = math.nan) -> Run:
        """The run so far (a copy: the loop keeps writing into its own buffers)."""
        n = self.done
        arrays = {k: v[: n + 1] if k == "params" else v[:n] for k, v in self.arrays.items()}
        return Run(arrays, self.settings, final_params=final_params, final_loss=final_loss, diverged=self.diverged,
                   diverged_at=self.diverged_at, interrupted=self.interrupted, notes=self.notes,
                   wall_time=time.perf_counter() - self.start, label=self.label)

    def finish(self) -> Run:
        """The finished (or stopped) run, with the last accepted iterate and its loss."""
        final_loss, w = math.nan, self.w
        if not self.diverged:
            if "params" in self.arrays:
                self.arrays["params"][self.done] = w.detach().cpu().numpy()
            final_loss = self.problem.loss(w)
            if not math.isfinite(final_loss) or abs(final_loss) > self._loss_limit():
                self.diverged, self.diverged_at, final_loss = True, self.done, math.nan
        return self.snapshot(w.detach().cpu().numpy(), final_loss)


def with_exact_sharpness(problem: Problem, run: Run, k: int = 1) -> Run:
    """A copy of ``run`` with the exact sharpness at every step, from its recorded iterates.

    Fills ``sharpness``, ``eta_sharpness``, ``top_eigenvalues`` (steps x k) and ``eigenvector`` (steps x
    dim) and records ``sharpness_method = "exact (batched, after the run)"`` in the settings. The numbers
    equal what ``train(..., sharpness_every=1, sharpness_method="exact")`` measures, at a fraction of the
    cost (see :func:`eostutor.spectrum.exact_curvature`). ``sharpness_hvps`` stays NaN: no HVP is used.

    >>> from eostutor.problems import Quadratic
    >>> run = with_exact_sharpness(Quadratic([1.0, 10.0]), train(Quadratic([1.0, 10.0]), 0.1, 5))
    >>> run.sharpness.tolist(), run.eta_sharpness.round(6).tolist()[:2]
    ([10.0, 10.0, 10.0, 10.0, 10.0], [1.0, 1.0])
    """
    if "params" not in run.arrays:
        raise ValueError(f"{run!r} has no recorded iterates: train with record_params=True")
    vals, vecs = spectrum.exact_curvature(problem, run.arrays["params"][: run.num_steps], k)
    arrays = {"sharpness": vals[:, 0], "eta_sharpness": run.eta * vals[:, 0], "top_eigenvalues": vals,
              "eigenvector": vecs}
    settings = run.settings.replace(sharpness_every=1, sharpness_method="exact (batched, after the run)", top_k=k)
    return run.replace(arrays=arrays, settings=settings)
