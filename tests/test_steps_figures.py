"""Gradient flow, the Armijo picture and their figures (:mod:`eostutor.experiments.flow`,
:mod:`eostutor.experiments.armijo`, :mod:`eostutor.plots.steps`), checked against references.

* The flow integrator against the exact flow of a quadratic, e^{−At} w₀, in float64: fourth order (halving
  dt divides the error by about 16), and its own error estimate close to the true error.
* GD with a small η against the flow on a nonlinear toy: ‖w_k − w(kη)‖ is of order η (halving η halves it):
  the flow is the limit the notebook says it is.
* On the reference network: GD's sharpness follows the flow's up to its edge 2/η and then stops near 2/η
  while the flow sharpens on; the distance to the flow grows after the edge.
* The Armijo picture replays exactly the search the NLS rule made during training (same accepted η at
  every step), its acceptance agrees with :func:`eostutor.stepsizes.sufficient_decrease`, and on a quadratic
  the monotone test passes exactly up to 2(1 − c)/a.
* NLS on the quadratic diag(1, 10): the 0.125/0.5 cycle whose sharp-direction factors multiply to 1.
* The figures: at most 900 px wide, no legend over the data, log axes with positive limits, gids that hold the
  data.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from test_figures import legend_cover, width_px

import eostutor as eos
from eostutor.experiments.armijo import armijo_picture
from eostutor.experiments.flow import gd_and_flow, gradient_flow
from eostutor.plots import find, steps
from eostutor.problems import Minimalist, Quadratic
from eostutor.stepsizes import sufficient_decrease


# --------------------------------------------------------------------------------------------------
# Gradient flow
# --------------------------------------------------------------------------------------------------
def test_flow_matches_the_exact_flow_of_a_quadratic_to_fourth_order():
    eigenvalues = np.array([1.0, 10.0])
    q = Quadratic(eigenvalues.tolist())
    w0 = np.array([1.0, -2.0])
    times = np.linspace(0.0, 2.0, 9)
    exact = np.exp(-np.outer(times, eigenvalues)) * w0
    errors = []
    for dt in (0.02, 0.01):
        flow = gradient_flow(q, 2.0, w0=w0, dt=dt, times=times, keep_params=True, check=False)
        assert np.allclose(flow.time, times)
        errors.append(np.abs(flow.params - exact).max())
        assert np.allclose(flow.loss, 0.5 * (flow.params**2 * eigenvalues).sum(axis=1), rtol=1e-12)
    assert errors[0] < 1e-4
    assert 12 < errors[0] / errors[1] < 20, f"RK4 should be fourth order: error ratio {errors[0] / errors[1]:.1f}"


def test_flow_error_estimate_is_close_to_the_true_error():
    q = Quadratic([1.0, 10.0])
    w0 = np.array([1.0, -2.0])
    flow = gradient_flow(q, 2.0, w0=w0, dt=0.02, times=[2.0], keep_params=True, check=True)
    exact = np.exp(-np.array([1.0, 10.0]) * flow.time[:, None]) * w0
    travelled = np.linalg.norm(exact - w0, axis=1).max()
    true = np.linalg.norm(flow.params - exact, axis=1).max() / travelled
    assert 0.5 * true < flow.error < 2.0 * true


def test_flow_sharpness_and_when_it_reaches_a_level():
    q = Quadratic([1.0, 10.0])
    flow = gradient_flow(q, 1.0, w0=[1.0, 1.0], dt=0.05, times=[0.5], sharpness_times=[0.0, 1.0], check=False)
    assert np.isnan(flow.sharpness[1]) and flow.sharpness[[0, 2]] == pytest.approx([10.0, 10.0])
    assert flow.sharpness_reaches(10.0) == 0.0 and math.isnan(flow.sharpness_reaches(11.0))


def test_flow_refuses_a_step_too_large_for_the_curvature():
    with pytest.raises(ValueError, match="blew up"):
        gradient_flow(Quadratic([1.0, 100.0]), 50.0, w0=[1.0, 1.0], dt=0.1, check=False)
    with pytest.raises(ValueError, match="t_end"):
        gradient_flow(Quadratic([1.0]), 1.0, w0=[1.0], times=[2.0])


def test_gd_with_small_steps_approaches_the_flow_at_rate_eta():
    # Euler's method (GD) has global error O(η): halving η halves the distance to the flow at the same time.
    problem = Minimalist()
    w0 = torch.tensor([2.0, 0.6], dtype=torch.float64)
    t_end = 2.0
    flow = gradient_flow(problem, t_end, w0=w0, dt=1e-3, times=[t_end], keep_params=True, check=False)
    distances = []
    for eta in (0.02, 0.01, 0.005):
        run = eos.train(problem, eta, int(round(t_end / eta)), w0=w0, record_params=True)
        distances.append(np.linalg.norm(run.params[-1] - flow.params[-1]))
    assert distances[0] < 0.05
    for a, b in zip(distances, distances[1:]):
        assert 1.8 < a / b < 2.2, distances


@functools.cache
def _comparison():
    # The reference network, as in notebook 04 but shorter: GD with η = 4 reaches its edge 2/η = 0.5 at
    # t ≈ 120 and leaves the flow at t ≈ 250.
    return gd_and_flow(etas=(4.0,), t_end=600.0)


def test_gd_follows_the_flow_until_its_edge_and_then_stops_there():
    cmp = _comparison()
    s = cmp.summary["GD, η = 4"]
    run = cmp.runs["GD, η = 4"]
    assert cmp.summary["flow"]["error"] < 1e-3
    assert s["edge_step"] is not None and s["edge_time"] == pytest.approx(4.0 * s["edge_step"])
    assert s["sharpness_gap_before_edge"] < 0.1  # GD's λ_max is the flow's, up to the edge
    assert abs(s["edge_time"] - s["flow_edge_time"]) <= 4.0 * 10  # within one measurement interval
    assert 0.95 < s["hover"] < 1.2  # then it stays near 2/η ...
    assert cmp.summary["flow"]["final_sharpness"] > 1.5 * 0.5  # ... while the flow's goes on rising
    assert s["final_distance"] > 2 * s["distance_at_edge"]  # and the iterates leave the flow's path
    assert s["distance_at_edge"] < 0.1
    measured = np.isfinite(run.flow_distance)
    assert measured.sum() == run.measured.sum()


# --------------------------------------------------------------------------------------------------
# The Armijo picture
# --------------------------------------------------------------------------------------------------
def test_armijo_picture_replays_the_nls_steps_of_a_training_run():
    problem = eos.experiments.reference_problem(n_train=200)
    run = eos.train(problem, eos.make_rule("nls"), 15, record_params=True, seed=0)
    for k in range(1, run.num_steps):
        pic = armijo_picture(problem, run.params[k], reference=run.reference[k], eta_start=run.eta[k - 1])
        assert pic.eta_accepted == run.eta[k], k
        assert len(pic.trials) == run.loss_evals[k] - 1, k  # every trial loss the rule paid for
        assert pic.f == pytest.approx(run.loss[k], rel=1e-6)


def test_armijo_acceptance_is_the_library_test_and_the_model_is_tangent():
    problem = eos.experiments.reference_problem(n_train=200)
    w = problem.init(1)
    pic = armijo_picture(problem, w, reference=problem.loss(w) * 1.2, eta_start=2.0)
    want = [sufficient_decrease(v, pic.reference, e, pic.grad_norm_sq, pic.c) for e, v in zip(pic.eta, pic.loss)]
    assert pic.accepts().tolist() == want
    assert (pic.loss <= pic.line() + 1e-15).tolist() == want
    for e, v, ok in pic.trials:
        assert ok == sufficient_decrease(v, pic.reference, e, pic.grad_norm_sq, pic.c)
    small = pic.eta <= pic.eta[5]  # near η = 0 the curve is its quadratic model up to O(η³)
    gap = np.abs(pic.loss - pic.model)[small]
    assert gap.max() <= 1e-3 * pic.f


def test_on_a_quadratic_the_monotone_test_passes_exactly_up_to_its_limit():
    q = Quadratic([1.0, 10.0])
    pic = armijo_picture(q, [1.0, 1.0], num=2001)
    accepted = pic.eta[pic.accepts(pic.f)]
    spacing = pic.eta[1] - pic.eta[0]
    assert accepted.max() <= pic.monotone_limit < accepted.max() + spacing
    g = np.array([1.0, 10.0])
    assert pic.curvature == pytest.approx(g @ (np.array([1.0, 10.0]) * g) / (g @ g))


# --------------------------------------------------------------------------------------------------
# NLS's cycle on the quadratic (notebook 05)
# --------------------------------------------------------------------------------------------------
def test_nls_locks_into_a_cycle_whose_sharp_factors_multiply_to_one():
    q = Quadratic([1.0, 10.0])
    nls = eos.train(q, eos.make_rule("nls"), 3000, record_params=True)
    gd = eos.train(q, 0.19, 3000)
    tail = nls.eta[-200:]
    assert set(np.round(tail, 12)) == {0.125, 0.5}
    assert np.all(tail[::2] != tail[1::2])  # alternating
    assert (1 - 10 * 0.125) * (1 - 10 * 0.5) == 1.0
    assert nls.loss[-1] > 1e-4 and gd.loss[-1] < 1e-100
    assert abs(nls.params[-1][1]) > 0.01 and abs(nls.params[-1][0]) < 1e-100  # stuck in the sharp direction only


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------
@functools.cache
def _figures():
    q = Quadratic([1.0, 10.0])
    nls = eos.train(q, eos.make_rule("nls"), 500, record_params=True, label="NLS")
    gd = eos.train(q, 0.19, 500, label="GD, η = 0.19")
    problem = eos.experiments.reference_problem(n_train=200)
    run = eos.train(problem, eos.make_rule("nls"), 12, record_params=True, seed=0)
    k = int(np.argmax(run.eta))
    pic = armijo_picture(problem, run.params[k], reference=run.reference[k], eta_start=run.eta[k - 1])
    return {
        "flow_comparison": steps.flow_comparison(_comparison())[0],
        "armijo": steps.armijo(pic).get_figure(root=True),
        "armijo-monotone": steps.armijo(armijo_picture(q, [1.0, 1.0])).get_figure(root=True),
        "cycle": steps.cycle([nls, gd], title="NLS locks into a cycle")[0],
    }, pic, nls


@pytest.mark.parametrize("name", ["flow_comparison", "armijo", "armijo-monotone", "cycle"])
def test_figures_fit_and_keep_legends_off_the_data(name):
    fig = _figures()[0][name]
    if not hasattr(fig.canvas, "get_renderer"):  # closed by conftest after an earlier test: a new Agg canvas
        FigureCanvasAgg(fig)
    assert width_px(fig) <= eos.plots.MAX_WIDTH_PX
    cover = legend_cover(fig)
    assert max(cover.values()) <= 0.01, cover
    for ax in fig.axes:
        for scale, lim in ((ax.get_xscale(), ax.get_xlim()), (ax.get_yscale(), ax.get_ylim())):
            if scale == "log":
                assert min(lim) > 0


def test_figure_artists_hold_the_data():
    figs, pic, nls = _figures()
    ax = figs["armijo"].axes[0]
    assert find(ax, "armijo:loss").get_ydata().tolist() == pic.loss.tolist()
    assert find(ax, "armijo:accepted").get_xdata().tolist() == [pic.eta_accepted]
    assert find(ax, "armijo:line").get_ydata() == pytest.approx(pic.line())
    cmp = _comparison()
    sharp_ax = figs["flow_comparison"].axes[0]
    run = cmp.runs["GD, η = 4"]
    line = find(sharp_ax, "flow_sharpness:line:0")
    assert line.get_xdata() == pytest.approx(run.step[run.measured] * 4.0)
    assert line.get_ydata() == pytest.approx(run.sharpness[run.measured])
    cyc = figs["cycle"].axes
    assert find(cyc[2], "iterates:line:0").get_ydata() == pytest.approx(nls.params[:, 1])


def test_projector_mode_keeps_the_width():
    fig, _ = steps.flow_comparison(_comparison(), projector=True)
    assert fig.dpi == eos.plots.PROJECTOR_DPI and width_px(fig) <= eos.plots.MAX_WIDTH_PX
