"""The Flatland signature in the shipped experiment, fast mode, featured seed.

NLS: sharpness pinned within 5% of 2/K for a sustained stretch, loss at (K−1)/K² there, hidden-layer
gradients collapsed. NLS-ub from the same initialisation: sharpness above the floor, ≥ 10x lower final
training loss, higher test accuracy.
"""

import math

import numpy as np
import pytest

from eostutor.experiments import EXPERIMENTS, FLATLAND_RULES, flatland, flatland_signature
from eostutor.record import Run
from eostutor.stepsizes import LineSearch, NLSUpperBounded, StepContext, make_rule


@pytest.fixture(scope="module")
def experiment():
    return flatland(fast=True)


def test_flatland_is_registered():
    assert EXPERIMENTS["flatland"][0] is flatland


def test_nls_is_stuck_at_the_floor(experiment):
    floor, prior = experiment.problem.sharpness_floor, experiment.problem.prior_loss
    assert floor == pytest.approx(0.2) and prior == pytest.approx(0.09)
    run = experiment.runs["NLS"]
    sig = flatland_signature(run)
    assert sig["flatland"]
    assert sig["steps_in_flatland"] >= 500  # a sustained stretch, not a visit
    # sharpness within 5% of 2/K at the measured steps of the second half
    s = run.sharpness[len(run.sharpness) // 2:]
    s = s[np.isfinite(s)]
    assert np.all(np.abs(s / floor - 1) <= 0.05)
    # loss near (K-1)/K^2 there, and test accuracy at chance
    assert abs(sig["plateau_loss"] / prior - 1) <= 0.05
    assert sig["final_test_accuracy"] < 0.2
    # hidden-layer gradients collapsed by orders of magnitude while the last-layer bias still learns
    assert run.grad_norm_hidden[-1] < 1e-6 * run.grad_norm_hidden[0]
    assert sig["hidden_bias_ratio"] < 1e-3


def test_nls_ub_escapes_from_the_same_init(experiment):
    floor = experiment.problem.sharpness_floor
    nls, ub = experiment.runs["NLS"], experiment.runs["NLS-ub"]
    assert nls.settings.seed == ub.settings.seed
    sig = flatland_signature(ub)
    assert not sig["flatland"]
    s = ub.sharpness[np.isfinite(ub.sharpness)][1:]
    assert np.median(s) > 1.2 * floor and np.all(s > floor * 1.05)
    assert ub.final_loss * 10 <= nls.final_loss
    assert flatland_signature(ub)["final_test_accuracy"] > flatland_signature(nls)["final_test_accuracy"] + 0.5
    assert ub.grad_norm_hidden[-1] > 1e-2 * ub.grad_norm_hidden[0]


def test_summary_and_saved_runs(experiment, tmp_path):
    summary = experiment.summary
    assert summary["featured"] == ["NLS", "NLS-ub"]
    assert summary["rules"]["NLS"]["seeds_flatland"] == "1 of 1"
    assert summary["rules"]["NLS-ub"]["seeds_flatland"] == "0 of 1"
    # top eigenvalues at the chosen iterations, both ends of the spectrum; in Flatland the top K sit at 2/K
    nls = experiment.runs["NLS"]
    last = nls.arrays["eig_values"][-1]
    k = experiment.problem.num_classes
    assert np.allclose(last[:k], experiment.problem.sharpness_floor, rtol=1e-3)
    paths = experiment.save(tmp_path)
    loaded = Run.load(tmp_path / "NLS.npz")
    assert loaded.settings.sharpness_floor == pytest.approx(0.2)
    assert loaded.arrays["eig_values"].shape == nls.arrays["eig_values"].shape
    assert any(p.name == "summary.json" for p in paths)


def test_flatland_rule_ablations():
    cap_only, once_only = make_rule("nls-cap-only"), make_rule("nls-once-only")
    ctx = StepContext(step=0, params=None, loss=1.0, grad=None, grad_norm_sq=1.0, loss_at=None, hvp=None,
                      num_classes=10)
    assert isinstance(cap_only, LineSearch) and cap_only._resolve_cap(ctx) == 10 and cap_only.doubling == "unlimited"
    assert once_only.cap is None and once_only.doubling == "once" and once_only._resolve_cap(ctx) == float("inf")
    assert isinstance(make_rule("nls-ub"), NLSUpperBounded) and make_rule("nls-ub")._resolve_cap(ctx) == 10
    assert len(FLATLAND_RULES) == 9
    with pytest.raises(ValueError, match="nls-ub"):
        make_rule("nls_ub")


def test_signature_on_a_synthetic_run():
    n = 300
    s = np.full(n, np.nan)
    s[::10] = 0.2
    hidden = np.r_[1.0, np.zeros(n - 1)]
    run = Run({"loss": np.full(n, 0.09), "sharpness": s, "grad_norm_hidden": hidden,
               "grad_norm_last_bias": np.full(n, 0.1)},
              {"sharpness_floor": 0.2, "prior_loss": 0.09, "sharpness_every": 10})
    sig = flatland_signature(run)
    assert sig["flatland"] and sig["first_flat_step"] == 10 and sig["steps_in_flatland"] == 290
    # a short visit (< 100 steps) does not count
    s2 = s.copy()
    s2[100:] = np.where(np.isfinite(s2[100:]), 0.5, np.nan)
    run2 = Run({"loss": np.full(n, 0.09), "sharpness": s2, "grad_norm_hidden": hidden,
                "grad_norm_last_bias": np.full(n, 0.1)}, run.settings)
    assert not flatland_signature(run2)["flatland"]
    assert flatland_signature(run2)["steps_near_floor"] == 100
    assert math.isnan(flatland_signature(run2)["plateau_loss"])
    with pytest.raises(ValueError, match="sharpness_every"):
        flatland_signature(Run({"loss": np.ones(3)}, {"sharpness_floor": 0.2, "prior_loss": 0.09}))
