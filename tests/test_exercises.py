"""The exercise kinds: coding checks accept a right solution written from scratch and reject a wrong one
with useful feedback; explain-in-words answers get a model answer, not a grade; plot-reading answers are
graded like numbers or choices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import eostutor as eos
from eostutor.exercises import check as check_answer
from eostutor.exercises import checks, explained

A = np.array([1.0, 10.0])


# Right solutions, written the way a learner would (no library shortcuts where the exercise is the point).
def gd_step(w, eta):
    return w - eta * A * w


def gd_losses(eta, w0, n):
    w = np.array(w0, dtype=float)
    out = []
    for _ in range(n):
        out.append(0.5 * np.sum(A * w * w))
        w = w - eta * A * w
    return out


def smoothness_ratio(problem, w, s):
    _, g = problem.loss_and_grad(w)
    _, g2 = problem.loss_and_grad(w - s * g)
    return float(torch.linalg.norm(g - g2) / (s * torch.linalg.norm(g)))


def power_iteration(problem, w, num_iters):
    v = torch.ones(problem.dim, dtype=torch.float64)
    v = v / v.norm()
    lam = 0.0
    for _ in range(num_iters):
        hv = eos.hvp(problem, w, v)
        lam = float(v @ hv)
        v = hv / hv.norm()
    return lam


def first_edge_step(run):
    for k, product in zip(run.step, run.eta_sharpness):
        if np.isfinite(product) and product >= 2:
            return int(k)
    return None


def nls_accepts(recent_losses, f_trial, eta, grad_norm_sq, c):
    return f_trial <= max(recent_losses) - c * eta * grad_norm_sq


def prior_loss(labels, num_classes):
    onehot = np.eye(num_classes)[labels]
    return np.mean((onehot - onehot.mean(axis=0)) ** 2)


def dead_fraction(problem, w):
    dead = [(z <= 0).all(dim=0) for z in problem.preactivations(w)]
    return torch.cat(dead).double().mean().item()


def batch_curvature(problem, w, indices):
    batch = problem.on_batch(indices)
    g = batch.grad(w)
    return float(g @ eos.hvp(batch, w, g)) / float(g @ g)


def full_batch_curvature(problem, w, indices):  # a typical mistake: the full batch's gradient and Hessian
    g = problem.grad(w)
    return float(g @ eos.hvp(problem, w, g)) / float(g @ g)


RIGHT = {"gd_step": gd_step, "gd_losses": gd_losses, "smoothness_ratio": smoothness_ratio,
         "power_iteration": power_iteration, "first_edge_step": first_edge_step, "nls_accepts": nls_accepts,
         "prior_loss": prior_loss, "dead_fraction": dead_fraction, "batch_curvature": batch_curvature}

# Typical mistakes, one per check.
WRONG = {
    "gd_step": lambda w, eta: w - eta * w,                                   # forgot A
    "gd_losses": lambda eta, w0, n: gd_losses(eta, w0, n + 1)[1:],           # off by one
    "smoothness_ratio": lambda p, w, s: smoothness_ratio(p, w, s) * s,       # forgot to divide by s
    "power_iteration": lambda p, w, n: power_iteration(p, w, 1),             # one iteration is not enough
    "first_edge_step": lambda run: int(np.nanargmax(run.eta_sharpness)),     # the peak, not the first crossing
    "nls_accepts": lambda recent, f, eta, g2, c: f <= recent[-1] - c * eta * g2,   # Armijo, not nonmonotone
    "prior_loss": lambda labels, k: (k - 1) / k**2,                          # the balanced formula everywhere
    "dead_fraction": lambda p, w: torch.cat([(z <= 0).any(dim=0) for z in p.preactivations(w)]).double().mean(),
    # ^ dead on some input, not on every input
    "batch_curvature": full_batch_curvature,
}


@pytest.mark.parametrize("name", sorted(checks.CHECKS))
def test_a_right_solution_passes_and_a_typical_mistake_fails(name):
    ok, message = checks.CHECKS[name](RIGHT[name])
    assert ok, f"{name}: a right solution was rejected: {message}"
    ok, message = checks.CHECKS[name](WRONG[name])
    assert not ok and message, f"{name}: a wrong solution passed"


def test_code_feedback_names_the_error_and_not_the_answer():
    def broken(w, eta):
        return w - eta * undefined_name  # noqa: F821

    ok, message = checks.CHECKS["gd_step"](broken)
    assert not ok and "NameError" in message and "undefined_name" in message
    ok, message = checks.CHECKS["gd_step"](gd_step(np.ones(2), 0.1))  # called it instead of passing it
    assert not ok and "without parentheses" in message


def test_explain_answers_are_compared_not_graded():
    grade = explained("GD overshoots along the top direction.", ["overshoot", "2/η|2 / eta"])
    assert grade("short")[0] is False
    written, text = grade("Each step jumps past the minimum along the sharpest direction and comes back")
    assert written and "overshoots" in text and "overshoot; 2/η" in text
    written, text = grade("It overshoots when the sharpness exceeds 2/η, so the sharp direction grows")
    assert written and "does not name" not in text


def test_choice_and_plot_answers_accept_the_usual_spellings():
    entries = {e["id"]: e for e in eos.exercises.catalog()}
    choice_id = next(i for i, e in entries.items() if e["kind"] == "choice")
    ex = eos.exercises.EXERCISES[choice_id]
    right = next(letter for letter in "abcd" if ex.grader(letter)[0])
    for spelling in (right, right.upper(), f"({right})", f"{right})"):
        assert check_answer(choice_id, spelling).correct, spelling
    ex.attempts = 0


def test_catalog_lists_every_exercise_with_its_kind():
    entries = eos.exercises.catalog()
    assert {"id", "notebook", "kind"} <= set(entries[0])
    assert all(e["kind"] in eos.exercises.KINDS for e in entries)
    assert all(e["id"].startswith(e["notebook"] + ".") for e in entries)
