"""Automatic checks of the coding exercises: the learner's function against the library, on fixed cases.

Each check takes the learner's function, runs it on a few seeded cases and compares the result with what
the library computes (the course's reference implementation), within a tolerance. It returns
``(correct, feedback)``: feedback names the first case that differs and by how much, or the exception the
function raised, never the reference code. A coding exercise names its check in its TOML table
(``check = "gd_loop"``).

>>> import numpy as np
>>> CHECKS["gd_step"](lambda w, eta: w - eta * np.array([1.0, 10.0]) * w)
(True, 'Correct: your step w − ηAw matches on 3 cases.')
>>> CHECKS["gd_step"](lambda w, eta: w - eta * w)[1]
'at w = [1.0, 1.0], η = 0.1: your result [0.9, 0.9] differs from the expected [0.9, 0]'
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

import numpy as np
import torch

from eostutor.stepsizes.linesearch import sufficient_decrease

__all__ = ["CHECKS", "check_function"]

A = np.array([1.0, 10.0])  # the course's quadratic: f(w) = ½ wᵀ diag(1, 10) w


def _call(fn: Callable, *args):
    """Call the learner's function; an exception becomes feedback (its type, message and the line)."""
    try:
        return True, fn(*args)
    except Exception as exc:  # noqa: BLE001 - any error in the learner's code is feedback, not a crash
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (line {frames[-1].lineno}: {frames[-1].line})" if frames and frames[-1].line else ""
        return False, f"your function raised {type(exc).__name__}: {exc}{where}"


def _as_array(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


def _close(got, want, rtol: float, atol: float = 0.0) -> bool:
    got, want = _as_array(got), _as_array(want)
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))


def check_function(fn, cases, reference: Callable, *, rtol: float = 1e-6, atol: float = 0.0, what: str = "",
                   describe: Callable | None = None) -> tuple[bool, str]:
    """Run ``fn(*case)`` and ``reference(*case)`` on every case; compare within rtol/atol."""
    if not callable(fn):
        return False, f"pass your function itself (its name, without parentheses), not {type(fn).__name__}"
    for case in cases:
        ok, got = _call(fn, *case)
        if not ok:
            return False, got
        want = reference(*case)
        try:
            same = _close(got, want, rtol, atol)
        except (TypeError, ValueError):
            return False, f"your function returned {type(got).__name__}, expected numbers like {_short(want)}"
        if not same:
            shown = describe(*case) if describe else ""
            got_a, want_a = _as_array(got), _as_array(want)
            if got_a.shape != want_a.shape:
                return False, f"{shown}: your result has shape {got_a.shape}, expected {want_a.shape}"
            return False, f"{shown}: your result {_short(got)} differs from the expected {_short(want)}"
    return True, f"Correct: your {what} matches on {len(cases)} cases."


def _short(x) -> str:
    a = _as_array(x).ravel()
    if a.size <= 3:
        return "[" + ", ".join(f"{v:.6g}" for v in a) + "]" if a.size != 1 else f"{a[0]:.6g}"
    return f"[{a[0]:.6g}, {a[1]:.6g}, …, {a[-1]:.6g}] ({a.size} values)"


# -- 00: one gradient-descent step --------------------------------------------------------------------
def gd_step(fn):
    """``fn(w, eta)`` is one GD step on the quadratic: w − η A w."""
    cases = [(np.array([1.0, 1.0]), 0.1), (np.array([-0.5, 2.0]), 0.19), (np.array([3.0, -1.0]), 0.25)]
    return check_function(fn, cases, lambda w, eta: w - eta * A * w, rtol=1e-12, what="step w − ηAw",
                          describe=lambda w, eta: f"at w = {w.tolist()}, η = {eta}")


# -- 01: the loop ---------------------------------------------------------------------------------------
def gd_losses(fn):
    """``fn(eta, w0, n)`` returns the losses f(w_0), …, f(w_{n−1}) of n GD steps on the quadratic."""
    from eostutor.problems import Quadratic
    from eostutor.training import train

    q = Quadratic(A.tolist())

    def reference(eta, w0, n):
        return train(q, eta, n, w0=w0).loss

    cases = [(0.05, [1.0, 1.0], 20), (0.19, [1.0, 1.0], 30), (0.21, [0.5, -0.2], 25)]
    return check_function(fn, cases, reference, rtol=1e-9, atol=1e-300, what="losses",
                          describe=lambda eta, w0, n: f"with η = {eta}, w0 = {w0}, n = {n}")


