"""The closed-form theory of notebooks 01 and 03 (eostutor.experiments.theory) against slow exact references,
and its figures (eostutor.plots.theory) against the course's visual conventions.

* GD's rate max|1 − ηλ| against the contraction measured on GD runs (``eos.train``), also on a rotated
  quadratic; the best step 2/(λ_min + λ_max) against a grid search.
* Momentum's rate (closed-form roots) against the spectral radius of the 2×2 iteration matrix written from
  the update rule, and its edge against runs that diverge or not on either side of it; the best heavy ball
  against a grid search.
* The self-stabilization map against a plain re-implementation, one arc for α = 0, loops around the
  equilibrium for α > 0.
* Figures: at most 900 px wide, legends off the data, the drawn data equal to the computed data, redrawn
  in place.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_figures import MAX_LEGEND_COVER, legend_cover, width_px

from eostutor import plots
from eostutor.experiments import theory
from eostutor.plots import find
from eostutor.plots import theory as theory_plots
from eostutor.problems import Quadratic
from eostutor.stepsizes import stability_threshold
from eostutor.training import train


# --------------------------------------------------------------------------------------------------
# GD's rate on a quadratic
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("eigenvalues", [(1.0, 10.0), (0.5, 4.0, 25.0)])
@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.7, 0.95, 1.0, 1.1])
def test_gd_rate_is_the_contraction_measured_on_gd_runs(eigenvalues, fraction):
    eta = fraction * 2.0 / max(eigenvalues)
    predicted = float(theory.gd_rate(eta, eigenvalues))
    for rotate in (False, 3):  # the rate depends on the spectrum only, not on the eigenvectors
        q = Quadratic(list(eigenvalues), rotate=rotate)
        measured = theory.measured_rate(train(q, eta, 400, w0=np.ones(len(eigenvalues)).tolist()))
        # the slowest direction dominates after 200 steps, except where two directions tie (then exactly)
        assert measured == pytest.approx(predicted, rel=2e-3), (eigenvalues, eta, rotate)


def test_a_diverging_run_measures_a_rate_above_one():
    run = train(Quadratic([1.0, 10.0]), 0.23, 400, w0=[1.0, 1.0])
    assert run.diverged
    assert theory.measured_rate(run) == pytest.approx(1.3, rel=1e-6)


def test_best_step_size_and_rate_against_a_grid_search():
    for eigenvalues in [(1.0, 10.0), (2.0, 3.0, 50.0)]:
        curve = theory.rate_curve(eigenvalues, measure=[0.01])
        grid = np.linspace(1e-4, 2.0 / max(eigenvalues), 200_001)
        rates = theory.gd_rate(grid, eigenvalues)
        assert curve.eta_best == pytest.approx(grid[np.argmin(rates)], abs=2e-5)
        assert curve.rate_best <= rates.min() + 1e-12  # no step size on the grid does better
        assert float(theory.gd_rate(curve.eta_best, eigenvalues)) == pytest.approx(curve.rate_best, abs=1e-12)
        kappa = max(eigenvalues) / min(eigenvalues)
        assert curve.condition_number == pytest.approx(kappa)
        assert curve.rate_best == pytest.approx((kappa - 1) / (kappa + 1))


def test_rate_curve_measures_every_requested_step_and_validates():
    curve = theory.rate_curve()
    assert curve.eta_best in curve.measured_etas.tolist()
    np.testing.assert_allclose(curve.measured, theory.gd_rate(curve.measured_etas, curve.eigenvalues), rtol=1e-6)
    assert curve.edge == pytest.approx(0.2)
    with pytest.raises(ValueError, match="positive"):
        theory.rate_curve([0.0, 1.0])
    with pytest.raises(ValueError, match="etas"):
        theory.rate_curve(etas=[-0.1, 0.1])


# --------------------------------------------------------------------------------------------------
# Momentum
# --------------------------------------------------------------------------------------------------
def _iteration_matrix(h: float, beta: float, nesterov: bool) -> np.ndarray:
    """One step on f = ½λw² acting on (w, m), written from the update rule (λ = 1, η = h).

    Heavy ball: m' = βm + λw, w' = w − ηm'. Nesterov: m' = βm + λw, w' = w − η(λw + βm').
    """
    m_row = [1.0, beta]  # m' = λw + βm
    if nesterov:
        w_row = [1.0 - h - h * beta, -h * beta * beta]
    else:
        w_row = [1.0 - h, -h * beta]
    return np.array([w_row, m_row])


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_rate_is_the_spectral_radius_of_the_iteration(nesterov):
    for h in np.linspace(0.0, 4.5, 46):
        for beta in np.linspace(0.0, 0.95, 20):
            exact = max(abs(np.linalg.eigvals(_iteration_matrix(h, beta, nesterov))))
            fast = float(theory.momentum_rate(h, beta, nesterov=nesterov))
            assert fast == pytest.approx(exact, abs=1e-6), (h, beta, nesterov)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_momentum_edge_against_runs_and_the_library_threshold(beta, nesterov):
    if nesterov and beta == 0.0:
        return  # Nesterov needs momentum > 0
    edge = float(theory.MomentumRegion.edge(beta, nesterov=nesterov))
    assert edge == pytest.approx(stability_threshold(1.0, momentum=beta, nesterov=nesterov))
    assert float(theory.momentum_rate(edge, beta, nesterov=nesterov)) == pytest.approx(1.0, abs=1e-9)
    q = Quadratic([10.0])
    for factor in (0.97, 1.03):
        run = train(q, factor * edge / 10.0, 3000, w0=[1.0], momentum=beta, nesterov=nesterov)
        assert run.diverged == (factor > 1), (beta, nesterov, factor)


def test_measured_momentum_contraction_matches_the_rate_where_the_roots_are_real():
    q = Quadratic([1.0])
    for h, beta in [(0.05, 0.3), (2.95, 0.5), (0.02, 0.6)]:
        low, high = theory.MomentumRegion.ripple(beta)
        assert not low < h < high  # real roots: |w_k| shrinks geometrically, no ripple
        run = train(q, h, 300, w0=[1.0], momentum=beta)
        assert theory.measured_rate(run) == pytest.approx(float(theory.momentum_rate(h, beta)), rel=1e-3)


def test_best_heavy_ball_against_a_grid_search():
    eta, beta, rate = theory.best_heavy_ball([1.0, 10.0])
    assert rate == pytest.approx(math.sqrt(beta))
    assert rate == pytest.approx((math.sqrt(10) - 1) / (math.sqrt(10) + 1))
    for lam in (1.0, 10.0):  # both ends of the spectrum sit on the edge of the ripple band: rate √β
        assert float(theory.momentum_rate(eta * lam, beta)) == pytest.approx(rate, abs=1e-6)
    etas, betas = np.linspace(0.01, 0.4, 400), np.linspace(0.0, 0.9, 361)
    worst = np.maximum(theory.momentum_rate(etas[None, :] * 1.0, betas[:, None]),
                       theory.momentum_rate(etas[None, :] * 10.0, betas[:, None]))
    assert worst.min() >= rate - 1e-9
    assert worst.min() <= rate + 5e-3
    assert rate < theory.rate_curve([1.0, 10.0], measure=[0.1]).rate_best  # momentum is faster than the best GD


def test_momentum_region_grid_and_validation():
    region = theory.momentum_region()
    assert region.rate.shape == (len(region.betas), len(region.eta_lambda))
    h, edge = region.eta_lambda[None, :], region.edge(region.betas)[:, None]
    clear = np.broadcast_to((h > 0) & (np.abs(h - edge) > 1e-6), region.rate.shape)  # off the boundary
    expected = np.broadcast_to(h < edge, region.rate.shape)
    np.testing.assert_array_equal((region.rate < 1)[clear], expected[clear])
    assert np.all(region.rate[:, 0] >= 1 - 1e-12)  # η·λ = 0: no step, no progress
    with pytest.raises(ValueError):
        theory.momentum_region(betas=[0.5, 1.0])


# --------------------------------------------------------------------------------------------------
# The self-stabilization map
# --------------------------------------------------------------------------------------------------
def test_self_stabilization_follows_the_map():
    orbit = theory.self_stabilization(eta=0.7, alpha=0.01, beta=3.0, x0=0.05, y0=-0.2, num_steps=500)
    x, y = 0.05, -0.2
    for k in range(500):
        assert orbit.x[k] == pytest.approx(x, rel=1e-12) and orbit.y[k] == pytest.approx(y, rel=1e-12, abs=1e-15)
        x, y = -(1 + 0.7 * y) * x, y + 0.7 * (0.01 - 3.0 * x * x / 2)
    assert not orbit.diverged and len(orbit.steps) == 501


def test_without_sharpening_one_arc_ends_below_the_edge():
    orbit = theory.self_stabilization(alpha=0.0, x0=2e-3, y0=0.03, num_steps=1200)
    assert np.all(np.diff(orbit.y) <= 0)  # nothing pushes the sharpness up
    assert orbit.y[-1] < 0 and abs(orbit.x[-1]) < 1e-6 and orbit.peaks().size == 0
    assert np.max(np.abs(orbit.x)) > 10 * abs(orbit.x[0])  # the oscillation grew, then died out


def test_with_sharpening_the_orbit_loops_around_the_equilibrium():
    orbit = theory.self_stabilization(alpha=2e-4, x0=2e-3, y0=0.03, num_steps=1200)
    peaks = orbit.peaks()
    assert len(peaks) >= 3
    x_eq, _ = orbit.equilibrium
    assert np.all(orbit.amplitude > 0)  # the demodulated oscillation keeps its sign
    for a, b in zip(peaks[:-1], peaks[1:]):
        loop_x, loop_y = orbit.amplitude[a:b], orbit.y[a:b]
        assert loop_y.min() < 0 < loop_y.max()  # each loop crosses the edge both ways
        assert loop_x.min() < x_eq < loop_x.max()  # and goes around the equilibrium
        # on average over a loop the oscillation's push βx²/2 nearly balances the sharpening α
        assert 0.85 < np.mean(orbit.x[a:b] ** 2) / (2 * orbit.alpha / orbit.beta) < 1.0
    assert np.all(np.diff(orbit.y[peaks]) > 0)  # the truncated map's loops widen (documented)


def test_self_stabilization_cuts_an_overflowing_orbit():
    orbit = theory.self_stabilization(alpha=0.5, x0=1.0, y0=5.0, num_steps=10_000)
    assert orbit.diverged and np.all(np.isfinite(orbit.x)) and np.all(np.isfinite(orbit.y))
    with pytest.raises(ValueError):
        theory.self_stabilization(beta=0.0)


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------
def _orbits():
    return [theory.self_stabilization(alpha=2e-4, x0=2e-3, y0=0.03),
            theory.self_stabilization(alpha=0.0, x0=2e-3, y0=0.03)]


FIGURES = {
    "convergence_rate": lambda p=False: theory_plots.convergence_rate(theory.rate_curve(), projector=p),
    "momentum_region": lambda p=False: theory_plots.momentum_region(
        theory.momentum_region(), spectra={"η = 0.25, β = 0.5": (0.25, 0.5, [1.0, 10.0])}, projector=p),
    "self_stabilization": lambda p=False: theory_plots.self_stabilization(_orbits(), projector=p),
    "self_stabilization_series": lambda p=False: theory_plots.self_stabilization_series(_orbits(), projector=p),
    "self_stabilization_figure": lambda p=False: theory_plots.self_stabilization_figure(_orbits(), projector=p,
                                                                                          title="A title"),
}


def _fig(result):
    return result[0] if isinstance(result, tuple) else result.get_figure(root=True)


def test_every_theory_plot_is_checked_here():
    assert set(theory_plots.__all__) == set(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
@pytest.mark.parametrize("projector", [False, True])
def test_theory_figures_fit_and_keep_legends_off_the_data(name, projector):
    fig = _fig(FIGURES[name](projector))
    fig.canvas.draw()
    assert width_px(fig) <= plots.MAX_WIDTH_PX, f"{name}: {width_px(fig):.0f} px"
    assert fig.dpi == (plots.PROJECTOR_DPI if projector else plots.SCREEN_DPI)
    cover = legend_cover(fig)
    assert max(cover.values()) <= MAX_LEGEND_COVER, f"{name}: {cover}"
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:  # in the strip above the Axes
            assert legend.get_window_extent().y0 >= ax.get_window_extent().y1 - 1, name


def test_drawn_data_are_the_computed_data_and_redraws_update_in_place():
    curve = theory.rate_curve()
    ax = theory_plots.convergence_rate(curve)
    np.testing.assert_allclose(find(ax, "rate:rate").get_ydata(), np.minimum(curve.rate, 1.6))
    np.testing.assert_allclose(find(ax, "rate:measured").get_ydata(), curve.measured)
    assert find(ax, "rate:best").get_xdata()[0] == pytest.approx(curve.eta_best)
    before = len(ax.lines)
    theory_plots.convergence_rate(curve, ax)
    assert len(ax.lines) == before

    region = theory.momentum_region()
    ax = theory_plots.momentum_region(region, spectra={"s": (0.25, 0.5, [1.0, 10.0])})
    np.testing.assert_allclose(find(ax, "momentum:edge").get_xdata(), 2 * (1 + region.betas))
    assert find(ax, "momentum:spectrum:0").get_xdata().tolist() == [0.25, 2.5]
    n_axes = len(ax.get_figure(root=True).axes)
    theory_plots.momentum_region(region, ax)
    assert len(ax.get_figure(root=True).axes) == n_axes  # one colour bar, however often it is drawn
    assert find(ax, "momentum:spectrum:0") is None  # not asked for again: removed

    orbits = _orbits()
    ax = theory_plots.self_stabilization(orbits)
    np.testing.assert_array_equal(find(ax, "selfstab:path:0").get_xdata(), orbits[0].amplitude)
    np.testing.assert_array_equal(find(ax, "selfstab:path:1").get_ydata(), orbits[1].y)
    assert find(ax, "selfstab:equilibrium:0") is not None and find(ax, "selfstab:equilibrium:1") is None
    with pytest.raises(ValueError):
        theory_plots.self_stabilization([])
