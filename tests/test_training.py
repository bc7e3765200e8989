"""The training loop and the Run record: the science asserted, plus determinism and error handling."""

import dataclasses
import math

import numpy as np
import pytest
import torch

import eostutor as eos
from eostutor.curvature import hessian
from eostutor.record import Run
from eostutor.stepsizes import Constant, make_rule, stability_threshold

SPECTRA = [(1.0, 10.0), (0.5, 2.0, 4.0), (3.0,), (0.1, 1.0, 7.0, 7.0)]


def _quadratic(spectrum, rotate=3):
    return eos.Quadratic(list(spectrum), rotate=rotate)


# -- §1: the 2/λ threshold -------------------------------------------------------------------------------
@pytest.mark.parametrize("spectrum", SPECTRA)
def test_constant_step_converges_below_and_diverges_above_two_over_lambda(spectrum):
    q = _quadratic(spectrum)
    edge = 2.0 / q.sharpness
    below = eos.train(q, 0.98 * edge, 3000)
    above = eos.train(q, 1.02 * edge, 3000)
    assert not below.diverged
    assert below.final_loss < 1e-10 * below.loss[0]
    assert above.diverged and above.diverged_at is not None
    # Recorded, not raised: the run stops where it blew up and keeps the steps before it.
    assert above.num_steps == above.diverged_at or above.num_steps == above.diverged_at + 1
    assert np.all(np.isfinite(above.loss[: above.diverged_at]))


def test_oscillation_between_one_and_two_over_lambda():
    """For 1/λ < η < 2/λ the sharp component flips sign every step (and still shrinks)."""
    q = eos.Quadratic([10.0])
    run = eos.train(q, 0.15, 30, w0=torch.tensor([1.0], dtype=torch.float64))
    signs = np.sign(run.params[:, 0])
    assert np.all(signs[1:] == -signs[:-1])
    assert abs(run.params[-1, 0]) < abs(run.params[0, 0])


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_momentum_moves_the_threshold(beta, nesterov):
    q = eos.Quadratic([1.0, 10.0], rotate=1)
    # the largest stable step: stability_threshold(eta) = λ_max  <=>  eta = stability_threshold(1) / λ_max
    edge = stability_threshold(1.0, momentum=beta, nesterov=nesterov) / q.sharpness
    if nesterov:
        assert math.isclose(edge, (2 + 2 * beta) / ((1 + 2 * beta) * q.sharpness))
    else:
        assert math.isclose(edge, 2 * (1 + beta) / q.sharpness)
    below = eos.train(q, 0.97 * edge, 6000, momentum=beta, nesterov=nesterov)
    above = eos.train(q, 1.03 * edge, 6000, momentum=beta, nesterov=nesterov)
    assert not below.diverged and below.final_loss < 1e-6 * below.loss[0]
    assert above.diverged
    # ... and plain GD at the same step size diverges: momentum really moved the edge (only for heavy ball,
    # whose edge lies above 2/λ).
    if not nesterov:
        assert eos.train(q, 0.97 * edge, 3000).diverged


# -- §2: the Edge of Stability on the reference network ----------------------------------------------------
@pytest.mark.slow
def test_edge_of_stability_on_the_reference_mlp():
    problem = eos.MLPProblem(eos.digits(n_train=1000), hidden=(32, 32), activation="tanh", loss="mse")
    eta = 2.0
    run = eos.train(problem, eta, 2000, sharpness_every=10)
    s = run.summary()
    assert not run.diverged
    assert run.sharpness[0] < 0.8 * 2 / eta  # starts well below the edge ...
    assert s["first_step_at_edge"] is not None and s["first_step_at_edge"] < 600  # ... reaches it ...
    assert 0.9 <= s["median_ratio_last_third"] <= 1.15  # ... and hovers there
    assert s["loss_increases"] > 20  # non-monotone
    assert s["final_loss"] < 0.1 * s["initial_loss"]  # yet trains


# -- §5: adaptive rules --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_mlp():
    return eos.MLPProblem(eos.digits(n_train=300), hidden=(16, 16), activation="tanh", loss="mse")