# -- 02: the secant smoothness -------------------------------------------------------------------------
def smoothness_ratio(fn):
    """``fn(problem, w, s)`` is ‖∇f(w) − ∇f(w − s g)‖ / (s‖g‖) with g = ∇f(w)."""
    from eostutor.curvature import segment_smoothness
    from eostutor.problems import Minimalist, Quartic

    cases = [(Quartic(), torch.tensor([1.5], dtype=torch.float64), 0.1),
             (Minimalist(), torch.tensor([2.0, 0.6], dtype=torch.float64), 0.05),
             (Minimalist(), torch.tensor([2.0, 0.6], dtype=torch.float64), 0.5)]

    def reference(problem, w, s):
        return segment_smoothness(problem, w, [s]).smoothness[0]

    return check_function(fn, cases, reference, rtol=1e-8, what="smoothness ratio",
                          describe=lambda p, w, s: f"for {p!r} at w = {w.tolist()}, s = {s}")


# -- 03: power iteration from H·v -----------------------------------------------------------------------
def power_iteration(fn):
    """``fn(problem, w, num_iters)`` estimates λ_max(H(w)) by power iteration with ``eos.hvp``."""
    from eostutor.curvature import hessian
    from eostutor.problems import Minimalist, Quadratic

    cases = [(Quadratic([1.0, 10.0]), torch.tensor([1.0, 1.0], dtype=torch.float64), 200),
             (Minimalist(), torch.tensor([2.0, 0.6], dtype=torch.float64), 200),
             (Minimalist(), torch.tensor([1.2, 0.9], dtype=torch.float64), 200)]

    def reference(problem, w, _iters):
        return float(torch.linalg.eigvalsh(hessian(problem, w)).max())

    return check_function(fn, cases, reference, rtol=1e-3, what="top eigenvalue",
                          describe=lambda p, w, n: f"for {p!r} at w = {w.tolist()} ({n} iterations)")


# -- 04: where the edge begins ---------------------------------------------------------------------------
def first_edge_step(fn):
    """``fn(run)`` is the first measured step where η_k·λ_max ≥ 2 (None if never)."""
    from eostutor.record import Run

    def run_of(products, every=10):
        n = every * len(products)
        ratio = np.full(n, np.nan)
        ratio[::every] = products
        eta = np.full(n, 2.0)
        return Run({"loss": np.ones(n), "eta": eta, "sharpness": ratio / 2.0, "eta_sharpness": ratio})

    runs = [run_of([1.2, 1.6, 1.9, 2.01, 1.98]), run_of([0.5, 1.0, 1.5]), run_of([2.5, 2.0, 1.0])]

    def reference(run):
        m = np.isfinite(run.eta_sharpness) & (run.eta_sharpness >= 2.0)
        return int(run.step[m][0]) if m.any() else None

    for i, run in enumerate(runs):
        ok, got = _call(fn, run)
        if not ok:
            return False, got
        want = reference(run)
        if want is None and got is not None or want is not None and got != want:
            return False, (f"on test run {i + 1} (η·λ_max at steps 0, 10, 20, …: "
                           f"{run.eta_sharpness[np.isfinite(run.eta_sharpness)].tolist()}) you returned {got!r}, "
                           "expected the first such step" + (" or None when there is none" if want is None else ""))
    return True, f"Correct: your function finds the edge on {len(runs)} runs (and says None when it is never reached)."