def test_nls_keeps_eta_times_sharpness_high_from_the_start(small_mlp):
    run = eos.train(small_mlp, make_rule("nls"), 300, sharpness_every=3)
    s = run.summary()
    es = run.eta_sharpness[run.measured]
    c = 1e-4
    assert np.mean(es >= 1 - c) >= 0.95
    assert np.mean(es > 2) > 0.5
    assert np.all(es[:5] >= 1 - c)  # from the first steps
    assert s["loss_increases"] > 0  # non-monotone by design
    assert s["final_loss"] < 0.2 * s["initial_loss"]


def test_nls_ub_never_exceeds_its_cap(small_mlp):
    run = eos.train(small_mlp, make_rule("nls-ub"), 200)
    assert np.all(run.eta < 10)  # K = 10
    capped = eos.train(small_mlp, make_rule("nls-ub", cap=3.0), 200)
    assert np.all(capped.eta < 3.0)


def test_cdat_sits_at_sigma_along_the_gradient():
    q = eos.Quadratic([0.5, 3.0, 8.0], rotate=2)
    run = eos.train(q, make_rule("cdat"), 50)
    a = q.matrix
    for k in range(run.num_steps):
        w = torch.tensor(run.params[k])
        g = a @ w
        rayleigh = float(g @ a @ g) / float(g @ g)
        assert math.isclose(run.eta[k] * rayleigh, 2.06, rel_tol=1e-9)
    assert run.hvps[0] >= 1  # CDAT pays one HVP per step


@pytest.mark.parametrize("name", ["adgd", "polyak"])
def test_adgd_and_polyak_converge_on_convex_toys(name):
    q = eos.Quadratic([0.5, 2.0, 10.0], rotate=4)
    run = eos.train(q, make_rule(name), 2000)
    assert not run.diverged
    assert run.final_loss < 1e-8 * run.loss[0]


def test_armijo_is_monotone_and_ponls_decreases(small_mlp):
    ls = eos.train(small_mlp, make_rule("ls"), 100)
    assert np.all(np.diff(ls.loss) <= 0)
    po = eos.train(small_mlp, make_rule("ponls"), 100)
    assert po.final_loss < 0.5 * po.loss[0]
    # every nonmonotone step satisfied f(w_k+1) <= R_k - c η ||g||^2 with R_k the recorded reference
    nxt = np.append(po.loss[1:], po.final_loss)
    assert np.all(nxt <= po.reference - 1e-4 * po.eta * po.grad_norm**2 + 1e-12)


# -- what the loop records ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["auto", "lanczos", "power"])
def test_tracked_sharpness_matches_the_dense_hessian(method):
    data = eos.gaussian_clusters(num_classes=3, dim=4, n_train=60, n_test=20)
    problem = eos.MLPProblem(data, hidden=(6,), activation="tanh")
    run = eos.train(problem, 0.5, 30, sharpness_every=5, sharpness_tol=1e-6, record_params=True, top_k=2,
                    sharpness_method=method)
    for k in np.flatnonzero(run.measured):
        w = torch.tensor(run.params[k])
        exact = torch.linalg.eigvalsh(hessian(problem, w)).numpy()[::-1]
        assert math.isclose(run.sharpness[k], exact[0], rel_tol=1e-5)
        assert np.allclose(run.top_eigenvalues[k], exact[:2], rtol=1e-5)
        assert math.isclose(run.eta_sharpness[k], 0.5 * exact[0], rel_tol=1e-5)


def test_tracked_sharpness_survives_a_swap_of_the_top_eigenvectors():
    """On a quartic the Hessian is diagonal: after one step the old top eigenvector (e_0) is still an exact
    eigenvector, of what is now the *second* eigenvalue. The tracked sharpness must be the largest one."""
    q = eos.Quartic(dim=400)
    w0 = torch.zeros(400, dtype=torch.float64)
    w0[0], w0[1] = 1.0, 0.9
    run = eos.train(q, 0.5, 3, w0=w0, sharpness_every=1, record_params=True)
    exact = [3 * float(np.max(run.params[k] ** 2)) for k in range(3)]
    np.testing.assert_allclose(run.sharpness, exact, rtol=1e-9)
    assert run.sharpness[1] == pytest.approx(3 * (0.9 - 0.5 * 0.9**3) ** 2)  # coordinate 1 now leads


def test_a_run_started_next_to_a_minimum_is_not_called_diverged():
    """f(w_0) ≈ 4e-14: the loss then rises to ~1e-2 while GD settles at the edge; that is not divergence."""
    run = eos.train(eos.Minimalist(), 0.25, 300, w0=torch.tensor([2.0, 0.5 + 1e-7], dtype=torch.float64))
    assert not run.diverged and run.final_loss < 1e-3


def test_network_metrics_are_recorded(small_mlp):
    run = eos.train(small_mlp, 0.5, 20, evaluate_every=5)
    assert np.isfinite(run.test_accuracy[::5]).all() and np.isnan(run.test_accuracy[1])
    assert np.isfinite(run.test_accuracy[-1])  # the last step is always evaluated
    g = small_mlp.grad(small_mlp.init(0))
    norms = small_mlp.layer_grad_norms(g)
    assert math.isclose(run.grad_norm_hidden[0], norms["hidden"], rel_tol=1e-12)
    assert math.isclose(run.grad_norm_last_bias[0], norms["last_bias"], rel_tol=1e-12)
    relu = eos.MLPProblem(eos.digits(n_train=100), hidden=(8,), activation="relu")
    assert np.isfinite(eos.train(relu, 0.1, 3).dead_fraction[0])


class _CountingQuadratic(eos.Quadratic):
    """A quadratic that counts its trial-point loss evaluations (training gets f(w_k) from loss_and_grad)."""

    calls = 0

    def loss(self, w):
        type(self).calls += 1
        return super().loss(w)


@pytest.mark.parametrize("name", ["nls", "ls", "ponls", "nls-ub"])
def test_line_search_costs_are_counted(name):
    q = _CountingQuadratic([1.0, 10.0], rotate=2)
    _CountingQuadratic.calls = 0
    run = eos.train(q, make_rule(name, **({"cap": 10.0} if name == "nls-ub" else {})), 20)
    # loss_evals counts f(w_k) plus every trial point; train() evaluates the final loss once more.
    assert _CountingQuadratic.calls == int(np.sum(run.loss_evals - 1)) + 1
    assert np.all(run.loss_evals >= 2)  # at least one trial point per step
    assert np.all(run.backtracks <= run.loss_evals - 1)
    assert np.all(eos.train(q, 0.1, 5).loss_evals == 1)


def test_same_seed_same_run_and_different_seed_different_run(small_mlp):
    a = eos.train(small_mlp, make_rule("nls"), 30, seed=3, sharpness_every=5)
    b = eos.train(small_mlp, make_rule("nls"), 30, seed=3, sharpness_every=5)
    c = eos.train(small_mlp, make_rule("nls"), 30, seed=4, sharpness_every=5)
    for name in ("loss", "eta", "sharpness", "test_accuracy"):
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name])
    assert not np.array_equal(a.loss, c.loss)


def test_callback_streams_and_should_stop_interrupts():
    q = eos.Quadratic([1.0, 10.0])
    seen = []
    run = eos.train(q, 0.1, 50, callback=lambda r: seen.append(r.num_steps), callback_every=10)
    assert seen == [10, 20, 30, 40, 50] and run.num_steps == 50
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 7

    part = eos.train(q, 0.1, 50, should_stop=stop)
    assert part.interrupted and part.num_steps == 7 and not part.diverged


def test_ctrl_c_returns_the_partial_run():
    q = eos.Quadratic([1.0, 10.0])

    def interrupt(run):
        if run.num_steps >= 20:
            raise KeyboardInterrupt

    run = eos.train(q, 0.1, 100, callback=interrupt, callback_every=10)
    assert run.interrupted and run.num_steps == 20
    assert np.all(np.isfinite(run.eta))


# -- the Run record -------------------------------------------------------------------------------------------
def test_save_load_round_trip_is_exact(tmp_path, small_mlp):
    run = eos.train(small_mlp, make_rule("nls"), 20, sharpness_every=5, top_k=2)
    path = run.save(tmp_path / "nls")
    assert path.suffix == ".npz"
    back = Run.load(path)
    assert set(back.arrays) == set(run.arrays)
    for name, values in run.arrays.items():
        np.testing.assert_array_equal(back.arrays[name], values)
    np.testing.assert_array_equal(back.final_params, run.final_params)
    assert back.settings == run.settings
    assert back.summary() == pytest.approx(run.summary(), nan_ok=True)
    assert (back.label, back.diverged, back.final_loss) == (run.label, run.diverged, run.final_loss)
    assert back.settings.sharpness_floor == pytest.approx(0.2)