# -- 05: the acceptance tests of Armijo and of the nonmonotone line search -------------------------------
def nls_accepts(fn):
    """``fn(recent_losses, f_trial, eta, grad_norm_sq, c)``: the nonmonotone test
    f_trial ≤ max(recent_losses) − c·η·‖g‖² (Armijo is the case of one recent loss).
    """

    def reference(recent, f_trial, eta, g2, c):  # the library's own test, with the largest recent loss as R
        return sufficient_decrease(f_trial, max(recent), eta, g2, c)

    cases = [([1.0], 0.9, 0.5, 0.1, 1e-4), ([1.0], 1.0, 0.5, 0.1, 1e-4), ([1.0, 1.3, 0.8], 1.2, 1.0, 0.5, 1e-4),
             ([1.0, 1.3, 0.8], 1.31, 1.0, 0.5, 1e-4), ([0.5, 0.4], 0.49, 2.0, 0.1, 0.1)]
    for case in cases:
        ok, got = _call(fn, *case)
        if not ok:
            return False, got
        if bool(got) != reference(*case):
            recent, f_trial, eta, g2, c = case
            return False, (f"with recent losses {recent}, f(trial) = {f_trial}, η = {eta}, ‖g‖² = {g2}, c = {c} "
                           f"you said {bool(got)}; compare f(trial) with the largest recent loss minus c·η·‖g‖²")
    return True, f"Correct: your test agrees on {len(cases)} cases, including ones Armijo would reject."


# -- 06: the loss of predicting the class prior ------------------------------------------------------------
def prior_loss(fn):
    """``fn(labels, num_classes)`` is the MSE of predicting the class frequencies for one-hot targets."""
    rng = np.random.default_rng(0)
    cases = [(np.repeat(np.arange(10), 50), 10), (rng.integers(0, 3, 90), 3), (np.array([0, 0, 0, 1]), 2)]

    def reference(labels, k):
        onehot = np.eye(k)[np.asarray(labels)]
        return float(((onehot - onehot.mean(axis=0)) ** 2).mean())

    return check_function(fn, cases, reference, rtol=1e-9, what="prior loss",
                          describe=lambda y, k: f"for {len(y)} labels of {k} classes")


# -- 07: dead ReLUs -----------------------------------------------------------------------------------------
def dead_fraction(fn):
    """``fn(problem, w)`` is the fraction of hidden ReLUs whose pre-activation is ≤ 0 on every input."""
    from eostutor.datasets import gaussian_clusters
    from eostutor.problems import MLPProblem

    net = MLPProblem(gaussian_clusters(num_classes=3, dim=2, n_train=40, n_test=6, seed=1), hidden=(8, 8),
                     activation="relu", loss="mse")
    w = net.init(0)
    killed = w.clone()  # the first hidden layer switched off: weights 0, biases −1 (half of all units dead)
    killed[net.layer_slices["layer0.weight"]] = 0.0
    killed[net.layer_slices["layer0.bias"]] = -1.0
    cases = [(net, w), (net, killed), (net, net.init(3))]
    return check_function(fn, cases, lambda p, w: p.dead_fraction(w), rtol=1e-12, what="dead fraction",
                          describe=lambda p, w: f"at one of the test points (true fraction {p.dead_fraction(w):.3g})")


# -- 08: the curvature a mini-batch step sees along its own gradient ---------------------------------------
def batch_curvature(fn):
    """``fn(problem, w, indices)`` is g_Bᵀ H_B g_B / ‖g_B‖² for the mini-batch ``indices`` (g_B and H_B: the
    gradient and Hessian of the loss over those examples only): one sample of the batch sharpness.
    """
    from eostutor.curvature import HessianOperator
    from eostutor.datasets import gaussian_clusters
    from eostutor.problems import MLPProblem

    net = MLPProblem(gaussian_clusters(num_classes=3, dim=2, n_train=40, n_test=6, seed=2), hidden=(6,),
                     activation="tanh", loss="mse")
    cases = [(net, net.init(0), [0, 5, 9, 13, 21, 30, 38, 39]), (net, net.init(1), [7, 8]),
             (net, net.init(2), list(range(40)))]

    def reference(problem, w, indices):
        op = HessianOperator(problem.on_batch(indices), w)
        return op.rayleigh(op.grad)

    return check_function(fn, cases, reference, rtol=1e-6, what="batch curvature",
                          describe=lambda p, w, idx: f"for a batch of {len(idx)} examples")


#: check name (the ``check`` field of a coding exercise) -> check function.
CHECKS: dict[str, Callable] = {
    "gd_step": gd_step, "gd_losses": gd_losses, "smoothness_ratio": smoothness_ratio,
    "power_iteration": power_iteration, "first_edge_step": first_edge_step, "nls_accepts": nls_accepts,
    "prior_loss": prior_loss, "dead_fraction": dead_fraction, "batch_curvature": batch_curvature,
}