def test_settings_with_nan_round_trip(tmp_path):
    run = eos.train(eos.Quadratic([1.0, 10.0]), 0.1, 5)
    assert math.isnan(run.settings.prior_loss)  # a toy has no prior loss
    back = Run.load(run.save(tmp_path / "q"))
    assert math.isnan(back.settings.prior_loss)
    assert {k: v for k, v in back.settings.to_dict().items() if k != "prior_loss"} == {
        k: v for k, v in run.settings.to_dict().items() if k != "prior_loss"}


def test_diverged_run_round_trips(tmp_path):
    run = eos.train(eos.Quadratic([10.0]), 0.3, 500)
    back = Run.load(run.save(tmp_path / "div.npz"))
    assert back.diverged and back.diverged_at == run.diverged_at and math.isnan(back.final_loss)


def test_loading_a_corrupt_or_foreign_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable eostutor run file"):
        Run.load(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.arange(3))
    with pytest.raises(ValueError, match="not a readable eostutor run file"):
        Run.load(foreign)
    with pytest.raises(ValueError, match="no run file"):
        Run.load(tmp_path / "missing.npz")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"format": "eostutor.Run"}], dtype=object))
    with pytest.raises(ValueError):
        Run.load(pickled)  # object arrays need pickle: refused


def test_summary_reports_the_headline_numbers():
    q = eos.Quadratic([1.0, 10.0])
    s = eos.train(q, 0.15, 100, sharpness_every=1).summary()
    assert s["frac_eta_sharpness_ge_1mc"] == 1.0 and s["frac_eta_sharpness_gt_2"] == 0.0
    assert s["median_ratio_last_third"] == pytest.approx(0.75)
    assert s["first_step_at_edge"] is None
    assert s["num_steps"] == 100 and not s["diverged"]


# -- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rule": -0.1}, "eta"),
        ({"rule": 0.0}, "eta"),
        ({"rule": float("nan")}, "eta"),
        ({"rule": float("inf")}, "eta"),
        ({"rule": "nls"}, "rule"),
        ({"num_steps": 0}, "num_steps"),
        ({"num_steps": 2.5}, "num_steps"),
        ({"sharpness_every": -1}, "sharpness_every"),
        ({"sharpness_tol": 0.0}, "sharpness_tol"),
        ({"sharpness_method": "qr"}, "sharpness_method"),
        ({"top_k": 0}, "top_k"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": -0.1}, "momentum"),
        ({"nesterov": True}, "nesterov"),
        ({"seed": -1}, "seed"),
        ({"divergence_factor": 1.0}, "divergence_factor"),
        ({"momentum": 0.5, "nesterov": "no"}, "nesterov"),
        ({"record_params": "x"}, "record_params"),
        ({"callback": 3}, "callback"),
        ({"should_stop": "yes"}, "should_stop"),
        ({"w0": torch.zeros(3, dtype=torch.float64)}, "w0"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_the_value(kwargs, match):
    q = eos.Quadratic([1.0, 10.0])
    args = {"rule": 0.1, "num_steps": 10}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        eos.train(q, args.pop("rule"), args.pop("num_steps"), **args)


def test_momentum_with_a_line_search_is_refused():
    with pytest.raises(ValueError, match="momentum"):
        eos.train(eos.Quadratic([1.0]), make_rule("nls"), 10, momentum=0.9)


def test_unknown_rule_names_list_the_choices():
    with pytest.raises(ValueError, match="nls-ub"):
        make_rule("nlsub")
    with pytest.raises(ValueError, match="capp"):
        make_rule("nls-ub", capp=3)


def test_constant_accepts_a_plain_number():
    run = eos.train(eos.Quadratic([1.0]), 0.5, 3)
    assert run.settings.rule == "constant" and run.label == "GD, η = 0.5"
    assert dict(run.settings.rule_params) == {"eta": 0.5}
    assert Constant(0.5).params() == run.settings.rule_params


# -- issue 15: nothing lost, nothing confusing (tests added for the loop's error handling) -----------------
class _Boom(RuntimeError):
    pass


def test_a_failing_callback_keeps_the_partial_run_on_the_exception():
    q = eos.Quadratic([1.0, 10.0])

    def callback(run):
        if run.num_steps >= 30:
            raise _Boom("plotting failed")

    with pytest.raises(_Boom, match="plotting failed") as info:
        eos.train(q, 0.1, 100, callback=callback, callback_every=10)
    run = info.value.run
    assert isinstance(run, Run) and run.num_steps == 30
    np.testing.assert_array_equal(run.eta, np.full(30, 0.1))
    assert np.all(np.diff(run.loss) < 0) and math.isfinite(run.final_loss)


def test_a_failing_should_stop_keeps_the_partial_run_on_the_exception():
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        if calls["n"] > 12:
            raise _Boom("the widget went away")
        return False

    with pytest.raises(_Boom) as info:
        eos.train(eos.Quadratic([1.0, 10.0]), 0.1, 100, should_stop=should_stop)
    assert info.value.run.num_steps == 12


def test_a_failing_final_callback_keeps_the_whole_run():
    def callback(run):
        if run.num_steps == 20:
            raise _Boom("at the end")

    with pytest.raises(_Boom) as info:
        eos.train(eos.Quadratic([1.0]), 0.1, 20, callback=callback, callback_every=50)
    assert info.value.run.num_steps == 20 and not info.value.run.interrupted


def test_callbacks_receive_snapshots_not_views_of_the_live_buffers():
    seen = []
    final = eos.train(eos.Quadratic([1.0, 10.0]), 0.1, 40, sharpness_every=1, callback=seen.append,
                      callback_every=10)
    first = seen[0]
    assert first.num_steps == 10
    for name, values in first.arrays.items():
        assert not values.flags.writeable, name
        rows = 10 if name == "params" else len(values)  # the last iterate: see the test below
        np.testing.assert_array_equal(values[:rows], final.arrays[name][:rows])
    # Later steps wrote into the loop's buffers; the snapshot handed out at step 10 did not change.
    assert len(first.loss) == 10 and not np.shares_memory(first.loss, final.loss)


def test_a_snapshot_holds_the_iterate_it_stopped_at():
    seen = []
    final = eos.train(eos.Quadratic([1.0, 10.0]), 0.1, 40, callback=seen.append, callback_every=10)
    np.testing.assert_array_equal(seen[0].arrays["params"], final.arrays["params"][:11])


def test_a_non_finite_hessian_is_recorded_as_nan_with_a_note_not_raised():
    run = eos.train(eos.HolderPower(nu=0.5), 1.0, 5, w0=[1.0], sharpness_every=1)
    assert run.num_steps == 5 and not run.diverged
    assert math.isfinite(run.sharpness[0])  # at w0 = 1 the Hessian is finite
    assert np.isnan(run.sharpness[1:]).all()  # GD lands on 0, where |w|^(-1/2) is not
    assert len(run.notes) == 4 and all("sharpness not measured" in note for note in run.notes)


class _BrokenRule(Constant):
    """A rule whose update returns ``bad_eta`` whatever it was built with (for tests)."""

    name = "broken-test-rule"

    def update(self, ctx, state):
        info, state = super().update(ctx, state)
        return dataclasses.replace(info, eta=self.bad_eta), state


@pytest.mark.parametrize("eta", [-0.1, math.nan, math.inf])
def test_a_rule_returning_a_negative_or_non_finite_eta_is_refused(eta):
    rule = _BrokenRule(0.1)
    rule.bad_eta = eta
    with pytest.raises(ValueError, match=r"returned the step size eta=.* at step 0; a rule must return a finite"):
        eos.train(eos.Quadratic([1.0]), rule, 10)


def test_absurd_num_steps_and_seed_are_value_errors_naming_them():
    q = eos.Quadratic([1.0])
    with pytest.raises(ValueError, match=r"num_steps must be an integer in \[1, 10000000\], got 1000000000000"):
        eos.train(q, 0.1, 10**12)  # refused before allocating 19 arrays of 10^12 entries
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 9223372036854775807\], got 11805916"):
        eos.train(q, 0.1, 10, seed=2**70)
    with pytest.raises(ValueError, match="seed"):
        q.init(seed=2**70)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA")
def test_cuda_on_a_cpu_build_is_a_value_error():
    with pytest.raises(ValueError, match=r"device='cuda' asked for CUDA, but this PyTorch build has no CUDA"):
        eos.Quadratic([1.0, 2.0], device="cuda")


def test_summary_min_loss_includes_the_final_loss():
    run = eos.train(eos.Quadratic([1.0, 10.0]), 0.1, 30)  # monotone: the final loss is the smallest
    s = run.summary()
    assert s["final_loss"] == run.final_loss < run.loss.min()
    assert s["min_loss"] == s["final_loss"]
